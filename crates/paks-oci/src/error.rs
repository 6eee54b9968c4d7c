//! The crate's one error type: a boxed [`ErrorKind`], so that `Result<T, OciError>` stays
//! one pointer wide.

use std::fmt;
use std::path::PathBuf;

use paks_types::Digest;

/// Everything that can go wrong talking to a registry or an OCI image layout.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct OciError(Box<ErrorKind>);

/// What went wrong; every message names the registry, repository, digest or URL involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    #[error("invalid reference `{value}`: {reason}")]
    InvalidReference { value: String, reason: String },

    #[error("refusing plain HTTP to `{host}` (`{url}`)")]
    PlainHttpRefused { host: String, url: String },

    #[error("{what}: `{method} {url}` failed after {attempts} attempt(s)")]
    Connection {
        what: String,
        method: String,
        url: String,
        attempts: u32,
        #[source]
        source: reqwest::Error,
    },

    #[error("{what}: `{method} {url}` answered {}{}{}", status_text(*status), registry_detail(code.as_deref(), message.as_deref()), attempts_detail(*attempts))]
    Http {
        what: String,
        method: String,
        url: String,
        status: u16,
        code: Option<String>,
        message: Option<String>,
        attempts: u32,
    },

    #[error("{what}: `{registry}` refused the credentials ({}{})", status_text(*status), registry_detail(code.as_deref(), message.as_deref()))]
    Unauthorized {
        what: String,
        registry: String,
        url: String,
        status: u16,
        code: Option<String>,
        message: Option<String>,
        /// Whether credentials were sent at all.
        had_credentials: bool,
    },

    #[error("{what}: `{url}` sent content with digest `{actual}`, expected `{expected}`")]
    DigestMismatch {
        what: String,
        url: String,
        expected: Digest,
        actual: Digest,
    },

    #[error("{what}: `{url}` sent {actual} bytes, expected {expected}")]
    SizeMismatch {
        what: String,
        url: String,
        expected: u64,
        actual: u64,
    },

    #[error("{what}: `{url}` asked to retry after `{requested}` s, longer than the maximum wait of {} s", max.as_secs())]
    RetryAfterTooLong {
        what: String,
        url: String,
        requested: u64,
        max: std::time::Duration,
    },

    #[error("{what}: not done within the deadline of {} s{}", limit.as_secs(), progress.map(|(have, size)| format!(" ({have} of {} bytes received)", size.map_or_else(|| "?".to_owned(), |s| s.to_string()))).unwrap_or_default())]
    Deadline {
        what: String,
        limit: std::time::Duration,
        /// Bytes received so far, and the size expected, for downloads.
        progress: Option<(u64, Option<u64>)>,
    },

    #[error("{what}: the manifest at `{url}` is larger than the limit of {limit} bytes{}", size.map(|s| format!(" ({s} bytes)")).unwrap_or_default())]
    ManifestTooLarge {
        what: String,
        url: String,
        size: Option<u64>,
        limit: u64,
    },

    #[error("{what}: unexpected answer from `{url}`: {message}")]
    Protocol {
        what: String,
        url: String,
        message: String,
    },

    #[error("{what}: invalid JSON from `{url}`")]
    Json {
        what: String,
        url: String,
        #[source]
        source: serde_json::Error,
    },

    #[error("{what}: `{digest}` is not the digest of the manifest ({actual})")]
    ManifestDigest {
        what: String,
        digest: Digest,
        actual: Digest,
    },

    #[error("{what} `{}`", path.display())]
    Io {
        what: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("invalid credentials file `{}`", path.display())]
    CredentialsFile {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    /// A Docker credential helper failed to store or erase a login.
    #[error("{message}")]
    CredentialHelper { message: String },

    #[error("no configuration directory for `{what}`: neither `XDG_CONFIG_HOME` nor `HOME` is set")]
    NoConfigDir { what: String },

    #[error("invalid OCI image layout `{}`: {reason}", path.display())]
    Layout { path: PathBuf, reason: String },

    #[error("invalid client configuration: {0}")]
    Config(String),
}

fn status_text(status: u16) -> String {
    match reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
    {
        Some(reason) => format!("{status} {reason}"),
        None => status.to_string(),
    }
}

fn registry_detail(code: Option<&str>, message: Option<&str>) -> String {
    match (code, message) {
        (Some(c), Some(m)) if !m.is_empty() => format!(": {c}: {m}"),
        (Some(c), _) => format!(": {c}"),
        (None, Some(m)) if !m.is_empty() => format!(": {m}"),
        _ => String::new(),
    }
}

fn attempts_detail(attempts: u32) -> String {
    if attempts > 1 {
        format!(" (after {attempts} attempts)")
    } else {
        String::new()
    }
}

impl OciError {
    pub fn kind(&self) -> &ErrorKind {
        &self.0
    }

    /// The HTTP status the registry answered with, when the error is one.
    pub fn status(&self) -> Option<u16> {
        match &*self.0 {
            ErrorKind::Http { status, .. } | ErrorKind::Unauthorized { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// The registry's error `code` (`MANIFEST_UNKNOWN`, `DENIED`, ...), when it sent one.
    pub fn registry_code(&self) -> Option<&str> {
        match &*self.0 {
            ErrorKind::Http { code, .. } | ErrorKind::Unauthorized { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// What the user can do about it, where there is something.
    pub fn hint(&self) -> Option<String> {
        match &*self.0 {
            ErrorKind::Unauthorized {
                registry,
                status,
                had_credentials,
                ..
            } => Some(if *status == 403 && *had_credentials {
                format!(
                    "the credentials for `{registry}` lack access; log in as another user with `paks login {registry}`"
                )
            } else {
                format!("run `paks login {registry}`")
            }),
            ErrorKind::PlainHttpRefused { host, .. } => Some(format!(
                "if `{host}` is a trusted registry without TLS, use `--insecure {host}`"
            )),
            ErrorKind::Http { status: 429, .. } => {
                Some("the registry is limiting the request rate; try again later".into())
            }
            ErrorKind::Http {
                status: 404, what, ..
            } if what.contains("manifest") => {
                Some("check the repository name and the tag or digest".into())
            }
            ErrorKind::Connection { url, .. } if url.starts_with("https://") => Some(
                "check that the registry is reachable; a registry without TLS needs `--insecure <host>`"
                    .into(),
            ),
            ErrorKind::Connection { .. } => Some("check that the registry is reachable".into()),
            ErrorKind::DigestMismatch { .. } | ErrorKind::SizeMismatch { .. } => Some(
                "the registry or something between it and you altered the data; try again, and report it if it persists"
                    .into(),
            ),
            ErrorKind::RetryAfterTooLong { .. } => Some(
                "the registry is limiting the request rate; try again later, or allow longer waits with `PAKS_MAX_RETRY_WAIT=<seconds>`"
                    .into(),
            ),
            ErrorKind::Deadline { .. } => Some(
                "the registry is too slow or stalls; try again, or allow more time with `PAKS_TRANSFER_DEADLINE=<seconds>`"
                    .into(),
            ),
            ErrorKind::NoConfigDir { .. } => Some("set `XDG_CONFIG_HOME` or `HOME`".into()),
            _ => None,
        }
    }
}

impl From<ErrorKind> for OciError {
    fn from(kind: ErrorKind) -> Self {
        Self(Box::new(kind))
    }
}

/// Shorthand for building an IO error with its path.
pub(crate) fn io_err(
    what: impl fmt::Display,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> OciError {
    let what = what.to_string();
    let path = path.into();
    move |source| ErrorKind::Io { what, path, source }.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_things_and_hints_help() {
        let e: OciError = ErrorKind::Http {
            what: "get manifest `127.0.0.1:5000/x:1`".into(),
            method: "GET".into(),
            url: "http://127.0.0.1:5000/v2/x/manifests/1".into(),
            status: 404,
            code: Some("MANIFEST_UNKNOWN".into()),
            message: Some("manifest unknown".into()),
            attempts: 1,
        }
        .into();
        assert_eq!(
            e.to_string(),
            "get manifest `127.0.0.1:5000/x:1`: `GET http://127.0.0.1:5000/v2/x/manifests/1` answered 404 Not Found: MANIFEST_UNKNOWN: manifest unknown"
        );
        assert!(e.is_not_found());
        assert_eq!(e.registry_code(), Some("MANIFEST_UNKNOWN"));
        let e: OciError = ErrorKind::Unauthorized {
            what: "ping".into(),
            registry: "r.example.com".into(),
            url: "https://r.example.com/v2/".into(),
            status: 401,
            code: None,
            message: None,
            had_credentials: false,
        }
        .into();
        assert_eq!(e.hint().unwrap(), "run `paks login r.example.com`");
        assert_eq!(size_of::<Result<(), OciError>>(), size_of::<usize>());
    }
}
