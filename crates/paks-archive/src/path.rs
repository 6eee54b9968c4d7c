//! Lexical checks on archive paths. They only decide what an entry is called; whether the
//! filesystem agrees (no symlinks on the way, nothing outside) is the kernel's job in
//! `dirfd`.

use crate::ArchiveError;

/// Whether `prefix` is usable as a layer prefix: relative, `/`-separated normal components.
/// The empty prefix means the tree is at the archive's root.
pub(crate) fn check_prefix(prefix: &str) -> Result<(), ArchiveError> {
    let ok = prefix.is_empty()
        || prefix
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains('\0'));
    if ok {
        Ok(())
    } else {
        Err(ArchiveError::InvalidPrefix {
            prefix: prefix.to_owned(),
        })
    }
}

/// What is wrong with a raw archive path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathProblem {
    Absolute,
    Parent,
    Nul,
}

/// Normalise a raw archive path into `out`: components joined by `/`, no leading `./`,
/// no empty or `.` components, no trailing slash. The root (`.`, `./`) normalises to empty.
pub(crate) fn normalize(raw: &[u8], out: &mut Vec<u8>) -> Result<(), PathProblem> {
    out.clear();
    if raw.first() == Some(&b'/') {
        return Err(PathProblem::Absolute);
    }
    if raw.contains(&0) {
        return Err(PathProblem::Nul);
    }
    for component in raw.split(|&b| b == b'/') {
        match component {
            b"" | b"." => {}
            b".." => return Err(PathProblem::Parent),
            c => {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(c);
            }
        }
    }
    Ok(())
}

/// Where a normalised path lies relative to the prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// The prefix itself or one of its parent directories (or the archive root).
    Ancestor,
    /// Inside the prefix; the relative path starts at this byte offset.
    Inside(usize),
    Outside,
}

pub(crate) fn place(path: &[u8], prefix: &[u8]) -> Place {
    if prefix.is_empty() {
        return if path.is_empty() {
            Place::Ancestor
        } else {
            Place::Inside(0)
        };
    }
    if let Some(rest) = path.strip_prefix(prefix) {
        return match rest.first() {
            None => Place::Ancestor,
            Some(b'/') => Place::Inside(prefix.len() + 1),
            Some(_) => Place::Outside,
        };
    }
    match prefix.strip_prefix(path) {
        Some(rest) if path.is_empty() || rest.first() == Some(&b'/') => Place::Ancestor,
        _ => Place::Outside,
    }
}

/// Whether a symlink at `link` (a normalised path relative to the tree root) with `target`
/// stays inside the tree.
///
/// Stricter than "resolves lexically inside": `..` may only lead the target. Otherwise a
/// chain escapes although every link passes a lexical check on its own: `d/s -> ..` is
/// fine, and so is `t -> d/s/..` read lexically, but the kernel resolves `d/s` first and
/// `t` lands above the root. With `..` only leading, the walk up goes through the link's
/// real parent directories, and every step down stays inside by induction.
pub(crate) fn symlink_stays_inside(link: &[u8], target: &[u8]) -> bool {
    if target.is_empty() || target[0] == b'/' || target.contains(&0) {
        return false;
    }
    // The link's own directory is as deep as the link has separators.
    let mut depth = link.split(|&b| b == b'/').count() - 1;
    let mut descended = false;
    for component in target.split(|&b| b == b'/') {
        match component {
            b"" | b"." => {}
            b".." => {
                if descended || depth == 0 {
                    return false;
                }
                depth -= 1;
            }
            _ => descended = true,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(raw: &str) -> Result<String, PathProblem> {
        let mut out = Vec::new();
        normalize(raw.as_bytes(), &mut out).map(|()| String::from_utf8(out).unwrap())
    }

    #[test]
    fn normalizes() {
        assert_eq!(norm("./a//b/./c/").unwrap(), "a/b/c");
        assert_eq!(norm("./").unwrap(), "");
        assert_eq!(norm("/etc/passwd"), Err(PathProblem::Absolute));
        assert_eq!(norm("a/../../b"), Err(PathProblem::Parent));
        assert_eq!(norm("a\0b"), Err(PathProblem::Nul));
    }

    #[test]
    fn places() {
        let p = b"opt/paks/store/x";
        assert_eq!(place(b"", p), Place::Ancestor);
        assert_eq!(place(b"opt", p), Place::Ancestor);
        assert_eq!(place(b"opt/paks/store/x", p), Place::Ancestor);
        assert_eq!(place(b"opt/paks/store/x/bin", p), Place::Inside(17));
        assert_eq!(place(b"opt/paks/store/xy", p), Place::Outside);
        assert_eq!(place(b"opt/pak", p), Place::Outside);
        assert_eq!(place(b"etc", p), Place::Outside);
        assert_eq!(place(b"", b""), Place::Ancestor);
        assert_eq!(place(b"a", b""), Place::Inside(0));
    }

    #[test]
    fn prefixes() {
        assert!(check_prefix("opt/paks/store/x").is_ok());
        assert!(check_prefix("").is_ok());
        for bad in ["/opt", "opt/", "opt//x", "opt/./x", "opt/../x", "."] {
            assert!(check_prefix(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn symlink_targets() {
        assert!(symlink_stays_inside(b"lib/libz.so", b"libz.so.1"));
        assert!(symlink_stays_inside(b"lib/libz.so", b"../lib64/libz.so.1"));
        assert!(symlink_stays_inside(b"a/b/c", b"./../../x/y"));
        assert!(!symlink_stays_inside(b"a/b/c", b"../../../x"));
        assert!(!symlink_stays_inside(b"top", b".."));
        assert!(!symlink_stays_inside(b"a/t", b"d/s/../.."));
        assert!(!symlink_stays_inside(b"a", b"/etc"));
        assert!(!symlink_stays_inside(b"a", b""));
    }
}
