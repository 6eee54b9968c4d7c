//! GPUs, from what the kernel drivers publish (no `nvidia-smi`, no `rocminfo`):
//!
//! - NVIDIA: `/proc/driver/nvidia/version` (the driver), `/proc/driver/nvidia/gpus/*` or
//!   `/dev/nvidia[0-9]*` (the devices), `libcuda.so.1`'s file name (the driver, when /proc
//!   has none); the CUDA driver API version from [`CUDA_DRIVERS`].
//! - AMD: `/sys/class/kfd/kfd/topology/nodes/*/properties` (nodes with SIMDs are GPUs),
//!   `/sys/module/amdgpu/version` (a DKMS driver's version), `/opt/rocm/.info/version`.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::ldcache::LinkerCache;
use crate::{Detected, Gpu};

/// The minimum Linux driver of each CUDA toolkit release (NVIDIA's CUDA Toolkit release
/// notes, "CUDA Toolkit and Corresponding Driver Versions", GA releases), newest first: a
/// driver supports the CUDA driver API of the newest row it reaches (535.104.05 → 12.2).
pub(crate) const CUDA_DRIVERS: &[(&str, [u32; 3])] = &[
    ("13.0", [580, 65, 6]),
    ("12.9", [575, 51, 3]),
    ("12.8", [570, 26, 0]),
    ("12.6", [560, 28, 3]),
    ("12.5", [555, 42, 2]),
    ("12.4", [550, 54, 14]),
    ("12.3", [545, 23, 6]),
    ("12.2", [535, 54, 3]),
    ("12.1", [530, 30, 2]),
    ("12.0", [525, 60, 13]),
    ("11.8", [520, 61, 5]),
    ("11.7", [515, 43, 4]),
    ("11.6", [510, 39, 1]),
    ("11.5", [495, 29, 5]),
    ("11.4", [470, 42, 1]),
    ("11.3", [465, 19, 1]),
    ("11.2", [460, 27, 3]),
    ("11.1", [455, 23, 0]),
    ("11.0", [450, 36, 6]),
    ("10.2", [440, 33, 0]),
    ("10.1", [418, 39, 0]),
    ("10.0", [410, 48, 0]),
    ("9.2", [396, 26, 0]),
    ("9.1", [390, 46, 0]),
    ("9.0", [384, 81, 0]),
];

/// The GPUs of this host.
pub(crate) fn detect(cache: &LinkerCache) -> Detected<Vec<Gpu>> {
    let mut rocm = Vec::new();
    if let Some(path) = std::env::var_os("ROCM_PATH").filter(|p| !p.is_empty()) {
        rocm.push(PathBuf::from(path));
    }
    detect_in(Path::new("/"), cache, &rocm)
}

/// The GPUs under `root` (`/` but in tests); `rocm` lists `ROCm` prefixes to try before
/// `root/opt/rocm`.
pub(crate) fn detect_in(root: &Path, cache: &LinkerCache, rocm: &[PathBuf]) -> Detected<Vec<Gpu>> {
    let mut gpus = Vec::new();
    match nvidia(root, cache) {
        Ok(Some(gpu)) => gpus.push(gpu),
        Ok(None) => {}
        Err(why) => return Detected::Unknown(why),
    }
    match amd(root, rocm) {
        Ok(Some(gpu)) => gpus.push(gpu),
        Ok(None) => {}
        Err(why) => return Detected::Unknown(why),
    }
    Detected::Known(gpus)
}

/// The contents of a file, `None` when it does not exist, an error message otherwise.
fn read_optional(path: &Path) -> Result<Option<String>, String> {
    match fs_err::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// The entries of a directory whose names satisfy `keep`; none when it does not exist.
fn count_entries(dir: &Path, keep: impl Fn(&str) -> bool) -> Result<u32, String> {
    match fs_err::read_dir(dir) {
        Ok(entries) => {
            let n = entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_str().is_some_and(&keep))
                .count();
            Ok(u32::try_from(n).unwrap_or(u32::MAX))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e.to_string()),
    }
}

fn nvidia(root: &Path, cache: &LinkerCache) -> Result<Option<Gpu>, String> {
    let proc = root.join("proc/driver/nvidia");
    let version_file = read_optional(&proc.join("version"))?;
    let mut devices = count_entries(&proc.join("gpus"), |_| true)?;
    if devices == 0 {
        // Containers often get the device nodes without /proc/driver/nvidia/gpus.
        devices = count_entries(&root.join("dev"), |n| {
            n.strip_prefix("nvidia")
                .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        })?;
    }
    if version_file.is_none() && devices == 0 {
        return Ok(None);
    }
    let driver = version_file
        .as_deref()
        .and_then(nvidia_driver_version)
        .or_else(|| libcuda_version(root, cache));
    let cuda = driver
        .as_deref()
        .and_then(cuda_for_driver)
        .map(str::to_owned);
    Ok(Some(Gpu {
        vendor: "nvidia".to_owned(),
        driver,
        cuda,
        rocm: None,
        devices,
    }))
}

/// The driver version in `/proc/driver/nvidia/version`: `NVRM version: NVIDIA UNIX x86_64
/// Kernel Module  535.104.05  Sat Aug 19 …` (or `… Open Kernel Module for x86_64  …`).
pub(crate) fn nvidia_driver_version(text: &str) -> Option<String> {
    let line = text.lines().find(|l| l.starts_with("NVRM version:"))?;
    line.split_whitespace()
        .find(|w| parse_driver(w).is_some())
        .map(str::to_owned)
}

/// The version in the name of the file `libcuda.so.1` links to (`libcuda.so.535.104.05`).
fn libcuda_version(root: &Path, cache: &LinkerCache) -> Option<String> {
    let triple = super::multiarch();
    let dirs = [
        format!("usr/lib/{triple}"),
        "usr/lib64".to_owned(),
        "usr/lib".to_owned(),
    ];
    let candidates = cache
        .find("libcuda.so.1")
        .map(Path::to_owned)
        .chain(dirs.iter().map(|d| root.join(d).join("libcuda.so.1")));
    candidates
        .filter_map(|p| fs_err::canonicalize(p).ok())
        .find_map(|real| {
            let name = real.file_name()?.to_str()?;
            let version = name.strip_prefix("libcuda.so.")?;
            parse_driver(version).map(|_| version.to_owned())
        })
}

/// `535.104.05` → `[535, 104, 5]`; two or three numbers.
fn parse_driver(text: &str) -> Option<[u32; 3]> {
    let mut parts = text.split('.');
    let mut out = [0; 3];
    for (i, slot) in out.iter_mut().enumerate() {
        match parts.next() {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                *slot = p.parse().ok()?;
            }
            None if i == 2 => {}
            _ => return None,
        }
    }
    parts.next().is_none().then_some(out)
}

/// The CUDA driver API version a driver supports, from [`CUDA_DRIVERS`].
pub(crate) fn cuda_for_driver(driver: &str) -> Option<&'static str> {
    let have = parse_driver(driver)?;
    CUDA_DRIVERS
        .iter()
        .find(|(_, min)| have >= *min)
        .map(|(cuda, _)| *cuda)
}

fn amd(root: &Path, rocm: &[PathBuf]) -> Result<Option<Gpu>, String> {
    let nodes = root.join("sys/class/kfd/kfd/topology/nodes");
    let entries = match fs_err::read_dir(&nodes) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let mut devices = 0u32;
    for entry in entries.filter_map(Result::ok) {
        let Some(props) = read_optional(&entry.path().join("properties"))? else {
            continue;
        };
        // CPU nodes have no SIMDs.
        let simds = props.lines().find_map(|l| {
            let (key, value) = l.split_once(' ')?;
            (key == "simd_count").then(|| value.trim().parse::<u64>().unwrap_or(0))
        });
        if simds.unwrap_or(0) > 0 {
            devices += 1;
        }
    }
    if devices == 0 {
        return Ok(None);
    }
    let driver = read_optional(&root.join("sys/module/amdgpu/version"))
        .ok()
        .flatten()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty());
    let rocm = rocm
        .iter()
        .cloned()
        .chain([root.join("opt/rocm")])
        .find_map(|prefix| {
            let text = fs_err::read_to_string(prefix.join(".info/version")).ok()?;
            // `6.0.2-115`: the release, without the build number.
            let release = text.trim().split('-').next()?.to_owned();
            (!release.is_empty()).then_some(release)
        });
    Ok(Some(Gpu {
        vendor: "amd".to_owned(),
        driver,
        cuda: None,
        rocm,
        devices,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::detect::test_write as write;

    #[test]
    fn no_gpus_is_known_empty() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(
            detect_in(tmp.path(), &LinkerCache::default(), &[]),
            Detected::Known(vec![])
        );
    }

    #[test]
    fn nvidia_from_proc_and_amd_from_kfd() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(
            root,
            "proc/driver/nvidia/version",
            "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 01:15:15 UTC 2023\n\
             GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n",
        );
        for bus in ["0000:3b:00.0", "0000:af:00.0"] {
            std::fs::create_dir_all(root.join("proc/driver/nvidia/gpus").join(bus)).unwrap();
        }
        write(
            root,
            "sys/class/kfd/kfd/topology/nodes/0/properties",
            "cpu_cores_count 16\nsimd_count 0\n",
        );
        write(
            root,
            "sys/class/kfd/kfd/topology/nodes/1/properties",
            "cpu_cores_count 0\nsimd_count 304\ngfx_target_version 90402\n",
        );
        write(root, "opt/rocm/.info/version", "6.0.2-115\n");
        let gpus = detect_in(root, &LinkerCache::default(), &[])
            .into_known()
            .unwrap();
        assert_eq!(
            gpus,
            [
                Gpu {
                    vendor: "nvidia".into(),
                    driver: Some("535.104.05".into()),
                    cuda: Some("12.2".into()),
                    rocm: None,
                    devices: 2,
                },
                Gpu {
                    vendor: "amd".into(),
                    driver: None,
                    cuda: None,
                    rocm: Some("6.0.2".into()),
                    devices: 1,
                },
            ]
        );
    }

    #[test]
    fn nvidia_from_device_nodes_and_libcuda() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        for dev in ["nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm"] {
            write(root, &format!("dev/{dev}"), "");
        }
        write(root, "usr/lib64/libcuda.so.550.54.15", "");
        std::os::unix::fs::symlink("libcuda.so.550.54.15", root.join("usr/lib64/libcuda.so.1"))
            .unwrap();
        let gpus = detect_in(root, &LinkerCache::default(), &[])
            .into_known()
            .unwrap();
        assert_eq!(gpus.len(), 1);
        assert_eq!(gpus[0].devices, 2);
        assert_eq!(gpus[0].driver.as_deref(), Some("550.54.15"));
        assert_eq!(gpus[0].cuda.as_deref(), Some("12.4"));
    }

    #[test]
    fn driver_versions() {
        let open = "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  570.86.15  Release Build  (dvs-builder@U16)  Thu Jan 23\n";
        assert_eq!(nvidia_driver_version(open).as_deref(), Some("570.86.15"));
        assert_eq!(cuda_for_driver("570.86.15"), Some("12.8"));
        assert_eq!(cuda_for_driver("535.54.03"), Some("12.2"));
        assert_eq!(cuda_for_driver("535.54.02"), Some("12.1"));
        assert_eq!(cuda_for_driver("470.256.02"), Some("11.4"));
        assert_eq!(cuda_for_driver("999.1"), Some("13.0"));
        assert_eq!(cuda_for_driver("300.1"), None);
        assert_eq!(cuda_for_driver("x86_64"), None);
        assert!(
            CUDA_DRIVERS.windows(2).all(|w| w[0].1 > w[1].1),
            "newest first"
        );
    }
}
