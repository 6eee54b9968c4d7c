//! The JSON API under `/api/v1/`, and its OpenAPI document at `/api/v1/openapi.json`.
//!
//! Not built yet: the routes answer 501.

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;

use crate::Catalog;

/// The API's routes.
pub fn routes(catalog: Catalog) -> Router {
    drop(catalog);
    Router::new().route(
        "/api/v1/{*rest}",
        axum::routing::any(|| async {
            (
                StatusCode::NOT_IMPLEMENTED,
                "the catalogue API is not built yet\n",
            )
                .into_response()
        }),
    )
}
