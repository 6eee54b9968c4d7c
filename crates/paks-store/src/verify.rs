//! What an arriving package must agree with before anything of it is written: its id,
//! name and version with each other and with its manifest's annotations, one diff id for
//! its one layer, and a layer media type paks knows. The layer's content is checked while
//! it is extracted (its digest, its diff id, its size against the config's claim; see
//! `install`). Field syntax (env names and the like) is checked where `PackageMeta` is
//! validated as a whole.

use paks_archive::Compression;

use crate::{Installable, StoreError, StoreErrorKind};

/// The manifest annotation that names the package id (`paks build` writes it).
pub const ANNOTATION_ID: &str = "io.paks.package.id";
const ANNOTATION_TITLE: &str = "org.opencontainers.image.title";
const ANNOTATION_VERSION: &str = "org.opencontainers.image.version";

/// Refuse `pak` unless its metadata agrees with itself.
pub(crate) fn check(pak: &Installable) -> Result<(), StoreError> {
    let meta = &pak.config.paks;
    let id = &meta.id;
    let disagree = |field: &'static str, found: String, against: &'static str, claim: String| {
        StoreError::from(StoreErrorKind::Inconsistent {
            what: pak.source.clone(),
            field,
            found,
            against,
            claim,
        })
    };
    if meta.name != *id.name() {
        return Err(disagree(
            "package name",
            meta.name.to_string(),
            "its id",
            id.to_string(),
        ));
    }
    if meta.version != *id.version() {
        return Err(disagree(
            "package version",
            meta.version.to_string(),
            "its id",
            id.to_string(),
        ));
    }
    let annotated = [
        (ANNOTATION_ID, id.to_string()),
        (ANNOTATION_TITLE, meta.name.to_string()),
        (ANNOTATION_VERSION, meta.version.to_string()),
    ];
    for (key, expected) in annotated {
        if let Some(value) = pak.annotations.get(key)
            && *value != expected
        {
            return Err(disagree(
                "manifest annotation",
                format!("{key}={value}"),
                "its config, which says",
                expected,
            ));
        }
    }
    let diff_ids = &pak.config.rootfs.diff_ids;
    if diff_ids.len() != 1 {
        return Err(disagree(
            "config's `rootfs.diff_ids`",
            format!("{} entries", diff_ids.len()),
            "its one layer, which needs",
            "1".to_owned(),
        ));
    }
    let media_type = pak.layer_media_type();
    if Compression::from_layer_media_type(&media_type).is_none() {
        return Err(StoreError::from(StoreErrorKind::UnknownLayerType {
            what: pak.source.clone(),
            media_type,
        }));
    }
    Ok(())
}

/// The most a layer may unpack to when its config claims `claimed` bytes: the claim plus
/// a margin of a tenth (at least 1 MiB), so that a build's own count never trips it while
/// a layer that lies about its size is stopped near its claim, whatever its ratio.
pub(crate) fn unpacked_limit(claimed: u64) -> u64 {
    claimed.saturating_add((claimed / 10).max(1 << 20))
}
