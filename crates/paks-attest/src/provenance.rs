//! SLSA Provenance v1 for paks builds: an in-toto statement, about the build's manifest,
//! that says how it was made — the recipe, the sources and dependencies it resolved, the
//! sandbox it ran in, the builder and when.
//!
//! `paks build` writes the statement unsigned beside the `.pak` (`X.provenance.json`);
//! `paks push --sign` signs it into a DSSE envelope. The build type
//! [`BUILD_TYPE`] is documented in `docs/trust.md` ("Provenance").

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::SystemTime;

use paks_index::{PublicKey, SigningKey, Timestamp};
use paks_recipe::{Source, SourceKind};
use paks_types::{Digest, PackageId};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::SLSA_PROVENANCE_V1;
use crate::dsse::Envelope;
use crate::statement::{PAYLOAD_TYPE, Statement, StatementError, Subject};
use crate::verify::{VerifyError, predicate, verify_statement};

/// The `buildType` of a paks recipe build.
pub const BUILD_TYPE: &str = "https://paks.dev/build/v1";
/// The `builder.id` of `paks build` on the publisher's own machine.
pub const BUILDER_ID: &str = "https://paks.dev/builder/local";

/// The SLSA Provenance v1 predicate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    pub build_definition: BuildDefinition,
    pub run_details: RunDetails,
}

/// What was built, from what: REQUIRED in SLSA v1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildDefinition {
    pub build_type: String,
    pub external_parameters: Value,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub internal_parameters: Value,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolved_dependencies: Vec<ResourceDescriptor>,
}

/// An in-toto resource descriptor: at least one of `uri` and `digest`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceDescriptor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub digest: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Value>,
}

/// Who built it, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunDetails {
    pub builder: Builder,
    #[serde(default)]
    pub metadata: Option<BuildMetadata>,
}

/// The builder: its id and the versions of its parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Builder {
    pub id: String,
    #[serde(default)]
    pub version: BTreeMap<String, String>,
}

/// The invocation: paks uses the package id as its id; times are RFC 3339, UTC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildMetadata {
    #[serde(default)]
    pub invocation_id: Option<String>,
    #[serde(default)]
    pub started_on: Option<String>,
    #[serde(default)]
    pub finished_on: Option<String>,
}

/// Where the recipe came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipeOrigin {
    /// A local directory (absolute).
    Directory(PathBuf),
    /// A git repository, at the commit checked out.
    Git { url: String, commit: String },
}

impl RecipeOrigin {
    /// `file://DIR` or `git+URL@COMMIT`.
    fn uri(&self) -> String {
        match self {
            Self::Directory(dir) => format!("file://{}", dir.display()),
            Self::Git { url, commit } => format!("git+{url}@{commit}"),
        }
    }
}

/// How a dependency entered the build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DependencyKind {
    /// A run-time dependency of the recipe (also present at build time).
    Run,
    /// A build-time dependency of the recipe.
    Build,
    /// A dependency of a dependency, mounted in the sandbox too.
    Indirect,
}

/// An installed package the build saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DependencyFacts {
    pub id: PackageId,
    /// Its build manifest digest.
    pub manifest: Digest,
    pub kind: DependencyKind,
}

/// Everything a build's provenance records, gathered by the builder.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildFacts {
    pub recipe: RecipeOrigin,
    /// The sha256 of `paks.toml`.
    pub recipe_file: Digest,
    /// The digest of the whole recipe directory (`paks_build::hash_tree`), which the
    /// package id covers; path sources are inside it.
    pub recipe_tree: Digest,
    /// The target platform (`linux/amd64`).
    pub platform: String,
    pub sources: Vec<Source>,
    pub dependencies: Vec<DependencyFacts>,
    /// The layer compression (`gzip`, `zstd`, `none`).
    pub compression: String,
    /// `$PAKS_JOBS` given to the scripts.
    pub jobs: usize,
    /// Whether the recipe's test script ran (and passed).
    pub tests_ran: bool,
    pub started: SystemTime,
    pub finished: SystemTime,
}

/// The provenance statement of the build `id` whose manifest is `manifest`.
pub fn statement(id: &PackageId, manifest: &Digest, facts: &BuildFacts) -> Statement {
    let recipe = match &facts.recipe {
        RecipeOrigin::Directory(dir) => json!({"directory": dir}),
        RecipeOrigin::Git { url, commit } => json!({"git": url, "commit": commit}),
    };
    let external = json!({
        "recipe": recipe,
        "recipeFile": {"path": paks_recipe::RECIPE_FILE, "sha256": facts.recipe_file.hex()},
        "platform": facts.platform,
    });
    let internal = json!({
        "sandbox": "bubblewrap",
        "network": false,
        "compression": facts.compression,
        "jobs": facts.jobs,
        "tests": facts.tests_ran,
    });
    let mut resolved = vec![ResourceDescriptor {
        uri: Some(facts.recipe.uri()),
        digest: sha256_map(&facts.recipe_tree),
        name: Some("recipe".to_owned()),
        annotations: None,
    }];
    resolved.extend(facts.sources.iter().map(|s| source(&facts.recipe, s)));
    resolved.extend(facts.dependencies.iter().map(dependency));
    let predicate = Provenance {
        build_definition: BuildDefinition {
            build_type: BUILD_TYPE.to_owned(),
            external_parameters: external,
            internal_parameters: internal,
            resolved_dependencies: resolved,
        },
        run_details: RunDetails {
            builder: Builder {
                id: BUILDER_ID.to_owned(),
                version: BTreeMap::from([(
                    "paks".to_owned(),
                    env!("CARGO_PKG_VERSION").to_owned(),
                )]),
            },
            metadata: Some(BuildMetadata {
                invocation_id: Some(id.to_string()),
                started_on: Some(Timestamp::from_system_time(facts.started).to_string()),
                finished_on: Some(Timestamp::from_system_time(facts.finished).to_string()),
            }),
        },
    };
    Statement::new(
        vec![Subject::new(id.to_string(), manifest)],
        SLSA_PROVENANCE_V1,
        serde_json::to_value(predicate).expect("a predicate serialises"),
    )
}

fn sha256_map(d: &Digest) -> BTreeMap<String, String> {
    BTreeMap::from([(d.algorithm().as_str().to_owned(), d.hex().to_owned())])
}

fn source(recipe: &RecipeOrigin, s: &Source) -> ResourceDescriptor {
    let dest = s.dest.display().to_string();
    let (uri, digest) = match &s.kind {
        SourceKind::Url { url, sha256, .. } => (url.clone(), sha256_map(sha256)),
        SourceKind::Git { url, commit } => (
            format!("git+{url}"),
            BTreeMap::from([("gitCommit".to_owned(), commit.clone())]),
        ),
        // Inside the recipe: the recipe's tree digest covers it; a declared sha256 too.
        SourceKind::Path { path, sha256 } => {
            let uri = match recipe {
                RecipeOrigin::Directory(dir) => format!("file://{}", dir.join(path).display()),
                RecipeOrigin::Git { url, commit } => {
                    format!("git+{url}@{commit}#{}", path.display())
                }
            };
            (uri, sha256.as_ref().map(sha256_map).unwrap_or_default())
        }
    };
    ResourceDescriptor {
        uri: Some(uri),
        digest,
        name: Some(format!("source:{dest}")),
        annotations: Some(json!({"dest": dest})),
    }
}

fn dependency(d: &DependencyFacts) -> ResourceDescriptor {
    let kind = match d.kind {
        DependencyKind::Run => "run",
        DependencyKind::Build => "build",
        DependencyKind::Indirect => "indirect",
    };
    ResourceDescriptor {
        uri: Some(format!("pkg:generic/{}@{}", d.id.name(), d.id.version())),
        digest: sha256_map(&d.manifest),
        name: Some(d.id.to_string()),
        annotations: Some(json!({"dependency": kind})),
    }
}

/// Sign a provenance statement (the bytes of `X.provenance.json`, kept as they are as the
/// payload) after checking that it is provenance about `manifest`.
pub fn sign(
    statement: &[u8],
    manifest: &Digest,
    key: &SigningKey,
) -> Result<Envelope, StatementError> {
    Statement::parse(statement, SLSA_PROVENANCE_V1)?.check_subject(manifest)?;
    Ok(Envelope::sign(PAYLOAD_TYPE, statement, key))
}

/// A provenance whose envelope verified.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedProvenance {
    /// The trusted key that signed it.
    pub key: PublicKey,
    pub statement: Statement,
    pub predicate: Provenance,
}

/// Verify a provenance envelope (the layer of an [`crate::IN_TOTO_JSON`] artifact) for the
/// build whose manifest is `subject`, with the `trusted` keys: the signature, the SLSA v1
/// predicate type and shape, and the subject.
pub fn verify_provenance(
    envelope: &[u8],
    subject: &Digest,
    trusted: &[PublicKey],
) -> Result<VerifiedProvenance, VerifyError> {
    const WHAT: &str = "provenance";
    let verified = verify_statement(envelope, subject, trusted, SLSA_PROVENANCE_V1, WHAT)?;
    let predicate = predicate(&verified, WHAT)?;
    Ok(VerifiedProvenance {
        key: verified.key,
        statement: verified.statement,
        predicate,
    })
}
