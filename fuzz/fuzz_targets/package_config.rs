//! A package config as it arrives (`paks_store::parse_config`, which validates the
//! metadata): what is accepted can be written into a shell without running anything.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paks_store::{EnvSet, parse_config};

fuzz_target!(|data: &[u8]| {
    let Ok(config) = parse_config(data, "fuzz") else {
        return;
    };
    let mut set = EnvSet::default();
    set.add_package("/opt/paks/store/x", |_| false, &config.paks.env);
    let exports = set.shell_exports();
    // One `export NAME=...` line per variable, so no value broke out of its quotes
    // onto a line of its own.
    assert_eq!(exports.lines().count(), set.vars.len(), "{exports}");
    for line in exports.lines() {
        assert!(line.starts_with("export "), "{line}");
        assert!(!line.chars().any(char::is_control), "{line:?}");
    }
});
