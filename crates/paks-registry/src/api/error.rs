//! The distribution spec's error responses: a status, a code, and a JSON body.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::storage::StorageError;

/// The error codes of the OCI distribution spec (and `TOOMANYREQUESTS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    SizeInvalid,
    /// distribution's code for a bad `n` of a paginated list.
    PaginationNumberInvalid,
    Unauthorized,
    Denied,
    Unsupported,
    TooManyRequests,
    /// Not a spec code: the server failed (500).
    Internal,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BlobUnknown => "BLOB_UNKNOWN",
            Self::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            Self::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            Self::DigestInvalid => "DIGEST_INVALID",
            Self::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            Self::ManifestInvalid => "MANIFEST_INVALID",
            Self::ManifestUnknown => "MANIFEST_UNKNOWN",
            Self::NameInvalid => "NAME_INVALID",
            Self::NameUnknown => "NAME_UNKNOWN",
            Self::SizeInvalid => "SIZE_INVALID",
            Self::PaginationNumberInvalid => "PAGINATION_NUMBER_INVALID",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::Denied => "DENIED",
            Self::Unsupported => "UNSUPPORTED",
            Self::TooManyRequests => "TOOMANYREQUESTS",
            Self::Internal => "INTERNAL",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Self::BlobUnknown
            | Self::BlobUploadUnknown
            | Self::ManifestUnknown
            | Self::NameUnknown
            | Self::ManifestBlobUnknown => StatusCode::NOT_FOUND,
            Self::BlobUploadInvalid
            | Self::DigestInvalid
            | Self::ManifestInvalid
            | Self::NameInvalid
            | Self::SizeInvalid
            | Self::PaginationNumberInvalid => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Denied => StatusCode::FORBIDDEN,
            Self::Unsupported => StatusCode::METHOD_NOT_ALLOWED,
            Self::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// What a client is told about a server failure; the log has the details.
const INTERNAL_MESSAGE: &str = "the registry failed to handle the request; its log says why";

/// An error answer: a spec code with a message, sent as `{"errors":[…]}`.
#[derive(Debug)]
pub struct ApiError {
    pub code: Code,
    pub status: StatusCode,
    pub message: String,
    pub detail: Option<serde_json::Value>,
    /// Extra headers (`WWW-Authenticate`, `Content-Range` of a 416, `Location`).
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
    /// For an internal error: what the server logs instead of sending it (it may name
    /// paths and other details of the host).
    pub log: Option<String>,
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            status: code.status(),
            message: message.into(),
            detail: None,
            headers: Vec::new(),
            log: None,
        }
    }

    #[must_use]
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    #[must_use]
    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = Some(detail);
        self
    }

    #[must_use]
    pub fn with_header(mut self, name: header::HeaderName, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.push((name, v));
        }
        self
    }

    /// A server failure: `detail` goes to the log, the client gets a generic message.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self::internal_with(INTERNAL_MESSAGE, detail)
    }

    /// A server failure with `message` for the client (which must not carry host
    /// details) and `detail` for the log.
    pub fn internal_with(message: &str, detail: impl std::fmt::Display) -> Self {
        let mut e = Self::new(Code::Internal, message);
        e.log = Some(detail.to_string());
        e
    }
}

#[derive(Serialize)]
struct Body<'a> {
    errors: [Entry<'a>; 1],
}

#[derive(Serialize)]
struct Entry<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a serde_json::Value>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.code == Code::Internal {
            let detail = self.log.as_deref().unwrap_or(&self.message);
            tracing::error!(target: "paks::registry", "{detail}");
        }
        let body = serde_json::to_vec(&Body {
            errors: [Entry {
                code: self.code.as_str(),
                message: &self.message,
                detail: self.detail.as_ref(),
            }],
        })
        .unwrap_or_default();
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response();
        let headers = response.headers_mut();
        for (name, value) in self.headers {
            headers.insert(name, value);
        }
        response.extensions_mut().insert(ErrorCode(self.code));
        response
    }
}

/// Marks a response with the error code it carries, for metrics.
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub Code);

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::DigestMismatch { expected, actual } => Self::new(
                Code::DigestInvalid,
                format!("the content's digest is `{actual}`, not `{expected}`"),
            ),
            StorageError::UploadUnknown(id) => {
                Self::new(Code::BlobUploadUnknown, format!("upload `{id}` is unknown"))
            }
            StorageError::BlobUnknown(d) => Self::new(
                Code::ManifestBlobUnknown,
                format!("the manifest references blob `{d}`, which is not in the repository"),
            )
            .with_detail(serde_json::json!({ "digest": d.to_string() })),
            StorageError::ManifestUnknown(d) => Self::new(
                Code::ManifestBlobUnknown,
                format!("the index references manifest `{d}`, which is not in the repository"),
            )
            .with_detail(serde_json::json!({ "digest": d.to_string() })),
            ref mismatch @ StorageError::SizeMismatch { ref digest, .. } => {
                Self::new(Code::ManifestInvalid, mismatch.to_string())
                    .with_detail(serde_json::json!({ "digest": digest.to_string() }))
            }
            other @ (StorageError::Io { .. } | StorageError::Corrupt(_)) => {
                let mut detail = other.to_string();
                let mut source = std::error::Error::source(&other);
                let mut full = false;
                while let Some(cause) = source {
                    detail.push_str(": ");
                    detail.push_str(&cause.to_string());
                    full |= cause
                        .downcast_ref::<std::io::Error>()
                        .is_some_and(|e| e.kind() == std::io::ErrorKind::StorageFull);
                    source = cause.source();
                }
                if full {
                    Self::internal_with(
                        "the registry is out of disk space; try again after its operator freed some",
                        detail,
                    )
                } else {
                    Self::internal(detail)
                }
            }
        }
    }
}
