//! `paks search TERM --registry HOST:PORT` and `paks info REPO --registry HOST:PORT`: the
//! catalogue API of a `paks serve` registry (`/api/v1/`, see docs/catalogue.md), asked with
//! the registry client's scheme choice (plain HTTP only for loopback and `--insecure`
//! hosts) and credentials.

use std::io::Write;

use paks_catalog::api::ApiError;
use paks_catalog::model::{Package, SearchResults};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::Failure;
use crate::catalog::{build_line, print_hit};
use crate::cli::{InfoArgs, SearchArgs};
use crate::commands::{Ctx, json_line, out, plural, user_error};
use crate::printer::shown;

/// How many results `paks search --registry` asks for (the API's most).
const SEARCH_LIMIT: usize = paks_catalog::api::MAX_LIMIT;

/// `paks search TERM --registry HOST:PORT`: the same lines as a search of the indexes.
pub fn search(ctx: &Ctx, registry: &str, args: &SearchArgs) -> Result<(), Failure> {
    let path = format!(
        "/api/v1/search?q={}&limit={SEARCH_LIMIT}",
        encode(&args.term)
    );
    let results: SearchResults =
        ask(ctx, registry, &path)?.map_err(|e| api_failure(registry, e))?;
    let mut o = out();
    for p in &results.packages {
        // The API lists the newest version of each; `paks info --registry` lists them all.
        print_hit(
            &mut o,
            args.json,
            &p.name,
            &p.repository,
            p.kind,
            std::slice::from_ref(&p.latest),
            p.summary.as_deref(),
        )?;
    }
    if args.json {
        json_line(
            &json!({"type": "search", "term": args.term, "hits": results.packages.len(),
                          "total": results.total, "registry": registry, "suggestions": []}),
        )?;
    } else if results.packages.is_empty() {
        ctx.reporter.status(&format!(
            "No package of `{registry}` matches `{}`",
            args.term
        ));
    } else if results.total > results.packages.len() {
        ctx.reporter.status(&format!(
            "Showing {} of {} packages; narrow the term to see the others",
            results.packages.len(),
            results.total
        ));
    }
    Ok(())
}

/// `paks info REPO --registry HOST:PORT`: the package's versions, builds and dependencies.
pub fn info(ctx: &Ctx, registry: &str, args: &InfoArgs) -> Result<(), Failure> {
    let repository = args.package.trim_matches('/');
    let path = format!(
        "/api/v1/packages/{}",
        repository
            .split('/')
            .map(encode)
            .collect::<Vec<_>>()
            .join("/")
    );
    let package: Package = ask(ctx, registry, &path)?.map_err(|e| {
        let mut failure = api_failure(registry, e);
        failure.hint = Some(format!(
            "`paks search TERM --registry {registry}` lists its packages (a repository is `NAMESPACE/NAME`)"
        ));
        failure
    })?;
    if args.json {
        let mut v = serde_json::to_value(&package).expect("the model serialises");
        v["type"] = "registry-package".into();
        v["registry"] = registry.into();
        return Ok(json_line(&v)?);
    }
    print_package(&package)?;
    Ok(())
}

fn print_package(p: &Package) -> std::io::Result<()> {
    let mut o = out();
    writeln!(o, "{}  ({}, {})", p.repository, p.kind, plural_versions(p))?;
    for line in [&p.summary, &p.license, &p.homepage].into_iter().flatten() {
        writeln!(o, "  {}", shown(line))?;
    }
    for v in &p.versions {
        writeln!(o, "  {}  (tag `{}`)", v.version, v.tag)?;
        for b in &v.builds {
            let deps: Vec<String> = b
                .dependencies
                .iter()
                .map(|d| format!("{} {} ({})", d.name, d.requirement, d.version))
                .collect();
            let line = build_line(
                b.id.split('-')
                    .next()
                    .unwrap_or("")
                    .get(..8)
                    .unwrap_or(&b.id),
                &b.platform,
                b.target.as_deref(),
                b.glibc.clone(),
                [b.layer_size, b.size, b.files],
                &deps,
            );
            writeln!(o, "{line}")?;
        }
    }
    if !p.reverse_dependencies.is_empty() {
        let users: Vec<String> = p
            .reverse_dependencies
            .iter()
            .map(|r| format!("{} {}", r.repository, r.version))
            .collect();
        writeln!(o, "  used by {}", users.join(", "))?;
    }
    Ok(())
}

fn plural_versions(p: &Package) -> String {
    format!("{} version{}", p.versions.len(), plural(p.versions.len()))
}

/// `GET path` on `registry`'s API: the answer, or the API's own error (a 404 it explains).
/// A registry that answers 404 without the API's error is not a `paks serve` registry.
fn ask<T: DeserializeOwned>(
    ctx: &Ctx,
    registry: &str,
    path: &str,
) -> Result<Result<T, ApiError>, Failure> {
    let client = crate::remote::client(ctx)?;
    let (status, body) = crate::remote::runtime()?
        .block_on(client.get_api(registry, path))
        .map_err(crate::remote::oci_failure)?;
    if status == 404 {
        return match serde_json::from_slice::<ApiError>(&body) {
            Ok(e) => Ok(Err(e)),
            Err(_) => Err(user_error(
                format!("`{registry}` is not a paks serve registry (`{path}` answered 404)"),
                Some(format!(
                    "search a registry's packages through its index instead: `paks repo add NAME oci://{registry}/NAMESPACE`"
                )),
            )),
        };
    }
    serde_json::from_slice(&body).map(Ok).map_err(|e| Failure {
        hint: Some(format!(
            "`{registry}` answered `{path}` with something else than the catalogue API's JSON; is it a paks serve of the same version?"
        )),
        ..Failure::from(e)
    })
}

/// The API's error as a user error (exit 1).
fn api_failure(registry: &str, e: ApiError) -> Failure {
    user_error(format!("`{registry}`: {}", e.error), e.hint)
}

/// `s` percent-encoded for a URL's path segment or query value: everything but RFC 3986's
/// unreserved characters.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
