//! Sysroots: a composed image's layers extracted in order into a directory, so that a
//! sysroot and the image of the same packages never disagree; and the tree as one
//! deterministic tar.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use paks_archive::rootfs_extract::{RootfsOptions, extract_rootfs_layer};
use paks_types::Digest;

use crate::ImageError;
use crate::compose::{Composed, Composer, LocalBlob, blocking, short};

/// What extracting an image into a directory did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SysrootStats {
    pub layers: usize,
    /// Entries created (over all layers) and bytes of regular files written.
    pub entries: u64,
    pub bytes: u64,
    /// Whiteouts applied.
    pub whiteouts: u64,
    /// Layer bytes downloaded to get there (layers not in the blob cache).
    pub downloaded_bytes: u64,
    /// Files whose setuid/setgid bit was dropped (the extraction was not privileged).
    pub dropped_setid: Vec<String>,
}

impl Composer<'_> {
    /// Extract `image`'s layers, in order, into `root` (an existing, empty directory),
    /// each checked against its diff id, as a container runtime unpacks them.
    pub async fn extract_into(
        &self,
        image: &Composed,
        root: &Path,
        options: &RootfsOptions,
    ) -> Result<SysrootStats, ImageError> {
        let config: serde_json::Value = serde_json::from_slice(&image.config)
            .map_err(|e| std::io::Error::other(format!("composed config: {e}")))?;
        let diff_ids: Vec<Digest> = config["rootfs"]["diff_ids"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str()?.parse().ok())
            .collect();
        assert_eq!(diff_ids.len(), image.layers.len(), "one diff id per layer");
        let total: u64 = image.layers.iter().map(|(d, _)| d.size).sum();
        self.reporter
            .plan("Extracting", image.layers.len() as u64, total);
        let mut stats = SysrootStats::default();
        for ((d, source), diff_id) in image.layers.iter().zip(diff_ids) {
            let mut pushed = crate::PushStats::default();
            let blob = self.local(d, source, &mut pushed).await?;
            stats.downloaded_bytes += pushed.downloaded_bytes;
            let task = self.reporter.start(&short(&d.digest), d.size);
            let (root, options) = (root.to_owned(), options.clone());
            let layer = blocking(move || {
                Ok(match blob {
                    LocalBlob::File(path) => {
                        let file = fs_err::File::open(&path)?;
                        extract_rootfs_layer(file, &root, &options, Some(&diff_id))?
                    }
                    LocalBlob::Bytes(b) => {
                        extract_rootfs_layer(&b[..], &root, &options, Some(&diff_id))?
                    }
                })
            })
            .await?;
            self.reporter.advance(task, d.size);
            self.reporter.finish(task);
            stats.layers += 1;
            stats.entries += layer.extracted.entries;
            stats.bytes += layer.extracted.unpacked_size;
            stats.whiteouts += layer.whiteouts;
            stats.dropped_setid.extend(layer.dropped_setid);
        }
        Ok(stats)
    }
}

/// Write the tree at `root` as one tar into `out`: paths sorted byte-wise, times
/// 0 (as [`crate::CREATED`]), owners 0:0 without names, modes as on disk (setid included), symlink
/// targets byte for byte, files with several links as one file and hard links to it. The
/// same tree always gives the same bytes.
pub fn write_tree_tar(root: &Path, out: impl Write) -> Result<u64, ImageError> {
    let mut builder = tar::Builder::new(out);
    let mut first_link: HashMap<(u64, u64), Vec<u8>> = HashMap::new();
    let mut entries = 0;
    let walk = walk_sorted(root)?;
    for (rel, meta) in walk {
        let name = rel.as_os_str().as_bytes();
        let mode = meta.mode() & 0o7777;
        let ft = meta.file_type();
        if ft.is_dir() {
            let mut n = name.to_vec();
            n.push(b'/');
            let mut h = paks_archive::tar_header(tar::EntryType::Directory, mode, 0);
            builder.append_data(&mut h, Path::new(OsStr::from_bytes(&n)), std::io::empty())?;
        } else if ft.is_symlink() {
            let target = std::fs::read_link(root.join(&rel))?;
            let mut h = paks_archive::tar_header(tar::EntryType::Symlink, 0o777, 0);
            paks_archive::tar_append_symlink(
                &mut builder,
                &mut h,
                name,
                target.as_os_str().as_encoded_bytes(),
            )?;
        } else if ft.is_file() {
            let key = (meta.dev(), meta.ino());
            if meta.nlink() > 1 {
                if let Some(first) = first_link.get(&key) {
                    let mut h = paks_archive::tar_header(tar::EntryType::Link, mode, 0);
                    builder.append_link(&mut h, &rel, Path::new(OsStr::from_bytes(first)))?;
                    entries += 1;
                    continue;
                }
                first_link.insert(key, name.to_vec());
            }
            let mut h = paks_archive::tar_header(tar::EntryType::Regular, mode, meta.len());
            let file = fs_err::File::open(root.join(&rel))?;
            builder.append_data(&mut h, &rel, file)?;
        } else {
            return Err(std::io::Error::other(format!(
                "`{}` is neither a file, a directory nor a symlink",
                root.join(&rel).display()
            ))
            .into());
        }
        entries += 1;
    }
    builder.into_inner()?.flush()?;
    Ok(entries)
}

/// Every path under `root` (relative, not the root itself) with its metadata, sorted
/// byte-wise by path, so that a directory comes before what is in it.
fn walk_sorted(root: &Path) -> Result<Vec<(std::path::PathBuf, std::fs::Metadata)>, ImageError> {
    let mut out = Vec::new();
    let mut stack = vec![std::path::PathBuf::new()];
    while let Some(dir) = stack.pop() {
        let mut names: Vec<_> = fs_err::read_dir(root.join(&dir))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()?;
        names.sort();
        for name in names {
            let rel = dir.join(name);
            let meta = fs_err::symlink_metadata(root.join(&rel))?;
            if meta.is_dir() {
                stack.push(rel.clone());
            }
            out.push((rel, meta));
        }
    }
    out.sort_by(|a, b| {
        a.0.as_os_str()
            .as_encoded_bytes()
            .cmp(b.0.as_os_str().as_encoded_bytes())
    });
    Ok(out)
}
