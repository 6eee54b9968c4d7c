//! `paks sysroot create`: the image `paks image build --from scratch` composes, extracted
//! into a directory (or a tar, or an OCI layout), from packages on a real `paks serve`.

mod common;
#[path = "../../paks-import/tests/real_deb/mod.rs"]
mod real_deb;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use common::{Env, paks_bin, text, tree};
use paks_testkit::{PaksServe, run_ok, umoci};
use serde_json::Value;

/// paks serve with the example `hello` (and its dependency `libgreet`) under `acme/`.
struct Fixture {
    env: Env,
    server: PaksServe,
}

impl Fixture {
    fn new() -> Self {
        let env = Env::new();
        let server = PaksServe::start(Path::new(paks_bin()), &env.dir.path().join("data"), &[]);
        env.build("libgreet");
        let hello = env.build("hello");
        env.ok(&[
            "push",
            hello.to_str().unwrap(),
            &format!("{}/acme/hello", server.host()),
        ]);
        Self { env, server }
    }

    fn hello(&self) -> String {
        format!("{}/acme/hello:1.0.0", self.server.host())
    }

    fn path(&self, name: &str) -> String {
        self.env.dir.path().join(name).display().to_string()
    }

    fn create_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["sysroot", "create", "--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.env.ok(&all)).unwrap()
    }
}

#[test]
fn a_sysroot_holds_the_store_packages_and_the_view_of_the_image() {
    let f = Fixture::new();
    let dir = f.path("sysroot");
    let made = f.create_json(&[&dir, &f.hello()]);
    assert_eq!(made["type"], "sysroot", "{made}");
    assert_eq!(made["path"], dir.as_str());
    let packages = made["packages"].as_array().unwrap();
    assert_eq!(packages.len(), 2, "{made}");
    assert!(packages[0].as_str().unwrap().ends_with("-libgreet-1.0.0"));
    // libgreet, hello, the view.
    assert_eq!(made["layers"], 3, "{made}");
    assert!(made["files"].as_u64().unwrap() > 5, "{made}");
    assert!(made["bytes"].as_u64().unwrap() > 0, "{made}");

    let dir = Path::new(&dir);
    let hello_id = packages[1].as_str().unwrap();
    let bin = dir.join("opt/paks/store").join(hello_id).join("bin/hello");
    assert!(bin.is_file(), "{}", bin.display());
    assert_eq!(bin.metadata().unwrap().mode() & 0o777, 0o755);
    // The view links into the store by absolute paths, which resolve inside the sysroot
    // (not on this host: they are checked as text).
    let view = tree(&dir.join("opt/paks/view"));
    assert!(
        view.iter()
            .any(|l| l.contains(&format!(" -> /opt/paks/store/{hello_id}/"))),
        "{view:?}"
    );
    // Nothing temporary is left beside it.
    let beside: Vec<String> = std::fs::read_dir(dir.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("sysroot"))
        .collect();
    assert_eq!(beside, ["sysroot"]);

    // The same tree as the image's layers, unpacked by umoci from `--oci`.
    let layout = f.path("layout");
    f.create_json(&["--oci", &layout, &f.hello()]);
    let bundle = f.path("bundle");
    umoci(&["unpack", "--image", &format!("{layout}:latest"), &bundle]);
    assert_eq!(tree(dir), tree(&Path::new(&bundle).join("rootfs")));
}

#[test]
fn a_sysroot_tar_is_the_same_tree_and_the_same_bytes_every_time() {
    let f = Fixture::new();
    let dir = f.path("sysroot");
    f.create_json(&[&dir, &f.hello()]);
    let (one, two) = (f.path("one.tar"), f.path("two.tar"));
    let made = f.create_json(&["--tar", &one, &f.hello()]);
    assert_eq!(made["path"], one.as_str());
    f.create_json(&["--tar", &two, &f.hello()]);
    let bytes = std::fs::read(&one).unwrap();
    assert_eq!(bytes, std::fs::read(&two).unwrap(), "same inputs, same tar");

    let unpacked = f.env.dir.path().join("unpacked");
    std::fs::create_dir(&unpacked).unwrap();
    run_ok(
        Command::new("tar")
            .args(["-xpf", &one, "-C"])
            .arg(&unpacked),
    );
    assert_eq!(tree(&unpacked), tree(Path::new(&dir)));
    // Owners 0:0 and no times, whoever made it.
    let listing = run_ok(Command::new("tar").args(["--numeric-owner", "-tvf", &one]));
    for line in text(&listing.stdout).lines() {
        assert!(line.contains(" 0/0 "), "{line}");
        assert!(line.contains(" 1970-01-01 "), "{line}");
    }
    // Nothing temporary is left beside it.
    let names: Vec<String> = std::fs::read_dir(f.env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(names.is_empty(), "{names:?}");
}

#[test]
fn a_sysroot_goes_only_into_an_empty_or_new_directory() {
    let f = Fixture::new();
    let full = f.env.dir.path().join("full");
    std::fs::create_dir(&full).unwrap();
    std::fs::write(full.join("keep"), "mine").unwrap();
    let err = f.env.fails(
        &["sysroot", "create", full.to_str().unwrap(), &f.hello()],
        1,
    );
    assert!(err.contains("is not empty"), "{err}");
    assert!(err.contains("hint:"), "{err}");
    assert_eq!(std::fs::read_to_string(full.join("keep")).unwrap(), "mine");

    let err = f.env.fails(&["sysroot", "create"], 1);
    assert!(err.contains("the sysroot has no destination"), "{err}");

    let empty = f.env.dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    f.env
        .ok(&["sysroot", "create", empty.to_str().unwrap(), &f.hello()]);
    assert!(empty.join("opt/paks/view").is_dir());
}

/// Real `hello` and `libc6` `.deb`s imported with `paks import deb` and pushed to a real
/// `paks serve`: the sysroot runs `hello` under `chroot`, and its tar is the same tree,
/// byte-identical every time.
#[test]
fn a_sysroot_of_imported_debs_runs_hello_in_a_chroot() {
    let env = Env::new();
    let server = PaksServe::start(Path::new(paks_bin()), &env.dir.path().join("data"), &[]);
    let debs = env.dir.path().join("debs");
    std::fs::create_dir(&debs).unwrap();
    for name in ["hello", "libc6"] {
        let deb = real_deb::real_deb(name);
        std::fs::copy(&deb, debs.join(deb.file_name().unwrap())).unwrap();
    }
    let ns = format!("{}/debian", server.host());
    let out = env.dir.path().join("paks");
    let imported = env.ok(&[
        "import",
        "deb",
        debs.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--push",
        &ns,
        "--json",
    ]);
    let hello = imported
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|l| l["type"] == "package" && l["name"] == "hello")
        .unwrap();
    let reference = format!("{ns}/hello@{}", hello["digest"].as_str().unwrap());

    // The spec's accounts reach the sysroot as they reach the image (its system layer).
    let spec = env.dir.path().join("image.toml");
    std::fs::write(
        &spec,
        format!(
            "packages = [\"{reference}\"]\n[accounts]\n[[accounts.users]]\nusername = \"app\"\nuid = 1234\n"
        ),
    )
    .unwrap();
    let dir = env.dir.path().join("sysroot");
    let made: Value = serde_json::from_str(&env.ok(&[
        "sysroot",
        "create",
        "--json",
        "-f",
        spec.to_str().unwrap(),
        dir.to_str().unwrap(),
    ]))
    .unwrap();
    assert_eq!(made["packages"].as_array().unwrap().len(), 2, "{made}");
    let passwd = std::fs::read_to_string(dir.join("etc/passwd")).unwrap();
    assert!(passwd.starts_with("root:x:0:0:"), "{passwd}");
    assert!(passwd.contains("app:x:1234:"), "{passwd}");
    let ran = run_ok(Command::new("chroot").arg(&dir).arg("/usr/bin/hello"));
    assert_eq!(text(&ran.stdout), "Hello, world!\n");
    // Debian's absolute loader link, kept as written.
    let loader = std::fs::read_link(dir.join("lib64/ld-linux-x86-64.so.2")).unwrap();
    assert!(
        loader.starts_with("/lib/x86_64-linux-gnu"),
        "{}",
        loader.display()
    );

    let (one, two) = (
        env.dir.path().join("one.tar"),
        env.dir.path().join("two.tar"),
    );
    for tar in [&one, &two] {
        env.ok(&[
            "sysroot",
            "create",
            "-f",
            spec.to_str().unwrap(),
            "--tar",
            tar.to_str().unwrap(),
        ]);
    }
    assert_eq!(std::fs::read(&one).unwrap(), std::fs::read(&two).unwrap());
    let unpacked = env.dir.path().join("unpacked");
    std::fs::create_dir(&unpacked).unwrap();
    run_ok(
        Command::new("tar")
            .arg("-xpf")
            .arg(&one)
            .arg("-C")
            .arg(&unpacked),
    );
    assert_eq!(tree(&unpacked), tree(&dir));
    let ran = run_ok(Command::new("chroot").arg(&unpacked).arg("/usr/bin/hello"));
    assert_eq!(text(&ran.stdout), "Hello, world!\n");
}
