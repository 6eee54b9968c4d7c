//! Format-preserving recipe bumps: `paks.toml` moved to a new upstream version, with its
//! sources pinned again (the new download's `sha256` and `size`, the tag's git commit).
//!
//! Only the values that change are replaced, through `toml_edit`: comments, key order,
//! quoting, spacing and blank lines stay as they were. Nothing is written until
//! [`Bump::write`], and the new text is checked to be a valid recipe first.

mod git;
mod url;

use std::path::{Path, PathBuf};

use paks_build::{BuildError, SourceLimits};
use paks_recipe::Recipe;
use paks_types::{Digest, Version};
use serde::Serialize;
use toml_edit::{DocumentMut, TableLike};

use crate::{Fetcher, Release};

pub use git::tag_candidates;
pub use url::rewrite as rewrite_url;

/// The file a recipe directory holds.
const RECIPE_FILE: &str = "paks.toml";

/// Failures to plan or write a bump.
#[derive(Debug, thiserror::Error)]
pub enum BumpError {
    #[error("failed to read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` is a symbolic link; a bump rewrites the recipe file itself", path.display())]
    Symlink { path: PathBuf },
    #[error(transparent)]
    Recipe(#[from] paks_recipe::RecipeError),
    #[error("failed to read `{}` as TOML", path.display())]
    Toml {
        path: PathBuf,
        #[source]
        source: toml_edit::TomlError,
    },
    #[error(
        "source {index} (`{url}`) does not contain the current version `{version}`, so the new one has no place in it"
    )]
    NoVersionInUrl {
        index: usize,
        url: String,
        version: Version,
    },
    #[error("failed to download `{url}`")]
    Download {
        url: String,
        #[source]
        source: Box<BuildError>,
    },
    #[error(transparent)]
    Git { source: Box<crate::CheckError> },
    #[error("`{url}` has none of the tags {}", tags.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", "))]
    NoTag { url: String, tags: Vec<String> },
    #[error("the bumped recipe would not be valid (a bug in paks; the file is untouched)")]
    Invalid {
        #[source]
        source: paks_recipe::RecipeError,
    },
    #[error("`{}` changed since the bump was planned; nothing was written", path.display())]
    Changed { path: PathBuf },
    #[error("failed to write `{}`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl BumpError {
    /// Whether the failure says the release is not there (a 404, a missing tag, a source
    /// that cannot name it) rather than that the machine or network failed.
    pub fn is_user_error(&self) -> bool {
        match self {
            Self::Download { source, .. } => {
                source.http_status() == Some(404)
                    || matches!(&**source, BuildError::Io(e) if e.kind() == std::io::ErrorKind::NotFound)
            }
            Self::Symlink { .. }
            | Self::Recipe(_)
            | Self::Toml { .. }
            | Self::NoVersionInUrl { .. }
            | Self::NoTag { .. }
            | Self::Changed { .. } => true,
            _ => false,
        }
    }

    /// What the user can do about it, where there is something.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::NoVersionInUrl { .. } => Some(
                "edit the source's `url`, `sha256` (and `size`) by hand for the new version".into(),
            ),
            Self::Download { .. } if self.is_user_error() => Some(
                "upstream has no such file: check the version, or edit the source's `url` by hand"
                    .into(),
            ),
            Self::NoTag { .. } => {
                Some("set the source's `commit` by hand to the release's commit".into())
            }
            Self::Changed { .. } => Some("run the bump again".into()),
            Self::Git { source } => source.hint(),
            _ => None,
        }
    }
}

/// What changed in one source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum SourceChange {
    /// A download: its new URL and the new file's digest.
    Url {
        /// The new URL.
        url: String,
        /// The URL before.
        old: String,
        /// The URL now (the same as `url`).
        new: String,
        /// The new file's sha256.
        sha256: String,
        /// The new file's size in bytes.
        size: u64,
    },
    /// A git checkout: the commit of the new release's tag.
    Git {
        /// The repository.
        git: String,
        /// The commit before.
        old: String,
        /// The commit now.
        new: String,
        /// The tag it was found under.
        tag: String,
    },
}

/// A recipe bump, planned but not written.
#[derive(Debug, Clone)]
pub struct Bump {
    /// The recipe's directory.
    pub dir: PathBuf,
    /// The package.
    pub name: paks_types::PackageName,
    /// `paks.toml` as it was read.
    pub old_text: String,
    /// `paks.toml` bumped.
    pub new_text: String,
    /// The version before.
    pub from: Version,
    /// The version after.
    pub to: Version,
    /// What changed in each URL and git source, in recipe order.
    pub sources: Vec<SourceChange>,
}

impl Bump {
    /// The recipe file.
    pub fn path(&self) -> PathBuf {
        self.dir.join(RECIPE_FILE)
    }

    /// Writes the new text, atomically, unless the file changed since it was read.
    pub fn write(&self) -> Result<(), BumpError> {
        let path = self.path();
        let now = std::fs::read_to_string(&path).map_err(|source| BumpError::Read {
            path: path.clone(),
            source,
        })?;
        if now != self.old_text {
            return Err(BumpError::Changed { path });
        }
        paks_types::fs::write_atomic(&path, self.new_text.as_bytes())
            .map_err(|source| BumpError::Write { path, source })
    }
}

/// The bump of the recipe in `recipe_dir` to `to`: the new `paks.toml` text, with
/// `[package].version`, each URL source's `url`, `sha256` (and `size` where the recipe
/// declares it) and each git source's `commit` changed. Each new URL is downloaded (bounded
/// as a build's download is) and hashed; each git source's tag is looked up with `git
/// ls-remote`. Nothing is written.
pub async fn plan(recipe_dir: &Path, to: &Release, fetcher: &Fetcher) -> Result<Bump, BumpError> {
    plan_with(recipe_dir, to, fetcher, &SourceLimits::default()).await
}

/// [`plan`] with the download limits of the build (`paks build --max-source-size`,
/// `--source-stall-timeout`).
pub async fn plan_with(
    recipe_dir: &Path,
    to: &Release,
    fetcher: &Fetcher,
    limits: &SourceLimits,
) -> Result<Bump, BumpError> {
    let path = recipe_dir.join(RECIPE_FILE);
    let old_text = read_recipe(&path)?;
    let recipe = Recipe::from_str(&old_text, &path)?;
    let from = recipe.package.version.clone();
    let mut doc: DocumentMut = old_text.parse().map_err(|source| BumpError::Toml {
        path: path.clone(),
        source,
    })?;

    if let Some(package) = doc.get_mut("package").and_then(|p| p.as_table_like_mut()) {
        set_str(package, "version", &to.version.to_string());
    }
    let mut sources = Vec::new();
    for (index, table) in source_tables(&mut doc).into_iter().enumerate() {
        let index = index + 1;
        if let Some(old_url) = get_str(table, "url") {
            let new_url = url::rewrite(&old_url, &from, &to.upstream).ok_or_else(|| {
                BumpError::NoVersionInUrl {
                    index,
                    url: old_url.clone(),
                    version: from.clone(),
                }
            })?;
            let (digest, size) = download(&new_url, fetcher, limits).await?;
            let old_sha = get_str(table, "sha256").unwrap_or_default();
            // Keep the recipe's way of writing the digest (`sha256:<hex>` or bare hex).
            let sha = if old_sha.starts_with("sha256:") {
                digest.to_string()
            } else {
                digest.hex().to_owned()
            };
            set_str(table, "url", &new_url);
            set_str(table, "sha256", &sha);
            if table.contains_key("size") {
                set_int(table, "size", size);
            }
            sources.push(SourceChange::Url {
                url: new_url.clone(),
                old: old_url,
                new: new_url,
                sha256: digest.to_string(),
                size,
            });
        } else if let Some(repo) = get_str(table, "git") {
            // The tag the check read the version from comes first: it is how upstream
            // names this release (`zlib-1.3.1`), which the version's text may not be.
            let mut tags = git::tag_candidates(&to.upstream);
            if let Some(tag) = &to.tag {
                tags.retain(|t| t != tag);
                tags.insert(0, tag.clone());
            }
            let (commit, tag) =
                git::tag_commit(&recipe.package.name, &repo, &tags, fetcher).await?;
            let old = get_str(table, "commit").unwrap_or_default();
            set_str(table, "commit", &commit);
            sources.push(SourceChange::Git {
                git: repo,
                old,
                new: commit,
                tag,
            });
        }
    }
    let new_text = doc.to_string();
    Recipe::from_str(&new_text, &path).map_err(|source| BumpError::Invalid { source })?;
    Ok(Bump {
        dir: recipe_dir.to_path_buf(),
        name: recipe.package.name,
        old_text,
        new_text,
        from,
        to: to.version.clone(),
        sources,
    })
}

/// The recipe's text; a symbolic link is refused, as a bump would replace it by a file.
fn read_recipe(path: &Path) -> Result<String, BumpError> {
    let read = |source| BumpError::Read {
        path: path.to_path_buf(),
        source,
    };
    if std::fs::symlink_metadata(path)
        .map_err(read)?
        .file_type()
        .is_symlink()
    {
        return Err(BumpError::Symlink {
            path: path.to_path_buf(),
        });
    }
    std::fs::read_to_string(path).map_err(read)
}

/// The digest and size of `url`, downloaded in its host's turn on a blocking thread.
async fn download(
    url: &str,
    fetcher: &Fetcher,
    limits: &SourceLimits,
) -> Result<(Digest, u64), BumpError> {
    let host = reqwest::Url::parse(url)
        .map(|u| crate::fetch::authority(&u))
        .unwrap_or_default();
    let (owned, limits) = (url.to_owned(), *limits);
    let result = fetcher
        .in_turn(
            &host,
            tokio::task::spawn_blocking(move || paks_build::digest_url(&owned, None, &limits)),
        )
        .await
        .expect("the download thread does not panic");
    result.map_err(|source| BumpError::Download {
        url: url.to_owned(),
        source: Box::new(source),
    })
}

/// The `[[source]]` tables, whether written as an array of tables or an inline array.
fn source_tables(doc: &mut DocumentMut) -> Vec<&mut dyn TableLike> {
    match doc.get_mut("source") {
        Some(toml_edit::Item::ArrayOfTables(tables)) => {
            tables.iter_mut().map(|t| t as &mut dyn TableLike).collect()
        }
        Some(toml_edit::Item::Value(toml_edit::Value::Array(array))) => array
            .iter_mut()
            .filter_map(|v| v.as_inline_table_mut().map(|t| t as &mut dyn TableLike))
            .collect(),
        _ => Vec::new(),
    }
}

fn get_str(table: &dyn TableLike, key: &str) -> Option<String> {
    table.get(key)?.as_str().map(str::to_owned)
}

/// Sets `key` to `new`, keeping the old value's surrounding spaces and comment, and its
/// quoting style where `new` allows it.
fn set_str(table: &mut dyn TableLike, key: &str, new: &str) {
    let Some(item) = table.get_mut(key) else {
        return;
    };
    let Some(value) = item.as_value_mut() else {
        return;
    };
    let decor = value.decor().clone();
    let literal = value
        .as_str()
        .is_some_and(|_| value.to_string().trim_start().starts_with('\''));
    // A literal string is parsed from its text: that keeps it literal when written.
    *value = if literal && !new.contains('\'') && !new.contains('\n') {
        format!("'{new}'")
            .parse()
            .unwrap_or_else(|_| toml_edit::Value::from(new))
    } else {
        toml_edit::Value::from(new)
    };
    *value.decor_mut() = decor;
}

fn set_int(table: &mut dyn TableLike, key: &str, new: u64) {
    let Some(value) = table.get_mut(key).and_then(|i| i.as_value_mut()) else {
        return;
    };
    let decor = value.decor().clone();
    *value = toml_edit::Value::from(i64::try_from(new).unwrap_or(i64::MAX));
    *value.decor_mut() = decor;
}
