//! The client's image references (`registry/name:tag@digest`) and repositories: what
//! parses prints as something that parses to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paks_oci::{Reference, Repository};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(r) = text.parse::<Reference>() {
        let again: Reference = r.to_string().parse().expect("a printed reference parses");
        assert_eq!(again.to_string(), r.to_string());
        let _ = r.repo();
        let _ = r.tag_or_digest();
    }
    if let Ok(r) = text.parse::<Repository>() {
        let again: Repository = r.to_string().parse().expect("a printed repository parses");
        assert_eq!(again.to_string(), r.to_string());
    }
});
