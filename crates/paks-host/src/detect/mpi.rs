//! MPI libraries: Open MPI (`libmpi.so.40`), MPICH (`libmpich.so.12`, `libmpi.so.12`),
//! Intel MPI (`libmpi.so.12` under an Intel prefix); MVAPICH counts as MPICH.
//!
//! Found through the linker cache and the usual install prefixes, without running any MPI
//! tool. The version is read from the library when that is cheap: MPICH's exported
//! `MPII_Version_string`, Open MPI's ident string in `.rodata`, Intel MPI's install
//! directory (`/opt/intel/oneapi/mpi/2021.10.0/lib`).

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use super::elf::Elf;
use super::ldcache::LinkerCache;
use crate::{Detected, MpiFamily, MpiInstall};

/// The sonames looked for, in the order they are tried in each directory.
const SONAMES: [&str; 3] = ["libmpi.so.40", "libmpich.so.12", "libmpi.so.12"];

/// Where [`detect`] looks, for messages.
pub(crate) const SEARCHED: &str = "the linker cache, $MPI_HOME, $MPI_ROOT, $I_MPI_ROOT, \
    $LD_LIBRARY_PATH, /usr/lib*/{openmpi,mpich,mvapich2}/lib, /opt/intel/oneapi/mpi/*/lib, \
    /opt/*/lib, /opt/*/*/lib, /usr/local/lib";

/// The MPI libraries of this host.
pub(crate) fn detect(cache: &LinkerCache) -> Detected<Vec<MpiInstall>> {
    let dirs = search_dirs(Path::new("/"), &|k| std::env::var_os(k));
    detect_in(&dirs, cache)
}

/// The existing directories to search under `root`, environment directories first.
pub(crate) fn search_dirs(root: &Path, env: &dyn Fn(&str) -> Option<OsString>) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for var in ["MPI_HOME", "MPI_ROOT", "I_MPI_ROOT", "OPAL_PREFIX"] {
        if let Some(prefix) = env(var).filter(|v| !v.is_empty()) {
            let prefix = PathBuf::from(prefix);
            dirs.extend(["lib", "lib64", "lib/release"].map(|l| prefix.join(l)));
        }
    }
    if let Some(paths) = env("LD_LIBRARY_PATH") {
        dirs.extend(std::env::split_paths(&paths).filter(|p| p.is_absolute()));
    }
    let triple = super::multiarch();
    let fixed = [
        format!("usr/lib/{triple}/openmpi/lib"),
        format!("usr/lib/{triple}/mpich/lib"),
        "usr/lib64/openmpi/lib".to_owned(),
        "usr/lib64/mpich/lib".to_owned(),
        "usr/lib64/mvapich2/lib".to_owned(),
        "usr/lib/openmpi/lib".to_owned(),
        format!("usr/lib/{triple}"),
        "usr/lib64".to_owned(),
        "usr/lib".to_owned(),
        "usr/local/lib".to_owned(),
        "usr/local/lib64".to_owned(),
    ];
    dirs.extend(fixed.iter().map(|d| root.join(d)));
    for base in ["opt/intel/oneapi/mpi", "opt/intel/mpi"] {
        for version in subdirs(&root.join(base)) {
            dirs.extend(
                ["lib", "lib/release", "intel64/lib", "intel64/lib/release"]
                    .map(|l| version.join(l)),
            );
        }
    }
    for (pattern, depth) in [("opt", 1), ("opt", 2), ("usr/local", 1)] {
        let mut level = vec![root.join(pattern)];
        for _ in 0..depth {
            level = level.iter().flat_map(|d| subdirs(d)).collect();
        }
        for prefix in level {
            dirs.extend(["lib", "lib64"].map(|l| prefix.join(l)));
        }
    }
    let mut seen = HashSet::new();
    dirs.retain(|d| d.is_dir() && seen.insert(d.clone()));
    dirs
}

/// The directories in `dir`, sorted; none when it cannot be read.
fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// The MPI libraries in the linker cache and in `dirs`, each file once.
pub(crate) fn detect_in(dirs: &[PathBuf], cache: &LinkerCache) -> Detected<Vec<MpiInstall>> {
    let from_cache = SONAMES
        .iter()
        .flat_map(|s| cache.find(s).map(Path::to_owned));
    let from_dirs = dirs
        .iter()
        .flat_map(|d| SONAMES.map(|s| d.join(s)))
        .filter(|p| p.exists());
    let mut seen = HashSet::new();
    let mut found = Vec::new();
    let mut failures = Vec::new();
    for path in from_cache.chain(from_dirs) {
        let Ok(real) = fs_err::canonicalize(&path) else {
            continue;
        };
        if !seen.insert(real.clone()) {
            continue;
        }
        match inspect(&path, &real) {
            Ok(Some(install)) => found.push(install),
            Ok(None) => {}
            Err(e) => failures.push(format!("cannot read `{}`: {e}", path.display())),
        }
    }
    if found.is_empty() && !failures.is_empty() {
        return Detected::Unknown(failures.join("; "));
    }
    Detected::Known(found)
}

/// What the library at `path` (resolving to `real`) is; `None` when it is not an MPI
/// library for this machine.
fn inspect(path: &Path, real: &Path) -> std::io::Result<Option<MpiInstall>> {
    let mut elf = Elf::open(path)?;
    if !elf.is_native() {
        return Ok(None);
    }
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let soname = elf.soname()?.unwrap_or_else(|| file_name.to_owned());
    let (family, version) = match soname.as_str() {
        "libmpi.so.40" => (MpiFamily::OpenMpi, open_mpi_version(&elf.rodata()?)),
        "libmpich.so.12" | "libmpi.so.12" => {
            let intel_path = [path, real].iter().any(|p| {
                let text = p.to_string_lossy().to_ascii_lowercase();
                text.contains("intel") || text.contains("oneapi")
            });
            if intel_path
                || (soname == "libmpi.so.12" && contains(&elf.rodata()?, b"Intel(R) MPI Library"))
            {
                (
                    MpiFamily::IntelMpi,
                    intel_version(path).or_else(|| intel_version(real)),
                )
            } else {
                let version = elf
                    .symbol_string(&["MPII_Version_string", "MPIR_Version_string"])?
                    .filter(|v| v.starts_with(|c: char| c.is_ascii_digit()));
                (MpiFamily::Mpich, version)
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(MpiInstall {
        family,
        version,
        abi: family.abi().to_owned(),
        library: path.to_owned(),
        soname,
    }))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Open MPI keeps its release as a bare string (`OMPI_IDENT_STRING`, `4.1.4`) next to the
/// repository revision (`v4.1.4`): the version string that also appears with a `v` wins;
/// failing that, the only version-like string.
fn open_mpi_version(rodata: &[u8]) -> Option<String> {
    let strings: HashSet<&str> = rodata
        .split(|&b| b == 0)
        .filter_map(|s| std::str::from_utf8(s).ok())
        .collect();
    let mut versions: Vec<&str> = strings.iter().copied().filter(|s| is_release(s)).collect();
    versions.sort_unstable();
    versions
        .iter()
        .find(|v| strings.contains(format!("v{v}").as_str()))
        .or(match versions.as_slice() {
            [only] => Some(only),
            _ => None,
        })
        .map(|v| (*v).to_owned())
}

/// `4.1.4`, `5.0.0rc12`: three numbers, then maybe a pre-release tag.
fn is_release(s: &str) -> bool {
    let core_end = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (core, tag) = s.split_at(core_end);
    let numbers: Vec<&str> = core.split('.').collect();
    numbers.len() == 3
        && numbers
            .iter()
            .all(|n| !n.is_empty() && n.len() <= 4 && n.bytes().all(|b| b.is_ascii_digit()))
        && tag.len() <= 8
        && tag.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Intel MPI's release from its install directory: the component after `mpi`
/// (`/opt/intel/oneapi/mpi/2021.10.0/lib/libmpi.so.12` → `2021.10.0`).
fn intel_version(path: &Path) -> Option<String> {
    let parts: Vec<&str> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => s.to_str(),
            _ => None,
        })
        .collect();
    parts.windows(2).find_map(|w| {
        (w[0] == "mpi" && w[1].starts_with(|c: char| c.is_ascii_digit())).then(|| w[1].to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::testutil::shared_object;

    #[test]
    fn finds_mpi_installs_in_a_fake_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let mkdir = |d: &str| {
            let p = root.join(d);
            std::fs::create_dir_all(&p).unwrap();
            p
        };
        // Open MPI as Fedora installs it, with its ident strings.
        let ompi = mkdir("usr/lib64/openmpi/lib");
        shared_object(
            &ompi,
            "libmpi.so.40.30.5",
            "libmpi.so.40",
            "const char ident[] = \"4.1.5\"; const char rev[] = \"v4.1.5\"; \
             const char other[] = \"Open MPI v%d.%d.%d\"; int MPI_Init(void){return 0;}",
            &[],
        );
        std::os::unix::fs::symlink("libmpi.so.40.30.5", ompi.join("libmpi.so.40")).unwrap();
        // MPICH under /usr/lib64/mpich, version in its exported symbol.
        let mpich = mkdir("usr/lib64/mpich/lib");
        shared_object(
            &mpich,
            "libmpich.so.12",
            "libmpich.so.12",
            "const char MPII_Version_string[] = \"4.1.2\"; int MPI_Init(void){return 0;}",
            &[],
        );
        // Intel MPI's libmpi.so.12 under oneAPI.
        let intel = mkdir("opt/intel/oneapi/mpi/2021.10.0/lib");
        shared_object(
            &intel,
            "libmpi.so.12",
            "libmpi.so.12",
            "int MPI_Init(void){return 0;}",
            &[],
        );
        // A directory given by $MPI_HOME (outside the root), and an unrelated file with an
        // MPI name that is not ELF.
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join("lib")).unwrap();
        shared_object(
            &home.path().join("lib"),
            "libmpi.so.12",
            "libmpi.so.12",
            "const char MPIR_Version_string[] = \"2.3.7\"; int MPI_Init(void){return 0;}",
            &[],
        );
        std::fs::write(mkdir("opt/junk/lib").join("libmpi.so.40"), "not elf").unwrap();
        // The same Open MPI again through a symlinked prefix: reported once.
        std::os::unix::fs::symlink(root.join("usr/lib64/openmpi"), root.join("opt/ompi")).unwrap();

        let home_path = home.path().as_os_str().to_owned();
        let env = move |k: &str| (k == "MPI_HOME").then(|| home_path.clone());
        let dirs = search_dirs(root, &env);
        assert_eq!(dirs[0], home.path().join("lib"), "{dirs:?}");
        assert!(
            dirs.contains(&root.join("opt/intel/oneapi/mpi/2021.10.0/lib")),
            "{dirs:?}"
        );
        assert!(dirs.contains(&root.join("opt/ompi/lib")), "{dirs:?}");

        let found = detect_in(&dirs, &LinkerCache::default())
            .into_known()
            .unwrap();
        let summary: Vec<(MpiFamily, Option<&str>, &str, &str)> = found
            .iter()
            .map(|m| {
                (
                    m.family,
                    m.version.as_deref(),
                    m.abi.as_str(),
                    m.soname.as_str(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (MpiFamily::Mpich, Some("2.3.7"), "mpich", "libmpi.so.12"),
                (MpiFamily::OpenMpi, Some("4.1.5"), "openmpi", "libmpi.so.40"),
                (MpiFamily::Mpich, Some("4.1.2"), "mpich", "libmpich.so.12"),
                (
                    MpiFamily::IntelMpi,
                    Some("2021.10.0"),
                    "mpich",
                    "libmpi.so.12"
                ),
            ],
            "{found:#?}"
        );
        assert_eq!(found[1].library, ompi.join("libmpi.so.40"));

        // Through the linker cache alone.
        let cache =
            LinkerCache::from_entries(vec![("libmpi.so.40".into(), ompi.join("libmpi.so.40"))]);
        let found = detect_in(&[], &cache).into_known().unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].family, MpiFamily::OpenMpi);

        // Nothing there: known to be none.
        let empty = tempfile::tempdir().unwrap();
        let dirs = search_dirs(empty.path(), &|_| None);
        assert_eq!(
            detect_in(&dirs, &LinkerCache::default()),
            Detected::Known(vec![])
        );
    }

    #[test]
    fn versions_from_strings_and_paths() {
        assert_eq!(
            open_mpi_version(b"x\0v4.1.4\0Open MPI\0\x004.1.4\0"),
            Some("4.1.4".into())
        );
        assert_eq!(open_mpi_version(b"5.0.0rc12\0"), Some("5.0.0rc12".into()));
        assert_eq!(open_mpi_version(b"1.2.3\x002.0.0\0"), None, "ambiguous");
        assert_eq!(open_mpi_version(b"1.2\0abc\0"), None);
        assert!(is_release("4.1.4") && !is_release("4.1") && !is_release("v4.1.4"));
        assert_eq!(
            intel_version(Path::new(
                "/opt/intel/oneapi/mpi/2021.10.0/lib/libmpi.so.12"
            )),
            Some("2021.10.0".into())
        );
        assert_eq!(
            intel_version(Path::new("/opt/intel/oneapi/mpi/latest/lib/libmpi.so.12")),
            None
        );
    }
}
