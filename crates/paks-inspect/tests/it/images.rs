//! Whole images: layers in memory (whiteouts, compression, soname providers), OCI image
//! layouts and `docker save` archives.

use std::collections::BTreeMap;

use paks_inspect::{
    ImageSource, InspectOptions, IsaLevel, IsaSource, Status, compat, inspect, inspect_layers,
    inspect_with,
};
use paks_oci::layout::Layout;
use paks_oci::{
    Client, ClientConfig, Descriptor, ImageIndex, ImageManifest, OCI_CONFIG, OCI_MANIFEST,
};
use semver::Version;

use crate::support::{Entry, config, fixtures, glibc_layer, gzip, host, layer, read, zstd};

fn paths(report: &paks_inspect::ImageReport) -> Vec<&str> {
    report.binaries.iter().map(|b| b.path.as_str()).collect()
}

#[test]
fn whiteouts_delete_and_compression_is_detected() {
    let f = fixtures();
    let base = layer(&[
        Entry::File("usr/bin/keep", read(&f.baseline)),
        Entry::File("usr/bin/gone", read(&f.v3)),
        Entry::File("opt/app/lib/old.so", read(&f.libmpi)),
        Entry::File("opt/app/bin/tool", read(&f.baseline)),
        Entry::File(
            "usr/share/doc/readme",
            b"not ELF, long enough to be looked at: ............................".to_vec(),
        ),
    ]);
    // gzip: a whiteout for one file, an opaque directory, a file replacing an ELF with
    // text, and a new file in the opaque directory.
    let upper = gzip(&layer(&[
        Entry::File("usr/bin/.wh.gone", Vec::new()),
        Entry::File("opt/app/.wh..wh..opq", Vec::new()),
        Entry::File("opt/app/bin/new", read(&f.new_glibc)),
        Entry::File("usr/bin/keep-link", Vec::new()),
    ]));
    // zstd: a hard link to a file of a lower layer.
    let top = zstd(&layer(&[Entry::Hardlink("usr/bin/keep2", "usr/bin/keep")]));
    let report = inspect_layers(None, [&base[..], &upper[..], &top[..]]).unwrap();
    assert_eq!(
        paths(&report),
        ["/opt/app/bin/new", "/usr/bin/keep", "/usr/bin/keep2"]
    );
    // The deleted v3 binary does not count: the image is baseline.
    let isa = report.summary.isa.clone().unwrap();
    assert_eq!((isa.level, isa.binary.as_deref()), (IsaLevel::V1, None));
    assert_eq!(isa.estimated, 3);
    let req = report.summary.glibc_required.clone().unwrap();
    assert_eq!(
        (req.version, req.binary.as_str()),
        (Version::new(2, 36, 0), "/opt/app/bin/new")
    );
    // No libc in the image: missing, and so is the interpreter.
    assert_eq!(report.summary.missing.len(), 1);
    assert_eq!(report.summary.missing[0].name, "libc.so.6");
    assert_eq!(report.summary.missing[0].needed_by.len(), 3);
    assert_eq!(
        report.summary.missing_interpreters[0].name,
        "/lib64/ld-linux-x86-64.so.2"
    );

    // Plain tar in one layer, gzip claimed by nothing: still fine; a corrupt gzip is an
    // error naming the layer.
    let mut bad = gzip(&base);
    bad.truncate(bad.len() / 2);
    let e = inspect_layers(None, [&base[..], &bad[..]]).unwrap_err();
    assert!(e.to_string().contains("layer 1"), "{e}");
}

#[test]
fn sonames_are_provided_by_library_dirs_ldconfig_and_runpath() {
    let f = fixtures();
    let glibc = glibc_layer();
    let app = layer(&[
        // Found through /etc/ld.so.conf.d.
        Entry::File("opt/mpi/lib/libmpi.so.40", read(&f.libmpi)),
        Entry::File(
            "etc/ld.so.conf",
            b"include /etc/ld.so.conf.d/*.conf\n".to_vec(),
        ),
        Entry::File("etc/ld.so.conf.d/mpi.conf", b"/opt/mpi/lib\n".to_vec()),
        Entry::File("usr/bin/mpi-app", read(&f.mpi_exe)),
        // A symlink in a default directory (searched as `/lib/x86_64-linux-gnu` first,
        // through `/lib` → `usr/lib`) to the real file elsewhere.
        Entry::File("opt/cuda/lib64/libcudart.so.12.2.140", read(&f.libcudart)),
        Entry::Symlink(
            "usr/lib/x86_64-linux-gnu/libcudart.so.12",
            "/opt/cuda/lib64/libcudart.so.12.2.140",
        ),
        Entry::File("usr/bin/cuda-app", read(&f.cuda_exe)),
        // In no searched directory.
        Entry::File("srv/libhidden.so.1", read(&f.libmpi)),
    ]);
    let report = inspect_layers(Some(&config(&[], &[])), [&glibc[..], &app[..]]).unwrap();
    let bin = |p: &str| report.binaries.iter().find(|b| b.path == p).unwrap();
    let mpi = bin("/usr/bin/mpi-app");
    let by = |b: &paks_inspect::Binary, s: &str| {
        b.needed
            .iter()
            .find(|n| n.soname == s)
            .unwrap()
            .provided_by
            .clone()
    };
    assert_eq!(
        by(mpi, "libmpi.so.40").as_deref(),
        Some("/opt/mpi/lib/libmpi.so.40")
    );
    assert_eq!(
        by(mpi, "libc.so.6").as_deref(),
        Some("/usr/lib/x86_64-linux-gnu/libc.so.6")
    );
    assert_eq!(
        by(bin("/usr/bin/cuda-app"), "libcudart.so.12").as_deref(),
        Some("/usr/lib/x86_64-linux-gnu/libcudart.so.12")
    );
    let s = &report.summary;
    assert!(s.missing.is_empty(), "{:?}", s.missing);
    assert!(
        s.missing_interpreters.is_empty(),
        "{:?}",
        s.missing_interpreters
    );
    assert_eq!(s.image_glibc, Some(Version::new(2, 36, 0)));
    assert_eq!(s.mpi.as_ref().unwrap().abi, "openmpi");
    // The version comes from the real file name behind the soname.
    let cuda = s.cuda.as_ref().unwrap();
    assert_eq!(cuda.version.as_deref(), Some("12.2"));
    assert!(!cuda.driver_api);

    // Without the ld.so.conf, libmpi is missing.
    let no_conf = layer(&[Entry::File("etc/.wh.ld.so.conf", Vec::new())]);
    let report = inspect_layers(None, [&glibc[..], &app[..], &no_conf[..]]).unwrap();
    assert_eq!(report.summary.missing.len(), 1);
    assert_eq!(report.summary.missing[0].name, "libmpi.so.40");
    assert_eq!(report.summary.missing[0].needed_by, ["/usr/bin/mpi-app"]);

    // RUNPATH with $ORIGIN finds it again.
    let dir = tempfile::tempdir().unwrap();
    let rpath_exe = crate::support::compile(
        dir.path(),
        "rp",
        "int MPI_Init0(void);\nint main(void) { return MPI_Init0(); }\n",
        false,
        &[
            &format!("-L{}", f.libmpi.parent().unwrap().display()),
            "-l:libmpi.so.40",
            "-Wl,-rpath,$ORIGIN/../lib",
        ],
    );
    let rp = layer(&[Entry::File("opt/mpi/bin/rp", read(&rpath_exe))]);
    let report = inspect_layers(None, [&glibc[..], &app[..], &no_conf[..], &rp[..]]).unwrap();
    let rp = report
        .binaries
        .iter()
        .find(|b| b.path == "/opt/mpi/bin/rp")
        .unwrap();
    assert_eq!(rp.runpath, ["$ORIGIN/../lib"]);
    assert_eq!(
        rp.needed
            .iter()
            .find(|n| n.soname == "libmpi.so.40")
            .unwrap()
            .provided_by
            .as_deref(),
        Some("/opt/mpi/lib/libmpi.so.40")
    );
}

/// Write an image (config + layers) into `layout`; returns the manifest's descriptor.
pub(crate) fn write_image(
    layout: &Layout,
    config: &[u8],
    layers: &[Vec<u8>],
    annotations: BTreeMap<String, String>,
) -> Descriptor {
    let config_desc = Descriptor::new(
        OCI_CONFIG,
        layout.write_blob_bytes(config).unwrap(),
        config.len() as u64,
    );
    let layers = layers
        .iter()
        .map(|l| {
            let mt = if l.starts_with(&[0x1f, 0x8b]) {
                "application/vnd.oci.image.layer.v1.tar+gzip"
            } else {
                "application/vnd.oci.image.layer.v1.tar"
            };
            Descriptor::new(mt, layout.write_blob_bytes(l).unwrap(), l.len() as u64)
        })
        .collect();
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.into()),
        artifact_type: None,
        config: config_desc,
        layers,
        subject: None,
        annotations,
    };
    let bytes = manifest.to_bytes();
    Descriptor::new(
        OCI_MANIFEST,
        layout.write_blob_bytes(&bytes).unwrap(),
        bytes.len() as u64,
    )
}

fn client() -> Client {
    Client::new(ClientConfig::default()).unwrap()
}

/// A layout tagged `multi` (an index of a generic and a `v3` build) and `plain` (the
/// generic build); returns the two manifests' descriptors.
fn variant_layout(layout: &Layout) -> (Descriptor, Descriptor) {
    let f = fixtures();
    let glibc = gzip(&glibc_layer());
    let generic = write_image(
        layout,
        &config(&[("org.opencontainers.image.title", "demo")], &[]),
        &[
            glibc.clone(),
            layer(&[Entry::File("usr/bin/app", read(&f.baseline))]),
        ],
        BTreeMap::from([("org.example".to_owned(), "x".to_owned())]),
    );
    let tuned = write_image(
        layout,
        &config(&[], &[]),
        &[
            glibc,
            layer(&[Entry::File("usr/bin/app", read(&f.v3_note))]),
        ],
        BTreeMap::new(),
    );
    let platform = |variant: Option<&str>| paks_oci::Platform {
        architecture: "amd64".into(),
        os: "linux".into(),
        os_version: None,
        os_features: vec![],
        variant: variant.map(str::to_owned),
        features: vec![],
    };
    let mut generic_entry = generic.clone();
    generic_entry.platform = Some(platform(None));
    let mut tuned_entry = tuned.clone();
    tuned_entry.platform = Some(platform(Some("v3")));
    let index = ImageIndex {
        manifests: vec![generic_entry, tuned_entry],
        ..ImageIndex::default()
    };
    let bytes = index.to_bytes();
    let index_desc = Descriptor::new(
        paks_oci::OCI_INDEX,
        layout.write_blob_bytes(&bytes).unwrap(),
        bytes.len() as u64,
    );
    layout.add_manifest(index_desc, Some("multi")).unwrap();
    layout.add_manifest(generic.clone(), Some("plain")).unwrap();
    (generic, tuned)
}

#[tokio::test]
async fn oci_layout_with_an_index_of_variants() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::create(dir.path()).unwrap();
    let (generic, tuned) = variant_layout(&layout);
    let source: ImageSource = format!("oci:{}:multi", dir.path().display())
        .parse()
        .unwrap();
    // The generic build, by default; the index offers a v3 one.
    let report = inspect(&client(), &source).await.unwrap();
    assert_eq!(
        report.manifest_digest.as_deref(),
        Some(generic.digest.to_string().as_str())
    );
    assert_eq!(report.alternatives, ["linux/amd64/v3"]);
    assert_eq!(report.platform.as_deref(), Some("linux/amd64"));
    assert_eq!(report.labels["org.opencontainers.image.title"], "demo");
    assert_eq!(report.annotations["org.example"], "x");
    assert_eq!(report.summary.isa.as_ref().unwrap().level, IsaLevel::V1);
    let v = compat(&report, &host("x86_64_v4"));
    assert_eq!(v.status, Status::RunsNotOptimally, "{v:?}");
    assert!(
        v.reasons
            .iter()
            .any(|r| r.message.contains("`linux/amd64/v3` in the index")),
        "{v:?}"
    );

    // A v3 host gets the tuned build.
    let options = InspectOptions {
        platform: "linux/amd64".parse().unwrap(),
        max_level: Some(IsaLevel::V3),
    };
    let report = inspect_with(&client(), &source, &options).await.unwrap();
    assert_eq!(
        report.manifest_digest.as_deref(),
        Some(tuned.digest.to_string().as_str())
    );
    let isa = report.summary.isa.as_ref().unwrap();
    assert_eq!(
        (isa.level, isa.source),
        (IsaLevel::V3, IsaSource::GnuProperty)
    );
    assert_eq!(isa.binary.as_deref(), Some("/usr/bin/app"));
    assert_eq!(compat(&report, &host("x86_64_v3")).status, Status::Runs);

    // By tag, a plain manifest; an unknown tag is an error naming it.
    let plain: ImageSource = format!("oci:{}:plain", dir.path().display())
        .parse()
        .unwrap();
    assert_eq!(inspect(&client(), &plain).await.unwrap().binaries.len(), 3);
    let none: ImageSource = format!("oci:{}:nope", dir.path().display())
        .parse()
        .unwrap();
    let e = inspect(&client(), &none).await.unwrap_err();
    assert!(e.to_string().contains("`nope`"), "{e}");

    // A corrupted layer blob is refused.
    let layer_digest = {
        let m: ImageManifest =
            serde_json::from_slice(&layout.read_blob(&generic.digest).unwrap()).unwrap();
        m.layers[1].digest.clone()
    };
    std::fs::write(layout.blob_path(&layer_digest), layer(&[Entry::Dir("x")])).unwrap();
    let e = inspect(&client(), &plain).await.unwrap_err();
    let chain = format!("{e}: {}", std::error::Error::source(&e).unwrap());
    assert!(
        chain.contains(&layer_digest.to_string()) && chain.contains("digest"),
        "{chain}"
    );
}

#[tokio::test]
async fn docker_archive_from_skopeo() {
    let f = fixtures();
    let dir = tempfile::tempdir().unwrap();
    let oci = dir.path().join("oci");
    let layout = Layout::create(&oci).unwrap();
    let m = write_image(
        &layout,
        &config(&[("io.paks.example", "1")], &[]),
        &[
            gzip(&glibc_layer()),
            layer(&[Entry::File("usr/bin/app", read(&f.v3))]),
        ],
        BTreeMap::new(),
    );
    layout.add_manifest(m, Some("v1")).unwrap();
    let archive = dir.path().join("img.tar");
    paks_testkit::skopeo(&[
        "copy".to_owned(),
        format!("oci:{}:v1", oci.display()),
        format!("docker-archive:{}:demo/app:v1", archive.display()),
    ]);
    let source: ImageSource = format!("docker-archive:{}", archive.display())
        .parse()
        .unwrap();
    let report = inspect(&client(), &source).await.unwrap();
    assert_eq!(report.labels["io.paks.example"], "1");
    assert_eq!(report.summary.isa.as_ref().unwrap().level, IsaLevel::V3);
    assert_eq!(report.summary.image_glibc, Some(Version::new(2, 36, 0)));
    assert_eq!(paths(&report).len(), 3, "{:?}", paths(&report));
    // Chosen by name, and a wrong name is an error.
    let named: ImageSource = format!("docker-archive:{}:demo/app:v1", archive.display())
        .parse()
        .unwrap();
    assert_eq!(inspect(&client(), &named).await.unwrap().binaries.len(), 3);
    let wrong: ImageSource = format!("docker-archive:{}:other:v1", archive.display())
        .parse()
        .unwrap();
    assert!(
        inspect(&client(), &wrong)
            .await
            .unwrap_err()
            .to_string()
            .contains("`other:v1`")
    );
}

#[tokio::test]
async fn busybox_is_static_and_dispatches() {
    let dir = tempfile::tempdir().unwrap();
    paks_testkit::busybox_layout(dir.path(), "bb");
    let source: ImageSource = format!("oci:{}:bb", dir.path().display()).parse().unwrap();
    let report = inspect(&client(), &source).await.unwrap();
    assert_eq!(paths(&report), ["/bin/busybox"]);
    let b = &report.binaries[0];
    assert!(
        b.is_static && b.needed.is_empty() && b.interpreter.is_none(),
        "{b:?}"
    );
    // Static glibc picks string functions by CPU: not a requirement.
    assert!(!b.isa.as_ref().unwrap().is_required(), "{:?}", b.isa);
    assert_eq!(report.summary.isa.as_ref().unwrap().dispatching, 1);
    assert!(report.summary.missing.is_empty());
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["binaries"][0]["kind"], "executable");
}

#[test]
fn the_bottom_layer_replacing_its_own_entries_is_still_applied() {
    // The bottom layer records entries of no interest only when they replace what it set
    // itself: a binary overwritten by text, a directory of binaries replaced by a file,
    // and a hard link to a binary still count as in the archive's order.
    let f = fixtures();
    let base = layer(&[
        Entry::File("usr/bin/overwritten", read(&f.baseline)),
        Entry::File("opt/dir/bin/tool", read(&f.baseline)),
        Entry::File("usr/bin/kept", read(&f.baseline)),
        Entry::Hardlink("usr/bin/kept-link", "usr/bin/kept"),
        Entry::File(
            "usr/bin/overwritten",
            b"text now, long enough to be looked at: ..............................".to_vec(),
        ),
        Entry::File("opt/dir", Vec::new()),
        Entry::Hardlink("usr/bin/dangling", "usr/bin/none"),
    ]);
    let report = inspect_layers(None, [&base[..]]).unwrap();
    assert_eq!(paths(&report), ["/usr/bin/kept", "/usr/bin/kept-link"]);
}
