//! What `paks info` shows of an imported (rootfs) package's origin.

use paks_types::PackageMeta;

/// Calls `field(label, value)` for the kind and, for an imported package, its
/// distribution facts: format and version, source package, the original file's sha256,
/// the maintainer scripts paks did not run, dropped setid bits, alternatives and the
/// relation fields as the distribution states them. Store packages show nothing extra.
pub(crate) fn fields(
    meta: &PackageMeta,
    field: &mut dyn FnMut(&str, &str) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let Some(o) = &meta.origin else {
        return Ok(());
    };
    field(
        "kind:",
        &format!(
            "{} (imported {} {}, {}): goes into images and sysroots, not a store",
            meta.kind,
            o.format.as_str(),
            o.version,
            o.architecture
        ),
    )?;
    if let Some(s) = &o.source {
        let version = o.source_version.as_deref().unwrap_or(&o.version);
        field("source:", &format!("{s} {version}"))?;
    }
    if let Some(m) = &o.maintainer {
        field("maintainer:", m)?;
    }
    field("file sha256:", o.file_digest.hex())?;
    if !o.scripts_not_run.is_empty() {
        field("not run:", &o.scripts_not_run.join(", "))?;
    }
    if !o.dropped_setid.is_empty() {
        field("unset setid:", &o.dropped_setid.join(", "))?;
    }
    if !o.alternatives.is_empty() {
        field("alternatives:", &o.alternatives.len().to_string())?;
    }
    for (k, v) in &o.relations {
        field(&format!("{k}:"), v)?;
    }
    Ok(())
}
