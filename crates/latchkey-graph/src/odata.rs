//! Graph's OData query options for user listings. The `$filter`, `$orderby`, `$search`,
//! `$top` and `$count` parsers live in core (`latchkey_core::odata`, shared with workflow
//! scopes); `$select` is here because it names Graph's JSON properties.

use latchkey_core::odata::unknown_property;
pub use latchkey_core::odata::{
    QueryError, parse_count, parse_filter, parse_orderby, parse_search, parse_top,
};

use crate::user::ALL_PROPERTIES;

/// `$select`: known property names, in Graph's spelling, in the order given.
pub fn parse_select(raw: &str) -> Result<Vec<&'static str>, QueryError> {
    let mut out: Vec<&'static str> = Vec::new();
    for name in raw.split(',').map(str::trim) {
        if name.is_empty() {
            return Err(QueryError::Bad(
                "Parsing OData Select and Expand failed: an empty property name in $select.".into(),
            ));
        }
        let known = ALL_PROPERTIES
            .iter()
            .find(|p| p.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                QueryError::Bad(format!(
                    "Parsing OData Select and Expand failed: {}",
                    unknown_property(name)
                ))
            })?;
        if !out.contains(known) {
            out.push(known);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_keeps_graphs_spelling_and_names_unknown_properties() {
        assert_eq!(
            parse_select("ID,displayname,accountEnabled").unwrap(),
            vec!["id", "displayName", "accountEnabled"]
        );
        match parse_select("id,shoeSize") {
            Err(QueryError::Bad(m)) => assert!(m.contains("shoeSize")),
            other => panic!("{other:?}"),
        }
        assert!(parse_select("id,,mail").is_err());
    }
}
