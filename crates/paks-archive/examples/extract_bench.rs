//! Time `extract_layer` against GNU `tar -x` on a synthetic package tree.
//!
//! `cargo run --release -p paks-archive --example extract_bench -- /dev/shm/bench 13000 [TREE]`
#![allow(clippy::print_stdout)] // a benchmark's report is its output

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use paks_archive::{Compression, Limits, extract_layer, write_layer};

const PREFIX: &str = "opt/paks/store/bench";

/// xorshift64: reproducible sizes and contents without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `files` files in directories of about 30, sizes mostly small as in real packages,
/// contents text-like so that they compress about as well as code does.
fn make_tree(root: &Path, files: u64) -> u64 {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let words: Vec<String> = (0..512).map(|i| format!("word{i:x} ")).collect();
    let mut total = 0;
    let mut dir = root.to_owned();
    for i in 0..files {
        if i % 30 == 0 {
            dir = root.join(format!("lib{}/pkg{}/sub{}", i % 7, i / 300, i / 30));
            std::fs::create_dir_all(&dir).unwrap();
        }
        let size = match rng.below(100) {
            0..70 => 512 + rng.below(8 << 10),
            70..95 => (8 << 10) + rng.below(56 << 10),
            _ => (64 << 10) + rng.below(256 << 10),
        };
        let mut content = String::with_capacity(usize::try_from(size).unwrap() + 16);
        while (content.len() as u64) < size {
            content.push_str(&words[usize::try_from(rng.below(512)).unwrap()]);
        }
        std::fs::write(dir.join(format!("file{i}.py")), &content).unwrap();
        total += content.len() as u64;
        if i % 50 == 0 {
            std::os::unix::fs::symlink(format!("file{i}.py"), dir.join(format!("link{i}")))
                .unwrap();
        }
    }
    total
}

fn fresh(dir: &Path) -> PathBuf {
    if dir.exists() {
        std::fs::remove_dir_all(dir).unwrap();
    }
    std::fs::create_dir_all(dir).unwrap();
    dir.to_owned()
}

fn best_of(runs: usize, mut f: impl FnMut() -> Duration) -> Duration {
    (0..runs).map(|_| f()).min().unwrap()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let base = PathBuf::from(args.next().unwrap_or_else(|| "/dev/shm/paks-bench".into()));
    let files: u64 = args.next().map_or(13_000, |n| n.parse().unwrap());
    // A third argument names a real tree to copy in instead of the synthetic one.
    let src = fresh(&base.join("src"));
    if let Some(real) = args.next() {
        let status = Command::new("cp")
            .arg("-a")
            .arg(format!("{real}/."))
            .arg(&src)
            .status();
        assert!(status.unwrap().success());
        println!("tree: a copy of {real}");
    } else {
        let bytes = make_tree(&src, files);
        println!("tree: {files} files, {} MiB", bytes >> 20);
    }
    let out = base.join("out");
    let formats = [
        ("tar", Compression::None, "-xf"),
        ("tar.gz", Compression::Gzip { level: 6 }, "-xzf"),
        ("tar.zst", Compression::Zstd { level: 3 }, "--zstd -xf"),
    ];
    for (ext, compression, tar_flags) in formats {
        let layer = base.join(format!("layer.{ext}"));
        let start = Instant::now();
        let info = write_layer(
            &src,
            PREFIX,
            compression,
            std::fs::File::create(&layer).unwrap(),
        )
        .unwrap();
        let write = start.elapsed();
        let ours = best_of(3, || {
            let dest = fresh(&out);
            let start = Instant::now();
            let reader = std::fs::File::open(&layer).unwrap();
            extract_layer(reader, &dest, PREFIX, &Limits::default()).unwrap();
            start.elapsed()
        });
        let theirs = best_of(3, || {
            let dest = fresh(&out);
            let start = Instant::now();
            let status = Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "tar {tar_flags} {} -C {}",
                    layer.display(),
                    dest.display()
                ))
                .status()
                .unwrap();
            assert!(status.success());
            start.elapsed()
        });
        println!(
            "{ext:8} {:>6} MiB  write_layer {:>6.0} ms  extract_layer {:>6.0} ms  tar -x {:>6.0} ms",
            info.size >> 20,
            write.as_secs_f64() * 1e3,
            ours.as_secs_f64() * 1e3,
            theirs.as_secs_f64() * 1e3,
        );
    }
    if std::env::var_os("PAKS_BENCH_KEEP").is_none() {
        std::fs::remove_dir_all(&base).unwrap();
    }
}
