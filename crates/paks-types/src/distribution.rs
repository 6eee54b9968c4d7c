//! The OCI distribution spec's grammar for repository names and tags, shared by the
//! client (`paks-oci`) and the server (`paks-registry`).
//!
//! ```text
//! name       [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
//! tag        [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
//! ```

/// The longest repository name accepted (many clients limit `host/name` to 255).
pub const MAX_NAME_LEN: usize = 255;

/// Whether `s` is a tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn is_valid_tag(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

/// Whether `c` is one `/`-separated component of a name: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
pub fn is_valid_name_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let mut i = 0;
    loop {
        // A run of [a-z0-9]+.
        let start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }
        // A separator: `.`, `_`, `__` or `-+`.
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_and_tags_follow_the_grammar() {
        for ok in ["a", "a.b", "c_d", "e__f", "g--h", "0"] {
            assert!(is_valid_name_component(ok), "{ok}");
        }
        for bad in [
            "", "A", "a_", "_a", "a___b", "a..b", "a.-b", "a b", "..", "a:b",
        ] {
            assert!(!is_valid_name_component(bad), "{bad}");
        }
        for ok in ["latest", "1.2.3", "_x", "A-b_c.d", &"t".repeat(128)] {
            assert!(is_valid_tag(ok), "{ok}");
        }
        for bad in ["", ".x", "-x", "a/b", "a:b", &"t".repeat(129), "a b"] {
            assert!(!is_valid_tag(bad), "{bad}");
        }
    }
}
