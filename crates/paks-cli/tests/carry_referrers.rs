//! Attachments travel with what they describe: `paks copy` carries each manifest's
//! referrers (a signature of an SBOM too) between `paks serve` (referrers API), Debian's
//! `docker-registry` (the `sha256-<hex>` tag fallback) and OCI layout directories, with
//! the same digests end to end; `paks index export` writes them beside each `.pak`, and
//! `paks_index::static_referrers` reads them back over HTTP and from a directory.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::Env;
use paks_oci::layout::Layout;
use paks_oci::{Client, ClientConfig, Descriptor, Digest, ImageIndex, Repository};
use paks_testkit::{DockerRegistry, HttpServer, PaksServe};

// paks-attest's artifact types (spelled out: paks-cli does not depend on paks-attest).
const SPDX_JSON: &str = "application/spdx+json";
const SIGNATURE_TYPE: &str = "application/vnd.paks.signature.v1+json";
const DSSE_ENVELOPE: &str = "application/vnd.dsse.envelope.v1+json";

const SBOM: &[u8] = br#"{"spdxVersion":"SPDX-2.3","name":"hello-script"}"#;
const SIGNATURE: &[u8] = b"a signature of the SBOM";

/// hello-script pushed to `paks serve` as `acme/hello-script`, with an SBOM attached to
/// its build and a signature attached to the SBOM.
struct Attached {
    builder: Env,
    server: PaksServe,
    version: String,
    pak: PathBuf,
    build: Descriptor,
    sbom: Descriptor,
    signature: Descriptor,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn client() -> Client {
    Client::new(ClientConfig::default()).unwrap()
}

fn repo(host: &str, name: &str) -> Repository {
    Repository {
        registry: host.to_owned(),
        name: name.to_owned(),
    }
}

impl Attached {
    fn new() -> Self {
        let builder = Env::new();
        let server = common::serve(&builder);
        let pak = builder.build("hello-script");
        let version = "0.2.0".to_owned();
        builder.ok(&[
            "push",
            pak.to_str().unwrap(),
            &format!("{}/acme/hello-script", server.host()),
        ]);
        let here = repo(&server.host(), "acme/hello-script");
        let rt = runtime();
        let (build, sbom, signature) = rt.block_on(async {
            let c = client();
            let index = c.get_manifest(&here.reference_tag(&version)).await.unwrap();
            let index: ImageIndex = serde_json::from_slice(&index.bytes).unwrap();
            let build = index.manifests[0].clone();
            let build = Descriptor::new(build.media_type, build.digest, build.size);
            let sbom = paks_remote::attach::attach(
                &c,
                &here,
                &build,
                SPDX_JSON,
                SPDX_JSON,
                SBOM,
                BTreeMap::new(),
            )
            .await
            .unwrap();
            let signature = paks_remote::attach::attach(
                &c,
                &here,
                &sbom,
                SIGNATURE_TYPE,
                DSSE_ENVELOPE,
                SIGNATURE,
                BTreeMap::from([("io.paks.test".to_owned(), "nested".to_owned())]),
            )
            .await
            .unwrap();
            (build, sbom, signature)
        });
        Self {
            builder,
            server,
            version,
            pak,
            build,
            sbom,
            signature,
        }
    }

    /// `paks copy SRC DST --json`, parsed.
    fn copy(&self, src: &str, dst: &str) -> serde_json::Value {
        let out = self.builder.ok(&["copy", src, dst, "--json"]);
        let line: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(line["type"], "copy", "{out}");
        line
    }

    /// Requires `repo` to list the SBOM among the build's referrers and the signature
    /// among the SBOM's, with the same digests, and their layers to be the same bytes.
    fn assert_attached_in(&self, repo: &Repository) {
        runtime().block_on(async {
            let c = client();
            let of_build = paks_remote::attach::list(&c, repo, &self.build.digest, None)
                .await
                .unwrap();
            let digests: Vec<&Digest> = of_build.iter().map(|d| &d.digest).collect();
            assert_eq!(digests, vec![&self.sbom.digest], "in {repo}");
            assert_eq!(of_build[0].artifact_type.as_deref(), Some(SPDX_JSON));
            let of_sbom = paks_remote::attach::list(&c, repo, &self.sbom.digest, None)
                .await
                .unwrap();
            assert_eq!(of_sbom.len(), 1, "in {repo}: {of_sbom:?}");
            assert_eq!(of_sbom[0].digest, self.signature.digest);
            assert_eq!(of_sbom[0].annotations["io.paks.test"], "nested");
            let (_, layer) = paks_remote::attach::fetch(&c, repo, &of_build[0])
                .await
                .unwrap();
            assert_eq!(layer, SBOM);
            let (manifest, layer) = paks_remote::attach::fetch(&c, repo, &of_sbom[0])
                .await
                .unwrap();
            assert_eq!(layer, SIGNATURE);
            assert_eq!(manifest.subject.unwrap().digest, self.sbom.digest);
        });
    }

    /// Whether `repo` holds the `sha256-<hex>` fallback tag of the build.
    fn has_fallback_tag(&self, repo: &Repository) -> bool {
        let tag = paks_oci::referrers_tag(&self.build.digest);
        runtime().block_on(async {
            match client().get_manifest(&repo.reference_tag(&tag)).await {
                Ok(_) => true,
                Err(e) if e.is_not_found() => false,
                Err(e) => panic!("{e}"),
            }
        })
    }
}

/// The air-gap round trip: `paks serve` → `oci:DIR` → `docker-registry` (no referrers
/// API) → `paks serve` again, and `paks serve` → `docker-registry` directly; the SBOM
/// and the signature of the SBOM arrive everywhere with the same digests.
#[test]
fn copy_carries_referrers_through_layouts_and_registries() {
    let a = Attached::new();
    let source = format!("{}/acme/hello-script:{}", a.server.host(), a.version);

    // paks serve → OCI layout: untagged entries with their artifact type.
    let dir = a.builder.dir.path().join("carry");
    let report = a.copy(&source, &format!("oci:{}", dir.display()));
    assert_eq!(report["referrers"], 2, "{report}");
    assert_eq!(
        report["manifests"], 4,
        "version index, build, SBOM, signature: {report}"
    );
    let layout = Layout::open(&dir).unwrap();
    let found = layout.referrers(&a.build.digest).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].digest, a.sbom.digest);
    assert_eq!(found[0].artifact_type.as_deref(), Some(SPDX_JSON));
    assert_eq!(
        layout.referrers(&a.sbom.digest).unwrap()[0].digest,
        a.signature.digest
    );
    let untagged: Vec<Descriptor> = layout
        .manifests()
        .into_iter()
        .filter(|d| d.ref_name().is_none())
        .collect();
    assert_eq!(untagged.len(), 2, "{untagged:?}");
    assert!(untagged.iter().all(|d| d.artifact_type.is_some()));

    // OCI layout → docker-registry: listed in the `sha256-<hex>` tag fallback.
    let registry = DockerRegistry::start();
    let report = a.copy(
        &format!("oci:{}", dir.display()),
        &format!("{}/mirror", registry.host()),
    );
    assert_eq!(report["referrers"], 2, "{report}");
    let mirror = repo(registry.host(), "mirror/hello-script");
    a.assert_attached_in(&mirror);
    assert!(a.has_fallback_tag(&mirror));

    // Copying again adds nothing twice to the fallback index.
    let report = a.copy(
        &format!("oci:{}", dir.display()),
        &format!("{}/mirror", registry.host()),
    );
    assert_eq!(report["referrers"], 2, "{report}");
    a.assert_attached_in(&mirror);

    // docker-registry (read through the tag fallback) → paks serve (the referrers API,
    // so no fallback tag is written).
    let report = a.copy(
        &format!("{}/mirror/hello-script:{}", registry.host(), a.version),
        &format!("{}/back", a.server.host()),
    );
    assert_eq!(report["referrers"], 2, "{report}");
    let back = repo(&a.server.host(), "back/hello-script");
    a.assert_attached_in(&back);
    assert!(!a.has_fallback_tag(&back));

    // paks serve → docker-registry directly.
    let report = a.copy(&source, &format!("{}/direct", registry.host()));
    assert_eq!(report["referrers"], 2, "{report}");
    a.assert_attached_in(&repo(registry.host(), "direct/hello-script"));

    // The human report counts them.
    let out = a.builder.run(&[
        "copy",
        &source,
        &format!("oci:{}", a.builder.dir.path().join("again").display()),
    ]);
    assert!(out.status.success());
    let stderr = common::text(&out.stderr);
    assert!(stderr.contains("2 of them attachments"), "{stderr}");
}

/// `paks index export` writes each build's attachments beside its `.pak` as an OCI
/// layout; `paks_index::static_referrers` reads the build's own ones back from the
/// static repository over HTTP and from the directory, and the layout copies on.
#[test]
fn index_export_carries_attachments_to_a_static_repository() {
    let a = Attached::new();
    let ns = format!("{}/acme", a.server.host());
    let key = a.builder.dir.path().join("key.pem");
    a.builder
        .ok(&["key", "generate", "--out", key.to_str().unwrap()]);
    a.builder
        .ok(&["index", "build", &ns, "--sign", key.to_str().unwrap()]);
    let site = a.builder.dir.path().join("site");
    let out = a
        .builder
        .ok(&["index", "export", &ns, site.to_str().unwrap(), "--json"]);
    let line: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(line["attachments"], 2, "{out}");

    let file = a.pak.file_name().unwrap().to_str().unwrap().to_owned();
    let dir = site.join(paks_index::referrers_dir_name(&file));
    assert_eq!(
        dir.file_name().unwrap().to_str().unwrap(),
        file.replace(".pak", ".referrers")
    );
    assert!(dir.join("index.json").is_file());
    assert!(dir.join("blobs/sha256").join(a.sbom.digest.hex()).is_file());

    let http = HttpServer::start(&site);
    for source in [
        paks_index::IndexSource::Http(format!("{}/", http.url()).parse().unwrap()),
        paks_index::IndexSource::File(site.clone()),
    ] {
        let found = static_attachments(&source, &a.build.digest).unwrap();
        assert_eq!(found.len(), 1, "only the build's own referrers: {source}");
        assert_eq!(found[0].0.digest, a.sbom.digest);
        assert_eq!(found[0].0.artifact_type.as_deref(), Some(SPDX_JSON));
        assert_eq!(found[0].1, SBOM);
    }

    // A tampered blob is refused, naming the digest.
    let local = paks_index::IndexSource::File(site.clone());
    std::fs::write(dir.join("blobs/sha256").join(a.sbom.digest.hex()), b"{}").unwrap();
    let err = static_attachments(&local, &a.build.digest).unwrap_err();
    assert!(
        err.to_string().contains(&a.sbom.digest.to_string()),
        "{err}"
    );

    // A build exported before it had attachments has none, and that is not an error.
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        static_attachments(&local, &a.build.digest)
            .unwrap()
            .is_empty()
    );
}

/// The attachments of the build `digest` in the static repository `source`, as
/// `paks_index::static_referrers` reads them.
fn static_attachments(
    source: &paks_index::IndexSource,
    digest: &Digest,
) -> Result<Vec<(Descriptor, Vec<u8>)>, paks_index::IndexError> {
    runtime().block_on(async {
        let c = client();
        let fetched = paks_index::fetch_index(&c, source).await.unwrap();
        let found = fetched
            .signed
            .signed
            .builds()
            .find(|b| b.build.digest == *digest)
            .unwrap();
        paks_index::static_referrers(&c, source, found.build).await
    })
}
