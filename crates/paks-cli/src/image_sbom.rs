//! The aggregate SBOM of an image `paks image build` composed: every package of every
//! platform, and the base images, in one SPDX document (`--sbom FILE`).

use std::path::Path;
use std::time::SystemTime;

use paks_attest::sbom::{self, Component, ComponentKind, Sbom};
use paks_image::PlatformInput;
use paks_types::Digest;

use crate::Failure;

/// The document for the image (or index) `digest` named `name`, made of `inputs`. Created
/// at `SOURCE_DATE_EPOCH`, else at the image's own fixed creation time, so the same image
/// gives the same bytes (and one referrer, however often it is pushed).
pub fn document(name: &str, digest: &Digest, inputs: &[PlatformInput]) -> Sbom {
    let mut packages: Vec<Component> = Vec::new();
    let mut bases: Vec<Component> = Vec::new();
    for input in inputs {
        for found in &input.packages {
            if !packages
                .iter()
                .any(|p| p.digest.as_ref() == Some(&found.manifest))
            {
                packages.push(Component::from_meta(
                    &found.config.paks,
                    Some(found.manifest.clone()),
                ));
            }
        }
        if let Some(base) = &input.base
            && !bases
                .iter()
                .any(|b| b.digest.as_ref() == Some(&base.digest))
        {
            bases.push(Component {
                kind: ComponentKind::Image,
                name: base.name.clone(),
                digest: Some(base.digest.clone()),
                ..Component::default()
            });
        }
    }
    let image = Component {
        name: name.to_owned(),
        digest: Some(digest.clone()),
        ..Component::default()
    };
    Sbom::for_image(
        image,
        packages,
        bases,
        sbom::created_time(SystemTime::UNIX_EPOCH),
    )
}

/// Write `document` as SPDX JSON to `path`, atomically.
pub fn write(path: &Path, document: &Sbom) -> Result<(), Failure> {
    paks_types::fs::write_atomic(path, &document.to_spdx_json())?;
    Ok(())
}

/// Attach `document` (SPDX JSON) to the image or index `digest` that was just pushed to
/// `target`, as a referrer; returns the attachment's descriptor. `images` are the
/// platform images: one is the subject itself, several were pushed under an index, which
/// is read back for its media type and size.
pub async fn attach(
    client: &paks_oci::Client,
    target: &paks_oci::Reference,
    digest: &Digest,
    images: &[paks_image::Composed],
    document: &Sbom,
) -> Result<paks_oci::Descriptor, paks_remote::RemoteError> {
    let repo = target.repo();
    let subject = match images {
        [image] if image.digest == *digest => image.descriptor(),
        _ => {
            let index = client.get_manifest(&repo.reference_digest(digest)).await?;
            paks_oci::Descriptor::new(&index.media_type, digest.clone(), index.bytes.len() as u64)
        }
    };
    paks_remote::attach::attach(
        client,
        &repo,
        &subject,
        paks_attest::SPDX_JSON,
        paks_attest::SPDX_JSON,
        &document.to_spdx_json(),
        std::collections::BTreeMap::new(),
    )
    .await
}
