//! The index against a real registry (Debian's docker-registry, distribution 2.8): build
//! it from pushed packages, sign and push it, fetch it back over `oci://`, rebuild it
//! incrementally, export a static repository and fetch that over HTTP and from a
//! directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use paks_archive::{Compression, write_layer, write_pak};
use paks_index::{
    BuildOptions, BuildReport, Index, IndexSource, PublicKey, SignedIndex, SigningKey, TrustError,
    TrustPolicy, TrustState, build_from_paks, build_index, check, export, fetch_index,
    generate_key, push_index, sign, verify,
};
use paks_oci::{Client, ClientConfig, Reference, Repository};
use paks_testkit::{DockerRegistry, HttpServer};
use paks_types::{
    ConfigRootfs, Digest, ImageConfig, META_SCHEMA, NoReporter, PackageDep, PackageId, PackageMeta,
    PackageName, Platform, Relocation, Version, VersionReq, id_hash,
};

/// A built `.pak` and what a test checks it against.
struct Pak {
    path: PathBuf,
    id: PackageId,
    manifest: Digest,
}

/// Write a tiny package `name` `version` depending on `deps`; `glibc` becomes the
/// `io.paks.glibc` manifest annotation.
fn make_pak(dir: &Path, name: &str, version: &str, deps: &[&Pak], glibc: Option<&str>) -> Pak {
    let name = PackageName::new(name).unwrap();
    let version = Version::parse(version).unwrap();
    let id = PackageId::new(
        id_hash(format!("{name}-{version}").as_bytes()),
        name.clone(),
        version.clone(),
    )
    .unwrap();
    let work = dir.join(format!("work-{id}"));
    let src = work.join("prefix");
    std::fs::create_dir_all(src.join("bin")).unwrap();
    std::fs::write(
        src.join("bin").join(name.as_str()),
        format!("{name} {version}\n"),
    )
    .unwrap();
    let blob = work.join("layer");
    let layer = write_layer(
        &src,
        &format!("opt/paks/store/{id}"),
        Compression::default(),
        std::fs::File::create(&blob).unwrap(),
    )
    .unwrap();
    let platform = Platform::host();
    let config = ImageConfig {
        architecture: platform.architecture.clone(),
        os: platform.os.clone(),
        variant: None,
        config: BTreeMap::new(),
        rootfs: ConfigRootfs {
            kind: "layers".into(),
            diff_ids: vec![layer.diff_id.clone()],
        },
        paks: PackageMeta {
            schema: META_SCHEMA,
            name: name.clone(),
            version: version.clone(),
            id: id.clone(),
            platform,
            summary: Some(format!("the {name} package")),
            license: Some("MIT".into()),
            homepage: None,
            dependencies: deps
                .iter()
                .map(|d| PackageDep {
                    name: d.id.name().clone(),
                    req: VersionReq::parse(&format!("^{}", d.id.version())).unwrap(),
                    id: d.id.clone(),
                    digest: Some(d.manifest.clone()),
                })
                .collect(),
            env: vec![],
            relocation: Relocation::default(),
            files: layer.entries,
            size: layer.unpacked_size,
            contents: Vec::new(),
            needs: paks_types::PackageNeeds::default(),
            kind: paks_types::PackageKind::Store,
            origin: None,
            test: None,
        },
    };
    let mut annotations = BTreeMap::from([
        (
            "org.opencontainers.image.title".to_owned(),
            name.to_string(),
        ),
        (
            "org.opencontainers.image.version".to_owned(),
            version.to_string(),
        ),
        (
            "org.opencontainers.image.created".to_owned(),
            "1970-01-01T00:00:00Z".to_owned(),
        ),
        ("io.paks.package.id".to_owned(), id.to_string()),
    ]);
    if let Some(g) = glibc {
        annotations.insert(paks_index::ANNOTATION_GLIBC.to_owned(), g.to_owned());
    }
    let path = dir.join(paks_index::pak_file_name(&id));
    let info = write_pak(
        &path,
        &serde_json::to_vec(&config).unwrap(),
        &blob,
        &layer,
        Compression::default(),
        annotations,
        &version.to_string(),
    )
    .unwrap();
    std::fs::remove_dir_all(&work).unwrap();
    Pak {
        path,
        id,
        manifest: info.manifest_digest,
    }
}

async fn push(client: &Client, store: &paks_store::Store, paks: &[&Pak], target: &Reference) {
    let paths: Vec<PathBuf> = paks.iter().map(|p| p.path.clone()).collect();
    paks_remote::Remote::new(client.clone(), store)
        .push(
            &paths,
            &paks_remote::PushTarget::Guess(target.repo()),
            None,
            &NoReporter,
        )
        .await
        .unwrap();
}

fn namespace_ref(registry: &str, ns: &str) -> Reference {
    Reference {
        registry: registry.to_owned(),
        repository: ns.to_owned(),
        tag: None,
        digest: None,
    }
}

fn options() -> BuildOptions {
    BuildOptions {
        now: SystemTime::now(),
        expires_in: Duration::from_hours(7 * 24),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_from_registry_pushed_fetched_rebuilt_and_exported() {
    let registry = DockerRegistry::start();
    let host = registry.host().to_owned();
    let tmp = tempfile::tempdir().unwrap();
    let store = paks_store::Store::open(&tmp.path().join("store")).unwrap();
    let client = Client::new(ClientConfig::default()).unwrap();
    let paks_dir = tmp.path().join("paks");
    std::fs::create_dir_all(&paks_dir).unwrap();

    let greet = make_pak(&paks_dir, "libgreet", "1.0.0", &[], None);
    let hello = make_pak(&paks_dir, "hello", "1.0.0", &[&greet], Some("2.36"));
    push(
        &client,
        &store,
        &[&greet, &hello],
        &namespace_ref(&host, "acme"),
    )
    .await;
    // Another namespace, which the index of `acme` must not list.
    push(&client, &store, &[&greet], &namespace_ref(&host, "other")).await;

    // The catalog, a page at a time.
    let all = client.catalog(&host, Some(1), None).await.unwrap();
    assert_eq!(all, ["acme/hello", "acme/libgreet", "other/libgreet"]);
    let after = client
        .catalog(&host, Some(1), Some("acme/libgreet"))
        .await
        .unwrap();
    assert_eq!(after, ["other/libgreet"]);

    // Build the index from scratch.
    let ns = Repository {
        registry: host.clone(),
        name: "acme".into(),
    };
    let (v1, report) = build_index(&client, &ns, None, &options()).await.unwrap();
    check_first_index(&v1, &report, &host, &hello, &greet);

    // Sign, push, fetch back over oci://, and trust it.
    let key = SigningKey::from_pem(&generate_key().unwrap().private_pem).unwrap();
    let policy = TrustPolicy {
        keys: vec![key.public_key().clone()],
        allow_unsigned: false,
    };
    let signed_v1 = sign(&v1, &key);
    let pushed = push_index(&client, &ns, &signed_v1).await.unwrap();
    assert_eq!(pushed.repository, "acme/paks-index");
    let source: IndexSource = format!("oci://{host}/acme").parse().unwrap();
    let fetched = fetch_index(&client, &source).await.unwrap();
    assert_eq!(fetched.signed, signed_v1);
    assert_eq!(fetched.raw, signed_v1.to_bytes());
    verify(&fetched.signed, &policy.keys).unwrap();
    let state_dir = tmp.path().join("trust");
    let mut state = TrustState::load(&state_dir, &source.to_string()).unwrap();
    let accepted = check(&fetched.signed, &policy, &state, SystemTime::now()).unwrap();
    state.record(accepted).unwrap();

    // One more version: the rebuild reads only its tag, and reuses the rest.
    let hello11 = make_pak(&paks_dir, "hello", "1.1.0", &[&greet], None);
    push(&client, &store, &[&hello11], &namespace_ref(&host, "acme")).await;
    let (v2, report) = build_index(&client, &ns, Some(&v1), &options())
        .await
        .unwrap();
    assert_eq!(v2.version, 2);
    let counts = |r: &BuildReport| (r.versions, r.versions_read, r.versions_reused);
    assert_eq!(counts(&report), (3, 1, 2), "{report:?}");
    let builds = (report.builds_read, report.builds_reused);
    assert_eq!(builds, (1, 2), "{report:?}");
    assert_eq!(
        v2.package("hello")
            .unwrap()
            .versions
            .keys()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["1.0.0", "1.1.0"]
    );
    v2.require_listed(&hello11.manifest).unwrap();
    let signed_v2 = sign(&v2, &key);
    push_index(&client, &ns, &signed_v2).await.unwrap();
    let fetched = fetch_index(&client, &source).await.unwrap();
    assert_eq!(fetched.signed.signed.version, 2);
    let accepted = check(&fetched.signed, &policy, &state, SystemTime::now()).unwrap();
    state.record(accepted).unwrap();
    // The old index, replayed, is a rollback.
    let err = check(&signed_v1, &policy, &state, SystemTime::now()).unwrap_err();
    assert!(
        matches!(
            err,
            TrustError::Rollback {
                version: 1,
                seen: 2,
                ..
            }
        ),
        "{err}"
    );

    static_repository(
        &client,
        &ns,
        &signed_v2,
        &policy.keys,
        &tmp.path().join("static"),
        &hello,
        &hello11,
    )
    .await;
}

/// What the first index of `acme` (libgreet and hello 1.0.0) must say.
fn check_first_index(v1: &Index, report: &BuildReport, host: &str, hello: &Pak, greet: &Pak) {
    assert_eq!(v1.version, 1);
    assert_eq!(v1.source, format!("oci://{host}/acme"));
    assert_eq!(
        v1.packages
            .keys()
            .map(PackageName::as_str)
            .collect::<Vec<_>>(),
        ["hello", "libgreet"]
    );
    assert_eq!(
        (
            report.repositories,
            report.versions,
            report.versions_read,
            report.builds_read
        ),
        (2, 2, 2, 2),
        "{report:?}"
    );
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    let found = v1.require_listed(&hello.manifest).unwrap();
    assert_eq!(found.name.as_str(), "hello");
    assert_eq!(found.build.id, hello.id);
    assert_eq!(found.build.glibc, Some(Version::new(2, 36, 0)));
    assert_eq!(
        found.build.dependencies[0].digest.as_ref(),
        Some(&greet.manifest)
    );
    assert_eq!(found.package.summary.as_deref(), Some("the hello package"));
    assert_eq!(
        found.build.file.as_deref(),
        Some(paks_index::pak_file_name(&hello.id).as_str())
    );
    assert!(found.build.layer.media_type.ends_with("tar+gzip"));
    assert!(
        v1.package("hello").unwrap().versions[&Version::new(1, 0, 0)]
            .digest
            .is_some()
    );
    assert!(matches!(
        v1.require_listed(&Digest::sha256_of(b"not pushed")),
        Err(TrustError::NotListed { .. })
    ));
}

/// Export `signed` from `ns` to `out`, and fetch it back over HTTP and from the directory.
async fn static_repository(
    client: &Client,
    ns: &Repository,
    signed: &SignedIndex,
    keys: &[PublicKey],
    out: &Path,
    hello: &Pak,
    hello11: &Pak,
) {
    let report = export(client, ns, signed, out).await.unwrap();
    assert_eq!((report.written, report.existed), (3, 0), "{report:?}");
    for b in signed.signed.builds() {
        let file = out.join(b.build.file.as_deref().unwrap());
        let reader = paks_archive::PakReader::open(&file).unwrap();
        assert_eq!(reader.manifest_digest(), &b.build.digest);
        assert_eq!(reader.ref_name(), Some(b.version.to_string().as_str()));
        let opened = paks_store::open_pak(&file).unwrap();
        assert_eq!(opened.config.paks.id, b.build.id);
    }
    // What was pushed comes back byte for byte.
    assert_eq!(
        std::fs::read(out.join(paks_index::pak_file_name(&hello.id))).unwrap(),
        std::fs::read(&hello.path).unwrap()
    );
    let again = export(client, ns, signed, out).await.unwrap();
    assert_eq!((again.written, again.existed), (0, 3), "{again:?}");

    // Over HTTP, from any static file server.
    let server = HttpServer::start(out);
    let http: IndexSource = format!("http://127.0.0.1:{}/", server.port())
        .parse()
        .unwrap();
    let fetched = fetch_index(client, &http).await.unwrap();
    assert_eq!(&fetched.signed, signed);
    verify(&fetched.signed, keys).unwrap();
    let file = fetched
        .signed
        .signed
        .find_build(&hello11.manifest)
        .unwrap()
        .build
        .file
        .clone();
    let url = http.file_location(file.as_deref().unwrap()).unwrap();
    let body = reqwest::get(&url).await.unwrap().bytes().await.unwrap();
    assert_eq!(
        body.as_ref(),
        std::fs::read(out.join(file.unwrap())).unwrap()
    );
    let missing: IndexSource = format!("http://127.0.0.1:{}/nothing/", server.port())
        .parse()
        .unwrap();
    let err = fetch_index(client, &missing).await.unwrap_err();
    assert!(err.to_string().contains("no package index"), "{err}");

    // From a directory.
    let dir: IndexSource = format!("file://{}", out.display()).parse().unwrap();
    let fetched = fetch_index(client, &dir).await.unwrap();
    assert_eq!(&fetched.signed, signed);
    verify(&fetched.signed, keys).unwrap();
    let mut tampered = fetched.signed.clone();
    tampered
        .signed
        .packages
        .retain(|name, _| name.as_str() != "libgreet");
    assert!(matches!(
        verify(&tampered, keys),
        Err(TrustError::BadSignature { .. })
    ));
}

#[test]
fn index_from_a_directory_of_paks_served_from_that_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("repo");
    std::fs::create_dir_all(&dir).unwrap();
    let greet = make_pak(&dir, "libgreet", "1.0.0", &[], None);
    let hello = make_pak(&dir, "hello", "2.0.0-rc.1", &[&greet], None);
    std::fs::write(dir.join("notes.txt"), "not a package").unwrap();
    std::fs::write(dir.join("broken.pak"), "not a tar").unwrap();

    let (index, report) =
        build_from_paks(&dir, "https://paks.example/repo/", None, &options()).unwrap();
    assert_eq!(index.version, 1);
    assert_eq!(report.builds_read, 2, "{report:?}");
    assert_eq!(report.skipped.len(), 1, "{report:?}");
    assert!(report.skipped[0].what.ends_with("broken.pak"), "{report:?}");
    let found = index.require_listed(&hello.manifest).unwrap();
    assert_eq!(found.version, &Version::parse("2.0.0-rc.1").unwrap());
    assert_eq!(
        found.build.file.as_deref(),
        hello.path.file_name().and_then(|n| n.to_str())
    );
    assert!(
        index
            .package("hello")
            .unwrap()
            .versions
            .values()
            .all(|v| v.digest.is_none())
    );
    let (again, _) =
        build_from_paks(&dir, "https://paks.example/repo/", Some(&index), &options()).unwrap();
    assert_eq!(again.version, 2);

    let key = SigningKey::from_pem(&generate_key().unwrap().private_pem).unwrap();
    let signed = sign(&index, &key);
    paks_index::write_index_file(&dir, &signed).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = Client::new(ClientConfig::default()).unwrap();
    let source: IndexSource = dir.display().to_string().parse().unwrap();
    let fetched = runtime.block_on(fetch_index(&client, &source)).unwrap();
    assert_eq!(fetched.signed, signed);
    let state = TrustState::load(&tmp.path().join("trust"), "https://paks.example/repo/").unwrap();
    let policy = TrustPolicy {
        keys: vec![key.public_key().clone()],
        allow_unsigned: false,
    };
    check(&fetched.signed, &policy, &state, SystemTime::now()).unwrap();
    // Unsigned, it is refused unless allowed.
    let unsigned = SignedIndex::unsigned(index);
    assert!(matches!(
        check(&unsigned, &policy, &state, SystemTime::now()),
        Err(TrustError::Unsigned { .. })
    ));
}
