//! The sign-in experience: server-rendered pages for the authorization code flow (sign-in,
//! forced password change, consent), sign-out and userinfo. Templates and the one style
//! sheet are compiled into the binary; the pages run no script.
//!
//! Every page is sent with a strict Content-Security-Policy and no caching. Every form
//! carries a CSRF token derived from the browser's flow cookie (which a page on another
//! site can neither read nor set) and checked in constant time. Every decision is a
//! `Directory` operation; the handlers parse, call, and render.

use askama::Template;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latchkey_core::app::AppId;
use latchkey_core::directory::{
    ClientRef, NewAuthorizationCode, PasswordChangeError, SecondFactorDue, SecondFactorError,
    SignInError, TicketStage, TotpEnrollment, missing_consent, user_may_consent,
};
use latchkey_core::ids::{TenantId, UserId};
use latchkey_core::interactive::{SESSION_LIFETIME, SignInSessionRecord, random_token};
use latchkey_core::tenant::Tenant;
use latchkey_core::user::User;
use latchkey_core::{DirectoryError, authz::Denied};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::authorize::{
    AuthorizeRequest, MAX_QUERY, Prompt, Refusal, ReplyTo, ResponseMode, origin,
};
use crate::browser::{cookie, csrf_for, csrf_matches, derive, qr_svg, secure_headers, set_cookie};
use crate::error::OAuthError;
use crate::http::{Form, IdentityState, resolve_tenant};
use crate::tokens::{GRAPH_APP_ID, GRAPH_RESOURCE};

pub(crate) const FLOW_COOKIE: &str = "lk_flow";
const SESSION_COOKIE: &str = "lk_session";
const STYLE: &str = include_str!("../assets/latchkey.css");

pub(crate) fn routes() -> Router<IdentityState> {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/authorize", get(authorize))
        .route("/{tenant}/login", axum::routing::post(sign_in))
        .route(
            "/{tenant}/login/change-password",
            axum::routing::post(change_password),
        )
        .route(
            "/{tenant}/login/create-password",
            axum::routing::post(create_password),
        )
        .route("/{tenant}/login/consent", axum::routing::post(consent))
        .route(
            "/{tenant}/login/second-factor",
            axum::routing::post(second_factor),
        )
        .route(
            "/{tenant}/login/register-authenticator",
            axum::routing::post(register_authenticator),
        )
        .route("/{tenant}/login/continue", axum::routing::post(continue_as))
        .route(
            "/{tenant}/oauth2/v2.0/logout",
            get(logout).post(logout_post),
        )
        .route("/oidc/userinfo", get(userinfo).post(userinfo))
        .route(
            "/{tenant}/devicelogin",
            get(device_login).post(device_login_post),
        )
        .route("/assets/latchkey.css", get(style))
}

// ---------------------------------------------------------------------------------------
// Templates.

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage<'a> {
    brand: &'a str,
    app_name: &'a str,
    error: Option<&'a str>,
    action: String,
    csrf: String,
    request: &'a str,
    username: &'a str,
    /// "Forgot my password", when the tenant lets users reset their own.
    sspr: Option<String>,
}

#[derive(Template)]
#[template(path = "change_password.html")]
struct ChangePasswordPage<'a> {
    brand: &'a str,
    errors: Vec<String>,
    action: String,
    csrf: String,
    request: &'a str,
    username: &'a str,
    rules: &'a str,
    /// The sealed ticket saying the second factor was proved (empty without one).
    ticket: &'a str,
}

/// The password a user who signed in with a Temporary Access Pass creates: no current
/// password to type (they have none they know), the ticket says the pass was right.
#[derive(Template)]
#[template(path = "create_password.html")]
struct CreatePasswordPage<'a> {
    brand: &'a str,
    errors: Vec<String>,
    action: String,
    csrf: String,
    request: &'a str,
    username: &'a str,
    rules: &'a str,
    ticket: &'a str,
}

#[derive(Template)]
#[template(path = "second_factor.html")]
struct SecondFactorPage<'a> {
    brand: &'a str,
    username: &'a str,
    error: Option<&'a str>,
    action: String,
    csrf: String,
    request: &'a str,
    ticket: &'a str,
}

#[derive(Template)]
#[template(path = "register_authenticator.html")]
struct RegisterAuthenticatorPage<'a> {
    brand: &'a str,
    username: &'a str,
    error: Option<&'a str>,
    action: String,
    csrf: String,
    request: &'a str,
    ticket: &'a str,
    method_id: String,
    /// Our own SVG from the QR encoder, never user input.
    qr_svg: String,
    secret: &'a str,
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    brand: &'a str,
    app_name: &'a str,
    username: &'a str,
    permissions: Vec<&'static str>,
    action: String,
    csrf: String,
    request: &'a str,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    brand: &'a str,
    heading: &'a str,
    message: &'a str,
    code: Option<String>,
}

#[derive(Template)]
#[template(path = "form_post.html")]
struct FormPostPage<'a> {
    brand: &'a str,
    app_name: &'a str,
    redirect_uri: &'a str,
    fields: Vec<(&'static str, String)>,
}

#[derive(Template)]
#[template(path = "pick_account.html")]
struct PickAccountPage<'a> {
    brand: &'a str,
    app_name: &'a str,
    username: &'a str,
    action: String,
    csrf: String,
    request: &'a str,
    other_account: String,
}

#[derive(Template)]
#[template(path = "device_login.html")]
struct DeviceLoginPage<'a> {
    brand: &'a str,
    error: Option<&'a str>,
    action: String,
    csrf: String,
}

pub(crate) const RULES: &str = "Use 8 to 256 characters with at least three of: upper-case letters, lower-case letters, digits, symbols. Avoid your name, your user name and common passwords.";

// ---------------------------------------------------------------------------------------
// Responses: every page gets the same strict headers.

/// An HTML page. `form_target` is the origin a form on this page may end up at (the app's
/// redirect URI: a form's response redirects there, and browsers hold redirects after a form
/// submission to `form-action`).
pub(crate) fn html(
    status: StatusCode,
    body: Result<String, askama::Error>,
    form_target: Option<&str>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "a sign-in page failed to render");
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
    secure_headers(r, form_target)
}

pub(crate) fn message(
    brand: &str,
    status: StatusCode,
    heading: &str,
    text: &str,
    code: Option<u32>,
) -> Response {
    html(
        status,
        MessagePage {
            brand,
            heading,
            message: text,
            code: code.map(|c| format!("AADSTS{c}")),
        }
        .render(),
        None,
    )
}

pub(crate) fn transient(brand: &str, e: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %e, "sign-in page failed");
    message(
        brand,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "A transient error has occurred. Please try again.",
        Some(90033),
    )
}

pub(crate) fn with_cookies(mut r: Response, cookies: &[HeaderValue]) -> Response {
    for c in cookies {
        r.headers_mut().append(header::SET_COOKIE, c.clone());
    }
    r
}

/// Sends the browser back to the app: a redirect with the parameters in the query, or for
/// `form_post` a page whose button posts them.
fn reply(to: &ReplyTo, brand: &str, mut fields: Vec<(&'static str, String)>) -> Response {
    if let Some(state) = &to.state {
        fields.push(("state", state.clone()));
    }
    match to.response_mode {
        ResponseMode::Query => {
            let query = serde_urlencoded::to_string(&fields).unwrap_or_default();
            let sep = match (query.is_empty(), to.redirect_uri.contains('?')) {
                (true, _) => "",
                (false, true) => "&",
                (false, false) => "?",
            };
            let location = format!("{}{sep}{query}", to.redirect_uri);
            match HeaderValue::from_str(&location) {
                Ok(v) => {
                    let mut r = StatusCode::FOUND.into_response();
                    r.headers_mut().insert(header::LOCATION, v);
                    secure_headers(r, None)
                }
                Err(e) => transient(brand, &e),
            }
        }
        ResponseMode::FormPost => html(
            StatusCode::OK,
            FormPostPage {
                brand,
                app_name: &to.app_name,
                redirect_uri: &to.redirect_uri,
                fields,
            }
            .render(),
            origin(&to.redirect_uri).as_deref(),
        ),
    }
}

fn reply_error(to: &ReplyTo, brand: &str, error: &'static str, code: u32, text: &str) -> Response {
    reply(
        to,
        brand,
        vec![
            ("error", error.to_owned()),
            ("error_description", format!("AADSTS{code}: {text}")),
            ("error_codes", code.to_string()),
        ],
    )
}

fn refusal(r: Refusal, brand: &str) -> Response {
    match r {
        Refusal::Page { code, message: m } => message(
            brand,
            StatusCode::BAD_REQUEST,
            "Sorry, but we're having trouble signing you in",
            &m,
            Some(code),
        ),
        Refusal::Redirect {
            to,
            error,
            code,
            message: m,
        } => reply_error(&to, brand, error, code, &m),
    }
}

// ---------------------------------------------------------------------------------------
// Cookies and CSRF.

pub(crate) fn is_https(state: &IdentityState) -> bool {
    state.public_url.starts_with("https://")
}

/// The flow cookie, creating one (and the header that sets it) when the browser has none.
pub(crate) fn flow_cookie(
    state: &IdentityState,
    headers: &HeaderMap,
) -> (SecretString, Option<HeaderValue>) {
    match cookie(headers, FLOW_COOKIE) {
        Some(v) => (v, None),
        None => {
            let v = random_token();
            let set = set_cookie(FLOW_COOKIE, v.expose_secret(), is_https(state), None);
            (v, set)
        }
    }
}

fn csrf_ok(headers: &HeaderMap, presented: Option<&str>) -> bool {
    csrf_matches(headers, FLOW_COOKIE, presented)
}

// ---------------------------------------------------------------------------------------
// The flow.

struct Ctx<'a> {
    state: &'a IdentityState,
    tenant: &'a Tenant,
    segment: &'a str,
    flow: SecretString,
    cookies: Vec<HeaderValue>,
}

impl Ctx<'_> {
    fn brand(&self) -> &str {
        &self.tenant.display_name
    }

    fn action(&self, step: &str) -> String {
        format!("/{}/login{step}", self.segment)
    }

    fn client(req: &AuthorizeRequest) -> ClientRef {
        ClientRef {
            app_id: Some(req.app.app_id.to_string()),
            display_name: Some(req.app.display_name.clone()),
        }
    }

    fn finish(&self, r: Response) -> Response {
        with_cookies(r, &self.cookies)
    }

    fn sign_in_page(
        &self,
        req: &AuthorizeRequest,
        status: StatusCode,
        error: Option<&str>,
        username: &str,
    ) -> Response {
        let page = SignInPage {
            brand: self.brand(),
            app_name: &req.app.display_name,
            error,
            action: self.action(""),
            csrf: csrf_for(&self.flow),
            request: &req.raw,
            username,
            sspr: self
                .tenant
                .password_policy
                .self_service_reset
                .enabled()
                .then(|| {
                    format!(
                        "/{}/sspr?{}",
                        self.segment,
                        serde_urlencoded::to_string([
                            ("username", username),
                            ("request", &req.raw)
                        ])
                        .unwrap_or_default()
                    )
                }),
        };
        self.finish(html(
            status,
            page.render(),
            origin(&req.redirect_uri).as_deref(),
        ))
    }

    fn change_page(
        &self,
        req: &AuthorizeRequest,
        status: StatusCode,
        errors: Vec<String>,
        username: &str,
    ) -> Response {
        self.change_page_with(req, status, errors, username, "")
    }

    fn change_page_with(
        &self,
        req: &AuthorizeRequest,
        status: StatusCode,
        errors: Vec<String>,
        username: &str,
        ticket: &str,
    ) -> Response {
        let page = ChangePasswordPage {
            brand: self.brand(),
            errors,
            action: self.action("/change-password"),
            csrf: csrf_for(&self.flow),
            request: &req.raw,
            username,
            rules: RULES,
            ticket,
        };
        self.finish(html(
            status,
            page.render(),
            origin(&req.redirect_uri).as_deref(),
        ))
    }

    fn create_password_page(
        &self,
        req: &AuthorizeRequest,
        status: StatusCode,
        errors: Vec<String>,
        user: &User,
        ticket: &str,
    ) -> Response {
        let page = CreatePasswordPage {
            brand: self.brand(),
            errors,
            action: self.action("/create-password"),
            csrf: csrf_for(&self.flow),
            request: &req.raw,
            username: user.user_principal_name.as_str(),
            rules: RULES,
            ticket,
        };
        self.finish(html(
            status,
            page.render(),
            origin(&req.redirect_uri).as_deref(),
        ))
    }

    /// After a right Temporary Access Pass (which stands in for both factors): a user who
    /// must change their password creates one (with a ticket saying the pass was right); a
    /// user who must register an authenticator may do so now; then the session, with `mfa`.
    async fn after_temporary_access_pass(
        &mut self,
        req: &AuthorizeRequest,
        user: &User,
    ) -> Response {
        let d = &self.state.directory;
        if user.force_change_password_next_sign_in {
            return match d.sign_in_ticket(
                user,
                TicketStage::TemporaryAccessPassVerified,
                &self.ticket_binding(),
            ) {
                Ok(t) => self.create_password_page(req, StatusCode::OK, vec![], user, &t),
                Err(e) => self.finish(transient(self.brand(), &e)),
            };
        }
        match d.second_factor_due(self.tenant.id, user).await {
            Ok(SecondFactorDue::Register) => {
                self.ask_second_factor(req, user, SecondFactorDue::Register)
                    .await
            }
            Ok(_) => match self.start_session(user, true).await {
                Ok(proof) => self.proceed(req, user, proof).await,
                Err(e) => transient(self.brand(), &e),
            },
            Err(e) => self.finish(transient(self.brand(), &e)),
        }
    }

    /// The value a sign-in ticket is bound to: only this browser (its flow cookie) has it.
    fn ticket_binding(&self) -> String {
        derive("latchkey/second-factor/v1", &self.flow)
    }

    /// The second step: asks for a code from the authenticator app (or a recovery code),
    /// carrying a sealed ticket that says the password was right.
    fn second_factor_page(
        &self,
        req: &AuthorizeRequest,
        status: StatusCode,
        error: Option<&str>,
        user: &User,
        ticket: &str,
    ) -> Response {
        let page = SecondFactorPage {
            brand: self.brand(),
            username: user.user_principal_name.as_str(),
            error,
            action: self.action("/second-factor"),
            csrf: csrf_for(&self.flow),
            request: &req.raw,
            ticket,
        };
        self.finish(html(
            status,
            page.render(),
            origin(&req.redirect_uri).as_deref(),
        ))
    }

    /// The registration of an authenticator in the middle of a sign-in.
    fn register_page(
        &self,
        req: &AuthorizeRequest,
        status: StatusCode,
        error: Option<&str>,
        user: &User,
        ticket: &str,
        enrollment: &TotpEnrollment,
    ) -> Response {
        let qr = match qr_svg(&enrollment.uri) {
            Ok(q) => q,
            Err(e) => return self.finish(transient(self.brand(), &e)),
        };
        let page = RegisterAuthenticatorPage {
            brand: self.brand(),
            username: user.user_principal_name.as_str(),
            error,
            action: self.action("/register-authenticator"),
            csrf: csrf_for(&self.flow),
            request: &req.raw,
            ticket,
            method_id: enrollment.method_id.to_string(),
            qr_svg: qr,
            secret: enrollment.secret.expose_secret(),
        };
        self.finish(html(
            status,
            page.render(),
            origin(&req.redirect_uri).as_deref(),
        ))
    }

    /// After a right password: what core says is due — a code, the registration of an
    /// authenticator, or nothing.
    async fn after_password(&mut self, req: &AuthorizeRequest, user: &User) -> Response {
        let d = &self.state.directory;
        let due = match d.second_factor_due(self.tenant.id, user).await {
            Ok(due) => due,
            Err(e) => return self.finish(transient(self.brand(), &e)),
        };
        if due == SecondFactorDue::None {
            return match self.start_session(user, false).await {
                Ok(proof) => self.proceed(req, user, proof).await,
                Err(e) => transient(self.brand(), &e),
            };
        }
        self.ask_second_factor(req, user, due).await
    }

    /// The page for what is due after the password (a code, or the registration of an
    /// authenticator), with a ticket saying the password was right.
    async fn ask_second_factor(
        &self,
        req: &AuthorizeRequest,
        user: &User,
        due: SecondFactorDue,
    ) -> Response {
        let d = &self.state.directory;
        let ticket =
            match d.sign_in_ticket(user, TicketStage::PasswordVerified, &self.ticket_binding()) {
                Ok(t) => t,
                Err(e) => return self.finish(transient(self.brand(), &e)),
            };
        if due == SecondFactorDue::Verify {
            return self.second_factor_page(req, StatusCode::OK, None, user, &ticket);
        }
        match d
            .begin_totp_registration_at_sign_in(self.tenant.id, user)
            .await
        {
            Ok(e) => self.register_page(req, StatusCode::OK, None, user, &ticket, &e),
            Err(e) => self.finish(transient(self.brand(), &e)),
        }
    }

    /// Both factors are proved: the forced change if one is due (with a ticket saying the
    /// second factor was proved), else the session and on to the app.
    async fn after_second_factor(&mut self, req: &AuthorizeRequest, user: &User) -> Response {
        if user.force_change_password_next_sign_in {
            return match self.state.directory.sign_in_ticket(
                user,
                TicketStage::SecondFactorVerified,
                &self.ticket_binding(),
            ) {
                Ok(t) => self.change_page_with(
                    req,
                    StatusCode::OK,
                    vec![],
                    user.user_principal_name.as_str(),
                    &t,
                ),
                Err(e) => self.finish(transient(self.brand(), &e)),
            };
        }
        match self.start_session(user, true).await {
            Ok(proof) => self.proceed(req, user, proof).await,
            Err(e) => transient(self.brand(), &e),
        }
    }

    /// The user is signed in: ask for consent if the app lacks it, else issue the code.
    async fn proceed(&self, req: &AuthorizeRequest, user: &User, proof: Proof) -> Response {
        let d = &self.state.directory;
        // A session opened with the password alone (before the user registered an
        // authenticator, or before the tenant required one) does not stand in for the
        // second factor: ask for it now.
        if !proof.mfa {
            match d.second_factor_due(self.tenant.id, user).await {
                Ok(SecondFactorDue::None) => {}
                Ok(_) if req.prompt == Some(Prompt::None) => {
                    return self.finish(reply_error(
                        &req.reply_to(),
                        self.brand(),
                        "interaction_required",
                        50076,
                        "The user must sign in with a second factor; send an interactive request.",
                    ));
                }
                Ok(due) => return self.ask_second_factor(req, user, due).await,
                Err(e) => return self.finish(transient(self.brand(), &e)),
            }
        }
        let consent = match d.user_consent(user, &req.app).await {
            Ok(c) => c,
            Err(e) => return self.finish(transient(self.brand(), &e)),
        };
        let missing = missing_consent(&req.app, consent.as_ref(), &req.scopes);
        let ask = !missing.is_empty() || req.prompt == Some(Prompt::Consent);
        if ask {
            if req.prompt == Some(Prompt::None) {
                return self.finish(reply_error(
                    &req.reply_to(),
                    self.brand(),
                    "consent_required",
                    65001,
                    "The user has not consented to the application; send an interactive request.",
                ));
            }
            if missing.iter().any(|s| !user_may_consent(s)) {
                return self.finish(message(
                    self.brand(),
                    StatusCode::FORBIDDEN,
                    "Need admin approval",
                    &format!(
                        "{} needs permission to access resources in your organisation that only an admin can grant. Ask an admin to grant permission to this app before you can use it.",
                        req.app.display_name
                    ),
                    Some(90094),
                ));
            }
            let shown = if missing.is_empty() {
                req.scopes.clone()
            } else {
                missing
            };
            let page = ConsentPage {
                brand: self.brand(),
                app_name: &req.app.display_name,
                username: user.user_principal_name.as_str(),
                permissions: shown.iter().map(|s| describe(s)).collect(),
                action: self.action("/consent"),
                csrf: csrf_for(&self.flow),
                request: &req.raw,
            };
            return self.finish(html(
                StatusCode::OK,
                page.render(),
                origin(&req.redirect_uri).as_deref(),
            ));
        }
        self.issue_code(req, user, proof).await
    }

    async fn issue_code(&self, req: &AuthorizeRequest, user: &User, proof: Proof) -> Response {
        let auth_time = proof.at;
        if let Some(device) = &req.device {
            return match self
                .state
                .directory
                .decide_device_code(device, user, true, auth_time)
                .await
            {
                Ok(true) => self.finish(message(
                    self.brand(),
                    StatusCode::OK,
                    "You're signed in",
                    &format!(
                        "You have signed in to {} on your device. You may now close this window.",
                        req.app.display_name
                    ),
                    None,
                )),
                Ok(false) => self.finish(message(
                    self.brand(),
                    StatusCode::CONFLICT,
                    "That code was already used",
                    "This code has already been used. Start again on your device to get a new one.",
                    Some(70019),
                )),
                Err(e) => self.finish(transient(self.brand(), &e)),
            };
        }
        let issued = self
            .state
            .directory
            .issue_authorization_code(NewAuthorizationCode {
                tenant_id: self.tenant.id,
                user_id: user.id,
                client_id: req.app.app_id,
                redirect_uri: req.redirect_uri.clone(),
                code_challenge: req.code_challenge.clone(),
                nonce: req.nonce.clone(),
                scopes: req.scopes.join(" "),
                auth_time,
                mfa: proof.mfa,
            })
            .await;
        match issued {
            Ok(code) => self.finish(reply(
                &req.reply_to(),
                self.brand(),
                vec![("code", code.expose_secret().to_owned())],
            )),
            Err(e) => self.finish(transient(self.brand(), &e)),
        }
    }

    /// Opens the browser session and remembers its cookie for the response.
    async fn start_session(&mut self, user: &User, mfa: bool) -> Result<Proof, DirectoryError> {
        let (value, record) = self
            .state
            .directory
            .start_sign_in_session_with(user, mfa)
            .await?;
        if let Some(c) = set_cookie(
            SESSION_COOKIE,
            value.expose_secret(),
            is_https(self.state),
            Some(SESSION_LIFETIME.num_seconds()),
        ) {
            self.cookies.push(c);
        }
        Ok(Proof {
            at: record.created,
            mfa: record.mfa,
        })
    }
}

/// How and when the user proved who they are, for the code and its tokens.
#[derive(Debug, Clone, Copy)]
struct Proof {
    at: chrono::DateTime<chrono::Utc>,
    /// A second factor was part of it (`amr` gets `mfa`).
    mfa: bool,
}

impl Proof {
    fn of(session: &SignInSessionRecord) -> Self {
        Self {
            at: session.created,
            mfa: session.mfa,
        }
    }
}

/// Words a person understands for each permission.
fn describe(scope: &str) -> &'static str {
    match scope {
        "openid" => "Sign you in",
        "profile" => "View your basic profile",
        "email" => "View your email address",
        "offline_access" => "Maintain access to data you have given it access to",
        "User.Read" => "Sign you in and read your profile",
        "User.ReadBasic.All" => "Read the basic profiles of all users",
        "User.Read.All" => "Read the full profiles of all users",
        "User.ReadWrite.All" => "Read and write the profiles of all users",
        "Directory.Read.All" => "Read directory data",
        "Directory.AccessAsUser.All" => "Access the directory as you",
        "UserAuthenticationMethod.Read" => "Read your authentication methods",
        "UserAuthenticationMethod.ReadWrite" => "Read and write your authentication methods",
        "UserAuthenticationMethod.Read.All" => "Read all users' authentication methods",
        "UserAuthenticationMethod.ReadWrite.All" => {
            "Read and write all users' authentication methods"
        }
        "AuditLog.Read.All" => "Read audit log data",
        _ => "Access your organisation's directory",
    }
}

pub(crate) async fn tenant_or_page(
    state: &IdentityState,
    segment: &str,
) -> Result<Tenant, Box<Response>> {
    tenant_page(resolve_tenant(state, segment).await)
}

/// A tenant that could not be resolved, as the page a browser is shown.
fn tenant_page(resolved: Result<Tenant, OAuthError>) -> Result<Tenant, Box<Response>> {
    resolved.map_err(|e| {
        Box::new(message(
            "Latchkey",
            StatusCode::BAD_REQUEST,
            "Sorry, but we're having trouble signing you in",
            &e.message,
            Some(e.code),
        ))
    })
}

/// `GET /{tenant}/oauth2/v2.0/authorize`.
async fn authorize(
    State(state): State<IdentityState>,
    Path(segment): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let raw = query.unwrap_or_default();
    // `common`/`organizations` stand for the client's own tenant; the pages that follow
    // post to that tenant's paths.
    let client_id = serde_urlencoded::from_str::<Vec<(String, String)>>(&raw)
        .unwrap_or_default()
        .into_iter()
        .find(|(k, _)| k == "client_id")
        .map(|(_, v)| v);
    let resolved =
        crate::http::resolve_tenant_for_client(&state, &segment, client_id.as_deref()).await;
    let tenant = match tenant_page(resolved) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let segment = crate::http::flow_segment(segment, &tenant);
    let req = match AuthorizeRequest::parse(&state, &tenant, &raw).await {
        Ok(r) => r,
        Err(r) => return refusal(r, &tenant.display_name),
    };
    let (flow, set) = flow_cookie(&state, &headers);
    let ctx = Ctx {
        state: &state,
        tenant: &tenant,
        segment: &segment,
        flow,
        cookies: set.into_iter().collect(),
    };
    let hint = req.login_hint.clone().unwrap_or_default();
    if req.prompt != Some(Prompt::Login)
        && let Some(cookie) = cookie(&headers, SESSION_COOKIE)
    {
        match state
            .directory
            .find_sign_in_session(tenant.id, &cookie)
            .await
        {
            Ok(Some((session, user))) => {
                if req.prompt == Some(Prompt::SelectAccount) {
                    // Offer the signed-in account, or another one (the same request with
                    // prompt=login, which shows the sign-in page).
                    let mut pairs: Vec<(String, String)> =
                        serde_urlencoded::from_str(&req.raw).unwrap_or_default();
                    pairs.retain(|(k, _)| k != "prompt");
                    pairs.push(("prompt".into(), "login".into()));
                    let page = PickAccountPage {
                        brand: &tenant.display_name,
                        app_name: &req.app.display_name,
                        username: user.user_principal_name.as_str(),
                        action: ctx.action("/continue"),
                        csrf: csrf_for(&ctx.flow),
                        request: &req.raw,
                        other_account: format!(
                            "/{segment}/oauth2/v2.0/authorize?{}",
                            serde_urlencoded::to_string(&pairs).unwrap_or_default()
                        ),
                    };
                    return ctx.finish(html(
                        StatusCode::OK,
                        page.render(),
                        origin(&req.redirect_uri).as_deref(),
                    ));
                } else {
                    return ctx.proceed(&req, &user, Proof::of(&session)).await;
                }
            }
            Ok(None) => {}
            Err(e) => return transient(&tenant.display_name, &e),
        }
    }
    if req.prompt == Some(Prompt::None) {
        return reply_error(
            &req.reply_to(),
            &tenant.display_name,
            "login_required",
            50058,
            "A silent sign-in request was sent but no user is signed in.",
        );
    }
    ctx.sign_in_page(&req, StatusCode::OK, None, &hint)
}

/// What every form posts: the CSRF token and the authorization request it continues.
async fn form_step(
    state: &IdentityState,
    segment: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Tenant, Form, AuthorizeRequest, SecretString), Box<Response>> {
    let tenant = tenant_or_page(state, segment).await?;
    let brand = tenant.display_name.clone();
    let form = Form::parse(headers, body).map_err(|e| {
        Box::new(message(
            &brand,
            StatusCode::BAD_REQUEST,
            "That form could not be read",
            &e.message,
            Some(e.code),
        ))
    })?;
    if !csrf_ok(headers, form.get("csrf")) {
        return Err(Box::new(message(
            &brand,
            StatusCode::BAD_REQUEST,
            "Your sign-in page expired",
            "This form did not come from this sign-in session (it may be old, or from another site). Go back to the app and sign in again.",
            Some(90094),
        )));
    }
    let raw = form.get("request").unwrap_or_default().to_owned();
    let req = if AuthorizeRequest::device_request(&raw) {
        AuthorizeRequest::for_device(state, &tenant, &raw).await
    } else {
        AuthorizeRequest::parse(state, &tenant, &raw).await
    }
    .map_err(|r| Box::new(refusal(r, &brand)))?;
    let flow = cookie(headers, FLOW_COOKIE).unwrap_or_else(random_token);
    Ok((tenant, form, req, flow))
}

pub(crate) fn body_or_page(
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Bytes, Box<Response>> {
    body.map_err(|_| {
        Box::new(message(
            "Latchkey",
            StatusCode::BAD_REQUEST,
            "That form could not be read",
            "The form is too large or unreadable.",
            Some(90014),
        ))
    })
}

/// `POST /{tenant}/login`: the password.
async fn sign_in(
    State(state): State<IdentityState>,
    Path(segment): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let body = match body_or_page(body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let (tenant, form, req, flow) = match form_step(&state, &segment, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let mut ctx = Ctx {
        state: &state,
        tenant: &tenant,
        segment: &segment,
        flow,
        cookies: vec![],
    };
    let username = form.get("username").unwrap_or_default().trim().to_owned();
    let Some(password) = form
        .get("password")
        .map(|p| SecretString::from(p.to_owned()))
    else {
        return ctx.sign_in_page(
            &req,
            StatusCode::BAD_REQUEST,
            Some("Please enter your password."),
            &username,
        );
    };
    if username.is_empty() {
        return ctx.sign_in_page(
            &req,
            StatusCode::BAD_REQUEST,
            Some("Enter a valid email address or user name."),
            "",
        );
    }
    // A Temporary Access Pass is typed where the password goes. Only when this is not the
    // user's usable pass is the password checked, so a failure is counted once.
    match state
        .directory
        .sign_in_with_temporary_access_pass(tenant.id, &username, &password, &Ctx::client(&req))
        .await
    {
        Ok(Some(user)) => return ctx.after_temporary_access_pass(&req, &user).await,
        Ok(None) => {}
        Err(e) => {
            let (status, text) = sign_in_words(&e);
            return ctx.sign_in_page(&req, status, Some(text), &username);
        }
    }
    let outcome = state
        .directory
        .sign_in_with_password(tenant.id, &username, &password, &Ctx::client(&req))
        .await;
    match outcome {
        Ok(user) => ctx.after_password(&req, &user).await,
        // A forced change waits until the second factor is proved (the second-factor step
        // shows the change page after it).
        Err(SignInError::MustChangePassword(user)) => {
            match state.directory.second_factor_due(tenant.id, &user).await {
                Ok(SecondFactorDue::Verify | SecondFactorDue::Register) => {
                    ctx.after_password(&req, &user).await
                }
                Ok(SecondFactorDue::None) => ctx.change_page(
                    &req,
                    StatusCode::OK,
                    vec![],
                    user.user_principal_name.as_str(),
                ),
                Err(e) => transient(&tenant.display_name, &e),
            }
        }
        Err(e) => {
            let (status, text) = sign_in_words(&e);
            ctx.sign_in_page(&req, status, Some(text), &username)
        }
    }
}

/// What a person is told when a sign-in fails. Unknown user and wrong password read the
/// same, so the page does not reveal which accounts exist.
fn sign_in_words(e: &SignInError) -> (StatusCode, &'static str) {
    match e {
        SignInError::UnknownUser | SignInError::WrongPassword => (
            StatusCode::UNAUTHORIZED,
            "Your account or password is incorrect. If you don't remember your password, ask your administrator to reset it.",
        ),
        SignInError::Locked => (
            StatusCode::TOO_MANY_REQUESTS,
            "Your account is temporarily locked to prevent unauthorized use. Try again later, and if you still have trouble, contact your administrator.",
        ),
        SignInError::Disabled => (
            StatusCode::FORBIDDEN,
            "Your account has been disabled. Contact your administrator.",
        ),
        SignInError::Busy => (
            StatusCode::SERVICE_UNAVAILABLE,
            "We're signing in a lot of people right now. Please try again in a moment.",
        ),
        SignInError::MustChangePassword(_) | SignInError::Internal(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong. Please try again.",
        ),
    }
}

/// `POST /{tenant}/login/change-password`: the forced change.
async fn change_password(
    State(state): State<IdentityState>,
    Path(segment): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let body = match body_or_page(body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let (tenant, form, req, flow) = match form_step(&state, &segment, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let mut ctx = Ctx {
        state: &state,
        tenant: &tenant,
        segment: &segment,
        flow,
        cookies: vec![],
    };
    let username = form.get("username").unwrap_or_default().to_owned();
    // The sealed ticket of a second factor proved earlier in this sign-in, if any; it counts
    // only for the user it names.
    let ticket = form.get("ticket").unwrap_or_default().to_owned();
    let proved = if ticket.is_empty() {
        false
    } else {
        match state
            .directory
            .open_sign_in_ticket(
                tenant.id,
                &ticket,
                TicketStage::SecondFactorVerified,
                &ctx.ticket_binding(),
            )
            .await
        {
            Ok(Some(u)) => u
                .user_principal_name
                .as_str()
                .eq_ignore_ascii_case(username.trim()),
            Ok(None) => false,
            Err(e) => return transient(&tenant.display_name, &e),
        }
    };
    let ticket = if proved { ticket } else { String::new() };
    let field = |name: &str| form.get(name).map(|v| SecretString::from(v.to_owned()));
    let (Some(current), Some(new), Some(confirm)) = (
        field("current_password"),
        field("new_password"),
        field("confirm_password"),
    ) else {
        return ctx.change_page_with(
            &req,
            StatusCode::BAD_REQUEST,
            vec!["Fill in all three passwords.".into()],
            &username,
            &ticket,
        );
    };
    if !bool::from(
        new.expose_secret()
            .as_bytes()
            .ct_eq(confirm.expose_secret().as_bytes()),
    ) {
        return ctx.change_page_with(
            &req,
            StatusCode::BAD_REQUEST,
            vec![
                "The passwords you typed do not match. Type the same new password in both boxes."
                    .into(),
            ],
            &username,
            &ticket,
        );
    }
    let changed = state
        .directory
        .change_password_at_sign_in(
            tenant.id,
            &username,
            &current,
            &new,
            &Ctx::client(&req),
            proved,
        )
        .await;
    match changed {
        Ok(user) => match ctx.start_session(&user, proved).await {
            Ok(proof) => ctx.proceed(&req, &user, proof).await,
            Err(e) => transient(&tenant.display_name, &e),
        },
        Err(PasswordChangeError::SecondFactorRequired) => ctx.sign_in_page(
            &req,
            StatusCode::UNAUTHORIZED,
            Some("Your sign-in expired before your password was changed. Sign in again; you will be asked for a code from your authenticator app first."),
            &username,
        ),
        Err(PasswordChangeError::SignIn(SignInError::WrongPassword | SignInError::UnknownUser)) => {
            ctx.change_page_with(
                &req,
                StatusCode::UNAUTHORIZED,
                vec!["Your current password is incorrect.".into()],
                &username, &ticket,
            )
        }
        Err(PasswordChangeError::SignIn(e)) => {
            let (status, text) = sign_in_words(&e);
            ctx.change_page_with(&req, status, vec![text.into()], &username, &ticket)
        }
        Err(PasswordChangeError::SameAsCurrent) => ctx.change_page_with(
            &req,
            StatusCode::BAD_REQUEST,
            vec!["Your new password must be different from your current one.".into()],
            &username, &ticket,
        ),
        Err(PasswordChangeError::Directory(DirectoryError::Policy(p))) => {
            ctx.change_page_with(&req, StatusCode::BAD_REQUEST, policy_lines(&p), &username, &ticket)
        }
        Err(PasswordChangeError::Directory(DirectoryError::Busy)) => ctx.change_page_with(
            &req,
            StatusCode::SERVICE_UNAVAILABLE,
            vec!["We're busy right now. Please try again in a moment.".into()],
            &username, &ticket,
        ),
        Err(PasswordChangeError::Directory(DirectoryError::Stale)) => ctx.change_page_with(
            &req,
            StatusCode::CONFLICT,
            vec!["Your account was changed meanwhile. Please try again.".into()],
            &username, &ticket,
        ),
        Err(PasswordChangeError::Directory(e)) => transient(&tenant.display_name, &e),
    }
}

/// `POST /{tenant}/login/create-password`: the password a user creates after signing in
/// with a Temporary Access Pass. The ticket from the pass step says who; core sets the
/// password only for a genuine ticket of that stage, from this browser, while the change is due.
async fn create_password(
    State(state): State<IdentityState>,
    Path(segment): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let body = match body_or_page(body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let (tenant, form, req, flow) = match form_step(&state, &segment, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let mut ctx = Ctx {
        state: &state,
        tenant: &tenant,
        segment: &segment,
        flow,
        cookies: vec![],
    };
    let expired = |ctx: &Ctx<'_>| {
        ctx.sign_in_page(
            &req,
            StatusCode::UNAUTHORIZED,
            Some("Your sign-in expired. Sign in again."),
            "",
        )
    };
    let ticket = form.get("ticket").unwrap_or_default().to_owned();
    let binding = ctx.ticket_binding();
    let d = &state.directory;
    // Who the page is for, to show it again on a mistake; core checks the ticket again when
    // it sets the password.
    let user = match d
        .open_sign_in_ticket(
            tenant.id,
            &ticket,
            TicketStage::TemporaryAccessPassVerified,
            &binding,
        )
        .await
    {
        Ok(Some(u)) => u,
        Ok(None) => return expired(&ctx),
        Err(e) => return transient(&tenant.display_name, &e),
    };
    let again = |ctx: &Ctx<'_>, status: StatusCode, errors: Vec<String>| {
        ctx.create_password_page(&req, status, errors, &user, &ticket)
    };
    let field = |name: &str| {
        form.get(name)
            .filter(|v| !v.is_empty())
            .map(|v| SecretString::from(v.to_owned()))
    };
    let Some(new) = field("new_password") else {
        return again(
            &ctx,
            StatusCode::BAD_REQUEST,
            vec!["Enter a new password.".into()],
        );
    };
    let Some(confirm) = field("confirm_password") else {
        return again(
            &ctx,
            StatusCode::BAD_REQUEST,
            vec!["Confirm your new password: type it again in the second box.".into()],
        );
    };
    if !bool::from(
        new.expose_secret()
            .as_bytes()
            .ct_eq(confirm.expose_secret().as_bytes()),
    ) {
        return again(
            &ctx,
            StatusCode::BAD_REQUEST,
            vec![
                "The passwords you typed do not match. Type the same new password in both boxes."
                    .into(),
            ],
        );
    }
    match d
        .create_password_after_temporary_access_pass(tenant.id, &ticket, &binding, &new)
        .await
    {
        Ok(Some(user)) => ctx.after_temporary_access_pass(&req, &user).await,
        Ok(None) => expired(&ctx),
        Err(DirectoryError::Policy(p)) => again(&ctx, StatusCode::BAD_REQUEST, policy_lines(&p)),
        Err(DirectoryError::Busy) => again(
            &ctx,
            StatusCode::SERVICE_UNAVAILABLE,
            vec!["We're busy right now. Please try again in a moment.".into()],
        ),
        Err(DirectoryError::Stale) => again(
            &ctx,
            StatusCode::CONFLICT,
            vec!["Your account was changed meanwhile. Please try again.".into()],
        ),
        Err(e) => transient(&tenant.display_name, &e),
    }
}

/// `POST /{tenant}/login/second-factor`: the code from the authenticator app, or a recovery
/// code. The ticket from the password step says who; wrong and replayed codes count toward
/// the second step's own lockout (in core), and the page is shown again with the same ticket.
async fn second_factor(
    State(state): State<IdentityState>,
    Path(segment): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let body = match body_or_page(body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let (tenant, form, req, flow) = match form_step(&state, &segment, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let mut ctx = Ctx {
        state: &state,
        tenant: &tenant,
        segment: &segment,
        flow,
        cookies: vec![],
    };
    let ticket = form.get("ticket").unwrap_or_default().to_owned();
    let user = match state
        .directory
        .open_sign_in_ticket(
            tenant.id,
            &ticket,
            TicketStage::PasswordVerified,
            &ctx.ticket_binding(),
        )
        .await
    {
        Ok(Some(u)) => u,
        Ok(None) => {
            return ctx.sign_in_page(
                &req,
                StatusCode::UNAUTHORIZED,
                Some("Your sign-in expired. Sign in again."),
                "",
            );
        }
        Err(e) => return transient(&tenant.display_name, &e),
    };
    let code = form.get("code").unwrap_or_default().trim().to_owned();
    if code.is_empty() {
        return ctx.second_factor_page(
            &req,
            StatusCode::BAD_REQUEST,
            Some("Enter the code from your authenticator app."),
            &user,
            &ticket,
        );
    }
    let verified = state
        .directory
        .verify_second_factor(tenant.id, &user, &code, &Ctx::client(&req))
        .await;
    match verified {
        Ok(_) => ctx.after_second_factor(&req, &user).await,
        Err(SecondFactorError::WrongCode) => ctx.second_factor_page(
            &req,
            StatusCode::UNAUTHORIZED,
            Some("That code didn't work. Check the code in your app and try again."),
            &user,
            &ticket,
        ),
        Err(SecondFactorError::Replayed) => ctx.second_factor_page(
            &req,
            StatusCode::UNAUTHORIZED,
            Some(
                "That code was already used. Wait for your app to show a new code, then enter it.",
            ),
            &user,
            &ticket,
        ),
        Err(SecondFactorError::Locked) => ctx.finish(message(
            &tenant.display_name,
            StatusCode::TOO_MANY_REQUESTS,
            "Too many wrong codes",
            "You entered too many wrong codes. Wait a while, then sign in again.",
            Some(50053),
        )),
        Err(e @ (SecondFactorError::NoMethod | SecondFactorError::Internal(_))) => {
            transient(&tenant.display_name, &e)
        }
    }
}

/// `POST /{tenant}/login/register-authenticator`: the code that finishes registering an
/// authenticator during sign-in (the tenant requires one for administrators, or a forced
/// change with `forceChangePasswordNextSignInWithMfa`). It proves the second factor too.
async fn register_authenticator(
    State(state): State<IdentityState>,
    Path(segment): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let body = match body_or_page(body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let (tenant, form, req, flow) = match form_step(&state, &segment, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let mut ctx = Ctx {
        state: &state,
        tenant: &tenant,
        segment: &segment,
        flow,
        cookies: vec![],
    };
    let ticket = form.get("ticket").unwrap_or_default().to_owned();
    let expired = |ctx: &Ctx<'_>| {
        ctx.sign_in_page(
            &req,
            StatusCode::UNAUTHORIZED,
            Some("Your sign-in expired. Sign in again."),
            "",
        )
    };
    let user = match state
        .directory
        .open_sign_in_ticket(
            tenant.id,
            &ticket,
            TicketStage::PasswordVerified,
            &ctx.ticket_binding(),
        )
        .await
    {
        Ok(Some(u)) => u,
        Ok(None) => return expired(&ctx),
        Err(e) => return transient(&tenant.display_name, &e),
    };
    let Some(method) = form
        .get("method")
        .and_then(|m| m.parse::<uuid::Uuid>().ok())
    else {
        return expired(&ctx);
    };
    let code = form.get("code").unwrap_or_default().trim().to_owned();
    let d = &state.directory;
    match d
        .finish_totp_registration_at_sign_in(tenant.id, &user, method, &code)
        .await
    {
        Ok(_) => ctx.after_second_factor(&req, &user).await,
        Err(DirectoryError::Invalid { message, .. }) => {
            match d
                .pending_totp_registration_at_sign_in(tenant.id, &user, method)
                .await
            {
                Ok(e) => ctx.register_page(
                    &req,
                    StatusCode::BAD_REQUEST,
                    Some(&message),
                    &user,
                    &ticket,
                    &e,
                ),
                Err(_) => expired(&ctx),
            }
        }
        Err(e) => transient(&tenant.display_name, &e),
    }
}

/// One line per policy rule the new password breaks.
pub(crate) fn policy_lines(p: &latchkey_core::password::PolicyError) -> Vec<String> {
    let text = p.to_string();
    let lines: Vec<String> = text
        .split(['\n', ';'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if lines.is_empty() { vec![text] } else { lines }
}

/// The browser's sign-in session, if its session cookie names a live one.
async fn session_from_cookie(
    state: &IdentityState,
    tenant: &Tenant,
    headers: &HeaderMap,
) -> Result<Option<(SignInSessionRecord, User)>, DirectoryError> {
    match cookie(headers, SESSION_COOKIE) {
        Some(c) => state.directory.find_sign_in_session(tenant.id, &c).await,
        None => Ok(None),
    }
}

/// `POST /{tenant}/login/consent`.
async fn consent(
    State(state): State<IdentityState>,
    Path(segment): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let body = match body_or_page(body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let (tenant, form, req, flow) = match form_step(&state, &segment, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let ctx = Ctx {
        state: &state,
        tenant: &tenant,
        segment: &segment,
        flow,
        cookies: vec![],
    };
    let session = session_from_cookie(&state, &tenant, &headers).await;
    let (session, user) = match session {
        Ok(Some(s)) => s,
        Ok(None) => {
            return ctx.sign_in_page(
                &req,
                StatusCode::UNAUTHORIZED,
                Some("Your session has ended. Please sign in again."),
                "",
            );
        }
        Err(e) => return transient(&tenant.display_name, &e),
    };
    match form.get("decision") {
        Some("accept") => {}
        _ if req.device.is_some() => {
            if let Some(device) = &req.device {
                let _ = state
                    .directory
                    .decide_device_code(device, &user, false, session.created)
                    .await;
            }
            return message(
                &tenant.display_name,
                StatusCode::OK,
                "Sign-in declined",
                "You declined to let the app on your device use your account. You may close this window.",
                None,
            );
        }
        _ => {
            return reply_error(
                &req.reply_to(),
                &tenant.display_name,
                "access_denied",
                65004,
                "The user declined to consent to access the app.",
            );
        }
    }
    let existing = match state.directory.user_consent(&user, &req.app).await {
        Ok(c) => c,
        Err(e) => return transient(&tenant.display_name, &e),
    };
    let missing = missing_consent(&req.app, existing.as_ref(), &req.scopes);
    match state
        .directory
        .consent_as_user(&user, &req.app, &missing)
        .await
    {
        Ok(_) => ctx.issue_code(&req, &user, Proof::of(&session)).await,
        Err(DirectoryError::Denied(Denied(text))) => message(
            &tenant.display_name,
            StatusCode::FORBIDDEN,
            "Need admin approval",
            &text,
            Some(90094),
        ),
        Err(e) => transient(&tenant.display_name, &e),
    }
}

/// `GET /{tenant}/oauth2/v2.0/logout`: ends the browser session. Goes back to the app only
/// to a `post_logout_redirect_uri` registered on the app named by `client_id`, or by the
/// audience of an `id_token_hint` we signed.
async fn logout(
    State(state): State<IdentityState>,
    Path(segment): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    logout_with(
        &state,
        &segment,
        query.as_deref().unwrap_or_default(),
        &headers,
    )
    .await
}

async fn logout_post(
    State(state): State<IdentityState>,
    Path(segment): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let body = match body_or_page(body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let text = String::from_utf8_lossy(&body).into_owned();
    logout_with(&state, &segment, &text, &headers).await
}

async fn logout_with(
    state: &IdentityState,
    segment: &str,
    params: &str,
    headers: &HeaderMap,
) -> Response {
    // `common` and `organizations` name no tenant: it is found below from the request.
    let named = if crate::http::is_tenant_independent(segment) {
        None
    } else {
        match tenant_or_page(state, segment).await {
            Ok(t) => Some(t),
            Err(r) => return *r,
        }
    };
    let brand = named
        .as_ref()
        .map_or_else(|| "Latchkey".to_owned(), |t| t.display_name.clone());
    if params.len() > MAX_QUERY {
        return message(
            &brand,
            StatusCode::BAD_REQUEST,
            "Sign-out request too large",
            "The sign-out request is too large.",
            Some(90015),
        );
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(params).unwrap_or_default();
    let get = |n: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let ended = match cookie(headers, SESSION_COOKIE) {
        Some(c) => match state.directory.end_sign_in_session(&c).await {
            Ok(t) => t,
            Err(e) => return transient(&brand, &e),
        },
        None => None,
    };
    let tenant = match named {
        Some(t) => Some(t),
        None => match logout_tenant(state, get("client_id"), get("id_token_hint"), ended).await {
            Ok(t) => t,
            Err(e) => return transient(&brand, &e),
        },
    };
    let brand = tenant
        .as_ref()
        .map_or_else(|| "Latchkey".to_owned(), |t| t.display_name.clone());
    let secure = is_https(state);
    let clear: Vec<HeaderValue> = [SESSION_COOKIE, FLOW_COOKIE]
        .iter()
        .filter_map(|n| set_cookie(n, "", secure, Some(0)))
        .collect();
    if let Some(target) = get("post_logout_redirect_uri")
        && let Some(tenant) = &tenant
    {
        let hinted = match get("id_token_hint") {
            Some(hint) => {
                state
                    .tokens
                    .id_token_audience(hint, &[state.issuer(&tenant.id.to_string())])
                    .await
            }
            None => None,
        };
        let client = get("client_id").map(str::to_owned).or(hinted);
        let registered = match client.and_then(|c| c.parse::<uuid::Uuid>().ok()) {
            Some(id) => match state.directory.find_client(tenant.id, AppId(id)).await {
                Ok(app) => app.is_some_and(|a| a.redirect_uris.iter().any(|r| r == target)),
                Err(e) => return transient(&brand, &e),
            },
            None => false,
        };
        if registered {
            let to = ReplyTo {
                redirect_uri: target.to_owned(),
                state: get("state").map(str::to_owned),
                response_mode: ResponseMode::Query,
                app_name: String::new(),
            };
            return with_cookies(reply(&to, &brand, vec![]), &clear);
        }
        return with_cookies(
            message(
                &brand,
                StatusCode::OK,
                "You signed out of your account",
                "You have signed out. The address the app asked to return to is not registered for it, so you stay here. It's a good idea to close all browser windows.",
                None,
            ),
            &clear,
        );
    }
    with_cookies(
        message(
            &brand,
            StatusCode::OK,
            "You signed out of your account",
            "It's a good idea to close all browser windows.",
            None,
        ),
        &clear,
    )
}

/// `GET|POST /oidc/userinfo`: the signed-in user's claims, for a delegated access token.
/// Tokens issued before the user's sessions were revoked are refused.
async fn userinfo(State(state): State<IdentityState>, headers: HeaderMap) -> Response {
    let unauthorized = |why: &str| {
        let mut r = (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": { "code": "InvalidAuthenticationToken", "message": why } })),
        )
            .into_response();
        if let Ok(v) = HeaderValue::from_str(&format!(
            "Bearer error=\"invalid_token\", error_description=\"{why}\""
        )) {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        r
    };
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return unauthorized("An access token is required.");
    };
    let Some(tid) = unverified_tid(token) else {
        return unauthorized("The access token is malformed.");
    };
    let issuers = [state.issuer(&tid)];
    let claims = match state
        .tokens
        .validate(token, &[GRAPH_RESOURCE, GRAPH_APP_ID], &issuers)
        .await
    {
        Ok(c) => c,
        Err(e) => return unauthorized(&e.to_string()),
    };
    if claims.idtyp != "user" {
        return unauthorized("The access token does not represent a user.");
    }
    let (Ok(tenant), Ok(user)) = (claims.tid.parse::<TenantId>(), claims.oid.parse::<UserId>())
    else {
        return unauthorized("The access token is malformed.");
    };
    let user = match state.directory.find_active_user(tenant, user).await {
        Ok(u) => u,
        Err(e) => return crate::http::internal(&e).into_response(),
    };
    let Some(user) = user
        .filter(|u| u.account_enabled && claims.iat >= u.sign_in_sessions_valid_from.timestamp())
    else {
        return unauthorized("The access token has been revoked.");
    };
    let mut body = json!({
        "sub": user.id.to_string(),
        "oid": user.id.to_string(),
        "tid": user.tenant_id.to_string(),
        "name": user.display_name.as_str(),
        "preferred_username": user.user_principal_name.as_str(),
    });
    if let Some(g) = &user.profile.given_name {
        body["given_name"] = json!(g);
    }
    if let Some(s) = &user.profile.surname {
        body["family_name"] = json!(s);
    }
    if let Some(m) = &user.profile.mail {
        body["email"] = json!(m);
    }
    let mut r = Json(body).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The tenant a sign-out at `common` or `organizations` is for: the app's (`client_id`),
/// else the one the `id_token_hint` names (its signature is checked against that tenant's
/// issuer before any redirect), else the one whose session the cookie ended.
async fn logout_tenant(
    state: &IdentityState,
    client_id: Option<&str>,
    id_token_hint: Option<&str>,
    ended: Option<TenantId>,
) -> Result<Option<Tenant>, DirectoryError> {
    if let Some(id) = client_id
        && let Some(t) = state.directory.find_tenant_of_client(id).await?
    {
        return Ok(Some(t));
    }
    if let Some(tid) = id_token_hint.and_then(unverified_tid)
        && let Some(t) = state.directory.find_tenant(&tid).await?
    {
        return Ok(Some(t));
    }
    match ended {
        Some(id) => state.directory.find_tenant(&id.to_string()).await,
        None => Ok(None),
    }
}

/// The `tid` claim, read before validation only to know which issuer to expect; the
/// validation that follows checks the signature over it.
fn unverified_tid(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let tid = v.get("tid")?.as_str()?;
    tid.parse::<uuid::Uuid>().ok().map(|u| u.to_string())
}

async fn style() -> Response {
    let mut r = STYLE.into_response();
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

/// `GET /{tenant}/devicelogin`: where a person types the code their device shows.
async fn device_login(
    State(state): State<IdentityState>,
    Path(segment): Path<String>,
    headers: HeaderMap,
) -> Response {
    let tenant = match tenant_or_page(&state, &segment).await {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let (flow, set) = flow_cookie(&state, &headers);
    let page = DeviceLoginPage {
        brand: &tenant.display_name,
        error: None,
        action: format!("/{segment}/devicelogin"),
        csrf: csrf_for(&flow),
    };
    with_cookies(
        html(StatusCode::OK, page.render(), None),
        &set.into_iter().collect::<Vec<_>>(),
    )
}

/// `POST /{tenant}/devicelogin`: a valid code leads to the sign-in page, whose later steps
/// (forced change, consent) end by approving the device instead of redirecting.
async fn device_login_post(
    State(state): State<IdentityState>,
    Path(segment): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let body = match body_or_page(body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let tenant = match tenant_or_page(&state, &segment).await {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let brand = tenant.display_name.clone();
    let form = match Form::parse(&headers, &body) {
        Ok(f) => f,
        Err(e) => {
            return message(
                &brand,
                StatusCode::BAD_REQUEST,
                "That form could not be read",
                &e.message,
                Some(e.code),
            );
        }
    };
    let Some(flow) = cookie(&headers, FLOW_COOKIE).filter(|_| csrf_ok(&headers, form.get("csrf")))
    else {
        return message(
            &brand,
            StatusCode::BAD_REQUEST,
            "Your sign-in page expired",
            "This form did not come from this sign-in session (it may be old, or from another site). Open the device login page again.",
            Some(90094),
        );
    };
    let typed = form.get("user_code").unwrap_or_default();
    let raw = serde_urlencoded::to_string([("user_code", typed)]).unwrap_or_default();
    match AuthorizeRequest::for_device(&state, &tenant, &raw).await {
        Ok(req) => {
            let ctx = Ctx {
                state: &state,
                tenant: &tenant,
                segment: &segment,
                flow,
                cookies: vec![],
            };
            ctx.sign_in_page(&req, StatusCode::OK, None, "")
        }
        Err(Refusal::Page { message: text, .. }) => {
            let page = DeviceLoginPage {
                brand: &brand,
                error: Some(&text),
                action: format!("/{segment}/devicelogin"),
                csrf: csrf_for(&flow),
            };
            html(StatusCode::BAD_REQUEST, page.render(), None)
        }
        Err(other) => refusal(other, &brand),
    }
}

/// `POST /{tenant}/login/continue`: "continue as" on the account picker (prompt=select_account).
async fn continue_as(
    State(state): State<IdentityState>,
    Path(segment): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let body = match body_or_page(body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let (tenant, _form, req, flow) = match form_step(&state, &segment, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let ctx = Ctx {
        state: &state,
        tenant: &tenant,
        segment: &segment,
        flow,
        cookies: vec![],
    };
    let session = session_from_cookie(&state, &tenant, &headers).await;
    match session {
        Ok(Some((session, user))) => ctx.proceed(&req, &user, Proof::of(&session)).await,
        Ok(None) => ctx.sign_in_page(
            &req,
            StatusCode::UNAUTHORIZED,
            Some("Your session has ended. Please sign in again."),
            "",
        ),
        Err(e) => transient(&tenant.display_name, &e),
    }
}
