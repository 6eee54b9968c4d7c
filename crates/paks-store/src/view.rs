//! Views: symlink trees that merge the prefixes of several packages (`bin/`, `lib/`,
//! `include/`, `share/`, ...) into one, registered so that gc keeps their packages.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use paks_types::{Digest, PackageId};
use serde::{Deserialize, Serialize};

use crate::{Store, StoreError, StoreErrorKind};

/// The marker file inside every view.
const MARKER: &str = ".paks-view.json";

/// How to build a view.
#[derive(Debug, Clone, Copy, Default)]
pub struct ViewOptions {
    /// Keep the first package's file where two provide the same path, instead of failing.
    pub ignore_conflicts: bool,
}

/// A view, as registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewInfo {
    pub path: PathBuf,
    /// The packages asked for (their dependencies are in the view too).
    pub packages: Vec<PackageId>,
    /// Symlinks in the view.
    #[serde(default)]
    pub links: usize,
    /// Paths two packages provided, where the first was kept.
    #[serde(default)]
    pub conflicts: Vec<String>,
}

impl Store {
    fn view_registration(&self, path: &Path) -> PathBuf {
        let key = Digest::sha256_of(path.as_os_str().as_encoded_bytes());
        self.state(&format!("views/{}.json", &key.hex()[..32]))
    }

    /// Create (or atomically replace) the view at `path` holding `ids` and their
    /// dependencies.
    pub fn create_view(
        &self,
        path: &Path,
        ids: &[PackageId],
        options: ViewOptions,
    ) -> Result<ViewInfo, StoreError> {
        let path = absolute(path)?;
        let _writer = self.writer_lock()?;
        let exists = match fs_err::symlink_metadata(&path) {
            Ok(_) if !path.join(MARKER).is_file() => {
                return Err(StoreError::from(StoreErrorKind::NotAView { path }));
            }
            Ok(_) => true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(e.into()),
        };
        let closure = self.closure(ids)?;
        // The packages asked for win over their dependencies where paths collide.
        let mut ordered: Vec<_> = closure.iter().filter(|r| ids.contains(r.id())).collect();
        ordered.extend(closure.iter().filter(|r| !ids.contains(r.id())));

        if let Some(parent) = path.parent() {
            fs_err::create_dir_all(parent)?;
        }
        let tmp = paks_types::fs::temp_sibling(&path, "view");
        fs_err::create_dir(&tmp)?;
        let built = (|| {
            let mut owners: BTreeMap<PathBuf, String> = BTreeMap::new();
            let mut info = ViewInfo {
                path: path.clone(),
                packages: ids.to_vec(),
                links: 0,
                conflicts: vec![],
            };
            for record in &ordered {
                let prefix = self.prefix(record.id());
                link_tree(
                    &prefix,
                    &tmp,
                    Path::new(""),
                    record.id(),
                    &mut owners,
                    &mut info,
                    options,
                )?;
            }
            let marker = serde_json::to_vec_pretty(&info).expect("serialisable");
            paks_types::fs::write_atomic(&tmp.join(MARKER), &marker)?;
            Ok::<_, StoreError>(info)
        })();
        let info = match built {
            Ok(info) => info,
            Err(e) => {
                let _ = fs_err::remove_dir_all(&tmp);
                return Err(e);
            }
        };
        // Register before the view appears: a crash in between keeps packages alive too
        // long, never too short.
        paks_types::fs::write_atomic(
            &self.view_registration(&path),
            &serde_json::to_vec_pretty(&info).expect("serialisable"),
        )?;
        if exists {
            rustix::fs::renameat_with(
                rustix::fs::CWD,
                &tmp,
                rustix::fs::CWD,
                &path,
                rustix::fs::RenameFlags::EXCHANGE,
            )
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("failed to replace the view `{}`: {e}", path.display()),
                )
            })?;
            fs_err::remove_dir_all(&tmp)?;
        } else {
            fs_err::rename(&tmp, &path)?;
        }
        paks_types::fs::fsync_parent(&path)?;
        Ok(info)
    }

    /// Remove the view at `path` and its registration.
    pub fn remove_view(&self, path: &Path) -> Result<(), StoreError> {
        let path = absolute(path)?;
        let _writer = self.writer_lock()?;
        if !path.join(MARKER).is_file() {
            return Err(StoreError::from(StoreErrorKind::NotAView { path }));
        }
        fs_err::remove_dir_all(&path)?;
        let reg = self.view_registration(&path);
        let _ = fs_err::remove_file(reg);
        Ok(())
    }

    /// The registered views that still exist; registrations of vanished views are dropped.
    pub fn views(&self) -> Result<Vec<ViewInfo>, StoreError> {
        let mut out = Vec::new();
        for entry in fs_err::read_dir(self.state("views"))? {
            let entry = entry?;
            let Ok(info) = serde_json::from_slice::<ViewInfo>(&fs_err::read(entry.path())?) else {
                continue;
            };
            if info.path.join(MARKER).is_file() {
                out.push(info);
            } else {
                let _ = fs_err::remove_file(entry.path());
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }
}

fn absolute(path: &Path) -> io::Result<PathBuf> {
    std::path::absolute(path)
}

fn link_tree(
    prefix: &Path,
    view: &Path,
    rel: &Path,
    owner: &PackageId,
    owners: &mut BTreeMap<PathBuf, String>,
    info: &mut ViewInfo,
    options: ViewOptions,
) -> Result<(), StoreError> {
    let mut entries: Vec<_> = fs_err::read_dir(prefix.join(rel))?.collect::<Result<_, _>>()?;
    entries.sort_by_key(fs_err::DirEntry::file_name);
    for entry in entries {
        let rel = rel.join(entry.file_name());
        if rel == Path::new(MARKER) {
            continue;
        }
        let target = view.join(&rel);
        // Create first and look only on a collision: one system call per entry.
        if entry.file_type()?.is_dir() {
            match std::fs::create_dir(&target) {
                Ok(()) => {
                    owners.insert(rel.clone(), owner.to_string());
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    if !fs_err::symlink_metadata(&target)?.is_dir() {
                        conflict(&rel, owner, owners, info, options)?;
                        continue;
                    }
                }
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("failed to create `{}`: {e}", target.display()),
                    )
                    .into());
                }
            }
            link_tree(prefix, view, &rel, owner, owners, info, options)?;
        } else {
            match std::os::unix::fs::symlink(prefix.join(&rel), &target) {
                Ok(()) => {
                    owners.insert(rel, owner.to_string());
                    info.links += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    conflict(&rel, owner, owners, info, options)?;
                }
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("failed to link `{}`: {e}", target.display()),
                    )
                    .into());
                }
            }
        }
    }
    Ok(())
}

fn conflict(
    rel: &Path,
    owner: &PackageId,
    owners: &BTreeMap<PathBuf, String>,
    info: &mut ViewInfo,
    options: ViewOptions,
) -> Result<(), StoreError> {
    let first = owners.get(rel).cloned().unwrap_or_default();
    if options.ignore_conflicts {
        info.conflicts.push(rel.display().to_string());
        return Ok(());
    }
    Err(StoreError::from(StoreErrorKind::ViewConflict {
        path: rel.display().to_string(),
        packages: vec![first, owner.to_string()],
    }))
}
