//! The loader's cache against the real thing: trees of the host's real libraries, laid out
//! as Debian lays them out, cached by the real `ldconfig -r ROOT -C FILE` (which never
//! touches the host's `/etc/ld.so.cache`) and by `write_cache` from the records
//! `library`/`link_library` make of the same files; and a real program that finds its
//! libraries only through the written cache.

mod common;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use paks_relocate::ldcache::{CacheConfig, library, library_entry, link_library, write_cache};
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

    let mut config = CacheConfig::debian("amd64").unwrap().merged_usr();
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
    // Not told of the merged `/usr`, the cache names each library where its package put
    // it, which works as well.
    let unmerged = listing(&write_cache(
        &records(root),
        &CacheConfig::debian("amd64").unwrap(),
    ));
    assert!(
        unmerged.contains("\tlibc.so.6 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libc.so.6\n"),
        "{unmerged}"
    );
    // With ldconfig's own generator text, every byte is the same.
    config.generator = generator(&theirs);
    assert_eq!(write_cache(&records(root), &config), theirs);
}

/// Compiles `source` with the host's gcc into `out`, with extra `flags`.
fn gcc(source: &str, out: &Path, flags: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("x.c");
    fs_err::write(&c, source).unwrap();
    run(Command::new("gcc").args(flags).arg("-o").arg(out).arg(&c));
}

/// What `library_entry` should say of a file: its soname, if any, and flags.
type Expected = (Option<&'static str>, u32);

#[test]
fn library_entry_reads_real_files_as_ldconfig_does() {
    let dir = tempfile::tempdir().unwrap();
    let scratch = dir.path();
    let no_soname = scratch.join("libnosoname.so.4");
    gcc(
        "int f(void) { return 1; }\n",
        &no_soname,
        &["-shared", "-fPIC"],
    );
    let no_libc = scratch.join("libnolibc.so.2");
    let flags = [
        "-shared",
        "-fPIC",
        "-nostdlib",
        "-Wl,-soname,libnolibc.so.2",
    ];
    gcc("int f(void) { return 1; }\n", &no_libc, &flags);
    let no_pie = scratch.join("nopie");
    gcc("int main(void) { return 0; }\n", &no_pie, &["-no-pie"]);
    let text = scratch.join("text");
    fs_err::write(&text, "not a library\n").unwrap();

    let x86_64 = 0x0303;
    let cases: Vec<(PathBuf, Option<Expected>)> = vec![
        (
            host(&format!("{HOST_LIBS}/libc.so.6")),
            Some((Some("libc.so.6"), x86_64)),
        ),
        (
            host(&format!("{HOST_LIBS}/libssl.so.3")),
            Some((Some("libssl.so.3"), x86_64)),
        ),
        (
            host(&format!("{HOST_LIBS}/ld-linux-x86-64.so.2")),
            Some((Some("ld-linux-x86-64.so.2"), x86_64)),
        ),
        // x86-64 libraries are glibc 2 ones even when they need no libc.
        (no_libc, Some((Some("libnolibc.so.2"), x86_64))),
        // A shared object without a soname, and a PIE executable, which is one too.
        (no_soname, Some((None, x86_64))),
        (host("/usr/bin/ls"), Some((None, x86_64))),
        // A linker script (libc6-dev's), executables, text.
        (host(&format!("{HOST_LIBS}/libc.so")), None),
        (no_pie, None),
        (host("/bin/busybox"), None),
        (text, None),
    ];

    // The same files, named like libraries, in a tree for the real ldconfig.
    let root = scratch.join("root");
    debian_conf(&root);
    let lib = root.join("usr/lib/x86_64-linux-gnu");
    let mut expected = Vec::new();
    for (i, (path, want)) in cases.iter().enumerate() {
        let bytes = fs_err::read(path).unwrap();
        let got = library_entry(&bytes);
        let got = got.as_ref().map(|e| (e.soname.as_deref(), e.flags));
        assert_eq!(got, *want, "library_entry of `{}`", path.display());
        // Named `libcaseN.so.1` in the tree, each keeps its soname or gets that name.
        let name = format!("libcase{i}.so.1");
        copy(path, &lib.join(&name));
        if let Some((soname, _)) = want {
            let soname = soname.unwrap_or(&name);
            expected.push(format!(
                "\t{soname} (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/{soname}\n"
            ));
        }
    }
    let listed = listing(&ldconfig_cache(&root));
    for line in &expected {
        assert!(
            listed.contains(line.as_str()),
            "ldconfig did not list {line:?}:\n{listed}"
        );
    }
    assert_eq!(
        listed.lines().count(),
        expected.len(),
        "ldconfig listed more:\n{listed}"
    );
    // Truncated ELF and nothing at all are no libraries either.
    let libc = fs_err::read(format!("{HOST_LIBS}/libc.so.6")).unwrap();
    assert_eq!(library_entry(&libc[..64]), None);
    assert_eq!(library_entry(b""), None);
}

/// Patches the ELF header of a 64-bit little-endian file: `e_machine` and `e_flags`.
fn patched(bytes: &[u8], machine: u16, flags: u32) -> Vec<u8> {
    let mut bytes = bytes.to_vec();
    bytes[18..20].copy_from_slice(&machine.to_le_bytes());
    bytes[48..52].copy_from_slice(&flags.to_le_bytes());
    bytes
}

#[test]
fn flags_follow_the_machine_as_each_architectures_ldconfig_sets_them() {
    // The host has only x86-64 libraries; the other 64-bit machines are the same file with
    // its header's machine changed, which is all ldconfig reads for them.
    let zlib = fs_err::read(host(&format!("{HOST_LIBS}/libz.so.1"))).unwrap();
    let flags =
        |machine, e_flags| library_entry(&patched(&zlib, machine, e_flags)).map(|e| e.flags);
    assert_eq!(flags(62, 0), Some(0x0303), "x86-64");
    assert_eq!(flags(183, 0), Some(0x0a03), "aarch64");
    assert_eq!(flags(21, 2), Some(0x0503), "ppc64le");
    assert_eq!(flags(22, 0), Some(0x0403), "s390x");
    assert_eq!(
        flags(243, 0x5),
        Some(0x1003),
        "riscv64 lp64d with compressed instructions"
    );
    assert_eq!(flags(243, 0x1), Some(0x0f03), "riscv64 lp64 (soft float)");
    assert_eq!(flags(243, 0x6), None, "riscv64 lp64q has no glibc");
    assert_eq!(flags(8, 0), None, "MIPS is not handled");
}

#[test]
fn cache_of_an_unmerged_tree_lists_each_directorys_copy_first_directory_first() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    debian_conf(root);
    let (lib, usr_lib) = (
        root.join("lib/x86_64-linux-gnu"),
        root.join("usr/lib/x86_64-linux-gnu"),
    );
    let zlib = host(&format!("{HOST_LIBS}/libz.so.1"));
    copy(&zlib, &lib.join("libz.so.1"));
    copy(&zlib, &usr_lib.join("libz.so.1"));
    copy(
        &host(&format!("{HOST_LIBS}/libc.so.6")),
        &lib.join("libc.so.6"),
    );
    // Two files of one soname in one directory make one entry.
    let crypto = host(&format!("{HOST_LIBS}/libcrypto.so.3"));
    copy(&crypto, &usr_lib.join("libcrypto.so.3"));
    copy(&crypto, &usr_lib.join("libcrypto.so.3.0.99"));
    // A library marked as needing x86-64-v3: glibc 2.36 records no ISA level for it.
    let flags = [
        "-shared",
        "-fPIC",
        "-Wl,-z,x86-64-v3",
        "-Wl,-soname,libv3.so.1",
    ];
    gcc(
        "int f(void) { return 1; }\n",
        &usr_lib.join("libv3.so.1"),
        &flags,
    );
    let theirs = ldconfig_cache(root);

    let mut config = CacheConfig::debian("amd64").unwrap();
    config.generator = generator(&theirs);
    let ours = write_cache(&records(root), &config);
    let listed = listing(&ours);
    assert_eq!(listed, listing(&theirs));
    assert!(listed.contains(
        "\tlibz.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libz.so.1\n\tlibz.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libz.so.1\n"
    ), "{listed}");
    assert_eq!(listed.matches("libcrypto.so.3 ").count(), 1, "{listed}");
    assert!(listed.contains("\tlibv3.so.1 (libc6,x86-64)"), "{listed}");
    assert_eq!(ours, theirs);

    // Under merged-/usr links the two directories are one: its first name, one zlib.
    let config = config.merged_usr();
    let merged = listing(&write_cache(&records(root), &config));
    assert!(
        merged.contains("\tlibz.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libz.so.1\n"),
        "{merged}"
    );
    assert_eq!(merged.matches("libz.so.1 ").count(), 1, "{merged}");
    assert!(
        merged.contains("=> /lib/x86_64-linux-gnu/libcrypto.so.3\n"),
        "{merged}"
    );
}

#[test]
fn a_real_program_finds_its_libraries_through_the_written_cache_alone() {
    // openssl needs libssl and libcrypto, which are only in /opt/ssl: a directory the
    // loader searches only when the cache names it. The program runs chrooted into the
    // tree (the tests run as root), with the tree's own loader and libc.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    copy(
        &host("/lib64/ld-linux-x86-64.so.2"),
        &root.join("lib64/ld-linux-x86-64.so.2"),
    );
    copy(
        &host(&format!("{HOST_LIBS}/libc.so.6")),
        &root.join("usr/lib/x86_64-linux-gnu/libc.so.6"),
    );
    for name in ["libssl.so.3", "libcrypto.so.3"] {
        copy(
            &host(&format!("{HOST_LIBS}/{name}")),
            &root.join("opt/ssl").join(name),
        );
    }
    copy(&host("/usr/bin/openssl"), &root.join("usr/bin/openssl"));
    let openssl = || {
        Command::new("chroot")
            .arg(root)
            .args(["/usr/bin/openssl", "version"])
            .output()
            .unwrap()
    };

    let without = openssl();
    assert!(!without.status.success());
    let stderr = String::from_utf8_lossy(&without.stderr);
    assert!(
        stderr.contains("libssl.so.3: cannot open shared object file"),
        "{stderr}"
    );

    let mut config = CacheConfig::debian("amd64").unwrap();
    config.dirs.push("/opt/ssl".to_owned());
    let cache = write_cache(&records(root), &config);
    common::write(&root.join("etc/ld.so.cache"), cache, 0o644);
    let with = openssl();
    let stdout = String::from_utf8_lossy(&with.stdout);
    assert!(
        with.status.success(),
        "{}",
        String::from_utf8_lossy(&with.stderr)
    );
    assert!(stdout.starts_with("OpenSSL 3."), "{stdout}");
}
