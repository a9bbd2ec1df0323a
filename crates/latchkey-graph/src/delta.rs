//! `GET /v1.0/users/delta`: Graph's change tracking for users. A round pages with
//! `@odata.nextLink` (`$skiptoken`) and ends with `@odata.deltaLink` (`$deltatoken`); both
//! tokens are core's sealed round state, which also remembers `$select` and the page size,
//! so the links carry nothing else; `$filter=id eq '…' or …` tracks only those users (at most
//! 50), remembered the same way. Removed users are `{"id", "@removed": {"reason"}}`:
//! `changed` while in the recycle bin, `deleted` once gone for good.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use latchkey_core::directory::{DeltaError, DeltaNext, DeltaRequest, DeltaStart};
use latchkey_core::ids::UserId;
use latchkey_core::query::{Comparison, Filter, Literal, UserProperty};
use latchkey_core::store::UserChangeKind;
use serde_json::{Map, Value, json};

use crate::auth::Caller;
use crate::error::{GraphError, clip};
use crate::http::{GraphState, context, json_response};
use crate::{licenses, odata};

impl From<DeltaError> for GraphError {
    fn from(e: DeltaError) -> Self {
        match e {
            DeltaError::Expired => {
                GraphError::new(StatusCode::BAD_REQUEST, "syncStateNotFound", e.to_string())
            }
            DeltaError::Directory(d) => d.into(),
        }
    }
}

fn once<'a>(slot: &mut Option<&'a str>, name: &str, value: &'a str) -> Result<(), GraphError> {
    if slot.replace(value).is_some() {
        return Err(GraphError::bad_request(format!(
            "Query option '{name}' is specified more than once."
        )));
    }
    Ok(())
}

/// `$filter` on delta: only `id eq '…'` joined by `or`, as Graph allows.
fn tracked_ids(raw: &str) -> Result<Vec<UserId>, GraphError> {
    fn walk(f: &Filter, out: &mut Vec<UserId>) -> bool {
        match f {
            Filter::Compare {
                property: UserProperty::Id,
                op: Comparison::Eq,
                value: Literal::Id(id),
            } => {
                out.push(*id);
                true
            }
            Filter::Or(a, b) => walk(a, out) && walk(b, out),
            _ => false,
        }
    }
    let filter = odata::parse_filter(raw)?;
    let mut ids = Vec::new();
    if !walk(&filter, &mut ids) {
        return Err(GraphError::unsupported(
            "users/delta supports only $filter=id eq '{id}', several joined by 'or'.",
        ));
    }
    ids.sort_by_key(UserId::as_uuid);
    ids.dedup();
    Ok(ids)
}

pub(crate) async fn users_delta(
    caller: Caller,
    State(state): State<GraphState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|_| GraphError::bad_request("The query string is not valid."))?;
    let (mut select, mut top, mut skip, mut delta, mut filter) = (None, None, None, None, None);
    for (key, value) in &pairs {
        match key.to_ascii_lowercase().as_str() {
            "$select" => once(&mut select, "$select", value)?,
            "$top" => once(&mut top, "$top", value)?,
            "$skiptoken" => once(&mut skip, "$skiptoken", value)?,
            "$deltatoken" => once(&mut delta, "$deltatoken", value)?,
            "$filter" => once(&mut filter, "$filter", value)?,
            n if n.starts_with('$') => {
                return Err(GraphError::unsupported(format!(
                    "Query option '{}' is not supported on users/delta: use $select, $filter on id (and $top) on the first request.",
                    clip(key)
                )));
            }
            // Graph ignores parameters that are not query options.
            _ => {}
        }
    }
    let start = match (skip, delta) {
        (Some(_), Some(_)) => {
            return Err(GraphError::bad_request(
                "Give either $skiptoken or $deltatoken, not both.",
            ));
        }
        (Some(t), None) => DeltaStart::Page(t),
        (None, Some(t)) if t.trim().eq_ignore_ascii_case("latest") => DeltaStart::Latest,
        (None, Some(t)) => DeltaStart::Round(t),
        (None, None) => DeltaStart::Initial,
    };
    let select = select
        .map(odata::parse_select)
        .transpose()?
        .map(|s| s.into_iter().map(str::to_owned).collect());
    let limit = top.map(odata::parse_top).transpose()?;
    let ids = filter.map(tracked_ids).transpose()?;
    let page = state
        .directory
        .user_delta(
            &caller.actor,
            caller.tenant,
            DeltaRequest {
                start,
                select,
                limit,
                ids,
            },
        )
        .await?;
    // What the token remembers was a valid selection when it was sealed.
    let select: Option<Vec<&'static str>> = page
        .select
        .as_ref()
        .map(|s| odata::parse_select(&s.join(",")))
        .transpose()?;
    let mut present: Vec<UserId> = Vec::new();
    let mut present_items: Vec<Value> = Vec::new();
    let mut order: Vec<Result<usize, Value>> = Vec::new();
    for change in &page.changes {
        match &change.kind {
            UserChangeKind::Present(user) => {
                present.push(user.id);
                let mut item = crate::user::to_json(user, select.as_deref());
                // Graph always returns the id on delta, selected or not.
                if let Value::Object(map) = &mut item {
                    map.entry("id")
                        .or_insert_with(|| json!(user.id.to_string()));
                }
                present_items.push(item);
                order.push(Ok(present_items.len() - 1));
            }
            UserChangeKind::SoftDeleted | UserChangeKind::Deleted => {
                let reason = if matches!(change.kind, UserChangeKind::Deleted) {
                    "deleted"
                } else {
                    "changed"
                };
                order.push(Err(json!({
                    "@odata.type": "#microsoft.graph.user",
                    "id": change.id.to_string(),
                    "@removed": { "reason": reason },
                })));
            }
        }
    }
    // A page's licences in one call, as on /users.
    licenses::fill_assigned(
        &state,
        &caller,
        select.as_deref(),
        &present,
        &mut present_items,
    )
    .await?;
    let items: Vec<Value> = order
        .into_iter()
        .map(|slot| match slot {
            Ok(i) => present_items
                .get_mut(i)
                .map(Value::take)
                .unwrap_or_default(),
            Err(removed) => removed,
        })
        .collect();
    let base = format!("{}/v1.0/users/delta", state.public_url);
    let mut out = Map::new();
    out.insert("@odata.context".into(), json!(context(&state, "users")));
    out.insert("value".into(), Value::Array(items));
    match page.next {
        DeltaNext::Page(t) => {
            out.insert(
                "@odata.nextLink".into(),
                json!(format!("{base}?$skiptoken={t}")),
            );
        }
        DeltaNext::Round(t) => {
            out.insert(
                "@odata.deltaLink".into(),
                json!(format!("{base}?$deltatoken={t}")),
            );
        }
    }
    Ok(json_response(StatusCode::OK, &Value::Object(out)))
}
