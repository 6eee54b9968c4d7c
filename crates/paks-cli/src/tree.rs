//! `paks tree`: the dependency tree of the project's lock or of installed packages, drawn
//! as `cargo tree` draws it: a package shown before is marked `(*)` and not expanded again.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use paks_types::{PackageId, PackageName, Version};
use serde_json::json;

use crate::Failure;
use crate::cli::TreeArgs;
use crate::commands::{Ctx, failure, json_line, out};
use crate::printer::shown;
use crate::project::Project;

/// One package in the graph.
struct Node {
    name: PackageName,
    version: Version,
    /// Ids of what it depends on (or, inverted, what depends on it).
    edges: Vec<PackageId>,
}

/// Packages by id, and where the drawing starts.
struct Graph {
    nodes: BTreeMap<PackageId, Node>,
    roots: Vec<PackageId>,
}

impl Graph {
    /// The lock's packages for `host`'s environment (a multi-platform lock pins a build
    /// per environment; drawing them all would repeat every name), or all of them when
    /// no environment fits the host.
    fn from_lock(lock: &paks_resolve::Lock, host: &paks_host::HostProfile) -> Self {
        let packages: Vec<&paks_resolve::LockedPackage> =
            match paks_resolve::Environment::best_for(&lock.environments, host) {
                Some(env) => lock.packages_in(env).collect(),
                None => lock.packages.iter().collect(),
            };
        let nodes = packages
            .iter()
            .map(|p| {
                (
                    p.id.clone(),
                    Node {
                        name: p.name.clone(),
                        version: p.version.clone(),
                        edges: p.dependencies.clone(),
                    },
                )
            })
            .collect();
        let roots = packages
            .iter()
            .filter(|p| p.explicit)
            .map(|p| p.id.clone())
            .collect();
        Self { nodes, roots }
    }

    fn from_store(store: &paks_store::Store, only: Option<&str>) -> Result<Self, Failure> {
        let records = store.installed().map_err(failure)?;
        let roots = match only {
            Some(spec) => vec![store.find(spec).map_err(failure)?.id().clone()],
            None => records
                .iter()
                .filter(|r| r.explicit)
                .map(|r| r.id().clone())
                .collect(),
        };
        let nodes = records
            .into_iter()
            .map(|r| {
                let edges = r.meta.dependencies.iter().map(|d| d.id.clone()).collect();
                (
                    r.meta.id.clone(),
                    Node {
                        name: r.meta.name,
                        version: r.meta.version,
                        edges,
                    },
                )
            })
            .collect();
        Ok(Self { nodes, roots })
    }

    /// The same packages with every edge reversed, drawn from the builds named `name`.
    fn inverted(self, name: &str) -> Result<Self, Failure> {
        let mut reversed: BTreeMap<PackageId, Vec<PackageId>> = BTreeMap::new();
        for (id, node) in &self.nodes {
            for dep in &node.edges {
                reversed.entry(dep.clone()).or_default().push(id.clone());
            }
        }
        let roots = self.named(name)?;
        let nodes = self
            .nodes
            .into_iter()
            .map(|(id, mut n)| {
                n.edges = reversed.remove(&id).unwrap_or_default();
                (id, n)
            })
            .collect();
        Ok(Self { nodes, roots })
    }

    /// The builds named `name`; an error suggesting close names if there are none.
    fn named(&self, name: &str) -> Result<Vec<PackageId>, Failure> {
        let roots: Vec<PackageId> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.name.as_str() == name)
            .map(|(id, _)| id.clone())
            .collect();
        if roots.is_empty() {
            let known: BTreeSet<PackageName> =
                self.nodes.values().map(|n| n.name.clone()).collect();
            let known: Vec<PackageName> = known.into_iter().collect();
            crate::project_cmds::require_known(&[name.to_owned()], &known, "in the tree", |_| {
                "`paks tree` without a name shows what there is".into()
            })?;
        }
        Ok(roots)
    }

    /// `id`'s edges, sorted by name and version.
    fn children(&self, id: &PackageId) -> Vec<PackageId> {
        let mut edges = self
            .nodes
            .get(id)
            .map(|n| n.edges.clone())
            .unwrap_or_default();
        edges.sort_by(|a, b| (a.name(), a.version(), a).cmp(&(b.name(), b.version(), b)));
        edges
    }

    fn label(&self, id: &PackageId) -> String {
        match self.nodes.get(id) {
            Some(n) => format!("{} {}", n.name, n.version),
            None => format!("{} {} (not installed)", id.name(), id.version()),
        }
    }
}

/// Draws the tree under `id` into `lines`; `seen` holds what was expanded already.
fn draw(
    graph: &Graph,
    id: &PackageId,
    prefix: &str,
    depth: usize,
    max: Option<usize>,
    seen: &mut BTreeSet<PackageId>,
    lines: &mut Vec<String>,
) {
    let children = graph.children(id);
    if max.is_some_and(|m| depth >= m) {
        return;
    }
    for (i, child) in children.iter().enumerate() {
        let last = i + 1 == children.len();
        let expandable = !graph.children(child).is_empty() && max.is_none_or(|m| depth + 1 < m);
        let repeated = expandable && !seen.insert(child.clone());
        lines.push(format!(
            "{prefix}{}{}{}",
            if last { "└── " } else { "├── " },
            shown(&graph.label(child)),
            if repeated { " (*)" } else { "" }
        ));
        if !repeated {
            let next = format!("{prefix}{}", if last { "    " } else { "│   " });
            draw(graph, child, &next, depth + 1, max, seen, lines);
        }
    }
}

/// The tree under `id` as JSON, with the same `(*)` rule as the drawing.
fn to_json(
    graph: &Graph,
    id: &PackageId,
    key: &str,
    depth: usize,
    max: Option<usize>,
    seen: &mut BTreeSet<PackageId>,
) -> serde_json::Value {
    let (name, version) = graph.nodes.get(id).map_or_else(
        || (id.name().to_string(), id.version().to_string()),
        |n| (n.name.to_string(), n.version.to_string()),
    );
    let mut v = json!({"name": name, "version": version, "id": id.to_string()});
    if !graph.nodes.contains_key(id) {
        v["installed"] = false.into();
    }
    let children = graph.children(id);
    if children.is_empty() || max.is_some_and(|m| depth >= m) {
        return v;
    }
    if depth > 0 && !seen.insert(id.clone()) {
        v["repeated"] = true.into();
        return v;
    }
    v[key] = children
        .iter()
        .map(|c| to_json(graph, c, key, depth + 1, max, seen))
        .collect();
    v
}

pub fn tree(ctx: &Ctx, args: &TreeArgs) -> Result<(), Failure> {
    let mut graph = if args.installed {
        Graph::from_store(&ctx.store()?, args.package.as_deref())?
    } else {
        let project = Project::find(args.project.as_deref())?;
        let mut graph = Graph::from_lock(
            &project.require_lock("`paks lock` writes it")?,
            &crate::catalog::host()?,
        );
        if let Some(name) = &args.package {
            graph.roots = graph.named(name)?;
        }
        graph
    };
    if let Some(name) = &args.invert {
        graph = graph.inverted(name)?;
    }
    let key = if args.invert.is_some() {
        "dependents"
    } else {
        "dependencies"
    };
    let mut seen = BTreeSet::new();
    let mut o = out();
    for (i, root) in graph.roots.iter().enumerate() {
        if args.json {
            seen.insert(root.clone());
            let mut v = to_json(&graph, root, key, 0, args.depth, &mut seen);
            v["type"] = "tree".into();
            json_line(&v)?;
            continue;
        }
        seen.insert(root.clone());
        if i > 0 {
            writeln!(o)?;
        }
        let mut lines = vec![shown(&graph.label(root)).into_owned()];
        draw(&graph, root, "", 0, args.depth, &mut seen, &mut lines);
        for line in lines {
            writeln!(o, "{line}")?;
        }
    }
    Ok(())
}
