//! The build sandbox: bubblewrap with no network, the host's toolchain read-only (`/usr`,
//! the loader's directories and a minimal `/etc`; no `/run`, homes, `/var` or credentials),
//! the dependencies read-only at their canonical store paths, and only the package's own
//! prefix, the build directory and the scratch directories writable.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use paks_types::CANONICAL_STORE;

use crate::BuildError;

/// One sandboxed script run.
pub struct Sandbox<'a> {
    /// Mounted at `/build`, writable, the working directory.
    pub work: &'a Path,
    /// Mounted at `/recipe`, read-only (a build has one; `paks test` has none).
    pub recipe: Option<&'a Path>,
    /// The package's own prefix on the host, and its canonical path inside.
    pub prefix: (&'a Path, String),
    /// Whether the prefix is writable (the build) or not (the tests).
    pub prefix_writable: bool,
    /// Dependency prefixes on the host and the canonical paths they appear at.
    pub deps: &'a [(PathBuf, String)],
    /// Single files laid over the dependencies: canonical copies of what relocation
    /// rewrote in the local store, so a build sees exactly what `/opt/paks` would hold.
    pub overlays: &'a [(PathBuf, String)],
    /// Environment (the sandbox starts from an empty one).
    pub env: &'a [(String, String)],
    /// A writable directory on the host and where it appears: where `paks test`'s script
    /// leaves reports (`$PAKS_TEST_OUTPUT`).
    pub output: Option<(&'a Path, &'a str)>,
}

/// The host's top-level entries a build sees: `/usr` and, beside it, the directories or
/// merged-`/usr` links a toolchain and its loader are found through. Nothing else of the
/// host's top level (`/run` and its daemon sockets, `/root`, `/home`, `/var`, `/srv`,
/// `/mnt`, `/sys`) is mounted.
const HOST_TOP: &[&str] = &["usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32"];

/// What of the host's `/etc` a build sees: users and groups (for `id`, `ls -l`, `tar`),
/// name service and host lookups, the dynamic loader's configuration, Debian's
/// `alternatives` (`cc`, `c++`), the time zone, CA certificates (not `/etc/ssl/private`)
/// and OS identification. Never shadow files, package managers' or tools' configuration
/// that may hold credentials (`gitconfig`, `pip.conf`, `npmrc`, `docker/`), or anything
/// else a site put there.
const HOST_ETC: &[&str] = &[
    "passwd",
    "group",
    "hosts",
    "host.conf",
    "nsswitch.conf",
    "gai.conf",
    "protocols",
    "services",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "alternatives",
    "localtime",
    "timezone",
    "ssl/certs",
    "ssl/openssl.cnf",
    "ca-certificates.conf",
    "pki/tls/certs",
    "pki/ca-trust",
    "crypto-policies",
    "os-release",
    "debian_version",
    "redhat-release",
];

/// Mount the parts of the host a toolchain needs ([`HOST_TOP`], [`HOST_ETC`]), read-only;
/// links stay links (merged-`/usr` systems have `/bin -> usr/bin`).
fn host_view(cmd: &mut Command) -> Result<(), BuildError> {
    for name in HOST_TOP {
        let path = format!("/{name}");
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.file_type().is_symlink() {
            let target = fs_err::read_link(&path)?;
            cmd.arg("--symlink").arg(target).arg(&path);
        } else if meta.is_dir() {
            cmd.args(["--ro-bind", &path, &path]);
        }
    }
    // A fresh /etc holding only the allowed entries; made read-only once populated.
    cmd.args(["--tmpfs", "/etc"]);
    let mut parents = std::collections::BTreeSet::new();
    for entry in HOST_ETC {
        let path = format!("/etc/{entry}");
        if std::fs::metadata(&path).is_err() {
            continue;
        }
        // Parents made by `--dir` are 0755 (bubblewrap would make them 0700).
        let ancestors = entry.match_indices('/').map(|(i, _)| &entry[..i]);
        for parent in ancestors {
            if parents.insert(parent) {
                cmd.args(["--dir", &format!("/etc/{parent}")]);
            }
        }
        cmd.args(["--ro-bind", &path, &path]);
    }
    Ok(())
}

/// Find `bwrap` on `PATH`.
pub fn bwrap() -> Result<PathBuf, BuildError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("bwrap"))
        .find(|p| p.is_file())
        .ok_or(BuildError::NoSandbox)
}

impl Sandbox<'_> {
    fn command(&self, bwrap: &Path, script: &str) -> Result<Command, BuildError> {
        let mut cmd = Command::new(bwrap);
        cmd.args([
            "--unshare-all",
            "--die-with-parent",
            "--new-session",
            "--clearenv",
        ]);
        host_view(&mut cmd)?;
        cmd.args(["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]);
        cmd.args(["--dir", "/var", "--tmpfs", "/var/tmp", "--dir", "/opt"]);
        // /opt's other content (site compilers) stays visible; the canonical root is the
        // sandbox's own.
        if let Ok(entries) = fs_err::read_dir("/opt") {
            let mut entries: Vec<_> = entries.collect::<Result<_, _>>()?;
            entries.sort_by_key(fs_err::DirEntry::file_name);
            for entry in entries {
                if entry.file_name() == "paks" {
                    continue;
                }
                let path = entry.path();
                cmd.arg("--ro-bind").arg(&path).arg(&path);
            }
        }
        cmd.args(["--dir", CANONICAL_STORE]);
        let bind = if self.prefix_writable {
            "--bind"
        } else {
            "--ro-bind"
        };
        // The prefix before the overlays: an installed package's own text files get
        // canonical copies laid over them too (`paks test`).
        cmd.arg(bind).arg(self.prefix.0).arg(&self.prefix.1);
        for (host, inside) in self.deps {
            cmd.arg("--ro-bind").arg(host).arg(inside);
        }
        for (host, inside) in self.overlays {
            cmd.arg("--ro-bind").arg(host).arg(inside);
        }
        cmd.arg("--bind").arg(self.work).arg("/build");
        if let Some(recipe) = self.recipe {
            cmd.arg("--ro-bind").arg(recipe).arg("/recipe");
        }
        if let Some((host, inside)) = self.output {
            cmd.arg("--bind").arg(host).arg(inside);
        }
        // Everything not bound above (the sandbox's own root, /etc's tmpfs) is read-only
        // too: a script writes only its prefix, /build and the scratch directories.
        cmd.args(["--remount-ro", "/etc", "--remount-ro", "/"]);
        cmd.args(["--chdir", "/build"]);
        for (k, v) in self.env {
            cmd.args(["--setenv", k, v]);
        }
        cmd.args(["/bin/sh", "-eu", "-c", script]);
        Ok(cmd)
    }

    /// Run `script`, appending its output to `log` (and to stderr when `echo`). Returns
    /// the exit status as text when it failed.
    pub fn run(
        &self,
        script: &str,
        log: &Path,
        echo: bool,
    ) -> Result<Result<(), String>, BuildError> {
        let status = self.run_status(script, log, echo)?;
        Ok(if status.success() {
            Ok(())
        } else {
            Err(status.to_string())
        })
    }

    /// [`Sandbox::run`], returning the script's exit status.
    pub fn run_status(
        &self,
        script: &str,
        log: &Path,
        echo: bool,
    ) -> Result<std::process::ExitStatus, BuildError> {
        let bwrap = bwrap()?;
        let mut cmd = self.command(&bwrap, script)?;
        let mut log_file = fs_err::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        // One pipe for both streams keeps their lines in order in the log.
        let (reader, writer) = std::io::pipe()?;
        cmd.stdin(Stdio::null())
            .stdout(writer.try_clone()?)
            .stderr(writer);
        let mut child = cmd.spawn().map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("failed to start `{}`: {e}", bwrap.display()),
            )
        })?;
        drop(cmd);
        for line in BufReader::new(reader).split(b'\n') {
            let mut line = line?;
            line.push(b'\n');
            log_file.write_all(&line)?;
            if echo {
                std::io::stderr().write_all(&line)?;
            }
        }
        let status = child.wait()?;
        log_file.flush()?;
        Ok(status)
    }
}

/// The last `n` lines of a log, for error messages.
pub fn tail(log: &Path, n: usize) -> String {
    tail_lines(&fs_err::read_to_string(log).unwrap_or_default(), n)
}

/// The last `n` lines of a script's output, indented as a log excerpt.
pub fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| format!("  | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
