//! Lock environments: a platform, optionally narrowed to a microarchitecture target
//! (`linux/amd64`, `linux/amd64+x86_64_v4`). A lock resolves its requests once per
//! environment, and an installer uses the best environment its host can run.

use std::fmt;
use std::str::FromStr;

use paks_host::HostProfile;
use paks_types::Platform;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One environment a lock is resolved for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Environment {
    pub platform: Platform,
    /// The microarchitecture (archspec name); `None` is the platform's baseline: any CPU
    /// of its architecture.
    pub target: Option<String>,
}

/// The generic archspec target of an OCI architecture (`amd64` → `x86_64`).
fn family(architecture: &str) -> String {
    HostProfile::generic_target(architecture).unwrap_or_else(|| architecture.to_owned())
}

impl Environment {
    /// The environments of `platforms` and `targets`: each platform's baseline, then one
    /// per target of that platform's architecture, sorted. A target that fits none of the
    /// platforms is returned in the error.
    pub fn expand(platforms: &[Platform], targets: &[String]) -> Result<Vec<Self>, String> {
        let mut out = Vec::new();
        for p in platforms {
            out.push(Self {
                platform: p.clone(),
                target: None,
            });
        }
        for t in targets {
            let runs = HostProfile::targets_for(t).unwrap_or_default();
            let fits: Vec<&Platform> = platforms
                .iter()
                .filter(|p| runs.contains(&family(&p.architecture)))
                .collect();
            if fits.is_empty() {
                return Err(t.clone());
            }
            for p in fits {
                out.push(Self {
                    platform: p.clone(),
                    target: Some(t.clone()),
                });
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// A host profile that stands for every machine of this environment, for the
    /// resolver: the platform's architecture, the target's microarchitecture (or the
    /// architecture's generic baseline), and no known glibc (the lock records each build's
    /// glibc, and the installer checks it against the real host).
    pub fn profile(&self) -> HostProfile {
        let cpu = self
            .target
            .clone()
            .unwrap_or_else(|| family(&self.platform.architecture));
        HostProfile {
            os: self.platform.os.clone(),
            arch: self.platform.architecture.clone(),
            targets: HostProfile::targets_for(&cpu).unwrap_or_default(),
            microarch: self.target.clone(),
            glibc: None,
            ..HostProfile::default()
        }
    }

    /// How well `host` runs this environment (0 = best), or `None` if it cannot: its
    /// platform must match and it must run the target; a baseline ranks last.
    pub fn rank_on(&self, host: &HostProfile) -> Option<usize> {
        if !self.platform.runs_on(&host.platform()) {
            return None;
        }
        host.can_run_target(self.target.as_deref())
    }

    /// The best environment of `environments` for `host`.
    pub fn best_for<'e>(environments: &'e [Self], host: &HostProfile) -> Option<&'e Self> {
        environments
            .iter()
            .filter_map(|e| e.rank_on(host).map(|r| (r, e)))
            .min()
            .map(|(_, e)| e)
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.platform)?;
        if let Some(t) = &self.target {
            write!(f, "+{t}")?;
        }
        Ok(())
    }
}

impl FromStr for Environment {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (platform, target) = match s.split_once('+') {
            Some((p, t)) => (p, Some(t)),
            None => (s, None),
        };
        let platform = platform.parse::<Platform>().map_err(|e| e.to_string())?;
        if let Some(t) = target
            && HostProfile::targets_for(t).is_none()
        {
            return Err(format!("`{t}` is not a microarchitecture paks knows"));
        }
        Ok(Self {
            platform,
            target: target.map(str::to_owned),
        })
    }
}

impl Serialize for Environment {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Environment {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(s: &str) -> Environment {
        s.parse().unwrap()
    }

    #[test]
    fn expands_platforms_and_targets() {
        let platforms = [
            "linux/amd64".parse().unwrap(),
            "linux/arm64".parse().unwrap(),
        ];
        let envs =
            Environment::expand(&platforms, &["x86_64_v4".into(), "x86_64_v3".into()]).unwrap();
        let shown: Vec<String> = envs.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "linux/amd64",
                "linux/amd64+x86_64_v3",
                "linux/amd64+x86_64_v4",
                "linux/arm64"
            ]
        );
        assert_eq!(
            Environment::expand(&platforms[..1], &["neoverse_n1".into()]),
            Err("neoverse_n1".into())
        );
        assert!("linux/amd64+nonsense".parse::<Environment>().is_err());
        assert_eq!(
            env("linux/arm64+neoverse_n1").to_string(),
            "linux/arm64+neoverse_n1"
        );
    }

    #[test]
    fn a_host_gets_its_best_environment() {
        let envs = [
            env("linux/amd64"),
            env("linux/amd64+x86_64_v3"),
            env("linux/amd64+x86_64_v4"),
            env("linux/arm64"),
        ];
        let host = |microarch: &str, arch: &str| HostProfile {
            os: "linux".into(),
            arch: arch.into(),
            targets: HostProfile::targets_for(microarch).unwrap(),
            ..HostProfile::default()
        };
        let best = |h: &HostProfile| Environment::best_for(&envs, h).map(ToString::to_string);
        assert_eq!(
            best(&host("x86_64_v4", "amd64")).unwrap(),
            "linux/amd64+x86_64_v4"
        );
        assert_eq!(
            best(&host("haswell", "amd64")).unwrap(),
            "linux/amd64+x86_64_v3"
        );
        assert_eq!(best(&host("x86_64_v2", "amd64")).unwrap(), "linux/amd64");
        assert_eq!(best(&host("neoverse_n1", "arm64")).unwrap(), "linux/arm64");
        assert_eq!(best(&host("power9le", "ppc64le")), None);
        // The stand-in profile of an environment runs its own target and baseline builds.
        let v3 = env("linux/amd64+x86_64_v3").profile();
        assert_eq!(v3.can_run_target(Some("x86_64_v3")), Some(0));
        assert!(v3.can_run_target(Some("x86_64_v4")).is_none());
        assert!(
            env("linux/arm64")
                .profile()
                .can_run_target(Some("aarch64"))
                .is_some()
        );
    }
}
