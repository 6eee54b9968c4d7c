//! `apt-get -s install` from an empty system, and its `Inst` lines.

use std::process::Command;

use paks_types::DebianVersion;

use super::{Apt, AptError, AptPackage, AptRequest};
use crate::deb::relation::check_package_name;

impl Apt {
    /// Every package an empty system needs to install `requests`, as apt chooses them
    /// (no recommends), in apt's unpack order.
    pub(crate) fn simulate(&self, requests: &[AptRequest]) -> Result<Vec<AptPackage>, AptError> {
        let mut command = self.command();
        command.args([
            "-s",
            // An empty dpkg database: the answer does not depend on what this machine has.
            "-o",
            "Dir::State::status=/dev/null",
            "-o",
            "APT::Install-Recommends=false",
            // A simulation needs no lock, and a user who is not root cannot take it.
            "-o",
            "Debug::NoLocking=1",
            "install",
        ]);
        command.args(requests.iter().map(ToString::to_string));
        let stdout = self.run(command, "install", requests)?;
        parse_simulation(&stdout)
    }

    pub(super) fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        // Its output is parsed: no translations.
        command.env("LC_ALL", "C").env_remove("LANGUAGE");
        command
    }

    /// Runs `command`, its stdout when apt succeeds, its `E:` lines as the error otherwise.
    pub(super) fn run(
        &self,
        mut command: Command,
        action: &'static str,
        requests: &[impl ToString],
    ) -> Result<String, AptError> {
        let output = command.output().map_err(|source| AptError::Run {
            program: self.program.to_string_lossy().into_owned(),
            source,
        })?;
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let errors: Vec<&str> = stderr
            .lines()
            .filter_map(|l| l.strip_prefix("E: "))
            .collect();
        let reasons = if errors.is_empty() {
            format!("{} ({})", stderr.trim(), output.status)
        } else {
            errors.join("; ")
        };
        Err(AptError::Refused {
            action,
            requests: requests
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" "),
            reasons,
        })
    }
}

/// The packages of an `apt-get -s install` run from an empty system, from its `Inst` lines.
/// Its summary line must be there and count exactly these, with nothing upgraded or
/// removed (nothing can be, from an empty system); other lines are apt's prose.
pub fn parse_simulation(stdout: &str) -> Result<Vec<AptPackage>, AptError> {
    let bad = |line: &str, reason: &str| AptError::Output {
        command: "install -s",
        line: line.to_owned(),
        reason: reason.to_owned(),
    };
    let mut packages = Vec::new();
    let mut summary = None;
    for line in stdout.lines() {
        if let Some(rest) = line.strip_prefix("Inst ") {
            packages.push(parse_inst(rest).map_err(|reason| bad(line, &reason))?);
        } else if line.starts_with("Remv ") || line.starts_with("Purg ") {
            return Err(bad(line, "an empty system has nothing to remove"));
        } else if line.contains(" upgraded, ") {
            let counts = parse_summary(line).ok_or_else(|| bad(line, "not apt's summary"))?;
            summary = Some((line, counts));
        }
    }
    let Some((line, [upgraded, installed, removed, _])) = summary else {
        return Err(bad(
            "",
            "no `N upgraded, N newly installed, ...` summary line",
        ));
    };
    if upgraded != 0 || removed != 0 || installed != packages.len() {
        return Err(bad(
            line,
            &format!(
                "the summary does not match the {} `Inst` lines",
                packages.len()
            ),
        ));
    }
    Ok(packages)
}

/// `NAME[:ARCH] (VERSION RELEASE[, RELEASE...] [ARCH])`, optionally followed by ` [...]`
/// (the packages left unconfigured at that step, as in a dependency cycle).
fn parse_inst(rest: &str) -> Result<AptPackage, String> {
    let (full_name, rest) = rest
        .split_once(' ')
        .ok_or("expected `NAME (VERSION ...)`")?;
    if rest.starts_with('[') {
        return Err("an installed version, from an empty system".to_owned());
    }
    let inner = rest
        .strip_prefix('(')
        .ok_or("expected `(` after the name")?;
    let (inner, after) = inner.split_once(')').ok_or("expected `)`")?;
    if !(after.is_empty() || after.starts_with(" [") && after.ends_with(']')) {
        return Err(format!("unexpected `{after}` after `)`"));
    }
    let (version, inner) = inner
        .split_once(' ')
        .ok_or("expected `VERSION RELEASE [ARCH]`")?;
    version
        .parse::<DebianVersion>()
        .map_err(|e| e.to_string())?;
    let (releases, arch) = inner.rsplit_once(' ').ok_or("expected `RELEASE [ARCH]`")?;
    let architecture = arch
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
        .filter(|a| is_arch(a))
        .ok_or_else(|| format!("`{arch}` is not `[ARCH]`"))?;
    if releases.trim().is_empty() {
        return Err("no release".to_owned());
    }
    let (name, foreign) = match full_name.split_once(':') {
        Some((n, a)) if a == architecture => (n, true),
        Some((_, a)) => return Err(format!("`:{a}` differs from `[{architecture}]`")),
        None => (full_name, false),
    };
    check_package_name(name)?;
    Ok(AptPackage {
        name: name.to_owned(),
        version: version.to_owned(),
        architecture: architecture.to_owned(),
        foreign,
    })
}

fn is_arch(a: &str) -> bool {
    !a.is_empty()
        && a.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `U upgraded, N newly installed, R to remove and K not upgraded.`
fn parse_summary(line: &str) -> Option<[usize; 4]> {
    let mut counts = [0; 4];
    let rest = line.strip_suffix(" not upgraded.")?;
    let mut parts = rest.split(", ");
    let (a, b, c) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let (c, d) = c.split_once(" and ")?;
    for (i, (text, suffix)) in [
        (a, " upgraded"),
        (b, " newly installed"),
        (c, " to remove"),
        (d, ""),
    ]
    .into_iter()
    .enumerate()
    {
        counts[i] = text.strip_suffix(suffix)?.parse().ok()?;
    }
    Some(counts)
}

/// The package each request names, in request order (each once), from the closure.
pub(super) fn select(
    requests: &[AptRequest],
    closure: &[AptPackage],
) -> Result<Vec<AptPackage>, AptError> {
    let mut chosen: Vec<AptPackage> = Vec::new();
    for request in requests {
        let package =
            closure
                .iter()
                .find(|p| request.names(p))
                .ok_or_else(|| AptError::NotSelected {
                    request: request.to_string(),
                })?;
        if !chosen.contains(package) {
            chosen.push(package.clone());
        }
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What apt 2.6 (Debian 12) prints for `hello` (status lines and `Conf` trimmed).
    const HELLO: &str = "\
Reading package lists...
The following NEW packages will be installed:
  gcc-12-base hello libc6 libgcc-s1
0 upgraded, 4 newly installed, 0 to remove and 0 not upgraded.
Inst gcc-12-base (12.2.0-14+deb12u1 Debian:12.15/oldstable [amd64])
Inst libgcc-s1 (12.2.0-14+deb12u1 Debian:12.15/oldstable [amd64]) []
Inst libc6 (2.36-9+deb12u14 Debian:12.15/oldstable, Debian-Security:12/oldstable-security [amd64])
Inst hello:i386 (2.10-3 Debian:12.15/oldstable [i386])
Conf gcc-12-base (12.2.0-14+deb12u1 Debian:12.15/oldstable [amd64])
";

    #[test]
    fn reads_inst_lines_in_order() {
        let p = parse_simulation(HELLO).unwrap();
        let specs: Vec<String> = p.iter().map(AptPackage::spec).collect();
        assert_eq!(
            specs,
            [
                "gcc-12-base=12.2.0-14+deb12u1",
                "libgcc-s1=12.2.0-14+deb12u1",
                "libc6=2.36-9+deb12u14",
                "hello:i386=2.10-3"
            ]
        );
        assert_eq!(p[3].name, "hello");
        assert_eq!(p[3].architecture, "i386");
    }

    #[test]
    fn refuses_lines_it_does_not_understand() {
        let summary = "1 upgraded, 1 newly installed, 0 to remove and 0 not upgraded.\n";
        for (line, why) in [
            ("Inst hello [2.9] (2.10-3 D [amd64])", "installed version"),
            ("Inst hello 2.10-3 D [amd64]", "expected `(`"),
            ("Inst hello (2.10-3 D amd64)", "is not `[ARCH]`"),
            ("Inst hello (2.10-3 [amd64])", "expected `RELEASE [ARCH]`"),
            ("Inst hello (x D [amd64])", "version"),
            ("Inst Hello (2.10-3 D [amd64])", "not a package name"),
            ("Inst hello:i386 (2.10-3 D [amd64])", "differs"),
            ("Inst hello (2.10-3 D [amd64]) junk", "unexpected"),
            ("Remv hello [2.10-3]", "nothing to remove"),
        ] {
            let e = parse_simulation(&format!("{line}\n{summary}"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(why) && e.contains(line), "{line}: {e}");
        }
        let e = parse_simulation("Inst hello (2.10-3 D [amd64])\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("summary"), "{e}");
        let e = parse_simulation("0 upgraded, 2 newly installed, 0 to remove and 0 not upgraded.\nInst hello (2.10-3 D [amd64])\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not match the 1"), "{e}");
    }

    #[test]
    fn selects_the_named_packages_only() {
        let all = parse_simulation(HELLO).unwrap();
        let req = |s: &str| s.parse::<AptRequest>().unwrap();
        let chosen = select(
            &[
                req("libc6"),
                req("hello:i386"),
                req("libc6=2.36-9+deb12u14"),
            ],
            &all,
        )
        .unwrap();
        assert_eq!(chosen, [all[2].clone(), all[3].clone()]);
        let e = select(&[req("hello:amd64")], &all).unwrap_err();
        assert!(matches!(e, AptError::NotSelected { .. }), "{e}");
    }
}
