//! Content discovery: tags (paginated), the catalog (paginated) and referrers.

use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::manifests::OCI_INDEX;
use super::{
    ApiError, AppState, Code, api_version, blocking, hv, parse_digest, query_get, query_pairs,
};
use crate::names::RepoName;
use crate::storage::Descriptor;

/// `n` and `last` of a paginated list.
struct Page {
    n: Option<usize>,
    last: Option<String>,
}

fn page(uri: &Uri) -> Result<Page, ApiError> {
    let q = query_pairs(uri.query());
    let n = query_get(&q, "n")
        .map(|v| {
            v.parse::<usize>().map_err(|_| {
                ApiError::new(
                    Code::PaginationNumberInvalid,
                    format!("`n={v}` is not a number of entries"),
                )
            })
        })
        .transpose()?;
    Ok(Page {
        n,
        last: query_get(&q, "last").map(str::to_owned),
    })
}

/// Applies `last` and `n` to a sorted list; returns the page and the `Link` to the next.
fn paginate(all: Vec<String>, page: &Page, path: &str) -> (Vec<String>, Option<String>) {
    let mut items: Vec<String> = match &page.last {
        Some(last) => all
            .into_iter()
            .filter(|t| t.as_str() > last.as_str())
            .collect(),
        None => all,
    };
    let mut link = None;
    if let Some(n) = page.n
        && items.len() > n
    {
        items.truncate(n);
        if let Some(last) = items.last() {
            link = Some(format!("<{path}?n={n}&last={last}>; rel=\"next\""));
        }
    }
    (items, link)
}

fn json_response<T: Serialize>(body: &T, content_type: &str, link: Option<String>) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut r = (StatusCode::OK, bytes).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, hv(content_type));
    if let Some(link) = link {
        h.insert(header::LINK, hv(&link));
    }
    api_version(h);
    r
}

#[derive(Serialize)]
struct TagList {
    name: String,
    tags: Vec<String>,
}

pub async fn tags(state: &AppState, repo: RepoName, uri: &Uri) -> Result<Response, ApiError> {
    let page = page(uri)?;
    let storage = state.storage.clone();
    let r = repo.clone();
    let all = blocking(move || storage.list_tags(&r))
        .await?
        .ok_or_else(|| {
            ApiError::new(Code::NameUnknown, format!("repository `{repo}` is unknown"))
                .with_detail(serde_json::json!({ "name": repo.as_str() }))
        })?;
    let (tags, link) = paginate(all, &page, &format!("/v2/{repo}/tags/list"));
    Ok(json_response(
        &TagList {
            name: repo.to_string(),
            tags,
        },
        "application/json",
        link,
    ))
}

#[derive(Serialize)]
struct Catalog {
    repositories: Vec<String>,
}

pub async fn catalog(state: &AppState, uri: &Uri) -> Result<Response, ApiError> {
    let page = page(uri)?;
    let storage = state.storage.clone();
    let all = blocking(move || storage.list_repositories()).await?;
    let all = all.into_iter().map(|r| r.to_string()).collect();
    let (repositories, link) = paginate(all, &page, "/v2/_catalog");
    Ok(json_response(
        &Catalog { repositories },
        "application/json",
        link,
    ))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Index {
    schema_version: u32,
    media_type: &'static str,
    manifests: Vec<Descriptor>,
}

pub async fn referrers(
    state: &AppState,
    repo: RepoName,
    subject: &str,
    uri: &Uri,
) -> Result<Response, ApiError> {
    let subject = parse_digest(subject)?;
    let q = query_pairs(uri.query());
    let filter = query_get(&q, "artifactType").map(str::to_owned);
    let storage = state.storage.clone();
    let mut manifests = blocking(move || storage.referrers(&repo, &subject)).await?;
    if let Some(f) = &filter {
        manifests.retain(|d| d.artifact_type.as_deref() == Some(f.as_str()));
    }
    let mut response = json_response(
        &Index {
            schema_version: 2,
            media_type: OCI_INDEX,
            manifests,
        },
        OCI_INDEX,
        None,
    );
    if filter.is_some() {
        response
            .headers_mut()
            .insert("oci-filters-applied", hv("artifactType"));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_last_and_n() {
        let all: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        let p = |n, last: Option<&str>| Page {
            n,
            last: last.map(String::from),
        };
        let (items, link) = paginate(all.clone(), &p(Some(2), None), "/x");
        assert_eq!(items, ["a", "b"]);
        assert_eq!(link.unwrap(), "</x?n=2&last=b>; rel=\"next\"");
        let (items, link) = paginate(all.clone(), &p(Some(2), Some("b")), "/x");
        assert_eq!(items, ["c", "d"]);
        assert!(link.is_none());
        let (items, _) = paginate(all.clone(), &p(Some(0), None), "/x");
        assert!(items.is_empty());
        let (items, _) = paginate(all, &p(None, Some("c")), "/x");
        assert_eq!(items, ["d"]);
    }
}
