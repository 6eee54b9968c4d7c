//! Tag splitting and newer-tag choice, as tables of cases.

use paks_dockerfile::tags::{Level, candidates, newer_tags, newest, split};

/// (tag, version as written, variant, release components, pre-release)
type SplitCase = (
    &'static str,
    &'static str,
    &'static str,
    &'static [u64],
    Option<&'static str>,
);

#[test]
fn splits_version_and_variant() {
    let cases: &[SplitCase] = &[
        ("3.12-slim", "3.12", "-slim", &[3, 12], None),
        (
            "3.12.1-slim-bookworm",
            "3.12.1",
            "-slim-bookworm",
            &[3, 12, 1],
            None,
        ),
        ("1.25-alpine3.20", "1.25", "-alpine3.20", &[1, 25], None),
        (
            "1.25.3-alpine3.19",
            "1.25.3",
            "-alpine3.19",
            &[1, 25, 3],
            None,
        ),
        ("v1.2.3", "v1.2.3", "", &[1, 2, 3], None),
        ("20.04", "20.04", "", &[20, 4], None),
        ("8", "8", "", &[8], None),
        ("8-jdk", "8", "-jdk", &[8], None),
        (
            "3.13.0rc1-slim",
            "3.13.0rc1",
            "-slim",
            &[3, 13, 0],
            Some("rc1"),
        ),
        (
            "1.2.3-rc1-alpine",
            "1.2.3-rc1",
            "-alpine",
            &[1, 2, 3],
            Some("rc1"),
        ),
        (
            "1.2.3-beta.2",
            "1.2.3-beta.2",
            "",
            &[1, 2, 3],
            Some("beta.2"),
        ),
        ("3.12-bullseye", "3.12", "-bullseye", &[3, 12], None),
        (
            "2024.01.15-musl",
            "2024.01.15",
            "-musl",
            &[2024, 1, 15],
            None,
        ),
    ];
    for &(tag, version, variant, release, pre) in cases {
        let split = split(tag).unwrap_or_else(|| panic!("`{tag}` should have a version"));
        assert_eq!(split.version.text(), version, "version of `{tag}`");
        assert_eq!(split.variant, variant, "variant of `{tag}`");
        assert_eq!(split.version.release(), release, "release of `{tag}`");
        assert_eq!(split.version.pre(), pre, "pre-release of `{tag}`");
    }
    for tag in [
        "latest",
        "bookworm",
        "alpine3.20",
        "slim",
        "stable-slim",
        "sha-0123abc",
        "",
        "-1",
    ] {
        assert!(split(tag).is_none(), "`{tag}` should have no version");
    }
}

/// A registry's tags for a Python-like image, in no particular order.
const PYTHON: &[&str] = &[
    "latest",
    "slim",
    "3",
    "3-slim",
    "4",
    "3.11",
    "3.11-slim",
    "3.12",
    "3.12-slim",
    "3.12-alpine",
    "3.12-alpine3.19",
    "3.12-alpine3.20",
    "3.13",
    "3.13-slim",
    "3.13-alpine3.19",
    "3.13-alpine3.20",
    "3.14-slim",
    "4.0-slim",
    "3.12.0-slim",
    "3.12.1",
    "3.12.1-slim",
    "3.12.2-slim",
    "3.12.10-slim",
    "3.13.0-slim",
    "3.13.1-slim",
    "3.13.0rc1-slim",
    "3.13.0rc2-slim",
    "3.15.0a1-slim",
    "3.15a1-slim",
    "3.13.1-slim-bookworm",
    "3.13.2-slim-bookworm",
    "3.12.1-slim-bookworm",
    "v3.13.5-slim",
    "3.12.4.1-slim",
    "bookworm",
];

#[test]
fn newest_tag_within_a_level() {
    use Level::{Major, Minor, Patch};
    // (current, level, expected newest)
    let cases: &[(&str, Level, Option<&str>)] = &[
        // Same variant, same number of components.
        ("3.12-slim", Minor, Some("3.14-slim")),
        ("3.12-slim", Major, Some("4.0-slim")),
        // A two-component tag has no patch component to move.
        ("3.12-slim", Patch, None),
        ("3.12", Minor, Some("3.13")),
        ("3.11", Patch, None),
        // Three components: patch moves the third only, minor the second.
        ("3.12.1-slim", Patch, Some("3.12.10-slim")),
        ("3.12.1-slim", Minor, Some("3.13.1-slim")),
        ("3.12.1-slim", Major, Some("3.13.1-slim")),
        ("3.12.1", Minor, None),
        // Variants are kept exactly, numbers inside them too.
        ("3.12-alpine3.19", Minor, Some("3.13-alpine3.19")),
        ("3.12-alpine3.20", Minor, Some("3.13-alpine3.20")),
        ("3.12-alpine", Minor, None),
        ("3.12.1-slim-bookworm", Minor, Some("3.13.2-slim-bookworm")),
        ("3.12.1-slim-bookworm", Patch, None),
        // One component: only a major step moves it.
        ("3", Minor, None),
        ("3", Major, Some("4")),
        ("3-slim", Major, None),
        // Pre-releases: only for a pre-release of the same release.
        ("3.13.0rc1-slim", Patch, Some("3.13.1-slim")),
        ("3.13.0rc1-slim", Minor, Some("3.13.1-slim")),
        ("3.15a1-slim", Minor, None),
        // The `v` prefix is part of the shape.
        ("v3.12.0-slim", Minor, Some("v3.13.5-slim")),
        // Already the newest, or no version at all.
        ("3.14-slim", Minor, None),
        ("4.0-slim", Major, None),
        ("latest", Major, None),
        ("bookworm", Major, None),
        // Four components stay four.
        ("3.12.4.0-slim", Patch, Some("3.12.4.1-slim")),
    ];
    for &(current, level, expected) in cases {
        assert_eq!(
            newest(current, PYTHON.iter().copied(), level),
            expected,
            "newest for `{current}` at {level:?}"
        );
    }
}

#[test]
fn prerelease_moves_to_its_next_prerelease_or_a_release() {
    let tags = [
        "3.13.0rc1-slim",
        "3.13.0rc2-slim",
        "3.13.0-slim",
        "3.14.0a1-slim",
    ];
    assert_eq!(
        candidates("3.13.0rc1-slim", tags, Level::Major),
        ["3.13.0-slim", "3.13.0rc2-slim"]
    );
    // A stable tag never moves to a pre-release.
    assert!(candidates("3.13.0-slim", tags, Level::Major).is_empty());
}

#[test]
fn newer_tags_lists_every_compatible_tag_newest_first() {
    assert_eq!(
        newer_tags("3.12-slim", PYTHON.iter().copied()),
        ["4.0-slim", "3.14-slim", "3.13-slim"]
    );
    assert_eq!(
        newer_tags("3.12.1-slim", PYTHON.iter().copied()),
        ["3.13.1-slim", "3.13.0-slim", "3.12.10-slim", "3.12.2-slim"]
    );
    assert!(newer_tags("latest", PYTHON.iter().copied()).is_empty());
}

#[test]
fn order_does_not_depend_on_the_registry() {
    // `3.13.0` and `3.13.00` are one version; the same one wins whatever the order.
    let forward = ["3.12.1", "3.13.0", "3.13.00"];
    let backward = ["3.13.00", "3.13.0", "3.12.1"];
    assert_eq!(newest("3.12.0", forward, Level::Minor), Some("3.13.0"));
    assert_eq!(newest("3.12.0", backward, Level::Minor), Some("3.13.0"));
    assert_eq!(newer_tags("3.12.0", backward), ["3.13.0", "3.12.1"]);
}

proptest::proptest! {
    /// Whatever the tags, a candidate has the current tag's variant and component count, is
    /// newer, and a wider level never finds an older newest tag.
    #[test]
    fn candidates_keep_the_shape_and_grow_with_the_level(
        current in (0u64..4, 0u64..4, 0u64..4, 0usize..3),
        tags in proptest::collection::vec((0u64..4, 0u64..4, 0u64..4, 1usize..4, 0usize..3), 0..30),
    ) {
        let variants = ["", "-slim", "-alpine3.20"];
        let render = |(a, b, c, n, v): (u64, u64, u64, usize, usize)| {
            let parts = [a, b, c].iter().take(n).map(u64::to_string).collect::<Vec<_>>();
            format!("{}{}", parts.join("."), variants[v])
        };
        let current = render((current.0, current.1, current.2, 3, current.3));
        let tags: Vec<String> = tags.into_iter().map(render).collect();
        let now = split(&current).unwrap();
        let mut previous = None;
        for level in [Level::Patch, Level::Minor, Level::Major] {
            let found = candidates(&current, tags.iter().map(String::as_str), level);
            for tag in &found {
                let next = split(tag).unwrap();
                proptest::prop_assert_eq!(next.variant, now.variant);
                proptest::prop_assert_eq!(next.version.release().len(), 3);
                proptest::prop_assert!(next.version > now.version);
            }
            let best = found.first().map(|t| split(t).unwrap().version);
            if let (Some(previous), Some(best)) = (&previous, &best) {
                proptest::prop_assert!(best >= previous);
            }
            proptest::prop_assert!(previous.is_none() || best.is_some());
            previous = best;
        }
    }
}
