//! The OCI distribution spec v1.1 client, and OCI image layout directories.
//!
//! - [`Client`]: pull and push blobs (verified as they stream, resumable, chunked,
//!   mounted across repositories), manifests and indexes by tag or digest, tags (with
//!   pagination), referrers (with the `sha256-<hex>` tag fallback for registries without
//!   the API, such as distribution 2.8), deletes. It authenticates with HTTP Basic or
//!   distribution's bearer tokens from [`Credentials`], retries what is worth retrying,
//!   and uses plain HTTP only for loopback hosts and hosts configured as insecure.
//! - [`Credentials`]: logins from per-registry environment variables, paks' file,
//!   podman's `auth.json` files and Docker's `config.json` with its credential helpers.
//! - [`layout::Layout`]: `oci:DIR[:tag]` directories, as skopeo and umoci read them.
//! - [`Reference`], [`Repository`]: `registry/name[:tag][@digest]`, with the spec's grammar,
//!   and Docker's short names on a default registry ([`Reference::parse_short`]).
//! - [`Location`]: every transport a command accepts (`docker://`, `oci:`, `oci-archive:`,
//!   `.pak`, `docker-archive:`); [`unpack_archive`] and [`pack_archive`] for `oci-archive:`.
//! - [`Descriptor`], [`ImageManifest`], [`ImageIndex`]: the image spec's JSON objects.
//!
//! Registries differ from the spec; the client copes with what distribution 2.8
//! (Debian's `docker-registry`) does: OCI manifests only with an `Accept` header, blob
//! `PUT`s only with `Content-Type: application/octet-stream`, no single-`POST` upload
//! (always `POST` then `PUT`), no referrers API, `tags/list` without pagination.

mod archive;
mod client;
mod credentials;
mod error;
mod hash;
pub mod layout;
mod reference;
mod transport;
mod types;

pub use archive::{pack_archive, unpack_archive};
pub use client::{Client, ClientConfig, MANIFEST_LIMIT, PushedBlob, PutManifest, TagCondition};
pub use credentials::{
    CredentialPaths, Credentials, ENV_AUTH_PREFIX, ENV_PASSWORD, ENV_REGISTRY, ENV_USERNAME, Login,
    Stored, env_var_for, paks_auth_path,
};
pub use error::{ErrorKind, OciError};
pub use hash::StreamHasher;
pub use paks_types::Digest;
pub use reference::{
    Reference, Repository, is_valid_registry, is_valid_repository_name, is_valid_tag, referrers_tag,
};
pub use transport::{DOCKER_HUB, LOCATION_FORMS, Location};
pub use types::{
    ANNOTATION_REF_NAME, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, Descriptor, EMPTY_JSON, ImageIndex,
    ImageManifest, MANIFEST_MEDIA_TYPES, Manifest, OCI_CONFIG, OCI_EMPTY, OCI_INDEX, OCI_MANIFEST,
    Platform, empty_descriptor,
};
