//! `paks serve --storage s3://…` on a real Garage cluster (3 nodes on 127.0.0.1, one for
//! the whole binary, a key prefix per test) with real clients: skopeo copies a layered
//! image and a multi-arch index in and out, umoci unpacks what came back, podman pulls and
//! runs, and the paks client pushes, indexes and installs by name.

mod common;

use std::path::Path;

use common::{Env, noise, paks_bin, text};
use paks_testkit::raw_http::{exchange, header};
use paks_testkit::{
    Garage, PaksServe, Podman, busybox_layout, layered_layout, multi_arch_layout, skopeo, umoci,
};
use paks_types::Digest;

/// `paks serve` on the shared cluster's node 0, under `prefix`, with its `--root` in `dir`.
fn serve(dir: &Path, prefix: &str) -> PaksServe {
    PaksServe::start_garage(
        Path::new(paks_bin()),
        &dir.join("root"),
        Garage::shared(),
        0,
        prefix,
        &[],
    )
}

#[test]
fn skopeo_copies_a_layered_image_in_and_out_and_umoci_unpacks_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), "serve-s3-layered");
    let layout = dir.path().join("layout");
    // Three layers: small, 12 MiB (over the 5 MiB part size of a multipart upload) and
    // small again, with a file the last one replaces.
    let big = noise(12 << 20, 1);
    layered_layout(
        &layout,
        "1",
        &[
            &[("etc/", b""), ("etc/release", b"one\n")],
            &[("data/", b""), ("data/big", &big)],
            &[
                ("etc/", b""),
                ("etc/release", b"three\n"),
                ("etc/motd", b"hi\n"),
            ],
        ],
    );
    let image = format!("docker://{}/acme/layered:1", server.host());
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:1", layout.display()),
        &image,
    ]);
    // (skopeo compresses the layers on the way in, so the manifest is its own.)
    let raw = skopeo(&["inspect", "--raw", "--tls-verify=false", &image]);
    let pushed: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(pushed["layers"].as_array().unwrap().len(), 3, "{raw}");

    let back = dir.path().join("back");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &image,
        &format!("oci:{}:1", back.display()),
    ]);
    assert_eq!(
        tagged(&back),
        Digest::sha256_of(raw.as_bytes()),
        "the manifest came back byte for byte"
    );
    let bundle = dir.path().join("bundle");
    umoci(&[
        "unpack",
        "--rootless",
        "--image",
        &format!("{}:1", back.display()),
        bundle.to_str().unwrap(),
    ]);
    let rootfs = bundle.join("rootfs");
    assert_eq!(std::fs::read(rootfs.join("data/big")).unwrap(), big);
    assert_eq!(
        std::fs::read_to_string(rootfs.join("etc/release")).unwrap(),
        "three\n"
    );
    assert_eq!(
        std::fs::read_to_string(rootfs.join("etc/motd")).unwrap(),
        "hi\n"
    );
}

#[test]
fn skopeo_copies_a_multi_arch_index_with_all_in_and_out() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), "serve-s3-multi");
    let layout = dir.path().join("layout");
    multi_arch_layout(&layout, "t", "s3");
    let image = format!("docker://{}/acme/multi:t", server.host());
    skopeo(&[
        "copy",
        "--all",
        "--dest-tls-verify=false",
        &format!("oci:{}:t", layout.display()),
        &image,
    ]);
    let raw = skopeo(&["inspect", "--raw", "--tls-verify=false", &image]);
    let index: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let archs: Vec<_> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(archs, ["amd64", "arm64"], "{raw}");

    let back = dir.path().join("back");
    skopeo(&[
        "copy",
        "--all",
        "--src-tls-verify=false",
        &image,
        &format!("oci:{}:t", back.display()),
    ]);
    assert_eq!(tagged(&back), Digest::sha256_of(raw.as_bytes()));
    // Every blob (the index, 2 manifests, 2 configs, 2 layers) came back whole.
    let blobs: Vec<_> = std::fs::read_dir(back.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    for path in &blobs {
        let name = path.file_name().unwrap().to_str().unwrap();
        assert_eq!(Digest::sha256_of(&std::fs::read(path).unwrap()).hex(), name);
    }
    assert_eq!(blobs.len(), 7, "{blobs:?}");
    // Each platform unpacks.
    for arch in ["amd64", "arm64"] {
        let one = dir.path().join(format!("one-{arch}"));
        skopeo(&[
            "copy",
            "--override-arch",
            arch,
            "--src-tls-verify=false",
            &image,
            &format!("oci:{}:x", one.display()),
        ]);
        let bundle = dir.path().join(format!("bundle-{arch}"));
        umoci(&[
            "unpack",
            "--rootless",
            "--image",
            &format!("{}:x", one.display()),
            bundle.to_str().unwrap(),
        ]);
        assert_eq!(
            std::fs::read_to_string(bundle.join("rootfs/etc/release")).unwrap(),
            format!("s3 {arch}\n")
        );
    }
}

#[test]
fn podman_pulls_and_runs_an_image_from_a_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), "serve-s3-podman");
    let layout = dir.path().join("layout");
    busybox_layout(&layout, "1");
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:1", layout.display()),
        &format!("docker://{}/acme/busybox:1", server.host()),
    ]);
    let podman = Podman::new();
    let image = format!("{}/acme/busybox:1", server.host());
    podman.pull(&image, false);
    let out = podman.run(&image, &["/bin/busybox", "echo", "from a bucket"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "from a bucket\n");
}

#[test]
fn paks_pushes_indexes_and_installs_by_name_from_a_bucket() {
    let builder = Env::new();
    let server = serve(builder.dir.path(), "serve-s3-paks");
    builder.build("libgreet");
    let hello = builder.build("hello");
    let ns = format!("{}/acme", server.host());
    let pushed = builder.ok(&["push", hello.to_str().unwrap(), &format!("{ns}/hello")]);
    assert!(pushed.contains("/acme/libgreet@sha256:"), "{pushed}");
    // Pushing again moves nothing and still succeeds.
    builder.ok(&["push", hello.to_str().unwrap(), &format!("{ns}/hello")]);
    let key = builder.dir.path().join("key.pem");
    builder.ok(&["key", "generate", "--out", key.to_str().unwrap()]);
    builder.ok(&["index", "build", &ns, "--sign", key.to_str().unwrap()]);

    let user = Env::new();
    let added = user.run(&[
        "repo",
        "add",
        "acme",
        &format!("oci://{ns}"),
        "--key",
        key.with_extension("pub").to_str().unwrap(),
    ]);
    assert!(added.status.success(), "{}", text(&added.stderr));
    assert!(
        text(&added.stderr).contains("2 packages"),
        "{}",
        text(&added.stderr)
    );
    let out = user.run(&["install", "hello"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("Installed 2 packages"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(user.ok(&["run", "hello", "--", "hello"]), "Hello, world!\n");
}

/// The digest of the one manifest tagged in the OCI layout at `layout`.
fn tagged(layout: &Path) -> Digest {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn paks_serve_gc_on_a_bucket_deletes_an_orphan_and_keeps_the_image() {
    let dir = tempfile::tempdir().unwrap();
    let garage = Garage::shared();
    let prefix = "serve-s3-gc";
    let server = serve(dir.path(), prefix);
    let layout = dir.path().join("layout");
    busybox_layout(&layout, "1");
    let image = format!("docker://{}/acme/busybox:1", server.host());
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:1", layout.display()),
        &image,
    ]);
    let addr = server.addr();
    let orphan = noise(1000, 3);
    let digest = Digest::sha256_of(&orphan);
    let (status, head, _) = exchange(addr, "POST", "/v2/acme/busybox/blobs/uploads/", &[], b"");
    assert_eq!(status, 202, "{head}");
    let location = header(&head, "location").unwrap();
    let sep = if location.contains('?') { '&' } else { '?' };
    let (status, head, _) = exchange(
        addr,
        "PUT",
        &format!("{location}{sep}digest={digest}"),
        &[("content-type", "application/octet-stream")],
        &orphan,
    );
    assert_eq!(status, 201, "{head}");
    let head_orphan = || {
        exchange(
            addr,
            "HEAD",
            &format!("/v2/acme/busybox/blobs/{digest}"),
            &[],
            b"",
        )
        .0
    };
    assert_eq!(head_orphan(), 200);

    let env = Env::new();
    let gc = |grace: &str| {
        let out = env
            .cmd()
            .args(["serve", "gc", "--storage", &garage.storage_url(0, prefix)])
            .args(["--grace", grace])
            .envs(garage.credentials())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    };
    // Within the default grace period nothing goes.
    gc("86400");
    assert_eq!(head_orphan(), 200);
    // Without grace the orphan goes (a blob's time has whole seconds: a later run may be
    // the first to see it as old enough), and the image stays whole every time.
    let mut runs = 0;
    while head_orphan() == 200 {
        runs += 1;
        assert!(runs <= 10, "the orphan outlived 10 collections");
        std::thread::sleep(std::time::Duration::from_secs(1));
        gc("0");
    }
    assert_eq!(head_orphan(), 404);
    let back = dir.path().join("back");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &image,
        &format!("oci:{}:1", back.display()),
    ]);
    umoci(&[
        "unpack",
        "--rootless",
        "--image",
        &format!("{}:1", back.display()),
        dir.path().join("bundle").to_str().unwrap(),
    ]);
    assert!(dir.path().join("bundle/rootfs/bin/busybox").is_file());
}
