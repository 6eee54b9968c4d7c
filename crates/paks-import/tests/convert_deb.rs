//! `.deb` files into rootfs packages: real packages from the Debian archive (fetched once
//! by `real_deb`), converted and written as `.pak` files, and checked against what
//! `dpkg-deb`, `sha256sum` and `update-ca-certificates` say.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use paks_archive::PakReader;
use paks_import::convert::{ImportOptions, Imported, import_debs};
use paks_types::{ImageConfig, PackageKind};

mod real_deb;
use real_deb::real_deb;

fn tool(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn import(names: &[&str], out: &Path) -> BTreeMap<String, Imported> {
    let paths: Vec<PathBuf> = names.iter().map(|n| real_deb(n)).collect();
    import_debs(&paths, out, &ImportOptions::default(), &mut |_| {})
        .unwrap()
        .into_iter()
        .map(|i| (i.meta.name.to_string(), i))
        .collect()
}

/// The files of a `.pak`'s layer: path → (mode, bytes of regular files).
fn layer_files(pak: &Path) -> BTreeMap<String, (u32, Vec<u8>)> {
    let reader = PakReader::open(pak).unwrap();
    let gz = flate2::read::GzDecoder::new(reader.layer_reader().unwrap());
    let mut archive = tar::Archive::new(gz);
    let mut files = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mode = entry.header().mode().unwrap();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        files.insert(path, (mode, data));
    }
    files
}

fn config(pak: &Path) -> ImageConfig {
    let reader = PakReader::open(pak).unwrap();
    serde_json::from_slice(&reader.config_bytes().unwrap()).unwrap()
}

#[test]
fn hello_becomes_a_rootfs_package_with_its_debian_facts() {
    let dir = tempfile::tempdir().unwrap();
    let all = import(&["hello"], dir.path());
    let hello = &all["hello"];
    let deb = real_deb("hello");
    let d = deb.to_str().unwrap();
    let field = |f: &str| tool("dpkg-deb", &["-f", d, f]).trim().to_owned();
    let meta = &hello.meta;
    let origin = meta.origin.as_ref().unwrap();
    assert_eq!(meta.kind, PackageKind::Rootfs);
    assert_eq!(origin.version, field("Version"));
    assert_eq!(
        meta.version,
        paks_types::DebianVersion::parse(&field("Version"))
            .unwrap()
            .semver_compatible()
    );
    assert_eq!(meta.platform.to_string(), "linux/amd64");
    assert_eq!(origin.architecture, "amd64");
    assert_eq!(
        origin.maintainer.as_deref(),
        Some(field("Maintainer").as_str())
    );
    assert_eq!(meta.summary.as_deref(), field("Description").lines().next());
    assert_eq!(meta.homepage.as_deref(), Some(field("Homepage").as_str()));
    // hello's copyright file is free text: no licence guessed.
    assert_eq!(meta.license, None);
    let sha = tool("sha256sum", &[d]);
    assert_eq!(
        origin.file_digest.to_string(),
        format!("sha256:{}", sha.split_whitespace().next().unwrap())
    );
    assert_eq!(origin.relations["depends"], field("Depends"));
    // libc6 is not in the batch: reported, not pinned.
    assert_eq!(hello.unsatisfied, [field("Depends")]);
    assert!(meta.dependencies.is_empty());
    // `contents` is every non-directory of the data tar, as dpkg-deb lists it, sorted.
    let mut listed: Vec<String> = Vec::new();
    let listing = Command::new("sh")
        .args(["-c", &format!("dpkg-deb --fsys-tarfile '{d}' | tar -tvf -")])
        .output()
        .unwrap();
    for line in String::from_utf8(listing.stdout).unwrap().lines() {
        if line.starts_with('d') {
            continue;
        }
        let name = line.split_whitespace().nth(5).unwrap();
        listed.push(name.trim_start_matches("./").to_owned());
    }
    listed.sort();
    assert_eq!(meta.contents, listed);
    assert!(meta.contents.contains(&"usr/bin/hello".to_owned()));
    // The .pak holds that metadata, and its layer the files at their Debian paths.
    assert_eq!(config(&hello.pak).paks, *meta);
    assert_eq!(
        PakReader::open(&hello.pak).unwrap().manifest_digest(),
        &hello.digest
    );
    let files = layer_files(&hello.pak);
    assert_eq!(files["usr/bin/hello"].0, 0o755);
    assert_eq!(
        hello.pak.file_name().unwrap().to_string_lossy(),
        format!("hello-{}-{}.pak", meta.version, meta.id.hash())
    );
}

#[test]
fn the_same_deb_gives_the_same_pak() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = import(&["libc6", "hello"], a.path());
    let second = import(&["hello", "libc6"], b.path());
    for name in ["hello", "libc6"] {
        assert_eq!(first[name].digest, second[name].digest, "{name}");
        assert_eq!(first[name].meta.id, second[name].meta.id, "{name}");
        assert_eq!(
            std::fs::read(&first[name].pak).unwrap(),
            std::fs::read(&second[name].pak).unwrap(),
            "{name}"
        );
    }
    // hello's dependency on libc6 is pinned to libc6's manifest.
    let dep = &first["hello"].meta.dependencies[0];
    assert_eq!(dep.name.as_str(), "libc6");
    assert_eq!(dep.id, first["libc6"].meta.id);
    assert_eq!(dep.digest.as_ref(), Some(&first["libc6"].digest));
    assert!(first["hello"].unsatisfied.is_empty());
}

#[test]
fn a_dependency_cycle_is_pinned_by_id_and_its_outside_by_digest() {
    let dir = tempfile::tempdir().unwrap();
    let all = import(&["hello", "libc6", "libgcc-s1", "gcc-12-base"], dir.path());
    let deps = |name: &str| -> BTreeMap<String, Option<String>> {
        all[name]
            .meta
            .dependencies
            .iter()
            .map(|d| {
                assert_eq!(d.id, all[d.name.as_str()].meta.id);
                (
                    d.name.to_string(),
                    d.digest.as_ref().map(ToString::to_string),
                )
            })
            .collect()
    };
    let digest = |name: &str| Some(all[name].digest.to_string());
    // libc6 <-> libgcc-s1: inside the cycle no digest can be known.
    assert_eq!(deps("libc6"), BTreeMap::from([("libgcc-s1".into(), None)]));
    assert_eq!(
        deps("libgcc-s1"),
        BTreeMap::from([
            ("gcc-12-base".into(), digest("gcc-12-base")),
            ("libc6".into(), None)
        ])
    );
    assert_eq!(
        deps("hello"),
        BTreeMap::from([("libc6".into(), digest("libc6"))])
    );
    assert!(deps("gcc-12-base").is_empty());
    for p in all.values() {
        assert!(
            p.unsatisfied.is_empty(),
            "{}: {:?}",
            p.meta.name,
            p.unsatisfied
        );
        assert_eq!(config(&p.pak).paks, p.meta);
    }
    // libc6's scripts are listed, and its libraries' paths are in the contents.
    let libc = all["libc6"].meta.origin.as_ref().unwrap();
    assert!(libc.scripts_not_run.contains(&"postinst".to_owned()));
    assert!(
        all["libc6"]
            .meta
            .contents
            .iter()
            .any(|p| p.ends_with("/libc.so.6"))
    );
}

#[test]
fn ca_certificates_gets_the_bundle_update_ca_certificates_writes() {
    let dir = tempfile::tempdir().unwrap();
    let all = import(&["ca-certificates"], dir.path());
    let ca = &all["ca-certificates"];
    let bundle_path = "etc/ssl/certs/ca-certificates.crt";
    assert!(ca.meta.contents.contains(&bundle_path.to_owned()));
    let files = layer_files(&ca.pak);
    let (mode, ours) = &files[bundle_path];
    assert_eq!(*mode, 0o644);
    // The real script, on the package's certificates, every one enabled (`--default`),
    // writing into scratch directories instead of /etc.
    let deb = real_deb("ca-certificates");
    let root = dir.path().join("root");
    tool(
        "dpkg-deb",
        &["-x", deb.to_str().unwrap(), root.to_str().unwrap()],
    );
    let etc = dir.path().join("etc-certs");
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::create_dir_all(&empty).unwrap();
    let conf = dir.path().join("ca-certificates.conf");
    std::fs::write(&conf, "").unwrap();
    let out = Command::new("update-ca-certificates")
        .env("LC_ALL", "C")
        .arg("--default")
        .args(["--certsconf", conf.to_str().unwrap()])
        .args([
            "--certsdir",
            root.join("usr/share/ca-certificates").to_str().unwrap(),
        ])
        .args(["--localcertsdir", empty.to_str().unwrap()])
        .args(["--etccertsdir", etc.to_str().unwrap()])
        .args(["--hooksdir", empty.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs = std::fs::read(etc.join("ca-certificates.crt")).unwrap();
    assert!(theirs.len() > 100_000, "{} bytes", theirs.len());
    assert!(ours == &theirs, "the bundles differ");
    // The postinst that would have written it is still listed.
    let origin = ca.meta.origin.as_ref().unwrap();
    assert!(origin.scripts_not_run.contains(&"postinst".to_owned()));
    // `Architecture: all` takes the host's platform.
    assert_eq!(origin.architecture, "all");
    assert_eq!(ca.meta.platform, paks_types::Platform::host());
}

#[test]
fn mawk_declares_awk_as_an_alternative_and_its_licence() {
    let dir = tempfile::tempdir().unwrap();
    let all = import(&["mawk"], dir.path());
    let mawk = &all["mawk"];
    let origin = mawk.meta.origin.as_ref().unwrap();
    let alts: Vec<(&str, &str, &str, i64)> = origin
        .alternatives
        .iter()
        .map(|a| {
            (
                a.name.as_str(),
                a.link.as_str(),
                a.path.as_str(),
                a.priority,
            )
        })
        .collect();
    assert_eq!(
        alts,
        [
            ("awk", "usr/bin/awk", "usr/bin/mawk", 5),
            (
                "awk.1.gz",
                "usr/share/man/man1/awk.1.gz",
                "usr/share/man/man1/mawk.1.gz",
                5
            ),
            ("nawk", "usr/bin/nawk", "usr/bin/mawk", 5),
            (
                "nawk.1.gz",
                "usr/share/man/man1/nawk.1.gz",
                "usr/share/man/man1/mawk.1.gz",
                5
            ),
        ]
    );
    assert!(mawk.notes.is_empty(), "{:?}", mawk.notes);
    assert_eq!(origin.scripts_not_run, ["postinst", "prerm"]);
    // mawk's copyright file is machine-readable (DEP-5).
    assert_eq!(mawk.meta.license.as_deref(), Some("GPL-2"));
}

#[test]
fn passwd_loses_the_setgid_bits_of_group_shadow_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let all = import(&["passwd"], dir.path());
    let passwd = &all["passwd"];
    let origin = passwd.meta.origin.as_ref().unwrap();
    // What dpkg-deb shows: setgid files of group shadow.
    let deb = real_deb("passwd");
    let listing = Command::new("sh")
        .args([
            "-c",
            &format!(
                "dpkg-deb --fsys-tarfile '{}' | tar --numeric-owner -tvf -",
                deb.display()
            ),
        ])
        .output()
        .unwrap();
    let mut setgid_not_root: Vec<String> = String::from_utf8(listing.stdout)
        .unwrap()
        .lines()
        .filter(|l| l.as_bytes().get(6) == Some(&b's') && !l.contains(" 0/0 "))
        .map(|l| {
            l.split_whitespace()
                .nth(5)
                .unwrap()
                .trim_start_matches("./")
                .to_owned()
        })
        .collect();
    setgid_not_root.sort();
    assert_eq!(setgid_not_root, ["usr/bin/chage", "usr/bin/expiry"]);
    let mut dropped = origin.dropped_setid.clone();
    dropped.sort();
    assert_eq!(dropped, setgid_not_root);
    let files = layer_files(&passwd.pak);
    assert_eq!(files["usr/bin/chage"].0 & 0o6000, 0);
    // setuid root stays.
    assert_eq!(files["usr/bin/passwd"].0 & 0o4000, 0o4000);
    // Its conffiles are relative; its epoch is in the verbatim version.
    assert!(origin.conffiles.contains(&"etc/default/useradd".to_owned()));
    assert!(origin.version.starts_with("1:"));
}

/// A `.deb` made by the real `dpkg-deb --build` from a control stanza.
fn build_deb(dir: &Path, control: &str) -> PathBuf {
    let pkg = dir.join("pkgroot");
    std::fs::create_dir_all(pkg.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(pkg.join("usr/share/doc/xtest")).unwrap();
    std::fs::write(pkg.join("usr/share/doc/xtest/README"), "x\n").unwrap();
    std::fs::write(pkg.join("DEBIAN/control"), control).unwrap();
    let out = dir.join("x.deb");
    tool(
        "dpkg-deb",
        &[
            "--root-owner-group",
            "--build",
            pkg.to_str().unwrap(),
            out.to_str().unwrap(),
        ],
    );
    std::fs::remove_dir_all(&pkg).unwrap();
    out
}

#[test]
fn relations_map_by_name_version_and_versioned_provides() {
    let dir = tempfile::tempdir().unwrap();
    let control = "Package: xtest\nVersion: 1.0\nArchitecture: amd64\nMaintainer: M <m@example.invalid>\n\
        Pre-Depends: gcc-12-base (>= 12)\n\
        Depends: libgcc1 (>= 1:3.0), libc6 (>= 99) | hello (<< 3), nothere (>= 1) | neither,\n libgcc-s1\n\
        Recommends: mawk\nDescription: test\n";
    let x = build_deb(dir.path(), control);
    let mut paths = vec![x];
    for n in ["hello", "libc6", "libgcc-s1", "gcc-12-base", "mawk"] {
        paths.push(real_deb(n));
    }
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let all: BTreeMap<String, Imported> =
        import_debs(&paths, &out, &ImportOptions::default(), &mut |_| {})
            .unwrap()
            .into_iter()
            .map(|i| (i.meta.name.to_string(), i))
            .collect();
    let x = &all["xtest"];
    let names: Vec<&str> = x
        .meta
        .dependencies
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    // Pre-Depends first; libgcc1 is provided (versioned) by libgcc-s1; libc6 is too old
    // so hello (the second alternative) satisfies the item; libgcc-s1 is not repeated;
    // Recommends are not followed.
    assert_eq!(names, ["gcc-12-base", "libgcc-s1", "hello"]);
    assert!(
        x.meta
            .dependencies
            .iter()
            .all(|d| d.req == paks_types::VersionReq::STAR)
    );
    assert!(x.meta.dependencies.iter().all(|d| d.digest.is_some()));
    assert_eq!(x.unsatisfied, ["nothere (>= 1) | neither"]);
    let origin = x.meta.origin.as_ref().unwrap();
    assert_eq!(
        origin.relations["depends"],
        "libgcc1 (>= 1:3.0), libc6 (>= 99) | hello (<< 3), nothere (>= 1) | neither, libgcc-s1"
    );
    assert_eq!(origin.relations["pre-depends"], "gcc-12-base (>= 12)");
    assert_eq!(origin.relations["recommends"], "mawk");
    assert!(origin.scripts_not_run.is_empty());
}

#[test]
fn a_platform_mismatch_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let options = ImportOptions {
        platform: Some("linux/arm64".parse().unwrap()),
        ..ImportOptions::default()
    };
    let hello = real_deb("hello");
    let err = import_debs(
        std::slice::from_ref(&hello),
        dir.path(),
        &options,
        &mut |_| {},
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains(&format!("`{}`", hello.display())), "{err}");
    assert!(
        err.contains("linux/amd64") && err.contains("linux/arm64"),
        "{err}"
    );
    // Nothing is left behind: no .pak, no temporary layer.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
