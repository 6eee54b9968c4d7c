//! URL source downloads, bounded: a server that sends forever is cut off at the source's
//! declared `size` (or the default limit) before the disk fills, a server that stops
//! sending is given up after a stall timeout, and a download killed half-way leaves a
//! temporary that the next fetch (or `paks gc`) removes.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use paks_types::{Digest, HashingWriter};

use crate::BuildError;

use paks_types::temp::{SOURCE_DOWNLOAD as DOWNLOAD_TAG, STAGING as STAGING_TAG};

/// How far a URL source download may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceLimits {
    /// The most bytes a source without a declared `size` may have.
    pub max_size: u64,
    /// How long a download may go without receiving a byte (also the connect and
    /// response-head timeouts).
    pub stall: Duration,
}

impl Default for SourceLimits {
    /// 4 GiB (larger than any common upstream tarball; a larger one declares its `size`)
    /// and 60 s.
    fn default() -> Self {
        Self {
            max_size: 4 << 30,
            stall: Duration::from_mins(1),
        }
    }
}

/// Remove what killed downloads left in the source cache `dir`; returns the bytes freed.
pub fn remove_leftovers(dir: &Path) -> Result<u64, BuildError> {
    // A download temporary is locked from the moment it has its name: unlocked is dead.
    let mut removed = paks_types::temp::remove_unlocked(dir, &[DOWNLOAD_TAG], Duration::ZERO)?;
    removed.extend(paks_types::temp::remove_unlocked(
        dir,
        &[STAGING_TAG],
        Duration::from_mins(1),
    )?);
    Ok(removed.iter().map(|(_, size)| size).sum())
}

/// Download `url` into the source cache (by digest), verifying it; a cached copy is reused.
pub fn fetch_url(
    url: &str,
    expected: &Digest,
    declared: Option<u64>,
    cache: &Path,
    limits: &SourceLimits,
) -> Result<PathBuf, BuildError> {
    fs_err::create_dir_all(cache)?;
    let target = cache.join(expected.hex());
    if target.is_file() {
        return Ok(target);
    }
    remove_leftovers(cache)?;
    let (reader, limit) = open_limited(url, declared, limits)?;
    let (file, tmp) =
        paks_types::temp::create_locked(&target, DOWNLOAD_TAG).map_err(|e| io_at(&e, &target))?;
    let result = (|| {
        let mut w = HashingWriter::new(file);
        let got = copy_limited(reader, &mut w, &limit, limits.stall)?;
        if let Some(size) = declared
            && got != size
        {
            return Err(BuildError::SourceSize {
                url: url.to_owned(),
                declared: size,
                actual: got,
            });
        }
        let (actual, _, mut file) = w.finish();
        file.flush()?;
        file.sync_all()?;
        if actual != *expected {
            return Err(BuildError::Checksum {
                what: url.to_owned(),
                expected: expected.to_string(),
                actual: actual.to_string(),
            });
        }
        fs_err::rename(&tmp, &target)?;
        Ok(target.clone())
    })();
    if result.is_err() {
        let _ = fs_err::remove_file(&tmp);
    }
    result
}

/// The digest and length of `url`'s body, hashed as it streams and kept nowhere: what a
/// recipe bump needs to pin a new release. Bounded as a build's download is (`limits`,
/// or `declared` bytes when given).
pub fn digest_url(
    url: &str,
    declared: Option<u64>,
    limits: &SourceLimits,
) -> Result<(Digest, u64), BuildError> {
    let (reader, limit) = open_limited(url, declared, limits)?;
    let mut w = HashingWriter::new(std::io::sink());
    let got = copy_limited(reader, &mut w, &limit, limits.stall)?;
    let (digest, _, _) = w.finish();
    Ok((digest, got))
}

/// The body of `url` and its bound; refused at once when the server announces more.
fn open_limited<'a>(
    url: &'a str,
    declared: Option<u64>,
    limits: &SourceLimits,
) -> Result<(Box<dyn Read>, Limit<'a>), BuildError> {
    let limit = Limit {
        url,
        bytes: declared.unwrap_or(limits.max_size),
        declared: declared.is_some(),
    };
    let (reader, announced) = open(url, limits.stall)?;
    if let Some(n) = announced
        && n > limit.bytes
    {
        return Err(limit.exceeded());
    }
    Ok((reader, limit))
}

/// An IO error naming the file it happened beside (as `fs-err` does for its own calls).
fn io_at(e: &std::io::Error, path: &Path) -> BuildError {
    std::io::Error::new(
        e.kind(),
        format!(
            "failed to create a temporary file beside `{}`: {e}",
            path.display()
        ),
    )
    .into()
}

/// The bound of one download.
struct Limit<'a> {
    url: &'a str,
    bytes: u64,
    declared: bool,
}

impl Limit<'_> {
    fn exceeded(&self) -> BuildError {
        BuildError::SourceTooLarge {
            url: self.url.to_owned(),
            limit: self.bytes,
            declared: self.declared,
        }
    }
}

/// The body of `url` and the length it announces, if any.
fn open(url: &str, stall: Duration) -> Result<(Box<dyn Read>, Option<u64>), BuildError> {
    if let Some(path) = url.strip_prefix("file://") {
        let file = fs_err::File::open(path)?;
        let len = file.metadata()?.len();
        return Ok((Box::new(file), Some(len)));
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(stall))
        .timeout_send_request(Some(stall))
        .timeout_recv_response(Some(stall))
        .timeout_per_read(Some(stall))
        .build()
        .into();
    let response = agent
        .get(url)
        .call()
        .map_err(|e| download_error(url, e, stall))?;
    let announced = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    Ok((Box::new(response.into_body().into_reader()), announced))
}

fn download_error(url: &str, e: ureq::Error, stall: Duration) -> BuildError {
    let timed_out = match &e {
        ureq::Error::Timeout(_) => true,
        ureq::Error::Io(io) => io.kind() == std::io::ErrorKind::TimedOut,
        _ => false,
    };
    match e {
        _ if timed_out => BuildError::SourceStalled {
            url: url.to_owned(),
            after: stall,
        },
        e => BuildError::Download {
            url: url.to_owned(),
            source: Box::new(e),
        },
    }
}

/// Copy `reader` into `w`, refusing more than the limit; returns the bytes copied.
fn copy_limited(
    mut reader: Box<dyn Read>,
    w: &mut impl Write,
    limit: &Limit<'_>,
    stall: Duration,
) -> Result<u64, BuildError> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(download_error(limit.url, ureq::Error::from(e), stall)),
        };
        total += n as u64;
        if total > limit.bytes {
            return Err(limit.exceeded());
        }
        w.write_all(&buf[..n])?;
    }
}
