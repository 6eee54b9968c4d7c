//! `fix_runpaths` on hand-made ELF files: all four classes and byte orders (the machine
//! has only a 64-bit little-endian compiler), and strings that share bytes, which a
//! linker may produce but not on demand.

mod common;

use std::path::Path;

use goblin::elf::dynamic::{DT_NEEDED, DT_RPATH, DT_RUNPATH, DT_SONAME, DT_STRSZ, DT_STRTAB};
use paks_relocate::fix_runpaths;
use paks_types::CANONICAL_STORE;

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
/// Where the file is mapped: its virtual addresses differ from its offsets.
const BASE: u64 = 0x40_0000;

/// Writes integers of one ELF class and byte order.
struct Out {
    bytes: Vec<u8>,
    is64: bool,
    big: bool,
}

impl Out {
    fn int(&mut self, value: u64, size: usize) {
        let le = value.to_le_bytes();
        let mut bytes = le[..size].to_vec();
        if self.big {
            bytes.reverse();
        }
        self.bytes.extend_from_slice(&bytes);
    }
    fn half(&mut self, v: u64) {
        self.int(v, 2);
    }
    fn word(&mut self, v: u64) {
        self.int(v, 4);
    }
    /// An address, offset or size: 4 or 8 bytes by class.
    fn addr(&mut self, v: u64) {
        self.int(v, if self.is64 { 8 } else { 4 });
    }
}

/// A minimal shared object: header, a `PT_LOAD` over the whole file, a `PT_DYNAMIC`, the
/// string table `strtab` and the dynamic entries `dyns` (plus `DT_STRTAB`, `DT_STRSZ`).
fn synth_elf(is64: bool, big: bool, strtab: &[u8], dyns: &[(u64, u64)]) -> Vec<u8> {
    synth_elf_at(is64, big, strtab, dyns, None)
}

/// [`synth_elf`] with `DT_STRTAB` set to `strtab_addr` instead of the table's address.
fn synth_elf_at(
    is64: bool,
    big: bool,
    strtab: &[u8],
    dyns: &[(u64, u64)],
    strtab_addr: Option<u64>,
) -> Vec<u8> {
    let (ehsize, phentsize, dynsize) = if is64 { (64, 56, 16) } else { (52, 32, 8) };
    let strtab_off = ehsize + 2 * phentsize;
    let dyn_off = (strtab_off + strtab.len() as u64).next_multiple_of(8);
    let mut all: Vec<(u64, u64)> = vec![
        (DT_STRTAB, strtab_addr.unwrap_or(BASE + strtab_off)),
        (DT_STRSZ, strtab.len() as u64),
    ];
    all.extend_from_slice(dyns);
    all.push((0, 0));
    let dyn_len = all.len() as u64 * dynsize;
    let total = dyn_off + dyn_len;

    let mut o = Out {
        bytes: Vec::new(),
        is64,
        big,
    };
    o.bytes.extend_from_slice(b"\x7fELF");
    o.bytes
        .extend_from_slice(&[if is64 { 2 } else { 1 }, if big { 2 } else { 1 }, 1, 0]);
    o.bytes.resize(16, 0);
    o.half(3); // ET_DYN
    o.half(if big { 20 } else { 62 }); // EM_PPC or EM_X86_64: any will do
    o.word(1);
    o.addr(0); // entry
    o.addr(ehsize); // phoff
    o.addr(0); // shoff: no section headers
    o.word(0); // flags
    o.half(ehsize);
    o.half(phentsize);
    o.half(2);
    o.half(if is64 { 64 } else { 40 });
    o.half(0);
    o.half(0);
    assert_eq!(o.bytes.len() as u64, ehsize);
    for (kind, offset, size) in [(PT_LOAD, 0, total), (PT_DYNAMIC, dyn_off, dyn_len)] {
        if is64 {
            o.word(u64::from(kind));
            o.word(6); // flags
            o.addr(offset);
            o.addr(BASE + offset);
            o.addr(BASE + offset);
            o.addr(size);
            o.addr(size);
            o.addr(8);
        } else {
            o.word(u64::from(kind));
            o.addr(offset);
            o.addr(BASE + offset);
            o.addr(BASE + offset);
            o.addr(size);
            o.addr(size);
            o.word(6);
            o.addr(8);
        }
    }
    o.bytes.extend_from_slice(strtab);
    o.bytes.resize(usize::try_from(dyn_off).unwrap(), 0);
    for (tag, value) in all {
        o.addr(tag);
        o.addr(value);
    }
    assert_eq!(o.bytes.len() as u64, total);
    o.bytes
}

/// A string table from strings, with the offset of each.
fn strtab(strings: &[&str]) -> (Vec<u8>, Vec<u64>) {
    let mut table = vec![0u8];
    let mut offsets = Vec::new();
    for string in strings {
        offsets.push(table.len() as u64);
        table.extend_from_slice(string.as_bytes());
        table.push(0);
    }
    (table, offsets)
}

fn own() -> String {
    format!("{CANONICAL_STORE}/{}", common::id("own"))
}

fn fix(prefix: &Path) -> paks_relocate::RunpathReport {
    fix_runpaths(prefix, &own(), &[CANONICAL_STORE]).unwrap()
}

#[test]
fn every_class_and_byte_order() {
    let dep = common::id("dep");
    let runpath = format!("{}/lib:/usr/lib:{CANONICAL_STORE}/{dep}/lib", own());
    let (table, offsets) = strtab(&["libc.so.6", &runpath, "libown.so"]);
    for is64 in [false, true] {
        for big in [false, true] {
            for tag in [DT_RUNPATH, DT_RPATH] {
                let tmp = tempfile::tempdir().unwrap();
                let file = tmp.path().join("lib/libown.so");
                let dyns = [
                    (DT_NEEDED, offsets[0]),
                    (tag, offsets[1]),
                    (DT_SONAME, offsets[2]),
                ];
                let before = synth_elf(is64, big, &table, &dyns);
                common::write(&file, &before, 0o755);

                let report = fix(tmp.path());
                assert_eq!(
                    report.rewritten,
                    ["lib/libown.so"],
                    "{is64} {big}: {report:?}"
                );

                let after = fs_err::read(&file).unwrap();
                let elf = goblin::elf::Elf::parse(&after).unwrap();
                let want = format!("$ORIGIN:/usr/lib:$ORIGIN/../../{dep}/lib");
                let paths = if tag == DT_RUNPATH {
                    &elf.runpaths
                } else {
                    &elf.rpaths
                };
                assert_eq!(paths, &[want.as_str()]);
                assert_eq!(elf.libraries, ["libc.so.6"]);
                assert_eq!(elf.soname, Some("libown.so"));
                // Only the string's own bytes changed, and the rest of them are NULs.
                assert_eq!(after.len(), before.len());
                let start = before
                    .windows(runpath.len())
                    .position(|w| w == runpath.as_bytes());
                let start = start.unwrap();
                let end = start + runpath.len();
                assert_eq!(after[..start], before[..start]);
                assert_eq!(after[end..], before[end..]);
                assert!(after[start + want.len()..end].iter().all(|&b| b == 0));
            }
        }
    }
}

#[test]
fn rpath_and_runpath_naming_one_string_are_rewritten_once() {
    let runpath = format!("{}/lib", own());
    let (table, offsets) = strtab(&[&runpath]);
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("bin/tool");
    let dyns = [(DT_RPATH, offsets[0]), (DT_RUNPATH, offsets[0])];
    common::write(&file, synth_elf(true, false, &table, &dyns), 0o755);
    assert_eq!(fix(tmp.path()).rewritten, ["bin/tool"]);
    let bytes = fs_err::read(&file).unwrap();
    let elf = goblin::elf::Elf::parse(&bytes).unwrap();
    assert_eq!(
        (elf.runpaths, elf.rpaths),
        (vec!["$ORIGIN/../lib"], vec!["$ORIGIN/../lib"])
    );
}

#[test]
fn a_string_sharing_the_runpath_bytes_keeps_the_file_unchanged() {
    // `DT_NEEDED` "lib" is the tail of the RUNPATH, as a linker merging strings makes it.
    let runpath = format!("{}/lib", own());
    let (table, offsets) = strtab(&[&runpath]);
    let tail = offsets[0] + runpath.len() as u64 - 3;
    for (tag, kind) in [(DT_NEEDED, "DT_NEEDED"), (DT_SONAME, "DT_SONAME")] {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("lib/libx.so");
        let before = synth_elf(
            false,
            true,
            &table,
            &[(DT_RUNPATH, offsets[0]), (tag, tail)],
        );
        common::write(&file, &before, 0o644);

        let report = fix(tmp.path());
        assert!(report.rewritten.is_empty());
        let [(name, reason)] = &report.unchanged[..] else {
            panic!("{report:?}");
        };
        assert_eq!(name, "lib/libx.so");
        assert!(reason.contains(kind), "{reason}");
        assert_eq!(fs_err::read(&file).unwrap(), before);
    }
}

#[test]
fn a_runpath_inside_another_string_keeps_the_file_unchanged() {
    // The RUNPATH is the tail of a longer needed name: changing it would change that too.
    let runpath = format!("{}/lib", own());
    let (table, offsets) = strtab(&[&format!("x{runpath}")]);
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("lib/liby.so");
    let dyns = [(DT_NEEDED, offsets[0]), (DT_RUNPATH, offsets[0] + 1)];
    let before = synth_elf(true, true, &table, &dyns);
    common::write(&file, &before, 0o644);
    let report = fix(tmp.path());
    assert_eq!(report.unchanged.len(), 1, "{report:?}");
    assert!(report.unchanged[0].1.contains("DT_NEEDED"));
    assert_eq!(fs_err::read(&file).unwrap(), before);
}

#[test]
fn a_string_table_outside_the_loaded_segments_is_reported() {
    let runpath = format!("{}/lib", own());
    let (table, offsets) = strtab(&[&runpath]);
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("lib/libz.so");
    let dyns = [(DT_RUNPATH, offsets[0])];
    let bytes = synth_elf_at(true, false, &table, &dyns, Some(0x7000_0000));
    common::write(&file, &bytes, 0o644);
    let report = fix(tmp.path());
    assert_eq!(report.unchanged.len(), 1, "{report:?}");
    assert!(report.unchanged[0].1.contains("PT_LOAD"), "{report:?}");
    assert_eq!(fs_err::read(&file).unwrap(), bytes);
}
