//! The object keys of the S3 layout (relative to the configured prefix; see `mod.rs`).
//! Every input is validated before it gets here: names and tags by their grammar, digests
//! by their type, upload ids by `upload.rs`.

use paks_types::Digest;

use crate::names::RepoName;

/// `blobs/`: every blob's bytes.
pub(super) const BLOBS: &str = "blobs/";

/// `repos/`: every repository.
pub(super) const REPOS: &str = "repos/";

/// `blobs/<alg>/<hex>`: a blob's bytes.
pub(super) fn blob(digest: &Digest) -> String {
    format!("{BLOBS}{}/{}", digest.algorithm().as_str(), digest.hex())
}

/// `repos/<repo>/`: everything of one repository.
pub(super) fn repo(repo: &RepoName) -> String {
    format!("{REPOS}{}/", repo.as_str())
}

/// `repos/<repo>/_blobs/`: the blob links of a repository.
pub(super) fn blob_links(r: &RepoName) -> String {
    format!("{}_blobs/", repo(r))
}

/// `repos/<repo>/_manifests/`: the manifest links of a repository.
pub(super) fn manifest_links(r: &RepoName) -> String {
    format!("{}_manifests/", repo(r))
}

/// `repos/<repo>/_tags/`: the tags of a repository.
pub(super) fn tags(r: &RepoName) -> String {
    format!("{}_tags/", repo(r))
}

/// `repos/<repo>/_referrers/`: the referrer entries of every subject.
pub(super) fn all_referrers(r: &RepoName) -> String {
    format!("{}_referrers/", repo(r))
}

/// `repos/<repo>/_blobs/<alg>/<hex>`: the blob is linked in the repository.
pub(super) fn blob_link(r: &RepoName, digest: &Digest) -> String {
    format!(
        "{}{}/{}",
        blob_links(r),
        digest.algorithm().as_str(),
        digest.hex()
    )
}

/// `repos/<repo>/_manifests/<alg>/<hex>`: the manifest is linked; holds its media type.
pub(super) fn manifest_link(r: &RepoName, digest: &Digest) -> String {
    format!(
        "{}{}/{}",
        manifest_links(r),
        digest.algorithm().as_str(),
        digest.hex()
    )
}

/// `repos/<repo>/_tags/<tag>`: holds the digest the tag points at.
pub(super) fn tag(r: &RepoName, tag: &str) -> String {
    format!("{}{tag}", tags(r))
}

/// `repos/<repo>/_referrers/<alg>/<hex>/`: the referrers of one subject.
pub(super) fn referrers(r: &RepoName, subject: &Digest) -> String {
    format!(
        "{}{}/{}/",
        all_referrers(r),
        subject.algorithm().as_str(),
        subject.hex()
    )
}

/// `…/_referrers/<subject>/<alg>-<hex>.json`: one referrer's descriptor.
pub(super) fn referrer(r: &RepoName, subject: &Digest, digest: &Digest) -> String {
    format!("{}{}", referrers(r, subject), referrer_name(digest))
}

/// `<alg>-<hex>.json`: the name of referrer `digest`'s entry under any subject.
pub(super) fn referrer_name(digest: &Digest) -> String {
    format!("{}-{}.json", digest.algorithm().as_str(), digest.hex())
}

/// `uploads/<id>/`: one upload session (its objects are `upload.rs`'s).
pub(super) fn upload(id: &str) -> String {
    format!("uploads/{id}/")
}

/// `gc/`: collections and touches (`collect.rs`'s).
pub(super) const GC: &str = "gc/";

/// `probes/<id>`: the object [`super::conditional::honours_conditions`] writes and removes.
pub(super) fn probe(id: &str) -> String {
    format!("probes/{id}")
}

/// `uploads/`: every upload session (`upload.rs`).
pub(super) const UPLOADS: &str = "uploads/";

/// `gc/touch/<alg>/<hex>`: when a push last needed blob `digest` (`collect.rs`).
pub(super) fn touch(digest: &Digest) -> String {
    format!("{GC}touch/{}/{}", digest.algorithm().as_str(), digest.hex())
}

/// `gc/trash/<alg>/<hex>`: a blob's bytes kept while a collection deletes it (`collect.rs`).
pub(super) fn trash(digest: &Digest) -> String {
    format!("{GC}trash/{}/{}", digest.algorithm().as_str(), digest.hex())
}
