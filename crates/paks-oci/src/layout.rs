//! OCI image layout directories (image-spec `image-layout.md`): `oci-layout`,
//! `index.json` and content-addressed `blobs/<alg>/<hex>`, as `skopeo`, `umoci` and
//! `paks copy oci:DIR[:tag]` use them.
//!
//! Blobs are written verified and atomically (temp file beside the target, fsync,
//! rename). `index.json` is rewritten atomically; fields and entries this crate does not
//! model are kept. Tags are the `org.opencontainers.image.ref.name` annotation of
//! `index.json`'s entries.
//!
//! Referrers (manifests with a `subject`: signatures, SBOMs) are stored as ORAS stores
//! them: the manifest and its blobs in `blobs/`, and an untagged entry in `index.json`
//! (so that tools which keep only what `index.json` reaches keep them too).
//! [`Layout::referrers`] finds them by their manifests' `subject`.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use paks_types::Digest;
use serde_json::Value;

use crate::error::{ErrorKind, OciError, io_err};
use crate::hash::StreamHasher;
use crate::types::{ANNOTATION_REF_NAME, Descriptor, ImageManifest, Manifest, OCI_INDEX};

/// The `imageLayoutVersion` written and understood.
pub const LAYOUT_VERSION: &str = "1.0.0";

/// An OCI image layout directory.
#[derive(Debug)]
pub struct Layout {
    root: PathBuf,
    /// `index.json` as last read or written.
    index: Mutex<Value>,
}

fn layout_err(path: &Path, reason: impl Into<String>) -> OciError {
    ErrorKind::Layout {
        path: path.to_owned(),
        reason: reason.into(),
    }
    .into()
}

impl Layout {
    /// Open an existing layout: `oci-layout` with an `imageLayoutVersion`, and an
    /// `index.json` image index.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, OciError> {
        let root = dir.as_ref().to_owned();
        let marker = root.join("oci-layout");
        let bytes = std::fs::read(&marker).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                layout_err(&root, "there is no `oci-layout` file")
            } else {
                io_err("failed to read", &marker)(e)
            }
        })?;
        let header: Value = serde_json::from_slice(&bytes)
            .map_err(|e| layout_err(&root, format!("`oci-layout` is not JSON: {e}")))?;
        match header.get("imageLayoutVersion").and_then(Value::as_str) {
            Some(v) if v.starts_with("1.") => {}
            Some(v) => {
                return Err(layout_err(
                    &root,
                    format!("unsupported `imageLayoutVersion` `{v}`"),
                ));
            }
            None => {
                return Err(layout_err(
                    &root,
                    "`oci-layout` has no `imageLayoutVersion`",
                ));
            }
        }
        let index = read_index(&root)?;
        Ok(Self {
            root,
            index: Mutex::new(index),
        })
    }

    /// Create a layout in `dir` (created if missing): `oci-layout`, an empty
    /// `index.json` and `blobs/sha256`. A directory that already is a layout is opened.
    pub fn create(dir: impl AsRef<Path>) -> Result<Self, OciError> {
        let root = dir.as_ref().to_owned();
        if root.join("oci-layout").exists() {
            return Self::open(&root);
        }
        let blobs = root.join("blobs/sha256");
        std::fs::create_dir_all(&blobs)
            .map_err(io_err("failed to create the directory", &blobs))?;
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [],
        });
        write_json(&root.join("index.json"), &index)?;
        write_json(
            &root.join("oci-layout"),
            &serde_json::json!({ "imageLayoutVersion": LAYOUT_VERSION }),
        )?;
        Ok(Self {
            root,
            index: Mutex::new(index),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `blobs/<algorithm>/<hex>`.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm().as_str())
            .join(digest.hex())
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Copy `src` in as blob `digest`, verifying that it hashes to it. A blob already
    /// present is kept.
    pub fn write_blob_from(&self, digest: &Digest, src: &Path) -> Result<Digest, OciError> {
        let dest = self.blob_path(digest);
        if dest.is_file() {
            return Ok(digest.clone());
        }
        let mut input = std::fs::File::open(src).map_err(io_err("failed to read", src))?;
        self.write_blob_with(digest, &dest, |f, hasher| {
            let mut buf = vec![0u8; 1024 * 1024];
            loop {
                let n = input
                    .read(&mut buf)
                    .map_err(io_err("failed to read", src))?;
                if n == 0 {
                    return Ok(());
                }
                hasher.update(&buf[..n]);
                f.write_all(&buf[..n])
                    .map_err(io_err("failed to write", &dest))?;
            }
        })?;
        Ok(digest.clone())
    }

    /// Store `bytes` as a blob; returns its sha256 digest.
    pub fn write_blob_bytes(&self, bytes: &[u8]) -> Result<Digest, OciError> {
        let digest = Digest::sha256_of(bytes);
        let dest = self.blob_path(&digest);
        if !dest.is_file() {
            self.write_blob_with(&digest, &dest, |f, hasher| {
                hasher.update(bytes);
                f.write_all(bytes).map_err(io_err("failed to write", &dest))
            })?;
        }
        Ok(digest)
    }

    /// Read blob `digest`, verified.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, OciError> {
        let path = self.blob_path(digest);
        let bytes = std::fs::read(&path).map_err(io_err("failed to read", &path))?;
        let actual = StreamHasher::digest_of(digest.algorithm(), &bytes);
        if actual != *digest {
            return Err(ErrorKind::DigestMismatch {
                what: format!(
                    "corrupt blob in the OCI image layout `{}`",
                    self.root.display()
                ),
                url: path.display().to_string(),
                expected: digest.clone(),
                actual,
            }
            .into());
        }
        Ok(bytes)
    }

    fn write_blob_with(
        &self,
        digest: &Digest,
        dest: &Path,
        fill: impl FnOnce(&mut std::fs::File, &mut StreamHasher) -> Result<(), OciError>,
    ) -> Result<(), OciError> {
        let dir = dest.parent().expect("blob paths have a parent");
        std::fs::create_dir_all(dir).map_err(io_err("failed to create the directory", dir))?;
        let tmp = paks_types::fs::temp_sibling(dest, "tmp");
        let result = (|| {
            let mut f = std::fs::File::create(&tmp).map_err(io_err("failed to create", &tmp))?;
            let mut hasher = StreamHasher::new(digest.algorithm());
            fill(&mut f, &mut hasher)?;
            let actual = hasher.finish();
            if actual != *digest {
                return Err(ErrorKind::DigestMismatch {
                    what: format!(
                        "failed to add a blob to the OCI image layout `{}`",
                        self.root.display()
                    ),
                    url: dest.display().to_string(),
                    expected: digest.clone(),
                    actual,
                }
                .into());
            }
            f.sync_all().map_err(io_err("failed to write", &tmp))?;
            drop(f);
            std::fs::rename(&tmp, dest).map_err(io_err("failed to rename into place", dest))?;
            paks_types::fs::fsync_parent(dest)
                .map_err(io_err("failed to sync the directory of", dest))
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    /// The descriptors of `index.json` (entries that are not valid descriptors are
    /// skipped; unknown media types are not an error).
    pub fn manifests(&self) -> Vec<Descriptor> {
        let index = self.index.lock().expect("not poisoned");
        index
            .get("manifests")
            .and_then(Value::as_array)
            .map(|entries| {
                entries
                    .iter()
                    .filter_map(|e| serde_json::from_value(e.clone()).ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The entry tagged `tag` (`org.opencontainers.image.ref.name`).
    pub fn resolve(&self, tag: &str) -> Option<Descriptor> {
        self.manifests()
            .into_iter()
            .find(|d| d.ref_name() == Some(tag))
    }

    /// Add `descriptor` to `index.json`, tagged `tag` when given (replacing the entry
    /// that had that tag). Without a tag, an untagged entry with the same digest is not
    /// added twice. The file is re-read first (another tool may have changed it) and
    /// rewritten atomically.
    pub fn add_manifest(
        &self,
        mut descriptor: Descriptor,
        tag: Option<&str>,
    ) -> Result<(), OciError> {
        let mut cached = self.index.lock().expect("not poisoned");
        let mut index = read_index(&self.root)?;
        let entries = index
            .get_mut("manifests")
            .and_then(Value::as_array_mut)
            .expect("read_index checks `manifests`");
        let ref_name = |e: &Value| {
            e.get("annotations")
                .and_then(|a| a.get(ANNOTATION_REF_NAME))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let digest = descriptor.digest.to_string();
        if let Some(t) = tag {
            descriptor
                .annotations
                .insert(ANNOTATION_REF_NAME.to_owned(), t.to_owned());
            entries.retain(|e| ref_name(e).as_deref() != Some(t));
        } else {
            descriptor.annotations.remove(ANNOTATION_REF_NAME);
            if entries.iter().any(|e| {
                ref_name(e).is_none()
                    && e.get("digest").and_then(Value::as_str) == Some(digest.as_str())
            }) {
                return Ok(());
            }
        }
        entries.push(serde_json::to_value(&descriptor).expect("a descriptor serialises"));
        write_json(&self.root.join("index.json"), &index)?;
        *cached = index;
        Ok(())
    }
}

impl Layout {
    /// The manifests in this layout whose `subject` is `subject`, as the referrers API
    /// lists them ([`Manifest::referrer_descriptor`]: `artifactType`, annotations), in
    /// `index.json`'s order. Entries whose blob is missing or is not an image manifest
    /// are not referrers, and are skipped.
    pub fn referrers(&self, subject: &Digest) -> Result<Vec<Descriptor>, OciError> {
        let mut found: Vec<Descriptor> = Vec::new();
        for entry in self.manifests() {
            if entry.media_type != crate::types::OCI_MANIFEST
                || found.iter().any(|d| d.digest == entry.digest)
                || !self.has_blob(&entry.digest)
            {
                continue;
            }
            let bytes = self.read_blob(&entry.digest)?;
            let refers = serde_json::from_slice::<ImageManifest>(&bytes)
                .ok()
                .and_then(|m| m.subject)
                .is_some_and(|s| s.digest == *subject);
            if refers {
                let manifest = Manifest {
                    digest: entry.digest.clone(),
                    media_type: entry.media_type.clone(),
                    bytes,
                };
                found.push(
                    manifest
                        .referrer_descriptor()
                        .expect("the manifest parsed above"),
                );
            }
        }
        Ok(found)
    }

    /// Store the referrer `manifest` (its blobs must be in the layout already) and list
    /// it, untagged, in `index.json` with its `artifactType` and annotations.
    pub fn add_referrer(&self, manifest: &Manifest) -> Result<Descriptor, OciError> {
        let descriptor = manifest.referrer_descriptor().map_err(|e| {
            layout_err(
                &self.root,
                format!("the referrer `{}` does not parse: {e}", manifest.digest),
            )
        })?;
        self.write_blob_bytes(&manifest.bytes)?;
        self.add_manifest(descriptor.clone(), None)?;
        Ok(descriptor)
    }
}

fn read_index(root: &Path) -> Result<Value, OciError> {
    let path = root.join("index.json");
    let bytes = std::fs::read(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            layout_err(root, "there is no `index.json`")
        } else {
            io_err("failed to read", &path)(e)
        }
    })?;
    let index: Value = serde_json::from_slice(&bytes)
        .map_err(|e| layout_err(root, format!("`index.json` is not JSON: {e}")))?;
    if !index.get("manifests").is_some_and(Value::is_array) {
        return Err(layout_err(root, "`index.json` has no `manifests` array"));
    }
    Ok(index)
}

fn write_json(path: &Path, value: &Value) -> Result<(), OciError> {
    let bytes = serde_json::to_vec(value).expect("JSON serialises");
    paks_types::fs::write_atomic(path, &bytes).map_err(io_err("failed to write", path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::OCI_MANIFEST;

    #[test]
    fn create_write_tag_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("img");
        let layout = Layout::create(&root).unwrap();
        assert_eq!(
            std::fs::read_to_string(root.join("oci-layout")).unwrap(),
            r#"{"imageLayoutVersion":"1.0.0"}"#
        );
        let d = layout.write_blob_bytes(b"hello").unwrap();
        assert_eq!(d, Digest::sha256_of(b"hello"));
        assert!(layout.has_blob(&d));
        assert_eq!(layout.read_blob(&d).unwrap(), b"hello");
        assert_eq!(
            layout.blob_path(&d),
            root.join("blobs/sha256").join(d.hex())
        );

        let src = dir.path().join("src");
        std::fs::write(&src, b"world").unwrap();
        let wrong = Digest::sha256_of(b"other");
        let e = layout.write_blob_from(&wrong, &src).unwrap_err();
        assert!(e.to_string().contains(&wrong.to_string()), "{e}");
        assert!(
            e.to_string()
                .contains(&Digest::sha256_of(b"world").to_string()),
            "{e}"
        );
        assert!(!layout.has_blob(&wrong));
        let right = Digest::sha256_of(b"world");
        layout.write_blob_from(&right, &src).unwrap();
        assert!(layout.has_blob(&right));
        let leftovers: Vec<_> = std::fs::read_dir(root.join("blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers.len(), 2, "{leftovers:?}");

        let m1 = Descriptor::new(OCI_MANIFEST, d.clone(), 5);
        let m2 = Descriptor::new(OCI_MANIFEST, right.clone(), 5);
        layout.add_manifest(m1.clone(), Some("v1")).unwrap();
        layout.add_manifest(m1.clone(), None).unwrap();
        layout.add_manifest(m1.clone(), None).unwrap();
        layout.add_manifest(m2.clone(), Some("v1")).unwrap();
        assert_eq!(layout.manifests().len(), 2);
        assert_eq!(layout.resolve("v1").unwrap().digest, right);
        assert!(layout.resolve("v2").is_none());

        // Unknown fields survive a rewrite.
        let mut raw: Value =
            serde_json::from_slice(&std::fs::read(root.join("index.json")).unwrap()).unwrap();
        raw["annotations"] = serde_json::json!({"x": "y"});
        raw["manifests"].as_array_mut().unwrap().push(serde_json::json!({
            "mediaType": "application/xml", "digest": d.to_string(), "size": 5, "urls": ["https://x"]
        }));
        std::fs::write(root.join("index.json"), serde_json::to_vec(&raw).unwrap()).unwrap();
        let reopened = Layout::open(&root).unwrap();
        reopened.add_manifest(m1, Some("v2")).unwrap();
        let raw: Value =
            serde_json::from_slice(&std::fs::read(root.join("index.json")).unwrap()).unwrap();
        assert_eq!(raw["annotations"]["x"], "y");
        assert!(raw.to_string().contains("https://x"));
        assert_eq!(reopened.manifests().len(), 4);
        assert_eq!(reopened.resolve("v2").unwrap().digest, d);
        assert_eq!(Layout::create(&root).unwrap().manifests().len(), 4);
    }

    #[test]
    fn referrers_are_untagged_entries_found_by_subject() {
        use crate::types::{EMPTY_JSON, empty_descriptor};
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        let image = layout.write_blob_bytes(b"an image manifest").unwrap();
        let subject = Descriptor::new(OCI_MANIFEST, image.clone(), 17);
        layout.add_manifest(subject.clone(), Some("v1")).unwrap();
        layout.write_blob_bytes(EMPTY_JSON).unwrap();
        let artifact = |kind: &str, body: &[u8], subject: &Descriptor| {
            let layer = Descriptor::new(
                kind,
                layout.write_blob_bytes(body).unwrap(),
                body.len() as u64,
            );
            let m = ImageManifest::artifact(
                kind,
                vec![layer],
                Some(subject.clone()),
                std::collections::BTreeMap::from([("k".to_owned(), kind.to_owned())]),
            );
            Manifest::new(OCI_MANIFEST, m.to_bytes())
        };
        let sbom = artifact("application/spdx+json", b"{\"spdx\":1}", &subject);
        let sbom_d = layout.add_referrer(&sbom).unwrap();
        // Adding it twice lists it once.
        layout.add_referrer(&sbom).unwrap();
        let sig = artifact("application/x.sig", b"sig", &sbom.descriptor());
        layout.add_referrer(&sig).unwrap();

        let found = layout.referrers(&image).unwrap();
        assert_eq!(found, vec![sbom_d.clone()]);
        assert_eq!(
            found[0].artifact_type.as_deref(),
            Some("application/spdx+json")
        );
        assert_eq!(found[0].annotations["k"], "application/spdx+json");
        assert_eq!(found[0].size, sbom.bytes.len() as u64);
        // A referrer of a referrer is found by its own subject.
        let nested = layout.referrers(&sbom.digest).unwrap();
        assert_eq!(nested.len(), 1);
        assert_eq!(nested[0].digest, sig.digest);
        assert!(layout.referrers(&sig.digest).unwrap().is_empty());

        // In `index.json`: untagged, with the artifact type; the tag is untouched.
        let raw: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap()).unwrap();
        let entries = raw["manifests"].as_array().unwrap();
        assert_eq!(entries.len(), 3, "{raw}");
        assert_eq!(entries[1]["digest"], sbom.digest.to_string());
        assert_eq!(entries[1]["artifactType"], "application/spdx+json");
        assert!(entries[1]["annotations"].get(ANNOTATION_REF_NAME).is_none());
        assert_eq!(layout.resolve("v1").unwrap().digest, image);
        assert!(layout.has_blob(&empty_descriptor().digest));

        // A listed manifest whose blob went missing is not a referrer, and not an error.
        std::fs::remove_file(layout.blob_path(&sig.digest)).unwrap();
        assert!(layout.referrers(&sbom.digest).unwrap().is_empty());
        // One whose blob is corrupt is an error naming the digest.
        std::fs::write(layout.blob_path(&sbom.digest), b"{}").unwrap();
        let e = layout.referrers(&image).unwrap_err();
        assert!(e.to_string().contains(&sbom.digest.to_string()), "{e}");
    }

    #[test]
    fn open_refuses_non_layouts() {
        let dir = tempfile::tempdir().unwrap();
        let e = Layout::open(dir.path()).unwrap_err();
        assert!(e.to_string().contains("no `oci-layout`"), "{e}");
        std::fs::write(
            dir.path().join("oci-layout"),
            r#"{"imageLayoutVersion":"2.0.0"}"#,
        )
        .unwrap();
        assert!(
            Layout::open(dir.path())
                .unwrap_err()
                .to_string()
                .contains("2.0.0")
        );
        std::fs::write(
            dir.path().join("oci-layout"),
            r#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap();
        assert!(
            Layout::open(dir.path())
                .unwrap_err()
                .to_string()
                .contains("index.json")
        );
    }
}
