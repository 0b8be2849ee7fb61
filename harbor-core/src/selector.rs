//! Harbor's selectors: which repositories and tags a policy (tag
//! immutability now, tag retention later) applies to.
//!
//! A selector is Harbor's `{kind: "doublestar", decoration, pattern}`. The
//! pattern is a doublestar glob as Harbor's (`*` and `?` stay within one
//! `/`-separated segment, `**` crosses them, `{a,b}` is either); the
//! decoration says whether the selector keeps what the pattern matches
//! (`matches`, `repoMatches`) or everything else (`excludes`,
//! `repoExcludes`). Repository patterns see the repository name without its
//! project (`app/*`, not `library/app/*`), as Harbor's do.
//!
//! ```
//! use harbor_core::selector::{Decoration, Selector};
//! let tags = Selector::new(Decoration::Excludes, "dev-*")?;
//! assert!(tags.selects("v1.0"));
//! assert!(!tags.selects("dev-42"));
//! # Ok::<(), harbor_core::Error>(())
//! ```

use globset::{GlobBuilder, GlobMatcher};

use crate::error::{Error, ErrorCode, Result};

/// Harbor's only selector kind.
pub const DOUBLESTAR: &str = "doublestar";

/// The longest pattern accepted: enough for any list of names a person
/// writes, short enough that matching stays cheap.
pub const MAX_PATTERN_LEN: usize = 1024;

/// Whether a selector keeps what its pattern matches or the rest, with
/// Harbor's names: `matches`/`excludes` for tags, `repoMatches`/
/// `repoExcludes` for repositories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Decoration {
    /// Tags the pattern matches.
    Matches,
    /// Tags the pattern does not match.
    Excludes,
    /// Repositories the pattern matches.
    RepoMatches,
    /// Repositories the pattern does not match.
    RepoExcludes,
}

impl Decoration {
    /// Harbor's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Decoration::Matches => "matches",
            Decoration::Excludes => "excludes",
            Decoration::RepoMatches => "repoMatches",
            Decoration::RepoExcludes => "repoExcludes",
        }
    }

    /// Parses Harbor's name.
    pub fn parse(s: &str) -> Option<Decoration> {
        [
            Decoration::Matches,
            Decoration::Excludes,
            Decoration::RepoMatches,
            Decoration::RepoExcludes,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }

    /// Whether it is one of the tag decorations (else a repository one).
    pub fn is_for_tags(self) -> bool {
        matches!(self, Decoration::Matches | Decoration::Excludes)
    }

    /// Whether it keeps what the pattern does not match.
    fn excludes(self) -> bool {
        matches!(self, Decoration::Excludes | Decoration::RepoExcludes)
    }
}

/// One compiled doublestar selector.
#[derive(Debug, Clone)]
pub struct Selector {
    decoration: Decoration,
    pattern: String,
    glob: GlobMatcher,
}

impl PartialEq for Selector {
    fn eq(&self, other: &Self) -> bool {
        self.decoration == other.decoration && self.pattern == other.pattern
    }
}

impl Eq for Selector {}

impl Selector {
    /// Compiles `pattern`; `BAD_REQUEST` naming the problem if it is empty,
    /// too long or not a valid glob.
    pub fn new(decoration: Decoration, pattern: &str) -> Result<Selector> {
        if pattern.trim().is_empty() {
            return Err(bad("the pattern of a selector must not be empty".into()));
        }
        if pattern.len() > MAX_PATTERN_LEN {
            return Err(bad(format!(
                "the pattern of a selector is longer than {MAX_PATTERN_LEN} characters"
            )));
        }
        let glob = GlobBuilder::new(pattern)
            .literal_separator(true)
            .build()
            .map_err(|e| bad(format!("the pattern {pattern:?} is not valid: {e}")))?
            .compile_matcher();
        Ok(Selector {
            decoration,
            pattern: pattern.to_owned(),
            glob,
        })
    }

    /// Its decoration.
    pub fn decoration(&self) -> Decoration {
        self.decoration
    }

    /// Its pattern, as given.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Whether the selector keeps `candidate` (a tag, or a repository name
    /// without its project).
    pub fn selects(&self, candidate: &str) -> bool {
        self.glob.is_match(candidate) != self.decoration.excludes()
    }
}

/// A repository name without its project (`library/app/web` → `app/web`),
/// which repository selectors see; `None` for a name with no project.
pub fn repository_in_project(name: &str) -> Option<(&str, &str)> {
    name.split_once('/')
}

fn bad(message: String) -> Error {
    Error::new(ErrorCode::BadRequest, message)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sel(d: Decoration, p: &str) -> Selector {
        Selector::new(d, p).unwrap()
    }

    #[test]
    fn a_double_star_matches_every_tag_and_every_repository() {
        let all = sel(Decoration::Matches, "**");
        for tag in ["latest", "v1.0.0", "a", "1"] {
            assert!(all.selects(tag), "{tag}");
        }
        let repos = sel(Decoration::RepoMatches, "**");
        for repo in ["app", "app/web", "a/b/c"] {
            assert!(repos.selects(repo), "{repo}");
        }
    }

    #[test]
    fn excludes_inverts_the_pattern() {
        let release = sel(Decoration::Matches, "v*");
        let not_release = sel(Decoration::Excludes, "v*");
        for (tag, is_release) in [
            ("v1", true),
            ("v", true),
            ("latest", false),
            ("dev-v1", false),
        ] {
            assert_eq!(release.selects(tag), is_release, "{tag}");
            assert_eq!(not_release.selects(tag), !is_release, "{tag}");
        }
        let repos = sel(Decoration::RepoExcludes, "tmp/**");
        assert!(!repos.selects("tmp/x"));
        assert!(!repos.selects("tmp/x/y"));
        assert!(repos.selects("app"));
    }

    #[test]
    fn a_single_star_stays_within_one_path_segment() {
        let one = sel(Decoration::RepoMatches, "app/*");
        assert!(one.selects("app/web"));
        assert!(!one.selects("app/web/api"), "* does not cross /");
        assert!(!one.selects("app"));
        let deep = sel(Decoration::RepoMatches, "app/**");
        assert!(deep.selects("app/web/api"));
        let top = sel(Decoration::RepoMatches, "*");
        assert!(top.selects("hello"));
        assert!(!top.selects("app/web"));
    }

    #[test]
    fn alternatives_and_single_characters_match_as_harbors() {
        let alt = sel(Decoration::Matches, "{latest,stable,v?.*}");
        for tag in ["latest", "stable", "v1.0", "v2.x"] {
            assert!(alt.selects(tag), "{tag}");
        }
        for tag in ["v10.0", "nightly", "stable2"] {
            assert!(!alt.selects(tag), "{tag}");
        }
    }

    #[test]
    fn bad_patterns_are_refused_with_bad_request() {
        for p in ["", "  ", "{a,b", "[z-a]"] {
            let e = Selector::new(Decoration::Matches, p).unwrap_err();
            assert_eq!(e.code(), ErrorCode::BadRequest, "{p:?}");
        }
        let long = "a".repeat(MAX_PATTERN_LEN + 1);
        assert!(Selector::new(Decoration::Matches, &long).is_err());
    }

    #[test]
    fn decorations_parse_back_and_know_their_target() {
        for d in [
            Decoration::Matches,
            Decoration::Excludes,
            Decoration::RepoMatches,
            Decoration::RepoExcludes,
        ] {
            assert_eq!(Decoration::parse(d.as_str()), Some(d));
        }
        assert!(Decoration::Excludes.is_for_tags());
        assert!(!Decoration::RepoMatches.is_for_tags());
        assert_eq!(Decoration::parse("regex"), None);
    }

    #[test]
    fn a_repository_is_seen_without_its_project() {
        assert_eq!(
            repository_in_project("library/app/web"),
            Some(("library", "app/web"))
        );
        assert_eq!(repository_in_project("hello"), None);
    }
}
