//! Self-service password reset pages (`/{tenant}/sspr`), linked from the sign-in page as
//! "Forgot my password": enter the user name → prove who you are with registered methods →
//! choose a new password. Every decision is a `Directory` operation (`sspr_*`); the pages
//! never say whether an account exists.
//!
//! The reset is bound to the browser by the `lk_sspr` cookie (a random secret whose digest
//! the store keeps); each form carries a CSRF token derived from it (the first form, before
//! that cookie exists, one derived from the sign-in pages' `lk_flow` cookie).

use std::net::SocketAddr;

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use latchkey_core::directory::{ResetError, ResetStep};
use latchkey_core::sspr::{FLOW_LIFETIME, VerificationMethod};
use latchkey_core::tenant::Tenant;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::browser::{cookie, csrf_for, csrf_matches, set_cookie};
use crate::http::{Form, IdentityState};
use crate::pages::{
    FLOW_COOKIE, RULES, body_or_page, flow_cookie, html, is_https, message, policy_lines,
    tenant_or_page, transient, with_cookies,
};

const SSPR_COOKIE: &str = "lk_sspr";

pub(crate) fn routes() -> Router<IdentityState> {
    Router::new()
        .route("/{tenant}/sspr", get(start_page).post(start))
        .route("/{tenant}/sspr/send", post(send))
        .route("/{tenant}/sspr/verify", post(verify))
        .route("/{tenant}/sspr/password", post(password))
}

/// The stage of the reset a page shows.
enum Stage {
    Start,
    Choose { email: bool, app: bool, first: bool },
    EmailCode,
    NewPassword,
    Done,
}

#[derive(Template)]
#[template(path = "sspr.html")]
struct SsprPage<'a> {
    brand: &'a str,
    stage: Stage,
    errors: Vec<String>,
    base: String,
    csrf: String,
    request: &'a str,
    username: &'a str,
    rules: &'a str,
    sign_in: String,
}

/// The client's address as the listener saw it (absent in tests that call the router
/// directly), for the per-address limit.
struct ClientAddress(Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(a)| a.ip().to_string()),
        ))
    }
}

/// What each page of one reset needs to render.
struct Ctx<'a> {
    state: &'a IdentityState,
    tenant: Tenant,
    segment: &'a str,
    /// The authorization request the user came from (the sign-in page's), to go back to.
    request: String,
    /// The secret the forms' CSRF token is derived from.
    csrf_cookie: SecretString,
    cookies: Vec<HeaderValue>,
}

impl Ctx<'_> {
    fn page(
        &self,
        status: StatusCode,
        stage: Stage,
        errors: Vec<String>,
        username: &str,
    ) -> Response {
        let sign_in = if self.request.is_empty() {
            String::new()
        } else {
            format!("/{}/oauth2/v2.0/authorize?{}", self.segment, self.request)
        };
        let r = html(
            status,
            SsprPage {
                brand: &self.tenant.display_name,
                stage,
                errors,
                base: format!("/{}/sspr", self.segment),
                csrf: csrf_for(&self.csrf_cookie),
                request: &self.request,
                username,
                rules: RULES,
                sign_in,
            }
            .render(),
            None,
        );
        with_cookies(r, &self.cookies)
    }

    fn step_page(&self, step: ResetStep, first: bool) -> Response {
        match step {
            ResetStep::Verify { methods } => self.page(
                StatusCode::OK,
                Stage::Choose {
                    email: methods.contains(&VerificationMethod::Email),
                    app: methods.contains(&VerificationMethod::AuthenticatorApp),
                    first,
                },
                vec![],
                "",
            ),
            ResetStep::NewPassword => self.page(StatusCode::OK, Stage::NewPassword, vec![], ""),
        }
    }

    /// A refusal, on the page that lets the user go on: the first page for anything that
    /// ends this reset.
    fn refused(&self, e: &ResetError, again: Stage) -> Response {
        let status = match &e {
            ResetError::Directory(latchkey_core::DirectoryError::Busy) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ResetError::Directory(_) => return transient(&self.tenant.display_name, e),
            ResetError::TooManyAttempts | ResetError::Locked => StatusCode::TOO_MANY_REQUESTS,
            ResetError::Disabled => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        };
        let errors = match e {
            ResetError::Policy(p) => policy_lines(p),
            other => vec![other.to_string()],
        };
        let stage = match e {
            ResetError::WrongCode { .. } | ResetError::Policy(_) => again,
            ResetError::Directory(_) => again,
            _ => Stage::Start,
        };
        self.page(status, stage, errors, "")
    }
}

#[derive(Deserialize)]
struct StartQuery {
    username: Option<String>,
    request: Option<String>,
}

async fn tenant(state: &IdentityState, segment: &str) -> Result<Tenant, Box<Response>> {
    let tenant = tenant_or_page(state, segment).await?;
    if !tenant.password_policy.self_service_reset.enabled() {
        return Err(Box::new(message(
            &tenant.display_name,
            StatusCode::FORBIDDEN,
            "Self-service password reset is off",
            &ResetError::Disabled.to_string(),
            None,
        )));
    }
    Ok(tenant)
}

/// `GET /{tenant}/sspr`: the first page.
async fn start_page(
    State(state): State<IdentityState>,
    Path(segment): Path<String>,
    Query(q): Query<StartQuery>,
    headers: HeaderMap,
) -> Response {
    let tenant = match tenant(&state, &segment).await {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let (flow, set) = flow_cookie(&state, &headers);
    let ctx = Ctx {
        state: &state,
        tenant,
        segment: &segment,
        request: q.request.unwrap_or_default(),
        csrf_cookie: flow,
        cookies: set.into_iter().collect(),
    };
    let username = q.username.unwrap_or_default();
    ctx.page(StatusCode::OK, Stage::Start, vec![], &username)
}

/// The tenant, the form and the context of a post; the CSRF token checked against `cookie_name`.
async fn posted<'a>(
    state: &'a IdentityState,
    segment: &'a str,
    headers: &HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
    cookie_name: &str,
) -> Result<(Ctx<'a>, Form), Box<Response>> {
    let body = body_or_page(body)?;
    let tenant = tenant(state, segment).await?;
    let form = Form::parse(headers, &body).map_err(|e| {
        Box::new(message(
            &tenant.display_name,
            StatusCode::BAD_REQUEST,
            "That form could not be read",
            &e.message,
            Some(e.code),
        ))
    })?;
    let Some(secret) = cookie(headers, cookie_name)
        .filter(|_| csrf_matches(headers, cookie_name, form.get("csrf")))
    else {
        return Err(Box::new(message(
            &tenant.display_name,
            StatusCode::BAD_REQUEST,
            "This page expired",
            "This form did not come from this password reset (it may be old, or from another site). Start again from the sign-in page.",
            Some(90094),
        )));
    };
    let request = form.get("request").unwrap_or_default().to_owned();
    Ok((
        Ctx {
            state,
            tenant,
            segment,
            request,
            csrf_cookie: secret,
            cookies: vec![],
        },
        form,
    ))
}

/// `POST /{tenant}/sspr`: the user name; starts the reset.
async fn start(
    State(state): State<IdentityState>,
    Path(segment): Path<String>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let (mut ctx, form) = match posted(&state, &segment, &headers, body, FLOW_COOKIE).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let username = form.get("username").unwrap_or_default().to_owned();
    if username.trim().is_empty() {
        return ctx.page(
            StatusCode::BAD_REQUEST,
            Stage::Start,
            vec!["Enter your user name.".into()],
            "",
        );
    }
    let started = ctx
        .state
        .directory
        .sspr_start(ctx.tenant.id, &username, address.as_deref())
        .await;
    match started {
        Ok(secret) => {
            ctx.cookies.extend(set_cookie(
                SSPR_COOKIE,
                secret.expose_secret(),
                is_https(ctx.state),
                Some(FLOW_LIFETIME.num_seconds()),
            ));
            ctx.csrf_cookie = secret;
            match ctx.state.directory.sspr_step(&ctx.csrf_cookie).await {
                Ok(step) => ctx.step_page(step, true),
                Err(e) => ctx.refused(&e, Stage::Start),
            }
        }
        // Keep what was typed on the first page.
        Err(e @ ResetError::Directory(_)) => ctx.refused(&e, Stage::Start),
        Err(e) => {
            let status = if matches!(e, ResetError::Disabled) {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::TOO_MANY_REQUESTS
            };
            ctx.page(status, Stage::Start, vec![e.to_string()], &username)
        }
    }
}

/// `POST /{tenant}/sspr/send`: e-mail a code.
async fn send(
    State(state): State<IdentityState>,
    Path(segment): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let (ctx, _form) = match posted(&state, &segment, &headers, body, SSPR_COOKIE).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    match ctx
        .state
        .directory
        .sspr_send_email_code(&ctx.csrf_cookie)
        .await
    {
        Ok(()) => ctx.page(StatusCode::OK, Stage::EmailCode, vec![], ""),
        Err(e) => ctx.refused(&e, Stage::EmailCode),
    }
}

/// `POST /{tenant}/sspr/verify`: a code for one method.
async fn verify(
    State(state): State<IdentityState>,
    Path(segment): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let (ctx, form) = match posted(&state, &segment, &headers, body, SSPR_COOKIE).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let Some(method) = form.get("method").and_then(VerificationMethod::parse) else {
        return ctx.page(
            StatusCode::BAD_REQUEST,
            Stage::Start,
            vec!["Choose how to prove it's you.".into()],
            "",
        );
    };
    let code = form.get("code").unwrap_or_default();
    let directory = &ctx.state.directory;
    match directory.sspr_verify(&ctx.csrf_cookie, method, code).await {
        Ok(step) => ctx.step_page(step, false),
        Err(e) => {
            let again = match method {
                VerificationMethod::Email => Stage::EmailCode,
                VerificationMethod::AuthenticatorApp => {
                    match directory.sspr_step(&ctx.csrf_cookie).await {
                        Ok(ResetStep::Verify { methods }) => Stage::Choose {
                            email: methods.contains(&VerificationMethod::Email),
                            app: methods.contains(&VerificationMethod::AuthenticatorApp),
                            first: methods.len() > 1,
                        },
                        _ => Stage::Start,
                    }
                }
            };
            ctx.refused(&e, again)
        }
    }
}

/// `POST /{tenant}/sspr/password`: the new password, typed twice.
async fn password(
    State(state): State<IdentityState>,
    Path(segment): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let (mut ctx, form) = match posted(&state, &segment, &headers, body, SSPR_COOKIE).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let field = |name: &str| form.get(name).map(|v| SecretString::from(v.to_owned()));
    let (Some(new), Some(confirm)) = (field("new_password"), field("confirm_password")) else {
        return ctx.page(
            StatusCode::BAD_REQUEST,
            Stage::NewPassword,
            vec!["Type the new password in both boxes.".into()],
            "",
        );
    };
    if !bool::from(
        new.expose_secret()
            .as_bytes()
            .ct_eq(confirm.expose_secret().as_bytes()),
    ) {
        return ctx.page(
            StatusCode::BAD_REQUEST,
            Stage::NewPassword,
            vec![
                "The passwords you typed do not match. Type the same new password in both boxes."
                    .into(),
            ],
            "",
        );
    }
    match ctx
        .state
        .directory
        .sspr_complete(&ctx.csrf_cookie, new)
        .await
    {
        Ok(_) => {
            ctx.cookies
                .extend(set_cookie(SSPR_COOKIE, "", is_https(ctx.state), Some(0)));
            ctx.page(StatusCode::OK, Stage::Done, vec![], "")
        }
        Err(e) => ctx.refused(&e, Stage::NewPassword),
    }
}
