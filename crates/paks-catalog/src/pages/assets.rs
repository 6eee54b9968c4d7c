//! The embedded CSS and JavaScript, served at `/-/assets/NAME.HASH.EXT` (cached for a year:
//! the hash changes with the content) and at `/-/assets/NAME.EXT` (revalidated by `ETag`).

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use paks_types::Digest;

/// One embedded file.
pub struct Asset {
    /// `style.css`.
    pub name: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

pub const STYLE: &Asset = &Asset {
    name: "style.css",
    content_type: "text/css; charset=utf-8",
    bytes: include_bytes!("../../assets/style.css"),
};

pub const SCRIPT: &Asset = &Asset {
    name: "app.js",
    content_type: "text/javascript; charset=utf-8",
    bytes: include_bytes!("../../assets/app.js"),
};

const ALL: [&Asset; 2] = [STYLE, SCRIPT];

impl Asset {
    /// The first 16 hex digits of the content's sha256.
    pub fn hash(&self) -> &'static str {
        static HASHES: OnceLock<Vec<String>> = OnceLock::new();
        let hashes = HASHES.get_or_init(|| {
            ALL.iter()
                .map(|a| Digest::sha256_of(a.bytes).hex()[..16].to_owned())
                .collect()
        });
        let at = ALL
            .iter()
            .position(|a| a.name == self.name)
            .expect("an embedded asset");
        &hashes[at]
    }

    /// `style.HASH.css`.
    fn hashed_name(&self) -> String {
        let (stem, ext) = self.name.rsplit_once('.').expect("names have an extension");
        format!("{stem}.{}.{ext}", self.hash())
    }
}

/// The URL pages link: with the content hash, so it can be cached for good.
pub fn url(asset: &Asset) -> String {
    format!("/-/assets/{}", asset.hashed_name())
}

/// `GET /-/assets/FILE`.
pub async fn serve(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let found = ALL
        .iter()
        .map(|a| (a, a.name == file))
        .find(|(a, plain)| *plain || a.hashed_name() == file);
    let Some((asset, plain)) = found else {
        return (StatusCode::NOT_FOUND, "no such asset\n").into_response();
    };
    let etag = format!("\"{}\"", asset.hash());
    let cache = if plain {
        "public, no-cache"
    } else {
        "public, max-age=31536000, immutable"
    };
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            asset.bytes,
        )
            .into_response()
    };
    let h = response.headers_mut();
    h.insert(header::ETAG, HeaderValue::from_str(&etag).expect("hex"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
