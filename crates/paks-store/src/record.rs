//! Install records: `state/installed/<id>.json`, written last, atomically.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use paks_types::{Digest, PackageId, PackageMeta, Version};
use serde::{Deserialize, Serialize};

use crate::{Store, StoreError, StoreErrorKind};

/// What the store knows about one installed package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Installed because a user asked for it (not only as a dependency): a gc root.
    pub explicit: bool,
    /// Seconds since the epoch.
    pub installed_at: u64,
    /// The digest of the package's manifest.
    pub manifest: Digest,
    /// Where it was installed from (a path or a reference).
    pub source: String,
    /// The package's metadata, as built.
    pub meta: PackageMeta,
}

impl Record {
    pub fn id(&self) -> &PackageId {
        &self.meta.id
    }
}

impl Store {
    fn record_path(&self, id: &PackageId) -> PathBuf {
        self.state(&format!("installed/{id}.json"))
    }

    /// The record of `id`, if it is installed.
    pub fn record(&self, id: &PackageId) -> Result<Option<Record>, StoreError> {
        let path = self.record_path(id);
        match fs_err::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| StoreError::from(StoreErrorKind::BadRecord { path, source })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether `id` is installed from exactly the manifest `manifest`: what an install by
    /// digest may skip. Another build under the same id does not count (an id is a claim).
    pub fn is_installed_as(&self, id: &PackageId, manifest: &Digest) -> Result<bool, StoreError> {
        Ok(self.record(id)?.is_some_and(|r| &r.manifest == manifest))
    }

    pub(crate) fn write_record(&self, record: &Record) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec_pretty(record).expect("records serialise");
        paks_types::fs::write_atomic(&self.record_path(record.id()), &bytes)?;
        Ok(())
    }

    /// Writes `record` to a temporary file beside its place (not synced); returns it and
    /// its place, for a batch that syncs once and renames.
    pub(crate) fn stage_record(&self, record: &Record) -> Result<(PathBuf, PathBuf), StoreError> {
        let path = self.record_path(record.id());
        let staged = paks_types::fs::temp_sibling(&path, "new");
        let bytes = serde_json::to_vec_pretty(record).expect("records serialise");
        fs_err::write(&staged, bytes)?;
        Ok((staged, path))
    }

    pub(crate) fn delete_record(&self, id: &PackageId) -> Result<(), StoreError> {
        let path = self.record_path(id);
        match fs_err::remove_file(&path) {
            Ok(()) => Ok(paks_types::fs::fsync_parent(&path)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Every installed package, sorted by name, then version, then id.
    pub fn installed(&self) -> Result<Vec<Record>, StoreError> {
        let mut out = Vec::new();
        for entry in fs_err::read_dir(self.state("installed"))? {
            let name = entry?.file_name();
            let Some(id) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".json"))
                .and_then(|n| n.parse::<PackageId>().ok())
            else {
                continue;
            };
            if let Some(record) = self.record(&id)? {
                out.push(record);
            }
        }
        out.sort_by(|a, b| {
            (a.meta.name.as_str(), &a.meta.version, a.id()).cmp(&(
                b.meta.name.as_str(),
                &b.meta.version,
                b.id(),
            ))
        });
        Ok(out)
    }

    /// Find the one installed package that `spec` names: a full id, `name@version`, or a
    /// name (the newest version; among builds of it, the explicitly installed one).
    pub fn find(&self, spec: &str) -> Result<Record, StoreError> {
        if let Ok(id) = spec.parse::<PackageId>() {
            return self
                .record(&id)?
                .ok_or_else(|| StoreError::from(StoreErrorKind::NotInstalled(spec.to_owned())));
        }
        let (name, version) = match spec.split_once('@') {
            Some((n, v)) => (
                n,
                Some(v.parse::<Version>().map_err(|_| {
                    StoreError::from(StoreErrorKind::NotInstalled(spec.to_owned()))
                })?),
            ),
            None => (spec, None),
        };
        let mut matches: Vec<Record> = self
            .installed()?
            .into_iter()
            .filter(|r| {
                r.meta.name.as_str() == name
                    && version.as_ref().is_none_or(|v| &r.meta.version == v)
            })
            .collect();
        let Some(newest) = matches.iter().map(|r| r.meta.version.clone()).max() else {
            return Err(StoreError::from(StoreErrorKind::NotInstalled(
                spec.to_owned(),
            )));
        };
        matches.retain(|r| r.meta.version == newest);
        if matches.len() > 1 {
            let explicit: Vec<Record> = matches.iter().filter(|r| r.explicit).cloned().collect();
            if explicit.len() == 1 {
                return Ok(explicit.into_iter().next().expect("one"));
            }
            return Err(StoreError::from(StoreErrorKind::Ambiguous {
                spec: spec.to_owned(),
                candidates: matches.iter().map(|r| r.id().to_string()).collect(),
            }));
        }
        Ok(matches.pop().expect("at least one"))
    }

    /// `ids` and all their run dependencies, dependencies first (a stable topological order).
    pub fn closure(&self, ids: &[PackageId]) -> Result<Vec<Record>, StoreError> {
        let mut records: BTreeMap<PackageId, Record> = BTreeMap::new();
        let mut order = Vec::new();
        let mut visiting = BTreeSet::new();
        for id in ids {
            self.visit(id, None, &mut records, &mut visiting, &mut order)?;
        }
        Ok(order
            .into_iter()
            .map(|id| records.remove(&id).expect("visited"))
            .collect())
    }

    fn visit(
        &self,
        id: &PackageId,
        parent: Option<&PackageId>,
        records: &mut BTreeMap<PackageId, Record>,
        visiting: &mut BTreeSet<PackageId>,
        order: &mut Vec<PackageId>,
    ) -> Result<(), StoreError> {
        if records.contains_key(id) || !visiting.insert(id.clone()) {
            return Ok(());
        }
        let record = self.record(id)?.ok_or_else(|| match parent {
            Some(p) => StoreError::from(StoreErrorKind::MissingDependency {
                id: p.clone(),
                dep: id.clone(),
            }),
            None => StoreError::from(StoreErrorKind::NotInstalled(id.to_string())),
        })?;
        for dep in &record.meta.dependencies {
            self.visit(&dep.id, Some(id), records, visiting, order)?;
        }
        records.insert(id.clone(), record);
        order.push(id.clone());
        Ok(())
    }
}
