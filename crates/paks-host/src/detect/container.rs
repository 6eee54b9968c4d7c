//! Whether paks runs in a container, and the cgroup limits on its CPU and memory.
//!
//! The runtime from its marker files (`/.dockerenv`, `/run/.containerenv`,
//! `/run/systemd/container`), `KUBERNETES_SERVICE_HOST`, or the names in `/proc/1/cgroup`.
//! The limits from cgroup v2 (`cpu.max`, `memory.max`) or v1 (`cpu.cfs_quota_us` /
//! `cpu.cfs_period_us`, `memory.limit_in_bytes`): the tightest along the path from this
//! process's cgroup up to the root of the hierarchy.

use std::path::{Path, PathBuf};

use crate::{ContainerInfo, Detected};

/// v1 reports "no limit" as a huge page-aligned number.
const V1_UNLIMITED: u64 = 1 << 62;

/// This process's container.
pub(crate) fn detect() -> Detected<ContainerInfo> {
    detect_in(Path::new("/"), &|k| std::env::var(k).ok())
}

/// The container seen under `root` (`/` but in tests), with `env` for the environment.
pub(crate) fn detect_in(
    root: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Detected<ContainerInfo> {
    let self_cgroup = fs_err::read_to_string(root.join("proc/self/cgroup"));
    let cgroup_fs = root.join("sys/fs/cgroup");
    let self_cgroup = match self_cgroup {
        Ok(text) => text,
        Err(e) if !cgroup_fs.is_dir() => {
            return Detected::Unknown(format!("no cgroup information: {e}"));
        }
        Err(_) => String::new(),
    };
    let (cpu_limit, memory_limit) = if cgroup_fs.join("cgroup.controllers").exists() {
        let path = v2_path(&self_cgroup);
        let dirs = up_to(&cgroup_fs, &path);
        (
            min_f64(
                dirs.iter()
                    .filter_map(|d| v2_cpu(&read(&d.join("cpu.max"))?)),
            ),
            dirs.iter()
                .filter_map(|d| v2_memory(&read(&d.join("memory.max"))?))
                .min(),
        )
    } else {
        let cpu_dirs = v1_dirs(
            &cgroup_fs,
            &self_cgroup,
            &["cpu", "cpu,cpuacct", "cpuacct,cpu"],
            "cpu",
        );
        let memory_dirs = v1_dirs(&cgroup_fs, &self_cgroup, &["memory"], "memory");
        (
            min_f64(cpu_dirs.iter().filter_map(|d| {
                v1_cpu(
                    &read(&d.join("cpu.cfs_quota_us"))?,
                    &read(&d.join("cpu.cfs_period_us"))?,
                )
            })),
            memory_dirs
                .iter()
                .filter_map(|d| {
                    read(&d.join("memory.limit_in_bytes"))?
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
                .filter(|&b| b < V1_UNLIMITED)
                .min(),
        )
    };
    Detected::Known(ContainerInfo {
        runtime: runtime(root, env),
        cpu_limit,
        memory_limit,
    })
}

fn read(path: &Path) -> Option<String> {
    fs_err::read_to_string(path).ok()
}

fn min_f64(values: impl Iterator<Item = f64>) -> Option<f64> {
    values.reduce(f64::min)
}

fn runtime(root: &Path, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    if env("KUBERNETES_SERVICE_HOST").is_some_and(|v| !v.is_empty()) {
        return Some("kubernetes".to_owned());
    }
    if let Some(text) = read(&root.join("run/.containerenv")) {
        // `engine="podman-4.9.3"`; the file may be empty.
        let engine = text.lines().find_map(|l| {
            let value = l.strip_prefix("engine=")?.trim_matches('"');
            Some(value.split('-').next().unwrap_or(value).to_owned())
        });
        return Some(
            engine
                .filter(|e| !e.is_empty())
                .unwrap_or_else(|| "podman".to_owned()),
        );
    }
    if root.join(".dockerenv").exists() {
        return Some("docker".to_owned());
    }
    if let Some(text) = read(&root.join("run/systemd/container")) {
        let name = text.trim();
        if !name.is_empty() {
            return Some(name.to_owned());
        }
    }
    let init = read(&root.join("proc/1/cgroup")).unwrap_or_default();
    [
        ("kubepods", "kubernetes"),
        ("libpod", "podman"),
        ("docker", "docker"),
        ("lxc", "lxc"),
        ("containerd", "containerd"),
    ]
    .iter()
    .find(|(needle, _)| init.contains(needle))
    .map(|(_, name)| (*name).to_owned())
}

/// The cgroup v2 path in `/proc/self/cgroup` (`0::/user.slice/…`).
fn v2_path(self_cgroup: &str) -> String {
    self_cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or("/")
        .to_owned()
}

/// `mount/path` and each of its parents up to `mount`, those that exist. With a cgroup
/// namespace (or a bind-mounted hierarchy) the path may not exist below the mount: then
/// only the mount itself is left.
fn up_to(mount: &Path, path: &str) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let mut dir = mount.join(path.trim_start_matches('/'));
    while dir.starts_with(mount) {
        if dir.is_dir() {
            dirs.push(dir.clone());
        }
        if !dir.pop() {
            break;
        }
    }
    dirs
}

/// The directories of the v1 `controller`, mounted under one of `mounts`.
fn v1_dirs(cgroup_fs: &Path, self_cgroup: &str, mounts: &[&str], controller: &str) -> Vec<PathBuf> {
    // `4:memory:/docker/abc` or `2:cpu,cpuacct:/`.
    let path = self_cgroup
        .lines()
        .find_map(|l| {
            let mut fields = l.splitn(3, ':');
            let (_, names, path) = (fields.next()?, fields.next()?, fields.next()?);
            names.split(',').any(|n| n == controller).then_some(path)
        })
        .unwrap_or("/");
    mounts
        .iter()
        .map(|m| cgroup_fs.join(m))
        .find(|m| m.is_dir())
        .map(|mount| up_to(&mount, path))
        .unwrap_or_default()
}

/// `cpu.max`: `max 100000` (no limit) or `150000 100000` (1.5 CPUs).
fn v2_cpu(text: &str) -> Option<f64> {
    let mut words = text.split_whitespace();
    let quota = words.next()?.parse::<u64>().ok()?;
    let period = words
        .next()
        .map_or(Some(100_000), |p| p.parse::<u64>().ok())?;
    ratio(quota, period)
}

/// `memory.max`: `max` or bytes.
fn v2_memory(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// `cpu.cfs_quota_us` (`-1` for none) over `cpu.cfs_period_us`.
fn v1_cpu(quota: &str, period: &str) -> Option<f64> {
    let quota = quota.trim().parse::<i64>().ok()?;
    let period = period.trim().parse::<u64>().ok()?;
    ratio(u64::try_from(quota).ok()?, period)
}

#[allow(
    clippy::cast_precision_loss,
    reason = "cgroup quotas are far below 2^52"
)]
fn ratio(quota: u64, period: u64) -> Option<f64> {
    (quota > 0 && period > 0).then(|| quota as f64 / period as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::detect::test_write as write;

    #[test]
    fn bare_metal_cgroup_v2_without_limits() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(root, "proc/self/cgroup", "0::/user.slice/session-1.scope\n");
        write(root, "proc/1/cgroup", "0::/init.scope\n");
        write(root, "sys/fs/cgroup/cgroup.controllers", "cpu memory\n");
        write(
            root,
            "sys/fs/cgroup/user.slice/session-1.scope/cpu.max",
            "max 100000\n",
        );
        write(
            root,
            "sys/fs/cgroup/user.slice/session-1.scope/memory.max",
            "max\n",
        );
        let info = detect_in(root, &|_| None).into_known().unwrap();
        assert_eq!(info, ContainerInfo::default());
    }

    #[test]
    fn docker_with_cgroup_v2_limits_takes_the_tightest() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(root, ".dockerenv", "");
        write(root, "proc/self/cgroup", "0::/a/b\n");
        write(root, "sys/fs/cgroup/cgroup.controllers", "cpu memory\n");
        write(root, "sys/fs/cgroup/a/b/cpu.max", "max 100000\n");
        write(root, "sys/fs/cgroup/a/cpu.max", "150000 100000\n");
        write(root, "sys/fs/cgroup/a/b/memory.max", "4294967296\n");
        write(root, "sys/fs/cgroup/a/memory.max", "8589934592\n");
        let info = detect_in(root, &|_| None).into_known().unwrap();
        assert_eq!(info.runtime.as_deref(), Some("docker"));
        assert_eq!(info.cpu_limit, Some(1.5));
        assert_eq!(info.memory_limit, Some(4 << 30));

        // Inside a cgroup namespace the path is `/`: the mount's own files.
        write(root, "proc/self/cgroup", "0::/\n");
        write(root, "sys/fs/cgroup/cpu.max", "200000 100000\n");
        let info = detect_in(root, &|_| None).into_known().unwrap();
        assert_eq!(info.cpu_limit, Some(2.0));
        assert_eq!(info.memory_limit, None);
    }

    #[test]
    fn kubernetes_and_podman_and_cgroup_v1() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(
            root,
            "proc/self/cgroup",
            "4:memory:/kubepods/pod1\n2:cpu,cpuacct:/kubepods/pod1\n",
        );
        write(root, "proc/1/cgroup", "4:memory:/kubepods/pod1\n");
        write(root, "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
        write(
            root,
            "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us",
            "100000\n",
        );
        write(
            root,
            "sys/fs/cgroup/cpu,cpuacct/kubepods/pod1/cpu.cfs_quota_us",
            "50000\n",
        );
        write(
            root,
            "sys/fs/cgroup/cpu,cpuacct/kubepods/pod1/cpu.cfs_period_us",
            "100000\n",
        );
        write(
            root,
            "sys/fs/cgroup/memory/memory.limit_in_bytes",
            "9223372036854771712\n",
        );
        write(
            root,
            "sys/fs/cgroup/memory/kubepods/pod1/memory.limit_in_bytes",
            "536870912\n",
        );
        let info = detect_in(root, &|_| None).into_known().unwrap();
        assert_eq!(
            info.runtime.as_deref(),
            Some("kubernetes"),
            "from /proc/1/cgroup"
        );
        assert_eq!(info.cpu_limit, Some(0.5));
        assert_eq!(info.memory_limit, Some(512 << 20));

        let env = |k: &str| (k == "KUBERNETES_SERVICE_HOST").then(|| "10.0.0.1".to_owned());
        write(root, "proc/1/cgroup", "0::/\n");
        assert_eq!(
            detect_in(root, &env).known().unwrap().runtime.as_deref(),
            Some("kubernetes")
        );

        write(
            root,
            "run/.containerenv",
            "engine=\"podman-4.9.3\"\nname=\"x\"\n",
        );
        assert_eq!(
            detect_in(root, &|_| None)
                .known()
                .unwrap()
                .runtime
                .as_deref(),
            Some("podman")
        );
        write(root, "run/.containerenv", "");
        assert_eq!(
            detect_in(root, &|_| None)
                .known()
                .unwrap()
                .runtime
                .as_deref(),
            Some("podman")
        );
    }

    #[test]
    fn nothing_readable_is_unknown() {
        let tmp = tempfile::tempdir().unwrap();
        let why = detect_in(tmp.path(), &|_| None)
            .reason()
            .unwrap()
            .to_owned();
        assert!(why.contains("cgroup"), "{why}");
    }

    #[test]
    fn parses_limits() {
        assert_eq!(v2_cpu("max 100000"), None);
        assert_eq!(v2_cpu("250000 100000\n"), Some(2.5));
        assert_eq!(v2_memory("max\n"), None);
        assert_eq!(v1_cpu("-1", "100000"), None);
        assert_eq!(v1_cpu("100000\n", "100000\n"), Some(1.0));
    }
}
