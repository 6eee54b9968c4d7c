//! `update-alternatives --install` lines of a `postinst`: the links its script would
//! have made, recorded for the image composer.

use paks_types::Alternative;

/// What a `postinst` declares: the alternatives understood, and the lines that call
/// `update-alternatives --install` in a way not understood (shell variables, quoting).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Declared {
    pub alternatives: Vec<Alternative>,
    pub not_understood: Vec<String>,
}

/// Reads every `update-alternatives --install LINK NAME PATH PRIORITY [--slave LINK NAME
/// PATH]...` in `script` (continuation lines joined). Only literal arguments are taken: a
/// line with `$`, a backtick or a quote is listed as not understood. Each slave becomes
/// an alternative of its own with the master's priority, so the master's winner wins its
/// slaves too. Paths are made relative to `/`.
pub fn parse(script: &str) -> Declared {
    let mut out = Declared::default();
    let mut joined = String::new();
    for line in script.lines() {
        if let Some(start) = line.strip_suffix('\\') {
            joined.push_str(start);
            joined.push(' ');
            continue;
        }
        joined.push_str(line);
        let logical = std::mem::take(&mut joined);
        let words: Vec<&str> = logical.split_whitespace().collect();
        let Some(at) = words.iter().position(|w| *w == "update-alternatives") else {
            continue;
        };
        let args = &words[at + 1..];
        if !args.contains(&"--install") {
            continue;
        }
        let shown = logical.split_whitespace().collect::<Vec<_>>().join(" ");
        match install(args) {
            Some(found) => out.alternatives.extend(found),
            None => out.not_understood.push(shown),
        }
    }
    out
}

/// The alternatives of one call's arguments, or `None` when they are not plain literals
/// of the documented shape.
fn install(args: &[&str]) -> Option<Vec<Alternative>> {
    if args
        .iter()
        .any(|a| a.contains(['$', '`', '"', '\'', ';', '|', '&', '>', '<']))
    {
        return None;
    }
    let mut found = Vec::new();
    let mut i = 0;
    let mut priority = None;
    while i < args.len() {
        match args[i] {
            "--install" => {
                let [link, name, path, prio] = args.get(i + 1..i + 5)? else {
                    return None;
                };
                let prio: i64 = prio.parse().ok()?;
                priority = Some(prio);
                found.push(alternative(link, name, path, prio)?);
                i += 5;
            }
            "--slave" => {
                let [link, name, path] = args.get(i + 1..i + 4)? else {
                    return None;
                };
                found.push(alternative(link, name, path, priority?)?);
                i += 4;
            }
            // Options that take no argument (`--quiet`, `--force`) change nothing here.
            flag if flag.starts_with("--") && priority.is_none() => i += 1,
            _ => return None,
        }
    }
    (!found.is_empty()).then_some(found)
}

fn alternative(link: &str, name: &str, path: &str, priority: i64) -> Option<Alternative> {
    let relative = |p: &str| {
        let rest = p.strip_prefix('/')?;
        (!rest.is_empty()
            && !rest
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == ".."))
        .then(|| rest.to_owned())
    };
    Some(Alternative {
        name: name.to_owned(),
        link: relative(link)?,
        path: relative(path)?,
        priority,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_continuations_and_records_slaves() {
        let script = "#!/bin/sh\nset -e\nif true; then\n  update-alternatives --install /usr/bin/awk awk /usr/bin/mawk 5 \\\n    --slave /usr/bin/nawk nawk /usr/bin/mawk\nfi\n";
        let d = parse(script);
        assert!(d.not_understood.is_empty());
        let names: Vec<_> = d
            .alternatives
            .iter()
            .map(|a| {
                (
                    a.name.as_str(),
                    a.link.as_str(),
                    a.path.as_str(),
                    a.priority,
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                ("awk", "usr/bin/awk", "usr/bin/mawk", 5),
                ("nawk", "usr/bin/nawk", "usr/bin/mawk", 5)
            ]
        );
    }

    #[test]
    fn variables_and_odd_shapes_are_not_understood() {
        let script = "update-alternatives --install /usr/bin/x x /usr/lib/$ARCH/x 10\n\
                      update-alternatives --install /usr/bin/y y\n\
                      update-alternatives --remove y /usr/bin/y\n";
        let d = parse(script);
        assert!(d.alternatives.is_empty());
        assert_eq!(d.not_understood.len(), 2, "{d:?}");
        assert!(d.not_understood[0].contains("$ARCH"));
    }
}
