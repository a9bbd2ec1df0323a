//! The OData fuzz target's body (`latchkey_graph::fuzz::odata_input`) over random input in
//! every `cargo test`, since cargo-fuzz needs nightly: raw bytes, text made of OData's own
//! tokens, and whole query strings. None may panic or answer a server error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use latchkey_graph::fuzz::odata_input;
use proptest::prelude::*;

/// Pieces of OData that reach deep into the parser when shuffled together.
const TOKENS: &[&str] = &[
    "$filter=",
    "$select=",
    "$orderby=",
    "$search=",
    "$top=",
    "$count=",
    "$skiptoken=",
    "$expand=",
    "&",
    "=",
    "%",
    "%2",
    "%27",
    "(",
    ")",
    "'",
    "''",
    "\"",
    ",",
    " ",
    ":",
    "/",
    "eq",
    "ne",
    "ge",
    "le",
    "gt",
    "lt",
    "in",
    "and",
    "or",
    "not",
    "startswith",
    "endswith",
    "any",
    "all",
    "x",
    "x:x/skuId",
    "assignedLicenses",
    "displayName",
    "userPrincipalName",
    "createdDateTime",
    "accountEnabled",
    "id",
    "true",
    "false",
    "null",
    "desc",
    "asc",
    "2026-01-01T00:00:00Z",
    "00000000-0000-0000-0000-000000000001",
    "999",
    "1000",
    "-1",
    "displayName:",
    "\u{0}",
    "é",
    "\u{FFFD}",
    "((((((((((",
    "))))))))))",
];

fn token_soup() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..40)
        .prop_map(|parts| parts.concat().into_bytes())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn no_random_bytes_make_a_parser_panic_or_answer_500(data in prop::collection::vec(any::<u8>(), 0..512)) {
        odata_input(&data);
    }

    #[test]
    fn no_soup_of_odata_tokens_makes_a_parser_panic_or_answer_500(data in token_soup()) {
        odata_input(&data);
    }
}

#[test]
fn deep_nesting_and_long_input_are_refused_not_crashed_on() {
    odata_input("(".repeat(100_000).as_bytes());
    odata_input(format!("$filter={}", "not ".repeat(10_000)).as_bytes());
    odata_input(format!("$filter=displayName in ({})", "'a',".repeat(5_000)).as_bytes());
}
