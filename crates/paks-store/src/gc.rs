//! Removing packages: one by name (`remove`), or all that nothing needs (`gc`).

use std::collections::BTreeSet;
use std::io;
use std::path::Path;
use std::time::Duration;

use paks_types::PackageId;

use crate::{Store, StoreError, StoreErrorKind};

/// What gc removed (or, in a dry run, would remove).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Installed packages that no explicit install or view needs.
    pub removed: Vec<PackageId>,
    /// Their unpacked size in bytes.
    pub freed: u64,
    /// Leftovers of killed installs or removals, and prefixes without a record.
    pub leftovers: Vec<String>,
    pub dry_run: bool,
}

/// How old an unlocked blob part file must be before gc removes it: a younger one is
/// likely to be resumed by the next pull.
pub const STALE_PART_AGE: Duration = Duration::from_hours(1);

impl Store {
    /// Part files of blob downloads that no live process holds and that are older than
    /// [`STALE_PART_AGE`], and temporaries of killed source downloads (unlocked: dead).
    fn purge_downloads(&self, dry_run: bool) -> Result<Vec<String>, StoreError> {
        use paks_types::temp::{BLOB_PART, SOURCE_DOWNLOAD, STAGING, find_unlocked};
        let blobs = self.cache.join("blobs");
        let mut dirs = vec![(self.cache.join("sources"), SOURCE_DOWNLOAD, Duration::ZERO)];
        if let Ok(algorithms) = std::fs::read_dir(&blobs) {
            for entry in algorithms.flatten() {
                dirs.push((entry.path(), BLOB_PART, STALE_PART_AGE));
            }
        }
        let mut found = Vec::new();
        for (dir, tag, age) in dirs {
            found.extend(find_unlocked(&dir, &[tag], age, !dry_run).map_err(StoreError::from)?);
            found.extend(
                find_unlocked(&dir, &[STAGING], Duration::from_mins(1), !dry_run)
                    .map_err(StoreError::from)?,
            );
        }
        Ok(found
            .into_iter()
            .map(|(path, _)| {
                path.strip_prefix(&self.root)
                    .or_else(|_| path.strip_prefix(&self.cache))
                    .unwrap_or(&path)
                    .display()
                    .to_string()
            })
            .collect())
    }

    /// Remove one installed package. Refused while another installed package or a view
    /// needs it, unless `force`.
    pub fn remove(&self, id: &PackageId, force: bool) -> Result<(), StoreError> {
        let _locks = self.id_lock(id)?;
        let Some(record) = self.record(id)? else {
            return Err(StoreError::from(StoreErrorKind::NotInstalled(
                id.to_string(),
            )));
        };
        if !force {
            let mut needed_by: Vec<String> = self
                .installed()?
                .into_iter()
                .filter(|r| r.meta.dependencies.iter().any(|d| &d.id == id))
                .map(|r| format!("`{}`", r.id()))
                .collect();
            for view in self.views()? {
                if self
                    .closure(&view.packages)
                    .is_ok_and(|c| c.iter().any(|r| r.id() == id))
                {
                    needed_by.push(format!("the view `{}`", view.path.display()));
                }
            }
            if !needed_by.is_empty() {
                return Err(StoreError::from(StoreErrorKind::StillNeeded {
                    id: id.clone(),
                    needed_by,
                }));
            }
        }
        // The record goes first: a prefix without a record is garbage for gc, while a
        // record without its prefix would be a lie.
        self.delete_record(id)?;
        // Kept in the unpacked cache: installing it again is a rename.
        Ok(self.keep_unpacked(id, &record.manifest, &self.prefix(id))?)
    }
}

/// Move a prefix out of the way (atomically), then delete it.
pub(crate) fn delete_prefix(prefix: &Path) -> Result<(), StoreError> {
    let trash = paks_types::fs::temp_sibling(prefix, "trash");
    match fs_err::rename(prefix, &trash) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    fs_err::remove_dir_all(&trash)?;
    Ok(())
}

impl Store {
    /// Remove every installed package that no explicit install and no view needs, and
    /// the leftovers of interrupted work. Waits for running installs to finish, and they
    /// wait for it, so an install in progress never loses what it holds.
    pub fn gc(&self, dry_run: bool) -> Result<GcReport, StoreError> {
        let _gc = self.gc_lock()?;
        let installed = self.installed()?;
        let mut roots: Vec<PackageId> = installed
            .iter()
            .filter(|r| r.explicit)
            .map(|r| r.id().clone())
            .collect();
        for view in self.views()? {
            roots.extend(view.packages);
        }
        let mut live = BTreeSet::new();
        for root in roots {
            // A root whose dependency is missing keeps what it can.
            if let Ok(closure) = self.closure(std::slice::from_ref(&root)) {
                live.extend(closure.into_iter().map(|r| r.id().clone()));
            } else {
                live.insert(root);
            }
        }
        let mut report = GcReport {
            dry_run,
            ..GcReport::default()
        };
        for record in installed.iter().filter(|r| !live.contains(r.id())) {
            report.removed.push(record.id().clone());
            report.freed += record.meta.size;
            if !dry_run {
                self.delete_record(record.id())?;
                delete_prefix(&self.prefix(record.id()))?;
            }
        }
        let recorded: BTreeSet<String> = installed.iter().map(|r| r.id().to_string()).collect();
        for entry in fs_err::read_dir(self.store_dir())? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if recorded.contains(&name) {
                continue;
            }
            report.leftovers.push(name);
            if !dry_run {
                let path = entry.path();
                if entry.file_type()?.is_dir() {
                    fs_err::remove_dir_all(&path)?;
                } else {
                    fs_err::remove_file(&path)?;
                }
            }
        }
        report.leftovers.extend(self.purge_unpacked(dry_run)?);
        report.leftovers.extend(self.purge_downloads(dry_run)?);
        report.leftovers.sort();
        Ok(report)
    }
}
