//! `git-tags`: the tags `git ls-remote` lists.

use std::collections::BTreeMap;
use std::process::Stdio;

use tokio::io::AsyncReadExt as _;

use super::{Found, Reader};
use crate::check::{CheckError, Target};
use crate::fetch::{Fetcher, authority};

/// The tags at `target.location`, in the host's turn.
pub(super) async fn tags(
    target: &Target,
    reader: &Reader<'_>,
    fetcher: &Fetcher,
) -> Result<Vec<Found>, CheckError> {
    let url = &target.location;
    let listed = match host(url) {
        Some(host) => fetcher.in_turn(&host, ls_remote(target, fetcher)).await?,
        // A local repository reaches no host.
        None => ls_remote(target, fetcher).await?,
    };
    Ok(parse(&listed)
        .into_iter()
        .filter_map(|(tag, commit)| {
            let version = reader.version(&tag)?.to_owned();
            Some(Found {
                version,
                tag: Some(tag),
                commit: Some(commit),
                url: None,
            })
        })
        .collect())
}

/// The host a git URL reaches: the authority of a URL, `HOST:22` of scp-like
/// `user@host:path`; `None` for `file://` and local paths.
pub(crate) fn host(url: &str) -> Option<String> {
    if let Ok(parsed) = reqwest::Url::parse(url) {
        return match parsed.scheme() {
            "file" => None,
            "ssh" => Some(format!(
                "{}:{}",
                parsed.host_str()?.to_ascii_lowercase(),
                parsed.port().unwrap_or(22)
            )),
            "git" => Some(format!(
                "{}:{}",
                parsed.host_str()?.to_ascii_lowercase(),
                parsed.port().unwrap_or(9418)
            )),
            _ => Some(authority(&parsed)),
        };
    }
    let (head, _) = url.split_once(':')?;
    let host = head.rsplit('@').next()?;
    (!host.contains('/')).then(|| format!("{}:22", host.to_ascii_lowercase()))
}

/// `git ls-remote --tags URL`'s output: no prompts, killed at the fetcher's timeout, at
/// most its body limit.
pub(crate) async fn ls_remote(target: &Target, fetcher: &Fetcher) -> Result<String, CheckError> {
    let url = &target.location;
    let options = fetcher.options();
    let mut child = tokio::process::Command::new("git")
        .args(["ls-remote", "--tags", "--", url])
        .env("GIT_TERMINAL_PROMPT", "0")
        // A recipe is data from elsewhere: only the transports a git source may name, never
        // `ext::` (which runs a command), whatever the user's git configuration allows.
        .env("GIT_ALLOW_PROTOCOL", "file:git:http:https:ssh")
        .env("GIT_ASKPASS", "true")
        .env("SSH_ASKPASS", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that a timeout also stops the helpers git starts
        // (`git-remote-https` would otherwise wait on the server alone).
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| CheckError::GitSpawn {
            name: target.name.clone(),
            url: url.clone(),
            source,
        })?;
    let group = child
        .id()
        .and_then(|id| rustix::process::Pid::from_raw(id.cast_signed()));
    let limit = options.max_body;
    let mut stdout = child
        .stdout
        .take()
        .expect("stdout is piped")
        .take(limit + 1);
    let mut stderr = child
        .stderr
        .take()
        .expect("stderr is piped")
        .take(64 * 1024);
    // Read apart, so that a child stopped on a full stdout pipe cannot hold stderr open.
    let errors = tokio::spawn(async move {
        let mut err = Vec::new();
        let _ = stderr.read_to_end(&mut err).await;
        err
    });
    let run = async {
        let mut out = Vec::new();
        stdout
            .read_to_end(&mut out)
            .await
            .map_err(|source| CheckError::GitSpawn {
                name: target.name.clone(),
                url: url.clone(),
                source,
            })?;
        if out.len() as u64 > limit {
            return Err(CheckError::GitTooLarge {
                name: target.name.clone(),
                url: url.clone(),
                limit,
            });
        }
        let status = child.wait().await.map_err(|source| CheckError::GitSpawn {
            name: target.name.clone(),
            url: url.clone(),
            source,
        })?;
        if !status.success() {
            let err = errors.await.unwrap_or_default();
            let stderr = String::from_utf8_lossy(&err);
            return Err(CheckError::Git {
                name: target.name.clone(),
                url: url.clone(),
                // Git's first line says what failed; the rest is advice.
                stderr: stderr
                    .lines()
                    .map(|l| l.trim().trim_start_matches("fatal: "))
                    .find(|l| !l.is_empty())
                    .unwrap_or("no message")
                    .to_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    };
    let result = tokio::time::timeout(options.timeout, run).await;
    if result.is_err()
        && let Some(group) = group
    {
        // The child itself is killed when dropped (`kill_on_drop`); its helpers here.
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
    }
    result.unwrap_or_else(|_| {
        Err(CheckError::GitTimeout {
            name: target.name.clone(),
            url: url.clone(),
            seconds: options.timeout.as_secs(),
        })
    })
}

/// Tag names and the commits they point to: an annotated tag's peeled line (`TAG^{}`)
/// gives its commit.
pub(crate) fn parse(listed: &str) -> BTreeMap<String, String> {
    let mut tags = BTreeMap::new();
    for line in listed.lines() {
        let Some((object, name)) = line.split_once('\t') else {
            continue;
        };
        let Some(tag) = name.strip_prefix("refs/tags/") else {
            continue;
        };
        match tag.strip_suffix("^{}") {
            Some(peeled) => {
                tags.insert(peeled.to_owned(), object.to_owned());
            }
            None => {
                tags.entry(tag.to_owned())
                    .or_insert_with(|| object.to_owned());
            }
        }
    }
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_of_git_urls() {
        assert_eq!(
            host("https://github.com/o/r.git").as_deref(),
            Some("github.com:443")
        );
        assert_eq!(
            host("git@github.com:o/r.git").as_deref(),
            Some("github.com:22")
        );
        assert_eq!(
            host("http://127.0.0.1:8080/r").as_deref(),
            Some("127.0.0.1:8080")
        );
        assert_eq!(host("file:///srv/r.git"), None);
        assert_eq!(host("/srv/r.git"), None);
    }

    #[test]
    fn peeled_tags_give_commits() {
        let tags = parse(
            "aaa\trefs/tags/v1.0\nbbb\trefs/tags/v1.1\nccc\trefs/tags/v1.1^{}\nddd\trefs/heads/x\n",
        );
        assert_eq!(tags["v1.0"], "aaa");
        assert_eq!(tags["v1.1"], "ccc");
        assert_eq!(tags.len(), 2);
    }
}
