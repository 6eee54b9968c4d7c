//! "Did you mean …?" for names the user typed: installed packages, repositories, and
//! anything else with a known list of candidates.

use paks_types::similarity::edit_distance;

use crate::Failure;

/// The candidate closest to `name`, if one is close enough to be a likely typo: at most a
/// third of its letters, rounded up, differ (as Levenshtein counts edits), or one contains
/// the other (`zlib` for `zlib-ng`). Ties go to the first candidate, so callers order them.
pub fn closest<'a, I, S>(name: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a S>,
    S: AsRef<str> + ?Sized + 'a,
{
    let name_lower = name.to_lowercase();
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        let candidate = candidate.as_ref();
        let lower = candidate.to_lowercase();
        if lower == name_lower && candidate != name {
            return Some(candidate);
        }
        let distance = edit_distance(&name_lower, &lower);
        let close = distance <= name.chars().count().div_ceil(3)
            || (name_lower.len() >= 3
                && (lower.contains(&name_lower) || name_lower.contains(&lower)));
        if distance > 0 && close && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, c)| c)
}

/// A `hint:` line suggesting the closest candidate, if any.
pub fn hint<'a, I, S>(name: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a S>,
    S: AsRef<str> + ?Sized + 'a,
{
    closest(name, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// A failed lookup of an installed package, with the closest installed name as its hint
/// when the spec matched nothing (`paks remove helo` → "did you mean `hello`?").
pub fn store_failure(store: &paks_store::Store, spec: &str, e: paks_store::StoreError) -> Failure {
    let not_installed = matches!(e.kind(), paks_store::StoreErrorKind::NotInstalled(_));
    let mut failure = crate::commands::failure(e);
    if not_installed {
        let name = spec
            .split(['@', '=', '<', '>', '^', '~'])
            .next()
            .unwrap_or(spec);
        let installed: Vec<String> = store
            .installed()
            .map(|records| records.iter().map(|r| r.meta.name.to_string()).collect())
            .unwrap_or_default();
        if let Some(hint) = hint(name, &installed) {
            failure.hint = Some(hint);
        }
    }
    failure
}

/// [`store_failure`] for `paks info NAME`, which looks in the repositories too: without
/// a close installed name, the close names the repositories have (`similar`) are the hint.
pub fn info_failure(
    store: &paks_store::Store,
    spec: &str,
    e: paks_store::StoreError,
    similar: &[paks_types::PackageName],
) -> Failure {
    let mut failure = store_failure(store, spec, e);
    let installed_hint = failure
        .hint
        .as_deref()
        .is_some_and(|h| h.starts_with("did you mean"));
    if !installed_hint && !similar.is_empty() {
        // `did_you_mean` words it for the end of a message: " (did you mean `x`?)".
        let offer = paks_resolve::did_you_mean(similar);
        let offer = offer
            .trim_start()
            .trim_start_matches('(')
            .trim_end_matches(')');
        failure.hint = Some(format!("{offer} (in the repositories, not installed)"));
    }
    failure
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_typos_and_containment_but_not_strangers() {
        let names = ["hello", "zlib-ng", "mulcalc", "cmake"];
        assert_eq!(closest("helo", &names), Some("hello"));
        assert_eq!(closest("hlelo", &names), Some("hello"));
        assert_eq!(closest("zlib", &names), Some("zlib-ng"));
        assert_eq!(closest("mulcal", &names), Some("mulcalc"));
        assert_eq!(closest("Hello", &names), Some("hello"));
        assert_eq!(closest("python", &names), None);
        assert_eq!(
            closest("hello", &names),
            None,
            "an exact name is no suggestion"
        );
        assert_eq!(closest("x", &names), None);
    }
}
