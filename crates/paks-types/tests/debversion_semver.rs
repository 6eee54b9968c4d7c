//! `DebianVersion::semver_compatible` orders as `DebianVersion` (and so as dpkg) does.

use paks_types::DebianVersion;
use paks_types::semver_form::MAX_METADATA_LEN;
use proptest::prelude::*;
use std::process::Command;

/// Versions from every character class that matters to dpkg's order: `~`, upper- and
/// lower-case letters, `+ . -`, digit runs with leading zeros, epochs, revisions.
fn version() -> impl Strategy<Value = String> {
    (
        prop::option::of(0u32..3),
        "[0-9][0-9a-zA-Z.+~]{0,7}",
        prop::option::of("[0-9a-zA-Z.+~]{1,3}(-[0-9a-z.+~]{1,3})?"),
        prop::option::of("[0-9a-zA-Z.+~]{1,5}"),
    )
        .prop_map(|(epoch, upstream, dashed, revision)| {
            let mut s = epoch.map(|e| format!("{e}:")).unwrap_or_default();
            s.push_str(&upstream);
            // A `-` inside the upstream version needs a revision after it.
            if let (Some(d), Some(_)) = (&dashed, &revision) {
                s.push('-');
                s.push_str(d);
            }
            if let Some(r) = revision {
                s.push('-');
                s.push_str(&r);
            }
            s
        })
}

fn parse(s: &str) -> DebianVersion {
    s.parse().unwrap()
}

proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(2000))]
    /// Random pairs: the semver forms compare as the versions do, and are equal exactly
    /// when the versions are.
    #[test]
    fn semver_forms_order_as_debian_versions(a in version(), b in version()) {
        let (va, vb) = (parse(&a), parse(&b));
        let (sa, sb) = (va.semver_compatible(), vb.semver_compatible());
        prop_assert_eq!(va.cmp(&vb), sa.cmp(&sb), "`{}` vs `{}`: {} vs {}", a, b, sa, sb);
        prop_assert_eq!(sa.to_string().parse::<semver::Version>().unwrap(), sa);
    }
}

fn dpkg_lt(a: &str, b: &str) -> bool {
    Command::new("dpkg")
        .args(["--compare-versions", a, "lt", b])
        .status()
        .expect("dpkg runs (install the `dpkg` package)")
        .success()
}

/// The longest versions of Debian 12's archive (`apt-cache dumpavail`, 63,697 versions,
/// measured when this was written) and neighbours they must sort against.
const LONGEST: &[&str] = &[
    "1.31~pre0.8052aabdd159bc9050e7dc264f33782c5acce05f-2",
    "2.0.0~6.0.0+~3.0.4+~2.0.0+~1.0.0+~2.0.1-5",
    "3.0.4~6.0.0+~3.0.4+~2.0.0+~1.0.0+~2.0.1-5",
    "0.16.1+20180422git6becd92d7fce3fc411d7c-6+b1",
    "7.3.3+dfsg1-1+0.0~git20211018.e64c254+dfsg-2",
    "13.45.0.4846264+really13.41.0.28bdc39+dfsg-1",
    "8.1.0~5.15.0+dfsg1+~cs20.10.9.3-1+deb12u4",
    "1.31",
    "2.0.0",
    "1:0",
];

/// Real long versions keep the exact form (no cut) and sort as the real dpkg sorts them.
#[test]
fn real_long_versions_fit_and_sort_as_dpkg() {
    for a in LONGEST {
        let form = parse(a).semver_compatible();
        assert!(
            form.build.len() <= MAX_METADATA_LEN && form.build.ends_with(".B"),
            "`{a}` gives a cut form `{form}`"
        );
        for b in LONGEST {
            let ours = form < parse(b).semver_compatible();
            assert_eq!(ours, dpkg_lt(a, b), "`{a}` < `{b}`: ours {ours}");
        }
    }
}

/// A version too long for a tag still gets a valid, bounded, distinct form.
#[test]
fn over_long_versions_are_cut_with_a_digest() {
    let long = format!("1.{}", "a1.".repeat(40));
    let other = format!("{long}b");
    let (f, g) = (
        parse(&long).semver_compatible(),
        parse(&other).semver_compatible(),
    );
    assert!(f.build.len() <= MAX_METADATA_LEN, "{f}");
    assert_ne!(f, g);
    // Versions that differ early still order as dpkg does.
    assert!(parse("1.0").semver_compatible() < f);
    assert!(f < parse("2").semver_compatible());
}
