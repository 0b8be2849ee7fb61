//! Forms read as their list of fields, for forms whose checkboxes repeat a
//! name (which a struct cannot take).

/// A form as its list of fields, in the order sent.
pub(crate) type Fields = Vec<(String, String)>;

/// The first value of `key`, trimmed; empty when the form lacks it.
pub(crate) fn field(form: &Fields, key: &str) -> String {
    form.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default()
}

/// Every value of `key` (each checked box of a group), in order.
pub(crate) fn values<'a>(form: &'a Fields, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    form.iter()
        .filter(move |(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// A form from its pairs, for tests.
#[cfg(test)]
pub(crate) fn of(pairs: &[(&str, &str)]) -> Fields {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_is_its_first_value_trimmed_and_values_keep_the_order_sent() {
        let form = of(&[("a", " x "), ("b", "1"), ("a", "y")]);
        assert_eq!(field(&form, "a"), "x");
        assert_eq!(field(&form, "missing"), "");
        assert_eq!(values(&form, "a").collect::<Vec<_>>(), [" x ", "y"]);
    }
}
