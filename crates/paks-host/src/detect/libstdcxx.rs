//! The host's C++ runtime: the newest `GLIBCXX_3.4.N` its `libstdc++.so.6` defines.

use std::path::Path;

use semver::Version;

use super::elf::Elf;
use super::ldcache::LinkerCache;
use crate::Detected;

const SONAME: &str = "libstdc++.so.6";

/// Finds `libstdc++.so.6` through the linker cache (or the usual directories) and reads
/// its version definitions.
pub(crate) fn detect(cache: &LinkerCache) -> Detected<Version> {
    let Some(path) = cache.find_native(SONAME).or_else(|| {
        super::library_dirs()
            .into_iter()
            .map(|d| d.join(SONAME))
            .find(|p| is_native(p))
    }) else {
        return Detected::Unknown(format!(
            "no {SONAME} in the linker cache or the usual directories"
        ));
    };
    from_library(&path)
}

fn is_native(path: &Path) -> bool {
    Elf::open(path).is_ok_and(|e| e.is_native())
}

/// The newest `GLIBCXX_3.4.N` that the library at `path` defines, as `3.4.N`.
pub(crate) fn from_library(path: &Path) -> Detected<Version> {
    let names = match Elf::open(path).and_then(|mut e| e.version_definitions()) {
        Ok(names) => names,
        Err(e) => {
            return Detected::Unknown(format!(
                "cannot read the versions of `{}`: {e}",
                path.display()
            ));
        }
    };
    let max = names.iter().filter_map(|n| glibcxx_version(n)).max();
    Detected::from_option(max, || {
        format!("`{}` defines no GLIBCXX_3.4 version", path.display())
    })
}

/// `GLIBCXX_3.4.30` → `3.4.30`; `GLIBCXX_3.4` → `3.4.0`.
fn glibcxx_version(name: &str) -> Option<Version> {
    let rest = name.strip_prefix("GLIBCXX_3.4")?;
    let n = match rest.strip_prefix('.') {
        Some(n) => n.parse().ok()?,
        None if rest.is_empty() => 0,
        None => return None,
    };
    Some(Version::new(3, 4, n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::testutil::shared_object;

    #[test]
    fn parses_version_names() {
        assert_eq!(
            glibcxx_version("GLIBCXX_3.4.30"),
            Some(Version::new(3, 4, 30))
        );
        assert_eq!(glibcxx_version("GLIBCXX_3.4"), Some(Version::new(3, 4, 0)));
        assert_eq!(glibcxx_version("GLIBCXX_3.4x"), None);
        assert_eq!(glibcxx_version("GLIBCXX_LDBL_3.4.31"), None);
        assert_eq!(glibcxx_version("CXXABI_1.3.13"), None);
    }

    #[test]
    fn reads_version_definitions_of_a_fake_library() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("vers.map");
        std::fs::write(
            &script,
            "GLIBCXX_3.4 { global: a; local: *; };\nGLIBCXX_3.4.9 { global: b; } GLIBCXX_3.4;\n\
             GLIBCXX_3.4.12 { global: c; } GLIBCXX_3.4.9;\nGLIBCXX_LDBL_3.4.40 { global: d; };\n",
        )
        .unwrap();
        let lib = shared_object(
            dir.path(),
            "libstdc++.so.6",
            "libstdc++.so.6",
            "int a(void){return 1;} int b(void){return 2;} int c(void){return 3;} int d(void){return 4;}",
            &[&format!("-Wl,--version-script={}", script.display())],
        );
        assert_eq!(from_library(&lib), Detected::Known(Version::new(3, 4, 12)));
        let plain = shared_object(
            dir.path(),
            "libplain.so",
            "libplain.so",
            "int a(void){return 1;}",
            &[],
        );
        assert!(
            from_library(&plain)
                .reason()
                .unwrap()
                .contains("no GLIBCXX")
        );
        std::fs::write(dir.path().join("notelf"), "hello").unwrap();
        assert!(
            from_library(&dir.path().join("notelf"))
                .reason()
                .unwrap()
                .contains("not an ELF")
        );
    }

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu", target_arch = "x86_64"))]
    fn matches_strings_on_this_host() {
        let cache = LinkerCache::load().unwrap();
        let detected = detect(&cache);
        let version = detected.known().expect("this host has libstdc++");
        // What `strings libstdc++.so.6 | grep GLIBCXX_3.4` shows as the newest.
        let bytes = std::fs::read("/usr/lib/x86_64-linux-gnu/libstdc++.so.6").unwrap();
        let max = bytes
            .split(|&b| b == 0)
            .filter_map(|s| std::str::from_utf8(s).ok())
            .filter_map(glibcxx_version)
            .max()
            .unwrap();
        assert_eq!(*version, max);
        assert!(*version >= Version::new(3, 4, 19));
    }
}
