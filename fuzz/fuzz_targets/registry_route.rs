//! `paks serve`'s request parsing: the URL path (repository names, tags, digests, routes),
//! `Range` headers, and names and references on their own.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paks_registry::api::{parse_digest, parse_route};
use paks_registry::names::{Reference, RepoName};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse_route(&text);
    let _ = parse_digest(&text);
    if let Ok(name) = RepoName::parse(&text) {
        // A name that parses prints as itself.
        assert_eq!(name.as_str(), text);
    }
    let _ = Reference::parse(&text);
    for size in [0, 1, 1000, u64::MAX] {
        let _ = paks_registry::api::parse_range(Some(&text), size);
    }
});
