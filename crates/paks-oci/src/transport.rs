//! Where an image or package is, written as skopeo and ORAS users write it: one parser
//! for every command that reads or writes images (`inspect`, `compat`, `copy`, `pull`).
//!
//! | written | meaning |
//! | --- | --- |
//! | `REGISTRY/REPO[:TAG][@DIGEST]`, `docker://…` | a registry |
//! | `NAME[:TAG]` (no registry) | the default registry, when the caller gives one |
//! | `oci:DIR[:TAG]` | an OCI image layout directory |
//! | `oci-archive:FILE[:TAG]` | a tar of an OCI image layout |
//! | `FILE.pak` | a paks package archive, which is an `oci-archive` |
//! | `docker-archive:FILE[:NAME:TAG]` | what `docker save` writes |

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::error::{ErrorKind, OciError};
use crate::reference::{Reference, is_valid_registry, is_valid_tag};

/// The registry that Docker's short names mean.
pub const DOCKER_HUB: &str = "docker.io";

/// One place an image can be read from or written to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// `REGISTRY/REPO[:TAG][@DIGEST]`, optionally written `docker://…`.
    Registry(Reference),
    /// `oci:DIR[:TAG]`.
    Layout { dir: PathBuf, tag: Option<String> },
    /// `oci-archive:FILE[:TAG]`, or a `.pak` file.
    OciArchive { file: PathBuf, tag: Option<String> },
    /// `docker-archive:FILE[:NAME:TAG]`.
    DockerArchive { file: PathBuf, name: Option<String> },
}

/// The forms [`Location`] accepts, for hints.
pub const LOCATION_FORMS: &str = "`REGISTRY/REPO[:TAG]` (or `docker://…`), `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`, `FILE.pak` or `docker-archive:FILE[:NAME:TAG]`";

/// `PATH[:TAG]`: the tag is after the last `:` when that part is a valid tag (a path
/// with a `:` in its last component needs the tag written too).
fn path_and_tag(rest: &str) -> (&str, Option<String>) {
    match rest.rsplit_once(':') {
        Some((p, t)) if !p.is_empty() && !t.contains('/') && is_valid_tag(t) => {
            (p, Some(t.to_owned()))
        }
        _ => (rest, None),
    }
}

fn invalid(value: &str, reason: &str) -> OciError {
    ErrorKind::InvalidReference {
        value: value.to_owned(),
        reason: reason.to_owned(),
    }
    .into()
}

impl Location {
    /// Parse `s`; a registry reference without a registry (`ubuntu:24.04`) is taken as on
    /// `default_registry` when one is given (see [`Reference::parse_short`]), else refused.
    /// The `bool` says whether a short name was expanded.
    pub fn parse(s: &str, default_registry: Option<&str>) -> Result<(Self, bool), OciError> {
        let file = |transport: &str, form: &str| -> Result<(PathBuf, Option<String>), OciError> {
            let rest = &s[transport.len()..];
            let (path, tag) = path_and_tag(rest);
            if path.is_empty() {
                return Err(invalid(s, &format!("expected `{form}`")));
            }
            Ok((path.into(), tag))
        };
        if s.starts_with("oci:") {
            let (dir, tag) = file("oci:", "oci:DIR[:TAG]")?;
            return Ok((Self::Layout { dir, tag }, false));
        }
        if s.starts_with("oci-archive:") {
            let (file, tag) = file("oci-archive:", "oci-archive:FILE[:TAG]")?;
            return Ok((Self::OciArchive { file, tag }, false));
        }
        if let Some(rest) = s.strip_prefix("docker-archive:") {
            // `FILE[:NAME:TAG]`: the file ends at the first `:`.
            let (file, name) = match rest.split_once(':') {
                Some((f, n)) if !n.is_empty() => (f, Some(n.to_owned())),
                _ => (rest, None),
            };
            if file.is_empty() {
                return Err(invalid(s, "expected `docker-archive:FILE[:NAME:TAG]`"));
            }
            return Ok((
                Self::DockerArchive {
                    file: file.into(),
                    name,
                },
                false,
            ));
        }
        // A package archive by its file name: no registry reference ends in `.pak`
        // followed by nothing (it would be a repository named `*.pak` without a tag).
        if std::path::Path::new(s)
            .extension()
            .is_some_and(|e| e == "pak")
            && !s.starts_with("docker://")
        {
            return Ok((
                Self::OciArchive {
                    file: s.into(),
                    tag: None,
                },
                false,
            ));
        }
        let r = s.strip_prefix("docker://").unwrap_or(s);
        match default_registry {
            Some(registry) => {
                let (reference, short) = Reference::parse_short(r, registry)?;
                Ok((Self::Registry(reference), short))
            }
            None => Ok((Self::Registry(r.parse()?), false)),
        }
    }

    /// The registry reference, if this is one.
    pub fn reference(&self) -> Option<&Reference> {
        match self {
            Self::Registry(r) => Some(r),
            _ => None,
        }
    }
}

impl FromStr for Location {
    type Err = OciError;
    /// Parse without short names: a registry reference must name its registry.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s, None).map(|(l, _)| l)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (transport, path, suffix) = match self {
            Self::Registry(r) => return write!(f, "{r}"),
            Self::Layout { dir, tag } => ("oci", dir, tag),
            Self::OciArchive { file, tag } => ("oci-archive", file, tag),
            Self::DockerArchive { file, name } => ("docker-archive", file, name),
        };
        write!(f, "{transport}:{}", path.display())?;
        if let Some(s) = suffix {
            write!(f, ":{s}")?;
        }
        Ok(())
    }
}

impl Reference {
    /// Parse a reference that may leave out its registry, as Docker's short names do:
    /// when the first component is not a registry host (no `.` or `:`, not `localhost`),
    /// the reference is on `default_registry`, and on Docker Hub a one-component name is
    /// under `library/` (`ubuntu:24.04` → `docker.io/library/ubuntu:24.04`). The `bool`
    /// says whether the registry was filled in.
    pub fn parse_short(s: &str, default_registry: &str) -> Result<(Self, bool), OciError> {
        let first = s.split(['/', '@']).next().unwrap_or(s);
        let has_registry = s.contains('/') && is_valid_registry(first);
        if has_registry {
            return Ok((s.parse()?, false));
        }
        let before_digest = s.split('@').next().unwrap_or(s);
        let path = before_digest
            .rsplit_once(':')
            .map_or(before_digest, |(p, _)| p);
        let full = if default_registry == DOCKER_HUB && !path.contains('/') {
            format!("{default_registry}/library/{s}")
        } else {
            format!("{default_registry}/{s}")
        };
        let reference = full.parse::<Self>().map_err(|_| {
            invalid(
                s,
                &format!("neither a reference nor a short name on `{default_registry}`"),
            )
        })?;
        Ok((reference, true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(s: &str) -> Location {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn parses_every_transport() {
        assert_eq!(
            loc("oci:/tmp/img:v1"),
            Location::Layout {
                dir: "/tmp/img".into(),
                tag: Some("v1".into())
            }
        );
        assert_eq!(
            loc("oci:img"),
            Location::Layout {
                dir: "img".into(),
                tag: None
            }
        );
        assert_eq!(
            loc("oci-archive:a/b.tar:2.0"),
            Location::OciArchive {
                file: "a/b.tar".into(),
                tag: Some("2.0".into())
            }
        );
        assert_eq!(
            loc("out/hello-1.0.0-abc.pak"),
            Location::OciArchive {
                file: "out/hello-1.0.0-abc.pak".into(),
                tag: None
            }
        );
        assert_eq!(
            loc("docker-archive:a.tar:busybox:1"),
            Location::DockerArchive {
                file: "a.tar".into(),
                name: Some("busybox:1".into())
            }
        );
        let r = loc("docker://127.0.0.1:5000/a/b:1");
        assert_eq!(r.to_string(), "127.0.0.1:5000/a/b:1");
        assert_eq!(loc("127.0.0.1:5000/a/b:1"), r);
        for s in [
            "oci:/tmp/img:v1",
            "oci-archive:a.tar:2",
            "docker-archive:a.tar:busybox:1",
        ] {
            assert_eq!(loc(s).to_string(), s);
        }
        for bad in ["ubuntu", "oci:", "oci-archive:", "docker-archive:"] {
            assert!(bad.parse::<Location>().is_err(), "{bad}");
        }
    }

    #[test]
    fn expands_short_names() {
        let short = |s: &str, reg: &str| {
            let (r, expanded) = Reference::parse_short(s, reg).unwrap();
            (r.to_string(), expanded)
        };
        assert_eq!(
            short("ubuntu:24.04", DOCKER_HUB),
            ("docker.io/library/ubuntu:24.04".into(), true)
        );
        assert_eq!(
            short("acme/tool", DOCKER_HUB),
            ("docker.io/acme/tool".into(), true)
        );
        assert_eq!(
            short("ubuntu", "127.0.0.1:5000"),
            ("127.0.0.1:5000/ubuntu".into(), true)
        );
        assert_eq!(
            short("ghcr.io/acme/tool:1", DOCKER_HUB),
            ("ghcr.io/acme/tool:1".into(), false)
        );
        assert_eq!(
            short("localhost/x", DOCKER_HUB),
            ("localhost/x".into(), false)
        );
        let d = paks_types::Digest::sha256_of(b"x");
        assert_eq!(
            short(&format!("busybox@{d}"), DOCKER_HUB),
            (format!("docker.io/library/busybox@{d}"), true)
        );
        assert!(Reference::parse_short("Ubuntu", DOCKER_HUB).is_err());
        let (l, expanded) = Location::parse("docker://alpine:3", Some("r.example.com")).unwrap();
        assert_eq!(
            (l.to_string(), expanded),
            ("r.example.com/alpine:3".into(), true)
        );
    }
}
