//! `/graph/REPO[?version=V]`: the dependency closure of a package version, drawn on the
//! server as an SVG (layered: each package one row below the lowest package that needs
//! it; nodes link to their pages). `/graph/REPO.svg` is the SVG alone.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use paks_registry::auth::Identity;

use super::html::Html;
use super::package::{VersionQuery, dependency_repository, find, select_version};
use super::{html_response, viewer};
use crate::Catalog;

/// Most packages drawn (a closure bigger than this is cut, and says so).
const MAX_NODES: usize = 400;
const ROW: usize = 90;
const BOX_HEIGHT: usize = 44;
const GAP: usize = 24;
const MARGIN: usize = 20;

/// One package version in the closure.
#[derive(Debug, Clone)]
pub struct Node {
    /// Its repository, when the catalogue knows (and the viewer sees) it.
    pub repository: Option<String>,
    pub name: String,
    pub version: String,
    pub layer: usize,
}

/// The closure: nodes (the root first) and edges (`from` needs `to`).
#[derive(Debug, Default)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub edges: Vec<(usize, usize)>,
    /// Whether [`MAX_NODES`] cut it.
    pub cut: bool,
}

/// The dependency closure of `repo` at `version`, as `who` may see it.
pub fn closure(catalog: &Catalog, who: &Identity, repo: &str, version: &str) -> Graph {
    let mut graph = Graph::default();
    let mut index: BTreeMap<(String, String), usize> = BTreeMap::new();
    let root_name = repo.rsplit('/').next().unwrap_or(repo).to_owned();
    graph.nodes.push(Node {
        repository: Some(repo.to_owned()),
        name: root_name,
        version: version.to_owned(),
        layer: 0,
    });
    index.insert((repo.to_owned(), version.to_owned()), 0);
    let mut next = 0;
    while next < graph.nodes.len() {
        let at = next;
        next += 1;
        let Some(repository) = graph.nodes[at].repository.clone() else {
            continue;
        };
        let Some(package) = catalog.package(&repository, who) else {
            continue;
        };
        let Some(v) = select_version(&package, Some(&graph.nodes[at].version)) else {
            continue;
        };
        for b in &v.builds {
            for d in &b.dependencies {
                let dep_repo =
                    dependency_repository(catalog, who, &package, d.repository.as_deref(), &d.name);
                let key = (
                    dep_repo.clone().unwrap_or_else(|| d.name.clone()),
                    d.version.clone(),
                );
                let to = if let Some(&to) = index.get(&key) {
                    to
                } else {
                    if graph.nodes.len() >= MAX_NODES {
                        graph.cut = true;
                        continue;
                    }
                    graph.nodes.push(Node {
                        repository: dep_repo,
                        name: d.name.clone(),
                        version: d.version.clone(),
                        layer: 0,
                    });
                    index.insert(key, graph.nodes.len() - 1);
                    graph.nodes.len() - 1
                };
                if to != at && !graph.edges.contains(&(at, to)) {
                    graph.edges.push((at, to));
                }
            }
        }
    }
    // Longest path from the root; at most one pass per node, so a cycle cannot loop.
    for _ in 0..graph.nodes.len() {
        let mut moved = false;
        for &(from, to) in &graph.edges {
            let below = graph.nodes[from].layer + 1;
            if to != 0 && graph.nodes[to].layer < below && below < graph.nodes.len() {
                graph.nodes[to].layer = below;
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
    graph
}

/// Where each node is drawn: `(x, y, width)`.
fn layout(graph: &Graph) -> (Vec<(usize, usize, usize)>, usize, usize) {
    let layers = graph.nodes.iter().map(|n| n.layer).max().unwrap_or(0) + 1;
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); layers];
    for (i, n) in graph.nodes.iter().enumerate() {
        rows[n.layer].push(i);
    }
    let width_of = |n: &Node| (n.name.chars().count() + n.version.chars().count()) * 8 + 36;
    // Order each row by where the nodes that need them sit (fewer crossings), then name.
    let mut order = vec![0usize; graph.nodes.len()];
    for row in &mut rows {
        let mean = |i: usize| {
            let parents: Vec<usize> = graph
                .edges
                .iter()
                .filter(|e| e.1 == i)
                .map(|e| order[e.0])
                .collect();
            if parents.is_empty() {
                0
            } else {
                parents.iter().sum::<usize>() * 1000 / parents.len()
            }
        };
        row.sort_by_cached_key(|&i| (mean(i), graph.nodes[i].name.clone()));
        for (at, &i) in row.iter().enumerate() {
            order[i] = at;
        }
    }
    let row_width = |row: &Vec<usize>| {
        row.iter()
            .map(|&i| width_of(&graph.nodes[i]))
            .sum::<usize>()
            + GAP * row.len().saturating_sub(1)
    };
    let width = rows.iter().map(row_width).max().unwrap_or(0) + 2 * MARGIN;
    let height = layers * ROW + 2 * MARGIN - (ROW - BOX_HEIGHT);
    let mut at = vec![(0, 0, 0); graph.nodes.len()];
    for (layer, row) in rows.iter().enumerate() {
        let mut x = (width - row_width(row)) / 2;
        for &i in row {
            let w = width_of(&graph.nodes[i]);
            at[i] = (x, MARGIN + layer * ROW, w);
            x += w + GAP;
        }
    }
    (at, width, height)
}

/// The SVG (`svg#graph`); it draws with presentation attributes, so it also stands alone.
pub fn svg(graph: &Graph, title: &str) -> Html {
    let (at, width, height) = layout(graph);
    let mut h = Html::new();
    h.raw("<svg id=\"graph\" xmlns=\"http://www.w3.org/2000/svg\" width=\"")
        .text(width)
        .raw("\" height=\"")
        .text(height)
        .raw("\" viewBox=\"0 0 ")
        .text(width)
        .raw(" ")
        .text(height)
        .raw("\" aria-labelledby=\"graph-title\"><title id=\"graph-title\">")
        .text(title)
        .raw("</title><defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" ")
        .raw("markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">")
        .raw("<path d=\"M0 0L10 5L0 10z\" fill=\"#888\"/></marker></defs>");
    for &(from, to) in &graph.edges {
        let (fx, fy, fw) = at[from];
        let (tx, ty, tw) = at[to];
        let (x1, y1, x2, y2) = (fx + fw / 2, fy + BOX_HEIGHT, tx + tw / 2, ty);
        h.raw(
            "<path class=\"edge\" fill=\"none\" stroke=\"#888\" marker-end=\"url(#arrow)\" d=\"M",
        )
        .text(format!(
            "{x1} {y1}C{x1} {} {x2} {} {x2} {y2}",
            y1 + 30,
            y2.saturating_sub(30)
        ))
        .raw("\"/>");
    }
    for (i, n) in graph.nodes.iter().enumerate() {
        let (x, y, w) = at[i];
        if let Some(repo) = &n.repository {
            h.raw("<a href=\"/packages/")
                .text(repo)
                .raw("?version=")
                .query(&n.version)
                .raw("\">");
        }
        h.raw("<rect")
            .when(i == 0, " class=\"root\"")
            .raw(" rx=\"6\" fill=\"#f6f8fa\" stroke=\"#888\" x=\"")
            .text(x)
            .raw("\" y=\"")
            .text(y)
            .raw("\" width=\"")
            .text(w)
            .raw("\" height=\"")
            .text(BOX_HEIGHT)
            .raw("\"/><text font-family=\"system-ui, sans-serif\" font-size=\"14\" fill=\"#1b1f24\" text-anchor=\"middle\" x=\"")
            .text(x + w / 2)
            .raw("\" y=\"")
            .text(y + BOX_HEIGHT / 2 + 5)
            .raw("\">")
            .text(&n.name)
            .raw(" ")
            .text(&n.version)
            .raw("</text>");
        if n.repository.is_some() {
            h.raw("</a>");
        }
    }
    h.raw("</svg>");
    h
}

/// `GET /graph/REPO` and `GET /graph/REPO.svg`.
pub async fn page(
    State(catalog): State<Catalog>,
    Path(path): Path<String>,
    headers: HeaderMap,
    Query(query): Query<VersionQuery>,
) -> Response {
    let who = match viewer(&catalog, &headers) {
        Ok(who) => who,
        Err(denied) => return *denied,
    };
    // `REPO.svg` is the picture alone, unless a package is really named so.
    let (repo, alone) = match path.strip_suffix(".svg") {
        Some(repo) if catalog.package(&path, &who).is_none() => (repo.to_owned(), true),
        _ => (path, false),
    };
    let (package, version) = match find(&catalog, &who, &repo, query.version.as_deref()) {
        Ok(found) => found,
        Err(missing) => return *missing,
    };
    let graph = closure(&catalog, &who, &repo, &version.version);
    let title = format!("Dependencies of {repo} {}", version.version);
    let picture = svg(&graph, &title);
    if alone {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        out.push_str(picture.as_str());
        return html_response(StatusCode::OK, out, "image/svg+xml");
    }
    let mut h = Html::new();
    h.raw("<h1>")
        .text(&package.name)
        .raw("</h1><p>")
        .raw("What <a href=\"/packages/")
        .text(&repo)
        .raw("?version=")
        .query(&version.version)
        .raw("\">")
        .text(&repo)
        .raw(" ")
        .text(&version.version)
        .raw("</a> needs to run, itself included: ")
        .text(graph.nodes.len())
        .raw(if graph.nodes.len() == 1 {
            " package"
        } else {
            " packages"
        })
        .raw(" (<a href=\"/graph/")
        .text(&repo)
        .raw(".svg?version=")
        .query(&version.version)
        .raw("\">as SVG</a>).</p>");
    if graph.cut {
        h.raw("<p>Only the first ")
            .text(MAX_NODES)
            .raw(" packages are drawn.</p>");
    }
    h.raw("<div class=\"graph\">")
        .raw_html(&picture)
        .raw("</div>");
    super::page(StatusCode::OK, &title, &h)
}
