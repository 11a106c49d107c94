//! Reading forms with numbered rows (`rule[0].resourceType`, `qualification[2].issuer`).

/// `("rule", "rule[3].criteria")` → `(3, "criteria")`; `None` for other keys and for
/// indexes at or past `max` (a form cannot make the server keep unbounded rows).
pub fn indexed_field<'a>(prefix: &str, key: &'a str, max: usize) -> Option<(usize, &'a str)> {
    let rest = key.strip_prefix(prefix)?.strip_prefix('[')?;
    let (index, field) = rest.split_once("].")?;
    let index = index.parse::<usize>().ok().filter(|i| *i < max)?;
    Some((index, field))
}

#[cfg(test)]
mod tests {
    use super::indexed_field;

    #[test]
    fn numbered_row_fields_are_read_and_bounded() {
        assert_eq!(
            indexed_field("rule", "rule[3].criteria", 10),
            Some((3, "criteria"))
        );
        assert_eq!(indexed_field("rule", "rule[10].criteria", 10), None);
        assert_eq!(indexed_field("rule", "rules[1].x", 10), None);
        assert_eq!(indexed_field("rule", "rule[x].criteria", 10), None);
        assert_eq!(indexed_field("rule", "name", 10), None);
    }
}
