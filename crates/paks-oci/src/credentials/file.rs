//! Credential files in the `{"auths": {...}}` shape that paks, Docker and the containers
//! tools (podman, skopeo, buildah) share: reading them leniently, writing paks' own
//! atomically and privately.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use data_encoding::BASE64;
use serde_json::Value;

use super::Login;
use crate::error::{ErrorKind, OciError, io_err};

/// Who wrote a file, which decides what its keys mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flavour {
    /// paks' and Docker's files: keys are hosts or URLs (`https://index.docker.io/v1/`),
    /// whose path means nothing.
    Hosts,
    /// containers-auth.json(5): keys are hosts or `host/namespace[/repository]`.
    Namespaces,
}

/// One credentials file as read.
#[derive(Debug, Clone)]
pub(super) struct AuthFile {
    pub path: PathBuf,
    /// Normalised key (`host` or `host/namespace`) → login.
    pub entries: BTreeMap<String, Login>,
    /// `credHelpers`: normalised host → helper name (`docker-credential-<name>`).
    pub helpers: BTreeMap<String, String>,
    /// `credsStore`: the helper for every host without its own.
    pub store: Option<String>,
}

impl AuthFile {
    /// Read `path`; a missing file is empty, a broken one is empty with a warning.
    pub fn read(path: &Path, flavour: Flavour, warnings: &mut Vec<String>) -> Self {
        let mut file = Self {
            path: path.to_owned(),
            entries: BTreeMap::new(),
            helpers: BTreeMap::new(),
            store: None,
        };
        let doc = match std::fs::read(path) {
            Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                Ok(v) => v,
                Err(e) => {
                    warnings.push(format!("ignoring `{}`: invalid JSON: {e}", path.display()));
                    return file;
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return file,
            Err(e) => {
                warnings.push(format!("ignoring `{}`: {e}", path.display()));
                return file;
            }
        };
        file.store = doc
            .get("credsStore")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        if let Some(helpers) = doc.get("credHelpers").and_then(Value::as_object) {
            for (key, name) in helpers {
                match name.as_str().filter(|n| !n.is_empty()) {
                    Some(name) => {
                        file.helpers.insert(normalize_host(key), name.to_owned());
                    }
                    None => warnings.push(format!(
                        "ignoring `credHelpers.{key}` in `{}`: not a helper name",
                        path.display()
                    )),
                }
            }
        }
        let Some(auths) = doc.get("auths").and_then(Value::as_object) else {
            return file;
        };
        for (key, entry) in auths {
            match login_of(entry) {
                Some(login) => {
                    file.entries.insert(normalize_key(key, flavour), login);
                }
                // `{}` is what a login into a credential helper leaves behind.
                None if entry.as_object().is_some_and(|o| !o.is_empty()) => {
                    warnings.push(format!(
                        "ignoring the entry for `{key}` in `{}`: no usable `auth` or `username`/`password`",
                        path.display()
                    ));
                }
                None => {}
            }
        }
        file
    }

    /// The helper that holds `host`'s credentials, and whether it is the host's own
    /// (`credHelpers`: the file's `auths` entry is then not used, as containers-auth.json(5)
    /// says) rather than the store for every host (`credsStore`: Docker falls back to
    /// `auths`).
    pub fn helper_for(&self, host: &str) -> Option<(&str, bool)> {
        self.helpers
            .get(host)
            .map(|h| (h.as_str(), true))
            .or_else(|| self.store.as_deref().map(|h| (h, false)))
    }

    /// The most specific entry for `host` and `repository`: `host/a/b/c`, `host/a/b`,
    /// `host/a`, then `host`.
    pub fn entry_for(&self, host: &str, repository: Option<&str>) -> Option<&Login> {
        let mut key = format!("{host}/{}", repository.unwrap_or_default());
        loop {
            let trimmed = key.trim_end_matches('/');
            if let Some(login) = self.entries.get(trimmed) {
                return Some(login);
            }
            match trimmed.rfind('/') {
                Some(i) => key.truncate(i),
                None => return None,
            }
        }
    }
}

/// An `auths` entry: `auth` (base64 of `user:password`), else `username`/`password`, else
/// an `identitytoken`.
fn login_of(entry: &Value) -> Option<Login> {
    let basic = entry
        .get("auth")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())
        .and_then(|a| BASE64.decode(a.trim().as_bytes()).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|s| {
            s.split_once(':')
                .map(|(u, p)| Login::new(u.to_owned(), p.to_owned()))
        })
        .or_else(|| {
            let u = entry.get("username")?.as_str()?;
            let p = entry.get("password")?.as_str()?;
            Some(Login::new(u.to_owned(), p.to_owned()))
        });
    basic.or_else(|| {
        entry
            .get("identitytoken")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(|t| Login::IdentityToken(t.to_owned()))
    })
}

/// `https://index.docker.io/v1/` → `docker.io`; `HOST:5000/` → `host:5000`.
pub(super) fn normalize_host(key: &str) -> String {
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

/// A file's key as looked up: the host, plus the namespace where the file has them.
fn normalize_key(key: &str, flavour: Flavour) -> String {
    let host = normalize_host(key);
    if flavour == Flavour::Hosts {
        return host;
    }
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    match rest.split_once('/') {
        Some((_, path)) if !path.trim_matches('/').is_empty() => {
            format!("{host}/{}", path.trim_matches('/'))
        }
        _ => host,
    }
}

pub(super) fn read_doc(path: &Path) -> Result<Value, OciError> {
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

pub(super) fn auths_mut(doc: &mut Value) -> &mut serde_json::Map<String, Value> {
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
pub(super) fn write_private(path: &Path, doc: &Value) -> Result<(), OciError> {
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
    fn namespaced_keys_most_specific_first() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("auth.json");
        let auth = |s: &str| serde_json::json!({"auth": BASE64.encode(s.as_bytes())});
        std::fs::write(
            &p,
            serde_json::json!({"auths": {
                "Reg.example.com": auth("host:1"),
                "reg.example.com/team": auth("team:2"),
                "https://reg.example.com/team/app/": auth("app:3"),
            }})
            .to_string(),
        )
        .unwrap();
        let mut w = Vec::new();
        let f = AuthFile::read(&p, Flavour::Namespaces, &mut w);
        assert!(w.is_empty(), "{w:?}");
        let user = |repo| match f.entry_for("reg.example.com", repo) {
            Some(Login::Basic { username, .. }) => username.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(user(Some("team/app")), "app");
        assert_eq!(user(Some("team/app2")), "team");
        assert_eq!(user(Some("team/app/sub")), "app");
        assert_eq!(user(Some("teamx/app")), "host");
        assert_eq!(user(None), "host");
        assert!(f.entry_for("other.example.com", Some("team")).is_none());
        // Docker's files name URLs whose path is not a namespace.
        let f = AuthFile::read(&p, Flavour::Hosts, &mut w);
        assert!(f.entry_for("reg.example.com", Some("x")).is_some());
    }
}
