//! What several `paks serve` replicas over one bucket must share besides the bucket: the
//! key that signs bearer tokens, so that a token one replica issued is accepted by the
//! others behind a load balancer (see docs/scale-out.md).

use std::path::{Path, PathBuf};

use ring::rand::{SecureRandom, SystemRandom};

/// The fewest bytes a token key may have (the HMAC-SHA256 key size).
pub const TOKEN_KEY_MIN_BYTES: usize = 32;

/// Why a token key file was refused.
#[derive(Debug, thiserror::Error)]
pub enum TokenKeyError {
    #[error("failed to read the token key `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the token key `{}` holds {len} bytes; it needs at least {TOKEN_KEY_MIN_BYTES}",
        path.display()
    )]
    TooShort { path: PathBuf, len: usize },
    #[error(
        "the token key `{}` may be read by other users (mode `{mode:o}`)",
        path.display()
    )]
    Readable { path: PathBuf, mode: u32 },
}

/// Reads a token key file: at least 32 bytes, written as hex (whitespace around it is
/// ignored) or raw. Refuses a file that users other than its owner and group may read,
/// since whoever holds the key can mint tokens for any user.
pub fn read_token_key(path: &Path) -> Result<Vec<u8>, TokenKeyError> {
    use std::os::unix::fs::PermissionsExt as _;
    let read = |source| TokenKeyError::Read {
        path: path.to_owned(),
        source,
    };
    let mode = std::fs::metadata(path).map_err(read)?.permissions().mode() & 0o777;
    if mode & 0o004 != 0 {
        return Err(TokenKeyError::Readable {
            path: path.to_owned(),
            mode,
        });
    }
    let bytes = std::fs::read(path).map_err(read)?;
    let key = decode_hex(&bytes).unwrap_or(bytes);
    if key.len() < TOKEN_KEY_MIN_BYTES {
        return Err(TokenKeyError::TooShort {
            path: path.to_owned(),
            len: key.len(),
        });
    }
    Ok(key)
}

/// The bytes `text` spells in hex, if it is nothing but an even number of hex digits
/// (and surrounding whitespace).
fn decode_hex(text: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(text).ok()?.trim();
    if text.is_empty() {
        return None;
    }
    data_encoding::HEXLOWER_PERMISSIVE
        .decode(text.as_bytes())
        .ok()
}

/// A new random token key, in hex (what `paks serve token-key` prints).
pub fn new_token_key() -> String {
    let mut key = [0u8; TOKEN_KEY_MIN_BYTES];
    SystemRandom::new()
        .fill(&mut key)
        .expect("the system's random number generator works");
    data_encoding::HEXLOWER.encode(&key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn file(dir: &Path, name: &str, bytes: &[u8], mode: u32) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn hex_and_raw_keys_are_read_short_and_readable_ones_refused() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let hex = new_token_key();
        assert_eq!(hex.len(), 64);
        let key = read_token_key(&file(d, "hex", format!("{hex}\n").as_bytes(), 0o600)).unwrap();
        assert_eq!(data_encoding::HEXLOWER.encode(&key), hex);
        let raw = [7u8; 40];
        assert_eq!(
            read_token_key(&file(d, "raw", &raw, 0o640)).unwrap(),
            raw.to_vec()
        );
        let short = read_token_key(&file(d, "short", &"ab".repeat(31).into_bytes(), 0o600));
        assert!(
            matches!(short, Err(TokenKeyError::TooShort { len: 31, .. })),
            "{short:?}"
        );
        let open = read_token_key(&file(d, "open", hex.as_bytes(), 0o644));
        assert!(
            matches!(open, Err(TokenKeyError::Readable { mode: 0o644, .. })),
            "{open:?}"
        );
        assert_ne!(new_token_key(), hex);
    }
}
