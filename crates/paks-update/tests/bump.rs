//! Recipe bumps against a real upstream on this machine: tarballs served by
//! `python3 -m http.server`, git repositories with annotated and lightweight tags. The
//! bumped `paks.toml` is compared with the expected file byte for byte.

use std::path::Path;

use paks_testkit::Upstream;
use paks_types::LooseVersion;
use paks_update::bump::{self, BumpError, SourceChange};
use paks_update::{FetchOptions, Fetcher, Release};

const BUILD: &str = "[build]\nscript = \"true\"\n";

fn release(upstream: &str) -> Release {
    let upstream = LooseVersion::parse(upstream).expect("a version");
    Release {
        version: upstream.to_semver(),
        upstream,
        url: None,
        tag: None,
        commit: None,
    }
}

fn recipe_dir(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("paks.toml"), text).expect("write the recipe");
    std::fs::create_dir(dir.path().join("patches")).expect("mkdir");
    dir
}

async fn plan(dir: &Path, to: &str) -> Result<bump::Bump, BumpError> {
    bump::plan(dir, &release(to), &Fetcher::new(FetchOptions::default())).await
}

/// A recipe as people write them: comments, odd spacing, a url, a git and a path source.
fn recipe(up: &Upstream, version: &str, release: &str, size: bool) -> String {
    let r = up.release(release);
    let size = if size {
        format!("size   =  {}   # bytes\n", r.size)
    } else {
        String::new()
    };
    format!(
        "# foo, from upstream\n[package]\nname    = \"foo\"   # the name\nversion =   \"{version}\"   # bumped by paks\nsummary = 'Foo, the tool'\n\n\
         # the release tarball\n[[source]]\nurl = \"{url}\"     # upstream\nsha256 = \"{sha}\"\n{size}\n\
         [[source]]\ngit    = \"{git}\"\ncommit = \"{commit}\"  # v{release}\ndest = \"git\"\n\n\
         [[source]]\npath = \"patches\"   # ours\ndest = \"patches\"\n\n{BUILD}",
        url = up.tarball_url(release),
        sha = r.sha256,
        git = up.annotated_git(),
        commit = r.commit,
    )
}

#[tokio::test]
async fn a_bump_changes_the_version_urls_digests_and_commits_and_nothing_else() {
    let up = Upstream::start();
    let dir = recipe_dir(&recipe(&up, "1.0.0", "1.0", true));
    let bump = plan(dir.path(), "1.1").await.expect("the bump plans");
    let expected = recipe(&up, "1.1.0", "1.1", true)
        // The git source's comment is the recipe's own: it stays as it was written.
        .replace("  # v1.1", "  # v1.0");
    assert_eq!(bump.new_text, expected);
    assert_eq!(bump.from.to_string(), "1.0.0");
    assert_eq!(bump.to.to_string(), "1.1.0");
    let new = up.release("1.1");
    assert_eq!(
        bump.sources,
        [
            SourceChange::Url {
                url: up.tarball_url("1.1"),
                old: up.tarball_url("1.0"),
                new: up.tarball_url("1.1"),
                sha256: new.sha256.to_string(),
                size: new.size,
            },
            SourceChange::Git {
                git: up.annotated_git(),
                old: up.release("1.0").commit.clone(),
                new: new.commit.clone(),
                tag: "v1.1".into(),
            },
        ]
    );
    // Nothing is written until `write`.
    let path = dir.path().join("paks.toml");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), bump.old_text);
    bump.write().expect("the bump writes");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), expected);
}

#[tokio::test]
async fn inline_sources_literal_strings_bare_digests_and_lightweight_tags() {
    let up = Upstream::start();
    let text = |version: &str, release: &str| {
        let r = up.release(release);
        format!(
            "source = [\n  {{ url = '{url}', sha256 = \"{hex}\", strip = 1 }},\n  {{ git = \"{git}\", commit = \"{commit}\", dest = \"g\" }},\n]\n\n\
             [package]\nname = \"foo\"\nversion = \"{version}\"\n\n{BUILD}",
            url = up.tarball_url(release),
            hex = r.sha256.hex(),
            git = up.lightweight_git(),
            commit = r.commit,
        )
    };
    let dir = recipe_dir(&text("1.0.0", "1.0"));
    let bump = plan(dir.path(), "v1.1").await.expect("the bump plans");
    assert_eq!(bump.new_text, text("1.1.0", "1.1"));
    assert!(
        matches!(&bump.sources[1], SourceChange::Git { tag, .. } if tag == "1.1"),
        "the lightweight tag is found without its `v`: {:?}",
        bump.sources
    );
}

#[tokio::test]
async fn a_url_without_the_version_is_refused_with_the_source_named() {
    let up = Upstream::start();
    let r = up.release("1.0");
    std::fs::copy(
        up.www().join("foo-1.0.tar.gz"),
        up.www().join("foo-latest.tar.gz"),
    )
    .unwrap();
    let text = format!(
        "[package]\nname = \"foo\"\nversion = \"1.0.0\"\n\n[[source]]\nurl = \"{}/foo-latest.tar.gz\"\nsha256 = \"{}\"\n\n{BUILD}",
        up.url(),
        r.sha256
    );
    let dir = recipe_dir(&text);
    let err = plan(dir.path(), "1.1")
        .await
        .expect_err("no place for the version");
    assert!(
        matches!(err, BumpError::NoVersionInUrl { index: 1, .. }),
        "{err:?}"
    );
    assert!(err.is_user_error());
    assert!(err.to_string().contains("foo-latest.tar.gz"), "{err}");
    assert!(err.hint().unwrap().contains("by hand"));
}

#[tokio::test]
async fn a_release_upstream_does_not_have_is_a_user_error() {
    let up = Upstream::start();
    let dir = recipe_dir(&recipe(&up, "1.0.0", "1.0", false));
    let err = plan(dir.path(), "1.2").await.expect_err("there is no 1.2");
    assert!(matches!(err, BumpError::Download { .. }), "{err:?}");
    assert!(err.is_user_error(), "a 404 is no such release: {err:?}");
    assert!(err.to_string().contains("foo-1.2.tar.gz"), "{err}");

    // The tarball is there but the tag is not.
    std::fs::copy(
        up.www().join("foo-1.1.tar.gz"),
        up.www().join("foo-1.2.tar.gz"),
    )
    .unwrap();
    let err = plan(dir.path(), "1.2")
        .await
        .expect_err("there is no tag 1.2");
    assert!(matches!(err, BumpError::NoTag { .. }), "{err:?}");
    assert!(err.to_string().contains("`v1.2`"), "{err}");
}

#[tokio::test]
async fn a_recipe_changed_after_the_plan_is_not_overwritten() {
    let up = Upstream::start();
    let dir = recipe_dir(&recipe(&up, "1.0.0", "1.0", false));
    let bump = plan(dir.path(), "1.1").await.expect("the bump plans");
    let path = dir.path().join("paks.toml");
    let edited = format!("{}# an edit\n", bump.old_text);
    std::fs::write(&path, &edited).unwrap();
    let err = bump.write().expect_err("the file changed");
    assert!(matches!(err, BumpError::Changed { .. }), "{err:?}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), edited);
}
