//! The licence of a Debian package, from its machine-readable `copyright` file (DEP-5).

use paks_types::rules;

use crate::deb::parse_paragraphs;

/// The `Format:` of a machine-readable copyright file (with `http` or `https`, with or
/// without the trailing `/`).
const DEP5: &str = "://www.debian.org/doc/packaging-manuals/copyright-format/1.0";

/// The short licence name of the `Files: *` paragraph of a DEP-5 `copyright` file, or
/// `None` when the file is not machine-readable or names none (free-text copyright files
/// cannot be read reliably, and a wrong licence is worse than none).
pub fn dep5_license(text: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(text).ok()?;
    let paragraphs = parse_paragraphs(text).ok()?;
    let format = paragraphs.first()?.get("Format")?.trim();
    let format = format.trim_end_matches('/');
    let scheme = format.strip_suffix(DEP5)?;
    if scheme != "https" && scheme != "http" {
        return None;
    }
    let files = paragraphs.iter().find(|p| {
        p.get("Files")
            .is_some_and(|f| f.split_whitespace().any(|w| w == "*"))
    })?;
    let license = files.get("License")?.lines().next()?.trim();
    (rules::text_problem(license).is_none()).then(|| license.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_files_star_paragraph() {
        let text = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: x\n\nFiles: debian/*\nLicense: MIT\n\nFiles: *\nCopyright: someone\nLicense: GPL-3+\n The text.\n";
        assert_eq!(dep5_license(text.as_bytes()).as_deref(), Some("GPL-3+"));
        assert_eq!(dep5_license(b"This is free software.\n"), None);
        let no_star = "Format: http://www.debian.org/doc/packaging-manuals/copyright-format/1.0\n\nFiles: a\nLicense: MIT\n";
        assert_eq!(dep5_license(no_star.as_bytes()), None);
    }
}
