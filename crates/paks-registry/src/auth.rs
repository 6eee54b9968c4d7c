//! Access control for `paks serve`: a users file, HTTP Basic, and bearer tokens issued by
//! the server's own token endpoint (distribution's token flow, which docker, podman,
//! skopeo and `paks-oci` follow).
//!
//! # The users file
//!
//! ```toml
//! # What anyone may do without logging in. Leave it out (or `anonymous = []`) and
//! # nobody may do anything anonymously.
//! [[anonymous]]
//! repositories = ["public/*"]
//! actions = ["pull"]
//!
//! [[users]]
//! name = "alice"
//! password = "$argon2id$v=19$m=19456,t=2,p=1$…"   # from `paks serve passwd`
//!
//! [[users.access]]
//! repositories = ["acme/*", "tools"]
//! actions = ["pull", "push", "delete"]
//! ```
//!
//! - A repository pattern is `*` (every repository), `<name>/*` (every repository below
//!   `<name>/`, at any depth, but not `<name>` itself) or an exact repository name.
//! - Actions are `pull`, `push`, `delete` and `*` (all three). They are independent:
//!   pushing needs `pull` as well, since clients check what is already there.
//! - A user may do what their rules allow, plus whatever anonymous may do. Listing the
//!   catalog (`/v2/_catalog`) needs `pull` on `*`.
//! - Unknown keys are errors.
//!
//! Without a users file ([`AccessControl::open`]) everyone may do everything: the
//! default for a server on the loopback interface.
//!
//! # The token flow
//!
//! A request without sufficient credentials gets a 401 with
//! `WWW-Authenticate: Bearer realm="<realm>",service="paks",scope="repository:<name>:pull"`.
//! The client calls the realm ([`token_handler`], mounted at `/token`) with the scopes and,
//! if it has them, Basic credentials; the token grants what was asked *and* allowed, never
//! more. Requests may also carry Basic credentials directly.

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use data_encoding::BASE64;
use ring::hmac;
use ring::rand::SystemRandom;
use serde::Deserialize;

use crate::names::RepoName;

mod password;
mod throttle;
mod token;

pub use password::hash_password;
use password::{Verdict, check_phc};
use throttle::Throttle;

use token::TokenProblem;
pub use token::{TokenQuery, TokenResponse, token_handler};

/// The `service` this server names in its challenges. Token requests naming another
/// service are answered all the same: the token is only good here anyway.
pub const SERVICE: &str = "paks";

/// How long an issued token is valid, in seconds.
pub const TOKEN_LIFETIME_SECS: u64 = 300;

/// How many verified Basic credentials are remembered, so that argon2 runs once per
/// credential rather than once per request.
const VERIFIED_CACHE_LIMIT: usize = 1024;

/// Something a client may do to a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Pull,
    Push,
    Delete,
}

impl Action {
    pub const ALL: [Self; 3] = [Self::Pull, Self::Push, Self::Delete];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pull => "pull",
            Self::Push => "push",
            Self::Delete => "delete",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Self::Pull => 1,
            Self::Push => 2,
            Self::Delete => 4,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of actions, as a bit set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Actions(u8);

impl Actions {
    const ALL: Self = Self(7);

    fn of(actions: &[Action]) -> Self {
        Self(actions.iter().fold(0, |bits, a| bits | a.bit()))
    }

    /// `pull,push,delete` words as in a scope; `*` means all; unknown words are ignored.
    fn parse_scope_list(list: &str) -> Self {
        let mut bits = 0;
        for word in list.split(',') {
            bits |= match word.trim() {
                "*" => Self::ALL.0,
                "pull" => Action::Pull.bit(),
                "push" => Action::Push.bit(),
                "delete" => Action::Delete.bit(),
                _ => 0,
            };
        }
        Self(bits)
    }

    fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    fn intersection(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    fn is_empty(self) -> bool {
        self.0 == 0
    }

    fn list(self) -> Vec<Action> {
        Action::ALL
            .into_iter()
            .filter(|a| self.0 & a.bit() != 0)
            .collect()
    }
}

/// What a request needs. The base check (`GET /v2/`) has no repository, no actions and
/// no catalog: any authenticated user passes it, and anonymous does when it has any right.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Need {
    pub repo: Option<RepoName>,
    pub actions: Vec<Action>,
    /// Listing the catalog (`GET /v2/_catalog`).
    pub catalog: bool,
    /// The `from` repository of a cross-repository mount. The challenge names `pull` on
    /// it, so that token clients ask for a token that can mount; it is not needed to pass,
    /// since a mount the client may not make becomes an upload session.
    pub mount_from: Option<RepoName>,
}

impl Need {
    /// The base check of `GET /v2/`.
    pub fn base() -> Self {
        Self::default()
    }

    /// `actions` on `repo`.
    pub fn repo(repo: RepoName, actions: &[Action]) -> Self {
        Self {
            repo: Some(repo),
            actions: actions.to_vec(),
            ..Self::default()
        }
    }

    /// Listing the catalog.
    pub fn catalog() -> Self {
        Self {
            catalog: true,
            ..Self::default()
        }
    }

    /// The scopes of the challenge, space-separated, or `None` for the base check.
    fn scope(&self) -> Option<String> {
        let mut scopes = Vec::new();
        if let Some(repo) = &self.repo
            && !self.actions.is_empty()
        {
            let actions = Actions::of(&self.actions).list();
            let actions: Vec<&str> = actions.iter().map(|a| a.as_str()).collect();
            scopes.push(format!("repository:{repo}:{}", actions.join(",")));
        }
        if let Some(from) = &self.mount_from {
            scopes.push(format!("repository:{from}:pull"));
        }
        if self.catalog {
            scopes.push("registry:catalog:*".to_owned());
        }
        (!scopes.is_empty()).then(|| scopes.join(" "))
    }
}

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// No credentials (or a server without a users file).
    Anonymous,
    /// A user of the users file, by Basic credentials or by a token issued to them.
    User(String),
}

impl Identity {
    pub fn user(&self) -> Option<&str> {
        match self {
            Self::Anonymous => None,
            Self::User(name) => Some(name),
        }
    }
}

/// Why a request was refused: the status, the spec error code and message, and the
/// `WWW-Authenticate` challenge that tells the client how to get in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// 401 when the client should (re)authenticate or fetch a token with a wider scope;
    /// 403 when an authenticated user lacks the right.
    pub status: StatusCode,
    /// `UNAUTHORIZED` (401) or `DENIED` (403).
    pub code: &'static str,
    pub message: String,
    /// The `WWW-Authenticate` value, on a 401.
    pub challenge: Option<String>,
    /// Seconds to wait before trying again (`Retry-After`), on a 429.
    pub retry_after: Option<u64>,
}

impl Denial {
    fn unauthorized(challenge: String, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            code: "UNAUTHORIZED",
            message: message.into(),
            challenge: Some(challenge),
            retry_after: None,
        }
    }

    fn denied(message: String) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            code: "DENIED",
            message,
            challenge: None,
            retry_after: None,
        }
    }

    /// A 401 asking a token client for a token that grants `need` (its current token is
    /// valid but too narrow).
    pub fn insufficient_scope(realm: &str, need: &Need, message: impl Into<String>) -> Self {
        Self::unauthorized(challenge(realm, need, Some("insufficient_scope")), message)
    }

    /// Too many password checks: at once, or failed from this client or for this user.
    fn throttled(wait: Duration, why: &str) -> Self {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "TOOMANYREQUESTS",
            message: format!("{why}; retry in {secs} s"),
            challenge: None,
            retry_after: Some(secs.max(1)),
        }
    }
}

impl IntoResponse for Denial {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "errors": [{ "code": self.code, "message": self.message }]
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(value) = self
            .challenge
            .as_deref()
            .and_then(|c| HeaderValue::from_str(c).ok())
        {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// A users file that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("failed to read the users file `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the users file `{}` is not valid TOML for paks serve", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: Box<toml::de::Error>,
    },
    #[error("the users file `{}` is not valid: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
}

// The file as written.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    #[serde(default)]
    anonymous: Vec<RuleFile>,
    #[serde(default)]
    users: Vec<UserFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserFile {
    name: String,
    password: String,
    #[serde(default)]
    access: Vec<RuleFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    repositories: Vec<String>,
    actions: Vec<ActionWord>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum ActionWord {
    Pull,
    Push,
    Delete,
    #[serde(rename = "*")]
    All,
}

// The file as checked.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Any,
    /// `acme/*`, kept as `acme/`.
    Below(String),
    Exact(String),
}

impl Pattern {
    fn parse(s: &str) -> Result<Self, String> {
        if s == "*" {
            return Ok(Self::Any);
        }
        let (name, below) = match s.strip_suffix("/*") {
            Some(prefix) => (prefix, true),
            None => (s, false),
        };
        RepoName::parse(name).map_err(|e| {
            format!("`{s}` is not a repository pattern (`*`, `<name>/*` or `<name>`): {e}")
        })?;
        Ok(if below {
            Self::Below(format!("{name}/"))
        } else {
            Self::Exact(name.to_owned())
        })
    }

    fn matches(&self, repo: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Below(prefix) => repo.starts_with(prefix.as_str()),
            Self::Exact(name) => repo == name,
        }
    }
}

#[derive(Debug, Clone)]
struct Rule {
    patterns: Vec<Pattern>,
    actions: Actions,
}

impl Rule {
    fn check(file: &RuleFile, context: &str) -> Result<Self, String> {
        if file.repositories.is_empty() {
            return Err(format!("{context}: `repositories` is empty"));
        }
        if file.actions.is_empty() {
            return Err(format!("{context}: `actions` is empty"));
        }
        let patterns = file
            .repositories
            .iter()
            .map(|p| Pattern::parse(p).map_err(|e| format!("{context}: {e}")))
            .collect::<Result<_, _>>()?;
        let actions = file.actions.iter().fold(Actions::default(), |set, word| {
            set.union(match word {
                ActionWord::Pull => Actions::of(&[Action::Pull]),
                ActionWord::Push => Actions::of(&[Action::Push]),
                ActionWord::Delete => Actions::of(&[Action::Delete]),
                ActionWord::All => Actions::ALL,
            })
        });
        Ok(Self { patterns, actions })
    }
}

struct User {
    /// The PHC string, checked at load.
    password: String,
    rules: Vec<Rule>,
}

struct Policy {
    anonymous: Vec<Rule>,
    users: HashMap<String, User>,
    /// Repositories made from others (images composed on pull): pull-only, and only for
    /// who may pull every repository they come from.
    derived: Option<crate::extension::DerivedRepos>,
}

impl Policy {
    fn parse(text: &str, path: &Path) -> Result<Self, AuthError> {
        let file: UsersFile = toml::from_str(text).map_err(|source| AuthError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })?;
        let invalid = |message: String| AuthError::Invalid {
            path: path.to_owned(),
            message,
        };
        let anonymous = file
            .anonymous
            .iter()
            .map(|r| Rule::check(r, "in `[[anonymous]]`"))
            .collect::<Result<_, _>>()
            .map_err(invalid)?;
        let mut users = HashMap::new();
        for user in file.users {
            let name = user.name;
            if name.is_empty() || name.contains(':') || name.chars().any(char::is_control) {
                return Err(invalid(format!(
                    "`{name}` is not a user name: it must be non-empty, without `:` or control characters"
                )));
            }
            check_phc(&user.password).map_err(|e| {
                invalid(format!(
                    "the password of user `{name}` is not an argon2 PHC string ({e}); make one with `paks serve passwd`"
                ))
            })?;
            let context = format!("in the access of user `{name}`");
            let rules = user
                .access
                .iter()
                .map(|r| Rule::check(r, &context))
                .collect::<Result<_, _>>()
                .map_err(invalid)?;
            let user = User {
                password: user.password,
                rules,
            };
            if users.insert(name.clone(), user).is_some() {
                return Err(invalid(format!("user `{name}` is defined twice")));
            }
        }
        Ok(Self {
            anonymous,
            users,
            derived: None,
        })
    }

    fn rules<'a>(&'a self, user: Option<&str>) -> impl Iterator<Item = &'a Rule> {
        let own = user
            .and_then(|u| self.users.get(u))
            .map(|u| u.rules.as_slice())
            .unwrap_or_default();
        self.anonymous.iter().chain(own)
    }

    /// The actions `user` (or anonymous) may do on `repo`.
    fn rights(&self, user: Option<&str>, repo: &str) -> Actions {
        if let Some(sources) = self.derived.as_ref().and_then(|derived| derived(repo)) {
            let pull = Actions::of(&[Action::Pull]);
            let all = !sources.is_empty()
                && sources
                    .iter()
                    .all(|s| self.own_rights(user, s).contains(pull));
            return if all { pull } else { Actions::default() };
        }
        self.own_rights(user, repo)
    }

    /// The actions the users file itself gives `user` (or anonymous) on `repo`.
    fn own_rights(&self, user: Option<&str>, repo: &str) -> Actions {
        self.rules(user)
            .filter(|r| r.patterns.iter().any(|p| p.matches(repo)))
            .fold(Actions::default(), |set, r| set.union(r.actions))
    }

    fn may_list_catalog(&self, user: Option<&str>) -> bool {
        self.rules(user).any(|r| {
            r.actions.contains(Actions::of(&[Action::Pull])) && r.patterns.contains(&Pattern::Any)
        })
    }

    /// Whether `user` passes the base check: a user always, anonymous when it has a right.
    fn may_enter(&self, user: Option<&str>) -> bool {
        user.is_some() || self.anonymous.iter().any(|r| !r.actions.is_empty())
    }

    fn allows(&self, user: Option<&str>, need: &Need) -> bool {
        self.may_enter(user)
            && need.repo.as_ref().is_none_or(|repo| {
                self.rights(user, repo.as_str())
                    .contains(Actions::of(&need.actions))
            })
            && (!need.catalog || self.may_list_catalog(user))
    }
}

enum Credentials<'a> {
    Basic { user: String, password: String },
    Bearer(&'a str),
    Malformed,
}

fn parse_authorization(value: &str) -> Credentials<'_> {
    let value = value.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = BASE64
            .decode(rest.as_bytes())
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        match decoded.as_deref().and_then(|d| d.split_once(':')) {
            Some((user, password)) => Credentials::Basic {
                user: user.to_owned(),
                password: password.to_owned(),
            },
            None => Credentials::Malformed,
        }
    } else if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
        Credentials::Bearer(rest)
    } else {
        Credentials::Malformed
    }
}

/// Quotes `s` as an HTTP quoted-string.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn challenge(realm: &str, need: &Need, error: Option<&str>) -> String {
    let mut value = format!("Bearer realm={},service={}", quoted(realm), quoted(SERVICE));
    if let Some(scope) = need.scope() {
        let _ = write!(value, ",scope={}", quoted(&scope));
    }
    if let Some(error) = error {
        let _ = write!(value, ",error={}", quoted(error));
    }
    value
}

fn describe(need: &Need) -> String {
    need.scope()
        .unwrap_or_else(|| "access to the registry".to_owned())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Who may do what, and the key that signs this server's tokens.
pub struct AccessControl {
    /// `None`: no users file, everyone may do everything.
    policy: Option<Policy>,
    token_key: hmac::Key,
    /// Keys Basic credentials that passed argon2 (an HMAC under a per-process key, so
    /// that the cache holds nothing a password could be guessed from offline), with when
    /// they did; remembered for `verified_ttl`.
    verified: Mutex<HashMap<[u8; 32], Instant>>,
    verified_ttl: Duration,
    cache_key: hmac::Key,
    throttle: Throttle,
}

impl fmt::Debug for AccessControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessControl")
            .field("open", &self.policy.is_none())
            .field("users", &self.policy.as_ref().map_or(0, |p| p.users.len()))
            .finish_non_exhaustive()
    }
}

impl AccessControl {
    /// No users file: everyone may do everything, without credentials.
    pub fn open() -> Self {
        Self::with_policy(None)
    }

    /// Loads the users file at `path`.
    pub fn load(path: &Path) -> Result<Self, AuthError> {
        let text = std::fs::read_to_string(path).map_err(|source| AuthError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses the text of a users file; `path` is for messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, AuthError> {
        Ok(Self::with_policy(Some(Policy::parse(text, path)?)))
    }

    fn with_policy(policy: Option<Policy>) -> Self {
        let rng = SystemRandom::new();
        let random_key = || {
            hmac::Key::generate(hmac::HMAC_SHA256, &rng)
                .expect("the system's random number generator works")
        };
        let limits = crate::limits::Limits::default();
        Self {
            policy,
            token_key: random_key(),
            verified: Mutex::new(HashMap::new()),
            verified_ttl: limits.verified_password_ttl,
            cache_key: random_key(),
            throttle: Throttle::new(&limits),
        }
    }

    /// Applies the password-check limits (concurrency, failures, cache lifetime).
    #[must_use]
    pub fn with_limits(mut self, limits: &crate::limits::Limits) -> Self {
        self.verified_ttl = limits.verified_password_ttl;
        self.throttle = Throttle::new(limits);
        self
    }

    /// Signs tokens with `key` rather than a random per-process key, so that tokens
    /// survive a restart or are shared between instances.
    #[must_use]
    pub fn with_token_key(mut self, key: &[u8]) -> Self {
        self.token_key = hmac::Key::new(hmac::HMAC_SHA256, key);
        self
    }

    /// Declares derived repositories (see [`crate::extension`]): `derived(repo)` names the
    /// repositories `repo` is made from. Their only right is pull, held by who may pull all
    /// of the sources; requests and token scopes are decided the same way.
    #[must_use]
    pub fn with_derived(mut self, derived: crate::extension::DerivedRepos) -> Self {
        if let Some(policy) = &mut self.policy {
            policy.derived = Some(derived);
        }
        self
    }

    /// Whether the users file lets `user` (or anonymous) do what `need` asks, whatever
    /// its credentials or token carry.
    pub fn may(&self, user: Option<&str>, need: &Need) -> bool {
        self.policy.as_ref().is_none_or(|p| p.allows(user, need))
    }

    /// Whether there is no users file (everyone may do everything).
    pub fn is_open(&self) -> bool {
        self.policy.is_none()
    }

    /// Decides whether a request with this `Authorization` header may do what it needs.
    /// `realm` is the absolute URL of the token endpoint, for the challenge.
    ///
    /// Basic credentials seen for the first time cost one argon2 verification (tens of
    /// milliseconds of CPU); later ones are answered from a cache. The client's address
    /// is unknown here; see [`AccessControl::authorize_from`].
    pub fn authorize(
        &self,
        authorization: Option<&str>,
        need: &Need,
        realm: &str,
    ) -> Result<Identity, Denial> {
        self.authorize_at(UNKNOWN_CLIENT, authorization, need, realm, unix_now())
    }

    /// [`AccessControl::authorize`] for a request from `client`, whose failed logins
    /// count against it (a 429 once it used up its budget).
    pub fn authorize_from(
        &self,
        client: IpAddr,
        authorization: Option<&str>,
        need: &Need,
        realm: &str,
    ) -> Result<Identity, Denial> {
        self.authorize_at(client, authorization, need, realm, unix_now())
    }

    fn authorize_at(
        &self,
        client: IpAddr,
        authorization: Option<&str>,
        need: &Need,
        realm: &str,
        now: u64,
    ) -> Result<Identity, Denial> {
        let Some(policy) = &self.policy else {
            return Ok(Identity::Anonymous);
        };
        let lacking =
            |user: &str| Denial::denied(format!("user `{user}` may not have {}", describe(need)));
        match authorization.map(parse_authorization) {
            None => {
                if policy.allows(None, need) {
                    Ok(Identity::Anonymous)
                } else {
                    Err(Denial::unauthorized(
                        challenge(realm, need, None),
                        format!("authentication required for {}", describe(need)),
                    ))
                }
            }
            Some(Credentials::Basic { user, password }) => {
                match self.verify_basic(policy, client, &user, &password) {
                    Verdict::Valid => {}
                    Verdict::Invalid => {
                        return Err(Denial::unauthorized(
                            challenge(realm, need, None),
                            "invalid user name or password",
                        ));
                    }
                    Verdict::Throttled(wait, why) => return Err(Denial::throttled(wait, why)),
                }
                if policy.allows(Some(&user), need) {
                    Ok(Identity::User(user))
                } else {
                    Err(lacking(&user))
                }
            }
            Some(Credentials::Bearer(token)) => {
                let claims = match self.verify_token(token, now) {
                    Ok(claims) => claims,
                    Err(problem) => {
                        let message = match problem {
                            TokenProblem::Invalid => "the token is not valid",
                            TokenProblem::Expired => "the token has expired",
                        };
                        return Err(Denial::unauthorized(
                            challenge(realm, need, Some("invalid_token")),
                            message,
                        ));
                    }
                };
                if claims.grants(need) {
                    return Ok(claims.identity());
                }
                match &claims.sub {
                    // A user who may not, whatever token they fetch: more tokens won't help.
                    Some(user) if !policy.allows(Some(user), need) => Err(lacking(user)),
                    // Distribution's answer to a token with too narrow a scope: the client
                    // fetches a new one for the scope in the challenge.
                    _ => Err(Denial::unauthorized(
                        challenge(realm, need, Some("insufficient_scope")),
                        format!("the token does not grant {}", describe(need)),
                    )),
                }
            }
            Some(Credentials::Malformed) => Err(Denial::unauthorized(
                challenge(realm, need, None),
                "the `Authorization` header is neither valid Basic nor Bearer credentials",
            )),
        }
    }
}

/// The client of a call that does not say (counted as one client).
const UNKNOWN_CLIENT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);

#[cfg(test)]
mod tests;
