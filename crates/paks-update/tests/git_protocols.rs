//! A recipe's `[update]` URL reaches `git ls-remote`: a transport that runs commands
//! (`ext::`) is refused even where the user's git configuration allows it.
//! (Its own test binary: it sets the process's git configuration.)

use std::path::Path;

use paks_recipe::Recipe;
use paks_update::{CheckError, FetchOptions, Fetcher};

#[test]
fn ext_transport_never_runs_a_command() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let script = dir.path().join("evil");
    std::fs::write(&script, format!("#!/bin/sh\ntouch {}\n", marker.display())).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    // A user who allows every transport for their own reasons.
    let config = dir.path().join("gitconfig");
    std::fs::write(&config, "[protocol]\n\tallow = always\n").unwrap();
    #[allow(
        unsafe_code,
        reason = "this test binary runs one test; nothing reads the environment concurrently"
    )]
    // SAFETY: the only test of this binary; no other thread reads the environment yet.
    unsafe {
        std::env::set_var("GIT_CONFIG_GLOBAL", &config);
    }
    let text = format!(
        "[package]\nname = \"tool\"\nversion = \"1.0.0\"\n[build]\nscript = \"true\"\n\
         [update]\nstrategy = \"git-tags\"\nurl = \"ext::{}\"\n",
        script.display()
    );
    let recipe = Recipe::from_str(&text, Path::new("paks.toml")).unwrap();
    let fetcher = Fetcher::new(FetchOptions::default());
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(paks_update::check(&recipe, &fetcher));
    assert!(!marker.exists(), "git ran the ext:: command");
    let err = result.unwrap_err();
    assert!(matches!(err, CheckError::Git { .. }), "{err:?}");
    assert!(err.to_string().contains("not allowed"), "{err}");
}
