//! The catalogue's indexes at 20,000 packages: search ranks and limits, reverse
//! dependencies follow changes, and permission filtering; timings are printed (never
//! asserted: the machine is shared).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use paks_registry::auth::{AccessControl, Identity};
use paks_registry::extension::ExtensionContext;
use paks_registry::names::RepoName;
use paks_registry::storage::FsStorage;
use paks_types::{Digest, PackageKind};

use crate::index::Indexed;
use crate::model::{Attachments, Build, Dependency, Package, PackageVersion};
use crate::scan::Entry;
use crate::{Catalog, CatalogOptions};

const COUNT: usize = 20_000;

fn repo_of(i: usize) -> String {
    format!("ns{}/pkg-{i:05}", i % 10)
}

fn id_of(i: usize, version: &str) -> String {
    format!("{i:032x}-pkg-{i:05}-{version}")
}

/// Package `i`: version 1.0.0, one build pinned to a build of package `i / 2`.
fn package(i: usize, with_dependency: bool) -> Package {
    let dependencies = if with_dependency && i > 0 {
        vec![Dependency {
            name: format!("pkg-{:05}", i / 2),
            requirement: "^1".into(),
            version: "1.0.0".into(),
            id: id_of(i / 2, "1.0.0"),
            manifest: None,
            repository: None,
        }]
    } else {
        Vec::new()
    };
    let repository = repo_of(i);
    let (namespace, name) = crate::scan::split_repository(&repository);
    Package {
        repository: repository.clone(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        summary: Some(format!("Synthetic package number {i}")),
        license: None,
        homepage: None,
        kind: PackageKind::Store,
        versions: vec![PackageVersion {
            version: "1.0.0".into(),
            tag: "1.0.0".into(),
            digest: Digest::sha256_of(repository.as_bytes()),
            builds: vec![Build {
                manifest: Digest::sha256_of(repository.as_bytes()),
                id: id_of(i, "1.0.0"),
                platform: "linux/amd64".into(),
                target: None,
                glibc: None,
                layer_size: 1,
                size: 1,
                files: 1,
                dependencies,
                attachments: Attachments::default(),
            }],
        }],
        reverse_dependencies: Vec::new(),
    }
}

/// A catalogue over an empty storage with `users` as its users file (none: open), and
/// 20,000 packages set in.
fn catalog(users: Option<&str>) -> (Catalog, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let access = match users {
        Some(text) => AccessControl::parse(text, Path::new("users.toml")).unwrap(),
        None => AccessControl::open(),
    };
    let catalog = Catalog::new(CatalogOptions::default());
    catalog.open(ExtensionContext {
        storage: Arc::new(FsStorage::open(dir.path()).unwrap()),
        access: Arc::new(access),
        tls: false,
    });
    let started = Instant::now();
    {
        let mut state = catalog.write();
        for i in 0..COUNT {
            set(&mut state, i, true);
        }
    }
    eprintln!("indexing {COUNT} packages: {:?}", started.elapsed());
    (catalog, dir)
}

fn set(state: &mut crate::index::State, i: usize, with_dependency: bool) {
    let repo = RepoName::parse(&repo_of(i)).unwrap();
    let entry = Entry::Package(Box::new(package(i, with_dependency)));
    state.set(&repo, Some(Indexed::new(entry, None)));
}

fn reverse(catalog: &Catalog, i: usize, viewer: &Identity) -> Vec<String> {
    catalog
        .package(&repo_of(i), viewer)
        .unwrap()
        .reverse_dependencies
        .into_iter()
        .map(|p| p.repository)
        .collect()
}

#[test]
fn search_and_lookup_at_20000_packages() {
    let (catalog, _dir) = catalog(None);
    let anyone = Identity::Anonymous;

    let started = Instant::now();
    assert_eq!(catalog.search("pkg-00001", &anyone, 1).total, 1);
    eprintln!(
        "first search (makes the search text): {:?}",
        started.elapsed()
    );
    let started = Instant::now();
    let found = catalog.search("PKG-1999", &anyone, 5);
    eprintln!("search (prefix): {:?}", started.elapsed());
    assert_eq!(found.total, 10, "pkg-19990 … pkg-19999");
    let names: Vec<&str> = found.packages.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names.len(), 5, "cut at the limit");
    assert!(names.iter().all(|n| n.starts_with("pkg-1999")), "{names:?}");

    // Exact name first, then names starting with it, then summaries.
    let found = catalog.search("pkg-00012", &anyone, 3);
    assert_eq!(found.packages[0].name, "pkg-00012");
    let found = catalog.search("number 12345", &anyone, 10);
    assert_eq!(found.total, 1);
    assert_eq!(found.packages[0].repository, repo_of(12345));

    let started = Instant::now();
    let found = catalog.search("synthetic", &anyone, 20);
    eprintln!("search (every summary matches): {:?}", started.elapsed());
    assert_eq!((found.total, found.packages.len()), (COUNT, 20));

    // Dependencies resolve to their repository; reverse dependencies from the index.
    let started = Instant::now();
    let p = catalog.package(&repo_of(4321), &anyone).unwrap();
    eprintln!("package lookup: {:?}", started.elapsed());
    assert_eq!(
        p.versions[0].builds[0].dependencies[0]
            .repository
            .as_deref(),
        Some(repo_of(2160).as_str())
    );
    assert_eq!(
        reverse(&catalog, 4321, &anyone),
        [repo_of(8642), repo_of(8643)]
    );

    // A change updates the indexes of that repository only.
    set(&mut catalog.write(), 8642, false);
    assert_eq!(reverse(&catalog, 4321, &anyone), [repo_of(8643)]);
    catalog
        .write()
        .set(&RepoName::parse(&repo_of(8643)).unwrap(), None);
    assert!(reverse(&catalog, 4321, &anyone).is_empty());
    assert!(catalog.package(&repo_of(8643), &anyone).is_none());
    assert_eq!(catalog.search("pkg-08643", &anyone, 10).total, 0);
    assert_eq!(catalog.repositories(&anyone).len(), COUNT - 1);
}

#[test]
fn permission_filtering_at_20000_packages() {
    let users = "[[anonymous]]\nrepositories = [\"ns3/*\"]\nactions = [\"pull\"]\n";
    let (catalog, _dir) = catalog(Some(users));
    let anyone = Identity::Anonymous;
    assert_eq!(catalog.search("pkg-00003", &anyone, 1).total, 1);
    let started = Instant::now();
    let listed = catalog.repositories(&anyone);
    eprintln!("repositories, filtered: {:?}", started.elapsed());
    assert_eq!(listed.len(), COUNT / 10);
    assert!(listed.iter().all(|r| r.name.starts_with("ns3/")));

    let started = Instant::now();
    let found = catalog.search("synthetic", &anyone, 10);
    eprintln!("search, filtered: {:?}", started.elapsed());
    assert_eq!(found.total, COUNT / 10);
    assert!(catalog.package(&repo_of(4), &anyone).is_none());
    // Package 13 (ns3) has dependents 26 (ns6, hidden) and 27 (ns7, hidden); 3 has 6 and 7.
    assert!(reverse(&catalog, 13, &anyone).is_empty());
    let p = catalog.package(&repo_of(23), &anyone).unwrap();
    assert_eq!(
        p.versions[0].builds[0].dependencies[0].repository, None,
        "pkg-00011 is in ns1: hidden"
    );
}
