//! Harbor's `q` query: `k=v` (exact), `k=~v` (fuzzy: contains), `k=[a~b]`
//! (range, either end open), `k={a b}` (any of), `k=(a b)` (all of), items
//! joined by `,`; values may be quoted with `"` or `'`.

use std::collections::BTreeMap;

/// One condition of a `q`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    /// `k=v`.
    Exact(String),
    /// `k=~v`.
    Fuzzy(String),
    /// `k=[a~b]`.
    Range(Option<String>, Option<String>),
    /// `k={a b}`.
    AnyOf(Vec<String>),
    /// `k=(a b)`.
    AllOf(Vec<String>),
}

/// A parsed `q`: conditions by key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Q(BTreeMap<String, Cond>);

/// Why a `q` does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("q {q:?} is malformed: {why}")]
pub struct QError {
    q: String,
    why: &'static str,
}

impl Q {
    /// Parses `q` (absent or empty: no conditions).
    pub fn parse(q: Option<&str>) -> Result<Q, QError> {
        let mut out = BTreeMap::new();
        let Some(text) = q.filter(|q| !q.trim().is_empty()) else {
            return Ok(Q(out));
        };
        let bad = |why| QError {
            q: text.to_owned(),
            why,
        };
        for item in split_top(text).map_err(bad)? {
            let (k, v) = item
                .split_once('=')
                .ok_or_else(|| bad("an item is not key=value"))?;
            let k = k.trim();
            if k.is_empty() {
                return Err(bad("an item has no key"));
            }
            let v = v.trim();
            let cond = if let Some(rest) = v.strip_prefix('~') {
                Cond::Fuzzy(unquote(rest))
            } else if let Some(inner) = v.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                let (a, b) = inner
                    .split_once('~')
                    .ok_or_else(|| bad("a range is [min~max]"))?;
                let end = |s: &str| Some(unquote(s.trim())).filter(|s| !s.is_empty());
                Cond::Range(end(a), end(b))
            } else if let Some(inner) = v.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
                Cond::AnyOf(inner.split_whitespace().map(unquote).collect())
            } else if let Some(inner) = v.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
                Cond::AllOf(inner.split_whitespace().map(unquote).collect())
            } else {
                Cond::Exact(unquote(v))
            };
            out.insert(k.to_owned(), cond);
        }
        Ok(Q(out))
    }

    /// The condition on `key`, if any.
    pub fn get(&self, key: &str) -> Option<&Cond> {
        self.0.get(key)
    }

    /// For a key that is matched by text: `Some((text, fuzzy))` for `k=v`
    /// and `k=~v`; other forms on such a key are refused.
    pub fn text(&self, key: &str) -> Result<Option<(&str, bool)>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Cond::Exact(v)) => Ok(Some((v, false))),
            Some(Cond::Fuzzy(v)) => Ok(Some((v, true))),
            Some(_) => Err(format!("q: {key} takes k=v or k=~v")),
        }
    }
}

/// How a `q` condition on a text key selects values, for lists filtered in
/// memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextMatch<'a> {
    /// No condition: everything.
    Any,
    /// `k=v`: exactly `v`.
    Exact(&'a str),
    /// `k=~v`: anything containing `v`.
    Contains(&'a str),
}

impl TextMatch<'_> {
    /// Whether `value` is selected.
    pub fn matches(&self, value: &str) -> bool {
        match self {
            TextMatch::Any => true,
            TextMatch::Exact(v) => value == *v,
            TextMatch::Contains(v) => value.contains(v),
        }
    }
}

impl Q {
    /// The condition on text key `key` as a [`TextMatch`]; forms other than
    /// `k=v` and `k=~v` are refused.
    pub fn matcher(&self, key: &str) -> Result<TextMatch<'_>, String> {
        Ok(match self.text(key)? {
            None => TextMatch::Any,
            Some((v, true)) => TextMatch::Contains(v),
            Some((v, false)) => TextMatch::Exact(v),
        })
    }
}

/// Splits at the commas that are not inside brackets or quotes.
fn split_top(text: &str) -> Result<Vec<&str>, &'static str> {
    let mut items = Vec::new();
    let (mut depth, mut quote, mut start) = (0usize, None, 0usize);
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[' | '{' | '(') => depth += 1,
            (None, ']' | '}' | ')') => {
                depth = depth
                    .checked_sub(1)
                    .ok_or("a bracket closes that never opened")?
            }
            (None, ',') if depth == 0 => {
                items.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if quote.is_some() || depth != 0 {
        return Err("a quote or bracket is left open");
    }
    items.push(&text[start..]);
    Ok(items.into_iter().filter(|i| !i.trim().is_empty()).collect())
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner.to_owned();
        }
    }
    s.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Q {
        Q::parse(Some(s)).unwrap()
    }

    #[test]
    fn every_form_harbor_documents_parses() {
        let parsed = q("name=~foo,public=true,creation_time=[2020-01-01~2021-01-01],id={1 2 3},tags=(a b),op_time=[~'2021-01-01 00:00:00']");
        assert_eq!(parsed.get("name"), Some(&Cond::Fuzzy("foo".into())));
        assert_eq!(parsed.get("public"), Some(&Cond::Exact("true".into())));
        assert_eq!(
            parsed.get("creation_time"),
            Some(&Cond::Range(
                Some("2020-01-01".into()),
                Some("2021-01-01".into())
            ))
        );
        assert_eq!(
            parsed.get("id"),
            Some(&Cond::AnyOf(vec!["1".into(), "2".into(), "3".into()]))
        );
        assert_eq!(
            parsed.get("tags"),
            Some(&Cond::AllOf(vec!["a".into(), "b".into()]))
        );
        assert_eq!(
            parsed.get("op_time"),
            Some(&Cond::Range(None, Some("2021-01-01 00:00:00".into())))
        );
        assert_eq!(
            q("name=\"a,b\"").get("name"),
            Some(&Cond::Exact("a,b".into()))
        );
        assert_eq!(Q::parse(None), Ok(Q::default()));
        assert_eq!(Q::parse(Some(" ")), Ok(Q::default()));
    }

    #[test]
    fn malformed_queries_are_refused() {
        for bad in ["name", "=x", "a=[1 2]", "a={1", "a=\"x", "a=)(", "a=1]"] {
            assert!(Q::parse(Some(bad)).is_err(), "{bad}");
        }
        assert!(q("id={1 2}").text("id").is_err());
        assert_eq!(q("name=~x").text("name"), Ok(Some(("x", true))));
    }
}
