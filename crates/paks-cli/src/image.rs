//! `paks image build` and `paks containerize`: resolve packages per platform, compose,
//! and send the image where it goes.

use std::collections::BTreeSet;
use std::io::Write;
use std::time::Instant;

use paks_image::{Base, Composed, Composer, ImageSpec, LayerCompression, Output, PlatformInput};
use paks_oci::{Reference, Repository};
use paks_remote::{Found, Remote};
use paks_resolve::{Request, ResolveOptions};
use paks_types::{Digest, Platform, Reporter as _};
use serde_json::json;

use crate::Failure;
use crate::cli::{ContainerizeArgs, ImageBuildArgs};
use crate::commands::user_error;
use crate::commands::{Ctx, Explain, elapsed, failure, human_size, json_line, out, plural};
use crate::remote::{cache_client, parse_reference, runtime};
use crate::repos;

impl Explain for paks_image::ImageError {
    fn hint(&self) -> Option<String> {
        paks_image::ImageError::hint(self)
    }
    fn is_io(&self) -> bool {
        matches!(self, paks_image::ImageError::Io(_))
    }
}

/// `a b c` or `["a", "b c"]`.
fn command_line(flag: &str, value: &str) -> Result<Vec<String>, Failure> {
    if value.trim_start().starts_with('[') {
        serde_json::from_str(value).map_err(|e| {
            user_error(
                format!("`--{flag}` is not a JSON array of strings: {e}"),
                Some(format!(
                    "`--{flag} '[\"prog\", \"arg one\"]'` or `--{flag} 'prog arg'`"
                )),
            )
        })
    } else {
        Ok(value.split_whitespace().map(str::to_owned).collect())
    }
}

fn pair(flag: &str, value: &str) -> Result<(String, String), Failure> {
    value
        .split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| user_error(format!("`--{flag} {value}` is not `KEY=VALUE`"), None))
}

/// The spec from `-f` and the flags (flags win; packages add up).
fn spec_of(args: &ImageBuildArgs) -> Result<ImageSpec, Failure> {
    let mut spec = load_spec(args.file.as_deref())?;
    spec.packages.extend(args.packages.iter().cloned());
    if let Some(f) = &args.from {
        spec.from = Some(f.clone());
    }
    if let Some(t) = &args.tag {
        spec.tag = Some(t.clone());
    }
    if !args.platform.is_empty() {
        spec.platforms = args
            .platform
            .iter()
            .map(|p| p.parse::<Platform>())
            .collect::<Result<_, _>>()?;
    }
    if let Some(e) = &args.entrypoint {
        spec.entrypoint = Some(command_line("entrypoint", e)?);
    }
    if let Some(c) = &args.cmd {
        spec.cmd = Some(command_line("cmd", c)?);
    }
    if let Some(w) = &args.workdir {
        spec.workdir = Some(w.clone());
    }
    if let Some(u) = &args.user {
        spec.user = Some(u.clone());
    }
    for e in &args.env {
        let (k, v) = pair("env", e)?;
        spec.env.insert(k, v);
    }
    for l in &args.label {
        let (k, v) = pair("label", l)?;
        spec.labels.insert(k, v);
    }
    if let Some(n) = args.layer_budget {
        spec.layer_budget = n;
    }
    if let Some(c) = &args.compression {
        spec.compression = LayerCompression::parse(c).ok_or_else(|| {
            user_error(format!("`--compression {c}` is not `gzip` or `zstd`"), None)
        })?;
    }
    check_spec(
        &spec,
        args.file.as_deref(),
        "`paks image build PACKAGE... --tag REGISTRY/NAME:TAG`",
    )?;
    Ok(spec)
}

/// The spec in `file`, or the default one.
pub(crate) fn load_spec(file: Option<&std::path::Path>) -> Result<ImageSpec, Failure> {
    match file {
        Some(path) => ImageSpec::load(path).map_err(failure),
        None => Ok(ImageSpec::default()),
    }
}

/// Check the finished spec, naming where it came from (`file`, else the command line);
/// `usage` is the hint.
pub(crate) fn check_spec(
    spec: &ImageSpec,
    file: Option<&std::path::Path>,
    usage: &str,
) -> Result<(), Failure> {
    let origin = file.map_or_else(
        || "the command line".to_owned(),
        |p| p.display().to_string(),
    );
    spec.check(&origin).map_err(|e| Failure {
        hint: Some(usage.into()),
        ..failure(e)
    })
}

/// Where the image goes: `--output`, else the registry `tag`.
fn output_of(output: Option<&str>, tag: Option<&str>) -> Result<Output, Failure> {
    let tag_only = |t: &str| {
        t.parse::<Reference>()
            .ok()
            .and_then(|r| r.tag)
            .unwrap_or_else(|| "latest".to_owned())
    };
    match output {
        Some(o) if o.starts_with("oci:") => {
            let rest = &o["oci:".len()..];
            let (dir, t) = match rest.rsplit_once(':') {
                Some((d, t)) if !t.contains('/') => (d, t.to_owned()),
                _ => (rest, tag.map_or_else(|| "latest".to_owned(), tag_only)),
            };
            if dir.is_empty() {
                return Err(user_error(
                    format!("`{o}` names no directory"),
                    Some("`oci:DIR:TAG`".into()),
                ));
            }
            Ok(Output::Layout {
                dir: dir.into(),
                tag: t,
            })
        }
        Some(o) if o.starts_with("docker-archive:") => {
            let path = &o["docker-archive:".len()..];
            if path.is_empty() {
                return Err(user_error(
                    format!("`{o}` names no file"),
                    Some("`docker-archive:FILE`".into()),
                ));
            }
            Ok(Output::DockerArchive {
                path: path.into(),
                name: tag.map(str::to_owned),
            })
        }
        Some(o) => Err(user_error(
            format!("`--output {o}` is not `oci:DIR[:TAG]` or `docker-archive:FILE`"),
            Some("to push, name the image with `--tag REGISTRY/NAME:TAG`".into()),
        )),
        None => {
            let Some(t) = tag else {
                return Err(user_error(
                    "the image has no destination",
                    Some("name it with `--tag REGISTRY/NAME:TAG`, or write it with `--output oci:DIR:TAG`".into()),
                ));
            };
            let r = parse_reference(t)?;
            if r.digest.is_some() {
                return Err(user_error(
                    format!("`{t}` must name a tag, not a digest"),
                    None,
                ));
            }
            Ok(Output::Registry(if r.tag.is_some() {
                r
            } else {
                r.with_tag("latest")
            }))
        }
    }
}

/// The host an image for `platform` is resolved for: generic, since the image runs
/// elsewhere (the baseline microarchitecture target, any glibc).
fn image_host(platform: &Platform) -> Result<paks_host::HostProfile, Failure> {
    let mut host = crate::catalog::host()?;
    host.os.clone_from(&platform.os);
    host.arch.clone_from(&platform.architecture);
    host.microarch = None;
    host.targets = match platform.architecture.as_str() {
        "amd64" => vec!["x86_64".to_owned()],
        "arm64" => vec!["aarch64".to_owned()],
        other => vec![other.to_owned()],
    };
    host.features.clear();
    host.glibc = None;
    Ok(host)
}

/// Every platform's packages and base, composed.
pub(crate) struct Resolved {
    pub images: Vec<Composed>,
    pub inputs: Vec<PlatformInput>,
}

pub(crate) fn compose_all(
    ctx: &Ctx,
    composer: &Composer<'_>,
    rt: &tokio::runtime::Runtime,
    spec: &ImageSpec,
) -> Result<Resolved, Failure> {
    let remote = Remote::new(composer.client.clone(), composer.store);
    let (references, names): (Vec<&String>, Vec<&String>) =
        spec.packages.iter().partition(|p| p.contains('/'));
    let references = references
        .into_iter()
        .map(|r| parse_reference(r))
        .collect::<Result<Vec<_>, _>>()?;
    let requests = names
        .iter()
        .map(|s| {
            Request::parse(s).map_err(|e| Failure {
                hint: Some(
                    "a package is `NAME`, `NAME@REQ` or `REGISTRY/NAMESPACE/NAME:VERSION`".into(),
                ),
                ..Failure::from(e)
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let loaded = if requests.is_empty() {
        Vec::new()
    } else {
        repos::load_all(ctx, false)?
    };
    let mut images = Vec::new();
    let mut inputs = Vec::new();
    for platform in spec.platforms() {
        let mut explicit = BTreeSet::new();
        let mut packages: Vec<Found> = Vec::new();
        let mut seen: BTreeSet<Digest> = BTreeSet::new();
        // Every reference's closure at once (shared dependencies are read per root, each
        // a small manifest and config); then in the order given, each build once.
        // The CPU that will run the image is unknown: baseline builds only.
        let cpu = paks_host::HostProfile::default();
        let closures = rt
            .block_on(futures_util::future::try_join_all(
                references
                    .iter()
                    .map(|r| remote.resolve_for(r, &platform, &cpu)),
            ))
            .map_err(failure)?;
        for (_, found) in closures {
            if let Some(last) = found.last() {
                explicit.insert(last.manifest.clone());
            }
            packages.extend(
                found
                    .into_iter()
                    .filter(|f| seen.insert(f.manifest.clone())),
            );
        }
        if !requests.is_empty() {
            let roots = named_roots(&loaded, &requests, &platform)?;
            explicit.extend(roots.iter().map(|(_, d)| d.clone()));
            let found = rt.block_on(remote.closure(&roots)).map_err(failure)?;
            // Every build in the image comes from the verified index.
            for f in &found {
                if !loaded
                    .iter()
                    .any(|l| l.index.find_build(&f.manifest).is_some())
                {
                    return Err(user_error(
                        format!(
                            "`{}` is not listed in any repository's index",
                            f.config.paks.id
                        ),
                        Some("`paks repo update`, or rebuild the index".into()),
                    ));
                }
            }
            let digests: Vec<&Digest> = found.iter().map(|f| &f.manifest).collect();
            let candidates = crate::trust::listed(&loaded, &digests);
            crate::trust::enforce(ctx, &candidates, false, "no image was made")?;
            packages.extend(
                found
                    .into_iter()
                    .filter(|f| seen.insert(f.manifest.clone())),
            );
        }
        let base: Option<Base> = match spec.base() {
            Some(b) => Some(rt.block_on(composer.base(b, &platform)).map_err(failure)?),
            None => None,
        };
        let input = PlatformInput {
            platform,
            packages,
            explicit,
            base,
        };
        images.push(
            rt.block_on(composer.compose(spec, &input))
                .map_err(failure)?,
        );
        inputs.push(input);
    }
    Ok(Resolved { images, inputs })
}

/// The builds the configured repositories resolve `requests` to for `platform`, where
/// each is in a registry.
fn named_roots(
    loaded: &[repos::Loaded],
    requests: &[Request],
    platform: &Platform,
) -> Result<Vec<(Repository, Digest)>, Failure> {
    let host = image_host(platform)?;
    let resolution = paks_resolve::resolve(
        &repos::IndexCatalog(loaded),
        &host,
        requests,
        &ResolveOptions::default(),
    )
    .map_err(crate::catalog::resolve_failure)?;
    let mut roots = Vec::new();
    for r in resolution.packages.iter().filter(|r| r.explicit) {
        let (l, listed) = repos::listed(loaded, r)?;
        let paks_index::IndexSource::Oci(ns) = &l.source else {
            return Err(user_error(
                format!(
                    "`{}` comes from the static repository `{}`: images are composed from packages in a registry",
                    r.name, l.entry.name
                ),
                Some("copy the packages into a registry (`paks push`) and add that namespace with `paks repo add`".into()),
            ));
        };
        let repo = Repository {
            registry: ns.registry.clone(),
            name: format!("{}/{}", ns.name, listed.package.repository),
        };
        roots.push((repo, r.build.digest.clone()));
    }
    Ok(roots)
}

/// Warnings and notes about one composed image: merged layers, view conflicts, paths
/// replaced by rootfs packages.
fn report_notes(ctx: &Ctx, image: &Composed, spec: &ImageSpec) {
    if !image.merged.is_empty() {
        ctx.reporter.warn(&format!(
            "{}: {} packages share one layer to stay within the budget of {} layers: {}",
            image.platform,
            image.merged.len(),
            spec.layer_budget,
            image
                .merged
                .iter()
                .map(|id| id.name().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    // `Replaces`: the later package's file is the one in the image.
    let mut pairs: std::collections::BTreeMap<(String, String), usize> =
        std::collections::BTreeMap::new();
    for r in &image.replaced {
        *pairs
            .entry((r.winner.to_string(), r.loser.to_string()))
            .or_default() += 1;
    }
    for ((winner, loser), n) in pairs {
        ctx.reporter.status(&format!(
            "{}: `{winner}` replaces {n} path{} of `{loser}` (its files are the ones in the image)",
            image.platform,
            plural(n),
        ));
    }
    if !image.conflicts.is_empty() {
        ctx.reporter.warn(&format!(
            "{}: {} path{} in the view came from more than one package (the first was kept): {}",
            image.platform,
            image.conflicts.len(),
            plural(image.conflicts.len()),
            image
                .conflicts
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
}

pub fn build(ctx: &Ctx, args: &ImageBuildArgs) -> Result<(), Failure> {
    let start = Instant::now();
    let mut spec = spec_of(args)?;
    crate::references::expand_base(ctx, &mut spec.from)?;
    let output = output_of(args.output.as_deref(), spec.tag.as_deref())?;
    let store = ctx.store()?;
    let composer = Composer {
        client: cache_client(ctx)?,
        store: &store,
        reporter: &ctx.reporter,
        local: None,
    };
    let rt = runtime()?;
    let Resolved { images, inputs } = compose_all(ctx, &composer, &rt, &spec)?;
    for image in &images {
        report_notes(ctx, image, &spec);
    }
    let stats = rt
        .block_on(composer.output(&images, &output))
        .map_err(failure)?;
    let digest = stats
        .digest
        .clone()
        .unwrap_or_else(|| images[0].digest.clone());
    let (destination, name) = match &output {
        Output::Registry(r) => (format!("{r}@{digest}"), r.to_string()),
        Output::Layout { dir, tag } => {
            let name = format!("oci:{}:{tag}", dir.display());
            (name.clone(), name)
        }
        Output::DockerArchive { path, .. } => {
            let name = format!("docker-archive:{}", path.display());
            (name.clone(), name)
        }
    };
    let document = crate::image_sbom::document(&name, &digest, &inputs);
    if let Some(path) = &args.sbom {
        crate::image_sbom::write(path, &document)?;
    }
    // In a registry, the SBOM travels with the image as its referrer.
    let sbom_referrer = match &output {
        Output::Registry(r) => Some(
            rt.block_on(crate::image_sbom::attach(
                &composer.client,
                r,
                &digest,
                &images,
                &document,
            ))
            .map_err(failure)?
            .digest,
        ),
        _ => None,
    };
    let layers = images.iter().map(|i| i.layers.len()).max().unwrap_or(0);
    let packages = images.iter().map(|i| i.packages.len()).max().unwrap_or(0);
    if args.json {
        json_line(&json!({
            "type": "image",
            "destination": destination,
            "digest": digest.to_string(),
            "images": images.iter().map(|i| json!({
                "platform": i.platform.to_string(),
                "digest": i.digest.to_string(),
                "layers": i.layers.len(),
                "packages": i.packages.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "merged": i.merged.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "replaced": i.replaced.iter().map(|r| json!({
                    "path": r.path,
                    "winner": r.winner.to_string(),
                    "loser": r.loser.to_string(),
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "uploaded_bytes": stats.uploaded_bytes,
            "uploaded": stats.uploaded,
            "mounted": stats.mounted,
            "existed": stats.existed,
            "downloaded_bytes": stats.downloaded_bytes,
            "sbom": args.sbom,
            "sbom_referrer": sbom_referrer.map(|d| d.to_string()),
        }))?;
    } else {
        writeln!(out(), "{destination}")?;
    }
    ctx.reporter.status(&format!(
        "Composed {} image{} of {packages} package{} ({layers} layers) in {}: {} written, {} blob{} mounted, {} already there",
        images.len(),
        plural(images.len()),
        plural(packages),
        elapsed(start),
        human_size(stats.uploaded_bytes),
        stats.mounted,
        plural(stats.mounted),
        stats.existed,
    ));
    Ok(())
}

pub fn containerize(ctx: &Ctx, args: &ContainerizeArgs) -> Result<(), Failure> {
    let mut spec = ImageSpec::load(&args.file).map_err(failure)?;
    spec.check(&args.file.display().to_string())
        .map_err(failure)?;
    if spec.platforms.len() > 1 {
        ctx.reporter.warn("a Dockerfile is for one platform: only the first is used (build others with `docker buildx --platform`)");
        spec.platforms.truncate(1);
    }
    let store = ctx.store()?;
    let composer = Composer {
        client: cache_client(ctx)?,
        store: &store,
        reporter: &ctx.reporter,
        local: None,
    };
    let Resolved { images, inputs } = compose_all(ctx, &composer, &runtime()?, &spec)?;
    let dockerfile = paks_image::containerize::dockerfile(
        &spec,
        &inputs[0],
        &images[0],
        &args.paks_image,
        &args.file.display().to_string(),
    )
    .map_err(failure)?;
    out().write_all(dockerfile.as_bytes())?;
    Ok(())
}
