//! A batch of converted packages: dependencies pinned to the packages of the batch that
//! satisfy them, and `.pak` files written dependencies first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use paks_archive::{Compression, package_annotations, write_pak};
use paks_types::{ConfigRootfs, Digest, ImageConfig, PackageDep, PackageMeta, VersionReq};

use super::{ConvertError, Converted};
use crate::deb::{Relation, VersionOp};

/// One package written.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The file it was read from.
    pub source: PathBuf,
    /// Its metadata, as written into the `.pak`.
    pub meta: PackageMeta,
    /// The `.pak` written.
    pub pak: PathBuf,
    /// Its manifest digest.
    pub digest: Digest,
    /// `Depends`/`Pre-Depends` items that nothing in the batch satisfies, as written.
    pub unsatisfied: Vec<Unsatisfied>,
    /// What the importer could not carry over (see [`Converted::notes`]).
    pub notes: Vec<String>,
}

/// A dependency item nothing in the batch satisfies: its alternatives, as written.
pub type Unsatisfied = String;

/// Pins every `Pre-Depends` and `Depends` item of each package to the package of the
/// batch that satisfies its first satisfiable alternative (by name with the version
/// relation checked in dpkg's order, or by `Provides`; of several, the highest version),
/// then writes the `.pak`s into `out_dir`, named as `paks build` names them, each
/// dependency before its dependents so that its manifest digest can be pinned. Packages
/// that depend on each other (a cycle, such as `libc6` and `libgcc-s1`) cannot all know
/// each other's digest, so inside a cycle a dependency has an id but no digest. Items
/// that nothing in the batch satisfies are reported in [`Imported::unsatisfied`];
/// `Recommends` are not followed. The result is in the order of `batch`.
pub fn write_batch(
    batch: Vec<Converted>,
    out_dir: &Path,
    compression: Compression,
) -> Result<Vec<Imported>, ConvertError> {
    let mut edges = Vec::with_capacity(batch.len());
    let mut unsatisfied = Vec::with_capacity(batch.len());
    for i in 0..batch.len() {
        let (deps, missing) = resolve(&batch, i);
        edges.push(deps);
        unsatisfied.push(missing);
    }
    let mut written: Vec<Option<(PathBuf, Digest, PackageMeta)>> = vec![None; batch.len()];
    for component in components(&edges) {
        for &i in &component {
            let dependencies = edges[i]
                .iter()
                .map(|&j| {
                    let meta = &batch[j].meta;
                    PackageDep {
                        name: meta.name.clone(),
                        req: VersionReq::STAR,
                        id: meta.id.clone(),
                        // Inside a cycle, a member written earlier has a digest, but
                        // pinning it would make the order of writing visible.
                        digest: if component.contains(&j) {
                            None
                        } else {
                            written[j].as_ref().map(|w| w.1.clone())
                        },
                    }
                })
                .collect();
            let mut meta = batch[i].meta.clone();
            meta.dependencies = dependencies;
            let (pak, digest) = write_one(&batch[i], &meta, out_dir, compression)?;
            written[i] = Some((pak, digest, meta));
        }
    }
    Ok(batch
        .into_iter()
        .zip(written)
        .zip(unsatisfied)
        .map(|((c, w), unsatisfied)| {
            let (pak, digest, meta) = w.expect("every component is written");
            Imported {
                source: c.path,
                meta,
                pak,
                digest,
                unsatisfied,
                notes: c.notes,
            }
        })
        .collect())
}

/// The packages of the batch that package `i` depends on (deduplicated, itself left
/// out), and its items that nothing satisfies.
fn resolve(batch: &[Converted], i: usize) -> (Vec<usize>, Vec<String>) {
    let control = &batch[i].control;
    let mut deps = Vec::new();
    let mut missing = Vec::new();
    for item in control.pre_depends.iter().chain(&control.depends) {
        match item.iter().find_map(|alt| best(batch, alt)) {
            Some(j) if j == i || deps.contains(&j) => {}
            Some(j) => deps.push(j),
            None => missing.push(
                item.iter()
                    .map(Relation::to_string)
                    .collect::<Vec<_>>()
                    .join(" | "),
            ),
        }
    }
    (deps, missing)
}

/// The package of the batch that satisfies `rel` with the highest version: by name, then
/// by `Provides` (a versioned relation only by a versioned `=` provide, as dpkg says).
fn best(batch: &[Converted], rel: &Relation) -> Option<usize> {
    let by_name = batch
        .iter()
        .enumerate()
        .filter(|(_, c)| {
            c.control.package == rel.name
                && rel
                    .version
                    .as_ref()
                    .is_none_or(|(op, v)| op.matches(&c.control.version, v))
        })
        .max_by(|a, b| a.1.control.version.cmp(&b.1.control.version));
    if let Some((j, _)) = by_name {
        return Some(j);
    }
    batch
        .iter()
        .enumerate()
        .filter(|(_, c)| {
            c.control.provides.iter().flatten().any(|p| {
                p.name == rel.name
                    && match (&rel.version, &p.version) {
                        (None, _) => true,
                        (Some((op, bound)), Some((VersionOp::Equal, provided))) => {
                            op.matches(provided, bound)
                        }
                        (Some(_), _) => false,
                    }
            })
        })
        .max_by(|a, b| a.1.control.version.cmp(&b.1.control.version))
        .map(|(j, _)| j)
}

/// Strongly connected components of the dependency graph (Tarjan), each sorted, in an
/// order where every component comes after those it depends on.
fn components(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    struct Tarjan<'a> {
        edges: &'a [Vec<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit(t: &mut Tarjan<'_>, v: usize) {
        t.index[v] = Some(t.next);
        t.low[v] = t.next;
        t.next += 1;
        t.stack.push(v);
        t.on_stack[v] = true;
        let edges = t.edges;
        for &w in &edges[v] {
            match t.index[w] {
                None => {
                    visit(t, w);
                    t.low[v] = t.low[v].min(t.low[w]);
                }
                Some(iw) if t.on_stack[w] => t.low[v] = t.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(t.low[v]) == t.index[v] {
            let mut component = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            component.sort_unstable();
            t.out.push(component);
        }
    }
    let n = edges.len();
    let mut t = Tarjan {
        edges,
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if t.index[v].is_none() {
            visit(&mut t, v);
        }
    }
    t.out
}

fn write_one(
    c: &Converted,
    meta: &PackageMeta,
    out_dir: &Path,
    compression: Compression,
) -> Result<(PathBuf, Digest), ConvertError> {
    let platform = &meta.platform;
    let config = ImageConfig {
        architecture: platform.architecture.clone(),
        os: platform.os.clone(),
        variant: platform.variant.clone(),
        config: BTreeMap::new(),
        rootfs: ConfigRootfs {
            kind: "layers".into(),
            diff_ids: vec![c.layer.diff_id.clone()],
        },
        paks: meta.clone(),
    };
    let config_json = serde_json::to_vec(&config).expect("configs serialise");
    let annotations = package_annotations(meta);
    let id = &meta.id;
    let pak = out_dir.join(format!("{}-{}-{}.pak", id.name(), id.version(), id.hash()));
    let info = write_pak(
        &pak,
        &config_json,
        c.blob.path(),
        &c.layer_info(),
        compression,
        annotations,
        &meta.version.to_string(),
    )
    .map_err(|source| ConvertError::Pak {
        path: pak.clone(),
        source,
    })?;
    Ok((pak, info.manifest_digest))
}

#[cfg(test)]
mod tests {
    use super::components;

    #[test]
    fn components_come_after_their_dependencies() {
        // 0 -> 1 <-> 2 -> 3; 4 alone.
        let edges = vec![vec![1], vec![2], vec![1, 3], vec![], vec![]];
        assert_eq!(
            components(&edges),
            vec![vec![3], vec![1, 2], vec![0], vec![4]]
        );
    }
}
