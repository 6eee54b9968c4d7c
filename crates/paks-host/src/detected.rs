//! [`Detected`]: a part of the profile that may not be detectable.

use serde::{Deserialize, Serialize};

/// A part of the profile that may not be detectable; never fails the whole detection.
///
/// In JSON: `{"known": …}` or `{"unknown": "why"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Detected<T> {
    /// The value found on this host (or given by a profile file).
    Known(T),
    /// Why the value could not be found: `cannot read /etc/os-release: …`.
    Unknown(String),
}

impl<T> Default for Detected<T> {
    fn default() -> Self {
        Self::Unknown("not detected".to_owned())
    }
}

impl<T> Detected<T> {
    /// The value, if it is known.
    pub fn known(&self) -> Option<&T> {
        match self {
            Self::Known(v) => Some(v),
            Self::Unknown(_) => None,
        }
    }

    /// The value, if it is known, by value.
    pub fn into_known(self) -> Option<T> {
        match self {
            Self::Known(v) => Some(v),
            Self::Unknown(_) => None,
        }
    }

    /// Why the value is unknown; `None` when it is known.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Known(_) => None,
            Self::Unknown(why) => Some(why),
        }
    }

    /// Whether the value is known.
    pub fn is_known(&self) -> bool {
        matches!(self, Self::Known(_))
    }

    /// Applies `f` to a known value; an unknown one keeps its reason.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Detected<U> {
        match self {
            Self::Known(v) => Detected::Known(f(v)),
            Self::Unknown(why) => Detected::Unknown(why),
        }
    }

    /// `Known` for `Some`, else `Unknown(why())`.
    pub fn from_option(value: Option<T>, why: impl FnOnce() -> String) -> Self {
        value.map_or_else(|| Self::Unknown(why()), Self::Known)
    }
}

impl<T> From<Result<T, String>> for Detected<T> {
    fn from(r: Result<T, String>) -> Self {
        match r {
            Ok(v) => Self::Known(v),
            Err(why) => Self::Unknown(why),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_forms() {
        let k: Detected<String> = Detected::Known("6.1.0".into());
        assert_eq!(serde_json::to_string(&k).unwrap(), r#"{"known":"6.1.0"}"#);
        let u: Detected<String> = Detected::Unknown("no uname".into());
        assert_eq!(
            serde_json::to_string(&u).unwrap(),
            r#"{"unknown":"no uname"}"#
        );
        assert_eq!(
            serde_json::from_str::<Detected<String>>(r#"{"unknown":"no uname"}"#).unwrap(),
            u
        );
        assert_eq!(Detected::<u32>::default().reason(), Some("not detected"));
        assert_eq!(k.known().map(String::as_str), Some("6.1.0"));
        assert_eq!(u.known(), None);
    }
}
