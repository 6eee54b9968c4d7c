//! The image's last layer: `/opt/paks/view`, a symlink tree merging the packages' prefixes
//! (as `paks view` makes on a host), and `/etc/profile.d/paks.sh` with their environment.
//! Made from the packages' listed contents alone: no layer is read.

use std::collections::BTreeMap;

use paks_store::EnvSet;
use paks_types::{EnvVar, PackageId};

use crate::ImageError;

/// Where packages live in an image: their canonical prefix, so nothing is relocated.
pub const STORE: &str = "/opt/paks/store";
/// Where the view is.
pub const VIEW: &str = "/opt/paks/view";
/// The profile script login shells read.
pub const PROFILE: &str = "etc/profile.d/paks.sh";

/// One package, as the view sees it.
#[derive(Debug, Clone, Copy)]
pub struct ViewPackage<'a> {
    pub id: &'a PackageId,
    /// Non-directory entries of its prefix, relative.
    pub contents: &'a [String],
    pub env: &'a [EnvVar],
    /// Asked for by name (wins over dependencies where paths collide).
    pub explicit: bool,
}

/// The view layer's tar (uncompressed) and what it says.
#[derive(Debug)]
pub struct View {
    pub tar: Vec<u8>,
    pub env: EnvSet,
    pub links: usize,
    /// Paths two packages provide; the first one's is kept.
    pub conflicts: Vec<String>,
}

#[derive(Debug)]
enum Node {
    Dir,
    /// A symlink to `target`, into the prefix of package `owner` (an index).
    Link {
        target: String,
        owner: usize,
    },
    File(Vec<u8>),
}

/// Build the view of `packages` (dependencies first).
pub fn build(packages: &[ViewPackage<'_>]) -> Result<View, ImageError> {
    let view_rel = VIEW.trim_start_matches('/');
    let mut nodes: BTreeMap<String, Node> = BTreeMap::new();
    for dir in ["etc", "etc/profile.d", "opt", "opt/paks", view_rel] {
        nodes.insert(dir.to_owned(), Node::Dir);
    }
    let mut conflicts = Vec::new();
    let by_precedence = packages
        .iter()
        .enumerate()
        .filter(|(_, p)| p.explicit)
        .chain(packages.iter().enumerate().filter(|(_, p)| !p.explicit));
    for (owner, p) in by_precedence {
        for rel in p.contents {
            check_relative(p.id, rel)?;
            let path = format!("{view_rel}/{rel}");
            let target = format!("{STORE}/{}/{rel}", p.id);
            if !insert_link(&mut nodes, view_rel, &path, Node::Link { target, owner }) {
                conflicts.push(rel.clone());
            }
        }
    }

    // Search paths point into the view; each package's own exports at its prefix.
    let mut env = EnvSet::default();
    let has_dir = |dir: &str| matches!(nodes.get(&format!("{view_rel}/{dir}")), Some(Node::Dir));
    env.add_package(VIEW, has_dir, &[]);
    for p in packages {
        env.add_package(&format!("{STORE}/{}", p.id), |_| false, p.env);
    }
    fold(&mut nodes, view_rel, packages);
    let links = nodes
        .values()
        .filter(|n| matches!(n, Node::Link { .. }))
        .count();
    let script = format!(
        "# The environment of the paks packages in {STORE} (written by `paks image build`).\n{}",
        env.shell_exports()
    );
    nodes.insert(PROFILE.to_owned(), Node::File(script.into_bytes()));

    let mut builder = tar::Builder::new(Vec::new());
    for (path, node) in &nodes {
        let written = match node {
            Node::Dir => paks_archive::tar_append_dir(&mut builder, format!("{path}/").as_bytes()),
            Node::Link { target, .. } => {
                let mut header = paks_archive::tar_header(tar::EntryType::Symlink, 0o777, 0);
                paks_archive::tar_append_symlink(
                    &mut builder,
                    &mut header,
                    path.as_bytes(),
                    target.as_bytes(),
                )
            }
            Node::File(bytes) => {
                let mut header =
                    paks_archive::tar_header(tar::EntryType::Regular, 0o644, bytes.len() as u64);
                builder.append_data(&mut header, path, bytes.as_slice())
            }
        };
        written.expect("writing a tar into memory does not fail");
    }
    let tar = builder.into_inner().expect("a tar in memory");
    Ok(View {
        tar,
        env,
        links,
        conflicts,
    })
}

/// Fold every directory of the view whose links all go into one package into one link to
/// that package's directory, as GNU stow does: `lib/python3.11` with its thousands of
/// files becomes one entry. Directories several packages fill stay directories.
fn fold(nodes: &mut BTreeMap<String, Node>, root: &str, packages: &[ViewPackage<'_>]) {
    // The one package under each directory below the view's root, or `None` for several.
    let mut owners: BTreeMap<String, Option<usize>> = BTreeMap::new();
    for (path, node) in nodes.iter() {
        let Node::Link { owner, .. } = node else {
            continue;
        };
        let mut end = root.len();
        while let Some(i) = path[end + 1..].find('/') {
            end = end + 1 + i;
            owners
                .entry(path[..end].to_owned())
                .and_modify(|o| {
                    if *o != Some(*owner) {
                        *o = None;
                    }
                })
                .or_insert(Some(*owner));
        }
    }
    let mut folded: Vec<(String, usize)> = Vec::new();
    for (dir, owner) in owners {
        let inside_folded = folded.last().is_some_and(|(f, _)| {
            dir.strip_prefix(f.as_str())
                .is_some_and(|r| r.starts_with('/'))
        });
        if let (Some(owner), false) = (owner, inside_folded) {
            folded.push((dir, owner));
        }
    }
    for (dir, owner) in folded {
        let below = format!("{dir}/");
        let doomed: Vec<String> = nodes
            .range(below.clone()..)
            .take_while(|(k, _)| k.starts_with(&below))
            .map(|(k, _)| k.clone())
            .collect();
        for k in doomed {
            nodes.remove(&k);
        }
        let rel = &dir[root.len() + 1..];
        let target = format!("{STORE}/{}/{rel}", packages[owner].id);
        nodes.insert(dir, Node::Link { target, owner });
    }
}

/// Add `path` as a link (and its parents as directories) unless it or a parent is taken.
fn insert_link(nodes: &mut BTreeMap<String, Node>, root: &str, path: &str, link: Node) -> bool {
    let mut end = root.len();
    while let Some(i) = path[end + 1..].find('/') {
        end = end + 1 + i;
        match nodes.get(&path[..end]) {
            Some(Node::Dir) => {}
            Some(_) => return false,
            None => {
                nodes.insert(path[..end].to_owned(), Node::Dir);
            }
        }
    }
    if nodes.contains_key(path) {
        return false;
    }
    nodes.insert(path.to_owned(), link);
    true
}

/// A listed path must stay inside the prefix: it comes from a registry.
fn check_relative(id: &PackageId, rel: &str) -> Result<(), ImageError> {
    let bad = rel.is_empty()
        || rel.starts_with('/')
        || rel.contains('\0')
        || rel
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..");
    if bad {
        return Err(ImageError::BadContents {
            id: id.clone(),
            path: rel.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use paks_types::EnvAction;

    fn id(s: &str) -> PackageId {
        format!("{}-{s}-1.0.0", "a".repeat(32)).parse().unwrap()
    }

    fn entries(tar: &[u8]) -> Vec<(String, String)> {
        let mut a = tar::Archive::new(tar);
        a.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let target = e
                    .link_name()
                    .unwrap()
                    .map(|t| t.display().to_string())
                    .unwrap_or_default();
                (e.path().unwrap().display().to_string(), target)
            })
            .collect()
    }

    #[test]
    fn links_files_merges_dirs_and_first_explicit_wins() {
        let (lib, app) = (id("lib"), id("app"));
        let lib_contents = vec![
            "bin/lib-helper".to_owned(),
            "bin/tool".to_owned(),
            "lib/libx.so.1".to_owned(),
        ];
        let app_contents = vec!["bin/app".to_owned(), "bin/tool".to_owned()];
        let env = vec![EnvVar {
            name: "APP_DATA".into(),
            value: "{prefix}/share".into(),
            action: EnvAction::Set,
        }];
        let view = build(&[
            ViewPackage {
                id: &lib,
                contents: &lib_contents,
                env: &[],
                explicit: false,
            },
            ViewPackage {
                id: &app,
                contents: &app_contents,
                env: &env,
                explicit: true,
            },
        ])
        .unwrap();
        // bin/ has two packages' files; lib/ one package's, so it is one link.
        assert_eq!(view.links, 4);
        assert_eq!(view.conflicts, ["bin/tool"]);
        let got = entries(&view.tar);
        let link = |p: &str| {
            got.iter()
                .find(|(path, _)| path == p)
                .map(|(_, t)| t.clone())
        };
        assert_eq!(
            link("opt/paks/view/bin/tool").unwrap(),
            format!("/opt/paks/store/{app}/bin/tool")
        );
        assert_eq!(
            link("opt/paks/view/lib").unwrap(),
            format!("/opt/paks/store/{lib}/lib")
        );
        assert!(
            link("opt/paks/view/lib/libx.so.1").is_none(),
            "folded: {got:?}"
        );
        assert_eq!(
            link("opt/paks/view/bin/").unwrap(),
            "",
            "a directory: {got:?}"
        );
        assert_eq!(
            link("opt/paks/view/bin/lib-helper").unwrap(),
            format!("/opt/paks/store/{lib}/bin/lib-helper")
        );
        let script = String::from_utf8(
            tar::Archive::new(&view.tar[..])
                .entries()
                .unwrap()
                .map(Result::unwrap)
                .find(|e| e.path().unwrap().ends_with("paks.sh"))
                .map(|mut e| {
                    let mut s = Vec::new();
                    std::io::Read::read_to_end(&mut e, &mut s).unwrap();
                    s
                })
                .unwrap(),
        )
        .unwrap();
        assert!(
            script.contains("export PATH='/opt/paks/view/bin'"),
            "{script}"
        );
        assert!(
            script.contains("export LD_LIBRARY_PATH='/opt/paks/view/lib'"),
            "{script}"
        );
        assert!(
            script.contains(&format!("export APP_DATA='/opt/paks/store/{app}/share'")),
            "{script}"
        );
        // Deterministic.
        let again = build(&[
            ViewPackage {
                id: &lib,
                contents: &lib_contents,
                env: &[],
                explicit: false,
            },
            ViewPackage {
                id: &app,
                contents: &app_contents,
                env: &env,
                explicit: true,
            },
        ])
        .unwrap();
        assert_eq!(view.tar, again.tar);
    }

    #[test]
    fn a_file_where_a_directory_is_wanted_is_a_conflict_not_a_crash() {
        let (a, b) = (id("a"), id("b"));
        let ca = vec!["share".to_owned()];
        let cb = vec!["share/x".to_owned()];
        let view = build(&[
            ViewPackage {
                id: &a,
                contents: &ca,
                env: &[],
                explicit: true,
            },
            ViewPackage {
                id: &b,
                contents: &cb,
                env: &[],
                explicit: true,
            },
        ])
        .unwrap();
        assert_eq!(view.conflicts, ["share/x"]);
    }

    #[test]
    fn refuses_paths_that_leave_the_prefix() {
        let a = id("a");
        for bad in ["../../etc/passwd", "/etc/passwd", "bin//x", "bin/./x", ""] {
            let contents = vec![bad.to_owned()];
            let e = build(&[ViewPackage {
                id: &a,
                contents: &contents,
                env: &[],
                explicit: true,
            }])
            .unwrap_err();
            assert!(e.to_string().contains("lists the path"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_profile_script_keeps_shell_syntax_in_values_as_text() {
        let app = id("app");
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("pwned");
        let value = format!(
            r#"it's "q" $HOME $(touch {m}) `touch {m}` \ ;|&"#,
            m = marker.display()
        );
        let env = vec![EnvVar {
            name: "APP_TEXT".into(),
            value: value.clone(),
            action: EnvAction::Set,
        }];
        let contents = vec!["bin/app".to_owned()];
        let view = build(&[ViewPackage {
            id: &app,
            contents: &contents,
            env: &env,
            explicit: true,
        }])
        .unwrap();
        // Unpack what the image would carry and source it as a login shell would.
        tar::Archive::new(&view.tar[..]).unpack(dir.path()).unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(". ./etc/profile.d/paks.sh && printf '%s' \"$APP_TEXT\"")
            .current_dir(dir.path())
            .env_clear()
            .env("HOME", "/home/x")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8(out.stdout).unwrap(), value);
        assert!(!marker.exists(), "the profile ran a value");
    }
}
