//! The field rules of package metadata, in one place: `paks-recipe` applies them to what a
//! recipe says and [`PackageMeta::validate`](crate::PackageMeta::validate) to every config
//! that arrives (a `.pak`, a registry, a mirror), so a package that no recipe could have
//! written cannot be installed either, and the two sets of rules cannot drift apart.
//!
//! Why these rules: metadata is written into shell syntax (`paks env`, an image's
//! `/etc/profile.d/paks.sh`) and Dockerfiles (`paks containerize`), and printed on
//! terminals. Names are checked because they cannot be quoted; values are quoted where
//! they are written, and refused only where quoting cannot help (control characters).

use std::borrow::Cow;
use std::path::{Component, Path, PathBuf};

use crate::EnvAction;

/// Environment variables that hold `:`-separated search paths: a package may only prepend
/// or append to them, since setting one would hide every other package's entries (and the
/// system's).
pub const SEARCH_PATH_VARS: &[&str] = &[
    "PATH",
    "LD_LIBRARY_PATH",
    "PKG_CONFIG_PATH",
    "MANPATH",
    "CPATH",
    "LIBRARY_PATH",
    "PYTHONPATH",
    "INFOPATH",
    "XDG_DATA_DIRS",
    "CMAKE_PREFIX_PATH",
    "ACLOCAL_PATH",
];

/// Environment variables no package may export at all: they make every process (the
/// loader's `LD_PRELOAD`, `LD_AUDIT`) or every shell (`BASH_ENV`, `ENV`, prompts,
/// `PROMPT_COMMAND`, `IFS`, shell options) run or parse code the package chose, not only
/// the package's own programs. A package's binaries run its code when called; these would
/// run it whenever anything runs.
pub const REFUSED_ENV_VARS: &[&str] = &[
    "LD_PRELOAD",
    "LD_AUDIT",
    "BASH_ENV",
    "ENV",
    "PROMPT_COMMAND",
    "PS0",
    "PS1",
    "PS2",
    "PS4",
    "IFS",
    "SHELLOPTS",
    "BASHOPTS",
];

/// The longest one-line text field (summary, license) accepted, in bytes.
pub const MAX_TEXT_LEN: usize = 1024;

/// The longest test script a package may carry, in bytes: scripts are short, and the
/// metadata travels in every index and config.
pub const MAX_SCRIPT_LEN: usize = 64 * 1024;

/// What is wrong with a package's test script, if anything: blank, longer than
/// [`MAX_SCRIPT_LEN`], or a control character other than newline, tab and carriage return
/// (a NUL cannot reach `sh -c`, and escapes would reach terminals when it is shown).
pub fn script_problem(script: &str) -> Option<&'static str> {
    if script.trim().is_empty() {
        Some("must not be empty")
    } else if script.len() > MAX_SCRIPT_LEN {
        Some("is longer than 64 KiB")
    } else if script
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
    {
        Some("must not contain control characters other than newlines and tabs")
    } else {
        None
    }
}

/// Whether `name` can be exported by a POSIX shell: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// What is wrong with an exported variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvProblem {
    /// The name is not a shell variable name.
    Name,
    /// The name is one of [`REFUSED_ENV_VARS`].
    Refused,
    /// `set` of one of [`SEARCH_PATH_VARS`].
    SetSearchPath,
    /// A prepended or appended value with an empty entry (the current directory).
    EmptyEntry,
    /// A control character (newline, NUL, escape, ...) in the value.
    Control,
    /// A `{word}` placeholder other than `{prefix}`.
    UnknownPlaceholder(String),
}

impl EnvProblem {
    /// What is wrong, for a message that already names the variable.
    pub fn reason(&self) -> String {
        match self {
            Self::Name => "not a valid environment variable name \
                           (expected letters, digits and `_`, not starting with a digit)"
                .into(),
            Self::Refused => "packages may not export it: it would make every process or \
                              shell run code, not only the package's programs"
                .into(),
            Self::SetSearchPath => "it is a search path: prepend or append to it instead".into(),
            Self::EmptyEntry => {
                "a search path entry is empty, which means the current directory".into()
            }
            Self::Control => "the value contains a control character".into(),
            Self::UnknownPlaceholder(p) => {
                format!("unknown placeholder `{p}` (only `{{prefix}}` is replaced)")
            }
        }
    }
}

/// Check one exported variable: the name (and whether packages may export it at all),
/// then the value for `action`.
pub fn check_env(name: &str, value: &str, action: EnvAction) -> Result<(), EnvProblem> {
    if !is_env_name(name) {
        return Err(EnvProblem::Name);
    }
    if REFUSED_ENV_VARS.contains(&name) {
        return Err(EnvProblem::Refused);
    }
    if action == EnvAction::Set && SEARCH_PATH_VARS.contains(&name) {
        return Err(EnvProblem::SetSearchPath);
    }
    if value.chars().any(char::is_control) {
        return Err(EnvProblem::Control);
    }
    if action != EnvAction::Set && value.split(':').any(str::is_empty) {
        return Err(EnvProblem::EmptyEntry);
    }
    if let Some(p) = unknown_placeholder(value) {
        return Err(EnvProblem::UnknownPlaceholder(p.to_owned()));
    }
    Ok(())
}

/// The first `{word}` in `value` that is not `{prefix}`, the only placeholder paks
/// replaces. `${word}` is left alone: it is shell syntax, not a placeholder.
pub fn unknown_placeholder(value: &str) -> Option<&str> {
    let mut rest = value;
    let mut offset = 0;
    while let Some(open) = rest.find('{') {
        let at = offset + open;
        let after = &value[at + 1..];
        let word_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        let is_shell = value[..at].ends_with('$');
        if word_len > 0 && after[word_len..].starts_with('}') && !is_shell {
            let word = &value[at..at + word_len + 2];
            if word != "{prefix}" {
                return Some(word);
            }
        }
        offset = at + 1;
        rest = &value[offset..];
    }
    None
}

/// What is wrong with a one-line text (a summary, a license), if anything: blank, a
/// control character (which would reach terminals), or longer than [`MAX_TEXT_LEN`].
pub fn text_problem(value: &str) -> Option<&'static str> {
    long_text_problem(value, MAX_TEXT_LEN)
}

/// [`text_problem`] with another length limit, for texts that are long by nature (a
/// Debian package's `Breaks` field can list hundreds of packages).
pub fn long_text_problem(value: &str, max: usize) -> Option<&'static str> {
    if value.trim().is_empty() {
        Some("must not be empty")
    } else if value.contains('\n') {
        Some("must be a single line")
    } else if value.chars().any(char::is_control) {
        Some("must not contain control characters")
    } else if value.len() > max {
        Some(if max == MAX_TEXT_LEN {
            "is longer than 1024 bytes"
        } else {
            "is longer than the limit for this field"
        })
    } else {
        None
    }
}

/// Whether `value` is a `<scheme>://...` URL with one of `schemes` (lower case): a host
/// for network schemes, an absolute path for `file`, and no whitespace or control
/// characters. Deliberately shallow: the client that fetches it has the last word.
pub fn is_url(value: &str, schemes: &[&str]) -> bool {
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((scheme, rest)) = value.split_once("://") else {
        return false;
    };
    let scheme = scheme.to_ascii_lowercase();
    if !schemes.contains(&scheme.as_str()) {
        return false;
    }
    if scheme == "file" {
        return rest.starts_with('/') || rest.starts_with("localhost/");
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    !host.is_empty() && !host.starts_with(':')
}

/// `text` with every control character (C0, DEL, C1: newline, escape, NUL, ...) written as
/// a Rust escape (`\n`, `\u{1b}`), so text from a package cannot move the cursor, retitle
/// the window or hide itself when printed on a terminal. Borrowed when nothing changes.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().collect()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// Why a relative path is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathProblem {
    Empty,
    Absolute,
    ParentDir,
    Nul,
}

impl PathProblem {
    /// What is wrong, in words.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Empty => "the path is empty",
            Self::Absolute => "the path is absolute",
            Self::ParentDir => "the path contains `..`",
            Self::Nul => "the path contains a NUL byte",
        }
    }
}

/// A relative path without `..`, normalised: no `.` components, no repeated or trailing
/// `/`; `.` when nothing is left. `..` is refused outright rather than resolved, because
/// resolving it by string would be wrong as soon as a component is a symbolic link.
pub fn relative_path(value: &str) -> Result<PathBuf, PathProblem> {
    if value.is_empty() {
        return Err(PathProblem::Empty);
    }
    if value.contains('\0') {
        return Err(PathProblem::Nul);
    }
    let path = Path::new(value);
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => normal.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err(PathProblem::ParentDir),
            Component::RootDir | Component::Prefix(_) => return Err(PathProblem::Absolute),
        }
    }
    if normal.as_os_str().is_empty() {
        normal.push(".");
    }
    Ok(normal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_relative_paths() {
        for (input, expected) in [
            ("src", "src"),
            ("./src/", "src"),
            ("a//b/./c", "a/b/c"),
            (".", "."),
            ("./", "."),
        ] {
            assert_eq!(relative_path(input), Ok(PathBuf::from(expected)), "{input}");
        }
        for (input, problem) in [
            ("", PathProblem::Empty),
            ("/src", PathProblem::Absolute),
            ("..", PathProblem::ParentDir),
            ("a/../b", PathProblem::ParentDir),
            ("a/..", PathProblem::ParentDir),
            ("a\0b", PathProblem::Nul),
        ] {
            assert_eq!(relative_path(input), Err(problem), "{input}");
        }
    }

    #[test]
    fn checks_urls_shallowly() {
        let web = ["http", "https"];
        for good in [
            "https://example.org",
            "HTTP://example.org:8080/x?y#z",
            "https://user@host/p",
        ] {
            assert!(is_url(good, &web), "{good}");
        }
        for bad in [
            "example.org",
            "https://",
            "https:///path",
            "https://:80/",
            "ftp://example.org",
            "https://exa mple.org",
            "https://example.org/\u{1b}[2J",
            "file:///tmp/x",
        ] {
            assert!(!is_url(bad, &web), "{bad}");
        }
        assert!(is_url("file:///tmp/x.tar.gz", &["file"]));
        assert!(is_url("file://localhost/tmp/x", &["file"]));
        assert!(!is_url("file://tmp/x", &["file"]));
    }

    #[test]
    fn env_names_are_shell_names() {
        for good in ["PATH", "_x", "A1_B"] {
            assert!(is_env_name(good), "{good}");
        }
        for bad in [
            "", "1A", "A-B", "A.B", "É", "X;id", "X\nY", "X\0", "A=B", "$(id)",
        ] {
            assert!(!is_env_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn env_rules() {
        use EnvAction::{Append, Prepend, Set};
        assert_eq!(check_env("X", "it's $HOME `id` \"q\"", Set), Ok(()));
        assert_eq!(
            check_env("PATH", "{prefix}/bin:{prefix}/sbin", Prepend),
            Ok(())
        );
        assert_eq!(check_env("X;id", "v", Set), Err(EnvProblem::Name));
        assert_eq!(
            check_env("LD_PRELOAD", "/x.so", Prepend),
            Err(EnvProblem::Refused)
        );
        assert_eq!(check_env("BASH_ENV", "/x", Set), Err(EnvProblem::Refused));
        assert_eq!(check_env("PATH", "/x", Set), Err(EnvProblem::SetSearchPath));
        assert_eq!(
            check_env("PYTHONPATH", "/x", Set),
            Err(EnvProblem::SetSearchPath)
        );
        for bad in ["a\nb", "a\0b", "\u{1b}[2J", "a\rb", "\u{9b}"] {
            assert_eq!(
                check_env("X", bad, Set),
                Err(EnvProblem::Control),
                "{bad:?}"
            );
        }
        for empty in ["", ":/x", "/x:", "/a::/b"] {
            assert_eq!(
                check_env("PATH", empty, Append),
                Err(EnvProblem::EmptyEntry)
            );
        }
        assert_eq!(
            check_env("X", "{prefx}/x", Set),
            Err(EnvProblem::UnknownPlaceholder("{prefx}".into()))
        );
    }

    #[test]
    fn texts_are_single_printable_lines() {
        assert_eq!(text_problem("Prints a greeting"), None);
        assert_eq!(text_problem(" "), Some("must not be empty"));
        assert_eq!(text_problem("a\nb"), Some("must be a single line"));
        assert_eq!(
            text_problem("a\u{1b}]0;x\u{7}"),
            Some("must not contain control characters")
        );
        assert!(text_problem(&"x".repeat(MAX_TEXT_LEN + 1)).is_some());
        assert_eq!(script_problem("hello | grep -q Hello\n\tdone\r\n"), None);
        assert!(script_problem(" \n").is_some());
        assert!(script_problem("echo \u{1b}[2J").is_some());
        assert!(script_problem("echo a\0b").is_some());
        assert!(script_problem(&"x".repeat(MAX_SCRIPT_LEN)).is_none());
        assert!(script_problem(&"x".repeat(MAX_SCRIPT_LEN + 1)).is_some());
    }

    #[test]
    fn escapes_control_characters_only() {
        assert!(matches!(
            escape_controls("plain 'text' ü"),
            Cow::Borrowed(_)
        ));
        assert_eq!(
            escape_controls("a\u{1b}[31mred\nb\0\u{9b}"),
            "a\\u{1b}[31mred\\nb\\u{0}\\u{9b}"
        );
    }

    #[test]
    fn finds_unknown_placeholders() {
        assert_eq!(unknown_placeholder("{prefix}/lib:{prefix}/lib64"), None);
        assert_eq!(unknown_placeholder("${HOME}/x {} { a }"), None);
        assert_eq!(unknown_placeholder("{prefix}/{prefx}/x"), Some("{prefx}"));
        assert_eq!(unknown_placeholder("{{PREFIX}}"), Some("{PREFIX}"));
    }
}
