//! The admin center's routes and handlers: parse, call the directory, render.

mod apps;
mod assign;
mod audit;
mod bulk;
mod csv_out;
mod deleted;
mod edit;
mod methods;
mod new_user;
mod policy;
mod roles;
mod saas;
mod saas_dashboard;
mod tap;
mod workflow_runs;
mod workflows;

pub use workflows::{PreviewUser, WorkflowEngine, WorkflowTemplate};

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latchkey_core::authz::{Action, Actor, authorize};
use latchkey_core::directory::{
    AdminCenterRefused, PasswordChoice, SetPassword, UserRef, ViewOnceLink,
};
use latchkey_core::ids::UserId;
use latchkey_core::mail::MailAddress;
use latchkey_core::query::{Filter, UserProperty};
use latchkey_core::store::UserQuery;
use latchkey_core::tenant::Tenant;
use latchkey_core::user::User;
use latchkey_core::{Directory, DirectoryError};
use latchkey_identity::browser::{
    cookie, csrf_for, csrf_matches, derive, secure_headers, secure_headers_with_script,
    set_cookie_at,
};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What the admin center needs.
#[derive(Debug, Clone)]
pub struct WebState {
    pub directory: Directory,
    /// Scheme, host and port browsers reach us at, without a trailing slash.
    pub public_url: Arc<str>,
    /// The automation engine's templates and dry run, for the Workflows pages (without one
    /// they offer no template and no preview).
    pub workflows: Option<Arc<dyn WorkflowEngine>>,
}

impl WebState {
    fn secure(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    fn redirect_uri(&self) -> String {
        format!("{}/admin/callback", self.public_url)
    }
}

/// The admin session: a sign-in session of the directory's (digest stored, dies with the
/// user's sessions), sent only to the admin center's paths.
const SESSION_COOKIE: &str = "lk_admin";
/// Binds a sign-in's `state` and PKCE verifier to the browser that started it.
const FLOW_COOKIE: &str = "lk_admin_flow";
const COOKIE_PATH: &str = "/admin";
pub(crate) const STYLE: &str = include_str!("../assets/admin.css");
const SCRIPT: &str = include_str!("../assets/admin.js");
const PAGE_SIZE: u32 = 25;
/// Longest search text accepted; longer ones are cut, never echoed in full.
const MAX_SEARCH: usize = 100;
const MAX_FORM_BYTES: usize = 16 * 1024;

pub fn router(state: WebState) -> Router {
    Router::new()
        .route("/admin", get(home))
        .route("/admin/", get(home))
        .route("/admin/callback", get(callback))
        .route("/admin/signout", post(sign_out))
        .route("/admin/tenant", post(switch_tenant))
        .route("/admin/users", get(users))
        .route(
            "/admin/users/{id}/reset-password",
            get(reset_form).post(reset_post),
        )
        .route("/admin/users/{id}/password-check", post(password_check))
        .route(
            "/admin/users/{id}/temporary-access-pass",
            post(tap::create_pass),
        )
        .route(
            "/admin/users/{id}/temporary-access-pass/delete",
            post(tap::delete_pass),
        )
        .route("/admin/users/deleted", get(deleted::list))
        .route("/admin/users/deleted/{id}/restore", post(deleted::restore))
        .route(
            "/admin/users/new",
            get(new_user::form).post(new_user::create),
        )
        .route("/admin/users/bulk", post(bulk::act))
        .route("/admin/users/{id}/edit", get(edit::form).post(edit::save))
        .route("/admin/users/{id}/licenses", post(assign::licenses))
        .route("/admin/users/{id}/manager", post(assign::manager))
        .route(
            "/admin/users/{id}/methods/{method}/remove",
            post(methods::remove),
        )
        .route("/admin/roles", get(roles::list))
        .route("/admin/roles/{role}", get(roles::members))
        .route("/admin/roles/{role}/members", post(roles::add_member))
        .route(
            "/admin/roles/{role}/members/{id}/remove",
            post(roles::remove_member),
        )
        .route("/admin/apps", get(apps::index).post(apps::create))
        .route("/admin/apps/{app}", get(apps::show))
        .route("/admin/apps/{app}/{action}", post(apps::act))
        .route("/admin/saas", get(saas::inventory))
        .route("/admin/saas/dashboard", get(saas_dashboard::page))
        .route("/admin/saas/dashboard/{chart}", get(saas_dashboard::export))
        .route("/admin/saas/renewals", get(saas::renewals))
        .route("/admin/saas/overlaps", get(saas::overlaps))
        .route("/admin/saas/apps/{app}", get(saas::show))
        .route("/admin/saas/apps/{app}/{action}", post(saas::act))
        .route("/admin/workflows", get(workflows::list))
        .route("/admin/workflows/runs", get(workflow_runs::runs))
        .route("/admin/workflows/runs/{run}", get(workflow_runs::show_run))
        .route(
            "/admin/workflows/runs/{run}/{action}",
            post(workflow_runs::act_on_run),
        )
        .route(
            "/admin/workflows/{id}",
            get(workflows::show).post(workflows::create),
        )
        .route(
            "/admin/workflows/{id}/edit",
            get(workflows::edit_form).post(workflows::edit_save),
        )
        .route("/admin/workflows/{id}/preview", get(workflows::preview))
        .route("/admin/workflows/{id}/{action}", post(workflows::act))
        .route("/admin/audit", get(audit::page))
        .route("/admin/audit/export.csv", get(audit::export))
        .route(
            "/admin/settings/password-policy",
            get(policy::show).post(policy::save),
        )
        .route("/admin/mail", get(mail_queue))
        .route("/admin/licenses", get(licenses))
        .route("/admin/assets/admin.css", get(style))
        .route("/admin/assets/admin.js", get(script))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_FORM_BYTES))
        .with_state(state)
}

// ---------------------------------------------------------------------------------------
// Templates.

/// What every page of the signed-in admin center shows around its content.
#[derive(Debug)]
struct Chrome {
    tenant: String,
    viewer: String,
    csrf: String,
    section: &'static str,
    /// Which pages of the left rail this viewer's roles may use (the others are hidden; their
    /// routes refuse them too, through core's `authz`).
    nav: Nav,
}

#[derive(Debug, Clone, Copy)]
struct Nav {
    create_user: bool,
    roles: bool,
    audit: bool,
    settings: bool,
    apps: bool,
    /// The SaaS apps section: readers of the SaaS inventory.
    saas: bool,
    /// The Mail queue: for those who may reset passwords.
    mail: bool,
    /// Workflows and their runs: for those who may read them.
    workflows: bool,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    chrome: Chrome,
    roles: Vec<&'static str>,
}

#[derive(Template)]
#[template(path = "mail.html")]
struct MailPage {
    chrome: Chrome,
    rows: Vec<MailRow>,
}

#[derive(Debug)]
struct MailRow {
    kind: &'static str,
    to: String,
    status: &'static str,
    attempts: u32,
    next: String,
    last_error: String,
    queued: String,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    heading: &'a str,
    message: &'a str,
    sign_out: bool,
    csrf: String,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    chrome: Chrome,
    q: String,
    rows: Vec<Row>,
    next: Option<String>,
    pane: Option<Pane>,
    rules: String,
    /// The command bar's actions this viewer may take (none: no checkboxes either).
    bulk: bulk::BulkActions,
    /// The list's position, for the bulk form's action.
    suffix: String,
    /// The tenant's SKUs (id, part number), for the licence filter and "Assign license".
    skus: Vec<(String, String)>,
    /// The filters and sort as chosen, shown again in the form.
    status: String,
    role: String,
    license: String,
    department: String,
    sort: String,
    sort_name_href: String,
    sort_upn_href: String,
    /// The roles the role filter offers (template id, name).
    roles: Vec<(&'static str, &'static str)>,
}

#[derive(Template)]
#[template(path = "licenses.html")]
struct LicensesPage {
    chrome: Chrome,
    skus: Vec<SkuRow>,
}

#[derive(Debug)]
struct SkuRow {
    part_number: String,
    sku_id: String,
    used: u64,
    bought: u32,
    available: u64,
    /// Every seat is taken.
    full: bool,
    plans: String,
}

#[derive(Debug)]
struct Row {
    id: String,
    href: String,
    display_name: String,
    upn: String,
    enabled: bool,
    selected: bool,
}

#[derive(Debug)]
struct Pane {
    display_name: String,
    given_name: String,
    surname: String,
    upn: String,
    job_title: String,
    department: String,
    status: &'static str,
    roles: String,
    last_password_change: String,
    /// The user's licences by part number, or a dash.
    licenses: String,
    /// The manager's display name and user name, or a dash.
    manager: String,
    may_reset: bool,
    /// Block or unblock, revoke, require change, delete: as the viewer may on this user.
    actions: bulk::PaneActions,
    /// Assign or remove licences and the manager, as far as the viewer may.
    assign: assign::AssignSection,
    /// The user's authentication methods, for viewers allowed to read them.
    methods: Option<methods::MethodsSection>,
    /// The user's latest sign-ins (time, app, outcome), for viewers allowed to read the log.
    sign_ins: Option<Vec<(String, String, String)>>,
    details_href: String,
    reset_href: String,
    /// Where the reset form's script asks for live feedback on a typed password.
    check_href: String,
    notice: Option<String>,
    /// The Temporary Access Pass section, for viewers who may manage the user's methods.
    tap: Option<tap::TapSection>,
    body: PaneBody,
}

#[derive(Debug)]
enum PaneBody {
    Details,
    Reset(ResetForm),
    Done(Done),
    TapIssued(tap::TapIssued),
    Edit(edit::EditForm),
}

#[derive(Debug)]
struct ResetForm {
    version: i64,
    typed: bool,
    require_change: bool,
    errors: Vec<String>,
    /// Addresses the password may be sent to (empty when this server sends no mail).
    recipients: Vec<String>,
    /// The chosen one; empty: show the password on screen.
    deliver_to: String,
}

struct Done {
    /// The generated password, shown on this one response and nowhere else.
    password: Option<String>,
    require_change: bool,
    /// Sent by e-mail instead: to whom, and until when the link works.
    delivered: Option<(String, String)>,
}

impl std::fmt::Debug for Done {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Done")
            .field("password", &self.password.as_ref().map(|_| ".."))
            .field("require_change", &self.require_change)
            .field("delivered", &self.delivered)
            .finish()
    }
}

// ---------------------------------------------------------------------------------------
// Responses.

pub(crate) fn html(status: StatusCode, body: Result<String, askama::Error>) -> Response {
    page(status, body, secure_headers_with_script)
}

/// A page of another part of the site (My account), sent like the admin center's but with a
/// policy that allows no script: those pages load none.
pub(crate) fn html_without_script(
    status: StatusCode,
    body: Result<String, askama::Error>,
) -> Response {
    page(status, body, |r| secure_headers(r, None))
}

fn page(
    status: StatusCode,
    body: Result<String, askama::Error>,
    headers: fn(Response) -> Response,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "an admin center page failed to render");
            return secure_headers(
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong. Please try again.",
                )
                    .into_response(),
                None,
            );
        }
    };
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers(r)
}

fn message(status: StatusCode, heading: &str, text: &str) -> Response {
    html(
        status,
        MessagePage {
            heading,
            message: text,
            sign_out: false,
            csrf: String::new(),
        }
        .render(),
    )
}

fn transient(e: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %e, "admin center request failed");
    message(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "A transient error has occurred. Please try again.",
    )
}

pub(crate) fn redirect(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => {
            let mut r = StatusCode::SEE_OTHER.into_response();
            r.headers_mut().insert(header::LOCATION, v);
            secure_headers(r, None)
        }
        Err(e) => transient(&e),
    }
}

pub(crate) fn with_cookie(mut r: Response, c: Option<HeaderValue>) -> Response {
    if let Some(c) = c {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
}

async fn style() -> Response {
    asset(STYLE, "text/css; charset=utf-8")
}

/// The admin center's one script: enhancements only (search as you type, live password
/// feedback, show/hide and copy, focus in the pane); every page works without it.
async fn script() -> Response {
    asset(SCRIPT, "text/javascript; charset=utf-8")
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

// ---------------------------------------------------------------------------------------
// Sign-in: the authorization code flow with PKCE against our own identity platform.

/// The home tenant: the first the directory lists (the one `latchkey init` made). The admin
/// center administers it unless the tenant switcher chose another (`current_tenant`).
pub(crate) async fn home_tenant(state: &WebState) -> Result<Tenant, Response> {
    match state.directory.list_tenants().await {
        Ok(ts) => ts.into_iter().next().ok_or_else(|| {
            message(
                StatusCode::SERVICE_UNAVAILABLE,
                "No tenant yet",
                "This Latchkey has no tenant. Run `latchkey init` first.",
            )
        }),
        Err(e) => Err(transient(&e)),
    }
}

/// Remembers which organization this browser administers, when the server holds several
/// (the tenant switcher). Not a credential: the admin session is bound to its tenant, so a
/// switched cookie only leads to that tenant's sign-in.
const TENANT_COOKIE: &str = "lk_admin_tenant";

/// The tenant this browser administers: the one the switcher chose (by id), else the home
/// tenant.
async fn current_tenant(state: &WebState, headers: &HeaderMap) -> Result<Tenant, Response> {
    if let Some(chosen) = cookie(headers, TENANT_COOKIE) {
        match state.directory.find_tenant(chosen.expose_secret()).await {
            Ok(Some(t)) => return Ok(t),
            Ok(None) => {}
            Err(e) => return Err(transient(&e)),
        }
    }
    home_tenant(state).await
}

fn state_for(flow: &SecretString) -> String {
    derive("latchkey/admin/state/v1", flow)
}

fn verifier_for(flow: &SecretString) -> SecretString {
    SecretString::from(derive("latchkey/admin/pkce/v1", flow))
}

pub(crate) fn challenge_for(verifier: &SecretString) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.expose_secret().as_bytes()))
}

/// Sends the browser to the identity platform's sign-in page, with a fresh flow cookie.
async fn start_sign_in(state: &WebState, tenant: &Tenant) -> Response {
    let client = match state
        .directory
        .admin_center_client(tenant.id, &state.redirect_uri())
        .await
    {
        Ok(c) => c,
        Err(e) => return transient(&e),
    };
    let flow = latchkey_core::interactive::random_token();
    let params = [
        ("client_id", client.app_id.to_string()),
        ("response_type", "code".to_owned()),
        ("redirect_uri", state.redirect_uri()),
        ("scope", "openid profile".to_owned()),
        ("response_mode", "query".to_owned()),
        ("state", state_for(&flow)),
        ("code_challenge", challenge_for(&verifier_for(&flow))),
        ("code_challenge_method", "S256".to_owned()),
    ];
    let query = serde_urlencoded::to_string(params).unwrap_or_default();
    let location = format!("/{}/oauth2/v2.0/authorize?{query}", tenant.id);
    with_cookie(
        redirect(&location),
        set_cookie_at(
            FLOW_COOKIE,
            flow.expose_secret(),
            COOKIE_PATH,
            state.secure(),
            Some(600),
        ),
    )
}

/// `GET /admin/callback`: where the identity platform sends the browser back with a code.
async fn callback(
    State(state): State<WebState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let tenant = match current_tenant(&state, &headers).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.as_deref().unwrap_or_default()).unwrap_or_default();
    let get = |n: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let Some(flow) = cookie(&headers, FLOW_COOKIE) else {
        // No sign-in under way in this browser: an old bookmark, an expired flow, or cookies
        // blocked. Starting over here would loop through single sign-on for ever.
        return message(
            StatusCode::BAD_REQUEST,
            "Sign-in could not be completed",
            "This sign-in has expired, or this browser does not keep cookies for the admin center. Allow cookies for this site and go to the admin center to sign in again.",
        );
    };
    let state_ok =
        get("state").is_some_and(|s| bool::from(state_for(&flow).as_bytes().ct_eq(s.as_bytes())));
    if !state_ok {
        return message(
            StatusCode::BAD_REQUEST,
            "Sign-in could not be completed",
            "This sign-in was started in another window or has expired. Go to the admin center to sign in again.",
        );
    }
    let clear_flow = set_cookie_at(FLOW_COOKIE, "", COOKIE_PATH, state.secure(), Some(0));
    if get("error").is_some() {
        return with_cookie(
            message(
                StatusCode::BAD_REQUEST,
                "Sign-in did not complete",
                "The sign-in was cancelled or refused. Go to the admin center to try again.",
            ),
            clear_flow,
        );
    }
    let Some(code) = get("code") else {
        return message(
            StatusCode::BAD_REQUEST,
            "Sign-in could not be completed",
            "The sign-in response carried no authorization code. Go to the admin center to sign in again.",
        );
    };
    let client = match state
        .directory
        .admin_center_client(tenant.id, &state.redirect_uri())
        .await
    {
        Ok(c) => c,
        Err(e) => return transient(&e),
    };
    let redeemed = state
        .directory
        .redeem_authorization_code(
            tenant.id,
            &SecretString::from(code.to_owned()),
            client.app_id,
            &state.redirect_uri(),
            &verifier_for(&flow),
        )
        .await;
    let user = match redeemed {
        Ok((_, user)) => user,
        Err(e) => {
            tracing::info!(error = %e, "admin center sign-in refused");
            return with_cookie(
                message(
                    StatusCode::BAD_REQUEST,
                    "Sign-in could not be completed",
                    "The sign-in has expired or was already used. Go to the admin center to sign in again.",
                ),
                clear_flow,
            );
        }
    };
    match state.directory.admin_center_caller(tenant.id, &user).await {
        Ok(_) => {}
        Err(AdminCenterRefused::NotAnAdministrator) => {
            return with_cookie(not_an_admin(), clear_flow);
        }
        Err(AdminCenterRefused::Directory(e)) => return transient(&e),
    }
    let session = match state.directory.start_sign_in_session(&user).await {
        Ok((value, _)) => value,
        Err(e) => return transient(&e),
    };
    let mut r = with_cookie(redirect("/admin"), clear_flow);
    r = with_cookie(
        r,
        set_cookie_at(
            SESSION_COOKIE,
            session.expose_secret(),
            COOKIE_PATH,
            state.secure(),
            None,
        ),
    );
    r
}

fn not_an_admin() -> Response {
    message(
        StatusCode::FORBIDDEN,
        "You need an administrator role",
        "The admin center is for users who hold an administrator role in this organization. Ask a Global Administrator to assign you one.",
    )
}

/// A signed-in administrator on this request.
struct Viewer {
    tenant: Tenant,
    user: User,
    actor: Actor,
    csrf: String,
}

impl Viewer {
    fn chrome(&self, section: &'static str) -> Chrome {
        Chrome {
            tenant: self.tenant.display_name.clone(),
            viewer: self.user.user_principal_name.to_string(),
            csrf: self.csrf.clone(),
            section,
            nav: Nav {
                create_user: self.may(Action::CreateUser),
                roles: self.may(Action::ReadRoles),
                audit: self.may(Action::ReadAuditLogs),
                settings: self.may(Action::ManageTenant),
                apps: self.may(Action::ManageApps),
                saas: self.may(Action::ReadSaasApps),
                mail: self.may(Action::ResetPassword),
                workflows: self.may(Action::ReadWorkflows),
            },
        }
    }

    /// Whether the viewer's roles allow `action` on an ordinary user (one without roles).
    fn may(&self, action: Action) -> bool {
        authorize(&self.actor, action, &[]).is_ok()
    }

    fn roles(&self) -> Vec<&'static str> {
        match &self.actor {
            Actor::User { roles, .. } => roles.iter().map(|r| r.display_name()).collect(),
            _ => vec![],
        }
    }
}

/// The administrator whose admin session this browser holds; otherwise the response to
/// send: the sign-in, or the page for users without an administrator role.
async fn viewer(state: &WebState, headers: &HeaderMap) -> Result<Viewer, Response> {
    let tenant = current_tenant(state, headers).await?;
    let Some(c) = cookie(headers, SESSION_COOKIE) else {
        return Err(start_sign_in(state, &tenant).await);
    };
    let found = state
        .directory
        .find_sign_in_session(tenant.id, &c)
        .await
        .map_err(|e| transient(&e))?;
    let Some((_, user)) = found else {
        return Err(start_sign_in(state, &tenant).await);
    };
    let actor = match state.directory.admin_center_caller(tenant.id, &user).await {
        Ok(a) => a,
        Err(AdminCenterRefused::NotAnAdministrator) => {
            return Err(html(
                StatusCode::FORBIDDEN,
                MessagePage {
                    heading: "You need an administrator role",
                    message: "The admin center is for users who hold an administrator role in this organization. Ask a Global Administrator to assign you one.",
                    sign_out: true,
                    csrf: csrf_for(&c),
                }
                .render(),
            ));
        }
        Err(AdminCenterRefused::Directory(e)) => return Err(transient(&e)),
    };
    Ok(Viewer {
        tenant,
        user,
        actor,
        csrf: csrf_for(&c),
    })
}

/// `GET /admin`: the home page, or the sign-in.
async fn home(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let v = match viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    html(
        StatusCode::OK,
        HomePage {
            chrome: v.chrome("home"),
            roles: v.roles(),
        }
        .render(),
    )
}

/// `POST /admin/signout`: ends the admin session, then the identity platform's sign-in
/// session (which shows that the user is signed out).
async fn sign_out(State(state): State<WebState>, headers: HeaderMap, body: Bytes) -> Response {
    let form = Form::parse(&body);
    if !csrf_matches(&headers, SESSION_COOKIE, form.get("csrf")) {
        return message(
            StatusCode::FORBIDDEN,
            "Sign-out not done",
            "This sign-out request did not come from the admin center's own page. Go to the admin center and use Sign out there.",
        );
    }
    let tenant = match current_tenant(&state, &headers).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    if let Some(c) = cookie(&headers, SESSION_COOKIE)
        && let Err(e) = state.directory.end_sign_in_session(&c).await
    {
        return transient(&e);
    }
    with_cookie(
        redirect(&format!("/{}/oauth2/v2.0/logout", tenant.id)),
        set_cookie_at(SESSION_COOKIE, "", COOKIE_PATH, state.secure(), Some(0)),
    )
}

/// `POST /admin/tenant`: the tenant switcher. `organization` is a tenant's id or one of its
/// domains; the browser is sent to that tenant's sign-in (its admin session is that
/// tenant's only). Unknown names get the same answer whatever exists, so the form does not
/// list or confirm other organizations.
async fn switch_tenant(State(state): State<WebState>, headers: HeaderMap, body: Bytes) -> Response {
    let form = Form::parse(&body);
    if !csrf_matches(&headers, SESSION_COOKIE, form.get("csrf")) {
        return message(
            StatusCode::FORBIDDEN,
            "Organization not switched",
            "This request did not come from the admin center's own page. Go to the admin center and use Switch organization there.",
        );
    }
    let name = form.get("organization").unwrap_or_default().trim();
    let tenant = match state.directory.find_tenant(name).await {
        Ok(Some(t)) => t,
        Ok(None) => {
            return message(
                StatusCode::NOT_FOUND,
                "Organization not found",
                "No organization here has that domain or id. Check the spelling and try again.",
            );
        }
        Err(e) => return transient(&e),
    };
    let remember = set_cookie_at(
        TENANT_COOKIE,
        &tenant.id.to_string(),
        COOKIE_PATH,
        state.secure(),
        None,
    );
    with_cookie(start_sign_in(&state, &tenant).await, remember)
}

// ---------------------------------------------------------------------------------------
// Users.

/// A url-encoded form or query, first value of each name.
pub(crate) struct Form(Vec<(String, String)>);

impl Form {
    pub(crate) fn parse(body: &[u8]) -> Self {
        Self(serde_urlencoded::from_bytes(body).unwrap_or_default())
    }

    pub(crate) fn parse_query(q: Option<&str>) -> Self {
        Self(serde_urlencoded::from_str(q.unwrap_or_default()).unwrap_or_default())
    }

    /// Every value given for `name`, in order (checkboxes).
    pub(crate) fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The listing's search: a case-insensitive prefix of the display name or the user name.
fn search_filter(q: &str) -> Option<Filter> {
    let q = q.trim();
    if q.is_empty() {
        return None;
    }
    let starts = |property| Filter::StartsWith {
        property,
        prefix: q.to_owned(),
    };
    Some(Filter::Or(
        Box::new(starts(UserProperty::DisplayName)),
        Box::new(starts(UserProperty::UserPrincipalName)),
    ))
}

/// Where the list was, carried through the details pane and the reset form: the search,
/// the filters, the sort and the page.
#[derive(Debug, Default)]
struct ListPosition {
    q: String,
    after: Option<String>,
    /// `enabled` or `disabled`; empty: both.
    status: String,
    /// A role's template id; empty: any.
    role: String,
    /// A SKU id; empty: any.
    license: String,
    department: String,
    /// `name`, `-name`, `upn` (the default) or `-upn`.
    sort: String,
}

impl ListPosition {
    fn from_form(f: &Form) -> Self {
        let short = |n: &str| -> String {
            f.get(n)
                .unwrap_or_default()
                .trim()
                .chars()
                .take(MAX_SEARCH)
                .collect()
        };
        Self {
            q: f.get("q")
                .unwrap_or_default()
                .chars()
                .take(MAX_SEARCH)
                .collect(),
            after: f.get("after").filter(|a| !a.is_empty()).map(str::to_owned),
            status: short("status"),
            role: short("role"),
            license: short("license"),
            department: short("department"),
            sort: short("sort"),
        }
    }

    /// The query parameters of this position, with the page `after` and the selected user.
    fn params(&self, after: Option<&str>, user: Option<UserId>) -> String {
        let mut params: Vec<(&str, &str)> = vec![];
        for (k, v) in [
            ("q", &self.q),
            ("status", &self.status),
            ("role", &self.role),
            ("license", &self.license),
            ("department", &self.department),
            ("sort", &self.sort),
        ] {
            if !v.is_empty() {
                params.push((k, v));
            }
        }
        if let Some(a) = after {
            params.push(("after", a));
        }
        let user = user.map(|u| u.to_string());
        if let Some(u) = &user {
            params.push(("user", u));
        }
        if params.is_empty() {
            String::new()
        } else {
            format!(
                "?{}",
                serde_urlencoded::to_string(params).unwrap_or_default()
            )
        }
    }

    fn suffix(&self) -> String {
        self.params(self.after.as_deref(), None)
    }

    /// Active users at this position (on page `after`), with `user`'s pane open.
    fn href(&self, after: Option<&str>, user: Option<UserId>) -> String {
        format!("/admin/users{}", self.params(after, user))
    }

    /// The list sorted by `column` (`name` or `upn`): ascending, or descending when it is
    /// sorted so already. From the first page, as a cursor belongs to one order.
    fn sorted_by(&self, column: &str) -> String {
        let sort = if self.sort == column || (column == "upn" && self.sort.is_empty()) {
            format!("-{column}")
        } else {
            column.to_owned()
        };
        let p = ListPosition {
            sort,
            q: self.q.clone(),
            status: self.status.clone(),
            role: self.role.clone(),
            license: self.license.clone(),
            department: self.department.clone(),
            after: None,
        };
        p.href(None, None)
    }

    fn order(&self) -> latchkey_core::query::OrderBy {
        let (property, descending) = match self.sort.as_str() {
            "name" => (UserProperty::DisplayName, false),
            "-name" => (UserProperty::DisplayName, true),
            "-upn" => (UserProperty::UserPrincipalName, true),
            _ => (UserProperty::UserPrincipalName, false),
        };
        latchkey_core::query::OrderBy {
            property,
            descending,
        }
    }

    /// The search and the filters as one filter (and the role, which the query takes apart).
    fn filter(&self) -> (Option<Filter>, Option<latchkey_core::role::DirectoryRole>) {
        use latchkey_core::query::{Comparison, Literal};
        let mut all: Vec<Filter> = search_filter(&self.q).into_iter().collect();
        match self.status.as_str() {
            "enabled" | "disabled" => all.push(Filter::Compare {
                property: UserProperty::AccountEnabled,
                op: Comparison::Eq,
                value: Literal::Bool(self.status == "enabled"),
            }),
            _ => {}
        }
        if !self.department.is_empty() {
            all.push(Filter::Compare {
                property: UserProperty::Department,
                op: Comparison::Eq,
                value: Literal::Text(self.department.clone()),
            });
        }
        if let Ok(sku) = self.license.parse::<latchkey_core::ids::SkuId>() {
            all.push(Filter::HasLicense(sku));
        }
        let filter = all
            .into_iter()
            .reduce(|a, b| Filter::And(Box::new(a), Box::new(b)));
        (
            filter,
            latchkey_core::role::DirectoryRole::parse(&self.role),
        )
    }
}

fn denied_or_transient(e: &DirectoryError) -> Response {
    match e {
        DirectoryError::Denied(d) => message(StatusCode::FORBIDDEN, "Not allowed", &d.0),
        DirectoryError::NotFound { .. } => no_such_user(),
        DirectoryError::Invalid { .. } => message(
            StatusCode::BAD_REQUEST,
            "That link is not valid",
            "The page link is out of date. Go back to Active users and start again.",
        ),
        other => transient(other),
    }
}

/// The list page with, optionally, a pane.
async fn users_page(
    state: &WebState,
    v: &Viewer,
    pos: &ListPosition,
    selected: Option<UserId>,
    pane: Option<Pane>,
) -> Result<UsersPage, Response> {
    let (filter, role) = pos.filter();
    let query = UserQuery {
        search: None,
        filter,
        order: pos.order(),
        deleted: false,
        deleted_after: None,
        after: pos.after.clone(),
        limit: PAGE_SIZE,
        role,
    };
    let page = state
        .directory
        .list_users(&v.actor, v.tenant.id, &query)
        .await
        .map_err(|e| denied_or_transient(&e))?;
    let bulk = bulk::BulkActions::of(v);
    let skus = if v.may(Action::ReadLicenses) {
        state
            .directory
            .list_skus(&v.actor, v.tenant.id)
            .await
            .map_err(|e| denied_or_transient(&e))?
            .into_iter()
            .map(|u| (u.sku.sku_id.to_string(), u.sku.sku_part_number))
            .collect()
    } else {
        vec![]
    };
    let rows = page
        .items
        .into_iter()
        .map(|u| Row {
            id: u.id.to_string(),
            href: pos.href(pos.after.as_deref(), Some(u.id)),
            selected: Some(u.id) == selected,
            display_name: u.display_name.to_string(),
            upn: u.user_principal_name.to_string(),
            enabled: u.account_enabled,
        })
        .collect();
    Ok(UsersPage {
        chrome: v.chrome("users"),
        q: pos.q.clone(),
        rows,
        next: page.next.as_deref().map(|n| pos.href(Some(n), None)),
        pane,
        rules: v.tenant.password_policy.summary(),
        bulk,
        suffix: pos.suffix(),
        skus,
        status: pos.status.clone(),
        role: pos.role.clone(),
        license: pos.license.clone(),
        department: pos.department.clone(),
        sort: pos.sort.clone(),
        sort_name_href: pos.sorted_by("name"),
        sort_upn_href: pos.sorted_by("upn"),
        roles: latchkey_core::role::DirectoryRole::ALL
            .iter()
            .map(|r| (r.template_id(), r.display_name()))
            .collect(),
    })
}

/// The details pane for a user, with the actions the viewer may take on them.
async fn pane_for(
    state: &WebState,
    v: &Viewer,
    pos: &ListPosition,
    id: UserId,
    body: PaneBody,
) -> Result<(Pane, User), Response> {
    let user = state
        .directory
        .get_user(&v.actor, v.tenant.id, &UserRef::Id(id))
        .await
        .map_err(|e| denied_or_transient(&e))?;
    let roles = state
        .directory
        .user_roles(&v.actor, v.tenant.id, &UserRef::Id(id))
        .await
        .map_err(|e| denied_or_transient(&e))?;
    let may_reset = authorize(&v.actor, Action::ResetPassword, &roles).is_ok();
    // The user was read with the viewer's rights above; the lock is shown only while it runs.
    let lock = state
        .directory
        .sign_in_state(v.tenant.id, id)
        .await
        .map_err(|e| denied_or_transient(&e))?;
    let locked_until = lock
        .locked_at(state.directory.clock().now())
        .then_some(lock.locked_until)
        .flatten();
    let tap = tap::section(state, v, pos, id, &roles).await?;
    let licenses = state
        .directory
        .license_details(&v.actor, v.tenant.id, &UserRef::Id(id))
        .await
        .map_err(|e| denied_or_transient(&e))?;
    let manager = state
        .directory
        .get_manager(&v.actor, v.tenant.id, &UserRef::Id(id))
        .await
        .map_err(|e| denied_or_transient(&e))?;
    let assign = assign::section(state, v, pos, id, &roles, &licenses, manager.is_some()).await?;
    let methods = methods::section(state, v, pos, id, &roles).await?;
    let sign_ins = if v.may(Action::ReadAuditLogs) {
        let q = latchkey_core::store::SignInQuery {
            user_id: Some(id),
            limit: 5,
            ..Default::default()
        };
        let page = state
            .directory
            .sign_in_log(&v.actor, v.tenant.id, &q)
            .await
            .map_err(|e| denied_or_transient(&e))?;
        Some(
            page.items
                .iter()
                .map(|e| {
                    (
                        e.created.format("%Y-%m-%d %H:%M UTC").to_string(),
                        e.app_display_name
                            .clone()
                            .or_else(|| e.app_id.clone())
                            .unwrap_or_else(|| "—".into()),
                        if e.error_code == 0 {
                            "Success".to_owned()
                        } else {
                            format!("Failure {}", e.error_code)
                        },
                    )
                })
                .collect(),
        )
    } else {
        None
    };
    let dash = |s: &Option<String>| s.clone().unwrap_or_else(|| "—".to_owned());
    let suffix = pos.suffix();
    let mut details = pos.href(pos.after.as_deref(), Some(id));
    if details.is_empty() {
        details = "/admin/users".into();
    }
    let pane = Pane {
        display_name: user.display_name.to_string(),
        given_name: dash(&user.profile.given_name),
        surname: dash(&user.profile.surname),
        upn: user.user_principal_name.to_string(),
        job_title: dash(&user.profile.job_title),
        department: dash(&user.profile.department),
        status: if user.account_enabled {
            "Active"
        } else {
            "Sign-in blocked"
        },
        roles: if roles.is_empty() {
            "No administrator roles".to_owned()
        } else {
            roles
                .iter()
                .map(|r| r.display_name())
                .collect::<Vec<_>>()
                .join(", ")
        },
        last_password_change: user.last_password_change.map_or_else(
            || "Never".to_owned(),
            |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
        ),
        licenses: if licenses.is_empty() {
            "—".to_owned()
        } else {
            licenses
                .iter()
                .map(|d| d.sku.sku_part_number.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        },
        manager: manager.map_or_else(
            || "—".to_owned(),
            |m| format!("{} ({})", m.display_name, m.user_principal_name),
        ),
        may_reset,
        actions: bulk::PaneActions::of(v, &user, &roles, locked_until),
        assign,
        methods,
        sign_ins,
        details_href: details,
        reset_href: format!("/admin/users/{id}/reset-password{suffix}"),
        check_href: format!("/admin/users/{id}/password-check"),
        notice: None,
        tap,
        body,
    };
    Ok((pane, user))
}

/// `GET /admin/users?q=&after=&user=`: the list, and the details pane of `user`.
async fn users(
    State(state): State<WebState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let v = match viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let form = Form::parse_query(query.as_deref());
    let pos = ListPosition::from_form(&form);
    let selected = match form.get("user").filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match s.parse::<uuid::Uuid>() {
            Ok(u) => Some(UserId::from_uuid(u)),
            Err(_) => {
                return message(
                    StatusCode::BAD_REQUEST,
                    "That link is not valid",
                    "The user in the link is not a valid id. Go back to Active users and pick the user again.",
                );
            }
        },
    };
    let pane = match selected {
        None => None,
        Some(id) => match pane_for(&state, &v, &pos, id, PaneBody::Details).await {
            Ok((p, _)) => Some(p),
            Err(r) => return r,
        },
    };
    match users_page(&state, &v, &pos, selected, pane).await {
        Ok(page) => html(StatusCode::OK, page.render()),
        Err(r) => r,
    }
}

fn parse_user_id(s: &str) -> Option<UserId> {
    s.parse::<uuid::Uuid>().ok().map(UserId::from_uuid)
}

fn no_such_user() -> Response {
    message(
        StatusCode::NOT_FOUND,
        "User not found",
        "This user does not exist or has been deleted.",
    )
}

/// Renders the list with `id`'s pane showing `body`.
async fn page_with_pane(
    state: &WebState,
    v: &Viewer,
    pos: &ListPosition,
    id: UserId,
    status: StatusCode,
    body: impl FnOnce(&User) -> PaneBody,
    may_act: bool,
) -> Response {
    let (mut pane, user) = match pane_for(state, v, pos, id, PaneBody::Details).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    if may_act && !pane.may_reset {
        return message(
            StatusCode::FORBIDDEN,
            "Not allowed",
            "Your administrator role does not allow you to reset this user's password.",
        );
    }
    pane.body = body(&user);
    match users_page(state, v, pos, Some(id), Some(pane)).await {
        Ok(page) => html(status, page.render()),
        Err(r) => r,
    }
}

/// `GET /admin/users/{id}/reset-password`: the reset form in the pane.
async fn reset_form(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let v = match viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(id) = parse_user_id(&id) else {
        return no_such_user();
    };
    let pos = ListPosition::from_form(&Form::parse_query(query.as_deref()));
    let recipients = delivery_recipients(&state, &v, id).await;
    page_with_pane(
        &state,
        &v,
        &pos,
        id,
        StatusCode::OK,
        |u| {
            PaneBody::Reset(ResetForm {
                version: u.version,
                typed: false,
                require_change: true,
                errors: vec![],
                recipients,
                deliver_to: String::new(),
            })
        },
        true,
    )
    .await
}

/// Where this user's password may be e-mailed, when this server sends mail (else nowhere:
/// the option is not offered). A failure only hides the option.
async fn delivery_recipients(state: &WebState, v: &Viewer, id: UserId) -> Vec<String> {
    if !state.directory.delivery_settings().mail_enabled {
        return vec![];
    }
    match state
        .directory
        .delivery_recipients(&v.actor, v.tenant.id, id)
        .await
    {
        Ok(r) => r.into_iter().map(|a| a.to_string()).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list a user's addresses for delivery");
            vec![]
        }
    }
}

/// `POST /admin/users/{id}/password-check`: live feedback for the typed password of the reset
/// form (admin.js posts the form's `password` and `csrf` as the administrator types). JSON
/// `{"violations":[{"rule","message"}]}` from the same policy check the reset applies, for
/// whoever may reset this user; sent `no-store`, and the candidate is neither logged nor kept.
async fn password_check(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let json = |status: StatusCode, value: serde_json::Value| {
        let mut r = (status, value.to_string()).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        secure_headers(r, None)
    };
    let error =
        |status: StatusCode, message: &str| json(status, serde_json::json!({ "error": message }));
    let v = match viewer(&state, &headers).await {
        Ok(v) => v,
        Err(_) => {
            return error(
                StatusCode::UNAUTHORIZED,
                "Sign in to the admin center again.",
            );
        }
    };
    let form = Form::parse(&body);
    if !csrf_matches(&headers, SESSION_COOKIE, form.get("csrf")) {
        return error(
            StatusCode::FORBIDDEN,
            "This form has expired or did not come from the admin center.",
        );
    }
    let Some(id) = parse_user_id(&id) else {
        return error(StatusCode::NOT_FOUND, "No such user.");
    };
    let candidate = SecretString::from(form.get("password").unwrap_or_default().to_owned());
    match state
        .directory
        .check_new_password(&v.actor, v.tenant.id, &UserRef::Id(id), &candidate)
        .await
    {
        Ok(violations) => json(
            StatusCode::OK,
            serde_json::json!({
                "violations": violations
                    .iter()
                    .map(|x| serde_json::json!({ "rule": x.rule(), "message": x.message() }))
                    .collect::<Vec<_>>()
            }),
        ),
        Err(DirectoryError::Denied(d)) => error(StatusCode::FORBIDDEN, &d.0),
        Err(DirectoryError::NotFound { .. }) => error(StatusCode::NOT_FOUND, "No such user."),
        Err(e) => {
            tracing::error!(error = %e, "password check failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "A transient error has occurred.",
            )
        }
    }
}

/// `POST /admin/users/{id}/reset-password`: resets through the one password operation and
/// answers with the result page itself (never a redirect that could carry the password),
/// sent `no-store`. A reload re-posts a form whose user has changed since: it is refused as
/// stale, and the password is never shown again.
async fn reset_post(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let v = match viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(id) = parse_user_id(&id) else {
        return no_such_user();
    };
    let pos = ListPosition::from_form(&Form::parse_query(query.as_deref()));
    let form = Form::parse(&body);
    let typed = form.get("mode") == Some("typed");
    let require_change = form.get("require_change") == Some("on");
    let version = form.get("version").and_then(|s| s.parse::<i64>().ok());
    let deliver_to = form.get("deliver").unwrap_or_default().trim().to_owned();
    let recipients = delivery_recipients(&state, &v, id).await;
    let again = |errors: Vec<String>, version: Option<i64>| {
        let recipients = recipients.clone();
        let deliver_to = deliver_to.clone();
        move |u: &User| {
            PaneBody::Reset(ResetForm {
                version: version.unwrap_or(u.version),
                typed,
                require_change,
                errors,
                recipients,
                deliver_to,
            })
        }
    };
    let refuse = async |errors: Vec<String>, status: StatusCode, keep_version: bool| {
        let keep = if keep_version { version } else { None };
        page_with_pane(&state, &v, &pos, id, status, again(errors, keep), true).await
    };
    if !csrf_matches(&headers, SESSION_COOKIE, form.get("csrf")) {
        return refuse(
            vec!["This form has expired or did not come from the admin center. Nothing was changed; check the choices below and submit again.".into()],
            StatusCode::FORBIDDEN,
            true,
        )
        .await;
    }
    let Some(version) = version else {
        return refuse(
            vec!["This form is incomplete. Nothing was changed; submit it again.".into()],
            StatusCode::BAD_REQUEST,
            false,
        )
        .await;
    };
    let choice = if typed {
        let password = form.get("password").unwrap_or_default();
        let confirm = form.get("confirm").unwrap_or_default();
        if password.is_empty() {
            return refuse(
                vec!["Type the new password, then type it again to confirm it.".into()],
                StatusCode::BAD_REQUEST,
                true,
            )
            .await;
        }
        if !bool::from(password.as_bytes().ct_eq(confirm.as_bytes())) {
            return refuse(
                vec!["The passwords don't match. Type the same password in both boxes.".into()],
                StatusCode::BAD_REQUEST,
                true,
            )
            .await;
        }
        PasswordChoice::Provided(SecretString::from(password.to_owned()))
    } else {
        PasswordChoice::Generate
    };
    let request = SetPassword {
        choice,
        force_change_next_sign_in: require_change,
        force_change_with_mfa: false,
        reason: None,
    };
    let result = if deliver_to.is_empty() {
        state
            .directory
            .set_password_as_seen(&v.actor, v.tenant.id, id, version, request)
            .await
            .map(|set| Done {
                password: set.generated_password.map(|p| p.expose_secret().to_owned()),
                require_change,
                delivered: None,
            })
    } else {
        // E-mailed as a view-once link: the administrator never sees the password.
        let to = match MailAddress::parse(&deliver_to) {
            Ok(to) => to,
            Err(e) => return refuse(vec![e.to_string()], StatusCode::BAD_REQUEST, true).await,
        };
        if typed {
            return refuse(
                vec!["Only an automatically created password can be sent by e-mail. Choose \"Automatically create a password\", or give the password you typed to the user yourself.".into()],
                StatusCode::BAD_REQUEST,
                true,
            )
            .await;
        }
        let link = ViewOnceLink {
            to,
            link_prefix: format!("{}/account/delivered/", state.public_url),
            lifetime: None,
        };
        state
            .directory
            .reset_password_with_delivery(&v.actor, v.tenant.id, id, version, request, link)
            .await
            .map(|d| Done {
                password: None,
                require_change,
                delivered: Some((
                    d.to.to_string(),
                    d.expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                )),
            })
    };
    match result {
        Ok(done) => {
            page_with_pane(
                &state,
                &v,
                &pos,
                id,
                StatusCode::OK,
                move |_| PaneBody::Done(done),
                false,
            )
            .await
        }
        Err(DirectoryError::Invalid { message, .. }) => {
            refuse(vec![message], StatusCode::BAD_REQUEST, true).await
        }
        Err(DirectoryError::Policy(p)) => {
            let errors = p.violations.iter().map(|v| v.message()).collect();
            refuse(errors, StatusCode::BAD_REQUEST, true).await
        }
        Err(DirectoryError::Stale) => {
            refuse(
                vec!["This user was changed since this form was opened (perhaps their password was already reset). Nothing was changed; check the user's details and submit again.".into()],
                StatusCode::CONFLICT,
                false,
            )
            .await
        }
        Err(DirectoryError::Busy) => {
            refuse(
                vec!["The password service is busy. Nothing was changed; submit again in a moment.".into()],
                StatusCode::SERVICE_UNAVAILABLE,
                true,
            )
            .await
        }
        Err(e) => denied_or_transient(&e),
    }
}

/// `GET /admin/mail`: the tenant's messages not yet delivered (pending, with their last
/// error, or given up), so that an administrator whose link is stuck can see it and why.
async fn mail_queue(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let v = match viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mail = match state
        .directory
        .undelivered_mail(&v.actor, v.tenant.id, 200)
        .await
    {
        Ok(m) => m,
        Err(e) => return denied_or_transient(&e),
    };
    let when = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
    let rows = mail
        .iter()
        .map(|m| MailRow {
            kind: match m.kind {
                latchkey_core::mail::MailKind::ViewOnceLink => "Password link",
                latchkey_core::mail::MailKind::OneTimeCode => "Verification code",
                latchkey_core::mail::MailKind::PasswordChanged => "Password changed notice",
                latchkey_core::mail::MailKind::Test => "Test message",
                latchkey_core::mail::MailKind::WorkflowNotice => "Workflow notice",
                latchkey_core::mail::MailKind::SaasAppDiscovered => "New app discovered",
                latchkey_core::mail::MailKind::SaasNotice => "SaaS notice",
                latchkey_core::mail::MailKind::WorkflowMessage => "Workflow e-mail",
            },
            to: m
                .to
                .iter()
                .map(MailAddress::as_str)
                .collect::<Vec<_>>()
                .join(", "),
            status: match m.status {
                latchkey_core::mail::MailStatus::Failed => "Failed",
                _ => "Pending",
            },
            attempts: m.attempts,
            next: match m.status {
                latchkey_core::mail::MailStatus::Pending => when(m.next_attempt_at),
                _ => "—".to_owned(),
            },
            last_error: m.last_error.clone().unwrap_or_else(|| "—".to_owned()),
            queued: when(m.created_at),
        })
        .collect();
    html(
        StatusCode::OK,
        MailPage {
            chrome: v.chrome("mail"),
            rows,
        }
        .render(),
    )
}

/// `GET /admin/licenses`: the tenant's SKUs with their seats used and bought.
async fn licenses(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let v = match viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let skus = match state.directory.list_skus(&v.actor, v.tenant.id).await {
        Ok(s) => s,
        Err(e) => return denied_or_transient(&e),
    };
    let skus = skus
        .into_iter()
        .map(|u| SkuRow {
            full: u.consumed >= u64::from(u.sku.seats),
            available: u64::from(u.sku.seats).saturating_sub(u.consumed),
            part_number: u.sku.sku_part_number,
            sku_id: u.sku.sku_id.to_string(),
            used: u.consumed,
            bought: u.sku.seats,
            plans: u
                .sku
                .service_plans
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
        .collect();
    html(
        StatusCode::OK,
        LicensesPage {
            chrome: v.chrome("licenses"),
            skus,
        }
        .render(),
    )
}
