//! `json`: versions at a path in a JSON document (a release API).

use serde_json::Value;

use super::{Found, Reader};
use crate::check::{CheckError, Target};
use crate::fetch::Fetcher;

/// The strings at `target.path` in the document at `target.location`.
pub(super) async fn versions(
    target: &Target,
    reader: &Reader<'_>,
    fetcher: &Fetcher,
) -> Result<Vec<Found>, CheckError> {
    let url = &target.location;
    let body = fetcher.get(url).await.map_err(|source| CheckError::Fetch {
        name: target.name.clone(),
        url: url.clone(),
        source,
    })?;
    let document: Value = serde_json::from_slice(&body).map_err(|source| CheckError::Json {
        name: target.name.clone(),
        url: url.clone(),
        source,
    })?;
    let path = target.path.as_deref().unwrap_or("*");
    let keys: Vec<&str> = path.split('.').collect();
    let mut texts = Vec::new();
    walk(&document, &keys, &mut texts);
    if texts.is_empty() {
        return Err(CheckError::JsonPath {
            name: target.name.clone(),
            url: url.clone(),
            path: path.to_owned(),
        });
    }
    Ok(texts
        .into_iter()
        .filter_map(|text| Some(Found::text(reader.version(text)?.to_owned())))
        .collect())
}

/// Collects the strings at `keys` under `value`; `*` is every element of an array or
/// value of an object, and, last in the path, an object's keys where its values are not
/// strings (`versions.*` on an object keyed by version). A branch that does not have a
/// key is skipped.
fn walk<'v>(value: &'v Value, keys: &[&str], out: &mut Vec<&'v str>) {
    let Some((key, rest)) = keys.split_first() else {
        if let Value::String(text) = value {
            out.push(text);
        }
        return;
    };
    match (value, *key) {
        (Value::Array(items), "*") => items.iter().for_each(|v| walk(v, rest, out)),
        (Value::Object(map), "*") if rest.is_empty() => {
            for (key, v) in map {
                out.push(v.as_str().unwrap_or(key));
            }
        }
        (Value::Object(map), "*") => map.values().for_each(|v| walk(v, rest, out)),
        (Value::Object(map), key) => {
            if let Some(v) = map.get(key) {
                walk(v, rest, out);
            }
        }
        (Value::Array(items), index) => {
            if let Some(v) = index.parse::<usize>().ok().and_then(|i| items.get(i)) {
                walk(v, rest, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(doc: &str, path: &str) -> Vec<String> {
        let value: Value = serde_json::from_str(doc).unwrap();
        let keys: Vec<&str> = path.split('.').collect();
        let mut out = Vec::new();
        walk(&value, &keys, &mut out);
        out.into_iter().map(str::to_owned).collect()
    }

    #[test]
    fn walks_paths() {
        let releases = r#"[{"tag_name":"v1.2"},{"tag_name":"v1.3"},{"name":"x"}]"#;
        assert_eq!(strings(releases, "*.tag_name"), ["v1.2", "v1.3"]);
        let keyed = r#"{"versions":{"1.0":{},"2.0":{}},"latest":"2.0"}"#;
        assert_eq!(strings(keyed, "latest"), ["2.0"]);
        assert_eq!(strings(keyed, "versions.*"), ["1.0", "2.0"]);
        let mut values = strings(r#"{"s":"1.2","b":"1.3rc1"}"#, "*");
        values.sort();
        assert_eq!(values, ["1.2", "1.3rc1"]);
        assert_eq!(
            strings(r#"{"a":[["1.0"],["2.0"]]}"#, "a.*.0"),
            ["1.0", "2.0"]
        );
        assert!(strings(releases, "tag_name").is_empty());
    }
}
