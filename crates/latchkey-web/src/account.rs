//! My account under `/account`: the signed-in user's own pages. Overview (read-only
//! profile), change password, security info (authenticator app with a server-rendered QR
//! code, recovery e-mail, recovery codes), sign-in activity and sign out everywhere.
//!
//! Signing in is the admin center's mechanism with another client: the identity platform's
//! code flow with PKCE as the first-party client "Latchkey My account", a directory sign-in
//! session in the `lk_account` cookie (`Path=/account`), CSRF tokens derived from it. Every
//! action is a `Directory` operation acting as the user on the self-service channel.

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use latchkey_core::authz::Actor;
use latchkey_core::directory::{AuthMethod, TotpEnrollment, UserRef};
use latchkey_core::ids::TenantId;
use latchkey_core::tenant::Tenant;
use latchkey_core::user::User;
use latchkey_core::{Directory, DirectoryError};
use latchkey_identity::browser::{cookie, csrf_for, csrf_matches, derive, qr_svg, set_cookie_at};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use crate::admin::{
    Form, STYLE, WebState, challenge_for, home_tenant, html_without_script as html, redirect,
    with_cookie,
};

const SESSION_COOKIE: &str = "lk_account";
const FLOW_COOKIE: &str = "lk_account_flow";
const COOKIE_PATH: &str = "/account";
const ACCOUNT_STYLE: &str = include_str!("../assets/account.css");
const MAX_FORM_BYTES: usize = 16 * 1024;
const ACTIVITY_PAGE: u32 = 25;
const RULES: &str = "Use 8 to 256 characters with at least three of: upper-case letters, lower-case letters, digits, symbols. Avoid your name, your user name and common passwords.";

pub fn router(state: WebState) -> Router {
    Router::new()
        .route("/account", get(overview))
        .route("/account/", get(overview))
        .route("/account/callback", get(callback))
        .route("/account/signout", post(sign_out))
        .route("/account/signout-everywhere", post(sign_out_everywhere))
        .route("/account/password", get(password_form).post(password_post))
        .route("/account/security", get(security))
        .route("/account/security/authenticator", post(authenticator_begin))
        .route(
            "/account/security/authenticator/confirm",
            post(authenticator_confirm),
        )
        .route("/account/security/email", post(email_add))
        .route("/account/security/remove", post(method_remove))
        .route("/account/security/recovery-codes", post(recovery_codes))
        .route("/account/activity", get(activity))
        .route("/account/assets/account.css", get(style))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_FORM_BYTES))
        .with_state(state)
}

// ---------------------------------------------------------------------------------------
// Templates.

#[derive(Debug)]
struct Chrome {
    tenant: String,
    viewer: String,
    csrf: String,
    section: &'static str,
}

#[derive(Template)]
#[template(path = "account/message.html")]
struct MessagePage<'a> {
    heading: &'a str,
    message: &'a str,
}

#[derive(Template)]
#[template(path = "account/overview.html")]
struct OverviewPage {
    chrome: Chrome,
    display_name: String,
    upn: String,
    fields: Vec<(&'static str, String)>,
}

#[derive(Template)]
#[template(path = "account/password.html")]
struct PasswordPage {
    chrome: Chrome,
    errors: Vec<String>,
    rules: &'static str,
}

#[derive(Debug)]
struct MethodRow {
    id: String,
    /// A stable element id per kind, for tests and assistive technology.
    slug: &'static str,
    kind: &'static str,
    display: String,
    added: String,
}

#[derive(Template)]
#[template(path = "account/security.html")]
struct SecurityPage {
    chrome: Chrome,
    methods: Vec<MethodRow>,
    has_authenticator: bool,
    has_email: bool,
    email: String,
    recovery_status: String,
    notice: Option<&'static str>,
    errors: Vec<String>,
}

#[derive(Template)]
#[template(path = "account/authenticator.html")]
struct AuthenticatorPage {
    chrome: Chrome,
    method_id: String,
    /// Our own SVG (rectangles and a path from the QR encoder), never user input.
    qr_svg: String,
    secret: String,
    account: String,
    errors: Vec<String>,
}

#[derive(Template)]
#[template(path = "account/codes.html")]
struct CodesPage {
    chrome: Chrome,
    codes: Vec<String>,
}

#[derive(Debug)]
struct ActivityRow {
    time: String,
    app: String,
    result: String,
}

#[derive(Template)]
#[template(path = "account/activity.html")]
struct ActivityPage {
    chrome: Chrome,
    rows: Vec<ActivityRow>,
    next: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Responses.

fn message(status: StatusCode, heading: &str, text: &str) -> Response {
    html(
        status,
        MessagePage {
            heading,
            message: text,
        }
        .render(),
    )
}

fn transient(e: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %e, "My account request failed");
    message(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "A transient error has occurred. Please try again.",
    )
}

fn forged() -> Response {
    message(
        StatusCode::FORBIDDEN,
        "Nothing was changed",
        "This form has expired or did not come from your My account page. Go to My account and try again.",
    )
}

async fn style() -> Response {
    let mut r = format!("{STYLE}\n{ACCOUNT_STYLE}").into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
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
// Sign-in.

fn redirect_uri(state: &WebState) -> String {
    format!("{}/account/callback", state.public_url)
}

fn secure(state: &WebState) -> bool {
    state.public_url.starts_with("https://")
}

fn state_for(flow: &SecretString) -> String {
    derive("latchkey/account/state/v1", flow)
}

fn verifier_for(flow: &SecretString) -> SecretString {
    SecretString::from(derive("latchkey/account/pkce/v1", flow))
}

async fn start_sign_in(state: &WebState, tenant: &Tenant) -> Response {
    let client = match state
        .directory
        .my_account_client(tenant.id, &redirect_uri(state))
        .await
    {
        Ok(c) => c,
        Err(e) => return transient(&e),
    };
    let flow = latchkey_core::interactive::random_token();
    let params = [
        ("client_id", client.app_id.to_string()),
        ("response_type", "code".to_owned()),
        ("redirect_uri", redirect_uri(state)),
        ("scope", "openid profile".to_owned()),
        ("response_mode", "query".to_owned()),
        ("state", state_for(&flow)),
        ("code_challenge", challenge_for(&verifier_for(&flow))),
        ("code_challenge_method", "S256".to_owned()),
    ];
    let query = serde_urlencoded::to_string(params).unwrap_or_default();
    with_cookie(
        redirect(&format!("/{}/oauth2/v2.0/authorize?{query}", tenant.id)),
        set_cookie_at(
            FLOW_COOKIE,
            flow.expose_secret(),
            COOKIE_PATH,
            secure(state),
            Some(600),
        ),
    )
}

/// `GET /account/callback`: the identity platform sends the browser back with a code.
async fn callback(
    State(state): State<WebState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let tenant = match home_tenant(&state).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let q = Form::parse_query(query.as_deref());
    let get = |n: &str| q.get(n).filter(|v| !v.is_empty());
    let Some(flow) = cookie(&headers, FLOW_COOKIE) else {
        return message(
            StatusCode::BAD_REQUEST,
            "Sign-in could not be completed",
            "This sign-in has expired, or this browser does not keep cookies for My account. Allow cookies for this site and go to My account to sign in again.",
        );
    };
    if !get("state").is_some_and(|s| bool::from(state_for(&flow).as_bytes().ct_eq(s.as_bytes()))) {
        return message(
            StatusCode::BAD_REQUEST,
            "Sign-in could not be completed",
            "This sign-in was started in another window or has expired. Go to My account to sign in again.",
        );
    }
    let clear_flow = set_cookie_at(FLOW_COOKIE, "", COOKIE_PATH, secure(&state), Some(0));
    let Some(code) = get("code").filter(|_| get("error").is_none()) else {
        return with_cookie(
            message(
                StatusCode::BAD_REQUEST,
                "Sign-in did not complete",
                "The sign-in was cancelled or refused. Go to My account to try again.",
            ),
            clear_flow,
        );
    };
    let client = match state
        .directory
        .my_account_client(tenant.id, &redirect_uri(&state))
        .await
    {
        Ok(c) => c,
        Err(e) => return transient(&e),
    };
    let user = match state
        .directory
        .redeem_authorization_code(
            tenant.id,
            &SecretString::from(code.to_owned()),
            client.app_id,
            &redirect_uri(&state),
            &verifier_for(&flow),
        )
        .await
    {
        Ok((_, user)) => user,
        Err(e) => {
            tracing::info!(error = %e, "My account sign-in refused");
            return with_cookie(
                message(
                    StatusCode::BAD_REQUEST,
                    "Sign-in could not be completed",
                    "The sign-in has expired or was already used. Go to My account to sign in again.",
                ),
                clear_flow,
            );
        }
    };
    let session = match state.directory.start_sign_in_session(&user).await {
        Ok((value, _)) => value,
        Err(e) => return transient(&e),
    };
    // Back to the page that sent the browser to sign in (an approval link), if any.
    let (back, clear_return) = match cookie(&headers, RETURN_COOKIE) {
        Some(to) if safe_return(to.expose_secret()) => (
            to.expose_secret().to_owned(),
            set_cookie_at(RETURN_COOKIE, "", COOKIE_PATH, secure(&state), Some(0)),
        ),
        _ => ("/account".to_owned(), None),
    };
    with_cookie(
        with_cookie(with_cookie(redirect(&back), clear_flow), clear_return),
        set_cookie_at(
            SESSION_COOKIE,
            session.expose_secret(),
            COOKIE_PATH,
            secure(&state),
            None,
        ),
    )
}

/// The signed-in user on this request.
struct Me {
    tenant: Tenant,
    user: User,
    actor: Actor,
    csrf: String,
}

impl Me {
    fn chrome(&self, section: &'static str) -> Chrome {
        Chrome {
            tenant: self.tenant.display_name.clone(),
            viewer: self.user.user_principal_name.to_string(),
            csrf: self.csrf.clone(),
            section,
        }
    }

    fn me(&self) -> UserRef {
        UserRef::Id(self.user.id)
    }

    fn tid(&self) -> TenantId {
        self.tenant.id
    }
}

/// The user whose My account session this browser holds; otherwise the sign-in.
async fn me(state: &WebState, headers: &HeaderMap) -> Result<Me, Response> {
    let tenant = home_tenant(state).await?;
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
    let actor = state
        .directory
        .my_account_caller(tenant.id, &user)
        .await
        .map_err(|e| transient(&e))?;
    Ok(Me {
        tenant,
        user,
        actor,
        csrf: csrf_for(&c),
    })
}

/// Where the sign-in returns to, when a page other than My account's own sent it.
const RETURN_COOKIE: &str = "lk_account_return";

/// Only the approval pages are returned to: a path of ours, never another site.
fn safe_return(path: &str) -> bool {
    path.strip_prefix("/account/approvals/")
        .is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// The My account user of this request, for pages outside My account's own (approvals).
pub(crate) struct AccountViewer {
    pub(crate) user: User,
    pub(crate) actor: Actor,
    pub(crate) csrf: String,
}

/// The user whose My account session this browser holds; otherwise the sign-in, which comes
/// back to `return_to` (an approval page's path).
pub(crate) async fn viewer_or_sign_in(
    state: &WebState,
    headers: &HeaderMap,
    return_to: &str,
) -> Result<AccountViewer, Response> {
    match me(state, headers).await {
        Ok(m) => Ok(AccountViewer {
            user: m.user,
            actor: m.actor,
            csrf: m.csrf,
        }),
        Err(r) if r.status() == StatusCode::SEE_OTHER && safe_return(return_to) => {
            Err(with_cookie(
                r,
                set_cookie_at(
                    RETURN_COOKIE,
                    return_to,
                    COOKIE_PATH,
                    secure(state),
                    Some(600),
                ),
            ))
        }
        Err(r) => Err(r),
    }
}

/// Whether a posted form carries this browser's My account CSRF token.
pub(crate) fn account_csrf_ok(headers: &HeaderMap, csrf: Option<&str>) -> bool {
    csrf_matches(headers, SESSION_COOKIE, csrf)
}

/// The signed-in user and the posted form, when the form carries this session's CSRF token.
async fn posted(
    state: &WebState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Me, Form), Response> {
    let me = me(state, headers).await?;
    let form = Form::parse(body);
    if !csrf_matches(headers, SESSION_COOKIE, form.get("csrf")) {
        return Err(forged());
    }
    Ok((me, form))
}

/// `POST /account/signout`: ends this session, then the identity platform's.
async fn sign_out(State(state): State<WebState>, headers: HeaderMap, body: Bytes) -> Response {
    let form = Form::parse(&body);
    if !csrf_matches(&headers, SESSION_COOKIE, form.get("csrf")) {
        return forged();
    }
    let tenant = match home_tenant(&state).await {
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
        set_cookie_at(SESSION_COOKIE, "", COOKIE_PATH, secure(&state), Some(0)),
    )
}

/// `POST /account/signout-everywhere`: revokes every session and refresh token of the user
/// (this browser's too) and lands signed out.
async fn sign_out_everywhere(
    State(state): State<WebState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (me, _) = match posted(&state, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Err(e) = state
        .directory
        .revoke_sign_in_sessions(&me.actor, me.tid(), &me.me())
        .await
    {
        return transient(&e);
    }
    with_cookie(
        message(
            StatusCode::OK,
            "You're signed out everywhere",
            "You have been signed out of every browser and app. It can take up to an hour for apps that already hold an access token to notice.",
        ),
        set_cookie_at(SESSION_COOKIE, "", COOKIE_PATH, secure(&state), Some(0)),
    )
}

// ---------------------------------------------------------------------------------------
// Pages.

/// `GET /account`: the read-only profile.
async fn overview(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let me = match me(&state, &headers).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let p = &me.user.profile;
    let fields: Vec<(&'static str, String)> = [
        ("First name", &p.given_name),
        ("Last name", &p.surname),
        ("Job title", &p.job_title),
        ("Department", &p.department),
        ("Office", &p.office_location),
        ("E-mail", &p.mail),
        ("Mobile phone", &p.mobile_phone),
    ]
    .into_iter()
    .filter_map(|(label, v)| v.clone().map(|v| (label, v)))
    .collect();
    html(
        StatusCode::OK,
        OverviewPage {
            chrome: me.chrome("overview"),
            display_name: me.user.display_name.to_string(),
            upn: me.user.user_principal_name.to_string(),
            fields,
        }
        .render(),
    )
}

fn password_page(me: &Me, status: StatusCode, errors: Vec<String>) -> Response {
    html(
        status,
        PasswordPage {
            chrome: me.chrome("password"),
            errors,
            rules: RULES,
        }
        .render(),
    )
}

/// `GET /account/password`.
async fn password_form(State(state): State<WebState>, headers: HeaderMap) -> Response {
    match me(&state, &headers).await {
        Ok(me) => password_page(&me, StatusCode::OK, vec![]),
        Err(r) => r,
    }
}

/// `POST /account/password`: the self-service change (current password proved like a
/// sign-in; the new one through the one password operation, which ends every session).
async fn password_post(State(state): State<WebState>, headers: HeaderMap, body: Bytes) -> Response {
    let (me, form) = match posted(&state, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let current = form.get("current_password").unwrap_or_default();
    let new = form.get("new_password").unwrap_or_default();
    let confirm = form.get("confirm_password").unwrap_or_default();
    if current.is_empty() || new.is_empty() || confirm.is_empty() {
        return password_page(
            &me,
            StatusCode::BAD_REQUEST,
            vec!["Fill in all three passwords.".into()],
        );
    }
    if !bool::from(new.as_bytes().ct_eq(confirm.as_bytes())) {
        return password_page(
            &me,
            StatusCode::BAD_REQUEST,
            vec!["The new passwords don't match. Type the same new password in both boxes.".into()],
        );
    }
    if bool::from(new.as_bytes().ct_eq(current.as_bytes())) {
        return password_page(
            &me,
            StatusCode::BAD_REQUEST,
            vec!["Your new password must be different from your current one.".into()],
        );
    }
    let changed = state
        .directory
        .change_own_password(
            &me.actor,
            me.tid(),
            &SecretString::from(current.to_owned()),
            SecretString::from(new.to_owned()),
        )
        .await;
    match changed {
        Ok(()) => with_cookie(
            message(
                StatusCode::OK,
                "Your password was changed",
                "Your password was changed, and you were signed out everywhere. Sign in again with your new password.",
            ),
            set_cookie_at(SESSION_COOKIE, "", COOKIE_PATH, secure(&state), Some(0)),
        ),
        Err(DirectoryError::Policy(p)) => password_page(
            &me,
            StatusCode::BAD_REQUEST,
            p.violations.iter().map(|v| v.message()).collect(),
        ),
        Err(DirectoryError::Invalid { property, message }) if property == "currentPassword" => {
            let text = if message.contains("locked") {
                "Your account is temporarily locked after too many wrong passwords. Try again later."
            } else {
                "Your current password is incorrect."
            };
            password_page(&me, StatusCode::BAD_REQUEST, vec![text.into()])
        }
        Err(DirectoryError::Busy) => password_page(
            &me,
            StatusCode::SERVICE_UNAVAILABLE,
            vec!["We're busy right now. Nothing was changed; try again in a moment.".into()],
        ),
        Err(DirectoryError::Stale) => password_page(
            &me,
            StatusCode::CONFLICT,
            vec!["Your account was changed meanwhile. Nothing was changed; try again.".into()],
        ),
        Err(e) => transient(&e),
    }
}

fn method_rows(methods: &[AuthMethod]) -> Vec<MethodRow> {
    methods
        .iter()
        .map(|m| MethodRow {
            id: m.id.to_string(),
            slug: m.kind.as_str(),
            kind: m.kind.display_name(),
            display: m.display.clone(),
            added: m.created.format("%Y-%m-%d").to_string(),
        })
        .collect()
}

async fn security_page(
    state: &WebState,
    me: &Me,
    status: StatusCode,
    notice: Option<&'static str>,
    errors: Vec<String>,
    email: String,
) -> Response {
    let d: &Directory = &state.directory;
    let methods = match d.auth_methods(&me.actor, me.tid(), &me.me()).await {
        Ok(m) => m,
        Err(e) => return transient(&e),
    };
    let codes = match d.recovery_codes(&me.actor, me.tid(), &me.me()).await {
        Ok(c) => c,
        Err(e) => return transient(&e),
    };
    use latchkey_core::auth_method::MethodKind;
    let recovery_status = match codes.generated {
        None => "You have no recovery codes.".to_owned(),
        Some(at) => format!(
            "{} of {} codes left (generated {}).",
            codes.unused,
            codes.total,
            at.format("%Y-%m-%d")
        ),
    };
    html(
        status,
        SecurityPage {
            chrome: me.chrome("security"),
            has_authenticator: methods.iter().any(|m| m.kind == MethodKind::SoftwareOath),
            has_email: methods.iter().any(|m| m.kind == MethodKind::Email),
            methods: method_rows(&methods),
            email,
            recovery_status,
            notice,
            errors,
        }
        .render(),
    )
}

/// `GET /account/security`.
async fn security(State(state): State<WebState>, headers: HeaderMap) -> Response {
    match me(&state, &headers).await {
        Ok(me) => security_page(&state, &me, StatusCode::OK, None, vec![], String::new()).await,
        Err(r) => r,
    }
}

fn authenticator_page(
    me: &Me,
    enrollment: &TotpEnrollment,
    status: StatusCode,
    errors: Vec<String>,
) -> Response {
    let qr = match qr_svg(&enrollment.uri) {
        Ok(q) => q,
        Err(e) => return transient(&e),
    };
    html(
        status,
        AuthenticatorPage {
            chrome: me.chrome("security"),
            method_id: enrollment.method_id.to_string(),
            qr_svg: qr,
            secret: enrollment.secret.expose_secret().to_owned(),
            account: me.user.user_principal_name.to_string(),
            errors,
        }
        .render(),
    )
}

/// `POST /account/security/authenticator`: step one, the QR code and the secret.
async fn authenticator_begin(
    State(state): State<WebState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (me, _) = match posted(&state, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match state
        .directory
        .begin_totp_registration(&me.actor, me.tid(), &me.me())
        .await
    {
        Ok(e) => authenticator_page(&me, &e, StatusCode::OK, vec![]),
        Err(DirectoryError::Conflict(m)) => {
            security_page(
                &state,
                &me,
                StatusCode::CONFLICT,
                None,
                vec![m],
                String::new(),
            )
            .await
        }
        Err(e) => transient(&e),
    }
}

/// `POST /account/security/authenticator/confirm`: step two, a current code.
async fn authenticator_confirm(
    State(state): State<WebState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (me, form) = match posted(&state, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(method) = form
        .get("method")
        .and_then(|m| m.parse::<uuid::Uuid>().ok())
    else {
        return security_page(
            &state,
            &me,
            StatusCode::BAD_REQUEST,
            None,
            vec!["That registration is not valid. Start again with Add authenticator app.".into()],
            String::new(),
        )
        .await;
    };
    let code = form.get("code").unwrap_or_default();
    let d = &state.directory;
    match d
        .finish_totp_registration(&me.actor, me.tid(), &me.me(), method, code)
        .await
    {
        Ok(_) => {
            security_page(
                &state,
                &me,
                StatusCode::OK,
                Some("Your authenticator app is registered. Sign-ins will ask for its code."),
                vec![],
                String::new(),
            )
            .await
        }
        Err(DirectoryError::Invalid { message, .. }) => {
            // Show the same QR code again, so the user can retype without rescanning.
            match d
                .pending_totp_registration(&me.actor, me.tid(), &me.me(), method)
                .await
            {
                Ok(e) => authenticator_page(&me, &e, StatusCode::BAD_REQUEST, vec![message]),
                Err(_) => {
                    security_page(
                        &state,
                        &me,
                        StatusCode::BAD_REQUEST,
                        None,
                        vec![message],
                        String::new(),
                    )
                    .await
                }
            }
        }
        Err(e) => transient(&e),
    }
}

/// `POST /account/security/email`: adds a recovery e-mail address.
async fn email_add(State(state): State<WebState>, headers: HeaderMap, body: Bytes) -> Response {
    let (me, form) = match posted(&state, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let typed: String = form
        .get("email")
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect();
    match state
        .directory
        .add_email_method(&me.actor, me.tid(), &me.me(), &typed)
        .await
    {
        Ok(_) => {
            security_page(
                &state,
                &me,
                StatusCode::OK,
                Some("Your recovery e-mail address was added."),
                vec![],
                String::new(),
            )
            .await
        }
        Err(DirectoryError::Invalid { message, .. } | DirectoryError::Conflict(message)) => {
            security_page(
                &state,
                &me,
                StatusCode::BAD_REQUEST,
                None,
                vec![message],
                typed,
            )
            .await
        }
        Err(e) => transient(&e),
    }
}

/// `POST /account/security/remove`: deletes one of the user's own methods.
async fn method_remove(State(state): State<WebState>, headers: HeaderMap, body: Bytes) -> Response {
    let (me, form) = match posted(&state, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let not_yours = vec!["That method is not one of yours, or was already deleted.".to_owned()];
    let Some(method) = form
        .get("method")
        .and_then(|m| m.parse::<uuid::Uuid>().ok())
    else {
        return security_page(
            &state,
            &me,
            StatusCode::NOT_FOUND,
            None,
            not_yours,
            String::new(),
        )
        .await;
    };
    match state
        .directory
        .remove_auth_method(&me.actor, me.tid(), &me.me(), method)
        .await
    {
        Ok(()) => {
            security_page(
                &state,
                &me,
                StatusCode::OK,
                Some("The method was deleted."),
                vec![],
                String::new(),
            )
            .await
        }
        Err(DirectoryError::NotFound { .. }) => {
            security_page(
                &state,
                &me,
                StatusCode::NOT_FOUND,
                None,
                not_yours,
                String::new(),
            )
            .await
        }
        Err(e) => transient(&e),
    }
}

/// `POST /account/security/recovery-codes`: ten new codes, in this response only.
async fn recovery_codes(
    State(state): State<WebState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (me, _) = match posted(&state, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match state
        .directory
        .generate_recovery_codes(&me.actor, me.tid(), &me.me())
        .await
    {
        Ok(codes) => html(
            StatusCode::OK,
            CodesPage {
                chrome: me.chrome("security"),
                codes: codes.iter().map(|c| c.expose_secret().to_owned()).collect(),
            }
            .render(),
        ),
        Err(e) => transient(&e),
    }
}

/// `GET /account/activity?after=`: the user's own recent sign-ins.
async fn activity(
    State(state): State<WebState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let me = match me(&state, &headers).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let q = Form::parse_query(query.as_deref());
    let after = q.get("after").filter(|a| !a.is_empty()).map(str::to_owned);
    let page = match state
        .directory
        .own_sign_ins(&me.actor, me.tid(), after, ACTIVITY_PAGE)
        .await
    {
        Ok(p) => p,
        Err(DirectoryError::Invalid { .. }) => {
            return message(
                StatusCode::BAD_REQUEST,
                "That link is not valid",
                "The page link is out of date. Go to Sign-in activity and start again.",
            );
        }
        Err(e) => return transient(&e),
    };
    let rows = page
        .items
        .iter()
        .map(|e| ActivityRow {
            time: e.created.format("%Y-%m-%d %H:%M:%S").to_string(),
            app: e.app_display_name.clone().unwrap_or_else(|| "—".to_owned()),
            result: if e.error_code == 0 {
                "Success".to_owned()
            } else {
                format!(
                    "Failure: {} ({})",
                    e.failure_reason.as_deref().unwrap_or("sign-in refused"),
                    e.error_code
                )
            },
        })
        .collect();
    let next = page.next.map(|n| {
        format!(
            "/account/activity?{}",
            serde_urlencoded::to_string([("after", n)]).unwrap_or_default()
        )
    });
    html(
        StatusCode::OK,
        ActivityPage {
            chrome: me.chrome("activity"),
            rows,
            next,
        }
        .render(),
    )
}
