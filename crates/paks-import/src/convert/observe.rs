//! What the importer learns from a data tar while it streams into the layer: the
//! contents list, the copyright file, CA certificates and shared libraries; and the CA
//! bundle it appends.

use paks_archive::rootfs::{AppendedFile, EntryKind, Observer};

/// The largest `copyright` file read for its licence.
const MAX_COPYRIGHT: u64 = 1 << 20;
/// The largest certificate taken into the CA bundle.
const MAX_CERT: u64 = 1 << 20;
/// Bytes of shared libraries held in memory for reading their sonames.
const LIBRARY_BUDGET: u64 = 512 << 20;

/// Where `update-ca-certificates` reads certificates, and where it writes the bundle.
pub const CA_DIR: &str = "usr/share/ca-certificates/";
pub const CA_BUNDLE: &str = "etc/ssl/certs/ca-certificates.crt";

/// The observer of one package's data tar.
pub struct Seen {
    copyright_path: String,
    /// Whether to build the CA bundle (the `ca-certificates` package).
    bundle: bool,
    library_budget: u64,
    /// Every entry that is not a directory, as written.
    pub contents: Vec<String>,
    /// The first path that is not UTF-8 (the contents list cannot hold it).
    pub not_utf8: Option<String>,
    pub copyright: Option<Vec<u8>>,
    pub certs: Vec<(String, Vec<u8>)>,
    /// Regular files named `*.so*` in the loader's directories that are ELF files.
    pub libraries: Vec<(String, Vec<u8>)>,
}

impl Seen {
    pub fn new(package: &str) -> Self {
        Self {
            copyright_path: format!("usr/share/doc/{package}/copyright"),
            bundle: package == "ca-certificates",
            library_budget: LIBRARY_BUDGET,
            contents: Vec::new(),
            not_utf8: None,
            copyright: None,
            certs: Vec::new(),
            libraries: Vec::new(),
        }
    }
}

impl Observer for Seen {
    // `update-ca-certificates` finds `-name '*.crt'`, which is case-sensitive too.
    #[allow(clippy::case_sensitive_file_extension_comparisons)]
    fn entry(&mut self, path: &[u8], kind: EntryKind, size: u64) -> bool {
        let Ok(path) = std::str::from_utf8(path) else {
            self.not_utf8
                .get_or_insert_with(|| String::from_utf8_lossy(path).into_owned());
            return false;
        };
        if kind == EntryKind::Directory {
            return false;
        }
        self.contents.push(path.to_owned());
        if kind != EntryKind::File {
            return false;
        }
        if path == self.copyright_path {
            return size <= MAX_COPYRIGHT;
        }
        if self.bundle && path.starts_with(CA_DIR) && path.ends_with(".crt") {
            return size <= MAX_CERT;
        }
        if in_loader_dir(path) && size <= self.library_budget {
            self.library_budget -= size;
            return true;
        }
        false
    }

    fn file(&mut self, path: &[u8], bytes: Vec<u8>) {
        let path = String::from_utf8_lossy(path).into_owned();
        if path == self.copyright_path {
            self.copyright = Some(bytes);
        } else if self.bundle && path.starts_with(CA_DIR) {
            self.certs.push((path, bytes));
        } else if bytes.starts_with(b"\x7fELF") {
            self.libraries.push((path, bytes));
        } else {
            self.library_budget += bytes.len() as u64;
        }
    }

    /// The `ca-certificates` package's bundle, as its `postinst` would have written it.
    fn append(&mut self) -> Vec<AppendedFile> {
        if !self.bundle || self.certs.is_empty() {
            return Vec::new();
        }
        self.contents.push(CA_BUNDLE.to_owned());
        vec![AppendedFile {
            path: CA_BUNDLE.to_owned(),
            mode: 0o644,
            data: ca_bundle(&mut self.certs),
        }]
    }
}

/// What `update-ca-certificates` writes with every certificate enabled (the default):
/// each certificate in path order (bytewise, as `sort` in the C locale), each ending in a
/// newline.
pub fn ca_bundle(certs: &mut [(String, Vec<u8>)]) -> Vec<u8> {
    certs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = Vec::new();
    for (_, pem) in certs.iter() {
        out.extend_from_slice(pem);
        if !pem.is_empty() && !pem.ends_with(b"\n") {
            out.push(b'\n');
        }
    }
    out
}

/// Whether `path` is a `*.so*` file in a directory the loader searches: `lib`, `usr/lib`,
/// `lib64`, `usr/lib64`, or a multiarch directory below `lib` or `usr/lib`.
fn in_loader_dir(path: &str) -> bool {
    let Some((dir, file)) = path.rsplit_once('/') else {
        return false;
    };
    if !file.contains(".so") {
        return false;
    }
    let dir = dir.strip_prefix("usr/").unwrap_or(dir);
    match dir.split_once('/') {
        None => dir == "lib" || dir == "lib64",
        Some(("lib", triplet)) => !triplet.contains('/') && triplet.contains("-linux-"),
        Some(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loader_directories() {
        for yes in [
            "lib/x86_64-linux-gnu/libc.so.6",
            "usr/lib/x86_64-linux-gnu/libz.so.1.2.13",
            "usr/lib64/libfoo.so",
            "lib/libbar.so.1",
        ] {
            assert!(in_loader_dir(yes), "{yes}");
        }
        for no in [
            "usr/lib/x86_64-linux-gnu/gconv/UTF-16.so",
            "usr/lib/python3/dist-packages/x.so",
            "usr/bin/libc.so.6",
            "usr/lib/x86_64-linux-gnu/libc.a",
        ] {
            assert!(!in_loader_dir(no), "{no}");
        }
    }

    #[test]
    fn bundle_adds_missing_newlines_in_path_order() {
        let mut certs = vec![
            ("b.crt".into(), b"B".to_vec()),
            ("a.crt".into(), b"A\n".to_vec()),
        ];
        assert_eq!(ca_bundle(&mut certs), b"A\nB\n");
    }
}
