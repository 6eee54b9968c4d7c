//! The crate's one error enum. Variants shared by every format come first; each format's
//! own variants follow, grouped under a comment (add a format's group at the end).

use std::io;

/// Characters of a field's value shown in an error.
const MAX_SHOWN: usize = 120;

/// Why a foreign package could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Reading the input failed (not a format problem).
    #[error("failed to read `{what}`")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    /// The input is larger than a limit allows.
    #[error("`{what}` is larger than the limit of {limit} bytes")]
    TooLarge { what: String, limit: u64 },

    // Debian: deb822 control data, fields, the `ar` container.
    /// A deb822 line that is neither a field, a continuation nor a stanza break.
    #[error("invalid control data at line {line}: `{text}`: {reason}")]
    Deb822 {
        line: usize,
        text: String,
        reason: &'static str,
    },
    /// A control field with a value that breaks its rules.
    #[error("invalid field `{field}`: `{value}`: {reason}")]
    Field {
        field: String,
        value: String,
        reason: String,
    },
    /// A required control field is absent.
    #[error("missing field `{field}`")]
    MissingField { field: &'static str },
    /// A `.deb` member whose contents (a compressed tarball) could not be read.
    #[error("invalid .deb: cannot read member `{member}`")]
    Member {
        member: String,
        #[source]
        source: io::Error,
    },
    /// A `.deb` whose container or members are malformed.
    #[error("invalid .deb: member `{member}`: {reason}")]
    Deb { member: String, reason: String },
}

impl ImportError {
    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn field(
        field: impl Into<String>,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        // A hostile value can be megabytes long; the start is enough to find it.
        let mut value: String = value.into();
        if let Some((cut, _)) = value.char_indices().nth(MAX_SHOWN) {
            value.truncate(cut);
            value.push('…');
        }
        Self::Field {
            field: field.into(),
            value,
            reason: reason.into(),
        }
    }
}
