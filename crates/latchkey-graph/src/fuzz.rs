//! The body of the OData fuzz target (`fuzz/fuzz_targets/odata.rs`, run with cargo-fuzz on
//! nightly) and of its stable twin (`tests/odata_fuzz.rs`, random bytes through proptest in
//! every `cargo test`): whatever the bytes, each query-option parser answers a value or a
//! Graph 4xx, never a panic and never a 5xx.

use axum::http::{HeaderMap, HeaderValue};

use crate::error::GraphError;
use crate::list::ListOptions;
use crate::odata;

/// Runs every parser of a request's query over `data`; panics (a finding) only when a
/// parser answers with a server error.
pub fn odata_input(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();
    let refused = |e: GraphError| {
        assert!(
            e.status.is_client_error(),
            "{} for {text:?}: {}",
            e.status,
            e.message
        );
    };
    // Each option's own parser, over the raw text.
    let _ = odata::parse_filter(text).map_err(|e| refused(e.into()));
    let _ = odata::parse_orderby(text).map_err(|e| refused(e.into()));
    let _ = odata::parse_search(text).map_err(|e| refused(e.into()));
    let _ = odata::parse_select(text).map_err(|e| refused(e.into()));
    let _ = odata::parse_top(text).map_err(|e| refused(e.into()));
    let _ = odata::parse_count(text).map_err(|e| refused(e.into()));
    // And the whole query string, as it arrives, with and without eventual consistency.
    let mut eventual = HeaderMap::new();
    eventual.insert("consistencylevel", HeaderValue::from_static("eventual"));
    for headers in [HeaderMap::new(), eventual] {
        for collection in [true, false] {
            match ListOptions::parse(text, &headers, collection) {
                Ok(options) => {
                    let _ = options.user_query().map_err(refused);
                }
                Err(e) => refused(e),
            }
        }
    }
}
