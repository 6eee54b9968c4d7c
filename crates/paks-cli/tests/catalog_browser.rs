//! The catalogue in a real browser: example packages are built and pushed to a real
//! `paks serve` (two versions of one package, one with a dependency, one signed), with a
//! plain busybox image beside them and this host's profile from `paks host --json`; then
//! the Playwright suite in `tests/browser/` drives Debian's Chromium through the pages
//! (search, package, versions, graph, image and verdict, keyboard, axe-core).
//!
//! `scripts/deps` installs what it needs: `chromium`, and a cache directory
//! (`$PAKS_BROWSER_CACHE`, default `~/.cache/paks-browser`) with a venv holding pinned
//! `playwright` and `pytest`, and axe-core's `axe.min.js`. Screenshots of every step go to
//! `target/browser-artifacts/`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Env, examples, paks_bin, text};
use paks_testkit::{PaksServe, busybox_layout, skopeo};
use serde_json::json;

/// The axe-core release `scripts/deps` vendors.
const AXE_VERSION: &str = "4.14.1";

/// Where `scripts/deps` puts the venv and axe-core.
fn browser_cache() -> PathBuf {
    if let Some(dir) = std::env::var_os("PAKS_BROWSER_CACHE") {
        return dir.into();
    }
    let base = std::env::var_os("XDG_CACHE_HOME").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache"),
        PathBuf::from,
    );
    base.join("paks-browser")
}

/// The browser, the venv's Python and axe-core, each checked to be there.
struct Tools {
    chromium: PathBuf,
    python: PathBuf,
    axe: PathBuf,
}

impl Tools {
    fn find() -> Self {
        let chromium = PathBuf::from("/usr/bin/chromium");
        let version = Command::new(&chromium).arg("--version").output();
        let version = match version {
            Ok(out) if out.status.success() => text(&out.stdout),
            other => panic!(
                "`{} --version` failed ({other:?}): is Debian's chromium installed? `scripts/deps` installs it",
                chromium.display()
            ),
        };
        assert!(version.starts_with("Chromium "), "{version}");
        eprintln!("browser: {}", version.trim());
        let cache = browser_cache();
        let python = cache.join("venv/bin/python");
        let axe = cache.join(format!("axe-core-{AXE_VERSION}/axe.min.js"));
        for path in [&python, &axe] {
            assert!(
                path.exists(),
                "`{}` is missing: `scripts/deps` installs the browser tests' venv and axe-core",
                path.display()
            );
        }
        Self {
            chromium,
            python,
            axe,
        }
    }
}

/// Builds the recipe of example `name` with its version changed to `version`; returns
/// the archive.
fn build_version(builder: &Env, name: &str, version: &str) -> PathBuf {
    let recipe = builder.dir.path().join(format!("{name}-{version}"));
    std::fs::create_dir_all(&recipe).unwrap();
    for entry in std::fs::read_dir(examples().join(name)).unwrap() {
        let path = entry.unwrap().path();
        assert!(path.is_file(), "{} is a file", path.display());
        std::fs::copy(&path, recipe.join(path.file_name().unwrap())).unwrap();
    }
    let toml = recipe.join("paks.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("version = "))
        .expect("the recipe states its version")
        .to_owned();
    std::fs::write(
        &toml,
        text.replacen(&line, &format!("version = \"{version}\""), 1),
    )
    .unwrap();
    PathBuf::from(builder.build_dir(&recipe).trim())
}

/// Where the screenshots go: `target/browser-artifacts` beside the `paks` binary's profile
/// directory.
fn artifacts_dir() -> PathBuf {
    let bin = Path::new(paks_bin());
    let target = bin
        .parent()
        .and_then(Path::parent)
        .expect("the binary is in target/PROFILE/");
    target.join("browser-artifacts")
}

/// Pushes the packages and the image to `server`, writes this host's profile; returns the
/// fixture file that tells the suite what is there.
fn publish(builder: &Env, server: &PaksServe) -> PathBuf {
    let ns = format!("{}/acme", server.host());
    let push = |pak: &Path, repo: &str, more: &[&str]| {
        let mut args = vec!["push", pak.to_str().unwrap(), repo];
        args.extend_from_slice(more);
        builder.ok(&args);
    };
    // A library, unsigned; a program that depends on it, pushed with a signature.
    let libgreet = builder.build("libgreet");
    push(&libgreet, &format!("{ns}/libgreet"), &[]);
    let key = builder.dir.path().join("key.pem");
    builder.ok(&["key", "generate", "--out", key.to_str().unwrap()]);
    let hello = builder.build("hello");
    push(
        &hello,
        &format!("{ns}/hello"),
        &["--sign", key.to_str().unwrap()],
    );
    // Two versions of one package.
    let script_old = builder.build("hello-script");
    let script_new = build_version(builder, "hello-script", "0.3.0");
    push(&script_old, &format!("{ns}/hello-script"), &[]);
    push(&script_new, &format!("{ns}/hello-script"), &[]);
    // A plain image.
    let layout = builder.dir.path().join("busybox-layout");
    busybox_layout(&layout, "1.36");
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:1.36", layout.display()),
        &format!("docker://{}/tools/busybox:1.36", server.host()),
    ]);
    // This machine's profile, as a user pastes it.
    let profile = builder.dir.path().join("host.json");
    std::fs::write(&profile, builder.ok(&["host", "--json"])).unwrap();

    let fixture = builder.dir.path().join("fixture.json");
    let facts = json!({
        "host_profile": profile,
        "versioned": {
            "repository": "acme/hello-script",
            "name": "hello-script",
            "versions": ["0.3.0", "0.2.0"],
        },
        "dependent": {
            "repository": "acme/hello",
            "name": "hello",
            "dependencies": ["libgreet"],
        },
        "dependency": {
            "repository": "acme/libgreet",
            "name": "libgreet",
            "dependents": ["hello"],
        },
        "signed": "acme/hello",
        "image": {"repository": "tools/busybox", "reference": "1.36"},
    });
    std::fs::write(&fixture, serde_json::to_vec_pretty(&facts).unwrap()).unwrap();
    fixture
}

#[test]
fn the_catalogue_in_chromium() {
    let tools = Tools::find();
    let builder = Env::new();
    let server = PaksServe::start(
        Path::new(paks_bin()),
        &builder.dir.path().join("registry-data"),
        &[],
    );
    let fixture = publish(&builder, &server);

    let artifacts = artifacts_dir();
    // Only this run's screenshots.
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).unwrap();
    eprintln!("screenshots: {}", artifacts.display());
    let repo_root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new(&tools.python)
        .args([
            "-m",
            "pytest",
            "tests/browser",
            "-p",
            "no:cacheprovider",
            "-rA",
        ])
        .arg(format!(
            "--basetemp={}",
            builder.dir.path().join("pytest").display()
        ))
        .current_dir(&repo_root)
        .env("PAKS_BROWSER_BASE_URL", server.url())
        .env("PAKS_BROWSER_FIXTURE", &fixture)
        .env("PAKS_BROWSER_CHROMIUM", &tools.chromium)
        .env("PAKS_BROWSER_AXE", &tools.axe)
        .env("PAKS_BROWSER_ARTIFACTS", &artifacts)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("run the venv's python");
    let report = format!(
        "{}{}\nscreenshots: {}",
        text(&out.stdout),
        text(&out.stderr),
        artifacts.display()
    );
    eprintln!("{report}");
    assert!(out.status.success(), "the browser suite failed:\n{report}");
    // The suite ran, and every step left a screenshot.
    let shots = std::fs::read_dir(&artifacts)
        .unwrap()
        .filter_map(|d| std::fs::read_dir(d.unwrap().path()).ok())
        .flatten()
        .count();
    assert!(
        shots >= 20,
        "only {shots} screenshots in {}",
        artifacts.display()
    );
}
