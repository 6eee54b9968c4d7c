//! SPDX 2.3 JSON (<https://spdx.github.io/spdx-spec/v2.3/>).

use serde_json::{Value, json};
use sha1::{Digest as _, Sha1};

use super::{Component, ComponentKind, Relation, Sbom, SourceRef, spdx_license};

/// Where document namespaces live; the rest of a namespace is the subject and the digest
/// of the document's content.
const NAMESPACE_BASE: &str = "https://paks.dev/spdx/";
/// What SPDX writes for a value nobody asserted.
const NOASSERTION: &str = "NOASSERTION";

impl Sbom {
    /// The document as SPDX 2.3 JSON (pretty-printed, with a final newline). Its
    /// `documentNamespace` is `https://paks.dev/spdx/<name>-<sha256 of the document
    /// without it>`: unique per content, with no randomness.
    pub fn to_spdx_json(&self) -> Vec<u8> {
        let mut doc = self.spdx_value();
        let digest = paks_types::Digest::sha256_of(&serde_json::to_vec(&doc).expect("json"));
        doc["documentNamespace"] =
            json!(format!("{NAMESPACE_BASE}{}-{}", self.name(), digest.hex()));
        let mut bytes = serde_json::to_vec_pretty(&doc).expect("SPDX documents serialise");
        bytes.push(b'\n');
        bytes
    }

    fn spdx_value(&self) -> Value {
        const SUBJECT: &str = "SPDXRef-Package";
        let mut packages = vec![spdx_package(SUBJECT, &self.subject)];
        let mut relationships = vec![relationship("SPDXRef-DOCUMENT", "DESCRIBES", SUBJECT)];
        if self.subject.kind == ComponentKind::Package {
            let subject = &mut packages[0];
            subject["filesAnalyzed"] = json!(true);
            subject["packageVerificationCode"] =
                json!({"packageVerificationCodeValue": self.verification_code()});
        }
        let mut files = Vec::new();
        for file in &self.files {
            let id = format!(
                "SPDXRef-File-{}",
                &paks_types::Digest::sha256_of(file.path.as_bytes()).hex()[..16]
            );
            files.push(json!({
                "SPDXID": id,
                "fileName": format!("./{}", file.path),
                "checksums": [
                    {"algorithm": "SHA1", "checksumValue": file.sha1},
                    {"algorithm": "SHA256", "checksumValue": file.sha256},
                ],
            }));
            relationships.push(relationship(SUBJECT, "CONTAINS", &id));
        }
        for (i, source) in self.sources.iter().enumerate() {
            let id = format!("SPDXRef-Source-{}", i + 1);
            packages.push(source_package(&id, source));
            relationships.push(relationship(SUBJECT, "GENERATED_FROM", &id));
        }
        for (i, (relation, component)) in self.components.iter().enumerate() {
            let id = format!(
                "SPDXRef-Package-{}-{}",
                i + 1,
                spdx_id_part(&component.name)
            );
            packages.push(spdx_package(&id, component));
            let kind = match relation {
                Relation::DependsOn => "DEPENDS_ON",
                Relation::Contains => "CONTAINS",
                Relation::DescendantOf => "DESCENDANT_OF",
            };
            relationships.push(relationship(SUBJECT, kind, &id));
        }
        let mut doc = json!({
            "spdxVersion": "SPDX-2.3",
            "dataLicense": "CC0-1.0",
            "SPDXID": "SPDXRef-DOCUMENT",
            "name": self.name(),
            "documentNamespace": "",
            "creationInfo": {
                "created": self.created,
                "creators": [format!("Tool: paks-{}", env!("CARGO_PKG_VERSION"))],
            },
            "packages": packages,
            "relationships": relationships,
        });
        if !files.is_empty() {
            doc["files"] = json!(files);
        }
        doc
    }

    /// SPDX's package verification code: the SHA-1 of the files' sorted SHA-1s, as hex.
    fn verification_code(&self) -> String {
        let mut sums: Vec<&str> = self.files.iter().map(|f| f.sha1.as_str()).collect();
        sums.sort_unstable();
        data_encoding::HEXLOWER.encode(&Sha1::digest(sums.concat().as_bytes()))
    }
}

fn relationship(from: &str, kind: &str, to: &str) -> Value {
    json!({"spdxElementId": from, "relationshipType": kind, "relatedSpdxElement": to})
}

/// An SPDX package for a component; `filesAnalyzed` false (the subject's caller sets it).
fn spdx_package(id: &str, c: &Component) -> Value {
    let license = spdx_license(c.license.as_deref()).unwrap_or(NOASSERTION);
    let mut p = json!({
        "SPDXID": id,
        "name": c.name,
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": false,
        "licenseConcluded": license,
        "licenseDeclared": license,
        "copyrightText": NOASSERTION,
    });
    if let Some(v) = &c.version {
        p["versionInfo"] = json!(v);
    }
    if let Some(s) = &c.summary {
        p["summary"] = json!(s);
    }
    if let Some(h) = c.homepage.as_deref().filter(|h| is_download_url(h)) {
        p["homepage"] = json!(h);
    }
    if let Some(s) = &c.supplier {
        p["supplier"] = json!(supplier(s));
    }
    if let Some(s) = &c.source_package {
        p["sourceInfo"] = json!(format!("built from the source package {s}"));
    }
    if c.kind == ComponentKind::Image {
        p["primaryPackagePurpose"] = json!("CONTAINER");
    }
    // The package's own file: the `.deb` or `.apk` an import came from, else the OCI
    // manifest that is a paks build (the comment says which).
    if let Some(d) = c.file_digest.as_ref().or(c.digest.as_ref()) {
        p["checksums"] = json!([{"algorithm": "SHA256", "checksumValue": d.hex()}]);
    }
    let mut refs = Vec::new();
    if let Some(purl) = &c.purl {
        refs.push(json!({
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": purl,
        }));
    }
    if !refs.is_empty() {
        p["externalRefs"] = json!(refs);
    }
    let mut comment = Vec::new();
    if let Some(id) = &c.id {
        comment.push(format!("paks package id: {id}"));
    }
    if let Some(d) = &c.digest {
        comment.push(format!("OCI manifest digest: {d}"));
    }
    for (field, value) in &c.relations {
        comment.push(format!("{field}: {value}"));
    }
    if !comment.is_empty() {
        p["comment"] = json!(comment.join("\n"));
    }
    p
}

/// A source as an SPDX package: where it is downloaded, and its digest when known.
fn source_package(id: &str, source: &SourceRef) -> Value {
    let (name, location, sha256) = match source {
        SourceRef::Url { url, sha256 } => {
            let name = url.rsplit('/').find(|s| !s.is_empty()).unwrap_or(url);
            let location = if is_download_url(url) {
                url.clone()
            } else {
                NOASSERTION.to_owned()
            };
            (name.to_owned(), location, Some(sha256))
        }
        SourceRef::Git { url, commit } => {
            let name = url.rsplit('/').find(|s| !s.is_empty()).unwrap_or(url);
            let location = if is_download_url(url) {
                format!("git+{url}@{commit}")
            } else {
                NOASSERTION.to_owned()
            };
            (name.trim_end_matches(".git").to_owned(), location, None)
        }
        SourceRef::Path { path, sha256 } => (path.clone(), NOASSERTION.to_owned(), sha256.as_ref()),
    };
    let mut p = json!({
        "SPDXID": id,
        "name": name,
        "downloadLocation": location,
        "filesAnalyzed": false,
        "licenseConcluded": NOASSERTION,
        "licenseDeclared": NOASSERTION,
        "copyrightText": NOASSERTION,
        "primaryPackagePurpose": "SOURCE",
    });
    if let Some(d) = sha256 {
        p["checksums"] = json!([{"algorithm": "SHA256", "checksumValue": d.hex()}]);
    }
    let comment = match source {
        SourceRef::Url { url, .. } => format!("source URL: {url}"),
        SourceRef::Git { url, commit } => format!("git: {url} at commit {commit}"),
        SourceRef::Path { path, .. } => format!("a path beside the recipe: {path}"),
    };
    p["comment"] = json!(comment);
    p
}

/// Whether SPDX tools accept `url` as a download location: an `http`, `https`, `ftp`,
/// `git` or `ssh` URL whose host is a domain name ending in a 2–5 letter top-level domain
/// (the pattern of the SPDX 2.3 spec's validators). Anything else (a `file:` URL, an IP
/// address, `.invalid`) is written `NOASSERTION`, and the URL kept in the comment.
fn is_download_url(url: &str) -> bool {
    let Some(rest) = ["https://", "http://", "ftp://", "git://", "ssh://"]
        .iter()
        .find_map(|s| url.strip_prefix(s))
    else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    let host = host.split(':').next().unwrap_or_default();
    let labels: Vec<&str> = host.split('.').collect();
    let tld = labels.last().copied().unwrap_or_default();
    labels.len() >= 2
        && (2..=5).contains(&tld.len())
        && tld.bytes().all(|b| b.is_ascii_alphabetic())
        && labels
            .iter()
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

/// SPDX's actor form: a maintainer `Name <email>` becomes `Person: Name (email)`.
fn supplier(maintainer: &str) -> String {
    match maintainer.split_once('<') {
        Some((name, rest)) => format!(
            "Person: {} ({})",
            name.trim(),
            rest.trim_end().trim_end_matches('>')
        ),
        None => format!("Person: {}", maintainer.trim()),
    }
}

/// A name as the part of an `SPDXRef-` id (letters, digits, `.` and `-` only).
fn spdx_id_part(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn download_locations_spdx_tools_accept() {
        for url in ["https://example.org/a.tar.gz", "git://git.kernel.org/x.git"] {
            assert!(super::is_download_url(url), "{url}");
        }
        for url in [
            "file:///tmp/a.tar.gz",
            "http://127.0.0.1:8080/a.tar.gz",
            "https://example.invalid/a",
        ] {
            assert!(!super::is_download_url(url), "{url}");
        }
    }
}
