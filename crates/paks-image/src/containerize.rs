//! `paks containerize`: the image `paks image build` composes, as a multi-stage Dockerfile
//! for builders that must go through `docker build`. The install stage runs paks (from an
//! image that has it) to install the packages, pinned by digest, into `/opt/paks` and make
//! the view; the final stage copies only the store and the view onto the base (pinned by
//! digest), with the same environment, labels and entrypoint as the composed image.

use std::fmt::Write as _;

use serde_json::Value;

use crate::ImageError;
use crate::compose::{Composed, PlatformInput};
use crate::spec::ImageSpec;

/// The Dockerfile for `input` (composed as `image`), installing with `paks_image`;
/// `origin` names the spec in its header. Values from the base image, the packages and the
/// spec are written quoted ([`quote`]); what no quoting can carry (an env name that is not
/// a variable name, a control character) is refused rather than written.
pub fn dockerfile(
    spec: &ImageSpec,
    input: &PlatformInput,
    image: &Composed,
    paks_image: &str,
    origin: &str,
) -> Result<String, ImageError> {
    // `paks install` in the Dockerfile installs into a store; rootfs packages have none.
    if let Some(f) = input
        .packages
        .iter()
        .find(|f| crate::rootfs::is_rootfs(&f.config.paks))
    {
        return Err(ImageError::Dockerfile {
            what: "the rootfs package",
            value: f.config.paks.id.to_string(),
            reason: "`paks install` installs store packages only; compose the image with `paks image build`",
        });
    }
    let config: Value = serde_json::from_slice(&image.config).unwrap_or_default();
    let cfg = &config["config"];
    let mut d = String::new();
    let _ = writeln!(d, "# syntax=docker/dockerfile:1");
    let _ = writeln!(
        d,
        "# Written by `paks containerize {origin}`. `paks image build -f {origin}` composes the\n\
         # same image without a build: packages are pinned by digest, the base image too."
    );
    let _ = writeln!(
        d,
        "# The image with paks at /usr/local/bin/paks (`paks containerize --paks-image`)."
    );
    let _ = writeln!(d, "FROM {paks_image} AS install");
    let roots: Vec<String> = input
        .packages
        .iter()
        .filter(|f| input.explicit.contains(&f.manifest))
        .map(|f| format!("{}/{}@{}", f.repo.registry, f.repo.name, f.manifest))
        .collect();
    let names: Vec<String> = input
        .packages
        .iter()
        .filter(|f| input.explicit.contains(&f.manifest))
        .map(|f| f.config.paks.id.to_string())
        .collect();
    let _ = writeln!(d, "RUN paks --root /opt/paks install \\");
    for r in &roots {
        let _ = writeln!(d, "      {r} \\");
    }
    let _ = writeln!(
        d,
        " && paks --root /opt/paks view create --ignore-conflicts /opt/paks/view {}",
        names.join(" ")
    );
    let _ = writeln!(d);
    match &input.base {
        Some(base) => {
            let _ = writeln!(
                d,
                "FROM {}/{}@{}",
                base.repo.registry, base.repo.name, base.digest
            );
        }
        None => {
            let _ = writeln!(d, "FROM scratch");
        }
    }
    let _ = writeln!(d, "COPY --from=install /opt/paks/store /opt/paks/store");
    let _ = writeln!(d, "COPY --from=install /opt/paks/view /opt/paks/view");
    env_and_labels(&mut d, input, cfg)?;
    // WORKDIR and USER take the rest of the line as it is: only a line break could
    // change the Dockerfile, and the check in `word` refuses those.
    if let Some(w) = &spec.workdir {
        word("the workdir", w)?;
        let _ = writeln!(d, "WORKDIR {w}");
    }
    if let Some(u) = &spec.user {
        word("the user", u)?;
        let _ = writeln!(d, "USER {u}");
    }
    if let Some(ep) = &spec.entrypoint {
        let _ = writeln!(d, "ENTRYPOINT {}", serde_json::to_string(ep).expect("JSON"));
    }
    if let Some(cmd) = &spec.cmd {
        let _ = writeln!(d, "CMD {}", serde_json::to_string(cmd).expect("JSON"));
    }
    Ok(d)
}

/// The composed image's `ENV` and `LABEL` lines that the base does not already have.
fn env_and_labels(d: &mut String, input: &PlatformInput, cfg: &Value) -> Result<(), ImageError> {
    let base_env: Vec<&str> = input
        .base
        .as_ref()
        .and_then(|b| b.config["config"]["Env"].as_array())
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    for e in cfg["Env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if base_env.contains(&e) {
            continue;
        }
        if let Some((k, v)) = e.split_once('=') {
            if !paks_types::rules::is_env_name(k) {
                return Err(ImageError::Dockerfile {
                    what: "the environment variable name",
                    value: shown(k),
                    reason: "expected letters, digits and `_`, not starting with a digit",
                });
            }
            let _ = writeln!(
                d,
                "ENV {k}={}",
                word("the value of an environment variable", v)?
            );
        }
    }
    if let Some(labels) = cfg["Labels"].as_object() {
        let base_labels = input.base.as_ref().map(|b| &b.config["config"]["Labels"]);
        for (k, v) in labels {
            if base_labels.is_some_and(|b| &b[k] == v) {
                continue;
            }
            if let Some(v) = v.as_str() {
                let _ = writeln!(
                    d,
                    "LABEL {}={}",
                    word("the label", k)?,
                    word("the label value", v)?
                );
            }
        }
    }
    Ok(())
}

/// `value` quoted for a Dockerfile, or refused when it has a control character: a line
/// break ends the instruction (what follows would be one of its own), and a Dockerfile
/// has no escape that writes any of them back.
fn word(what: &'static str, value: &str) -> Result<String, ImageError> {
    if value.chars().any(char::is_control) {
        return Err(ImageError::Dockerfile {
            what,
            value: shown(value),
            reason: "it contains a control character",
        });
    }
    Ok(quote(value))
}

fn shown(value: &str) -> String {
    paks_types::rules::escape_controls(value).into_owned()
}

/// A double-quoted Dockerfile word: `"`, `\` and `$` escaped, so nothing expands. The one
/// quoting function for Dockerfile syntax; callers refuse control characters first.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if matches!(c, '"' | '\\' | '$') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::{quote, word};

    #[test]
    fn quotes_so_nothing_expands() {
        assert_eq!(quote(r#"a "b" $PATH \x"#), r#""a \"b\" \$PATH \\x""#);
    }

    #[test]
    fn refuses_what_no_quoting_carries() {
        let err = word("the label value", "a\nRUN touch /pwned").unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot write the label value `a\\nRUN touch /pwned` into a Dockerfile: it contains a control character"
        );
        assert!(word("the user", "1000\r").is_err());
        assert_eq!(word("x", "$(id)").unwrap(), r#""\$(id)""#);
    }
}
