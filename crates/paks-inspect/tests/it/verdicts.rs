//! Every verdict branch, with images of real compiled binaries and faked host profiles.

use paks_host::{Detected, Gpu, HostProfile, MpiFamily, MpiInstall};
use paks_inspect::{
    BindKind, ImageReport, Status, Verdict, bind_mount_checks, compat, inspect_layers,
};
use semver::Version;

use crate::support::{Entry, config, fixtures, glibc_layer, host, layer, linked_exe, read};

/// An image of the host's glibc plus `files`, with `labels` and `env`.
fn image(files: &[(&str, &std::path::Path)], labels: &[(&str, &str)], env: &[&str]) -> ImageReport {
    let entries: Vec<Entry<'_>> = files.iter().map(|(p, f)| Entry::File(p, read(f))).collect();
    let top = layer(&entries);
    inspect_layers(Some(&config(labels, env)), [&glibc_layer()[..], &top[..]]).unwrap()
}

/// The one reason of `status` whose message contains every one of `words`.
#[track_caller]
fn has(v: &Verdict, status: Status, words: &[&str]) {
    assert!(
        v.reasons
            .iter()
            .any(|r| r.status == status && words.iter().all(|w| r.message.contains(w))),
        "no {status:?} reason with {words:?} in {:#?}",
        v.reasons
    );
}

#[test]
fn runs() {
    let f = fixtures();
    let report = image(&[("usr/bin/app", &f.v3)], &[], &[]);
    let v = compat(&report, &host("x86_64_v3"));
    assert_eq!(v.status, Status::Runs, "{v:#?}");
    assert!(v.reasons.is_empty(), "{v:#?}");
    let report = image(&[("usr/bin/app", &f.baseline)], &[], &[]);
    let mut baseline_host = host("x86_64");
    baseline_host.glibc = None;
    assert_eq!(compat(&report, &baseline_host).status, Status::Runs);
}

#[test]
fn runs_not_optimally() {
    let f = fixtures();
    // A baseline build on a v4 host.
    let report = image(&[("usr/bin/app", &f.baseline)], &[], &[]);
    let v = compat(&report, &host("x86_64_v4"));
    assert_eq!(v.status, Status::RunsNotOptimally);
    has(
        &v,
        Status::RunsNotOptimally,
        &["built for x86-64", "this host runs x86-64-v4"],
    );
    assert_eq!(v.reasons.len(), 1, "{v:#?}");

    // ... and a label says a tuned build exists: only tuned builds the host runs count.
    let report = image(
        &[("usr/bin/app", &f.baseline)],
        &[("io.paks.tuned", "x86-64-v3, x86-64-v4")],
        &[],
    );
    let v = compat(&report, &host("x86_64_v3"));
    has(
        &v,
        Status::RunsNotOptimally,
        &[
            "a tuned build exists",
            "`x86-64-v3` in the `io.paks.tuned` label",
        ],
    );
    let v = compat(&report, &host("x86_64_v2"));
    assert!(
        !v.reasons.iter().any(|r| r.message.contains("tuned")),
        "{v:#?}"
    );

    // An MPI ABI the host has no install of.
    let report = image(
        &[
            ("usr/bin/mpi-app", &f.mpi_exe),
            ("usr/lib/x86_64-linux-gnu/libmpi.so.40", &f.libmpi),
        ],
        &[],
        &[],
    );
    let v = compat(&report, &host("x86_64"));
    assert_eq!(v.status, Status::RunsNotOptimally);
    has(
        &v,
        Status::RunsNotOptimally,
        &["openmpi MPI ABI", "libmpi.so.40", "no MPI of that ABI"],
    );

    // CUDA without an NVIDIA GPU; with a driver one minor release behind.
    let cuda = image(
        &[
            ("usr/bin/cuda-app", &f.cuda_exe),
            ("usr/lib/x86_64-linux-gnu/libcudart.so.12", &f.libcudart),
        ],
        &[],
        &["CUDA_VERSION=12.4.1"],
    );
    assert_eq!(
        cuda.summary.cuda.as_ref().unwrap().version.as_deref(),
        Some("12.4")
    );
    let v = compat(&cuda, &host("x86_64"));
    has(
        &v,
        Status::RunsNotOptimally,
        &["libcudart.so.12", "no NVIDIA GPU"],
    );
    let v = compat(&cuda, &gpu_host("12.2"));
    assert_eq!(v.status, Status::RunsNotOptimally);
    has(
        &v,
        Status::RunsNotOptimally,
        &["needs CUDA 12.4", "supports CUDA 12.2"],
    );
    assert_eq!(compat(&cuda, &gpu_host("12.6")).status, Status::Runs);
}

fn gpu_host(cuda: &str) -> HostProfile {
    HostProfile {
        gpus: Detected::Known(vec![Gpu {
            vendor: "nvidia".into(),
            driver: Some("535.104.05".into()),
            cuda: Some(cuda.into()),
            rocm: None,
            devices: 2,
        }]),
        ..host("x86_64")
    }
}

#[test]
fn will_not_run_on_another_platform() {
    let f = fixtures();
    let report = image(&[("usr/bin/app", &f.baseline)], &[], &[]);
    let arm = HostProfile {
        arch: "arm64".into(),
        targets: vec!["neoverse_n1".into(), "aarch64".into()],
        ..host("x86_64")
    };
    let v = compat(&report, &arm);
    assert_eq!(v.status, Status::WillNotRun);
    has(
        &v,
        Status::WillNotRun,
        &[
            "the image is for `linux/amd64`",
            "this host is `linux/arm64`",
        ],
    );
    // No config: the binaries' machine says it.
    let top = layer(&[Entry::File("usr/bin/app", read(&f.baseline))]);
    let report = inspect_layers(None, [&top[..]]).unwrap();
    let v = compat(&report, &arm);
    has(
        &v,
        Status::WillNotRun,
        &["`/usr/bin/app`", "x86_64 code", "`arm64`"],
    );
}

#[test]
fn will_not_run_for_glibc() {
    let f = fixtures();
    // The image's own (old) glibc.
    let report = image(
        &[
            ("usr/bin/app", &f.new_glibc),
            ("opt/glibc/lib/libc.so.6", &f.old_libc),
        ],
        &[],
        &["LD_LIBRARY_PATH=/opt/glibc/lib"],
    );
    assert_eq!(report.summary.image_glibc, Some(Version::new(2, 31, 0)));
    let v = compat(&report, &host("x86_64"));
    assert_eq!(v.status, Status::WillNotRun);
    has(
        &v,
        Status::WillNotRun,
        &[
            "`/usr/bin/app`",
            "needs GLIBC_2.36",
            "the image's glibc is 2.31",
        ],
    );

    // No glibc in the image: the host's.
    let top = layer(&[Entry::File("usr/bin/app", read(&f.new_glibc))]);
    let report = inspect_layers(Some(&config(&[], &[])), [&top[..]]).unwrap();
    let mut old = host("x86_64");
    old.glibc = Some(Version::new(2, 31, 0));
    let v = compat(&report, &old);
    has(
        &v,
        Status::WillNotRun,
        &["needs GLIBC_2.36", "the host's is 2.31"],
    );
    // ... and the missing libc and loader are reasons of their own.
    has(
        &v,
        Status::WillNotRun,
        &["`/usr/bin/app`", "needs `libc.so.6`", "does not provide"],
    );
    has(
        &v,
        Status::WillNotRun,
        &["interpreter `/lib64/ld-linux-x86-64.so.2`"],
    );
}

#[test]
fn will_not_run_for_isa_level() {
    let f = fixtures();
    let report = image(
        &[("usr/bin/fast", &f.v3), ("usr/bin/noted", &f.v3_note)],
        &[],
        &[],
    );
    let v = compat(&report, &host("x86_64_v2"));
    assert_eq!(v.status, Status::WillNotRun);
    has(
        &v,
        Status::WillNotRun,
        &["needs x86-64-v3", "(and 1 more)", "up to x86-64-v2"],
    );
    // glibc's own AVX-512 code is behind CPU checks: not a reason on a v3 host.
    assert_eq!(compat(&report, &host("x86_64_v3")).status, Status::Runs);
}

#[test]
fn will_not_run_for_glibcxx() {
    let f = fixtures();
    let report = image(
        &[
            ("usr/bin/cxx", &f.cxx),
            ("usr/lib/x86_64-linux-gnu/libstdc++.so.6", &f.old_libstdcxx),
        ],
        &[],
        &[],
    );
    assert_eq!(report.summary.image_glibcxx, Some(Version::new(3, 4, 20)));
    let need = report.summary.glibcxx_required.clone().unwrap().version;
    let v = compat(&report, &host("x86_64"));
    assert_eq!(v.status, Status::WillNotRun);
    has(
        &v,
        Status::WillNotRun,
        &[
            "`/usr/bin/cxx`",
            &format!("needs GLIBCXX_{need}"),
            "up to GLIBCXX_3.4.20",
        ],
    );

    // No libstdc++ in the image: the host's decides that reason.
    let report = image(&[("usr/bin/cxx", &f.cxx)], &[], &[]);
    let mut old = host("x86_64");
    old.libstdcxx = Detected::Known(Version::new(3, 4, 19));
    has(
        &compat(&report, &old),
        Status::WillNotRun,
        &["the host's offers up to GLIBCXX_3.4.19"],
    );
    let new = host("x86_64");
    assert!(
        !compat(&report, &new)
            .reasons
            .iter()
            .any(|r| r.message.contains("GLIBCXX"))
    );
}

#[test]
fn will_not_run_for_a_missing_library_or_cuda_major() {
    let f = fixtures();
    let report = image(&[("usr/bin/mpi-app", &f.mpi_exe)], &[], &[]);
    let mpi_host = HostProfile {
        mpi: Detected::Known(vec![MpiInstall {
            family: MpiFamily::OpenMpi,
            version: Some("4.1.4".into()),
            abi: "openmpi".into(),
            library: f.libmpi.clone(),
            soname: "libmpi.so.40".into(),
        }]),
        ..host("x86_64")
    };
    let v = compat(&report, &mpi_host);
    has(
        &v,
        Status::WillNotRun,
        &["`/usr/bin/mpi-app`", "needs `libmpi.so.40`", "bind-mount"],
    );

    let cuda = image(
        &[
            ("usr/bin/cuda-app", &f.cuda_exe),
            ("usr/lib/x86_64-linux-gnu/libcudart.so.12", &f.libcudart),
        ],
        &[],
        &["CUDA_VERSION=12.2.0"],
    );
    let v = compat(&cuda, &gpu_host("11.8"));
    assert_eq!(v.status, Status::WillNotRun);
    has(
        &v,
        Status::WillNotRun,
        &["needs CUDA 12.2", "supports CUDA 11.8"],
    );
}

#[test]
fn bind_mount_checks_for_mpi_and_cuda() {
    let f = fixtures();
    let dir = tempfile::tempdir().unwrap();
    // An MPICH-ABI image: its program links libmpich.so.12.
    let mpich_app = linked_exe(dir.path(), "mpich-app", &f.host_mpich, "MPI_Init1");
    let lib = "usr/lib/x86_64-linux-gnu/libmpich.so.12";
    let new = image(
        &[("usr/bin/app", &mpich_app), (lib, &f.host_mpich)],
        &[],
        &[],
    );
    assert_eq!(new.summary.mpi.as_ref().unwrap().abi, "mpich");
    let old = image(
        &[
            ("usr/bin/app", &mpich_app),
            (lib, &f.host_mpich),
            ("opt/old/libc.so.6", &f.old_libc),
        ],
        &[],
        &["LD_LIBRARY_PATH=/opt/old"],
    );
    assert_eq!(old.summary.image_glibc, Some(Version::new(2, 31, 0)));
    let install = |family, abi: &str, soname: &str, library: &std::path::Path| MpiInstall {
        family,
        version: None,
        abi: abi.into(),
        library: library.to_owned(),
        soname: soname.into(),
    };
    let mpich = install(MpiFamily::Mpich, "mpich", "libmpich.so.12", &f.host_mpich);
    let openmpi = install(MpiFamily::OpenMpi, "openmpi", "libmpi.so.40", &f.libmpi);
    let gone = install(
        MpiFamily::Mpich,
        "mpich",
        "libmpich.so.12",
        std::path::Path::new("/nonexistent/libmpich.so.12"),
    );
    let h = HostProfile {
        mpi: Detected::Known(vec![mpich.clone(), openmpi, gone]),
        ..host("x86_64")
    };

    let checks = bind_mount_checks(&new, &h);
    assert_eq!(checks.len(), 3, "{checks:#?}");
    assert!(checks.iter().all(|c| c.kind == BindKind::Mpi));
    // Same ABI, same soname, GLIBC_2.36 ≤ the image's 2.36.
    assert_eq!(checks[0].status, Status::Runs, "{checks:#?}");
    assert_eq!(
        checks[0].host_library.as_deref(),
        Some(f.host_mpich.as_path())
    );
    assert!(checks[0].reasons.iter().any(|r| {
        r.message
            .contains("needs GLIBC_2.36; the image's glibc is 2.36")
    }));
    // Another ABI family.
    assert_eq!(checks[1].status, Status::WillNotRun);
    assert!(
        checks[1].reasons[0]
            .message
            .contains("has the openmpi ABI; the image links mpich"),
        "{checks:#?}"
    );
    // Unreadable.
    assert_eq!(checks[2].status, Status::WillNotRun);
    assert!(
        checks[2]
            .reasons
            .iter()
            .any(|r| r.message.contains("cannot read")),
        "{checks:#?}"
    );

    // The host library needs a newer glibc than the image's.
    let checks = bind_mount_checks(
        &old,
        &HostProfile {
            mpi: Detected::Known(vec![mpich]),
            ..host("x86_64")
        },
    );
    assert_eq!(checks[0].status, Status::WillNotRun);
    assert!(
        checks[0]
            .reasons
            .iter()
            .any(|r| r.status == Status::WillNotRun
                && r.message
                    .contains("needs GLIBC_2.36; the image's glibc is 2.31")),
        "{checks:#?}"
    );

    // No MPI on the host; unknown MPI.
    let none = bind_mount_checks(&new, &host("x86_64"));
    assert_eq!((none.len(), none[0].status), (1, Status::WillNotRun));
    assert!(none[0].reasons[0].message.contains("no MPI"));
    let unknown = HostProfile {
        mpi: Detected::Unknown("cannot run ldconfig".into()),
        ..host("x86_64")
    };
    assert!(
        bind_mount_checks(&new, &unknown)[0].reasons[0]
            .message
            .contains("cannot run ldconfig")
    );

    // An image without MPI or CUDA needs no checks.
    let plain = image(&[("usr/bin/app", &f.baseline)], &[], &[]);
    assert!(bind_mount_checks(&plain, &h).is_empty());
}

#[test]
fn bind_mount_checks_for_cuda() {
    let f = fixtures();
    // The driver's CUDA version against the image's.
    let cuda = image(
        &[
            ("usr/bin/cuda-app", &f.cuda_exe),
            ("usr/lib/x86_64-linux-gnu/libcudart.so.12", &f.libcudart),
        ],
        &[],
        &["CUDA_VERSION=12.2.0"],
    );
    let ok = bind_mount_checks(&cuda, &gpu_host("12.4"));
    assert_eq!(
        (ok.len(), ok[0].kind, ok[0].status),
        (1, BindKind::Cuda, Status::Runs)
    );
    assert_eq!(
        bind_mount_checks(&cuda, &gpu_host("11.8"))[0].status,
        Status::WillNotRun
    );
    let no_gpu = bind_mount_checks(&cuda, &host("x86_64"));
    assert_eq!(no_gpu[0].status, Status::WillNotRun);
    assert!(no_gpu[0].reasons[0].message.contains("no NVIDIA GPU"));
}
