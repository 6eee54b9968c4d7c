//! `.PKGINFO`: the package's metadata, `key = value` lines written by abuild.

use crate::apk::{AlpineVersion, ApkError, Dependency};

const FILE: &str = ".PKGINFO";

/// The typed fields of a `.PKGINFO`. Unknown keys are skipped, as apk skips them.
#[derive(Debug, Clone)]
pub struct PkgInfo {
    /// `pkgname` (REQUIRED).
    pub name: String,
    /// `pkgver` (REQUIRED), with its `-rN` revision.
    pub version: AlpineVersion,
    /// `pkgdesc`.
    pub description: Option<String>,
    /// `url`.
    pub url: Option<String>,
    /// `arch` (`x86_64`, `aarch64`, `noarch`, ...).
    pub arch: Option<String>,
    /// `license`, an SPDX-like expression.
    pub license: Option<String>,
    /// `origin`: the source package (aport) this was built from.
    pub origin: Option<String>,
    /// `maintainer`.
    pub maintainer: Option<String>,
    /// `builddate`, seconds since the epoch.
    pub build_date: Option<u64>,
    /// `size`: the installed size in bytes.
    pub size: Option<u64>,
    /// `datahash`: the sha256 (lowercase hex) of the data stream's gzip bytes.
    pub datahash: Option<String>,
    /// `commit`: the aports commit it was built from.
    pub commit: Option<String>,
    /// `depend` lines (each may hold several space-separated atoms, as apk reads them).
    pub depends: Vec<Dependency>,
    /// `provides` lines.
    pub provides: Vec<Dependency>,
    /// `replaces` lines.
    pub replaces: Vec<Dependency>,
    /// `install_if` lines.
    pub install_if: Vec<Dependency>,
    /// `triggers` lines: directory globs that run the package's `.trigger` script.
    pub triggers: Vec<String>,
}

impl PkgInfo {
    /// Parses the text of a `.PKGINFO`.
    pub fn parse(text: &str) -> Result<Self, ApkError> {
        let mut name = None;
        let mut version = None;
        let mut info = Self {
            name: String::new(),
            version: AlpineVersion::parse("0")?,
            description: None,
            url: None,
            arch: None,
            license: None,
            origin: None,
            maintainer: None,
            build_date: None,
            size: None,
            datahash: None,
            commit: None,
            depends: Vec::new(),
            provides: Vec::new(),
            replaces: Vec::new(),
            install_if: Vec::new(),
            triggers: Vec::new(),
        };
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once(" = ") else {
                return Err(ApkError::Syntax {
                    file: FILE,
                    line: index + 1,
                    text: line.to_owned(),
                });
            };
            let value = value.trim();
            let text = || Some(value.to_owned());
            match key.trim() {
                "pkgname" => name = text(),
                "pkgver" => version = Some(AlpineVersion::parse(value)?),
                "pkgdesc" => info.description = text(),
                "url" => info.url = text(),
                "arch" => info.arch = text(),
                "license" => info.license = text(),
                "origin" => info.origin = text(),
                "maintainer" => info.maintainer = text(),
                "builddate" => info.build_date = Some(number("builddate", value)?),
                "size" => info.size = Some(number("size", value)?),
                "datahash" => info.datahash = Some(sha256_hex(value)?),
                "commit" => info.commit = text(),
                "depend" => info.depends.extend(Dependency::parse_list(value)?),
                "provides" => info.provides.extend(Dependency::parse_list(value)?),
                "replaces" => info.replaces.extend(Dependency::parse_list(value)?),
                "install_if" => info.install_if.extend(Dependency::parse_list(value)?),
                "triggers" => info
                    .triggers
                    .extend(value.split_whitespace().map(str::to_owned)),
                _ => {}
            }
        }
        info.name = name.ok_or(ApkError::MissingField {
            file: FILE,
            field: "pkgname",
        })?;
        info.version = version.ok_or(ApkError::MissingField {
            file: FILE,
            field: "pkgver",
        })?;
        Ok(info)
    }
}

/// A decimal field.
pub(crate) fn number(field: &'static str, value: &str) -> Result<u64, ApkError> {
    value.parse().map_err(|_| ApkError::InvalidValue {
        field,
        value: value.to_owned(),
    })
}

/// A sha256 in hex, lowercased.
fn sha256_hex(value: &str) -> Result<String, ApkError> {
    if value.len() == 64 && value.bytes().all(|c| c.is_ascii_hexdigit()) {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(ApkError::InvalidValue {
            field: "datahash",
            value: value.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abuild_pkginfo() {
        let text = "# Generated by abuild 3.12.0-r0\n# using fakeroot version 1.32.1\n\
            pkgname = busybox\npkgver = 1.36.1-r15\npkgdesc = Size optimized toolbox\n\
            url = https://busybox.net/\nbuilddate = 1700000000\npackager = Buildozer <x@y.invalid>\n\
            size = 958464\narch = x86_64\norigin = busybox\ncommit = 0123abcd\n\
            maintainer = Someone <s@y.invalid>\nlicense = GPL-2.0-only\n\
            replaces = busybox-initscripts\nprovides = cmd:busybox=1.36.1-r15\nprovides = cmd:sh=1.36.1-r15\n\
            depend = so:libc.musl-x86_64.so.1\ndepend = !busybox-legacy\ninstall_if = busybox openrc\n\
            triggers = /bin /usr/bin\n\
            datahash = 4A5B0000000000000000000000000000000000000000000000000000000000ff\n";
        let info = PkgInfo::parse(text).unwrap();
        assert_eq!(info.name, "busybox");
        assert_eq!(info.version.as_str(), "1.36.1-r15");
        assert_eq!(info.size, Some(958_464));
        assert_eq!(info.build_date, Some(1_700_000_000));
        assert_eq!(info.arch.as_deref(), Some("x86_64"));
        assert_eq!(info.license.as_deref(), Some("GPL-2.0-only"));
        assert_eq!(info.origin.as_deref(), Some("busybox"));
        assert_eq!(info.commit.as_deref(), Some("0123abcd"));
        assert_eq!(info.provides.len(), 2);
        assert_eq!(info.depends[0].name, "so:libc.musl-x86_64.so.1");
        assert!(info.depends[1].conflict);
        assert_eq!(info.replaces[0].name, "busybox-initscripts");
        assert_eq!(
            info.install_if.len(),
            2,
            "a line may hold several atoms, as apk reads it"
        );
        assert_eq!(info.triggers, ["/bin", "/usr/bin"]);
        assert!(info.datahash.unwrap().starts_with("4a5b"));
    }

    #[test]
    fn errors_name_the_line_and_field() {
        let err = PkgInfo::parse("pkgname = x\nnot a pair\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 2 of `.PKGINFO` is malformed: `not a pair`"
        );
        let err = PkgInfo::parse("pkgname = x\n").unwrap_err();
        assert_eq!(err.to_string(), "`.PKGINFO` has no `pkgver` field");
        let err = PkgInfo::parse("pkgname = x\npkgver = 1\nsize = big\n").unwrap_err();
        assert_eq!(err.to_string(), "invalid size `big`");
    }
}
