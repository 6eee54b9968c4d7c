//! in-toto Statement v1: what a signed document is about (its subjects, by digest) and what
//! it says (a typed predicate).

use std::collections::BTreeMap;

use paks_types::Digest;
use serde::{Deserialize, Serialize};

use crate::{IN_TOTO_JSON, STATEMENT_V1};

/// An in-toto Statement v1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Statement {
    /// Always [`STATEMENT_V1`].
    #[serde(rename = "_type")]
    pub type_: String,
    /// What the statement is about.
    pub subject: Vec<Subject>,
    /// The predicate's type URI.
    pub predicate_type: String,
    /// The predicate.
    #[serde(default)]
    pub predicate: serde_json::Value,
}

/// One subject of a statement: a name and its digests (`{"sha256": "<hex>"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    pub name: String,
    pub digest: BTreeMap<String, String>,
}

/// Why a statement was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StatementError {
    #[error("the payload is not an in-toto statement: {0}")]
    Json(String),
    #[error("the statement's `_type` is `{0}`, expected `{STATEMENT_V1}`")]
    Type(String),
    #[error("the statement's predicate is `{found}`, expected `{expected}`")]
    Predicate { found: String, expected: String },
    #[error("the statement is about {found}, not `{expected}`: it was made for another artifact")]
    Subject { found: String, expected: Digest },
}

impl Subject {
    /// A subject named `name` with one digest.
    pub fn new(name: impl Into<String>, digest: &Digest) -> Self {
        Self {
            name: name.into(),
            digest: BTreeMap::from([(
                digest.algorithm().as_str().to_owned(),
                digest.hex().to_owned(),
            )]),
        }
    }

    /// Whether this subject is `digest`.
    pub fn is(&self, digest: &Digest) -> bool {
        self.digest
            .get(digest.algorithm().as_str())
            .map(String::as_str)
            == Some(digest.hex())
    }
}

impl Statement {
    /// A statement about `subjects`.
    pub fn new(
        subject: Vec<Subject>,
        predicate_type: impl Into<String>,
        predicate: serde_json::Value,
    ) -> Self {
        Self {
            type_: STATEMENT_V1.to_owned(),
            subject,
            predicate_type: predicate_type.into(),
            predicate,
        }
    }

    /// The JSON bytes (compact), the payload of an envelope of type [`IN_TOTO_JSON`].
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a statement serialises")
    }

    /// Parse a statement and check its `_type` and predicate type.
    pub fn parse(payload: &[u8], predicate_type: &str) -> Result<Self, StatementError> {
        let s: Self =
            serde_json::from_slice(payload).map_err(|e| StatementError::Json(e.to_string()))?;
        if s.type_ != STATEMENT_V1 {
            return Err(StatementError::Type(s.type_));
        }
        if s.predicate_type != predicate_type {
            return Err(StatementError::Predicate {
                found: s.predicate_type,
                expected: predicate_type.to_owned(),
            });
        }
        Ok(s)
    }

    /// Check that `digest` is one of the subjects.
    pub fn check_subject(&self, digest: &Digest) -> Result<(), StatementError> {
        if self.subject.iter().any(|s| s.is(digest)) {
            return Ok(());
        }
        let found = self
            .subject
            .iter()
            .flat_map(|s| s.digest.iter().map(|(a, h)| format!("`{a}:{h}`")))
            .collect::<Vec<_>>();
        Err(StatementError::Subject {
            found: if found.is_empty() {
                "nothing".to_owned()
            } else {
                found.join(", ")
            },
            expected: digest.clone(),
        })
    }
}

/// The payload type of envelopes that hold statements.
pub const PAYLOAD_TYPE: &str = IN_TOTO_JSON;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_round_trip_and_check_their_subject() {
        let d = Digest::sha256_of(b"manifest");
        let s = Statement::new(
            vec![Subject::new("hello", &d)],
            crate::SLSA_PROVENANCE_V1,
            serde_json::json!({"buildDefinition": {}}),
        );
        let bytes = s.to_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.contains("\"_type\":\"https://in-toto.io/Statement/v1\""),
            "{text}"
        );
        assert!(text.contains("\"predicateType\""), "{text}");
        let back = Statement::parse(&bytes, crate::SLSA_PROVENANCE_V1).unwrap();
        assert_eq!(back, s);
        back.check_subject(&d).unwrap();
        let other = Digest::sha256_of(b"other");
        assert!(matches!(
            back.check_subject(&other),
            Err(StatementError::Subject { .. })
        ));
        assert!(matches!(
            Statement::parse(&bytes, crate::PAKS_SIGNATURE_V1),
            Err(StatementError::Predicate { .. })
        ));
    }
}
