//! Decode and extract a closure of `.pak` files in each layer format (`bench/decode/run`).
//!
//! `cargo run --release -p paks-archive --example decode_bench -- PAKS_DIR TMPFS_DIR
//! [DECODE_RUNS [EXTRACT_RUNS [ZSTD_LEVELS]]]`
//!
//! The layers are read once into memory (so the disk is not measured); the tars are
//! re-encoded with zstd at each level. Gzip is read three ways: zlib-rs streaming (paks),
//! libdeflate whole-member under a 32 MiB cap, and libdeflate on every layer into a reused
//! buffer (its ceiling). Then, for every format, in turns (each run visits every format
//! once, so noise spreads over all of them), medians over the runs of:
//! - decode: every layer decoded on one thread, nothing else;
//! - extract: every layer through `extract_layer_verified` into `TMPFS_DIR`, two layers at a
//!   time as `paks install` does with two jobs (each extraction decodes and hashes on its
//!   thread and writes files on a second one; a whole-member decode happens first, on the
//!   first). The tree is removed between runs, untimed.
#![allow(clippy::print_stdout)] // a benchmark's report is its output
#![allow(clippy::cast_precision_loss)] // byte counts shown in MB need no 53rd bit

use std::cell::RefCell;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use paks_archive::{Compression, Encoder, Limits, PakReader, decompress, extract_layer_verified};
use paks_types::Digest;

/// One package's layer and what extraction needs to check it.
struct Layer {
    gzip: Vec<u8>,
    prefix: String,
    diff_id: Digest,
}

/// How a format's bytes are read.
#[derive(Clone, Copy, PartialEq)]
enum Via {
    /// flate2 + zlib-rs streaming (paks's gzip decoder).
    Flate2,
    /// libdeflate, each layer decoded whole into a fresh buffer (as a library decoder
    /// would), when its compressed size is at most the cap; flate2 streaming above it.
    Libdeflate { cap: usize },
    /// libdeflate, every layer whole, into one buffer per thread reused across layers: the
    /// ceiling of whole-member decoding (no page faults, no cap on memory).
    LibdeflateReused,
    /// `paks_archive`'s decoder (zstd, or plain tar).
    Paks,
}

/// Compressed size under which a library could afford whole-member decoding.
const CAP: usize = 32 << 20;

/// A libdeflate decompressor. The FFI stays in this benchmark: paks does not decode with
/// libdeflate (docs/decisions.md says why).
struct Inflater(NonNull<libdeflate_sys::libdeflate_decompressor>);

impl Inflater {
    fn new() -> Self {
        // SAFETY: allocation takes no arguments; null (out of memory) is checked.
        #[allow(unsafe_code, reason = "FFI: libdeflate's allocator")]
        let raw = unsafe { libdeflate_sys::libdeflate_alloc_decompressor() };
        Self(NonNull::new(raw).expect("libdeflate allocates a decompressor"))
    }

    /// Decode the one gzip member `input` into `out` (which must be big enough): the
    /// bytes written.
    fn gunzip(&mut self, input: &[u8], out: &mut [u8]) -> usize {
        let (mut used, mut written) = (0, 0);
        // SAFETY: pointers and lengths of live slices, read (`input`) and written within
        // bounds (`out`); the decompressor is ours alone; the results are out-parameters.
        #[allow(unsafe_code, reason = "FFI: libdeflate's gzip decoder")]
        let result = unsafe {
            libdeflate_sys::libdeflate_gzip_decompress_ex(
                self.0.as_ptr(),
                input.as_ptr().cast(),
                input.len(),
                out.as_mut_ptr().cast(),
                out.len(),
                &raw mut used,
                &raw mut written,
            )
        };
        assert_eq!(result, libdeflate_sys::libdeflate_result_LIBDEFLATE_SUCCESS);
        // The closure's layers are single members (flate2's `GzEncoder`).
        assert_eq!(used, input.len(), "a multi-member layer");
        written
    }
}

impl Drop for Inflater {
    fn drop(&mut self) {
        // SAFETY: allocated by `libdeflate_alloc_decompressor`, freed once, here.
        #[allow(unsafe_code, reason = "FFI: libdeflate's deallocator")]
        unsafe {
            libdeflate_sys::libdeflate_free_decompressor(self.0.as_ptr());
        }
    }
}

thread_local! {
    static INFLATER: RefCell<Inflater> = RefCell::new(Inflater::new());
    static REUSED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The size the gzip trailer claims (exact for these single-member layers).
fn isize_of(gzip: &[u8]) -> usize {
    u32::from_le_bytes(gzip[gzip.len() - 4..].try_into().unwrap()) as usize
}

/// Decode `gzip` whole into `out`, grown (never shrunk) to fit: the bytes written.
fn gunzip_into(gzip: &[u8], out: &mut Vec<u8>) -> usize {
    let size = isize_of(gzip);
    if out.len() < size {
        out.resize(size, 0);
    }
    INFLATER.with_borrow_mut(|i| i.gunzip(gzip, &mut out[..size]))
}

struct Format {
    name: String,
    via: Via,
    blobs: Vec<Vec<u8>>,
}

/// `tar` compressed as `paks build --compression` does it.
fn encode(tar: &[u8], compression: Compression) -> Vec<u8> {
    let mut e = Encoder::new(Vec::new(), compression).unwrap();
    e.write_all(tar).unwrap();
    e.finish().unwrap()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        f64::midpoint(xs[n / 2 - 1], xs[n / 2])
    }
}

/// Hand the decoded bytes of `blob`, read the way `via` reads it, to `f`.
fn with_reader<T>(via: Via, blob: &[u8], f: impl FnOnce(&mut dyn Read) -> T) -> T {
    match via {
        Via::Libdeflate { cap } if blob.len() <= cap => {
            let mut out = Vec::new();
            let n = gunzip_into(blob, &mut out);
            f(&mut &out[..n])
        }
        Via::Flate2 | Via::Libdeflate { .. } => f(&mut flate2::bufread::MultiGzDecoder::new(
            BufReader::with_capacity(64 << 10, blob),
        )),
        Via::LibdeflateReused => REUSED.with_borrow_mut(|out| {
            let n = gunzip_into(blob, out);
            f(&mut &out[..n])
        }),
        Via::Paks => f(&mut decompress(blob).unwrap()),
    }
}

/// Decode everything on this thread; the decoded bytes.
fn decode_all(format: &Format, buf: &mut [u8]) -> u64 {
    let mut total = 0;
    for blob in &format.blobs {
        with_reader(format.via, blob, |r| {
            loop {
                let n = r.read(buf).unwrap();
                if n == 0 {
                    break;
                }
                total += n as u64;
            }
        });
    }
    total
}

/// Extract every layer under `dest`, `jobs` at a time.
fn extract_all(format: &Format, layers: &[Layer], dest: &Path, jobs: usize) {
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(layer) = layers.get(i) else { break };
                    let out = dest.join(i.to_string());
                    std::fs::create_dir(&out).unwrap();
                    with_reader(format.via, &format.blobs[i], |r| {
                        extract_layer_verified(
                            r,
                            &out,
                            &layer.prefix,
                            &Limits::default(),
                            &layer.diff_id,
                        )
                    })
                    .unwrap();
                }
            });
        }
    });
}

fn load(dir: &Path) -> Vec<Layer> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pak"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| {
            let pak = PakReader::open(path).unwrap();
            let config: serde_json::Value =
                serde_json::from_slice(&pak.config_bytes().unwrap()).unwrap();
            let mut gzip = Vec::new();
            pak.layer_reader().unwrap().read_to_end(&mut gzip).unwrap();
            assert_eq!(&gzip[..2], [0x1f, 0x8b], "{}: not gzip", path.display());
            Layer {
                gzip,
                prefix: format!("opt/paks/store/{}", config["paks"]["id"].as_str().unwrap()),
                diff_id: config["rootfs"]["diff_ids"][0]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap(),
            }
        })
        .collect()
}

/// The closure in every format: gzip read three ways, zstd at each level, plain tar.
fn formats(gzip: Vec<Vec<u8>>, tars: Vec<Vec<u8>>, levels: &[i32]) -> Vec<Format> {
    let mut formats = vec![
        Format {
            name: "gzip-6 zlib-rs stream".into(),
            via: Via::Flate2,
            blobs: gzip.clone(),
        },
        Format {
            name: "gzip-6 libdeflate cap".into(),
            via: Via::Libdeflate { cap: CAP },
            blobs: gzip.clone(),
        },
        Format {
            name: "gzip-6 libdeflate all".into(),
            via: Via::LibdeflateReused,
            blobs: gzip,
        },
    ];
    for &level in levels {
        let start = Instant::now();
        let blobs = tars
            .iter()
            .map(|t| encode(t, Compression::Zstd { level }))
            .collect();
        eprintln!(
            "zstd -{level}: encoded in {:.1} s",
            start.elapsed().as_secs_f64()
        );
        formats.push(Format {
            name: format!("zstd-{level}"),
            via: Via::Paks,
            blobs,
        });
    }
    formats.push(Format {
        name: "tar (none)".into(),
        via: Via::Paks,
        blobs: tars,
    });

    formats
}

/// What `paks image build --compression gzip` pays per zstd package layer: decode, then
/// gzip (`repack`: level 6; level 1 for comparison), for the 150 layers bench/image asks
/// for (the first by name).
fn repack(zstd: &Format) {
    for level in [6, 1] {
        let start = Instant::now();
        let (mut tar_bytes, mut gz_bytes) = (0, 0);
        for blob in zstd.blobs.iter().take(150) {
            let mut tar = Vec::new();
            decompress(&blob[..])
                .unwrap()
                .read_to_end(&mut tar)
                .unwrap();
            tar_bytes += tar.len();
            gz_bytes += encode(&tar, Compression::Gzip { level }).len();
        }
        println!(
            "repack zstd-3 -> gzip-{level} of the first 150 layers ({:.0} MB of tar, {:.0} MB out): {:.2} s on one thread",
            tar_bytes as f64 / 1e6,
            gz_bytes as f64 / 1e6,
            start.elapsed().as_secs_f64()
        );
    }
}

/// The table: medians, and ratios against gzip zlib-rs (`formats[0]`).
fn report(formats: &[Format], decode: &[Vec<f64>], extract: &[Vec<f64>], tar_bytes: u64) {
    println!(
        "{:<22} {:>9} {:>9} {:>9} {:>9} {:>8} {:>10} {:>8}",
        "format", "size MB", "of tar", "decode s", "MB/s", "x gzip", "extract s", "x gzip"
    );
    // Ratios are medians of per-run ratios against gzip zlib-rs: each run measured every
    // format close together in time, so a run's ratio is less noisy than its times.
    let ratio = |xs: &[Vec<f64>], i: usize| {
        median(xs[0].iter().zip(&xs[i]).map(|(base, x)| base / x).collect())
    };
    for (i, f) in formats.iter().enumerate() {
        let size: u64 = f.blobs.iter().map(|b| b.len() as u64).sum();
        let d = median(decode[i].clone());
        let e = median(extract[i].clone());
        println!(
            "{:<22} {:>9.1} {:>8.1}% {:>9.2} {:>9.0} {:>8.2} {:>10.2} {:>8.2}",
            f.name,
            size as f64 / 1e6,
            100.0 * size as f64 / tar_bytes as f64,
            d,
            tar_bytes as f64 / 1e6 / d,
            ratio(decode, i),
            e,
            ratio(extract, i),
        );
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let paks = PathBuf::from(args.next().expect("PAKS_DIR"));
    let tmp = PathBuf::from(args.next().expect("TMPFS_DIR"));
    let decode_runs: usize = args.next().map_or(5, |n| n.parse().unwrap());
    let extract_runs: usize = args.next().map_or(3, |n| n.parse().unwrap());
    let levels: Vec<i32> = args.next().map_or(vec![3, 9], |l| {
        l.split(',').map(|n| n.parse().unwrap()).collect()
    });

    let layers = load(&paks);
    let gzip: Vec<Vec<u8>> = layers.iter().map(|l| l.gzip.clone()).collect();
    let mut buf = vec![0u8; 256 << 10];
    let tars: Vec<Vec<u8>> = gzip
        .iter()
        .map(|g| {
            let mut t = Vec::new();
            with_reader(Via::Flate2, g, |r| r.read_to_end(&mut t).unwrap());
            t
        })
        .collect();
    let tar_bytes: u64 = tars.iter().map(|t| t.len() as u64).sum();
    let whole = gzip.iter().filter(|g| g.len() <= CAP).count();
    let whole_bytes: u64 = gzip
        .iter()
        .filter(|g| g.len() <= CAP)
        .map(|g| g.len() as u64)
        .sum();
    let gz_bytes: u64 = gzip.iter().map(|g| g.len() as u64).sum();
    println!(
        "closure: {} layers, {:.1} MB of tar; {whole} layers ({:.0}% of the gzip bytes) of at most 32 MiB (libdeflate cap)",
        layers.len(),
        tar_bytes as f64 / 1e6,
        100.0 * whole_bytes as f64 / gz_bytes as f64,
    );

    let formats = formats(gzip, tars, &levels);
    if let Some(zstd) = formats.iter().find(|f| f.name == "zstd-3") {
        repack(zstd);
    }

    let mut decode: Vec<Vec<f64>> = vec![Vec::new(); formats.len()];
    for run in 0..decode_runs {
        for (i, f) in formats.iter().enumerate() {
            let start = Instant::now();
            let out = decode_all(f, &mut buf);
            decode[i].push(start.elapsed().as_secs_f64());
            assert_eq!(out, tar_bytes, "{}", f.name);
        }
        eprintln!("decode run {} of {decode_runs} done", run + 1);
    }
    let mut extract: Vec<Vec<f64>> = vec![Vec::new(); formats.len()];
    for run in 0..extract_runs {
        for (i, f) in formats.iter().enumerate() {
            let dest = tmp.join("out");
            std::fs::create_dir_all(&dest).unwrap();
            let start = Instant::now();
            extract_all(f, &layers, &dest, 2);
            extract[i].push(start.elapsed().as_secs_f64());
            std::fs::remove_dir_all(&dest).unwrap();
        }
        eprintln!("extract run {} of {extract_runs} done", run + 1);
    }

    report(&formats, &decode, &extract, tar_bytes);
    println!(
        "decode: one thread, median of {decode_runs} runs; extract: 2 jobs into {}, median of {extract_runs}; x gzip: median of the runs' ratios",
        tmp.display()
    );
    // The spread says how noisy the machine was.
    for (i, f) in formats.iter().enumerate() {
        let runs = |xs: &[f64]| xs.iter().map(|x| format!("{x:.2}")).collect::<Vec<_>>();
        eprintln!(
            "{:<22} decode {:?} extract {:?}",
            f.name,
            runs(&decode[i]),
            runs(&extract[i])
        );
    }
}
