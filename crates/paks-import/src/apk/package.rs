//! Reading an `.apk` (v2) package: signature, control and data streams, verified.

use std::io::{self, BufReader, Read, Seek, SeekFrom};

use data_encoding::{BASE64, HEXLOWER};

use crate::apk::signature::{self, SignatureStatus};
use crate::apk::streams::{self, StreamDigests, Tap, io_error};
use crate::apk::{ApkError, Keyring, PkgInfo};

/// Size limits for the streams of a package, in decompressed bytes.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The signature stream (a few signatures of a few hundred bytes each).
    pub signature: u64,
    /// The control stream (`.PKGINFO` and scripts).
    pub control: u64,
    /// The data stream: the tar the caller reads; reading past it fails.
    pub data: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            signature: 64 << 10,
            control: 16 << 20,
            // Alpine's largest packages (toolchains, firmware) stay well under this.
            data: 16 << 30,
        }
    }
}

/// When a maintainer script of the control stream runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptKind {
    PreInstall,
    PostInstall,
    PreUpgrade,
    PostUpgrade,
    PreDeinstall,
    PostDeinstall,
    /// Runs when files change under the package's `triggers` directories.
    Trigger,
}

impl ScriptKind {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            ".pre-install" => Self::PreInstall,
            ".post-install" => Self::PostInstall,
            ".pre-upgrade" => Self::PreUpgrade,
            ".post-upgrade" => Self::PostUpgrade,
            ".pre-deinstall" => Self::PreDeinstall,
            ".post-deinstall" => Self::PostDeinstall,
            ".trigger" => Self::Trigger,
            _ => return None,
        })
    }
}

/// A maintainer script, kept as bytes (paks does not run them; an importer reports them).
#[derive(Debug, Clone)]
pub struct Script {
    pub kind: ScriptKind,
    pub body: Vec<u8>,
}

/// An opened `.apk` whose control stream is read and whose data stream's `datahash` is
/// verified; the data tar is then read with [`ApkPackage::into_data`].
#[derive(Debug)]
pub struct ApkPackage<R> {
    /// The parsed `.PKGINFO`.
    pub pkginfo: PkgInfo,
    /// The maintainer scripts, in stream order.
    pub scripts: Vec<Script>,
    /// What the signature check found; see [`SignatureStatus::require_trusted`].
    pub signature: SignatureStatus,
    control: StreamDigests,
    input: R,
    data_offset: u64,
    data_limit: u64,
}

impl<R: Read + Seek> ApkPackage<R> {
    /// Opens the package in `input` (read from its current position) with default limits.
    pub fn open(input: R, keyring: &Keyring) -> Result<Self, ApkError> {
        Self::open_with_limits(input, keyring, Limits::default())
    }

    /// Reads the signature and control streams, checks the signature against `keyring`,
    /// then reads the whole data stream once to check its sha256 against `datahash`.
    pub fn open_with_limits(
        mut input: R,
        keyring: &Keyring,
        limits: Limits,
    ) -> Result<Self, ApkError> {
        let start = input
            .stream_position()
            .map_err(|e| io_error("package", e))?;
        let mut tap = Tap::new(BufReader::new(&mut input));
        if tap.at_end("package")? {
            return Err(ApkError::MissingPkgInfo);
        }
        // The first stream is the signature stream if its first file is a signature.
        // Its kind is known only once inflated, so it may inflate to the larger limit; one
        // that exceeds even that is reported as a control stream, which it claims to be
        // far more often than a signature stream of a few hundred bytes.
        let first = streams::read_member(&mut tap, "control", limits.control.max(limits.signature))
            .map_err(|err| match err {
                ApkError::TooLarge { .. } => ApkError::TooLarge {
                    stream: "control",
                    limit: limits.control,
                },
                err => err,
            })?;
        let mut members = streams::tar_members("control", &first)?;
        let mut signatures = None;
        if signature::is_signature_stream(&members) {
            if first.len() as u64 > limits.signature {
                return Err(ApkError::TooLarge {
                    stream: "signature",
                    limit: limits.signature,
                });
            }
            signatures = Some(signature::parse(members)?);
            if tap.at_end("package")? {
                return Err(ApkError::MissingPkgInfo);
            }
            let control = streams::read_member(&mut tap, "control", limits.control)?;
            members = streams::tar_members("control", &control)?;
        } else if first.len() as u64 > limits.control {
            return Err(ApkError::TooLarge {
                stream: "control",
                limit: limits.control,
            });
        }
        let control = tap.digests();
        let signature = signature::check(signatures.as_deref(), &control, keyring, "control")?;

        let mut pkginfo = None;
        let mut scripts = Vec::new();
        for member in members {
            if member.name == ".PKGINFO" {
                let text = String::from_utf8(member.data).map_err(|_| ApkError::InvalidValue {
                    field: ".PKGINFO text",
                    value: "(not UTF-8)".to_owned(),
                })?;
                pkginfo = Some(PkgInfo::parse(&text)?);
            } else if let Some(kind) = ScriptKind::from_name(&member.name) {
                scripts.push(Script {
                    kind,
                    body: member.data,
                });
            } else if !member.name.starts_with('.')
                || member.name.contains('/')
                || member.name.starts_with(".SIGN.")
            {
                // Control files are dot-files at the top; anything else means the
                // streams are not what they claim.
                return Err(ApkError::UnexpectedEntry {
                    stream: "control",
                    name: member.name,
                });
            }
            // Other dot-files are skipped, as apk skips them.
        }
        let pkginfo = pkginfo.ok_or(ApkError::MissingPkgInfo)?;
        let expected = pkginfo.datahash.clone().ok_or(ApkError::MissingField {
            file: ".PKGINFO",
            field: "datahash",
        })?;

        let data_offset = start + tap.count();
        if tap.at_end("package")? {
            return Err(ApkError::MissingData);
        }
        tap.restart();
        io::copy(&mut tap, &mut io::sink()).map_err(|e| io_error("package data stream", e))?;
        let actual = HEXLOWER.encode(&tap.digests().sha256);
        if actual != expected {
            return Err(ApkError::DataHash { expected, actual });
        }
        drop(tap);
        input
            .seek(SeekFrom::Start(data_offset))
            .map_err(|e| io_error("package", e))?;
        Ok(Self {
            pkginfo,
            scripts,
            signature,
            control,
            input,
            data_offset,
            data_limit: limits.data,
        })
    }

    /// The data stream, decompressed: a tar of the package's files (each with a PAX
    /// `APK-TOOLS.checksum.SHA1` record), handed over as it is, hostile entries included,
    /// for a hardened extractor. Reading more than [`Limits::data`] bytes fails.
    pub fn into_data(self) -> DataReader<R> {
        DataReader {
            decoder: flate2::bufread::MultiGzDecoder::new(BufReader::new(self.input)),
            read: 0,
            limit: self.data_limit,
        }
    }
}

impl<R> ApkPackage<R> {
    /// The control stream's checksum as an `APKINDEX` `C:` line writes it:
    /// `Q1` and the base64 of the sha1 of the control stream's gzip bytes.
    pub fn control_checksum(&self) -> String {
        format!("Q1{}", BASE64.encode(&self.control.sha1))
    }

    /// The digests of the control stream's gzip bytes.
    pub fn control_digests(&self) -> &StreamDigests {
        &self.control
    }

    /// Where the data stream starts in the input.
    pub fn data_offset(&self) -> u64 {
        self.data_offset
    }
}

/// The decompressed data tar of a package, bounded by [`Limits::data`].
pub struct DataReader<R> {
    decoder: flate2::bufread::MultiGzDecoder<BufReader<R>>,
    read: u64,
    limit: u64,
}

impl<R: Read> Read for DataReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.decoder.read(buf)?;
        self.read += n as u64;
        if self.read > self.limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the data stream is larger than the limit of {} bytes",
                    self.limit
                ),
            ));
        }
        Ok(n)
    }
}
