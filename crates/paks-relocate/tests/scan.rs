//! `scan` and `canonicalize_text`: which files still name a store, and of which kind.

mod common;

use common::{gcc, id, write};
use paks_relocate::{Relocation, SCAN_CHUNK, canonicalize_text, scan};
use paks_types::CANONICAL_STORE;

#[test]
fn finds_text_and_binary_files_that_name_a_store() {
    let tmp = tempfile::tempdir().unwrap();
    let prefix = tmp.path().join(id("tool"));
    let local = format!("{}/home/u/.local/share/paks/store", tmp.path().display());
    let own = format!("{CANONICAL_STORE}/{}", id("tool"));

    write(
        &prefix.join("bin/script"),
        format!("#!{own}/bin/python\nprint(1)\n"),
        0o755,
    );
    write(
        &prefix.join("lib/pkgconfig/tool.pc"),
        format!("prefix={local}/x\n"),
        0o644,
    );
    write(
        &prefix.join("share/clean.txt"),
        "nothing to see here\n",
        0o644,
    );
    write(
        &prefix.join("share/other-root.txt"),
        "/opt/paks/stor and /opt/paks\n",
        0o644,
    );
    gcc(
        &format!(
            "#include <stdio.h>\nconst char *p = \"{own}/share/data\";\nint main(void) {{ puts(p); return 0; }}\n"
        ),
        &prefix.join("bin/embed"),
        &[],
    );
    gcc(
        "int main(void) { return 0; }",
        &prefix.join("bin/clean"),
        &[],
    );
    std::os::unix::fs::symlink(format!("{own}/bin/script"), prefix.join("bin/link")).unwrap();

    // Needles across the piece boundary, in a text file and in a binary one.
    let mut big_text = vec![b'x'; 2 * SCAN_CHUNK + 10];
    big_text.splice(SCAN_CHUNK - 5..SCAN_CHUNK - 5 + own.len(), own.bytes());
    write(&prefix.join("share/big.txt"), &big_text, 0o644);
    let mut big_binary = vec![0u8; 2 * SCAN_CHUNK + 200];
    let at = 2 * SCAN_CHUNK - 1;
    big_binary.splice(at..at + local.len(), local.bytes());
    write(&prefix.join("share/big.dat"), &big_binary, 0o644);
    // Only part of the needle before the boundary and part after, with a gap: no match.
    let mut split = vec![b'y'; SCAN_CHUNK + 100];
    split[SCAN_CHUNK - 7..SCAN_CHUNK].copy_from_slice(&own.as_bytes()[..7]);
    split[SCAN_CHUNK + 1..SCAN_CHUNK + 9].copy_from_slice(&own.as_bytes()[7..15]);
    write(&prefix.join("share/split.txt"), &split, 0o644);

    let relocation = scan(&prefix, &[CANONICAL_STORE, &local]).unwrap();
    assert_eq!(
        relocation,
        Relocation {
            text: vec![
                "bin/script".into(),
                "lib/pkgconfig/tool.pc".into(),
                "share/big.txt".into()
            ],
            binary: vec!["bin/embed".into(), "share/big.dat".into()],
        }
    );

    // The local store only: the canonical one is not a needle any more.
    let relocation = scan(&prefix, &[&local]).unwrap();
    assert_eq!(relocation.text, ["lib/pkgconfig/tool.pc"]);
    assert_eq!(relocation.binary, ["share/big.dat"]);
    assert_eq!(scan(&prefix, &[""]).unwrap(), Relocation::default());
}

#[test]
fn canonicalize_text_replaces_the_local_store_whatever_the_lengths() {
    let tmp = tempfile::tempdir().unwrap();
    let prefix = tmp.path().join("p");
    let local = format!("{}/home/u/.local/share/paks/store", tmp.path().display());
    let dep = id("dep");
    write(
        &prefix.join("bin/run"),
        format!("#!{local}/{dep}/bin/sh\nexec {local}/{dep}/bin/x --data={local}\n"),
        0o750,
    );
    write(
        &prefix.join("lib/x.pc"),
        format!("libdir={local}/{dep}/lib\n"),
        0o444,
    );
    let binary = format!("\0{local}/{dep}\0");
    write(&prefix.join("lib/blob"), &binary, 0o644);

    let relocation = scan(&prefix, &[&local]).unwrap();
    assert_eq!(relocation.binary, ["lib/blob"]);
    canonicalize_text(&prefix, &relocation, &local, CANONICAL_STORE).unwrap();

    let read = |p: &str| fs_err::read_to_string(prefix.join(p)).unwrap();
    assert_eq!(
        read("bin/run"),
        format!(
            "#!/opt/paks/store/{dep}/bin/sh\nexec /opt/paks/store/{dep}/bin/x --data=/opt/paks/store\n"
        )
    );
    assert_eq!(
        read("lib/x.pc"),
        format!("libdir=/opt/paks/store/{dep}/lib\n")
    );
    assert_eq!(common::mode(&prefix.join("bin/run")), 0o750);
    assert_eq!(common::mode(&prefix.join("lib/x.pc")), 0o444);
    assert_eq!(
        read("lib/blob"),
        binary,
        "binary files are not canonicalized"
    );

    let after = scan(&prefix, &[&local, CANONICAL_STORE]).unwrap();
    assert_eq!(
        after, relocation,
        "the same files, now naming the canonical store"
    );
    assert!(scan(&prefix, &[&local]).unwrap().text.is_empty());
}

#[test]
fn a_missing_prefix_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing");
    let err = scan(&missing, &[CANONICAL_STORE]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("failed to walk `{}`", missing.display())
    );
    assert!(std::error::Error::source(&err).is_some());
}
