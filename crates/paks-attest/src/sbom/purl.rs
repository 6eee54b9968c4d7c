//! Package URLs (<https://github.com/package-url/purl-spec>): how SBOM consumers (and
//! vulnerability databases) name a package across ecosystems.

use paks_types::{ForeignFormat, PackageMeta};

/// The package URL of a package build: `pkg:deb/debian/NAME@VERSION?arch=ARCH` for an
/// imported Debian package, `pkg:apk/alpine/NAME@VERSION?arch=ARCH` for an Alpine one
/// (distribution version and architecture verbatim; `&upstream=SOURCE` when the source
/// package has another name), `pkg:generic/NAME@VERSION` for a package paks built.
pub fn purl(meta: &PackageMeta) -> String {
    let Some(origin) = &meta.origin else {
        return generic(meta.name.as_str(), &meta.version.to_string());
    };
    let (kind, namespace) = match origin.format {
        ForeignFormat::Deb => ("deb", "debian"),
        ForeignFormat::Apk => ("apk", "alpine"),
    };
    let mut purl = format!(
        "pkg:{kind}/{namespace}/{}@{}?arch={}",
        encode(meta.name.as_str()),
        encode(&origin.version),
        encode(&origin.architecture)
    );
    // Distributions' advisories name source packages (`glibc`, not `libc6`): the
    // `upstream` qualifier (as syft and trivy write it) lets `paks audit` match them.
    if let Some(source) = origin
        .source
        .as_deref()
        .filter(|s| *s != meta.name.as_str())
    {
        purl.push_str("&upstream=");
        purl.push_str(&encode(source));
    }
    purl
}

/// `pkg:generic/NAME@VERSION`.
pub(super) fn generic(name: &str, version: &str) -> String {
    format!("pkg:generic/{}@{}", encode(name), encode(version))
}

/// Percent-encode everything but the characters a purl component may hold as they are
/// (a Debian epoch's `:` becomes `%3A`, `+` becomes `%2B`).
fn encode(text: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_epochs_and_plus() {
        assert_eq!(encode("1:2.36-9+deb12u4"), "1%3A2.36-9%2Bdeb12u4");
        assert_eq!(generic("hello", "1.0.0"), "pkg:generic/hello@1.0.0");
    }
}
