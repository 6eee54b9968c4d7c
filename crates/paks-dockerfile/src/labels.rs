//! The pairs of a `LABEL` instruction: `k=v`, `"k"="v w"`, `k='v'`, escaped quotes,
//! several per instruction; and the legacy `LABEL k v` (one pair, the value the rest).
//! `LABEL` has no exec (JSON) form: a `[` is just text.

use std::ops::Range;

use crate::words;

/// One pair, with ranges in the instruction's argument text.
pub(crate) struct Pair {
    pub key: String,
    pub value: String,
    pub span: Range<usize>,
    /// Empty for `k=` (no value).
    pub value_span: Range<usize>,
}

/// The pairs of `args`, or why Docker refuses them.
pub(crate) fn pairs(args: &str, escape: char) -> Result<Vec<Pair>, String> {
    let words = words::split(args, escape);
    let Some(first) = words.first() else {
        return Err("`LABEL` without a `key=value` pair".into());
    };
    if !args[first.clone()].contains('=') {
        return legacy(args, first.clone(), escape).map(|pair| vec![pair]);
    }
    words
        .into_iter()
        .map(|word| {
            let raw = &args[word.clone()];
            let Some(eq) = raw.find('=') else {
                return Err(format!("`LABEL` pair `{raw}` has no `=`"));
            };
            if eq == 0 {
                return Err(format!("`LABEL` pair `{raw}` has no key"));
            }
            let key_span = word.start..word.start + eq;
            let value_span = word.start + eq + 1..word.end;
            Ok(Pair {
                key: words::unquote(&args[key_span.clone()], escape),
                value: words::unquote(&args[value_span.clone()], escape),
                span: word,
                value_span,
            })
        })
        .collect()
}

/// `LABEL key the value, up to the end`.
fn legacy(args: &str, key_span: Range<usize>, escape: char) -> Result<Pair, String> {
    let after = &args[key_span.end..];
    let value_start = key_span.end + (after.len() - after.trim_start().len());
    let value_end = args.trim_end().len();
    if value_start >= value_end {
        return Err(format!("`LABEL {}` has no value", &args[key_span.clone()]));
    }
    let value_span = value_start..value_end;
    Ok(Pair {
        key: words::unquote(&args[key_span.clone()], escape),
        value: words::unquote(&args[value_span.clone()], escape),
        span: key_span.start..value_end,
        value_span,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(args: &str) -> Vec<(String, String, &str)> {
        pairs(args, '\\')
            .unwrap()
            .into_iter()
            .map(|p| (p.key, p.value, &args[p.span]))
            .collect()
    }

    #[test]
    fn forms() {
        let got = kv(r#"a=b "c d"="e f" g='h i' j="say \"hi\"" k= "#);
        let want = [
            ("a", "b", "a=b"),
            ("c d", "e f", r#""c d"="e f""#),
            ("g", "h i", "g='h i'"),
            ("j", r#"say "hi""#, r#"j="say \"hi\"""#),
            ("k", "", "k="),
        ];
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert_eq!((g.0.as_str(), g.1.as_str(), g.2), w);
        }
        assert_eq!(
            kv("maintainer  Jane Doe <jane@example.invalid>  "),
            [(
                "maintainer".to_string(),
                "Jane Doe <jane@example.invalid>".to_string(),
                "maintainer  Jane Doe <jane@example.invalid>"
            )]
        );
    }

    #[test]
    fn refused() {
        assert!(pairs("", '\\').is_err());
        assert!(pairs("a=b c", '\\').is_err());
        assert!(pairs("=b", '\\').is_err());
        assert!(pairs("lonely", '\\').is_err());
    }
}
