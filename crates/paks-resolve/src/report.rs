//! Explaining a failed resolution in words: `PubGrub`'s derivation tree with this crate's
//! names for things, then why versions were skipped on this host.

use std::fmt::Write as _;
use std::sync::Arc;

use paks_types::{PackageName, Version};
use pubgrub::{
    DefaultStringReporter, DerivationTree, Derived, External, Map, ReportFormatter, Reporter, Term,
};

use crate::provider::{Pkg, Provider, unfit};

type Ranges = pubgrub::Ranges<Version>;
type Tree = DerivationTree<Pkg, Ranges, String>;
type Ext = External<Pkg, Ranges, String>;
type Terms = Map<Pkg, Term<Ranges>>;

/// How many skipped versions to list per package before summarising.
const MAX_SKIPPED: usize = 5;
/// How many existing versions to name when none matches, newest first.
const MAX_AVAILABLE: usize = 8;

/// The full explanation: `PubGrub`'s chain of reasons, then notes on skipped versions and on
/// repository priority for the packages it mentions.
pub(crate) fn explain(provider: &Provider<'_>, tree: &Tree) -> String {
    let mut tree = tree.clone();
    simplify(provider, &mut tree);
    let mut text = DefaultStringReporter::report_with_formatter(&tree, &Formatter { provider });
    let mut names: Vec<&PackageName> = tree
        .packages()
        .into_iter()
        .filter_map(|p| match p {
            Pkg::Name(n) => Some(n),
            Pkg::Root => None,
        })
        .collect();
    names.sort();
    for name in names {
        for note in notes(provider, name) {
            let _ = write!(text, "\n{note}");
        }
    }
    if let Some(note) = pin_note(&tree) {
        let _ = write!(text, "\n{note}");
    }
    text
}

/// A build's dependencies are the exact builds it was linked against, which surprises
/// people used to ranges: when the explanation rests on such pins, one note says so and
/// names the packages a rebuild would free.
fn pin_note(tree: &Tree) -> Option<String> {
    fn walk(tree: &Tree, pinned: &mut Vec<String>) {
        match tree {
            DerivationTree::External(External::FromDependencyOf(
                p @ Pkg::Name(_),
                _,
                _,
                dep_set,
            )) if dep_set.as_singleton().is_some() => {
                let name = p.to_string();
                if !pinned.contains(&name) {
                    pinned.push(name);
                }
            }
            DerivationTree::External(_) => {}
            DerivationTree::Derived(d) => {
                walk(&d.cause1, pinned);
                walk(&d.cause2, pinned);
            }
        }
    }
    let mut pinned = Vec::new();
    walk(tree, &mut pinned);
    let last = pinned.pop()?;
    let who = if pinned.is_empty() {
        last
    } else {
        format!("{} or {last}", pinned.join(", "))
    };
    Some(format!(
        "note: a paks build runs only with the exact dependency builds it was built against \
         (pins, not ranges); a build of {who} against other versions would lift this"
    ))
}

/// Drops "there is no app <1.0.0 | >1.0.0" from the explanation where it only widens
/// app's term and those versions do not exist at all (`PubGrub` needs the fact, a reader does not), folding it into the
/// dependency of app next to it ("app depends on libgreet 1.0.0") as `PubGrub`'s
/// `collapse_no_versions` does, or else letting the other cause stand for the pair.
/// Versions skipped on this host stay: they are the reason.
fn simplify(provider: &Provider<'_>, tree: &mut Tree) {
    let DerivationTree::Derived(derived) = tree else {
        return;
    };
    simplify(provider, Arc::make_mut(&mut derived.cause1));
    simplify(provider, Arc::make_mut(&mut derived.cause2));
    // Noise widens a package's term in the conclusion (app 1.0.0 → app); a real reason
    // removes the package from it (there is no cmake >=3.30, so the request fails).
    let absent = |t: &Tree| match t {
        DerivationTree::External(External::NoVersions(p, set))
            if derived.terms.contains_key(p) && !exists(provider, p, set) =>
        {
            Some((p.clone(), set.clone()))
        }
        _ => None,
    };
    let (noise, other) = match (absent(&derived.cause1), absent(&derived.cause2)) {
        (Some(noise), _) => (noise, &*derived.cause2),
        (None, Some(noise)) => (noise, &*derived.cause1),
        (None, None) => return,
    };
    let (p, set) = noise;
    *tree = match other {
        DerivationTree::External(External::FromDependencyOf(p1, s1, p2, s2)) if *p1 == p => {
            DerivationTree::External(External::FromDependencyOf(
                p1.clone(),
                s1.union(&set),
                p2.clone(),
                s2.clone(),
            ))
        }
        DerivationTree::External(_) => other.clone(),
        DerivationTree::Derived(inner) => DerivationTree::Derived(Derived {
            terms: derived.terms.clone(),
            shared_id: derived.shared_id,
            cause1: inner.cause1.clone(),
            cause2: inner.cause2.clone(),
        }),
    };
}

/// Whether any version of `p` in `set` is in its repository, runnable here or not.
fn exists(provider: &Provider<'_>, p: &Pkg, set: &Ranges) -> bool {
    let Pkg::Name(name) = p else {
        return true;
    };
    provider
        .source(name)
        .is_some_and(|s| s.versions.keys().any(|v| set.contains(v)))
}

fn notes(provider: &Provider<'_>, name: &PackageName) -> Vec<String> {
    let Some(source) = provider.source(name) else {
        return Vec::new();
    };
    let mut notes = Vec::new();
    let skipped: Vec<(&Version, String)> = source
        .versions
        .iter()
        .rev()
        .filter(|(_, e)| e.best.is_none())
        .map(|(v, e)| {
            let why: Vec<String> = e
                .builds
                .iter()
                .map(|b| {
                    let reasons: Vec<String> = unfit(b, provider.host, &provider.platform)
                        .iter()
                        .map(ToString::to_string)
                        .collect();
                    format!("build `{}` {}", b.id.hash(), reasons.join(" and "))
                })
                .collect();
            (v, why.join("; "))
        })
        .collect();
    for (v, why) in skipped.iter().take(MAX_SKIPPED) {
        notes.push(format!(
            "note: {name} {v} was skipped: no build runs on this host ({}): {why}",
            provider.host.summary()
        ));
    }
    if skipped.len() > MAX_SKIPPED {
        notes.push(format!(
            "note: {} older versions of {name} were skipped for the same kind of reason",
            skipped.len() - MAX_SKIPPED
        ));
    }
    for (repo, versions) in provider.shadowed(name, &source.repo) {
        let list: Vec<String> = versions.iter().map(ToString::to_string).collect();
        notes.push(format!(
            "note: {name} is taken from repository `{}`, the first that has it; `{repo}` also \
             has it ({}) but is not consulted for it",
            source.repo,
            list.join(", ")
        ));
    }
    notes
}

struct Formatter<'p, 'a> {
    provider: &'p Provider<'a>,
}

/// `hello >=1.0.0, <2.0.0`, `hello 1.0.0`, or `hello` for any version.
fn with_range(p: &Pkg, set: &Ranges) -> String {
    if *set == Ranges::full() {
        p.to_string()
    } else {
        format!("{p} {set}")
    }
}

fn depends(p: &Pkg, set: &Ranges, dep: &Pkg, dep_set: &Ranges) -> String {
    format!(
        "{} depends on {}",
        with_range(p, set),
        with_range(dep, dep_set)
    )
}

fn term(p: &Pkg, t: &Term<Ranges>) -> String {
    match t {
        Term::Positive(set) => with_range(p, set),
        Term::Negative(set) => with_range(p, &set.complement()),
    }
}

impl Formatter<'_, '_> {
    fn no_versions(&self, name: &PackageName, set: &Ranges) -> String {
        let Some(source) = self.provider.source(name) else {
            return format!("no repository has {name}");
        };
        let in_set: Vec<(&Version, bool)> = source
            .versions
            .iter()
            .filter(|(v, _)| set.contains(v))
            .map(|(v, e)| (v, e.best.is_some()))
            .collect();
        let what = with_range(&Pkg::Name(name.clone()), set);
        if in_set.is_empty() {
            let mut available: Vec<String> = source
                .versions
                .keys()
                .rev()
                .take(MAX_AVAILABLE)
                .map(ToString::to_string)
                .collect();
            if source.versions.len() > MAX_AVAILABLE {
                available.push("…".to_owned());
            }
            return format!(
                "repository `{}` has no version of {what} (available: {})",
                source.repo,
                available.join(", ")
            );
        }
        if in_set.iter().any(|(_, runs)| !runs) {
            if in_set.iter().all(|(_, runs)| !runs) {
                return format!(
                    "no version of {what} runs on this host ({})",
                    self.provider.host.summary()
                );
            }
            return format!(
                "no version of {what} runs on this host ({}) except prereleases (chosen only \
                 when a request names one)",
                self.provider.host.summary()
            );
        }
        format!("{what} exists only as prereleases (chosen only when a request names one)")
    }
}

impl ReportFormatter<Pkg, Ranges, String> for Formatter<'_, '_> {
    type Output = String;

    fn format_external(&self, external: &Ext) -> String {
        match external {
            External::NotRoot(..) => "we are solving your request".to_owned(),
            External::NoVersions(Pkg::Name(name), set) => self.no_versions(name, set),
            External::NoVersions(Pkg::Root, _) => "your request cannot be read".to_owned(),
            External::Custom(p, set, why) => format!("{} {why}", with_range(p, set)),
            External::FromDependencyOf(Pkg::Root, _, dep, set) => {
                format!("you requested {}", with_range(dep, set))
            }
            // Every dependency of a build is a pin to the build it was linked against.
            External::FromDependencyOf(p, set, dep, dep_set)
                if dep_set.as_singleton().is_some() =>
            {
                format!(
                    "{} was built against {}",
                    with_range(p, set),
                    with_range(dep, dep_set)
                )
            }
            External::FromDependencyOf(p, set, dep, dep_set) => depends(p, set, dep, dep_set),
        }
    }

    fn format_terms(&self, terms: &Terms) -> String {
        let terms: Vec<_> = terms.iter().collect();
        match terms.as_slice() {
            [] => "version solving failed".to_owned(),
            [(Pkg::Root, Term::Positive(_))] => "your request cannot be satisfied".to_owned(),
            [(p, Term::Positive(set))] => format!("{} cannot be installed", with_range(p, set)),
            [(p, t @ Term::Negative(_))] => format!("{} is required", term(p, t)),
            [(p1, Term::Positive(r1)), (p2, Term::Negative(r2))]
            | [(p2, Term::Negative(r2)), (p1, Term::Positive(r1))] => {
                // Derived, perhaps through other packages: "depends on", not "built against".
                if **p1 == Pkg::Root {
                    format!("your request needs {}", with_range(p2, r2))
                } else {
                    depends(p1, r1, p2, r2)
                }
            }
            many => {
                let mut parts: Vec<String> = many.iter().map(|(p, t)| term(p, t)).collect();
                if many.iter().all(|(_, t)| matches!(t, Term::Positive(_))) {
                    let last = parts.pop().expect("more than two terms");
                    format!(
                        "{} and {last} cannot be installed together",
                        parts.join(", ")
                    )
                } else {
                    format!("{} are incompatible", parts.join(", "))
                }
            }
        }
    }

    fn explain_both_external(&self, e1: &Ext, e2: &Ext, terms: &Terms) -> String {
        format!(
            "Because {} and {}, {}.",
            self.format_external(e1),
            self.format_external(e2),
            self.format_terms(terms)
        )
    }

    fn explain_both_ref(
        &self,
        id1: usize,
        d1: &Derived<Pkg, Ranges, String>,
        id2: usize,
        d2: &Derived<Pkg, Ranges, String>,
        terms: &Terms,
    ) -> String {
        format!(
            "Because {} ({id1}) and {} ({id2}), {}.",
            self.format_terms(&d1.terms),
            self.format_terms(&d2.terms),
            self.format_terms(terms)
        )
    }

    fn explain_ref_and_external(
        &self,
        id: usize,
        d: &Derived<Pkg, Ranges, String>,
        e: &Ext,
        terms: &Terms,
    ) -> String {
        format!(
            "Because {} ({id}) and {}, {}.",
            self.format_terms(&d.terms),
            self.format_external(e),
            self.format_terms(terms)
        )
    }

    fn and_explain_external(&self, e: &Ext, terms: &Terms) -> String {
        format!(
            "And because {}, {}.",
            self.format_external(e),
            self.format_terms(terms)
        )
    }

    fn and_explain_ref(
        &self,
        id: usize,
        d: &Derived<Pkg, Ranges, String>,
        terms: &Terms,
    ) -> String {
        format!(
            "And because {} ({id}), {}.",
            self.format_terms(&d.terms),
            self.format_terms(terms)
        )
    }

    fn and_explain_prior_and_external(&self, prior: &Ext, e: &Ext, terms: &Terms) -> String {
        format!(
            "And because {} and {}, {}.",
            self.format_external(prior),
            self.format_external(e),
            self.format_terms(terms)
        )
    }
}
