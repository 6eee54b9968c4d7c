//! The OpenAPI 3.1 document of the JSON API, served at `/api/v1/openapi.json`.
//!
//! Written by hand (`openapi.json` next to this file) rather than derived: the model stays
//! free of schema attributes and the workspace of a derive crate. The tests below hold it
//! to the model: every field of every type, and which of them are required, must match what
//! the type serialises, and every schema is closed (`additionalProperties: false`), so the
//! schemathesis run (`crates/paks-cli/tests/catalog_api.rs`) fails on any field the
//! document does not name.

/// The document, as served.
pub const DOCUMENT: &str = include_str!("openapi.json");

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde::Serialize;
    use serde_json::Value;

    use super::DOCUMENT;
    use crate::api::ApiError;
    use crate::model::*;

    fn digest() -> paks_types::Digest {
        paks_types::Digest::sha256_of(b"x")
    }

    fn package_ref() -> PackageRef {
        PackageRef {
            repository: "acme/hello".into(),
            name: "hello".into(),
            version: "1.0.0".into(),
        }
    }

    /// A build with every field set.
    fn build() -> Build {
        let referrer = Referrer {
            digest: digest(),
            artifact_type: Some("application/vnd.paks.signature".into()),
            size: 1,
        };
        let attachments = Attachments {
            signed: true,
            sbom: true,
            provenance: true,
            tests: Some(TestStatus::Passed),
            referrers: vec![referrer],
        };
        let dependency = Dependency {
            name: "libgreet".into(),
            requirement: ">=1".into(),
            version: "1.0.0".into(),
            id: "abc-libgreet-1.0.0".into(),
            manifest: Some(digest()),
            repository: Some("acme/libgreet".into()),
        };
        Build {
            manifest: digest(),
            id: "abc-hello-1.0.0".into(),
            platform: "linux/amd64".into(),
            target: Some("x86_64_v3".into()),
            glibc: Some("2.36".into()),
            layer_size: 1,
            size: 2,
            files: 3,
            dependencies: vec![dependency],
            attachments,
        }
    }

    /// The verdict's types with every field set.
    fn verdict_examples() -> Vec<(&'static str, Value)> {
        fn v(x: impl Serialize) -> Value {
            serde_json::to_value(x).unwrap()
        }
        vec![
            (
                "Verdict",
                v(Verdict {
                    repository: "acme/app".into(),
                    digest: digest(),
                    platform: "linux/amd64".into(),
                    status: VerdictStatus::RunsNotOptimally,
                    basis: VerdictBasis::Labels,
                    reasons: vec![VerdictReason {
                        status: VerdictStatus::WillNotRun,
                        message: "m".into(),
                    }],
                }),
            ),
            (
                "VerdictReason",
                v(VerdictReason {
                    status: VerdictStatus::Runs,
                    message: "m".into(),
                }),
            ),
        ]
    }

    /// Every type of the model with every field set (struct literals: a new field does not
    /// compile here until it is added, and then the document must name it).
    fn full_examples() -> Vec<(&'static str, Value)> {
        fn v(x: impl Serialize) -> Value {
            serde_json::to_value(x).unwrap()
        }
        let build = build();
        let attachments = build.attachments.clone();
        let referrer = attachments.referrers[0].clone();
        let dependency = build.dependencies[0].clone();
        let version = PackageVersion {
            version: "1.0.0".into(),
            tag: "1.0.0".into(),
            digest: digest(),
            builds: vec![build.clone()],
        };
        let package = Package {
            repository: "acme/hello".into(),
            namespace: "acme".into(),
            name: "hello".into(),
            summary: Some("s".into()),
            license: Some("MIT".into()),
            homepage: Some("https://example.invalid".into()),
            kind: paks_types::PackageKind::Store,
            versions: vec![version.clone()],
            reverse_dependencies: vec![package_ref()],
        };
        let summary = PackageSummary {
            repository: "acme/hello".into(),
            namespace: "acme".into(),
            name: "hello".into(),
            latest: "1.0.0".into(),
            summary: Some("s".into()),
            license: Some("MIT".into()),
            kind: paks_types::PackageKind::Rootfs,
            versions: 1,
        };
        let layer = Layer {
            digest: digest(),
            size: 1,
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
            package: Some(package_ref()),
            packages: vec![package_ref()],
        };
        let image = Image {
            repository: "acme/app".into(),
            reference: "latest".into(),
            digest: digest(),
            platform: "linux/amd64".into(),
            layers: vec![layer.clone()],
            labels: [("a".to_owned(), "b".to_owned())].into(),
            platforms: vec!["linux/arm64".into()],
        };
        vec![
            (
                "RepositorySummary",
                v(RepositorySummary {
                    name: "acme/hello".into(),
                    kind: RepositoryKind::Package,
                    tags: 1,
                }),
            ),
            ("PackageSummary", v(&summary)),
            ("Package", v(&package)),
            ("PackageRef", v(package_ref())),
            ("PackageVersion", v(&version)),
            ("Build", v(&build)),
            ("Dependency", v(&dependency)),
            ("Attachments", v(&attachments)),
            ("Referrer", v(&referrer)),
            ("Image", v(&image)),
            ("Layer", v(&layer)),
            (
                "SearchResults",
                v(SearchResults {
                    query: "h".into(),
                    total: 1,
                    packages: vec![summary],
                }),
            ),
            (
                "ApiError",
                v(ApiError {
                    error: "e".into(),
                    hint: Some("h".into()),
                }),
            ),
        ]
    }

    fn schemas() -> serde_json::Map<String, Value> {
        let doc: Value = serde_json::from_str(DOCUMENT).expect("the document is JSON");
        assert_eq!(doc["openapi"], "3.1.0");
        doc["components"]["schemas"].as_object().unwrap().clone()
    }

    fn keys(v: &Value) -> BTreeSet<String> {
        v.as_object().unwrap().keys().cloned().collect()
    }

    #[test]
    fn every_field_of_the_model_is_in_the_document() {
        let schemas = schemas();
        for (name, example) in full_examples().into_iter().chain(verdict_examples()) {
            let schema = &schemas[name];
            assert_eq!(
                keys(&schema["properties"]),
                keys(&example),
                "the fields of `{name}`"
            );
            assert_eq!(schema["additionalProperties"], false, "`{name}` is closed");
        }
    }

    /// A field is required in the document exactly when the type always serialises it.
    #[test]
    fn required_fields_are_the_ones_always_present() {
        let schemas = schemas();
        let minimal = [
            (
                "Referrer",
                serde_json::to_value(Referrer {
                    digest: digest(),
                    artifact_type: None,
                    size: 0,
                }),
            ),
            (
                "Layer",
                serde_json::to_value(Layer {
                    digest: digest(),
                    size: 0,
                    media_type: String::new(),
                    package: None,
                    packages: Vec::new(),
                }),
            ),
            ("Attachments", serde_json::to_value(Attachments::default())),
            (
                "ApiError",
                serde_json::to_value(ApiError {
                    error: String::new(),
                    hint: None,
                }),
            ),
        ];
        for (name, value) in minimal {
            let required: BTreeSet<String> = schemas[name]["required"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_owned())
                .collect();
            assert_eq!(
                required,
                keys(&value.unwrap()),
                "required fields of `{name}`"
            );
        }
        // The others: every field without `skip_serializing_if` is required.
        for (name, example) in full_examples() {
            let required = schemas[name]["required"].as_array().unwrap();
            for r in required {
                assert!(
                    example.get(r.as_str().unwrap()).is_some(),
                    "`{name}` requires `{r}`"
                );
            }
        }
    }

    #[test]
    fn every_reference_resolves() {
        fn walk(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    if let Some(Value::String(r)) = m.get("$ref") {
                        out.push(r.clone());
                    }
                    m.values().for_each(|v| walk(v, out));
                }
                Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
                _ => {}
            }
        }
        let schemas = schemas();
        let mut refs = Vec::new();
        walk(&serde_json::from_str(DOCUMENT).unwrap(), &mut refs);
        assert!(!refs.is_empty());
        for r in refs {
            let name = r.strip_prefix("#/components/schemas/").unwrap();
            assert!(schemas.contains_key(name), "`{r}` resolves");
        }
    }
}
