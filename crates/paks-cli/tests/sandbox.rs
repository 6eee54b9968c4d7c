//! What a build script can see of the host: the toolchain, and nothing else. A real
//! bubblewrap build probes a unix socket under `/run`, `/etc/shadow`, files the test plants
//! under `/root` and `/home`, and credential files in `/etc`.

mod common;

use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use common::Env;

/// Host paths the test creates, removed when dropped (also when an assertion fails).
struct Planted(Vec<PathBuf>);

impl Drop for Planted {
    fn drop(&mut self) {
        for p in &self.0 {
            if p.is_dir() {
                let _ = std::fs::remove_dir_all(p);
            } else {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

fn plant_file(planted: &mut Planted, dir: &Path, name: &str, text: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    planted.0.push(dir.to_owned());
    let file = dir.join(name);
    std::fs::write(&file, text).unwrap();
    file
}

/// Build a package `probe` whose build script is `script`; returns the text the script
/// left in `$PREFIX/share/probe`.
fn build_probe(script: &str) -> String {
    let env = Env::new();
    let dir = env.dir.path().join("recipe");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("paks.toml"),
        format!(
            "[package]\nname = \"probe\"\nversion = \"1.0.0\"\n[build]\nscript = '''{script}'''\n"
        ),
    )
    .unwrap();
    env.build_dir(&dir);
    let record = env.ok(&["info", "probe", "--json"]);
    let prefix = serde_json::from_str::<serde_json::Value>(&record).unwrap()["prefix"]
        .as_str()
        .unwrap()
        .to_owned();
    std::fs::read_to_string(format!("{prefix}/share/probe")).unwrap()
}

#[test]
fn a_build_sees_the_toolchain_but_no_host_sockets_secrets_or_homes() {
    let tag = format!("paks-sandbox-test-{}", std::process::id());
    let mut planted = Planted(Vec::new());
    // A daemon's socket, as /run/docker.sock would be.
    let socket = PathBuf::from(format!("/run/{tag}.sock"));
    let _ = std::fs::remove_file(&socket);
    let _listener = UnixListener::bind(&socket).unwrap();
    planted.0.push(socket.clone());
    // Credentials in root's and a user's home.
    let in_root = plant_file(
        &mut planted,
        &Path::new("/root").join(format!(".{tag}")),
        "config.json",
        "{\"auths\":{\"x\":{\"auth\":\"c2VjcmV0\"}}}",
    );
    let in_home = plant_file(
        &mut planted,
        &Path::new("/home").join(&tag),
        "token",
        "secret",
    );
    let in_var = plant_file(
        &mut planted,
        &Path::new("/var/lib").join(&tag),
        "state",
        "secret",
    );

    let script = format!(
        r#"
out="$PREFIX/share/probe"
mkdir -p "$PREFIX/share"
seen() {{ what="$1"; shift; if "$@" >/dev/null 2>&1; then echo "$what: visible"; else echo "$what: hidden"; fi >> "$out"; }}
seen socket python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])' {socket}
seen /etc/shadow cat /etc/shadow
seen {in_root} cat {in_root}
seen {in_home} cat {in_home}
seen {in_var} cat {in_var}
seen /root ls /root
seen /run ls /run
seen /etc/gitconfig cat /etc/gitconfig
seen /etc/pip.conf cat /etc/pip.conf
seen /etc/npmrc cat /etc/npmrc
seen /etc/paks-escape touch /etc/paks-escape
seen /usr/paks-escape touch /usr/paks-escape
# What a toolchain needs stays.
seen /etc/passwd cat /etc/passwd
seen /etc/group cat /etc/group
seen ld.so.cache test -e /etc/ld.so.cache
seen alternatives/cc readlink -e /etc/alternatives/cc
seen cc cc --version
seen /bin/sh ls /bin/sh
seen /lib64 ls /lib64
seen /tmp/scratch touch /tmp/scratch
seen /var/tmp/scratch touch /var/tmp/scratch
"#,
        socket = socket.display(),
        in_root = in_root.display(),
        in_home = in_home.display(),
        in_var = in_var.display(),
    );
    let probe = build_probe(&script);
    let expected = format!(
        "\
socket: hidden
/etc/shadow: hidden
{in_root}: hidden
{in_home}: hidden
{in_var}: hidden
/root: hidden
/run: hidden
/etc/gitconfig: hidden
/etc/pip.conf: hidden
/etc/npmrc: hidden
/etc/paks-escape: hidden
/usr/paks-escape: hidden
/etc/passwd: visible
/etc/group: visible
ld.so.cache: visible
alternatives/cc: visible
cc: visible
/bin/sh: visible
/lib64: visible
/tmp/scratch: visible
/var/tmp/scratch: visible
",
        in_root = in_root.display(),
        in_home = in_home.display(),
        in_var = in_var.display(),
    );
    assert_eq!(probe, expected);
    assert!(!Path::new("/etc/paks-escape").exists());
    assert!(!Path::new("/usr/paks-escape").exists());
}
