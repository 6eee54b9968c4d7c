//! JSON APIs a registry serves beside `/v2/` (the catalogue of `paks serve`), asked with
//! the same scheme choice, credentials and retries as registry requests.

use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};

use super::Client;
use super::http::{Body, Req};
use crate::error::{ErrorKind, OciError};

/// The largest answer read (a package with many versions and builds is well under it).
const API_LIMIT: u64 = 16 * 1024 * 1024;

impl Client {
    /// `GET path_and_query` (`/api/v1/search?q=…`) on `registry`: the status and body of a
    /// 200 or a 404 (whose body tells an API's "no such thing" from a registry that does
    /// not serve the path); any other status is an error.
    /// `GET /v2/` first, so that a registry asking for credentials gets them with the
    /// request rather than only after a refusal.
    pub async fn get_api(
        &self,
        registry: &str,
        path_and_query: &str,
    ) -> Result<(u16, Vec<u8>), OciError> {
        // A refusal here is for the API request to report; the ping only learns the scheme.
        let _ = self.ping(registry).await;
        let what = format!("failed to ask `{registry}` for `{path_and_query}`");
        let url = self.base_url(registry)?.join(path_and_query).map_err(|e| {
            OciError::from(ErrorKind::InvalidReference {
                value: format!("{registry}{path_and_query}"),
                reason: e.to_string(),
            })
        })?;
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        let sent = self
            .send(Req {
                what: &what,
                registry: Some(registry),
                method: Method::GET,
                url,
                headers,
                body: Body::Empty,
                scopes: &[],
                retry: true,
            })
            .await?;
        match sent.resp.status() {
            status @ (StatusCode::OK | StatusCode::NOT_FOUND) => Ok((
                status.as_u16(),
                self.read_small(&what, sent, API_LIMIT).await?,
            )),
            _ => Err(self.status_error(&what, &Method::GET, sent).await),
        }
    }
}
