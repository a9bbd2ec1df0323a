//! Settings › Password policy: the tenant's length, character categories, generated length,
//! expiry, custom banned terms and smart lockout's threshold and duration, changed through
//! `Directory::update_password_policy` (`Action::ManageTenant`; core validates the policy,
//! lockout bounds included). The form carries a digest of the policy it showed, so a
//! form older than the policy (another administrator saved meanwhile) is refused as stale.

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use latchkey_core::authz::{Action, authorize};
use latchkey_core::password::PasswordPolicy;
use latchkey_core::sign_in::SmartLockout;
use latchkey_identity::browser::csrf_matches;
use sha2::{Digest, Sha256};

use super::{
    Chrome, DirectoryError, Form, SESSION_COOKIE, Viewer, WebState, denied_or_transient, html,
    viewer,
};

/// Most banned terms the form accepts in one go (core allows 1,000).
const MAX_TERMS_TEXT: usize = 32 * 1024;

#[derive(Template)]
#[template(path = "policy.html")]
struct PolicyPage {
    chrome: Chrome,
    min_length: String,
    categories: String,
    generated_length: String,
    validity_days: String,
    banned_terms: String,
    lockout_threshold: String,
    lockout_seconds: String,
    digest: String,
    notice: Option<String>,
    errors: Vec<String>,
}

fn digest(p: &PasswordPolicy) -> String {
    let json = serde_json::to_vec(p).unwrap_or_default();
    Sha256::digest(json)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn page(v: &Viewer, p: &PasswordPolicy) -> PolicyPage {
    PolicyPage {
        chrome: v.chrome("policy"),
        min_length: p.min_length.to_string(),
        categories: p.min_character_categories.to_string(),
        generated_length: p.generated_length.to_string(),
        validity_days: p.validity_days.map(|d| d.to_string()).unwrap_or_default(),
        banned_terms: p.custom_banned_terms.join("\n"),
        lockout_threshold: p.lockout.threshold.to_string(),
        lockout_seconds: p.lockout.duration_seconds.to_string(),
        digest: digest(p),
        notice: None,
        errors: vec![],
    }
}

/// `GET /admin/settings/password-policy`.
pub(super) async fn show(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let v = match viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(d) = authorize(&v.actor, Action::ManageTenant, &[]) {
        return denied_or_transient(&d.into());
    }
    html(StatusCode::OK, page(&v, &v.tenant.password_policy).render())
}

/// `POST /admin/settings/password-policy`.
pub(super) async fn save(
    State(state): State<WebState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let v = match viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(d) = authorize(&v.actor, Action::ManageTenant, &[]) {
        return denied_or_transient(&d.into());
    }
    let form = Form::parse(&body);
    let current = v.tenant.password_policy.clone();
    let field = |n: &str| form.get(n).unwrap_or_default().trim().to_owned();
    // What was typed, shown again with any refusal.
    let mut again = page(&v, &current);
    again.min_length = field("min_length");
    again.categories = field("categories");
    again.generated_length = field("generated_length");
    again.validity_days = field("validity_days");
    // A form from before the lockout fields existed keeps the current lockout.
    if form.get("lockout_threshold").is_some() {
        again.lockout_threshold = field("lockout_threshold");
    }
    if form.get("lockout_seconds").is_some() {
        again.lockout_seconds = field("lockout_seconds");
    }
    again.banned_terms = form
        .get("banned_terms")
        .unwrap_or_default()
        .chars()
        .take(MAX_TERMS_TEXT)
        .collect();
    let refuse = |mut p: PolicyPage, status: StatusCode, e: String| {
        p.errors.push(e);
        html(status, p.render())
    };
    if !csrf_matches(&headers, SESSION_COOKIE, form.get("csrf")) {
        return refuse(
            again,
            StatusCode::FORBIDDEN,
            "This form has expired or did not come from the admin center. Nothing was changed; check the values and save again.".into(),
        );
    }
    if form.get("digest") != Some(digest(&current).as_str()) {
        let mut fresh = page(&v, &current);
        fresh.errors.push(
            "The policy was changed by someone else since this form was opened. Nothing was changed; the form now shows the current policy.".into(),
        );
        return html(StatusCode::CONFLICT, fresh.render());
    }
    let number = |label: &str, s: &str| -> Result<usize, String> {
        s.parse::<usize>()
            .map_err(|_| format!("{label}: type a whole number."))
    };
    let parsed = (|| -> Result<PasswordPolicy, String> {
        let min_length = number("Minimum length", &again.min_length)?;
        let categories = u8::try_from(number("Character categories", &again.categories)?)
            .map_err(|_| "Character categories: choose 1 to 4.".to_owned())?;
        let generated_length = number("Generated password length", &again.generated_length)?;
        let validity_days = if again.validity_days.is_empty() {
            None
        } else {
            Some(
                u32::try_from(number(
                    "Passwords expire after (days)",
                    &again.validity_days,
                )?)
                .map_err(|_| "Passwords expire after (days): at most 730.".to_owned())?,
            )
        };
        let mut terms: Vec<String> = again
            .banned_terms
            .lines()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect();
        terms.dedup();
        let lockout = SmartLockout {
            threshold: u32::try_from(number("Lockout threshold", &again.lockout_threshold)?)
                .map_err(|_| "Lockout threshold: at most 100.".to_owned())?,
            duration_seconds: u32::try_from(number(
                "Lockout duration in seconds",
                &again.lockout_seconds,
            )?)
            .map_err(|_| "Lockout duration in seconds: at most 86400.".to_owned())?,
        };
        Ok(PasswordPolicy {
            min_length,
            lockout,
            min_character_categories: categories,
            generated_length,
            validity_days,
            custom_banned_terms: terms,
            ..current.clone()
        })
    })();
    let policy = match parsed {
        Ok(p) => p,
        Err(e) => return refuse(again, StatusCode::BAD_REQUEST, e),
    };
    match state
        .directory
        .update_password_policy(&v.actor, v.tenant.id, policy.clone())
        .await
    {
        Ok(()) => {
            let mut done = page(&v, &policy);
            done.notice = Some(
                "The password policy is saved. Its password rules apply to every password set from now on, its lockout settings from the next failed sign-in."
                    .into(),
            );
            html(StatusCode::OK, done.render())
        }
        Err(DirectoryError::Invalid { message, .. }) => refuse(
            again,
            StatusCode::BAD_REQUEST,
            format!("Not saved: {message}."),
        ),
        Err(e) => denied_or_transient(&e),
    }
}
