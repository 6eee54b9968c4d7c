//! File conflicts between the rootfs packages of one image or sysroot, found from their
//! metadata alone (`contents`: every non-directory path, relative to `/`).
//!
//! Two packages providing one path is an error, as dpkg makes it one, unless the later
//! package `Replaces` the earlier ([`crate::rootfs::replaces`]): then the later one's file
//! wins, and the earlier one's path is reported as replaced. A path one package has as a
//! file (or symlink) and another needs as a directory (it has paths under it) is a
//! conflict too. Limits: `contents` lists no directories, so an empty directory of one
//! package at a path another has as a file is not seen; dpkg diversions are made by
//! maintainer scripts (`dpkg-divert`), not by package data, and are not honoured.

use std::collections::BTreeMap;

use paks_types::{PackageId, PackageMeta};

use crate::rootfs::replaces;

/// A path two packages provide, the later replacing the earlier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replaced {
    /// Relative to `/`.
    pub path: String,
    /// The package whose file is in the image.
    pub winner: PackageId,
    /// The package whose file is not.
    pub loser: PackageId,
}

/// Two packages that cannot both be in one image.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{first}` and `{second}` both provide `/{path}`{}", if *.as_directory { " (one as a directory, one as a file)" } else { "" })]
pub struct Conflict {
    /// Relative to `/`.
    pub path: String,
    pub first: PackageId,
    pub second: PackageId,
    /// One of them has it as a directory.
    pub as_directory: bool,
}

impl Conflict {
    /// What the user can do.
    pub fn hint(&self) -> String {
        format!(
            "leave out one of `{}` and `{}` (they conflict as dpkg would refuse them), or re-import the later with `Replaces: {}`",
            self.first.name(),
            self.second.name(),
            self.first.name()
        )
    }
}

/// Check `packages` (rootfs packages in layer order): the paths later packages replace,
/// or the first conflict.
pub fn check(packages: &[&PackageMeta]) -> Result<Vec<Replaced>, Box<Conflict>> {
    // Each path: the package (index) whose file is there now.
    let mut files: BTreeMap<&str, usize> = BTreeMap::new();
    // Each directory some package's paths are under: the first such package.
    let mut dirs: BTreeMap<&str, usize> = BTreeMap::new();
    let mut replaced = Vec::new();
    for (i, p) in packages.iter().enumerate() {
        for path in &p.contents {
            let path = path.as_str();
            if let Some(&j) = dirs.get(path)
                && j != i
            {
                return Err(conflict(packages, j, i, path, true));
            }
            for (end, _) in path.match_indices('/') {
                let dir = &path[..end];
                if let Some(&j) = files.get(dir)
                    && j != i
                {
                    return Err(conflict(packages, j, i, dir, true));
                }
                dirs.entry(dir).or_insert(i);
            }
            match files.insert(path, i) {
                Some(j) if j != i => {
                    if replaces(p, packages[j]) {
                        replaced.push(Replaced {
                            path: path.to_owned(),
                            winner: p.id.clone(),
                            loser: packages[j].id.clone(),
                        });
                    } else {
                        return Err(conflict(packages, j, i, path, false));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(replaced)
}

fn conflict(
    packages: &[&PackageMeta],
    first: usize,
    second: usize,
    path: &str,
    as_directory: bool,
) -> Box<Conflict> {
    Box::new(Conflict {
        path: path.to_owned(),
        first: packages[first].id.clone(),
        second: packages[second].id.clone(),
        as_directory,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rootfs::test_meta;

    fn with(name: &str, contents: &[&str], replaces: Option<&str>) -> PackageMeta {
        let mut m = test_meta(name, &[], replaces);
        m.contents = contents.iter().map(|c| (*c).to_owned()).collect();
        m
    }

    #[test]
    fn one_path_in_two_packages_is_a_conflict_naming_both() {
        let a = with("a", &["usr/bin/x", "usr/share/a"], None);
        let b = with("b", &["usr/bin/x"], None);
        let e = check(&[&a, &b]).unwrap_err();
        assert_eq!(e.path, "usr/bin/x");
        assert_eq!((&e.first, &e.second), (&a.id, &b.id));
        assert!(!e.as_directory);
        assert!(e.to_string().contains("both provide `/usr/bin/x`"), "{e}");
        assert!(e.hint().contains("Replaces: a"), "{}", e.hint());
    }

    #[test]
    fn a_file_where_another_package_has_a_directory_conflicts_either_way() {
        let file = with("file", &["usr/lib/thing"], None);
        let dir = with("dir", &["usr/lib/thing/x.so"], None);
        for packages in [[&file, &dir], [&dir, &file]] {
            let e = check(&packages).unwrap_err();
            assert_eq!(e.path, "usr/lib/thing");
            assert!(e.as_directory, "{e}");
            assert!(e.to_string().contains("one as a directory"), "{e}");
        }
    }

    #[test]
    fn a_later_package_that_replaces_the_earlier_wins_its_paths() {
        let old = with("old", &["usr/bin/x", "usr/bin/y"], None);
        let new = with("new", &["usr/bin/x"], Some("old (<< 2)"));
        let replaced = check(&[&old, &new]).unwrap();
        assert_eq!(
            replaced,
            [Replaced {
                path: "usr/bin/x".into(),
                winner: new.id.clone(),
                loser: old.id.clone(),
            }]
        );
        // Only the later one may replace, and only within the version bound.
        assert!(check(&[&new, &old]).is_err());
        let bounded = with("new", &["usr/bin/x"], Some("old (<< 0.5)"));
        assert!(check(&[&old, &bounded]).is_err());
    }
}
