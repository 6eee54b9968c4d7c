//! Per-binary facts, from files gcc compiled for the test and from Debian's own binaries.

use paks_inspect::{BinaryKind, IsaLevel, IsaSource, analyse_elf};
use semver::Version;

use crate::support::{fixtures, read};

#[test]
fn avx2_loop_without_a_note_is_estimated_v3() {
    let f = fixtures();
    let b = analyse_elf("usr/bin/v3", &read(&f.v3)).unwrap();
    let isa = b.isa.unwrap();
    assert_eq!(isa.level, IsaLevel::V3, "{isa:?}");
    assert_eq!(isa.source, IsaSource::Estimated);
    assert!(!isa.dispatch && isa.is_required(), "{isa:?}");
    assert!(
        isa.counts[2] >= 3,
        "v3 (AVX2) instructions counted: {isa:?}"
    );
    assert!(isa.decoded_bytes > 0 && !isa.truncated);
    assert_eq!(b.path, "/usr/bin/v3");
    assert_eq!(b.machine, "x86_64");
    assert_eq!(b.kind, BinaryKind::Executable);
    assert_eq!(
        b.interpreter.as_deref(),
        Some("/lib64/ld-linux-x86-64.so.2")
    );
    assert_eq!(
        b.needed
            .iter()
            .map(|n| n.soname.as_str())
            .collect::<Vec<_>>(),
        ["libc.so.6"]
    );
    // Built against glibc 2.36: `__libc_start_main@GLIBC_2.34`.
    assert_eq!(b.glibc, Some(Version::new(2, 34, 0)));
    assert_eq!(b.glibcxx, None);
}

#[test]
fn linker_isa_note_is_used_when_present() {
    let f = fixtures();
    let isa = analyse_elf("v3", &read(&f.v3_note)).unwrap().isa.unwrap();
    assert_eq!(
        (isa.level, isa.source),
        (IsaLevel::V3, IsaSource::GnuProperty)
    );
    assert_eq!(isa.decoded_bytes, 0, "no decoding when the note says");
}

#[test]
fn baseline_build_estimates_baseline() {
    let f = fixtures();
    let isa = analyse_elf("b", &read(&f.baseline)).unwrap().isa.unwrap();
    assert_eq!(
        (isa.level, isa.source),
        (IsaLevel::V1, IsaSource::Estimated),
        "{isa:?}"
    );
    assert_eq!(isa.counts[2] + isa.counts[3], 0, "{isa:?}");
}

#[test]
fn symbol_versions_from_verneed_and_verdef() {
    let f = fixtures();
    let b = analyse_elf("a", &read(&f.new_glibc)).unwrap();
    assert_eq!(
        b.glibc,
        Some(Version::new(2, 36, 0)),
        "arc4random is GLIBC_2.36"
    );
    let cxx = analyse_elf("c", &read(&f.cxx)).unwrap();
    let v = cxx.glibcxx.clone().unwrap();
    assert!(
        v >= Version::new(3, 4, 21) && v.major == 3 && v.minor == 4,
        "{v}"
    );
    assert!(cxx.needed.iter().any(|n| n.soname == "libstdc++.so.6"));
    let libc = analyse_elf("l", &read(&f.old_libc)).unwrap();
    assert_eq!(libc.kind, BinaryKind::SharedObject);
    assert_eq!(libc.soname.as_deref(), Some("libc.so.6"));
    assert_eq!(libc.defines_glibc, Some(Version::new(2, 31, 0)));
    let stdcxx = analyse_elf("s", &read(&f.old_libstdcxx)).unwrap();
    assert_eq!(stdcxx.defines_glibcxx, Some(Version::new(3, 4, 20)));
}

#[test]
fn mpi_and_cuda_linkage() {
    let f = fixtures();
    let mpi = analyse_elf("m", &read(&f.mpi_exe)).unwrap();
    assert_eq!(mpi.mpi.as_deref(), Some("openmpi"));
    let cuda = analyse_elf("c", &read(&f.cuda_exe)).unwrap();
    assert_eq!(cuda.cuda, ["libcudart.so.12"]);
    assert_eq!(cuda.mpi, None);
    let host = analyse_elf("h", &read(&f.host_mpich)).unwrap();
    assert_eq!(host.soname.as_deref(), Some("libmpich.so.12"));
    assert_eq!(host.glibc, Some(Version::new(2, 36, 0)));
}

#[test]
fn debian_binaries_sanity() {
    let ls = analyse_elf("bin/ls", &read("/bin/ls")).unwrap();
    assert_eq!(ls.kind, BinaryKind::Executable);
    assert!(ls.needed.iter().any(|n| n.soname == "libc.so.6"));
    assert!(ls.glibc.clone().unwrap() >= Version::new(2, 34, 0));
    let isa = ls.isa.unwrap();
    assert_eq!((isa.level, isa.dispatch), (IsaLevel::V1, false), "{isa:?}");

    let py = analyse_elf("usr/bin/python3.11", &read("/usr/bin/python3.11")).unwrap();
    for lib in ["libc.so.6", "libm.so.6", "libz.so.1", "libexpat.so.1"] {
        assert!(
            py.needed.iter().any(|n| n.soname == lib),
            "{lib}: {:?}",
            py.needed
        );
    }
    assert_eq!(py.isa.unwrap().level, IsaLevel::V1);

    // glibc itself: defines its versions, and picks AVX2/AVX-512 code at run time.
    let libc = analyse_elf("libc.so.6", &read("/lib/x86_64-linux-gnu/libc.so.6")).unwrap();
    assert_eq!(libc.kind, BinaryKind::SharedObject);
    assert_eq!(libc.defines_glibc, Some(Version::new(2, 36, 0)));
    let isa = libc.isa.unwrap();
    assert!(isa.dispatch && !isa.is_required(), "{isa:?}");
    assert!(isa.level >= IsaLevel::V3, "{isa:?}");

    // Not ELF, or not runnable code.
    assert!(analyse_elf("x", b"#!/bin/sh\n").is_none());
}
