//! `.deb` files into a cache directory: `apt-get download --print-uris` says which file and
//! which sha256 each package is, a cached file with that sha256 is used as it is, and the
//! others are fetched by one `apt-get download` in a private directory, checked and renamed
//! in. Two runs may fetch the same package at once: each writes only its own directory,
//! and the cache only ever holds whole, checked files.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use paks_types::{Digest, HashingReader};

use super::{Apt, AptError, AptPackage, FetchedDeb};

/// Fetches made by this process, to name their private directories apart.
static FETCHES: AtomicU64 = AtomicU64::new(0);

/// One line of `--print-uris`: the file apt would write, its size and sha256.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Listed {
    file: String,
    size: u64,
    sha256: Digest,
}

impl Apt {
    /// The `.deb` of each of `packages` in `cache` (created if needed), downloading the
    /// ones it lacks; in the order of `packages`.
    pub fn download(
        &self,
        packages: &[AptPackage],
        cache: &Path,
    ) -> Result<Vec<FetchedDeb>, AptError> {
        let io_err = |what, path: &Path| {
            let path = path.to_owned();
            move |source| AptError::Io { what, path, source }
        };
        fs::create_dir_all(cache).map_err(io_err("create", cache))?;
        let listed = self.list(packages)?;
        let mut fetched = Vec::with_capacity(packages.len());
        let mut missing = Vec::new();
        for (package, entry) in packages.iter().zip(&listed) {
            let path = cache.join(&entry.file);
            let cached = match hash_file(&path) {
                Ok(found) => found == (entry.sha256.clone(), entry.size),
                Err(e) if e.kind() == io::ErrorKind::NotFound => false,
                Err(e) => return Err(io_err("read", &path)(e)),
            };
            if !cached {
                missing.push(package);
            }
            fetched.push(FetchedDeb {
                package: package.clone(),
                path,
                sha256: entry.sha256.clone(),
                size: entry.size,
                cached,
            });
        }
        if !missing.is_empty() {
            let private = cache.join(format!(
                ".fetch-{}-{}",
                std::process::id(),
                FETCHES.fetch_add(1, Ordering::Relaxed)
            ));
            fs::create_dir_all(&private).map_err(io_err("create", &private))?;
            let result = self.fetch_into(&missing, &private, &fetched, cache);
            // Whatever apt left there (partial files) is of no use to anyone.
            let _ = fs::remove_dir_all(&private);
            result?;
        }
        Ok(fetched)
    }

    /// Downloads `missing` into `private`, checks each file against `fetched`'s entry and
    /// renames it into `cache`.
    fn fetch_into(
        &self,
        missing: &[&AptPackage],
        private: &Path,
        fetched: &[FetchedDeb],
        cache: &Path,
    ) -> Result<(), AptError> {
        let mut command = self.command();
        command
            .args(["download", "-q"])
            .args(missing.iter().map(|p| p.spec()))
            .current_dir(private);
        self.run(command, "download", missing)?;
        for deb in fetched.iter().filter(|f| !f.cached) {
            let file = deb.path.file_name().expect("a file name from --print-uris");
            let downloaded = private.join(file);
            let (sha256, size) = hash_file(&downloaded).map_err(|source| AptError::Io {
                what: "read",
                path: downloaded.clone(),
                source,
            })?;
            if (&sha256, size) != (&deb.sha256, deb.size) {
                return Err(AptError::Digest {
                    file: file.to_string_lossy().into_owned(),
                    expected: deb.sha256.clone(),
                    expected_size: deb.size,
                    actual: sha256,
                    actual_size: size,
                });
            }
            // apt does not sync what it downloads; the cache must hold whole files only.
            fs::File::open(&downloaded)
                .and_then(|f| f.sync_all())
                .map_err(|source| AptError::Io {
                    what: "sync",
                    path: downloaded.clone(),
                    source,
                })?;
            fs::rename(&downloaded, &deb.path).map_err(|source| AptError::Io {
                what: "move into the cache",
                path: deb.path.clone(),
                source,
            })?;
        }
        paks_types::fs::fsync_dir(cache).map_err(|source| AptError::Io {
            what: "sync",
            path: cache.to_owned(),
            source,
        })
    }

    /// What `apt-get download --print-uris` lists for `packages`, in their order.
    fn list(&self, packages: &[AptPackage]) -> Result<Vec<Listed>, AptError> {
        let mut command = self.command();
        command
            .args(["download", "--print-uris"])
            .args(packages.iter().map(AptPackage::spec));
        let stdout = self.run(command, "download", packages)?;
        match_listing(packages, &stdout)
    }
}

/// Each package's line of a `--print-uris` listing (which apt prints in its own order),
/// found by the file name apt gives it: `NAME_VERSION_ARCH.deb`, the version with `%xx`
/// escapes (`1%3a2.39`).
fn match_listing(packages: &[AptPackage], stdout: &str) -> Result<Vec<Listed>, AptError> {
    let bad = |line: &str, reason: String| AptError::Output {
        command: "download --print-uris",
        line: line.to_owned(),
        reason,
    };
    let mut by_key: HashMap<(String, String, String), Listed> = HashMap::new();
    for line in stdout.lines().filter(|l| !l.is_empty()) {
        let listed = parse_uri_line(line).map_err(|r| bad(line, r))?;
        let key = file_key(&listed.file).ok_or_else(|| {
            bad(
                line,
                format!("`{}` is not `NAME_VERSION_ARCH.deb`", listed.file),
            )
        })?;
        by_key.insert(key, listed);
    }
    packages
        .iter()
        .map(|p| {
            let key = (p.name.clone(), p.version.clone(), p.architecture.clone());
            by_key
                .get(&key)
                .cloned()
                .ok_or_else(|| bad(stdout.trim(), format!("no file listed for `{p}`")))
        })
        .collect()
}

/// `'URI' FILE SIZE SHA256:HEX`.
fn parse_uri_line(line: &str) -> Result<Listed, String> {
    let rest = line.strip_prefix('\'').ok_or("expected `'URI'`")?;
    let (_uri, rest) = rest.split_once("' ").ok_or("expected `'URI' `")?;
    let fields: Vec<&str> = rest.split(' ').collect();
    let [file, size, hash] = fields[..] else {
        return Err("expected `FILE SIZE SHA256:HEX` after the URI".to_owned());
    };
    // The `.deb` suffix is checked with the rest of the name, by `file_key`.
    if file.starts_with('.') || file.contains('/') {
        return Err(format!("`{file}` is not a plain file name"));
    }
    let size = size
        .parse()
        .map_err(|_| format!("`{size}` is not a size"))?;
    let hex = hash
        .strip_prefix("SHA256:")
        .ok_or_else(|| format!("`{hash}` is not a sha256 (the archive lists none)"))?;
    let sha256 = format!("sha256:{hex}")
        .parse()
        .map_err(|e: paks_types::TypeError| e.to_string())?;
    Ok(Listed {
        file: file.to_owned(),
        size,
        sha256,
    })
}

/// (name, version, architecture) of `NAME_VERSION_ARCH.deb`, the version unescaped.
fn file_key(file: &str) -> Option<(String, String, String)> {
    let stem = file.strip_suffix(".deb")?;
    let mut parts = stem.split('_');
    let (name, version, arch) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    Some((name.to_owned(), unescape(version)?, arch.to_owned()))
}

/// `%xx` escapes decoded (apt escapes `:` as `%3a`).
fn unescape(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

fn hash_file(path: &Path) -> io::Result<(Digest, u64)> {
    let mut reader = HashingReader::new(fs::File::open(path)?);
    io::copy(&mut reader, &mut io::sink())?;
    let (digest, size, _) = reader.finish();
    Ok((digest, size))
}

/// Where [`Apt::download`] keeps `.deb` files in a paks cache directory.
pub fn cache_dir(cache: &Path) -> PathBuf {
    cache.join("debs")
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTING: &str = "\
'http://deb.debian.org/debian/pool/main/g/git/git_2.39.5-0%2bdeb12u3_amd64.deb' git_1%3a2.39.5-0+deb12u3_amd64.deb 7264380 SHA256:637a85ddd6247fab13bdd0592f2f39aff04ce4dbf0655d3ab553ac359a38ce6f
'http://deb.debian.org/debian/pool/main/h/hello/hello_2.10-3_amd64.deb' hello_2.10-3_amd64.deb 53080 SHA256:2e6e2f1a0007dc43bc91c273fd36e91e40a4f1c2765a03eca68b70a42103878a
";

    fn package(name: &str, version: &str) -> AptPackage {
        AptPackage {
            name: name.to_owned(),
            version: version.to_owned(),
            architecture: "amd64".to_owned(),
            foreign: false,
        }
    }

    #[test]
    fn matches_lines_to_packages_by_file_name() {
        let packages = [
            package("hello", "2.10-3"),
            package("git", "1:2.39.5-0+deb12u3"),
        ];
        let listed = match_listing(&packages, LISTING).unwrap();
        assert_eq!(listed[0].file, "hello_2.10-3_amd64.deb");
        assert_eq!(listed[0].size, 53080);
        assert_eq!(listed[1].file, "git_1%3a2.39.5-0+deb12u3_amd64.deb");
        assert!(listed[1].sha256.hex().starts_with("637a85dd"));
        let e = match_listing(&[package("hello", "2.10-4")], LISTING).unwrap_err();
        assert!(
            e.to_string().contains("no file listed for `hello=2.10-4`"),
            "{e}"
        );
    }

    #[test]
    fn refuses_odd_listings() {
        for (line, why) in [
            ("'u' ../x_1_amd64.deb 1 SHA256:00", "plain"),
            ("'u' .x_1_amd64.deb 1 SHA256:00", "plain"),
            ("'u' x_1_amd64.deb 1 MD5Sum:00", "not a sha256"),
            ("'u' x_1_amd64.deb 1 SHA256:00", "hex"),
            ("'u' x_1_amd64.deb one SHA256:00", "not a size"),
            ("'u' x_1_amd64.deb 1", "expected `FILE SIZE"),
            ("u x_1_amd64.deb 1 SHA256:00", "expected `'URI'`"),
            (
                "'u' x_1.deb 1 SHA256:2e6e2f1a0007dc43bc91c273fd36e91e40a4f1c2765a03eca68b70a42103878a",
                "NAME_VERSION_ARCH",
            ),
        ] {
            let e = match_listing(&[], line).unwrap_err().to_string();
            assert!(e.contains(why), "{line}: {e}");
        }
    }
}
