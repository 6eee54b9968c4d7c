//! A small runnable image: Debian's static busybox as an OCI image layout.

use std::path::Path;

use paks_types::Digest;
use serde_json::{Value, json};

/// Where Debian's `busybox-static` puts the binary.
const BUSYBOX: &str = "/bin/busybox";
/// The applets linked in `/bin` besides `busybox` itself (`busybox APPLET` runs any).
const APPLETS: &[&str] = &[
    "sh", "ash", "cat", "cp", "echo", "env", "false", "grep", "head", "id", "ln", "ls", "mkdir",
    "mv", "pwd", "rm", "sed", "sleep", "sort", "tail", "test", "touch", "true", "uname", "wc",
];
pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// Write (or add to) an OCI image layout in `dir`, tagged `tag`: an image whose one gzip
/// layer holds `/bin/busybox` (from `busybox-static`) with `/bin/sh` and other applets as
/// symlinks to it, and whose config is for linux on the host's architecture with
/// `Cmd ["/bin/sh"]`. podman runs it, umoci unpacks it. Returns the manifest's digest.
/// Deterministic: the same busybox gives the same digests.
pub fn busybox_layout(dir: &Path, tag: &str) -> Digest {
    write_layout(dir, tag, &[])
}

/// [`busybox_layout`] plus this host's glibc (the dynamic loader and `libc.so.6`, at the
/// paths Debian uses), so that dynamically linked C programs built here run in it.
pub fn busybox_glibc_layout(dir: &Path, tag: &str) -> Digest {
    busybox_glibc_layout_with(dir, tag, &[])
}

/// [`busybox_glibc_layout`] with more files (`(path in the image, host file)`), such as
/// a program and the libraries it needs.
pub fn busybox_glibc_layout_with(dir: &Path, tag: &str, more: &[(&str, &Path)]) -> Digest {
    let (loader, libdir) = match std::env::consts::ARCH {
        "aarch64" => ("lib/ld-linux-aarch64.so.1", "lib/aarch64-linux-gnu"),
        _ => ("lib64/ld-linux-x86-64.so.2", "lib/x86_64-linux-gnu"),
    };
    let read = |path: &str| {
        let host = Path::new("/").join(path);
        std::fs::read(&host).unwrap_or_else(|e| panic!("read {}: {e}", host.display()))
    };
    let libc = format!("{libdir}/libc.so.6");
    let mut files = vec![
        (loader.to_owned(), read(loader)),
        (libc.clone(), read(&libc)),
    ];
    for (path, host) in more {
        let bytes = std::fs::read(host).unwrap_or_else(|e| panic!("read {}: {e}", host.display()));
        files.push(((*path).to_owned(), bytes));
    }
    write_layout(dir, tag, &files)
}

fn write_layout(dir: &Path, tag: &str, extra: &[(String, Vec<u8>)]) -> Digest {
    let busybox = std::fs::read(BUSYBOX).unwrap_or_else(|e| {
        panic!(
            "cannot read `{BUSYBOX}` ({e}): is busybox-static installed? `scripts/deps` installs it"
        )
    });
    let tar = layer_tar(&busybox, extra);
    let diff_id = Digest::sha256_of(&tar);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &tar).expect("gzip in memory");
    let layer = gz.finish().expect("gzip in memory");

    let config = to_vec(&json!({
        "created": "1970-01-01T00:00:00Z",
        "architecture": oci_arch(),
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/bin/sh"],
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "paks-testkit busybox_layout"}],
    }));
    let manifest = to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, &config),
        "layers": [descriptor(OCI_LAYER_GZIP, &layer)],
    }));

    for blob in [&layer, &config] {
        put_blob(dir, blob);
    }
    tag_in_layout(dir, tag, OCI_MANIFEST, &manifest)
}

/// Store `blob` in the layout at `dir` (created if missing) under its sha256.
pub(crate) fn put_blob(dir: &Path, blob: &[u8]) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("create the layout's blobs/sha256");
    let path = blobs.join(Digest::sha256_of(blob).hex());
    std::fs::write(&path, blob).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Store `manifest` (of `media_type`) in the layout at `dir` and tag it `tag` in
/// `index.json`, replacing any entry with the same tag; returns its digest.
pub(crate) fn tag_in_layout(dir: &Path, tag: &str, media_type: &str, manifest: &[u8]) -> Digest {
    put_blob(dir, manifest);
    write(
        &dir.join("oci-layout"),
        &to_vec(&json!({"imageLayoutVersion": "1.0.0"})),
    );

    let index_path = dir.join("index.json");
    let mut index: Value = match std::fs::read(&index_path) {
        Ok(bytes) => serde_json::from_slice(&bytes).expect("index.json is JSON"),
        Err(_) => {
            json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []})
        }
    };
    let manifests = index["manifests"]
        .as_array_mut()
        .expect("index.json has a manifests array");
    manifests.retain(|m| m["annotations"]["org.opencontainers.image.ref.name"] != tag);
    let mut entry = descriptor(media_type, manifest);
    entry["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
    manifests.push(entry);
    write(&index_path, &to_vec(&index));
    Digest::sha256_of(manifest)
}

/// The uncompressed layer: a few directories, `/bin/busybox`, the applet links and a
/// root-only `/etc/passwd`.
fn layer_tar(busybox: &[u8], extra: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for dir in ["bin/", "dev/", "etc/", "proc/", "root/", "sys/", "tmp/"] {
        let mut h = header(
            tar::EntryType::Directory,
            if dir == "tmp/" { 0o1777 } else { 0o755 },
        );
        b.append_data(&mut h, dir, std::io::empty())
            .expect("tar in memory");
    }
    let mut h = header(tar::EntryType::Regular, 0o755);
    h.set_size(busybox.len() as u64);
    h.set_cksum();
    b.append_data(&mut h, "bin/busybox", busybox)
        .expect("tar in memory");
    for applet in APPLETS {
        let mut h = header(tar::EntryType::Symlink, 0o777);
        b.append_link(&mut h, format!("bin/{applet}"), "busybox")
            .expect("tar in memory");
    }
    for (path, content) in [
        ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
        ("etc/group", "root:x:0:\n"),
    ] {
        let mut h = header(tar::EntryType::Regular, 0o644);
        h.set_size(content.len() as u64);
        h.set_cksum();
        b.append_data(&mut h, path, content.as_bytes())
            .expect("tar in memory");
    }
    let mut dirs = std::collections::BTreeSet::new();
    for (path, content) in extra {
        let mut parent = String::new();
        for part in path.split('/').take(path.split('/').count() - 1) {
            parent.push_str(part);
            parent.push('/');
            if dirs.insert(parent.clone()) && !["bin/", "etc/"].contains(&parent.as_str()) {
                let mut h = header(tar::EntryType::Directory, 0o755);
                b.append_data(&mut h, &parent, std::io::empty())
                    .expect("tar in memory");
            }
        }
        let mut h = header(tar::EntryType::Regular, 0o755);
        h.set_size(content.len() as u64);
        h.set_cksum();
        b.append_data(&mut h, path, content.as_slice())
            .expect("tar in memory");
    }
    b.into_inner().expect("tar in memory")
}

pub(crate) fn header(kind: tar::EntryType, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(0);
    h
}

/// The OCI name of the host's architecture.
fn oci_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "loongarch64" => "loong64",
        other => other,
    }
}

pub(crate) fn descriptor(media_type: &str, blob: &[u8]) -> Value {
    json!({
        "mediaType": media_type,
        "digest": Digest::sha256_of(blob).to_string(),
        "size": blob.len(),
    })
}

pub(crate) fn to_vec(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("JSON in memory")
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}
