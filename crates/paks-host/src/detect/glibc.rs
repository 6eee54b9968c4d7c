//! glibc's version, asked of glibc itself.

use semver::Version;

/// A glibc version as glibc writes it: `2.17` for `2.17.0`.
pub fn glibc_text(v: &Version) -> String {
    if v.patch == 0 && v.pre.is_empty() {
        format!("{}.{}", v.major, v.minor)
    } else {
        v.to_string()
    }
}

/// Parses a glibc version string (`2.36`, `2.28.9000`) into a semver version.
pub fn parse_glibc(text: &str) -> Option<Version> {
    let mut parts = text.trim().split('.').map(str::parse::<u64>);
    let major = parts.next()?.ok()?;
    let minor = parts.next().unwrap_or(Ok(0)).ok()?;
    let patch = parts.next().unwrap_or(Ok(0)).ok()?;
    parts
        .next()
        .is_none()
        .then(|| Version::new(major, minor, patch))
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(crate) fn detect() -> Option<Version> {
    // SAFETY: `gnu_get_libc_version` takes no arguments and returns a pointer to a static,
    // NUL-terminated string owned by glibc, valid for the life of the process.
    #[allow(
        unsafe_code,
        reason = "the one FFI call glibc offers for its own version"
    )]
    let text = unsafe { std::ffi::CStr::from_ptr(libc::gnu_get_libc_version()) };
    parse_glibc(text.to_str().ok()?)
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn detect() -> Option<Version> {
    // A static (musl) paks binary may still run on a glibc host: ask glibc's getconf.
    let out = std::process::Command::new("getconf")
        .arg("GNU_LIBC_VERSION")
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    parse_glibc(text.trim().strip_prefix("glibc ")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_glibc_versions() {
        assert_eq!(parse_glibc("2.36"), Some(Version::new(2, 36, 0)));
        assert_eq!(parse_glibc("2.28.9000\n"), Some(Version::new(2, 28, 9000)));
        assert_eq!(parse_glibc("2"), Some(Version::new(2, 0, 0)));
        assert_eq!(parse_glibc("x.1"), None);
        assert_eq!(parse_glibc("1.2.3.4"), None);
        assert_eq!(glibc_text(&Version::new(2, 17, 0)), "2.17");
        assert_eq!(glibc_text(&Version::new(2, 28, 9000)), "2.28.9000");
    }

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_matches_ldd() {
        let out = std::process::Command::new("ldd")
            .arg("--version")
            .output()
            .expect("ldd runs");
        let first = String::from_utf8(out.stdout).unwrap();
        // `ldd (Debian GLIBC 2.36-9+deb12u14) 2.36`: the version is the last word.
        let word = first
            .lines()
            .next()
            .unwrap()
            .split_whitespace()
            .last()
            .unwrap();
        assert_eq!(detect(), parse_glibc(word), "{first}");
        assert!(detect().unwrap() >= Version::new(2, 17, 0));
    }
}
