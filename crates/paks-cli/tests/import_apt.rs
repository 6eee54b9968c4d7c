//! `paks import deb NAME...`: names resolved and fetched by the machine's real apt (its
//! configured Debian mirror is the one peer besides loopback, as for paks-import's
//! `real_deb`), imported, and pushed to a real `paks serve` on 127.0.0.1.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{Env, paks_bin};
use serde_json::Value;

fn lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn hello_with_its_closure_is_pushed_pinned_by_digest() {
    let env = Env::new();
    let server = paks_testkit::PaksServe::start(
        Path::new(paks_bin()),
        &env.dir.path().join("registry-data"),
        &[],
    );
    let out = env.dir.path().join("paks");
    let ns = format!("{}/debian", server.host());
    let stdout = env.ok(&[
        "import",
        "deb",
        "hello",
        "--closure",
        "--out",
        out.to_str().unwrap(),
        "--push",
        &ns,
        "--json",
    ]);
    let lines = lines(&stdout);
    let packages: BTreeMap<String, &Value> = lines
        .iter()
        .filter(|l| l["type"] == "package")
        .map(|l| (l["name"].as_str().unwrap().to_owned(), l))
        .collect();
    // The closure apt gives on Debian 12: libgcc-s1 needs gcc-12-base.
    assert_eq!(
        packages.keys().collect::<Vec<_>>(),
        ["gcc-12-base", "hello", "libc6", "libgcc-s1"]
    );
    for p in packages.values() {
        assert_eq!(p["unsatisfied"], Value::Array(vec![]), "{p}");
        // The .deb came from the cache's debs/ directory.
        let source = p["source"].as_str().unwrap();
        assert!(source.contains("/cache/debs/"), "{source}");
    }
    // `paks cache info` counts them, so `paks cache prune/clean` can manage them.
    let info: Value = serde_json::from_str(env.ok(&["cache", "info", "--json"]).trim()).unwrap();
    assert_eq!(info["kinds"]["debs"]["entries"], 4, "{info}");
    assert_eq!(
        packages["hello"]["dependencies"],
        serde_json::json!(["libc6"])
    );

    // Every package is in the registry, under the digest of its .pak.
    let pushed: Vec<&Value> = lines.iter().filter(|l| l["type"] == "push").collect();
    assert_eq!(pushed.len(), 4, "{stdout}");
    for p in packages.values() {
        let reference = format!(
            "{ns}/{}@{}",
            p["name"].as_str().unwrap(),
            p["digest"].as_str().unwrap()
        );
        let manifest = paks_testkit::skopeo(&[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{reference}"),
        ]);
        assert!(manifest.contains("\"layers\""), "{reference}: {manifest}");
        let config: Value = serde_json::from_str(&paks_testkit::skopeo(&[
            "inspect",
            "--config",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{reference}"),
        ]))
        .unwrap();
        let config = &config["paks"];
        assert_eq!(config["kind"], "rootfs");
        // Dependencies outside the libc6/libgcc-s1 cycle are pinned by digest: hello's on
        // libc6, libgcc-s1's on gcc-12-base. Inside the cycle, by id only.
        for dep in config["dependencies"].as_array().unwrap() {
            let name = dep["name"].as_str().unwrap();
            let in_cycle = matches!(
                (p["name"].as_str().unwrap(), name),
                ("libc6", "libgcc-s1") | ("libgcc-s1", "libc6")
            );
            let pinned = packages[name]["digest"].as_str().unwrap();
            if in_cycle {
                assert!(dep.get("digest").is_none_or(|d| d == pinned), "{dep}");
            } else {
                assert_eq!(dep["digest"], pinned, "{}: {dep}", p["name"]);
            }
        }
    }

    // A second import finds every .deb in the cache, and writes the same packages.
    let again = env.ok(&[
        "import",
        "deb",
        "hello",
        "--closure",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    let digests = |lines: &[Value]| {
        lines
            .iter()
            .filter(|l| l["type"] == "package")
            .map(|l| l["digest"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(digests(&self::lines(&again)), digests(&lines));
}

#[test]
fn without_the_closure_only_the_named_package_and_its_needs_are_reported() {
    let env = Env::new();
    let out = env.dir.path().join("paks");
    let stdout = env.ok(&[
        "import",
        "deb",
        "hello",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    let lines = lines(&stdout);
    let packages: Vec<&Value> = lines.iter().filter(|l| l["type"] == "package").collect();
    assert_eq!(packages.len(), 1);
    assert_eq!(packages[0]["name"], "hello");
    let unsatisfied = packages[0]["unsatisfied"].as_array().unwrap();
    assert!(
        unsatisfied
            .iter()
            .any(|u| u.as_str().unwrap().starts_with("libc6")),
        "{unsatisfied:?}"
    );
}

#[test]
fn an_unknown_name_is_a_user_error_with_apts_reason() {
    let env = Env::new();
    let stderr = env.fails(&["import", "deb", "no-such-package-paks", "--closure"], 1);
    assert!(
        stderr.contains("apt cannot install `no-such-package-paks`: Unable to locate package no-such-package-paks"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: check the name"), "{stderr}");

    let stderr = env.fails(&["import", "deb", "./nothing-here"], 1);
    assert!(
        stderr.contains("`./nothing-here` is neither a file nor a package name"),
        "{stderr}"
    );
}
