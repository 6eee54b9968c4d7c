//! Base images in registries: an image as written in `FROM`, normalised as Docker reads
//! it, the digest a registry serves for its tag, and a repository's tags.
//!
//! Normalisation follows Docker: the first path component is a registry when it has a
//! `.` or a `:` or is `localhost`; otherwise the image is on `docker.io`, where a
//! one-component name is under `library/`; an image with neither tag nor digest means
//! `:latest`. `index.docker.io` is `docker.io`.
//!
//! A tag's digest is what the registry serves for it when asked for every manifest type,
//! with the image index and Docker manifest list types listed first: a multi-platform tag
//! yields its index's digest, never one platform's manifest, so a pin keeps working on
//! every platform the tag covers.

use paks_oci::{Client, DOCKER_HUB, ErrorKind, OciError, Reference, Repository};
use paks_types::Digest;

/// Failures to resolve an image.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// Not an image reference (`FROM` text that Docker would refuse too).
    #[error("`{image}` is not an image reference")]
    Invalid {
        image: String,
        #[source]
        source: OciError,
    },
    /// The repository exists but has no such tag.
    #[error("tag `{tag}` of `{repository}` does not exist")]
    UnknownTag { repository: String, tag: String },
    /// The registry has no such repository.
    #[error("repository `{repository}` does not exist")]
    UnknownRepository { repository: String },
    /// The registry refused the credentials (or wants some).
    #[error("`{registry}` refused access to `{reference}`")]
    Auth {
        registry: String,
        reference: String,
        #[source]
        source: OciError,
    },
    /// Anything else between here and the registry: connections, server errors, protocol.
    #[error("failed to resolve `{reference}`")]
    Registry {
        reference: String,
        #[source]
        source: OciError,
    },
}

impl ResolveError {
    /// Whether this is the machine's or the network's fault (exit 2) rather than the
    /// user's (a typo in a tag or a name, missing credentials: exit 1).
    pub fn is_machine(&self) -> bool {
        matches!(self, Self::Registry { .. })
    }
}

/// `image` (as written in `FROM`, after `ARG` substitution) as a full reference, the way
/// Docker reads it: `python:3.12-slim` → `docker.io/library/python:3.12-slim`,
/// `ghcr.io/o/r` → `ghcr.io/o/r:latest`, `127.0.0.1:5000/base:1@sha256:…` as written.
pub fn normalize(image: &str) -> Result<Reference, ResolveError> {
    let invalid = |source| ResolveError::Invalid {
        image: image.to_owned(),
        source,
    };
    // `Reference::parse_short` knows Docker's short names; what it leaves is the
    // `index.docker.io` alias and `docker.io/name`, which Docker reads as under `library/`.
    let (mut reference, _) = Reference::parse_short(image, DOCKER_HUB).map_err(invalid)?;
    if reference.registry == "index.docker.io" {
        DOCKER_HUB.clone_into(&mut reference.registry);
    }
    if reference.registry == DOCKER_HUB && !reference.repository.contains('/') {
        reference.repository = format!("library/{}", reference.repository);
    }
    if reference.tag.is_none() && reference.digest.is_none() {
        reference.tag = Some("latest".to_owned());
    }
    Ok(reference)
}

/// The digest `reference`'s registry serves now for its tag (`latest` when it has none;
/// a digest in `reference` is ignored): an index's digest for a multi-platform tag.
/// `HEAD` first; a registry that does not send `Docker-Content-Digest` is asked with `GET`
/// and the bytes are hashed.
pub async fn digest_of(client: &Client, reference: &Reference) -> Result<Digest, ResolveError> {
    let tag = reference.tag.clone().unwrap_or_else(|| "latest".to_owned());
    let by_tag = reference.with_tag(&tag);
    let shown = by_tag.to_string();
    let e = match client.head_manifest(&by_tag).await {
        Ok(Some((digest, _, _))) => return Ok(digest),
        // A `HEAD` has no body to say why: the `GET` answers with the registry's error.
        Ok(None) => match client.get_manifest(&by_tag).await {
            Ok(manifest) => return Ok(manifest.digest),
            Err(e) => classify(e, &by_tag, &shown),
        },
        Err(e) => classify(e, &by_tag, &shown),
    };
    // Distribution answers `MANIFEST_UNKNOWN` for a tag of a missing repository too; the
    // tag list tells the two apart.
    if let ResolveError::UnknownTag { .. } = e
        && let Err(ResolveError::UnknownRepository { repository }) =
            tags(client, &by_tag.repo()).await
    {
        return Err(ResolveError::UnknownRepository { repository });
    }
    Err(e)
}

/// Every tag of `repo`, in the registry's order, following `Link` pagination.
pub async fn tags(client: &Client, repo: &Repository) -> Result<Vec<String>, ResolveError> {
    let shown = repo.to_string();
    client.list_tags(repo).await.map_err(|e| match e.kind() {
        ErrorKind::Http { status: 404, .. } => ResolveError::UnknownRepository {
            repository: shown.clone(),
        },
        _ => classify(e, &repo.reference_tag("latest"), &shown),
    })
}

/// The error for a failed request about `reference` (shown as `shown`).
fn classify(e: OciError, reference: &Reference, shown: &str) -> ResolveError {
    match e.kind() {
        ErrorKind::Http {
            status: 404, code, ..
        } => {
            if code.as_deref() == Some("NAME_UNKNOWN") {
                ResolveError::UnknownRepository {
                    repository: reference.repo().to_string(),
                }
            } else {
                ResolveError::UnknownTag {
                    repository: reference.repo().to_string(),
                    tag: reference.tag.clone().unwrap_or_else(|| "latest".to_owned()),
                }
            }
        }
        ErrorKind::Unauthorized { .. }
        | ErrorKind::Http {
            status: 401 | 403, ..
        } => ResolveError::Auth {
            registry: reference.registry.clone(),
            reference: shown.to_owned(),
            source: e,
        },
        _ => ResolveError::Registry {
            reference: shown.to_owned(),
            source: e,
        },
    }
}

/// What a stage's `FROM` starts from, as far as pinning and checking go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// An image in a registry, normalised; `written` is the `FROM`'s text.
    Image(Reference),
    /// `FROM scratch`: nothing.
    Scratch,
    /// An earlier stage (its index): not an image.
    Stage(usize),
    /// Written with `ARG`s (their names, in order): a rewrite of the `FROM` would lose
    /// them, so it is never pinned. `resolved` is the image with the `ARG`s' defaults,
    /// when every one has a value.
    Args {
        names: Vec<String>,
        resolved: Option<Reference>,
    },
}

/// What `from` starts from. An image Docker would refuse is an error.
pub fn base_of(from: &crate::From) -> Result<Base, ResolveError> {
    if let Some(stage) = from.stage {
        return Ok(Base::Stage(stage));
    }
    let names = arg_names(&from.image);
    if !names.is_empty() {
        let resolved = match from.resolved.as_deref() {
            Some(image) if !image.eq_ignore_ascii_case("scratch") => Some(normalize(image)?),
            _ => None,
        };
        return Ok(Base::Args { names, resolved });
    }
    if from.image.eq_ignore_ascii_case("scratch") {
        return Ok(Base::Scratch);
    }
    normalize(from.resolved.as_deref().unwrap_or(&from.image)).map(Base::Image)
}

/// The names of the variables in `word` (`$A`, `${A}`, `${A:-x}`), in order, each once;
/// an escaped `\$` is not one.
fn arg_names(word: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut chars = word.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        match c {
            '\\' | '`' => {
                chars.next();
            }
            '$' => {
                let braced = chars.next_if(|&(_, c)| c == '{').is_some();
                let mut name = String::new();
                while let Some((_, c)) =
                    chars.next_if(|&(_, c)| c.is_ascii_alphanumeric() || c == '_')
                {
                    name.push(c);
                }
                if braced {
                    // The rest of `${…}`: a modifier and its word.
                    for (_, c) in chars.by_ref() {
                        if c == '}' {
                            break;
                        }
                    }
                }
                if !name.is_empty() && !names.contains(&name) {
                    names.push(name);
                }
            }
            _ => {}
        }
    }
    names
}

/// `written` (a `FROM` image as the user wrote it) pinned to `digest`: any digest it had
/// is replaced, the rest is kept as written, and an image without a tag gets `:latest` so
/// that the pin still says which tag it follows (`python` → `python:latest@sha256:…`).
pub fn pinned_text(written: &str, digest: &Digest) -> String {
    let base = written.split_once('@').map_or(written, |(b, _)| b);
    let last = base.rsplit('/').next().unwrap_or(base);
    if last.contains(':') {
        format!("{base}@{digest}")
    } else {
        format!("{base}:latest@{digest}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        normalize(s)
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .to_string()
    }

    #[test]
    fn normalises_like_docker() {
        let d = Digest::sha256_of(b"x");
        for (written, full) in [
            ("python:3.12-slim", "docker.io/library/python:3.12-slim"),
            ("python", "docker.io/library/python:latest"),
            ("library/python", "docker.io/library/python:latest"),
            ("docker.io/python:3", "docker.io/library/python:3"),
            ("index.docker.io/python:3", "docker.io/library/python:3"),
            ("docker.io/library/python:3", "docker.io/library/python:3"),
            ("acme/tool:1", "docker.io/acme/tool:1"),
            ("ghcr.io/o/r:1", "ghcr.io/o/r:1"),
            ("ghcr.io/o/r", "ghcr.io/o/r:latest"),
            ("localhost/base", "localhost/base:latest"),
            ("localhost:5000/a/b:2", "localhost:5000/a/b:2"),
            ("127.0.0.1:5000/base:1", "127.0.0.1:5000/base:1"),
        ] {
            assert_eq!(norm(written), full, "{written}");
        }
        assert_eq!(
            norm(&format!("127.0.0.1:5000/base:1@{d}")),
            format!("127.0.0.1:5000/base:1@{d}")
        );
        // A digest without a tag names no tag: not `latest`.
        assert_eq!(
            norm(&format!("python@{d}")),
            format!("docker.io/library/python@{d}")
        );
        for bad in ["Python", "python:", "a//b", "python@sha256:00", ""] {
            let e = normalize(bad).unwrap_err();
            assert!(e.to_string().starts_with(&format!("`{bad}` is not")), "{e}");
        }
    }

    #[test]
    fn arg_names_are_found() {
        assert_eq!(arg_names("python:${PY}-slim"), ["PY"]);
        assert_eq!(
            arg_names("$REG/${NAME:-x}:$TAG$TAG"),
            ["REG", "NAME", "TAG"]
        );
        assert!(arg_names("python:3.12").is_empty());
        assert!(arg_names("a\\$B").is_empty());
    }

    #[test]
    fn pinned_text_keeps_what_was_written() {
        let d = Digest::sha256_of(b"x");
        let old = Digest::sha256_of(b"y");
        assert_eq!(
            pinned_text("python:3.12-slim", &d),
            format!("python:3.12-slim@{d}")
        );
        assert_eq!(pinned_text("python", &d), format!("python:latest@{d}"));
        assert_eq!(
            pinned_text("127.0.0.1:5000/base", &d),
            format!("127.0.0.1:5000/base:latest@{d}")
        );
        assert_eq!(
            pinned_text(&format!("127.0.0.1:5000/base:1@{old}"), &d),
            format!("127.0.0.1:5000/base:1@{d}")
        );
    }
}
