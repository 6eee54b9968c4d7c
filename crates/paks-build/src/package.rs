//! After the build: make the prefix relocatable, then package it reproducibly.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use paks_archive::{Compression, write_layer, write_pak};
use paks_recipe::Recipe;
use paks_store::Record;
use paks_types::{
    CANONICAL_STORE, ConfigRootfs, Digest, ImageConfig, META_SCHEMA, PackageDep, PackageId,
    PackageMeta, PackageName, Platform, Relocation, VersionReq,
};

use crate::BuildError;

pub struct Postprocessed {
    pub relocation: Relocation,
    pub runpath_unchanged: Vec<(String, String)>,
}

/// Make the built prefix self-contained and relocatable: absolute links into the prefix
/// become relative (links elsewhere are refused), RUNPATHs become `$ORIGIN`-relative,
/// text that names the builder's own store names the canonical one, and the files still
/// naming the store are listed for install-time rewriting.
pub fn postprocess(
    prefix: &Path,
    canonical_prefix: &str,
    local_store: &str,
    name: &PackageName,
) -> Result<Postprocessed, BuildError> {
    let mut any = false;
    for entry in walkdir::WalkDir::new(prefix)
        .min_depth(1)
        .sort_by_file_name()
    {
        let entry = entry.map_err(std::io::Error::from)?;
        any = true;
        let rel = entry.path().strip_prefix(prefix).expect("below prefix");
        let ft = entry.file_type();
        if ft.is_symlink() {
            fix_link(entry.path(), rel, canonical_prefix)?;
        } else if !ft.is_dir() && !ft.is_file() {
            return Err(BuildError::SpecialFile {
                path: rel.display().to_string(),
            });
        }
    }
    if !any {
        return Err(BuildError::EmptyPrefix { name: name.clone() });
    }
    let mut stores = vec![CANONICAL_STORE];
    if local_store != CANONICAL_STORE {
        stores.push(local_store);
    }
    let runpaths = paks_relocate::fix_runpaths(prefix, canonical_prefix, &stores)?;
    let mut relocation = paks_relocate::scan(prefix, &stores)?;
    if local_store != CANONICAL_STORE {
        paks_relocate::canonicalize_text(prefix, &relocation, local_store, CANONICAL_STORE)?;
        relocation = paks_relocate::scan(prefix, &stores)?;
    }
    Ok(Postprocessed {
        relocation,
        runpath_unchanged: runpaths.unchanged,
    })
}

/// Absolute links into the package's own prefix become relative; links that leave the
/// package are refused (an install could not honour them).
fn fix_link(path: &Path, rel: &Path, canonical_prefix: &str) -> Result<(), BuildError> {
    let target = fs_err::read_link(path)?;
    let outside = || BuildError::LinkOutside {
        path: rel.display().to_string(),
        target: target.display().to_string(),
    };
    let depth = rel.components().count() - 1;
    if let Ok(inside) = target.strip_prefix(canonical_prefix) {
        let mut relative = PathBuf::new();
        for _ in 0..depth {
            relative.push("..");
        }
        relative.push(inside);
        fs_err::remove_file(path)?;
        fs_err::os::unix::fs::symlink(&relative, path)?;
        return Ok(());
    }
    if target.is_absolute() {
        return Err(outside());
    }
    // Lexically: a relative link may not climb above the prefix.
    let mut level = i64::try_from(depth).unwrap_or(i64::MAX);
    for c in target.components() {
        match c {
            std::path::Component::ParentDir => level -= 1,
            std::path::Component::Normal(_) => level += 1,
            _ => {}
        }
        if level < 0 {
            return Err(outside());
        }
    }
    Ok(())
}

pub struct PackageInputs<'a> {
    pub recipe: &'a Recipe,
    pub id: &'a PackageId,
    pub platform: &'a Platform,
    pub prefix: &'a Path,
    pub run_deps: &'a [(Record, VersionReq)],
    pub relocation: Relocation,
    pub origin: Option<&'a (String, String)>,
    pub out_dir: &'a Path,
    pub scratch: &'a Path,
    pub compression: Compression,
}

/// Write the layer and the `.pak`; returns its path and manifest digest.
pub fn write(inputs: &PackageInputs<'_>) -> Result<(PathBuf, Digest), BuildError> {
    let PackageInputs {
        recipe,
        id,
        platform,
        ..
    } = inputs;
    let layer_path = inputs.scratch.join("layer");
    let layer_file = fs_err::File::create(&layer_path)?;
    let layer = write_layer(
        inputs.prefix,
        &format!("{}/{id}", CANONICAL_STORE.trim_start_matches('/')),
        inputs.compression,
        layer_file,
    )?;
    let pkg = &recipe.package;
    let needs = crate::needs::analyse(&layer_path)?;
    let meta = PackageMeta {
        schema: META_SCHEMA,
        name: pkg.name.clone(),
        version: pkg.version.clone(),
        id: (*id).clone(),
        platform: (*platform).clone(),
        summary: pkg.summary.clone(),
        license: pkg.license.clone(),
        homepage: pkg.homepage.clone(),
        dependencies: inputs
            .run_deps
            .iter()
            .map(|(r, req)| PackageDep {
                name: r.meta.name.clone(),
                req: req.clone(),
                id: r.id().clone(),
                digest: Some(r.manifest.clone()),
            })
            .collect(),
        env: recipe.env.clone(),
        relocation: inputs.relocation.clone(),
        files: layer.entries,
        size: layer.unpacked_size,
        contents: layer.contents.clone().unwrap_or_default(),
        needs: needs.clone(),
        kind: paks_types::PackageKind::Store,
        origin: None,
        test: recipe.test_script.clone(),
    };
    let config = ImageConfig {
        architecture: platform.architecture.clone(),
        os: platform.os.clone(),
        variant: platform.variant.clone(),
        config: BTreeMap::new(),
        rootfs: ConfigRootfs {
            kind: "layers".into(),
            diff_ids: vec![layer.diff_id.clone()],
        },
        paks: meta,
    };
    let config_json = serde_json::to_vec(&config).expect("configs serialise");
    let annotations = annotations(&config.paks, &needs, inputs.origin);
    let pak_path = inputs
        .out_dir
        .join(format!("{}-{}-{}.pak", pkg.name, pkg.version, id.hash()));
    let info = write_pak(
        &pak_path,
        &config_json,
        &layer_path,
        &layer,
        inputs.compression,
        annotations,
        &pkg.version.to_string(),
    )?;
    Ok((pak_path, info.manifest_digest))
}

/// The build manifest's annotations: the standard ones, the package id, and what indexes
/// read to choose a build (`io.paks.glibc`, `io.paks.target`).
fn annotations(
    meta: &PackageMeta,
    needs: &paks_types::PackageNeeds,
    origin: Option<&(String, String)>,
) -> BTreeMap<String, String> {
    let mut annotations = paks_archive::package_annotations(meta);
    // What indexes read to choose a build for a host (`docs/index-format.md`).
    if let Some(glibc) = &needs.glibc {
        annotations.insert("io.paks.glibc".to_owned(), glibc.clone());
    }
    if let Some(target) = needs.isa_level.as_deref().and_then(crate::needs::target_of) {
        annotations.insert("io.paks.target".to_owned(), target.to_owned());
    }
    if let Some((url, commit)) = origin {
        annotations.insert("org.opencontainers.image.source".to_owned(), url.clone());
        annotations.insert(
            "org.opencontainers.image.revision".to_owned(),
            commit.clone(),
        );
    }
    annotations
}
