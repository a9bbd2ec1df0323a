//! Apps: the tenant's app registrations (`Directory::list_apps`, `Action::ManageApps`),
//! registering one (`create_app`; a confidential client's first secret is shown on that one
//! response), and an app's page: its permissions, Grant admin consent
//! (`grant_admin_consent`), its secrets by hint and expiry, a new secret shown once
//! (`add_app_secret`) and Remove (`remove_app_secret`). Secrets are never shown again: the
//! store keeps digests.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use latchkey_core::app::{APPLICATION_PERMISSIONS, App, AppId, DELEGATED_PERMISSIONS};
use latchkey_core::authz::{Action, authorize};
use latchkey_core::directory::NewApp;
use latchkey_identity::browser::csrf_matches;
use secrecy::ExposeSecret;

use super::{
    Chrome, DirectoryError, Form, SESSION_COOKIE, Viewer, WebState, denied_or_transient, html,
    message, viewer,
};

const DAY: &str = "%Y-%m-%d";

#[derive(Template)]
#[template(path = "apps.html")]
struct AppsPage {
    chrome: Chrome,
    apps: Vec<AppRow>,
    /// What was typed in "Register an app", kept after a refusal.
    name: String,
    redirect_uri: String,
    public_client: bool,
    application: String,
    delegated: String,
    consent: bool,
    known_application: String,
    known_delegated: String,
    errors: Vec<String>,
}

#[derive(Debug)]
struct AppRow {
    href: String,
    name: String,
    app_id: String,
    kind: &'static str,
    consent: &'static str,
}

#[derive(Template)]
#[template(path = "app.html")]
struct AppPage {
    chrome: Chrome,
    name: String,
    app_id: String,
    base: String,
    kind: &'static str,
    redirect_uris: String,
    application: String,
    delegated: String,
    consented: bool,
    public_client: bool,
    secrets: Vec<SecretRow>,
    /// A secret just created: on this one response only.
    new_secret: Option<String>,
    notice: Option<String>,
    errors: Vec<String>,
}

impl std::fmt::Debug for AppPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppPage")
            .field("app_id", &self.app_id)
            .finish()
    }
}

#[derive(Debug)]
struct SecretRow {
    key_id: String,
    name: String,
    hint: String,
    expires: String,
}

fn kind(a: &App) -> &'static str {
    if a.public_client {
        "Public client"
    } else {
        "Confidential client"
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "—".into()
    } else {
        items.join(", ")
    }
}

fn words(input: &str) -> Vec<String> {
    input
        .split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

async fn render_list(
    state: &WebState,
    v: &Viewer,
    status: StatusCode,
    typed: Option<&Form>,
    errors: Vec<String>,
) -> Response {
    let apps = match state.directory.list_apps(&v.actor, v.tenant.id).await {
        Ok(a) => a,
        Err(e) => return denied_or_transient(&e),
    };
    let field = |n: &str| {
        typed
            .and_then(|f| f.get(n))
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    html(
        status,
        AppsPage {
            chrome: v.chrome("apps"),
            apps: apps
                .iter()
                .map(|a| AppRow {
                    href: format!("/admin/apps/{}", a.app_id),
                    name: a.display_name.clone(),
                    app_id: a.app_id.to_string(),
                    kind: kind(a),
                    consent: if a.application_permissions.is_empty() {
                        "Not needed"
                    } else if a.admin_consent {
                        "Granted"
                    } else {
                        "Not granted"
                    },
                })
                .collect(),
            name: field("name"),
            redirect_uri: field("redirect_uri"),
            public_client: typed.is_some_and(|f| f.get("public") == Some("on")),
            application: field("application"),
            delegated: field("delegated"),
            consent: typed.is_some_and(|f| f.get("consent") == Some("on")),
            known_application: APPLICATION_PERMISSIONS.join(", "),
            known_delegated: DELEGATED_PERMISSIONS.join(", "),
            errors,
        }
        .render(),
    )
}

fn refused_unless_allowed(v: &Viewer) -> Option<Response> {
    authorize(&v.actor, Action::ManageApps, &[])
        .err()
        .map(|d| denied_or_transient(&d.into()))
}

/// `GET /admin/apps`.
pub(super) async fn index(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let v = match viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    render_list(&state, &v, StatusCode::OK, None, vec![]).await
}

const EXPIRED: &str = "This form has expired or did not come from the admin center. Nothing was changed; submit it again.";

/// `POST /admin/apps`: registers an app and answers with its page (and first secret).
pub(super) async fn create(
    State(state): State<WebState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let v = match viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Some(r) = refused_unless_allowed(&v) {
        return r;
    }
    let form = Form::parse(&body);
    if !csrf_matches(&headers, SESSION_COOKIE, form.get("csrf")) {
        return render_list(
            &state,
            &v,
            StatusCode::FORBIDDEN,
            Some(&form),
            vec![EXPIRED.into()],
        )
        .await;
    }
    let redirect = form.get("redirect_uri").unwrap_or_default().trim();
    let new = NewApp {
        display_name: form.get("name").unwrap_or_default().trim().to_owned(),
        redirect_uris: if redirect.is_empty() {
            vec![]
        } else {
            vec![redirect.to_owned()]
        },
        public_client: form.get("public") == Some("on"),
        application_permissions: words(form.get("application").unwrap_or_default()),
        delegated_permissions: words(form.get("delegated").unwrap_or_default()),
        grant_admin_consent: form.get("consent") == Some("on"),
    };
    match state.directory.create_app(&v.actor, v.tenant.id, new).await {
        Ok(created) => app_page(
            &v,
            &created.app,
            StatusCode::OK,
            created.secret.map(|s| s.expose_secret().to_owned()),
            Some("The app is registered.".into()),
            vec![],
        ),
        Err(DirectoryError::Invalid { property, message }) => {
            let label = match property.as_str() {
                "displayName" => "Name",
                "redirectUris" | "redirectUri" | "web.redirectUris" => "Redirect URI",
                "applicationPermissions" => "Application permissions",
                "delegatedPermissions" => "Delegated permissions",
                _ => "The app",
            };
            render_list(
                &state,
                &v,
                StatusCode::BAD_REQUEST,
                Some(&form),
                vec![format!("{label}: {message}")],
            )
            .await
        }
        Err(e) => denied_or_transient(&e),
    }
}

fn app_page(
    v: &Viewer,
    a: &App,
    status: StatusCode,
    new_secret: Option<String>,
    notice: Option<String>,
    errors: Vec<String>,
) -> Response {
    html(
        status,
        AppPage {
            chrome: v.chrome("apps"),
            name: a.display_name.clone(),
            app_id: a.app_id.to_string(),
            base: format!("/admin/apps/{}", a.app_id),
            kind: kind(a),
            redirect_uris: list(&a.redirect_uris),
            application: list(&a.application_permissions),
            delegated: list(&a.delegated_permissions),
            consented: a.admin_consent,
            public_client: a.public_client,
            secrets: a
                .secrets
                .iter()
                .map(|s| SecretRow {
                    key_id: s.key_id.to_string(),
                    name: s.display_name.clone(),
                    hint: s.hint.clone(),
                    expires: s.end.format(DAY).to_string(),
                })
                .collect(),
            new_secret,
            notice,
            errors,
        }
        .render(),
    )
}

fn app_id(s: &str) -> Option<AppId> {
    s.parse::<uuid::Uuid>().ok().map(AppId)
}

fn no_such_app() -> Response {
    message(
        StatusCode::NOT_FOUND,
        "App not found",
        "This app registration does not exist or was deleted.",
    )
}

/// `GET /admin/apps/{app}`.
pub(super) async fn show(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path(app): Path<String>,
) -> Response {
    let v = match viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Some(r) = refused_unless_allowed(&v) {
        return r;
    }
    let Some(id) = app_id(&app) else {
        return no_such_app();
    };
    match state.directory.get_app(&v.actor, v.tenant.id, id).await {
        Ok(a) => app_page(&v, &a, StatusCode::OK, None, None, vec![]),
        Err(DirectoryError::NotFound { .. }) => no_such_app(),
        Err(e) => denied_or_transient(&e),
    }
}

/// `POST /admin/apps/{app}/{action}`: `consent`, `secrets` (a new secret: `name`, `days`)
/// or `remove-secret` (`key`).
pub(super) async fn act(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path((app, action)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let v = match viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Some(r) = refused_unless_allowed(&v) {
        return r;
    }
    let Some(id) = app_id(&app) else {
        return no_such_app();
    };
    let form = Form::parse(&body);
    let current = match state.directory.get_app(&v.actor, v.tenant.id, id).await {
        Ok(a) => a,
        Err(DirectoryError::NotFound { .. }) => return no_such_app(),
        Err(e) => return denied_or_transient(&e),
    };
    if !csrf_matches(&headers, SESSION_COOKIE, form.get("csrf")) {
        return app_page(
            &v,
            &current,
            StatusCode::FORBIDDEN,
            None,
            None,
            vec![EXPIRED.into()],
        );
    }
    let dir = &state.directory;
    let result: Result<(Option<String>, String), DirectoryError> = match action.as_str() {
        "consent" => dir
            .grant_admin_consent(&v.actor, v.tenant.id, id)
            .await
            .map(|_| {
                (
                    None,
                    "Admin consent is granted: the app's application permissions are in force."
                        .to_owned(),
                )
            }),
        "secrets" => {
            let days = form
                .get("days")
                .unwrap_or_default()
                .trim()
                .parse::<i64>()
                .unwrap_or(0);
            let name = form.get("name").unwrap_or_default().trim().to_owned();
            dir.add_app_secret(&v.actor, v.tenant.id, id, &name, days)
                .await
                .map(|(_, s)| {
                    (
                        Some(s.expose_secret().to_owned()),
                        "A new client secret is added.".to_owned(),
                    )
                })
        }
        "remove-secret" => match form.get("key").and_then(|k| k.parse::<uuid::Uuid>().ok()) {
            Some(key) => dir
                .remove_app_secret(&v.actor, v.tenant.id, id, key)
                .await
                .map(|()| {
                    (
                        None,
                        "The secret is removed; it no longer signs anyone in.".to_owned(),
                    )
                }),
            None => Err(DirectoryError::not_found("Secret")),
        },
        _ => return no_such_app(),
    };
    match result {
        Ok((secret, notice)) => match dir.get_app(&v.actor, v.tenant.id, id).await {
            Ok(a) => app_page(&v, &a, StatusCode::OK, secret, Some(notice), vec![]),
            Err(e) => denied_or_transient(&e),
        },
        Err(DirectoryError::Invalid { message, .. }) => app_page(
            &v,
            &current,
            StatusCode::BAD_REQUEST,
            None,
            None,
            vec![format!("Not changed: {message}.")],
        ),
        Err(DirectoryError::NotFound { .. }) => app_page(
            &v,
            &current,
            StatusCode::NOT_FOUND,
            None,
            None,
            vec!["That secret is not one of this app's any more. Nothing was changed.".into()],
        ),
        Err(e) => denied_or_transient(&e),
    }
}
