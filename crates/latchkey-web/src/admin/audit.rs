//! The audit log: directory audits and sign-ins (`Directory::directory_audits` and
//! `sign_in_log`, `Action::ReadAuditLogs`), filtered by time range, actor, target and
//! activity, paged by the store's keyset cursor, and exported as CSV: the filtered view,
//! streamed one page at a time (memory stays one page however long the log), every cell
//! neutralised against formula injection.

use std::sync::Arc;

use askama::Template;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use latchkey_core::audit::AuditEvent;
use latchkey_core::authz::Actor;
use latchkey_core::directory::UserRef;
use latchkey_core::ids::{TenantId, UserId};
use latchkey_core::names::Upn;
use latchkey_core::sign_in::SignInEvent;
use latchkey_core::store::{AuditQuery, SignInQuery};

use super::csv_out::{download, record};
use super::{
    Chrome, Directory, DirectoryError, Form, Viewer, WebState, denied_or_transient, html, viewer,
};

const TIME: &str = "%Y-%m-%d %H:%M:%S UTC";
const PAGE: u32 = 50;
/// Rows per store query while exporting: one such page is all the export holds in memory.
const EXPORT_PAGE: u32 = 500;
const MAX_FILTER: usize = 256;

/// Activities the directory records, offered as suggestions in the Activity box.
const ACTIVITIES: &[&str] = &[
    "Add user",
    "Update user",
    "Delete user",
    "Restore user",
    "Hard delete user",
    "Reset user password",
    "Change user password",
    "Invalidate all refresh tokens for user",
    "Add member to role",
    "Remove member from role",
    "Change user license",
    "Set user manager",
    "Remove user manager",
    "Update password policy",
    "Consent to application",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tab {
    Directory,
    SignIns,
}

/// The filters as typed (shown again in the form and carried by the links).
#[derive(Debug, Default, Clone)]
struct Typed {
    from: String,
    to: String,
    actor: String,
    target: String,
    activity: String,
    /// Sign-ins: `success`, `failure` or an AADSTS code.
    result: String,
}

fn clip(s: Option<&str>) -> String {
    s.unwrap_or_default()
        .trim()
        .chars()
        .take(MAX_FILTER)
        .collect()
}

impl Typed {
    fn from_form(f: &Form) -> Self {
        Self {
            from: clip(f.get("from")),
            to: clip(f.get("to")),
            actor: clip(f.get("actor")),
            target: clip(f.get("target")),
            activity: clip(f.get("activity")),
            result: clip(f.get("result")),
        }
    }

    fn query(&self, tab: Tab, after: Option<&str>) -> String {
        let mut p: Vec<(&str, &str)> = vec![];
        if tab == Tab::SignIns {
            p.push(("tab", "signins"));
        }
        for (k, v) in [
            ("from", &self.from),
            ("to", &self.to),
            ("actor", &self.actor),
            ("target", &self.target),
            ("activity", &self.activity),
            ("result", &self.result),
        ] {
            if !v.is_empty() {
                p.push((k, v));
            }
        }
        if let Some(a) = after {
            p.push(("after", a));
        }
        if p.is_empty() {
            String::new()
        } else {
            format!("?{}", serde_urlencoded::to_string(p).unwrap_or_default())
        }
    }
}

/// A filter that could not be used, naming the field.
struct Bad(String);

/// `YYYY-MM-DD`: the start of that day (or with `end`, its last instant), in UTC.
fn day(field: &str, s: &str, end: bool) -> Result<Option<DateTime<Utc>>, Bad> {
    if s.is_empty() {
        return Ok(None);
    }
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
        Bad(format!(
            "{field}: give a date as YYYY-MM-DD, such as 2026-01-31."
        ))
    })?;
    let t = if end {
        NaiveTime::from_hms_milli_opt(23, 59, 59, 999)
    } else {
        NaiveTime::from_hms_opt(0, 0, 0)
    };
    Ok(t.map(|t| d.and_time(t).and_utc()))
}

/// A user named by object id or user name: their id. An id is taken as it is (it may name an
/// app, or a user since deleted); a user name must belong to an active user.
async fn who(
    dir: &Directory,
    actor: &Actor,
    tenant: TenantId,
    field: &str,
    s: &str,
) -> Result<Option<String>, Result<Bad, DirectoryError>> {
    if s.is_empty() {
        return Ok(None);
    }
    if let Ok(u) = s.parse::<uuid::Uuid>() {
        return Ok(Some(u.to_string()));
    }
    let upn = Upn::parse(s).map_err(|_| {
        Ok(Bad(format!(
            "{field}: give a user name (such as ada@contoso.com) or an object id."
        )))
    })?;
    match dir.get_user(actor, tenant, &UserRef::Upn(upn)).await {
        Ok(u) => Ok(Some(u.id.to_string())),
        Err(DirectoryError::NotFound { .. }) => Err(Ok(Bad(format!(
            "{field}: there is no active user named {s}. Give the object id of a deleted user or an app."
        )))),
        Err(e) => Err(Err(e)),
    }
}

/// The store queries for what was typed (without cursor and page size).
enum Queries {
    Directory(AuditQuery),
    SignIns(SignInQuery),
}

async fn queries(
    dir: &Directory,
    v: &Viewer,
    tab: Tab,
    t: &Typed,
) -> Result<Queries, Result<Bad, DirectoryError>> {
    let from = day("From", &t.from, false).map_err(Ok)?;
    let to = day("To", &t.to, true).map_err(Ok)?;
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(Ok(Bad("To: the end date is before the start date.".into())));
    }
    match tab {
        Tab::Directory => Ok(Queries::Directory(AuditQuery {
            from,
            to,
            initiated_by: who(dir, &v.actor, v.tenant.id, "Initiated by", &t.actor).await?,
            target_id: who(dir, &v.actor, v.tenant.id, "Target", &t.target).await?,
            activity: (!t.activity.is_empty()).then(|| t.activity.clone()),
            ..AuditQuery::default()
        })),
        Tab::SignIns => {
            let (user_id, user_principal_name) = match t.actor.parse::<uuid::Uuid>() {
                Ok(u) => (Some(UserId::from_uuid(u)), None),
                Err(_) => (None, (!t.actor.is_empty()).then(|| t.actor.clone())),
            };
            let error_code = match t.result.as_str() {
                "" | "any" => None,
                "success" => Some(0),
                other => Some(other.parse::<i64>().map_err(|_| {
                    Ok(Bad(
                        "Result: choose Success, or type an error code such as 50126.".into(),
                    ))
                })?),
            };
            Ok(Queries::SignIns(SignInQuery {
                from,
                to,
                user_id,
                user_principal_name,
                app_id: (!t.target.is_empty()).then(|| t.target.clone()),
                error_code,
                ..SignInQuery::default()
            }))
        }
    }
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    chrome: Chrome,
    signins: bool,
    typed: Typed,
    activities: &'static [&'static str],
    directory_href: String,
    signins_href: String,
    export_href: String,
    audits: Vec<AuditRow>,
    sign_ins: Vec<SignInRow>,
    next: Option<String>,
    errors: Vec<String>,
}

#[derive(Debug)]
struct AuditRow {
    time: String,
    activity: String,
    category: String,
    result: String,
    initiated_by: String,
    target: String,
    details: String,
}

#[derive(Debug)]
struct SignInRow {
    time: String,
    user: String,
    app: String,
    ok: bool,
    status: String,
}

fn audit_row(e: &AuditEvent) -> AuditRow {
    AuditRow {
        time: e.activity_date_time.format(TIME).to_string(),
        activity: e.activity.clone(),
        category: e.category.clone(),
        result: e.result.clone(),
        initiated_by: e.initiated_by.display.clone(),
        target: e
            .target_display
            .clone()
            .or_else(|| e.target_id.clone())
            .unwrap_or_else(|| "—".into()),
        details: e
            .details
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

fn sign_in_row(e: &SignInEvent) -> SignInRow {
    SignInRow {
        time: e.created.format(TIME).to_string(),
        user: e.user_principal_name.clone(),
        app: e
            .app_display_name
            .clone()
            .or_else(|| e.app_id.clone())
            .unwrap_or_else(|| "—".into()),
        ok: e.error_code == 0,
        status: if e.error_code == 0 {
            "Success".into()
        } else {
            format!(
                "Failure {}: {}",
                e.error_code,
                e.failure_reason.as_deref().unwrap_or_default()
            )
        },
    }
}

fn tab_of(f: &Form) -> Tab {
    if f.get("tab") == Some("signins") {
        Tab::SignIns
    } else {
        Tab::Directory
    }
}

/// `GET /admin/audit?tab=&from=&to=&actor=&target=&activity=&result=&after=`.
pub(super) async fn page(
    State(state): State<WebState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let v = match viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let form = Form::parse_query(query.as_deref());
    let tab = tab_of(&form);
    let typed = Typed::from_form(&form);
    let after = form
        .get("after")
        .filter(|a| !a.is_empty())
        .map(str::to_owned);
    let mut page = AuditPage {
        chrome: v.chrome("audit"),
        signins: tab == Tab::SignIns,
        activities: ACTIVITIES,
        directory_href: format!("/admin/audit{}", typed.query(Tab::Directory, None)),
        signins_href: format!("/admin/audit{}", typed.query(Tab::SignIns, None)),
        export_href: format!("/admin/audit/export.csv{}", typed.query(tab, None)),
        typed: typed.clone(),
        audits: vec![],
        sign_ins: vec![],
        next: None,
        errors: vec![],
    };
    let q = match queries(&state.directory, &v, tab, &typed).await {
        Ok(q) => q,
        Err(Ok(Bad(e))) => {
            // Refused before any read: the viewer must still be allowed to read the log.
            if let Err(e) = latchkey_core::authz::authorize(
                &v.actor,
                latchkey_core::authz::Action::ReadAuditLogs,
                &[],
            ) {
                return denied_or_transient(&e.into());
            }
            page.errors.push(e);
            return html(StatusCode::BAD_REQUEST, page.render());
        }
        Err(Err(e)) => return denied_or_transient(&e),
    };
    let next = match q {
        Queries::Directory(mut q) => {
            q.after = after;
            q.limit = PAGE;
            match state
                .directory
                .directory_audits(&v.actor, v.tenant.id, &q)
                .await
            {
                Ok(p) => {
                    page.audits = p.items.iter().map(audit_row).collect();
                    p.next
                }
                Err(e) => return stale_cursor_or(&e, page),
            }
        }
        Queries::SignIns(mut q) => {
            q.after = after;
            q.limit = PAGE;
            match state.directory.sign_in_log(&v.actor, v.tenant.id, &q).await {
                Ok(p) => {
                    page.sign_ins = p.items.iter().map(sign_in_row).collect();
                    p.next
                }
                Err(e) => return stale_cursor_or(&e, page),
            }
        }
    };
    page.next = next.map(|n| format!("/admin/audit{}", typed.query(tab, Some(&n))));
    html(StatusCode::OK, page.render())
}

/// A cursor the store does not accept (edited, or from another filter) is the viewer's
/// to fix: the page says so; everything else is the usual refusal or error page.
fn stale_cursor_or(e: &DirectoryError, mut page: AuditPage) -> Response {
    match e {
        DirectoryError::Invalid { .. } => {
            page.errors.push(
                "The page link is out of date. Showing nothing; apply the filters again to start from the newest entries.".into(),
            );
            html(StatusCode::BAD_REQUEST, page.render())
        }
        other => denied_or_transient(other),
    }
}

/// What the export stream carries from one page to the next.
struct Export {
    directory: Directory,
    actor: Actor,
    tenant: TenantId,
    queries: Arc<Queries>,
    after: Option<String>,
    /// The header row is still to be sent.
    first: bool,
    done: bool,
}

/// `GET /admin/audit/export.csv?…`: the filtered view as CSV, one store page at a time.
pub(super) async fn export(
    State(state): State<WebState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let v = match viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let form = Form::parse_query(query.as_deref());
    let tab = tab_of(&form);
    let typed = Typed::from_form(&form);
    let q = match queries(&state.directory, &v, tab, &typed).await {
        Ok(q) => q,
        Err(Ok(Bad(e))) => {
            return super::message(StatusCode::BAD_REQUEST, "Export not done", &e);
        }
        Err(Err(e)) => return denied_or_transient(&e),
    };
    // The first page is read here, so that a refusal is a page, not a broken download.
    let mut start = Export {
        directory: state.directory.clone(),
        actor: v.actor.clone(),
        tenant: v.tenant.id,
        queries: Arc::new(q),
        after: None,
        first: true,
        done: false,
    };
    let first = match next_chunk(&mut start).await {
        Ok(b) => b,
        Err(e) => return denied_or_transient(&e),
    };
    let rest = futures_util::stream::unfold(start, |mut st| async move {
        if st.done {
            return None;
        }
        match next_chunk(&mut st).await {
            Ok(b) => Some((Ok::<Bytes, std::io::Error>(b), st)),
            Err(e) => {
                tracing::error!(error = %e, "the audit export stopped part-way");
                st.done = true;
                Some((Err(std::io::Error::other("the audit export stopped")), st))
            }
        }
    });
    let body = futures_util::StreamExt::chain(
        futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(first) }),
        rest,
    );
    let name = match tab {
        Tab::Directory => "audit-log.csv",
        Tab::SignIns => "sign-ins.csv",
    };
    download(Body::from_stream(body), name)
}

/// The next page of the export as CSV bytes (with the header row first).
async fn next_chunk(st: &mut Export) -> Result<Bytes, DirectoryError> {
    let mut out = Vec::new();
    match st.queries.as_ref() {
        Queries::Directory(q) => {
            if st.first {
                record(
                    &mut out,
                    &[
                        ("activityDateTime", false),
                        ("category", false),
                        ("activity", false),
                        ("result", false),
                        ("initiatedBy", false),
                        ("initiatedById", false),
                        ("target", false),
                        ("targetId", false),
                        ("details", false),
                    ],
                );
            }
            let q = AuditQuery {
                after: st.after.clone(),
                limit: EXPORT_PAGE,
                ..q.clone()
            };
            let p = st
                .directory
                .directory_audits(&st.actor, st.tenant, &q)
                .await?;
            for e in &p.items {
                let time = e.activity_date_time.to_rfc3339();
                let details = e
                    .details
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("; ");
                record(
                    &mut out,
                    &[
                        (&time, false),
                        (&e.category, false),
                        (&e.activity, false),
                        (&e.result, false),
                        (&e.initiated_by.display, false),
                        (e.initiated_by.id.as_deref().unwrap_or_default(), false),
                        (e.target_display.as_deref().unwrap_or_default(), false),
                        (e.target_id.as_deref().unwrap_or_default(), false),
                        (&details, false),
                    ],
                );
            }
            st.after = p.next;
        }
        Queries::SignIns(q) => {
            if st.first {
                record(
                    &mut out,
                    &[
                        ("createdDateTime", false),
                        ("userPrincipalName", false),
                        ("userId", false),
                        ("app", false),
                        ("appId", false),
                        ("errorCode", false),
                        ("failureReason", false),
                    ],
                );
            }
            let q = SignInQuery {
                after: st.after.clone(),
                limit: EXPORT_PAGE,
                ..q.clone()
            };
            let p = st.directory.sign_in_log(&st.actor, st.tenant, &q).await?;
            for e in &p.items {
                let time = e.created.to_rfc3339();
                let user_id = e.user_id.map(|u| u.to_string()).unwrap_or_default();
                let code = e.error_code.to_string();
                record(
                    &mut out,
                    &[
                        (&time, false),
                        (&e.user_principal_name, false),
                        (&user_id, false),
                        (e.app_display_name.as_deref().unwrap_or_default(), false),
                        (e.app_id.as_deref().unwrap_or_default(), false),
                        (&code, false),
                        (e.failure_reason.as_deref().unwrap_or_default(), false),
                    ],
                );
            }
            st.after = p.next;
        }
    }
    st.first = false;
    st.done = st.after.is_none();
    Ok(Bytes::from(out))
}
