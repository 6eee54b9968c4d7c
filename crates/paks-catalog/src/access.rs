//! Who is asking, and what they may see: the registry's own users and rights.
//!
//! A page or API request carries the same credentials as a registry request (Basic, or a
//! token from `/token`). Anonymous requests see what anonymous may pull; a server without
//! a users file shows everything. Composed images follow the rights of their packages
//! (see `paks_registry::extension`).

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use paks_registry::auth::{AccessControl, Action, Identity, Need};
use paks_registry::names::RepoName;

/// The realm browsers are asked to log in to.
pub const BASIC_REALM: &str = "paks";

/// Who sent `headers`: anonymous without credentials, the user with valid ones; invalid
/// credentials (or an anonymous visitor of a server that grants anonymous nothing) get a
/// 401 that makes a browser ask for a user name and password.
pub fn viewer(access: &AccessControl, headers: &HeaderMap) -> Result<Identity, Box<Response>> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    access
        .authorize(authorization, &Need::base(), "")
        .map_err(|denial| {
            (
                StatusCode::UNAUTHORIZED,
                [(
                    header::WWW_AUTHENTICATE,
                    format!("Basic realm=\"{BASIC_REALM}\", charset=\"UTF-8\""),
                )],
                denial.message,
            )
                .into_response()
                .into()
        })
}

/// Whether `viewer` may pull `repo`.
pub fn may_pull(access: &AccessControl, viewer: &Identity, repo: &str) -> bool {
    let Ok(repo) = RepoName::parse(repo) else {
        return false;
    };
    access.may(viewer.user(), &Need::repo(repo, &[Action::Pull]))
}
