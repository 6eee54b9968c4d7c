//! The catalogue's state: every repository as last read, and the indexes queries use
//! (lowercase search keys, package id → repository, package id → dependents), all kept
//! current one repository at a time.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::OnceLock;

use paks_registry::names::RepoName;
use paks_registry::storage::{Storage, StorageError};

use crate::model::{Package, PackageRef, PackageSummary, RepositorySummary};
use crate::scan::{self, Entry};

/// One repository as read, with what the indexes need of it.
pub(crate) struct Indexed {
    entry: Entry,
    /// What its tags pointed at when it was read (see [`scan::fingerprint`]).
    fingerprint: Option<u64>,
    /// Packages only: what search compares and answers.
    key: Option<SearchKey>,
}

/// A package's search key, made once per reading rather than per query.
struct SearchKey {
    name: String,
    summary: String,
    package: PackageSummary,
}

impl Indexed {
    pub(crate) fn new(entry: Entry, fingerprint: Option<u64>) -> Self {
        let key = match &entry {
            Entry::Package(p) => Some(SearchKey {
                name: p.name.to_lowercase(),
                summary: p.summary.as_deref().unwrap_or_default().to_lowercase(),
                package: crate::summarize(p),
            }),
            Entry::Image(_) => None,
        };
        Self {
            entry,
            fingerprint,
            key,
        }
    }
}

/// Reads repository `repo`; `None` when it is gone.
pub(crate) fn read(
    storage: &dyn Storage,
    repo: &RepoName,
) -> Result<Option<Indexed>, StorageError> {
    // The fingerprint first: a change between the two readings shows at the next check.
    let fingerprint = scan::fingerprint(storage, repo)?;
    Ok(scan::scan_repository(storage, repo)?.map(|e| Indexed::new(e, fingerprint)))
}

/// Every repository and the indexes over them.
#[derive(Default)]
pub(crate) struct State {
    repos: BTreeMap<String, Indexed>,
    /// Package id → the repository holding a build of it.
    holders: HashMap<String, String>,
    /// Package id → the (repository, version)s with a build pinned to it.
    dependents: HashMap<String, BTreeSet<(String, String)>>,
    /// Every package's search keys in one text, made at the first search after a change.
    text: OnceLock<SearchText>,
    /// While the first load runs: repositories re-read since it began, whose reading is
    /// newer than the load's.
    refreshed: Option<HashSet<String>>,
}

impl State {
    /// The first load begins.
    pub(crate) fn loading(&mut self) {
        self.refreshed = Some(HashSet::new());
    }

    /// The first load's reading of `repo`, unless it was re-read meanwhile.
    pub(crate) fn load(&mut self, repo: &RepoName, read: Option<Indexed>) {
        if self
            .refreshed
            .as_ref()
            .is_none_or(|r| !r.contains(repo.as_str()))
        {
            self.replace(repo.as_str(), read);
        }
    }

    /// The first load ended.
    pub(crate) fn loaded(&mut self) {
        self.refreshed = None;
    }

    /// A new reading of `repo` (`None`: it is gone).
    pub(crate) fn set(&mut self, repo: &RepoName, read: Option<Indexed>) {
        if let Some(refreshed) = &mut self.refreshed {
            refreshed.insert(repo.to_string());
        }
        self.replace(repo.as_str(), read);
    }

    fn replace(&mut self, repo: &str, read: Option<Indexed>) {
        self.text = OnceLock::new();
        if let Some(old) = self.repos.remove(repo)
            && let Entry::Package(p) = &old.entry
        {
            self.unindex(p);
        }
        if let Some(read) = read {
            if let Entry::Package(p) = &read.entry {
                self.index(p);
            }
            self.repos.insert(repo.to_owned(), read);
        }
    }

    fn index(&mut self, p: &Package) {
        for v in &p.versions {
            for b in &v.builds {
                self.holders.insert(b.id.clone(), p.repository.clone());
                for d in &b.dependencies {
                    self.dependents
                        .entry(d.id.clone())
                        .or_default()
                        .insert((p.repository.clone(), v.version.clone()));
                }
            }
        }
    }

    fn unindex(&mut self, p: &Package) {
        for v in &p.versions {
            for b in &v.builds {
                if self.holders.get(&b.id) == Some(&p.repository) {
                    self.holders.remove(&b.id);
                }
                for d in &b.dependencies {
                    if let Some(set) = self.dependents.get_mut(&d.id) {
                        set.remove(&(p.repository.clone(), v.version.clone()));
                        if set.is_empty() {
                            self.dependents.remove(&d.id);
                        }
                    }
                }
            }
        }
    }

    /// The fingerprint of `repo` as last read.
    pub(crate) fn fingerprint(&self, repo: &str) -> Option<u64> {
        self.repos.get(repo).and_then(|i| i.fingerprint)
    }

    /// Every repository's name.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.repos.keys().map(String::as_str)
    }

    /// How many packages match `query`, and the best `limit` of those `may` allows (see
    /// [`crate::Catalog::search`]). Only the answered summaries are copied.
    pub(crate) fn search(
        &self,
        query: &str,
        limit: usize,
        may: impl Fn(&str) -> bool,
    ) -> (usize, Vec<PackageSummary>) {
        let needle = query.trim().to_lowercase();
        let text = self.text.get_or_init(|| SearchText::new(&self.repos));
        let mut hits = text.find(&needle);
        hits.retain(|&(_, i)| may(&text.repos[i]));
        // By rank, then by repository (the index order).
        hits.sort_unstable();
        let total = hits.len();
        let packages = hits
            .into_iter()
            .take(limit)
            .filter_map(|(_, i)| self.repos.get(&text.repos[i]))
            .filter_map(|r| r.key.as_ref().map(|k| k.package.clone()))
            .collect();
        (total, packages)
    }

    /// Package `repository` with its dependencies resolved and its reverse dependencies,
    /// showing only repositories `may` allows.
    pub(crate) fn package(&self, repository: &str, may: impl Fn(&str) -> bool) -> Option<Package> {
        let Some(Indexed {
            entry: Entry::Package(p),
            ..
        }) = self.repos.get(repository)
        else {
            return None;
        };
        let mut package = (**p).clone();
        let mut reverse = BTreeSet::new();
        for b in package
            .versions
            .iter_mut()
            .flat_map(|v| v.builds.iter_mut())
        {
            for d in &mut b.dependencies {
                d.repository = self.holders.get(&d.id).filter(|r| may(r)).cloned();
            }
            for (repo, version) in self.dependents.get(&b.id).into_iter().flatten() {
                if repo != repository && may(repo) {
                    reverse.insert(PackageRef {
                        repository: repo.clone(),
                        name: scan::split_repository(repo).1.to_owned(),
                        version: version.clone(),
                    });
                }
            }
        }
        package.reverse_dependencies = reverse.into_iter().collect();
        Some(package)
    }

    /// The package and version that build `id` belongs to, if `may` allows its repository.
    pub(crate) fn package_ref(&self, id: &str, may: impl Fn(&str) -> bool) -> Option<PackageRef> {
        let repo = self.holders.get(id).filter(|r| may(r))?;
        let Some(Indexed {
            entry: Entry::Package(p),
            ..
        }) = self.repos.get(repo)
        else {
            return None;
        };
        let version = p
            .versions
            .iter()
            .find(|v| v.builds.iter().any(|b| b.id == id))?;
        Some(PackageRef {
            repository: p.repository.clone(),
            name: p.name.clone(),
            version: version.version.clone(),
        })
    }

    /// Every repository `may` allows.
    pub(crate) fn repositories(&self, may: impl Fn(&str) -> bool) -> Vec<RepositorySummary> {
        self.repos
            .iter()
            .filter(|(name, _)| may(name))
            .map(|(_, i)| i.entry.summary())
            .collect()
    }
}

/// The lowercase names and summaries of every package, each in one text searched with a
/// vectorised substring search: a query costs a pass over about a megabyte at 20,000
/// packages, and no allocation per package.
struct SearchText {
    /// The packages' repositories, in the index's (repository) order.
    repos: Vec<String>,
    names: Joined,
    summaries: Joined,
}

/// Strings joined with `\n`, and where each starts.
struct Joined {
    text: String,
    starts: Vec<usize>,
}

impl Joined {
    fn new<'a>(parts: impl Iterator<Item = &'a str>) -> Self {
        let mut text = String::new();
        let mut starts = Vec::new();
        for part in parts {
            starts.push(text.len());
            // A newline in a summary must not end it early: `\n` only separates.
            text.extend(part.chars().map(|c| if c == '\n' { ' ' } else { c }));
            text.push('\n');
        }
        Self { text, starts }
    }

    /// For each part containing `needle` (in order, once): its index and whether it
    /// starts with it, and whether it is exactly it.
    fn find(&self, needle: &str) -> Vec<(usize, bool, bool)> {
        let mut out: Vec<(usize, bool, bool)> = Vec::new();
        for at in memchr::memmem::find_iter(self.text.as_bytes(), needle.as_bytes()) {
            let i = self.starts.partition_point(|&s| s <= at) - 1;
            let end = self.starts.get(i + 1).map_or(self.text.len(), |&s| s) - 1;
            if at + needle.len() > end || out.last().is_some_and(|&(last, _, _)| last == i) {
                continue;
            }
            let start = at == self.starts[i];
            out.push((i, start, start && at + needle.len() == end));
        }
        out
    }
}

impl SearchText {
    fn new(repos: &BTreeMap<String, Indexed>) -> Self {
        let keys: Vec<(&String, &SearchKey)> = repos
            .iter()
            .filter_map(|(name, i)| i.key.as_ref().map(|k| (name, k)))
            .collect();
        Self {
            repos: keys.iter().map(|(name, _)| (*name).clone()).collect(),
            names: Joined::new(keys.iter().map(|(_, k)| k.name.as_str())),
            summaries: Joined::new(keys.iter().map(|(_, k)| k.summary.as_str())),
        }
    }

    /// (rank, package) of every package matching `needle`: 0 its name, 1 a name starting
    /// with it, 2 a name containing it, 3 a summary containing it; an empty needle matches
    /// every package.
    fn find(&self, needle: &str) -> Vec<(u8, usize)> {
        if needle.is_empty() {
            return (0..self.repos.len()).map(|i| (0, i)).collect();
        }
        if needle.contains('\n') {
            return Vec::new();
        }
        let mut hits: Vec<(u8, usize)> = self
            .names
            .find(needle)
            .into_iter()
            .map(|(i, start, exact)| {
                let rank = match (exact, start) {
                    (true, _) => 0,
                    (false, true) => 1,
                    (false, false) => 2,
                };
                (rank, i)
            })
            .collect();
        let by_name = hits.len();
        for (i, _, _) in self.summaries.find(needle) {
            // Names hits are in package order: a binary search finds a package's.
            if hits[..by_name]
                .binary_search_by_key(&i, |&(_, j)| j)
                .is_err()
            {
                hits.push((3, i));
            }
        }
        hits
    }
}
