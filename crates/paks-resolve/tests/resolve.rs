//! Resolution scenarios over a hand-built, in-memory catalog and faked hosts.

use std::collections::BTreeMap;

use paks_resolve::{
    Build, Candidate, Catalog, Environment, HostProfile, Lock, LockedRepository, PinnedDep,
    Request, Resolution, ResolveError, ResolveOptions, resolve, resolve_environments,
};
use paks_types::{Digest, PackageId, PackageName, Version, id_hash};

fn name(n: &str) -> PackageName {
    PackageName::new(n).unwrap()
}

fn v(s: &str) -> Version {
    Version::parse(s).unwrap()
}

/// A build of `name@version`; `tag` tells builds of one version apart.
fn build(n: &str, version: &str, tag: &str) -> Build {
    let id = PackageId::new(
        id_hash(format!("{n}{version}{tag}").as_bytes()),
        name(n),
        v(version),
    )
    .unwrap();
    Build {
        digest: Digest::sha256_of(id.to_string().as_bytes()),
        id,
        platform: "linux/amd64".parse().unwrap(),
        target: None,
        glibc: None,
        dependencies: Vec::new(),
        size: 1000,
    }
}

fn target(mut b: Build, t: &str) -> Build {
    b.target = Some(t.to_owned());
    b
}

fn glibc(mut b: Build, g: &str) -> Build {
    b.glibc = paks_host::parse_glibc(g);
    b
}

fn pin(mut b: Build, dep: &Build) -> Build {
    b.dependencies.push(PinnedDep {
        name: dep.id.name().clone(),
        version: dep.id.version().clone(),
        id: dep.id.clone(),
        digest: Some(dep.digest.clone()),
    });
    b
}

#[derive(Default)]
struct Mem {
    repos: Vec<(String, BTreeMap<PackageName, Vec<Candidate>>)>,
}

impl Mem {
    fn add(&mut self, repo: &str, builds: &[&Build]) -> &mut Self {
        if !self.repos.iter().any(|(r, _)| r == repo) {
            self.repos.push((repo.to_owned(), BTreeMap::new()));
        }
        let (_, names) = self.repos.iter_mut().find(|(r, _)| r == repo).unwrap();
        for b in builds {
            let candidates = names.entry(b.id.name().clone()).or_default();
            match candidates.iter_mut().find(|c| c.version == *b.id.version()) {
                Some(c) => c.builds.push((*b).clone()),
                None => candidates.push(Candidate {
                    version: b.id.version().clone(),
                    builds: vec![(*b).clone()],
                }),
            }
        }
        self
    }
}

impl Catalog for Mem {
    fn repositories(&self) -> Vec<String> {
        self.repos.iter().map(|(r, _)| r.clone()).collect()
    }

    fn candidates(&self, repo: &str, name: &PackageName) -> Vec<Candidate> {
        self.repos
            .iter()
            .find(|(r, _)| r == repo)
            .and_then(|(_, names)| names.get(name).cloned())
            .unwrap_or_default()
    }

    fn names(&self, repo: &str) -> Vec<PackageName> {
        self.repos
            .iter()
            .find(|(r, _)| r == repo)
            .map(|(_, names)| names.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// A linux/amd64 host of microarchitecture `cpu` with glibc `g`.
fn host(cpu: &str, g: &str) -> HostProfile {
    HostProfile {
        os: "linux".into(),
        arch: "amd64".into(),
        microarch: Some(cpu.into()),
        targets: HostProfile::targets_for(cpu).unwrap(),
        glibc: paks_host::parse_glibc(g),
        ..HostProfile::default()
    }
}

fn requests(rs: &[&str]) -> Vec<Request> {
    rs.iter().map(|r| Request::parse(r).unwrap()).collect()
}

fn solve(catalog: &Mem, host: &HostProfile, rs: &[&str]) -> Result<Resolution, ResolveError> {
    resolve(catalog, host, &requests(rs), &ResolveOptions::default())
}

/// `name version [target]` of every package, in resolution order.
fn summary(r: &Resolution) -> Vec<String> {
    r.packages
        .iter()
        .map(|p| {
            let t = p.build.target.as_deref().unwrap_or("baseline");
            format!(
                "{} {} {t}{}",
                p.name,
                p.version,
                if p.explicit { " *" } else { "" }
            )
        })
        .collect()
}

fn explanation(err: ResolveError) -> String {
    match err {
        ResolveError::NoSolution { explanation } => explanation,
        other => panic!("expected no solution, got {other}"),
    }
}

#[test]
fn simple_chain() {
    let zlib = build("zlib", "1.3.1", "");
    let libgreet = pin(build("libgreet", "1.0.0", ""), &zlib);
    let hello = pin(build("hello", "1.0.0", ""), &libgreet);
    let mut c = Mem::default();
    c.add("main", &[&zlib, &libgreet, &hello]);
    let r = solve(&c, &host("x86_64_v3", "2.36"), &["hello"]).unwrap();
    assert_eq!(
        summary(&r),
        [
            "hello 1.0.0 baseline *",
            "libgreet 1.0.0 baseline",
            "zlib 1.3.1 baseline"
        ]
    );
    assert_eq!(r.roots, std::slice::from_ref(&hello.id));
    assert!(r.packages.iter().all(|p| p.repository == "main"));
    assert!(r.warnings.is_empty());
}

#[test]
fn highest_satisfying_version_and_prereleases() {
    let mut c = Mem::default();
    for version in ["1.2.13", "1.3.0", "1.3.1", "2.0.0", "2.1.0-rc.1"] {
        c.add("main", &[&build("zlib", version, "")]);
    }
    let h = host("x86_64_v3", "2.36");
    let chosen = |req: &str| summary(&solve(&c, &h, &[req]).unwrap()).join(",");
    assert_eq!(chosen("zlib"), "zlib 2.0.0 baseline *");
    assert_eq!(chosen("zlib@^1.3"), "zlib 1.3.1 baseline *");
    assert_eq!(
        chosen("zlib@1.2"),
        "zlib 1.3.1 baseline *",
        "a bare version is caret"
    );
    assert_eq!(chosen("zlib@~1.2"), "zlib 1.2.13 baseline *");
    assert_eq!(chosen("zlib>=1.2,<1.3.1"), "zlib 1.3.0 baseline *");
    assert_eq!(chosen("zlib@=1.3.0"), "zlib 1.3.0 baseline *");
    assert_eq!(chosen("zlib@>=2.1.0-rc.0"), "zlib 2.1.0-rc.1 baseline *");
    let err = explanation(solve(&c, &h, &["zlib>=2.0.1"]).unwrap_err());
    assert!(
        err.contains("zlib >=2.0.1 exists only as prereleases"),
        "{err}"
    );
    // Two requests for one name must both hold.
    assert_eq!(
        summary(&solve(&c, &h, &["zlib@^1", "zlib<1.3.1"]).unwrap()),
        ["zlib 1.3.0 baseline *"]
    );
}

#[test]
fn conflict_is_explained() {
    let g1 = build("libgreet", "1.0.0", "");
    let g2 = build("libgreet", "2.0.0", "");
    let app = pin(build("app", "1.0.0", ""), &g1);
    let tool = pin(build("tool", "1.0.0", ""), &g2);
    let mut c = Mem::default();
    c.add("main", &[&g1, &g2, &app, &tool]);
    let err = solve(&c, &host("x86_64_v3", "2.36"), &["app", "tool"]).unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("the requested packages cannot be installed together:\n"));
    for needle in [
        "app was built against libgreet 1.0.0",
        "tool 1.0.0 was built against libgreet 2.0.0",
        "tool and app cannot be installed together",
        "your request cannot be satisfied",
        "note: a paks build runs only with the exact dependency builds it was built against \
         (pins, not ranges); a build of app or tool against other versions would lift this",
    ] {
        assert!(!text.contains("no version of"), "noise in:\n{text}");
        assert!(text.contains(needle), "missing `{needle}` in:\n{text}");
    }
}

#[test]
fn best_build_for_the_host() {
    let base = build("hello", "1.0.0", "base");
    let v3 = target(build("hello", "1.0.0", "v3"), "x86_64_v3");
    let v4 = target(build("hello", "1.0.0", "v4"), "x86_64_v4");
    let zen3 = target(build("hello", "1.0.0", "zen3"), "zen3");
    let mut c = Mem::default();
    c.add("main", &[&base, &v3, &zen3]);
    let chosen = |cpu: &str, c: &Mem| summary(&solve(c, &host(cpu, "2.36"), &["hello"]).unwrap());
    assert_eq!(chosen("x86_64_v4", &c), ["hello 1.0.0 x86_64_v3 *"]);
    assert_eq!(chosen("skylake_avx512", &c), ["hello 1.0.0 x86_64_v3 *"]);
    assert_eq!(chosen("x86_64_v2", &c), ["hello 1.0.0 baseline *"]);
    assert_eq!(chosen("zen3", &c), ["hello 1.0.0 zen3 *"]);
    assert_eq!(
        chosen("zen4", &c),
        ["hello 1.0.0 zen3 *"],
        "a zen3 build suits a zen4"
    );
    c.add("main", &[&v4]);
    assert_eq!(chosen("x86_64_v4", &c), ["hello 1.0.0 x86_64_v4 *"]);
    assert_eq!(chosen("zen3", &c), ["hello 1.0.0 zen3 *"]);

    // An arm64 build never runs on this host, whatever its target.
    let mut arm = build("hello", "2.0.0", "arm");
    arm.platform = "linux/arm64".parse().unwrap();
    c.add("main", &[&arm]);
    assert_eq!(chosen("x86_64_v4", &c), ["hello 1.0.0 x86_64_v4 *"]);
}

#[test]
fn glibc_too_old_picks_an_older_version_or_explains() {
    let old = glibc(build("hello", "1.0.0", ""), "2.17");
    let new = glibc(build("hello", "2.0.0", ""), "2.28");
    let mut c = Mem::default();
    c.add("main", &[&old, &new]);
    let centos7 = host("x86_64_v2", "2.17");
    assert_eq!(
        summary(&solve(&c, &centos7, &["hello"]).unwrap()),
        ["hello 1.0.0 baseline *"]
    );
    assert_eq!(
        summary(&solve(&c, &host("x86_64_v2", "2.36"), &["hello"]).unwrap()),
        ["hello 2.0.0 baseline *"]
    );

    let text = explanation(solve(&c, &centos7, &["hello@2"]).unwrap_err());
    assert!(
        text.contains(
            "no version of hello >=2.0.0, <3.0.0 runs on this host (x86_64_v2, glibc 2.17)"
        ),
        "{text}"
    );
    assert!(text.contains("note: hello 2.0.0 was skipped"), "{text}");
    assert!(text.contains("needs glibc 2.28"), "{text}");

    // Through a dependency, with a target the host lacks as well.
    let lib = target(glibc(build("libgreet", "1.0.0", ""), "2.28"), "x86_64_v3");
    let app = pin(build("app", "1.0.0", ""), &lib);
    c.add("main", &[&lib, &app]);
    let text = explanation(solve(&c, &centos7, &["app"]).unwrap_err());
    for needle in [
        "app 1.0.0 was built against libgreet 1.0.0",
        "no version of libgreet 1.0.0 runs on this host (x86_64_v2, glibc 2.17)",
        "needs target x86_64_v3 and needs glibc 2.28",
    ] {
        assert!(text.contains(needle), "missing `{needle}` in:\n{text}");
    }
}

#[test]
fn repository_priority() {
    let cmake_main = build("cmake", "3.20.0", "");
    let cmake_extra = build("cmake", "3.30.0", "");
    let ninja = build("ninja", "1.11.0", "");
    let mut c = Mem::default();
    c.add("main", &[&cmake_main]);
    c.add("extra", &[&cmake_extra, &ninja]);
    let h = host("x86_64_v3", "2.36");
    let r = solve(&c, &h, &["cmake", "ninja"]).unwrap();
    let got: Vec<(String, String)> = r
        .packages
        .iter()
        .map(|p| (format!("{} {}", p.name, p.version), p.repository.clone()))
        .collect();
    assert_eq!(
        got,
        [
            ("cmake 3.20.0".to_owned(), "main".to_owned()),
            ("ninja 1.11.0".to_owned(), "extra".to_owned())
        ]
    );
    let text = explanation(solve(&c, &h, &["cmake>=3.30"]).unwrap_err());
    assert!(
        text.contains("repository `main` has no version of cmake >=3.30.0 (available: 3.20.0)"),
        "{text}"
    );
    assert!(
        text.contains("`extra` also has it (3.30.0) but is not consulted for it"),
        "{text}"
    );
}

#[test]
fn pins_choose_the_dependency_build() {
    let lib_base = build("libgreet", "1.0.0", "base");
    let lib_v3 = target(build("libgreet", "1.0.0", "v3"), "x86_64_v3");
    let hello = pin(build("hello", "1.0.0", ""), &lib_base);
    let mut c = Mem::default();
    c.add("main", &[&lib_base, &lib_v3, &hello]);
    let h = host("x86_64_v4", "2.36");
    let r = solve(&c, &h, &["hello"]).unwrap();
    assert_eq!(
        summary(&r),
        ["hello 1.0.0 baseline *", "libgreet 1.0.0 baseline"]
    );

    // Requested as well: the host's best build, and the pinned one beside it.
    let r = solve(&c, &h, &["hello", "libgreet"]).unwrap();
    let mut ids: Vec<&PackageId> = r.packages.iter().map(|p| &p.build.id).collect();
    ids.sort();
    let mut want = vec![&hello.id, &lib_base.id, &lib_v3.id];
    want.sort();
    assert_eq!(ids, want);
    assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
    assert!(r.warnings[0].starts_with("2 builds of libgreet will be installed side by side"));
    assert!(r.warnings[0].contains(&format!("pinned by `{}`", hello.id)));
}

#[test]
fn pinned_build_missing_or_unfit() {
    let listed = build("libgreet", "1.0.0", "listed");
    let unlisted = build("libgreet", "1.0.0", "gone");
    let hello = pin(build("hello", "1.0.0", ""), &unlisted);
    let mut c = Mem::default();
    c.add("main", &[&listed, &hello]);
    let h = host("x86_64_v2", "2.36");
    let err = solve(&c, &h, &["hello"]).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "`{}` is pinned to `{}`, which repository `main` does not list",
            hello.id, unlisted.id
        )
    );

    let fast = target(build("libgreet", "2.0.0", "fast"), "x86_64_v4");
    let fallback = build("libgreet", "2.0.0", "base");
    let app = pin(build("app", "1.0.0", ""), &fast);
    c.add("main", &[&fast, &fallback, &app]);
    let err = solve(&c, &h, &["app"]).unwrap_err().to_string();
    assert!(
        err.contains("cannot run on this host (x86_64_v2, glibc 2.36): it needs target x86_64_v4"),
        "{err}"
    );
}

#[test]
fn prefer_keeps_a_locked_version() {
    let mut c = Mem::default();
    for version in ["1.3.0", "1.3.1", "1.4.0"] {
        c.add("main", &[&build("zlib", version, "")]);
    }
    let h = host("x86_64_v3", "2.36");
    let rs = requests(&["zlib@^1.3"]);
    let with = |prefer: &str| {
        let options = ResolveOptions {
            prefer: BTreeMap::from([(name("zlib"), v(prefer))]),
            ..ResolveOptions::default()
        };
        summary(&resolve(&c, &h, &rs, &options).unwrap())
    };
    assert_eq!(with("1.3.0"), ["zlib 1.3.0 baseline *"]);
    assert_eq!(
        with("1.2.0"),
        ["zlib 1.4.0 baseline *"],
        "unsatisfiable preference is ignored"
    );
    assert_eq!(
        with("1.3.5"),
        ["zlib 1.4.0 baseline *"],
        "a missing version is ignored"
    );
}

#[test]
fn unknown_package_suggests() {
    let mut c = Mem::default();
    c.add(
        "main",
        &[&build("zlib", "1.3.1", ""), &build("hello", "1.0.0", "")],
    );
    let err = solve(&c, &host("x86_64_v3", "2.36"), &["zlb"])
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "no repository has a package named `zlb` (did you mean `zlib`?)"
    );
    let err = solve(&c, &host("x86_64_v3", "2.36"), &["qqqq"])
        .unwrap_err()
        .to_string();
    assert_eq!(err, "no repository has a package named `qqqq`");
}

/// The lock of one resolution, for `linux/amd64`, repositories named by their labels.
fn lock_of(r: &Resolution, rs: &[Request]) -> Lock {
    Lock::from_resolutions(
        &vec![("linux/amd64".parse().unwrap(), r.clone())],
        rs,
        |label| LockedRepository {
            url: label.to_owned(),
            keys: vec!["k".to_owned()],
        },
    )
}

fn platform(mut b: Build, p: &str) -> Build {
    b.platform = p.parse().unwrap();
    b
}

#[test]
fn environments_share_versions_and_get_their_own_builds() {
    // hello 1.1.0 has no arm64 build: every environment gets 1.0.0, with its own build.
    let amd = build("hello", "1.0.0", "amd");
    let v4 = target(build("hello", "1.0.0", "v4"), "x86_64_v4");
    let arm = platform(build("hello", "1.0.0", "arm"), "linux/arm64");
    let newer = build("hello", "1.1.0", "amd");
    let mut c = Mem::default();
    c.add("main", &[&amd, &v4, &arm, &newer]);
    let envs = Environment::expand(
        &[
            "linux/amd64".parse().unwrap(),
            "linux/arm64".parse().unwrap(),
        ],
        &["x86_64_v4".to_owned()],
    )
    .unwrap();
    let rs = requests(&["hello"]);
    let all = resolve_environments(&c, &envs, &rs, &ResolveOptions::default()).unwrap();
    let chosen: Vec<(String, String)> = all
        .iter()
        .map(|(e, r)| (e.to_string(), r.packages[0].build.id.to_string()))
        .collect();
    assert_eq!(
        chosen,
        [
            ("linux/amd64".to_owned(), amd.id.to_string()),
            ("linux/amd64+x86_64_v4".to_owned(), v4.id.to_string()),
            ("linux/arm64".to_owned(), arm.id.to_string()),
        ]
    );
    let lock = Lock::from_resolutions(&all, &rs, |l| LockedRepository {
        url: format!("oci://example.invalid/{l}"),
        keys: vec![],
    });
    let text = lock.to_toml_string();
    assert!(
        text.contains(
            "environments = [\"linux/amd64\", \"linux/amd64+x86_64_v4\", \"linux/arm64\"]\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("repository = \"oci://example.invalid/main\""),
        "{text}"
    );
    assert_eq!(Lock::parse(&text).unwrap(), lock);
    let v4_env = &envs[1];
    let ids: Vec<String> = lock.packages_in(v4_env).map(|p| p.id.to_string()).collect();
    assert_eq!(ids, [v4.id.to_string()]);
    // For amd64 alone, the newest version wins.
    let one = resolve_environments(&c, &envs[..1], &rs, &ResolveOptions::default()).unwrap();
    assert_eq!(one[0].1.packages[0].version, v("1.1.0"));
    // A request only one environment can meet fails, naming the environment.
    let err = resolve_environments(
        &c,
        &envs,
        &requests(&["hello@^1.1"]),
        &ResolveOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(err, "cannot resolve for `linux/arm64`");
}

fn lock_fixture() -> (Mem, Vec<Request>) {
    let zlib = glibc(build("zlib", "1.3.1", ""), "2.17");
    let zlib_new = build("zlib", "1.3.2", "");
    let libgreet = target(pin(build("libgreet", "1.0.0", ""), &zlib), "x86_64_v3");
    let hello = pin(build("hello", "1.0.0", ""), &libgreet);
    let mut c = Mem::default();
    c.add("main", &[&zlib, &zlib_new, &libgreet, &hello]);
    (c, requests(&["zlib@^1.3", "hello"]))
}

#[test]
fn lock_round_trips_byte_identical() {
    let (c, rs) = lock_fixture();
    let h = host("x86_64_v4", "2.36");
    let r = resolve(&c, &h, &rs, &ResolveOptions::default()).unwrap();
    let lock = lock_of(&r, &rs);
    let text = lock.to_toml_string();
    assert!(
        text.starts_with("# This file is written by paks."),
        "{text}"
    );
    assert!(
        text.contains("requests = [\"hello\", \"zlib@^1.3\"]\n"),
        "{text}"
    );
    assert!(text.contains("[[package]]\nname = \"hello\""), "{text}");
    let parsed = Lock::parse(&text).unwrap();
    assert_eq!(parsed, lock);
    assert_eq!(parsed.to_toml_string(), text);
    assert_eq!(parsed.parsed_requests().unwrap().len(), 2);

    // Re-locking with the lock's preferences, requests in another order: same bytes.
    let options = ResolveOptions {
        prefer: parsed.preferences(),
        ..ResolveOptions::default()
    };
    let rs2: Vec<Request> = rs.iter().rev().cloned().collect();
    let again = resolve(&c, &h, &rs2, &options).unwrap();
    assert_eq!(lock_of(&again, &rs2).to_toml_string(), text);
}

#[test]
fn lock_parse_errors_name_the_line() {
    let (c, rs) = lock_fixture();
    let r = resolve(
        &c,
        &host("x86_64_v4", "2.36"),
        &rs,
        &ResolveOptions::default(),
    )
    .unwrap();
    let text = lock_of(&r, &rs).to_toml_string();
    let line_of = |needle: &str| text.lines().position(|l| l.starts_with(needle)).unwrap() + 1;

    let bad = text.replacen("digest = \"sha256:", "digest = \"sha257:", 1);
    let err = Lock::parse(&bad).unwrap_err().to_string();
    let want = format!("invalid lockfile at line {}:", line_of("digest"));
    assert!(err.starts_with(&want) && err.contains("sha257"), "{err}");

    let bad = text.replacen("explicit = true\n", "", 1);
    let err = Lock::parse(&bad).unwrap_err().to_string();
    assert!(err.contains("missing field `explicit`"), "{err}");

    let bad = text.replacen("version = 2\n", "version = 3\nnew_thing = true\n", 1);
    let err = Lock::parse(&bad).unwrap_err().to_string();
    assert_eq!(
        err,
        "lockfile version 3 is not supported (this paks reads version 2)"
    );
    let old = text.replacen("version = 2\n", "version = 1\n", 1);
    let err = Lock::parse(&old).unwrap_err().to_string();
    assert_eq!(
        err,
        "lockfile version 1 was written by an older paks (this paks reads version 2)"
    );
    let bad = text.replacen(
        "environments = [\"linux/amd64\"]\n\n[[package]]",
        "environments = [\"linux/arm64\"]\n\n[[package]]",
        1,
    );
    let err = Lock::parse(&bad).unwrap_err().to_string();
    assert!(
        err.contains("its environment `linux/arm64` is not in the lock"),
        "{err}"
    );

    let bad = text.replacen(
        "repository = \"main\"\n",
        "repository = \"main\"\nfoo = 1\n",
        1,
    );
    let err = Lock::parse(&bad).unwrap_err().to_string();
    assert!(err.contains("unknown field `foo`"), "{err}");

    // A dependency that is not in the lock: named, with the line of its package.
    let zlib_start = text.find("name = \"zlib\"").unwrap();
    let header = text[..zlib_start].rfind("[[package]]").unwrap();
    let err = Lock::parse(&text[..header]).unwrap_err().to_string();
    let libgreet_line = text[..text.find("name = \"libgreet\"").unwrap()]
        .lines()
        .count();
    assert!(
        err.starts_with(&format!(
            "invalid lockfile at line {libgreet_line}: package `"
        )),
        "{err}"
    );
    assert!(err.contains("-zlib-1.3.1` is not in the lock"), "{err}");

    let err = Lock::parse("version = 2\nenvironments = []\nrequests = [\"Bad Name\"]\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("invalid request `Bad Name`"), "{err}");
}

#[test]
fn catalog_is_object_safe_and_resolution_serialises() {
    let (c, rs) = lock_fixture();
    let catalog: &dyn Catalog = &c;
    let r = resolve(
        catalog,
        &host("x86_64_v4", "2.36"),
        &rs,
        &ResolveOptions::default(),
    )
    .unwrap();
    let json = serde_json::to_string(&r).unwrap();
    assert_eq!(serde_json::from_str::<Resolution>(&json).unwrap(), r);
}
