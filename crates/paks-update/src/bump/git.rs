//! The commit a release's tag names in a git repository, asked of the repository with
//! `git ls-remote` (no clone).

use paks_types::LooseVersion;

use crate::Fetcher;
use crate::bump::BumpError;

/// The tags a release may be under, most likely first: as upstream wrote it, then with
/// and without a `v`.
pub fn tag_candidates(upstream: &LooseVersion) -> Vec<String> {
    let text = upstream.text();
    let bare = text.strip_prefix(['v', 'V']).unwrap_or(text);
    let mut out = vec![text.to_owned()];
    for tag in [format!("v{bare}"), bare.to_owned()] {
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    out
}

/// The full commit id of the first of `tags` that `url` has, and that tag. An annotated
/// tag names its tag object; the commit is the peeled `^{}` line `ls-remote` prints
/// beside it.
pub async fn tag_commit(
    url: &str,
    tags: &[String],
    fetcher: &Fetcher,
) -> Result<(String, String), BumpError> {
    let mut args = vec!["ls-remote".to_owned(), "--".to_owned(), url.to_owned()];
    // The peeled line is only listed when asked for by its own name.
    for tag in tags {
        args.push(format!("refs/tags/{tag}"));
        args.push(format!("refs/tags/{tag}^{{}}"));
    }
    let host = host_of(url);
    let output = fetcher
        .in_turn(
            &host,
            tokio::process::Command::new("git")
                .args(&args)
                .env("GIT_TERMINAL_PROMPT", "0")
                .kill_on_drop(true)
                .output(),
        )
        .await
        .map_err(|source| BumpError::GitSpawn { source })?;
    if !output.status.success() {
        return Err(BumpError::Git {
            url: url.to_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    let listing = String::from_utf8_lossy(&output.stdout);
    for tag in tags {
        let plain = format!("refs/tags/{tag}");
        let peeled = format!("{plain}^{{}}");
        let find = |name: &str| {
            listing.lines().find_map(|line| {
                let (id, refname) = line.split_once('\t')?;
                (refname == name).then(|| id.trim().to_owned())
            })
        };
        if let Some(id) = find(&peeled).or_else(|| find(&plain)) {
            return Ok((id, tag.clone()));
        }
    }
    Err(BumpError::NoTag {
        url: url.to_owned(),
        tags: tags.to_vec(),
    })
}

/// The host a git URL reaches, for taking turns: the URL's authority, `host` of
/// `user@host:path`, or the URL itself (`file://`, a path).
fn host_of(url: &str) -> String {
    if let Ok(parsed) = reqwest::Url::parse(url)
        && parsed.host_str().is_some()
    {
        return crate::fetch::authority(&parsed);
    }
    match url.split_once(':') {
        Some((user_host, _)) if !url.contains("://") => user_host
            .rsplit('@')
            .next()
            .unwrap_or(user_host)
            .to_ascii_lowercase(),
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tries_the_tag_as_written_then_with_and_without_v() {
        let v = |t: &str| tag_candidates(&LooseVersion::parse(t).unwrap());
        assert_eq!(v("1.2"), ["1.2", "v1.2"]);
        assert_eq!(v("v1.2"), ["v1.2", "1.2"]);
        assert_eq!(v("V1.2"), ["V1.2", "v1.2", "1.2"]);
    }

    #[test]
    fn takes_turns_by_host() {
        assert_eq!(
            host_of("https://Example.invalid/x.git"),
            "example.invalid:443"
        );
        assert_eq!(host_of("git@example.invalid:x/y.git"), "example.invalid");
        assert_eq!(host_of("file:///srv/x.git"), "file:///srv/x.git");
    }
}
