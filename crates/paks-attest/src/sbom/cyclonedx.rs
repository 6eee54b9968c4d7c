//! `CycloneDX` 1.5 JSON (<https://cyclonedx.org/docs/1.5/json/>), from the same model as
//! the SPDX form.

use serde_json::{Value, json};

use super::{Component, ComponentKind, Relation, Sbom, SourceRef, spdx_license};

impl Sbom {
    /// The document as `CycloneDX` 1.5 JSON (pretty-printed, with a final newline). Its
    /// `serialNumber` is a UUID made from the digest of the document without it, as the
    /// SPDX namespace is: no randomness.
    pub fn to_cyclonedx_json(&self) -> Vec<u8> {
        let mut doc = self.cyclonedx_value();
        let digest = paks_types::Digest::sha256_of(&serde_json::to_vec(&doc).expect("json"));
        let h = digest.hex();
        // The UUID's version nibble says 8 (custom) and its variant bits say RFC 9562.
        let serial = format!(
            "urn:uuid:{}-{}-8{}-a{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        );
        doc["serialNumber"] = json!(serial);
        let mut bytes = serde_json::to_vec_pretty(&doc).expect("CycloneDX documents serialise");
        bytes.push(b'\n');
        bytes
    }

    fn cyclonedx_value(&self) -> Value {
        const SUBJECT: &str = "subject";
        let mut subject = cyclonedx_component(SUBJECT, &self.subject);
        let files: Vec<Value> = self
            .files
            .iter()
            .map(|f| {
                json!({
                    "type": "file",
                    "bom-ref": format!("file:{}", f.path),
                    "name": f.path,
                    "hashes": [
                        {"alg": "SHA-256", "content": f.sha256},
                        {"alg": "SHA-1", "content": f.sha1},
                    ],
                })
            })
            .collect();
        if !files.is_empty() {
            subject["components"] = json!(files);
        }
        let mut references: Vec<Value> = subject["externalReferences"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        references.extend(self.sources.iter().filter_map(source_reference));
        if !references.is_empty() {
            subject["externalReferences"] = json!(references);
        }
        let mut components = Vec::new();
        let mut depends_on = Vec::new();
        for (i, (relation, component)) in self.components.iter().enumerate() {
            let bom_ref = format!("component-{}:{}", i + 1, component.name);
            let mut value = cyclonedx_component(&bom_ref, component);
            if *relation == Relation::DescendantOf {
                value["description"] = json!("the base image");
            }
            components.push(value);
            depends_on.push(bom_ref);
        }
        let mut doc = json!({
            "bomFormat": "CycloneDX",
            "specVersion": "1.5",
            "version": 1,
            "metadata": {
                "timestamp": self.created,
                "tools": {"components": [{
                    "type": "application",
                    "name": "paks",
                    "version": env!("CARGO_PKG_VERSION"),
                }]},
                "component": subject,
            },
            "dependencies": [{"ref": SUBJECT, "dependsOn": depends_on}],
        });
        if !components.is_empty() {
            doc["components"] = json!(components);
        }
        doc
    }
}

fn cyclonedx_component(bom_ref: &str, c: &Component) -> Value {
    let kind = match c.kind {
        ComponentKind::Package if c.file_digest.is_some() => "library",
        ComponentKind::Package => "application",
        ComponentKind::Image => "container",
    };
    let mut v = json!({"type": kind, "bom-ref": bom_ref, "name": c.name});
    if let Some(version) = &c.version {
        v["version"] = json!(version);
    }
    if let Some(s) = &c.summary {
        v["description"] = json!(s);
    }
    if let Some(s) = &c.supplier {
        v["supplier"] = json!({"name": s});
    }
    if let Some(purl) = &c.purl {
        v["purl"] = json!(purl);
    }
    if let Some(license) = spdx_license(c.license.as_deref()) {
        v["licenses"] = json!([{"expression": license}]);
    }
    if let Some(d) = c.file_digest.as_ref().or(c.digest.as_ref()) {
        v["hashes"] = json!([{"alg": "SHA-256", "content": d.hex()}]);
    }
    if let Some(h) = &c.homepage {
        v["externalReferences"] = json!([{"type": "website", "url": h}]);
    }
    let mut properties = Vec::new();
    if let Some(id) = &c.id {
        properties.push(json!({"name": "paks:id", "value": id}));
    }
    if let Some(d) = &c.digest {
        properties.push(json!({"name": "paks:manifest-digest", "value": d.to_string()}));
    }
    if let Some(s) = &c.source_package {
        properties.push(json!({"name": "paks:source-package", "value": s}));
    }
    for (field, value) in &c.relations {
        properties.push(json!({"name": format!("paks:{field}"), "value": value}));
    }
    if !properties.is_empty() {
        v["properties"] = json!(properties);
    }
    v
}

/// A source as an external reference of the subject: a download with its digest, or a
/// git repository at a commit. Paths beside the recipe have no URL to name.
fn source_reference(source: &SourceRef) -> Option<Value> {
    match source {
        SourceRef::Url { url, sha256 } => Some(json!({
            "type": "distribution",
            "url": url,
            "hashes": [{"alg": "SHA-256", "content": sha256.hex()}],
        })),
        SourceRef::Git { url, commit } => Some(json!({
            "type": "vcs",
            "url": url,
            "comment": format!("commit {commit}"),
        })),
        SourceRef::Path { .. } => None,
    }
}
