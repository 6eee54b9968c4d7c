//! The sharded index (schema 2) as `paks index build --format sharded` writes it: to a real
//! `paks serve` namespace (the root as `paks-index:latest`, shards as blobs fetched by
//! digest, only new shards uploaded, all of them kept by `paks serve gc`), to a static
//! directory (`index.yaml` and `shards/<hex>.json`), and by `paks index export`. A
//! schema-1 reader refuses the root by name.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use common::{Env, examples, text};
use paks_index::{Shard, SignedIndex, SignedRoot, TrustError};
use paks_testkit::PaksServe;
use paks_testkit::raw_http::exchange;
use paks_types::Digest;

/// Build a copy of the `hello-script` example named `name`, version `version`; returns the
/// `.pak` path.
fn script_pak(env: &Env, name: &str, version: &str) -> PathBuf {
    let dir = env.dir.path().join(format!("recipe-{name}-{version}"));
    fs_err::create_dir_all(&dir).unwrap();
    let example = examples().join("hello-script");
    for file in ["hello-script.in", "paks.toml"] {
        fs_err::copy(example.join(file), dir.join(file)).unwrap();
    }
    let recipe = fs_err::read_to_string(dir.join("paks.toml")).unwrap();
    let recipe = recipe
        .replacen("name = \"hello-script\"", &format!("name = \"{name}\""), 1)
        .replacen(
            "version = \"0.2.0\"",
            &format!("version = \"{version}\""),
            1,
        );
    fs_err::write(dir.join("paks.toml"), recipe).unwrap();
    PathBuf::from(env.build_dir(&dir).trim())
}

/// GET `path` on the registry; the body of a 200.
fn get(addr: SocketAddr, path: &str) -> Vec<u8> {
    let accept =
        "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";
    let (status, head, body) = exchange(addr, "GET", path, &[("Accept", accept)], b"");
    assert_eq!(status, 200, "GET {path}: {head}{}", text(&body));
    body
}

/// The bytes of the root `paks-index:latest` holds in `acme`.
fn root_bytes(addr: SocketAddr) -> Vec<u8> {
    let manifest: serde_json::Value =
        serde_json::from_slice(&get(addr, "/v2/acme/paks-index/manifests/latest")).unwrap();
    assert_eq!(
        manifest["artifactType"], "application/vnd.paks.index.v1+json",
        "where schema-1 clients look: {manifest}"
    );
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    get(addr, &format!("/v2/acme/paks-index/blobs/{layer}"))
}

/// Every shard of `root`, fetched by digest from the registry, checked against the root.
fn check_registry_shards(addr: SocketAddr, root: &SignedRoot) {
    for (name, r) in &root.signed.shards {
        let bytes = get(addr, &format!("/v2/acme/paks-index/blobs/{}", r.digest));
        assert_eq!(Digest::sha256_of(&bytes), r.digest, "{name}");
        let shard = Shard::from_slice(&bytes, name.as_str()).unwrap();
        assert_eq!(&shard.name, name);
        assert_eq!(shard.version, r.version);
    }
}

/// `paks_registry_uploads_committed_total` of the registry.
fn uploads_committed(addr: SocketAddr) -> u64 {
    let metrics = text(&get(addr, "/metrics"));
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("paks_registry_uploads_committed_total "))
        .unwrap_or_else(|| panic!("no upload counter in {metrics}"))
        .trim()
        .parse()
        .unwrap()
}

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out.lines().last().unwrap()).unwrap()
}

struct Fixture {
    server: PaksServe,
    env: Env,
    key: PathBuf,
}

impl Fixture {
    /// A registry with three script packages pushed under `acme`.
    fn new() -> Self {
        let env = Env::new();
        let server = common::serve(&env);
        let key = env.dir.path().join("key.pem");
        env.ok(&["key", "generate", "--out", key.to_str().unwrap()]);
        let this = Self { server, env, key };
        for name in ["alpha", "beta", "gamma"] {
            this.push(&script_pak(&this.env, name, "0.2.0"), name);
        }
        this
    }

    fn ns(&self) -> String {
        format!("{}/acme", self.server.host())
    }

    fn push(&self, pak: &Path, name: &str) {
        self.env.ok(&[
            "push",
            pak.to_str().unwrap(),
            &format!("{}/{name}", self.ns()),
        ]);
    }

    fn build(&self) -> serde_json::Value {
        json(&self.env.ok(&[
            "index",
            "build",
            &self.ns(),
            "--sign",
            self.key.to_str().unwrap(),
            "--format",
            "sharded",
            "--json",
        ]))
    }
}

#[test]
fn a_sharded_index_on_a_registry_uploads_only_new_shards_and_survives_gc() {
    let f = Fixture::new();
    let addr = f.server.addr();
    let first = f.build();
    assert_eq!(first["format"], "sharded", "{first}");
    assert_eq!(first["packages"], 3, "{first}");
    assert_eq!(first["shards_new"], 3, "{first}");
    assert_eq!(first["shards_uploaded"], 3, "{first}");
    let root = SignedRoot::from_slice(&root_bytes(addr), "root").unwrap();
    assert_eq!(root.signed.schema, 2);
    assert_eq!(root.signed.version, 1);
    assert_eq!(root.signatures.len(), 1);
    assert_eq!(root.signed.keys.len(), 1);
    assert_eq!(root.signed.threshold, 1);
    check_registry_shards(addr, &root);

    // A schema-1 reader fetches the root where it looks for its index, and refuses it by
    // name with the upgrade hint.
    let err = SignedIndex::from_slice(&root_bytes(addr), "root").unwrap_err();
    let trust = err.trust().expect("a trust error");
    assert!(
        matches!(trust, TrustError::NewerSchema { found: 2, .. }),
        "{trust}"
    );
    assert_eq!(trust.hint(), "upgrade paks to read this index");

    // One new version of one package: exactly one new shard, and two blobs uploaded (the
    // shard and the root document).
    f.push(&script_pak(&f.env, "beta", "0.3.0"), "beta");
    let before = uploads_committed(addr);
    let second = f.build();
    assert_eq!(uploads_committed(addr) - before, 2, "{second}");
    assert_eq!(second["shards_new"], 1, "{second}");
    assert_eq!(second["shards_uploaded"], 1, "{second}");
    assert_eq!(second["version"], 2, "{second}");
    let next = SignedRoot::from_slice(&root_bytes(addr), "root").unwrap();
    let changed: Vec<&str> = next
        .signed
        .shards
        .iter()
        .filter(|(name, r)| root.signed.shards[*name] != **r)
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(changed, ["beta"]);
    assert_eq!(next.signed.shards[&changed_name("beta")].version, 2);
    check_registry_shards(addr, &next);
    // Nothing changed: nothing uploaded but the root.
    let before = uploads_committed(addr);
    let third = f.build();
    assert_eq!(third["shards_new"], 0, "{third}");
    assert_eq!(uploads_committed(addr) - before, 1, "{third}");

    // `paks serve gc` keeps every shard of the current root, and does collect: a blob no
    // manifest references goes.
    let orphan = b"referenced by nothing".to_vec();
    let orphan_digest = Digest::sha256_of(&orphan);
    let (status, head, _) = exchange(addr, "POST", "/v2/acme/paks-index/blobs/uploads/", &[], b"");
    assert_eq!(status, 202, "{head}");
    let location = paks_testkit::raw_http::header(&head, "location").unwrap();
    let sep = if location.contains('?') { '&' } else { '?' };
    let (status, head, _) = exchange(
        addr,
        "PUT",
        &format!("{location}{sep}digest={orphan_digest}"),
        &[("Content-Type", "application/octet-stream")],
        &orphan,
    );
    assert_eq!(status, 201, "{head}");
    let data = f.env.dir.path().join("registry-data");
    f.env.ok(&[
        "serve",
        "gc",
        "--root",
        data.to_str().unwrap(),
        "--grace",
        "0",
    ]);
    let (status, _, _) = exchange(
        addr,
        "HEAD",
        &format!("/v2/acme/paks-index/blobs/{orphan_digest}"),
        &[],
        b"",
    );
    assert_eq!(status, 404, "the orphan is collected");
    let current = SignedRoot::from_slice(&root_bytes(addr), "root").unwrap();
    check_registry_shards(addr, &current);
}

fn changed_name(name: &str) -> paks_types::PackageName {
    paks_types::PackageName::new(name).unwrap()
}

/// The file names in `dir/shards`.
fn shard_files(dir: &Path) -> BTreeSet<String> {
    fs_err::read_dir(dir.join("shards"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

/// Every shard `dir/index.yaml` lists is `dir/shards/<hex>.json`, with that digest.
fn check_dir(dir: &Path) -> SignedRoot {
    let root =
        SignedRoot::from_slice(&fs_err::read(dir.join("index.yaml")).unwrap(), "root").unwrap();
    for (name, r) in &root.signed.shards {
        let bytes = fs_err::read(dir.join(format!("shards/{}.json", r.digest.hex()))).unwrap();
        assert_eq!(Digest::sha256_of(&bytes), r.digest, "{name}");
        assert_eq!(&Shard::from_slice(&bytes, "shard").unwrap().name, name);
    }
    root
}

#[test]
fn a_sharded_static_directory_from_pak_files_and_by_export() {
    let f = Fixture::new();
    let dir = f.env.dir.path().join("static");
    fs_err::create_dir_all(&dir).unwrap();
    for name in ["alpha", "beta"] {
        let pak = script_pak(&f.env, name, "0.2.0");
        fs_err::copy(&pak, dir.join(pak.file_name().unwrap())).unwrap();
    }
    let build = |dir: &Path| {
        json(&f.env.ok(&[
            "index",
            "build",
            dir.to_str().unwrap(),
            "--sign",
            f.key.to_str().unwrap(),
            "--format",
            "sharded",
            "--json",
        ]))
    };
    let first = build(&dir);
    assert_eq!(first["shards_written"], 2, "{first}");
    let root = check_dir(&dir);
    assert_eq!(root.signed.version, 1);
    assert_eq!(shard_files(&dir).len(), 2);
    // One more version: one more shard file, the others untouched.
    let pak = script_pak(&f.env, "alpha", "0.3.0");
    fs_err::copy(&pak, dir.join(pak.file_name().unwrap())).unwrap();
    let before = shard_files(&dir);
    let second = build(&dir);
    assert_eq!(second["shards_new"], 1, "{second}");
    assert_eq!(second["shards_written"], 1, "{second}");
    let after = shard_files(&dir);
    assert_eq!(after.difference(&before).count(), 1);
    assert_eq!(check_dir(&dir).signed.version, 2);

    // Export of a sharded registry index: the `.pak` files, the shards and the root as
    // signed on the registry, byte for byte.
    f.build();
    let exported = f.env.dir.path().join("exported");
    let out = json(&f.env.ok(&[
        "index",
        "export",
        &f.ns(),
        exported.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(out["format"], "sharded", "{out}");
    assert_eq!(out["shards_written"], 3, "{out}");
    assert_eq!(out["files"], 3, "{out}");
    assert_eq!(
        fs_err::read(exported.join("index.yaml")).unwrap(),
        root_bytes(f.server.addr())
    );
    let root = check_dir(&exported);
    assert_eq!(shard_files(&exported).len(), root.signed.shards.len());
}
