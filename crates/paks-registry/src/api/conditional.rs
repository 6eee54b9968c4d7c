//! Conditional tag writes: a manifest `PUT` to a tag with `If-Match: "<digest>"` (the tag
//! still names that manifest) or `If-None-Match: *` (the tag does not exist yet) is
//! refused with 412 when the tag moved. Clients that read, modify and write back a tag
//! (the referrers tag fallback) use it so that concurrent writers do not lose each other's
//! changes. Tag writes of this process are serialised per tag so the check and the write
//! are one step; a storage shared by several processes makes the write itself conditional
//! (`Storage::put_manifest_if`: a compare-and-swap where the object store honours them).

use std::hash::{DefaultHasher, Hash, Hasher};

use axum::http::{HeaderMap, StatusCode, header};
use paks_types::Digest;
use tokio::sync::{Mutex, MutexGuard};

use super::{ApiError, Code};

/// What a `PUT` requires of the tag it writes (the storage checks it when it writes).
pub use crate::storage::TagCondition as Condition;

impl Condition {
    /// The condition of a request's headers, if it has one.
    pub fn of(headers: &HeaderMap) -> Result<Option<Self>, ApiError> {
        let text = |name| {
            headers
                .get(name)
                .map(|v| v.to_str().map(str::trim).unwrap_or_default())
        };
        if let Some(v) = text(header::IF_NONE_MATCH) {
            return if v == "*" {
                Ok(Some(Self::Absent))
            } else {
                Err(unsupported(format!(
                    "`If-None-Match: {v}` is not supported on a manifest `PUT`; only `*`"
                )))
            };
        }
        let Some(v) = text(header::IF_MATCH) else {
            return Ok(None);
        };
        if v == "*" {
            return Ok(Some(Self::Exists));
        }
        let quoted = v.strip_prefix('"').and_then(|v| v.strip_suffix('"'));
        match quoted.and_then(|d| d.parse::<Digest>().ok()) {
            Some(d) => Ok(Some(Self::Matches(d))),
            None => Err(unsupported(format!(
                "`If-Match: {v}` is not `\"<digest>\"` or `*`"
            ))),
        }
    }

    /// Refuses (412) when the tag, now naming `current`, does not meet the condition.
    pub fn check(&self, tag: &str, current: Option<&Digest>) -> Result<(), ApiError> {
        if self.holds(current) {
            Ok(())
        } else {
            Err(refused(tag, current))
        }
    }
}

/// The 412 of a `PUT` whose condition does not hold: the tag `tag` names `current`.
pub fn refused(tag: &str, current: Option<&Digest>) -> ApiError {
    let now = current.map_or_else(|| "does not exist".to_owned(), |d| format!("names `{d}`"));
    ApiError::new(
        Code::ManifestInvalid,
        format!("the tag `{tag}` {now}: the condition of this `PUT` does not hold"),
    )
    .with_status(StatusCode::PRECONDITION_FAILED)
    .with_detail(serde_json::json!({ "tag": tag, "current": current.map(ToString::to_string) }))
}

fn unsupported(message: String) -> ApiError {
    ApiError::new(Code::Unsupported, message).with_status(StatusCode::BAD_REQUEST)
}

/// Locks that serialise the tag writes of this process, striped by repository and tag.
pub struct TagLocks(Vec<Mutex<()>>);

/// How many stripes: enough that unrelated pushes rarely wait for each other.
const STRIPES: usize = 64;

impl Default for TagLocks {
    fn default() -> Self {
        Self((0..STRIPES).map(|_| Mutex::new(())).collect())
    }
}

impl TagLocks {
    /// Locks every tag of `repo` in `tags`, in a fixed order (so two writers of the same
    /// tags cannot deadlock); released when the guards drop.
    pub async fn lock(&self, repo: &str, tags: &[String]) -> Vec<MutexGuard<'_, ()>> {
        let mut stripes: Vec<usize> = tags
            .iter()
            .map(|t| {
                let mut h = DefaultHasher::new();
                (repo, t).hash(&mut h);
                usize::try_from(h.finish() % STRIPES as u64).expect("below STRIPES")
            })
            .collect();
        stripes.sort_unstable();
        stripes.dedup();
        let mut guards = Vec::with_capacity(stripes.len());
        for s in stripes {
            guards.push(self.0[s].lock().await);
        }
        guards
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn conditions_parse() {
        let d = Digest::sha256_of(b"x");
        assert_eq!(Condition::of(&HeaderMap::new()).unwrap(), None);
        assert_eq!(
            Condition::of(&headers(header::IF_MATCH, &format!("\"{d}\""))).unwrap(),
            Some(Condition::Matches(d))
        );
        assert_eq!(
            Condition::of(&headers(header::IF_MATCH, "*")).unwrap(),
            Some(Condition::Exists)
        );
        assert_eq!(
            Condition::of(&headers(header::IF_NONE_MATCH, "*")).unwrap(),
            Some(Condition::Absent)
        );
        assert!(Condition::of(&headers(header::IF_MATCH, "sha256:abc")).is_err());
        assert!(Condition::of(&headers(header::IF_NONE_MATCH, "\"x\"")).is_err());
    }

    #[test]
    fn a_moved_tag_fails_the_condition() {
        let (a, b) = (Digest::sha256_of(b"a"), Digest::sha256_of(b"b"));
        let matches = Condition::Matches(a.clone());
        assert!(matches.check("t", Some(&a)).is_ok());
        assert!(matches.check("t", Some(&b)).is_err());
        assert!(matches.check("t", None).is_err());
        assert!(Condition::Absent.check("t", None).is_ok());
        assert!(Condition::Absent.check("t", Some(&a)).is_err());
        assert!(Condition::Exists.check("t", Some(&a)).is_ok());
        assert!(Condition::Exists.check("t", None).is_err());
    }
}
