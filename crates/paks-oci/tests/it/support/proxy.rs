//! A recording reverse proxy in front of a registry, to count what a client sends.
//! It sets `X-Forwarded-Host`, so distribution's upload `Location`s point at the proxy.

use reqwest::Method;

use super::server::{Handler, Reply, Server};

pub async fn start(upstream: &str) -> Server {
    let upstream = upstream.to_owned();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let this_host = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
    let host_for_handler = this_host.clone();
    let server = Server::start(Handler {
        cut: Box::new(|_| None),
        handle: Box::new(move |req| {
            let http = http.clone();
            let upstream = upstream.clone();
            let me = host_for_handler.get().cloned().unwrap_or_default();
            Box::pin(async move {
                let method = Method::from_bytes(req.method.as_bytes()).unwrap();
                let mut rb = http.request(method, format!("http://{upstream}{}", req.target));
                for (k, v) in &req.headers {
                    if !matches!(k.as_str(), "host" | "connection" | "content-length") {
                        rb = rb.header(k, v);
                    }
                }
                rb = rb.header("x-forwarded-host", me);
                if !req.body.is_empty() || matches!(req.method.as_str(), "POST" | "PUT" | "PATCH") {
                    rb = rb.body(req.body.clone());
                }
                let resp = rb.send().await.expect("the upstream registry answers");
                let status = resp.status().as_u16();
                let headers: Vec<(String, String)> = resp
                    .headers()
                    .iter()
                    .filter(|(k, _)| {
                        !matches!(
                            k.as_str(),
                            "connection" | "transfer-encoding" | "keep-alive"
                        ) && (req.method == "HEAD" || k.as_str() != "content-length")
                    })
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
                    .collect();
                let body = resp.bytes().await.unwrap().to_vec();
                Reply::Full {
                    status,
                    headers,
                    body,
                }
            })
        }),
    })
    .await;
    this_host.set(server.host()).unwrap();
    server
}
