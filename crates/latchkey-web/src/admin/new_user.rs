//! Add a user: names, user name with a picker of the tenant's domains, the password
//! (generated and shown once on the result page, or typed twice), "require change at first
//! sign-in" on by default, and optionally a role (`ManageRoles`) and a licence
//! (`AssignLicenses`). Creation is `Directory::create_user` (with the role, in one
//! transaction); the licence is `assign_licenses` right after it, and the result page says
//! plainly if that second step was refused. Bad input shows the form again with what was
//! typed (never the passwords) and a message beside the field it concerns.

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use latchkey_core::authz::Action;
use latchkey_core::directory::{NewUser, PasswordChoice, UserRef};
use latchkey_core::ids::SkuId;
use latchkey_core::license::{AssignedLicense, LicenseChange};
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::role::DirectoryRole;
use latchkey_core::user::UserProfile;
use latchkey_identity::browser::csrf_matches;
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use super::{
    Chrome, DirectoryError, Form, SESSION_COOKIE, Viewer, WebState, denied_or_transient, html,
    viewer,
};

/// What was typed, shown again after a refusal. Never holds a password.
#[derive(Debug, Default)]
struct Typed {
    given: String,
    surname: String,
    display: String,
    local: String,
    domain: String,
    typed_password: bool,
    require_change: bool,
    role: String,
    license: String,
    usage_location: String,
    job_title: String,
    department: String,
}

/// A message for one field of the form (or, `field: ""`, for the whole form).
#[derive(Debug)]
struct FieldError {
    field: &'static str,
    message: String,
}

#[derive(Template)]
#[template(path = "new_user.html")]
struct NewUserPage {
    chrome: Chrome,
    t: Typed,
    domains: Vec<String>,
    roles: Vec<(&'static str, &'static str)>,
    licenses: Vec<(String, String)>,
    errors: Vec<FieldError>,
    rules: String,
}

impl NewUserPage {
    fn error_for(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }
}

#[derive(Template)]
#[template(path = "new_user_done.html")]
struct CreatedPage {
    chrome: Chrome,
    display_name: String,
    upn: String,
    user_href: String,
    password: Option<String>,
    require_change: bool,
    role: Option<&'static str>,
    license: Option<String>,
    /// Why the licence could not be assigned (the user exists without it).
    license_error: Option<String>,
}

impl std::fmt::Debug for CreatedPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedPage")
            .field("upn", &self.upn)
            .finish()
    }
}

async fn render_form(
    state: &WebState,
    v: &Viewer,
    status: StatusCode,
    t: Typed,
    errors: Vec<FieldError>,
) -> Response {
    let roles = if v.may(Action::ManageRoles) {
        DirectoryRole::ALL
            .iter()
            .map(|r| (r.template_id(), r.display_name()))
            .collect()
    } else {
        vec![]
    };
    let licenses = if v.may(Action::AssignLicenses) {
        match state.directory.list_skus(&v.actor, v.tenant.id).await {
            Ok(skus) => skus
                .into_iter()
                .map(|u| {
                    let left = u64::from(u.sku.seats).saturating_sub(u.consumed);
                    (
                        u.sku.sku_id.to_string(),
                        format!("{} ({left} available)", u.sku.sku_part_number),
                    )
                })
                .collect(),
            Err(e) => return denied_or_transient(&e),
        }
    } else {
        vec![]
    };
    html(
        status,
        NewUserPage {
            chrome: v.chrome("new-user"),
            t,
            domains: v.tenant.domains.iter().map(|d| d.to_string()).collect(),
            roles,
            licenses,
            errors,
            rules: v.tenant.password_policy.summary(),
        }
        .render(),
    )
}

/// `GET /admin/users/new`.
pub(super) async fn form(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let v = match viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(d) = latchkey_core::authz::authorize(&v.actor, Action::CreateUser, &[]) {
        return denied_or_transient(&d.into());
    }
    let t = Typed {
        require_change: true,
        domain: v
            .tenant
            .default_domain()
            .map(|d| d.to_string())
            .unwrap_or_default(),
        ..Typed::default()
    };
    render_form(&state, &v, StatusCode::OK, t, vec![]).await
}

fn err(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field,
        message: message.into(),
    }
}

/// Core's property names as the form's fields.
fn field_of(property: &str) -> &'static str {
    match property {
        "displayName" => "display",
        "userPrincipalName" | "mailNickname" => "local",
        "givenName" => "given",
        "surname" => "surname",
        "jobTitle" => "job_title",
        "department" => "department",
        "usageLocation" => "usage_location",
        _ => "",
    }
}

fn opt(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// `POST /admin/users/new`.
pub(super) async fn create(
    State(state): State<WebState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let v = match viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let form = Form::parse(&body);
    let text = |n: &str| form.get(n).unwrap_or_default().trim().to_owned();
    let t = Typed {
        given: text("given"),
        surname: text("surname"),
        display: text("display"),
        local: text("local"),
        domain: text("domain"),
        typed_password: form.get("mode") == Some("typed"),
        require_change: form.get("require_change") == Some("on"),
        role: text("role"),
        license: text("license"),
        usage_location: text("usage_location").to_ascii_uppercase(),
        job_title: text("job_title"),
        department: text("department"),
    };
    if !csrf_matches(&headers, SESSION_COOKIE, form.get("csrf")) {
        let e = err(
            "",
            "This form has expired or did not come from the admin center. Nobody was created; check the details and submit again.",
        );
        return render_form(&state, &v, StatusCode::FORBIDDEN, t, vec![e]).await;
    }
    let mut errors = vec![];
    let display = match DisplayName::parse(&t.display) {
        Ok(d) => Some(d),
        Err(e) if t.display.is_empty() => {
            let _ = e;
            errors.push(err(
                "display",
                "Display name: type the name people see, such as Ada Lovelace.",
            ));
            None
        }
        Err(e) => {
            errors.push(err("display", format!("Display name: {}", e.reason)));
            None
        }
    };
    let upn = if t.local.is_empty() {
        errors.push(err(
            "local",
            "Username: type the part before the @, such as ada.",
        ));
        None
    } else if t.local.contains('@') {
        errors.push(err(
            "local",
            "Username: type only the part before the @ and pick the domain from the list.",
        ));
        None
    } else if !v.tenant.has_domain(&t.domain) {
        errors.push(err(
            "local",
            "Domain: pick one of your organization's domains from the list.",
        ));
        None
    } else {
        match Upn::parse(&format!("{}@{}", t.local, t.domain)) {
            Ok(u) => Some(u),
            Err(e) => {
                errors.push(err("local", format!("Username: {}", e.reason)));
                None
            }
        }
    };
    let password = if t.typed_password {
        let pw = form.get("password").unwrap_or_default();
        let confirm = form.get("confirm").unwrap_or_default();
        if pw.is_empty() {
            errors.push(err(
                "password",
                "Password: type the password, then type it again to confirm it.",
            ));
            None
        } else if !bool::from(pw.as_bytes().ct_eq(confirm.as_bytes())) {
            errors.push(err(
                "password",
                "Password: the passwords don't match. Type the same password in both boxes.",
            ));
            None
        } else {
            Some(PasswordChoice::Provided(SecretString::from(pw.to_owned())))
        }
    } else {
        Some(PasswordChoice::Generate)
    };
    let role = if t.role.is_empty() {
        None
    } else {
        match DirectoryRole::parse(&t.role) {
            Some(r) if v.may(Action::ManageRoles) => Some(r),
            Some(_) => {
                errors.push(err(
                    "role",
                    "Role: your administrator role does not allow you to assign roles.",
                ));
                None
            }
            None => {
                errors.push(err("role", "Role: pick a role from the list."));
                None
            }
        }
    };
    let license = if t.license.is_empty() {
        None
    } else {
        match t.license.parse::<SkuId>() {
            Ok(s) if !v.may(Action::AssignLicenses) => {
                let _ = s;
                errors.push(err(
                    "license",
                    "License: your administrator role does not allow you to assign licenses.",
                ));
                None
            }
            Ok(s) => {
                if t.usage_location.is_empty() {
                    errors.push(err(
                        "usage_location",
                        "Usage location: a license needs the country where the user works, as a two-letter code such as GB or US.",
                    ));
                }
                Some(s)
            }
            Err(_) => {
                errors.push(err("license", "License: pick a license from the list."));
                None
            }
        }
    };
    let (Some(display), Some(upn), Some(password), true) =
        (display, upn, password, errors.is_empty())
    else {
        return render_form(&state, &v, StatusCode::BAD_REQUEST, t, errors).await;
    };
    let profile = UserProfile {
        given_name: opt(&t.given),
        surname: opt(&t.surname),
        job_title: opt(&t.job_title),
        department: opt(&t.department),
        usage_location: opt(&t.usage_location),
        ..UserProfile::default()
    };
    let new = NewUser {
        user_principal_name: upn,
        display_name: display,
        mail_nickname: None,
        account_enabled: true,
        profile,
        password_policies: Default::default(),
        password,
        force_change_next_sign_in: t.require_change,
        roles: role.into_iter().collect(),
    };
    let created = match state
        .directory
        .create_user(&v.actor, v.tenant.id, new)
        .await
    {
        Ok(c) => c,
        Err(e) => {
            let errors = match e {
                DirectoryError::Invalid { property, message } => {
                    vec![err(
                        field_of(&property),
                        format!("{}: {message}", label(&property)),
                    )]
                }
                DirectoryError::Conflict(_) => vec![err(
                    "local",
                    format!(
                        "Username: {}@{} is already taken by another user (perhaps one in Deleted users). Choose another.",
                        t.local, t.domain
                    ),
                )],
                DirectoryError::Policy(p) => p
                    .violations
                    .iter()
                    .map(|x| err("password", format!("Password: {}", x.message())))
                    .collect(),
                DirectoryError::Busy => vec![err(
                    "",
                    "The password service is busy. Nobody was created; submit again in a moment.",
                )],
                DirectoryError::Denied(d) => {
                    return render_form(&state, &v, StatusCode::FORBIDDEN, t, vec![err("", d.0)])
                        .await;
                }
                other => return denied_or_transient(&other),
            };
            return render_form(&state, &v, StatusCode::BAD_REQUEST, t, errors).await;
        }
    };
    let user = created.user;
    let mut license_name = None;
    let mut license_error = None;
    if let Some(sku) = license {
        let change = LicenseChange {
            add: vec![AssignedLicense {
                sku_id: sku,
                disabled_plans: vec![],
            }],
            remove: vec![],
        };
        license_name = state
            .directory
            .list_skus(&v.actor, v.tenant.id)
            .await
            .ok()
            .and_then(|s| s.into_iter().find(|u| u.sku.sku_id == sku))
            .map(|u| u.sku.sku_part_number);
        if let Err(e) = state
            .directory
            .assign_licenses(&v.actor, v.tenant.id, &UserRef::Id(user.id), change)
            .await
        {
            license_error = Some(match e {
                DirectoryError::Invalid { message, .. } | DirectoryError::Conflict(message) => {
                    message
                }
                DirectoryError::Denied(d) => d.0,
                DirectoryError::NotFound { .. } => "That license no longer exists.".into(),
                other => {
                    tracing::error!(error = %other, "assigning a new user's licence failed");
                    "A transient error has occurred.".into()
                }
            });
        }
    }
    html(
        StatusCode::OK,
        CreatedPage {
            chrome: v.chrome("new-user"),
            display_name: user.display_name.to_string(),
            upn: user.user_principal_name.to_string(),
            user_href: format!("/admin/users?user={}", user.id),
            password: created
                .generated_password
                .map(|p| p.expose_secret().to_owned()),
            require_change: t.require_change,
            role: role.map(DirectoryRole::display_name),
            license: license_name,
            license_error,
        }
        .render(),
    )
}

fn label(property: &str) -> &str {
    match property {
        "displayName" => "Display name",
        "userPrincipalName" => "Username",
        "mailNickname" => "Username",
        "givenName" => "First name",
        "surname" => "Last name",
        "jobTitle" => "Job title",
        "department" => "Department",
        "usageLocation" => "Usage location",
        other => other,
    }
}
