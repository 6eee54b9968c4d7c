//! Credentials from the environment, each for the one registry it names.

use std::collections::BTreeMap;

use super::Login;
use super::file::normalize_host;

/// Prefix of the per-registry variables: `PAKS_REGISTRY_AUTH_<HOST>=user:password`.
pub const ENV_AUTH_PREFIX: &str = "PAKS_REGISTRY_AUTH_";
/// The registry (`host[:port]`) that [`ENV_USERNAME`] and [`ENV_PASSWORD`] are for.
pub const ENV_REGISTRY: &str = "PAKS_REGISTRY";
/// Environment variable with the user name for the registry [`ENV_REGISTRY`] names.
pub const ENV_USERNAME: &str = "PAKS_REGISTRY_USERNAME";
/// Environment variable with the password (or token) for the registry [`ENV_REGISTRY`]
/// names.
pub const ENV_PASSWORD: &str = "PAKS_REGISTRY_PASSWORD";

/// The variable that holds `host`'s credentials: `ghcr.io` → `PAKS_REGISTRY_AUTH_GHCR_IO`,
/// `127.0.0.1:5000` → `PAKS_REGISTRY_AUTH_127_0_0_1_5000` (upper case; `.`, `:` and `-`
/// become `_`, as no shell allows them in a name).
pub fn env_var_for(host: &str) -> String {
    let host = normalize_host(host);
    let suffix: String = host
        .chars()
        .map(|c| match c {
            '.' | ':' | '-' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect();
    format!("{ENV_AUTH_PREFIX}{suffix}")
}

/// What the environment holds: variable name → login, for the per-registry form, and
/// the host the `USERNAME`/`PASSWORD` pair is for.
#[derive(Debug, Clone, Default)]
pub(super) struct EnvAuth {
    pub by_var: BTreeMap<String, Login>,
    pub pair: Option<(String, Login)>,
}

impl EnvAuth {
    /// Read the variables from `vars` (the process's environment, or a test's);
    /// malformed ones are skipped with a warning that names the variable, never its value.
    pub fn read(
        vars: impl IntoIterator<Item = (String, String)>,
        warnings: &mut Vec<String>,
    ) -> Self {
        let mut env = Self::default();
        let (mut user, mut password, mut registry) = (None, None, None);
        for (name, value) in vars {
            match name.as_str() {
                ENV_USERNAME => user = Some(value).filter(|v| !v.is_empty()),
                ENV_PASSWORD => password = Some(value),
                ENV_REGISTRY => registry = Some(value).filter(|v| !v.trim().is_empty()),
                _ if name.starts_with(ENV_AUTH_PREFIX) => match value.split_once(':') {
                    Some((u, p)) if !u.is_empty() => {
                        env.by_var
                            .insert(name, Login::new(u.to_owned(), p.to_owned()));
                    }
                    _ => warnings.push(format!(
                        "ignoring `{name}`: its value is not `user:password`"
                    )),
                },
                _ => {}
            }
        }
        match (user, password, registry) {
            (Some(u), Some(p), Some(r)) => {
                env.pair = Some((normalize_host(r.trim()), Login::new(u, p)));
            }
            (Some(_), Some(_), None) => warnings.push(format!(
                "ignoring `{ENV_USERNAME}` and `{ENV_PASSWORD}`: they are sent only to the registry `{ENV_REGISTRY}` names; set `{ENV_REGISTRY}=<host>`, or use `{ENV_AUTH_PREFIX}<HOST>=user:password`"
            )),
            (Some(_), None, _) | (None, Some(_), _) => warnings.push(format!(
                "ignoring `{ENV_USERNAME}`/`{ENV_PASSWORD}`: only one of the two is set"
            )),
            (None, None, _) => {}
        }
        env
    }

    /// The login the environment gives `host` (normalised), if any: the per-registry
    /// variable first.
    pub fn get(&self, host: &str) -> Option<&Login> {
        self.by_var.get(&env_var_for(host)).or_else(|| {
            self.pair
                .as_ref()
                .filter(|(h, _)| h == host)
                .map(|(_, l)| l)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn names() {
        assert_eq!(env_var_for("ghcr.io"), "PAKS_REGISTRY_AUTH_GHCR_IO");
        assert_eq!(
            env_var_for("127.0.0.1:5000"),
            "PAKS_REGISTRY_AUTH_127_0_0_1_5000"
        );
        assert_eq!(
            env_var_for("https://My-Reg.example.com/v2/"),
            "PAKS_REGISTRY_AUTH_MY_REG_EXAMPLE_COM"
        );
    }

    #[test]
    fn each_login_goes_to_its_registry_only() {
        let mut w = Vec::new();
        let env = EnvAuth::read(
            vars(&[
                ("PAKS_REGISTRY_AUTH_GHCR_IO", "me:tok:en"),
                ("PAKS_REGISTRY_AUTH_BROKEN", "no-colon"),
                (ENV_USERNAME, "ci"),
                (ENV_PASSWORD, "secret"),
                (ENV_REGISTRY, "Reg.Example.com:5000"),
            ]),
            &mut w,
        );
        assert_eq!(
            env.get("ghcr.io"),
            Some(&Login::new("me".into(), "tok:en".into()))
        );
        assert_eq!(
            env.get("reg.example.com:5000"),
            Some(&Login::new("ci".into(), "secret".into()))
        );
        assert_eq!(env.get("other.example.com"), None);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("PAKS_REGISTRY_AUTH_BROKEN") && !w[0].contains("no-colon"));

        let mut w = Vec::new();
        let env = EnvAuth::read(vars(&[(ENV_USERNAME, "ci"), (ENV_PASSWORD, "s")]), &mut w);
        assert!(env.pair.is_none());
        assert!(w[0].contains(ENV_REGISTRY), "{w:?}");
    }
}
