//! `paks host`: this machine's profile agrees with archspec's own detection and with
//! `ldd --version`; a profile file overrides detection.

mod common;

use std::process::Command;

use common::{Env, text};

fn host_json(env: &Env) -> serde_json::Value {
    serde_json::from_str(&env.ok(&["host", "--json"])).unwrap()
}

#[test]
fn the_profile_matches_archspec_and_ldd() {
    let env = Env::new();
    let profile = host_json(&env);
    let archspec = Command::new("python3")
        .args(["-c", "import archspec.cpu; print(archspec.cpu.host().name)"])
        .output()
        .expect("python3 runs");
    assert!(
        archspec.status.success(),
        "archspec (Python) is installed by scripts/deps: {}",
        text(&archspec.stderr)
    );
    assert_eq!(profile["microarch"], text(&archspec.stdout).trim());
    let ldd = Command::new("ldd").arg("--version").output().unwrap();
    let first = text(&ldd.stdout);
    let glibc = first.lines().next().unwrap().rsplit(' ').next().unwrap();
    let detected = profile["glibc"].as_str().unwrap();
    assert!(
        detected == format!("{glibc}.0") || detected == glibc,
        "paks: {detected}, ldd: {glibc}"
    );
    assert!(profile["libstdcxx"]["known"].is_string(), "{profile}");
    let summary = env.ok(&["host"]);
    assert!(summary.contains("CPU: "), "{summary}");
    assert!(summary.contains("glibc: "), "{summary}");
}

#[test]
fn a_profile_file_overrides_detection() {
    let env = Env::new();
    let file = env.dir.path().join("host.json");
    std::fs::write(
        &file,
        r#"{"microarch": "x86_64_v2", "glibc": "2.17.0", "gpus": [{"vendor": "nvidia", "driver": "535.104.05", "cuda": "12.2", "rocm": null, "devices": 4}]}"#,
    )
    .unwrap();
    let out = env
        .cmd()
        .args(["host", "--json"])
        .env("PAKS_HOST_PROFILE", &file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let profile: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(profile["microarch"], "x86_64_v2");
    assert_eq!(profile["glibc"], "2.17.0");
    assert_eq!(
        profile["targets"].as_array().unwrap().last().unwrap(),
        "x86_64"
    );
    assert!(
        !profile["targets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "x86_64_v3")
    );
    assert_eq!(profile["gpus"]["known"][0]["cuda"], "12.2");
    // Parts the file leaves out are still detected.
    assert!(profile["kernel"]["known"].is_string(), "{profile}");
}
