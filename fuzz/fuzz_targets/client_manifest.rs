//! The client's manifest types on any JSON: an image manifest, an index, and the
//! descriptor a referrer gets; what parses must serialise and parse back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paks_oci::{ImageIndex, ImageManifest, Manifest};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = serde_json::from_slice::<ImageManifest>(data) {
        let again: ImageManifest = serde_json::from_slice(&m.to_bytes()).expect("re-parse");
        assert_eq!(again.to_bytes(), m.to_bytes());
    }
    if let Ok(i) = serde_json::from_slice::<ImageIndex>(data) {
        let again: ImageIndex = serde_json::from_slice(&i.to_bytes()).expect("re-parse");
        assert_eq!(again.to_bytes(), i.to_bytes());
    }
    for media_type in [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ] {
        let m = Manifest::new(media_type, data.to_vec());
        let _ = m.is_index();
        let _ = m.descriptor();
        let _ = m.referrer_descriptor();
    }
});
