//! Debian packages by name, with the machine's real apt (Debian 12) and its configured
//! mirror: the one network peer besides loopback these tests talk to, as `real_deb` does.

use paks_import::apt::{Apt, AptError, AptPackage, AptRequest};

fn requests(names: &[&str]) -> Vec<AptRequest> {
    names.iter().map(|n| n.parse().unwrap()).collect()
}

fn names(packages: &[AptPackage]) -> Vec<&str> {
    let mut names: Vec<&str> = packages.iter().map(|p| p.name.as_str()).collect();
    names.sort_unstable();
    names
}

#[test]
fn the_closure_of_hello_is_what_an_empty_system_needs() {
    let closure = Apt::default().resolve(&requests(&["hello"]), true).unwrap();
    // libc6 and libgcc-s1 depend on each other; gcc-12-base is libgcc-s1's dependency.
    assert_eq!(
        names(&closure),
        ["gcc-12-base", "hello", "libc6", "libgcc-s1"]
    );
    // apt's unpack order: hello, which needs the rest, comes last.
    assert_eq!(closure.last().unwrap().name, "hello");
    assert!(
        closure
            .iter()
            .all(|p| p.architecture == "amd64" && !p.foreign)
    );
}

#[test]
fn without_the_closure_only_the_named_packages() {
    let apt = Apt::default();
    let named = apt.resolve(&requests(&["hello", "libc6"]), false).unwrap();
    assert_eq!(names(&named), ["hello", "libc6"]);
    // The version is apt's candidate, exactly as its closure has it.
    let closure = apt.resolve(&requests(&["hello"]), true).unwrap();
    assert!(closure.contains(&named[0]) && closure.contains(&named[1]));
}

#[test]
fn a_version_is_taken_as_named() {
    let apt = Apt::default();
    let candidate = apt.resolve(&requests(&["hello"]), false).unwrap();
    let pinned = format!("hello={}", candidate[0].version);
    let named = apt.resolve(&requests(&[&pinned]), false).unwrap();
    assert_eq!(named, candidate);
    assert_eq!(named[0].spec(), pinned);

    let e = apt
        .resolve(&requests(&["hello=0.0.1-1"]), true)
        .unwrap_err();
    assert!(
        e.to_string().contains(
            "apt cannot install `hello=0.0.1-1`: Version '0.0.1-1' for 'hello' was not found"
        ),
        "{e}"
    );
}

#[test]
fn an_unknown_name_gives_apts_reason_and_a_hint() {
    let e = Apt::default()
        .resolve(&requests(&["hello", "no-such-package-paks"]), true)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "apt cannot install `hello no-such-package-paks`: Unable to locate package no-such-package-paks"
    );
    assert!(e.hint().unwrap().contains("apt-cache policy"));
}

#[test]
fn a_virtual_name_needs_the_closure() {
    let apt = Apt::default();
    // `libz-dev` is provided by zlib1g-dev alone: apt installs that.
    let closure = apt.resolve(&requests(&["libz-dev"]), true).unwrap();
    assert!(names(&closure).contains(&"zlib1g-dev"));
    let e = apt.resolve(&requests(&["libz-dev"]), false).unwrap_err();
    assert!(matches!(e, AptError::NotSelected { .. }), "{e}");
    assert!(e.hint().unwrap().contains("--closure"));
}

#[test]
fn apt_missing_is_an_error_naming_the_program() {
    let e = Apt::with_program("/nonexistent/apt-get")
        .resolve(&requests(&["hello"]), true)
        .unwrap_err();
    assert_eq!(e.to_string(), "cannot run `/nonexistent/apt-get`");
}

#[test]
fn downloads_into_the_cache_checked_and_reuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let cache = paks_import::apt::cache_dir(dir.path());
    let apt = Apt::default();
    let closure = apt.resolve(&requests(&["hello"]), true).unwrap();
    let fetched = apt.download(&closure, &cache).unwrap();
    assert_eq!(fetched.len(), 4);
    for (deb, package) in fetched.iter().zip(&closure) {
        assert_eq!(&deb.package, package);
        assert!(!deb.cached);
        let bytes = std::fs::read(&deb.path).unwrap();
        assert_eq!(paks_types::Digest::sha256_of(&bytes), deb.sha256);
        assert_eq!(bytes.len() as u64, deb.size);
        assert_eq!(deb.path.parent().unwrap(), cache);
    }
    // Only the `.deb`s are left: the private fetch directory is gone.
    let mut files: Vec<String> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files.len(), 4, "{files:?}");
    assert!(files.iter().all(|f| f.ends_with("_amd64.deb")), "{files:?}");

    // A second run finds them all; one damaged file is fetched again.
    let hello = fetched.iter().find(|d| d.package.name == "hello").unwrap();
    std::fs::write(&hello.path, b"not a deb").unwrap();
    let again = apt.download(&closure, &cache).unwrap();
    for deb in &again {
        assert_eq!(deb.cached, deb.package.name != "hello", "{}", deb.package);
    }
    let bytes = std::fs::read(&hello.path).unwrap();
    assert_eq!(paks_types::Digest::sha256_of(&bytes), hello.sha256);
}
