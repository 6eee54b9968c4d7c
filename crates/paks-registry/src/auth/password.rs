//! Passwords: argon2id hashes for the users file, and checking Basic credentials against
//! them, bounded by the [`Throttle`](super::throttle::Throttle) and remembered briefly.

use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use super::{AccessControl, Policy, VERIFIED_CACHE_LIMIT};

pub(super) fn check_phc(phc: &str) -> Result<(), String> {
    let hash = PasswordHash::new(phc).map_err(|e| e.to_string())?;
    if !matches!(hash.algorithm.as_str(), "argon2id" | "argon2i" | "argon2d") {
        return Err(format!("the algorithm is `{}`, not argon2", hash.algorithm));
    }
    argon2::Params::try_from(&hash).map_err(|e| e.to_string())?;
    if hash.hash.is_none() || hash.salt.is_none() {
        return Err("it has no salt or no hash".into());
    }
    Ok(())
}

/// Hashes `password` with argon2id, a random salt and the default parameters, as a PHC
/// string for the users file.
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    SystemRandom::new()
        .fill(&mut salt)
        .expect("the system's random number generator works");
    let salt = SaltString::encode_b64(&salt).expect("16 bytes make a valid salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("the default argon2 parameters are valid")
        .to_string()
}

#[cfg(test)]
pub(super) fn verify_password(password: &str, phc: &str) -> bool {
    verify_in(password, phc, &mut Vec::new())
}

/// Checks `password` against the PHC string `phc`, with `memory` as argon2's work area
/// (grown to the hash's memory cost and kept by the caller, so that a few reused areas
/// serve every check rather than one fresh allocation of ~19 MiB per check, which the
/// allocator's per-thread arenas then keep).
pub(super) fn verify_in(password: &str, phc: &str, memory: &mut Vec<argon2::Block>) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(expected), Some(salt)) = (hash.hash, hash.salt) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        argon2::Algorithm::try_from(hash.algorithm),
        argon2::Params::try_from(&hash),
    ) else {
        return false;
    };
    let Ok(version) = hash
        .version
        .map_or(Ok(argon2::Version::default()), argon2::Version::try_from)
    else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    memory.resize(params.block_count(), argon2::Block::default());
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut memory[..])
        .is_ok()
        // `Output`'s equality is constant-time.
        && argon2::password_hash::Output::new(&out).is_ok_and(|actual| actual == expected)
}

/// A hash to verify against when the user does not exist, so that the answer takes as
/// long as for a wrong password and does not tell which user names exist.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy"))
}

/// The outcome of checking Basic credentials.
pub(super) enum Verdict {
    Valid,
    Invalid,
    /// Not checked: too many checks run, or too many failed; wait this long.
    Throttled(Duration, &'static str),
}

impl AccessControl {
    /// Checks Basic credentials: from the cache of recent successes, else with argon2 in
    /// one of a few slots, unless the client or the user used up its failed logins.
    pub(super) fn verify_basic(
        &self,
        policy: &Policy,
        client: IpAddr,
        user: &str,
        password: &str,
    ) -> Verdict {
        let tag = hmac::sign(&self.cache_key, format!("{user}:{password}").as_bytes());
        let key: [u8; 32] = tag.as_ref().try_into().expect("HMAC-SHA256 is 32 bytes");
        if self
            .verified
            .lock()
            .expect("not poisoned")
            .get(&key)
            .is_some_and(|at| at.elapsed() < self.verified_ttl)
        {
            return Verdict::Valid;
        }
        // Only user names that exist get a budget, so that made-up names cannot fill memory.
        let known = policy.users.get(user);
        let budget_user = known.map(|_| user);
        if let Some(wait) = self.throttle.wait(client, budget_user) {
            return Verdict::Throttled(
                wait,
                "too many failed logins from this client or for this user",
            );
        }
        let Some(mut slot) = self.throttle.enter() else {
            return Verdict::Throttled(Duration::from_secs(1), "too many password checks at once");
        };
        let ok = if let Some(u) = known {
            verify_in(password, &u.password, slot.memory())
        } else {
            verify_in(password, decoy_hash(), slot.memory());
            false
        };
        if !ok {
            self.throttle.failed(client, budget_user);
            return Verdict::Invalid;
        }
        let mut verified = self.verified.lock().expect("not poisoned");
        if verified.len() >= VERIFIED_CACHE_LIMIT {
            let ttl = self.verified_ttl;
            verified.retain(|_, at| at.elapsed() < ttl);
            if verified.len() >= VERIFIED_CACHE_LIMIT {
                verified.clear();
            }
        }
        verified.insert(key, Instant::now());
        Verdict::Valid
    }
}
