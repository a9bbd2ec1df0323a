//! Properties of the OData parser, over generated input: it never panics on any text, and
//! every filter Latchkey can represent survives being written as OData and parsed back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use latchkey_core::query::{Comparison, Filter, Literal, UserProperty};
use latchkey_graph::odata::{parse_filter, parse_orderby, parse_search, parse_select};
use proptest::prelude::*;

const TEXT_PROPERTIES: [UserProperty; 6] = [
    UserProperty::DisplayName,
    UserProperty::UserPrincipalName,
    UserProperty::Mail,
    UserProperty::City,
    UserProperty::JobTitle,
    UserProperty::Department,
];

fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The filter as a client would write it; binary nodes are parenthesised.
fn render(f: &Filter) -> String {
    match f {
        Filter::Compare {
            property,
            op,
            value,
        } => {
            let op = match op {
                Comparison::Eq => "eq",
                Comparison::Ne => "ne",
                Comparison::Ge => "ge",
                Comparison::Le => "le",
                Comparison::Gt => "gt",
                Comparison::Lt => "lt",
            };
            let value = match value {
                Literal::Text(s) => quoted(s),
                Literal::Bool(b) => b.to_string(),
                Literal::Null => "null".into(),
                Literal::Id(id) => quoted(&id.to_string()),
                Literal::DateTime(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            };
            format!("{} {op} {value}", property.graph_name())
        }
        Filter::In { property, values } => {
            let values: Vec<String> = values
                .iter()
                .map(|v| match v {
                    Literal::Text(s) => quoted(s),
                    _ => unreachable!("only text in generated lists"),
                })
                .collect();
            format!("{} in ({})", property.graph_name(), values.join(", "))
        }
        Filter::StartsWith { property, prefix } => {
            format!("startswith({}, {})", property.graph_name(), quoted(prefix))
        }
        Filter::EndsWith { property, suffix } => {
            format!("endsWith({},{})", property.graph_name(), quoted(suffix))
        }
        Filter::And(a, b) => format!("({} and {})", render(a), render(b)),
        Filter::Or(a, b) => format!("({} or {})", render(a), render(b)),
        Filter::Not(a) => format!("not ({})", render(a)),
        Filter::HasLicense(sku) => format!("assignedLicenses/any(x:x/skuId eq {sku})"),
        Filter::WordStartsWith { .. } | Filter::ReportsTo(_) => unreachable!("not a $filter form"),
    }
}

fn text_property() -> impl Strategy<Value = UserProperty> {
    proptest::sample::select(TEXT_PROPERTIES.to_vec())
}

fn leaf() -> impl Strategy<Value = Filter> {
    let text = "\\PC{0,12}";
    prop_oneof![
        (
            text_property(),
            proptest::sample::select(vec![Comparison::Eq, Comparison::Ne, Comparison::Ge]),
            text
        )
            .prop_map(|(property, op, s)| Filter::Compare {
                property,
                op,
                value: Literal::Text(s)
            }),
        (text_property(), proptest::bool::ANY).prop_map(|(property, ne)| Filter::Compare {
            property,
            op: if ne { Comparison::Ne } else { Comparison::Eq },
            value: Literal::Null
        }),
        proptest::bool::ANY.prop_map(|b| Filter::Compare {
            property: UserProperty::AccountEnabled,
            op: Comparison::Eq,
            value: Literal::Bool(b)
        }),
        (0i64..4_000_000_000).prop_map(|secs| Filter::Compare {
            property: UserProperty::CreatedDateTime,
            op: Comparison::Le,
            value: Literal::DateTime(chrono::DateTime::from_timestamp(secs, 0).unwrap())
        }),
        (text_property(), text)
            .prop_map(|(property, prefix)| Filter::StartsWith { property, prefix }),
        (text_property(), text)
            .prop_map(|(property, suffix)| Filter::EndsWith { property, suffix }),
        (text_property(), proptest::collection::vec(text, 1..5)).prop_map(|(property, v)| {
            Filter::In {
                property,
                values: v.into_iter().map(Literal::Text).collect(),
            }
        }),
        proptest::array::uniform16(proptest::num::u8::ANY).prop_map(|b| Filter::HasLicense(
            latchkey_core::ids::SkuId::from_uuid(uuid::Uuid::from_bytes(b))
        )),
    ]
}

fn filter() -> impl Strategy<Value = Filter> {
    leaf().prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
            inner.prop_map(|a| Filter::Not(Box::new(a))),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn any_text_gets_a_value_or_an_error_never_a_panic(input in "\\PC{0,200}") {
        let _ = parse_filter(&input);
        let _ = parse_select(&input);
        let _ = parse_orderby(&input);
        let _ = parse_search(&input);
    }

    #[test]
    fn filter_shaped_noise_never_panics(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("(".to_owned()), Just(")".to_owned()), Just("'".to_owned()),
                Just(",".to_owned()), Just(" eq ".to_owned()), Just(" and ".to_owned()),
                Just(" or ".to_owned()), Just("not ".to_owned()), Just(" in ".to_owned()),
                Just("startswith".to_owned()), Just("displayName".to_owned()),
                Just("accountEnabled".to_owned()), Just("null".to_owned()), Just("/".to_owned()),
                Just("assignedLicenses/any(".to_owned()), Just("x:x/skuId".to_owned()), Just(":".to_owned()),
                "\\PC{0,4}",
            ],
            0..40,
        )
    ) {
        let _ = parse_filter(&parts.concat());
    }

    #[test]
    fn every_representable_filter_round_trips_through_its_odata_text(f in filter()) {
        let text = render(&f);
        let parsed = parse_filter(&text);
        prop_assert_eq!(parsed, Ok(f), "{}", text);
    }
}
