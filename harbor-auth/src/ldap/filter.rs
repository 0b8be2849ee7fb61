//! Search filters built from configured parts and values from users: the
//! values always escaped (RFC 4515), so that a user name like `*` or
//! `admin)(uid=*` is a literal name, never a wider filter.

use std::borrow::Cow;

use crate::error::AuthError;

/// A configured filter in its parenthesised form (Harbor accepts
/// `objectClass=person` for `(objectClass=person)`), checked; `None` when
/// empty.
pub(super) fn normalize(key: &str, filter: &str) -> Result<Option<String>, AuthError> {
    let f = filter.trim();
    if f.is_empty() {
        return Ok(None);
    }
    let f = if f.starts_with('(') {
        f.to_owned()
    } else {
        format!("({f})")
    };
    ldap3::parse_filter(&f)
        .map_err(|()| AuthError::BadRequest(format!("{key} {filter:?} is not an LDAP filter")))?;
    Ok(Some(f))
}

/// `(attr=value)` with `value` escaped, or `(attr=*)` for an empty value
/// (Harbor: every entry that has the attribute), and-ed with `base`.
pub(super) fn equal(base: Option<&str>, attr: &str, value: &str) -> String {
    let value = if value.is_empty() {
        Cow::Borrowed("*")
    } else {
        ldap3::ldap_escape(value)
    };
    and(base, &format!("({attr}={value})"))
}

/// `(&base(one)(two)...)`, or `clause` alone without a base.
pub(super) fn and(base: Option<&str>, clause: &str) -> String {
    match base {
        Some(b) => format!("(&{b}{clause})"),
        None => clause.to_owned(),
    }
}

/// One RDN `attr=value`, the value escaped per RFC 4514, for building a DN
/// from a value that may hold `,`, `+`, `=`, `\` and the like.
///
/// ```
/// assert_eq!(harbor_auth::ldap::rdn("uid", "a,b+c"), "uid=a\\2cb\\2bc");
/// ```
pub fn rdn(attr: &str, value: &str) -> String {
    format!("{attr}={}", ldap3::dn_escape(value))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn values_from_users_are_escaped_in_filters() {
        assert_eq!(equal(None, "uid", "alice"), "(uid=alice)");
        assert_eq!(equal(None, "uid", "*"), "(uid=\\2a)");
        assert_eq!(
            equal(Some("(objectClass=person)"), "uid", "admin)(uid=*"),
            "(&(objectClass=person)(uid=admin\\29\\28uid=\\2a))"
        );
        assert_eq!(equal(None, "uid", "a\\b"), "(uid=a\\5cb)");
        assert_eq!(equal(None, "uid", "nul\0"), "(uid=nul\\00)");
        // Every escaped filter still parses, and as one equality test.
        for v in ["*", "admin)(uid=*", "(", ")", "\\", "x*)(|(uid=*"] {
            let f = equal(Some("(objectClass=*)"), "uid", v);
            ldap3::parse_filter(&f).unwrap();
        }
    }

    #[test]
    fn an_empty_value_matches_every_entry_with_the_attribute() {
        assert_eq!(equal(None, "cn", ""), "(cn=*)");
    }

    #[test]
    fn configured_filters_get_their_parentheses_and_are_checked() {
        assert_eq!(
            normalize("f", "objectClass=person").unwrap().unwrap(),
            "(objectClass=person)"
        );
        assert_eq!(
            normalize("f", " (!(description=disabled)) ")
                .unwrap()
                .unwrap(),
            "(!(description=disabled))"
        );
        assert_eq!(normalize("f", "").unwrap(), None);
        assert!(normalize("f", "(objectClass=person").is_err());
        assert!(normalize("f", "(&(a=b)").is_err());
    }

    #[test]
    fn dn_values_are_escaped_per_rfc_4514() {
        assert_eq!(rdn("cn", "plain"), "cn=plain");
        assert_eq!(rdn("cn", "a,b"), "cn=a\\2cb");
        assert_eq!(rdn("cn", "a+b=c"), "cn=a\\2bb\\3dc");
        assert_eq!(rdn("cn", "back\\slash"), "cn=back\\5cslash");
        assert_eq!(rdn("cn", " lead"), "cn=\\20lead");
        assert_eq!(rdn("cn", "#hash"), "cn=\\23hash");
    }
}
