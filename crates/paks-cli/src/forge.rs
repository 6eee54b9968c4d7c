//! `paks install HOST/OWNER/REPO[@REV]` for a source forge (GitHub, or any host with
//! `[forge."HOST"]` settings): the package published at the forge's registry
//! (`ghcr.io/OWNER/REPO`) if it is there, else a build of the repository's `paks.toml`
//! over git (`git+URL/OWNER/REPO#REV`), fetching its dependencies as `paks build` does.

use paks_oci::{Reference, Repository};
use paks_store::{Installable, Store};
use paks_types::Version;

use crate::Failure;
use crate::commands::{Ctx, failure};
use crate::references::{Forge, forge_for};

/// A project on a forge, as the user wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub host: String,
    pub owner: String,
    pub repo: String,
    pub rev: Option<String>,
    pub forge: Forge,
}

impl Project {
    /// `HOST/OWNER/REPO[@REV]` when `HOST` is a forge; `None` for anything else (a
    /// registry reference, a name).
    pub fn parse(config: &crate::config::Config, arg: &str) -> Option<Self> {
        let (path, rev) = match arg.split_once('@') {
            // `@sha256:…` is a registry digest, not a revision.
            Some((_, r)) if r.contains(':') => return None,
            Some((p, r)) => (p, Some(r.to_owned())),
            None => (arg, None),
        };
        let mut parts = path.split('/');
        let (host, owner, repo) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || owner.is_empty() || repo.is_empty() || repo.contains(':') {
            return None;
        }
        let forge = forge_for(config, host)?;
        Some(Self {
            host: host.to_owned(),
            owner: owner.to_owned(),
            repo: repo.trim_end_matches(".git").to_owned(),
            rev,
            forge,
        })
    }

    fn git_url(&self) -> String {
        format!(
            "{}/{}/{}",
            self.forge.git.trim_end_matches('/'),
            self.owner,
            self.repo
        )
    }
}

/// The package of `project` and what it needs: pulled from the forge's registry when
/// published there, else built from its repository (dependencies fetched as `paks build`
/// does); ready to install, the project's package explicitly.
pub fn installables(
    ctx: &Ctx,
    store: &Store,
    project: &Project,
) -> Result<Vec<Installable>, Failure> {
    if let Some(reference) = published(ctx, project)? {
        ctx.reporter.status(&format!(
            "`{}/{}/{}` is published as `{reference}`",
            project.host, project.owner, project.repo
        ));
        let pulled = crate::remote::pull_all(ctx, store, &[reference])?;
        return Ok(pulled.into_iter().flat_map(|p| p.packages).collect());
    }
    let url = project.git_url();
    ctx.reporter.status(&format!(
        "Building `{url}`{} (no package published for it)",
        project
            .rev
            .as_ref()
            .map(|r| format!(" at `{r}`"))
            .unwrap_or_default()
    ));
    let location = paks_build::RecipeLocation::Git {
        url,
        rev: project.rev.clone(),
    };
    let options = paks_build::BuildOptions {
        out_dir: store.root().join("cache/builds"),
        jobs: ctx.jobs,
        echo_log: ctx.verbose,
        run_tests: true,
        compression: paks_archive::Compression::default(),
        install: false,
        source_limits: paks_build::SourceLimits::default(),
    };
    let built = crate::build_deps::build(ctx, store, &location, &options)?;
    let pak = paks_store::open_pak(&built.pak).map_err(failure)?;
    Ok(vec![Installable::from_pak(pak, true)])
}

/// The reference of the project's package in the forge's registry: the version `REV`
/// names (`v1.2.0` or `1.2.0`), else the newest version; `None` when the registry has
/// no such repository or version.
fn published(ctx: &Ctx, project: &Project) -> Result<Option<Reference>, Failure> {
    let Some(registry) = &project.forge.registry else {
        return Ok(None);
    };
    // Repository names are lower case; forges' owners need not be.
    let path = format!("{registry}/{}/{}", project.owner, project.repo).to_lowercase();
    let repo: Repository = path.parse().map_err(crate::remote::oci_failure)?;
    let client = crate::remote::client(ctx)?;
    let runtime = crate::remote::runtime()?;
    let tags = match runtime.block_on(client.list_tags(&repo)) {
        Ok(tags) => tags,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(crate::remote::oci_failure(e)),
    };
    let version = |t: &str| t.trim_start_matches('v').parse::<Version>().ok();
    let chosen = match &project.rev {
        Some(rev) => {
            let want = version(rev);
            tags.iter()
                .find(|t| *t == rev || (want.is_some() && version(t) == want))
                .cloned()
        }
        None => tags
            .iter()
            .filter_map(|t| Some((version(t)?, t)))
            .max()
            .map(|(_, t)| t.clone()),
    };
    Ok(chosen.map(|t| repo.reference_tag(&t)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_forge_projects_only() {
        let none = crate::config::Config::default();
        let p = Project::parse(&none, "github.com/acme/tool@v1.2.0").unwrap();
        assert_eq!(
            (p.owner.as_str(), p.repo.as_str(), p.rev.as_deref()),
            ("acme", "tool", Some("v1.2.0"))
        );
        assert_eq!(p.git_url(), "https://github.com/acme/tool");
        assert_eq!(p.forge.registry.as_deref(), Some("ghcr.io"));
        assert!(Project::parse(&none, "github.com/acme/tool/more").is_none());
        assert!(Project::parse(&none, "github.com/acme/tool:1.0").is_none());
        assert!(
            Project::parse(
                &none,
                &format!("github.com/acme/tool@sha256:{}", "a".repeat(64))
            )
            .is_none()
        );
        assert!(Project::parse(&none, "127.0.0.1:5000/acme/tool").is_none());
    }
}
