//! Image references (`registry/repo/path[:tag][@digest]`) and repositories, with the
//! distribution spec's grammar for names and tags.

use std::fmt;
use std::str::FromStr;

use paks_types::Digest;

use crate::error::{ErrorKind, OciError};

/// A repository on a registry: `registry/name`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Repository {
    /// `host[:port]`, as the user wrote it.
    pub registry: String,
    /// The repository's path, matching the spec's `<name>` grammar.
    pub name: String,
}

/// A manifest in a repository, by tag, by digest, or both (`registry/name:tag@digest`).
/// With both, the digest is what is fetched, and the tag is only for display.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reference {
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl Repository {
    /// This repository's manifest tagged `tag` (not validated here; see [`is_valid_tag`]).
    pub fn reference_tag(&self, tag: &str) -> Reference {
        Reference {
            registry: self.registry.clone(),
            repository: self.name.clone(),
            tag: Some(tag.to_owned()),
            digest: None,
        }
    }

    /// This repository's manifest with digest `digest`.
    pub fn reference_digest(&self, digest: &Digest) -> Reference {
        Reference {
            registry: self.registry.clone(),
            repository: self.name.clone(),
            tag: None,
            digest: Some(digest.clone()),
        }
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.name)
    }
}

/// The error for a reference or repository `value` that breaks the grammar.
fn invalid_reference(value: &str, reason: &str) -> OciError {
    ErrorKind::InvalidReference {
        value: value.to_owned(),
        reason: reason.to_owned(),
    }
    .into()
}

impl FromStr for Repository {
    type Err = OciError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| invalid_reference(s, reason);
        let (registry, name) = split_registry(s).map_err(err)?;
        check_name(name).map_err(err)?;
        Ok(Self {
            registry: registry.to_owned(),
            name: name.to_owned(),
        })
    }
}

impl Reference {
    pub fn repo(&self) -> Repository {
        Repository {
            registry: self.registry.clone(),
            name: self.repository.clone(),
        }
    }

    /// The same repository with tag `tag` and no digest (a tag names whatever it points
    /// to now). The tag is not validated here; see [`is_valid_tag`].
    #[must_use]
    pub fn with_tag(&self, tag: &str) -> Self {
        Self {
            tag: Some(tag.to_owned()),
            digest: None,
            ..self.clone()
        }
    }

    /// The same reference pinned to `digest` (the tag, if any, is kept for display).
    #[must_use]
    pub fn with_digest(&self, digest: &Digest) -> Self {
        Self {
            digest: Some(digest.clone()),
            ..self.clone()
        }
    }

    /// What goes after `/manifests/` in a URL: the digest if there is one, else the tag,
    /// else `latest`.
    pub fn tag_or_digest(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_owned(),
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl FromStr for Reference {
    type Err = OciError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| invalid_reference(s, reason);
        let (rest, digest) = match s.split_once('@') {
            Some((rest, d)) => (
                rest,
                Some(d.parse::<Digest>().map_err(|_| {
                    err("the part after `@` must be a digest such as `sha256:<64 hex digits>`")
                })?),
            ),
            None => (s, None),
        };
        let (registry, path) = split_registry(rest).map_err(err)?;
        let (name, tag) = match path.rsplit_once(':') {
            Some((name, tag)) => {
                if !is_valid_tag(tag) {
                    return Err(err(
                        "a tag is 1 to 128 of `A-Za-z0-9_.-` and does not start with `.` or `-`",
                    ));
                }
                (name, Some(tag.to_owned()))
            }
            None => (path, None),
        };
        check_name(name).map_err(err)?;
        Ok(Self {
            registry: registry.to_owned(),
            repository: name.to_owned(),
            tag,
            digest,
        })
    }
}

/// Split `registry/rest`, checking the registry part.
fn split_registry(s: &str) -> Result<(&str, &str), &'static str> {
    let Some((registry, rest)) = s.split_once('/') else {
        return Err(
            "expected `registry/repository[:tag][@digest]`, starting with the registry host",
        );
    };
    if !is_valid_registry(registry) {
        return Err(
            "the first component must be a registry `host[:port]` (with a `.` or a `:`, or `localhost`)",
        );
    }
    Ok((registry, rest))
}

/// Whether `s` is a registry `host[:port]`: a host with a `.` or a port, or `localhost`,
/// or a bracketed IPv6 address.
pub fn is_valid_registry(s: &str) -> bool {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some((addr, after)) = rest.split_once(']') else {
            return false;
        };
        if addr.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(port) => (None, Some(port)),
                None => return false,
            },
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(s), None),
        }
    };
    if let Some(port) = port
        && (port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    let Some(host) = host else { return true };
    let labels_ok = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    labels_ok && (host.contains('.') || port.is_some() || host == "localhost")
}

pub use paks_types::distribution::is_valid_tag;

/// Whether `s` is a repository name:
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`.
pub fn is_valid_repository_name(s: &str) -> bool {
    check_name(s).is_ok()
}

fn check_name(s: &str) -> Result<(), &'static str> {
    if s.is_empty() {
        return Err("the repository name is empty");
    }
    if s.len() > paks_types::distribution::MAX_NAME_LEN {
        return Err("the repository name is longer than 255 characters");
    }
    if s.split('/')
        .all(paks_types::distribution::is_valid_name_component)
    {
        Ok(())
    } else {
        Err(
            "a repository name is `/`-separated components of `a-z0-9` joined by `.`, `_`, `__` or dashes",
        )
    }
}

/// The tag that holds the referrers of `subject` on registries without the referrers API:
/// `<algorithm>-<encoded>`, truncated to 32 and 64 characters.
pub fn referrers_tag(subject: &Digest) -> String {
    let alg = subject.algorithm().as_str();
    let hex = subject.hex();
    format!(
        "{}-{}",
        &alg[..alg.len().min(32)],
        &hex[..hex.len().min(64)]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references() {
        let d = Digest::sha256_of(b"x");
        let r: Reference = format!("127.0.0.1:5000/a/b-c:1.0@{d}").parse().unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "a/b-c");
        assert_eq!(r.tag.as_deref(), Some("1.0"));
        assert_eq!(r.digest.as_ref(), Some(&d));
        assert_eq!(r.to_string(), format!("127.0.0.1:5000/a/b-c:1.0@{d}"));
        assert_eq!(r.tag_or_digest(), d.to_string());

        let r: Reference = "ghcr.io/acme/hello".parse().unwrap();
        assert_eq!((r.tag.clone(), r.digest.clone()), (None, None));
        assert_eq!(r.tag_or_digest(), "latest");
        assert_eq!(r.with_tag("2").to_string(), "ghcr.io/acme/hello:2");
        assert_eq!(
            r.with_tag("2").with_digest(&d).to_string(),
            format!("ghcr.io/acme/hello:2@{d}")
        );
        assert_eq!(r.repo().to_string(), "ghcr.io/acme/hello");
        assert_eq!(
            r.repo().reference_tag("v").to_string(),
            "ghcr.io/acme/hello:v"
        );
        assert_eq!(
            r.repo().reference_digest(&d).to_string(),
            format!("ghcr.io/acme/hello@{d}")
        );

        for ok in [
            "localhost/x",
            "localhost:5000/a__b/c.d/e---f:_tag",
            "[::1]:5000/x:y",
            "reg.example.com/x",
        ] {
            ok.parse::<Reference>()
                .unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "alpine",
            "docker/alpine",
            "reg.example.com/",
            "reg.example.com/A",
            "reg.example.com/a//b",
            "reg.example.com/a_-b",
            "reg.example.com/a___b",
            "reg.example.com/a.",
            "reg.example.com/a:.tag",
            "reg.example.com/a:",
            "reg.example.com/a@sha256:00",
            "reg.example.com:port/a",
            "-reg.example.com/a",
        ] {
            assert!(bad.parse::<Reference>().is_err(), "{bad}");
        }
        let long_tag = format!("reg.example.com/a:{}", "t".repeat(129));
        assert!(long_tag.parse::<Reference>().is_err());
        let e = "alpine".parse::<Reference>().unwrap_err();
        assert!(
            e.to_string().starts_with("invalid reference `alpine`: "),
            "{e}"
        );
    }

    #[test]
    fn parses_repositories() {
        let r: Repository = "127.0.0.1:5000/ns/pkg".parse().unwrap();
        assert_eq!(
            (r.registry.as_str(), r.name.as_str()),
            ("127.0.0.1:5000", "ns/pkg")
        );
        assert!("127.0.0.1:5000/ns/pkg:tag".parse::<Repository>().is_err());
    }

    #[test]
    fn referrers_tags() {
        let d: Digest = format!("sha256:{}", "a".repeat(64)).parse().unwrap();
        assert_eq!(referrers_tag(&d), format!("sha256-{}", "a".repeat(64)));
        let d = Digest::sha512_of(b"x");
        assert_eq!(referrers_tag(&d), format!("sha512-{}", &d.hex()[..64]));
    }
}
