//! The view-once page behind a delivered link, `/account/delivered/{token}`: a `GET` only
//! shows an interstitial with a "Reveal the password" button (mail scanners that prefetch
//! links must not use it up), and the reveal is a `POST` carrying a CSRF token derived from a
//! cookie the interstitial set. Every link that cannot be used, whatever the reason, gets the
//! same page.

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latchkey_identity::browser::{cookie, csrf_for, csrf_matches, secure_headers, set_cookie_at};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};

use crate::admin::WebState;

/// Binds the reveal form to the browser that loaded the interstitial.
const VIEW_COOKIE: &str = "lk_view";
const COOKIE_PATH: &str = "/account/delivered";

pub fn router(state: WebState) -> Router {
    Router::new()
        .route("/account/delivered/{token}", get(interstitial).post(reveal))
        .layer(axum::extract::DefaultBodyLimit::max(4 * 1024))
        .with_state(state)
}

#[derive(Template)]
#[template(path = "delivered.html")]
struct DeliveredPage<'a> {
    heading: &'a str,
    upn: String,
    body: DeliveredBody,
}

enum DeliveredBody {
    /// The interstitial, with the form's CSRF token.
    Ready(String),
    /// The password, on this one response.
    Revealed(String),
    Gone,
    Retry,
}

fn page(status: StatusCode, page: &DeliveredPage<'_>) -> Response {
    let body = match page.render() {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "the view-once page failed to render");
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
    secure_headers(r, None)
}

fn gone() -> Response {
    page(
        StatusCode::GONE,
        &DeliveredPage {
            heading: "This link no longer works",
            upn: String::new(),
            body: DeliveredBody::Gone,
        },
    )
}

/// `GET`: the interstitial (nothing is used up), or the gone page.
async fn interstitial(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    let Ok(upn) = state.directory.view_once_pending(&token).await else {
        return gone();
    };
    // Reuse the browser's cookie if it has one, so two tabs keep working.
    let (value, set) = match cookie(&headers, VIEW_COOKIE) {
        Some(c) => (c, None),
        None => {
            let mut raw = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut raw);
            let c = SecretString::from(URL_SAFE_NO_PAD.encode(raw));
            let secure = state.public_url.starts_with("https://");
            let header = set_cookie_at(VIEW_COOKIE, c.expose_secret(), COOKIE_PATH, secure, None);
            (c, header)
        }
    };
    let mut r = page(
        StatusCode::OK,
        &DeliveredPage {
            heading: "Your temporary password",
            upn,
            body: DeliveredBody::Ready(csrf_for(&value)),
        },
    );
    if let Some(h) = set {
        r.headers_mut().append(header::SET_COOKIE, h);
    }
    r
}

/// `POST`: reveals the password once, if the form came from the interstitial.
async fn reveal(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path(token): Path<String>,
    body: Bytes,
) -> Response {
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let csrf = form
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.as_str());
    if !csrf_matches(&headers, VIEW_COOKIE, csrf) {
        // Nothing is used up: the person can open the link again.
        return page(
            StatusCode::FORBIDDEN,
            &DeliveredPage {
                heading: "Open the link again",
                upn: String::new(),
                body: DeliveredBody::Retry,
            },
        );
    }
    match state.directory.reveal_view_once(&token).await {
        Ok(revealed) => page(
            StatusCode::OK,
            &DeliveredPage {
                heading: "Your temporary password",
                upn: revealed.user_principal_name,
                body: DeliveredBody::Revealed(revealed.password.expose_secret().to_owned()),
            },
        ),
        Err(_) => gone(),
    }
}
