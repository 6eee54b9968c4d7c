//! The catalogue's data from real pushes: packages built and pushed by the real `paks`
//! binary to a real `paks serve`, signed and tested, a plain image copied in with skopeo;
//! then a [`Catalog`] started over the same storage reads versions, builds, dependencies
//! resolved to their repositories, reverse dependencies and attachments, and follows
//! pushes (told, or found by its storage check).

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{Env, paks_bin};
use paks_catalog::model::{RepositoryKind, TestStatus};
use paks_catalog::{Catalog, CatalogOptions};
use paks_registry::auth::{AccessControl, Identity};
use paks_registry::extension::{Extension, ExtensionContext};
use paks_registry::names::RepoName;
use paks_registry::storage::FsStorage;
use paks_testkit::{PaksServe, busybox_layout, skopeo};

/// A registry, its data directory, and the env that builds and pushes.
struct Registry {
    server: PaksServe,
    builder: Env,
    data: PathBuf,
    key: PathBuf,
}

impl Registry {
    fn new() -> Self {
        let builder = Env::new();
        let data = builder.dir.path().join("registry-data");
        let server = PaksServe::start(Path::new(paks_bin()), &data, &[]);
        let key = builder.dir.path().join("key.pem");
        builder.ok(&["key", "generate", "--out", key.to_str().unwrap()]);
        Self {
            server,
            builder,
            data,
            key,
        }
    }

    fn ns(&self) -> String {
        format!("{}/acme", self.server.host())
    }

    /// `paks push PAK <ns>/TARGET` (and `extra`).
    fn push(&self, pak: &Path, target: &str, extra: &[&str]) {
        let target = format!("{}/{target}", self.ns());
        let mut args = vec!["push", pak.to_str().unwrap(), &target];
        args.extend_from_slice(extra);
        self.builder.ok(&args);
    }

    /// A catalogue over the registry's storage, read in full.
    fn catalog(&self) -> Catalog {
        let catalog = Catalog::new(CatalogOptions::default());
        catalog.open(ExtensionContext {
            storage: Arc::new(FsStorage::open(&self.data).unwrap()),
            access: Arc::new(AccessControl::open()),
            tls: false,
        });
        catalog
    }

    /// Builds a script package `name` at `version` (no test); returns its archive.
    fn tool(&self, name: &str, version: &str) -> PathBuf {
        let dir = self.builder.dir.path().join(format!("{name}-{version}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("paks.toml"),
            format!(
                "[package]\nname = \"{name}\"\nversion = \"{version}\"\nsummary = \"A tool of the catalogue tests\"\n\
                 [build]\nscript = '''\nmkdir -p \"$PREFIX/bin\"\nprintf '#!/bin/sh\\necho {version}\\n' > \"$PREFIX/bin/{name}\"\nchmod +x \"$PREFIX/bin/{name}\"\n'''\n"
            ),
        )
        .unwrap();
        let out = self.builder.out.to_str().unwrap();
        let pak = self
            .builder
            .ok(&["build", dir.to_str().unwrap(), "--out", out, "--no-install"]);
        PathBuf::from(pak.trim())
    }
}

fn repo(name: &str) -> RepoName {
    RepoName::parse(name).unwrap()
}

#[test]
fn pushed_packages_images_and_attachments_read_right() {
    let r = Registry::new();
    r.builder.build("libgreet");
    let hello = r.builder.build("hello");
    let script = r.builder.build("hello-script");
    r.push(&hello, "hello", &[]);
    r.push(
        &script,
        "hello-script:latest",
        &["--sign", r.key.to_str().unwrap()],
    );
    // A test run attaches its signed result.
    let tester = Env::new();
    tester.ok(&[
        "test",
        &format!("{}/hello-script:0.2.0", r.ns()),
        "--sign",
        r.key.to_str().unwrap(),
    ]);
    // A plain image, copied in by a third-party client.
    let layout = r.builder.dir.path().join("busybox-layout");
    busybox_layout(&layout, "1.0");
    skopeo(&[
        "copy",
        &format!("oci:{}:1.0", layout.display()),
        &format!("docker://{}/busybox:1.0", r.ns()),
        "--dest-tls-verify=false",
    ]);

    let catalog = r.catalog();
    assert!(!catalog.is_loading());
    let anyone = Identity::Anonymous;
    let repos: Vec<(String, RepositoryKind)> = catalog
        .repositories(&anyone)
        .into_iter()
        .map(|s| (s.name, s.kind))
        .collect();
    assert_eq!(
        repos,
        [
            ("acme/busybox".to_owned(), RepositoryKind::Image),
            ("acme/hello".to_owned(), RepositoryKind::Package),
            ("acme/hello-script".to_owned(), RepositoryKind::Package),
            ("acme/libgreet".to_owned(), RepositoryKind::Package),
        ]
    );

    let hello = catalog.package("acme/hello", &anyone).unwrap();
    assert_eq!(
        hello.summary.as_deref(),
        Some("Prints a greeting, with libgreet")
    );
    assert_eq!(hello.versions.len(), 1, "build tags are not versions");
    let version = &hello.versions[0];
    assert_eq!(
        (version.version.as_str(), version.tag.as_str()),
        ("1.0.0", "1.0.0")
    );
    assert_eq!(version.builds.len(), 1);
    let build = &version.builds[0];
    assert!(build.id.ends_with("-hello-1.0.0"), "{}", build.id);
    assert_eq!(build.platform, paks_types::Platform::host().to_string());
    assert!(
        build.size > 0 && build.files > 0 && build.layer_size > 0,
        "{build:?}"
    );
    assert_eq!(build.dependencies.len(), 1, "{:?}", build.dependencies);
    let dep = &build.dependencies[0];
    assert_eq!(dep.name, "libgreet");
    assert_eq!(dep.version, "1.0.0");
    assert_eq!(dep.repository.as_deref(), Some("acme/libgreet"));
    assert!(!build.attachments.signed && build.attachments.tests.is_none());

    let libgreet = catalog.package("acme/libgreet", &anyone).unwrap();
    let reverse: Vec<(&str, &str)> = libgreet
        .reverse_dependencies
        .iter()
        .map(|p| (p.repository.as_str(), p.version.as_str()))
        .collect();
    assert_eq!(reverse, [("acme/hello", "1.0.0")]);
    assert!(hello.reverse_dependencies.is_empty());

    let script = catalog.package("acme/hello-script", &anyone).unwrap();
    assert_eq!(script.versions.len(), 1, "`latest` is not a version");
    let attachments = &script.versions[0].builds[0].attachments;
    assert!(attachments.signed, "{attachments:?}");
    assert!(attachments.sbom, "{attachments:?}");
    assert!(attachments.provenance, "{attachments:?}");
    assert_eq!(
        attachments.tests,
        Some(TestStatus::Passed),
        "{attachments:?}"
    );
    assert!(attachments.referrers.len() >= 4, "{attachments:?}");

    // Name prefix before summary matches; images are not packages.
    let found = catalog.search("GREET", &anyone, 10);
    let names: Vec<&str> = found
        .packages
        .iter()
        .map(|p| p.repository.as_str())
        .collect();
    assert_eq!(names.first(), Some(&"acme/libgreet"), "{names:?}");
    assert!(names.contains(&"acme/hello"), "{names:?}");
    assert_eq!(found.total, names.len());
    assert!(catalog.search("busybox", &anyone, 10).packages.is_empty());
    let cut = catalog.search("", &anyone, 2);
    assert_eq!((cut.total, cut.packages.len()), (3, 2));
}

#[test]
fn a_failed_test_result_shows_failed() {
    let r = Registry::new();
    let dir = r.builder.dir.path().join("flaky");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("paks.toml"),
        "[package]\nname = \"flaky\"\nversion = \"1.0.0\"\n[build]\nscript = 'mkdir -p \"$PREFIX/bin\"'\n[test]\nscript = 'exit 3'\n",
    )
    .unwrap();
    let out = r.builder.out.to_str().unwrap();
    let pak = r
        .builder
        .ok(&["build", dir.to_str().unwrap(), "--out", out, "--no-test"]);
    r.push(Path::new(pak.trim()), "flaky", &[]);
    let failed = Env::new().run(&[
        "test",
        &format!("{}/flaky:1.0.0", r.ns()),
        "--sign",
        r.key.to_str().unwrap(),
    ]);
    assert_eq!(failed.status.code(), Some(1));
    let flaky = r
        .catalog()
        .package("acme/flaky", &Identity::Anonymous)
        .unwrap();
    assert_eq!(
        flaky.versions[0].builds[0].attachments.tests,
        Some(TestStatus::Failed)
    );
}

#[test]
fn pushes_show_at_once_and_other_writers_at_the_next_check() {
    let r = Registry::new();
    let catalog = r.catalog();
    let anyone = Identity::Anonymous;
    assert!(catalog.search("tool", &anyone, 10).packages.is_empty());

    // The registry tells the catalogue; the next query sees the push, with no wait.
    r.push(&r.tool("tool", "1.0.0"), "tool", &[]);
    catalog.changed(&repo("acme/tool"));
    let found = catalog.search("tool", &anyone, 10);
    assert_eq!(found.packages.len(), 1, "{found:?}");
    assert_eq!(found.packages[0].latest, "1.0.0");

    r.push(&r.tool("tool", "2.0.0"), "tool:latest", &[]);
    catalog.changed(&repo("acme/tool"));
    let tool = catalog.package("acme/tool", &anyone).unwrap();
    let versions: Vec<&str> = tool.versions.iter().map(|v| v.version.as_str()).collect();
    assert_eq!(
        versions,
        ["2.0.0", "1.0.0"],
        "newest first; `latest` is not one"
    );

    // Not told (another process wrote it): found by the storage check.
    r.push(&r.tool("tool", "10.0.0"), "tool", &[]);
    r.push(&r.tool("other", "1.0.0"), "other", &[]);
    assert_eq!(
        catalog
            .package("acme/tool", &anyone)
            .unwrap()
            .versions
            .len(),
        2
    );
    catalog.check_storage();
    let tool = catalog.package("acme/tool", &anyone).unwrap();
    assert_eq!(tool.versions[0].version, "10.0.0", "semver order, not text");
    assert!(catalog.package("acme/other", &anyone).is_some());
}
