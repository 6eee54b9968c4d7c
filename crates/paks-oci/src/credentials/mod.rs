//! Registry credentials, found where docker, podman and CI users keep them.
//!
//! Precedence, highest first; the first source with a login for the registry wins:
//! 1. `PAKS_REGISTRY_AUTH_<HOST>=user:password`, for that registry only (the host upper
//!    cased, `.`, `:` and `-` as `_`: `PAKS_REGISTRY_AUTH_GHCR_IO`);
//! 2. `PAKS_REGISTRY_USERNAME` and `PAKS_REGISTRY_PASSWORD`, only for the registry
//!    `PAKS_REGISTRY` names (without it the pair is ignored, with a warning: credentials
//!    are never sent to every registry);
//! 3. paks' file, `$XDG_CONFIG_HOME/paks/auth.json`, else `~/.config/paks/auth.json`
//!    (written by `paks login`, mode 0600);
//! 4. the containers tools' files (podman, skopeo, buildah; containers-auth.json(5)), in
//!    their order: `$REGISTRY_AUTH_FILE`, else `$XDG_RUNTIME_DIR/containers/auth.json`
//!    (else `/run/containers/<uid>/auth.json`); then `$XDG_CONFIG_HOME/containers/auth.json`
//!    (else `~/.config/containers/auth.json`). Keys are hosts or `host/namespace`; the most
//!    specific key for the repository wins;
//! 5. Docker's file, `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
//!
//! In the files of 4 and 5, a credential helper named for the host (`credHelpers`) or for
//! every host (`credsStore`) is asked first: `docker-credential-<name> get` (see
//! [`helper`]). A host's own helper replaces the file's `auths` entry for it; the store for
//! every host falls back to it, as Docker does. A helper that fails or hangs is a warning,
//! and the search goes on.
//!
//! The files share one shape: `{"auths": {"<key>": {"auth": "<base64 user:pass>"}}}`.
//! Problems (unreadable files, malformed variables, failing helpers) are warnings, never
//! errors: see [`Credentials::warnings`] and [`Credentials::on_warning`].

mod env;
mod file;
pub mod helper;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use env::EnvAuth;
pub use env::{ENV_AUTH_PREFIX, ENV_PASSWORD, ENV_REGISTRY, ENV_USERNAME, env_var_for};
use file::{AuthFile, Flavour, auths_mut, normalize_host, read_doc, write_private};

use data_encoding::BASE64;

use crate::error::{ErrorKind, OciError};

/// One registry login.
#[derive(Clone, PartialEq, Eq)]
pub enum Login {
    /// A user name and a password (or a personal access token used as one).
    Basic { username: String, password: String },
    /// An `OAuth2` refresh token (Docker's identity token, a helper's `<token>` user),
    /// exchanged at the registry's token service.
    IdentityToken(String),
}

impl Login {
    /// `username`/`password`, where the user name `<token>` marks an identity token, as
    /// Docker's helpers and config files spell it.
    pub fn new(username: String, password: String) -> Self {
        if username == "<token>" {
            Self::IdentityToken(password)
        } else {
            Self::Basic { username, password }
        }
    }

    /// The user name and password, for Basic authentication.
    pub fn basic(&self) -> Option<(&str, &str)> {
        match self {
            Self::Basic { username, password } => Some((username, password)),
            Self::IdentityToken(_) => None,
        }
    }
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print a secret.
        match self {
            Self::Basic { username, .. } => write!(f, "Basic({username})"),
            Self::IdentityToken(_) => f.write_str("IdentityToken"),
        }
    }
}

/// Where the credential files are; [`CredentialPaths::from_env`] finds them as the
/// module docs say.
#[derive(Debug, Clone, Default)]
pub struct CredentialPaths {
    /// paks' own file, which `paks login` writes.
    pub paks: Option<PathBuf>,
    /// The containers tools' files, in their order.
    pub containers: Vec<PathBuf>,
    /// Docker's `config.json`.
    pub docker: Option<PathBuf>,
}

impl CredentialPaths {
    /// The files the environment (`HOME`, `XDG_*`, `REGISTRY_AUTH_FILE`, `DOCKER_CONFIG`)
    /// points at.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let mut containers = Vec::new();
        if let Some(file) = var("REGISTRY_AUTH_FILE") {
            containers.push(PathBuf::from(file));
        } else if let Some(dir) = var("XDG_RUNTIME_DIR") {
            containers.push(PathBuf::from(dir).join("containers/auth.json"));
        } else if let Some(uid) = current_uid() {
            containers.push(PathBuf::from(format!("/run/containers/{uid}/auth.json")));
        }
        if let Some(dir) = config_dir() {
            containers.push(dir.join("containers/auth.json"));
        }
        let docker = match var("DOCKER_CONFIG") {
            Some(dir) => Some(PathBuf::from(dir).join("config.json")),
            None => home_dir().map(|h| h.join(".docker/config.json")),
        };
        Self {
            paks: paks_auth_path(),
            containers,
            docker,
        }
    }
}

/// Where a login went, or was found and removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// paks' own credentials file.
    File(PathBuf),
    /// A Docker credential helper, by name.
    Helper(String),
}

impl fmt::Display for Stored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(p) => write!(f, "`{}`", p.display()),
            Self::Helper(name) => write!(f, "credential helper `docker-credential-{name}`"),
        }
    }
}

type Sink = Arc<dyn Fn(&str) + Send + Sync>;

/// What clones share: helper answers (each helper runs once per host), and the warnings
/// met after loading.
#[derive(Default)]
struct Shared {
    helper_answers: Mutex<HashMap<(String, String), Option<Login>>>,
    /// Held while a helper runs: concurrent requests to one registry wait for its answer
    /// instead of starting the helper again each.
    helper_running: Mutex<()>,
    late_warnings: Mutex<Vec<String>>,
    sink: Mutex<Option<Sink>>,
    shown: Mutex<HashSet<String>>,
}

/// Where credentials come from; see the module docs for the precedence.
#[derive(Clone)]
pub struct Credentials {
    env: EnvAuth,
    /// Logins given by the embedding program ([`Credentials::from_parts`]), by host.
    explicit: BTreeMap<String, Login>,
    /// paks', the containers tools' and Docker's files, in precedence order.
    files: Vec<AuthFile>,
    warnings: Vec<String>,
    helper_timeout: Duration,
    shared: Arc<Shared>,
}

impl Default for Credentials {
    fn default() -> Self {
        Self {
            env: EnvAuth::default(),
            explicit: BTreeMap::new(),
            files: Vec::new(),
            warnings: Vec::new(),
            helper_timeout: helper::TIMEOUT,
            shared: Arc::default(),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print a password.
        f.debug_struct("Credentials")
            .field("env", &self.env.by_var.keys().collect::<Vec<_>>())
            .field("explicit", &self.explicit.keys().collect::<Vec<_>>())
            .field(
                "files",
                &self.files.iter().map(|f| &f.path).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Credentials from the environment and the files it points at. Never fails: what
    /// cannot be read or parsed is skipped, with a note in [`Self::warnings`].
    pub fn load() -> Self {
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        Self::load_from(&CredentialPaths::from_env(), vars)
    }

    /// Credentials from the given files (missing files are fine) and environment
    /// variables (name, value).
    pub fn load_from(
        paths: &CredentialPaths,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Self {
        let mut creds = Self::default();
        creds.env = EnvAuth::read(vars, &mut creds.warnings);
        if let Some(path) = &paths.paks {
            creds
                .files
                .push(AuthFile::read(path, Flavour::Hosts, &mut creds.warnings));
            warn_if_shared(path, &mut creds.warnings);
        }
        for path in &paths.containers {
            creds.files.push(AuthFile::read(
                path,
                Flavour::Namespaces,
                &mut creds.warnings,
            ));
        }
        if let Some(path) = &paths.docker {
            creds
                .files
                .push(AuthFile::read(path, Flavour::Hosts, &mut creds.warnings));
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
            explicit: entries
                .into_iter()
                .map(|(h, u, p)| (normalize_host(h.as_ref()), Login::new(u.into(), p.into())))
                .collect(),
            ..Self::default()
        }
    }

    /// No credentials at all: every request is anonymous.
    pub fn none() -> Self {
        Self::default()
    }

    /// How long a credential helper may take to answer (default 30 s).
    #[must_use]
    pub fn with_helper_timeout(mut self, timeout: Duration) -> Self {
        self.helper_timeout = timeout;
        self
    }

    /// Report every warning, those met while loading and those met later (a helper that
    /// fails), to `sink`, each message once.
    #[must_use]
    pub fn on_warning(self, sink: impl Fn(&str) + Send + Sync + 'static) -> Self {
        *self.shared.sink.lock().expect("not poisoned") = Some(Arc::new(sink));
        for w in &self.warnings {
            self.warn(w);
        }
        self
    }

    /// The login for `host` (`host[:port]`) and, where known, the repository (podman's
    /// files may name a namespace).
    pub fn lookup(&self, host: &str, repository: Option<&str>) -> Option<Login> {
        let host = normalize_host(host);
        if let Some(login) = self.env.get(&host).or_else(|| self.explicit.get(&host)) {
            return Some(login.clone());
        }
        for file in &self.files {
            if let Some((name, own)) = file.helper_for(&host) {
                if let Some(login) = self.ask_helper(name, &host) {
                    return Some(login);
                }
                if own {
                    continue;
                }
            }
            if let Some(login) = file.entry_for(&host, repository) {
                return Some(login.clone());
            }
        }
        None
    }

    /// The user name and password for `host`, if it has a Basic login.
    pub fn for_registry(&self, host: &str) -> Option<(String, String)> {
        self.lookup(host, None)
            .and_then(|l| l.basic().map(|(u, p)| (u.to_owned(), p.to_owned())))
    }

    /// Problems met so far: unreadable files, malformed variables, failing helpers.
    pub fn warnings(&self) -> Vec<String> {
        let mut all = self.warnings.clone();
        all.extend(
            self.shared
                .late_warnings
                .lock()
                .expect("not poisoned")
                .iter()
                .cloned(),
        );
        all
    }

    fn warn(&self, message: &str) {
        if !self
            .shared
            .shown
            .lock()
            .expect("not poisoned")
            .insert(message.to_owned())
        {
            return;
        }
        let sink = self.shared.sink.lock().expect("not poisoned").clone();
        if let Some(sink) = sink {
            sink(message);
        }
    }

    fn ask_helper(&self, name: &str, host: &str) -> Option<Login> {
        let _running = self.shared.helper_running.lock().expect("not poisoned");
        let key = (name.to_owned(), host.to_owned());
        if let Some(answer) = self
            .shared
            .helper_answers
            .lock()
            .expect("not poisoned")
            .get(&key)
        {
            return answer.clone();
        }
        let answer = match helper::get(name, &helper::server_url(host), self.helper_timeout) {
            Ok(answer) => answer,
            Err(message) => {
                let message = format!("no credentials for `{host}` from its helper: {message}");
                self.shared
                    .late_warnings
                    .lock()
                    .expect("not poisoned")
                    .push(message.clone());
                self.warn(&message);
                None
            }
        };
        self.shared
            .helper_answers
            .lock()
            .expect("not poisoned")
            .insert(key, answer.clone());
        answer
    }

    /// Store a login for `host` where Docker would: in the credential helper Docker's
    /// config names for it, else in paks' own file. An entry for `host` in paks' file is
    /// removed when the helper takes the login, so that it does not shadow it.
    pub fn save_login(host: &str, user: &str, password: &str) -> Result<Stored, OciError> {
        Self::save_login_at(&CredentialPaths::from_env(), host, user, password)
    }

    /// [`Self::save_login`] with the files at `paths`.
    pub fn save_login_at(
        paths: &CredentialPaths,
        host: &str,
        user: &str,
        password: &str,
    ) -> Result<Stored, OciError> {
        let host = normalize_host(host);
        if let Some(name) = docker_helper(paths, &host) {
            let login = Login::new(user.to_owned(), password.to_owned());
            helper::store(&name, &helper::server_url(&host), &login)
                .map_err(|message| ErrorKind::CredentialHelper { message })?;
            if let Some(path) = &paths.paks {
                Self::remove_login_from(path, &host)?;
            }
            return Ok(Stored::Helper(name));
        }
        let path = paths.paks.clone().ok_or_else(|| ErrorKind::NoConfigDir {
            what: "paks login".into(),
        })?;
        Self::save_login_to(&path, &host, user, password)?;
        Ok(Stored::File(path))
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

    /// Forget the login for `host` wherever `paks login` may have put it: paks' file and
    /// the credential helper Docker's config names for it. Returns where it was.
    pub fn remove_login(host: &str) -> Result<Vec<Stored>, OciError> {
        Self::remove_login_at(&CredentialPaths::from_env(), host)
    }

    /// [`Self::remove_login`] with the files at `paths`.
    pub fn remove_login_at(paths: &CredentialPaths, host: &str) -> Result<Vec<Stored>, OciError> {
        let host = normalize_host(host);
        let mut removed = Vec::new();
        if let Some(path) = &paths.paks
            && Self::remove_login_from(path, &host)?
        {
            removed.push(Stored::File(path.clone()));
        }
        if let Some(name) = docker_helper(paths, &host)
            && helper::erase(&name, &helper::server_url(&host))
                .map_err(|message| ErrorKind::CredentialHelper { message })?
        {
            removed.push(Stored::Helper(name));
        }
        Ok(removed)
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

/// The helper Docker's config names for `host`, if any.
fn docker_helper(paths: &CredentialPaths, host: &str) -> Option<String> {
    let path = paths.docker.as_ref()?;
    let file = AuthFile::read(path, Flavour::Hosts, &mut Vec::new());
    file.helper_for(host).map(|(name, _)| name.to_owned())
}

fn warn_if_shared(path: &Path, warnings: &mut Vec<String>) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            warnings.push(format!(
                "`{}` is readable by other users; run `chmod 600 {}`",
                path.display(),
                path.display()
            ));
        }
    }
}

/// paks' credentials file: `$XDG_CONFIG_HOME/paks/auth.json`, else
/// `~/.config/paks/auth.json`.
pub fn paks_auth_path() -> Option<PathBuf> {
    config_dir().map(|d| d.join("paks/auth.json"))
}

/// `$XDG_CONFIG_HOME`, else `~/.config`.
fn config_dir() -> Option<PathBuf> {
    match std::env::var_os("XDG_CONFIG_HOME") {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => home_dir().map(|h| h.join(".config")),
    }
}

fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// The real user id, as podman names its runtime directory without `XDG_RUNTIME_DIR`.
fn current_uid() -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        std::fs::metadata("/proc/self").ok().map(|m| m.uid())
    }
    #[cfg(not(unix))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(paks: &Path, docker: &Path, vars: &[(&str, &str)]) -> Credentials {
        Credentials::load_from(
            &CredentialPaths {
                paks: Some(paks.to_owned()),
                containers: Vec::new(),
                docker: Some(docker.to_owned()),
            },
            vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        )
    }

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
        let c = load(&paks, &docker, &[]);
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
            c.warnings()
                .iter()
                .any(|w| w.contains("`docker-credential-desktop` is not on `PATH`")),
            "{:?}",
            c.warnings()
        );
        assert!(!format!("{c:?}").contains("pa:ss"));

        let c = load(
            &paks,
            &docker,
            &[
                ("PAKS_REGISTRY_AUTH_REG_EXAMPLE_COM", "env:secret"),
                ("PAKS_REGISTRY_AUTH_ELSEWHERE_EXAMPLE_COM", "x:y"),
            ],
        );
        assert_eq!(
            c.for_registry("reg.example.com"),
            Some(("env".into(), "secret".into()))
        );

        assert!(Credentials::remove_login_from(&paks, "reg.example.com").unwrap());
        assert!(!Credentials::remove_login_from(&paks, "reg.example.com").unwrap());
        let c = load(&paks, &docker, &[]);
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
        let c = Credentials::load_from(
            &CredentialPaths {
                paks: Some(path.clone()),
                ..CredentialPaths::default()
            },
            [],
        );
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
    fn containers_files_in_their_order_then_docker() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, user: &str| {
            let path = dir.path().join(name);
            let auth = BASE64.encode(format!("{user}:pw").as_bytes());
            std::fs::write(
                &path,
                serde_json::json!({"auths": {"reg.example.com": {"auth": auth}}}).to_string(),
            )
            .unwrap();
            path
        };
        let paths = CredentialPaths {
            paks: Some(dir.path().join("missing.json")),
            containers: vec![file("run.json", "run"), file("config.json", "config")],
            docker: Some(file("docker.json", "docker")),
        };
        let user = |paths: &CredentialPaths| {
            Credentials::load_from(paths, [])
                .for_registry("reg.example.com")
                .map(|(u, _)| u)
        };
        assert_eq!(user(&paths).as_deref(), Some("run"));
        std::fs::remove_file(&paths.containers[0]).unwrap();
        assert_eq!(user(&paths).as_deref(), Some("config"));
        std::fs::remove_file(&paths.containers[1]).unwrap();
        assert_eq!(user(&paths).as_deref(), Some("docker"));
    }

    #[test]
    fn broken_files_are_warnings() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("auth.json");
        std::fs::write(&p, "{not json").unwrap();
        let c = Credentials::load_from(
            &CredentialPaths {
                docker: Some(p.clone()),
                ..CredentialPaths::default()
            },
            [],
        );
        assert_eq!(c.warnings().len(), 1);
        assert!(c.warnings()[0].contains("invalid JSON"));
        assert!(Credentials::save_login_to(&p, "x.example.com", "u", "p").is_err());
    }
}
