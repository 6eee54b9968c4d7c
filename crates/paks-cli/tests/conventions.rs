//! CLI conventions every command shares: shell completions and man pages from the clap
//! definitions, `--version`, exit codes, "did you mean", colour, and `--json` lines.
//!
//! When a command gains `--json`, `every_json_output_is_typed_json_lines` fails until its
//! walk runs it: add it there.

#[path = "../../paks-import/tests/apk_build/mod.rs"]
mod apk_build;
mod common;
#[path = "../../paks-import/tests/real_deb/mod.rs"]
mod real_deb;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::{Env, examples, paks_bin, run_with_stdin, text};
use paks_testkit::PaksServe;

const ESC: char = '\u{1b}';

/// `paks ARGS` with no colour variables inherited from the test's own environment.
fn plain(env: &Env) -> Command {
    let mut c = env.cmd();
    c.env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("PAKS_COLOR");
    c
}

#[test]
fn bash_completion_loads_and_completes_subcommands() {
    let script = format!(
        r#"source <("{bin}" completions bash) || exit 9
complete -p paks
COMP_WORDS=(paks ins); COMP_CWORD=1; COMP_LINE='paks ins'; COMP_POINT=8
_paks paks ins paks
printf 'offer:%s\n' "${{COMPREPLY[@]}}""#,
        bin = paks_bin()
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.starts_with("complete ") && stdout.lines().next().unwrap().ends_with(" paks"),
        "{stdout}"
    );
    let offers: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("offer:"))
        .collect();
    assert_eq!(offers, ["install", "inspect"], "{stdout}");
}

#[test]
fn completions_for_every_shell_know_every_command() {
    let env = Env::new();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = env.ok(&["completions", shell]);
        for command in ["install", "remove", "completions", "man", "serve"] {
            assert!(script.contains(command), "{shell} script lacks `{command}`");
        }
    }
    let err = env.fails(&["completions", "tcsh"], 64);
    assert!(err.contains("invalid value 'tcsh'"), "{err}");
}

#[test]
fn man_pages_for_every_command() {
    let env = Env::new();
    let page = env.ok(&["man"]);
    assert!(page.contains(".TH paks 1"), "{page}");
    let dir = env.dir.path().join("man");
    env.ok(&["man", "--out", dir.to_str().unwrap()]);
    for name in [
        "paks",
        "paks-install",
        "paks-repo-add",
        "paks-serve-gc",
        "paks-man",
    ] {
        let page = std::fs::read_to_string(dir.join(format!("{name}.1"))).unwrap();
        assert!(page.contains(&format!(".TH {name} 1")), "{name}: {page}");
    }
    let add = std::fs::read_to_string(dir.join("paks-repo-add.1")).unwrap();
    assert!(add.contains("paks repo add"), "usage as typed: {add}");
    assert!(
        !std::fs::read_dir(&dir).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains(".tmp")),
        "atomic writes leave no temp files"
    );
}

#[test]
fn version_names_the_commit_and_its_date() {
    let env = Env::new();
    let line = env.ok(&["--version"]);
    let line = line.trim_end();
    let version = env!("CARGO_PKG_VERSION");
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| text(&o.stdout).trim().to_owned())
    };
    // Built from a git checkout (as here): the commit built and its date.
    let commit = git(&["rev-parse", "--short=7", "HEAD"]).expect("tests run in a checkout");
    let date = git(&["log", "-1", "--format=%cd", "--date=short"]).unwrap();
    assert_eq!(line, format!("paks {version} ({commit} {date})"));
}

#[test]
fn exit_codes_tell_usage_errors_request_failures_and_machine_failures_apart() {
    let env = Env::new();
    // 0: help and version are no errors.
    assert!(env.ok(&["--help"]).contains("Usage: paks"));
    assert!(
        env.ok(&["install", "--help"])
            .contains("Usage: paks install")
    );
    // 64: the command line is wrong.
    env.fails(&["instal", "hello"], 64);
    env.fails(&["list", "--no-such-flag"], 64);
    env.fails(&["install"], 64);
    env.fails(&["repo"], 64);
    env.fails(&["--jobs", "many", "list"], 64);
    // 1: the request failed.
    env.fails(&["remove", "nothing"], 1);
    // 2: the machine failed (the root lies under a regular file).
    let file = env.dir.path().join("file");
    std::fs::write(&file, "").unwrap();
    let err = env.fails(&["--root", file.join("root").to_str().unwrap(), "list"], 2);
    assert!(err.contains("Not a directory"), "{err}");
}

#[test]
fn unknown_commands_get_a_suggestion() {
    let env = Env::new();
    let err = env.fails(&["--color", "never", "instal", "hello"], 64);
    insta::assert_snapshot!(err, @r"
    error: unrecognized subcommand 'instal'

      tip: some similar subcommands exist: 'list', 'uninstall', 'install'

    Usage: paks [OPTIONS] <COMMAND>

    For more information, try '--help'.
    ");
}

/// `paks --help` lists the commands by everyday use (packages, projects, publishing,
/// images, then the machinery), each on one line: the first paragraph of its doc comment.
#[test]
fn help_lists_everyday_commands_first_one_line_each() {
    // No environment: clap shows the values of the variables behind flags.
    let out = Command::new(paks_bin())
        .env_clear()
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    insta::assert_snapshot!(text(&out.stdout), @r#"
    paks: build packages once, store them in any OCI registry, install them fast

    Usage: paks [OPTIONS] <COMMAND>

    Commands:
      install       Install packages by name, from `.pak` archives or from registry references
      search        Find packages in the configured repositories by name or summary
      info          Show a package: installed (by name or id) or an archive (by path)
      list          List installed packages [alias: ls]
      remove        Remove project dependencies, or installed packages [aliases: uninstall, rm]
      run           Run a command in the project's environment, or with installed packages
      env           Print shell commands that activate packages: `eval "$(paks env hello)"`
      shell         Start a shell with the project's environment active, or run `-c CMD` in it
      add           Add packages to the project's `paks.toml`, then lock and sync
      lock          Resolve the project's `paks.toml` into `paks.lock` (every build pinned by digest)
      sync          Install exactly what `paks.lock` pins and build the project's view
      tree          Show the dependency tree of the project's lock, or of installed packages
      outdated      List newer versions: of the project's lock, installed packages, or recipes
      view          Symlink trees that merge packages into one prefix
      gc            Remove unneeded packages and leftovers, then prune the download cache
      build         Build a package from a recipe directory or `git+URL#REV`, and install it
      push          Push package archives and the dependencies the registry lacks
      pull          Download a package and its dependencies into the cache, verified, without installing
      copy          Copy packages and images between registries, OCI layouts and archives
      login         Save credentials for a registry
      logout        Forget the credentials saved for a registry
      repo          Package repositories: registry namespaces or static `index.yaml` directories
      index         Build, sign and export the index of a registry namespace
      key           Signing keys for indexes
      image         Container images from packages: one layer per package, no rebuild
      containerize  Write a multi-stage Dockerfile that builds an image spec's image with `docker build`
      inspect       What an image needs, per binary and overall, read without running or unpacking it
      compat        Will an image run here (or on `--host`)? Exit 0: it runs; 1: it will not
      label         Compute an image's labels and, with `--push`, write them into it
      host          What this host is: CPU level, glibc, libstdc++, MPI, GPUs, container limits
      config        The user configuration (`~/.config/paks/config.toml`), shared by every install root
      cache         The download cache, shared by every install root of the user
      serve         Run an OCI registry on this machine; also `gc`, `scrub`, `passwd`
      completions   Print a shell completion script: `source <(paks completions bash)`
      man           Write man pages into a directory, or `paks.1` to stdout
      import        Turn Debian and Alpine packages into rootfs packages (`.pak` files), and push them
      sysroot       Sysroots: a tree to chroot into, made of packages, like `mmdebstrap DIR`
      verify        Check a build's signature, provenance, test results and SBOM in its registry
      sbom          Print the SBOM of a build or a file; `paks sbom diff A B` compares two
      audit         Known vulnerabilities of a build's components, from OSV advisories, offline
      test          Run a package's own test script against the build, and attach the signed result
      attach        Attach a file to a manifest in a registry, as `oras attach` does
      discover      Show the tree of artifacts attached to a manifest, as `oras discover` does
      recipe        Work on recipes: `paks recipe bump DIR` moves one to a new upstream version
      update        Bring a directory of recipes up to date: bump, build, test and push what passes
      dockerfile    Dockerfiles' base images: check them, pin them to digests, update them
      help          Print this message or the help of the given subcommand(s)

    Options:
          --root <DIR>                   The install root [default: /opt/paks as root, else
                                         ~/.local/share/paks] [env: PAKS_ROOT=]
      -j, --jobs <N>                     How many installs and build jobs run at once (transfers: at
                                         least 4) [default: `defaults.jobs` of the user configuration,
                                         else the number of CPUs] [env: PAKS_JOBS=]
      -q, --quiet                        Print only errors
      -v, --verbose                      Print more about what is done (for builds: the build log)
          --insecure <HOST>              Reach this registry over plain HTTP (loopback registries always
                                         may) [env: PAKS_INSECURE=]
          --max-retry-wait <SECONDS>     The longest `Retry-After` (seconds) a registry may ask for; a
                                         longer one fails at once [default: 60] [env:
                                         PAKS_MAX_RETRY_WAIT=]
          --transfer-deadline <SECONDS>  How long one registry transfer (a blob, a manifest) may take in
                                         all, retries included [default: 3600] [env:
                                         PAKS_TRANSFER_DEADLINE=]
          --color <WHEN>                 When to colour output: `auto` (on a terminal, unless `NO_COLOR`
                                         is set), `always` or `never` [env: PAKS_COLOR=] [default: auto]
      -h, --help                         Print help
      -V, --version                      Print version
    "#);
}

#[test]
fn aliases_users_expect() {
    let env = Env::new();
    for alias in ["uninstall", "rm"] {
        let err = env.fails(&[alias, "nothing"], 1);
        assert!(
            err.contains("no installed package matches `nothing`"),
            "{alias}: {err}"
        );
    }
    env.ok(&["ls"]);
    assert!(env.ok(&["--help"]).contains("[aliases: uninstall, rm]"));
}

#[test]
fn unknown_installed_names_and_repositories_get_a_suggestion() {
    let env = Env::new();
    let recipe = examples().join("hello-script");
    env.build_dir(&recipe);
    for args in [
        &["remove", "hello-scrpt"][..],
        &["info", "helo-script"],
        &["env", "hello-scirpt@0.2"],
        &["run", "hello_script", "--", "true"],
    ] {
        let err = env.fails(args, 1);
        assert!(
            err.contains("hint: did you mean `hello-script`?"),
            "{args:?}: {err}"
        );
    }
    let err = env.fails(&["remove", "python"], 1);
    assert!(err.contains("hint: see what is installed"), "{err}");

    std::fs::write(
        env.root.join("repos.toml"),
        "[[repository]]\nname = \"acme-main\"\nurl = \"file:///nowhere\"\nallow_unsigned = true\n",
    )
    .unwrap();
    let err = env.fails(&["repo", "remove", "acme-mian"], 1);
    assert!(err.contains("hint: did you mean `acme-main`?"), "{err}");
    let err = env.fails(&["repo", "remove", "other"], 1);
    assert!(err.contains("hint: `paks repo list` shows them"), "{err}");
}

/// The stderr of `paks remove nothing` (a failure with a hint) under `vars` and `args`.
fn failure_stderr(env: &Env, vars: &[(&str, &str)], args: &[&str]) -> String {
    let mut c = plain(env);
    c.envs(vars.iter().copied())
        .args(args)
        .args(["remove", "nothing"]);
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    text(&out.stderr)
}

#[test]
fn colour_only_on_a_terminal_or_when_asked() {
    let env = Env::new();
    // A pipe: plain text.
    let err = failure_stderr(&env, &[], &[]);
    assert!(!err.contains(ESC), "{err:?}");
    assert!(err.starts_with("error: no installed package"), "{err:?}");
    // Asked for: coloured.
    for (vars, args) in [
        (&[][..], &["--color", "always"][..]),
        (&[("CLICOLOR_FORCE", "1")], &[]),
        (&[("PAKS_COLOR", "always")], &[]),
    ] {
        let err = failure_stderr(&env, vars, args);
        assert!(
            err.starts_with("\u{1b}[1;31merror:\u{1b}[0m "),
            "{vars:?} {args:?}: {err:?}"
        );
    }
    // NO_COLOR beats CLICOLOR_FORCE; an explicit flag beats both.
    let both = [("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")];
    assert!(!failure_stderr(&env, &both, &[]).contains(ESC));
    assert!(!failure_stderr(&env, &[("CLICOLOR_FORCE", "1")], &["--color=never"]).contains(ESC));
    assert!(failure_stderr(&env, &[("NO_COLOR", "1")], &["--color=always"]).contains(ESC));
    // Warnings too, with the message still escaped: `index build` of a directory holding
    // a file that is no package warns that it skipped it.
    let dir = env.dir.path().join("paks\u{1b}[2J");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("broken.pak"), "not a package").unwrap();
    for (flag, prefix) in [
        ("--color=always", "\u{1b}[1;33mwarning:\u{1b}[0m skipped "),
        ("--color=auto", "warning: skipped "),
    ] {
        let out = plain(&env)
            .args([flag, "index", "build", arg(&dir)])
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert!(out.status.success(), "{err}");
        assert!(err.starts_with(prefix), "{flag}: {err:?}");
        assert!(
            err.contains(r"paks\u{1b}[2J/broken.pak"),
            "escaped: {err:?}"
        );
        assert_eq!(
            err.matches(ESC).count(),
            if flag.ends_with("always") { 2 } else { 0 }
        );
    }
    // clap's own usage errors follow `--color` too.
    let out = plain(&env)
        .args(["--color", "always", "instal"])
        .output()
        .unwrap();
    assert!(text(&out.stderr).contains(ESC));
    let out = plain(&env)
        .env("CLICOLOR_FORCE", "1")
        .args(["--color", "never", "instal"])
        .output()
        .unwrap();
    assert!(!text(&out.stderr).contains(ESC));
}

#[test]
fn serve_logs_into_a_pipe_carry_no_ansi_codes() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(paks_bin());
    command
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("PAKS_COLOR")
        .args(["serve", "--listen", "127.0.0.1:0", "--root"])
        .arg(dir.path().join("data"));
    let mut server = PaksServe::from_command(command);
    // A request, so that a request log line is written too.
    let status = get(&server, "/v2/");
    assert_eq!(status, 200);
    server.stop();
    let log = server.stderr();
    assert!(log.contains("Listening on"), "{log}");
    assert!(log.contains("/v2/"), "a request line: {log}");
    assert!(!log.contains(ESC), "{log:?}");
}

/// The status code of a plain HTTP GET of `path` on `server`.
fn get(server: &PaksServe, path: &str) -> u16 {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        server.host()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not HTTP: {answer}"))
}

/// Commands whose `--json` another part of the project tests (engineers A and B own them).
/// Commands whose `--json` lines are checked by their own scenario tests (each asserts
/// every line is an object with a `type`), since they need upstream servers this walk lacks.
const JSON_TESTED_ELSEWHERE: &[&str] = &[
    "recipe bump",
    "update",
    "dockerfile check",
    "dockerfile pin",
    "dockerfile update",
];

/// Records that `command`'s `--json` output is JSON lines, each an object with a `type`.
#[derive(Default)]
struct Walk(BTreeSet<String>);

impl Walk {
    fn check(&mut self, command: &str, stdout: &str) {
        assert!(
            !stdout.trim().is_empty(),
            "`paks {command} --json` printed nothing"
        );
        for line in stdout.lines() {
            let value: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("`paks {command} --json`: not JSON ({e}): {line}"));
            assert!(
                value["type"].is_string(),
                "`paks {command} --json`: a line without a `type`: {line}"
            );
        }
        self.0.insert(command.to_owned());
    }
}

/// Every command whose man page offers `--json`, as typed (`repo add`).
fn commands_with_json(env: &Env) -> BTreeSet<String> {
    let dir = env.dir.path().join("man");
    env.ok(&["man", "--out", dir.to_str().unwrap()]);
    std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|page| {
            std::fs::read_to_string(page)
                .unwrap()
                .contains(r"\fB\-\-json\fR")
        })
        .map(|page| {
            let stem = page.file_stem().unwrap().to_str().unwrap().to_owned();
            stem.strip_prefix("paks-")
                .unwrap_or(&stem)
                .replace('-', " ")
        })
        .collect()
}

fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// `paks login` and `paks logout` on `host`, with credentials in a home of the test's own.
fn walk_login_logout(walk: &mut Walk, env: &Env, host: &str) {
    let home = env.dir.path().join("home");
    let run = |args: &[&str]| {
        let mut c = env.cmd();
        for var in ["REGISTRY_AUTH_FILE", "DOCKER_CONFIG"] {
            c.env_remove(var);
        }
        c.env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_RUNTIME_DIR", home.join("run"))
            .args(args);
        let out = run_with_stdin(&mut c, b"s3cret\n");
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    // The registry asks for no password: any login checks out.
    walk.check(
        "login",
        &run(&["login", host, "-u", "alice", "--password-stdin", "--json"]),
    );
    let logout = run(&["logout", host, "--json"]);
    walk.check("logout", &logout);
    assert!(logout.contains(r#""removed":[{"file":"#), "{logout}");
}

/// The local store's commands; returns the `.pak` built.
fn walk_store(walk: &mut Walk, builder: &Env) -> String {
    let tmp = builder.dir.path();
    let recipe = examples().join("hello-script");
    let built = builder.ok(&["build", arg(&recipe), "--out", arg(&builder.out), "--json"]);
    walk.check("build", &built);
    let line: serde_json::Value = serde_json::from_str(built.trim()).unwrap();
    let pak = line["pak"].as_str().unwrap().to_owned();
    walk.check("list", &builder.ok(&["list", "--json"]));
    walk.check("info", &builder.ok(&["info", "hello-script", "--json"]));
    walk.check("info", &builder.ok(&["info", &pak, "--json"]));
    walk.check("env", &builder.ok(&["env", "hello-script", "--json"]));
    let view = tmp.join("view");
    walk.check(
        "view create",
        &builder.ok(&["view", "create", arg(&view), "hello-script", "--json"]),
    );
    walk.check("view list", &builder.ok(&["view", "list", "--json"]));
    walk.check(
        "view remove",
        &builder.ok(&["view", "remove", arg(&view), "--json"]),
    );
    walk.check("host", &builder.ok(&["host", "--json"]));
    walk.check("gc", &builder.ok(&["gc", "--dry-run", "--json"]));
    pak
}

/// The image commands, on a busybox layout and on `reference`.
fn walk_images(walk: &mut Walk, user: &Env, reference: &str) {
    let tmp = user.dir.path();
    let layout = tmp.join("busybox");
    paks_testkit::busybox_layout(&layout, "latest");
    let image = format!("oci:{}:latest", arg(&layout));
    walk.check("inspect", &user.ok(&["inspect", &image, "--json"]));
    walk.check("label", &user.ok(&["label", &image, "--json"]));
    let compat = user.run(&["compat", &image, "--json"]);
    walk.check("compat", &text(&compat.stdout));
    let composed = format!("oci:{}:app", arg(&tmp.join("composed")));
    walk.check(
        "image build",
        &user.ok(&[
            "image", "build", reference, "--from", "scratch", "-o", &composed, "--json",
        ]),
    );
    let sysroot = tmp.join("sysroot");
    walk.check(
        "sysroot create",
        &user.ok(&["sysroot", "create", arg(&sysroot), reference, "--json"]),
    );
}

/// `paks attach`, `paks discover` and `paks verify` (with the index's public `key`) on the
/// build of `reference`.
fn walk_attach(walk: &mut Walk, user: &Env, reference: &str, key: &Path) {
    let sbom = user.dir.path().join("attached.spdx.json");
    std::fs::write(&sbom, br#"{"spdxVersion":"SPDX-2.3"}"#).unwrap();
    let (file, kind) = (arg(&sbom), "application/spdx+json");
    walk.check(
        "attach",
        &user.ok(&["attach", reference, file, "--artifact-type", kind, "--json"]),
    );
    walk.check("discover", &user.ok(&["discover", reference, "--json"]));
    // Verify again, now that an attachment is there to report.
    walk_verify(walk, user, reference, key);
}

/// `paks import apk --json` on an unsigned `.apk` made from the published format (no
/// Alpine mirror is reachable).
fn walk_apk_import(walk: &mut Walk, builder: &Env, tmp: &Path) {
    let apk = apk_build::build_with(
        |data| {
            apk_build::pkginfo_lines(
                &[
                    ("pkgname", "tiny"),
                    ("pkgver", "1.0-r0"),
                    ("arch", "x86_64"),
                ],
                data,
            )
        },
        &[],
        &[
            apk_build::DataEntry::dir("etc/"),
            apk_build::DataEntry::file("etc/tiny", b"x\n"),
        ],
        None,
    );
    let apk_file = tmp.join("tiny-1.0-r0.apk");
    std::fs::write(&apk_file, apk.bytes()).unwrap();
    walk.check(
        "import apk",
        &builder.ok(&[
            "import",
            "apk",
            arg(&apk_file),
            "--allow-untrusted",
            "--out",
            arg(&tmp.join("imported-apk")),
            "--json",
        ]),
    );
}

#[test]
fn every_json_output_is_typed_json_lines() {
    let mut walk = Walk::default();
    let builder = Env::new();
    let tmp = builder.dir.path();
    let data = tmp.join("registry-data");
    let mut server = PaksServe::start(Path::new(paks_bin()), &data, &[]);
    let ns = format!("{}/acme", server.host());
    let reference = format!("{ns}/hello-script:0.2.0");

    let pak = walk_store(&mut walk, &builder);

    // A registry, an index and a repository.
    walk.check(
        "push",
        &builder.ok(&["push", &pak, &format!("{ns}/hello-script"), "--json"]),
    );
    let hello_deb = real_deb::real_deb("hello");
    let imported = tmp.join("imported");
    walk.check(
        "import deb",
        &builder.ok(&[
            "import",
            "deb",
            arg(&hello_deb),
            "--out",
            arg(&imported),
            "--json",
        ]),
    );
    walk_apk_import(&mut walk, &builder, tmp);
    walk_sbom_and_audit(&mut walk, &builder, &imported);
    let key = tmp.join("key.pem");
    walk.check(
        "key generate",
        &builder.ok(&["key", "generate", "--out", arg(&key), "--json"]),
    );
    walk.check(
        "index build",
        &builder.ok(&["index", "build", &ns, "--sign", arg(&key), "--json"]),
    );
    let exported = tmp.join("exported");
    walk.check(
        "index export",
        &builder.ok(&["index", "export", &ns, arg(&exported), "--json"]),
    );
    walk_login_logout(&mut walk, &builder, &server.host());
    let user = Env::new();
    let public = key.with_extension("pub");
    let url = format!("oci://{ns}");
    walk.check(
        "repo add",
        &user.ok(&["repo", "add", "acme", &url, "--key", arg(&public), "--json"]),
    );
    walk.check("repo list", &user.ok(&["repo", "list", "--json"]));
    walk.check("repo update", &user.ok(&["repo", "update", "--json"]));
    walk.check("search", &user.ok(&["search", "hello", "--json"]));
    walk.check("info", &user.ok(&["info", "hello-script", "--json"]));
    walk.check("install", &user.ok(&["install", "hello-script", "--json"]));
    walk.check("remove", &user.ok(&["remove", "hello-script", "--json"]));
    walk_project_config_and_cache(&mut walk, &user, tmp);
    walk.check(
        "repo remove",
        &user.ok(&["repo", "remove", "acme", "--json"]),
    );
    walk.check("pull", &user.ok(&["pull", &reference, "--json"]));
    walk_verify(&mut walk, &user, &reference, &public);
    walk.check(
        "test",
        &user.ok(&["test", &reference, "--no-attach", "--json"]),
    );
    let copied = format!("oci:{}", arg(&tmp.join("copied")));
    walk.check("copy", &user.ok(&["copy", &reference, &copied, "--json"]));

    walk_images(&mut walk, &user, &reference);
    walk_attach(&mut walk, &user, &reference, &public);

    // The registry's own maintenance, once it is stopped.
    server.stop();
    walk.check(
        "serve gc",
        &user.ok(&["serve", "gc", "--root", arg(&data), "--dry-run", "--json"]),
    );
    walk.check(
        "serve scrub",
        &user.ok(&["serve", "scrub", "--root", arg(&data), "--json"]),
    );

    // Every command with `--json` was walked.
    let offered = commands_with_json(&user);
    let missing: Vec<&String> = offered
        .iter()
        .filter(|c| !walk.0.contains(*c))
        .filter(|c| !JSON_TESTED_ELSEWHERE.contains(&c.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "commands with --json that this walk does not run: {missing:?}"
    );
    assert!(
        offered.contains("serve gc") && offered.contains("repo add"),
        "{offered:?}"
    );
}

/// `sbom`, `sbom diff` and `audit` on an imported package (its own component), against
/// an empty advisory directory (a finding would exit 1).
fn walk_sbom_and_audit(walk: &mut Walk, builder: &Env, imported: &Path) {
    let pak = std::fs::read_dir(imported)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "pak"))
        .unwrap();
    let pak = arg(&pak);
    walk.check("sbom", &builder.ok(&["sbom", pak, "--json"]));
    walk.check(
        "sbom diff",
        &builder.ok(&["sbom", "diff", pak, pak, "--json"]),
    );
    let osv = imported.with_file_name("osv");
    std::fs::create_dir_all(&osv).unwrap();
    walk.check(
        "audit",
        &builder.ok(&["audit", pak, "--osv", arg(&osv), "--json"]),
    );
}

/// `paks verify` of `reference` with the repository's key, reporting only.
fn walk_verify(walk: &mut Walk, user: &Env, reference: &str, public: &Path) {
    let key = arg(public);
    let args = [
        "verify",
        reference,
        "--key",
        key,
        "--require",
        "none",
        "--json",
    ];
    walk.check("verify", &user.ok(&args));
}

/// The project commands on `user`'s repository, then `config` and `cache`.
fn walk_project_config_and_cache(walk: &mut Walk, user: &Env, tmp: &Path) {
    let project = tmp.join("project");
    walk.check(
        "env init",
        &user.ok(&["env", "init", arg(&project), "--json"]),
    );
    let in_project = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--project", arg(&project), "--json"]);
        user.ok(&all)
    };
    walk.check("add", &in_project(&["add", "hello-script"]));
    walk.check("lock", &in_project(&["lock"]));
    walk.check("sync", &in_project(&["sync"]));
    walk.check("tree", &in_project(&["tree"]));
    // Nothing is outdated: the report is its summary line alone.
    walk.check("outdated", &in_project(&["outdated"]));
    walk.check("config list", &user.ok(&["config", "list", "--json"]));
    walk.check("cache info", &user.ok(&["cache", "info", "--json"]));
    walk.check(
        "cache prune",
        &user.ok(&["cache", "prune", "--dry-run", "--json"]),
    );
    walk.check(
        "cache clean",
        &user.ok(&["cache", "clean", "--dry-run", "--json"]),
    );
}

#[test]
fn inspect_prints_a_summary_and_every_binary_only_with_verbose() {
    let env = Env::new();
    let layout = env.dir.path().join("busybox");
    paks_testkit::busybox_glibc_layout(&layout, "latest");
    let image = format!("oci:{}:latest", arg(&layout));
    let out = plain(&env).args(["inspect", &image]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary = text(&out.stdout);
    assert!(!summary.contains('{'), "no raw JSON: {summary}");
    for needle in ["  binaries:", "  needs glibc:", "  ships glibc:"] {
        assert!(summary.contains(needle), "missing `{needle}`: {summary}");
    }
    assert!(
        !summary.contains("    /bin/busybox"),
        "no binary list: {summary}"
    );
    let said = text(&out.stderr);
    assert!(said.contains("not listed: `paks inspect -v`"), "{said}");

    let verbose = env.ok(&["inspect", "-v", &image]);
    assert!(!verbose.contains('{'), "no raw JSON: {verbose}");
    assert!(verbose.starts_with(&summary), "{verbose}");
    assert!(verbose.contains("\n    /bin/busybox  "), "{verbose}");
}

#[test]
fn resolver_errors_and_unreachable_repositories_say_what_to_do() {
    let builder = Env::new();
    let mut server = PaksServe::start(
        Path::new(paks_bin()),
        &builder.dir.path().join("registry-data"),
        &[],
    );
    let ns = format!("{}/acme", server.host());
    builder.build("libgreet");
    let hello = builder.build("hello");
    builder.ok(&["push", arg(&hello), &format!("{ns}/hello")]);
    // libgreet 1.1.0, which hello was not built against.
    let newer = builder.dir.path().join("libgreet-1.1");
    copy_dir(&examples().join("libgreet"), &newer);
    let recipe = std::fs::read_to_string(newer.join("paks.toml")).unwrap();
    std::fs::write(
        newer.join("paks.toml"),
        recipe.replace("version = \"1.0.0\"", "version = \"1.1.0\""),
    )
    .unwrap();
    let built = builder.build_dir(&newer);
    builder.ok(&["push", built.trim(), &format!("{ns}/libgreet")]);
    builder.ok(&["index", "build", &ns]);
    let user = Env::new();
    let url = format!("oci://{ns}");
    user.ok(&["repo", "add", "acme", &url, "--allow-unsigned"]);

    // No matching version: the versions that exist.
    let err = user.fails(&["install", "hello@^9"], 1);
    assert!(
        err.contains(
            "repository `acme` has no version of hello >=9.0.0, <10.0.0 (available: 1.0.0)"
        ),
        "{err}"
    );
    // A pin: hello's build links libgreet 1.0.0 exactly.
    let err = user.fails(&["install", "hello", "libgreet>1.0.0"], 1);
    for needle in [
        "hello was built against libgreet 1.0.0",
        "your request needs libgreet 1.0.0",
        "note: a paks build runs only with the exact dependency builds it was built against",
    ] {
        assert!(err.contains(needle), "missing `{needle}` in:\n{err}");
    }

    // The registry goes away: the cached index still serves with --offline.
    server.stop();
    let err = user.fails(&["install", "hello"], 1);
    assert!(
        err.contains("hint: repository `acme` cannot be reached; to work without the network, use `--offline`"),
        "{err}"
    );
    let err = user.fails(&["search", "hello"], 1);
    assert!(err.contains("use `--offline`"), "{err}");
    assert!(
        user.ok(&["search", "--offline", "hello", "--json"])
            .contains("\"hello\""),
        "the cached index answers"
    );
    // A name that does not resolve (`.invalid` never does) gets the same hint.
    std::fs::write(
        user.root.join("repos.toml"),
        "[[repository]]\nname = \"acme\"\nurl = \"oci://registry.invalid/acme\"\nallow_unsigned = true\n",
    )
    .unwrap();
    let err = user.fails(&["search", "hello"], 1);
    assert!(err.contains("cannot be reached"), "{err}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
