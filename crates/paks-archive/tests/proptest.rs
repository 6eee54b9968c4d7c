//! Property tests: random trees survive a round trip, and damaged archives never make
//! extraction panic or write outside its destination.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use paks_archive::{Compression, Limits, extract_layer, write_layer};
use proptest::prelude::*;

const PREFIX: &str = "opt/paks/store/p";

#[derive(Debug, Clone)]
enum Node {
    File { data: Vec<u8>, exec: bool },
    Symlink(String),
    Dir(BTreeMap<String, Node>),
}

fn name() -> impl Strategy<Value = String> {
    // A first character other than `.` keeps `.` and `..` out; long names need GNU headers.
    prop_oneof![
        4 => "[a-zA-Z0-9_-][a-zA-Z0-9._ -]{0,15}",
        1 => "[a-z]{90,130}",
    ]
}

fn tree() -> impl Strategy<Value = BTreeMap<String, Node>> {
    let leaf = prop_oneof![
        4 => (proptest::collection::vec(any::<u8>(), 0..3000), any::<bool>())
            .prop_map(|(data, exec)| Node::File { data, exec }),
        1 => "[a-z]{1,10}".prop_map(Node::Symlink),
    ];
    let node = leaf.prop_recursive(4, 40, 6, |inner| {
        proptest::collection::btree_map(name(), inner, 0..6).prop_map(Node::Dir)
    });
    proptest::collection::btree_map(name(), node, 0..8)
}

fn create(dir: &Path, nodes: &BTreeMap<String, Node>) {
    for (name, node) in nodes {
        let path = dir.join(name);
        match node {
            Node::File { data, exec } => {
                std::fs::write(&path, data).unwrap();
                let mode = if *exec { 0o700 } else { 0o640 };
                std::fs::set_permissions(&path, PermissionsExt::from_mode(mode)).unwrap();
            }
            Node::Symlink(target) => std::os::unix::fs::symlink(target, &path).unwrap(),
            Node::Dir(children) => {
                std::fs::create_dir(&path).unwrap();
                create(&path, children);
            }
        }
    }
}

fn compression() -> impl Strategy<Value = Compression> {
    prop_oneof![
        Just(Compression::None),
        (0u32..=9).prop_map(|level| Compression::Gzip { level }),
        (1i32..=5).prop_map(|level| Compression::Zstd { level }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_trees_round_trip(nodes in tree(), compression in compression()) {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        std::fs::create_dir(&src).unwrap();
        create(&src, &nodes);
        let mut layer = Vec::new();
        let info = write_layer(&src, PREFIX, compression, &mut layer).unwrap();
        let dest = tmp.path().join("dest");
        std::fs::create_dir(&dest).unwrap();
        let stats = extract_layer(&layer[..], &dest, PREFIX, &Limits::default()).unwrap();
        prop_assert_eq!(stats.entries, info.entries);
        prop_assert_eq!(stats.unpacked_size, info.unpacked_size);
        prop_assert_eq!(common::snapshot(&dest), common::snapshot(&src));
    }

    #[test]
    fn damaged_archives_stay_inside(
        nodes in tree(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        std::fs::create_dir(&src).unwrap();
        create(&src, &nodes);
        let mut layer = Vec::new();
        write_layer(&src, "", Compression::None, &mut layer).unwrap();
        for (at, byte) in flips {
            let i = at.index(layer.len());
            layer[i] = byte;
        }
        let dest = tmp.path().join("dest");
        std::fs::create_dir(&dest).unwrap();
        // Either outcome is fine; escaping or panicking is not.
        let _ = extract_layer(&layer[..], &dest, "", &Limits::default());
        let mut top: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        top.sort();
        prop_assert_eq!(top, ["dest", "src"]);
        prop_assert_eq!(common::snapshot(&src).len(), count(&nodes));
    }
}

fn count(nodes: &BTreeMap<String, Node>) -> usize {
    nodes
        .values()
        .map(|n| match n {
            Node::Dir(children) => 1 + count(children),
            _ => 1,
        })
        .sum()
}
