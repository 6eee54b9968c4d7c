//! Reading layers into the part of a root filesystem that matters here: ELF binaries
//! (analysed as they stream by, never written to disk), symlinks, and the loader's
//! configuration, with whiteouts applied so deleted files do not count.

use std::collections::BTreeMap;
use std::io::{self, BufReader, Read};

use crate::elf::{self, Binary};

/// ELF files larger than this are skipped (with a note), not read into memory.
pub const ELF_SIZE_CAP: u64 = 256 * 1024 * 1024;
/// Loader configuration files larger than this are ignored.
const CONF_CAP: u64 = 64 * 1024;
const ELF_MAGIC: &[u8; 4] = b"\x7fELF";

/// What a path of the image holds, as far as inspection cares.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Elf(Box<Binary>),
    Symlink(String),
    /// `/etc/ld.so.conf` and `/etc/ld.so.conf.d/*`.
    Conf(String),
}

/// One entry of a layer, in archive order.
#[derive(Debug)]
enum Change {
    /// A path now holds `node`.
    Set(String, Node),
    /// A path now holds something of no interest (a directory, another file): what a
    /// lower layer had there is gone (for a directory: only a non-directory).
    Clear(String, bool),
    /// A hard link to another path.
    Link(String, String),
    /// `.wh.NAME`: the path and everything under it are deleted.
    Whiteout(String),
    /// `.wh..wh..opq`: everything under the directory from lower layers is deleted.
    Opaque(String),
}

/// What one layer does to the filesystem; layers can be scanned in parallel and applied
/// in order.
#[derive(Debug, Default)]
pub(crate) struct LayerScan {
    changes: Vec<Change>,
    pub notes: Vec<String>,
}

/// The image's files that matter, by path without the leading `/`.
#[derive(Debug, Default)]
pub(crate) struct Rootfs {
    pub nodes: BTreeMap<String, Node>,
}

/// How a layer is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

#[allow(
    clippy::case_sensitive_file_extension_comparisons,
    reason = "media types, lowercased first"
)]
impl Compression {
    /// From a layer media type (`...tar+gzip`, `...tar+zstd`, Docker's `...tar.gzip`);
    /// `None` when the media type does not say.
    pub fn from_media_type(media_type: &str) -> Option<Self> {
        let media_type = media_type.to_ascii_lowercase();
        if media_type.ends_with("+gzip") || media_type.ends_with(".gzip") {
            Some(Self::Gzip)
        } else if media_type.ends_with("+zstd") || media_type.ends_with(".zstd") {
            Some(Self::Zstd)
        } else if media_type.ends_with("tar") {
            Some(Self::None)
        } else {
            None
        }
    }
}

/// A layer stream, decompressed as its first bytes say (`paks_archive::decompress`). A
/// media type that says otherwise than the bytes is an error.
pub(crate) fn decoder<'r>(
    input: impl Read + 'r,
    expected: Option<Compression>,
) -> io::Result<Box<dyn Read + 'r>> {
    use paks_archive::Decoder;
    let decoded = paks_archive::decompress(BufReader::with_capacity(256 * 1024, input))?;
    let found = match &decoded {
        Decoder::Plain(_) => Compression::None,
        Decoder::Gzip(_) => Compression::Gzip,
        Decoder::Zstd(_) => Compression::Zstd,
    };
    if let Some(e) = expected
        && e != found
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the media type says {e:?} compression but the content is {found:?}"),
        ));
    }
    Ok(Box::new(decoded))
}

/// A tar path as stored: no leading `./` or `/`, no trailing `/`.
pub(crate) fn clean(path: &str) -> String {
    let mut p = path;
    loop {
        if let Some(rest) = p.strip_prefix("./") {
            p = rest;
        } else if let Some(rest) = p.strip_prefix('/') {
            p = rest;
        } else {
            break;
        }
    }
    p.trim_end_matches('/').to_owned()
}

fn is_conf(path: &str) -> bool {
    path == "etc/ld.so.conf" || path.starts_with("etc/ld.so.conf.d/")
}

/// Scan one (possibly compressed) layer tar.
pub(crate) fn scan_layer(
    input: impl Read,
    compression: Option<Compression>,
) -> io::Result<LayerScan> {
    let mut archive = tar::Archive::new(decoder(input, compression)?);
    let mut scan = LayerScan::default();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let raw = entry.path_bytes();
        let path = clean(&String::from_utf8_lossy(&raw));
        if path.is_empty() {
            continue;
        }
        let (dir, name) = match path.rsplit_once('/') {
            Some((d, n)) => (d.to_owned(), n.to_owned()),
            None => (String::new(), path.clone()),
        };
        if name == ".wh..wh..opq" {
            scan.changes.push(Change::Opaque(dir));
            continue;
        }
        if let Some(deleted) = name.strip_prefix(".wh.") {
            let target = if dir.is_empty() {
                deleted.to_owned()
            } else {
                format!("{dir}/{deleted}")
            };
            scan.changes.push(Change::Whiteout(target));
            continue;
        }
        let kind = entry.header().entry_type();
        let change = match kind {
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .unwrap_or_default();
                Change::Set(path, Node::Symlink(target))
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| clean(&String::from_utf8_lossy(&t)))
                    .unwrap_or_default();
                Change::Link(path, target)
            }
            tar::EntryType::Directory => Change::Clear(path, true),
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                read_regular(&mut entry, path, &mut scan.notes)?
            }
            _ => Change::Clear(path, false),
        };
        scan.changes.push(change);
    }
    Ok(scan)
}

/// A regular file: an ELF binary (analysed), loader configuration, or nothing of interest.
fn read_regular(
    entry: &mut tar::Entry<'_, impl Read>,
    path: String,
    notes: &mut Vec<String>,
) -> io::Result<Change> {
    let size = entry.header().size()?;
    if is_conf(&path) && size <= CONF_CAP {
        let mut text = String::new();
        entry.read_to_string(&mut text).ok();
        return Ok(Change::Set(path, Node::Conf(text)));
    }
    // Debug-info files are ELF but hold no code.
    if size < 64 || path.starts_with("usr/lib/debug/") {
        return Ok(Change::Clear(path, false));
    }
    let mut magic = [0u8; 4];
    entry.read_exact(&mut magic)?;
    if &magic != ELF_MAGIC {
        return Ok(Change::Clear(path, false));
    }
    if size > ELF_SIZE_CAP {
        notes.push(format!(
            "skipped `/{path}`: {size} bytes is more than the {} MiB analysed per binary",
            ELF_SIZE_CAP / (1024 * 1024)
        ));
        return Ok(Change::Clear(path, false));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    bytes.extend_from_slice(&magic);
    entry.read_to_end(&mut bytes)?;
    Ok(match elf::analyse(&path, &bytes) {
        Some(binary) => Change::Set(path, Node::Elf(Box::new(binary))),
        None => Change::Clear(path, false),
    })
}

/// Remove `path` and everything under it.
fn remove_tree(nodes: &mut BTreeMap<String, Node>, path: &str) {
    nodes.remove(path);
    remove_children(nodes, path);
}

/// Remove everything under directory `dir` (`""` is the root).
fn remove_children(nodes: &mut BTreeMap<String, Node>, dir: &str) {
    if dir.is_empty() {
        nodes.clear();
        return;
    }
    let prefix = format!("{dir}/");
    let doomed: Vec<String> = nodes
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .map(|(k, _)| k.clone())
        .collect();
    for k in doomed {
        nodes.remove(&k);
    }
}

impl Rootfs {
    /// Apply a layer on top: its whiteouts first (they delete from lower layers only),
    /// then its entries in order.
    pub fn apply(&mut self, scan: LayerScan) {
        for change in &scan.changes {
            match change {
                Change::Whiteout(path) => remove_tree(&mut self.nodes, path),
                Change::Opaque(dir) => remove_children(&mut self.nodes, dir),
                _ => {}
            }
        }
        for change in scan.changes {
            match change {
                Change::Set(path, mut node) => {
                    if let Node::Elf(b) = &mut node {
                        b.path = format!("/{path}");
                    }
                    self.nodes.insert(path, node);
                }
                Change::Clear(path, is_dir) => {
                    // A directory replaces a file or symlink of the same name but keeps
                    // what lower layers put inside the directory.
                    self.nodes.remove(&path);
                    if !is_dir {
                        remove_children(&mut self.nodes, &path);
                    }
                }
                Change::Link(path, target) => match self.nodes.get(&target).cloned() {
                    Some(mut node) => {
                        if let Node::Elf(b) = &mut node {
                            b.path = format!("/{path}");
                        }
                        self.nodes.insert(path, node);
                    }
                    None => {
                        self.nodes.remove(&path);
                    }
                },
                Change::Whiteout(_) | Change::Opaque(_) => {}
            }
        }
    }

    /// Resolve `path` (absolute or not; `..` allowed) through the image's symlinks, the
    /// last component included when `follow_last`; `None` on a loop.
    pub fn resolve(&self, path: &str, follow_last: bool) -> Option<String> {
        let mut pending: Vec<String> = path
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .map(str::to_owned)
            .rev()
            .collect();
        let mut done: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(c) = pending.pop() {
            if c == ".." {
                done.pop();
                continue;
            }
            done.push(c);
            if pending.is_empty() && !follow_last {
                break;
            }
            let here = done.join("/");
            if let Some(Node::Symlink(target)) = self.nodes.get(&here) {
                hops += 1;
                if hops > 40 {
                    return None;
                }
                done.pop();
                if target.starts_with('/') {
                    done.clear();
                }
                pending.extend(
                    target
                        .split('/')
                        .filter(|c| !c.is_empty() && *c != ".")
                        .map(str::to_owned)
                        .rev(),
                );
            }
        }
        Some(done.join("/"))
    }

    pub fn binaries(&self) -> impl Iterator<Item = &Binary> {
        self.nodes.values().filter_map(|n| match n {
            Node::Elf(b) => Some(&**b),
            _ => None,
        })
    }

    /// The loader configuration's directories: `/etc/ld.so.conf` and what it includes.
    pub fn ld_so_conf_dirs(&self) -> Vec<String> {
        let mut dirs = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        self.read_conf("etc/ld.so.conf", &mut dirs, &mut seen);
        dirs
    }

    fn read_conf(
        &self,
        path: &str,
        dirs: &mut Vec<String>,
        seen: &mut std::collections::BTreeSet<String>,
    ) {
        if !seen.insert(path.to_owned()) {
            return;
        }
        let Some(Node::Conf(text)) = self.nodes.get(path) else {
            return;
        };
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            if let Some(pattern) = line.strip_prefix("include") {
                for p in pattern.split_whitespace() {
                    for file in self.glob(&clean(p)) {
                        self.read_conf(&file, dirs, seen);
                    }
                }
            } else {
                dirs.extend(
                    line.split([' ', '\t', ':', ','])
                        .filter(|d| !d.is_empty())
                        .map(str::to_owned),
                );
            }
        }
    }

    /// Paths matching `dir/prefix*suffix` (one `*` in the last component).
    fn glob(&self, pattern: &str) -> Vec<String> {
        let (dir, name) = pattern.rsplit_once('/').unwrap_or(("", pattern));
        let Some((pre, post)) = name.split_once('*') else {
            return vec![pattern.to_owned()];
        };
        let start = format!("{dir}/");
        self.nodes
            .range(start.clone()..)
            .take_while(|(k, _)| k.starts_with(&start))
            .map(|(k, _)| k)
            .filter(|k| {
                let n = &k[start.len()..];
                !n.contains('/')
                    && n.starts_with(pre)
                    && n.ends_with(post)
                    && n.len() >= pre.len() + post.len()
            })
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(fs: &mut Rootfs, path: &str, target: &str) {
        fs.nodes
            .insert(path.to_owned(), Node::Symlink(target.to_owned()));
    }

    #[test]
    fn resolves_symlinked_dirs() {
        let mut fs = Rootfs::default();
        sym(&mut fs, "lib", "usr/lib");
        sym(&mut fs, "lib64", "usr/lib64");
        sym(
            &mut fs,
            "usr/lib64/ld-linux-x86-64.so.2",
            "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
        );
        sym(&mut fs, "loop", "loop");
        assert_eq!(
            fs.resolve("/lib/x86_64-linux-gnu", true).unwrap(),
            "usr/lib/x86_64-linux-gnu"
        );
        assert_eq!(
            fs.resolve("/lib64/ld-linux-x86-64.so.2", true).unwrap(),
            "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
        );
        assert_eq!(
            fs.resolve("/lib64/ld-linux-x86-64.so.2", false).unwrap(),
            "usr/lib64/ld-linux-x86-64.so.2"
        );
        assert_eq!(
            fs.resolve("/usr/bin/../lib/./x", true).unwrap(),
            "usr/lib/x"
        );
        assert_eq!(fs.resolve("/loop/x", true), None);
    }

    #[test]
    fn reads_ld_so_conf_with_includes() {
        let mut fs = Rootfs::default();
        let conf = |s: &str| Node::Conf(s.to_owned());
        fs.nodes.insert(
            "etc/ld.so.conf".into(),
            conf("include /etc/ld.so.conf.d/*.conf\n/opt/a/lib # comment\n"),
        );
        fs.nodes
            .insert("etc/ld.so.conf.d/x.conf".into(), conf("/opt/x/lib\n"));
        fs.nodes
            .insert("etc/ld.so.conf.d/y.disabled".into(), conf("/opt/y/lib\n"));
        assert_eq!(fs.ld_so_conf_dirs(), ["/opt/x/lib", "/opt/a/lib"]);
    }

    #[test]
    fn cleans_paths() {
        assert_eq!(clean("./usr/lib/"), "usr/lib");
        assert_eq!(clean("/a/b"), "a/b");
        assert_eq!(clean("./"), "");
    }

    #[test]
    fn media_types() {
        use Compression as C;
        for (mt, c) in [
            ("application/vnd.oci.image.layer.v1.tar+gzip", Some(C::Gzip)),
            ("application/vnd.oci.image.layer.v1.tar+zstd", Some(C::Zstd)),
            ("application/vnd.oci.image.layer.v1.tar", Some(C::None)),
            (
                "application/vnd.docker.image.rootfs.diff.tar.gzip",
                Some(C::Gzip),
            ),
            ("application/octet-stream", None),
        ] {
            assert_eq!(Compression::from_media_type(mt), c, "{mt}");
        }
        let err = decoder(&b"plain tar"[..], Some(C::Gzip)).err().unwrap();
        assert!(err.to_string().contains("Gzip"), "{err}");
    }
}
