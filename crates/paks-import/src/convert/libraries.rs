//! The loader-cache records (`ld.so.cache` entries) of the shared libraries in a rootfs
//! layer, made with `paks_relocate::ldcache` as `ldconfig` would make them.

use std::collections::BTreeMap;

use paks_relocate::ldcache::{library, link_library};
use paks_types::Library;

/// The records of `files` (path and bytes of the ELF files in the loader's directories)
/// and of `links` (symlinks there, path and target) that resolve, through other links of
/// the package, to one of those files: `libz.so.1 -> libz.so.1.2.13`. Sorted by path.
/// A link to a library of another package is not followed: its target is unknown here.
pub fn libraries(files: &[(String, Vec<u8>)], links: &[(String, String)]) -> Vec<Library> {
    let mut found: BTreeMap<String, Library> = files
        .iter()
        .filter_map(|(path, bytes)| library(path, bytes))
        .map(|l| (l.path.clone(), l))
        .collect();
    // Links to links: repeat until a round adds nothing (at most one round per link).
    loop {
        let mut added = false;
        for (link, target) in links {
            if found.contains_key(link) {
                continue;
            }
            let Some(lib) = resolve(link, target).and_then(|t| found.get(&t)) else {
                continue;
            };
            if let Some(record) = link_library(link, lib) {
                found.insert(link.clone(), record);
                added = true;
            }
        }
        if !added {
            break;
        }
    }
    found.into_values().collect()
}

/// The path, relative to `/`, that the symlink `link` with `target` names (lexically:
/// links to directories on the way are not followed).
fn resolve(link: &str, target: &str) -> Option<String> {
    let mut parts: Vec<&str> = match target.strip_prefix('/') {
        Some(_) => Vec::new(),
        None => link.split('/').collect::<Vec<_>>().split_last()?.1.to_vec(),
    };
    for component in target.split('/') {
        match component {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::resolve;

    #[test]
    fn links_resolve_lexically() {
        let link = "usr/lib/x86_64-linux-gnu/libz.so.1";
        assert_eq!(
            resolve(link, "libz.so.1.2.13").as_deref(),
            Some("usr/lib/x86_64-linux-gnu/libz.so.1.2.13")
        );
        assert_eq!(
            resolve(
                "lib64/ld-linux-x86-64.so.2",
                "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
            )
            .as_deref(),
            Some("lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
        );
        assert_eq!(
            resolve("usr/lib/a.so", "../../x.so").as_deref(),
            Some("x.so")
        );
        assert_eq!(resolve("a.so", "../x.so"), None);
    }
}
