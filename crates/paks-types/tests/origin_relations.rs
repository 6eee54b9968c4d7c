//! An imported package's relation fields are lists that real packages make long:
//! Debian 12's `perl-modules-5.36` has a `Breaks` of 2.9 KB and `perl-base` a `Provides`
//! of over 1 KB. They must validate (git needs perl), while the one-line rules still hold.

use std::collections::BTreeMap;

use paks_types::{Digest, ForeignFormat, Origin};

fn origin(breaks: String) -> Origin {
    Origin {
        format: ForeignFormat::Deb,
        version: "5.36.0-7+deb12u4".into(),
        architecture: "all".into(),
        source: Some("perl".into()),
        source_version: None,
        maintainer: None,
        file_digest: Digest::sha256_of(b"perl-modules-5.36"),
        relations: BTreeMap::from([("breaks".into(), breaks)]),
        scripts_not_run: vec![],
        conffiles: vec![],
        alternatives: vec![],
        libraries: vec![],
        dropped_setid: vec![],
    }
}

/// A `Breaks` list as long as perl-modules-5.36's: 100 items of ~30 bytes.
fn long_list() -> String {
    (0..100)
        .map(|i| format!("libmodule{i:03}-perl (<< 2.150010)"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn a_long_relation_list_is_valid() {
    let list = long_list();
    assert!(list.len() > 2048);
    origin(list).validate().unwrap();
}

#[test]
fn a_relation_list_is_still_one_line_of_bounded_length() {
    let err = origin(format!("{}\nX: y", long_list()))
        .validate()
        .unwrap_err();
    assert!(err.to_string().contains("single line"), "{err}");
    let err = origin("a, ".repeat(40_000)).validate().unwrap_err();
    assert!(err.to_string().contains("longer than"), "{err}");
}
