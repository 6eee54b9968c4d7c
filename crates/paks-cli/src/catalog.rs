//! `paks repo`, `paks search`, `paks index`, `paks key`, and resolving names for
//! `paks install`.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use paks_resolve::{Request, Resolution, ResolveOptions};
use paks_store::Store;
use paks_types::PackageName;
use serde_json::json;

use paks_types::Reporter as _;

use crate::Failure;
use crate::cli::{IndexCommand, KeyCommand, RepoCommand, SearchArgs};
use crate::commands::user_error;
use crate::commands::{Ctx, elapsed, human_size, json_line, out, plural};
use crate::index_sharded::{self, IndexFormat};
use crate::printer::shown;
use crate::repos::{self, Loaded, RepoConfig, RepoEntry, ToInstall, index_failure};
use crate::root_keys::RootSigning;

/// The host the resolver picks builds for (`PAKS_HOST_PROFILE` may fake another).
pub fn host() -> Result<paks_host::HostProfile, Failure> {
    paks_host::HostProfile::from_env().map_err(|e| Failure {
        hint: Some(format!(
            "`{}` names a JSON host profile; fix or unset it",
            paks_host::HOST_PROFILE_ENV
        )),
        ..Failure::from(e)
    })
}

pub fn resolve_failure(e: paks_resolve::ResolveError) -> Failure {
    Failure {
        error: Box::new(e),
        detail: None,
        hint: Some("`paks search NAME` lists what the repositories offer".into()),
        internal: false,
    }
}

/// Resolves `requests` against the repositories' indexes for this host.
pub fn resolve(
    ctx: &Ctx,
    loaded: &[Loaded],
    requests: &[Request],
    prefer: std::collections::BTreeMap<paks_types::PackageName, paks_types::Version>,
) -> Result<Resolution, Failure> {
    let host = host()?;
    let started = Instant::now();
    let resolution = paks_resolve::resolve(
        &repos::IndexCatalog(loaded),
        &host,
        requests,
        &ResolveOptions {
            prefer,
            ..ResolveOptions::default()
        },
    )
    .map_err(resolve_failure)?;
    for w in &resolution.warnings {
        ctx.reporter.warn(w);
    }
    ctx.reporter.info(&format!(
        "Resolved {} package{} in {}",
        resolution.packages.len(),
        plural(resolution.packages.len()),
        elapsed(started)
    ));
    Ok(resolution)
}

/// `paks install NAME…`: resolve, then fetch what the store lacks.
pub fn install_by_name(
    ctx: &Ctx,
    store: &Store,
    specs: &[String],
    offline: bool,
    background: Option<&mut crate::background::Background>,
) -> Result<ToInstall, Failure> {
    let requests = specs
        .iter()
        .map(|s| {
            Request::parse(s).map_err(|e| Failure {
                hint: Some("a package is `NAME`, `NAME@REQ` (`zlib@^1.3`) or `NAME>=1,<2`".into()),
                ..Failure::from(e)
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let names: Vec<_> = requests.iter().map(|r| r.name.clone()).collect();
    let loaded = repos::load_for(ctx, offline, &names)?;
    let resolution = resolve(
        ctx,
        &loaded,
        &requests,
        std::collections::BTreeMap::default(),
    )?;
    repos::installables(ctx, store, &loaded, &resolution, offline, background)
}

pub fn search(ctx: &Ctx, args: &SearchArgs) -> Result<(), Failure> {
    if let Some(registry) = &args.registry {
        return crate::catalog_remote::search(ctx, registry, args);
    }
    let mut loaded = repos::load_all(ctx, args.offline)?;
    let names = crate::shards::names_matching(&loaded, &args.term);
    crate::shards::fill(ctx, &mut loaded, &names, args.offline, false)?;
    let hits = repos::search(&loaded, &args.term);
    let mut o = out();
    for (repo, name, entry) in &hits {
        // Imported packages show their distribution's version, not the semver form that
        // orders it; newest first either way.
        let versions: Vec<String> = entry
            .versions
            .iter()
            .rev()
            .map(|(v, e)| {
                e.builds
                    .first()
                    .map_or_else(|| v.to_string(), |b| b.shown_version(v))
            })
            .collect();
        let kind = entry
            .versions
            .values()
            .next_back()
            .and_then(|e| e.builds.first())
            .map_or(paks_types::PackageKind::Store, |b| b.kind);
        print_hit(
            &mut o,
            args.json,
            name.as_str(),
            repo,
            kind,
            &versions,
            entry.summary.as_deref(),
        )?;
    }
    // A term that matches nothing is often a misspelt name.
    let similar = if hits.is_empty() {
        similar_names(&loaded, &args.term)
    } else {
        Vec::new()
    };
    if args.json {
        let similar: Vec<&str> = similar.iter().map(PackageName::as_str).collect();
        json_line(
            &json!({"type": "search", "term": args.term, "hits": hits.len(),
                          "suggestions": similar}),
        )?;
    } else if hits.is_empty() {
        ctx.reporter.status(&format!(
            "No package matches `{}`{}",
            args.term,
            paks_resolve::did_you_mean(&similar)
        ));
    }
    Ok(())
}

/// One package `paks search` found: a table line, or a JSON line with `json`. `versions`
/// newest first.
pub(crate) fn print_hit(
    o: &mut impl Write,
    json: bool,
    name: &str,
    repository: &str,
    kind: paks_types::PackageKind,
    versions: &[String],
    summary: Option<&str>,
) -> std::io::Result<()> {
    if json {
        return writeln!(
            o,
            "{}",
            json!({"type": "package", "name": name, "repository": repository,
                   "kind": kind.as_str(), "versions": versions, "summary": summary})
        );
    }
    let tag = if kind.is_store() {
        String::new()
    } else {
        format!(", {kind}")
    };
    writeln!(
        o,
        "{:<24} {:<10} {}  [{repository}{tag}]",
        name,
        versions.first().map_or("", String::as_str),
        shown(summary.unwrap_or(""))
    )
}

/// The names in the repositories' indexes close to `name` (a likely typo), closest first.
fn similar_names(loaded: &[Loaded], name: &str) -> Vec<PackageName> {
    paks_resolve::similar_names(name, loaded.iter().flat_map(Loaded::names))
}

/// What `paks info NAME` found in the repositories.
pub enum RemoteInfo {
    /// The package is there; its description was printed.
    Printed,
    /// No repository has it; these names are close to it.
    Missing(Vec<PackageName>),
}

/// `paks info NAME` for a package that is not installed: what the repositories offer.
pub fn remote_info(ctx: &Ctx, name: &str, json_out: bool) -> Result<RemoteInfo, Failure> {
    let Ok(repositories) = crate::config::repositories(&ctx.config, &ctx.root) else {
        return Ok(RemoteInfo::Missing(Vec::new()));
    };
    if repositories.is_empty() {
        return Ok(RemoteInfo::Missing(Vec::new()));
    }
    let mut loaded = repos::load_all(ctx, false)?;
    if let Ok(wanted) = paks_types::PackageName::new(name) {
        crate::shards::fill(ctx, &mut loaded, &[wanted], false, false)?;
    }
    let Some((repo, entry)) = loaded.iter().find_map(|l| {
        l.index
            .packages
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, e)| (l.entry.name.as_str(), e))
    }) else {
        return Ok(RemoteInfo::Missing(similar_names(&loaded, name)));
    };
    if json_out {
        json_line(
            &json!({"type": "remote-package", "name": name, "repository": repo, "entry": entry}),
        )?;
        return Ok(RemoteInfo::Printed);
    }
    let mut o = out();
    writeln!(o, "{name}  (not installed; from repository `{repo}`)")?;
    if let Some(s) = &entry.summary {
        writeln!(o, "  {}", shown(s))?;
    }
    for (version, v) in entry.versions.iter().rev() {
        writeln!(o, "  {version}")?;
        for b in &v.builds {
            let deps: Vec<String> = b
                .dependencies
                .iter()
                .map(|d| format!("{} {}", d.name, d.req))
                .collect();
            let line = build_line(
                &b.id.hash()[..8],
                &b.platform.to_string(),
                b.target.as_deref(),
                b.glibc.as_ref().map(ToString::to_string),
                [b.layer.size, b.size, b.files],
                &deps,
            );
            writeln!(o, "{line}")?;
        }
    }
    Ok(RemoteInfo::Printed)
}

/// A build as `paks info` lists it: its hash's start, platform, target, glibc, sizes
/// (`[layer, unpacked, files]`) and dependencies.
pub(crate) fn build_line(
    hash: &str,
    platform: &str,
    target: Option<&str>,
    glibc: Option<String>,
    [layer_size, size, files]: [u64; 3],
    deps: &[String],
) -> String {
    format!(
        "    {hash}  {platform}{}{}  {} download, {} unpacked, {files} files{}",
        target.map(|t| format!(" {t}")).unwrap_or_default(),
        glibc.map(|g| format!(" glibc>={g}")).unwrap_or_default(),
        human_size(layer_size),
        human_size(size),
        if deps.is_empty() {
            String::new()
        } else {
            format!("; needs {}", deps.join(", "))
        }
    )
}

pub(crate) fn read_key_arg(arg: &str) -> Result<String, Failure> {
    if arg.starts_with(paks_index::PUBLIC_KEY_PREFIX) {
        return Ok(arg.to_owned());
    }
    let key = paks_index::PublicKey::load(Path::new(arg)).map_err(|e| Failure {
        hint: Some(
            "pass `paks-ed25519 <base64>` or a file holding it (as `paks key generate` writes)"
                .into(),
        ),
        ..index_failure(e)
    })?;
    Ok(key.to_string())
}

pub fn repo(ctx: &Ctx, command: RepoCommand) -> Result<(), Failure> {
    let user = matches!(
        command,
        RepoCommand::Add { user: true, .. } | RepoCommand::Remove { user: true, .. }
    );
    // `--user`: the user configuration's list, saved back into it.
    let mut config = if user {
        RepoConfig {
            repositories: ctx.config.config.repositories.clone(),
        }
    } else {
        RepoConfig::load(&ctx.root)?
    };
    let save = |config: &RepoConfig| {
        if user {
            crate::config::save_repositories(&ctx.config, &config.repositories)
        } else {
            config.save(&ctx.root)
        }
    };
    match command {
        RepoCommand::Add {
            name,
            url,
            keys,
            allow_unsigned,
            first,
            user: _,
            json,
            require,
            threshold,
        } => {
            let new = NewRepo {
                keys: &keys,
                allow_unsigned,
                threshold,
            };
            let mut added = repo_add(ctx, &mut config, &name, url, &new, first)?;
            crate::trust::set_require(&mut config, &mut added, require)?;
            save(&config)?;
            if json {
                json_line(&index_line("repository-add", &added))?;
            }
        }
        RepoCommand::List(args) => repo_list(ctx, args.json)?,
        RepoCommand::Remove {
            name,
            user: _,
            json,
        } => {
            let before = config.repositories.len();
            let names: Vec<String> = config.repositories.iter().map(|r| r.name.clone()).collect();
            config.repositories.retain(|r| r.name != name);
            if config.repositories.len() == before {
                return Err(user_error(
                    format!("no repository is named `{name}`"),
                    crate::suggest::hint(&name, &names)
                        .or_else(|| Some("`paks repo list` shows them".into())),
                ));
            }
            save(&config)?;
            if json {
                json_line(&json!({"type": "repository-remove", "name": name}))?;
            }
            ctx.reporter.status(&format!("Removed repository `{name}`"));
        }
        RepoCommand::Update(args) => {
            let started = Instant::now();
            let loaded = repos::load_all(ctx, false)?;
            for l in &loaded {
                if args.json {
                    json_line(&index_line("repository-update", l))?;
                }
                ctx.reporter.status(&format!(
                    "{}: {} package{}, index version {}",
                    l.entry.name,
                    l.package_count(),
                    plural(l.package_count()),
                    l.index.version
                ));
            }
            ctx.reporter
                .info(&format!("Updated in {}", elapsed(started)));
        }
    }
    Ok(())
}

/// `paks repo list`: the root's repositories, then the user's, as installs use them.
fn repo_list(ctx: &Ctx, json_out: bool) -> Result<(), Failure> {
    let mut o = out();
    // The root's own, then the user's (`config.toml`), as installs use them.
    let all = crate::config::repositories(&ctx.config, &ctx.root)?;
    for (i, (r, scope)) in all.iter().enumerate() {
        if json_out {
            writeln!(
                o,
                "{}",
                json!({"type": "repository", "name": r.name, "url": r.url, "priority": i,
                       "keys": r.keys, "allow_unsigned": r.allow_unsigned, "scope": scope,
                       "require": r.require.to_string()})
            )?;
        } else {
            let trust = if r.keys.is_empty() {
                "unsigned allowed".to_owned()
            } else {
                format!("{} key{}", r.keys.len(), plural(r.keys.len()))
            };
            let user = if *scope == "user" { ", user" } else { "" };
            let require = if r.require.is_empty() {
                String::new()
            } else {
                format!(", requires {}", r.require)
            };
            writeln!(o, "{:<12} {}  ({trust}{require}{user})", r.name, r.url)?;
        }
    }
    Ok(())
}

/// What `paks repo add` says about trusting the new repository.
struct NewRepo<'a> {
    keys: &'a [String],
    allow_unsigned: bool,
    threshold: Option<u32>,
}

fn repo_add(
    ctx: &Ctx,
    config: &mut RepoConfig,
    name: &str,
    url: String,
    new: &NewRepo<'_>,
    first: bool,
) -> Result<Loaded, Failure> {
    let NewRepo {
        keys,
        allow_unsigned,
        threshold,
    } = *new;
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        || name.is_empty()
    {
        return Err(user_error(
            format!("`{name}` is not a repository name"),
            Some("use letters, digits, `-`, `_` and `.`".into()),
        ));
    }
    if config.get(name).is_some() {
        return Err(user_error(
            format!("a repository named `{name}` exists already"),
            Some(format!(
                "`paks repo remove {name}` first, or pick another name"
            )),
        ));
    }
    if keys.is_empty() && !allow_unsigned {
        return Err(user_error(
                    format!("repository `{name}` needs a key to verify its index"),
                    Some("pass `--key <public key or file>`, or `--allow-unsigned` to trust it without signatures".into()),
                ));
    }
    let entry = RepoEntry {
        name: name.to_owned(),
        url,
        keys: keys
            .iter()
            .map(|k| read_key_arg(k))
            .collect::<Result<_, _>>()?,
        allow_unsigned,
        require: paks_attest::Require::default(),
        threshold,
    };
    if let Some(threshold) = threshold {
        let keys = entry.policy()?.keys;
        crate::root_keys::check_threshold(threshold, crate::root_keys::distinct(&keys), "--key")?;
    }
    let source = entry.source()?;
    let runtime = crate::remote::runtime()?;
    let crate::shards::Accepted { index, root } = repos::update_one(ctx, &runtime, &entry)?;
    let count = root
        .as_ref()
        .map_or(index.packages.len(), |r| r.shards.len());
    if first {
        config.repositories.insert(0, entry.clone());
    } else {
        config.repositories.push(entry.clone());
    }
    ctx.reporter.status(&format!(
        "Added repository `{name}`: {} package{}, index version {}, expires {}",
        count,
        plural(count),
        index.version,
        index.expires.as_str()
    ));
    Ok(Loaded {
        entry,
        source,
        index,
        root,
    })
}

/// A repository and the index just fetched for it, as a JSON line of `kind`.
fn index_line(kind: &str, l: &Loaded) -> serde_json::Value {
    json!({"type": kind, "name": l.entry.name, "url": l.entry.url,
           "packages": l.package_count(), "index_version": l.index.version,
           "expires": l.index.expires.as_str()})
}

pub fn key(ctx: &Ctx, command: KeyCommand) -> Result<(), Failure> {
    let KeyCommand::Generate { out: path, json } = command;
    let generated = paks_index::generate_key().map_err(index_failure)?;
    paks_index::write_private_key(&path, &generated.private_pem).map_err(index_failure)?;
    let public = path.with_extension("pub");
    paks_index::write_public_key(&public, &generated.public).map_err(index_failure)?;
    if json {
        json_line(&json!({"type": "key", "private": path, "public": public,
                          "key": generated.public.to_string()}))?;
    } else {
        writeln!(out(), "{}", generated.public)?;
    }
    ctx.reporter.status(&format!(
        "Wrote `{}` (private, keep it secret) and `{}` (public: `paks repo add … --key {}`)",
        path.display(),
        public.display(),
        public.display()
    ));
    Ok(())
}

pub(crate) fn namespace(arg: &str) -> Result<paks_oci::Repository, Failure> {
    arg.parse::<paks_oci::Repository>().map_err(|e| Failure {
        hint: Some("a namespace is `REGISTRY/NAMESPACE`, such as `127.0.0.1:5000/acme`".into()),
        ..crate::remote::oci_failure(e)
    })
}

#[allow(clippy::too_many_arguments)] // one per flag of `paks index build`
fn index_build(
    ctx: &Ctx,
    client: &paks_oci::Client,
    runtime: &tokio::runtime::Runtime,
    ns: &str,
    signing: &RootSigning,
    expires_days: u64,
    json_out: bool,
    format: IndexFormat,
) -> Result<(), Failure> {
    let started = Instant::now();
    let options = paks_index::BuildOptions {
        now: SystemTime::now(),
        expires_in: Duration::from_secs(expires_days.max(1) * 86_400),
    };
    let sharded = format == IndexFormat::Sharded;
    if Path::new(ns).is_dir() {
        let dir = std::path::absolute(ns)?;
        if sharded {
            return index_sharded::build_directory(ctx, &dir, signing, &options, json_out);
        }
        let keys = signing.single_format()?;
        return index_directory(ctx, &dir, keys, &options, started);
    }
    let ns = namespace(ns)?;
    if sharded {
        return index_sharded::build_registry(
            ctx, client, runtime, &ns, signing, &options, json_out,
        );
    }
    let keys = signing.single_format()?;
    let source = paks_index::IndexSource::Oci(ns.clone());
    // The previous index makes the rebuild incremental (and its version + 1 the new one).
    let previous = runtime
        .block_on(paks_index::fetch_index(client, &source))
        .ok()
        .map(|f| f.signed.signed);
    let (index, report) = runtime
        .block_on(paks_index::build_index(
            client,
            &ns,
            previous.as_ref(),
            &options,
        ))
        .map_err(index_failure)?;
    let signed = index_sharded::sign_single(index, keys);
    let pushed = runtime
        .block_on(paks_index::push_index(client, &ns, &signed))
        .map_err(index_failure)?;
    for s in &report.skipped {
        ctx.reporter
            .warn(&format!("skipped {}: {}", s.what, s.reason));
    }
    if json_out {
        json_line(&json!({"type": "index", "reference": pushed.to_string(),
                    "version": signed.signed.version, "packages": signed.signed.packages.len(),
                    "versions_read": report.versions_read, "versions_reused": report.versions_reused,
                    "signed": !keys.is_empty()}))?;
    } else {
        writeln!(out(), "{pushed}")?;
    }
    ctx.reporter.status(&format!(
        "Indexed {} package{} (version {}; read {} version tag{}, reused {}) in {}{}",
        signed.signed.packages.len(),
        plural(signed.signed.packages.len()),
        signed.signed.version,
        report.versions_read,
        plural(report.versions_read),
        report.versions_reused,
        elapsed(started),
        if keys.is_empty() {
            "; unsigned: clients need `--allow-unsigned`"
        } else {
            ""
        }
    ));
    Ok(())
}

/// `paks index build DIR`: a static repository from a directory of `.pak` files.
fn index_directory(
    ctx: &Ctx,
    dir: &Path,
    keys: &[paks_index::SigningKey],
    options: &paks_index::BuildOptions,
    started: Instant,
) -> Result<(), Failure> {
    let previous = fs_err::read(dir.join(paks_index::INDEX_FILE))
        .ok()
        .and_then(|raw| paks_index::SignedIndex::from_slice(&raw, "index.yaml").ok())
        .map(|s| s.signed);
    let source = format!("file://{}", dir.display());
    let (index, report) = paks_index::build_from_paks(dir, &source, previous.as_ref(), options)
        .map_err(index_failure)?;
    let signed = index_sharded::sign_single(index, keys);
    let path = paks_index::write_index_file(dir, &signed).map_err(index_failure)?;
    for s in &report.skipped {
        ctx.reporter
            .warn(&format!("skipped {}: {}", s.what, s.reason));
    }
    writeln!(out(), "{}", path.display())?;
    ctx.reporter.status(&format!(
        "Indexed {} package{} (version {}) in {}",
        signed.signed.packages.len(),
        plural(signed.signed.packages.len()),
        signed.signed.version,
        elapsed(started)
    ));
    Ok(())
}

pub fn index(ctx: &Ctx, command: IndexCommand) -> Result<(), Failure> {
    let client = crate::remote::client(ctx)?;
    let runtime = crate::remote::runtime()?;
    match command {
        IndexCommand::Build {
            namespace: ns,
            sign,
            expires_days,
            json: json_out,
            format,
            root_keys,
            threshold,
        } => index_build(
            ctx,
            &client,
            &runtime,
            &ns,
            &crate::root_keys::root_signing(&sign, &root_keys, threshold)?,
            expires_days,
            json_out,
            format,
        )?,
        IndexCommand::Export {
            namespace: ns,
            dir,
            json: json_out,
        } => {
            let started = Instant::now();
            let ns = namespace(&ns)?;
            let published = runtime
                .block_on(paks_index::fetch_published(&client, &ns))
                .map_err(index_failure)?;
            let signed = match published {
                Some(paks_index::Published::Single(signed)) => signed,
                Some(paks_index::Published::Sharded(root)) => {
                    return index_sharded::export(
                        ctx, &client, &runtime, &ns, &root, &dir, json_out,
                    );
                }
                None => {
                    return Err(user_error(
                        format!(
                            "there is no package index at `{}`",
                            paks_index::IndexSource::Oci(ns.clone()).index_location()
                        ),
                        Some(
                            "build it first: `paks index build REGISTRY/NAMESPACE --sign KEY.pem`"
                                .into(),
                        ),
                    ));
                }
            };
            let report = runtime
                .block_on(paks_index::export(&client, &ns, &signed, &dir))
                .map_err(index_failure)?;
            if json_out {
                json_line(&json!({"type": "index-export", "index": report.index,
                                  "files": report.written + report.existed,
                                  "written": report.written, "bytes": report.bytes,
                                  "attachments": report.attachments}))?;
            }
            ctx.reporter.status(&format!(
                "Exported `{}` and {} package file{} ({} new, {}) with {} attachment{} in {}",
                report.index.display(),
                report.written + report.existed,
                plural(report.written + report.existed),
                report.written,
                human_size(report.bytes),
                report.attachments,
                plural(report.attachments),
                elapsed(started)
            ));
        }
    }
    Ok(())
}
