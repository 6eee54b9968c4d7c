//! `--patch` output: a change to a text file as a unified diff, as `git apply` and
//! `patch -p1` read it.

use std::path::Path;

/// The unified diff (3 lines of context) that turns `old` into `new`, with `a/` and `b/`
/// headers naming `path`; empty when nothing changed.
pub fn unified(path: &Path, old: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    let name = path.display().to_string();
    let name = name.trim_start_matches("./");
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{name}"), &format!("b/{name}"))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_file_and_shows_context() {
        let diff = unified(Path::new("./z/paks.toml"), "a\nb\nc\n", "a\nB\nc\n");
        assert_eq!(
            diff,
            "--- a/z/paks.toml\n+++ b/z/paks.toml\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"
        );
        assert_eq!(unified(Path::new("x"), "same", "same"), "");
    }
}
