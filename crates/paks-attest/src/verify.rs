//! Opening a signed statement: the envelope verifies with a trusted key, it holds an
//! in-toto statement of the expected predicate type, and the statement is about the build
//! being judged. Signatures, provenance and test results all pass through here.

use paks_index::PublicKey;
use paks_types::Digest;

use crate::dsse::{DsseError, Envelope};
use crate::statement::{PAYLOAD_TYPE, Statement, StatementError};

/// Why a signed statement was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("the {what} envelope does not verify")]
    Envelope {
        what: &'static str,
        #[source]
        source: DsseError,
    },
    #[error("the {what} signed by key `{keyid}` is not a valid statement")]
    Statement {
        what: &'static str,
        keyid: String,
        #[source]
        source: StatementError,
    },
    #[error(
        "the {what} signed by key `{keyid}` is about {found}, not `{expected}`: it was made for another build"
    )]
    Subject {
        what: &'static str,
        keyid: String,
        expected: Digest,
        found: String,
    },
    #[error("the {what} signed by key `{keyid}` has a malformed predicate: {reason}")]
    Predicate {
        what: &'static str,
        keyid: String,
        reason: String,
    },
}

/// A statement whose envelope verified, with the key that signed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub key: PublicKey,
    pub statement: Statement,
}

/// Verify `envelope` (DSSE JSON) with `trusted`, parse its statement as `predicate_type`,
/// and check that `subject` is one of its subjects. `what` names the document in errors
/// ("signature", "provenance", "test result").
pub fn verify_statement(
    envelope: &[u8],
    subject: &Digest,
    trusted: &[PublicKey],
    predicate_type: &str,
    what: &'static str,
) -> Result<Verified, VerifyError> {
    let refused = |source| VerifyError::Envelope { what, source };
    let env = Envelope::parse(envelope).map_err(refused)?;
    let (payload, key) = env.verify(PAYLOAD_TYPE, trusted).map_err(refused)?;
    let keyid = key.keyid();
    let statement =
        Statement::parse(&payload, predicate_type).map_err(|source| VerifyError::Statement {
            what,
            keyid: keyid.clone(),
            source,
        })?;
    if let Err(StatementError::Subject { found, expected }) = statement.check_subject(subject) {
        return Err(VerifyError::Subject {
            what,
            keyid,
            expected,
            found,
        });
    }
    Ok(Verified {
        key: key.clone(),
        statement,
    })
}

/// Parse a verified statement's predicate as `T`.
pub(crate) fn predicate<T: serde::de::DeserializeOwned>(
    verified: &Verified,
    what: &'static str,
) -> Result<T, VerifyError> {
    serde_json::from_value(verified.statement.predicate.clone()).map_err(|e| {
        VerifyError::Predicate {
            what,
            keyid: verified.key.keyid(),
            reason: e.to_string(),
        }
    })
}
