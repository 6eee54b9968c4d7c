//! The catalogue's HTML pages (server-rendered, working without JavaScript) and their
//! embedded assets.
//!
//! Not built yet: `/` says so.

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;

use crate::Catalog;

/// The pages' routes.
pub fn routes(catalog: Catalog) -> Router {
    drop(catalog);
    Router::new().route(
        "/",
        axum::routing::get(|| async {
            (
                StatusCode::NOT_IMPLEMENTED,
                "the catalogue is not built yet\n",
            )
                .into_response()
        }),
    )
}
