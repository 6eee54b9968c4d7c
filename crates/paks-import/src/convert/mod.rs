//! Foreign packages into paks rootfs packages: one `.deb` becomes a layer and a
//! [`PackageMeta`] ([`convert_deb`]); a batch of them gets its dependencies pinned by
//! digest and is written as `.pak` files ([`write_batch`]); [`import_debs`] does both.
//!
//! The id of an imported package hashes only [`FORMAT_TAG`], the file's sha256 and the
//! platform, so the same `.deb` always gives the same `.pak`, byte for byte.

mod alternatives;
mod batch;
mod error;
pub(crate) mod libraries;
mod license;
pub(crate) mod observe;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use paks_archive::rootfs::{RootfsLayer, RootfsLimits, write_layer_observed};
use paks_archive::{Compression, LayerInfo};
use paks_types::{
    DebianVersion, ForeignFormat, META_SCHEMA, Origin, PackageId, PackageKind, PackageMeta,
    PackageName, Platform, id_hash, rules,
};

pub use alternatives::{Declared, parse as parse_alternatives};
pub use batch::{Imported, Relations, Unsatisfied, write_batch};
pub use error::ConvertError;
pub use license::dep5_license;
pub use observe::{CA_BUNDLE, ca_bundle};

use crate::deb::{self, BinaryControl, DebReader};

/// Hashed into every imported package's id; a change of the conversion that changes its
/// output must change this tag.
pub const FORMAT_TAG: &str = "paks-import/deb/1";

/// How to import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The platform of `Architecture: all` packages, and the one every other package
    /// must match when set; the host's when `None`.
    pub platform: Option<Platform>,
    /// The layer compression (gzip by default, which every OCI tool reads).
    pub compression: Compression,
    pub deb_limits: deb::Limits,
    pub layer_limits: RootfsLimits,
}

/// One package (`.deb`, `.apk`) converted: its layer (a temporary blob), metadata without dependencies,
/// and what the importer noticed.
pub struct Converted<C = BinaryControl> {
    /// The file read.
    pub path: PathBuf,
    /// Its control data (Debian's `control`, Alpine's `.PKGINFO`).
    pub control: C,
    /// Complete but for `dependencies`, filled by [`write_batch`].
    pub meta: PackageMeta,
    pub layer: RootfsLayer,
    /// The compressed layer, deleted when this is dropped.
    pub blob: tempfile::NamedTempFile,
    /// Things the importer could not carry over, for the user (a homepage that breaks
    /// the metadata rules, `update-alternatives` calls not understood).
    pub notes: Vec<String>,
}

/// Converts and writes every `.deb` in `paths` as one batch into `out_dir`: dependencies
/// satisfied inside the batch are pinned (see [`write_batch`]). `progress` is called with
/// each file before it is read.
pub fn import_debs(
    paths: &[PathBuf],
    out_dir: &Path,
    options: &ImportOptions,
    progress: &mut dyn FnMut(&Path),
) -> Result<Vec<Imported>, ConvertError> {
    let mut converted = Vec::with_capacity(paths.len());
    for path in paths {
        progress(path);
        converted.push(convert_deb(path, out_dir, options)?);
    }
    write_batch(converted, out_dir, options.compression)
}

/// Reads the `.deb` at `path` and writes its layer into a temporary file in `scratch`.
pub fn convert_deb(
    path: &Path,
    scratch: &Path,
    options: &ImportOptions,
) -> Result<Converted, ConvertError> {
    let file = File::open(path).map_err(|e| ConvertError::io(path, e))?;
    let mut reader = DebReader::open(BufReader::new(file), &options.deb_limits)
        .map_err(|e| ConvertError::read(path, e))?;
    let control = reader.control().clone();
    let c = &control.control;
    let asked = options.platform.as_ref();
    let (platform, blob) = platform_and_blob(path, platform_of(&c.architecture, asked), scratch)?;
    let mut seen = observe::Seen::new(&c.package);
    let layer = {
        let data = reader.data().map_err(|e| ConvertError::read(path, e))?;
        let out = std::io::BufWriter::new(blob.as_file());
        write_layer_observed(
            data,
            options.compression,
            out,
            &options.layer_limits,
            &mut seen,
        )
        .map_err(|e| ConvertError::layer(path, e))?
    };
    let (file_digest, _) = reader.finish().map_err(|e| ConvertError::read(path, e))?;
    let id = package_id(
        path,
        seen.not_utf8.take(),
        FORMAT_TAG,
        &file_digest,
        &platform,
        &c.package,
        c.version.semver_compatible(),
    )?;

    let mut notes = Vec::new();
    let homepage = homepage(c.homepage.as_deref(), &mut notes);
    let summary = summary(c.description.as_ref().map(|d| d.summary.as_str()));
    let libraries = libraries::libraries(&seen.libraries, &seen.library_links);
    let origin = origin(&control, file_digest, libraries, &layer, &mut notes);
    let meta = PackageMeta {
        summary,
        license: seen.copyright.as_deref().and_then(dep5_license),
        homepage,
        ..rootfs_meta(id, platform, &layer, seen.contents, origin)
    };
    meta.validate().map_err(|e| ConvertError::meta(path, e))?;
    Ok(Converted {
        path: path.to_owned(),
        control: c.clone(),
        meta,
        layer,
        blob,
        notes,
    })
}

impl<C> Converted<C> {
    /// The layer as [`paks_archive::write_pak`] takes it.
    pub fn layer_info(&self) -> LayerInfo {
        LayerInfo {
            digest: self.layer.digest.clone(),
            size: self.layer.size,
            diff_id: self.layer.diff_id.clone(),
            entries: self.layer.entries,
            unpacked_size: self.layer.unpacked_size,
            contents: Some(self.meta.contents.clone()),
        }
    }
}

impl Converted<BinaryControl> {
    /// The Debian version, verbatim.
    pub fn version(&self) -> &DebianVersion {
        &self.control.version
    }
}

/// The platform of the package at `path`, as its format's `platform_of` found it (an
/// error says why it is not the one asked for), and a temporary file in `scratch` for its
/// layer.
pub(crate) fn platform_and_blob(
    path: &Path,
    platform: Result<Platform, String>,
    scratch: &Path,
) -> Result<(Platform, tempfile::NamedTempFile), ConvertError> {
    let platform = platform.map_err(|reason| ConvertError::Platform {
        path: path.to_owned(),
        reason,
    })?;
    let blob = tempfile::Builder::new()
        .prefix(".import-")
        .tempfile_in(scratch)
        .map_err(|e| ConvertError::io(scratch, e))?;
    Ok((platform, blob))
}

/// An imported package's id: a hash of the conversion's `tag`, the file's digest and
/// the platform, nothing else, so that the same file gives the same package. Called once
/// the layer of the file at `path` is written: a path in it that was not UTF-8
/// (`not_utf8`) is refused here, as is a `name` paks cannot hold.
pub(crate) fn package_id(
    path: &Path,
    not_utf8: Option<String>,
    tag: &str,
    file_digest: &paks_types::Digest,
    platform: &Platform,
    name: &str,
    version: paks_types::Version,
) -> Result<PackageId, ConvertError> {
    if let Some(name) = not_utf8 {
        return Err(ConvertError::invalid(
            path,
            format!("the path `{name}` is not UTF-8"),
        ));
    }
    let name = PackageName::new(name).map_err(|e| ConvertError::meta(path, e))?;
    let hash_input = format!("{tag}\0{file_digest}\0{platform}");
    PackageId::new(id_hash(hash_input.as_bytes()), name, version)
        .map_err(|e| ConvertError::meta(path, e))
}

/// The metadata of a rootfs package, without summary, licence, homepage and
/// dependencies: what every format fills the same way. `contents` are sorted here.
pub(crate) fn rootfs_meta(
    id: PackageId,
    platform: Platform,
    layer: &RootfsLayer,
    mut contents: Vec<String>,
    origin: Origin,
) -> PackageMeta {
    contents.sort();
    PackageMeta {
        schema: META_SCHEMA,
        name: id.name().clone(),
        version: id.version().clone(),
        id,
        platform,
        summary: None,
        license: None,
        homepage: None,
        dependencies: Vec::new(),
        env: Vec::new(),
        relocation: paks_types::Relocation::default(),
        files: layer.entries,
        size: layer.unpacked_size,
        contents,
        needs: paks_types::PackageNeeds::default(),
        kind: PackageKind::Rootfs,
        origin: Some(origin),
        test: None,
    }
}

/// The homepage, when it is an http or https URL the metadata can hold; else a note.
pub(crate) fn homepage(url: Option<&str>, notes: &mut Vec<String>) -> Option<String> {
    let url = url?;
    if rules::text_problem(url).is_none() && rules::is_url(url, &["http", "https"]) {
        return Some(url.to_owned());
    }
    notes.push(format!(
        "homepage `{url}` dropped: not an http or https URL"
    ));
    None
}

/// The one-line summary, when the metadata can hold it.
pub(crate) fn summary(text: Option<&str>) -> Option<String> {
    text.map(|s| s.trim().to_owned())
        .filter(|s| rules::text_problem(s).is_none())
}

/// The origin of a package: its control data verbatim, what its scripts declare.
fn origin(
    control: &deb::DebControl,
    file_digest: paks_types::Digest,
    libraries: Vec<paks_types::Library>,
    layer: &RootfsLayer,
    notes: &mut Vec<String>,
) -> Origin {
    let c = &control.control;
    let declared = control
        .postinst
        .as_deref()
        .map(alternatives::parse)
        .unwrap_or_default();
    for line in &declared.not_understood {
        notes.push(format!("postinst: not understood: `{line}`"));
    }
    Origin {
        format: ForeignFormat::Deb,
        version: c.version.as_str().to_owned(),
        architecture: c.architecture.clone(),
        source: c.source.as_ref().map(|s| s.name.clone()),
        source_version: c
            .source
            .as_ref()
            .and_then(|s| s.version.as_ref())
            .map(|v| v.as_str().to_owned()),
        maintainer: c.maintainer.clone(),
        file_digest,
        relations: relations(c),
        scripts_not_run: control.scripts.clone(),
        conffiles: control
            .conffiles
            .iter()
            .filter_map(|line| conffile(line))
            .collect(),
        alternatives: declared.alternatives,
        libraries,
        dropped_setid: layer.dropped_setid.clone(),
    }
}

/// The platform of a Debian architecture: `all` is `asked` (or the host's); any other
/// must match `asked` when given.
pub fn platform_of(architecture: &str, asked: Option<&Platform>) -> Result<Platform, String> {
    let platform = |arch: &str, variant: Option<&str>| Platform {
        os: "linux".into(),
        architecture: arch.into(),
        variant: variant.map(str::to_owned),
    };
    let p = match architecture {
        "all" => return Ok(asked.cloned().unwrap_or_else(Platform::host)),
        "amd64" => platform("amd64", None),
        "arm64" => platform("arm64", None),
        "i386" => platform("386", None),
        "armhf" => platform("arm", Some("v7")),
        "armel" => platform("arm", Some("v5")),
        "ppc64el" => platform("ppc64le", None),
        "s390x" => platform("s390x", None),
        "riscv64" => platform("riscv64", None),
        "mips64el" => platform("mips64le", None),
        other => {
            return Err(format!(
                "the Debian architecture `{other}` has no OCI platform"
            ));
        }
    };
    match asked {
        Some(want) if !p.runs_on(want) => Err(format!(
            "the package is for `{p}` (`{architecture}`), not `{want}`"
        )),
        _ => Ok(p),
    }
}

/// The relation fields as the control data states them, keyed lower-case.
fn relations(c: &BinaryControl) -> BTreeMap<String, String> {
    const FIELDS: [&str; 7] = [
        "Depends",
        "Pre-Depends",
        "Recommends",
        "Provides",
        "Conflicts",
        "Breaks",
        "Replaces",
    ];
    FIELDS
        .iter()
        .filter_map(|f| {
            let value = crate::deb::deb822::unfold(c.paragraph.get(f)?);
            let value = value.trim().to_owned();
            (!value.is_empty()).then(|| (f.to_ascii_lowercase(), value))
        })
        .collect()
}

/// A `conffiles` line (`[flag ]/path`) as a path relative to `/`.
fn conffile(line: &str) -> Option<String> {
    let path = line.split_whitespace().last()?.strip_prefix('/')?;
    let normal = rules::relative_path(path).ok()?;
    (normal.as_os_str() == path).then(|| path.to_owned())
}
