//! What the CLI prints for people goes through here: text that came from a package, an
//! index or a path (names, summaries, exports, error messages) has its control characters
//! escaped, so it cannot move the cursor, retitle the terminal or hide a line. Data for
//! programs (`--json`, `paks env`) is not touched: JSON escapes by itself, and `paks env`
//! quotes what it writes.

use std::borrow::Cow;
use std::io::IsTerminal;
use std::sync::OnceLock;

use crate::env_vars;

/// When to colour output (`--color`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour on a terminal, unless `NO_COLOR` is set (`CLICOLOR_FORCE` forces it)
    #[default]
    Auto,
    /// Always colour, even into a file or pipe
    Always,
    /// Never colour
    Never,
}

impl ColorChoice {
    /// clap's own choice, for its help and usage errors.
    pub fn for_clap(self) -> clap::ColorChoice {
        match self {
            Self::Auto => clap::ColorChoice::Auto,
            Self::Always => clap::ColorChoice::Always,
            Self::Never => clap::ColorChoice::Never,
        }
    }
}

static COLOR: OnceLock<ColorChoice> = OnceLock::new();

/// Sets the process's colour choice once, before anything prints.
pub fn init_color(choice: ColorChoice) {
    let _ = COLOR.set(choice);
}

/// Whether what goes to stderr may carry ANSI colours: a log file or a pipe gets none
/// unless asked for with `--color always` or `CLICOLOR_FORCE`.
pub fn stderr_color() -> bool {
    color_enabled(
        COLOR.get().copied().unwrap_or_default(),
        std::io::stderr().is_terminal(),
        |name| std::env::var_os(name),
    )
}

/// The decision itself: an explicit `--color` wins; then `NO_COLOR`
/// (<https://no-color.org>), then `CLICOLOR_FORCE`, then whether the stream is a terminal
/// (not a `dumb` one).
fn color_enabled(
    choice: ColorChoice,
    terminal: bool,
    var: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> bool {
    let set = |name: &str| var(name).is_some_and(|v| !v.is_empty() && v != "0");
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto if var(env_vars::NO_COLOR).is_some_and(|v| !v.is_empty()) => false,
        ColorChoice::Auto if set(env_vars::CLICOLOR_FORCE) => true,
        ColorChoice::Auto => terminal && var("TERM").is_none_or(|t| t != "dumb"),
    }
}

/// `--color` as given on the command line, read before clap parses it, so that clap's
/// own usage errors follow it too. The last one wins, as clap would take it.
pub fn color_from_args(args: impl IntoIterator<Item = std::ffi::OsString>) -> ColorChoice {
    let mut choice = std::env::var(env_vars::COLOR)
        .ok()
        .and_then(|v| clap::ValueEnum::from_str(&v, true).ok());
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let Some(arg) = arg.to_str() else { continue };
        if arg == "--" {
            break;
        }
        let value = if arg == "--color" {
            args.next().and_then(|v| v.into_string().ok())
        } else if let Some(v) = arg.strip_prefix("--color=") {
            Some(v.to_owned())
        } else {
            continue;
        };
        if let Some(c) = value.and_then(|v| clap::ValueEnum::from_str(&v, true).ok()) {
            choice = Some(c);
        }
    }
    choice.unwrap_or_default()
}

/// `text` in bold with an ANSI colour (`31` red, `33` yellow, `36` cyan) when stderr takes
/// colour.
pub fn paint(text: &str, colour: u8) -> String {
    if stderr_color() {
        format!("\u{1b}[1;{colour}m{text}\u{1b}[0m")
    } else {
        text.to_owned()
    }
}

/// `value` (an object) as one `--json` line with its `"type"` set to `kind`, so that every
/// line a command prints says what it is.
pub(crate) fn typed(kind: &str, value: &impl serde::Serialize) -> serde_json::Value {
    let mut value = serde_json::to_value(value).expect("serialisable");
    if let Some(object) = value.as_object_mut() {
        object.insert("type".to_owned(), kind.into());
    }
    value
}

/// One field on one line: every control character escaped, newlines too.
pub(crate) fn shown(text: &str) -> Cow<'_, str> {
    paks_types::rules::escape_controls(text)
}

/// A message that may span lines (an error, a log's end): control characters escaped
/// line by line, the line breaks kept.
pub(crate) fn shown_lines(text: &str) -> String {
    text.split('\n').map(shown).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_but_keeps_line_breaks_of_messages() {
        assert_eq!(shown("a\nb\u{1b}[2J"), "a\\nb\\u{1b}[2J");
        assert_eq!(shown_lines("a\nb\u{1b}[2J\r"), "a\nb\\u{1b}[2J\\r");
    }

    #[test]
    fn colour_follows_flag_then_no_color_then_force_then_terminal() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| std::ffi::OsString::from(v))
            }
        };
        let auto = ColorChoice::Auto;
        assert!(color_enabled(auto, true, env(&[])));
        assert!(!color_enabled(auto, false, env(&[])));
        assert!(!color_enabled(auto, true, env(&[("NO_COLOR", "1")])));
        assert!(color_enabled(auto, true, env(&[("NO_COLOR", "")])));
        assert!(color_enabled(auto, false, env(&[("CLICOLOR_FORCE", "1")])));
        assert!(!color_enabled(auto, false, env(&[("CLICOLOR_FORCE", "0")])));
        assert!(!color_enabled(auto, true, env(&[("TERM", "dumb")])));
        assert!(color_enabled(
            ColorChoice::Always,
            false,
            env(&[("NO_COLOR", "1")])
        ));
        assert!(!color_enabled(
            ColorChoice::Never,
            true,
            env(&[("CLICOLOR_FORCE", "1")])
        ));
    }

    #[test]
    fn color_flag_is_read_before_parsing() {
        let args = |a: &[&str]| color_from_args(a.iter().map(std::ffi::OsString::from));
        assert_eq!(args(&["paks", "--color", "never", "x"]), ColorChoice::Never);
        assert_eq!(
            args(&["paks", "list", "--color=always"]),
            ColorChoice::Always
        );
        assert_eq!(
            args(&["paks", "run", "a", "--", "--color=never"]),
            ColorChoice::Auto
        );
    }
}
