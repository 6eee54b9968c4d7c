//! `/images/REPO[?ref=TAG]`: an image's layers mapped to packages, its labels, and a form
//! that checks it against a host profile on the server (`POST`, so it works without
//! JavaScript; the script only reads a chosen file into the text box).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use paks_registry::auth::Identity;
use serde::Deserialize;

use super::html::{self, Html};
use super::{not_found, viewer};
use paks_registry::names::RepoName;

use crate::model::{Image, PackageRef, Verdict, VerdictStatus};
use crate::{Catalog, verdict};

/// The query of `/images/REPO`.
#[derive(Debug, Default, Deserialize)]
pub struct ImageQuery {
    /// A tag or digest; `latest` when absent.
    #[serde(default, rename = "ref")]
    pub reference: Option<String>,
}

/// The form `button#check` sends.
#[derive(Debug, Default, Deserialize)]
pub struct CheckForm {
    /// A host profile as `paks host --json` prints it.
    #[serde(default)]
    pub host: String,
}

/// `GET /images/REPO`.
pub async fn page(
    State(catalog): State<Catalog>,
    Path(repo): Path<String>,
    headers: HeaderMap,
    Query(query): Query<ImageQuery>,
) -> Response {
    match requested(&catalog, &repo, &headers, query).await {
        Ok(image) => render(&image, "", None),
        Err(refused) => *refused,
    }
}

/// `POST /images/REPO`: the page with the verdict for the host profile sent.
pub async fn check(
    State(catalog): State<Catalog>,
    Path(repo): Path<String>,
    headers: HeaderMap,
    Query(query): Query<ImageQuery>,
    axum::Form(form): axum::Form<CheckForm>,
) -> Response {
    let image = match requested(&catalog, &repo, &headers, query).await {
        Ok(image) => image,
        Err(refused) => return *refused,
    };
    let outcome = match verdict::parse_host(&form.host) {
        Ok(host) => verdict::check_async(catalog.clone(), image.clone(), host)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    render(&image, &form.host, Some(outcome))
}

/// The image a request names (its `?ref=`, else the default tag), for who sent it; or the
/// page that refuses them or says it is missing.
async fn requested(
    catalog: &Catalog,
    repo: &str,
    headers: &HeaderMap,
    query: ImageQuery,
) -> Result<Image, Box<Response>> {
    let who = viewer(catalog, headers)?;
    let reference = match query.reference {
        Some(r) => r,
        None => default_reference(catalog, repo, &who).await,
    };
    load(catalog, repo, &reference, &who).await
}

/// The tag shown when the URL names none: `latest` if the repository has it, else its
/// newest version tag, else its last tag (a repository holding only `1.36` opens on it).
/// Always `latest` for a repository `who` may not pull: its tags would show in the 404
/// and tell that it exists.
async fn default_reference(catalog: &Catalog, repo: &str, who: &Identity) -> String {
    let fallback = || "latest".to_owned();
    let (Some(ctx), Ok(name)) = (catalog.context(), RepoName::parse(repo)) else {
        return fallback();
    };
    if !catalog.may_pull(who, repo) {
        return fallback();
    }
    let storage = ctx.storage.clone();
    let tags = tokio::task::spawn_blocking(move || storage.list_tags(&name))
        .await
        .ok()
        .and_then(Result::ok)
        .flatten()
        .unwrap_or_default();
    if tags.is_empty() || tags.iter().any(|t| t == "latest") {
        return fallback();
    }
    tags.iter()
        .filter_map(|t| paks_types::LooseVersion::parse(t).map(|v| (v, t)))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map_or_else(|| tags[tags.len() - 1].clone(), |(_, t)| t.clone())
}

/// The image, or the page that says it is missing (or could not be read).
async fn load(
    catalog: &Catalog,
    repo: &str,
    reference: &str,
    who: &Identity,
) -> Result<Image, Box<Response>> {
    let (cat, name, tag, viewer) = (
        catalog.clone(),
        repo.to_owned(),
        reference.to_owned(),
        who.clone(),
    );
    // Reading manifests and configs is blocking I/O.
    let found = tokio::task::spawn_blocking(move || cat.image(&name, &tag, &viewer))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
    match found {
        Ok(Some(image)) => Ok(image),
        Ok(None) => Err(Box::new(not_found("image", &format!("{repo}:{reference}")))),
        Err(e) => {
            let mut h = Html::new();
            h.raw("<h1>Cannot read this image</h1><p>")
                .text(e)
                .raw("</p>");
            Err(Box::new(super::page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Error",
                &h,
            )))
        }
    }
}

fn render(image: &Image, host: &str, outcome: Option<Result<Verdict, String>>) -> Response {
    let mut h = Html::new();
    h.raw("<h1>")
        .text(&image.repository)
        .raw(":")
        .text(&image.reference)
        .raw("</h1><dl class=\"facts\"><dt>Platform</dt><dd>")
        .text(&image.platform)
        .raw("</dd><dt>Digest</dt><dd class=\"digest\">")
        .text(&image.digest)
        .raw("</dd>");
    if !image.platforms.is_empty() {
        h.raw("<dt>Platforms</dt><dd>")
            .text(image.platforms.join(", "))
            .raw("</dd>");
    }
    h.raw("</dl><h2>Layers</h2><table id=\"layers\"><thead><tr>")
        .raw("<th scope=\"col\">#</th><th scope=\"col\">Packages</th>")
        .raw("<th scope=\"col\">Size</th><th scope=\"col\">Digest</th></tr></thead><tbody>");
    for (i, layer) in image.layers.iter().enumerate() {
        h.raw("<tr><th scope=\"row\">").text(i + 1).raw("</th><td>");
        let packages: Vec<&PackageRef> = layer.package.iter().chain(&layer.packages).collect();
        if packages.is_empty() {
            h.raw("<span class=\"no\">not a package</span>");
        }
        for (n, p) in packages.iter().enumerate() {
            h.when(n > 0, ", ")
                .raw("<a class=\"package\" href=\"/packages/")
                .text(&p.repository)
                .raw("?version=")
                .query(&p.version)
                .raw("\">")
                .text(&p.name)
                .raw(" ")
                .text(&p.version)
                .raw("</a>");
        }
        h.raw("</td><td class=\"num\">")
            .text(html::bytes(layer.size))
            .raw("</td><td class=\"digest\">")
            .text(&layer.digest)
            .raw("</td></tr>");
    }
    h.raw("</tbody></table><h2>Labels</h2>");
    if image.labels.is_empty() {
        h.raw("<p>No labels.</p>");
    } else {
        h.raw("<table id=\"labels\"><tbody>");
        for (key, value) in &image.labels {
            h.raw("<tr><th scope=\"row\">")
                .text(key)
                .raw("</th><td>")
                .text(value)
                .raw("</td></tr>");
        }
        h.raw("</tbody></table>");
    }
    check_form(&mut h, image, host);
    let status = match &outcome {
        Some(Err(_)) => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    };
    match outcome {
        Some(Ok(v)) => verdict_section(&mut h, &v),
        Some(Err(e)) => {
            h.raw("<p id=\"host-error\" role=\"alert\">The host profile was refused: ")
                .text(e)
                .raw("</p>");
        }
        None => {}
    }
    let title = format!("{}:{}", image.repository, image.reference);
    super::page(status, &title, &h)
}

fn check_form(h: &mut Html, image: &Image, host: &str) {
    h.raw("<h2>Will it run on my host?</h2><form method=\"post\" action=\"/images/")
        .text(&image.repository)
        .raw("?ref=")
        .query(&image.reference)
        .raw("\"><p><label for=\"host-profile\">Host profile (the output of ")
        .raw("<code>paks host --json</code>)</label></p>")
        .raw("<textarea id=\"host-profile\" name=\"host\" spellcheck=\"false\">")
        .text(host)
        .raw("</textarea><p><label for=\"host-file\">Or read it from a file</label> ")
        .raw("<input type=\"file\" id=\"host-file\" accept=\".json,application/json\"></p>")
        .raw("<button id=\"check\" type=\"submit\">Check</button></form>");
}

fn verdict_section(h: &mut Html, v: &Verdict) {
    let (status, words) = match v.status {
        VerdictStatus::Runs => ("runs", "Runs on this host"),
        VerdictStatus::RunsNotOptimally => ("runs-not-optimally", "Runs, but not optimally"),
        VerdictStatus::WillNotRun => ("will-not-run", "Will not run on this host"),
    };
    h.raw("<section id=\"verdict\" aria-live=\"polite\" data-status=\"")
        .raw(status)
        .raw("\"><h2>")
        .raw(words)
        .raw("</h2><p>Judged for ")
        .text(&v.platform)
        .raw(" from its ")
        .raw(match v.basis {
            crate::model::VerdictBasis::Labels => "labels",
            crate::model::VerdictBasis::Layers => "layers",
        })
        .raw(".</p><ul class=\"reasons\">");
    for r in &v.reasons {
        h.raw("<li>").text(&r.message).raw("</li>");
    }
    h.raw("</ul></section>");
}
