//! The kernel, the distribution and the dynamic loader.

use std::path::Path;

use super::elf::Elf;
use crate::Detected;

/// The kernel release (`uname -r`).
pub(crate) fn kernel() -> Detected<String> {
    #[cfg(unix)]
    {
        let name = rustix::system::uname();
        match name.release().to_str() {
            Ok(release) if !release.is_empty() => Detected::Known(release.to_owned()),
            _ => Detected::Unknown("uname gave no readable kernel release".to_owned()),
        }
    }
    #[cfg(not(unix))]
    Detected::Unknown("not a Unix system".to_owned())
}

/// The distribution's `PRETTY_NAME` from `etc/os-release` (or `usr/lib/os-release`) under
/// `root`.
pub(crate) fn distro(root: &Path) -> Detected<String> {
    let mut why = Vec::new();
    for file in ["etc/os-release", "usr/lib/os-release"] {
        match fs_err::read_to_string(root.join(file)) {
            Ok(text) => {
                let vars = parse_os_release(&text);
                let get = |key: &str| {
                    vars.iter()
                        .find(|(k, v)| k == key && !v.is_empty())
                        .map(|(_, v)| v.clone())
                };
                let name = get("PRETTY_NAME").or_else(|| {
                    let name = get("NAME")?;
                    Some(match get("VERSION_ID") {
                        Some(version) => format!("{name} {version}"),
                        None => name,
                    })
                });
                return Detected::from_option(name, || {
                    format!("`/{file}` names no PRETTY_NAME or NAME")
                });
            }
            Err(e) => why.push(e.to_string()),
        }
    }
    Detected::Unknown(why.join("; "))
}

/// The `KEY=value` assignments of an os-release file, unquoted (os-release(5): shell-like
/// quoting with `"`, `'` and backslash escapes).
pub(crate) fn parse_os_release(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            if line.starts_with('#') {
                return None;
            }
            let (key, raw) = line.split_once('=')?;
            let mut value = String::new();
            let mut quote = None;
            let mut chars = raw.chars();
            while let Some(c) = chars.next() {
                match (quote, c) {
                    (None, '"' | '\'') => quote = Some(c),
                    (Some(q), c) if c == q => quote = None,
                    (Some('\''), c) => value.push(c),
                    (_, '\\') => value.extend(chars.next()),
                    (_, c) => value.push(c),
                }
            }
            Some((key.trim().to_owned(), value))
        })
        .collect()
}

/// The standard glibc loader of each architecture, for when paks itself is static.
fn standard_loaders() -> &'static [&'static str] {
    match std::env::consts::ARCH {
        "x86_64" => &["/lib64/ld-linux-x86-64.so.2"],
        "x86" => &["/lib/ld-linux.so.2"],
        "aarch64" => &["/lib/ld-linux-aarch64.so.1"],
        "arm" => &["/lib/ld-linux-armhf.so.3", "/lib/ld-linux.so.3"],
        "powerpc64" => &["/lib64/ld64.so.2", "/lib64/ld64.so.1"],
        "riscv64" => &["/lib/ld-linux-riscv64-lp64d.so.1"],
        "s390x" => &["/lib/ld64.so.1"],
        _ => &[],
    }
}

/// The dynamic loader: the one paks itself was started by (`PT_INTERP` of
/// `/proc/self/exe`) when paks is dynamically linked, else the architecture's standard
/// glibc loader if it exists.
pub(crate) fn loader() -> Detected<String> {
    let from_self = Elf::open(Path::new("/proc/self/exe")).and_then(|mut e| e.interpreter());
    if let Ok(Some(interp)) = &from_self
        && Path::new(interp).exists()
    {
        return Detected::Known(interp.clone());
    }
    if let Some(path) = standard_loaders().iter().find(|p| Path::new(p).exists()) {
        return Detected::Known((*path).to_owned());
    }
    Detected::Unknown(match from_self {
        Err(e) => format!("cannot read /proc/self/exe ({e}) and no standard loader exists"),
        Ok(_) => format!(
            "paks is statically linked and no standard loader exists ({})",
            standard_loaders().join(", ")
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_os_release() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert!(distro(root).reason().unwrap().contains("os-release"));
        std::fs::create_dir_all(root.join("usr/lib")).unwrap();
        std::fs::write(
            root.join("usr/lib/os-release"),
            "NAME='Rocky Linux'\nVERSION_ID=\"9.3\"\n",
        )
        .unwrap();
        assert_eq!(distro(root).known().unwrap(), "Rocky Linux 9.3");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(
            root.join("etc/os-release"),
            "# comment\nNAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nX=\"a \\\"q\\\" b\"\n",
        )
        .unwrap();
        assert_eq!(
            distro(root).known().unwrap(),
            "Debian GNU/Linux 12 (bookworm)"
        );
        let vars = parse_os_release("X=\"a \\\"q\\\" b\"\nY=plain\n");
        assert_eq!(vars[0].1, "a \"q\" b");
        assert_eq!(vars[1].1, "plain");
        std::fs::write(root.join("etc/os-release"), "ID=x\n").unwrap();
        assert!(distro(root).reason().unwrap().contains("PRETTY_NAME"));
    }

    #[test]
    #[cfg(unix)]
    fn kernel_matches_uname() {
        let out = std::process::Command::new("uname")
            .arg("-r")
            .output()
            .unwrap();
        let want = String::from_utf8(out.stdout).unwrap();
        assert_eq!(kernel().known().map(String::as_str), Some(want.trim()));
    }

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn loader_is_this_tests_interpreter() {
        let loader = loader();
        let path = loader
            .known()
            .expect("a dynamically linked test binary has a loader");
        assert!(Path::new(path).exists(), "{path}");
        let name = Path::new(path).file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with("ld"), "{path}");
        if cfg!(target_arch = "x86_64") {
            assert_eq!(path, "/lib64/ld-linux-x86-64.so.2");
        }
    }
}
