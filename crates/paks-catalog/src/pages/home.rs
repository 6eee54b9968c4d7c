//! `/`: the search box, every package (paginated) and the plain images; `/search?q=`: the
//! packages that match (`&fragment=1`: only the result items, for search as you type).

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use paks_registry::auth::Identity;
use serde::Deserialize;

use super::html::Html;
use super::{html_response, page, viewer};
use crate::Catalog;
use crate::model::{PackageSummary, RepositoryKind, SearchResults};

/// Packages per page.
pub const PER_PAGE: usize = 50;

/// The query of `/` and `/search`.
#[derive(Debug, Default, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    pub q: String,
    /// 1-based.
    #[serde(default)]
    pub page: Option<usize>,
    /// `1`: only the `li` items of `ul#results`, with the count in `X-Result-Count`.
    #[serde(default)]
    pub fragment: Option<String>,
}

/// `GET /`.
pub async fn index(
    State(catalog): State<Catalog>,
    headers: HeaderMap,
    Query(query): Query<SearchQuery>,
) -> Response {
    let (who, number, results) = match lookup(&catalog, &headers, "", &query) {
        Ok(found) => found,
        Err(denied) => return *denied,
    };
    let mut h = Html::new();
    h.raw("<h1 id=\"packages\">Packages</h1>");
    search_form(&mut h, "");
    results_list(&mut h, &results, number);
    pager(&mut h, "/", "", number, results.total);
    let images: Vec<_> = catalog
        .repositories(&who)
        .into_iter()
        .filter(|r| r.kind == RepositoryKind::Image)
        .collect();
    h.raw("<h2 id=\"images\">Images</h2>");
    if images.is_empty() {
        h.raw("<p>No plain images.</p>");
    } else {
        h.raw("<ul class=\"images\">");
        for image in &images {
            h.raw("<li><a class=\"image\" href=\"/images/")
                .text(&image.name)
                .raw("\">")
                .text(&image.name)
                .raw("</a> <span class=\"meta\">")
                .text(image.tags)
                .raw(if image.tags == 1 { " tag" } else { " tags" })
                .raw("</span></li>");
        }
        h.raw("</ul>");
    }
    page(StatusCode::OK, "Packages", &h)
}

/// `GET /search?q=TERM`.
pub async fn search(
    State(catalog): State<Catalog>,
    headers: HeaderMap,
    Query(query): Query<SearchQuery>,
) -> Response {
    let (_, number, results) = match lookup(&catalog, &headers, &query.q, &query) {
        Ok(found) => found,
        Err(denied) => return *denied,
    };
    if query.fragment.as_deref() == Some("1") {
        let mut h = Html::new();
        result_items(&mut h, &results, number);
        let mut response = html_response(StatusCode::OK, h.finish(), "text/html; charset=utf-8");
        response.headers_mut().insert(
            "x-result-count",
            HeaderValue::from_str(&results.total.to_string()).expect("digits"),
        );
        return response;
    }
    let mut h = Html::new();
    h.raw("<h1>Search</h1>");
    search_form(&mut h, &query.q);
    results_list(&mut h, &results, number);
    pager(&mut h, "/search", &query.q, number, results.total);
    let title = if query.q.is_empty() {
        "Search".to_owned()
    } else {
        format!("Search: {}", query.q)
    };
    page(StatusCode::OK, &title, &h)
}

/// Who asks, the page number asked for, and the matches of `q` up to that page.
fn lookup(
    catalog: &Catalog,
    headers: &HeaderMap,
    q: &str,
    query: &SearchQuery,
) -> Result<(Identity, usize, SearchResults), Box<Response>> {
    let who = viewer(catalog, headers)?;
    let number = query.page.unwrap_or(1).max(1);
    let results = catalog.search(q, &who, number.saturating_mul(PER_PAGE));
    Ok((who, number, results))
}

fn search_form(h: &mut Html, q: &str) {
    h.raw("<form role=\"search\" action=\"/search\" method=\"get\">")
        .raw("<label for=\"search\" class=\"visually-hidden\">Search packages</label>")
        .raw("<input type=\"search\" id=\"search\" name=\"q\" value=\"")
        .text(q)
        .raw("\" placeholder=\"Search packages\" autocomplete=\"off\" aria-controls=\"results\">")
        .raw("<button type=\"submit\">Search</button></form>");
}

/// The count (announced when it changes) and `ul#results`.
fn results_list(h: &mut Html, results: &SearchResults, number: usize) {
    h.raw("<p id=\"result-count\" aria-live=\"polite\">")
        .text(results.total)
        .raw(if results.total == 1 {
            " package"
        } else {
            " packages"
        })
        .raw("</p><ul id=\"results\">");
    result_items(h, results, number);
    h.raw("</ul>");
}

/// The items of page `number` (the results hold every page up to it).
fn result_items(h: &mut Html, results: &SearchResults, number: usize) {
    let start = (number - 1).saturating_mul(PER_PAGE);
    for p in results.packages.iter().skip(start) {
        result_item(h, p);
    }
}

fn result_item(h: &mut Html, p: &PackageSummary) {
    h.raw("<li><a class=\"package\" href=\"/packages/")
        .text(&p.repository)
        .raw("\">")
        .text(&p.repository)
        .raw("</a> <span class=\"meta\">")
        .text(&p.latest);
    if let Some(license) = &p.license {
        h.raw(" · ").text(license);
    }
    h.raw("</span>");
    if let Some(summary) = &p.summary {
        h.raw("<div class=\"summary\">").text(summary).raw("</div>");
    }
    h.raw("</li>");
}

/// Links to the previous and next pages.
fn pager(h: &mut Html, path: &'static str, q: &str, number: usize, total: usize) {
    let pages = total.div_ceil(PER_PAGE).max(1);
    if pages == 1 {
        return;
    }
    h.raw("<nav class=\"pager\" aria-label=\"Pages\">");
    let link = |h: &mut Html, to: usize, rel: &'static str, label: &'static str| {
        h.raw("<a rel=\"")
            .raw(rel)
            .raw("\" href=\"")
            .raw(path)
            .raw("?q=")
            .query(q)
            .raw("&amp;page=")
            .text(to)
            .raw("\">")
            .raw(label)
            .raw("</a>");
    };
    if number > 1 {
        link(h, number - 1, "prev", "Previous");
    }
    h.raw("<span>Page ")
        .text(number)
        .raw(" of ")
        .text(pages)
        .raw("</span>");
    if number < pages {
        link(h, number + 1, "next", "Next");
    }
    h.raw("</nav>");
}
