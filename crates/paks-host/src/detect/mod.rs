//! Detection of each part of the profile. Every function here reads files (or asks the
//! kernel) and never fails: what cannot be found is `None` or [`crate::Detected::Unknown`].
//! Functions that read a tree take its root, so tests point them at a fake one.

pub(crate) mod container;
pub(crate) mod cpu;
mod elf;
pub(crate) mod glibc;
pub(crate) mod gpu;
pub(crate) mod ldcache;
pub(crate) mod libstdcxx;
pub(crate) mod mpi;
pub(crate) mod system;

/// Tests: writes `text` at `root/path`, creating the directories.
#[cfg(test)]
pub(crate) fn test_write(root: &std::path::Path, path: &str, text: &str) {
    let path = root.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

use std::path::PathBuf;

/// Debian's multiarch directory name for this architecture (`x86_64-linux-gnu`).
fn multiarch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "x86_64-linux-gnu",
        "x86" => "i386-linux-gnu",
        "aarch64" => "aarch64-linux-gnu",
        "arm" => "arm-linux-gnueabihf",
        "powerpc64" => "powerpc64le-linux-gnu",
        "riscv64" => "riscv64-linux-gnu",
        "s390x" => "s390x-linux-gnu",
        other => other,
    }
}

/// The usual system library directories, for when the linker cache lists nothing.
fn library_dirs() -> Vec<PathBuf> {
    let triple = multiarch();
    [
        format!("/usr/lib/{triple}"),
        format!("/lib/{triple}"),
        "/usr/lib64".to_owned(),
        "/lib64".to_owned(),
        "/usr/lib".to_owned(),
        "/lib".to_owned(),
    ]
    .into_iter()
    .map(PathBuf::from)
    .collect()
}

#[cfg(test)]
pub(crate) mod testutil {
    use std::path::{Path, PathBuf};

    /// Compiles `source` into the shared object `dir/name` with soname `soname`.
    pub fn shared_object(
        dir: &Path,
        name: &str,
        soname: &str,
        source: &str,
        flags: &[&str],
    ) -> PathBuf {
        let src = dir.join(format!("{name}.c"));
        std::fs::write(&src, source).unwrap();
        let out = dir.join(name);
        let status = std::process::Command::new("cc")
            .args(["-shared", "-fPIC", "-o"])
            .arg(&out)
            .arg(format!("-Wl,-soname,{soname}"))
            .args(flags)
            .arg(&src)
            .status()
            .expect("a C compiler (`cc`) builds the fake libraries");
        assert!(status.success(), "cc failed for {name}");
        std::fs::remove_file(src).unwrap();
        out
    }
}
