//! `paks image build` with rootfs packages (imported `.deb`s rooted at `/`): real `libc6`,
//! `libgcc-s1` (a dependency cycle) and `hello` from the Debian archive, made into `.pak`s
//! here (the importer is another crate's), pushed to `paks serve`, composed from scratch
//! and run by podman; mixed with a store package; merged under a small layer budget.

mod common;

#[path = "../../paks-import/tests/real_deb/mod.rs"]
mod real_deb;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{Env, paks_bin, text};
use paks_testkit::{PaksServe, Podman, umoci};
use paks_types::{Digest, ForeignFormat, Origin, PackageDep, PackageId, PackageKind};
use serde_json::Value;

/// A rootfs package made from a real `.deb`: its `.pak`, id and manifest digest.
struct Rootfs {
    pak: PathBuf,
    id: PackageId,
    digest: Digest,
}

/// Deb fields the metadata needs, and the `.pak` written from `deb` into `out`.
#[derive(Default)]
struct Extra<'a> {
    /// Dependencies: (id, manifest digest, `None` inside a cycle).
    deps: Vec<(PackageId, Option<Digest>)>,
    relations: BTreeMap<String, String>,
    alternatives: Vec<paks_types::Alternative>,
    /// Replaces the id's hash seed (two builds of one `.deb`).
    seed: &'a str,
}

/// The id `make_rootfs` gives the `.deb` at `deb` (so a cycle can name it first).
fn rootfs_id(deb: &Path, seed: &str) -> PackageId {
    let mut r = paks_import::deb::DebReader::open(
        std::fs::File::open(deb).unwrap(),
        &paks_import::deb::Limits::default(),
    )
    .unwrap();
    let control = r.control().control.clone();
    let _ = std::io::copy(&mut r.data().unwrap(), &mut std::io::sink());
    let (file_digest, _) = r.finish().unwrap();
    PackageId::new(
        paks_types::id_hash(format!("{file_digest}{seed}").as_bytes()),
        control.package.parse().unwrap(),
        control.version.semver_compatible(),
    )
    .unwrap()
}

fn make_rootfs(deb: &Path, out: &Path, extra: &Extra<'_>) -> Rootfs {
    let mut reader = paks_import::deb::DebReader::open(
        std::fs::File::open(deb).unwrap(),
        &paks_import::deb::Limits::default(),
    )
    .unwrap();
    let control = reader.control().control.clone();
    let blob = out.join(format!("{}.layer", control.package));
    let layer = paks_archive::rootfs::write_layer_from_tar(
        reader.data().unwrap(),
        paks_archive::Compression::default(),
        std::fs::File::create(&blob).unwrap(),
        &paks_archive::rootfs::RootfsLimits::default(),
    )
    .unwrap();
    let (file_digest, _) = reader.finish().unwrap();
    let (contents, libraries) = layer_facts(&blob);
    let id = rootfs_id(deb, extra.seed);
    let meta = paks_types::PackageMeta {
        schema: paks_types::META_SCHEMA,
        name: control.package.parse().unwrap(),
        version: control.version.semver_compatible(),
        id: id.clone(),
        platform: "linux/amd64".parse().unwrap(),
        summary: None,
        license: None,
        homepage: None,
        dependencies: extra
            .deps
            .iter()
            .map(|(id, digest)| PackageDep {
                name: id.name().clone(),
                req: "*".parse().unwrap(),
                id: id.clone(),
                digest: digest.clone(),
            })
            .collect(),
        env: vec![],
        relocation: paks_types::Relocation::default(),
        files: layer.entries,
        size: layer.unpacked_size,
        contents,
        needs: paks_types::PackageNeeds::default(),
        kind: PackageKind::Rootfs,
        origin: Some(Origin {
            format: ForeignFormat::Deb,
            version: control.version.to_string(),
            architecture: control.architecture.clone(),
            source: None,
            source_version: None,
            maintainer: None,
            file_digest,
            relations: extra.relations.clone(),
            scripts_not_run: vec![],
            conffiles: vec![],
            alternatives: extra.alternatives.clone(),
            libraries,
            dropped_setid: layer.dropped_setid.clone(),
        }),
        test: None,
    };
    meta.validate().unwrap();
    let config = serde_json::to_vec(&paks_types::ImageConfig {
        architecture: "amd64".into(),
        os: "linux".into(),
        variant: None,
        config: BTreeMap::new(),
        rootfs: paks_types::ConfigRootfs {
            kind: "layers".into(),
            diff_ids: vec![layer.diff_id.clone()],
        },
        paks: meta,
    })
    .unwrap();
    let pak = out.join(format!("{}-{}-{}.pak", id.name(), id.version(), id.hash()));
    let info = paks_archive::write_pak(
        &pak,
        &config,
        &blob,
        &paks_archive::LayerInfo {
            digest: layer.digest,
            size: layer.size,
            diff_id: layer.diff_id,
            entries: layer.entries,
            unpacked_size: layer.unpacked_size,
            contents: None,
        },
        paks_archive::Compression::default(),
        BTreeMap::new(),
        "",
    )
    .unwrap();
    std::fs::remove_file(&blob).unwrap();
    Rootfs {
        pak,
        id,
        digest: info.manifest_digest,
    }
}

/// The non-directory paths of a layer, as `contents` lists them, and its shared
/// libraries' loader-cache entries (what the importer records).
fn layer_facts(blob: &Path) -> (Vec<String>, Vec<paks_types::Library>) {
    let mut archive =
        tar::Archive::new(paks_archive::decompress(std::fs::File::open(blob).unwrap()).unwrap());
    let mut contents = Vec::new();
    let mut libraries = Vec::new();
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        if e.header().entry_type().is_dir() {
            continue;
        }
        let path = e.path().unwrap().to_string_lossy().into_owned();
        if e.header().entry_type().is_file() && path.contains(".so") {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut bytes).unwrap();
            libraries.extend(paks_relocate::ldcache::library(&path, &bytes));
        }
        contents.push(path);
    }
    contents.sort();
    (contents, libraries)
}

/// The layers of image `tag` in OCI layout `dir`, each as (path, mode, link target) of
/// its entries.
fn layout_layers(dir: &Path, tag: &str) -> Vec<Vec<(String, u32, String)>> {
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap();
    let blob = |d: &Value| dir.join("blobs/sha256").join(&d.as_str().unwrap()[7..]);
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(blob(&entry["digest"])).unwrap()).unwrap();
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let mut a = tar::Archive::new(
                paks_archive::decompress(std::fs::File::open(blob(&l["digest"])).unwrap()).unwrap(),
            );
            a.entries()
                .unwrap()
                .map(|e| {
                    let e = e.unwrap();
                    let link = e
                        .link_name()
                        .unwrap()
                        .map(|l| l.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    (
                        e.path().unwrap().to_string_lossy().into_owned(),
                        e.header().mode().unwrap(),
                        link,
                    )
                })
                .collect()
        })
        .collect()
}

/// What the host's real `ldconfig -p` lists from the cache file `cache`.
fn ldconfig_p(cache: &Path) -> String {
    let out = std::process::Command::new("/sbin/ldconfig")
        .arg("-C")
        .arg(cache)
        .arg("-p")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

/// The process printed what Debian's `hello` prints.
fn says_hello(out: &std::process::Output) {
    assert_eq!(
        text(&out.stdout),
        "Hello, world!\n",
        "{}",
        text(&out.stderr)
    );
}

/// `paks serve` with libc6, libgcc-s1 (each needing the other) and hello pushed to
/// `debian/`.
struct Fixture {
    env: Env,
    server: PaksServe,
    libc6: Rootfs,
    libgcc: Rootfs,
    hello: Rootfs,
}

impl Fixture {
    fn new() -> Self {
        let env = Env::new();
        let server = PaksServe::start(Path::new(paks_bin()), &env.dir.path().join("data"), &[]);
        let debs = env.dir.path().join("debs");
        std::fs::create_dir_all(&debs).unwrap();
        let (libc6_deb, libgcc_deb) =
            (real_deb::real_deb("libc6"), real_deb::real_deb("libgcc-s1"));
        let libc6_id = rootfs_id(&libc6_deb, "");
        let libgcc_id = rootfs_id(&libgcc_deb, "");
        // Inside the cycle neither can name the other's digest.
        let libc6 = make_rootfs(
            &libc6_deb,
            &debs,
            &Extra {
                deps: vec![(libgcc_id.clone(), None)],
                ..Extra::default()
            },
        );
        let libgcc = make_rootfs(
            &libgcc_deb,
            &debs,
            &Extra {
                deps: vec![(libc6_id, None)],
                ..Extra::default()
            },
        );
        let hello = make_rootfs(
            &real_deb::real_deb("hello"),
            &debs,
            &Extra {
                deps: vec![(libc6.id.clone(), Some(libc6.digest.clone()))],
                ..Extra::default()
            },
        );
        let host = server.host();
        env.ok(&[
            "push",
            hello.pak.to_str().unwrap(),
            libc6.pak.to_str().unwrap(),
            libgcc.pak.to_str().unwrap(),
            &format!("{host}/debian"),
        ]);
        Self {
            env,
            server,
            libc6,
            libgcc,
            hello,
        }
    }

    fn r(&self, path: &str) -> String {
        format!("{}/{path}", self.server.host())
    }

    /// The reference of a pushed rootfs package, by digest.
    fn by_digest(&self, p: &Rootfs) -> String {
        self.r(&format!("debian/{}@{}", p.id.name(), p.digest))
    }

    fn build_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["image", "build", "--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.env.ok(&all)).unwrap()
    }
}

#[test]
fn rootfs_packages_from_scratch_make_a_runnable_image_whatever_the_order_asked() {
    let f = Fixture::new();
    let hello = f.by_digest(&f.hello);
    let built = f.build_json(&["--from", "scratch", &hello, "--tag", &f.r("acme/hello:1")]);
    // Dependencies first; the libc6 <-> libgcc-s1 cycle broken by name; no view layer,
    // a system layer.
    let packages: Vec<&str> = built["images"][0]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    let expected = [
        f.libc6.id.to_string(),
        f.libgcc.id.to_string(),
        f.hello.id.to_string(),
    ];
    assert_eq!(packages, expected);
    assert_eq!(built["images"][0]["layers"], 4);
    // Asked for in another order (the cycle entered at libgcc-s1): the same image.
    let again = f.build_json(&[
        "--from",
        "scratch",
        &f.by_digest(&f.libgcc),
        &hello,
        "--tag",
        &f.r("acme/hello:2"),
    ]);
    assert_eq!(again["digest"], built["digest"]);
    // Each package's layer is its own blob, mounted, not rewritten; only the system
    // layer is new.
    assert_eq!(built["uploaded"], 1, "{built}");
    assert_eq!(built["mounted"], 3, "{built}");

    let podman = Podman::new();
    podman.pull(&f.r("acme/hello:1"), false);
    let out = podman.run(&f.r("acme/hello:1"), &["/usr/bin/hello"]);
    says_hello(&out);
    // Through the default PATH too.
    let out = podman.run(&f.r("acme/hello:1"), &["hello", "-g", "from PATH"]);
    assert_eq!(text(&out.stdout), "from PATH\n", "{}", text(&out.stderr));

    // An OCI layout and a docker-archive of the same image carry the same layers.
    let layout = f.env.dir.path().join("layout");
    f.env.ok(&[
        "image",
        "build",
        "--from",
        "scratch",
        &hello,
        "--output",
        &format!("oci:{}:1", layout.display()),
    ]);
    let layers = layout_layers(&layout, "1");
    assert_eq!(layers.len(), 4);
    // libc6's layer keeps its absolute loader link.
    assert!(
        layers[0]
            .iter()
            .any(|(p, _, l)| p == "lib64/ld-linux-x86-64.so.2"
                && l.starts_with("/lib/x86_64-linux-gnu/")),
        "{:?}",
        &layers[0][..10]
    );
    let bundle = f.env.dir.path().join("bundle");
    umoci(&[
        "unpack",
        "--image",
        &format!("{}:1", layout.display()),
        bundle.to_str().unwrap(),
    ]);
    assert!(bundle.join("rootfs/usr/bin/hello").is_file());
    // The loader's cache from libc6's and libgcc-s1's libraries, which the real ldconfig
    // reads.
    let listed = ldconfig_p(&bundle.join("rootfs/etc/ld.so.cache"));
    assert!(
        listed.contains("libc.so.6 (libc6,x86-64) => /lib/x86_64-linux-gnu/libc.so.6"),
        "{listed}"
    );
    assert!(
        listed.contains("libgcc_s.so.1 (libc6,x86-64) => "),
        "{listed}"
    );
    let archive = f.env.dir.path().join("hello.tar");
    f.env.ok(&[
        "image",
        "build",
        "--from",
        "scratch",
        &hello,
        "--tag",
        "localhost/rootfs-hello:1",
        "--output",
        &format!("docker-archive:{}", archive.display()),
    ]);
    podman.load(&archive);
    let out = podman.run("localhost/rootfs-hello:1", &["/usr/bin/hello"]);
    says_hello(&out);
}

#[test]
fn store_packages_go_on_top_of_rootfs_packages_and_a_small_budget_merges_rootfs_layers() {
    let f = Fixture::new();
    // A store package (built by paks) on rootfs libc6.
    f.env.build("libgreet");
    let hello_store = f.env.build("hello");
    f.env
        .ok(&["push", hello_store.to_str().unwrap(), &f.r("acme/hello")]);
    let store_ref = f.r("acme/hello:1.0.0");
    let built = f.build_json(&[
        "--from",
        "scratch",
        &f.by_digest(&f.hello),
        &store_ref,
        "--tag",
        &f.r("acme/mixed:1"),
    ]);
    let packages = built["images"][0]["packages"].as_array().unwrap();
    assert_eq!(packages.len(), 5, "{built}");
    assert_eq!(packages[0], f.libc6.id.to_string());
    // Three rootfs layers, two store layers, the view, the system layer.
    assert_eq!(built["images"][0]["layers"], 7, "{built}");
    let podman = Podman::new();
    podman.pull(&f.r("acme/mixed:1"), false);
    let out = podman.run(&f.r("acme/mixed:1"), &["/usr/bin/hello"]);
    says_hello(&out);
    // The store package's program through the view, its library from libc6's layer.
    let out = podman.run(&f.r("acme/mixed:1"), &["/opt/paks/view/bin/hello", "mixed"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "Hello, mixed!\n");

    // A budget of 4: two layers for packages, the view, the system layer; the rootfs
    // packages but libc6 share the combined layer with the store packages, absolute links
    // as they were.
    let layout = f.env.dir.path().join("small");
    let out = f.env.run(&[
        "image",
        "build",
        "--from",
        "scratch",
        &f.by_digest(&f.hello),
        &store_ref,
        "--layer-budget",
        "4",
        "--output",
        &format!("oci:{}:1", layout.display()),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let layers = layout_layers(&layout, "1");
    assert_eq!(layers.len(), 4);
    let all: Vec<&(String, u32, String)> = layers.iter().flatten().collect();
    let count = |path: &str| all.iter().filter(|(p, _, _)| p == path).count();
    assert_eq!(count("lib64/ld-linux-x86-64.so.2"), 1);
    assert_eq!(count("usr/bin/hello"), 1);
    let merged_usr = layers[1].iter().filter(|(p, _, _)| p == "usr/").count();
    assert_eq!(merged_usr, 1, "directories shared by packages once");
    let bundle = f.env.dir.path().join("small-bundle");
    umoci(&[
        "unpack",
        "--image",
        &format!("{}:1", layout.display()),
        bundle.to_str().unwrap(),
    ]);
    let out = std::process::Command::new("chroot")
        .arg(bundle.join("rootfs"))
        .arg("/usr/bin/hello")
        .output()
        .unwrap();
    says_hello(&out);
}

#[test]
fn the_system_layer_writes_the_configured_accounts_and_alternatives_reproducibly() {
    let f = Fixture::new();
    let debs = f.env.dir.path().join("debs2");
    std::fs::create_dir_all(&debs).unwrap();
    // busybox-static (no dependencies) for `id`; a `greeter` alternative offered by it
    // and, with a higher priority, by a second build of hello.
    let alternative = |path: &str, priority| paks_types::Alternative {
        name: "greeter".into(),
        link: "usr/bin/greeter".into(),
        path: path.into(),
        priority,
    };
    let busybox = make_rootfs(
        &real_deb::real_deb("busybox-static"),
        &debs,
        &Extra {
            alternatives: vec![
                alternative("bin/busybox", 10),
                alternative("usr/bin/absent", 99),
            ],
            ..Extra::default()
        },
    );
    let hello = make_rootfs(
        &real_deb::real_deb("hello"),
        &debs,
        &Extra {
            deps: vec![(f.libc6.id.clone(), Some(f.libc6.digest.clone()))],
            alternatives: vec![alternative("usr/bin/hello", 20)],
            seed: "alternatives",
            ..Extra::default()
        },
    );
    f.env.ok(&[
        "push",
        busybox.pak.to_str().unwrap(),
        hello.pak.to_str().unwrap(),
        &f.r("debian"),
    ]);
    let spec = f.env.dir.path().join("image.toml");
    std::fs::write(
        &spec,
        format!(
            r#"
from = "scratch"
packages = ["{}", "{}"]
[accounts]
run-as = "app"
[[accounts.users]]
username = "app"
uid = 1234
[[accounts.groups]]
groupname = "staff"
gid = 50
members = ["app"]
"#,
            f.by_digest(&busybox),
            f.by_digest(&hello)
        ),
    )
    .unwrap();
    let spec = spec.to_str().unwrap();
    let one = f.build_json(&["-f", spec, "--tag", &f.r("acme/accounts:1")]);
    let two = f.build_json(&["-f", spec, "--tag", &f.r("acme/accounts:2")]);
    assert_eq!(one["digest"], two["digest"], "same inputs, same image");

    let podman = Podman::new();
    podman.pull(&f.r("acme/accounts:1"), false);
    let out = podman.run(&f.r("acme/accounts:1"), &["/bin/busybox", "id"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "uid=1234(app) gid=1234(app) groups=50(staff),1234(app)\n"
    );
    // The highest priority whose file is in the image: hello's, not the absent one.
    let out = podman.run(&f.r("acme/accounts:1"), &["/usr/bin/greeter"]);
    says_hello(&out);
    let out = podman.run(
        &f.r("acme/accounts:1"),
        &["/bin/busybox", "cat", "/etc/passwd"],
    );
    assert_eq!(
        text(&out.stdout),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1234:1234::/home/app:/bin/sh\n"
    );
}

#[test]
fn two_rootfs_packages_with_one_path_conflict_unless_the_later_replaces_the_earlier() {
    let f = Fixture::new();
    let debs = f.env.dir.path().join("debs3");
    std::fs::create_dir_all(&debs).unwrap();
    let deb = real_deb::real_deb("hello");
    let dep = vec![(f.libc6.id.clone(), Some(f.libc6.digest.clone()))];
    let rival = make_rootfs(
        &deb,
        &debs,
        &Extra {
            deps: dep.clone(),
            seed: "rival",
            ..Extra::default()
        },
    );
    let replacer = make_rootfs(
        &deb,
        &debs,
        &Extra {
            deps: dep,
            relations: BTreeMap::from([("replaces".to_owned(), "hello (<< 3)".to_owned())]),
            seed: "replacer",
            ..Extra::default()
        },
    );
    f.env.ok(&[
        "push",
        rival.pak.to_str().unwrap(),
        replacer.pak.to_str().unwrap(),
        &f.r("debian"),
    ]);
    let err = f.env.fails(
        &[
            "image",
            "build",
            "--from",
            "scratch",
            &f.by_digest(&f.hello),
            &f.by_digest(&rival),
            "--tag",
            &f.r("acme/conflict:1"),
        ],
        1,
    );
    let (first, second) = if f.hello.id.to_string() < rival.id.to_string() {
        (&f.hello.id, &rival.id)
    } else {
        (&rival.id, &f.hello.id)
    };
    assert!(
        err.contains(&format!(
            "error: `{first}` and `{second}` both provide `/usr/bin/hello`"
        )),
        "{err}"
    );
    assert!(
        err.contains("hint: leave out one of `hello` and `hello`"),
        "{err}"
    );

    // `Replaces: hello (<< 3)`: its files win, whatever order the packages were named in,
    // and the build says so.
    let out = f.env.run(&[
        "image",
        "build",
        "--json",
        "--from",
        "scratch",
        &f.by_digest(&replacer),
        &f.by_digest(&f.hello),
        "--tag",
        &f.r("acme/replaced:1"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let built: Value = serde_json::from_slice(&out.stdout).unwrap();
    let packages = &built["images"][0]["packages"];
    assert_eq!(packages[2], f.hello.id.to_string(), "{built}");
    assert_eq!(packages[3], replacer.id.to_string(), "{built}");
    let paths = built["images"][0]["replaced"].as_array().unwrap();
    assert!(paths.iter().any(|r| r["path"] == "usr/bin/hello"
        && r["winner"] == replacer.id.to_string()
        && r["loser"] == f.hello.id.to_string()));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("`{}` replaces", replacer.id)),
        "{stderr}"
    );
}

#[test]
fn conflicting_accounts_are_refused_before_anything_is_fetched() {
    let env = Env::new();
    std::fs::write(
        env.dir.path().join("bad.toml"),
        "packages = [\"x\"]\n[[accounts.users]]\nusername = \"a\"\nuid = 5\n[[accounts.users]]\nusername = \"b\"\nuid = 5\n",
    )
    .unwrap();
    let bad = env.dir.path().join("bad.toml");
    let err = env.fails(
        &[
            "image",
            "build",
            "-f",
            bad.to_str().unwrap(),
            "--tag",
            "127.0.0.1:1/x/y:1",
        ],
        1,
    );
    assert!(err.contains("the uid 5 of `b` is given twice"), "{err}");
}

#[test]
fn packages_from_paks_import_with_their_cycle_make_a_runnable_image_with_a_loader_cache() {
    let env = Env::new();
    let server = PaksServe::start(Path::new(paks_bin()), &env.dir.path().join("data"), &[]);
    let host = server.host();
    let debs: Vec<PathBuf> = ["libc6", "libgcc-s1", "hello"]
        .into_iter()
        .map(real_deb::real_deb)
        .collect();
    let out = env.dir.path().join("imported");
    let mut args = vec!["import", "deb", "--json", "--out", out.to_str().unwrap()];
    args.extend(debs.iter().map(|d| d.to_str().unwrap()));
    let namespace = format!("{host}/debian");
    args.extend(["--push", &namespace]);
    let lines = env.ok(&args);
    let hello: Value = lines
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["type"] == "package" && v["name"] == "hello")
        .unwrap();
    let reference = format!("{host}/debian/hello@{}", hello["digest"].as_str().unwrap());
    let layout = env.dir.path().join("layout");
    env.ok(&[
        "image",
        "build",
        "--from",
        "scratch",
        &reference,
        "--output",
        &format!("oci:{}:1", layout.display()),
    ]);
    let archive = env.dir.path().join("imported.tar");
    env.ok(&[
        "image",
        "build",
        "--from",
        "scratch",
        &reference,
        "--tag",
        "localhost/imported:1",
        "--output",
        &format!("docker-archive:{}", archive.display()),
    ]);
    let podman = Podman::new();
    podman.load(&archive);
    let id = "localhost/imported:1";
    says_hello(&podman.run(id, &["/usr/bin/hello"]));

    // The system layer (last) has the loader's cache; the real ldconfig reads it and
    // finds libc where Debian's own cache has it.
    let layers = layout_layers(&layout, "1");
    let system = layers.last().unwrap();
    assert!(
        system.iter().any(|(p, _, _)| p == "etc/ld.so.cache"),
        "{system:?}"
    );
    let bundle = env.dir.path().join("bundle");
    umoci(&[
        "unpack",
        "--image",
        &format!("{}:1", layout.display()),
        bundle.to_str().unwrap(),
    ]);
    // `paks inspect` reads the image: its label lists the rootfs packages, in layer order.
    let report: Value = serde_json::from_str(
        env.ok(&["inspect", "--json", &format!("oci:{}:1", layout.display())])
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let text_report = report.to_string();
    assert!(text_report.contains("-libc6-"), "{text_report}");
    assert!(text_report.contains("-hello-"), "{text_report}");
    // The loader's cache from the libraries the importer recorded, read by the real
    // ldconfig.
    let listed = ldconfig_p(&bundle.join("rootfs/etc/ld.so.cache"));
    assert!(
        listed.contains("libc.so.6 (libc6,x86-64) => /lib/x86_64-linux-gnu/libc.so.6"),
        "{listed}"
    );
    assert!(
        listed.contains("libgcc_s.so.1 (libc6,x86-64) => "),
        "{listed}"
    );
}

#[test]
fn containerize_refuses_rootfs_packages_it_cannot_install() {
    let f = Fixture::new();
    let spec = f.env.dir.path().join("image.toml");
    std::fs::write(
        &spec,
        format!("packages = [\"{}\"]\n", f.by_digest(&f.hello)),
    )
    .unwrap();
    let err = f.env.fails(&["containerize", spec.to_str().unwrap()], 1);
    assert!(
        err.contains("error: cannot write the rootfs package `")
            && err.contains("compose the image with `paks image build`"),
        "{err}"
    );
}
