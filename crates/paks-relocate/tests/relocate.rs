//! `relocate`: an extracted prefix moves from the canonical store to another root.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use common::{gcc, id, join, mode, run, s, write};
use paks_relocate::{RelocateError, RelocateReport, Relocation, relocate};
use paks_types::CANONICAL_STORE;

fn relocation(text: &[&str], binary: &[&str]) -> Relocation {
    Relocation {
        text: text.iter().map(|s| (*s).to_owned()).collect(),
        binary: binary.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// A prefix with a script, a config file and a read-only `.pc` file naming the store.
fn text_prefix(dir: &Path, pkg: &str) -> PathBuf {
    let prefix = dir.join(pkg);
    write(
        &prefix.join("bin/tool"),
        format!(
            "#!/opt/paks/store/{pkg}/bin/sh\nexec /opt/paks/store/{pkg}/libexec/tool \"$@\" # /opt/paks/store2 stays\n"
        ),
        0o755,
    );
    write(
        &prefix.join("etc/tool.conf"),
        "data = /opt/paks/store/dep/share\nplugins=/opt/paks/store\n",
        0o640,
    );
    write(
        &prefix.join("lib/pkgconfig/tool.pc"),
        format!("prefix=/opt/paks/store/{pkg}\n"),
        0o444,
    );
    prefix
}

const TEXT: [&str; 3] = ["bin/tool", "etc/tool.conf", "lib/pkgconfig/tool.pc"];

#[test]
fn text_files_move_to_longer_and_shorter_roots() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = id("tool");
    for new in ["/home/someone/.local/share/paks/store", "/p/store"] {
        let dir = tmp.path().join(new.len().to_string());
        let prefix = text_prefix(&dir, &pkg);
        let report = relocate(&prefix, &relocation(&TEXT, &[]), CANONICAL_STORE, new).unwrap();
        assert_eq!(
            report,
            RelocateReport {
                text_rewritten: 3,
                ..RelocateReport::default()
            }
        );
        let read = |p: &str| fs_err::read_to_string(prefix.join(p)).unwrap();
        assert_eq!(
            read("bin/tool"),
            format!(
                "#!{new}/{pkg}/bin/sh\nexec {new}/{pkg}/libexec/tool \"$@\" # /opt/paks/store2 stays\n"
            )
        );
        assert_eq!(
            read("etc/tool.conf"),
            format!("data = {new}/dep/share\nplugins={new}\n")
        );
        assert_eq!(
            read("lib/pkgconfig/tool.pc"),
            format!("prefix={new}/{pkg}\n")
        );
        assert_eq!(mode(&prefix.join("bin/tool")), 0o755);
        assert_eq!(mode(&prefix.join("etc/tool.conf")), 0o640);
        assert_eq!(mode(&prefix.join("lib/pkgconfig/tool.pc")), 0o444);
        let leftovers: Vec<_> = walkdir::WalkDir::new(&prefix)
            .into_iter()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with(".paks-relocate"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}

/// A program that prints the path compiled into it and whether `stat` finds it.
fn stat_program(old_store: &str, pkg: &str) -> String {
    format!(
        r#"
#include <stdio.h>
#include <sys/stat.h>
static const char *data = "{old_store}/{pkg}/share/data.txt";
int main(void) {{
    struct stat st;
    int ok = stat(data, &st) == 0;
    printf("%s %s %lld\n", data, ok ? "found" : "missing", ok ? (long long)st.st_size : -1LL);
    return 0;
}}
"#
    )
}

/// A binary built for `<tmp>/opt/paks/store`, standing in for the canonical store (the
/// real one is shorter than any temporary directory), extracted into `<tmp>/extract`.
struct BinaryPackage {
    tmp: tempfile::TempDir,
    old_store: String,
    pkg: String,
    prefix: PathBuf,
}

impl BinaryPackage {
    fn build() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let old_store = s(&join(tmp.path(), &["opt", "paks", "store"])).to_owned();
        let pkg = id("stat");
        let prefix = join(tmp.path(), &["extract", &pkg]);
        gcc(
            &stat_program(&old_store, &pkg),
            &prefix.join("bin/prog"),
            &[],
        );
        write(&prefix.join("share/data.txt"), "twelve bytes", 0o644);
        Self {
            tmp,
            old_store,
            pkg,
            prefix,
        }
    }

    fn relocation(&self) -> Relocation {
        paks_relocate::scan(&self.prefix, &[&self.old_store]).unwrap()
    }
}

#[test]
fn binary_files_are_padded_in_place_for_a_shorter_root() {
    let package = BinaryPackage::build();
    let relocation = package.relocation();
    assert_eq!(relocation, self::relocation(&[], &["bin/prog"]));
    let prog = package.prefix.join("bin/prog");
    let (size, inode) = {
        let meta = fs_err::metadata(&prog).unwrap();
        (meta.len(), meta.ino())
    };

    let new_store = s(&package.tmp.path().join("s")).to_owned() + "/store";
    assert!(new_store.len() < package.old_store.len());
    let report = relocate(&package.prefix, &relocation, &package.old_store, &new_store).unwrap();
    assert_eq!(
        report,
        RelocateReport {
            binary_rewritten: 1,
            ..RelocateReport::default()
        }
    );
    let meta = fs_err::metadata(&prog).unwrap();
    assert_eq!((meta.len(), meta.ino(), mode(&prog)), (size, inode, 0o755));

    // Install: the prefix goes into the new store, and the program finds its data there.
    let installed = Path::new(&new_store).join(&package.pkg);
    common::move_dir(&package.prefix, &installed);
    let output = run(&installed.join("bin/prog"));
    let slashes = "/".repeat(package.old_store.len() - new_store.len() + 1);
    let padded = format!("{}{slashes}store", package.tmp.path().join("s").display());
    assert_eq!(padded.len(), package.old_store.len());
    assert_eq!(
        output,
        format!("{padded}/{}/share/data.txt found 12\n", package.pkg)
    );
}

#[test]
fn binary_files_are_not_relocatable_to_a_longer_root() {
    let package = BinaryPackage::build();
    let prog = package.prefix.join("bin/prog");
    write(
        &package.prefix.join("bin/script"),
        format!("{}/x\n", package.old_store),
        0o755,
    );
    let mut relocation = package.relocation();
    assert_eq!(relocation.text, ["bin/script"]);
    relocation.binary.push("share/data.txt".into());
    let before = fs_err::read(&prog).unwrap();
    let old_time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    fs_err::File::open(&prog)
        .unwrap()
        .set_modified(old_time)
        .unwrap();

    let new_store = format!("{}/a/much/longer/root/store", package.tmp.path().display());
    let report = relocate(&package.prefix, &relocation, &package.old_store, &new_store).unwrap();
    assert_eq!(
        report,
        RelocateReport {
            text_rewritten: 1,
            binary_rewritten: 0,
            not_relocatable: vec!["bin/prog".into(), "share/data.txt".into()],
        }
    );
    assert_eq!(fs_err::read(&prog).unwrap(), before);
    assert_eq!(
        fs_err::metadata(&prog).unwrap().modified().unwrap(),
        old_time
    );
    let script = fs_err::read_to_string(package.prefix.join("bin/script")).unwrap();
    assert_eq!(script, format!("{new_store}/x\n"));
}

#[test]
fn the_same_root_touches_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let prefix = text_prefix(tmp.path(), &id("tool"));
    write(&prefix.join("lib/blob"), "\0/opt/paks/store/x\0", 0o644);
    let old_time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    let files: Vec<PathBuf> = TEXT
        .iter()
        .chain(&["lib/blob"])
        .map(|p| prefix.join(p))
        .collect();
    let snapshot = || -> Vec<(Vec<u8>, SystemTime, SystemTime, u64, u32)> {
        files
            .iter()
            .map(|f| {
                let meta = fs_err::metadata(f).unwrap();
                let times = (meta.modified().unwrap(), meta.created().unwrap_or(old_time));
                (
                    fs_err::read(f).unwrap(),
                    times.0,
                    times.1,
                    meta.ino(),
                    meta.mode(),
                )
            })
            .collect()
    };
    for file in &files {
        fs_err::OpenOptions::new()
            .write(true)
            .open(file)
            .or_else(|_| fs_err::File::open(file))
            .unwrap()
            .set_modified(old_time)
            .unwrap();
    }
    let before = snapshot();
    let list = relocation(&TEXT, &["lib/blob"]);
    for (old, new) in [
        (CANONICAL_STORE, CANONICAL_STORE),
        ("/opt/paks/store/", "/opt/paks/store"),
    ] {
        let report = relocate(&prefix, &list, old, new).unwrap();
        assert_eq!(report, RelocateReport::default());
    }
    assert_eq!(snapshot(), before);
    // Not even the list is looked at: a hostile one against a missing prefix passes, as
    // any access to the file system would have failed.
    let hostile = relocation(&["../../etc/passwd", "/etc/shadow"], &["missing"]);
    let missing = tmp.path().join("missing");
    assert_eq!(
        relocate(&missing, &hostile, CANONICAL_STORE, CANONICAL_STORE).unwrap(),
        RelocateReport::default()
    );
}

#[test]
fn hostile_relocation_lists_are_refused_before_any_change() {
    let tmp = tempfile::tempdir().unwrap();
    let prefix = text_prefix(tmp.path(), &id("tool"));
    let outside = tmp.path().join("outside.txt");
    write(&outside, "/opt/paks/store/secret\n", 0o644);
    std::os::unix::fs::symlink(prefix.join("bin/tool"), prefix.join("bin/link")).unwrap();
    std::os::unix::fs::symlink(&outside, prefix.join("bin/out")).unwrap();
    std::os::unix::fs::symlink("../bin", prefix.join("etc/bin")).unwrap();
    std::os::unix::fs::symlink(tmp.path(), prefix.join("up")).unwrap();
    let fifo = prefix.join("bin/fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());

    let cases: &[(&str, &str)] = &[
        ("../outside.txt", "`..` component"),
        ("bin/../../outside.txt", "`..` component"),
        (s(&outside), "absolute path"),
        ("/etc/passwd", "absolute path"),
        ("bin/link", "is a symlink"),
        ("bin/out", "is a symlink"),
        ("etc/bin/tool", "goes through a symlink"),
        ("up/outside.txt", "goes through a symlink"),
        ("bin/tool/x", "goes through a file that is not a directory"),
        ("bin/missing", "does not exist"),
        ("nowhere/missing", "does not exist"),
        ("bin", "not a regular file"),
        ("bin/fifo", "not a regular file"),
        ("./bin/tool", "empty, `.` or `..` component"),
        ("bin//tool", "empty"),
        ("", "empty"),
    ];
    for &(entry, reason) in cases {
        for list in [
            relocation(&[TEXT[0], entry], &[]),
            relocation(&[], &[entry]),
        ] {
            let err = relocate(&prefix, &list, CANONICAL_STORE, "/p/store").unwrap_err();
            assert!(
                matches!(err, RelocateError::UnsafeEntry { .. }),
                "{entry}: {err:?}"
            );
            let message = err.to_string();
            assert!(message.starts_with(&format!("refusing relocation entry `{entry}`: ")));
            assert!(message.contains(reason), "{entry}: {message}");
        }
    }
    let both = relocation(&["bin/tool"], &["bin/tool"]);
    let err = relocate(&prefix, &both, CANONICAL_STORE, "/p/store").unwrap_err();
    assert!(err.to_string().contains("both text and binary"), "{err}");

    // Nothing was rewritten, inside or out.
    assert!(
        fs_err::read_to_string(prefix.join("bin/tool"))
            .unwrap()
            .contains("#!/opt/paks/store/")
    );
    assert_eq!(
        fs_err::read_to_string(&outside).unwrap(),
        "/opt/paks/store/secret\n"
    );
}

#[test]
fn invalid_store_directories_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = Relocation::default();
    for (old, new, message) in [
        (
            "opt/paks/store",
            "/p/store",
            "invalid store directory `opt/paks/store`: it must be an absolute path",
        ),
        (
            CANONICAL_STORE,
            "/",
            "invalid store directory `/`: it must not be the file system root",
        ),
    ] {
        let err = relocate(tmp.path(), &empty, old, new).unwrap_err();
        assert_eq!(err.to_string(), message);
    }
}

#[test]
fn duplicate_entries_are_rewritten_once() {
    let tmp = tempfile::tempdir().unwrap();
    let prefix = text_prefix(tmp.path(), &id("tool"));
    // The new store contains the old one: rewriting twice would nest it.
    let new = "/opt/paks/store/nested/store";
    let list = relocation(&["etc/tool.conf", "etc/tool.conf"], &[]);
    let report = relocate(&prefix, &list, CANONICAL_STORE, new).unwrap();
    assert_eq!(report.text_rewritten, 1);
    assert_eq!(
        fs_err::read_to_string(prefix.join("etc/tool.conf")).unwrap(),
        format!("data = {new}/dep/share\nplugins={new}\n")
    );
}
