//! Rootfs packages (imported `.deb`s and `.apk`s, rooted at `/`) in an image or sysroot:
//! their layers go in as they are, in an order that depends only on the packages.
//!
//! Order: a package after its dependencies and after the packages it `Replaces` (so its
//! files win). Distribution dependencies may form cycles (`libc6` and `libgcc-s1` need
//! each other); a cycle is broken by name: when every package left waits for another,
//! the cycle that waits for nothing outside itself (the one with the first name, if
//! several) goes next, whole, its first member by name first. Among packages free to go,
//! the first by name goes first, so the order never depends on how the closure was walked.

use std::collections::BTreeSet;

use paks_types::{PackageKind, PackageMeta};

/// The path every image with rootfs packages and no base gets as `PATH` when nothing sets
/// it (Debian's and Alpine's default for root).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Whether `meta` is a rootfs package.
pub fn is_rootfs(meta: &PackageMeta) -> bool {
    meta.kind == PackageKind::Rootfs
}

/// The names the package `replaces` (Debian's `Replaces`, Alpine's `replaces`), whatever
/// version bound they carry; unparsable fields name nothing.
pub fn replaced_names(meta: &PackageMeta) -> BTreeSet<String> {
    let Some(origin) = &meta.origin else {
        return BTreeSet::new();
    };
    let Some(value) = origin.relations.get("replaces") else {
        return BTreeSet::new();
    };
    match origin.format {
        paks_types::ForeignFormat::Deb => {
            paks_import::deb::relation::parse_relations("Replaces", value)
                .map(|items| items.into_iter().flatten().map(|r| r.name).collect())
                .unwrap_or_default()
        }
        paks_types::ForeignFormat::Apk => paks_import::apk::Dependency::parse_list(value)
            .map(|atoms| {
                atoms
                    .into_iter()
                    .filter(|a| !a.conflict)
                    .map(|a| a.name)
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Whether `later` replaces `earlier` (by name; a version bound in the field is honoured
/// for Debian packages).
pub fn replaces(later: &PackageMeta, earlier: &PackageMeta) -> bool {
    let (Some(origin), Some(theirs)) = (&later.origin, &earlier.origin) else {
        return false;
    };
    let Some(value) = origin.relations.get("replaces") else {
        return false;
    };
    let name = earlier.name.as_str();
    match origin.format {
        paks_types::ForeignFormat::Deb => {
            let version = paks_types::DebianVersion::parse(&theirs.version).ok();
            paks_import::deb::relation::parse_relations("Replaces", value)
                .unwrap_or_default()
                .into_iter()
                .flatten()
                .any(|r| {
                    r.name == name
                        && match (&r.version, &version) {
                            (None, _) => true,
                            (Some((op, bound)), Some(v)) => op.matches(v, bound),
                            (Some(_), None) => false,
                        }
                })
        }
        paks_types::ForeignFormat::Apk => replaced_names(later).contains(name),
    }
}

/// The order of `packages` in an image: indexes, dependencies and replaced packages first,
/// cycles broken by name, ties by name (then id). Dependencies outside `packages` are
/// ignored.
pub fn order(packages: &[&PackageMeta]) -> Vec<usize> {
    let n = packages.len();
    // before[i]: the packages that must go before package i.
    let mut before: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    for (i, p) in packages.iter().enumerate() {
        for d in &p.dependencies {
            for (j, q) in packages.iter().enumerate() {
                if j != i && q.id == d.id {
                    before[i].insert(j);
                }
            }
        }
        for (j, q) in packages.iter().enumerate() {
            if j != i && replaces(p, q) {
                before[i].insert(j);
            }
        }
    }
    let key = |i: usize| (packages[i].name.as_str(), packages[i].id.to_string());
    let mut placed = vec![false; n];
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let waiting = |i: usize, placed: &[bool]| before[i].iter().any(|&j| !placed[j]);
        if let Some(next) = (0..n)
            .filter(|&i| !placed[i] && !waiting(i, &placed))
            .min_by(|&a, &b| key(a).cmp(&key(b)))
        {
            placed[next] = true;
            out.push(next);
            continue;
        }
        // Every package left waits for another: take a cycle nothing outside it holds
        // up (its first member by name decides which), and place the whole cycle.
        let cycle_of = |i: usize| -> Vec<usize> {
            let reach = reachable(i, &before, &placed);
            let mut members: Vec<usize> = reach
                .into_iter()
                .filter(|&j| reachable(j, &before, &placed).contains(&i))
                .collect();
            if !members.contains(&i) {
                members.push(i);
            }
            members
        };
        let cycle = (0..n)
            .filter(|&i| !placed[i])
            .map(cycle_of)
            .filter(|c| {
                c.iter()
                    .all(|&m| before[m].iter().all(|&j| placed[j] || c.contains(&j)))
            })
            .min_by(|a, b| {
                let first = |c: &Vec<usize>| c.iter().map(|&i| key(i)).min();
                first(a).cmp(&first(b))
            })
            .expect("a finite graph has a cycle with nothing outside it to wait for");
        // Inside the cycle: whoever waits for nobody left, else the first by name.
        let mut left = cycle;
        while !left.is_empty() {
            let free: Vec<usize> = left
                .iter()
                .copied()
                .filter(|&i| !waiting(i, &placed))
                .collect();
            let pool = if free.is_empty() { left.clone() } else { free };
            let next = pool
                .into_iter()
                .min_by(|&a, &b| key(a).cmp(&key(b)))
                .expect("not empty");
            placed[next] = true;
            out.push(next);
            left.retain(|&i| i != next);
        }
    }
    out
}

/// The unplaced packages `from` waits for, directly or not.
fn reachable(from: usize, before: &[BTreeSet<usize>], placed: &[bool]) -> BTreeSet<usize> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![from];
    while let Some(i) = stack.pop() {
        for &j in &before[i] {
            if !placed[j] && seen.insert(j) {
                stack.push(j);
            }
        }
    }
    seen
}

/// A rootfs package's metadata for unit tests: `name` 1.0.0 (Debian `1.0-1`), needing
/// `deps` by id, with a `Replaces` field when given.
#[cfg(test)]
pub(crate) fn test_meta(name: &str, deps: &[&str], replaces: Option<&str>) -> PackageMeta {
    use paks_types::{Digest, ForeignFormat, Origin, PackageDep, PackageId};
    let id: PackageId = format!("{}-{name}-1.0.0", "a".repeat(32)).parse().unwrap();
    let mut relations = std::collections::BTreeMap::new();
    if let Some(r) = replaces {
        relations.insert("replaces".to_owned(), r.to_owned());
    }
    PackageMeta {
        schema: 1,
        name: name.parse().unwrap(),
        version: "1.0.0".parse().unwrap(),
        id,
        platform: "linux/amd64".parse().unwrap(),
        summary: None,
        license: None,
        homepage: None,
        dependencies: deps
            .iter()
            .map(|d| PackageDep {
                name: d.parse().unwrap(),
                req: "*".parse().unwrap(),
                id: format!("{}-{d}-1.0.0", "a".repeat(32)).parse().unwrap(),
                digest: None,
            })
            .collect(),
        env: vec![],
        relocation: paks_types::Relocation::default(),
        files: 0,
        size: 0,
        contents: vec![],
        needs: paks_types::PackageNeeds::default(),
        kind: PackageKind::Rootfs,
        origin: Some(Origin {
            format: ForeignFormat::Deb,
            version: "1.0-1".into(),
            architecture: "amd64".into(),
            source: None,
            source_version: None,
            maintainer: None,
            file_digest: Digest::sha256_of(name.as_bytes()),
            relations,
            scripts_not_run: vec![],
            conffiles: vec![],
            alternatives: vec![],
            libraries: vec![],
            dropped_setid: vec![],
        }),
        test: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: &str, deps: &[&str], replaces: Option<&str>) -> PackageMeta {
        test_meta(name, deps, replaces)
    }

    fn names(all: &[PackageMeta]) -> Vec<String> {
        let refs: Vec<&PackageMeta> = all.iter().collect();
        order(&refs)
            .into_iter()
            .map(|i| all[i].name.to_string())
            .collect()
    }

    #[test]
    fn dependencies_first_cycles_broken_by_name_whatever_the_input_order() {
        let pkgs = [
            meta("hello", &["libc6"], None),
            meta("libgcc-s1", &["libc6"], None),
            meta("libc6", &["libgcc-s1"], None),
            meta("dash", &["libc6"], None),
        ];
        // The cycle whole, then what needed it.
        let expected = ["libc6", "libgcc-s1", "dash", "hello"];
        assert_eq!(names(&pkgs), expected);
        let mut reversed = pkgs.clone();
        reversed.reverse();
        assert_eq!(names(&reversed), expected);
    }

    #[test]
    fn a_package_outside_a_cycle_waits_for_the_whole_cycle() {
        // `aaa` sorts first but depends on the cycle: the cycle goes first.
        let pkgs = [
            meta("aaa", &["zz"], None),
            meta("zz", &["yy"], None),
            meta("yy", &["zz"], None),
        ];
        assert_eq!(names(&pkgs), ["yy", "zz", "aaa"]);
    }

    #[test]
    fn a_replacing_package_goes_after_the_replaced_one() {
        let pkgs = [
            meta("aaa-new", &[], Some("zzz-old (<< 2)")),
            meta("zzz-old", &[], None),
            meta("bbb", &[], Some("zzz-old (<< 0.5)")),
        ];
        // `bbb`'s bound excludes zzz-old's version 1.0-1: no constraint.
        assert_eq!(names(&pkgs), ["bbb", "zzz-old", "aaa-new"]);
    }
}
