//! `/packages/REPO[?version=V]`: a package, one version at a time: its builds, dependencies,
//! reverse dependencies, attachments and the lines to copy.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use paks_registry::auth::Identity;
use serde::Deserialize;

use super::html::{self, Html};
use super::{not_found, request_host, viewer};
use crate::Catalog;
use crate::model::{Build, Package, PackageVersion, TestStatus};

/// The query of `/packages/REPO` and `/graph/REPO`.
#[derive(Debug, Default, Deserialize)]
pub struct VersionQuery {
    /// A version (or its tag); the newest when absent.
    #[serde(default)]
    pub version: Option<String>,
}

/// `GET /packages/REPO`.
pub async fn page(
    State(catalog): State<Catalog>,
    Path(repo): Path<String>,
    headers: HeaderMap,
    Query(query): Query<VersionQuery>,
) -> Response {
    let who = match viewer(&catalog, &headers) {
        Ok(who) => who,
        Err(denied) => return *denied,
    };
    let (package, version) = match find(&catalog, &who, &repo, query.version.as_deref()) {
        Ok(found) => found,
        Err(missing) => return *missing,
    };
    let version = &version;
    let host = request_host(&headers);
    let mut h = Html::new();
    h.raw("<h1>").text(&package.name).raw("</h1>");
    if let Some(summary) = &package.summary {
        h.raw("<p class=\"summary\">").text(summary).raw("</p>");
    }
    facts(&mut h, &package, version);
    version_form(&mut h, &package, version);
    copy_lines(&mut h, &host, &package, version);
    h.raw("<h2>Builds</h2>");
    builds_table(&mut h, &version.builds);
    h.raw("<h2>Dependencies</h2>");
    dependencies(&mut h, &catalog, &who, &package, version);
    h.raw("<p><a id=\"graph-link\" href=\"/graph/")
        .text(&package.repository)
        .raw("?version=")
        .query(&version.version)
        .raw("\">Dependency graph</a></p>");
    h.raw("<h2>Used by</h2><ul id=\"reverse-dependencies\">");
    if package.reverse_dependencies.is_empty() {
        h.raw("<li class=\"none\">No package in this registry depends on it.</li>");
    }
    for r in &package.reverse_dependencies {
        h.raw("<li><a class=\"package\" href=\"/packages/")
            .text(&r.repository)
            .raw("?version=")
            .query(&r.version)
            .raw("\">")
            .text(&r.repository)
            .raw("</a> ")
            .text(&r.version)
            .raw("</li>");
    }
    h.raw("</ul>");
    attachments(&mut h, &version.builds);
    let title = format!("{} {}", package.repository, version.version);
    super::page(StatusCode::OK, &title, &h)
}

/// Package `repo` and its version `asked` (the newest when `None`), or the 404 page that
/// says which is missing.
pub fn find(
    catalog: &Catalog,
    who: &Identity,
    repo: &str,
    asked: Option<&str>,
) -> Result<(Package, PackageVersion), Box<Response>> {
    let Some(package) = catalog.package(repo, who) else {
        return Err(Box::new(not_found("package", repo)));
    };
    let Some(version) = select_version(&package, asked).cloned() else {
        let asked = format!("{repo} {}", asked.unwrap_or_default());
        return Err(Box::new(not_found("version", &asked)));
    };
    Ok((package, version))
}

/// The version `asked` (by version or tag), or the newest.
pub fn select_version<'a>(package: &'a Package, asked: Option<&str>) -> Option<&'a PackageVersion> {
    match asked.filter(|v| !v.is_empty()) {
        None => package.versions.first(),
        Some(v) => package
            .versions
            .iter()
            .find(|p| p.version == v || p.tag == v),
    }
}

fn facts(h: &mut Html, package: &Package, version: &PackageVersion) {
    h.raw("<dl class=\"facts\"><dt>Repository</dt><dd>")
        .text(&package.repository)
        .raw("</dd><dt>Version</dt><dd>")
        .text(&version.version)
        .raw("</dd><dt>License</dt><dd>")
        .text(package.license.as_deref().unwrap_or("not stated"))
        .raw("</dd>");
    if let Some(homepage) = &package.homepage {
        h.raw("<dt>Homepage</dt><dd>");
        match html::web_url(homepage) {
            Some(url) => {
                h.raw("<a id=\"homepage\" rel=\"nofollow noopener\" href=\"")
                    .text(url)
                    .raw("\">")
                    .text(url)
                    .raw("</a>");
            }
            // Not http(s) (`javascript:`, `data:`…): shown, never a link.
            None => {
                h.text(homepage);
            }
        }
        h.raw("</dd>");
    }
    h.raw("<dt>Kind</dt><dd>")
        .text(format!("{:?}", package.kind).to_lowercase())
        .raw("</dd><dt>Digest</dt><dd class=\"digest\">")
        .text(&version.digest)
        .raw("</dd></dl>");
}

/// The version picker: a GET form, so it works without JavaScript.
fn version_form(h: &mut Html, package: &Package, version: &PackageVersion) {
    h.raw("<form class=\"versions\" method=\"get\" action=\"/packages/")
        .text(&package.repository)
        .raw("\"><label for=\"version\">Version</label> <select id=\"version\" name=\"version\">");
    for v in &package.versions {
        h.raw("<option value=\"").text(&v.version).raw("\"");
        h.when(v.version == version.version, " selected");
        h.raw(">").text(&v.version).raw("</option>");
    }
    h.raw("</select> <button id=\"version-go\" type=\"submit\">Show</button></form>");
}

/// `paks install`, `paks image build` and `podman pull` for this version on this host.
fn copy_lines(h: &mut Html, host: &str, package: &Package, version: &PackageVersion) {
    let reference = format!("{host}/{}:{}", package.repository, version.tag);
    let install = format!("paks install {reference}");
    let image = format!(
        "paks image build {reference} --output oci:{}-image",
        package.name
    );
    let pull = if package.namespace.is_empty() {
        // `compose/` names start with a namespace: a top-level package has none.
        "# composed images need a namespace (compose/NAMESPACE/NAME)".to_owned()
    } else {
        format!(
            "podman pull {host}/{}/{}/{}:latest",
            crate::compose::PREFIX,
            package.namespace,
            package.name
        )
    };
    h.raw("<h2>Use it</h2>");
    for (id, label, line) in [
        ("install-line", "Install", install),
        ("image-line", "Build an image", image),
        ("pull-line", "Pull an image of it", pull),
    ] {
        h.raw("<p class=\"line-label\">")
            .raw(label)
            .raw("</p><div class=\"copy-line\"><pre id=\"")
            .raw(id)
            .raw("\">")
            .text(line)
            .raw("</pre><button type=\"button\" class=\"copy\" hidden data-copy=\"")
            .raw(id)
            .raw("\">Copy</button></div>");
    }
}

fn builds_table(h: &mut Html, builds: &[Build]) {
    h.raw("<table id=\"builds\"><thead><tr>")
        .raw("<th scope=\"col\">Platform</th><th scope=\"col\">Target</th>")
        .raw("<th scope=\"col\">glibc</th><th scope=\"col\">Download</th>")
        .raw("<th scope=\"col\">Unpacked</th><th scope=\"col\">Files</th>")
        .raw("<th scope=\"col\">Package id</th></tr></thead><tbody>");
    for b in builds {
        h.raw("<tr><th scope=\"row\">")
            .text(&b.platform)
            .raw("</th><td>")
            .text(b.target.as_deref().unwrap_or("baseline"))
            .raw("</td><td>")
            .text(b.glibc.as_deref().unwrap_or("—"))
            .raw("</td><td class=\"num\">")
            .text(html::bytes(b.layer_size))
            .raw("</td><td class=\"num\">")
            .text(html::bytes(b.size))
            .raw("</td><td class=\"num\">")
            .text(b.files)
            .raw("</td><td class=\"digest\">")
            .text(&b.id)
            .raw("</td></tr>");
    }
    h.raw("</tbody></table>");
}

/// The repository holding dependency `name` pinned at `version`: the one the catalogue
/// found, else `NAMESPACE/NAME` next to the package when the viewer can see it.
pub fn dependency_repository(
    catalog: &Catalog,
    who: &Identity,
    package: &Package,
    found: Option<&str>,
    name: &str,
) -> Option<String> {
    if let Some(repo) = found {
        return Some(repo.to_owned());
    }
    if package.namespace.is_empty() {
        return None;
    }
    let guess = format!("{}/{name}", package.namespace);
    catalog.package(&guess, who).map(|_| guess)
}

fn dependencies(
    h: &mut Html,
    catalog: &Catalog,
    who: &Identity,
    package: &Package,
    version: &PackageVersion,
) {
    // The same dependency pinned by every platform's build is listed once.
    let mut deps: BTreeMap<(String, String), (String, Option<String>)> = BTreeMap::new();
    for b in &version.builds {
        for d in &b.dependencies {
            deps.entry((d.name.clone(), d.version.clone()))
                .or_insert_with(|| (d.requirement.clone(), d.repository.clone()));
        }
    }
    h.raw("<ul id=\"dependencies\">");
    if deps.is_empty() {
        h.raw("<li class=\"none\">No run dependencies.</li>");
    }
    for ((name, pinned), (requirement, found)) in &deps {
        h.raw("<li>");
        match dependency_repository(catalog, who, package, found.as_deref(), name) {
            Some(repo) => {
                h.raw("<a class=\"package\" href=\"/packages/")
                    .text(&repo)
                    .raw("?version=")
                    .query(pinned)
                    .raw("\">")
                    .text(name)
                    .raw("</a>");
            }
            None => {
                h.text(name);
            }
        }
        h.raw(" ")
            .text(pinned)
            .raw(" <span class=\"meta\">(requires ")
            .text(requirement)
            .raw(")</span></li>");
    }
    h.raw("</ul>");
}

fn attachments(h: &mut Html, builds: &[Build]) {
    let mark = |h: &mut Html, yes: bool| {
        if yes {
            h.raw("<td class=\"yes\">yes</td>");
        } else {
            h.raw("<td class=\"no\">no</td>");
        }
    };
    h.raw("<section id=\"attachments\" aria-labelledby=\"attachments-title\">")
        .raw("<h2 id=\"attachments-title\">Attachments</h2><table><thead><tr>")
        .raw("<th scope=\"col\">Platform</th><th scope=\"col\">Signed</th>")
        .raw("<th scope=\"col\">SBOM</th><th scope=\"col\">Provenance</th>")
        .raw("<th scope=\"col\">Tests</th><th scope=\"col\">Referrers</th></tr></thead><tbody>");
    let mut seen = BTreeSet::new();
    for b in builds.iter().filter(|b| seen.insert(b.manifest.clone())) {
        let a = &b.attachments;
        h.raw("<tr><th scope=\"row\">")
            .text(&b.platform)
            .raw("</th>");
        mark(h, a.signed);
        mark(h, a.sbom);
        mark(h, a.provenance);
        match a.tests {
            Some(TestStatus::Passed) => h.raw("<td class=\"yes\">passed</td>"),
            Some(TestStatus::Failed) => h.raw("<td class=\"failed\">failed</td>"),
            None => h.raw("<td class=\"no\">none</td>"),
        };
        h.raw("<td class=\"num\">")
            .text(a.referrers.len())
            .raw("</td></tr>");
    }
    h.raw("</tbody></table><p class=\"meta\">A signature is listed, not verified: ")
        .raw("<code>paks verify</code> checks it with a key.</p></section>");
}
