//! Fixtures: ELF files compiled here with gcc, layers built in memory, host profiles.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use paks_host::{Detected, HostProfile};
use semver::Version;

/// Compile `source` (C, or C++ when `cxx`) with `args`; returns the output's path.
pub fn compile(dir: &Path, name: &str, source: &str, cxx: bool, args: &[&str]) -> PathBuf {
    let src = dir.join(format!("{name}.{}", if cxx { "cc" } else { "c" }));
    std::fs::write(&src, source).unwrap();
    let out = dir.join(name);
    let mut cmd = Command::new(if cxx { "g++" } else { "gcc" });
    // Options after the source, so that libraries resolve its symbols.
    cmd.arg(&src).arg("-o").arg(&out).args(args);
    paks_testkit::run_ok(&mut cmd);
    out
}

/// A loop gcc vectorises with AVX2 (`vpaddd ymm`), via intrinsics so the optimiser's
/// cost model cannot decide otherwise.
pub const AVX2_LOOP: &str = r#"
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
__attribute__((noinline)) void add(int *a, const int *b, int n) {
    for (int i = 0; i + 8 <= n; i += 8) {
        __m256i x = _mm256_loadu_si256((const __m256i *)(a + i));
        __m256i y = _mm256_loadu_si256((const __m256i *)(b + i));
        _mm256_storeu_si256((__m256i *)(a + i), _mm256_add_epi32(x, y));
    }
}
int main(int argc, char **argv) {
    int n = 64 * argc;
    int *a = calloc(n, sizeof *a), *b = calloc(n, sizeof *b);
    add(a, b, n);
    printf("%d\n", a[0]);
    return 0;
}
"#;

/// Plain C: nothing above the baseline.
pub const PLAIN: &str = r#"
#include <stdio.h>
int main(int argc, char **argv) { printf("%d %s\n", argc, argv[0]); return 0; }
"#;

/// Uses `arc4random`, new in glibc 2.36 (`GLIBC_2.36`).
pub const NEW_GLIBC: &str = r#"
#include <stdio.h>
#include <stdlib.h>
int main(void) { printf("%u\n", arc4random()); return 0; }
"#;

/// C++ with `std::string` (`GLIBCXX_3.4.21` and up).
pub const CXX: &str = r#"
#include <iostream>
#include <string>
int main(int argc, char **argv) { std::string s(argv[0]); s += "!"; std::cout << s << std::endl; return argc; }
"#;

/// A shared library named `soname` whose symbol versions are `versions` (in order,
/// each inheriting the previous one), as a stand-in for a library of another release.
pub fn versioned_lib(dir: &Path, soname: &str, versions: &[&str]) -> PathBuf {
    let mut map = String::new();
    let mut src = String::new();
    let mut prev: Option<&str> = None;
    for (i, v) in versions.iter().enumerate() {
        let _ = writeln!(src, "int sym{i}(void) {{ return {i}; }}");
        let _ = write!(map, "{v} {{ global: sym{i}; }}");
        if let Some(p) = prev {
            let _ = write!(map, " {p}");
        }
        map.push_str(";\n");
        prev = Some(v);
    }
    let map_path = dir.join(format!("{soname}.map"));
    std::fs::write(&map_path, map).unwrap();
    compile(
        dir,
        soname,
        &src,
        false,
        &[
            "-shared",
            "-fPIC",
            &format!("-Wl,-soname,{soname}"),
            &format!("-Wl,--version-script={}", map_path.display()),
        ],
    )
}

/// A shared library with soname `soname` exporting `int fname(void)`, calling
/// `arc4random` when `new_glibc` (so it needs `GLIBC_2.36`).
pub fn plain_lib(dir: &Path, soname: &str, fname: &str, new_glibc: bool) -> PathBuf {
    let body = if new_glibc {
        "#include <stdlib.h>\nint FN(void) { return (int)arc4random(); }\n"
    } else {
        "int FN(void) { return 1; }\n"
    };
    compile(
        dir,
        soname,
        &body.replace("FN", fname),
        false,
        &["-shared", "-fPIC", &format!("-Wl,-soname,{soname}")],
    )
}

/// A program calling `fname` from the library `lib`.
pub fn linked_exe(dir: &Path, name: &str, lib: &Path, fname: &str) -> PathBuf {
    let src = format!("int {fname}(void);\nint main(void) {{ return {fname}(); }}\n");
    compile(
        dir,
        name,
        &src,
        false,
        &[
            &format!("-L{}", lib.parent().unwrap().display()),
            &format!("-l:{}", lib.file_name().unwrap().to_string_lossy()),
        ],
    )
}

/// An entry of a layer built in memory.
pub enum Entry<'a> {
    File(&'a str, Vec<u8>),
    Symlink(&'a str, &'a str),
    Dir(&'a str),
    Hardlink(&'a str, &'a str),
}

/// An uncompressed layer tar.
pub fn layer(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        match e {
            Entry::File(path, bytes) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o755);
                h.set_size(bytes.len() as u64);
                b.append_data(&mut h, path, &bytes[..]).unwrap();
            }
            Entry::Symlink(path, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, path, target).unwrap();
            }
            Entry::Hardlink(path, target) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_link(&mut h, path, target).unwrap();
            }
            Entry::Dir(path) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, path, std::io::empty()).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

pub fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::encode_all(bytes, 3).unwrap()
}

pub fn read(path: impl AsRef<Path>) -> Vec<u8> {
    std::fs::read(path.as_ref()).unwrap_or_else(|e| panic!("{}: {e}", path.as_ref().display()))
}

/// The host's glibc loader and libc, to make images whose binaries really resolve.
pub fn glibc_entries() -> Vec<(String, Vec<u8>)> {
    vec![
        (
            "usr/lib/x86_64-linux-gnu/libc.so.6".into(),
            read("/lib/x86_64-linux-gnu/libc.so.6"),
        ),
        (
            "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2".into(),
            read("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
        ),
    ]
}

/// A layer with the host's glibc in Debian's merged-`/usr` shape (`/lib64` a symlink).
pub fn glibc_layer() -> Vec<u8> {
    let files = glibc_entries();
    let mut entries: Vec<Entry<'_>> = vec![
        Entry::Dir("usr/lib/x86_64-linux-gnu"),
        Entry::Symlink("lib", "usr/lib"),
        Entry::Symlink("lib64", "usr/lib64"),
        Entry::Dir("usr/lib64"),
        Entry::Symlink(
            "usr/lib64/ld-linux-x86-64.so.2",
            "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
        ),
    ];
    entries.extend(files.iter().map(|(p, b)| Entry::File(p, b.clone())));
    layer(&entries)
}

/// An amd64 Linux host running up to `level` (`x86_64_v3`), with glibc 2.36 and
/// libstdc++ 3.4.30, no MPI and no GPU.
pub fn host(level: &str) -> HostProfile {
    let all = ["x86_64_v4", "x86_64_v3", "x86_64_v2", "x86_64"];
    let from = all
        .iter()
        .position(|l| *l == level)
        .expect("a generic level");
    HostProfile {
        os: "linux".into(),
        arch: "amd64".into(),
        microarch: Some(level.into()),
        targets: all[from..].iter().map(|s| (*s).to_owned()).collect(),
        glibc: Some(Version::new(2, 36, 0)),
        libstdcxx: Detected::Known(Version::new(3, 4, 30)),
        mpi: Detected::Known(Vec::new()),
        gpus: Detected::Known(Vec::new()),
        ..HostProfile::default()
    }
}

/// An image config for linux/amd64 with `labels` and `env`.
pub fn config(labels: &[(&str, &str)], env: &[&str]) -> Vec<u8> {
    let labels: serde_json::Map<String, serde_json::Value> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Labels": labels, "Env": env},
        "rootfs": {"type": "layers", "diff_ids": []},
    }))
    .unwrap()
}

/// The ELF files every test shares, compiled once.
pub struct Fixtures {
    _dir: tempfile::TempDir,
    /// `-O2 -march=x86-64-v3` with an AVX2 loop, no ISA note: the estimate path.
    pub v3: PathBuf,
    /// The same with `-Wl,-z,x86-64-v3`: the linker's ISA-needed note says v3.
    pub v3_note: PathBuf,
    /// `-O2 -march=x86-64`.
    pub baseline: PathBuf,
    /// Needs `GLIBC_2.36` (`arc4random`).
    pub new_glibc: PathBuf,
    /// C++, needs `GLIBCXX_3.4.x`.
    pub cxx: PathBuf,
    /// `libc.so.6` that defines up to `GLIBC_2.31` (a stand-in for an old glibc).
    pub old_libc: PathBuf,
    /// `libstdc++.so.6` that defines up to `GLIBCXX_3.4.20`.
    pub old_libstdcxx: PathBuf,
    /// `libmpi.so.40` (Open MPI's soname) and a program linking it.
    pub libmpi: PathBuf,
    pub mpi_exe: PathBuf,
    /// `libmpich.so.12` needing `GLIBC_2.36`: a host MPICH newer than an old image.
    pub host_mpich: PathBuf,
    /// `libcudart.so.12` and a program linking it.
    pub libcudart: PathBuf,
    pub cuda_exe: PathBuf,
}

pub fn fixtures() -> &'static Fixtures {
    static F: std::sync::OnceLock<Fixtures> = std::sync::OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let v3 = compile(d, "v3", AVX2_LOOP, false, &["-O2", "-march=x86-64-v3"]);
        let v3_note = compile(
            d,
            "v3-note",
            AVX2_LOOP,
            false,
            &["-O2", "-march=x86-64-v3", "-Wl,-z,x86-64-v3"],
        );
        let baseline = compile(d, "baseline", PLAIN, false, &["-O2", "-march=x86-64"]);
        let new_glibc = compile(d, "new-glibc", NEW_GLIBC, false, &["-O2"]);
        let cxx = compile(d, "cxx", CXX, true, &["-O2"]);
        let old_libc = versioned_lib(d, "libc.so.6", &["GLIBC_2.2.5", "GLIBC_2.17", "GLIBC_2.31"]);
        let old_libstdcxx = versioned_lib(
            d,
            "libstdc++.so.6",
            &["GLIBCXX_3.4", "GLIBCXX_3.4.19", "GLIBCXX_3.4.20"],
        );
        let mpi_dir = d.join("mpi");
        std::fs::create_dir(&mpi_dir).unwrap();
        let libmpi = plain_lib(&mpi_dir, "libmpi.so.40", "MPI_Init0", false);
        let mpi_exe = linked_exe(d, "mpi-app", &libmpi, "MPI_Init0");
        let host_dir = d.join("host");
        std::fs::create_dir(&host_dir).unwrap();
        let host_mpich = plain_lib(&host_dir, "libmpich.so.12", "MPI_Init1", true);
        let cuda_dir = d.join("cuda");
        std::fs::create_dir(&cuda_dir).unwrap();
        let libcudart = plain_lib(&cuda_dir, "libcudart.so.12", "cudaMalloc0", false);
        let cuda_exe = linked_exe(d, "cuda-app", &libcudart, "cudaMalloc0");
        Fixtures {
            _dir: dir,
            v3,
            v3_note,
            baseline,
            new_glibc,
            cxx,
            old_libc,
            old_libstdcxx,
            libmpi,
            mpi_exe,
            host_mpich,
            libcudart,
            cuda_exe,
        }
    })
}
