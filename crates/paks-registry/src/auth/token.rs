//! The server's bearer tokens: `base64url(claims) "." base64url(HMAC-SHA256(key, claims))`,
//! opaque to clients; the token endpoint that issues them; and the parsing of its query.

use std::sync::Arc;

use std::net::IpAddr;

use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use data_encoding::BASE64URL_NOPAD;
use ring::hmac;
use serde::{Deserialize, Serialize};

use super::{
    AccessControl, Actions, Credentials, Denial, Identity, Need, SERVICE, TOKEN_LIFETIME_SECS,
    Verdict, parse_authorization, quoted, unix_now,
};
use crate::listen::ClientAddr;
use crate::names::RepoName;

/// One grant of a token, in the shape of distribution's `access` claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Grant {
    #[serde(rename = "type")]
    pub(super) kind: String,
    pub(super) name: String,
    pub(super) actions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Claims {
    /// The user, or none for an anonymous token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) sub: Option<String>,
    pub(super) iat: u64,
    pub(super) exp: u64,
    pub(super) access: Vec<Grant>,
}

impl Claims {
    pub(super) fn identity(&self) -> Identity {
        self.sub.clone().map_or(Identity::Anonymous, Identity::User)
    }

    pub(super) fn grants(&self, need: &Need) -> bool {
        let repo_ok = need.repo.as_ref().is_none_or(|repo| {
            let granted = self
                .access
                .iter()
                .filter(|g| g.kind == "repository" && g.name == repo.as_str())
                .fold(Actions::default(), |set, g| {
                    set.union(Actions::parse_scope_list(&g.actions.join(",")))
                });
            granted.contains(Actions::of(&need.actions))
        });
        let catalog_ok = !need.catalog
            || self
                .access
                .iter()
                .any(|g| g.kind == "registry" && g.name == "catalog");
        repo_ok && catalog_ok
    }
}

#[derive(Debug)]
pub(super) enum TokenProblem {
    Invalid,
    Expired,
}

/// The query of a token request: `service`, `scope` (repeatable, and each may hold several
/// space-separated scopes) and `account`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenQuery {
    pub service: Option<String>,
    pub scopes: Vec<String>,
    pub account: Option<String>,
}

impl TokenQuery {
    /// Parses a raw, percent-encoded query string (`+` is a space).
    pub fn parse(raw: &str) -> Self {
        let mut query = Self::default();
        for pair in raw.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(value);
            match percent_decode(key).as_str() {
                "service" => query.service = Some(value),
                "account" => query.account = Some(value),
                "scope" => query.scopes.extend(
                    value
                        .split(' ')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned),
                ),
                _ => {}
            }
        }
        query
    }
}

pub(super) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| char::from(b).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(hi), Some(lo)) => {
                        out.push(u8::try_from(hi * 16 + lo).expect("two hex digits fit a byte"));
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A token scope: `repository:<name>:<actions>` or `registry:catalog:*`.
pub(super) struct Scope<'a> {
    pub(super) kind: &'a str,
    pub(super) name: &'a str,
    pub(super) actions: &'a str,
}

pub(super) fn parse_scope(s: &str) -> Option<Scope<'_>> {
    let (kind, rest) = s.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    // `repository(plugin):…` names a resource class, which changes nothing here.
    let kind = kind.split_once('(').map_or(kind, |(k, _)| k);
    Some(Scope {
        kind,
        name,
        actions,
    })
}

/// The answer of the token endpoint (distribution's and `OAuth2`'s field names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenResponse {
    pub token: String,
    pub access_token: String,
    pub expires_in: u64,
    /// RFC 3339, UTC.
    pub issued_at: String,
}

/// `secs` since the epoch as RFC 3339 (`1970-01-01T00:00:00Z`).
pub(super) fn rfc3339(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days, for days since 1970-01-01 (never negative here).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

impl AccessControl {
    /// Issues a token for the scopes asked, to the user of the Basic credentials or to
    /// anonymous. It grants what was asked and is allowed, which may be less (or nothing).
    /// Failed logins count against `client`.
    pub fn issue_token(
        &self,
        client: IpAddr,
        authorization: Option<&str>,
        query: &TokenQuery,
    ) -> Result<TokenResponse, Denial> {
        self.issue_token_at(client, authorization, query, unix_now())
    }

    pub(super) fn issue_token_at(
        &self,
        client: IpAddr,
        authorization: Option<&str>,
        query: &TokenQuery,
        now: u64,
    ) -> Result<TokenResponse, Denial> {
        let basic_challenge = format!("Basic realm={}", quoted(SERVICE));
        let user = match (&self.policy, authorization.map(parse_authorization)) {
            (None | Some(_), None) | (None, Some(_)) => None,
            (Some(policy), Some(Credentials::Basic { user, password })) => {
                match self.verify_basic(policy, client, &user, &password) {
                    Verdict::Valid => Some(user),
                    Verdict::Invalid => {
                        return Err(Denial::unauthorized(
                            basic_challenge,
                            "invalid user name or password",
                        ));
                    }
                    Verdict::Throttled(wait, why) => return Err(Denial::throttled(wait, why)),
                }
            }
            (Some(_), Some(_)) => {
                return Err(Denial::unauthorized(
                    basic_challenge,
                    "the token endpoint takes Basic credentials or none",
                ));
            }
        };
        if let Some(policy) = &self.policy
            && !policy.may_enter(user.as_deref())
        {
            return Err(Denial::unauthorized(
                basic_challenge,
                "authentication required: anonymous access is not allowed",
            ));
        }
        let mut access = Vec::new();
        for scope in query.scopes.iter().filter_map(|s| parse_scope(s)) {
            let asked = Actions::parse_scope_list(scope.actions);
            let granted = match (scope.kind, &self.policy) {
                ("repository", policy) => {
                    if RepoName::parse(scope.name).is_err() {
                        continue;
                    }
                    policy.as_ref().map_or(asked, |p| {
                        asked.intersection(p.rights(user.as_deref(), scope.name))
                    })
                }
                ("registry", policy) if scope.name == "catalog" => {
                    if policy
                        .as_ref()
                        .is_some_and(|p| !p.may_list_catalog(user.as_deref()))
                    {
                        continue;
                    }
                    access.push(Grant {
                        kind: "registry".into(),
                        name: "catalog".into(),
                        actions: vec!["*".into()],
                    });
                    continue;
                }
                _ => continue,
            };
            if !granted.is_empty() {
                access.push(Grant {
                    kind: "repository".into(),
                    name: scope.name.to_owned(),
                    actions: granted.list().iter().map(|a| a.as_str().into()).collect(),
                });
            }
        }
        let claims = Claims {
            sub: user,
            iat: now,
            exp: now + TOKEN_LIFETIME_SECS,
            access,
        };
        let token = self.sign(&claims);
        Ok(TokenResponse {
            access_token: token.clone(),
            token,
            expires_in: TOKEN_LIFETIME_SECS,
            issued_at: rfc3339(now),
        })
    }

    fn sign(&self, claims: &Claims) -> String {
        let json = serde_json::to_vec(claims).expect("claims serialise");
        let tag = hmac::sign(&self.token_key, &json);
        format!(
            "{}.{}",
            BASE64URL_NOPAD.encode(&json),
            BASE64URL_NOPAD.encode(tag.as_ref())
        )
    }

    pub(super) fn verify_token(&self, token: &str, now: u64) -> Result<Claims, TokenProblem> {
        let (body, tag) = token.split_once('.').ok_or(TokenProblem::Invalid)?;
        let json = BASE64URL_NOPAD
            .decode(body.as_bytes())
            .map_err(|_| TokenProblem::Invalid)?;
        let tag = BASE64URL_NOPAD
            .decode(tag.as_bytes())
            .map_err(|_| TokenProblem::Invalid)?;
        hmac::verify(&self.token_key, &json, &tag).map_err(|_| TokenProblem::Invalid)?;
        let claims: Claims = serde_json::from_slice(&json).map_err(|_| TokenProblem::Invalid)?;
        if claims.exp <= now {
            return Err(TokenProblem::Expired);
        }
        Ok(claims)
    }
}

/// The token endpoint, `GET /token?service=paks&scope=…`, as an axum handler. Mount it
/// with any state that an `Arc<AccessControl>` can be taken from:
///
/// ```ignore
/// Router::new().route("/token", get(token_handler)).with_state(access)
/// ```
///
/// (with a bigger state struct, implement `FromRef<AppState> for Arc<AccessControl>`).
/// The realm in challenges must then be the absolute URL of this route.
pub async fn token_handler(
    State(access): State<Arc<AccessControl>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    client: Option<Extension<ClientAddr>>,
) -> Response {
    let client = client.map_or(super::UNKNOWN_CLIENT, |c| c.0.0.ip());
    // A header that is not ASCII is malformed credentials, not missing ones.
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    let query = TokenQuery::parse(query.as_deref().unwrap_or_default());
    // argon2 is CPU work: keep it off the async workers.
    let issued = tokio::task::spawn_blocking(move || {
        access.issue_token(client, authorization.as_deref(), &query)
    })
    .await;
    match issued {
        Ok(Ok(token)) => ([(header::CACHE_CONTROL, "no-store")], axum::Json(token)).into_response(),
        Ok(Err(denial)) => denial.into_response(),
        Err(e) => {
            tracing::error!(target: "paks::registry", "the token task failed: {e}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
