use std::fmt;
use std::str::FromStr;

use crate::TypeError;

/// An OCI platform: `os/architecture[/variant]`, with Go's names (`linux/amd64`,
/// `linux/arm64/v8`), as image indexes write them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// The platform this binary was compiled for, which is the host's.
    pub fn host() -> Self {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            other => other,
        };
        Self {
            os: std::env::consts::OS.to_owned(),
            architecture: architecture.to_owned(),
            variant: None,
        }
    }

    /// Whether a package built for `self` runs on `host`. A platform without a variant
    /// matches every variant of its architecture.
    pub fn runs_on(&self, host: &Platform) -> bool {
        self.os == host.os
            && self.architecture == host.architecture
            && (self.variant.is_none() || self.variant == host.variant)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl FromStr for Platform {
    type Err = TypeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| TypeError::Platform {
            value: s.to_owned(),
            reason,
        };
        let parts: Vec<&str> = s.split('/').collect();
        let ok = |p: &str| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(|p| ok(p)) {
            return Err(err(
                "expected `os/architecture[/variant]`, such as `linux/amd64`",
            ));
        }
        Ok(Self {
            os: parts[0].to_owned(),
            architecture: parts[1].to_owned(),
            variant: parts.get(2).map(|v| (*v).to_owned()),
        })
    }
}

crate::serde_via_str!(Platform);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_display_and_match() {
        let p: Platform = "linux/arm64/v8".parse().unwrap();
        assert_eq!(p.to_string(), "linux/arm64/v8");
        let generic: Platform = "linux/arm64".parse().unwrap();
        assert!(generic.runs_on(&p));
        assert!(!p.runs_on(&"linux/arm64/v9".parse().unwrap()));
        assert!(!generic.runs_on(&"linux/amd64".parse().unwrap()));
        for bad in ["linux", "linux/", "/amd64", "Linux/amd64", "a/b/c/d"] {
            assert!(bad.parse::<Platform>().is_err(), "{bad}");
        }
    }

    #[test]
    fn host_is_linux_here() {
        assert_eq!(Platform::host().os, std::env::consts::OS);
    }
}
