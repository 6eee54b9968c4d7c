//! "Will this image run well here?", answered without running anything.
//!
//! - [`inspect`] reads an image ([`ImageSource`]: a registry reference, `oci:DIR[:TAG]`,
//!   `oci-archive:FILE[:TAG]` or a `.pak`, `docker-archive:FILE`) layer by layer, streaming: layers are decompressed (gzip,
//!   zstd, plain) and walked as tars, whiteouts applied, and every ELF file analysed in
//!   memory as it goes by ([`Binary`]: machine, kind, interpreter, `DT_NEEDED` and who
//!   provides each, `GLIBC_`/`GLIBCXX_` versions needed, the x86-64 level from the GNU
//!   property note or estimated from the code, MPI and CUDA linkage). Nothing is unpacked
//!   to disk. The [`ImageReport`] adds the image's config labels, platform and a
//!   [`Summary`].
//! - [`compat`] judges a report against a host profile ([`Verdict`]: runs, runs not
//!   optimally, will not run, with reasons naming binaries and numbers);
//!   [`bind_mount_checks`] says whether the host's MPI and CUDA driver can be bind-mounted
//!   into the image.
//! - [`computed_labels`] turns a report into the labels `docs/labels.md` defines, and
//!   [`label`] writes labels into an image's config in a registry (new config, new
//!   manifest, tag moved).

mod elf;
mod error;
mod isa;
mod labels;
mod package;
mod report;
mod rootfs;
mod source;
mod verdict;

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::sync::Arc;

use paks_oci::layout::Layout;
use paks_oci::{Client, Descriptor, ImageIndex, ImageManifest, StreamHasher};

pub use elf::{
    Binary, BinaryKind, Needed, analyse as analyse_elf, is_cuda, is_host_driver, is_loader,
    machine_name, mpi_abi,
};
pub use error::InspectError;
pub use isa::{DECODE_BUDGET, Isa, IsaLevel, IsaSource, MIN_EVIDENCE};
pub use labels::{
    LABEL_GLIBC, LABEL_GLIBC_PROVIDED, LABEL_GLIBC_REQUIRED, LABEL_GLIBCXX_REQUIRED, LABEL_GPU,
    LABEL_ISA_LEVEL, LABEL_ISA_LEVEL_SOURCE, LABEL_MPI, computed_labels, label,
};
pub use report::{CudaNeed, ImageReport, IsaSummary, Missing, MpiNeed, Requirement, Summary};
pub use rootfs::{Compression, ELF_SIZE_CAP};
pub use source::{ImageSource, InspectOptions, best_level};
pub use verdict::{
    BindCheck, BindKind, LABEL_TUNED, Reason, Status, Verdict, bind_mount_checks, compat,
};

use crate::report::ImageConfig;
use crate::rootfs::{LayerScan, Rootfs, scan_layer};

/// Image configs larger than this are refused.
const CONFIG_LIMIT: u64 = 16 * 1024 * 1024;
/// Index nesting followed at most.
const MAX_DEPTH: usize = 4;

/// Inspect an image for this machine's platform (the generic build of an index).
pub async fn inspect(client: &Client, source: &ImageSource) -> Result<ImageReport, InspectError> {
    inspect_with(client, source, &InspectOptions::default()).await
}

/// Inspect an image, choosing from an index as `options` say.
pub async fn inspect_with(
    client: &Client,
    source: &ImageSource,
    options: &InspectOptions,
) -> Result<ImageReport, InspectError> {
    match source {
        ImageSource::Registry(reference) => inspect_registry(client, reference, options).await,
        ImageSource::Layout { dir: path, tag } | ImageSource::OciArchive { file: path, tag } => {
            let archive = matches!(source, ImageSource::OciArchive { .. });
            let (path, tag, options, name) = (
                path.clone(),
                tag.clone(),
                options.clone(),
                source.to_string(),
            );
            blocking(move || {
                if !archive {
                    return inspect_layout(&name, &path, tag.as_deref(), &options);
                }
                // An `oci-archive:` (a `.pak` too) is unpacked into a temporary directory,
                // removed when the inspection ends.
                let dir = tempfile::tempdir().map_err(InspectError::io(std::env::temp_dir()))?;
                paks_oci::unpack_archive(&path, dir.path()).map_err(InspectError::oci(&name))?;
                inspect_layout(&name, dir.path(), tag.as_deref(), &options)
            })
            .await
        }
        ImageSource::DockerArchive { file, name } => {
            let (file, name, image) = (file.clone(), name.clone(), source.to_string());
            blocking(move || inspect_docker_archive(&image, &file, name.as_deref())).await
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, InspectError> + Send + 'static,
) -> Result<T, InspectError> {
    tokio::task::spawn_blocking(f)
        .await
        .expect("the inspection task does not panic")
}

/// Inspect layers given as readers (compressed or not, base first) with an optional
/// image config: the pipeline of [`inspect`] without a source, for tests and tools.
pub fn inspect_layers<R: Read>(
    config: Option<&[u8]>,
    layers: impl IntoIterator<Item = R>,
) -> Result<ImageReport, InspectError> {
    let image = "layers";
    let config = parse_config(image, config)?;
    let mut scans = Vec::new();
    for (index, layer) in layers.into_iter().enumerate() {
        let scan = scan_layer(layer, None, index == 0).map_err(|source| InspectError::Layer {
            image: image.into(),
            index,
            layer: format!("#{index}"),
            source,
        })?;
        scans.push(scan);
    }
    Ok(finish(
        image.into(),
        None,
        &config,
        scans,
        BTreeMap::new(),
        Vec::new(),
    ))
}

fn parse_config(image: &str, bytes: Option<&[u8]>) -> Result<ImageConfig, InspectError> {
    bytes
        .map(ImageConfig::parse)
        .transpose()
        .map(Option::unwrap_or_default)
        .map_err(|source| InspectError::Json {
            image: image.to_owned(),
            what: "image config",
            source,
        })
}

/// Apply the scans in order and build the report.
fn finish(
    source: String,
    manifest_digest: Option<String>,
    config: &ImageConfig,
    scans: Vec<LayerScan>,
    annotations: BTreeMap<String, String>,
    alternatives: Vec<String>,
) -> ImageReport {
    let mut fs = Rootfs::default();
    let mut notes = Vec::new();
    for (i, mut scan) in scans.into_iter().enumerate() {
        notes.extend(scan.notes.drain(..).map(|n| format!("layer {i}: {n}")));
        fs.apply(scan);
    }
    report::build(
        source,
        manifest_digest,
        config,
        &fs,
        annotations,
        alternatives,
        notes,
    )
}

/// Run `scan(i)` for every layer on up to as many threads as there are cores; results
/// in layer order.
fn scan_parallel(
    count: usize,
    scan: &(dyn Fn(usize) -> Result<LayerScan, InspectError> + Sync),
) -> Result<Vec<LayerScan>, InspectError> {
    let threads = std::thread::available_parallelism()
        .map_or(2, std::num::NonZero::get)
        .min(count.max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<Result<LayerScan, InspectError>>>> =
        (0..count).map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= count {
                        break;
                    }
                    let r = scan(i);
                    let failed = r.is_err();
                    *results[i].lock().expect("not poisoned") = Some(r);
                    if failed {
                        // Stop handing out work; the first error in order is returned.
                        next.store(count, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let mut out = Vec::with_capacity(count);
    for r in results {
        match r.into_inner().expect("not poisoned") {
            Some(Ok(scan)) => out.push(scan),
            Some(Err(e)) => return Err(e),
            None => {}
        }
    }
    Ok(out)
}

/// A reader that hashes what passes through it.
struct HashingReader<R> {
    inner: R,
    hasher: StreamHasher,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

fn is_index(media_type: &str) -> bool {
    media_type == paks_oci::OCI_INDEX || media_type == paks_oci::DOCKER_MANIFEST_LIST
}

/// The media type in a manifest's JSON, else the descriptor's.
fn media_type_of(bytes: &[u8], fallback: &str) -> String {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| v.get("mediaType")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| fallback.to_owned())
}

fn parse_manifest(image: &str, bytes: &[u8]) -> Result<ImageManifest, InspectError> {
    serde_json::from_slice(bytes).map_err(|source| InspectError::Json {
        image: image.to_owned(),
        what: "image manifest",
        source,
    })
}

fn parse_index(image: &str, bytes: &[u8]) -> Result<ImageIndex, InspectError> {
    serde_json::from_slice(bytes).map_err(|source| InspectError::Json {
        image: image.to_owned(),
        what: "image index",
        source,
    })
}

fn inspect_layout(
    image: &str,
    dir: &std::path::Path,
    tag: Option<&str>,
    options: &InspectOptions,
) -> Result<ImageReport, InspectError> {
    let layout = Layout::open(dir).map_err(InspectError::oci(image))?;
    let (mut desc, mut alternatives) = if let Some(t) = tag {
        let d = layout.resolve(t).ok_or_else(|| {
            InspectError::image(image, format!("the layout has no manifest tagged `{t}`"))
        })?;
        (d, Vec::new())
    } else {
        let index = ImageIndex {
            manifests: layout.manifests(),
            ..ImageIndex::default()
        };
        if let [only] = index.manifests.as_slice() {
            (only.clone(), Vec::new())
        } else {
            source::choose(image, &index, options)?
        }
    };
    let mut bytes = layout
        .read_blob(&desc.digest)
        .map_err(InspectError::oci(image))?;
    for _ in 0..MAX_DEPTH {
        if !is_index(&media_type_of(&bytes, &desc.media_type)) {
            break;
        }
        (desc, alternatives) = source::choose(image, &parse_index(image, &bytes)?, options)?;
        bytes = layout
            .read_blob(&desc.digest)
            .map_err(InspectError::oci(image))?;
    }
    let manifest = parse_manifest(image, &bytes)?;
    let config_bytes = layout
        .read_blob(&manifest.config.digest)
        .map_err(InspectError::oci(image))?;
    let config = parse_config(image, Some(&config_bytes))?;
    let layers = &manifest.layers;
    let scans = scan_parallel(layers.len(), &|index| {
        let d = &layers[index];
        let layer_err = |source| InspectError::Layer {
            image: image.to_owned(),
            index,
            layer: d.digest.to_string(),
            source,
        };
        let path = layout.blob_path(&d.digest);
        let file = std::fs::File::open(&path).map_err(InspectError::io(&path))?;
        let mut reader = HashingReader {
            inner: io::BufReader::new(file),
            hasher: StreamHasher::new(d.digest.algorithm()),
        };
        let scan = scan_layer(
            &mut reader,
            Compression::from_media_type(&d.media_type),
            index == 0,
        )
        .map_err(layer_err)?;
        // The tar ends before its padding and the compressed stream's trailer: hash
        // the rest too, then check the digest.
        io::copy(&mut reader, &mut io::sink()).map_err(InspectError::io(&path))?;
        let actual = reader.hasher.finish();
        if actual != d.digest {
            return Err(layer_err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the blob's digest is `{actual}`"),
            )));
        }
        Ok(scan)
    })?;
    Ok(finish(
        image.to_owned(),
        Some(desc.digest.to_string()),
        &config,
        scans,
        manifest.annotations.clone(),
        alternatives,
    ))
}

fn inspect_docker_archive(
    image: &str,
    file: &std::path::Path,
    name: Option<&str>,
) -> Result<ImageReport, InspectError> {
    let archive = source::DockerArchive::open(file)?;
    let (config_name, layers) = archive.image(name)?;
    let config_bytes = archive.read(&config_name, CONFIG_LIMIT)?;
    let config = parse_config(image, Some(&config_bytes))?;
    let scans = scan_parallel(layers.len(), &|index| {
        let member = archive.member(&layers[index])?;
        scan_layer(io::BufReader::new(member), None, index == 0).map_err(|source| {
            InspectError::Layer {
                image: image.to_owned(),
                index,
                layer: layers[index].clone(),
                source,
            }
        })
    })?;
    Ok(finish(
        image.to_owned(),
        None,
        &config,
        scans,
        BTreeMap::new(),
        Vec::new(),
    ))
}

/// Resolve a registry reference to an image manifest (through indexes), and the
/// alternatives the index offered.
pub(crate) async fn fetch_image_manifest(
    client: &Client,
    reference: &paks_oci::Reference,
    options: &InspectOptions,
) -> Result<(paks_oci::Manifest, ImageManifest, Vec<String>), InspectError> {
    let image = reference.to_string();
    let mut manifest = client
        .get_manifest(reference)
        .await
        .map_err(InspectError::oci(&image))?;
    let mut alternatives = Vec::new();
    for _ in 0..MAX_DEPTH {
        if !manifest.is_index() {
            break;
        }
        let chosen;
        (chosen, alternatives) =
            source::choose(&image, &parse_index(&image, &manifest.bytes)?, options)?;
        manifest = client
            .get_manifest(&reference.with_digest(&chosen.digest))
            .await
            .map_err(InspectError::oci(&image))?;
    }
    let parsed = parse_manifest(&image, &manifest.bytes)?;
    Ok((manifest, parsed, alternatives))
}

async fn inspect_registry(
    client: &Client,
    reference: &paks_oci::Reference,
    options: &InspectOptions,
) -> Result<ImageReport, InspectError> {
    let image = reference.to_string();
    let repo = reference.repo();
    let (raw, manifest, alternatives) = fetch_image_manifest(client, reference, options).await?;
    let config_bytes = client
        .pull_blob_bytes(&repo, &manifest.config.digest, CONFIG_LIMIT)
        .await
        .map_err(InspectError::oci(&image))?;
    let config = parse_config(&image, Some(&config_bytes))?;

    // Each layer is downloaded (verified) to a temporary file and scanned on a blocking
    // thread while the next downloads; at most one layer per core is in flight.
    let tmp = Arc::new(tempfile::tempdir().map_err(InspectError::io(std::env::temp_dir()))?);
    let parallel = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let permits = Arc::new(tokio::sync::Semaphore::new(parallel));
    let mut tasks = Vec::new();
    for (index, d) in manifest.layers.iter().enumerate() {
        let permit = permits
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let path = tmp.path().join(format!("layer-{index}"));
        client
            .pull_blob(&repo, &d.digest, Some(d.size), &path, &|_| {})
            .await
            .map_err(InspectError::oci(&image))?;
        let (image, d, tmp) = (image.clone(), d.clone(), tmp.clone());
        tasks.push(tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let _tmp = tmp;
            let result =
                scan_layer_file(&path, &d, index == 0).map_err(|source| InspectError::Layer {
                    image,
                    index,
                    layer: d.digest.to_string(),
                    source,
                });
            let _ = std::fs::remove_file(&path);
            result
        }));
    }
    let mut scans = Vec::with_capacity(tasks.len());
    for t in tasks {
        scans.push(t.await.expect("the scan task does not panic")?);
    }
    Ok(finish(
        image,
        Some(raw.digest.to_string()),
        &config,
        scans,
        manifest.annotations.clone(),
        alternatives,
    ))
}

fn scan_layer_file(path: &std::path::Path, d: &Descriptor, bottom: bool) -> io::Result<LayerScan> {
    let file = std::fs::File::open(path)?;
    scan_layer(
        io::BufReader::new(file),
        Compression::from_media_type(&d.media_type),
        bottom,
    )
}
