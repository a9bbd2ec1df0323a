//! What every server-rendered page of Latchkey shares, here so that the sign-in pages and the
//! admin center (`latchkey-web`) use one implementation: the strict response headers, cookie
//! reading and writing, CSRF tokens derived from a cookie, and QR codes as inline SVG.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Adds the headers every page carries: a Content-Security-Policy that allows our own style
/// sheet and nothing else (no script), forms only to ourselves (and `form_target`, an
/// origin a form's response may redirect to), no framing, no sniffing, no referrer, and no
/// caching anywhere.
pub fn secure_headers(r: Response, form_target: Option<&str>) -> Response {
    with_headers(r, form_target, "")
}

/// [`secure_headers`] for a page that loads our own script (the admin center's enhancements):
/// scripts and `fetch` only from ourselves, never inline.
pub fn secure_headers_with_script(r: Response) -> Response {
    with_headers(r, None, " script-src 'self'; connect-src 'self';")
}

fn with_headers(mut r: Response, form_target: Option<&str>, script: &str) -> Response {
    let form_action = match form_target {
        Some(o) => format!("form-action 'self' {o}"),
        None => "form-action 'self'".to_owned(),
    };
    let csp = format!(
        "default-src 'none'; style-src 'self';{script} {form_action}; frame-ancestors 'none'; base-uri 'none'"
    );
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

/// The value of a cookie the browser sent, if it sent a non-empty one.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<SecretString> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, v)| *k == name && !v.is_empty())
        .map(|(_, v)| SecretString::from(v.to_owned()))
}

/// A `Set-Cookie` header for the whole site: `HttpOnly`, `SameSite=Lax`, `Secure` when we are
/// served over https; a session cookie unless `max_age` is given (0 deletes it).
pub fn set_cookie(
    name: &str,
    value: &str,
    secure: bool,
    max_age: Option<i64>,
) -> Option<HeaderValue> {
    set_cookie_at(name, value, "/", secure, max_age)
}

/// As [`set_cookie`], for the paths under `path` only.
pub fn set_cookie_at(
    name: &str,
    value: &str,
    path: &str,
    secure: bool,
    max_age: Option<i64>,
) -> Option<HeaderValue> {
    let mut c = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Lax");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).ok()
}

/// A one-way function of a cookie, for a purpose: a value derived from it says nothing about
/// the cookie, and only a page of ours (which sees the cookie) can compute it.
pub fn derive(purpose: &str, cookie: &SecretString) -> String {
    let mut h = Sha256::new();
    h.update(purpose.as_bytes());
    h.update(b":");
    h.update(cookie.expose_secret().as_bytes());
    URL_SAFE_NO_PAD.encode(h.finalize())
}

/// The CSRF token for a cookie: a form carries it, and a post is accepted only when it
/// matches the cookie the browser sends along.
pub fn csrf_for(cookie: &SecretString) -> String {
    derive("latchkey/csrf/v1", cookie)
}

/// Whether `presented` is the CSRF token for the cookie `name` the browser sent, compared in
/// constant time. No cookie or no token: not valid.
pub fn csrf_matches(headers: &HeaderMap, name: &str, presented: Option<&str>) -> bool {
    match (cookie(headers, name), presented) {
        (Some(c), Some(p)) => bool::from(csrf_for(&c).as_bytes().ct_eq(p.as_bytes())),
        _ => false,
    }
}

/// A QR code of `text` (an authenticator's `otpauth://` URI) as an inline SVG element, drawn
/// on the server so that the page runs no script: only rectangles and a path, the XML prolog
/// dropped so that it can sit inside a page.
pub fn qr_svg(text: &SecretString) -> Result<String, qrcode::types::QrError> {
    let code = qrcode::QrCode::new(text.expose_secret().as_bytes())?;
    let image = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    Ok(match image.find("<svg") {
        Some(i) => image[i..].to_owned(),
        None => image,
    })
}
