//! The system layer: what Debian's and Alpine's maintainer scripts would have done, done
//! from metadata, as the last layer of an image with rootfs packages.
//!
//! - Accounts (`[accounts]`, apko style): `/etc/passwd`, `/etc/group` and `/etc/shadow`,
//!   with root (0:0) always and the configured users and groups; every password is `*`
//!   (locked: containers log nobody in with a password); home directories made, owned by
//!   their user.
//! - Alternatives: for each `update-alternatives` name the packages declare, the
//!   candidate of highest priority whose file is in the image (ties: the first path by
//!   name) becomes the symlink `link -> /path`, unless a package ships `link` itself.
//!
//! - The loader's cache: `/etc/ld.so.cache` from every Debian package's
//!   `origin.libraries` (`paks_relocate::ldcache`, Debian's directories for the
//!   architecture), when a package ships the architecture's loader. Alpine's musl loader
//!   reads no cache.
//!
//! The layer's entries are sorted and its headers fixed, so the same inputs give the
//! same bytes. It comes last, so its files win over any a package ships (no Debian
//! package ships `/etc/passwd` or `/etc/group`: `base-passwd` makes them in its
//! `postinst` from templates in `/usr/share/base-passwd`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use paks_types::{Alternative, PackageMeta};

use crate::spec::Accounts;

/// Names the accounts files accept: what `useradd` takes by default, at most 32 bytes.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 32
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'))
}

/// A path field: absolute, one line, no `:` (the files' separator).
fn valid_path(path: &str) -> bool {
    path.starts_with('/') && !path.chars().any(|c| c == ':' || c.is_control())
}

/// Refuse accounts that cannot be written: bad names and paths, a name or id given twice
/// or taken by root, members and `run-as` naming no user.
pub fn check_accounts(a: &Accounts) -> Result<(), String> {
    let mut names = BTreeSet::from(["root"]);
    let mut uids = BTreeSet::from([0]);
    for u in &a.users {
        if !valid_name(&u.username) {
            return Err(format!(
                "the username `{}` is not lower-case letters, digits, `_` and `-` (at most 32, not starting with a digit or `-`)",
                u.username
            ));
        }
        if !names.insert(u.username.as_str()) {
            return Err(format!(
                "the username `{}` is given twice (or is root's)",
                u.username
            ));
        }
        if !uids.insert(u.uid) {
            return Err(format!(
                "the uid {} of `{}` is given twice (or is root's, 0)",
                u.uid, u.username
            ));
        }
        for (what, p) in [("shell", &u.shell), ("home", &u.home)] {
            if let Some(p) = p
                && !valid_path(p)
            {
                return Err(format!(
                    "the {what} `{p}` of `{}` is not an absolute path without `:`",
                    u.username
                ));
            }
        }
    }
    let mut group_names = BTreeSet::from(["root"]);
    let mut gids = BTreeSet::from([0]);
    for g in &a.groups {
        if !valid_name(&g.groupname) {
            return Err(format!(
                "the group name `{}` is not lower-case letters, digits, `_` and `-`",
                g.groupname
            ));
        }
        if !group_names.insert(g.groupname.as_str()) {
            return Err(format!(
                "the group name `{}` is given twice (or is root's)",
                g.groupname
            ));
        }
        if !gids.insert(g.gid) {
            return Err(format!(
                "the gid {} of `{}` is given twice (or is root's, 0)",
                g.gid, g.groupname
            ));
        }
        for m in &g.members {
            if !names.contains(m.as_str()) {
                return Err(format!(
                    "the group `{}` lists `{m}`, which is no user of `[[accounts.users]]`",
                    g.groupname
                ));
            }
        }
    }
    for u in &a.users {
        let gid = u.gid.unwrap_or(u.uid);
        // A private group named after the user is made for a gid no group has.
        if !gids.contains(&gid) && group_names.contains(u.username.as_str()) {
            return Err(format!(
                "the gid {gid} of `{}` has no group, and the group name `{}` is taken",
                u.username, u.username
            ));
        }
    }
    if let Some(r) = &a.run_as
        && !names.contains(r.as_str())
        && !r.parse::<u32>().is_ok_and(|id| uids.contains(&id))
    {
        return Err(format!(
            "`run-as` is `{r}`, which is no user of `[[accounts.users]]` (nor root)"
        ));
    }
    Ok(())
}

/// One symlink the alternatives make: `link` (relative) -> `/path`, chosen for `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlternativeLink {
    pub name: String,
    pub link: String,
    pub target: String,
}

/// The alternatives of `packages` (rootfs packages): per name, the highest priority
/// candidate whose path is in some package's contents.
pub fn alternatives(packages: &[&PackageMeta]) -> Vec<AlternativeLink> {
    let contents: BTreeSet<&str> = packages
        .iter()
        .flat_map(|p| p.contents.iter().map(String::as_str))
        .collect();
    let mut best: BTreeMap<&str, &Alternative> = BTreeMap::new();
    for a in packages
        .iter()
        .filter_map(|p| p.origin.as_ref())
        .flat_map(|o| &o.alternatives)
    {
        if !contents.contains(a.path.as_str()) {
            continue;
        }
        let better = best.get(a.name.as_str()).is_none_or(|b| {
            (a.priority, std::cmp::Reverse(&b.path)) > (b.priority, std::cmp::Reverse(&a.path))
        });
        if better {
            best.insert(&a.name, a);
        }
    }
    best.into_values()
        .filter(|a| !contents.contains(a.link.as_str()))
        .map(|a| AlternativeLink {
            name: a.name.clone(),
            link: a.link.clone(),
            target: format!("/{}", a.path),
        })
        .collect()
}

/// The loader glibc's packages ship for an architecture (Go's names), relative to `/`.
fn loader(architecture: &str) -> Option<&'static str> {
    Some(match architecture {
        "amd64" => "lib64/ld-linux-x86-64.so.2",
        "arm64" => "lib/ld-linux-aarch64.so.1",
        "386" => "lib/ld-linux.so.2",
        "arm" => "lib/ld-linux-armhf.so.3",
        "ppc64le" => "lib64/ld64.so.2",
        "s390x" => "lib/ld64.so.1",
        "riscv64" => "lib/ld-linux-riscv64-lp64d.so.1",
        _ => return None,
    })
}

/// `/etc/ld.so.cache` for `packages` (rootfs packages) on `architecture`, when one of
/// them ships the loader (`None` otherwise, or for an architecture Debian's directories
/// are not known for). A package shipping `lib` as a link means a merged `/usr`.
pub fn loader_cache(packages: &[&PackageMeta], architecture: &str) -> Option<Vec<u8>> {
    let loader = loader(architecture)?;
    let has = |path: &str| {
        packages
            .iter()
            .any(|p| p.contents.iter().any(|c| c == path))
    };
    if !has(loader) && !has(&format!("usr/{loader}")) {
        return None;
    }
    let mut config = paks_relocate::ldcache::CacheConfig::debian(architecture)?;
    if has("lib") {
        config = config.merged_usr();
    }
    let libraries: Vec<paks_types::Library> = packages
        .iter()
        .filter_map(|p| p.origin.as_ref())
        .filter(|o| o.format == paks_types::ForeignFormat::Deb)
        .flat_map(|o| o.libraries.iter().cloned())
        .collect();
    Some(paks_relocate::ldcache::write_cache(&libraries, &config))
}

/// What the system layer holds.
#[derive(Debug)]
pub struct SystemLayer {
    /// The uncompressed tar.
    pub tar: Vec<u8>,
    pub alternatives: Vec<AlternativeLink>,
    /// The config's `User`, from `run-as`.
    pub user: Option<String>,
    /// Whether `/etc/ld.so.cache` was written.
    pub ld_cache: bool,
}

enum Node {
    Dir { uid: u32, gid: u32 },
    File { mode: u32, bytes: Vec<u8> },
    Link(String),
}

/// The system layer of an image whose rootfs packages are `packages` (in layer order).
/// `ld_cache`: the loader's cache to write, when the image has a loader.
pub fn build(
    packages: &[&PackageMeta],
    accounts: &Accounts,
    ld_cache: Option<Vec<u8>>,
) -> SystemLayer {
    let mut nodes: BTreeMap<String, Node> = BTreeMap::new();
    let root_dir = Node::Dir { uid: 0, gid: 0 };
    nodes.insert("etc".into(), root_dir);

    let mut passwd = String::from("root:x:0:0:root:/root:/bin/sh\n");
    let mut shadow = String::from("root:*:0:0:99999:7:::\n");
    let mut group = String::from("root:x:0:\n");
    let mut groups: BTreeMap<u32, (String, Vec<String>)> = accounts
        .groups
        .iter()
        .map(|g| (g.gid, (g.groupname.clone(), g.members.clone())))
        .collect();
    for u in &accounts.users {
        let gid = u.gid.unwrap_or(u.uid);
        groups
            .entry(gid)
            .or_insert_with(|| (u.username.clone(), Vec::new()));
        let home = u
            .home
            .clone()
            .unwrap_or_else(|| format!("/home/{}", u.username));
        let shell = u.shell.as_deref().unwrap_or("/bin/sh");
        let _ = writeln!(passwd, "{}:x:{}:{gid}::{home}:{shell}", u.username, u.uid);
        let _ = writeln!(shadow, "{}:*:0:0:99999:7:::", u.username);
        // The home and its parents; parents root's, the home the user's.
        let rel = home.trim_start_matches('/').trim_end_matches('/');
        for (end, _) in rel.match_indices('/') {
            nodes
                .entry(rel[..end].to_owned())
                .or_insert(Node::Dir { uid: 0, gid: 0 });
        }
        if !rel.is_empty() {
            nodes.insert(rel.to_owned(), Node::Dir { uid: u.uid, gid });
        }
    }
    for (gid, (name, members)) in &groups {
        let _ = writeln!(group, "{name}:x:{gid}:{}", members.join(","));
    }
    nodes.insert(
        "etc/passwd".into(),
        Node::File {
            mode: 0o644,
            bytes: passwd.into_bytes(),
        },
    );
    nodes.insert(
        "etc/group".into(),
        Node::File {
            mode: 0o644,
            bytes: group.into_bytes(),
        },
    );
    nodes.insert(
        "etc/shadow".into(),
        Node::File {
            mode: 0o640,
            bytes: shadow.into_bytes(),
        },
    );

    let alternatives = alternatives(packages);
    for a in &alternatives {
        for (end, _) in a.link.match_indices('/') {
            nodes
                .entry(a.link[..end].to_owned())
                .or_insert(Node::Dir { uid: 0, gid: 0 });
        }
        nodes.insert(a.link.clone(), Node::Link(a.target.clone()));
    }
    let has_cache = ld_cache.is_some();
    if let Some(bytes) = ld_cache {
        nodes.insert("etc/ld.so.cache".into(), Node::File { mode: 0o644, bytes });
    }

    let tar = write_tar(&nodes);
    let user = accounts.run_as.clone();
    SystemLayer {
        tar,
        alternatives,
        user,
        ld_cache: has_cache,
    }
}

/// The layer's tar: `nodes` in path order, fixed headers.
fn write_tar(nodes: &BTreeMap<String, Node>) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, node) in nodes {
        let written = match node {
            Node::Dir { uid, gid } => {
                let mut h = paks_archive::tar_header(tar::EntryType::Directory, 0o755, 0);
                h.set_uid(u64::from(*uid));
                h.set_gid(u64::from(*gid));
                builder.append_data(&mut h, format!("{path}/"), std::io::empty())
            }
            Node::File { mode, bytes } => {
                let mut h =
                    paks_archive::tar_header(tar::EntryType::Regular, *mode, bytes.len() as u64);
                builder.append_data(&mut h, path, bytes.as_slice())
            }
            Node::Link(target) => {
                let mut h = paks_archive::tar_header(tar::EntryType::Symlink, 0o777, 0);
                paks_archive::tar_append_symlink(
                    &mut builder,
                    &mut h,
                    path.as_bytes(),
                    target.as_bytes(),
                )
            }
        };
        written.expect("writing a tar into memory does not fail");
    }
    builder.into_inner().expect("a tar in memory")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Group, User};

    fn user(name: &str, uid: u32) -> User {
        User {
            username: name.into(),
            uid,
            gid: None,
            shell: None,
            home: None,
        }
    }

    #[test]
    fn accounts_files_list_root_and_the_configured_users() {
        let accounts = Accounts {
            run_as: Some("app".into()),
            users: vec![user("app", 1000)],
            groups: vec![Group {
                groupname: "staff".into(),
                gid: 50,
                members: vec!["app".into()],
            }],
        };
        check_accounts(&accounts).unwrap();
        let layer = build(&[], &accounts, None);
        let mut a = tar::Archive::new(layer.tar.as_slice());
        let mut files = BTreeMap::new();
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let mut s = String::new();
            std::io::Read::read_to_string(&mut e, &mut s).unwrap();
            files.insert(
                e.path().unwrap().display().to_string(),
                (e.header().uid().unwrap(), s),
            );
        }
        assert_eq!(
            files["etc/passwd"].1,
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"
        );
        assert_eq!(
            files["etc/group"].1,
            "root:x:0:\nstaff:x:50:app\napp:x:1000:\n"
        );
        assert_eq!(files["home/app/"].0, 1000);
        assert_eq!(files["home/"].0, 0);
        assert_eq!(layer.user.as_deref(), Some("app"));
        // Deterministic.
        assert_eq!(build(&[], &accounts, None).tar, layer.tar);
    }

    #[test]
    fn conflicting_accounts_are_refused_by_name() {
        let cases = [
            (
                vec![user("app", 1000), user("app", 1001)],
                vec![],
                None,
                "`app` is given twice",
            ),
            (vec![user("a", 5), user("b", 5)], vec![], None, "uid 5"),
            (vec![user("root", 7)], vec![], None, "`root` is given twice"),
            (vec![user("x", 0)], vec![], None, "uid 0"),
            (vec![user("Bad", 1)], vec![], None, "`Bad`"),
            (
                vec![user("a", 1)],
                vec![Group {
                    groupname: "g".into(),
                    gid: 9,
                    members: vec!["nobody".into()],
                }],
                None,
                "lists `nobody`",
            ),
            (vec![user("a", 1)], vec![], Some("b"), "`run-as` is `b`"),
        ];
        for (users, groups, run_as, said) in cases {
            let e = check_accounts(&Accounts {
                run_as: run_as.map(Into::into),
                users,
                groups,
            })
            .unwrap_err();
            assert!(e.contains(said), "{e}");
        }
    }
}
