//! What changed between two SBOMs: components added, removed, and changed in version,
//! checksum or license.
//!
//! Components are paired by their package URL without version (else by name), so a
//! component whose version moved is one change rather than a removal and an addition.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::components::{Component, ComponentList};

/// A component in both SBOMs that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Changed {
    /// The component's name in the newer SBOM.
    pub name: String,
    /// What differs: `version`, `checksum`, `license`.
    pub fields: Vec<&'static str>,
    pub from: Component,
    pub to: Component,
}

/// The differences from one SBOM to another.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SbomDiff {
    pub added: Vec<Component>,
    pub removed: Vec<Component>,
    pub changed: Vec<Changed>,
}

impl SbomDiff {
    /// Whether the two SBOMs list the same components.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// What differs between the two versions of one component.
fn differences(from: &Component, to: &Component) -> Vec<&'static str> {
    let mut fields = Vec::new();
    if from.version != to.version {
        fields.push("version");
    }
    // Only algorithms both sides state can disagree.
    if from
        .checksums
        .iter()
        .any(|(alg, sum)| to.checksums.get(alg).is_some_and(|other| other != sum))
    {
        fields.push("checksum");
    }
    if from.license != to.license {
        fields.push("license");
    }
    fields
}

/// The components of `from` and `to` compared.
pub fn diff(from: &ComponentList, to: &ComponentList) -> SbomDiff {
    let group = |sbom: &ComponentList| {
        let mut by_key: BTreeMap<String, Vec<Component>> = BTreeMap::new();
        for c in &sbom.components {
            by_key.entry(c.key()).or_default().push(c.clone());
        }
        by_key
    };
    let (mut old, mut new) = (group(from), group(to));
    let mut out = SbomDiff::default();
    let keys: std::collections::BTreeSet<String> = old.keys().chain(new.keys()).cloned().collect();
    for key in keys {
        let mut olds = old.remove(&key).unwrap_or_default();
        let mut news = new.remove(&key).unwrap_or_default();
        // Identical entries first, so that a key listed twice pairs what it can.
        olds.retain(|o| {
            news.iter()
                .position(|n| n == o)
                .map(|i| news.remove(i))
                .is_none()
        });
        let paired = olds.len().min(news.len());
        let rest_new = news.split_off(paired);
        let rest_old = olds.split_off(paired);
        for (o, n) in olds.into_iter().zip(news) {
            let fields = differences(&o, &n);
            if !fields.is_empty() {
                out.changed.push(Changed {
                    name: n.name.clone(),
                    fields,
                    from: o,
                    to: n,
                });
            }
        }
        out.added.extend(rest_new);
        out.removed.extend(rest_old);
    }
    out
}
