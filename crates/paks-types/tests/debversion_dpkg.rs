//! `DebianVersion`'s order checked against the real `dpkg --compare-versions`.

use paks_types::DebianVersion;
use std::cmp::Ordering;
use std::hash::BuildHasher;
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

/// Versions built from the characters that matter to the order (`~`, letters, `+`, `.`,
/// digits with leading zeros), with and without epoch and revision.
fn version() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    (
        prop::option::of(0u32..3),
        "[0-9][0-9a-z.+~]{0,6}",
        prop::option::of("[0-9a-z.+~]{1,4}"),
    )
        .prop_map(|(epoch, upstream, revision)| {
            let mut s = epoch.map(|e| format!("{e}:")).unwrap_or_default();
            s.push_str(&upstream);
            if let Some(r) = revision {
                s.push('-');
                s.push_str(&r);
            }
            s
        })
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(200))]
    /// Random pairs: parsing keeps the text, and dpkg agrees with the order.
    #[test]
    fn random_pairs_order_as_dpkg_does(a in version(), b in version()) {
        let (va, vb) = (a.parse::<DebianVersion>().unwrap(), b.parse::<DebianVersion>().unwrap());
        proptest::prop_assert_eq!(va.to_string(), a.clone());
        let op = match va.cmp(&vb) {
            Ordering::Less => "lt",
            Ordering::Equal => "eq",
            Ordering::Greater => "gt",
        };
        proptest::prop_assert!(dpkg(&a, op, &b), "dpkg disagrees that `{}` {} `{}`", a, op, b);
        if op == "eq" {
            let s = std::hash::RandomState::new();
            proptest::prop_assert_eq!(s.hash_one(&va), s.hash_one(&vb));
        }
    }
}
