//! Sets `PAKS_VERSION` for `paks --version`: the crate version, then the commit and its
//! date when built from a git checkout (`0.1.0 (abc1234 2026-12-05)`). A tarball or a
//! machine without git builds too, with the bare version.

use std::path::Path;
use std::process::Command;

fn main() {
    let version = std::env::var("CARGO_PKG_VERSION").expect("cargo sets it");
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it");
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(args)
            .current_dir(&dir)
            .output()
            .ok()?;
        let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
        (out.status.success() && !text.is_empty()).then_some(text)
    };
    let line = match (
        git(&["rev-parse", "--short=7", "HEAD"]),
        git(&["log", "-1", "--format=%cd", "--date=short"]),
    ) {
        (Some(commit), Some(date)) => format!("{version} ({commit} {date})"),
        _ => version,
    };
    println!("cargo:rustc-env=PAKS_VERSION={line}");
    println!("cargo:rerun-if-changed=build.rs");
    // Rebuild when HEAD moves: HEAD itself (a checkout), its reflog (every move), packed
    // refs, and the branch HEAD names (a commit), or its directory while the branch is
    // only packed. Only existing paths: a missing one would rebuild every time.
    let path_of =
        |name: &str| git(&["rev-parse", "--git-path", name]).map(|p| Path::new(&dir).join(p));
    let mut watched: Vec<_> = ["HEAD", "logs/HEAD", "packed-refs"]
        .iter()
        .filter_map(|name| path_of(name))
        .filter(|p| p.exists())
        .collect();
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]).and_then(|b| path_of(&b)) {
        match branch.parent() {
            _ if branch.exists() => watched.push(branch.clone()),
            Some(parent) if parent.is_dir() => watched.push(parent.to_owned()),
            _ => {}
        }
    }
    for path in watched {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}
