//! `paks containerize`: the image `paks image build` composes, as a multi-stage Dockerfile
//! for builders that must go through `docker build`. The install stage runs paks (from an
//! image that has it) to install the packages, pinned by digest, into `/opt/paks` and make
//! the view; the final stage copies only the store and the view onto the base (pinned by
//! digest), with the same environment, labels and entrypoint as the composed image.

use std::fmt::Write as _;

use serde_json::Value;

use crate::compose::{Composed, PlatformInput};
use crate::spec::ImageSpec;

/// The Dockerfile for `input` (composed as `image`), installing with `paks_image`;
/// `origin` names the spec in its header.
pub fn dockerfile(
    spec: &ImageSpec,
    input: &PlatformInput,
    image: &Composed,
    paks_image: &str,
    origin: &str,
) -> String {
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
            let _ = writeln!(d, "ENV {k}={}", quote(v));
        }
    }
    if let Some(labels) = cfg["Labels"].as_object() {
        let base_labels = input.base.as_ref().map(|b| &b.config["config"]["Labels"]);
        for (k, v) in labels {
            if base_labels.is_some_and(|b| &b[k] == v) {
                continue;
            }
            if let Some(v) = v.as_str() {
                let _ = writeln!(d, "LABEL {}={}", quote(k), quote(v));
            }
        }
    }
    if let Some(w) = &spec.workdir {
        let _ = writeln!(d, "WORKDIR {w}");
    }
    if let Some(u) = &spec.user {
        let _ = writeln!(d, "USER {u}");
    }
    if let Some(ep) = &spec.entrypoint {
        let _ = writeln!(d, "ENTRYPOINT {}", serde_json::to_string(ep).expect("JSON"));
    }
    if let Some(cmd) = &spec.cmd {
        let _ = writeln!(d, "CMD {}", serde_json::to_string(cmd).expect("JSON"));
    }
    d
}

/// A double-quoted Dockerfile word: `"`, `\` and `$` escaped, so nothing expands.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if matches!(c, '"' | '\\' | '$') {
            out.push('\\');
        }
        if c == '\n' {
            out.push_str("\\n");
            continue;
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn quotes_so_nothing_expands() {
        assert_eq!(quote(r#"a "b" $PATH \x"#), r#""a \"b\" \$PATH \\x""#);
    }
}
