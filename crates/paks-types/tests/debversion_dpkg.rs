//! `DebianVersion`'s order checked against the real `dpkg --compare-versions`.

use paks_types::DebianVersion;
use std::cmp::Ordering;
use std::process::Command;

/// Versions that exercise every rule: epochs, `~` before the end, letters before other
/// characters, numeric digit runs with leading zeros, missing and present revisions.
const SAMPLE: &[&str] = &[
    "1.0",
    "1.0~rc1",
    "1.0~~",
    "1.0~",
    "1.0a",
    "1.0+",
    "1.0.",
    "1.0.1",
    "1.0-0",
    "1.0-1",
    "1.0-1~bpo1",
    "1.0-10",
    "1.01",
    "0:1.0",
    "1:0.1",
    "2:0",
    "2.36-9+deb12u4",
    "2.36-9",
    "1Z",
    "1a",
    "1.2-3-4",
    "20230311",
];

fn dpkg(a: &str, op: &str, b: &str) -> bool {
    let status = Command::new("dpkg")
        .args(["--compare-versions", a, op, b])
        .status()
        .expect("dpkg runs (install the `dpkg` package)");
    status.success()
}

#[test]
fn every_pair_orders_as_dpkg_does() {
    for a in SAMPLE {
        for b in SAMPLE {
            let ours = a
                .parse::<DebianVersion>()
                .unwrap()
                .cmp(&b.parse::<DebianVersion>().unwrap());
            let op = match ours {
                Ordering::Less => "lt",
                Ordering::Equal => "eq",
                Ordering::Greater => "gt",
            };
            assert!(dpkg(a, op, b), "dpkg disagrees that `{a}` {op} `{b}`");
        }
    }
}
