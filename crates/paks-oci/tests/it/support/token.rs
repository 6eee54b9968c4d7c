//! A token service for distribution's `auth.token`: JWTs (ES256) with the signing
//! certificate in the `x5c` header, the `iss`, `aud` (= service), `exp`/`nbf`/`iat` and
//! `access` claims that distribution 2.8 checks. The certificate is self-signed and is
//! the registry's `rootcertbundle`.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use data_encoding::{BASE64, BASE64URL_NOPAD};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};

use super::server::{Handler, Reply, Request, Server};

pub const SERVICE: &str = "paks-test-registry";
pub const ISSUER: &str = "paks-test-issuer";

pub struct TokenServer {
    pub server: Server,
    pub cert_pem: String,
    /// Requests that got a token: their `scope` parameters.
    pub issued: Arc<Mutex<Vec<Vec<String>>>>,
}

pub struct TokenConfig {
    pub user: String,
    pub password: String,
    /// Answer with `access_token` instead of `token`.
    pub oauth_style: bool,
}

impl TokenServer {
    pub async fn start(config: TokenConfig) -> Self {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["paks-token-test".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let cert_pem = cert.pem();
        let x5c = BASE64.encode(cert.der());
        let signer = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &key.serialize_der(),
            &SystemRandom::new(),
        )
        .unwrap();
        let issued = Arc::new(Mutex::new(Vec::new()));
        let state = Arc::new((signer, x5c, config, issued.clone()));
        let server = Server::start(Handler::sync(move |req| {
            let (signer, x5c, config, issued) = &*state;
            token_reply(req, signer, x5c, config, issued)
        }))
        .await;
        Self {
            server,
            cert_pem,
            issued,
        }
    }

    pub fn realm(&self) -> String {
        format!("http://{}/token", self.server.host())
    }
}

fn token_reply(
    req: &Request,
    signer: &EcdsaKeyPair,
    x5c: &str,
    config: &TokenConfig,
    issued: &Mutex<Vec<Vec<String>>>,
) -> Reply {
    if req.path() != "/token" || req.query("service").as_deref() != Some(SERVICE) {
        return Reply::status(400);
    }
    let expected = format!(
        "Basic {}",
        BASE64.encode(format!("{}:{}", config.user, config.password).as_bytes())
    );
    let subject = match req.header("authorization") {
        Some(a) if a == expected => config.user.clone(),
        Some(_) => return Reply::json(401, &serde_json::json!({"details": "wrong credentials"})),
        // Anonymous: a token without any access.
        None => String::new(),
    };
    let scopes = req.query_all("scope");
    let access: Vec<serde_json::Value> = if subject.is_empty() {
        Vec::new()
    } else {
        scopes
            .iter()
            .filter_map(|s| {
                let (kind, rest) = s.split_once(':')?;
                let (name, actions) = rest.rsplit_once(':')?;
                Some(serde_json::json!({
                    "type": kind, "name": name,
                    "actions": actions.split(',').collect::<Vec<_>>(),
                }))
            })
            .collect()
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [x5c]});
    let claims = serde_json::json!({
        "iss": ISSUER, "sub": subject, "aud": SERVICE,
        "exp": now + 300, "nbf": now - 10, "iat": now,
        "jti": format!("{now}-{}", scopes.join(" ")),
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        BASE64URL_NOPAD.encode(header.to_string().as_bytes()),
        BASE64URL_NOPAD.encode(claims.to_string().as_bytes())
    );
    let sig = signer
        .sign(&SystemRandom::new(), signing_input.as_bytes())
        .unwrap();
    let jwt = format!("{signing_input}.{}", BASE64URL_NOPAD.encode(sig.as_ref()));
    issued.lock().unwrap().push(scopes);
    let field = if config.oauth_style {
        "access_token"
    } else {
        "token"
    };
    Reply::json(200, &serde_json::json!({ field: jwt, "expires_in": 300 }))
}
