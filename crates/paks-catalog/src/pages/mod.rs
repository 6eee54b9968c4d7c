//! The catalogue's HTML pages (server-rendered, working without JavaScript) and their
//! embedded assets. The URLs and element ids are the contract of `docs/catalogue.md`.
//!
//! Every value shown goes through [`html::Html`], which escapes by default; every page
//! asks [`crate::access::viewer`] who is looking and shows only what they may pull. The
//! pages send `Content-Security-Policy: default-src 'self'`: no inline script or style.
//!
//! - [`home`] serves `/` and `/search?q=`.
//! - [`package`] serves `/packages/REPO`.
//! - [`graph`] serves `/graph/REPO` and `/graph/REPO.svg`.
//! - [`image`] serves `/images/REPO`.
//! - [`assets`] serves `/-/assets/FILE`.

pub mod assets;
pub mod graph;
pub mod home;
pub mod html;
pub mod image;
pub mod package;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use paks_registry::auth::Identity;

use crate::Catalog;
use html::Html;

/// The policy every page is sent with.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The pages' routes.
pub fn routes(catalog: Catalog) -> Router {
    Router::new()
        .route("/", get(home::index))
        .route("/search", get(home::search))
        .route("/packages/{*repo}", get(package::page))
        .route("/graph/{*repo}", get(graph::page))
        .route("/images/{*repo}", get(image::page).post(image::check))
        .route("/-/assets/{file}", get(assets::serve))
        .with_state(catalog)
}

/// Who is looking, or the 401 that asks them to log in.
pub(crate) fn viewer(catalog: &Catalog, headers: &HeaderMap) -> Result<Identity, Box<Response>> {
    match catalog.context() {
        Some(ctx) => crate::access::viewer(&ctx.access, headers),
        None => Ok(Identity::Anonymous),
    }
}

/// The host the request came to, for lines to copy (`127.0.0.1:5000`); `HOST` when the
/// `Host` header is missing or is not a plain host name or address with a port.
pub(crate) fn request_host(headers: &HeaderMap) -> String {
    headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| valid_host(h))
        .unwrap_or("HOST")
        .to_owned()
}

fn valid_host(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') || name.ends_with(']') => (name, Some(port)),
        _ => (host, None),
    };
    let name_ok = if let Some(inner) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        !inner.is_empty() && inner.chars().all(|c| c.is_ascii_hexdigit() || c == ':')
    } else {
        !name.is_empty()
            && name.len() <= 253
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.chars().all(|c| c.is_ascii_digit()));
    name_ok && port_ok
}

/// A full page: the shared header, `body`, the footer, with security headers.
pub(crate) fn page(status: StatusCode, title: &str, body: &Html) -> Response {
    let mut h = Html::new();
    h.raw("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
        .raw("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
        .raw("<title>")
        .text(title)
        .raw(" · paks</title><link rel=\"stylesheet\" href=\"")
        .text(assets::url(assets::STYLE))
        .raw("\"><script src=\"")
        .text(assets::url(assets::SCRIPT))
        .raw("\" defer></script></head><body>")
        .raw("<a class=\"skip\" href=\"#main\">Skip to content</a>")
        .raw("<header><nav aria-label=\"Site\"><a class=\"home\" href=\"/\">paks</a>")
        .raw("<a href=\"/#packages\">Packages</a><a href=\"/search\">Search</a></nav></header>")
        .raw("<main id=\"main\">");
    let mut out = h.finish();
    out.push_str(body.as_str());
    out.push_str(
        "</main><footer>Served by <code>paks serve</code>. The same data as JSON: \
         <a href=\"/api/v1/openapi.json\">/api/v1/</a>.</footer></body></html>\n",
    );
    html_response(status, out, "text/html; charset=utf-8")
}

/// `body` with the content type and the security headers every page has.
pub(crate) fn html_response(status: StatusCode, body: String, content_type: &str) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).expect("a valid content type"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    // Pages depend on who asks: never shared by caches.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    response
}

/// The 404 page: what was not found (`what` is shown escaped).
pub(crate) fn not_found(kind: &str, what: &str) -> Response {
    let mut h = Html::new();
    h.raw("<h1>Not found</h1><p id=\"not-found\">No ")
        .text(kind)
        .raw(" <code>")
        .text(what)
        .raw("</code> here, or you may not see it.</p>")
        .raw("<p><a href=\"/\">All packages</a> · <a href=\"/search?q=")
        .query(what.rsplit('/').next().unwrap_or(what))
        .raw("\">Search for it</a></p>");
    page(StatusCode::NOT_FOUND, "Not found", &h)
}

#[cfg(test)]
mod tests {
    use super::valid_host;

    #[test]
    fn hosts_for_copy_lines_are_plain() {
        for good in [
            "127.0.0.1:5000",
            "registry.example",
            "r.invalid:443",
            "[::1]:5000",
        ] {
            assert!(valid_host(good), "{good}");
        }
        for bad in [
            "", "a b", "x\"y", "<script>", "h:port", "a:1:2", "[zz]:1", "h:123456",
        ] {
            assert!(!valid_host(bad), "{bad}");
        }
    }
}
