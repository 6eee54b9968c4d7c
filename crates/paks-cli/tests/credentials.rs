//! Credentials as docker, podman and CI users keep them, against a real `paks serve
//! --auth`: Docker credential helpers (a helper program speaking the protocol, on `PATH`),
//! podman's `auth.json` written by a real `podman login`, per-registry environment
//! variables that no other registry ever sees, `paks login` checking before it saves, and
//! the warnings printed.

mod common;

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Env, paks_bin, run_with_stdin, text};
use paks_testkit::{HostileServer, PaksServe, Podman};

/// A registry that only `alice` (password `s3cret`) may use, holding `acme/hello-script`.
struct Fixture {
    dir: tempfile::TempDir,
    server: PaksServe,
}

impl Fixture {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let hash = {
            let out = run_with_stdin(
                Command::new(paks_bin()).args(["serve", "passwd"]),
                b"s3cret\n",
            );
            assert!(out.status.success());
            text(&out.stdout).trim().to_owned()
        };
        let users = dir.path().join("users.toml");
        std::fs::write(
            &users,
            format!(
                "[[users]]\nname = \"alice\"\npassword = \"{hash}\"\n[[users.access]]\nrepositories = [\"acme/*\"]\nactions = [\"pull\", \"push\"]\n"
            ),
        )
        .unwrap();
        let server = PaksServe::start(
            Path::new(paks_bin()),
            &dir.path().join("data"),
            &["--auth", users.to_str().unwrap()],
        );
        let fixture = Self { dir, server };
        // The push itself logs in through the per-registry variable.
        let builder = Env::new();
        let pak = builder.build("hello-script");
        let out = fixture
            .paks(&builder)
            .args([
                "push",
                pak.to_str().unwrap(),
                &format!("{}/acme", fixture.host()),
            ])
            .env(paks_oci::env_var_for(&fixture.host()), "alice:s3cret")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        fixture
    }

    fn host(&self) -> String {
        self.server.host()
    }

    fn reference(&self) -> String {
        format!("{}/acme/hello-script:0.2.0", self.host())
    }

    /// A home with nothing in it, where every credential file lives.
    fn home(&self) -> PathBuf {
        let home = self.dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        home
    }

    /// `paks` for `env`, seeing no credentials but those of this fixture's home.
    fn paks(&self, env: &Env) -> Command {
        let home = self.home();
        let mut c = env.cmd();
        for var in [
            "REGISTRY_AUTH_FILE",
            "DOCKER_CONFIG",
            paks_oci::ENV_USERNAME,
            paks_oci::ENV_PASSWORD,
            paks_oci::ENV_REGISTRY,
        ] {
            c.env_remove(var);
        }
        for (var, _) in std::env::vars() {
            if var.starts_with(paks_oci::ENV_AUTH_PREFIX) {
                c.env_remove(var);
            }
        }
        c.env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_RUNTIME_DIR", home.join("run"));
        c
    }

    /// `paks pull REFERENCE` into a fresh root with `extra` environment.
    fn pull(&self, extra: &[(&str, &str)]) -> Output {
        let env = Env::new();
        let mut c = self.paks(&env);
        c.args(["pull", &self.reference()]);
        for (k, v) in extra {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    /// `echo PASSWORD | paks login HOST -u USER --password-stdin` with `extra` environment.
    fn login(&self, user: &str, password: &str, extra: &[(&str, &str)]) -> Output {
        self.login_to(&self.host(), user, password, extra)
    }

    /// [`Fixture::login`] naming the registry as `target`.
    fn login_to(&self, target: &str, user: &str, password: &str, extra: &[(&str, &str)]) -> Output {
        let env = Env::new();
        let mut c = self.paks(&env);
        c.args(["login", target, "-u", user, "--password-stdin"]);
        for (k, v) in extra {
            c.env(k, v);
        }
        run_with_stdin(&mut c, format!("{password}\n").as_bytes())
    }

    fn logout(&self, extra: &[(&str, &str)]) -> Output {
        let env = Env::new();
        let mut c = self.paks(&env);
        c.args(["logout", &self.host()]);
        for (k, v) in extra {
            c.env(k, v);
        }
        c.output().unwrap()
    }
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stderr)
}

fn failed(out: &Output, code: i32) -> String {
    assert_eq!(out.status.code(), Some(code), "{}", text(&out.stderr));
    text(&out.stderr)
}

/// A directory holding `docker-credential-<name>` scripts, for `PATH`.
fn helper_bin(dir: &Path, helpers: &[(&str, &str)]) -> String {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for (name, script) in helpers {
        let path = bin.join(format!("docker-credential-{name}"));
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap())
}

/// A credential helper speaking Docker's protocol (store/get/erase/list), keeping one
/// file per server URL in `$HELPER_STORE`, as `pass` or a keychain would.
const FILE_HELPER: &str = r#"#!/bin/sh
set -eu
file() { printf '%s' "$1" | tr -c 'A-Za-z0-9.' '_'; }
echo "$1" >> "$HELPER_STORE.log"
case "$1" in
store)
    json=$(cat)
    url=$(printf '%s' "$json" | sed -n 's/.*"ServerURL":"\([^"]*\)".*/\1/p')
    printf '%s' "$json" > "$HELPER_STORE/$(file "$url")"
    ;;
get)
    url=$(cat)
    f="$HELPER_STORE/$(file "$url")"
    if [ -f "$f" ]; then cat "$f"; else echo "credentials not found in native keychain"; exit 1; fi
    ;;
erase)
    url=$(cat)
    f="$HELPER_STORE/$(file "$url")"
    if [ -f "$f" ]; then rm "$f"; else echo "credentials not found in native keychain"; exit 1; fi
    ;;
list)
    echo '{}'
    ;;
*)
    echo "unknown action $1" >&2; exit 1
    ;;
esac
"#;

#[test]
fn docker_credential_helper_login_pull_logout() {
    let f = Fixture::start();
    let store = f.dir.path().join("keychain");
    std::fs::create_dir_all(&store).unwrap();
    let path = helper_bin(f.dir.path(), &[("filestore", FILE_HELPER)]);
    let docker = f.home().join(".docker");
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::write(docker.join("config.json"), r#"{"credsStore": "filestore"}"#).unwrap();
    let env = [
        ("PATH", path.as_str()),
        ("HELPER_STORE", store.to_str().unwrap()),
    ];

    // Without a login, the registry refuses, and the helper's "not found" is no warning.
    let stderr = failed(&f.pull(&env), 1);
    assert!(!stderr.contains("warning"), "{stderr}");
    assert!(
        stderr.contains(&format!("paks login {}", f.host())),
        "{stderr}"
    );

    // `paks login` stores into the helper Docker's config names, as `docker login` does,
    // and not in paks' own file.
    let stderr = ok(&f.login("alice", "s3cret", &env));
    assert!(
        stderr.contains("credential helper `docker-credential-filestore`"),
        "{stderr}"
    );
    let stored = std::fs::read_to_string(store.join(f.host().replace([':', '/'], "_"))).unwrap();
    let stored: serde_json::Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(stored["ServerURL"], f.host());
    assert_eq!(stored["Username"], "alice");
    assert_eq!(stored["Secret"], "s3cret");
    assert!(!f.home().join(".config/paks/auth.json").exists());

    // The helper's credentials pull; the helper runs once for the whole command.
    let log = f.dir.path().join("keychain.log");
    std::fs::remove_file(&log).unwrap();
    ok(&f.pull(&env));
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "get\n");

    // Logout erases them from the helper; the registry refuses again.
    let stderr = ok(&f.logout(&env));
    assert!(stderr.contains("docker-credential-filestore"), "{stderr}");
    assert_eq!(std::fs::read_dir(&store).unwrap().count(), 0);
    failed(&f.pull(&env), 1);
}

#[test]
fn a_failing_helper_is_a_warning_naming_it_and_the_search_goes_on() {
    let f = Fixture::start();
    let path = helper_bin(
        f.dir.path(),
        &[(
            "locked",
            "#!/bin/sh\ncat >/dev/null\necho 'the keychain is locked' >&2\nexit 3\n",
        )],
    );
    let docker = f.home().join(".docker");
    std::fs::create_dir_all(&docker).unwrap();
    // The store for every host fails; the file's own entry is the fallback, as in Docker.
    std::fs::write(
        docker.join("config.json"),
        serde_json::json!({
            "credsStore": "locked",
            "auths": {f.host(): {"auth": "YWxpY2U6czNjcmV0"}} // alice:s3cret
        })
        .to_string(),
    )
    .unwrap();
    let stderr = ok(&f.pull(&[("PATH", &path)]));
    let warning = format!(
        "warning: no credentials for `{}` from its helper: credential helper `docker-credential-locked get` failed: the keychain is locked",
        f.host()
    );
    assert_eq!(stderr.matches(&warning).count(), 1, "{stderr}");

    // A host's own helper (`credHelpers`) replaces the file's entry: no fallback.
    std::fs::write(
        docker.join("config.json"),
        serde_json::json!({
            "credHelpers": {f.host(): "missing"},
            "auths": {f.host(): {"auth": "YWxpY2U6czNjcmV0"}}
        })
        .to_string(),
    )
    .unwrap();
    let stderr = failed(&f.pull(&[("PATH", &path)]), 1);
    assert_eq!(
        stderr
            .matches("credential helper `docker-credential-missing` is not on `PATH`")
            .count(),
        1,
        "{stderr}"
    );
}

#[test]
fn podman_login_writes_the_auth_file_paks_pull_reads() {
    let f = Fixture::start();
    let podman = Podman::new();
    let run_dir = f.home().join("run");
    std::fs::create_dir_all(&run_dir).unwrap();
    let login = |extra: &[(&str, &Path)], target: &str| {
        let mut c = podman.command();
        c.args([
            "login",
            "--tls-verify=false",
            "-u",
            "alice",
            "--password-stdin",
            target,
        ])
        .env("HOME", f.home())
        .env("XDG_RUNTIME_DIR", &run_dir)
        .env_remove("REGISTRY_AUTH_FILE");
        for (k, v) in extra {
            c.env(k, v);
        }
        let out = run_with_stdin(&mut c, b"s3cret\n");
        assert!(out.status.success(), "podman login: {}", text(&out.stderr));
    };

    // The primary file, `$XDG_RUNTIME_DIR/containers/auth.json`.
    login(&[], &f.host());
    let auth = run_dir.join("containers/auth.json");
    assert!(auth.exists(), "podman wrote no {}", auth.display());
    ok(&f.pull(&[]));
    std::fs::remove_file(&auth).unwrap();
    failed(&f.pull(&[]), 1);

    // `REGISTRY_AUTH_FILE` overrides it.
    let file = f.dir.path().join("ci-auth.json");
    login(&[("REGISTRY_AUTH_FILE", &file)], &f.host());
    assert!(file.exists());
    ok(&f.pull(&[("REGISTRY_AUTH_FILE", file.to_str().unwrap())]));
    std::fs::remove_file(&file).unwrap();

    // An entry for the namespace wins over the host's.
    std::fs::create_dir_all(auth.parent().unwrap()).unwrap();
    std::fs::write(
        &auth,
        serde_json::json!({"auths": {
            f.host(): {"auth": "YWxpY2U6d3Jvbmc="}, // alice:wrong
            format!("{}/acme", f.host()): {"auth": "YWxpY2U6czNjcmV0"} // alice:s3cret
        }})
        .to_string(),
    )
    .unwrap();
    ok(&f.pull(&[]));
}

/// A registry that asks for Basic credentials on every request and records them.
fn recording_registry() -> HostileServer {
    HostileServer::start(|_, stream| {
        stream.write_all(
            b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"other\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )
    })
}

#[test]
fn environment_credentials_go_to_the_registry_they_name_only() {
    let f = Fixture::start();
    let other = recording_registry();
    let for_f = paks_oci::env_var_for(&f.host());
    let env = [
        (for_f.as_str(), "alice:s3cret"),
        (paks_oci::ENV_USERNAME, "alice"),
        (paks_oci::ENV_PASSWORD, "s3cret"),
        (paks_oci::ENV_REGISTRY, &f.host()),
    ];
    ok(&f.pull(&env));
    // The other registry asks for credentials and gets none.
    let stranger = Env::new();
    let out = f
        .paks(&stranger)
        .args(["pull", &format!("{}/acme/hello-script:0.2.0", other.host())])
        .envs(env)
        .output()
        .unwrap();
    failed(&out, 1);
    let requests = other.requests();
    assert!(!requests.is_empty());
    for r in &requests {
        assert_eq!(r.header("authorization"), None, "{r:?}");
    }

    // The pair alone, without `PAKS_REGISTRY`, goes nowhere, and says why once.
    let out = f.pull(&[
        (paks_oci::ENV_USERNAME, "alice"),
        (paks_oci::ENV_PASSWORD, "s3cret"),
    ]);
    let stderr = failed(&out, 1);
    assert_eq!(
        stderr
            .matches("warning: ignoring `PAKS_REGISTRY_USERNAME` and `PAKS_REGISTRY_PASSWORD`")
            .count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains("PAKS_REGISTRY_AUTH_<HOST>"), "{stderr}");
    // With it, the pair works.
    ok(&f.pull(&[
        (paks_oci::ENV_USERNAME, "alice"),
        (paks_oci::ENV_PASSWORD, "s3cret"),
        (paks_oci::ENV_REGISTRY, &f.host()),
    ]));
}

#[test]
fn login_checks_the_password_before_saving_and_logout_removes_it() {
    let f = Fixture::start();
    let file = f.home().join(".config/paks/auth.json");
    let stderr = failed(&f.login("alice", "wrong", &[]), 1);
    assert!(stderr.contains("refused the credentials"), "{stderr}");
    assert!(stderr.contains("nothing was saved"), "{stderr}");
    assert!(!file.exists());

    // A namespace is not a registry: refused before anything is sent.
    let stderr = failed(
        &f.login_to(&format!("{}/acme", f.host()), "alice", "s3cret", &[]),
        1,
    );
    assert!(stderr.contains("is not a registry host"), "{stderr}");
    assert!(!file.exists());

    // Docker's URL form names the host.
    let stderr = ok(&f.login_to(&format!("http://{}/", f.host()), "alice", "s3cret", &[]));
    assert!(
        stderr.contains(&format!("Logged in to `{}` as `alice`", f.host())),
        "{stderr}"
    );
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    ok(&f.pull(&[]));

    let stderr = ok(&f.logout(&[]));
    assert!(stderr.contains("Removed the credentials"), "{stderr}");
    failed(&f.pull(&[]), 1);
    let stderr = ok(&f.logout(&[]));
    assert!(stderr.contains("No credentials were saved"), "{stderr}");
}

#[test]
fn warnings_about_broken_credential_files_are_printed_once() {
    let f = Fixture::start();
    let docker = f.home().join(".docker");
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::write(docker.join("config.json"), "{not json").unwrap();
    let stderr = ok(&f.pull(&[(&paks_oci::env_var_for(&f.host()), "alice:s3cret")]));
    let warning = format!(
        "warning: ignoring `{}`: invalid JSON",
        docker.join("config.json").display()
    );
    assert_eq!(stderr.matches(&warning).count(), 1, "{stderr}");
    let quiet = Env::new();
    let out = f
        .paks(&quiet)
        .args(["--quiet", "pull", &f.reference()])
        .env(paks_oci::env_var_for(&f.host()), "alice:s3cret")
        .output()
        .unwrap();
    assert!(!ok(&out).contains("warning"));
}

/// A gpg key and a `pass` store in `home`, as `docker-credential-pass` needs; the gpg
/// agent it starts is stopped on drop.
struct PassStore {
    home: PathBuf,
}

impl PassStore {
    fn init(home: &Path) -> Self {
        let store = Self {
            home: home.to_owned(),
        };
        let gnupg = home.join(".gnupg");
        std::fs::create_dir_all(&gnupg).unwrap();
        std::fs::set_permissions(&gnupg, std::fs::Permissions::from_mode(0o700)).unwrap();
        for args in [
            &[
                "gpg",
                "--batch",
                "--passphrase",
                "",
                "--quick-gen-key",
                "paks-test@example.invalid",
                "default",
                "default",
                "never",
            ][..],
            &["pass", "init", "paks-test@example.invalid"][..],
        ] {
            let out = Command::new(args[0])
                .args(&args[1..])
                .env("HOME", home)
                .env_remove("GNUPGHOME")
                .env_remove("PASSWORD_STORE_DIR")
                .output()
                .unwrap();
            assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        }
        store
    }

    /// The entries `pass` holds.
    fn entries(&self) -> Vec<PathBuf> {
        let dir = self.home.join(".password-store/docker-credential-helpers");
        std::fs::read_dir(dir)
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default()
    }
}

impl Drop for PassStore {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .args(["--kill", "all"])
            .env("HOME", &self.home)
            .output();
    }
}

#[test]
fn debians_docker_credential_pass_keeps_the_login() {
    let f = Fixture::start();
    let pass = PassStore::init(&f.home());
    let docker = f.home().join(".docker");
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::write(
        docker.join("config.json"),
        serde_json::json!({"credHelpers": {f.host(): "pass"}}).to_string(),
    )
    .unwrap();

    // Nothing stored yet: `pass` answers an empty secret, which is no login and no warning.
    let stderr = failed(&f.pull(&[]), 1);
    assert!(!stderr.contains("warning"), "{stderr}");
    // A logout with nothing to erase is no error either.
    ok(&f.logout(&[]));

    let stderr = ok(&f.login("alice", "s3cret", &[]));
    assert!(stderr.contains("`docker-credential-pass`"), "{stderr}");
    assert_eq!(pass.entries().len(), 1, "{:?}", pass.entries());
    assert!(!f.home().join(".config/paks/auth.json").exists());
    ok(&f.pull(&[]));

    let stderr = ok(&f.logout(&[]));
    assert!(stderr.contains("`docker-credential-pass`"), "{stderr}");
    assert!(pass.entries().is_empty(), "{:?}", pass.entries());
    failed(&f.pull(&[]), 1);
}
