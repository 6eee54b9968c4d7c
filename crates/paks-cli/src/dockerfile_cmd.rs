//! `paks dockerfile check|pin|update`: Dockerfiles' base images, pinned and current.
//!
//! Every subcommand reads the same way: [`load`] finds and parses the files, [`bases`]
//! lists each stage's base, and a [`Resolver`] asks the registries (each tag once, a few
//! at a time) through [`paks_dockerfile::resolve`].

mod check;
pub(crate) mod pin;
mod walk;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use futures_util::StreamExt as _;
use paks_dockerfile::resolve::{self, Base, ResolveError};
use paks_dockerfile::{Dockerfile, ParseError};
use paks_oci::{Client, Digest, Reference, Repository};
use paks_types::Reporter as _;

use crate::Failure;
use crate::cli::DockerfileCommand;
use crate::commands::{Ctx, Explain, failure};

pub fn command(ctx: &Ctx, command: &DockerfileCommand) -> Result<(), Failure> {
    match command {
        DockerfileCommand::Check(args) => check::run(ctx, args),
        DockerfileCommand::Pin(args) => pin::run(ctx, args),
        DockerfileCommand::Update(args) => crate::dockerfile_update::run(ctx, args),
    }
}

/// Registry requests in flight at once, over all the images of one command.
const AT_ONCE: usize = 4;

/// A Dockerfile read from disk and parsed.
pub(crate) struct Found {
    pub(crate) path: PathBuf,
    pub(crate) dockerfile: Dockerfile,
}

/// The Dockerfiles under `paths` (see [`walk::dockerfiles`]), parsed.
pub(crate) fn load(paths: &[PathBuf]) -> Result<Vec<Found>, Failure> {
    walk::dockerfiles(paths)?
        .into_iter()
        .map(|path| {
            let text = fs_err::read_to_string(&path)?;
            let dockerfile = Dockerfile::parse(&text).map_err(|e| parse_failure(&path, &e))?;
            Ok(Found { path, dockerfile })
        })
        .collect()
}

fn parse_failure(path: &Path, e: &ParseError) -> Failure {
    Failure {
        error: format!(
            "`{}` is not a Dockerfile Docker would build",
            path.display()
        )
        .into(),
        detail: Some(format!(
            "{}:{}:{}: {}",
            path.display(),
            e.line,
            e.column,
            e.message
        )),
        hint: None,
        internal: false,
    }
}

/// One stage's base: where its `FROM` is and what it starts from.
pub(crate) struct StageBase {
    /// Index into the loaded files.
    pub(crate) file: usize,
    pub(crate) stage: usize,
    /// The 1-based line of the `FROM`'s image.
    pub(crate) line: usize,
    pub(crate) base: Base,
}

/// Every stage's base, in file order.
pub(crate) fn bases(found: &[Found]) -> Result<Vec<StageBase>, Failure> {
    let mut all = Vec::new();
    for (file, f) in found.iter().enumerate() {
        for (stage, s) in f.dockerfile.stages.iter().enumerate() {
            let line = line_of(&f.dockerfile.text, s.from.image_span.start);
            let base = resolve::base_of(&s.from).map_err(|e| Failure {
                detail: Some(format!("in `{}:{line}`", f.path.display())),
                ..failure(e)
            })?;
            all.push(StageBase {
                file,
                stage,
                line,
                base,
            });
        }
    }
    Ok(all)
}

/// The 1-based line of byte `offset` of `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text[..offset].matches('\n').count() + 1
}

/// The reference a base is checked by, if it can be: its image, or the image its `ARG`s'
/// defaults give.
pub(crate) fn checked_reference(base: &Base) -> Option<&Reference> {
    match base {
        Base::Image(r)
        | Base::Args {
            resolved: Some(r), ..
        } => Some(r),
        _ => None,
    }
}

/// Asks registries what tags serve, each question once.
pub(crate) struct Resolver {
    client: Client,
    runtime: tokio::runtime::Runtime,
}

impl Resolver {
    pub(crate) fn new(ctx: &Ctx) -> Result<Self, Failure> {
        Ok(Self {
            client: crate::remote::client(ctx)?,
            runtime: crate::remote::runtime()?,
        })
    }

    /// The digest each tag serves now, by the tag's reference (without digest). The first
    /// failure, in `references`' order, is the error, naming where the image is used.
    pub(crate) fn digests<'a>(
        &self,
        references: impl IntoIterator<Item = (&'a Reference, String)>,
    ) -> Result<BTreeMap<Reference, Digest>, Failure> {
        let mut wanted: Vec<(Reference, String)> = Vec::new();
        for (r, place) in references {
            let Some(tag) = &r.tag else { continue };
            let by_tag = r.with_tag(tag);
            if !wanted.iter().any(|(w, _)| *w == by_tag) {
                wanted.push((by_tag, place));
            }
        }
        let client = &self.client;
        let answers: Vec<_> = self.runtime.block_on(
            futures_util::stream::iter(
                wanted
                    .iter()
                    .map(|(r, _)| async move { (r.clone(), resolve::digest_of(client, r).await) }),
            )
            .buffered(AT_ONCE)
            .collect(),
        );
        let mut digests = BTreeMap::new();
        for ((reference, digest), (_, place)) in answers.into_iter().zip(&wanted) {
            let digest = digest.map_err(|e| Failure {
                detail: Some(format!("used in `{place}`")),
                ..failure(e)
            })?;
            digests.insert(reference, digest);
        }
        Ok(digests)
    }

    /// The tags of each repository. A repository whose tags cannot be listed (some
    /// registries let a user pull but not list) is warned about and left out: its newer
    /// tags are unknown, which is no reason to fail what else was asked.
    pub(crate) fn tags(
        &self,
        ctx: &Ctx,
        repositories: BTreeSet<Repository>,
    ) -> BTreeMap<Repository, Vec<String>> {
        let client = &self.client;
        let answers: Vec<_> = self.runtime.block_on(
            futures_util::stream::iter(repositories.into_iter().map(|repo| async move {
                let tags = resolve::tags(client, &repo).await;
                (repo, tags)
            }))
            .buffered(AT_ONCE)
            .collect(),
        );
        answers
            .into_iter()
            .filter_map(|(repo, tags)| match tags {
                Ok(tags) => Some((repo, tags)),
                Err(e) => {
                    ctx.reporter
                        .warn(&format!("{e}: its newer tags are not listed"));
                    None
                }
            })
            .collect()
    }
}

impl Explain for ResolveError {
    fn hint(&self) -> Option<String> {
        match self {
            ResolveError::Auth { registry, .. } => {
                Some(format!("log in with `paks login {registry}`"))
            }
            ResolveError::UnknownTag { repository, .. } => Some(format!(
                "`paks dockerfile check` lists the newer tags of `{repository}`; `skopeo list-tags docker://{repository}` lists them all"
            )),
            _ => None,
        }
    }
    fn is_io(&self) -> bool {
        self.is_machine()
    }
}
