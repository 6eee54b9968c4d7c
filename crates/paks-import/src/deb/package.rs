//! A `.deb` file read as one stream: `debian-binary`, the control tarball (parsed here),
//! then the data tarball, handed to the caller as a decompressed reader, and the sha256 of
//! the whole file (deb(5)).
//!
//! Nothing is buffered beyond the control tarball's files, which are bounded by
//! [`Limits`]; the data tarball streams. A data tarball becomes a rootfs layer by giving
//! [`DebReader::data`] to `paks_archive`'s hardened extraction (or layer writer).

use std::io::{self, Read};

use paks_types::{Digest, HashingReader};

use super::ar::{self, MemberHeader};
use super::control::BinaryControl;
use crate::ImportError;

/// The maintainer scripts whose presence is reported.
pub const SCRIPTS: [&str; 6] = [
    "preinst", "postinst", "prerm", "postrm", "config", "triggers",
];

/// Bounds on what one `.deb` may make the reader do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The control tarball member, compressed.
    pub max_control_member: u64,
    /// The control tarball, decompressed (all of it is read).
    pub max_control_unpacked: u64,
    /// The data tarball member, compressed (its decompressed size is the extractor's to
    /// bound).
    pub max_data_member: u64,
}

impl Default for Limits {
    /// Generous for real packages: the largest control tarballs in Debian are a few MiB
    /// (long `md5sums`), the largest data tarballs a few GiB.
    fn default() -> Self {
        Self {
            max_control_member: 16 << 20,
            max_control_unpacked: 64 << 20,
            max_data_member: 16 << 30,
        }
    }
}

/// How a member is compressed, from its name's suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// `.tar`.
    None,
    /// `.tar.gz`.
    Gzip,
    /// `.tar.xz`.
    Xz,
    /// `.tar.zst`.
    Zstd,
}

impl Compression {
    fn of(member: &str, stem: &str) -> Option<Self> {
        match member.strip_prefix(stem)? {
            "" => Some(Self::None),
            ".gz" => Some(Self::Gzip),
            ".xz" => Some(Self::Xz),
            ".zst" => Some(Self::Zstd),
            _ => None,
        }
    }

    fn decoder<'a>(self, r: impl Read + 'a) -> io::Result<Box<dyn Read + 'a>> {
        Ok(match self {
            Self::None => Box::new(r),
            Self::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
            Self::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(r)),
            Self::Zstd => Box::new(zstd::stream::read::Decoder::new(r)?),
        })
    }
}

/// What the control tarball holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebControl {
    /// The `control` file, typed.
    pub control: BinaryControl,
    /// `md5sums`: (path as written, lowercase hex md5), in file order.
    pub md5sums: Vec<(String, String)>,
    /// `conffiles`: one entry per line as written (absolute paths, maybe with flags such
    /// as `remove-on-upgrade` in front).
    pub conffiles: Vec<String>,
    /// The maintainer scripts present, from [`SCRIPTS`], in [`SCRIPTS`] order.
    pub scripts: Vec<String>,
    /// The `postinst` script's text, when it has one and it is UTF-8: what an importer
    /// reads to learn what the script would have set up (`update-alternatives`).
    pub postinst: Option<String>,
    /// The control member's compression.
    pub compression: Compression,
}

/// A `.deb` being read; see the module docs.
pub struct DebReader<R: Read> {
    src: HashingReader<R>,
    control: DebControl,
    data: MemberHeader,
    data_compression: Compression,
    /// Bytes of the input read when the data member's contents start.
    data_start: u64,
}

impl<R: Read> DebReader<R> {
    /// Reads `debian-binary` and the control tarball, and stops at the data tarball.
    pub fn open(input: R, limits: &Limits) -> Result<Self, ImportError> {
        let mut src = HashingReader::new(input);
        ar::read_magic(&mut src)?;
        let first = next_member(&mut src, "debian-binary")?;
        if first.name != "debian-binary" {
            return Err(deb_error(
                &first.name,
                "the first member must be `debian-binary`",
            ));
        }
        if first.size > 64 {
            return Err(deb_error(
                "debian-binary",
                format!("{} bytes long", first.size),
            ));
        }
        let mut version = vec![0; usize::try_from(first.size).expect("at most 64")];
        ar::read_exact_or(&mut src, &mut version, "debian-binary", "truncated")?;
        ar::skip_padding(&mut src, &first)?;
        if version != b"2.0\n" {
            return Err(deb_error(
                "debian-binary",
                format!(
                    "format version `{}`, only `2.0` is known",
                    version.escape_ascii()
                ),
            ));
        }
        let header = next_member(&mut src, "control.tar")?;
        let compression = tarball(&header, "control.tar", limits.max_control_member)?;
        let control = read_control(&mut src, &header, compression, limits)?;
        ar::skip_padding(&mut src, &header)?;
        let data = loop {
            let h = next_member(&mut src, "data.tar")?;
            // deb(5): members starting with `_` may be added; readers skip them.
            if h.name.starts_with('_') {
                skip(&mut src, &h)?;
                continue;
            }
            break h;
        };
        let data_compression = tarball(&data, "data.tar", limits.max_data_member)?;
        Ok(Self {
            data_start: src.len(),
            src,
            control,
            data,
            data_compression,
        })
    }

    /// The control tarball's contents.
    pub fn control(&self) -> &DebControl {
        &self.control
    }

    /// The data member's name (`data.tar.xz`, ...) and compression.
    pub fn data_member(&self) -> (&str, Compression) {
        (&self.data.name, self.data_compression)
    }

    /// The data tarball, decompressed. Read it (or not) and then call
    /// [`DebReader::finish`]; call this once.
    pub fn data(&mut self) -> Result<Box<dyn Read + '_>, ImportError> {
        let remaining = (self.data_start + self.data.size).saturating_sub(self.src.len());
        let name = self.data.name.clone();
        self.data_compression
            .decoder(Exact {
                inner: &mut self.src,
                left: remaining,
                member: self.data.name.clone(),
            })
            .map_err(|source| ImportError::Member {
                member: name,
                source,
            })
    }

    /// Reads the rest of the file (the data member's unread bytes, and any members after
    /// it, which deb(5) says to ignore) and returns the sha256 and size of the whole file.
    pub fn finish(mut self) -> Result<(Digest, u64), ImportError> {
        let end = self.data_start + self.data.size;
        let remaining = end.saturating_sub(self.src.len());
        let copied = io::copy(&mut (&mut self.src).take(remaining), &mut io::sink())
            .map_err(|e| ImportError::io("the .deb", e))?;
        if copied < remaining {
            return Err(deb_error(
                &self.data.name,
                format!("the input ends {} bytes early", remaining - copied),
            ));
        }
        ar::skip_padding(&mut self.src, &self.data)?;
        while let Some(h) = ar::next_header(&mut self.src)? {
            skip(&mut self.src, &h)?;
        }
        let (digest, size, _) = self.src.finish();
        Ok((digest, size))
    }
}

fn deb_error(member: &str, reason: impl Into<String>) -> ImportError {
    ImportError::Deb {
        member: member.to_owned(),
        reason: reason.into(),
    }
}

/// The compression of a tarball member named `stem[.gz|.xz|.zst]`, within `limit` bytes.
fn tarball(header: &MemberHeader, stem: &str, limit: u64) -> Result<Compression, ImportError> {
    let compression = Compression::of(&header.name, stem).ok_or_else(|| {
        deb_error(
            &header.name,
            format!("expected `{stem}`, `{stem}.gz`, `{stem}.xz` or `{stem}.zst` here"),
        )
    })?;
    if header.size > limit {
        return Err(ImportError::TooLarge {
            what: header.name.clone(),
            limit,
        });
    }
    Ok(compression)
}

fn next_member(r: &mut impl Read, expected: &str) -> Result<MemberHeader, ImportError> {
    ar::next_header(r)?.ok_or_else(|| deb_error(expected, "missing: the archive ends before it"))
}

fn skip(r: &mut impl Read, h: &MemberHeader) -> Result<(), ImportError> {
    let copied = io::copy(&mut r.take(h.size), &mut io::sink())
        .map_err(|e| ImportError::io("the .deb", e))?;
    if copied < h.size {
        return Err(deb_error(&h.name, "truncated"));
    }
    ar::skip_padding(r, h)
}

/// A member's bytes: `left` of them, and an error (naming the member) if the input ends
/// first, so a truncated file is reported as such, not as a corrupt stream.
struct Exact<R> {
    inner: R,
    left: u64,
    member: String,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let max = usize::try_from(self.left)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the .deb ends {} bytes before the end of member `{}`",
                    self.left, self.member
                ),
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Fails a read once more than `left` bytes came through.
struct Bounded<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left = self
            .left
            .checked_sub(n as u64)
            .ok_or_else(|| io::Error::other("it unpacks to more than the limit"))?;
        Ok(n)
    }
}

fn read_control<R: Read>(
    src: &mut HashingReader<R>,
    header: &MemberHeader,
    compression: Compression,
    limits: &Limits,
) -> Result<DebControl, ImportError> {
    let member_err = |source| ImportError::Member {
        member: header.name.clone(),
        source,
    };
    let mut member = Exact {
        inner: src,
        left: header.size,
        member: header.name.clone(),
    };
    let mut control_text = None;
    let mut md5sums = None;
    let mut conffiles = None;
    let mut scripts = Vec::new();
    let mut postinst = None;
    {
        let decoder = compression.decoder(&mut member).map_err(member_err)?;
        let mut archive = tar::Archive::new(Bounded {
            inner: decoder,
            left: limits.max_control_unpacked,
        });
        for entry in archive.entries().map_err(member_err)? {
            let mut entry = entry.map_err(member_err)?;
            if entry.header().entry_type() != tar::EntryType::Regular {
                continue;
            }
            let path = entry
                .path()
                .map_err(member_err)?
                .to_string_lossy()
                .into_owned();
            let name = path.strip_prefix("./").unwrap_or(&path).to_owned();
            let slot = match name.as_str() {
                "control" => &mut control_text,
                "md5sums" => &mut md5sums,
                "conffiles" => &mut conffiles,
                "postinst" => {
                    scripts.push(name);
                    let mut bytes = Vec::new();
                    entry
                        .read_to_end(&mut bytes)
                        .map_err(|source| ImportError::Member {
                            member: format!("{}/postinst", header.name),
                            source,
                        })?;
                    postinst = String::from_utf8(bytes).ok();
                    continue;
                }
                n if SCRIPTS.contains(&n) => {
                    scripts.push(name);
                    continue;
                }
                _ => continue,
            };
            // Two copies would let two readers see two different packages.
            if slot.is_some() {
                return Err(deb_error(&header.name, format!("it holds `{name}` twice")));
            }
            let mut text = String::new();
            entry
                .read_to_string(&mut text)
                .map_err(|source| ImportError::Member {
                    member: format!("{}/{name}", header.name),
                    source,
                })?;
            *slot = Some(text);
        }
        // Read to the end: what the tar parser left (end blocks, padding) must still be
        // decodable, so a corrupt tail is noticed here rather than ignored.
        io::copy(&mut archive.into_inner(), &mut io::sink()).map_err(member_err)?;
    }
    if member.left > 0 {
        return Err(deb_error(
            &header.name,
            format!(
                "the compressed tarball ends {} bytes before the declared member size",
                member.left
            ),
        ));
    }
    let Some(control_text) = control_text else {
        return Err(deb_error(&header.name, "it holds no `control` file"));
    };
    scripts.sort_by_key(|s| SCRIPTS.iter().position(|k| k == s));
    Ok(DebControl {
        control: BinaryControl::parse(&control_text)?,
        md5sums: parse_md5sums(md5sums.as_deref().unwrap_or(""))?,
        conffiles: conffiles
            .unwrap_or_default()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
        scripts,
        postinst,
        compression,
    })
}

/// `md5sums`: lines of 32 hex digits, two spaces (or a space and `*`), and a path.
fn parse_md5sums(text: &str) -> Result<Vec<(String, String)>, ImportError> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let (md5, path) = line
                .split_once(' ')
                .map(|(m, p)| (m, p.strip_prefix([' ', '*']).unwrap_or(p)))
                .filter(|(m, p)| {
                    m.len() == 32 && m.bytes().all(|b| b.is_ascii_hexdigit()) && !p.is_empty()
                })
                .ok_or_else(|| {
                    ImportError::field(
                        "md5sums",
                        line.escape_debug().to_string(),
                        "not `<md5>  <path>`",
                    )
                })?;
            Ok((path.to_owned(), md5.to_ascii_lowercase()))
        })
        .collect()
}
