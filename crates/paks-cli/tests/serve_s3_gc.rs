//! `paks serve gc` and `paks serve scrub` on a bucket: a real `paks serve --storage s3://…`
//! on a 3-node Garage cluster takes pushes over HTTP; gc deletes only what no manifest
//! references, and scrub finds a blob whose bytes were overwritten in the bucket.

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use common::{Env, paks_bin, text};
use paks_testkit::raw_http::{exchange, header};
use paks_testkit::{Garage, PaksServe};
use paks_types::Digest;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// Uploads `bytes` to `repo` in one POST and one PUT; returns its digest.
fn upload(addr: SocketAddr, repo: &str, bytes: &[u8]) -> Digest {
    let digest = Digest::sha256_of(bytes);
    let (status, head, _) = exchange(
        addr,
        "POST",
        &format!("/v2/{repo}/blobs/uploads/"),
        &[],
        b"",
    );
    assert_eq!(status, 202, "{head}");
    let at = header(&head, "location").expect("a Location").to_owned();
    let sep = if at.contains('?') { '&' } else { '?' };
    let (status, head, _) = exchange(
        addr,
        "PUT",
        &format!("{at}{sep}digest={digest}"),
        &[("Content-Type", "application/octet-stream")],
        bytes,
    );
    assert_eq!(status, 201, "{head}");
    digest
}

fn descriptor(bytes: &[u8]) -> serde_json::Value {
    serde_json::json!({
        "mediaType": "application/octet-stream",
        "digest": Digest::sha256_of(bytes).to_string(),
        "size": bytes.len(),
    })
}

/// `HEAD /v2/<repo>/blobs/<digest>`'s status.
fn blob_status(addr: SocketAddr, repo: &str, digest: &Digest) -> u16 {
    exchange(
        addr,
        "HEAD",
        &format!("/v2/{repo}/blobs/{digest}"),
        &[],
        b"",
    )
    .0
}

/// `paks serve SUBCOMMAND --storage URL ARGS` with the cluster's credentials.
fn serve_cmd(
    env: &Env,
    garage: &Garage,
    sub: &str,
    url: &str,
    args: &[&str],
) -> std::process::Output {
    env.cmd()
        .args(["serve", sub, "--storage", url])
        .args(args)
        .envs(garage.credentials())
        .output()
        .unwrap()
}

#[test]
fn gc_on_a_bucket_deletes_only_unreferenced_blobs_and_scrub_finds_overwritten_bytes() {
    let garage = Garage::start();
    let url = garage.storage_url(0, "cli-gc");
    let env = Env::new();
    let mut command = Command::new(paks_bin());
    command
        .args(["serve", "--storage", &url, "--listen", "127.0.0.1:0"])
        .envs(garage.credentials());
    let server = PaksServe::from_command(command);
    let addr = server.addr();

    let config = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
    let layer = b"a layer that a manifest references".repeat(100);
    let loose = b"uploaded, never referenced".to_vec();
    let layer_digest = upload(addr, "app", &layer);
    upload(addr, "app", &config);
    let loose_digest = upload(addr, "app", &loose);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(&config),
        "layers": [descriptor(&layer)],
    }))
    .unwrap();
    let (status, head, _) = exchange(
        addr,
        "PUT",
        "/v2/app/manifests/v1",
        &[("Content-Type", OCI_MANIFEST)],
        &manifest,
    );
    assert_eq!(status, 201, "{head}");

    // Within the default grace period nothing goes.
    let out = serve_cmd(&env, &garage, "gc", &url, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(blob_status(addr, "app", &loose_digest), 200);

    // Past a grace of one second, only the unreferenced blob goes (HEAD times have whole
    // seconds, so the wait is a little longer).
    std::thread::sleep(Duration::from_secs(3));
    let out = serve_cmd(&env, &garage, "gc", &url, &["--grace", "1", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(report.contains(loose_digest.hex()), "{report}");
    assert!(!report.contains(layer_digest.hex()), "{report}");
    assert_eq!(blob_status(addr, "app", &loose_digest), 404);
    assert_eq!(blob_status(addr, "app", &layer_digest), 200);
    let (status, _, _) = exchange(addr, "GET", "/v2/app/manifests/v1", &[], b"");
    assert_eq!(status, 200);

    // Scrub is clean, then finds the layer whose bytes are overwritten in the bucket.
    let out = serve_cmd(&env, &garage, "scrub", &url, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    overwrite(
        &garage,
        &format!("cli-gc/blobs/sha256/{}", layer_digest.hex()),
    );
    let out = serve_cmd(&env, &garage, "scrub", &url, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(said.contains(layer_digest.hex()), "{said}");
}

/// Replaces the object at `key` in the cluster's bucket with other bytes.
fn overwrite(garage: &Garage, key: &str) {
    use object_store::ObjectStoreExt as _;
    let [(_, id), (_, secret)] = garage.credentials();
    let store = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name("paks")
        .with_region("garage")
        .with_access_key_id(id)
        .with_secret_access_key(secret)
        .with_endpoint(garage.endpoint(1))
        .with_allow_http(true)
        .with_virtual_hosted_style_request(false)
        .build()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(store.put(&key.into(), b"not what was pushed".to_vec().into()))
        .unwrap();
}
