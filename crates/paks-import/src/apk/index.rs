//! `APKINDEX.tar.gz`: a signature stream, then a gzip'd tar holding `DESCRIPTION` and
//! `APKINDEX`, whose stanzas of `X:value` lines describe one package each.

use std::io::{BufReader, Read};

use data_encoding::BASE64;

use crate::apk::pkginfo::number;
use crate::apk::signature::{self, SignatureStatus};
use crate::apk::streams::{self, Tap};
use crate::apk::{AlpineVersion, ApkError, ApkPackage, Dependency, Keyring};

const FILE: &str = "APKINDEX";
/// The decompressed index tar's limit; Alpine's largest (community, `x86_64`) is ~10 MiB.
const INDEX_LIMIT: u64 = 256 << 20;
const SIGNATURE_LIMIT: u64 = 64 << 10;

/// One package of an index.
#[derive(Debug, Clone)]
pub struct IndexEntry {
    /// `C:`: the control stream's checksum (`Q1` + base64 sha1).
    pub checksum: String,
    /// `P:`
    pub name: String,
    /// `V:`
    pub version: AlpineVersion,
    /// `A:`
    pub arch: Option<String>,
    /// `S:`: the `.apk` file's size.
    pub size: Option<u64>,
    /// `I:`: the installed size.
    pub installed_size: Option<u64>,
    /// `T:`
    pub description: Option<String>,
    /// `U:`
    pub url: Option<String>,
    /// `L:`
    pub license: Option<String>,
    /// `o:`
    pub origin: Option<String>,
    /// `m:`
    pub maintainer: Option<String>,
    /// `t:`: build time, seconds since the epoch.
    pub build_time: Option<u64>,
    /// `c:`: the aports commit.
    pub commit: Option<String>,
    /// `D:`
    pub depends: Vec<Dependency>,
    /// `p:`
    pub provides: Vec<Dependency>,
    /// `i:`
    pub install_if: Vec<Dependency>,
}

impl IndexEntry {
    /// Checks that `package` is the one this entry names: its control stream has this
    /// entry's `C:` checksum (`Q1` sha1, or `Q2` sha256).
    pub fn check_package<R>(&self, package: &ApkPackage<R>) -> Result<(), ApkError> {
        let actual = if self.checksum.starts_with("Q2") {
            format!("Q2{}", BASE64.encode(&package.control_digests().sha256))
        } else {
            package.control_checksum()
        };
        if actual == self.checksum {
            Ok(())
        } else {
            Err(ApkError::IndexChecksum {
                expected: self.checksum.clone(),
                actual,
            })
        }
    }
}

/// A read index.
#[derive(Debug, Clone)]
pub struct ApkIndex {
    /// `DESCRIPTION` (for example `v3.20.3-110-g1234abcd`).
    pub description: Option<String>,
    /// The packages, in index order.
    pub packages: Vec<IndexEntry>,
    /// What the signature check found.
    pub signature: SignatureStatus,
}

impl ApkIndex {
    /// Reads an `APKINDEX.tar.gz` and checks its signature against `keyring`.
    pub fn read<R: Read>(input: R, keyring: &Keyring) -> Result<Self, ApkError> {
        let mut tap = Tap::new(BufReader::new(input));
        let mut tar = streams::read_member(&mut tap, "index", INDEX_LIMIT)?;
        let mut signatures = None;
        let mut members = streams::tar_members("index", &tar)?;
        if signature::is_signature_stream(&members) {
            if tar.len() as u64 > SIGNATURE_LIMIT {
                return Err(ApkError::TooLarge {
                    stream: "signature",
                    limit: SIGNATURE_LIMIT,
                });
            }
            signatures = Some(signature::parse(members)?);
            tar = streams::read_member(&mut tap, "index", INDEX_LIMIT)?;
            members = streams::tar_members("index", &tar)?;
        }
        let signature = signature::check(signatures.as_deref(), &tap.digests(), keyring, "index")?;
        if !tap.at_end("index")? {
            return Err(ApkError::UnexpectedEntry {
                stream: "index",
                name: "(bytes after the index stream)".to_owned(),
            });
        }
        let mut description = None;
        let mut packages = None;
        for member in members {
            let text = || {
                String::from_utf8(member.data.clone()).map_err(|_| ApkError::InvalidValue {
                    field: "index text",
                    value: member.name.clone(),
                })
            };
            match member.name.as_str() {
                "DESCRIPTION" => description = Some(text()?.trim_end().to_owned()),
                "APKINDEX" => packages = Some(parse_apkindex(&text()?)?),
                _ => {
                    return Err(ApkError::UnexpectedEntry {
                        stream: "index",
                        name: member.name,
                    });
                }
            }
        }
        Ok(Self {
            description,
            packages: packages.ok_or(ApkError::MissingField {
                file: "APKINDEX.tar.gz",
                field: "APKINDEX",
            })?,
            signature,
        })
    }

    /// The entries named `name`, in index order.
    pub fn find<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a IndexEntry> + 'a {
        self.packages.iter().filter(move |p| p.name == name)
    }
}

/// Parses the text of an `APKINDEX`: stanzas separated by blank lines. Unknown fields are
/// skipped, as apk skips them.
pub fn parse_apkindex(text: &str) -> Result<Vec<IndexEntry>, ApkError> {
    let mut entries = Vec::new();
    let mut stanza: Vec<(usize, &str)> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.is_empty() {
            if !stanza.is_empty() {
                entries.push(parse_stanza(&stanza)?);
                stanza.clear();
            }
        } else {
            stanza.push((index + 1, line));
        }
    }
    if !stanza.is_empty() {
        entries.push(parse_stanza(&stanza)?);
    }
    Ok(entries)
}

fn parse_stanza(lines: &[(usize, &str)]) -> Result<IndexEntry, ApkError> {
    let mut checksum = None;
    let mut name = None;
    let mut version = None;
    let mut entry = IndexEntry {
        checksum: String::new(),
        name: String::new(),
        version: AlpineVersion::parse("0")?,
        arch: None,
        size: None,
        installed_size: None,
        description: None,
        url: None,
        license: None,
        origin: None,
        maintainer: None,
        build_time: None,
        commit: None,
        depends: Vec::new(),
        provides: Vec::new(),
        install_if: Vec::new(),
    };
    for &(line, text) in lines {
        let mut chars = text.chars();
        let (Some(key), Some(':')) = (chars.next(), chars.next()) else {
            return Err(ApkError::Syntax {
                file: FILE,
                line,
                text: text.to_owned(),
            });
        };
        let value = chars.as_str();
        let owned = || Some(value.to_owned());
        match key {
            'C' => checksum = owned(),
            'P' => name = owned(),
            'V' => version = Some(AlpineVersion::parse(value)?),
            'A' => entry.arch = owned(),
            'S' => entry.size = Some(number("size", value)?),
            'I' => entry.installed_size = Some(number("installed size", value)?),
            'T' => entry.description = owned(),
            'U' => entry.url = owned(),
            'L' => entry.license = owned(),
            'o' => entry.origin = owned(),
            'm' => entry.maintainer = owned(),
            't' => entry.build_time = Some(number("build time", value)?),
            'c' => entry.commit = owned(),
            'D' => entry.depends = Dependency::parse_list(value)?,
            'p' => entry.provides = Dependency::parse_list(value)?,
            'i' => entry.install_if = Dependency::parse_list(value)?,
            _ => {}
        }
    }
    let missing = |field| ApkError::MissingField { file: FILE, field };
    entry.checksum = checksum.ok_or_else(|| missing("C"))?;
    entry.name = name.ok_or_else(|| missing("P"))?;
    entry.version = version.ok_or_else(|| missing("V"))?;
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stanzas() {
        let text = "C:Q1abcdefghijklmnopqrstuvwxyz0=\nP:musl\nV:1.2.5-r0\nA:x86_64\nS:411000\n\
            I:651264\nT:the musl c library\nU:https://musl.libc.org/\nL:MIT\no:musl\n\
            m:Someone <s@y.invalid>\nt:1700000000\nc:abc123\np:so:libc.musl-x86_64.so.1=1\n\n\
            C:Q2abc=\nP:busybox\nV:1.36.1-r15\nD:so:libc.musl-x86_64.so.1 !busybox-legacy\n\
            p:cmd:busybox=1.36.1-r15 cmd:sh=1.36.1-r15\ni:busybox openrc\nk:100\n";
        let entries = parse_apkindex(text).unwrap();
        assert_eq!(entries.len(), 2);
        let musl = &entries[0];
        assert_eq!(
            (
                musl.name.as_str(),
                musl.version.as_str(),
                musl.size,
                musl.installed_size
            ),
            ("musl", "1.2.5-r0", Some(411_000), Some(651_264))
        );
        assert_eq!(musl.build_time, Some(1_700_000_000));
        assert_eq!(musl.provides[0].name, "so:libc.musl-x86_64.so.1");
        let busybox = &entries[1];
        assert_eq!(busybox.depends.len(), 2);
        assert!(busybox.depends[1].conflict);
        assert_eq!(busybox.provides.len(), 2);
        assert_eq!(busybox.install_if.len(), 2);
    }

    #[test]
    fn bad_stanzas() {
        let err = parse_apkindex("P:x\nV:1\n").unwrap_err();
        assert_eq!(err.to_string(), "`APKINDEX` has no `C` field");
        let err = parse_apkindex("C:Q1x\nP:x\nV:1\nnonsense\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 4 of `APKINDEX` is malformed: `nonsense`"
        );
    }
}
