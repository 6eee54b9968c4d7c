//! Where blobs were seen (`<cache>/locations/<hex>`), now written without fsync: a layer
//! pulled by `paks install` from one repository is remembered there, and a later push of
//! the same package to another repository of that registry mounts it instead of
//! uploading it.

mod common;

use common::{Env, text};

#[test]
fn a_layer_installed_from_one_repository_is_mounted_when_pushed_to_another() {
    let builder = Env::new();
    let server = common::serve(&builder);
    let pak = builder.build("hello-script").display().to_string();
    let pushed = builder.ok(&["push", "--json", &pak, &format!("{}/acme", server.host())]);
    let line: serde_json::Value = serde_json::from_str(pushed.lines().next().unwrap()).unwrap();
    let reference = line["reference"].as_str().unwrap();

    // Another user, with their own cache, installs it: the layer's location is recorded.
    let user = Env::new();
    user.ok(&["install", reference]);
    let locations = user.root.join("cache/locations");
    let recorded: Vec<String> = std::fs::read_dir(&locations)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(
        recorded,
        [format!("{}/acme/hello-script\n", server.host())],
        "one layer, one line, no temp file left"
    );

    // Installing again adds nothing (the line is there).
    user.ok(&["install", reference]);
    assert_eq!(std::fs::read_dir(&locations).unwrap().count(), 1);

    // Their push to another namespace mounts the layer from `acme`.
    let out = user.run(&["push", &pak, &format!("{}/team", server.host())]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("1 mounted"),
        "the layer moves by mount: {}",
        text(&out.stderr)
    );
}
