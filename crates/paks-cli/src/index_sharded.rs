//! `paks index build --format sharded` and `paks index export` of a sharded index: the
//! writing side of schema 2 (`docs/index-format.md`, "Schema 2: sharded").

use std::io::Write as _;
use std::path::Path;
use std::time::Instant;

use paks_index::{BuildReport, Index, PublishReport, Published, SigningKey};
use paks_types::Reporter as _;
use serde_json::json;

use crate::Failure;
use crate::commands::{Ctx, elapsed, human_size, json_line, out, plural};
use crate::repos::index_failure;

/// The index format `paks index build` writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum IndexFormat {
    /// One signed document holding every package (schema 1).
    #[default]
    Single,
    /// A signed root and one shard per package (schema 2).
    Sharded,
}

/// Sign a schema-1 index with every key (none: unsigned).
pub fn sign_single(index: Index, keys: &[SigningKey]) -> paks_index::SignedIndex {
    let mut signed = paks_index::SignedIndex::unsigned(index);
    for key in keys {
        paks_index::add_signature(&mut signed, key);
    }
    signed
}

/// The schema-1 index a published index describes: the index itself, or a root with its
/// shards (fetched by `shards`). What an incremental rebuild starts from.
pub fn previous_index(
    published: Option<&Published>,
    shards: impl FnOnce(&paks_index::Root) -> Result<Index, paks_index::IndexError>,
) -> Result<Option<Index>, Failure> {
    Ok(match published {
        None => None,
        Some(Published::Single(s)) => Some(s.signed.clone()),
        Some(Published::Sharded(r)) => Some(shards(&r.signed).map_err(index_failure)?),
    })
}

/// Shard `index` over the root published last (if it was sharded) and sign the new root.
fn shard_and_sign(
    index: &Index,
    published: Option<&Published>,
    keys: &[SigningKey],
) -> (paks_index::SignedRoot, Vec<paks_index::Shard>) {
    let previous = match published {
        Some(Published::Sharded(r)) => Some(&r.signed),
        _ => None,
    };
    let sharded = paks_index::shard_index(index, previous, paks_index::RootKeys::of(keys));
    (
        paks_index::sign_root(&sharded.root, keys),
        sharded.new_shards,
    )
}

/// `paks index build REGISTRY/NAMESPACE --format sharded`: rebuild over what was published
/// (fetching the previous root's shards to reuse their entries), then push only the new
/// shards, the shard sets and the root.
pub fn build_registry(
    ctx: &Ctx,
    client: &paks_oci::Client,
    runtime: &tokio::runtime::Runtime,
    ns: &paks_oci::Repository,
    keys: &[SigningKey],
    options: &paks_index::BuildOptions,
    json_out: bool,
) -> Result<(), Failure> {
    let started = Instant::now();
    let published = runtime
        .block_on(paks_index::fetch_published(client, ns))
        .map_err(index_failure)?;
    let previous = previous_index(published.as_ref(), |root| {
        runtime.block_on(paks_index::fetch_all_shards(client, ns, root))
    })?;
    let (index, report) = runtime
        .block_on(paks_index::build_index(
            client,
            ns,
            previous.as_ref(),
            options,
        ))
        .map_err(index_failure)?;
    let (signed, new_shards) = shard_and_sign(&index, published.as_ref(), keys);
    let (pushed, publish) = runtime
        .block_on(paks_index::push_sharded(client, ns, &signed, &new_shards))
        .map_err(index_failure)?;
    warn_skipped(ctx, &report);
    if json_out {
        json_line(&json!({"type": "index", "format": "sharded",
            "reference": pushed.to_string(), "version": signed.signed.version,
            "packages": signed.signed.shards.len(), "shards_new": new_shards.len(),
            "shards_uploaded": publish.shards_written, "bytes_uploaded": publish.bytes,
            "versions_read": report.versions_read, "versions_reused": report.versions_reused,
            "signed": !keys.is_empty()}))?;
    } else {
        writeln!(out(), "{pushed}")?;
    }
    status(
        ctx,
        &signed,
        new_shards.len(),
        &publish,
        "uploaded",
        started,
    );
    Ok(())
}

/// `paks index build DIR --format sharded`: a static repository's `shards/` and
/// `index.yaml` from a directory of `.pak` files.
pub fn build_directory(
    ctx: &Ctx,
    dir: &Path,
    keys: &[SigningKey],
    options: &paks_index::BuildOptions,
    json_out: bool,
) -> Result<(), Failure> {
    let started = Instant::now();
    let published = fs_err::read(dir.join(paks_index::INDEX_FILE))
        .ok()
        .and_then(|raw| Published::from_slice(&raw, paks_index::INDEX_FILE).ok());
    // Only the version of the previous index matters for a directory: every `.pak` is read.
    let previous = previous_index(published.as_ref(), |root| Ok(paks_index::unshard(root, [])))?;
    let source = format!("file://{}", dir.display());
    let (index, report) = paks_index::build_from_paks(dir, &source, previous.as_ref(), options)
        .map_err(index_failure)?;
    let (signed, new_shards) = shard_and_sign(&index, published.as_ref(), keys);
    let (path, publish) =
        paks_index::write_sharded_dir(dir, &signed, &index).map_err(index_failure)?;
    warn_skipped(ctx, &report);
    if json_out {
        json_line(&json!({"type": "index", "format": "sharded", "path": path,
            "version": signed.signed.version, "packages": signed.signed.shards.len(),
            "shards_new": new_shards.len(), "shards_written": publish.shards_written,
            "bytes_written": publish.bytes, "signed": !keys.is_empty()}))?;
    } else {
        writeln!(out(), "{}", path.display())?;
    }
    status(ctx, &signed, new_shards.len(), &publish, "written", started);
    Ok(())
}

/// `paks index export` of a namespace whose index is sharded: every build's `.pak` file,
/// then the shards and the root exactly as published (they are signed).
pub fn export(
    ctx: &Ctx,
    client: &paks_oci::Client,
    runtime: &tokio::runtime::Runtime,
    ns: &paks_oci::Repository,
    signed: &paks_index::SignedRoot,
    dir: &Path,
    json_out: bool,
) -> Result<(), Failure> {
    let started = Instant::now();
    let index = runtime
        .block_on(paks_index::fetch_all_shards(client, ns, &signed.signed))
        .map_err(index_failure)?;
    let report = runtime
        .block_on(paks_index::export_files(client, ns, &index, dir))
        .map_err(index_failure)?;
    let (path, publish) =
        paks_index::write_sharded_dir(dir, signed, &index).map_err(index_failure)?;
    if json_out {
        json_line(
            &json!({"type": "index-export", "format": "sharded", "index": path,
                          "shards_written": publish.shards_written,
                          "files": report.written + report.existed,
                          "written": report.written, "bytes": report.bytes,
                          "attachments": report.attachments}),
        )?;
    }
    ctx.reporter.status(&format!(
        "Exported `{}`, {} new shard{} and {} package file{} ({} new, {}) in {}",
        path.display(),
        publish.shards_written,
        plural(publish.shards_written),
        report.written + report.existed,
        plural(report.written + report.existed),
        report.written,
        human_size(report.bytes),
        elapsed(started)
    ));
    Ok(())
}

fn warn_skipped(ctx: &Ctx, report: &BuildReport) {
    for s in &report.skipped {
        ctx.reporter
            .warn(&format!("skipped {}: {}", s.what, s.reason));
    }
}

fn status(
    ctx: &Ctx,
    signed: &paks_index::SignedRoot,
    new_shards: usize,
    publish: &PublishReport,
    verb: &str,
    started: Instant,
) {
    let packages = signed.signed.shards.len();
    ctx.reporter.status(&format!(
        "Indexed {packages} package{} (sharded, version {}; {new_shards} new shard{}, {} {verb}) in {}{}",
        plural(packages),
        signed.signed.version,
        plural(new_shards),
        human_size(publish.bytes),
        elapsed(started),
        if signed.signatures.is_empty() {
            "; unsigned: clients need `--allow-unsigned`"
        } else {
            ""
        }
    ));
}
