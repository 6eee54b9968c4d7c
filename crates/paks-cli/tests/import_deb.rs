//! `paks import deb`: real `.deb` files from the Debian archive (fetched once by the
//! `real_deb` helper shared with paks-import's tests) into `.pak` files, pushed to a real
//! `paks serve`, read back from it.

mod common;
#[path = "../../paks-import/tests/real_deb/mod.rs"]
mod real_deb;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};

use common::{Env, paks_bin};
use paks_testkit::PaksServe;
use real_deb::real_deb;

const DEBS: [&str; 5] = ["hello", "libc6", "libgcc-s1", "gcc-12-base", "mawk"];

/// A directory holding the `.deb`s of `names` (hard links into the cache, or copies).
fn deb_dir(env: &Env, names: &[&str]) -> PathBuf {
    let dir = env.dir.path().join("debs");
    std::fs::create_dir_all(&dir).unwrap();
    for name in names {
        let deb = real_deb(name);
        let to = dir.join(deb.file_name().unwrap());
        if std::fs::hard_link(&deb, &to).is_err() {
            std::fs::copy(&deb, &to).unwrap();
        }
    }
    // Not a .deb: skipped when a directory is given.
    std::fs::write(dir.join("README"), "not a package\n").unwrap();
    dir
}

/// `GET path` from the registry at `host`, as the OCI spec's pull does; (status, body).
fn get(host: &str, path: &str) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(host).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let mut body = answer[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = unchunk(&body);
    }
    (status, body)
}

fn unchunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..line_end]).unwrap().trim(), 16)
                .unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[line_end + 2..line_end + 2 + size]);
        data = &data[line_end + 4 + size..];
    }
}

/// The semver form of a Debian version, as package ids and `.pak` names carry it.
fn semver(debian: &str) -> String {
    paks_types::DebianVersion::parse(debian)
        .unwrap()
        .semver_compatible()
        .to_string()
}

fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn a_directory_of_debs_is_imported_pushed_and_served_as_rootfs_packages() {
    let env = Env::new();
    let debs = deb_dir(&env, &DEBS);
    let server = PaksServe::start(
        Path::new(paks_bin()),
        &env.dir.path().join("registry-data"),
        &[],
    );
    let ns = format!("{}/debian", server.host());
    let out = env.dir.path().join("paks");
    let stdout = env.ok(&[
        "import",
        "deb",
        debs.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--push",
        &ns,
        "--json",
    ]);
    let lines = json_lines(&stdout);
    assert!(lines.iter().all(|l| l["type"].is_string()), "{stdout}");
    let packages: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["type"] == "package").collect();
    let names: Vec<&str> = packages
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    // Sorted by file name within the directory.
    assert_eq!(
        names,
        ["gcc-12-base", "hello", "libc6", "libgcc-s1", "mawk"]
    );
    let summary = lines.iter().find(|l| l["type"] == "summary").unwrap();
    assert_eq!(summary["packages"], 5);
    assert_eq!(summary["unsatisfied"], 0);
    let hello = packages.iter().find(|p| p["name"] == "hello").unwrap();
    assert_eq!(hello["version"], "2.10-3");
    assert_eq!(hello["dependencies"], serde_json::json!(["libc6"]));
    let mawk = packages.iter().find(|p| p["name"] == "mawk").unwrap();
    assert_eq!(
        mawk["scripts_not_run"],
        serde_json::json!(["postinst", "prerm"])
    );
    let pushed: Vec<&serde_json::Value> = lines.iter().filter(|l| l["type"] == "push").collect();
    assert_eq!(pushed.len(), 5, "{stdout}");

    // The registry serves hello's manifest by the digest the import printed, and its
    // config says what it is: a rootfs package with its Debian version.
    let digest = hello["digest"].as_str().unwrap();
    let (status, manifest) = get(
        &server.host(),
        &format!("/v2/debian/hello/manifests/{digest}"),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&manifest));
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let config_digest = manifest["config"]["digest"].as_str().unwrap();
    let (status, config) = get(
        &server.host(),
        &format!("/v2/debian/hello/blobs/{config_digest}"),
    );
    assert_eq!(status, 200);
    let config: serde_json::Value = serde_json::from_slice(&config).unwrap();
    assert_eq!(config["paks"]["kind"], "rootfs");
    assert_eq!(config["paks"]["origin"]["version"], "2.10-3");
    assert_eq!(config["paks"]["origin"]["format"], "deb");
    let libc6 = packages.iter().find(|p| p["name"] == "libc6").unwrap();
    assert_eq!(
        config["paks"]["dependencies"][0]["digest"], libc6["digest"],
        "hello is pinned to the libc6 imported with it"
    );
    // So is libc6, in its own repository.
    let (status, _) = get(
        &server.host(),
        &format!(
            "/v2/debian/libc6/manifests/{}",
            libc6["digest"].as_str().unwrap()
        ),
    );
    assert_eq!(status, 200);

    // The .pak on disk shows the same with `paks info`, with Debian's version verbatim.
    let info = env.ok(&["info", hello["pak"].as_str().unwrap()]);
    assert!(info.starts_with("hello 2.10-3\n"), "{info}");
    assert!(info.contains("depends on:   libc6"), "{info}");

    index_search_and_copy(&env, &ns);
}

/// With the imported packages of `ns` pushed: a signed index, `paks search`, `paks copy`.
fn index_search_and_copy(env: &Env, ns: &str) {
    // A signed index of the namespace lists them as rootfs packages with their Debian
    // versions, and `paks search` shows those, not the semver forms that order them.
    let key = env.dir.path().join("key.pem");
    env.ok(&["key", "generate", "--out", key.to_str().unwrap()]);
    env.ok(&["index", "build", ns, "--sign", key.to_str().unwrap()]);
    let public = key.with_extension("pub");
    env.ok(&[
        "repo",
        "add",
        "debian",
        &format!("oci://{ns}"),
        "--key",
        public.to_str().unwrap(),
    ]);
    let found = json_lines(&env.ok(&["search", "libc", "--json"]));
    let libc6 = found.iter().find(|l| l["name"] == "libc6").unwrap();
    assert_eq!(libc6["kind"], "rootfs");
    let libc6_version = libc6["versions"][0].as_str().unwrap();
    assert!(libc6_version.starts_with("2.36-9"), "{libc6_version}");
    let plain = env.ok(&["search", "hello"]);
    assert!(plain.contains(" 2.10-3 "), "{plain}");
    assert!(plain.contains("[debian, rootfs]"), "{plain}");

    // `paks copy` brings hello's whole closure, the libc6 <-> libgcc-s1 cycle included,
    // where the dependency inside the cycle is pinned by id alone (its build tag).
    let layout = env.dir.path().join("layout");
    let tag = semver("2.10-3").replace('+', "_");
    env.ok(&[
        "copy",
        &format!("{ns}/hello:{tag}"),
        &format!("oci:{}", layout.display()),
    ]);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let mut copied: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
        })
        .map(|r| r.split(':').next().unwrap())
        .collect();
    copied.sort_unstable();
    copied.dedup();
    assert_eq!(copied, ["gcc-12-base", "hello", "libc6", "libgcc-s1"]);
}

#[test]
fn plain_output_lists_what_the_scripts_would_have_done_and_what_is_missing() {
    let env = Env::new();
    let out = env.dir.path().join("paks");
    let passwd = real_deb("passwd");
    let hello = real_deb("hello");
    let output = env
        .cmd()
        .args(["import", "deb", "--out"])
        .arg(&out)
        .arg(&hello)
        .arg(&passwd)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", common::text(&output.stderr));
    let stdout = common::text(&output.stdout);
    let mut lines = stdout.lines();
    let first = lines.next().unwrap();
    assert!(
        first.starts_with("hello 2.10-3 (linux/amd64) -> "),
        "{stdout}"
    );
    assert!(
        Path::new(first).extension().is_some_and(|e| e == "pak"),
        "{stdout}"
    );
    assert_eq!(lines.next(), Some("  not imported: libc6 (>= 2.34)"));
    let rest: Vec<&str> = lines.collect();
    assert!(
        rest[0].starts_with("passwd 1:4.13+dfsg1-1+deb12u2 (linux/amd64) -> "),
        "{stdout}"
    );
    assert_eq!(
        rest[1],
        "  scripts not run: preinst, postinst, prerm, postrm"
    );
    assert_eq!(
        rest[2],
        "  setid bit dropped: usr/bin/chage, usr/bin/expiry"
    );
    assert!(
        rest[3].starts_with("  not imported: libaudit1 (>= 1:2.2.1), "),
        "{stdout}"
    );
    let stderr = common::text(&output.stderr);
    assert!(stderr.contains("Imported 2 packages into `"), "{stderr}");
    // Both .pak files are there, named as `paks build` names them.
    let mut written: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| Path::new(n).extension().is_some_and(|e| e == "pak"))
        .collect();
    written.sort();
    assert_eq!(written.len(), 2, "{written:?}");
    let hello_pak = format!("hello-{}-", semver("2.10-3"));
    assert!(written[0].starts_with(&hello_pak), "{written:?}");
    let passwd_pak = format!("passwd-{}-", semver("1:4.13+dfsg1-1+deb12u2"));
    assert!(written[1].starts_with(&passwd_pak), "{written:?}");
}

#[test]
fn bad_inputs_are_refused_naming_the_file() {
    let env = Env::new();
    let out = env.dir.path().join("paks");
    let not_deb = env.dir.path().join("fake.deb");
    std::fs::write(&not_deb, "this is not an ar archive").unwrap();
    let err = env.fails(
        &[
            "import",
            "deb",
            not_deb.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        1,
    );
    assert!(
        err.contains(&format!("cannot read `{}`", not_deb.display())),
        "{err}"
    );
    let empty = env.dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let err = env.fails(&["import", "deb", empty.to_str().unwrap()], 1);
    assert!(err.contains("holds no `.deb` files"), "{err}");
    let missing = env.dir.path().join("missing.deb");
    let err = env.fails(&["import", "deb", missing.to_str().unwrap()], 1);
    assert!(err.contains(&format!("`{}`", missing.display())), "{err}");
    // An amd64 package asked for arm64.
    let hello = real_deb("hello");
    let err = env.fails(
        &[
            "import",
            "deb",
            hello.to_str().unwrap(),
            "--platform",
            "linux/arm64",
            "--out",
            out.to_str().unwrap(),
        ],
        1,
    );
    assert!(err.contains("not `linux/arm64`"), "{err}");
    assert!(err.contains("hint: `--platform`"), "{err}");
    // Nothing half-written was left.
    let left: Vec<_> = std::fs::read_dir(&out).map_or(vec![], Iterator::collect);
    assert!(left.is_empty(), "{left:?}");
}
