//! What users write to name an image or package somewhere (`docker://`, `oci:`,
//! `oci-archive:`, `.pak`, `docker-archive:`, short names such as `ubuntu:24.04`), parsed
//! once for every command, and the user settings that give short names a meaning:
//! `[defaults] registry`, and `[forge."HOST"]` for `paks install HOST/OWNER/REPO`.
//!
//! The settings come from the user configuration (`crate::config`, docs/config.md).

use paks_oci::{DOCKER_HUB, LOCATION_FORMS, Location};

use crate::Failure;
use crate::commands::Ctx;

/// `[defaults] registry`: the registry of short names, if configured.
pub fn default_registry(ctx: &Ctx) -> Option<&str> {
    ctx.config.config.defaults.registry.as_deref()
}

/// Where a source forge's projects are published and cloned from (`[forge."HOST"]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forge {
    /// The registry (optionally with a namespace) holding `OWNER/REPO` packages, if any.
    pub registry: Option<String>,
    /// The base URL that `OWNER/REPO` is cloned from.
    pub git: String,
}

/// The forge settings of `host`: `[forge."HOST"] registry/git`. GitHub is known without
/// settings (`ghcr.io`, `https://github.com`); other hosts are forges only when configured.
pub fn forge_for(config: &crate::config::Config, host: &str) -> Option<Forge> {
    match (config.forge.get(host), host) {
        (None, "github.com") => Some(Forge {
            registry: Some("ghcr.io".into()),
            git: "https://github.com".into(),
        }),
        (None, _) => None,
        (Some(f), _) => Some(Forge {
            registry: f
                .registry
                .clone()
                .or_else(|| (host == "github.com").then(|| "ghcr.io".into())),
            git: f.git.clone().unwrap_or_else(|| format!("https://{host}")),
        }),
    }
}

/// Parse `arg` as a [`Location`]. A short name is on `[defaults] registry`, else on
/// Docker Hub, and then a hint says how it was taken and how to choose.
pub fn location(ctx: &Ctx, arg: &str) -> Result<Location, Failure> {
    let configured = default_registry(ctx);
    let registry = configured.unwrap_or(DOCKER_HUB);
    let (location, short) = Location::parse(arg, Some(registry)).map_err(|e| Failure {
        hint: Some(format!("an image is {LOCATION_FORMS}")),
        ..crate::remote::oci_failure(e)
    })?;
    if short && configured.is_none() {
        ctx.reporter.status(&format!(
            "hint: `{arg}` is taken as `{location}`; set `[defaults] registry` in `{}` to choose the registry of short names",
            crate::config::path().map_or_else(|| "config.toml".into(), |p| p.display().to_string())
        ));
    }
    Ok(location)
}

/// `--from` (or the spec's `from`) as a full reference: a short name expanded as
/// [`location`] does; `scratch` stays.
pub fn expand_base(ctx: &Ctx, from: &mut Option<String>) -> Result<(), Failure> {
    let Some(f) = from.as_deref().filter(|f| *f != "scratch") else {
        return Ok(());
    };
    match location(ctx, f)? {
        Location::Registry(r) => {
            *from = Some(r.to_string());
            Ok(())
        }
        other => Err(crate::commands::user_error(
            format!("the base image `{other}` is not in a registry"),
            Some("push it first: `paks copy SRC REGISTRY/REPO:TAG`".into()),
        )),
    }
}

/// `arg` as a registry reference (`docker://` allowed, short names expanded), for the
/// commands that read from registries only.
pub fn registry_reference(
    ctx: &Ctx,
    arg: &str,
    command: &str,
) -> Result<paks_oci::Reference, Failure> {
    match location(ctx, arg)? {
        Location::Registry(r) => Ok(r),
        other => Err(crate::commands::user_error(
            format!("`paks {command}` reads from registries; `{other}` is not one"),
            Some(format!(
                "`paks copy {other} REGISTRY/REPO:TAG` puts it in one"
            )),
        )),
    }
}
