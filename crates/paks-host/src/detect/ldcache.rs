//! The dynamic linker's cache (`/etc/ld.so.cache`): which file each soname resolves to.
//!
//! Read directly (glibc's "new" format, alone or after the old one); when that fails,
//! `ldconfig -p` is asked, which every glibc system has.

use std::path::{Path, PathBuf};

use super::elf::Elf;

const CACHE: &str = "/etc/ld.so.cache";
const OLD_MAGIC: &[u8] = b"ld.so-1.7.0";
const NEW_MAGIC: &[u8] = b"glibc-ld.so.cache1.1";
/// `struct cache_file_new` before its entries.
const NEW_HEADER: usize = 48;
/// `struct file_entry_new`: flags, key, value, osversion (4 bytes each), hwcap (8).
const NEW_ENTRY: usize = 24;
/// `struct file_entry` of the old format: flags, key, value.
const OLD_ENTRY: usize = 12;

/// The linker cache's entries: soname → path, in the cache's order (preferred first).
#[derive(Debug, Default, Clone)]
pub(crate) struct LinkerCache {
    entries: Vec<(String, PathBuf)>,
}

impl LinkerCache {
    /// This host's cache, or why it cannot be read.
    pub fn load() -> Result<Self, String> {
        let file_err = match fs_err::read(CACHE) {
            Ok(bytes) => match Self::parse(&bytes) {
                Some(cache) => return Ok(cache),
                None => format!("`{CACHE}` has an unknown format"),
            },
            Err(e) => e.to_string(),
        };
        Self::from_ldconfig().map_err(|e| format!("{file_err}; {e}"))
    }

    #[cfg(test)]
    pub fn from_entries(entries: Vec<(String, PathBuf)>) -> Self {
        Self { entries }
    }

    /// Parses the bytes of an `ld.so.cache`.
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        let start = if bytes.starts_with(NEW_MAGIC) {
            0
        } else if bytes.starts_with(OLD_MAGIC) {
            // The old header (magic, padding, nlibs) and its entries, then the new format
            // aligned to 8 bytes.
            let nlibs = u32_at(bytes, 12)? as usize;
            (16 + nlibs.checked_mul(OLD_ENTRY)?).next_multiple_of(8)
        } else {
            return None;
        };
        let new = bytes.get(start..)?;
        if !new.starts_with(NEW_MAGIC) {
            return None;
        }
        let nlibs = u32_at(new, 20)? as usize;
        let mut entries = Vec::with_capacity(nlibs.min(1 << 16));
        for i in 0..nlibs {
            let at = NEW_HEADER + i.checked_mul(NEW_ENTRY)?;
            // String offsets count from the start of the new-format header.
            let key = u32_at(new, at + 4)? as usize;
            let value = u32_at(new, at + 8)? as usize;
            let (Some(key), Some(value)) = (c_str(new, key), c_str(new, value)) else {
                continue;
            };
            entries.push((key.to_owned(), PathBuf::from(value)));
        }
        Some(Self { entries })
    }

    fn from_ldconfig() -> Result<Self, String> {
        // Not every user's PATH has the sbin directories.
        for program in ["ldconfig", "/sbin/ldconfig", "/usr/sbin/ldconfig"] {
            if let Ok(out) = std::process::Command::new(program).arg("-p").output()
                && out.status.success()
            {
                return Ok(Self::parse_ldconfig(&String::from_utf8_lossy(&out.stdout)));
            }
        }
        Err("`ldconfig -p` did not run".to_owned())
    }

    /// Parses `ldconfig -p` output: `\tlibm.so.6 (libc6,x86-64) => /lib/x86_64-linux-gnu/libm.so.6`.
    pub fn parse_ldconfig(text: &str) -> Self {
        let entries = text
            .lines()
            .filter_map(|line| {
                let (left, path) = line.split_once(" => ")?;
                let name = left.trim().split(" (").next()?;
                Some((name.to_owned(), PathBuf::from(path.trim())))
            })
            .collect();
        Self { entries }
    }

    /// The files the cache lists for `soname`, in its order.
    pub fn find<'a>(&'a self, soname: &'a str) -> impl Iterator<Item = &'a Path> + 'a {
        self.entries
            .iter()
            .filter(move |(name, _)| name == soname)
            .map(|(_, path)| path.as_path())
    }

    /// The first file listed for `soname` that is an ELF file for this machine (the cache
    /// of a multilib host also lists the 32-bit libraries).
    pub fn find_native(&self, soname: &str) -> Option<PathBuf> {
        self.find(soname)
            .find(|p| Elf::open(p).is_ok_and(|e| e.is_native()))
            .map(Path::to_owned)
    }

    #[cfg(test)]
    pub fn entries(&self) -> &[(String, PathBuf)] {
        &self.entries
    }
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    // The cache is written by this host's ldconfig, in its byte order.
    Some(u32::from_ne_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn c_str(bytes: &[u8], at: usize) -> Option<&str> {
    let rest = bytes.get(at..)?;
    let end = rest.iter().position(|&b| b == 0)?;
    std::str::from_utf8(&rest[..end]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_cache(entries: &[(&str, &str)], old_prefix: bool) -> Vec<u8> {
        let mut strings = Vec::new();
        let base = NEW_HEADER + entries.len() * NEW_ENTRY;
        let mut offsets = Vec::new();
        for (k, v) in entries {
            let ko = base + strings.len();
            strings.extend_from_slice(k.as_bytes());
            strings.push(0);
            let vo = base + strings.len();
            strings.extend_from_slice(v.as_bytes());
            strings.push(0);
            offsets.push((ko, vo));
        }
        let mut new = Vec::new();
        new.extend_from_slice(NEW_MAGIC);
        new.extend_from_slice(&u32::try_from(entries.len()).unwrap().to_ne_bytes());
        new.extend_from_slice(&u32::try_from(strings.len()).unwrap().to_ne_bytes());
        new.resize(NEW_HEADER, 0);
        for (k, v) in offsets {
            new.extend_from_slice(&0x0303_i32.to_ne_bytes());
            new.extend_from_slice(&u32::try_from(k).unwrap().to_ne_bytes());
            new.extend_from_slice(&u32::try_from(v).unwrap().to_ne_bytes());
            new.extend_from_slice(&[0; 12]);
        }
        new.extend_from_slice(&strings);
        if !old_prefix {
            return new;
        }
        let mut old = Vec::new();
        old.extend_from_slice(OLD_MAGIC);
        old.push(0);
        old.extend_from_slice(&1u32.to_ne_bytes());
        old.extend_from_slice(&[0; OLD_ENTRY]);
        old.resize(old.len().next_multiple_of(8), 0);
        old.extend_from_slice(&new);
        old
    }

    #[test]
    fn parses_new_and_compat_formats() {
        let entries = [
            ("libmpi.so.40", "/usr/lib64/openmpi/lib/libmpi.so.40"),
            ("libc.so.6", "/lib64/libc.so.6"),
        ];
        for old in [false, true] {
            let cache = LinkerCache::parse(&fake_cache(&entries, old)).unwrap();
            let got: Vec<_> = cache.find("libmpi.so.40").collect();
            assert_eq!(got, [Path::new("/usr/lib64/openmpi/lib/libmpi.so.40")]);
            assert_eq!(cache.entries().len(), 2);
        }
        assert!(LinkerCache::parse(b"garbage").is_none());
        assert!(LinkerCache::parse(&fake_cache(&entries, false)[..30]).is_none());
    }

    #[test]
    fn parses_ldconfig_output() {
        let text = "3 libs found in cache `/etc/ld.so.cache'\n\
            \tlibstdc++.so.6 (libc6,x86-64) => /lib/x86_64-linux-gnu/libstdc++.so.6\n\
            \tlibm.so.6 (libc6,x86-64, OS ABI: Linux 3.2.0) => /lib/x86_64-linux-gnu/libm.so.6\n";
        let cache = LinkerCache::parse_ldconfig(text);
        assert_eq!(
            cache.entries(),
            [
                (
                    "libstdc++.so.6".to_owned(),
                    "/lib/x86_64-linux-gnu/libstdc++.so.6".into()
                ),
                (
                    "libm.so.6".to_owned(),
                    "/lib/x86_64-linux-gnu/libm.so.6".into()
                ),
            ]
        );
    }

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn this_hosts_cache_matches_ldconfig() {
        let bytes = std::fs::read(CACHE).expect("a glibc host has a linker cache");
        let parsed = LinkerCache::parse(&bytes).expect("the cache parses");
        let listed = LinkerCache::from_ldconfig().expect("ldconfig -p runs");
        let mut a = parsed.entries().to_vec();
        let mut b = listed.entries().to_vec();
        a.sort();
        b.sort();
        assert_eq!(a, b);
        assert!(!a.is_empty());
    }
}
