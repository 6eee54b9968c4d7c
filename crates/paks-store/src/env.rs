//! The environment that makes a set of installed packages usable.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::Path;

use paks_types::{EnvAction, PackageId};

use crate::{Store, StoreError};

/// Search paths every package gets for the directories it has, in this order.
const SEARCH_PATHS: &[(&str, &str)] = &[
    ("PATH", "bin"),
    ("LD_LIBRARY_PATH", "lib"),
    ("LD_LIBRARY_PATH", "lib64"),
    ("LIBRARY_PATH", "lib"),
    ("LIBRARY_PATH", "lib64"),
    ("CPATH", "include"),
    ("PKG_CONFIG_PATH", "lib/pkgconfig"),
    ("PKG_CONFIG_PATH", "lib64/pkgconfig"),
    ("PKG_CONFIG_PATH", "share/pkgconfig"),
    ("MANPATH", "share/man"),
];

/// One variable's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    /// Replaces whatever was set.
    Set(String),
    /// A `:`-separated list around the current value.
    List {
        prepend: Vec<String>,
        append: Vec<String>,
    },
}

/// The variables to set, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvSet {
    pub vars: BTreeMap<String, EnvValue>,
}

impl EnvSet {
    fn add(&mut self, name: &str, value: String, action: EnvAction) {
        let slot = self
            .vars
            .entry(name.to_owned())
            .or_insert_with(|| EnvValue::List {
                prepend: vec![],
                append: vec![],
            });
        match (action, slot) {
            (EnvAction::Set, slot) => *slot = EnvValue::Set(value),
            (EnvAction::Prepend, EnvValue::List { prepend, .. }) => {
                prepend.retain(|v| v != &value);
                prepend.insert(0, value);
            }
            (EnvAction::Append, EnvValue::List { append, .. }) => {
                if !append.contains(&value) {
                    append.push(value);
                }
            }
            // A later package adding to a variable an earlier one set: extend the set value.
            (EnvAction::Prepend, EnvValue::Set(current)) => *current = format!("{value}:{current}"),
            (EnvAction::Append, EnvValue::Set(current)) => *current = format!("{current}:{value}"),
        }
    }

    /// POSIX shell commands that apply the set: `eval "$(paks env ...)"`. Values are
    /// single-quoted ([`quote`]); names cannot be quoted, so a name that is not a shell
    /// variable name is never written (metadata with one is refused on arrival already).
    pub fn shell_exports(&self) -> String {
        let mut out = String::new();
        for (name, value) in &self.vars {
            if !paks_types::rules::is_env_name(name) {
                continue;
            }
            match value {
                EnvValue::Set(v) => {
                    let _ = writeln!(out, "export {name}={}", quote(v));
                }
                EnvValue::List { prepend, append } => {
                    let mut expr = String::new();
                    if !prepend.is_empty() {
                        expr.push_str(&quote(&prepend.join(":")));
                    }
                    // Keep the current value in between, without stray colons when unset.
                    // MANPATH keeps an empty element so `man` still searches its defaults.
                    match (prepend.is_empty(), name.as_str()) {
                        (false, "MANPATH") => {
                            let _ = write!(expr, "\":${{{name}:-}}\"");
                        }
                        (false, _) => {
                            let _ = write!(expr, "\"${{{name}:+:${name}}}\"");
                        }
                        (true, _) => {
                            let _ = write!(expr, "\"${{{name}:-}}\"");
                        }
                    }
                    if !append.is_empty() {
                        expr.push_str(&quote(&format!(":{}", append.join(":"))));
                    }
                    let _ = writeln!(out, "export {name}={expr}");
                }
            }
        }
        out
    }

    /// The final values, given the current environment: for `paks run`.
    pub fn resolve(&self, current: impl Fn(&str) -> Option<OsString>) -> Vec<(String, OsString)> {
        self.vars
            .iter()
            .map(|(name, value)| {
                let v = match value {
                    EnvValue::Set(v) => OsString::from(v),
                    EnvValue::List { prepend, append } => {
                        let mut parts: Vec<OsString> = prepend.iter().map(OsString::from).collect();
                        match current(name).filter(|c| !c.is_empty()) {
                            Some(c) => parts.push(c),
                            None if name == "MANPATH" => parts.push(OsString::new()),
                            None => {}
                        }
                        parts.extend(append.iter().map(OsString::from));
                        join(&parts)
                    }
                };
                (name.clone(), v)
            })
            .collect()
    }
}

fn join(parts: &[OsString]) -> OsString {
    let mut out = OsString::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push(":");
        }
        out.push(p);
    }
    out
}

/// Single-quote for POSIX sh: the one quoting function for shell syntax paks writes.
/// Inside single quotes nothing expands; a `'` is closed, escaped and reopened.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

impl Store {
    /// The environment of `ids` and their dependencies. The packages asked for come first
    /// in search paths, then their dependencies.
    pub fn env(&self, ids: &[PackageId]) -> Result<EnvSet, StoreError> {
        let mut set = EnvSet::default();
        for record in self.closure(ids)? {
            let prefix = self.prefix(record.id());
            add_package(&mut set, &prefix, &record.meta.env);
        }
        Ok(set)
    }
}

/// Add one package at `prefix` (its search paths, then its own exports).
pub(crate) fn add_package(set: &mut EnvSet, prefix: &Path, env: &[paks_types::EnvVar]) {
    set.add_package(
        &prefix.to_string_lossy(),
        |dir| prefix.join(dir).is_dir(),
        env,
    );
}

impl EnvSet {
    /// Add one package whose prefix is `prefix`: a search path for each directory of
    /// the search-path table it has (`has_dir`, asked with a relative path such as `bin` or
    /// `lib/pkgconfig`), then its own exports with `{prefix}` filled in. The store asks the
    /// filesystem; an image composer asks the package's listed contents.
    pub fn add_package(
        &mut self,
        prefix: &str,
        has_dir: impl Fn(&str) -> bool,
        env: &[paks_types::EnvVar],
    ) {
        for (var, dir) in SEARCH_PATHS {
            if has_dir(dir) {
                self.add(var, format!("{prefix}/{dir}"), EnvAction::Prepend);
            }
        }
        for var in env {
            self.add(&var.name, var.value.replace("{prefix}", prefix), var.action);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_quote_and_keep_current_values() {
        let mut set = EnvSet::default();
        set.add("PATH", "/s/a/bin".into(), EnvAction::Prepend);
        set.add("PATH", "/s/b/bin".into(), EnvAction::Prepend);
        set.add("GREETING", "it's".into(), EnvAction::Set);
        set.add("MANPATH", "/s/a/share/man".into(), EnvAction::Prepend);
        let sh = set.shell_exports();
        assert_eq!(
            sh,
            "export GREETING='it'\\''s'\nexport MANPATH='/s/a/share/man'\":${MANPATH:-}\"\nexport PATH='/s/b/bin:/s/a/bin'\"${PATH:+:$PATH}\"\n"
        );
        let resolved = set.resolve(|n| (n == "PATH").then(|| "/usr/bin".into()));
        assert!(resolved.contains(&("PATH".into(), "/s/b/bin:/s/a/bin:/usr/bin".into())));
        assert!(resolved.contains(&("MANPATH".into(), "/s/a/share/man:".into())));
    }

    #[test]
    fn shell_output_evaluates_in_sh() {
        let mut set = EnvSet::default();
        set.add("PATH", "/x y/bin".into(), EnvAction::Prepend);
        set.add("Q", "a'b\"c$d".into(), EnvAction::Set);
        let script = format!("{}printf '%s|%s' \"$PATH\" \"$Q\"", set.shell_exports());
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .env("PATH", "/usr/bin:/bin")
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            "/x y/bin:/usr/bin:/bin|a'b\"c$d"
        );
    }

    #[test]
    fn names_that_are_not_shell_names_are_never_written() {
        let mut set = EnvSet::default();
        set.add("X;touch /tmp/x;Y", "v".into(), EnvAction::Set);
        set.add("$(id)", "v".into(), EnvAction::Prepend);
        set.add("OK", "v".into(), EnvAction::Set);
        assert_eq!(set.shell_exports(), "export OK='v'\n");
    }
}
