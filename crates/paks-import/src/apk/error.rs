//! The one error enum of the Alpine reader.

use std::io;

/// Why an `.apk` package, its `.PKGINFO` or an `APKINDEX` could not be read or trusted.
#[derive(Debug, thiserror::Error)]
pub enum ApkError {
    /// Reading the input failed.
    #[error("failed to read `{what}`")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    /// A gzip stream is corrupt or ends early.
    #[error("the {stream} stream is not valid gzip (truncated or corrupt)")]
    Gzip {
        stream: &'static str,
        #[source]
        source: io::Error,
    },
    /// A tar inside a stream is corrupt or ends early.
    #[error("the {stream} stream holds an invalid tar")]
    Tar {
        stream: &'static str,
        #[source]
        source: io::Error,
    },
    /// A stream decompresses to more than the reader accepts.
    #[error("the {stream} stream is larger than the limit of {limit} bytes")]
    TooLarge { stream: &'static str, limit: u64 },
    /// The package has no control stream, or it lacks `.PKGINFO`.
    #[error("the package has no `.PKGINFO` in its control stream")]
    MissingPkgInfo,
    /// The package ends after its control stream.
    #[error("the package has no data stream after its control stream")]
    MissingData,
    /// An entry the format does not allow in this stream.
    #[error("unexpected entry `{name}` in the {stream} stream")]
    UnexpectedEntry { stream: &'static str, name: String },
    /// A `.PKGINFO` or `APKINDEX` line is malformed.
    #[error("line {line} of `{file}` is malformed: `{text}`")]
    Syntax {
        file: &'static str,
        line: usize,
        text: String,
    },
    /// A required field is absent.
    #[error("`{file}` has no `{field}` field")]
    MissingField {
        file: &'static str,
        field: &'static str,
    },
    /// A field's value cannot be parsed.
    #[error("invalid {field} `{value}`")]
    InvalidValue { field: &'static str, value: String },
    /// The data stream's sha256 differs from `.PKGINFO`'s `datahash`.
    #[error("the data stream's sha256 is `{actual}`, but `.PKGINFO` says `datahash = {expected}`")]
    DataHash { expected: String, actual: String },
    /// A signature from a trusted key does not match the signed stream.
    #[error("the signature by trusted key `{key}` does not match the {stream} stream")]
    BadSignature { key: String, stream: &'static str },
    /// No signature stream at all, where one is required.
    #[error("the {what} is unsigned")]
    Unsigned { what: &'static str },
    /// Signed, but by no key the caller trusts.
    #[error("the {what} is signed by `{keys}`, which is not a trusted key")]
    UntrustedKey { what: &'static str, keys: String },
    /// A public key file could not be parsed.
    #[error("`{name}` is not a PEM RSA public key")]
    BadKey {
        name: String,
        #[source]
        source: rsa::pkcs8::spki::Error,
    },
    /// The package's control checksum differs from the index's `C:` line.
    #[error("the package's control checksum is `{actual}`, but the index says `C:{expected}`")]
    IndexChecksum { expected: String, actual: String },
}

impl From<paks_types::AlpineVersionError> for ApkError {
    fn from(e: paks_types::AlpineVersionError) -> Self {
        Self::InvalidValue {
            field: "version",
            value: e.value,
        }
    }
}
