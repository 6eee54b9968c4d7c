//! `oci-tags`: the tags of a repository in an OCI registry.

use paks_oci::Repository;

use super::{Found, Reader};
use crate::check::{CheckError, Target};
use crate::fetch::Fetcher;

/// The tags of `target.location` (`REGISTRY/REPOSITORY`), in the registry's turn.
pub(super) async fn tags(
    target: &Target,
    reader: &Reader<'_>,
    fetcher: &Fetcher,
) -> Result<Vec<Found>, CheckError> {
    let location = &target.location;
    let registry_error = |source: paks_oci::OciError| CheckError::Registry {
        name: target.name.clone(),
        location: location.clone(),
        source: Box::new(source),
    };
    let repo: Repository = location.parse().map_err(|source| CheckError::Repository {
        name: target.name.clone(),
        location: location.clone(),
        source: Box::new(source),
    })?;
    let client = fetcher.registry_client().map_err(registry_error)?;
    let tags = fetcher
        .in_turn(&host(&repo.registry), client.list_tags(&repo))
        .await
        .map_err(registry_error)?;
    Ok(tags
        .iter()
        .filter_map(|tag| {
            Some(Found {
                tag: Some(tag.clone()),
                ..Found::text(reader.version(tag)?.to_owned())
            })
        })
        .collect())
}

/// The registry as a `name:port` authority (HTTPS's port when none is written).
fn host(registry: &str) -> String {
    let registry = registry.to_ascii_lowercase();
    let has_port = registry
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()));
    if has_port {
        registry
    } else {
        format!("{registry}:443")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn registries_are_authorities() {
        assert_eq!(super::host("ghcr.io"), "ghcr.io:443");
        assert_eq!(super::host("127.0.0.1:5000"), "127.0.0.1:5000");
    }
}
