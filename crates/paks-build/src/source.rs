//! Where recipes and their sources come from, and how their bytes enter the build.

use std::path::{Path, PathBuf};
use std::process::Command;

use paks_recipe::{Source, SourceKind};
use paks_types::{Digest, HashingWriter, Sha256Hasher};

use crate::BuildError;
use crate::fetch::{SourceLimits, fetch_url};

/// What `paks build` was pointed at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipeLocation {
    /// A directory holding `paks.toml`.
    Dir(PathBuf),
    /// `git+<url>#<rev>`: a repository holding `paks.toml` at its top.
    Git { url: String, rev: Option<String> },
}

impl RecipeLocation {
    pub fn parse(arg: &str) -> Self {
        match arg.strip_prefix("git+") {
            Some(rest) => match rest.split_once('#') {
                Some((url, rev)) => Self::Git {
                    url: url.to_owned(),
                    rev: Some(rev.to_owned()),
                },
                None => Self::Git {
                    url: rest.to_owned(),
                    rev: None,
                },
            },
            None => Self::Dir(PathBuf::from(arg)),
        }
    }
}

fn git(args: &[&str], cwd: Option<&Path>, url: &str) -> Result<String, BuildError> {
    let mut cmd = Command::new("git");
    cmd.args(args).env("GIT_TERMINAL_PROMPT", "0");
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    let out = cmd.output()?;
    if !out.status.success() {
        return Err(BuildError::Git {
            command: format!("git {}", args.join(" ")),
            url: url.to_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Clone `url` into `dest` and check out `rev` (a branch, tag or commit); returns the
/// commit. `.git` is removed afterwards: builds see the tree only.
pub fn git_checkout(url: &str, rev: Option<&str>, dest: &Path) -> Result<String, BuildError> {
    let dest_str = dest.to_string_lossy();
    git(
        &["clone", "--quiet", "--no-checkout", url, &dest_str],
        None,
        url,
    )?;
    git(
        &[
            "-c",
            "advice.detachedHead=false",
            "checkout",
            "--quiet",
            rev.unwrap_or("HEAD"),
        ],
        Some(dest),
        url,
    )?;
    let commit = git(&["rev-parse", "HEAD"], Some(dest), url)?;
    fs_err::remove_dir_all(dest.join(".git"))?;
    Ok(commit)
}

/// A digest of a directory tree's content: relative paths, kinds, the executable bit, link
/// targets and file contents, in sorted order. `.git` is skipped.
pub fn hash_tree(dir: &Path) -> Result<Digest, BuildError> {
    let mut hasher = Sha256Hasher::default();
    let walker = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.file_name() != ".git");
    for entry in walker {
        let entry = entry.map_err(std::io::Error::from)?;
        let rel = entry.path().strip_prefix(dir).expect("below dir");
        let ft = entry.file_type();
        let kind = if ft.is_dir() {
            "d".to_owned()
        } else if ft.is_symlink() {
            format!("l:{}", fs_err::read_link(entry.path())?.display())
        } else {
            use std::os::unix::fs::PermissionsExt;
            let exec = entry
                .metadata()
                .map_err(std::io::Error::from)?
                .permissions()
                .mode()
                & 0o111
                != 0;
            let mut f = fs_err::File::open(entry.path())?;
            let mut w = HashingWriter::new(std::io::sink());
            std::io::copy(&mut f, &mut w)?;
            format!("f:{}:{}", u8::from(exec), w.finish().0)
        };
        hasher.update(rel.as_os_str().as_encoded_bytes());
        hasher.update(b"\0");
        hasher.update(kind.as_bytes());
        hasher.update(b"\n");
    }
    Ok(hasher.finish())
}

/// The digest that identifies a source in the package id.
pub fn source_identity(source: &Source) -> String {
    match &source.kind {
        // Path sources live in the recipe directory, which is hashed as a whole.
        SourceKind::Path { path, .. } => format!("path:{}", path.display()),
        SourceKind::Url {
            url,
            sha256,
            strip,
            extract,
            // The digest fixes the size: declaring it does not change the source.
            size: _,
        } => format!("url:{url}:{sha256}:{strip}:{extract}"),
        SourceKind::Git { url, commit } => format!("git:{url}:{commit}"),
    }
}

/// Put `source` into `work` (the build directory), fetching and verifying it.
pub fn materialize(
    source: &Source,
    recipe_dir: &Path,
    work: &Path,
    cache: &Path,
    limits: &SourceLimits,
) -> Result<(), BuildError> {
    let dest = work.join(&source.dest);
    fs_err::create_dir_all(&dest)?;
    match &source.kind {
        SourceKind::Path { path, sha256 } => {
            let from = recipe_dir.join(path);
            if let Some(expected) = sha256 {
                let actual = Digest::sha256_of(&fs_err::read(&from)?);
                check(&from.display().to_string(), expected, &actual)?;
            }
            copy_tree(&from, &dest)?;
        }
        SourceKind::Url {
            url,
            sha256,
            strip,
            extract,
            size,
        } => {
            let file = fetch_url(url, sha256, *size, cache, limits)?;
            let name = url
                .rsplit('/')
                .next()
                .filter(|n| !n.is_empty())
                .unwrap_or("source");
            if *extract && is_archive(name) {
                unpack(&file, &dest, *strip)?;
            } else {
                fs_err::copy(&file, dest.join(name))?;
            }
        }
        SourceKind::Git { url, commit } => {
            let tmp = dest.join(".paks-git-checkout");
            let got = git_checkout(url, Some(commit), &tmp)?;
            if !got.eq_ignore_ascii_case(commit) {
                return Err(BuildError::Checksum {
                    what: url.clone(),
                    expected: commit.clone(),
                    actual: got,
                });
            }
            copy_tree(&tmp, &dest)?;
            fs_err::remove_dir_all(&tmp)?;
        }
    }
    Ok(())
}

fn check(what: &str, expected: &Digest, actual: &Digest) -> Result<(), BuildError> {
    if expected == actual {
        return Ok(());
    }
    Err(BuildError::Checksum {
        what: what.to_owned(),
        expected: expected.to_string(),
        actual: actual.to_string(),
    })
}

fn is_archive(name: &str) -> bool {
    [
        ".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".tbz2", ".tar.zst",
    ]
    .iter()
    .any(|s| name.ends_with(s))
}

/// Unpack a verified upstream source archive with the system tar (it knows every
/// compression upstreams use, strips leading components, and refuses `..` and absolute
/// names by default).
///
/// As root, tar would also make the device nodes and FIFOs an archive holds: the listing
/// is read first (`tar -tv`, one line per entry with names escaped), and an archive with
/// one is refused before anything is unpacked.
fn unpack(archive: &Path, dest: &Path, strip: u32) -> Result<(), BuildError> {
    let listing = Command::new("tar")
        .args(["--quoting-style=escape", "-tvf"])
        .arg(archive)
        .output()?;
    if !listing.status.success() {
        return Err(BuildError::Unpack {
            archive: archive.to_path_buf(),
            stderr: String::from_utf8_lossy(&listing.stderr).trim().to_owned(),
        });
    }
    if let Some(entry) = special_entry(&String::from_utf8_lossy(&listing.stdout)) {
        return Err(BuildError::SourceSpecialFile {
            archive: archive.to_path_buf(),
            entry,
        });
    }
    let out = Command::new("tar")
        .arg("-xf")
        .arg(archive)
        .arg("-C")
        .arg(dest)
        .arg(format!("--strip-components={strip}"))
        .args([
            "--no-same-owner",
            "--no-same-permissions",
            "--delay-directory-restore",
        ])
        .output()?;
    if !out.status.success() {
        return Err(BuildError::Unpack {
            archive: archive.to_path_buf(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(())
}

/// The name of the first device node or FIFO in a `tar -tv` listing: its line starts with
/// `c`, `b` or `p`, then permissions, owner, `major,minor`, date and time.
fn special_entry(listing: &str) -> Option<String> {
    listing
        .lines()
        .find(|l| l.starts_with(['c', 'b', 'p']))
        .map(|line| {
            let mut rest = line;
            for _ in 0..5 {
                rest = rest.trim_start();
                rest = rest.find(char::is_whitespace).map_or("", |i| &rest[i..]);
            }
            rest.trim().to_owned()
        })
}

/// Copy a file or a directory tree (links as links) into `dest`.
pub fn copy_tree(from: &Path, dest: &Path) -> Result<(), BuildError> {
    let meta = fs_err::symlink_metadata(from)?;
    if !meta.is_dir() {
        let name = from.file_name().ok_or_else(|| {
            std::io::Error::other(format!("`{}` has no file name", from.display()))
        })?;
        copy_entry(from, &dest.join(name), &meta)?;
        return Ok(());
    }
    for entry in walkdir::WalkDir::new(from).min_depth(1).sort_by_file_name() {
        let entry = entry.map_err(std::io::Error::from)?;
        let target = dest.join(entry.path().strip_prefix(from).expect("below from"));
        let meta = fs_err::symlink_metadata(entry.path())?;
        copy_entry(entry.path(), &target, &meta)?;
    }
    Ok(())
}

fn copy_entry(from: &Path, to: &Path, meta: &std::fs::Metadata) -> Result<(), BuildError> {
    if meta.is_dir() {
        fs_err::create_dir_all(to)?;
    } else if meta.file_type().is_symlink() {
        fs_err::os::unix::fs::symlink(fs_err::read_link(from)?, to)?;
    } else {
        fs_err::copy(from, to)?;
    }
    Ok(())
}
