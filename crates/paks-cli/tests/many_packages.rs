//! Many packages at once against a registry that caps connections per client, as `paks
//! serve` does (256 by default): `paks push --sign`, `paks install` and `paks verify` of a
//! closure larger than the cap must stay within it. Found by `bench/trust`: pushing the
//! 384-package Debian closure opened a connection per package, so the attachments' client
//! was refused by the server and `paks push --sign` failed.

mod common;

use std::path::Path;

use common::{Env, paks_bin};

/// More packages than the cap below, so one connection per package is refused.
const PACKAGES: usize = 40;
/// The registry's `--max-connections-per-client`.
const CAP: &str = "24";

/// `PACKAGES` small packages built from trivial recipes, as `.pak` files in `out`.
fn build_many(env: &Env, out: &Path) -> Vec<String> {
    let recipes = env.dir.path().join("recipes");
    for i in 0..PACKAGES {
        let dir = recipes.join(format!("p{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("paks.toml"),
            format!(
                "[package]\nname = \"p{i}\"\nversion = \"1.0.0\"\n[build]\nscript = 'mkdir -p \"$PREFIX/share\" && echo {i} > \"$PREFIX/share/p{i}\"'\n[test]\nscript = 'test -s \"$PREFIX/share/p{i}\"'\n"
            ),
        )
        .unwrap();
        env.ok(&[
            "build",
            dir.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--no-install",
        ]);
    }
    let mut paks: Vec<String> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pak"))
        .map(|p| p.to_str().unwrap().to_owned())
        .collect();
    paks.sort();
    assert_eq!(paks.len(), PACKAGES);
    paks
}

#[test]
fn a_closure_larger_than_the_connection_cap_pushes_signed_and_installs() {
    let env = Env::new();
    let server = paks_testkit::PaksServe::start(
        Path::new(paks_bin()),
        &env.dir.path().join("registry-data"),
        &["--max-connections-per-client", CAP],
    );
    let out = env.dir.path().join("out");
    let paks = build_many(&env, &out);
    let key = env.dir.path().join("acme.pem");
    env.ok(&["key", "generate", "--out", key.to_str().unwrap()]);

    let target = format!("{}/acme", server.host());
    let mut args = vec![
        "push",
        "--namespace",
        "--json",
        "--sign",
        key.to_str().unwrap(),
    ];
    args.extend(paks.iter().map(String::as_str));
    args.push(&target);
    let pushed = env.ok(&args);
    let lines: Vec<serde_json::Value> = pushed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let refs: Vec<&str> = lines
        .iter()
        .filter(|l| l["type"] == "push")
        .map(|l| l["reference"].as_str().unwrap())
        .collect();
    assert_eq!(refs.len(), PACKAGES, "{pushed}");
    let attached = lines.iter().filter(|l| l["type"] == "attachment").count();
    assert_eq!(attached, 3 * PACKAGES, "{pushed}");

    // Every build is installable at once, and each one's evidence verifies.
    let user = Env::new();
    let mut install = vec!["install"];
    install.extend(refs.iter().copied());
    user.ok(&install);
    assert_eq!(user.store_entries().len(), PACKAGES);
    let public = key.with_extension("pub");
    for r in refs.iter().step_by(13) {
        user.ok(&[
            "verify",
            r,
            "--key",
            public.to_str().unwrap(),
            "--require",
            "signed,provenance,sbom",
        ]);
    }
}
