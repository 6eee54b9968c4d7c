//! What an SBOM lists, read from any tool's SPDX 2.3 or `CycloneDX` 1.x JSON: components with
//! a name, a version, a package URL and its ecosystem, checksums and a license.
//!
//! The reader works on the JSON itself rather than on one generator's model, so that SBOMs
//! written by other tools (syft, trivy, `spdx-tools`) compare and audit as well as paks'
//! own. It takes what it needs and ignores the rest; input is bounded by [`MAX_SBOM_SIZE`].

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

/// The largest SBOM read, in bytes: larger documents are refused rather than parsed.
pub const MAX_SBOM_SIZE: u64 = 64 << 20;

/// The format of an SBOM document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SbomFormat {
    /// SPDX 2.x JSON.
    Spdx,
    /// `CycloneDX` 1.x JSON.
    Cyclonedx,
}

impl SbomFormat {
    /// The format's media type (and artifact type).
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Spdx => crate::SPDX_JSON,
            Self::Cyclonedx => crate::CYCLONEDX_JSON,
        }
    }
}

/// One component (an SPDX package, a `CycloneDX` component).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Component {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The package URL (`pkg:deb/debian/libc6@2.36-9?arch=amd64`), when the SBOM gives one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
    /// The purl's type (`deb`, `apk`, `pypi`, `generic`), when there is a purl.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ecosystem: Option<String>,
    /// Checksums by lower-case algorithm name without dashes (`sha256`, `sha1`): hex.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub checksums: BTreeMap<String, String>,
    /// The license (SPDX expression), when one is stated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
}

impl Component {
    /// The parsed package URL, when there is a valid one.
    pub fn package_url(&self) -> Option<Purl> {
        self.purl.as_deref().and_then(Purl::parse)
    }

    /// What identifies the component across two SBOMs: its purl without version and
    /// qualifiers, else its name.
    pub fn key(&self) -> String {
        self.package_url()
            .map_or_else(|| self.name.clone(), |p| p.without_version())
    }
}

/// A package URL (<https://github.com/package-url/purl-spec>), the parts paks uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purl {
    /// `deb`, `apk`, `pypi`, `generic`, ... (lower case).
    pub kind: String,
    /// `debian`, `alpine`, a Maven group; percent-decoded.
    pub namespace: Option<String>,
    pub name: String,
    pub version: Option<String>,
    /// Qualifiers (`arch`, `distro`, `upstream`), percent-decoded.
    pub qualifiers: BTreeMap<String, String>,
}

impl Purl {
    /// Parses `pkg:type/namespace/name@version?qualifiers#subpath`; `None` if it is not one.
    pub fn parse(text: &str) -> Option<Self> {
        let rest = text.strip_prefix("pkg:")?.trim_start_matches('/');
        let rest = rest.split('#').next().unwrap_or_default();
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        // An `@` followed by a `/` is part of a name (`@angular/core` left unencoded).
        let (path, version) = match rest.rsplit_once('@') {
            Some((path, version)) if !version.contains('/') => (path, Some(decode(version))),
            _ => (rest, None),
        };
        let mut parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        if parts.len() < 2 {
            return None;
        }
        let kind = parts.remove(0).to_ascii_lowercase();
        let name = decode(parts.pop()?);
        let namespace = (!parts.is_empty()).then(|| {
            parts
                .iter()
                .map(|p| decode(p))
                .collect::<Vec<_>>()
                .join("/")
        });
        let qualifiers = query
            .split('&')
            .filter_map(|q| q.split_once('='))
            .map(|(k, v)| (k.to_ascii_lowercase(), decode(v)))
            .collect();
        Some(Self {
            kind,
            namespace,
            name,
            version: version.filter(|v| !v.is_empty()),
            qualifiers,
        })
    }

    /// `pkg:type/namespace/name`: the package whatever its version.
    pub fn without_version(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("pkg:{}/{}/{}", self.kind, ns, self.name),
            None => format!("pkg:{}/{}", self.kind, self.name),
        }
    }
}

/// Percent-decoding, keeping malformed escapes as they are.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An SBOM as a list of components.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComponentList {
    pub format: SbomFormat,
    /// The document's name (SPDX `name`, `CycloneDX` `metadata.component.name`).
    pub name: Option<String>,
    pub components: Vec<Component>,
}

/// Why a document could not be read as an SBOM.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("the SBOM is {size} bytes, more than the {MAX_SBOM_SIZE} bytes paks reads")]
    TooLarge { size: u64 },
    #[error("the SBOM is not JSON")]
    Json(#[source] serde_json::Error),
    #[error("the document is neither SPDX (`spdxVersion`) nor CycloneDX (`bomFormat`) JSON")]
    UnknownFormat,
    #[error("the SBOM's `{0}` is not a list")]
    Shape(&'static str),
}

impl ComponentList {
    /// Reads an SPDX 2.x or `CycloneDX` 1.x JSON document, telling them apart by their
    /// `spdxVersion` and `bomFormat` fields.
    pub fn parse(bytes: &[u8]) -> Result<Self, ReadError> {
        let size = bytes.len() as u64;
        if size > MAX_SBOM_SIZE {
            return Err(ReadError::TooLarge { size });
        }
        let doc: Value = serde_json::from_slice(bytes).map_err(ReadError::Json)?;
        if doc.get("spdxVersion").is_some() {
            spdx(&doc)
        } else if doc.get("bomFormat").and_then(Value::as_str) == Some("CycloneDX") {
            cyclonedx(&doc)
        } else {
            Err(ReadError::UnknownFormat)
        }
    }
}

/// A `CycloneDX` 1.5 document listing `sbom`'s components: what `paks sbom --format
/// cyclonedx` prints for an SPDX SBOM. Checksums of algorithms `CycloneDX` names are kept.
pub fn to_cyclonedx(sbom: &ComponentList) -> Value {
    let components: Vec<Value> = sbom
        .components
        .iter()
        .map(|c| {
            let mut v = serde_json::json!({"type": "library", "name": c.name});
            if let Some(version) = &c.version {
                v["version"] = version.as_str().into();
            }
            if let Some(purl) = &c.purl {
                v["purl"] = purl.as_str().into();
            }
            let hashes: Vec<Value> = c
                .checksums
                .iter()
                .filter_map(|(alg, sum)| {
                    let alg = match alg.as_str() {
                        "md5" => "MD5",
                        "sha1" => "SHA-1",
                        "sha256" => "SHA-256",
                        "sha384" => "SHA-384",
                        "sha512" => "SHA-512",
                        _ => return None,
                    };
                    Some(serde_json::json!({"alg": alg, "content": sum}))
                })
                .collect();
            if !hashes.is_empty() {
                v["hashes"] = hashes.into();
            }
            if let Some(license) = &c.license {
                v["licenses"] = serde_json::json!([{"expression": license}]);
            }
            v
        })
        .collect();
    serde_json::json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "components": components,
    })
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn list<'a>(v: &'a Value, key: &'static str) -> Result<&'a [Value], ReadError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(ReadError::Shape(key)),
    }
}

/// `SHA256`, `SHA-256`, `sha256` all become `sha256`.
fn algorithm(name: &str) -> String {
    name.to_ascii_lowercase().replace(['-', '_'], "")
}

fn with_purl(name: String, version: Option<String>, purl: Option<String>) -> Component {
    let ecosystem = purl.as_deref().and_then(Purl::parse).map(|p| p.kind);
    Component {
        name,
        version,
        purl,
        ecosystem,
        checksums: BTreeMap::new(),
        license: None,
    }
}

fn spdx(doc: &Value) -> Result<ComponentList, ReadError> {
    let mut components = Vec::new();
    for package in list(doc, "packages")? {
        let Some(name) = text(package, "name") else {
            continue;
        };
        let purl = list(package, "externalRefs")?
            .iter()
            .find(|r| text(r, "referenceType").as_deref() == Some("purl"))
            .and_then(|r| text(r, "referenceLocator"));
        let mut c = with_purl(name, text(package, "versionInfo"), purl);
        for sum in list(package, "checksums")? {
            if let (Some(alg), Some(value)) = (text(sum, "algorithm"), text(sum, "checksumValue")) {
                c.checksums
                    .insert(algorithm(&alg), value.to_ascii_lowercase());
            }
        }
        // What the author concluded wins over what the package declares.
        c.license = ["licenseConcluded", "licenseDeclared"]
            .iter()
            .filter_map(|k| text(package, k))
            .find(|l| l != "NOASSERTION" && l != "NONE");
        components.push(c);
    }
    Ok(ComponentList {
        format: SbomFormat::Spdx,
        name: text(doc, "name"),
        components,
    })
}

fn cyclonedx(doc: &Value) -> Result<ComponentList, ReadError> {
    let mut components = Vec::new();
    let main = doc.get("metadata").and_then(|m| m.get("component"));
    if let Some(main) = main {
        cyclonedx_component(main, &mut components, 0)?;
    }
    for c in list(doc, "components")? {
        cyclonedx_component(c, &mut components, 0)?;
    }
    Ok(ComponentList {
        format: SbomFormat::Cyclonedx,
        name: main.and_then(|m| text(m, "name")),
        components,
    })
}

/// How deep nested `CycloneDX` components are followed: deeper ones are ignored rather
/// than exhausting the stack on hostile input.
const MAX_NESTING: usize = 32;

fn cyclonedx_component(v: &Value, out: &mut Vec<Component>, depth: usize) -> Result<(), ReadError> {
    if depth > MAX_NESTING {
        return Ok(());
    }
    if let Some(name) = text(v, "name") {
        let name = match text(v, "group") {
            Some(group) => format!("{group}/{name}"),
            None => name,
        };
        let mut c = with_purl(name, text(v, "version"), text(v, "purl"));
        for hash in list(v, "hashes")? {
            if let (Some(alg), Some(value)) = (text(hash, "alg"), text(hash, "content")) {
                c.checksums
                    .insert(algorithm(&alg), value.to_ascii_lowercase());
            }
        }
        let licenses: Vec<String> = list(v, "licenses")?
            .iter()
            .filter_map(|l| {
                text(l, "expression").or_else(|| {
                    let license = l.get("license")?;
                    text(license, "id").or_else(|| text(license, "name"))
                })
            })
            .collect();
        c.license = match licenses.len() {
            0 => None,
            1 => licenses.into_iter().next(),
            _ => Some(licenses.join(" AND ")),
        };
        out.push(c);
    }
    for nested in list(v, "components")? {
        cyclonedx_component(nested, out, depth + 1)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purl_parts() {
        let p = Purl::parse(
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&upstream=glibc&distro=debian-12",
        )
        .unwrap();
        assert_eq!(p.kind, "deb");
        assert_eq!(p.namespace.as_deref(), Some("debian"));
        assert_eq!(p.name, "libc6");
        assert_eq!(p.version.as_deref(), Some("2.36-9+deb12u4"));
        assert_eq!(p.qualifiers["upstream"], "glibc");
        assert_eq!(p.without_version(), "pkg:deb/debian/libc6");
        let p = Purl::parse("pkg:npm/%40angular/core@1.0.0").unwrap();
        assert_eq!(
            (p.namespace.as_deref(), p.name.as_str()),
            (Some("@angular"), "core")
        );
        assert_eq!(Purl::parse("pkg:generic/hello").unwrap().version, None);
        assert!(Purl::parse("deb/debian/libc6").is_none());
        assert!(Purl::parse("pkg:deb").is_none());
    }
}
