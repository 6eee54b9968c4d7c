//! The registry commands: push, pull, copy, login, logout, and pulling for install.

use std::io::{Read, Write};
use std::time::Instant;

use paks_oci::{Client, ClientConfig, Credentials, Reference};
use paks_remote::{Endpoint, Pulled, PushTarget, Remote, RemoteError};
use paks_store::Store;
use serde_json::json;

use crate::Failure;
use crate::cli::{CopyArgs, LoginArgs, LogoutArgs, PullArgs, PushArgs};
use crate::commands::{Ctx, elapsed, failure, human_size, json_line, out, plural};

pub fn oci_failure(e: paks_oci::OciError) -> Failure {
    failure(RemoteError::from(e))
}

pub fn parse_reference(arg: &str) -> Result<Reference, Failure> {
    let arg = arg.strip_prefix("docker://").unwrap_or(arg);
    arg.parse::<Reference>().map_err(|e| Failure {
        hint: Some(
            "a package is a `.pak` file or a reference such as `127.0.0.1:5000/acme/hello:1.0.0`"
                .into(),
        ),
        ..oci_failure(e)
    })
}

pub fn client(ctx: &Ctx) -> Result<Client, Failure> {
    client_with(ctx, true)
}

/// A client for downloads into the install tree's blob cache, whose readers verify every
/// blob: no fsync per blob (a blob torn by a crash fails verification and is fetched again).
pub fn cache_client(ctx: &Ctx) -> Result<Client, Failure> {
    client_with(ctx, false)
}

fn client_with(ctx: &Ctx, durable_blobs: bool) -> Result<Client, Failure> {
    let defaults = ClientConfig::default();
    Client::new(ClientConfig {
        durable_blobs,
        insecure: ctx.insecure.clone(),
        concurrency: ctx.jobs.max(4),
        user_agent: format!("paks/{}", env!("CARGO_PKG_VERSION")),
        credentials: credentials(ctx),
        max_retry_wait: ctx.max_retry_wait.unwrap_or(defaults.max_retry_wait),
        transfer_deadline: ctx.transfer_deadline.unwrap_or(defaults.transfer_deadline),
        ..defaults
    })
    .map_err(oci_failure)
}

/// The credentials, loaded once per command: their warnings (a broken file, a failing
/// helper) are printed once, and each helper runs once per registry.
fn credentials(ctx: &Ctx) -> Credentials {
    static LOADED: std::sync::OnceLock<Credentials> = std::sync::OnceLock::new();
    LOADED
        .get_or_init(|| Credentials::load().on_warning(ctx.reporter.warner()))
        .clone()
}

pub fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Failure::from)
}

/// Pull each reference's closure into the cache (for `paks install`): of a version's
/// builds, the one that runs best on this host (`PAKS_HOST_PROFILE` may fake another).
pub fn pull_all(
    ctx: &Ctx,
    store: &Store,
    references: &[Reference],
) -> Result<Vec<Pulled>, Failure> {
    let host = crate::catalog::host()?;
    let remote = Remote::new(cache_client(ctx)?, store);
    runtime()?
        .block_on(remote.pull_many(references, &host, &ctx.reporter))
        .map_err(failure)
}

/// [`pull_all`] for `paks install`: returns once the closures are resolved; the layers
/// download in `background` while the install extracts what has arrived.
pub fn pull_streaming(
    ctx: &Ctx,
    store: &Store,
    references: &[Reference],
    background: &mut crate::background::Background,
) -> Result<Vec<Pulled>, Failure> {
    let host = crate::catalog::host()?;
    let remote = Remote::new(cache_client(ctx)?, store);
    let (pulled, downloads) = background
        .runtime()
        .block_on(remote.pull_streaming(references, &host))
        .map_err(failure)?;
    background.spawn(downloads);
    Ok(pulled)
}

pub fn push(ctx: &Ctx, args: &PushArgs) -> Result<(), Failure> {
    let target = parse_reference(&args.target)?;
    if target.digest.is_some() {
        return Err(failure(RemoteError::from(
            paks_remote::RemoteErrorKind::TargetHasTag(target.to_string()),
        )));
    }
    let repo = target.repo();
    let to = if args.namespace {
        PushTarget::Namespace(repo)
    } else if args.repository {
        PushTarget::Repository(repo)
    } else {
        PushTarget::Guess(repo)
    };
    let paks = &args.paks;
    let key = args
        .sign
        .as_deref()
        .map(crate::push_sign::load_key)
        .transpose()?;
    let store = ctx.store()?;
    // One client for the push and the attachments: one pool of connections.
    let client = client(ctx)?;
    let remote = Remote::new(client.clone(), &store);
    let start = Instant::now();
    let rt = runtime()?;
    let report = rt
        .block_on(remote.push(paks, &to, target.tag.as_deref(), &ctx.reporter))
        .map_err(failure)?;
    let mut o = out();
    for (id, reference, pushed) in &report.packages {
        if args.json {
            json_line(
                &json!({"type": "push", "id": id.to_string(), "reference": reference.to_string(), "new": matches!(pushed, paks_remote::Pushed::Uploaded)}),
            )?;
        } else {
            writeln!(o, "{reference}")?;
        }
    }
    drop(o);
    if let Some(key) = &key {
        let print = if args.json {
            crate::push_sign::Print::Json
        } else {
            crate::push_sign::Print::Text
        };
        crate::push_sign::attach_all(ctx, &client, &rt, paks, &report, key, print)?;
    }
    ctx.reporter.status(&format!(
        "Pushed {} package{} in {} ({} uploaded in {} blob{}, {} mounted, {} already there)",
        report.packages.len(),
        plural(report.packages.len()),
        elapsed(start),
        human_size(report.uploaded_bytes),
        report.blobs_uploaded,
        plural(report.blobs_uploaded),
        report.blobs_mounted,
        report.blobs_existed
    ));
    Ok(())
}

pub fn pull(ctx: &Ctx, args: &PullArgs) -> Result<(), Failure> {
    // As for `paks install`: a word without `/`, a transport's `:` or `.pak` is a
    // package name (`hello`, `hello@^1`).
    let (names, references): (Vec<&String>, Vec<&String>) = args.references.iter().partition(|r| {
        !r.contains(['/', ':'])
            && std::path::Path::new(r.as_str())
                .extension()
                .is_none_or(|e| e != "pak")
    });
    let references = references
        .into_iter()
        .map(|r| crate::references::registry_reference(ctx, r, "pull"))
        .collect::<Result<Vec<_>, _>>()?;
    let store = ctx.store()?;
    let start = Instant::now();
    let mut o = out();
    let (mut packages, mut bytes) = (0, 0);
    if !names.is_empty() {
        let names: Vec<String> = names.into_iter().cloned().collect();
        let todo = crate::catalog::install_by_name(ctx, &store, &names, false, None)?;
        for item in &todo.items {
            packages += 1;
            if args.json {
                json_line(
                    &json!({"type": "pull", "id": item.config.paks.id.to_string(), "reference": item.source, "manifest": item.manifest.to_string()}),
                )?;
            } else {
                writeln!(o, "{}", item.source)?;
            }
        }
        if todo.already > 0 {
            ctx.reporter.status(&format!(
                "{} package{} already installed",
                todo.already,
                plural(todo.already)
            ));
        }
    }
    let pulled = pull_all(ctx, &store, &references)?;
    for p in &pulled {
        packages += p.packages.len();
        bytes += p.downloaded_bytes;
        if args.json {
            for p in &p.packages {
                json_line(
                    &json!({"type": "pull", "id": p.config.paks.id.to_string(), "reference": p.source, "manifest": p.manifest.to_string()}),
                )?;
            }
        } else {
            writeln!(o, "{}", p.resolved)?;
        }
    }
    ctx.reporter.status(&format!(
        "Pulled {packages} package{} in {} ({} downloaded)",
        plural(packages),
        elapsed(start),
        human_size(bytes)
    ));
    Ok(())
}

pub fn copy(ctx: &Ctx, args: &CopyArgs) -> Result<(), Failure> {
    let src: Endpoint = crate::references::location(ctx, &args.source)?;
    let dst: Endpoint = crate::references::location(ctx, &args.destination)?;
    let store = ctx.store()?;
    let remote = Remote::new(client(ctx)?, &store);
    let start = Instant::now();
    let report = runtime()?
        .block_on(remote.copy(&src, &dst, &ctx.reporter))
        .map_err(failure)?;
    if args.json {
        json_line(
            &json!({"type": "copy", "manifests": report.manifests, "referrers": report.referrers, "names": report.names, "blobs_copied": report.blobs_copied, "blobs_skipped": report.blobs_skipped, "bytes_copied": report.bytes_copied}),
        )?;
    } else {
        let mut o = out();
        for name in &report.names {
            writeln!(o, "{name}")?;
        }
    }
    let attachments = if report.referrers > 0 {
        format!(
            ", {} of them attachment{}",
            report.referrers,
            plural(report.referrers)
        )
    } else {
        String::new()
    };
    ctx.reporter.status(&format!(
        "Copied {} manifest{}{attachments} in {} ({} in {} blob{}, {} already there)",
        report.manifests,
        plural(report.manifests),
        elapsed(start),
        human_size(report.bytes_copied),
        report.blobs_copied,
        plural(report.blobs_copied),
        report.blobs_skipped
    ));
    Ok(())
}

pub fn login(ctx: &Ctx, args: &LoginArgs) -> Result<(), Failure> {
    if !args.password_stdin {
        return Err(Failure {
            error: "paks reads passwords from standard input only, so that they stay out of shell history and process lists".into(),
            detail: None,
            hint: Some(format!("echo \"$TOKEN\" | paks login {} -u {} --password-stdin", args.registry, args.username)),
            internal: false,
        });
    }
    let registry = &registry_host(&args.registry)?;
    let mut password = String::new();
    std::io::stdin().read_to_string(&mut password)?;
    let password = password.trim_end_matches(['\n', '\r']);
    // Check the login with a round trip through the registry's own authentication
    // (token or Basic) before keeping it, as `docker login` does.
    let check = Client::new(ClientConfig {
        insecure: ctx.insecure.clone(),
        user_agent: format!("paks/{}", env!("CARGO_PKG_VERSION")),
        credentials: Credentials::from_parts([(registry, &args.username, password)]),
        ..ClientConfig::default()
    })
    .map_err(oci_failure)?;
    runtime()?.block_on(check.ping(registry)).map_err(|e| {
        let refused = matches!(e.kind(), paks_oci::ErrorKind::Unauthorized { .. });
        let mut f = oci_failure(e);
        if refused {
            f.hint = Some(format!(
                "check the user name and password for `{registry}`; nothing was saved"
            ));
        }
        f
    })?;
    let stored =
        Credentials::save_login(registry, &args.username, password).map_err(oci_failure)?;
    if args.json {
        json_line(
            &json!({"type": "login", "registry": registry, "username": args.username,
                          "stored": stored_json(&stored)}),
        )?;
    }
    ctx.reporter.status(&format!(
        "Logged in to `{registry}` as `{}`; saved in {stored}",
        args.username
    ));
    Ok(())
}

/// The registry of `paks login`/`logout`: `host[:port]`, also written as a URL
/// (`https://ghcr.io/`, as `docker login` takes it); a namespace is refused, since paks
/// files logins by host.
fn registry_host(arg: &str) -> Result<String, Failure> {
    let bare = arg
        .strip_prefix("https://")
        .or_else(|| arg.strip_prefix("http://"))
        .unwrap_or(arg)
        .trim_end_matches('/');
    if bare.is_empty() || bare.contains(['/', '@', ' ']) {
        return Err(Failure {
            error: format!("`{arg}` is not a registry host").into(),
            detail: None,
            hint: Some(
                "give the host and port only, e.g. `ghcr.io` or `127.0.0.1:5000`; per-namespace logins can be read from podman's auth.json (docs/credentials.md)"
                    .into(),
            ),
            internal: false,
        });
    }
    Ok(bare.to_owned())
}

pub fn logout(ctx: &Ctx, args: &LogoutArgs) -> Result<(), Failure> {
    registry_host(&args.registry)?;
    let removed = Credentials::remove_login(&args.registry).map_err(oci_failure)?;
    if args.json {
        let places: Vec<serde_json::Value> = removed.iter().map(stored_json).collect();
        json_line(&json!({"type": "logout", "registry": args.registry, "removed": places}))?;
    }
    if removed.is_empty() {
        ctx.reporter.status(&format!(
            "No credentials were saved for `{}` by paks",
            args.registry
        ));
    }
    for place in removed {
        ctx.reporter.status(&format!(
            "Removed the credentials for `{}` from {place}",
            args.registry
        ));
    }
    Ok(())
}

/// Where credentials live, for `--json`: `{"file": PATH}` or `{"helper": NAME}`.
fn stored_json(stored: &paks_oci::Stored) -> serde_json::Value {
    match stored {
        paks_oci::Stored::File(path) => json!({"file": path}),
        paks_oci::Stored::Helper(name) => json!({"helper": name}),
    }
}
