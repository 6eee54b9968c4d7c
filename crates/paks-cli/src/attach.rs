//! `paks attach` and `paks discover`: artifacts attached to a manifest (its referrers), as
//! `oras attach` and `oras discover` make and show them.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;

use paks_oci::{
    Client, DOCKER_MANIFEST_LIST, Descriptor, Digest, ImageIndex, OCI_INDEX, Reference, Repository,
};
use paks_remote::attach::ATTACHMENT_LIMIT;
use serde_json::json;

use crate::Failure;
use crate::cli::{AttachArgs, DiscoverArgs};
use crate::commands::{Ctx, failure, json_line, out, user_error};
use crate::printer::shown;
use crate::remote::{client, oci_failure, parse_reference, runtime};

/// How deep `discover` follows referrers of referrers (a signature of an SBOM is 2).
const MAX_DEPTH: usize = 8;

pub fn attach(ctx: &Ctx, args: &AttachArgs) -> Result<(), Failure> {
    let reference = parse_reference(&args.reference)?;
    let annotations = annotations(&args.annotations)?;
    let size = fs_err::metadata(&args.file)?.len();
    if size > ATTACHMENT_LIMIT {
        return Err(user_error(
            format!(
                "`{}` is {size} bytes, more than the {ATTACHMENT_LIMIT} an attachment may have",
                args.file.display()
            ),
            Some("attach a smaller file, or put the file in a package".into()),
        ));
    }
    let bytes = fs_err::read(&args.file)?;
    let media_type = args.media_type.as_deref().unwrap_or(&args.artifact_type);
    let client = client(ctx)?;
    let repo = reference.repo();
    let attached = runtime()?.block_on(async {
        let subject = subject_of(&client, &reference).await?;
        paks_remote::attach::attach(
            &client,
            &repo,
            &subject,
            &args.artifact_type,
            media_type,
            &bytes,
            annotations,
        )
        .await
        .map_err(failure)
        .map(|d| (subject, d))
    });
    let (subject, attached) = attached?;
    let at = format!("{repo}@{}", attached.digest);
    if args.json {
        json_line(&json!({
            "type": "attach",
            "reference": at,
            "digest": attached.digest.to_string(),
            "artifactType": args.artifact_type,
            "mediaType": media_type,
            "size": bytes.len(),
            "subject": subject.digest.to_string(),
        }))?;
    } else {
        writeln!(out(), "{at}")?;
    }
    ctx.reporter.status(&format!(
        "Attached `{}` to `{}` as `{}`",
        args.file.display(),
        subject.digest,
        shown(&args.artifact_type)
    ));
    Ok(())
}

/// `KEY=VALUE` pairs; a key given twice keeps its last value.
fn annotations(pairs: &[String]) -> Result<BTreeMap<String, String>, Failure> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => Err(user_error(
                format!("the annotation `{pair}` is not `KEY=VALUE`"),
                Some("write it as `--annotation org.example.key=value`".into()),
            )),
        })
        .collect()
}

/// The descriptor of the manifest `reference` names.
async fn subject_of(client: &Client, reference: &Reference) -> Result<Descriptor, Failure> {
    match client.head_manifest(reference).await.map_err(oci_failure)? {
        Some((digest, size, media_type)) => Ok(Descriptor::new(media_type, digest, size)),
        None => Err(user_error(
            format!("`{reference}` is not in the registry"),
            Some("check the repository and the tag, or push the manifest first".into()),
        )),
    }
}

/// One artifact of the tree, below the manifest it refers to.
struct Node {
    depth: usize,
    subject: Digest,
    descriptor: Descriptor,
}

pub fn discover(ctx: &Ctx, args: &DiscoverArgs) -> Result<(), Failure> {
    let reference = parse_reference(&args.reference)?;
    let client = client(ctx)?;
    let repo = reference.repo();
    let trees = runtime()?.block_on(async {
        let subject = subject_of(&client, &reference).await?;
        // A package's version tag names an index of its builds, and the evidence hangs off
        // each build: an index's manifests are shown too, each with its own tree.
        let mut subjects = vec![(subject.clone(), None)];
        if subject.media_type == OCI_INDEX || subject.media_type == DOCKER_MANIFEST_LIST {
            let index = client
                .get_manifest(&repo.reference_digest(&subject.digest))
                .await
                .map_err(oci_failure)?;
            if let Ok(index) = serde_json::from_slice::<ImageIndex>(&index.bytes) {
                subjects.extend(index.manifests.into_iter().map(|m| {
                    let platform = m.platform.as_ref().map(|p| {
                        let mut s = format!("{}/{}", p.os, p.architecture);
                        if let Some(v) = &p.variant {
                            s = format!("{s}/{v}");
                        }
                        s
                    });
                    (m, platform)
                }));
            }
        }
        let mut trees = Vec::new();
        for (descriptor, platform) in subjects {
            let nodes = walk(
                &client,
                &repo,
                &descriptor.digest,
                args.artifact_type.as_deref(),
            )
            .await
            .map_err(failure)?;
            trees.push((descriptor.digest, platform, nodes));
        }
        Ok::<_, Failure>(trees)
    })?;
    let top = trees[0].0.clone();
    let mut count = 0;
    let mut o = out();
    for (i, (digest, platform, nodes)) in trees.iter().enumerate() {
        count += nodes.len();
        if args.json {
            for n in nodes {
                json_line(&json!({
                    "type": "referrer",
                    "depth": n.depth,
                    "subject": n.subject.to_string(),
                    "digest": n.descriptor.digest.to_string(),
                    "mediaType": n.descriptor.media_type,
                    "artifactType": n.descriptor.artifact_type,
                    "size": n.descriptor.size,
                    "annotations": n.descriptor.annotations,
                }))?;
            }
            continue;
        }
        // The index itself always; its manifests when something is attached to them.
        if i > 0 && nodes.is_empty() {
            continue;
        }
        match platform {
            Some(p) => writeln!(o, "{repo}@{digest} ({p}, in the index)")?,
            None if i > 0 => writeln!(o, "{repo}@{digest} (in the index)")?,
            None => writeln!(o, "{repo}@{digest}")?,
        }
        for line in tree_lines(nodes) {
            writeln!(o, "{line}")?;
        }
    }
    let manifests = trees.len() - 1;
    ctx.reporter.status(&format!(
        "Found {count} artifact{} attached to `{top}`{}",
        crate::commands::plural(count),
        if manifests == 0 {
            String::new()
        } else {
            format!(
                " and the {manifests} manifest{} it lists",
                crate::commands::plural(manifests)
            )
        }
    ));
    Ok(())
}

/// The referrers of `subject`, depth first, each followed by its own referrers (to
/// [`MAX_DEPTH`]; a manifest met twice is shown once). Ordered by artifact type, then
/// digest, so the output is stable. `artifact_type` filters the first level only.
async fn walk(
    client: &Client,
    repo: &Repository,
    subject: &Digest,
    artifact_type: Option<&str>,
) -> Result<Vec<Node>, paks_remote::RemoteError> {
    let mut nodes = Vec::new();
    let mut seen = HashSet::from([subject.clone()]);
    // A stack of (depth, subject, referrers still to visit, reversed).
    let mut first = paks_remote::attach::list(client, repo, subject, artifact_type).await?;
    sort(&mut first);
    let mut stack = vec![(1, subject.clone(), first)];
    while let Some((depth, parent, pending)) = stack.last_mut() {
        let Some(descriptor) = pending.pop() else {
            stack.pop();
            continue;
        };
        if !seen.insert(descriptor.digest.clone()) {
            continue;
        }
        let (depth, parent) = (*depth, parent.clone());
        let digest = descriptor.digest.clone();
        nodes.push(Node {
            depth,
            subject: parent,
            descriptor,
        });
        if depth < MAX_DEPTH {
            let mut below = paks_remote::attach::list(client, repo, &digest, None).await?;
            sort(&mut below);
            stack.push((depth + 1, digest, below));
        }
    }
    Ok(nodes)
}

/// Sorted so that popping from the end visits artifact types, then digests, in order.
fn sort(referrers: &mut [Descriptor]) {
    referrers.sort_by(|a, b| (&b.artifact_type, &b.digest).cmp(&(&a.artifact_type, &a.digest)));
}

/// The tree as `oras discover` draws it: under each manifest, its referrers' artifact
/// types, and under each type the digests of that type.
fn tree_lines(nodes: &[Node]) -> Vec<String> {
    let mut lines = Vec::new();
    draw(nodes, 1, "", &mut lines);
    lines
}

/// Draws the nodes at `depth` at the front of `nodes` (up to the next one shallower),
/// with everything below them.
fn draw(nodes: &[Node], depth: usize, prefix: &str, lines: &mut Vec<String>) {
    // The spans of this level: each node at `depth` and the deeper ones after it.
    let mut spans: Vec<&[Node]> = Vec::new();
    let mut i = 0;
    while i < nodes.len() && nodes[i].depth == depth {
        let end = nodes[i + 1..]
            .iter()
            .position(|n| n.depth <= depth)
            .map_or(nodes.len(), |p| i + 1 + p);
        spans.push(&nodes[i..end]);
        i = end;
    }
    let kind = |span: &[Node]| span[0].descriptor.artifact_type.clone().unwrap_or_default();
    let mut groups: Vec<(String, Vec<&[Node]>)> = Vec::new();
    for span in spans {
        match groups.last_mut() {
            Some((k, g)) if *k == kind(span) => g.push(span),
            _ => groups.push((kind(span), vec![span])),
        }
    }
    let count = groups.len();
    for (gi, (kind, spans)) in groups.into_iter().enumerate() {
        let last_group = gi + 1 == count;
        let (branch, inner) = if last_group {
            ("└── ", "    ")
        } else {
            ("├── ", "│   ")
        };
        let name = if kind.is_empty() {
            "(no artifact type)".to_owned()
        } else {
            shown(&kind).into_owned()
        };
        lines.push(format!("{prefix}{branch}{name}"));
        let prefix = format!("{prefix}{inner}");
        let n = spans.len();
        for (si, span) in spans.into_iter().enumerate() {
            let (branch, inner) = if si + 1 == n {
                ("└── ", "    ")
            } else {
                ("├── ", "│   ")
            };
            lines.push(format!("{prefix}{branch}{}", span[0].descriptor.digest));
            draw(&span[1..], depth + 1, &format!("{prefix}{inner}"), lines);
        }
    }
}
