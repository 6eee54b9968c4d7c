//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses a different part

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// What a tree looks like after a round trip through a layer: kind, normalised mode,
/// content or link target, and which paths share an inode.
#[derive(Debug, PartialEq, Eq)]
pub enum Node {
    Dir {
        mode: u32,
    },
    File {
        mode: u32,
        content: Vec<u8>,
        link_group: Option<String>,
    },
    Symlink {
        target: String,
    },
}

/// Describe `root` as a layer would carry it (file modes normalised to 0755/0644).
pub fn snapshot(root: &Path) -> BTreeMap<String, Node> {
    let mut first_path_of_inode: BTreeMap<u64, String> = BTreeMap::new();
    let mut out = BTreeMap::new();
    let walk = walkdir::WalkDir::new(root).sort_by_file_name().min_depth(1);
    for entry in walk {
        let entry = entry.unwrap();
        let rel = entry
            .path()
            .strip_prefix(root)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let meta = entry.path().symlink_metadata().unwrap();
        let node = if meta.is_dir() {
            Node::Dir {
                mode: meta.permissions().mode() & 0o7777,
            }
        } else if meta.file_type().is_symlink() {
            let target = std::fs::read_link(entry.path()).unwrap();
            Node::Symlink {
                target: target.to_str().unwrap().to_owned(),
            }
        } else {
            let mode = meta.permissions().mode() & 0o7777;
            let link_group = (meta.nlink() > 1).then(|| {
                first_path_of_inode
                    .entry(meta.ino())
                    .or_insert_with(|| rel.clone())
                    .clone()
            });
            Node::File {
                mode: if mode & 0o111 != 0 { 0o755 } else { 0o644 },
                content: std::fs::read(entry.path()).unwrap(),
                link_group,
            }
        };
        out.insert(rel, node);
    }
    out
}

/// A small tree with one of everything a layer must carry.
pub fn sample_tree(root: &Path) {
    use std::os::unix::fs::symlink;
    let long_dir = root.join("share").join("d".repeat(60)).join("e".repeat(60));
    std::fs::create_dir_all(&long_dir).unwrap();
    std::fs::write(long_dir.join("long-file-name.txt"), "deep").unwrap();
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::create_dir_all(root.join("lib")).unwrap();
    std::fs::write(root.join("bin/tool"), "#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(root.join("bin/tool"), PermissionsExt::from_mode(0o750)).unwrap();
    std::fs::write(root.join("lib/libz.so.1"), vec![0x7f; 10_000]).unwrap();
    std::fs::set_permissions(root.join("lib/libz.so.1"), PermissionsExt::from_mode(0o600)).unwrap();
    symlink("libz.so.1", root.join("lib/libz.so")).unwrap();
    symlink(
        format!("../share/{}/{}", "d".repeat(60), "e".repeat(60)),
        root.join("lib/long-link"),
    )
    .unwrap();
    std::fs::hard_link(root.join("bin/tool"), root.join("bin/tool-again")).unwrap();
    std::fs::write(root.join("empty"), "").unwrap();
    std::fs::create_dir(root.join("empty-dir")).unwrap();
}
