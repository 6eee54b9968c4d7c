//! `paks serve`: the embedded registry, and its `gc`, `scrub` and `passwd` companions.

use std::io::{BufRead, Write};
use std::time::Duration;

use paks_registry::gc::{self, GcOptions};
use paks_registry::limits::Limits;
use paks_registry::server::{self, ServeConfig, ServeError};
use paks_registry::storage::{FsStorage, Location, S3Config, Storage};

use crate::Failure;
use crate::cli::{
    ServeArgs, ServeCommand, ServeGcArgs, ServeLimitArgs, ServeRunArgs, ServeScrubArgs,
};
use crate::commands::{human_size, json_line, out};
use crate::env_vars;

pub fn serve(args: ServeArgs) -> Result<(), Failure> {
    match args.command {
        None => run(args.run),
        Some(ServeCommand::Gc(a)) => collect(&a),
        Some(ServeCommand::Scrub(a)) => scrub(&a),
        Some(ServeCommand::Passwd) => passwd(),
        Some(ServeCommand::TokenKey) => {
            writeln!(out(), "{}", paks_registry::replica::new_token_key())?;
            Ok(())
        }
    }
}

fn init_logs(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env(env_vars::LOG)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only on a terminal (or when asked): a log file or a pipe gets plain text.
        .with_ansi(crate::printer::stderr_color());
    if json {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
}

fn run(args: ServeRunArgs) -> Result<(), Failure> {
    init_logs(args.log_json);
    if !args.listen.ip().is_loopback() && args.auth.is_none() {
        tracing::warn!(
            "listening on {} without --auth: anyone who can reach it may push and delete",
            args.listen
        );
    }
    let config = ServeConfig {
        storage: location(&args.root, args.storage.as_deref())?,
        listen: args.listen,
        tls: args.tls_cert.zip(args.tls_key),
        auth: args.auth,
        static_dir: args.static_dir,
        limits: limits(&args.limits),
        extension: (!args.no_catalog).then(|| {
            server::Extensions(std::sync::Arc::new(paks_catalog::Catalog::new(
                paks_catalog::CatalogOptions {
                    compose_base: args.compose_base,
                    watch_interval: Some(Duration::from_secs(args.catalog_refresh.max(1))),
                },
            )))
        }),
        token_key: args.token_key,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime
        .block_on(server::run(
            config,
            |addr, scheme| {
                let _ = writeln!(std::io::stderr(), "Listening on {scheme}://{addr}");
            },
            shutdown_signal(),
        ))
        .map_err(serve_failure)
}

fn limits(args: &ServeLimitArgs) -> Limits {
    let secs = Duration::from_secs;
    Limits {
        connections_per_client: args.max_connections_per_client.max(1),
        header_timeout: secs(args.header_timeout.max(1)),
        body_idle_timeout: secs(args.body_idle_timeout.max(1)),
        send_idle_timeout: secs(args.send_idle_timeout.max(1)),
        upload_sessions: args.max_uploads,
        upload_sessions_per_client: args.max_uploads_per_client,
        upload_expiry: secs(args.upload_expiry.max(1)),
        password_checks: args.max_password_checks.max(1),
        login_failures_per_client: args.login_failures_per_client.max(1),
        login_failures_per_user: args.login_failures_per_user.max(1),
        login_failure_refill: secs(args.login_failure_refill.max(1)),
        ..Limits::default()
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    tracing::info!("stopping: finishing the requests in flight");
}

fn serve_failure(e: ServeError) -> Failure {
    let hint = match &e {
        ServeError::Bind(..) => Some(
            "another program may use that port: pick another with `--listen 127.0.0.1:PORT` (port 0 picks a free one)".into(),
        ),
        ServeError::Tls(_) => Some(
            "`--tls-cert` takes a PEM certificate chain and `--tls-key` its PEM private key".into(),
        ),
        ServeError::Auth(_) => Some("the users file format is in docs/serve-auth.md".into()),
        ServeError::TokenKey(paks_registry::replica::TokenKeyError::Readable { path, .. }) => {
            Some(format!("`chmod 600 {}`", path.display()))
        }
        ServeError::TokenKey(_) => Some(
            "make one with `paks serve token-key > FILE && chmod 600 FILE`, and give every replica the same file".into(),
        ),
        _ => None,
    };
    let internal = matches!(e, ServeError::Storage(..) | ServeError::Serve(_));
    Failure {
        error: Box::new(e),
        detail: None,
        hint,
        internal,
    }
}

/// Where the data is: `--storage s3://…` if given, else the directory `--root`.
fn location(root: &std::path::Path, storage: Option<&str>) -> Result<Location, Failure> {
    match storage {
        None => Ok(Location::Dir(root.to_owned())),
        Some(url) => S3Config::parse(url, |name| std::env::var(name).ok())
            .map(Location::S3)
            .map_err(|e| Failure {
                error: Box::new(e),
                detail: None,
                hint: Some(
                    "`--storage s3://BUCKET[/PREFIX]?endpoint=URL&region=NAME`, with the credentials in `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`".into(),
                ),
                internal: false,
            }),
    }
}

/// The existing registry data of `paks serve gc/scrub`.
fn open(
    root: &std::path::Path,
    storage: Option<&str>,
) -> Result<std::sync::Arc<dyn Storage>, Failure> {
    let location = location(root, storage)?;
    if let Location::Dir(root) = &location {
        if !root.is_dir() {
            return Err(Failure {
                error: format!("`{}` is not a registry data directory", root.display()).into(),
                detail: None,
                hint: Some("pass the `--root` that `paks serve` uses".into()),
                internal: false,
            });
        }
        return FsStorage::open(root)
            .map(|s| std::sync::Arc::new(s) as std::sync::Arc<dyn Storage>)
            .map_err(|e| Failure {
                internal: true,
                ..Failure::from(e)
            });
    }
    paks_registry::storage::open(&location).map_err(|e| Failure {
        internal: true,
        ..Failure::from(e)
    })
}

fn collect(args: &ServeGcArgs) -> Result<(), Failure> {
    let storage = open(&args.root, args.storage.as_deref())?;
    let options = GcOptions {
        grace: Duration::from_secs(args.grace),
        upload_max_age: Duration::from_secs(args.upload_max_age),
        leftover_max_age: Duration::from_secs(args.leftover_max_age),
        dry_run: args.dry_run,
    };
    let report = gc::collect(storage.as_ref(), &options).map_err(|e| Failure {
        internal: true,
        ..Failure::from(e)
    })?;
    if args.json {
        json_line(&crate::printer::typed("serve-gc", &report))?;
        return Ok(());
    }
    let verb = if args.dry_run {
        "Would delete"
    } else {
        "Deleted"
    };
    let mut err = std::io::stderr().lock();
    for (digest, size) in &report.blobs_deleted {
        writeln!(out(), "{digest}\t{size}")?;
    }
    writeln!(
        err,
        "{verb} {} blobs ({}), kept {} ({} unreferenced but younger than the grace period or in use by a push); purged {} stale uploads, {} leftover files and {} dangling links",
        report.blobs_deleted.len(),
        human_size(report.bytes_freed),
        report.blobs_kept,
        report.blobs_in_grace,
        report.uploads_purged,
        report.leftovers_removed.len(),
        report.links_removed,
    )?;
    for damage in &report.damaged {
        writeln!(
            err,
            "warning: `{}` is damaged ({}); kept every blob it links",
            damage.repo, damage.problem
        )?;
    }
    if !report.damaged.is_empty() {
        writeln!(
            err,
            "hint: `paks serve scrub` lists all damage; push the affected images again, or delete their manifests"
        )?;
    }
    Ok(())
}

fn scrub(args: &ServeScrubArgs) -> Result<(), Failure> {
    let storage = open(&args.root, args.storage.as_deref())?;
    let report = gc::scrub(storage.as_ref()).map_err(|e| Failure {
        internal: true,
        ..Failure::from(e)
    })?;
    if args.json {
        json_line(&crate::printer::typed("serve-scrub", &report))?;
    } else {
        for bad in &report.corrupt {
            writeln!(
                out(),
                "{}\tcorrupt: stored bytes hash to {}",
                bad.digest,
                bad.actual
            )?;
        }
        for bad in &report.unreadable {
            writeln!(out(), "{}\tunreadable: {}", bad.digest, bad.error)?;
        }
        for damage in &report.damaged {
            writeln!(out(), "{}\tbroken link: {}", damage.repo, damage.problem)?;
        }
        writeln!(
            std::io::stderr(),
            "Checked {} blobs and the links of {} manifests: {} corrupt, {} unreadable, {} broken links",
            report.blobs_checked,
            report.manifests_checked,
            report.corrupt.len(),
            report.unreadable.len(),
            report.damaged.len()
        )?;
    }
    if report.is_clean() {
        Ok(())
    } else {
        Err(Failure {
            error: "the registry holds damaged data".into(),
            detail: None,
            hint: Some(
                "push the affected images again; `paks serve gc` removes blobs nothing references"
                    .into(),
            ),
            internal: false,
        })
    }
}

fn passwd() -> Result<(), Failure> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        return Err(Failure {
            error: "no password on stdin".into(),
            detail: None,
            hint: Some("`echo -n SECRET | paks serve passwd` (or type it and press enter)".into()),
            internal: false,
        });
    }
    writeln!(out(), "{}", paks_registry::auth::hash_password(password))?;
    Ok(())
}
