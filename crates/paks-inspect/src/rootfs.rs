//! Reading layers into the part of a root filesystem that matters here: ELF binaries
//! (analysed as they stream by, never written to disk), symlinks, and the loader's
//! configuration, with whiteouts applied so deleted files do not count.

use std::collections::{BTreeMap, BTreeSet};
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
enum Change<'a> {
    /// A path now holds `node`.
    Set(&'a str, Node),
    /// A path now holds something of no interest (a directory, another file): what a
    /// lower layer had there is gone (for a directory: only a non-directory).
    Clear(&'a str, bool),
    /// A hard link to another path.
    Link(&'a str, &'a str),
}

/// The record tags of a [`ChangeLog`].
const SET: u8 = 0;
const CLEAR_FILE: u8 = 1;
const CLEAR_DIR: u8 = 2;
const LINK: u8 = 3;
/// `.wh.NAME`: the path and everything under it are deleted from lower layers.
const WHITEOUT: u8 = 4;
/// `.wh..wh..opq`: everything under the directory from lower layers is deleted.
const OPAQUE: u8 = 5;

/// The most bytes of paths one layer's log keeps for entries of no interest (64 MiB,
/// about 2 M paths of 30 bytes); past it they are dropped with a note. The memory of
/// `paks inspect` is then bounded by this per layer scanned at once, plus what the report
/// needs (binaries, symlinks, loader configuration).
pub const MAX_LOG_BYTES: usize = 64 * 1024 * 1024;

/// A layer's changes in archive order, packed: a tag byte, the path and a NUL (and for a
/// link its target and a NUL) per record, the nodes of `SET` records in their own list.
/// Most entries of a big layer are of no interest and a `String` each cost ~150 bytes
/// (657 MB for 2 M entries); a packed record costs the path's length plus two.
#[derive(Debug, Default)]
struct ChangeLog {
    bytes: Vec<u8>,
    nodes: Vec<Node>,
    /// How many records `bytes` holds.
    len: u64,
}

impl ChangeLog {
    fn push(&mut self, tag: u8, paths: &[&str]) {
        self.len += 1;
        self.bytes.push(tag);
        for p in paths {
            // Tar paths cannot hold NUL; a PAX record could, and must not end the record.
            self.bytes
                .extend(p.bytes().map(|b| if b == 0 { b'?' } else { b }));
            self.bytes.push(0);
        }
    }

    fn set(&mut self, path: &str, node: Node) {
        self.push(SET, &[path]);
        self.nodes.push(node);
    }

    /// The records in order, each as its tag, path and (for a link) target.
    fn records(&self) -> impl Iterator<Item = (u8, &str, &str)> {
        let mut bytes = &self.bytes[..];
        std::iter::from_fn(move || {
            let (&tag, mut rest) = bytes.split_first()?;
            let path = next(&mut rest);
            let target = if tag == LINK { next(&mut rest) } else { "" };
            bytes = rest;
            Some((tag, path, target))
        })
    }

    /// The entries' changes in order (whiteouts are read with [`Self::records`]); the
    /// nodes move out, so this is called once.
    fn changes(&mut self) -> impl Iterator<Item = Change<'_>> {
        let mut nodes = std::mem::take(&mut self.nodes).into_iter();
        self.records()
            .filter_map(move |(tag, path, target)| match tag {
                SET => Some(Change::Set(
                    path,
                    nodes.next().expect("one node per SET record"),
                )),
                CLEAR_FILE => Some(Change::Clear(path, false)),
                CLEAR_DIR => Some(Change::Clear(path, true)),
                LINK => Some(Change::Link(path, target)),
                _ => None,
            })
    }
}

/// The text up to the next NUL of `rest`, which moves past it.
fn next<'a>(rest: &mut &'a [u8]) -> &'a str {
    let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    let text = std::str::from_utf8(&rest[..end]).unwrap_or_default();
    *rest = rest.get(end + 1..).unwrap_or_default();
    text
}

/// What one layer does to the filesystem; layers can be scanned in parallel and applied
/// in order.
#[derive(Debug, Default)]
pub(crate) struct LayerScan {
    log: ChangeLog,
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

/// Scan one (possibly compressed) layer tar; `bottom` when no layer lies below it, so
/// that what it clears or deletes only matters for what it set itself.
pub(crate) fn scan_layer(
    input: impl Read,
    compression: Option<Compression>,
    bottom: bool,
) -> io::Result<LayerScan> {
    scan_layer_capped(input, compression, bottom, MAX_LOG_BYTES)
}

fn scan_layer_capped(
    input: impl Read,
    compression: Option<Compression>,
    bottom: bool,
    max_log_bytes: usize,
) -> io::Result<LayerScan> {
    let mut archive = tar::Archive::new(decoder(input, compression)?);
    let mut s = Scanner {
        scan: LayerScan::default(),
        bottom,
        max_log_bytes,
        set_here: BTreeSet::new(),
        dropped: 0,
    };
    for entry in archive.entries()? {
        let mut entry = entry?;
        let raw = entry.path_bytes();
        let path = clean(&String::from_utf8_lossy(&raw));
        if path.is_empty() {
            continue;
        }
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", &path));
        if name == ".wh..wh..opq" {
            s.whiteout(OPAQUE, dir);
            continue;
        }
        if let Some(deleted) = name.strip_prefix(".wh.") {
            let target = if dir.is_empty() {
                deleted.to_owned()
            } else {
                format!("{dir}/{deleted}")
            };
            s.whiteout(WHITEOUT, &target);
            continue;
        }
        let kind = entry.header().entry_type();
        let node = match kind {
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .unwrap_or_default();
                Some(Node::Symlink(target))
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| clean(&String::from_utf8_lossy(&t)))
                    .unwrap_or_default();
                s.link(path, &target);
                continue;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                read_regular(&mut entry, &path, &mut s.scan.notes)?
            }
            _ => None,
        };
        if let Some(node) = node {
            s.set(path, node);
        } else {
            s.clear(&path, kind == tar::EntryType::Directory);
        }
    }
    Ok(s.finish())
}

/// The state of one layer's scan: its log, and what decides whether a record is kept.
struct Scanner {
    scan: LayerScan,
    /// No layer lies below: what it clears or deletes matters only for what it set.
    bottom: bool,
    max_log_bytes: usize,
    /// In the bottom layer, the paths it set (few: binaries, links, configuration).
    set_here: BTreeSet<String>,
    /// Records not kept because the log is full.
    dropped: u64,
}

impl Scanner {
    fn full(&self) -> bool {
        self.scan.log.bytes.len() >= self.max_log_bytes
    }

    fn set(&mut self, path: String, node: Node) {
        self.scan.log.set(&path, node);
        if self.bottom {
            self.set_here.insert(path);
        }
    }

    /// Whiteouts delete from lower layers only: nothing to do in the bottom one.
    fn whiteout(&mut self, tag: u8, path: &str) {
        if self.bottom {
        } else if self.full() {
            self.dropped += 1;
        } else {
            self.scan.log.push(tag, &[path]);
        }
    }

    fn link(&mut self, path: String, target: &str) {
        if self.bottom && !self.set_here.contains(target) {
            // Nothing below to link to: the link holds nothing of interest.
            self.clear(&path, false);
            return;
        }
        self.scan.log.push(LINK, &[&path, target]);
        if self.bottom {
            self.set_here.insert(path);
        }
    }

    /// Record that `path` now holds nothing of interest, unless that cannot matter: in
    /// the bottom layer when it set nothing there (or below, for a file) itself.
    fn clear(&mut self, path: &str, is_dir: bool) {
        if self.bottom {
            let under = format!("{path}/");
            let mut replaces = self.set_here.remove(path);
            if !is_dir {
                let doomed: Vec<String> = self
                    .set_here
                    .range(under.clone()..)
                    .take_while(|p| p.starts_with(&under))
                    .cloned()
                    .collect();
                replaces |= !doomed.is_empty();
                for p in doomed {
                    self.set_here.remove(&p);
                }
            }
            if !replaces {
                return;
            }
        } else if self.full() {
            self.dropped += 1;
            return;
        }
        let tag = if is_dir { CLEAR_DIR } else { CLEAR_FILE };
        self.scan.log.push(tag, &[path]);
    }

    fn finish(mut self) -> LayerScan {
        if self.dropped > 0 {
            self.scan.notes.push(format!(
                "{} entries past the first {} were not tracked (a layer keeps at most {} \
                 bytes of paths): a binary or link they replace or delete in a lower layer \
                 may still be counted",
                self.dropped, self.scan.log.len, self.max_log_bytes
            ));
        }
        self.scan
    }
}

/// A regular file: an ELF binary (analysed), loader configuration, or nothing of interest.
fn read_regular(
    entry: &mut tar::Entry<'_, impl Read>,
    path: &str,
    notes: &mut Vec<String>,
) -> io::Result<Option<Node>> {
    let size = entry.header().size()?;
    if is_conf(path) && size <= CONF_CAP {
        let mut text = String::new();
        entry.read_to_string(&mut text).ok();
        return Ok(Some(Node::Conf(text)));
    }
    // Debug-info files are ELF but hold no code.
    if size < 64 || path.starts_with("usr/lib/debug/") {
        return Ok(None);
    }
    let mut magic = [0u8; 4];
    entry.read_exact(&mut magic)?;
    if &magic != ELF_MAGIC {
        return Ok(None);
    }
    if size > ELF_SIZE_CAP {
        notes.push(format!(
            "skipped `/{path}`: {size} bytes is more than the {} MiB analysed per binary",
            ELF_SIZE_CAP / (1024 * 1024)
        ));
        return Ok(None);
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    bytes.extend_from_slice(&magic);
    entry.read_to_end(&mut bytes)?;
    Ok(elf::analyse(path, &bytes).map(|binary| Node::Elf(Box::new(binary))))
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
    pub fn apply(&mut self, mut scan: LayerScan) {
        for (tag, path, _) in scan.log.records() {
            match tag {
                WHITEOUT => remove_tree(&mut self.nodes, path),
                OPAQUE => remove_children(&mut self.nodes, path),
                _ => {}
            }
        }
        for change in scan.log.changes() {
            match change {
                Change::Set(path, mut node) => {
                    if let Node::Elf(b) = &mut node {
                        b.path = format!("/{path}");
                    }
                    self.nodes.insert(path.to_owned(), node);
                }
                Change::Clear(path, is_dir) => {
                    // A directory replaces a file or symlink of the same name but keeps
                    // what lower layers put inside the directory.
                    self.nodes.remove(path);
                    if !is_dir {
                        remove_children(&mut self.nodes, path);
                    }
                }
                Change::Link(path, target) => match self.nodes.get(target).cloned() {
                    Some(mut node) => {
                        if let Node::Elf(b) = &mut node {
                            b.path = format!("/{path}");
                        }
                        self.nodes.insert(path.to_owned(), node);
                    }
                    None => {
                        self.nodes.remove(path);
                    }
                },
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

    /// A tar of `count` empty files and one whiteout, in memory.
    fn many_files(count: usize) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_size(0);
        for i in 0..count {
            header.set_path(format!("d/file-{i:06}")).unwrap();
            header.set_cksum();
            b.append(&header, io::empty()).unwrap();
        }
        header.set_path("d/.wh.gone").unwrap();
        header.set_cksum();
        b.append(&header, io::empty()).unwrap();
        b.into_inner().unwrap()
    }

    #[test]
    fn a_layer_log_is_capped_with_a_note_and_the_bottom_layer_keeps_none() {
        let tar = many_files(1000);
        // An upper layer records each entry (a path and two bytes) up to the cap.
        let scan = scan_layer_capped(&tar[..], None, false, 4096).unwrap();
        assert!(scan.log.bytes.len() < 4096 + 64, "{}", scan.log.bytes.len());
        assert_eq!(scan.notes.len(), 1, "{:?}", scan.notes);
        assert!(
            scan.notes[0].starts_with("727 entries past the first 274 were not tracked"),
            "{:?}",
            scan.notes
        );
        let scan = scan_layer_capped(&tar[..], None, false, MAX_LOG_BYTES).unwrap();
        assert_eq!(scan.log.records().count(), 1001);
        assert!(scan.notes.is_empty());
        // Nothing lies below the bottom layer: nothing of no interest is kept at all.
        let scan = scan_layer(&tar[..], None, true).unwrap();
        assert!(scan.log.bytes.is_empty(), "{}", scan.log.bytes.len());
    }

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
