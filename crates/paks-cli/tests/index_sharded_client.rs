//! Clients on a sharded index (schema 2): `repo add` and `install` by name from a registry
//! namespace and from a static directory over HTTP and `file://`, fetching only the
//! shards a resolution touches, one request for an update with no change, the shard
//! cache (a corrupted entry fetched again, offline installs from it), and a shard that
//! does not match its root refused.
//!
//! The sharded index is written here from the schema-1 index `paks index build`/`export`
//! makes (real packages hello and libgreet), plus 28 more names that reuse libgreet's
//! entry, so the root lists 30 packages.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{Env, paks_bin, text};
use paks_index::{
    Index, PackageEntry, Root, SHARD_SCHEMA, Shard, ShardRef, Signature, SignedIndex, SignedRoot,
    SigningKey,
};
use paks_testkit::{HttpServer, PaksServe};
use paks_types::PackageName;

/// Packages in the sharded root: hello, libgreet and the fillers.
const PACKAGES: usize = 30;

/// A builder with libgreet and hello built, hello pushed to a `paks serve`'s `acme`
/// namespace (with its dependency), and a signing key.
struct Published {
    server: PaksServe,
    builder: Env,
    key: PathBuf,
    public: PathBuf,
}

impl Published {
    fn new() -> Self {
        let builder = Env::new();
        let server = PaksServe::start(
            Path::new(paks_bin()),
            &builder.dir.path().join("registry-data"),
            &[],
        );
        builder.build("libgreet");
        let hello = builder.build("hello");
        let ns = format!("{}/acme", server.host());
        builder.ok(&["push", hello.to_str().unwrap(), &format!("{ns}/hello")]);
        let key = builder.dir.path().join("key.pem");
        builder.ok(&["key", "generate", "--out", key.to_str().unwrap()]);
        let public = key.with_extension("pub");
        Self {
            server,
            builder,
            key,
            public,
        }
    }

    /// `paks index build` (schema 1), signed.
    fn build_index(&self) {
        self.builder.ok(&[
            "index",
            "build",
            &self.ns(),
            "--sign",
            self.key.to_str().unwrap(),
        ]);
    }

    fn ns(&self) -> String {
        format!("{}/acme", self.server.host())
    }

    /// A static export of the namespace, sharded, in `<builder>/static`.
    fn static_repo(&self) -> (PathBuf, Root) {
        self.build_index();
        let dir = self.builder.dir.path().join("static");
        self.builder
            .ok(&["index", "export", &self.ns(), dir.to_str().unwrap()]);
        let flat = read_index(&dir.join("index.yaml"));
        let (signed, shards) = shard(&flat, &self.key, &self.public);
        std::fs::create_dir_all(dir.join("shards")).unwrap();
        for (digest, bytes) in &shards {
            std::fs::write(dir.join("shards").join(format!("{digest}.json")), bytes).unwrap();
        }
        std::fs::write(
            dir.join("index.yaml"),
            serde_json::to_vec_pretty(&signed).unwrap(),
        )
        .unwrap();
        (dir, signed.signed)
    }

    /// The namespace's index built, sharded and published as the registry's root and
    /// shard blobs.
    fn registry_repo(&self) -> Root {
        self.build_index();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let client = paks_oci::Client::new(paks_oci::ClientConfig::default()).unwrap();
        let source: paks_index::IndexSource = format!("oci://{}", self.ns()).parse().unwrap();
        let paks_index::IndexSource::Oci(ns) = &source else {
            unreachable!()
        };
        runtime.block_on(async {
            let flat = paks_index::fetch_index(&client, &source).await.unwrap();
            let (signed, shards) = shard(&flat.signed.signed, &self.key, &self.public);
            let repo = paks_index::index_repository(ns);
            for bytes in shards.values() {
                client.push_blob_bytes(&repo, bytes).await.unwrap();
            }
            let root = &signed.signed;
            paks_index::push_index_document(
                &client,
                ns,
                &serde_json::to_vec_pretty(&signed).unwrap(),
                root.generated.as_str(),
                root.version,
            )
            .await
            .unwrap();
            signed.signed
        })
    }
}

fn read_index(path: &Path) -> Index {
    let bytes = std::fs::read(path).unwrap();
    SignedIndex::from_slice(&bytes, "index.yaml")
        .unwrap()
        .signed
}

/// `flat` as a signed root (version + 1) and its shards by digest hex, with fillers up to
/// [`PACKAGES`] names.
fn shard(flat: &Index, key: &Path, public: &Path) -> (SignedRoot, BTreeMap<String, Vec<u8>>) {
    let mut packages = flat.packages.clone();
    let filler: PackageEntry = packages[&PackageName::new("libgreet").unwrap()].clone();
    let mut n = 0;
    while packages.len() < PACKAGES {
        n += 1;
        packages.insert(
            PackageName::new(&format!("filler-{n:02}")).unwrap(),
            filler.clone(),
        );
    }
    let mut shards = BTreeMap::new();
    let mut refs = BTreeMap::new();
    for (name, package) in packages {
        let shard = Shard {
            schema: SHARD_SCHEMA,
            name: name.clone(),
            version: 1,
            package,
        };
        let bytes = shard.to_bytes();
        refs.insert(
            name,
            ShardRef {
                digest: shard.digest(),
                size: bytes.len() as u64,
                version: 1,
            },
        );
        shards.insert(shard.digest().hex().to_owned(), bytes);
    }
    let signing = SigningKey::load(key).unwrap();
    let public_text = std::fs::read_to_string(public).unwrap().trim().to_owned();
    let keyid = signing.public_key().keyid();
    let root = Root {
        schema: paks_index::ROOT_SCHEMA,
        version: flat.version + 1,
        expires: flat.expires.clone(),
        generated: flat.generated.clone(),
        source: flat.source.clone(),
        keys: [(keyid.clone(), public_text)].into(),
        threshold: 1,
        shards: refs,
    };
    let sig = data_encoding::BASE64.encode(&signing.sign_bytes(&root.canonical_json()));
    let signed = SignedRoot {
        signatures: vec![Signature { keyid, sig }],
        signed: root,
    };
    (signed, shards)
}

fn add_repo(env: &Env, url: &str, key: &Path) {
    env.ok(&["repo", "add", "main", url, "--key", key.to_str().unwrap()]);
}

/// The hex digests of `names`' shards in `root`.
fn shard_hex(root: &Root, names: &[&str]) -> Vec<String> {
    names
        .iter()
        .map(|n| {
            root.shards[&PackageName::new(n).unwrap()]
                .digest
                .hex()
                .to_owned()
        })
        .collect()
}

/// The `GET` lines of `log` that name one of `root`'s shards.
fn shard_requests(log: &str, root: &Root) -> Vec<String> {
    let all: Vec<String> = root
        .shards
        .values()
        .map(|r| r.digest.hex().to_owned())
        .collect();
    log.lines()
        .filter(|l| l.contains("GET"))
        .filter(|l| all.iter().any(|hex| l.contains(hex.as_str())))
        .map(str::to_owned)
        .collect()
}

fn cached_shard(env: &Env, hex: &str) -> PathBuf {
    env.root.join("cache/index-shards/sha256").join(hex)
}

#[test]
fn install_from_a_sharded_registry_fetches_only_the_shards_it_needs() {
    let p = Published::new();
    let root = p.registry_repo();
    let env = Env::new();
    add_repo(&env, &format!("oci://{}", p.ns()), &p.public);
    let added = p.server.stderr().lines().count();
    env.ok(&["install", "hello"]);
    assert!(
        env.store_entries().iter().any(|e| e.contains("-hello-")),
        "{:?}",
        env.store_entries()
    );
    let log = p.server.stderr();
    let since_add: String = log.lines().skip(added).collect::<Vec<_>>().join("\n");
    let fetched = shard_requests(&since_add, &root);
    assert_eq!(fetched.len(), 2, "{fetched:#?}");
    for hex in shard_hex(&root, &["hello", "libgreet"]) {
        assert!(fetched.iter().any(|l| l.contains(&hex)), "{fetched:#?}");
        assert!(cached_shard(&env, &hex).is_file());
    }
    assert!(log.lines().count() > added);

    // Nothing changed: one request (a HEAD of the tag), and the cached root is used.
    let before = p.server.stderr().lines().count();
    let out = env.run(&["repo", "update"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&format!("{PACKAGES} packages")),
        "{}",
        text(&out.stderr)
    );
    let log = p.server.stderr();
    let new: Vec<&str> = log.lines().skip(before).collect();
    assert_eq!(new.len(), 1, "{new:#?}");
    assert!(
        new[0].contains("HEAD") && new[0].contains("/paks-index/manifests/latest"),
        "{new:#?}"
    );
}

#[test]
fn static_sharded_repository_over_http_caches_shards_and_works_offline() {
    let p = Published::new();
    let (dir, root) = p.static_repo();
    let log_path = p.builder.dir.path().join("http.log");
    let http = HttpServer::start_logged(&dir, &log_path);
    let log = || std::fs::read_to_string(&log_path).unwrap();
    let env = Env::new();
    add_repo(&env, &format!("{}/", http.url()), &p.public);
    env.ok(&["install", "hello"]);
    assert!(env.store_entries().iter().any(|e| e.contains("-hello-")));
    let fetched = shard_requests(&log(), &root);
    assert_eq!(fetched.len(), 2, "{fetched:#?}");
    let [hello, libgreet] =
        <[String; 2]>::try_from(shard_hex(&root, &["hello", "libgreet"])).unwrap();

    // No change: one conditional GET of index.yaml, answered 304.
    let before = log().lines().count();
    env.ok(&["repo", "update"]);
    let all = log();
    let new: Vec<&str> = all.lines().skip(before).collect();
    assert_eq!(new.len(), 1, "{new:#?}");
    assert!(
        new[0].contains("GET /index.yaml") && new[0].contains(" 304 "),
        "{new:#?}"
    );

    // A corrupted cached shard is not trusted: fetched again, and the cache mended.
    let cached = cached_shard(&env, &hello);
    let good = std::fs::read(&cached).unwrap();
    std::fs::write(&cached, b"{\"schema\":1}").unwrap();
    let before = shard_requests(&log(), &root).len();
    env.ok(&["install", "hello"]);
    let after = shard_requests(&log(), &root);
    assert_eq!(after.len(), before + 1, "{after:#?}");
    assert!(after.last().unwrap().contains(&hello), "{after:#?}");
    assert_eq!(std::fs::read(&cached).unwrap(), good);

    // Offline: the cache alone installs hello again; without libgreet's shard it names it.
    drop(http);
    env.ok(&["remove", "hello"]);
    env.ok(&["install", "--offline", "hello"]);
    assert!(env.store_entries().iter().any(|e| e.contains("-hello-")));
    env.ok(&["remove", "hello"]);
    std::fs::remove_file(cached_shard(&env, &libgreet)).unwrap();
    let err = env.fails(&["install", "--offline", "hello"], 1);
    assert!(
        err.contains("offline, and the cache lacks the index shard of package `libgreet`")
            && err.contains(&libgreet),
        "{err}"
    );
}

#[test]
fn a_shard_that_does_not_match_its_root_is_refused() {
    let p = Published::new();
    let (dir, root) = p.static_repo();
    let [hello, libgreet] =
        <[String; 2]>::try_from(shard_hex(&root, &["hello", "libgreet"])).unwrap();
    // hello's shard file holds libgreet's (valid, signed-for) bytes: a mix of shards.
    std::fs::copy(
        dir.join(format!("shards/{libgreet}.json")),
        dir.join(format!("shards/{hello}.json")),
    )
    .unwrap();
    let env = Env::new();
    add_repo(&env, &format!("file://{}", dir.display()), &p.public);
    let out = env.run(&["install", "hello"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("package `hello`")
            && err.contains(&format!("sha256:{hello}"))
            && err.contains(&format!("sha256:{libgreet}")),
        "{err}"
    );
    assert!(!cached_shard(&env, &hello).exists());
    assert!(!env.store_entries().iter().any(|e| e.contains("-hello-")));
}
