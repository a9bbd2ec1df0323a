//! Collections: the query options of a listing, Graph's rules for advanced queries, and the
//! page as Graph renders it, with `@odata.nextLink` an absolute URL on Latchkey's public URL
//! carrying an opaque `$skiptoken`.

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latchkey_core::query::{Filter, OrderBy};
use latchkey_core::store::{Page, UserQuery};
use latchkey_core::user::User;
use serde_json::{Map, Value, json};

use crate::error::{GraphError, clip};
use crate::odata;
use crate::user::to_json;

/// Graph's default page size.
const DEFAULT_TOP: u32 = 100;

/// The parsed query options of a collection request.
#[derive(Debug, Default)]
pub struct ListOptions {
    /// Every option as received (decoded), to carry into the next link.
    pairs: Vec<(String, String)>,
    pub select: Option<Vec<&'static str>>,
    pub filter: Option<Filter>,
    pub order: Option<OrderBy>,
    pub search: Option<Filter>,
    pub top: Option<u32>,
    pub count: bool,
    pub skiptoken: Option<String>,
    /// `$expand=manager` (on user listings only).
    pub expand_manager: bool,
}

fn once<T>(slot: &mut Option<T>, name: &str, value: T) -> Result<(), GraphError> {
    if slot.is_some() {
        return Err(GraphError::bad_request(format!(
            "Query option '{name}' is specified more than once."
        )));
    }
    *slot = Some(value);
    Ok(())
}

impl ListOptions {
    /// Parses a raw query string. With `queries` false (single objects, deleted items) only
    /// `$select`, `$top` and `$skiptoken` are accepted. `headers` carry `ConsistencyLevel`.
    pub fn parse(raw: &str, headers: &HeaderMap, queries: bool) -> Result<Self, GraphError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw)
            .map_err(|_| GraphError::bad_request("The query string is not valid."))?;
        let mut o = ListOptions::default();
        let mut count = None;
        let mut expand = None;
        for (key, value) in &pairs {
            let name = key.to_ascii_lowercase();
            match name.as_str() {
                "$select" => once(&mut o.select, "$select", odata::parse_select(value)?)?,
                "$top" => once(&mut o.top, "$top", odata::parse_top(value)?)?,
                "$skiptoken" => once(&mut o.skiptoken, "$skiptoken", decode_skiptoken(value)?)?,
                "$count" => once(&mut count, "$count", odata::parse_count(value)?)?,
                "$filter" | "$orderby" | "$search" if !queries => {
                    return Err(GraphError::unsupported(format!(
                        "Query option '{name}' is not supported on this resource."
                    )));
                }
                "$filter" => once(&mut o.filter, "$filter", odata::parse_filter(value)?)?,
                "$expand" if queries && value.trim().eq_ignore_ascii_case("manager") => {
                    once(&mut expand, "$expand", true)?;
                }
                "$expand" => {
                    return Err(GraphError::unsupported(format!(
                        "$expand={} is not supported: user listings expand only 'manager'.",
                        clip(value)
                    )));
                }
                "$orderby" => once(&mut o.order, "$orderby", odata::parse_orderby(value)?)?,
                "$search" => once(&mut o.search, "$search", odata::parse_search(value)?)?,
                n if n.starts_with('$') => {
                    return Err(GraphError::unsupported(format!(
                        "Query option '{}' is not supported.",
                        clip(key)
                    )));
                }
                // Graph ignores parameters that are not query options.
                _ => {}
            }
        }
        o.count = count.unwrap_or(false);
        o.expand_manager = expand.unwrap_or(false);
        if !eventual(headers) {
            let advanced = if o.filter.as_ref().is_some_and(Filter::is_advanced) {
                Some("this $filter (ne, not, endsWith or null comparisons)")
            } else if o.search.is_some() {
                Some("$search")
            } else if o.count {
                Some("$count")
            } else if o.order.is_some() && o.filter.is_some() {
                Some("$orderby combined with $filter")
            } else {
                None
            };
            if let Some(what) = advanced {
                return Err(GraphError::unsupported(format!(
                    "Unsupported query: {what} is an advanced query; send the header 'ConsistencyLevel: eventual' (and $count=true where Graph requires it)."
                )));
            }
        }
        o.pairs = pairs
            .into_iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("$skiptoken"))
            .collect();
        Ok(o)
    }

    /// The store query these options ask for.
    pub fn user_query(&self) -> Result<UserQuery, GraphError> {
        let filter = match (self.filter.clone(), self.search.clone()) {
            (Some(f), Some(s)) => Some(Filter::And(Box::new(f), Box::new(s))),
            (f, s) => f.or(s),
        };
        let order = self
            .order
            .unwrap_or_else(|| OrderBy::unrequested(filter.as_ref()));
        Ok(UserQuery {
            filter,
            order,
            after: self.skiptoken.clone(),
            limit: self.top.unwrap_or(DEFAULT_TOP),
            ..UserQuery::default()
        })
    }

    /// `users` or `users(id,displayName)` for `@odata.context`.
    pub fn context_fragment(&self, entity_set: &str) -> String {
        match &self.select {
            Some(s) => format!("{entity_set}({})", s.join(",")),
            None => entity_set.to_owned(),
        }
    }
}

/// Whether the request asks for eventual consistency, which Graph's advanced queries need.
pub fn eventual(headers: &HeaderMap) -> bool {
    headers
        .get("consistencylevel")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("eventual"))
}

pub(crate) fn decode_skiptoken(raw: &str) -> Result<String, GraphError> {
    URL_SAFE_NO_PAD
        .decode(raw.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            GraphError::bad_request(
                "The $skiptoken is not valid: use the @odata.nextLink of the previous page as it is.",
            )
        })
}

/// Percent-encodes a query component, keeping what needs no escape (and `$` in names).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'$') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One page of a collection, ready to render.
#[derive(Debug)]
pub struct Listing<'a> {
    /// The collection's absolute URL, without a query.
    pub base: String,
    pub context: String,
    pub options: &'a ListOptions,
    pub page: Page<User>,
    pub count: Option<u64>,
}

impl Listing<'_> {
    /// `{"@odata.context", "@odata.count"?, "value", "@odata.nextLink"?}`. `extra` is a
    /// property every item carries besides the selection (deleted items: their deletion time).
    pub fn render(self, extra: Option<&'static str>) -> Value {
        let mut out = Map::new();
        out.insert("@odata.context".into(), json!(self.context));
        if let Some(n) = self.count {
            out.insert("@odata.count".into(), json!(n));
        }
        let mut select: Option<Vec<&str>> = self.options.select.clone();
        if let (Some(extra), Some(s)) = (extra, select.as_mut())
            && !s.contains(&extra)
        {
            s.push(extra);
        }
        let items: Vec<Value> = self
            .page
            .items
            .iter()
            .map(|u| {
                let mut v = to_json(u, select.as_deref());
                if let (Some(extra), None, Value::Object(m)) = (extra, &select, &mut v)
                    && let Some(x) = crate::user::property(u, extra)
                {
                    m.insert(extra.into(), x);
                }
                v
            })
            .collect();
        out.insert("value".into(), Value::Array(items));
        if let Some(next) = self.page.next {
            let mut query: Vec<String> = self
                .options
                .pairs
                .iter()
                .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                .collect();
            query.push(format!("$skiptoken={}", URL_SAFE_NO_PAD.encode(next)));
            out.insert(
                "@odata.nextLink".into(),
                json!(format!("{}?{}", self.base, query.join("&"))),
            );
        }
        Value::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eventual() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("ConsistencyLevel", "eventual".parse().unwrap());
        h
    }

    #[test]
    fn advanced_queries_need_consistency_level_eventual() {
        for q in [
            "$filter=mail%20ne%20'a'",
            "$filter=endswith(mail,'x')",
            "$search=%22displayName:ada%22",
            "$count=true",
            "$orderby=displayName&$filter=accountEnabled%20eq%20true",
        ] {
            let e = ListOptions::parse(q, &HeaderMap::new(), true).unwrap_err();
            assert_eq!(e.code, "Request_UnsupportedQuery", "{q}");
            assert!(ListOptions::parse(q, &eventual(), true).is_ok(), "{q}");
        }
        for q in [
            "$filter=startswith(displayName,'a')",
            "$orderby=displayName",
            "$count=false",
        ] {
            assert!(
                ListOptions::parse(q, &HeaderMap::new(), true).is_ok(),
                "{q}"
            );
        }
    }

    #[test]
    fn options_may_not_repeat_and_unknown_system_options_are_refused() {
        let e = ListOptions::parse("$top=1&$top=2", &HeaderMap::new(), true).unwrap_err();
        assert!(e.message.contains("$top"));
        let e = ListOptions::parse("$expand=memberOf", &HeaderMap::new(), true).unwrap_err();
        assert_eq!(e.code, "Request_UnsupportedQuery");
        let e = ListOptions::parse("$expand=manager", &HeaderMap::new(), false).unwrap_err();
        assert_eq!(e.code, "Request_UnsupportedQuery");
        assert!(
            ListOptions::parse("$expand=manager", &HeaderMap::new(), true)
                .unwrap()
                .expand_manager
        );
        assert!(ListOptions::parse("api-version=1", &HeaderMap::new(), true).is_ok());
    }

    #[test]
    fn a_skiptoken_that_is_not_ours_is_a_bad_request() {
        let e = ListOptions::parse("$skiptoken=%%%", &HeaderMap::new(), true).unwrap_err();
        assert_eq!(e.code, "Request_BadRequest");
    }

    #[test]
    fn query_components_are_percent_encoded_but_dollar_names_stay_literal() {
        assert_eq!(encode("$filter"), "$filter");
        assert_eq!(
            encode("startswith(displayName,'a b')"),
            "startswith%28displayName%2C%27a%20b%27%29"
        );
    }
}
