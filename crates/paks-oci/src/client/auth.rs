//! Registry authentication: `WWW-Authenticate` challenges, HTTP Basic, and the bearer
//! token flow of distribution's token auth (`GET realm?service=…&scope=…`).

use std::time::{Duration, Instant};

use data_encoding::BASE64;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, Url};
use serde::Deserialize;

use super::Client;
use super::http::{Body, Req};
use crate::credentials::Login;
use crate::error::{ErrorKind, OciError};

/// The authentication scheme a registry asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        /// The scopes the challenge named (space-separated in the header).
        scopes: Vec<String>,
    },
}

#[derive(Debug, Clone)]
pub(super) struct Token {
    value: String,
    expires: Instant,
}

/// Token responses: distribution's `token`, or `OAuth2`'s `access_token`.
#[derive(Deserialize)]
struct TokenResponse {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

/// Parse `WWW-Authenticate` headers; Bearer wins over Basic when both are offered.
pub(super) fn parse_challenges(headers: &HeaderMap) -> Option<Challenge> {
    let mut basic = false;
    for value in headers.get_all(header::WWW_AUTHENTICATE) {
        let Ok(value) = value.to_str() else { continue };
        let value = value.trim();
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        if scheme.eq_ignore_ascii_case("bearer") {
            let params = parse_params(rest);
            let get = |k: &str| {
                params
                    .iter()
                    .find(|(key, _)| key.eq_ignore_ascii_case(k))
                    .map(|(_, v)| v.clone())
            };
            let realm = get("realm")?;
            return Some(Challenge::Bearer {
                realm,
                service: get("service"),
                scopes: get("scope")
                    .map(|s| {
                        s.split(' ')
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default(),
            });
        }
        if scheme.eq_ignore_ascii_case("basic") {
            basic = true;
        }
    }
    basic.then_some(Challenge::Basic)
}

/// `k1="v, 1",k2=v2` → pairs (quoted strings may hold commas and `\"`).
fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String =
            std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',')).collect();
        if key.is_empty() {
            break;
        }
        if chars.next_if_eq(&'=').is_none() {
            continue;
        }
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| *c != ',')).collect();
        }
        out.push((key.trim().to_owned(), value.trim().to_owned()));
    }
    out
}

fn basic_header(user: &str, password: &str) -> HeaderValue {
    let mut v = HeaderValue::from_str(&format!(
        "Basic {}",
        BASE64.encode(format!("{user}:{password}").as_bytes())
    ))
    .expect("base64 is a valid header value");
    v.set_sensitive(true);
    v
}

fn bearer_header(token: &str) -> Option<HeaderValue> {
    let mut v = HeaderValue::from_str(&format!("Bearer {token}")).ok()?;
    v.set_sensitive(true);
    Some(v)
}

/// The repository a request is about, from its first `repository:<name>:<actions>` scope.
fn repository_of(scopes: &[String]) -> Option<&str> {
    scopes.iter().find_map(|s| {
        let rest = s.strip_prefix("repository:")?;
        rest.rsplit_once(':').map(|(name, _)| name)
    })
}

impl Client {
    /// The login for a request to `registry` needing `scopes` (whose repository picks a
    /// namespaced entry of podman's files).
    pub(super) fn login(&self, registry: &str, scopes: &[String]) -> Option<Login> {
        self.inner
            .config
            .credentials
            .lookup(registry, repository_of(scopes))
    }

    /// The `Authorization` header for a request to `registry` needing `scopes`, when the
    /// registry's scheme is known (after its first 401): Basic credentials, or a bearer
    /// token (cached, or fetched now).
    pub(super) async fn authorization(
        &self,
        registry: &str,
        scopes: &[String],
    ) -> Result<Option<HeaderValue>, OciError> {
        let challenge = self
            .inner
            .challenges
            .lock()
            .expect("not poisoned")
            .get(registry)
            .cloned();
        match challenge {
            None => Ok(None),
            Some(Challenge::Basic) => Ok(self
                .login(registry, scopes)
                .as_ref()
                .and_then(Login::basic)
                .map(|(u, p)| basic_header(u, p))),
            Some(Challenge::Bearer { realm, service, .. }) => {
                let key = (registry.to_owned(), scopes.join(" "));
                let cached = self
                    .inner
                    .tokens
                    .lock()
                    .expect("not poisoned")
                    .get(&key)
                    .cloned();
                if let Some(t) = cached
                    && t.expires > Instant::now()
                {
                    return Ok(bearer_header(&t.value));
                }
                let token = self
                    .fetch_token(registry, &realm, service.as_deref(), scopes)
                    .await?;
                Ok(bearer_header(&token))
            }
        }
    }

    /// Act on a 401's challenge: remember the scheme, and fetch a token for `scopes` plus
    /// the challenge's own. Errors when there is nothing to try (Basic without
    /// credentials).
    pub(super) async fn answer_challenge(
        &self,
        registry: &str,
        challenge: Challenge,
        scopes: &[String],
    ) -> Result<Vec<String>, OciError> {
        let mut all = scopes.to_vec();
        if let Challenge::Bearer { scopes: asked, .. } = &challenge {
            for s in asked {
                if !all.contains(s) {
                    all.push(s.clone());
                }
            }
        }
        self.inner
            .challenges
            .lock()
            .expect("not poisoned")
            .insert(registry.to_owned(), challenge.clone());
        match challenge {
            Challenge::Basic => {}
            Challenge::Bearer { realm, service, .. } => {
                self.fetch_token(registry, &realm, service.as_deref(), &all)
                    .await?;
            }
        }
        Ok(all)
    }

    /// `GET realm?service=…&scope=…`, with Basic credentials when there are any; caches
    /// the token under (registry, scopes) until shortly before it expires.
    async fn fetch_token(
        &self,
        registry: &str,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
    ) -> Result<String, OciError> {
        let what = format!("failed to get a token for `{registry}`");
        let mut url = Url::parse(realm).map_err(|e| ErrorKind::Protocol {
            what: what.clone(),
            url: realm.to_owned(),
            message: format!("the token realm is not a URL: {e}"),
        })?;
        let realm_url = url.clone();
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = service {
                q.append_pair("service", s);
            }
            for s in scopes {
                q.append_pair("scope", s);
            }
        }
        let creds = self.login(registry, scopes);
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        let (method, body) = match &creds {
            Some(Login::Basic { username, password }) => {
                headers.insert(header::AUTHORIZATION, basic_header(username, password));
                (Method::GET, Body::Empty)
            }
            // An identity token is an OAuth2 refresh token: POSTed as a form, as Docker
            // does, never put in a URL.
            Some(Login::IdentityToken(refresh)) => {
                url = realm_url;
                let form = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("grant_type", "refresh_token")
                    .append_pair("service", service.unwrap_or_default())
                    .append_pair("client_id", "paks")
                    .append_pair("scope", &scopes.join(" "))
                    .append_pair("refresh_token", refresh)
                    .finish();
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/x-www-form-urlencoded"),
                );
                (Method::POST, Body::Bytes(form.into_bytes().into()))
            }
            None => (Method::GET, Body::Empty),
        };
        // Boxed: `send` asks `authorization`, which may call this.
        let sent = Box::pin(self.send(Req {
            what: &what,
            registry: None,
            method: method.clone(),
            url: url.clone(),
            headers,
            body,
            scopes: &[],
            retry: true,
        }))
        .await?;
        let status = sent.resp.status().as_u16();
        if status == 401 || status == 403 {
            let (code, message) = super::http::error_details(sent.resp).await;
            return Err(ErrorKind::Unauthorized {
                what,
                registry: registry.to_owned(),
                url: url.to_string(),
                status,
                code,
                message,
                had_credentials: creds.is_some(),
            }
            .into());
        }
        if status != 200 {
            return Err(self.status_error(&what, &method, sent).await);
        }
        let final_url = sent.url.to_string();
        let bytes = self.read_small(&what, sent, 1024 * 1024).await?;
        let resp: TokenResponse =
            serde_json::from_slice(&bytes).map_err(|source| ErrorKind::Json {
                what: what.clone(),
                url: final_url.clone(),
                source,
            })?;
        let Some(value) = resp.token.or(resp.access_token).filter(|t| !t.is_empty()) else {
            return Err(ErrorKind::Protocol {
                what,
                url: final_url,
                message: "the answer has neither `token` nor `access_token`".into(),
            }
            .into());
        };
        // The token spec's default and minimum lifetime is 60 s; keep a margin for
        // clock skew and the time a request takes.
        let lifetime = Duration::from_secs(resp.expires_in.unwrap_or(60).max(60));
        let token = Token {
            value: value.clone(),
            expires: Instant::now() + lifetime.saturating_sub(Duration::from_secs(15)),
        };
        self.inner
            .tokens
            .lock()
            .expect("not poisoned")
            .insert((registry.to_owned(), scopes.join(" ")), token);
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::WWW_AUTHENTICATE, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn parses_bearer_and_basic_challenges() {
        let c = parse_challenges(&headers(&[
            r#"Bearer realm="https://auth.example.com/token",service="reg.example.com",scope="repository:a/b:pull,push repository:c:pull",error="insufficient_scope""#,
        ]));
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://auth.example.com/token".into(),
                service: Some("reg.example.com".into()),
                scopes: vec![
                    "repository:a/b:pull,push".into(),
                    "repository:c:pull".into()
                ],
            })
        );
        assert_eq!(
            parse_challenges(&headers(&[r#"Basic realm="Registry Realm""#])),
            Some(Challenge::Basic)
        );
        assert!(matches!(
            parse_challenges(&headers(&[r#"Basic realm="x""#, "Bearer realm=https://t/x, service=s"])),
            Some(Challenge::Bearer { realm, service: Some(s), .. }) if realm == "https://t/x" && s == "s"
        ));
        assert_eq!(parse_challenges(&headers(&["Negotiate"])), None);
        assert_eq!(parse_challenges(&headers(&["Bearer service=x"])), None);
    }

    #[test]
    fn params_with_escapes() {
        assert_eq!(
            parse_params(r#"a="x\"y, z", b=plain ,c="""#),
            vec![
                ("a".into(), "x\"y, z".into()),
                ("b".into(), "plain".into()),
                ("c".into(), String::new())
            ]
        );
    }
}
