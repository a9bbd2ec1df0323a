//! Fuzzes the OData query-option parsers (`$filter`, `$orderby`, `$search`, `$select`, `$top`,
//! `$count` and whole query strings): no input may panic or answer a server error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| latchkey_graph::fuzz::odata_input(data));
