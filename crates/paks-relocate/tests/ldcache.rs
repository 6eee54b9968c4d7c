//! The loader's cache against the real thing: trees of the host's real libraries, laid out
//! as Debian lays them out, cached by the real `ldconfig -r ROOT -C FILE` (which never
//! touches the host's `/etc/ld.so.cache`) and by `write_cache` from the records
//! `library`/`link_library` make of the same files; and a real program that finds its
//! libraries only through the written cache.

mod common;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use paks_relocate::ldcache::{CacheConfig, library, link_library, write_cache};
use paks_types::Library;
use walkdir::WalkDir;

/// The host's multiarch library directory, where the tests take real libraries from.
const HOST_LIBS: &str = "/usr/lib/x86_64-linux-gnu";

/// A file of the host, which must exist (the tests need the host's real libraries).
fn host(path: &str) -> PathBuf {
    let path = PathBuf::from(path);
    assert!(
        path.exists(),
        "`{}` is missing on this host",
        path.display()
    );
    path
}

fn copy(from: &Path, to: &Path) {
    fs_err::create_dir_all(to.parent().unwrap()).unwrap();
    fs_err::copy(from, to).unwrap();
}

/// `/etc/ld.so.conf` and the `ld.so.conf.d` files of Debian 12 on amd64.
fn debian_conf(root: &Path) {
    let conf = root.join("etc/ld.so.conf.d");
    common::write(
        &root.join("etc/ld.so.conf"),
        "include /etc/ld.so.conf.d/*.conf\n\n",
        0o644,
    );
    common::write(
        &conf.join("libc.conf"),
        "# libc default configuration\n/usr/local/lib\n",
        0o644,
    );
    common::write(
        &conf.join("x86_64-linux-gnu.conf"),
        "# Multiarch support\n/usr/local/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu\n",
        0o644,
    );
}

/// A merged-`/usr` Debian tree (`lib -> usr/lib`) of real libraries: libc, libm, the
/// loader, libssl and libcrypto with libssl's development link, zlib as a versioned
/// file with its soname link and a development link by absolute path, a second zlib in
/// `/usr/local/lib` (searched first), a PIE executable named like a library (no soname),
/// and files `ldconfig` must skip: a linker script, a static executable, text, a hidden
/// library, and a library outside the searched directories.
fn merged_tree(root: &Path) {
    debian_conf(root);
    let lib = root.join("usr/lib/x86_64-linux-gnu");
    for name in [
        "libc.so.6",
        "libm.so.6",
        "ld-linux-x86-64.so.2",
        "libssl.so.3",
        "libcrypto.so.3",
    ] {
        copy(&host(&format!("{HOST_LIBS}/{name}")), &lib.join(name));
    }
    symlink("libssl.so.3", lib.join("libssl.so")).unwrap();
    let zlib = fs_err::canonicalize(host(&format!("{HOST_LIBS}/libz.so.1"))).unwrap();
    let zname = zlib.file_name().unwrap().to_str().unwrap().to_owned();
    copy(&zlib, &lib.join(&zname));
    symlink(&zname, lib.join("libz.so.1")).unwrap();
    symlink(
        format!("/lib/x86_64-linux-gnu/{zname}"),
        lib.join("libz.so"),
    )
    .unwrap();
    // A link that is neither the soname nor a development link counts as a file.
    symlink(&zname, lib.join("libzcompat.so.5")).unwrap();
    copy(&zlib, &root.join("usr/local/lib/libz.so.1"));
    copy(&host("/usr/bin/ls"), &lib.join("libls.so.7"));
    copy(&host("/bin/busybox"), &lib.join("libbusybox.so.1"));
    common::write(&lib.join("libtext.so.1"), "not a library\n", 0o644);
    copy(&zlib, &lib.join(".libhidden.so.1"));
    copy(
        &host(&format!("{HOST_LIBS}/libcrypto.so.3")),
        &root.join("opt/other/libother.so.1"),
    );
    symlink("usr/lib", root.join("lib")).unwrap();
}

/// The records an importer makes of every file under `root`: regular files through
/// `library`, symlinks to libraries (resolved inside the tree) through `link_library`.
fn records(root: &Path) -> Vec<Library> {
    let mut libraries = Vec::new();
    for entry in WalkDir::new(root).sort_by_file_name() {
        let entry = entry.unwrap();
        let relative = common::s(entry.path().strip_prefix(root).unwrap()).to_owned();
        let kind = entry.file_type();
        if kind.is_file() {
            libraries.extend(library(&relative, &fs_err::read(entry.path()).unwrap()));
        } else if kind.is_symlink() {
            let Some(target) = resolve_in(root, entry.path()) else {
                continue;
            };
            let bytes = fs_err::read(root.join(&target)).unwrap();
            if let Some(target) = library(&target, &bytes) {
                libraries.extend(link_library(&relative, &target));
            }
        }
    }
    libraries
}

/// The regular file, relative to `root`, that the symlink at `link` names, following
/// links inside the tree (absolute targets are taken from `root`).
fn resolve_in(root: &Path, link: &Path) -> Option<String> {
    let mut path = link.to_path_buf();
    for _ in 0..16 {
        let target = fs_err::read_link(&path).ok()?;
        path = match target.strip_prefix("/") {
            Ok(absolute) => root.join(absolute),
            Err(_) => path.parent()?.join(target),
        };
        // Directory links on the way (`/lib -> usr/lib`) are the kernel's to follow,
        // which is right here: they point inside the tree.
        let meta = fs_err::symlink_metadata(&path).ok()?;
        if meta.is_file() {
            let real = fs_err::canonicalize(&path).ok()?;
            let root = fs_err::canonicalize(root).ok()?;
            return Some(real.strip_prefix(root).ok()?.to_str()?.to_owned());
        }
    }
    None
}

fn run(command: &mut Command) -> Output {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The cache the real `ldconfig` writes for `root`: chrooted into it (`-r`), into a file
/// of the tree (`-C` is inside the root), without touching the tree's links (`-X`).
fn ldconfig_cache(root: &Path) -> Vec<u8> {
    run(Command::new("ldconfig")
        .args(["-X", "-C", "/ldconfig.cache", "-r"])
        .arg(root));
    let cache = root.join("ldconfig.cache");
    let bytes = fs_err::read(&cache).unwrap();
    fs_err::remove_file(cache).unwrap();
    bytes
}

/// What `ldconfig -p -C FILE` prints for a cache.
fn print(cache: &[u8]) -> String {
    let file = tempfile::NamedTempFile::new().unwrap();
    fs_err::write(file.path(), cache).unwrap();
    let output = run(Command::new("ldconfig")
        .arg("-p")
        .arg("-C")
        .arg(file.path()));
    String::from_utf8(output.stdout).unwrap()
}

/// The entries `ldconfig -p` lists, without the lines naming the file and the generator.
fn listing(cache: &[u8]) -> String {
    let mut entries = String::new();
    for line in print(cache).lines().filter(|line| line.starts_with('\t')) {
        entries.push_str(line);
        entries.push('\n');
    }
    entries
}

/// The generator text of a cache, as `ldconfig -p` prints it.
fn generator(cache: &[u8]) -> String {
    let text = print(cache);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("Cache generated by: "));
    line.expect("ldconfig names its generator").to_owned()
}

#[test]
fn cache_of_a_merged_usr_tree_is_byte_for_byte_ldconfigs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    merged_tree(root);
    let theirs = ldconfig_cache(root);

    let mut config = CacheConfig::debian("amd64").unwrap();
    let ours = write_cache(&records(root), &config);
    // The listing is the same, whatever the generator says.
    let expected = listing(&theirs);
    assert_eq!(listing(&ours), expected);
    for line in [
        "\tlibz.so.1 (libc6,x86-64) => /usr/local/lib/libz.so.1\n\tlibz.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libz.so.1\n",
        "\tlibssl.so (libc6,x86-64) => /lib/x86_64-linux-gnu/libssl.so\n",
        "\tlibls.so.7 (libc6,x86-64) => /lib/x86_64-linux-gnu/libls.so.7\n",
    ] {
        assert!(
            expected.contains(line),
            "ldconfig's listing lacks {line:?}:\n{expected}"
        );
    }
    for skipped in ["busybox", "text", "hidden", "other", "zcompat"] {
        assert!(!expected.contains(skipped), "{skipped} listed:\n{expected}");
    }
    // With ldconfig's own generator text, every byte is the same.
    config.generator = generator(&theirs);
    assert_eq!(write_cache(&records(root), &config), theirs);
}
