//! [`HostProfile::summary_lines`]: the profile for people (`paks host`).

use crate::detect::mpi::SEARCHED;
use crate::{ContainerInfo, Detected, HostProfile, glibc_text};

impl HostProfile {
    /// The profile for people, one line per part:
    ///
    /// ```text
    /// OS: linux/amd64, Debian GNU/Linux 12 (bookworm), kernel 6.1.0-18-amd64
    /// CPU: zen3 (targets zen3, zen2, zen, x86_64_v3, x86_64_v2, x86_64), features: 62
    /// glibc: 2.36, libstdc++: GLIBCXX 3.4.30, loader: /lib64/ld-linux-x86-64.so.2
    /// MPI: Open MPI 4.1.4 (openmpi ABI, /usr/lib/x86_64-linux-gnu/libmpi.so.40)
    /// GPU: 2 nvidia (driver 535.104.05, CUDA 12.2)
    /// Container: docker, CPU limit 2, memory limit 4.0 GiB
    /// ```
    pub fn summary_lines(&self) -> Vec<String> {
        let os = format!(
            "OS: {}, {}, kernel {}",
            self.platform(),
            text(&self.distro, Clone::clone, "distribution"),
            text(&self.kernel, Clone::clone, "")
        );
        let cpu = format!(
            "CPU: {} (targets {}), features: {}",
            self.microarch.as_deref().map_or_else(
                || format!("{}, microarchitecture unknown", self.arch),
                str::to_owned
            ),
            if self.targets.is_empty() {
                "none".to_owned()
            } else {
                self.targets.join(", ")
            },
            self.features.len()
        );
        let runtime = format!(
            "glibc: {}, libstdc++: {}, loader: {}",
            self.glibc
                .as_ref()
                .map_or_else(|| "none found".to_owned(), glibc_text),
            text(&self.libstdcxx, |v| format!("GLIBCXX {v}"), ""),
            text(&self.loader, Clone::clone, "")
        );
        let mpi = match &self.mpi {
            Detected::Known(found) if found.is_empty() => {
                format!("MPI: none found (searched {SEARCHED})")
            }
            Detected::Known(found) => {
                let each: Vec<String> = found
                    .iter()
                    .map(|m| {
                        let name = m.family.display_name();
                        let version = m
                            .version
                            .as_deref()
                            .map_or(String::new(), |v| format!(" {v}"));
                        format!("{name}{version} ({} ABI, {})", m.abi, m.library.display())
                    })
                    .collect();
                format!("MPI: {}", each.join("; "))
            }
            Detected::Unknown(why) => format!("MPI: unknown ({why})"),
        };
        let gpu = match &self.gpus {
            Detected::Known(gpus) if gpus.is_empty() => "GPU: none found".to_owned(),
            Detected::Known(gpus) => {
                let each: Vec<String> = gpus
                    .iter()
                    .map(|g| {
                        let details: Vec<String> = [
                            g.driver.as_ref().map(|d| format!("driver {d}")),
                            g.cuda.as_ref().map(|c| format!("CUDA {c}")),
                            g.rocm.as_ref().map(|r| format!("ROCm {r}")),
                        ]
                        .into_iter()
                        .flatten()
                        .collect();
                        if details.is_empty() {
                            format!("{} {}", g.devices, g.vendor)
                        } else {
                            format!("{} {} ({})", g.devices, g.vendor, details.join(", "))
                        }
                    })
                    .collect();
                format!("GPU: {}", each.join("; "))
            }
            Detected::Unknown(why) => format!("GPU: unknown ({why})"),
        };
        let container = format!("Container: {}", text(&self.container, container_text, ""));
        vec![os, cpu, runtime, mpi, gpu, container]
    }
}

/// A known part through `show`, or `unknown (why)` (`distribution unknown (why)`).
fn text<T>(part: &Detected<T>, show: impl FnOnce(&T) -> String, what: &str) -> String {
    match part {
        Detected::Known(v) => show(v),
        Detected::Unknown(why) if what.is_empty() => format!("unknown ({why})"),
        Detected::Unknown(why) => format!("{what} unknown ({why})"),
    }
}

fn container_text(c: &ContainerInfo) -> String {
    let limit = |v: Option<String>| v.unwrap_or_else(|| "none".to_owned());
    format!(
        "{}, CPU limit {}, memory limit {}",
        c.runtime.as_deref().unwrap_or("none detected"),
        limit(c.cpu_limit.map(trim_float)),
        limit(c.memory_limit.map(bytes))
    )
}

/// `2` for 2.0, `1.5` for 1.5.
fn trim_float(n: f64) -> String {
    let text = format!("{n:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[allow(clippy::cast_precision_loss, reason = "one decimal is shown")]
fn bytes(n: u64) -> String {
    const GIB: u64 = 1 << 30;
    const MIB: u64 = 1 << 20;
    if n >= GIB {
        format!("{:.1} GiB", n as f64 / GIB as f64)
    } else if n >= MIB {
        format!("{:.1} MiB", n as f64 / MIB as f64)
    } else {
        format!("{n} bytes")
    }
}
