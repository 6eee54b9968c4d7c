//! The requests of a cold pull: the closures of many packages share their dependencies,
//! and each dependency's manifest is fetched once, not once per package that needs it
//! (100 packages asked for one manifest 70 times, 1,257 manifest GETs in all, before).
//! Read from the access log of `paks serve`.

mod common;

use std::collections::BTreeMap;

use common::Env;

#[test]
fn a_pull_of_many_packages_fetches_each_manifest_once() {
    let env = Env::new();
    let summary = paks_benchgen::generate(
        &env.dir.path().join("registry-data"),
        &paks_benchgen::Options {
            packages: 60,
            seed: 20,
            namespace: "shared".to_owned(),
            writers: 2,
            chain: false,
        },
    )
    .unwrap();
    let server = common::serve(&env);
    let mut args = vec!["pull".to_owned()];
    args.extend(
        summary
            .packages
            .iter()
            .map(|p| format!("{}/{}:{}", server.host(), p.repository, p.newest)),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    env.ok(&args);

    let log = server.stderr();
    let mut manifests: BTreeMap<&str, usize> = BTreeMap::new();
    for line in log.lines().filter(|l| l.contains("paks::access")) {
        let Some(path) = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("path="))
        else {
            continue;
        };
        if path.contains("/manifests/sha256:") {
            *manifests.entry(path).or_default() += 1;
        }
    }
    assert!(
        manifests.len() > 60,
        "{} manifests by digest",
        manifests.len()
    );
    let again: Vec<_> = manifests.iter().filter(|(_, n)| **n > 1).collect();
    assert!(again.is_empty(), "fetched more than once: {again:?}");
}
