//! Helpers for the CLI scenarios: a throw-away install root, the `paks` binary, and the
//! example recipes.

#![allow(dead_code)] // each test file uses a part

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn paks_bin() -> &'static str {
    env!("CARGO_BIN_EXE_paks")
}

pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .canonicalize()
        .unwrap()
}

/// A temporary install root and output directory.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub out: PathBuf,
}

impl Default for Env {
    fn default() -> Self {
        Self::new()
    }
}

impl Env {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let out = dir.path().join("out");
        Self { dir, root, out }
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(paks_bin());
        // The cache and the user configuration are per test too (by default they are the
        // user's, shared by every root): `<root>/cache` is where earlier tests look.
        c.env("PAKS_ROOT", &self.root)
            .env("PAKS_CACHE_DIR", self.root.join("cache"))
            .env("PAKS_CONFIG", self.dir.path().join("config.toml"))
            .env_remove("PAKS_JOBS")
            .env_remove("PAKS_OUT");
        c
    }

    /// Run `paks ARGS`, returning its output whatever the status.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// Run `paks ARGS` and require success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "paks {args:?} failed ({}):\n{}",
            out.status,
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// Run `paks ARGS` and require failure with exit code `code`; returns stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "paks {args:?}: stdout {} stderr {}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stderr)
    }

    /// Build the recipe in `dir` into this env's output directory; returns stdout.
    pub fn build_dir(&self, dir: &Path) -> String {
        self.ok(&[
            "build",
            dir.to_str().unwrap(),
            "--out",
            self.out.to_str().unwrap(),
        ])
    }

    /// Build the recipe in `dir`, requiring failure with exit code 1; returns stderr.
    pub fn build_dir_fails(&self, dir: &Path) -> String {
        self.fails(
            &[
                "build",
                dir.to_str().unwrap(),
                "--out",
                self.out.to_str().unwrap(),
            ],
            1,
        )
    }

    /// Build an example recipe; returns the path of its archive.
    pub fn build(&self, example: &str) -> PathBuf {
        let recipe = examples().join(example);
        let pak = self.ok(&[
            "build",
            recipe.to_str().unwrap(),
            "--out",
            self.out.to_str().unwrap(),
        ]);
        PathBuf::from(pak.trim())
    }

    pub fn store(&self) -> PathBuf {
        self.root.join("store")
    }

    /// The names in `<root>/store`, sorted.
    pub fn store_entries(&self) -> Vec<String> {
        let mut v: Vec<String> = match std::fs::read_dir(self.store()) {
            Ok(rd) => rd
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => vec![],
        };
        v.sort();
        v
    }
}

/// Build (without installing) a package whose install takes a while: `mib` MiB of random
/// bytes, which do not compress; returns the archive's path.
pub fn slow_pak(builder: &Env, mib: u32) -> String {
    let recipe = builder.dir.path().join("slow");
    std::fs::create_dir_all(&recipe).unwrap();
    let script = format!(
        "mkdir -p \"$PREFIX/share\"\nhead -c {} /dev/urandom > \"$PREFIX/share/blob\"\n",
        mib << 20
    );
    std::fs::write(
        recipe.join("paks.toml"),
        format!(
            "[package]\nname = \"slow\"\nversion = \"1.0.0\"\n[build]\nscript = '''\n{script}'''\n"
        ),
    )
    .unwrap();
    let out = builder.out.to_str().unwrap();
    let built = builder.ok(&[
        "build",
        recipe.to_str().unwrap(),
        "--out",
        out,
        "--no-install",
    ]);
    built.trim().to_owned()
}

/// Re-pack the real `.pak` `good` into `evil` with the lies in `options` (see
/// `tests/forge/forge.py`: python3's tarfile, a third-party writer), every digest recomputed.
pub fn forge(good: &Path, evil: &Path, options: &serde_json::Value) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/forge/forge.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(good)
        .arg(evil)
        .arg(options.to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "forge: {}", text(&out.stderr));
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every regular file, directory and link below `dir`, with sizes and link targets:
/// a fingerprint to compare trees.
pub fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in walk(dir) {
        let rel = e.strip_prefix(dir).unwrap().display().to_string();
        let m = std::fs::symlink_metadata(&e).unwrap();
        if m.file_type().is_symlink() {
            out.push(format!(
                "{rel} -> {}",
                std::fs::read_link(&e).unwrap().display()
            ));
        } else if m.is_dir() {
            out.push(format!("{rel}/"));
        } else {
            out.push(format!("{rel} {}", m.len()));
        }
    }
    out.sort();
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out
}

/// Run `command` with `input` on its standard input; returns its output whatever the
/// status.
pub fn run_with_stdin(command: &mut Command, input: &[u8]) -> Output {
    use std::io::Write as _;
    use std::process::Stdio;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// A real `paks serve` with `hello-script` pushed to `NS`, indexed and signed; the
/// `builder` env built it. The fixture of the project (lock and sync) scenarios.
pub struct ScriptRepo {
    pub server: paks_testkit::PaksServe,
    pub builder: Env,
    pub pak: PathBuf,
    pub key: PathBuf,
    pub public: PathBuf,
}

impl Default for ScriptRepo {
    fn default() -> Self {
        Self::new()
    }
}

impl ScriptRepo {
    pub const NS: &'static str = "acme";

    pub fn new() -> Self {
        let builder = Env::new();
        let server = paks_testkit::PaksServe::start(
            Path::new(paks_bin()),
            &builder.dir.path().join("registry-data"),
            &[],
        );
        let pak = builder.build("hello-script");
        let key = builder.dir.path().join("key.pem");
        builder.ok(&["key", "generate", "--out", key.to_str().unwrap()]);
        let public = key.with_extension("pub");
        let this = Self {
            server,
            builder,
            pak,
            key,
            public,
        };
        this.push(&this.pak);
        this.index();
        this
    }

    /// `<host>/acme`.
    pub fn ns(&self) -> String {
        format!("{}/{}", self.server.host(), Self::NS)
    }

    /// The repository URL users add.
    pub fn url(&self) -> String {
        format!("oci://{}", self.ns())
    }

    /// Pushes an archive of hello-script (one more build of its version).
    pub fn push(&self, pak: &Path) {
        self.builder.ok(&[
            "push",
            pak.to_str().unwrap(),
            &format!("{}/hello-script", self.ns()),
        ]);
    }

    /// Re-builds and signs the index of the namespace.
    pub fn index(&self) {
        self.builder.ok(&[
            "index",
            "build",
            &self.ns(),
            "--sign",
            self.key.to_str().unwrap(),
        ]);
    }

    /// `paks repo add NAME URL --key KEY` for `env`.
    pub fn add_to(&self, env: &Env, name: &str) {
        env.ok(&[
            "repo",
            "add",
            name,
            &self.url(),
            "--key",
            self.public.to_str().unwrap(),
        ]);
    }
}

/// Run `git ARGS` in `dir` as a throw-away committer, requiring success; returns stdout,
/// trimmed.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@t"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
    text(&out.stdout).trim().to_owned()
}

/// `paks serve` with its data in `env`'s directory (`registry-data`).
pub fn serve(env: &Env) -> paks_testkit::PaksServe {
    paks_testkit::PaksServe::start(
        Path::new(paks_bin()),
        &env.dir.path().join("registry-data"),
        &[],
    )
}

/// The catalogue `paks serve` runs, in this process, over the registry data a real
/// `paks serve` keeps in `data`, with the same users file (`users`) if any: for asking it
/// what the HTTP API will answer, before and besides that API. Every repository is read.
pub fn catalog_over(
    data: &Path,
    users: Option<&Path>,
) -> (
    paks_catalog::Catalog,
    std::sync::Arc<paks_registry::auth::AccessControl>,
) {
    use paks_registry::extension::{Extension, ExtensionContext};
    let catalog = paks_catalog::Catalog::new(paks_catalog::CatalogOptions::default());
    let extension: std::sync::Arc<dyn Extension> = std::sync::Arc::new(catalog.clone());
    let access = match users {
        Some(users) => paks_registry::auth::AccessControl::load(users).unwrap(),
        None => paks_registry::auth::AccessControl::open(),
    };
    let access = std::sync::Arc::new(paks_registry::server::with_derived_repos(
        access, &extension,
    ));
    let storage = paks_registry::storage::FsStorage::open(data).unwrap();
    drop(extension.start(ExtensionContext {
        storage: std::sync::Arc::new(storage),
        access: access.clone(),
        tls: false,
    }));
    catalog.load_all();
    (catalog, access)
}

/// `umoci unpack` the layout's `tag`, then run `argv` in it with `chroot` and the image's
/// environment; returns stdout.
pub fn chroot_run(layout: &Path, tag: &str, argv: &[&str]) -> String {
    let bundle = layout.with_extension("bundle");
    paks_testkit::umoci(&[
        "unpack",
        "--image",
        &format!("{}:{tag}", layout.display()),
        bundle.to_str().unwrap(),
    ]);
    let spec = serde_json::from_slice::<serde_json::Value>(
        &std::fs::read(bundle.join("config.json")).unwrap(),
    )
    .unwrap();
    let mut c = Command::new("chroot");
    c.arg(bundle.join("rootfs")).args(argv).env_clear();
    for e in spec["process"]["env"].as_array().unwrap() {
        let (k, v) = e.as_str().unwrap().split_once('=').unwrap();
        c.env(k, v);
    }
    let out = text(&paks_testkit::run_ok(&mut c).stdout);
    std::fs::remove_dir_all(&bundle).unwrap();
    out
}

/// The users-file hash of `password`, as `paks serve passwd` prints it.
pub fn password_hash(password: &str) -> String {
    let mut child = Command::new(paks_bin())
        .args(["serve", "passwd"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        format!("{password}\n").as_bytes(),
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "paks serve passwd: {}",
        text(&out.stderr)
    );
    let hash = text(&out.stdout).trim().to_owned();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    hash
}

/// `len` bytes that neither repeat nor compress, different for each `seed` (blobs whose
/// chunks and multipart parts all differ).
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15_u64 ^ (seed + 1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24).to_le_bytes()[0]
        })
        .collect()
}

/// A registry serving `blobs` (by hex digest) as manifests and blobs, honouring `Range`;
/// slow (64 KiB every 50 ms, about 2.5 s for a 3 MB layer) while `slow` is set.
#[allow(clippy::implicit_hasher)] // tests pass the std map
pub fn serve_blobs(
    blobs: std::collections::HashMap<String, Vec<u8>>,
    slow: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> paks_testkit::HostileServer {
    paks_testkit::HostileServer::start({
        move |req, s| {
            let path = req.path().to_owned();
            let Some((_, hex)) = path.rsplit_once("sha256:") else {
                return paks_testkit::write_head(s, 200, &[("content-length", "0".into())]);
            };
            let Some(bytes) = blobs.get(hex) else {
                return paks_testkit::write_head(s, 404, &[("content-length", "0".into())]);
            };
            if path.contains("/manifests/") {
                paks_testkit::write_head(
                    s,
                    200,
                    &[
                        (
                            "content-type",
                            "application/vnd.oci.image.manifest.v1+json".into(),
                        ),
                        ("content-length", bytes.len().to_string()),
                    ],
                )?;
                return std::io::Write::write_all(s, bytes);
            }
            let start: usize = req
                .header("range")
                .and_then(|r| r.strip_prefix("bytes="))
                .and_then(|r| r.strip_suffix('-'))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
                .min(bytes.len());
            let mut headers = vec![("content-length", (bytes.len() - start).to_string())];
            let status = if start > 0 {
                headers.push((
                    "content-range",
                    format!("bytes {start}-{}/{}", bytes.len() - 1, bytes.len()),
                ));
                206
            } else {
                200
            };
            paks_testkit::write_head(s, status, &headers)?;
            // Slow: 64 KiB every 50 ms (about 2.5 s for the layer).
            let pace = if slow.load(std::sync::atomic::Ordering::SeqCst) {
                std::time::Duration::from_millis(50)
            } else {
                std::time::Duration::ZERO
            };
            for chunk in bytes[start..].chunks(64 * 1024) {
                std::io::Write::write_all(s, chunk)?;
                std::thread::sleep(pace);
            }
            Ok(())
        }
    })
}

/// A self-signed certificate and its key in `dir` (cert.pem, key.pem), made by openssl:
/// `subject` (`/CN=…`), a `subjectAltName=…` and more `-addext` extensions.
pub fn self_signed_certificate(dir: &Path, subject: &str, alt_name: &str, extensions: &[&str]) {
    let mut c = Command::new("openssl");
    c.current_dir(dir).args([
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
        "-subj",
        subject,
        "-addext",
        alt_name,
    ]);
    for e in extensions {
        c.args(["-addext", e]);
    }
    c.args(["-keyout", "key.pem", "-out", "cert.pem"]);
    paks_testkit::run_ok(&mut c);
}
