//! The `.pak` reader (an OCI layout in a tar) on any file: open it, read its config and
//! its layer (verified against the manifest's digest) without panicking.
#![no_main]

use std::io::{Read, Write};

use libfuzzer_sys::fuzz_target;
use paks_archive::PakReader;

fuzz_target!(|data: &[u8]| {
    let mut file = tempfile::NamedTempFile::new().expect("a temp file");
    file.write_all(data).expect("write");
    let Ok(reader) = PakReader::open(file.path()) else {
        return;
    };
    let _ = reader.annotations();
    let _ = reader.ref_name();
    let _ = reader.layer_descriptor();
    let _ = reader.config_bytes();
    if let Ok(layer) = reader.layer_reader() {
        let _ = layer.take(16 << 20).read_to_end(&mut Vec::new());
    }
});
