//! Keys and thresholds of a sharded index (`docs/index-format.md`, "Keys, thresholds and
//! rotation"): who signs a root that `paks index build` writes (each `--sign`), which
//! keys the new root names for the next one and how many must sign (`--root-keys`,
//! `--threshold`), and the threshold `paks repo add --key … --threshold K` accepts (a
//! client's first [`paks_index::TrustedRoot`] is its keys and that threshold).

use std::path::PathBuf;

use paks_index::{PublicKey, RootKeys, SigningKey};

use crate::Failure;
use crate::catalog::read_key_arg;
use crate::commands::user_error;
use crate::repos::index_failure;

/// How `paks index build` signs, and what a new root says about the next one.
#[derive(Debug)]
pub struct RootSigning {
    /// Every `--sign` key, each once.
    pub signers: Vec<SigningKey>,
    /// The new root's keys and threshold: `--root-keys` (default: the signers' public
    /// keys) and `--threshold` (default 1).
    pub root: RootKeys,
    /// Whether `--root-keys` or `--threshold` was given (they describe a sharded root).
    pub explicit: bool,
}

impl RootSigning {
    /// Refuse `--root-keys` and `--threshold` for a schema-1 index, which names no keys.
    pub fn single_format(&self) -> Result<&[SigningKey], Failure> {
        if self.explicit {
            return Err(user_error(
                "`--root-keys` and `--threshold` set a sharded index's root keys; this builds a single index (schema 1)",
                Some("add `--format sharded`, or leave them out".into()),
            ));
        }
        Ok(&self.signers)
    }
}

/// Load the `--sign` keys and check the new root's keys and threshold: a threshold of 0 or
/// above the number of root keys is a user error (such a root could never be followed).
pub fn root_signing(
    sign: &[PathBuf],
    root_keys: &[String],
    threshold: Option<u32>,
) -> Result<RootSigning, Failure> {
    let mut signers: Vec<SigningKey> = Vec::new();
    for path in sign {
        let key = SigningKey::load(path).map_err(index_failure)?;
        if !signers.iter().any(|k| k.public_key() == key.public_key()) {
            signers.push(key);
        }
    }
    let keys = if root_keys.is_empty() {
        paks_index::root_keys(signers.iter().map(SigningKey::public_key))
    } else {
        let parsed = root_keys
            .iter()
            .map(|k| {
                let text = read_key_arg(k)?;
                PublicKey::parse(&text).map_err(index_failure)
            })
            .collect::<Result<Vec<_>, _>>()?;
        paks_index::root_keys(&parsed)
    };
    // No keys at all is an unsigned repository (threshold 1 by convention, never checked).
    if !keys.is_empty() || threshold.is_some() {
        check_threshold(threshold.unwrap_or(1), keys.len(), "--root-keys")?;
    }
    Ok(RootSigning {
        signers,
        root: RootKeys {
            keys,
            threshold: threshold.unwrap_or(1),
        },
        explicit: !root_keys.is_empty() || threshold.is_some(),
    })
}

/// How many distinct keys `keys` holds.
pub fn distinct(keys: &[PublicKey]) -> usize {
    keys.iter()
        .map(PublicKey::keyid)
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}

/// A threshold must be between 1 and the number of distinct keys.
pub fn check_threshold(threshold: u32, keys: usize, flag: &str) -> Result<(), Failure> {
    if threshold >= 1 && threshold as usize <= keys {
        return Ok(());
    }
    Err(user_error(
        format!(
            "`--threshold {threshold}` needs between 1 and {keys} signature{} ({keys} distinct key{} given)",
            if keys == 1 { "" } else { "s" },
            if keys == 1 { "" } else { "s" },
        ),
        Some(format!(
            "give at least {threshold} distinct keys with `{flag}`, or a lower `--threshold`"
        )),
    ))
}
