//! The CPU: archspec's microarchitecture, the targets it runs, its feature flags.

use std::sync::Arc;

use archspec::cpu::Microarchitecture;

/// What was found about this CPU.
pub(crate) struct Cpu {
    pub microarch: Option<String>,
    pub targets: Vec<String>,
    pub features: Vec<String>,
}

/// Detects this host's CPU; `oci_arch` names the architecture (`amd64`).
pub(crate) fn detect(oci_arch: &str) -> Cpu {
    match archspec::cpu::host() {
        Ok(m) => Cpu {
            microarch: Some(m.name().to_owned()),
            targets: targets_of(&m),
            features: features_of(&m),
        },
        // Unknown CPU: the architecture's generic root still runs.
        Err(_) => Cpu {
            microarch: None,
            targets: generic_root(oci_arch).into_iter().collect(),
            features: cpuinfo_flags(&fs_err::read_to_string("/proc/cpuinfo").unwrap_or_default()),
        },
    }
}

/// The microarchitecture archspec knows by `name`.
pub(crate) fn known(name: &str) -> Option<&'static Arc<Microarchitecture>> {
    Microarchitecture::known_targets().get(name)
}

pub(crate) fn targets_of(m: &Microarchitecture) -> Vec<String> {
    // Specific ancestors (zen3 for a zen4) before generic levels; within each group the most
    // derived first. archspec's own ancestor order is breadth-first, not by quality.
    let mut ancestors: Vec<&Arc<Microarchitecture>> = m.ancestors().iter().collect();
    ancestors.sort_by_key(|a| {
        (
            a.vendor() == "generic",
            std::cmp::Reverse(a.ancestors().len()),
            a.name().to_owned(),
        )
    });
    std::iter::once(m.name().to_owned())
        .chain(ancestors.into_iter().map(|a| a.name().to_owned()))
        .collect()
}

/// The feature flags archspec lists for `m` and its ancestors, sorted.
pub(crate) fn features_of(m: &Microarchitecture) -> Vec<String> {
    let mut features: Vec<String> = m.all_features().into_iter().collect();
    features.sort();
    features
}

/// The flags of the first CPU in `/proc/cpuinfo` (`flags` on x86, `Features` on arm).
pub(crate) fn cpuinfo_flags(cpuinfo: &str) -> Vec<String> {
    let line = cpuinfo.lines().find_map(|l| {
        let (key, value) = l.split_once(':')?;
        matches!(key.trim(), "flags" | "Features").then_some(value)
    });
    let mut flags: Vec<String> = line
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    flags.sort();
    flags.dedup();
    flags
}

/// The archspec root of an OCI architecture (`amd64` → `x86_64`), which every CPU of that
/// architecture runs; `None` if archspec does not know it.
pub(crate) fn generic_root(oci_arch: &str) -> Option<String> {
    let name = match oci_arch {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        other => other,
    };
    Microarchitecture::known_targets()
        .contains_key(name)
        .then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpuinfo_flags() {
        let x86 = "processor\t: 0\nflags\t\t: sse2 avx2 fpu avx2\n\nprocessor\t: 1\nflags\t: zz\n";
        assert_eq!(cpuinfo_flags(x86), ["avx2", "fpu", "sse2"]);
        let arm = "processor\t: 0\nFeatures\t: fp asimd aes\n";
        assert_eq!(cpuinfo_flags(arm), ["aes", "asimd", "fp"]);
        assert!(cpuinfo_flags("").is_empty());
    }

    #[test]
    fn features_include_ancestors() {
        let f = features_of(known("x86_64_v3").unwrap());
        for flag in ["avx2", "sse4_2", "fma"] {
            assert!(f.contains(&flag.to_owned()), "{flag} in {f:?}");
        }
        assert!(f.windows(2).all(|w| w[0] < w[1]), "sorted, unique");
    }
}
