//! `paks recipe bump` against a real upstream on this machine: release tarballs over
//! `python3 -m http.server`, git repositories with annotated and lightweight tags. The
//! bumped `paks.toml` is compared as a file, byte for byte.

mod common;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output};

use common::{Env, text};
use paks_testkit::{HostileServer, Upstream, write_head};

/// A recipe as people write them: comments, odd spacing, a url source with `size`, a
/// git source (annotated tags) and a path source.
fn recipe(up: &Upstream, version: &str, release: &str) -> String {
    let r = up.release(release);
    format!(
        "# foo, from upstream\n[package]\nname    = \"foo\"   # the name\nversion =   \"{version}\"\n\n\
         [[source]]   # the release\nurl = \"{url}\"\nsha256 = \"{sha}\"  # of the tarball\nsize = {size}\n\n\
         [[source]]\ngit = \"{git}\"\ncommit = \"{commit}\"\ndest = \"git\"\n\n\
         [[source]]\npath = \"local\"\n\n[build]\nscript = \"true\"\n",
        url = up.tarball_url(release),
        sha = r.sha256,
        size = r.size,
        git = up.annotated_git(),
        commit = r.commit,
    )
}

/// `WORK/foo/paks.toml` holding `text`; returns the work directory.
fn project(text: &str) -> tempfile::TempDir {
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(work.path().join("foo/local")).unwrap();
    std::fs::write(work.path().join("foo/paks.toml"), text).unwrap();
    work
}

fn bump(env: &Env, work: &Path, args: &[&str]) -> Output {
    env.cmd()
        .args(["recipe", "bump", "foo"])
        .args(args)
        .current_dir(work)
        .output()
        .unwrap()
}

fn read(work: &Path) -> String {
    std::fs::read_to_string(work.join("foo/paks.toml")).unwrap()
}

#[test]
fn bump_to_a_version_rewrites_only_what_changes() {
    let (env, up) = (Env::new(), Upstream::start());
    let work = project(&recipe(&up, "1.0.0", "1.0"));
    let out = bump(&env, work.path(), &["--to", "1.1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(read(work.path()), recipe(&up, "1.1.0", "1.1"));
    let new = up.release("1.1");
    assert_eq!(
        text(&out.stdout),
        format!(
            "foo 1.0.0 → 1.1.0\n  {} → {} ({})\n  {}: tag `v1.1`, commit {}\n",
            up.tarball_url("1.0"),
            up.tarball_url("1.1"),
            new.sha256,
            up.annotated_git(),
            new.commit
        )
    );
    // Again: nothing to do, and the file stays as it is.
    let out = bump(&env, work.path(), &["--to", "v1.1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "foo 1.1.0 is the newest\n");
    assert_eq!(read(work.path()), recipe(&up, "1.1.0", "1.1"));
}

#[test]
fn without_to_the_newest_upstream_version_is_taken() {
    let (env, up) = (Env::new(), Upstream::start());
    // The check infers `git-tags` from the git source: the lightweight tags `1.0`, `1.1`.
    let text_of = |version: &str, release: &str| {
        recipe(&up, version, release).replace(&up.annotated_git(), &up.lightweight_git())
    };
    let work = project(&text_of("1.0.0", "1.0"));
    std::fs::write(
        work.path().join("foo/paks.toml"),
        format!(
            "{}[update]\nstrategy = \"git-tags\"\nurl = \"{}\"\n",
            text_of("1.0.0", "1.0"),
            up.lightweight_git()
        ),
    )
    .unwrap();
    let out = bump(&env, work.path(), &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        read(work.path()),
        format!(
            "{}[update]\nstrategy = \"git-tags\"\nurl = \"{}\"\n",
            text_of("1.1.0", "1.1"),
            up.lightweight_git()
        )
    );
    assert!(text(&out.stdout).starts_with("foo 1.0.0 → 1.1.0\n"));
}

#[test]
fn patch_prints_a_diff_that_patch_applies_and_writes_nothing() {
    let (env, up) = (Env::new(), Upstream::start());
    let old = recipe(&up, "1.0.0", "1.0");
    let work = project(&old);
    let out = bump(&env, work.path(), &["--to", "1.1", "--patch"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(read(work.path()), old, "--patch writes nothing");
    let diff = text(&out.stdout);
    assert!(
        diff.starts_with("--- a/foo/paks.toml\n+++ b/foo/paks.toml\n"),
        "{diff}"
    );
    assert!(text(&out.stderr).contains("foo 1.0.0 → 1.1.0"));
    let mut patch = Command::new("patch")
        .args(["-p1", "--quiet"])
        .current_dir(work.path())
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("patch runs (`scripts/deps` installs it)");
    patch
        .stdin
        .take()
        .unwrap()
        .write_all(diff.as_bytes())
        .unwrap();
    assert!(patch.wait().unwrap().success());
    assert_eq!(read(work.path()), recipe(&up, "1.1.0", "1.1"));

    // An absolute DIR below the working directory is named relative to it.
    std::fs::write(work.path().join("foo/paks.toml"), &old).unwrap();
    let dir = work.path().join("foo/paks.toml");
    let out = env
        .cmd()
        .args(["recipe", "bump", "--to", "1.1", "--patch"])
        .arg(&dir)
        .current_dir(work.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), diff);
}

#[test]
fn json_says_what_changed_in_lines_with_a_type() {
    let (env, up) = (Env::new(), Upstream::start());
    let work = project(&recipe(&up, "1.0.0", "1.0"));
    let out = bump(&env, work.path(), &["--to", "1.1", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 1);
    for line in &lines {
        assert!(line["type"].is_string(), "{line}");
    }
    let new = up.release("1.1");
    assert_eq!(
        lines[0],
        serde_json::json!({
            "type": "bump", "name": "foo", "dir": "foo", "from": "1.0.0", "to": "1.1.0",
            "sources": [
                {"url": up.tarball_url("1.1"), "old": up.tarball_url("1.0"),
                 "new": up.tarball_url("1.1"), "sha256": new.sha256.to_string(), "size": new.size},
                {"git": up.annotated_git(), "old": up.release("1.0").commit,
                 "new": new.commit, "tag": "v1.1"},
            ]
        })
    );
    let out = bump(&env, work.path(), &["--to", "1.1", "--json"]);
    let line: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(line["type"], "current", "{line}");
}

#[test]
fn a_release_upstream_does_not_have_leaves_the_file_untouched() {
    let (env, up) = (Env::new(), Upstream::start());
    let old = recipe(&up, "1.0.0", "1.0");
    let work = project(&old);
    let out = bump(&env, work.path(), &["--to", "1.2"]);
    assert_eq!(out.status.code(), Some(1), "a 404 is no such release");
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("`{}/foo-1.2.tar.gz`", up.url())),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
    assert_eq!(read(work.path()), old);

    let out = bump(&env, work.path(), &["--to", "latest"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("`latest` is not a version"));
    assert_eq!(read(work.path()), old);
}

#[test]
fn a_download_cut_short_fails_as_the_network_and_leaves_the_file_untouched() {
    let env = Env::new();
    // Announces 1000 bytes, sends 10 and closes.
    let server = HostileServer::start(|_, stream| {
        write_head(stream, 200, &[("content-length", "1000".into())])?;
        stream.write_all(b"0123456789")
    });
    let old = format!(
        "[package]\nname = \"foo\"\nversion = \"1.0.0\"\n\n[[source]]\nurl = \"{}/foo-1.0.tar.gz\"\nsha256 = \"{}\"\n\n[build]\nscript = \"true\"\n",
        server.url(),
        "0".repeat(64)
    );
    let work = project(&old);
    let out = bump(&env, work.path(), &["--to", "1.1"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&format!("`{}/foo-1.1.tar.gz`", server.url())),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(read(work.path()), old);
}

#[test]
fn a_url_without_the_version_asks_for_a_manual_edit() {
    let (env, up) = (Env::new(), Upstream::start());
    let old = recipe(&up, "1.0.0", "1.0").replace("foo-1.0.tar.gz", "foo.tar.gz");
    let work = project(&old);
    let out = bump(&env, work.path(), &["--to", "1.1", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("source 1"), "{err}");
    assert!(err.contains("by hand"), "{err}");
    assert_eq!(read(work.path()), old);
}

#[test]
fn the_bumped_recipe_builds_from_the_new_release_with_a_new_id() {
    let (env, up) = (Env::new(), Upstream::start());
    // The tarball and the git checkout must be of one release.
    let build = "[build]\nscript = \"\"\"\ntest \"$(cat VERSION)\" = \"$(cat git/VERSION)\"\n\
                 mkdir -p \"$PREFIX/share\"\ncp VERSION \"$PREFIX/share/\"\n\"\"\"\n";
    let work = project(&recipe(&up, "1.0.0", "1.0").replace("[build]\nscript = \"true\"\n", build));
    let id = |out: &str| -> String {
        let line: serde_json::Value = out
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["type"] == "build")
            .unwrap_or_else(|| panic!("a build line in {out}"));
        line["id"].as_str().unwrap().to_owned()
    };
    let dir = work.path().join("foo");
    let build_json = || {
        env.ok(&[
            "build",
            dir.to_str().unwrap(),
            "--json",
            "--out",
            env.out.to_str().unwrap(),
        ])
    };
    let before = id(&build_json());
    let out = bump(&env, work.path(), &["--to", "1.1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The build downloads the new tarball and checks out the new commit: both verify.
    let after = id(&build_json());
    assert_ne!(before, after);
    assert!(after.contains("1.1.0"), "{after}");
}
