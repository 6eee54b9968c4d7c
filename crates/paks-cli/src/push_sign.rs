//! `paks push --sign KEY`: after the builds are pushed, attach to each its SBOM, its
//! provenance signed into a DSSE envelope, and a signature that vouches for the build and
//! for both attachments by their layer digests (`docs/trust.md`).

use std::io::Write;
use std::path::{Path, PathBuf};

use futures_util::StreamExt as _;
use paks_archive::PakReader;
use paks_attest::signature::SignedAttachment;
use paks_attest::{DSSE_ENVELOPE, IN_TOTO_JSON, SIGNATURE, SPDX_JSON};
use paks_index::SigningKey;
use paks_oci::{Client, Descriptor, OCI_MANIFEST, Repository};
use paks_remote::PushReport;
use paks_types::{Digest, PackageId, Reporter as _};
use serde_json::json;

use crate::Failure;
use crate::commands::{Ctx, failure, json_line, out, user_error};

/// How each attachment is reported on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Print {
    /// A JSON line (`"type": "attachment"`).
    Json,
    /// Its reference and artifact type.
    Text,
    /// Not at all: the caller reports (`paks update`'s summary).
    Nothing,
}

/// Builds whose evidence is attached at once.
const BUILDS_AT_ONCE: usize = 16;

/// The private key of `--sign`, read before anything is pushed.
pub fn load_key(path: &Path) -> Result<SigningKey, Failure> {
    SigningKey::load(path).map_err(crate::repos::index_failure)
}

/// One build to attach evidence to: where its archive is and where it was pushed.
struct Build<'a> {
    pak: &'a Path,
    id: &'a PackageId,
    repo: Repository,
    subject: Descriptor,
}

/// Attach the evidence of every archive in `paks` that `report` says was pushed.
pub fn attach_all(
    ctx: &Ctx,
    client: &Client,
    runtime: &tokio::runtime::Runtime,
    paks: &[PathBuf],
    report: &PushReport,
    key: &SigningKey,
    print: Print,
) -> Result<(), Failure> {
    let mut builds = Vec::new();
    for pak in paks {
        let reader = PakReader::open(pak).map_err(Failure::from)?;
        let digest = reader.manifest_digest();
        let Some((id, reference, _)) = report
            .packages
            .iter()
            .find(|(_, r, _)| r.digest.as_ref() == Some(digest))
        else {
            continue;
        };
        builds.push(Build {
            pak,
            id,
            repo: reference.repo(),
            subject: Descriptor::new(
                OCI_MANIFEST,
                digest.clone(),
                reader.manifest_bytes().len() as u64,
            ),
        });
    }
    // Builds one after another would cost a round trip per request: several at once (the
    // client bounds its connections), each build's three in order.
    let results: Vec<Result<(), Failure>> = runtime.block_on(
        futures_util::stream::iter(
            builds
                .iter()
                .map(|build| attach_one(ctx, client, build, key, print)),
        )
        .buffered(BUILDS_AT_ONCE)
        .collect(),
    );
    results.into_iter().collect::<Result<(), Failure>>()?;
    let signed: Vec<&PackageId> = builds.iter().map(|b| b.id).collect();
    // Dependencies found beside the archives were pushed too, but the user did not name
    // them: say so rather than sign them unasked.
    for (id, _, _) in &report.packages {
        if !signed.contains(&id) {
            ctx.reporter.warn(&format!(
                "`{id}` was pushed as a dependency and is not signed: give its archive to `paks push --sign` to sign it"
            ));
        }
    }
    Ok(())
}

/// Attach the SBOM, the signed provenance and the signature of one build. Everything is
/// read and checked before anything is attached, so a stale provenance attaches nothing.
async fn attach_one(
    ctx: &Ctx,
    client: &Client,
    build: &Build<'_>,
    key: &SigningKey,
    print: Print,
) -> Result<(), Failure> {
    let sbom = sbom(ctx, build.pak)?;
    let provenance = provenance(ctx, build, key)?;
    let mut vouched = Vec::new();
    for (artifact_type, media_type, bytes) in [
        (SPDX_JSON, SPDX_JSON, Some(sbom)),
        (IN_TOTO_JSON, DSSE_ENVELOPE, provenance),
    ] {
        if let Some(bytes) = bytes {
            let digest = attach(client, build, artifact_type, media_type, &bytes, print).await?;
            vouched.push(SignedAttachment {
                artifact_type: artifact_type.to_owned(),
                digest,
            });
        }
    }
    let signature =
        paks_attest::signature::sign(build.id, &build.subject.digest, &vouched, key).to_bytes();
    attach(client, build, SIGNATURE, DSSE_ENVELOPE, &signature, print).await?;
    Ok(())
}

/// The provenance beside the archive (`X.provenance.json`), signed into a DSSE envelope;
/// `None` (with a warning) when there is none.
fn provenance(ctx: &Ctx, build: &Build<'_>, key: &SigningKey) -> Result<Option<Vec<u8>>, Failure> {
    let file = paks_build::provenance_path(build.pak);
    if !file.is_file() {
        ctx.reporter.warn(&format!(
            "no provenance for `{}`: `{}` does not exist (`paks build` writes it), so none is attached",
            build.id,
            file.display()
        ));
        return Ok(None);
    }
    let statement = fs_err::read(&file)?;
    let manifest = &build.subject.digest;
    let envelope = paks_attest::provenance::sign(&statement, manifest, key).map_err(|e| {
        user_error(
            format!(
                "the provenance `{}` is not about the build `{}` (`{manifest}`): {e}",
                file.display(),
                build.id
            ),
            Some(
                "rebuild the package with `paks build` to write its provenance again, or remove the stale file"
                    .into(),
            ),
        )
    })?;
    Ok(Some(envelope.to_bytes()))
}

/// The SBOM beside the archive (`X.spdx.json`); without one, an SBOM made from the
/// archive itself (everything but the recipe's sources, which only the build knows).
fn sbom(ctx: &Ctx, pak: &Path) -> Result<Vec<u8>, Failure> {
    let file = crate::sbom_files::sbom_path(pak);
    if file.is_file() {
        return Ok(fs_err::read(&file)?);
    }
    ctx.reporter.warn(&format!(
        "`{}` does not exist: attaching an SBOM made from `{}`, without the recipe's sources",
        file.display(),
        pak.display()
    ));
    Ok(paks_attest::sbom::from_pak(pak)
        .map_err(failure)?
        .to_spdx_json())
}

/// Attach `bytes` to the build and report it; returns the layer digest.
async fn attach(
    client: &Client,
    build: &Build<'_>,
    artifact_type: &str,
    media_type: &str,
    bytes: &[u8],
    print: Print,
) -> Result<Digest, Failure> {
    let descriptor = paks_remote::attach::attach(
        client,
        &build.repo,
        &build.subject,
        artifact_type,
        media_type,
        bytes,
        std::collections::BTreeMap::new(),
    )
    .await
    .map_err(failure)?;
    let layer = Digest::sha256_of(bytes);
    let reference = format!("{}@{}", build.repo, descriptor.digest);
    match print {
        Print::Json => json_line(&json!({
            "type": "attachment",
            "id": build.id.to_string(),
            "subject": build.subject.digest.to_string(),
            "artifactType": artifact_type,
            "digest": descriptor.digest.to_string(),
            "layer": layer.to_string(),
            "reference": reference,
        }))?,
        Print::Text => writeln!(out(), "{reference} {artifact_type}")?,
        Print::Nothing => {}
    }
    Ok(layer)
}
