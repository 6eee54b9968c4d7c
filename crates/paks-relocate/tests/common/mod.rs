//! Helpers shared by the integration tests: package ids, files, and gcc.

#![allow(dead_code)] // each test binary uses a different part

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A well-formed package id for `name`, with a hash derived from it.
pub fn id(name: &str) -> String {
    const ALPHABET: &[u8] = b"0123456789abcdfghijklmnpqrsvwxyz";
    let hash: String = (0..32)
        .map(|i| {
            let seed = name.bytes().fold(i, |acc, b| acc * 31 + usize::from(b));
            char::from(ALPHABET[seed % ALPHABET.len()])
        })
        .collect();
    format!("{hash}-{name}-1.0.0")
}

/// The path as a `&str`; test paths are UTF-8.
pub fn s(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

/// Writes `contents` to `path`, creating its directories, with `mode`.
pub fn write(path: &Path, contents: impl AsRef<[u8]>, mode: u32) {
    fs_err::create_dir_all(path.parent().unwrap()).unwrap();
    fs_err::write(path, contents).unwrap();
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

pub fn mode(path: &Path) -> u32 {
    fs_err::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Compiles C `source` with gcc into `out`, with extra arguments.
pub fn gcc(source: &str, out: &Path, args: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("source.c");
    fs_err::write(&file, source).unwrap();
    fs_err::create_dir_all(out.parent().unwrap()).unwrap();
    let output = Command::new("gcc")
        .arg(&file)
        .arg("-o")
        .arg(out)
        .args(args)
        .output()
        .expect("gcc runs");
    assert!(
        output.status.success(),
        "gcc failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs a program with a clean library path and returns its standard output.
pub fn run(program: &Path) -> String {
    let output = Command::new(program)
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("the program starts");
    assert!(
        output.status.success(),
        "{} failed: {}",
        program.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The `DT_RUNPATH` and `DT_RPATH` strings of an ELF file, as goblin reads them.
pub fn search_paths(path: &Path) -> (Vec<String>, Vec<String>) {
    let bytes = fs_err::read(path).unwrap();
    let elf = goblin::elf::Elf::parse(&bytes).unwrap();
    let own = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
    (own(&elf.runpaths), own(&elf.rpaths))
}

/// Moves a directory (on the same file system), creating the new parent.
pub fn move_dir(from: &Path, to: &Path) {
    fs_err::create_dir_all(to.parent().unwrap()).unwrap();
    fs_err::rename(from, to).unwrap();
}

pub fn join(base: &Path, parts: &[&str]) -> PathBuf {
    parts
        .iter()
        .fold(base.to_path_buf(), |p, part| p.join(part))
}
