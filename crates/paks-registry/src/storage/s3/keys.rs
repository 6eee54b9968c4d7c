//! The object keys of the S3 layout (relative to the configured prefix; see `mod.rs`).
//! Every input is validated before it gets here: names and tags by their grammar, digests
//! by their type, upload ids by `upload.rs`.

use paks_types::Digest;

use crate::names::RepoName;

/// `blobs/<alg>/<hex>`: a blob's bytes.
pub(super) fn blob(digest: &Digest) -> String {
    format!("blobs/{}/{}", digest.algorithm().as_str(), digest.hex())
}

/// `repos/<repo>/`: everything of one repository.
pub(super) fn repo(repo: &RepoName) -> String {
    format!("repos/{}/", repo.as_str())
}

/// `repos/<repo>/_blobs/<alg>/<hex>`: the blob is linked in the repository.
pub(super) fn blob_link(r: &RepoName, digest: &Digest) -> String {
    format!(
        "{}_blobs/{}/{}",
        repo(r),
        digest.algorithm().as_str(),
        digest.hex()
    )
}

/// `repos/<repo>/_manifests/<alg>/<hex>`: the manifest is linked; holds its media type.
pub(super) fn manifest_link(r: &RepoName, digest: &Digest) -> String {
    format!(
        "{}_manifests/{}/{}",
        repo(r),
        digest.algorithm().as_str(),
        digest.hex()
    )
}

/// `repos/<repo>/_tags/<tag>`: holds the digest the tag points at.
pub(super) fn tag(r: &RepoName, tag: &str) -> String {
    format!("{}_tags/{tag}", repo(r))
}

/// `repos/<repo>/_referrers/<alg>/<hex>/`: the referrers of one subject.
pub(super) fn referrers(r: &RepoName, subject: &Digest) -> String {
    format!(
        "{}_referrers/{}/{}/",
        repo(r),
        subject.algorithm().as_str(),
        subject.hex()
    )
}

/// `…/_referrers/<subject>/<alg>-<hex>.json`: one referrer's descriptor.
pub(super) fn referrer(r: &RepoName, subject: &Digest, digest: &Digest) -> String {
    format!(
        "{}{}-{}.json",
        referrers(r, subject),
        digest.algorithm().as_str(),
        digest.hex()
    )
}

/// `uploads/<id>/`: one upload session (its objects are `upload.rs`'s).
pub(super) fn upload(id: &str) -> String {
    format!("uploads/{id}/")
}

/// `gc/`: collections and touches (`collect.rs`'s).
pub(super) const GC: &str = "gc/";
