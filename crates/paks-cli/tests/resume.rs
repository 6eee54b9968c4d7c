//! Killed downloads: a real `paks pull` killed half-way leaves its part file, the next pull
//! resumes from it with `Range`, and `paks gc` removes part files nobody will resume.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Env, serve_blobs, text};
use paks_testkit::DockerRegistry;

/// A recipe whose package holds 3 MB of random bytes, so its layer does not compress.
fn big_recipe(dir: &std::path::Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("paks.toml"),
        "[package]\nname = \"bulky\"\nversion = \"1.0.0\"\n[build]\nscript = '''\nmkdir -p \"$PREFIX/share\"\nhead -c 3000000 /dev/urandom > \"$PREFIX/share/noise\"\n'''\n",
    )
    .unwrap();
}

/// Part files in `<root>/cache/blobs/sha256`.
fn parts(env: &Env) -> Vec<(String, u64)> {
    let Ok(rd) = std::fs::read_dir(env.root.join("cache/blobs/sha256")) else {
        return Vec::new();
    };
    let mut v: Vec<(String, u64)> = rd
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().contains(".part"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn a_killed_pull_resumes_with_range_and_gc_removes_stale_parts() {
    // Build and push a real package, then serve it from a registry that can be slow.
    let registry = DockerRegistry::start();
    let builder = Env::new();
    let recipe = builder.dir.path().join("recipe");
    big_recipe(&recipe);
    let pak = builder.build_dir(&recipe);
    let pushed = builder.ok(&[
        "push",
        pak.trim(),
        &format!("{}/acme/bulky", registry.host()),
    ]);
    let manifest_digest = pushed
        .lines()
        .find_map(|l| l.split_once("@sha256:"))
        .map(|(_, hex)| hex.trim().to_owned())
        .unwrap();
    let blob = |hex: &str| std::fs::read(registry.blob_file(hex)).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&blob(&manifest_digest)).unwrap();
    let layer_hex = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_owned();
    let layer_len = blob(&layer_hex).len();
    assert!(layer_len > 2_000_000, "{layer_len}");

    let config_hex = manifest["config"]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_owned();
    let blobs: std::collections::HashMap<String, Vec<u8>> =
        [&manifest_digest, &config_hex, &layer_hex]
            .into_iter()
            .map(|hex| (hex.clone(), blob(hex)))
            .collect();
    let slow = Arc::new(AtomicBool::new(true));
    let server = serve_blobs(blobs, slow.clone());
    let reference = format!("{}/acme/bulky@sha256:{manifest_digest}", server.host());

    // The first pull is killed once the part file holds at least a megabyte.
    let user = Env::new();
    let mut child = user
        .cmd()
        .args(["pull", &reference])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !parts(&user).iter().any(|(_, len)| *len >= 1 << 20)
        && started.elapsed() < Duration::from_mins(1)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let left = parts(&user);
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].0, format!(".{layer_hex}.part"));
    let kept = left[0].1;
    assert!(kept >= 1 << 20 && kept < layer_len as u64, "{kept}");

    // The next pull continues from the part file's end.
    slow.store(false, Ordering::SeqCst);
    let before = server.requests().len();
    user.ok(&["pull", &reference]);
    let ranges: Vec<String> = server.requests()[before..]
        .iter()
        .filter(|r| r.path().ends_with(&layer_hex))
        .filter_map(|r| r.header("range").map(str::to_owned))
        .collect();
    assert_eq!(ranges, [format!("bytes={kept}-")]);
    assert!(parts(&user).is_empty(), "{:?}", parts(&user));
    assert_eq!(
        std::fs::read(user.root.join("cache/blobs/sha256").join(&layer_hex)).unwrap(),
        blob(&layer_hex)
    );

    // gc removes a part file nobody holds that is old; a young one may yet be resumed.
    let blobs = user.root.join("cache/blobs/sha256");
    std::fs::write(blobs.join(".deadbeef.part"), b"stale").unwrap();
    std::fs::write(blobs.join(".cafe.part"), b"recent").unwrap();
    let touched = std::process::Command::new("touch")
        .args(["-d", "3 hours ago"])
        .arg(blobs.join(".deadbeef.part"))
        .status()
        .unwrap();
    assert!(touched.success());
    let out = user.run(&["gc"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(parts(&user), [(".cafe.part".to_owned(), 6)]);
    assert!(
        text(&out.stderr).contains("1 leftover"),
        "{}",
        text(&out.stderr)
    );
}
