//! Attachments against real registries on 127.0.0.1: the registry of `paks serve` (its
//! referrers API, run in-process) and Debian's `docker-registry` (distribution 2.8: no
//! referrers API, so the `sha256-<hex>` tag fallback).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use paks_oci::{
    Client, ClientConfig, Descriptor, Digest, EMPTY_JSON, ImageManifest, Manifest, OCI_INDEX,
    OCI_MANIFEST, Reference, Repository, referrers_tag,
};
use paks_remote::attach;
use paks_testkit::DockerRegistry;

const SBOM: &str = "application/spdx+json";
const SIGNATURE: &str = "application/vnd.paks.signature.v1+json";
const DSSE: &str = "application/vnd.dsse.envelope.v1+json";

/// The registry of `paks serve` over a temporary directory, stopped on drop.
struct PaksRegistry {
    host: String,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl PaksRegistry {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let storage = paks_registry::storage::FsStorage::open(dir.path()).unwrap();
        let app = paks_registry::server::app(
            Arc::new(storage),
            Arc::new(paks_registry::auth::AccessControl::open()),
            None,
            false,
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let limits = paks_registry::limits::Limits::default();
            paks_registry::listen::serve(listener, None, app, &limits, None, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        Self {
            host,
            _dir: dir,
            stop: Some(stop),
        }
    }
}

impl Drop for PaksRegistry {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn client() -> Client {
    Client::new(ClientConfig {
        retry_delay: Duration::from_millis(20),
        timeout: Duration::from_secs(30),
        ..ClientConfig::default()
    })
    .unwrap()
}

fn repo(host: &str) -> Repository {
    Repository {
        registry: host.to_owned(),
        name: "tools/hello".to_owned(),
    }
}

/// Pushes a small manifest to attach things to (a build stands in for it); returns its
/// descriptor.
async fn push_subject(client: &Client, repo: &Repository, text: &str) -> Descriptor {
    client.push_blob_bytes(repo, EMPTY_JSON).await.unwrap();
    let layer = client.push_blob_bytes(repo, text.as_bytes()).await.unwrap();
    let manifest = ImageManifest::artifact(
        "application/vnd.example.build",
        vec![Descriptor::new(
            "application/octet-stream",
            layer,
            text.len() as u64,
        )],
        None,
        BTreeMap::new(),
    );
    let manifest = Manifest::new(OCI_MANIFEST, manifest.to_bytes());
    let reference = Reference {
        registry: repo.registry.clone(),
        repository: repo.name.clone(),
        tag: Some("1.0".into()),
        digest: None,
    };
    client
        .put_manifest(&reference, OCI_MANIFEST, &manifest.bytes)
        .await
        .unwrap();
    manifest.descriptor()
}

/// The fallback tag's index, if the tag exists.
async fn fallback_tag(client: &Client, repo: &Repository, subject: &Digest) -> Option<Vec<u8>> {
    match client
        .get_manifest(&repo.reference_tag(&referrers_tag(subject)))
        .await
    {
        Ok(m) => {
            assert_eq!(m.media_type, OCI_INDEX);
            Some(m.bytes)
        }
        Err(e) if e.is_not_found() => None,
        Err(e) => panic!("{e}"),
    }
}

async fn attach_sbom(
    client: &Client,
    repo: &Repository,
    subject: &Descriptor,
    bytes: &[u8],
) -> Descriptor {
    attach::attach(client, repo, subject, SBOM, SBOM, bytes, BTreeMap::new())
        .await
        .unwrap()
}

/// Attach an SBOM and a signature, list them (all, by type), fetch them back; attaching
/// the same SBOM again changes nothing.
async fn attach_list_fetch(client: &Client, repo: &Repository) -> Descriptor {
    let subject = push_subject(client, repo, "the build").await;
    let sbom_bytes = br#"{"spdxVersion":"SPDX-2.3"}"#;
    let sbom = attach_sbom(client, repo, &subject, sbom_bytes).await;
    assert_eq!(sbom.media_type, OCI_MANIFEST);
    assert_eq!(sbom.artifact_type.as_deref(), Some(SBOM));
    let annotations = BTreeMap::from([("org.example.note".to_owned(), "signed".to_owned())]);
    let signature = attach::attach(
        client,
        repo,
        &subject,
        SIGNATURE,
        DSSE,
        b"{\"payload\":\"\"}",
        annotations.clone(),
    )
    .await
    .unwrap();
    assert_eq!(signature.annotations, annotations);

    let mut listed = attach::list(client, repo, &subject.digest, None)
        .await
        .unwrap();
    listed.sort_by(|a, b| a.artifact_type.cmp(&b.artifact_type));
    assert_eq!(listed, vec![sbom.clone(), signature.clone()]);
    let only = attach::list(client, repo, &subject.digest, Some(SIGNATURE))
        .await
        .unwrap();
    assert_eq!(only, vec![signature.clone()]);

    let (manifest, bytes) = attach::fetch(client, repo, &sbom).await.unwrap();
    assert_eq!(bytes, sbom_bytes);
    assert_eq!(manifest.artifact_type.as_deref(), Some(SBOM));
    assert_eq!(manifest.layers[0].media_type, SBOM);
    assert_eq!(manifest.config.media_type, paks_oci::OCI_EMPTY);
    let on_subject = manifest.subject.expect("a subject");
    assert_eq!(on_subject.digest, subject.digest);
    assert_eq!(on_subject.size, subject.size);
    assert!(manifest.annotations.is_empty(), "no timestamp annotation");

    // The same content again: the same manifest, listed once.
    let again = attach_sbom(client, repo, &subject, sbom_bytes).await;
    assert_eq!(again, sbom);
    let listed = attach::list(client, repo, &subject.digest, None)
        .await
        .unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    subject
}

#[tokio::test]
async fn paks_serve_records_referrers_itself() {
    let registry = PaksRegistry::start().await;
    let client = client();
    let repo = repo(&registry.host);
    let subject = attach_list_fetch(&client, &repo).await;
    // The registry answered `OCI-Subject`: no fallback tag was written.
    assert_eq!(fallback_tag(&client, &repo, &subject.digest).await, None);
}

#[tokio::test]
async fn docker_registry_gets_the_tag_fallback() {
    let registry = DockerRegistry::start();
    let client = client();
    let repo = repo(registry.host());
    let subject = attach_list_fetch(&client, &repo).await;
    let index = fallback_tag(&client, &repo, &subject.digest)
        .await
        .expect("the fallback tag");
    let index: paks_oci::ImageIndex = serde_json::from_slice(&index).unwrap();
    assert_eq!(index.manifests.len(), 2);
}

#[tokio::test]
async fn fetch_refuses_what_is_not_an_attachment() {
    let registry = PaksRegistry::start().await;
    let client = client();
    let repo = repo(&registry.host);
    let subject = push_subject(&client, &repo, "two layers").await;
    // An artifact with two layers is not one attachment.
    let a = client.push_blob_bytes(&repo, b"a").await.unwrap();
    let b = client.push_blob_bytes(&repo, b"b").await.unwrap();
    let manifest = ImageManifest::artifact(
        SBOM,
        vec![Descriptor::new(SBOM, a, 1), Descriptor::new(SBOM, b, 1)],
        Some(subject.clone()),
        BTreeMap::new(),
    );
    let manifest = Manifest::new(OCI_MANIFEST, manifest.to_bytes());
    let by_digest = Reference {
        registry: repo.registry.clone(),
        repository: repo.name.clone(),
        tag: None,
        digest: Some(manifest.digest.clone()),
    };
    client
        .put_manifest(&by_digest, OCI_MANIFEST, &manifest.bytes)
        .await
        .unwrap();
    let err = attach::fetch(&client, &repo, &manifest.descriptor())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("`{by_digest}` is not an attachment: it has 2 layers, not one")
    );
}

/// How many writers race to attach to one subject.
const WRITERS: usize = 8;

/// `WRITERS` different SBOMs attached to one subject at once; returns their descriptors.
async fn attach_at_once(
    client: &Client,
    repo: &Repository,
    subject: &Descriptor,
) -> Vec<Descriptor> {
    let tasks: Vec<_> = (0..WRITERS)
        .map(|i| {
            let (client, repo, subject) = (client.clone(), repo.clone(), subject.clone());
            tokio::spawn(async move {
                let bytes = format!("{{\"spdxVersion\":\"SPDX-2.3\",\"name\":\"sbom {i}\"}}");
                attach_sbom(&client, &repo, &subject, bytes.as_bytes()).await
            })
        })
        .collect();
    let mut attached = Vec::new();
    for t in tasks {
        attached.push(t.await.unwrap());
    }
    attached.sort_by(|a, b| a.digest.cmp(&b.digest));
    attached
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_attaches_on_docker_registry_all_stay_listed() {
    let registry = DockerRegistry::start();
    let client = client();
    let repo = repo(registry.host());
    let subject = push_subject(&client, &repo, "raced").await;
    let attached = attach_at_once(&client, &repo, &subject).await;
    let mut listed = attach::list(&client, &repo, &subject.digest, None)
        .await
        .unwrap();
    listed.sort_by(|a, b| a.digest.cmp(&b.digest));
    assert_eq!(listed, attached);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_fallback_writers_on_paks_serve_all_stay_listed() {
    // `paks serve` lists referrers itself; the tag fallback is written here directly, as
    // a client that does not trust `OCI-Subject` would, to race on its `If-Match`.
    let registry = PaksRegistry::start().await;
    let client = client();
    let repo = repo(&registry.host);
    let subject = push_subject(&client, &repo, "raced").await;
    // The entries must be manifests in the repository (an index may only list those).
    let mut entries = Vec::new();
    for i in 0..WRITERS {
        entries.push(push_subject(&client, &repo, &format!("entry {i}")).await);
    }
    let tasks: Vec<_> = entries
        .iter()
        .map(|d| {
            let (client, repo, subject, d) = (
                client.clone(),
                repo.clone(),
                subject.digest.clone(),
                d.clone(),
            );
            tokio::spawn(async move { client.add_referrer_fallback(&repo, &subject, d).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let index = fallback_tag(&client, &repo, &subject.digest)
        .await
        .expect("the fallback tag");
    let mut listed = serde_json::from_slice::<paks_oci::ImageIndex>(&index)
        .unwrap()
        .manifests;
    listed.sort_by(|a, b| a.digest.cmp(&b.digest));
    entries.sort_by(|a, b| a.digest.cmp(&b.digest));
    assert_eq!(listed, entries);
}
