//! Facts about one ELF file: what it is, what it links, which symbol versions and which
//! x86-64 level it needs.

use goblin::elf::{Elf, header, section_header};
use semver::Version;
use serde::{Deserialize, Serialize};

use crate::isa::{Estimator, Isa, IsaSource, level_from_notes};

/// What kind of ELF file a binary is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BinaryKind {
    /// `ET_EXEC`, or a position-independent executable (`ET_DYN` with an interpreter and
    /// no `DT_SONAME`).
    Executable,
    /// `ET_DYN` otherwise.
    SharedObject,
}

/// A `DT_NEEDED` entry, and what provides it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Needed {
    pub soname: String,
    /// The image path that provides it (`/usr/lib/x86_64-linux-gnu/libc.so.6`), or
    /// `loader` (the dynamic loader and the vDSO), or `host-driver` (libraries a GPU
    /// runtime bind-mounts from the host, such as `libcuda.so.1`); `None` when missing.
    pub provided_by: Option<String>,
}

/// Facts about one ELF binary of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binary {
    /// Its absolute path in the image.
    pub path: String,
    /// `x86_64`, `aarch64`, ... (see [`machine_name`]).
    pub machine: String,
    pub kind: BinaryKind,
    /// `PT_INTERP`; `None` for static executables and most libraries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interpreter: Option<String>,
    /// Statically linked: an executable without an interpreter or `DT_NEEDED`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_static: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soname: Option<String>,
    pub needed: Vec<Needed>,
    /// `DT_RUNPATH`, else `DT_RPATH`, split at `:`, as written (`$ORIGIN` unexpanded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runpath: Vec<String>,
    /// The highest `GLIBC_x.y` it needs (verneed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glibc: Option<Version>,
    /// The highest `GLIBCXX_3.4.N` it needs (verneed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glibcxx: Option<Version>,
    /// The highest `GLIBC_x.y` it defines (verdef): set for glibc's own libraries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defines_glibc: Option<Version>,
    /// The highest `GLIBCXX_3.4.N` it defines: set for `libstdc++.so.6`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defines_glibcxx: Option<Version>,
    /// The x86-64 level; `None` for other architectures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isa: Option<Isa>,
    /// The MPI ABI it links: `openmpi` or `mpich`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mpi: Option<String>,
    /// The CUDA libraries it links (`libcudart.so.12`, `libcuda.so.1`, `libcublas.so.12`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cuda: Vec<String>,
    pub size: u64,
}

impl Binary {
    pub fn is_executable(&self) -> bool {
        self.kind == BinaryKind::Executable
    }

    /// The directory it is in (`/usr/bin`), which `$ORIGIN` stands for.
    pub fn dir(&self) -> &str {
        match self.path.rfind('/') {
            Some(i) if i > 0 => &self.path[..i],
            _ => "/",
        }
    }
}

/// The name of an ELF machine, as `uname -m` says it.
pub fn machine_name(machine: u16) -> String {
    match machine {
        header::EM_X86_64 => "x86_64".into(),
        header::EM_386 => "i386".into(),
        header::EM_AARCH64 => "aarch64".into(),
        header::EM_ARM => "arm".into(),
        header::EM_PPC64 => "ppc64".into(),
        header::EM_S390 => "s390x".into(),
        header::EM_RISCV => "riscv64".into(),
        header::EM_LOONGARCH => "loongarch64".into(),
        other => format!("elf-machine-{other}"),
    }
}

/// The OCI architecture of an ELF machine name (`x86_64` → `amd64`).
pub fn oci_arch(machine: &str) -> &str {
    match machine {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "i386" => "386",
        "ppc64" => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// A symbol version `PREFIX_1.2.3` as a version, if it is one.
pub(crate) fn symbol_version(name: &str, prefix: &str) -> Option<Version> {
    paks_host::parse_glibc(name.strip_prefix(prefix)?.strip_prefix('_')?)
}

/// The MPI ABI a soname belongs to.
pub fn mpi_abi(soname: &str) -> Option<&'static str> {
    match soname {
        "libmpi.so.40" => Some("openmpi"),
        "libmpi.so.12" | "libmpich.so.12" => Some("mpich"),
        _ => None,
    }
}

/// Whether a soname is part of CUDA (runtime, driver or a CUDA library).
pub fn is_cuda(soname: &str) -> bool {
    const CUDA: &[&str] = &[
        "libcudart.so",
        "libcuda.so",
        "libcublas",
        "libcublasLt",
        "libcufft",
        "libcurand",
        "libcusparse",
        "libcusolver",
        "libcudnn",
        "libnvrtc",
        "libnccl",
        "libnvToolsExt",
        "libnvjitlink",
    ];
    CUDA.iter().any(|p| soname.starts_with(p))
}

/// Whether a GPU runtime injects this library from the host driver (NVIDIA Container
/// Toolkit, Apptainer `--nv`): images need not ship it.
pub fn is_host_driver(soname: &str) -> bool {
    soname.starts_with("libcuda.so")
        || soname.starts_with("libnvidia-")
        || soname.starts_with("libnvcuvid.so")
        || soname.starts_with("libnvoptix.so")
}

/// Whether the dynamic loader itself provides this name (it and the vDSO).
pub fn is_loader(soname: &str) -> bool {
    soname.starts_with("ld-linux")
        || soname.starts_with("ld64.so")
        || soname.starts_with("ld.so")
        || soname.starts_with("linux-vdso.so")
        || soname.starts_with("linux-gate.so")
}

/// Analyse an ELF file at `path` in the image. `None` for files that are not runnable
/// code (relocatable objects, core files, debug-info files) or do not parse.
pub fn analyse(path: &str, bytes: &[u8]) -> Option<Binary> {
    let elf = Elf::parse(bytes).ok()?;
    let kind = match elf.header.e_type {
        header::ET_EXEC => BinaryKind::Executable,
        header::ET_DYN if elf.interpreter.is_some() && elf.soname.is_none() => {
            BinaryKind::Executable
        }
        header::ET_DYN => BinaryKind::SharedObject,
        _ => return None,
    };
    let machine = machine_name(elf.header.e_machine);
    let needed: Vec<Needed> = elf
        .libraries
        .iter()
        .map(|s| Needed {
            soname: (*s).to_owned(),
            provided_by: None,
        })
        .collect();
    let runpath = if elf.runpaths.is_empty() {
        &elf.rpaths
    } else {
        &elf.runpaths
    };
    let runpath = runpath
        .iter()
        .flat_map(|r| r.split(':'))
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect();

    let (glibc, glibcxx) = needed_versions(&elf);
    let (defines_glibc, defines_glibcxx) = defined_versions(&elf);

    let isa = matches!(elf.header.e_machine, header::EM_X86_64 | header::EM_386)
        .then(|| isa_of(&elf, bytes));
    let mpi = needed
        .iter()
        .find_map(|n| mpi_abi(&n.soname))
        .map(str::to_owned);
    let cuda = needed
        .iter()
        .filter(|n| is_cuda(&n.soname))
        .map(|n| n.soname.clone())
        .collect();
    Some(Binary {
        path: format!("/{}", path.trim_start_matches('/')),
        machine,
        kind,
        interpreter: elf.interpreter.map(str::to_owned),
        is_static: kind == BinaryKind::Executable && elf.interpreter.is_none() && needed.is_empty(),
        soname: elf.soname.map(str::to_owned),
        needed,
        runpath,
        glibc,
        glibcxx,
        defines_glibc,
        defines_glibcxx,
        isa,
        mpi,
        cuda,
        size: bytes.len() as u64,
    })
}

/// The highest `GLIBC_` and `GLIBCXX_` versions among symbol version names.
fn highest<'a>(names: impl Iterator<Item = &'a str>) -> (Option<Version>, Option<Version>) {
    let (mut glibc, mut glibcxx) = (None::<Version>, None::<Version>);
    for name in names {
        if let Some(v) = symbol_version(name, "GLIBC") {
            glibc = glibc.max(Some(v));
        } else if let Some(v) = symbol_version(name, "GLIBCXX") {
            glibcxx = glibcxx.max(Some(v));
        }
    }
    (glibc, glibcxx)
}

/// The highest `GLIBC_` and `GLIBCXX_` versions an ELF file needs (its verneed).
fn needed_versions(elf: &Elf<'_>) -> (Option<Version>, Option<Version>) {
    let names = elf.verneed.iter().flat_map(|verneed| {
        verneed.iter().flat_map(|need| {
            need.iter()
                .filter_map(|aux| elf.dynstrtab.get_at(aux.vna_name))
                .collect::<Vec<_>>()
        })
    });
    highest(names)
}

/// The highest `GLIBC_` and `GLIBCXX_` versions an ELF file defines (its verdef).
fn defined_versions(elf: &Elf<'_>) -> (Option<Version>, Option<Version>) {
    let names = elf.verdef.iter().flat_map(|verdef| {
        verdef.iter().flat_map(|def| {
            def.iter()
                .filter_map(|aux| elf.dynstrtab.get_at(aux.vda_name))
                .collect::<Vec<_>>()
        })
    });
    highest(names)
}

/// The highest `GLIBC_x.y` a host file needs (for a library to be bind-mounted).
pub(crate) fn glibc_needed_by_file(path: &std::path::Path) -> std::io::Result<Option<Version>> {
    let bytes = std::fs::read(path)?;
    let elf = Elf::parse(&bytes)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
    Ok(needed_versions(&elf).0)
}

/// The x86 level: the property note's, else an estimate from the executable sections
/// (or, without section headers, the executable segments).
fn isa_of(elf: &Elf<'_>, bytes: &[u8]) -> Isa {
    if let Some(level) = level_from_notes(elf, bytes) {
        return Isa {
            level,
            source: IsaSource::GnuProperty,
            dispatch: false,
            counts: Vec::new(),
            decoded_bytes: 0,
            truncated: false,
        };
    }
    let bitness = if elf.is_64 { 64 } else { 32 };
    let mut estimator = Estimator::default();
    let mut any_section = false;
    for sh in &elf.section_headers {
        if sh.sh_type == section_header::SHT_PROGBITS
            && sh.sh_flags & u64::from(section_header::SHF_EXECINSTR) != 0
            && let Some(code) = sh.file_range().and_then(|r| bytes.get(r))
        {
            any_section = true;
            estimator.feed(bitness, code, sh.sh_addr);
        }
    }
    if !any_section {
        for ph in &elf.program_headers {
            if ph.p_type == goblin::elf::program_header::PT_LOAD
                && ph.is_executable()
                && let Some(code) = bytes.get(ph.file_range())
            {
                estimator.feed(bitness, code, ph.p_vaddr);
            }
        }
    }
    // GNU indirect functions choose an implementation by CPU at load time.
    let ifunc = elf
        .dynsyms
        .iter()
        .chain(elf.syms.iter())
        .any(|s| s.st_type() == goblin::elf::sym::STT_GNU_IFUNC);
    if ifunc {
        estimator.mark_dispatch();
    }
    estimator.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbol_versions() {
        assert_eq!(
            symbol_version("GLIBC_2.34", "GLIBC"),
            Some(Version::new(2, 34, 0))
        );
        assert_eq!(
            symbol_version("GLIBC_2.2.5", "GLIBC"),
            Some(Version::new(2, 2, 5))
        );
        assert_eq!(
            symbol_version("GLIBCXX_3.4.30", "GLIBCXX"),
            Some(Version::new(3, 4, 30))
        );
        assert_eq!(symbol_version("GLIBCXX_3.4.30", "GLIBC"), None);
        assert_eq!(symbol_version("GLIBC_PRIVATE", "GLIBC"), None);
        assert_eq!(symbol_version("GLIBC_ABI_DT_RELR", "GLIBC"), None);
    }

    #[test]
    fn classifies_sonames() {
        assert_eq!(mpi_abi("libmpi.so.40"), Some("openmpi"));
        assert_eq!(mpi_abi("libmpich.so.12"), Some("mpich"));
        assert_eq!(mpi_abi("libmpi.so.12"), Some("mpich"));
        assert_eq!(mpi_abi("libm.so.6"), None);
        assert!(is_cuda("libcudart.so.12") && is_cuda("libcublasLt.so.12"));
        assert!(!is_cuda("libc.so.6"));
        assert!(is_host_driver("libcuda.so.1") && !is_host_driver("libcudart.so.12"));
        assert!(is_loader("ld-linux-x86-64.so.2") && is_loader("linux-vdso.so.1"));
        assert!(!is_loader("libc.so.6"));
    }
}
