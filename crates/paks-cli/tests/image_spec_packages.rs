//! An image spec (`-f image.toml`) that names no packages, completed by packages on the
//! command line (issue 15's `paks image build --from scratch python3 git -f image.toml`):
//! the spec is checked once complete, not before the command line's packages are added.

mod common;

use common::{Env, ScriptRepo};

#[test]
fn a_spec_without_packages_takes_the_command_lines() {
    let repo = ScriptRepo::new();
    let user = Env::new();
    repo.add_to(&user, "acme");
    let spec = user.dir.path().join("image.toml");
    std::fs::write(&spec, "workdir = \"/srv\"\n[labels]\nteam = \"hpc\"\n").unwrap();
    let layout = user.dir.path().join("layout");
    let out = format!("oci:{}:app", layout.display());
    let spec = spec.to_str().unwrap();
    user.ok(&[
        "image",
        "build",
        "hello-script",
        "-f",
        spec,
        "--output",
        &out,
    ]);
    assert!(layout.join("index.json").is_file());
    // Complete or not, the spec is still checked: no packages anywhere is refused.
    let err = user.fails(&["image", "build", "-f", spec, "--output", &out], 1);
    assert!(err.contains("no packages"), "{err}");
}
