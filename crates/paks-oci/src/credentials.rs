//! Registry credentials: paks' own `auth.json`, Docker's `config.json`, and environment
//! variables.
//!
//! Precedence, highest first:
//! 1. `PAKS_REGISTRY_USERNAME` and `PAKS_REGISTRY_PASSWORD`, for every registry (so that a
//!    CI job's secret wins over whatever a machine has stored);
//! 2. paks' file, `$XDG_CONFIG_HOME/paks/auth.json`, else `~/.config/paks/auth.json`
//!    (written by `paks login`, mode 0600);
//! 3. Docker's file, `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`: the
//!    `auths.<host>.auth` (base64 of `user:password`) or `username`/`password` entries.
//!    Docker's credential helpers (`credsStore`, `credHelpers`) are **not** supported:
//!    a registry only known to a helper gets no credentials, and [`Credentials::warnings`]
//!    says so.
//!
//! Both files have the same shape: `{"auths": {"<host>": {"auth": "<base64 user:pass>"}}}`.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use data_encoding::BASE64;
use serde_json::Value;

use crate::error::{ErrorKind, OciError, io_err};

/// Environment variable with the user name for every registry.
pub const ENV_USERNAME: &str = "PAKS_REGISTRY_USERNAME";
/// Environment variable with the password (or token) for every registry.
pub const ENV_PASSWORD: &str = "PAKS_REGISTRY_PASSWORD";

/// Where credentials come from; see the module docs for the precedence.
#[derive(Clone, Default)]
pub struct Credentials {
    env: Option<(String, String)>,
    paks: BTreeMap<String, (String, String)>,
    docker: BTreeMap<String, (String, String)>,
    warnings: Vec<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print a password.
        f.debug_struct("Credentials")
            .field("env", &self.env.as_ref().map(|(u, _)| u))
            .field("paks", &self.paks.keys().collect::<Vec<_>>())
            .field("docker", &self.docker.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Credentials from the environment, paks' file and Docker's file. Never fails: a
    /// file that cannot be read or parsed is skipped, with a note in [`Self::warnings`].
    pub fn load() -> Self {
        let env = match (std::env::var(ENV_USERNAME), std::env::var(ENV_PASSWORD)) {
            (Ok(u), Ok(p)) if !u.is_empty() => Some((u, p)),
            _ => None,
        };
        let docker = match std::env::var_os("DOCKER_CONFIG") {
            Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir).join("config.json")),
            _ => home_dir().map(|h| h.join(".docker/config.json")),
        };
        Self::load_from(paks_auth_path().as_deref(), docker.as_deref(), env)
    }

    /// Credentials from the given files (missing files are fine) and environment values.
    pub fn load_from(
        paks_file: Option<&Path>,
        docker_file: Option<&Path>,
        env: Option<(String, String)>,
    ) -> Self {
        let mut creds = Self {
            env,
            ..Self::default()
        };
        if let Some(path) = paks_file {
            creds.paks = read_auths(path, &mut creds.warnings);
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                if let Ok(meta) = std::fs::metadata(path)
                    && meta.permissions().mode() & 0o077 != 0
                {
                    creds.warnings.push(format!(
                        "`{}` is readable by other users; run `chmod 600 {}`",
                        path.display(),
                        path.display()
                    ));
                }
            }
        }
        if let Some(path) = docker_file {
            creds.docker = read_auths(path, &mut creds.warnings);
        }
        creds
    }

    /// Credentials for tests and embedding: `(host, user, password)` triples.
    pub fn from_parts<H, U, P>(entries: impl IntoIterator<Item = (H, U, P)>) -> Self
    where
        H: AsRef<str>,
        U: Into<String>,
        P: Into<String>,
    {
        Self {
            paks: entries
                .into_iter()
                .map(|(h, u, p)| (normalize_host(h.as_ref()), (u.into(), p.into())))
                .collect(),
            ..Self::default()
        }
    }

    /// No credentials at all: every request is anonymous.
    pub fn none() -> Self {
        Self::default()
    }

    /// The user name and password for `host` (`host[:port]`), if any.
    pub fn for_registry(&self, host: &str) -> Option<(String, String)> {
        if let Some(env) = &self.env {
            return Some(env.clone());
        }
        let host = normalize_host(host);
        self.paks
            .get(&host)
            .or_else(|| self.docker.get(&host))
            .cloned()
    }

    /// Problems met while loading (unreadable files, unsupported credential helpers).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Store a login for `host` in paks' file; returns the file's path.
    pub fn save_login(host: &str, user: &str, password: &str) -> Result<PathBuf, OciError> {
        let path = paks_auth_path().ok_or_else(|| ErrorKind::NoConfigDir {
            what: "paks login".into(),
        })?;
        Self::save_login_to(&path, host, user, password)?;
        Ok(path)
    }

    /// Store a login for `host` in the credentials file `path` (created with mode 0600,
    /// its directory 0700; other entries kept), atomically.
    pub fn save_login_to(
        path: &Path,
        host: &str,
        user: &str,
        password: &str,
    ) -> Result<(), OciError> {
        let mut doc = read_doc(path)?;
        let auth = BASE64.encode(format!("{user}:{password}").as_bytes());
        auths_mut(&mut doc).insert(normalize_host(host), serde_json::json!({ "auth": auth }));
        write_private(path, &doc)
    }

    /// Forget the login for `host` in paks' file; whether there was one.
    pub fn remove_login(host: &str) -> Result<bool, OciError> {
        let path = paks_auth_path().ok_or_else(|| ErrorKind::NoConfigDir {
            what: "paks logout".into(),
        })?;
        Self::remove_login_from(&path, host)
    }

    /// Forget the login for `host` in the credentials file `path`; whether there was one.
    pub fn remove_login_from(path: &Path, host: &str) -> Result<bool, OciError> {
        if !path.exists() {
            return Ok(false);
        }
        let mut doc = read_doc(path)?;
        let host = normalize_host(host);
        let auths = auths_mut(&mut doc);
        let before = auths.len();
        auths.retain(|k, _| normalize_host(k) != host);
        if auths.len() == before {
            return Ok(false);
        }
        write_private(path, &doc)?;
        Ok(true)
    }
}

/// paks' credentials file: `$XDG_CONFIG_HOME/paks/auth.json`, else
/// `~/.config/paks/auth.json`.
pub fn paks_auth_path() -> Option<PathBuf> {
    match std::env::var_os("XDG_CONFIG_HOME") {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir).join("paks/auth.json")),
        _ => home_dir().map(|h| h.join(".config/paks/auth.json")),
    }
}

fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// `https://index.docker.io/v1/` → `docker.io`; `HOST:5000/` → `host:5000`.
fn normalize_host(key: &str) -> String {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = key.split('/').next().unwrap_or(key).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_owned(),
        _ => host,
    }
}

fn read_auths(path: &Path, warnings: &mut Vec<String>) -> BTreeMap<String, (String, String)> {
    let doc = match std::fs::read(path) {
        Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
            Ok(v) => v,
            Err(e) => {
                warnings.push(format!("ignoring `{}`: invalid JSON: {e}", path.display()));
                return BTreeMap::new();
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return BTreeMap::new(),
        Err(e) => {
            warnings.push(format!("ignoring `{}`: {e}", path.display()));
            return BTreeMap::new();
        }
    };
    for key in ["credsStore", "credHelpers"] {
        if doc.get(key).is_some_and(|v| !v.is_null()) {
            warnings.push(format!(
                "`{}` names credential helpers (`{key}`), which paks does not support; use `paks login <host>` or `{ENV_USERNAME}`/`{ENV_PASSWORD}`",
                path.display()
            ));
        }
    }
    let mut out = BTreeMap::new();
    let Some(auths) = doc.get("auths").and_then(Value::as_object) else {
        return out;
    };
    for (key, entry) in auths {
        let pair = entry
            .get("auth")
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty())
            .and_then(|a| BASE64.decode(a.trim().as_bytes()).ok())
            .and_then(|raw| String::from_utf8(raw).ok())
            .and_then(|s| s.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned())))
            .or_else(|| {
                let u = entry.get("username")?.as_str()?;
                let p = entry.get("password")?.as_str()?;
                Some((u.to_owned(), p.to_owned()))
            });
        match pair {
            Some(pair) => {
                out.insert(normalize_host(key), pair);
            }
            None if entry.as_object().is_some_and(|o| !o.is_empty()) => warnings.push(format!(
                "ignoring the entry for `{key}` in `{}`: no usable `auth` or `username`/`password`",
                path.display()
            )),
            None => {}
        }
    }
    out
}

fn read_doc(path: &Path) -> Result<Value, OciError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| {
            ErrorKind::CredentialsFile {
                path: path.to_owned(),
                source,
            }
            .into()
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(serde_json::json!({})),
        Err(e) => Err(io_err("failed to read", path)(e)),
    }
}

fn auths_mut(doc: &mut Value) -> &mut serde_json::Map<String, Value> {
    if !doc.is_object() {
        *doc = serde_json::json!({});
    }
    let obj = doc.as_object_mut().expect("an object");
    let auths = obj.entry("auths").or_insert_with(|| serde_json::json!({}));
    if !auths.is_object() {
        *auths = serde_json::json!({});
    }
    auths.as_object_mut().expect("an object")
}

/// Write `doc` to `path` atomically, readable by its owner only, from the first byte on.
fn write_private(path: &Path, doc: &Value) -> Result<(), OciError> {
    let bytes = serde_json::to_vec_pretty(doc).expect("JSON serialises");
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(dir)
            .map_err(io_err("failed to create the directory", dir))?;
    }
    let tmp = paks_types::fs::temp_sibling(path, "tmp");
    let result = (|| {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&tmp)?;
        f.write_all(&bytes)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        paks_types::fs::fsync_parent(path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io_err("failed to write", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_env_then_paks_then_docker() {
        let dir = tempfile::tempdir().unwrap();
        let paks = dir.path().join("paks/auth.json");
        let docker = dir.path().join("docker.json");
        Credentials::save_login_to(&paks, "Reg.Example.com", "alice", "pa:ss").unwrap();
        std::fs::write(
            &docker,
            serde_json::json!({
                "auths": {
                    "reg.example.com": {"auth": BASE64.encode(b"bob:x")},
                    "https://index.docker.io/v1/": {"auth": BASE64.encode(b"carol:y")},
                    "other.example.com:5000": {"username": "dave", "password": "z"},
                    "helper.example.com": {}
                },
                "credsStore": "desktop"
            })
            .to_string(),
        )
        .unwrap();
        let c = Credentials::load_from(Some(&paks), Some(&docker), None);
        assert_eq!(
            c.for_registry("reg.example.com"),
            Some(("alice".into(), "pa:ss".into()))
        );
        assert_eq!(
            c.for_registry("docker.io"),
            Some(("carol".into(), "y".into()))
        );
        assert_eq!(
            c.for_registry("other.example.com:5000"),
            Some(("dave".into(), "z".into()))
        );
        assert_eq!(c.for_registry("helper.example.com"), None);
        assert!(
            c.warnings().iter().any(|w| w.contains("credsStore")),
            "{:?}",
            c.warnings()
        );
        assert!(!format!("{c:?}").contains("pa:ss"));

        let c = Credentials::load_from(
            Some(&paks),
            Some(&docker),
            Some(("env".into(), "secret".into())),
        );
        assert_eq!(
            c.for_registry("reg.example.com"),
            Some(("env".into(), "secret".into()))
        );

        assert!(Credentials::remove_login_from(&paks, "reg.example.com").unwrap());
        assert!(!Credentials::remove_login_from(&paks, "reg.example.com").unwrap());
        let c = Credentials::load_from(Some(&paks), Some(&docker), None);
        assert_eq!(
            c.for_registry("reg.example.com"),
            Some(("bob".into(), "x".into()))
        );
    }

    #[cfg(unix)]
    #[test]
    fn saved_file_is_private_and_keeps_other_entries() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cfg/paks/auth.json");
        Credentials::save_login_to(&path, "a.example.com", "u1", "p1").unwrap();
        Credentials::save_login_to(&path, "b.example.com", "u2", "p2").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let dmode = std::fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dmode & 0o777, 0o700);
        let c = Credentials::load_from(Some(&path), None, None);
        assert!(c.warnings().is_empty(), "{:?}", c.warnings());
        assert_eq!(
            c.for_registry("a.example.com"),
            Some(("u1".into(), "p1".into()))
        );
        assert_eq!(
            c.for_registry("b.example.com"),
            Some(("u2".into(), "p2".into()))
        );
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
    }

    #[test]
    fn broken_files_are_warnings() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("auth.json");
        std::fs::write(&p, "{not json").unwrap();
        let c = Credentials::load_from(None, Some(&p), None);
        assert_eq!(c.warnings().len(), 1);
        assert!(c.warnings()[0].contains("invalid JSON"));
        assert!(Credentials::save_login_to(&p, "x.example.com", "u", "p").is_err());
    }
}
