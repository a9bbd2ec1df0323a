//! The `Store` implementation, written once and expanded for each database.
//!
//! SQLite and PostgreSQL accept the same SQL for everything the directory does (numbered
//! `$n` parameters, partial unique indexes, `LIKE … ESCAPE`), and sqlx maps the same Rust
//! types onto each database's native column types (UUID/BLOB, timestamptz/TEXT,
//! BOOLEAN/INTEGER). So the queries live here once, inside a macro that each backend module
//! expands against its own pool types; what truly differs (connection set-up, migrations,
//! the SQLite writer lock) stays in the backend modules.

/// Maps a driver error onto the store's error, keeping unique violations apart.
pub(crate) fn map_err(e: sqlx::Error) -> latchkey_core::store::StoreError {
    use latchkey_core::store::StoreError;
    match e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(db.constraint().unwrap_or("unique constraint").to_owned())
        }
        sqlx::Error::RowNotFound => StoreError::NotFound,
        other => StoreError::Backend(other.to_string()),
    }
}

pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> latchkey_core::store::StoreError {
    latchkey_core::store::StoreError::Corrupt(format!("{what}: {e}"))
}

/// Escapes `%`, `_` and `\` so that user input is matched literally in `LIKE … ESCAPE '\'`.
pub(crate) fn like_prefix(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 1);
    for c in s.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// The column a sort order pages on; all three are NOT NULL and indexed per tenant.
pub(crate) fn order_column(property: latchkey_core::query::UserProperty) -> &'static str {
    use latchkey_core::query::UserProperty;
    match property {
        UserProperty::DisplayName => "display_name_normalized",
        UserProperty::CreatedDateTime => "created_at",
        _ => "upn_normalized",
    }
}

/// A filterable property's SQL expression, and whether its values are compared through
/// `lower()` (text columns without a normalised copy).
pub(crate) fn filter_column(property: latchkey_core::query::UserProperty) -> (&'static str, bool) {
    use latchkey_core::query::UserProperty as P;
    match property {
        P::Id => ("id", false),
        P::UserPrincipalName => ("upn_normalized", false),
        P::DisplayName => ("display_name_normalized", false),
        P::GivenName => ("given_name", true),
        P::Surname => ("surname", true),
        P::Mail => ("mail", true),
        P::MailNickname => ("mail_nickname", true),
        P::JobTitle => ("job_title", true),
        P::Department => ("department", true),
        P::CompanyName => ("company_name", true),
        P::OfficeLocation => ("office_location", true),
        P::City => ("city", true),
        P::State => ("state", true),
        P::Country => ("country", true),
        P::UsageLocation => ("usage_location", true),
        P::EmployeeId => ("employee_id", true),
        P::EmployeeType => ("employee_type", true),
        P::UserType => ("user_type", true),
        P::AccountEnabled => ("account_enabled", false),
        P::CreatedDateTime => ("created_at", false),
        P::EmployeeHireDate => ("employee_hire_date", false),
        P::EmployeeLeaveDateTime => ("employee_leave_date_time", false),
        P::LastPasswordChangeDateTime => ("last_password_change", false),
    }
}

/// The least string greater than every string that starts with `prefix`, in code point
/// (= UTF-8 byte) order: the prefix with its last character replaced by the next one, after
/// dropping trailing U+10FFFF; `None` when no string is greater (an empty prefix, or only
/// U+10FFFF). Appending U+10FFFF instead would miss the strings that continue with it.
pub(crate) fn prefix_successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (u32::from(last) + 1..=0x10FFFF).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Escapes `%`, `_` and `\` for `LIKE … ESCAPE '\'`, without adding wildcards.
pub(crate) fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The keyset cursor of a user listing: which order it belongs to, the sort key and the id
/// of the last row. Opaque to everyone but the store.
pub(crate) fn encode_cursor(
    order: &latchkey_core::query::OrderBy,
    key: &str,
    id: uuid::Uuid,
) -> String {
    let dir = if order.descending { 'd' } else { 'a' };
    format!("{}{dir} {key} {id}", order_column(order.property))
}

pub(crate) fn decode_cursor(
    order: &latchkey_core::query::OrderBy,
    cursor: &str,
) -> Result<(String, uuid::Uuid), latchkey_core::store::StoreError> {
    let bad = || latchkey_core::store::StoreError::BadCursor;
    let dir = if order.descending { 'd' } else { 'a' };
    let rest = cursor
        .strip_prefix(&format!("{}{dir} ", order_column(order.property)))
        .ok_or_else(bad)?;
    let (key, id) = rest.rsplit_once(' ').ok_or_else(bad)?;
    let id = id.parse().map_err(|_| bad())?;
    Ok((key.to_owned(), id))
}

pub(crate) const USER_COLUMNS: &str = "id, tenant_id, user_principal_name, display_name, mail_nickname, \
    account_enabled, user_type, given_name, surname, mail, other_mails, mobile_phone, business_phones, \
    job_title, department, company_name, office_location, preferred_language, street_address, city, \
    state, postal_code, country, usage_location, employee_id, employee_type, employee_hire_date, \
    employee_leave_date_time, password_policies, force_change_password, force_change_password_mfa, \
    last_password_change, sign_in_sessions_valid_from, created_at, deleted_at, version";

macro_rules! impl_store {
    ($store:ty, $db:ty) => {
        use async_trait::async_trait;
        use chrono::{DateTime, Utc};
        use latchkey_core::app::{App, AppId, CertificateCredential, ClientSecret};
        use latchkey_core::auth_method::{AuthMethodRecord, MethodKind, RecoveryCodeStatus};
        use latchkey_core::audit::{AuditEvent, Events, Initiator, OutboxEvent};
        use latchkey_core::authz::Channel;
        use latchkey_core::ids::{EventId, TenantId, UserId};
        use latchkey_core::interactive::{AuthorizationCodeRecord, DeviceCodeRecord, SignInSessionRecord, UserConsent};
        use latchkey_core::names::{DisplayName, DomainName, Upn};
        use latchkey_core::password::{PasswordHash, PasswordPolicy};
        use latchkey_core::role::DirectoryRole;
        use latchkey_core::sign_in::{RefreshTokenRecord, SignInEvent, SignInState};
        use latchkey_core::sspr::{ResetFlowRecord, VerificationMethod};
        use latchkey_core::store::{
            AuditQuery, NewUserRecord, Page, PasswordWrite, SignInQuery, SigningKeyRecord, Store,
            StoreError, StoreResult, UserQuery,
        };
        use latchkey_core::tenant::Tenant;
        use latchkey_core::user::{PasswordPolicies, User, UserProfile, UserType};
        use sqlx::{QueryBuilder, Row};
        use uuid::Uuid;

        use crate::shared::{USER_COLUMNS, corrupt, decode_cursor, encode_cursor, filter_column, like_escape, like_prefix, map_err, order_column, prefix_successor};
        use latchkey_core::query::{Comparison, Filter, Literal};
        use latchkey_core::store::UserWrite;

        type Tx<'c> = sqlx::Transaction<'c, $db>;
        type DbRow = <$db as sqlx::Database>::Row;

        fn methods_json(v: &[VerificationMethod]) -> String {
            serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
        }

        fn json_list(v: &[String]) -> String {
            serde_json::Value::from(v.to_vec()).to_string()
        }

        fn parse_json_list(what: &str, s: &str) -> StoreResult<Vec<String>> {
            serde_json::from_str(s).map_err(|e| corrupt(what, e))
        }

        fn user_from_row(row: &DbRow) -> StoreResult<User> {
            let get_err = |e: sqlx::Error| StoreError::Backend(e.to_string());
            let s = |col: &str| -> StoreResult<Option<String>> { row.try_get(col).map_err(get_err) };
            let upn: String = row.try_get("user_principal_name").map_err(get_err)?;
            let display: String = row.try_get("display_name").map_err(get_err)?;
            let user_type: String = row.try_get("user_type").map_err(get_err)?;
            let policies: Option<String> = row.try_get("password_policies").map_err(get_err)?;
            Ok(User {
                id: UserId::from_uuid(row.try_get("id").map_err(get_err)?),
                tenant_id: TenantId::from_uuid(row.try_get("tenant_id").map_err(get_err)?),
                user_principal_name: Upn::parse(&upn).map_err(|e| corrupt("userPrincipalName", e))?,
                display_name: DisplayName::parse(&display).map_err(|e| corrupt("displayName", e))?,
                mail_nickname: row.try_get("mail_nickname").map_err(get_err)?,
                account_enabled: row.try_get("account_enabled").map_err(get_err)?,
                user_type: UserType::parse(&user_type).ok_or_else(|| corrupt("userType", &user_type))?,
                profile: UserProfile {
                    given_name: s("given_name")?,
                    surname: s("surname")?,
                    mail: s("mail")?,
                    other_mails: parse_json_list("otherMails", &row.try_get::<String, _>("other_mails").map_err(get_err)?)?,
                    mobile_phone: s("mobile_phone")?,
                    business_phones: parse_json_list("businessPhones", &row.try_get::<String, _>("business_phones").map_err(get_err)?)?,
                    job_title: s("job_title")?,
                    department: s("department")?,
                    company_name: s("company_name")?,
                    office_location: s("office_location")?,
                    preferred_language: s("preferred_language")?,
                    street_address: s("street_address")?,
                    city: s("city")?,
                    state: s("state")?,
                    postal_code: s("postal_code")?,
                    country: s("country")?,
                    usage_location: s("usage_location")?,
                    employee_id: s("employee_id")?,
                    employee_type: s("employee_type")?,
                    employee_hire_date: row.try_get("employee_hire_date").map_err(get_err)?,
                    employee_leave_date_time: row.try_get("employee_leave_date_time").map_err(get_err)?,
                },
                password_policies: match policies {
                    Some(p) => PasswordPolicies::parse(&p).map_err(|e| corrupt("passwordPolicies", e))?,
                    None => PasswordPolicies::default(),
                },
                force_change_password_next_sign_in: row.try_get("force_change_password").map_err(get_err)?,
                force_change_password_next_sign_in_with_mfa: row.try_get("force_change_password_mfa").map_err(get_err)?,
                last_password_change: row.try_get("last_password_change").map_err(get_err)?,
                sign_in_sessions_valid_from: row.try_get("sign_in_sessions_valid_from").map_err(get_err)?,
                created: row.try_get("created_at").map_err(get_err)?,
                deleted: row.try_get("deleted_at").map_err(get_err)?,
                version: row.try_get("version").map_err(get_err)?,
            })
        }

        fn audit_from_row(row: &DbRow) -> StoreResult<AuditEvent> {
            let get_err = |e: sqlx::Error| StoreError::Backend(e.to_string());
            let channel: String = row.try_get("channel").map_err(get_err)?;
            let details: String = row.try_get("details").map_err(get_err)?;
            Ok(AuditEvent {
                id: EventId::from_uuid(row.try_get("id").map_err(get_err)?),
                tenant_id: TenantId::from_uuid(row.try_get("tenant_id").map_err(get_err)?),
                activity_date_time: row.try_get("activity_date_time").map_err(get_err)?,
                category: row.try_get("category").map_err(get_err)?,
                activity: row.try_get("activity").map_err(get_err)?,
                operation_type: row.try_get("operation_type").map_err(get_err)?,
                result: row.try_get("result").map_err(get_err)?,
                initiated_by: Initiator {
                    kind: row.try_get("initiated_by_kind").map_err(get_err)?,
                    id: row.try_get("initiated_by_id").map_err(get_err)?,
                    display: row.try_get("initiated_by_display").map_err(get_err)?,
                },
                target_id: row.try_get("target_id").map_err(get_err)?,
                target_display: row.try_get("target_display").map_err(get_err)?,
                channel: parse_channel(&channel)?,
                details: serde_json::from_str(&details).map_err(|e| corrupt("audit details", e))?,
            })
        }

        fn parse_channel(s: &str) -> StoreResult<Channel> {
            [
                Channel::Cli,
                Channel::Graph,
                Channel::AdminCenter,
                Channel::SelfService,
                Channel::Workflow,
                Channel::Scim,
                Channel::Bootstrap,
            ]
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| corrupt("channel", s))
        }

        async fn insert_events(tx: &mut Tx<'_>, events: &Events) -> StoreResult<()> {
            insert_audit(tx, &events.audit).await?;
            let o = &events.outbox;
            sqlx::query(
                "INSERT INTO outbox_events (id, tenant_id, occurred_at, kind, subject, payload) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(o.id.as_uuid())
            .bind(o.tenant_id.as_uuid())
            .bind(o.occurred_at)
            .bind(&o.kind)
            .bind(o.subject.map(|s| s.as_uuid()))
            .bind(o.payload.to_string())
            .execute(&mut **tx)
            .await
            .map_err(map_err)?;
            // E-mail and view-once deliveries the change causes (`mail.rs`).
            insert_mail_and_deliveries(tx, events).await?;
            // Apps the change shows in use, for the SaaS inventory (`saas.rs`).
            insert_saas_discoveries(tx, events).await?;
            Ok(())
        }

        async fn insert_audit(tx: &mut Tx<'_>, a: &AuditEvent) -> StoreResult<()> {
            let details = serde_json::to_string(&a.details).map_err(|e| corrupt("audit details", e))?;
            sqlx::query(
                "INSERT INTO audit_events (id, tenant_id, activity_date_time, category, activity, \
                 operation_type, result, initiated_by_kind, initiated_by_id, initiated_by_display, \
                 target_id, target_display, channel, details) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            )
            .bind(a.id.as_uuid())
            .bind(a.tenant_id.as_uuid())
            .bind(a.activity_date_time)
            .bind(&a.category)
            .bind(&a.activity)
            .bind(&a.operation_type)
            .bind(&a.result)
            .bind(&a.initiated_by.kind)
            .bind(&a.initiated_by.id)
            .bind(&a.initiated_by.display)
            .bind(&a.target_id)
            .bind(&a.target_display)
            .bind(a.channel.as_str())
            .bind(details)
            .execute(&mut **tx)
            .await
            .map_err(map_err)?;
            Ok(())
        }

        /// Bumps the user's version if it is still `expected`; `Stale` otherwise.
        /// The credential part of a password write (the caller's transaction).
        async fn update_password(tx: &mut Tx<'_>, w: &PasswordWrite) -> StoreResult<()> {
            let done = sqlx::query(
                "UPDATE users SET password_hash = $1, last_password_change = $2, \
                 force_change_password = $3, force_change_password_mfa = $4, \
                 sign_in_sessions_valid_from = COALESCE($5, sign_in_sessions_valid_from), \
                 version = version + 1 \
                 WHERE tenant_id = $6 AND id = $7 AND version = $8 AND deleted_at IS NULL",
            )
            .bind(w.hash.as_str())
            .bind(w.changed_at)
            .bind(w.force_change_next_sign_in)
            .bind(w.force_change_with_mfa)
            .bind(w.revoke_sessions_from)
            .bind(w.tenant_id.as_uuid())
            .bind(w.user_id.as_uuid())
            .bind(w.expected_version)
            .execute(&mut **tx)
            .await
            .map_err(map_err)?;
            check_one(done.rows_affected())
        }

        fn reset_flow_from_row(row: &DbRow) -> StoreResult<ResetFlowRecord> {
            let verified: String = row.try_get("verified").map_err(map_err)?;
            let code: Option<Vec<u8>> = row.try_get("code_digest").map_err(map_err)?;
            let wrong: i64 = row.try_get("wrong_codes").map_err(map_err)?;
            Ok(ResetFlowRecord {
                id: row.try_get("id").map_err(map_err)?,
                tenant_id: TenantId::from_uuid(row.try_get("tenant_id").map_err(map_err)?),
                digest: digest_from("reset flow digest", row.try_get("digest").map_err(map_err)?)?,
                login_name: row.try_get("login_name").map_err(map_err)?,
                user_id: row.try_get::<Option<Uuid>, _>("user_id").map_err(map_err)?.map(UserId::from_uuid),
                client_address: row.try_get("client_address").map_err(map_err)?,
                created_at: row.try_get("created_at").map_err(map_err)?,
                expires_at: row.try_get("expires_at").map_err(map_err)?,
                verified: serde_json::from_str(&verified).map_err(|e| corrupt("reset flow methods", e))?,
                code_digest: code.map(|c| digest_from("reset code digest", c)).transpose()?,
                code_expires_at: row.try_get("code_expires_at").map_err(map_err)?,
                wrong_codes: u32::try_from(wrong).map_err(|e| corrupt("reset flow wrong codes", e))?,
                completed_at: row.try_get("completed_at").map_err(map_err)?,
            })
        }

        const RESET_FLOW_COLUMNS: &str = "id, tenant_id, digest, login_name, user_id, client_address, created_at, \
            expires_at, verified, code_digest, code_expires_at, wrong_codes, completed_at";

        fn check_one(rows: u64) -> StoreResult<()> {
            if rows == 1 { Ok(()) } else { Err(StoreError::Stale) }
        }

        fn app_from_row(row: &DbRow, secrets: Vec<ClientSecret>, certificates: Vec<CertificateCredential>) -> StoreResult<App> {
            let get_err = |e: sqlx::Error| StoreError::Backend(e.to_string());
            let list = |col: &str| -> StoreResult<Vec<String>> {
                parse_json_list(col, &row.try_get::<String, _>(col).map_err(get_err)?)
            };
            Ok(App {
                app_id: AppId(row.try_get("app_id").map_err(get_err)?),
                object_id: row.try_get("object_id").map_err(get_err)?,
                tenant_id: TenantId::from_uuid(row.try_get("tenant_id").map_err(get_err)?),
                display_name: row.try_get("display_name").map_err(get_err)?,
                redirect_uris: list("redirect_uris")?,
                public_client: row.try_get("public_client").map_err(get_err)?,
                application_permissions: list("application_permissions")?,
                delegated_permissions: list("delegated_permissions")?,
                admin_consent: row.try_get("admin_consent").map_err(get_err)?,
                secrets,
                certificates,
                created: row.try_get("created_at").map_err(get_err)?,
            })
        }

        fn secret_from_row(row: &DbRow) -> StoreResult<(Uuid, ClientSecret)> {
            let get_err = |e: sqlx::Error| StoreError::Backend(e.to_string());
            let digest: Vec<u8> = row.try_get("digest").map_err(get_err)?;
            Ok((
                row.try_get("app_id").map_err(get_err)?,
                ClientSecret {
                    key_id: row.try_get("key_id").map_err(get_err)?,
                    display_name: row.try_get("display_name").map_err(get_err)?,
                    hint: row.try_get("hint").map_err(get_err)?,
                    digest: digest.try_into().map_err(|_| corrupt("secret digest", "not 32 bytes"))?,
                    start: row.try_get("start_at").map_err(get_err)?,
                    end: row.try_get("end_at").map_err(get_err)?,
                },
            ))
        }

        fn certificate_from_row(row: &DbRow) -> StoreResult<(Uuid, CertificateCredential)> {
            let sha1: Vec<u8> = row.try_get("thumbprint_sha1").map_err(map_err)?;
            let sha256: Vec<u8> = row.try_get("thumbprint_sha256").map_err(map_err)?;
            Ok((
                row.try_get("app_id").map_err(map_err)?,
                CertificateCredential {
                    key_id: row.try_get("key_id").map_err(map_err)?,
                    display_name: row.try_get("display_name").map_err(map_err)?,
                    thumbprint_sha1: sha1.try_into().map_err(|_| corrupt("certificate thumbprint", "not 20 bytes"))?,
                    thumbprint_sha256: sha256.try_into().map_err(|_| corrupt("certificate thumbprint", "not 32 bytes"))?,
                    public_key: row.try_get("public_key").map_err(map_err)?,
                    start: row.try_get("start_at").map_err(map_err)?,
                    end: row.try_get("end_at").map_err(map_err)?,
                },
            ))
        }

        const CERTIFICATE_COLUMNS: &str =
            "c.key_id, c.app_id, c.display_name, c.thumbprint_sha1, c.thumbprint_sha256, c.public_key, c.start_at, c.end_at";

        async fn write_app_certificates(tx: &mut Tx<'_>, app: &App) -> StoreResult<()> {
            sqlx::query("DELETE FROM app_certificates WHERE app_id = $1")
                .bind(app.app_id.0)
                .execute(&mut **tx)
                .await
                .map_err(map_err)?;
            for c in &app.certificates {
                sqlx::query(
                    "INSERT INTO app_certificates (key_id, app_id, display_name, thumbprint_sha1, thumbprint_sha256, \
                     public_key, start_at, end_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(c.key_id)
                .bind(app.app_id.0)
                .bind(&c.display_name)
                .bind(c.thumbprint_sha1.to_vec())
                .bind(c.thumbprint_sha256.to_vec())
                .bind(&c.public_key)
                .bind(c.start)
                .bind(c.end)
                .execute(&mut **tx)
                .await
                .map_err(map_err)?;
            }
            Ok(())
        }

        async fn write_app_secrets(tx: &mut Tx<'_>, app: &App) -> StoreResult<()> {
            sqlx::query("DELETE FROM app_secrets WHERE app_id = $1")
                .bind(app.app_id.0)
                .execute(&mut **tx)
                .await
                .map_err(map_err)?;
            for s in &app.secrets {
                sqlx::query(
                    "INSERT INTO app_secrets (key_id, app_id, display_name, hint, digest, start_at, end_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(s.key_id)
                .bind(app.app_id.0)
                .bind(&s.display_name)
                .bind(&s.hint)
                .bind(s.digest.to_vec())
                .bind(s.start)
                .bind(s.end)
                .execute(&mut **tx)
                .await
                .map_err(map_err)?;
            }
            Ok(())
        }

        fn refresh_from_row(row: &DbRow) -> StoreResult<RefreshTokenRecord> {
            let digest: Vec<u8> = row.try_get("digest").map_err(map_err)?;
            Ok(RefreshTokenRecord {
                id: row.try_get("id").map_err(map_err)?,
                family_id: row.try_get("family_id").map_err(map_err)?,
                tenant_id: TenantId::from_uuid(row.try_get("tenant_id").map_err(map_err)?),
                user_id: UserId::from_uuid(row.try_get("user_id").map_err(map_err)?),
                client_id: row.try_get("client_id").map_err(map_err)?,
                scopes: row.try_get("scopes").map_err(map_err)?,
                digest: digest.try_into().map_err(|_| corrupt("refresh token digest", "not 32 bytes"))?,
                issued_at: row.try_get("issued_at").map_err(map_err)?,
                expires_at: row.try_get("expires_at").map_err(map_err)?,
                used_at: row.try_get("used_at").map_err(map_err)?,
                revoked_at: row.try_get("revoked_at").map_err(map_err)?,
            })
        }

        type ProfileQuery<'q> = sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>;

        /// Binds a profile's 21 columns, in the order both the INSERT and the UPDATE of a
        /// user list them (given_name … employee_leave_date_time).
        fn bind_profile<'q>(q: ProfileQuery<'q>, p: &'q UserProfile) -> ProfileQuery<'q> {
            q
                .bind(&p.given_name)
                .bind(&p.surname)
                .bind(&p.mail)
                .bind(json_list(&p.other_mails))
                .bind(&p.mobile_phone)
                .bind(json_list(&p.business_phones))
                .bind(&p.job_title)
                .bind(&p.department)
                .bind(&p.company_name)
                .bind(&p.office_location)
                .bind(&p.preferred_language)
                .bind(&p.street_address)
                .bind(&p.city)
                .bind(&p.state)
                .bind(&p.postal_code)
                .bind(&p.country)
                .bind(&p.usage_location)
                .bind(&p.employee_id)
                .bind(&p.employee_type)
                .bind(p.employee_hire_date)
                .bind(p.employee_leave_date_time)
        }

        /// The WHERE conditions a listing and its count share: active or deleted, the
        /// restore window, the CLI's prefix search and the typed filter.
        /// A trail's page cursor: the last row's insertion sequence.
        fn decode_seq(cursor: &str) -> StoreResult<i64> {
            cursor.parse::<i64>().ok().filter(|n| *n > 0).ok_or(StoreError::BadCursor)
        }

        fn push_user_conditions(qb: &mut QueryBuilder<'_, $db>, query: &UserQuery) {
            qb.push(if query.deleted { " AND deleted_at IS NOT NULL" } else { " AND deleted_at IS NULL" });
            if let Some(after) = query.deleted_after {
                qb.push(" AND deleted_at > ");
                qb.push_bind(after);
            }
            if let Some(search) = query.search.as_deref().filter(|s| !s.is_empty()) {
                let pattern = like_prefix(search);
                qb.push(" AND (upn_normalized LIKE ");
                qb.push_bind(pattern.clone());
                qb.push(" ESCAPE '\\' OR display_name_normalized LIKE ");
                qb.push_bind(pattern);
                qb.push(" ESCAPE '\\')");
            }
            if let Some(filter) = &query.filter {
                qb.push(" AND ");
                push_filter(qb, filter);
            }
            if let Some(role) = query.role {
                // Served by user_roles_by_role (migration 0006).
                qb.push(" AND id IN (SELECT user_id FROM user_roles WHERE tenant_id = users.tenant_id AND role = ");
                qb.push_bind(role.template_id());
                qb.push(")");
            }
        }

        /// A text column as compared: through `lower()` unless it is a normalised copy.
        fn push_text_column(qb: &mut QueryBuilder<'_, $db>, col: &str, lower: bool) {
            if lower {
                qb.push(format!("lower({col})"));
            } else {
                qb.push(col);
            }
        }

        /// A pattern for LIKE against a text column, lower-cased the way the column is.
        fn push_pattern(qb: &mut QueryBuilder<'_, $db>, pattern: String, lower: bool) {
            if lower {
                qb.push("lower(");
                qb.push_bind(pattern);
                qb.push(")");
            } else {
                qb.push_bind(pattern.to_lowercase());
            }
            qb.push(" ESCAPE '\\'");
        }

        fn push_literal(qb: &mut QueryBuilder<'_, $db>, value: &Literal, lower: bool) {
            match value {
                Literal::Text(s) if lower => {
                    qb.push("lower(");
                    qb.push_bind(s.clone());
                    qb.push(")");
                }
                Literal::Text(s) => {
                    qb.push_bind(s.to_lowercase());
                }
                Literal::Bool(b) => {
                    qb.push_bind(*b);
                }
                Literal::DateTime(t) => {
                    qb.push_bind(*t);
                }
                Literal::Id(id) => {
                    qb.push_bind(id.as_uuid());
                }
                Literal::Null => {
                    qb.push("NULL");
                }
            }
        }

        /// The typed filter as SQL, every value a bound parameter. Parenthesised throughout,
        /// and `not` treats an unknown (NULL) comparison as false first, as OData does.
        fn push_filter(qb: &mut QueryBuilder<'_, $db>, filter: &Filter) {
            match filter {
                Filter::And(a, b) | Filter::Or(a, b) => {
                    qb.push("(");
                    push_filter(qb, a);
                    qb.push(if matches!(filter, Filter::And(..)) { " AND " } else { " OR " });
                    push_filter(qb, b);
                    qb.push(")");
                }
                Filter::Not(a) => {
                    qb.push("NOT COALESCE((");
                    push_filter(qb, a);
                    qb.push("), FALSE)");
                }
                Filter::Compare { property, op, value } => {
                    let (col, lower) = filter_column(*property);
                    if matches!(value, Literal::Null) {
                        qb.push(format!(
                            "({col} {})",
                            if matches!(op, Comparison::Ne) { "IS NOT NULL" } else { "IS NULL" }
                        ));
                        return;
                    }
                    let sql_op = match op {
                        Comparison::Eq => " = ",
                        Comparison::Ne => " <> ",
                        Comparison::Ge => " >= ",
                        Comparison::Le => " <= ",
                        Comparison::Gt => " > ",
                        Comparison::Lt => " < ",
                    };
                    qb.push("(");
                    if matches!(op, Comparison::Ne) {
                        // OData: null ne 'x' is true.
                        qb.push(format!("{col} IS NULL OR "));
                    }
                    push_text_column(qb, col, lower);
                    qb.push(sql_op);
                    push_literal(qb, value, lower);
                    qb.push(")");
                }
                Filter::In { property, values } => {
                    let (col, lower) = filter_column(*property);
                    if values.is_empty() {
                        qb.push("(1 = 0)");
                        return;
                    }
                    qb.push("(");
                    push_text_column(qb, col, lower);
                    qb.push(" IN (");
                    for (i, v) in values.iter().enumerate() {
                        if i > 0 {
                            qb.push(", ");
                        }
                        push_literal(qb, v, lower);
                    }
                    qb.push("))");
                }
                Filter::StartsWith { property, prefix } => {
                    let (col, lower) = filter_column(*property);
                    if !lower {
                        // [prefix, the prefix's successor): exactly the strings starting with
                        // the prefix, since the normalised columns compare byte by byte on
                        // both backends (SQLite's BINARY, PostgreSQL's "C" since migration
                        // 0029). The (tenant, column, id) index serves the range and the
                        // order, also in a prepared statement's generic plan, where `LIKE $1`
                        // bounds nothing; and SQLite's LIKE cannot use a BINARY index at all.
                        let p = prefix.to_lowercase();
                        qb.push(format!("({col} >= "));
                        qb.push_bind(p.clone());
                        if let Some(end) = prefix_successor(&p) {
                            qb.push(format!(" AND {col} < "));
                            qb.push_bind(end);
                        }
                        qb.push(")");
                    } else {
                        qb.push("(");
                        push_text_column(qb, col, lower);
                        qb.push(" LIKE ");
                        push_pattern(qb, format!("{}%", like_escape(prefix)), lower);
                        qb.push(")");
                    }
                }
                Filter::EndsWith { property, suffix } => {
                    let (col, lower) = filter_column(*property);
                    qb.push("(");
                    push_text_column(qb, col, lower);
                    qb.push(" LIKE ");
                    push_pattern(qb, format!("%{}", like_escape(suffix)), lower);
                    qb.push(")");
                }
                Filter::HasLicense(sku) => {
                    // Served by user_licenses_by_sku (migration 0011).
                    qb.push("(id IN (SELECT user_id FROM user_licenses WHERE tenant_id = users.tenant_id AND sku_id = ");
                    qb.push_bind(sku.as_uuid());
                    qb.push("))");
                }
                Filter::ReportsTo(manager) => {
                    // Served by user_managers_by_manager (migration 0012).
                    qb.push("(id IN (SELECT user_id FROM user_managers WHERE tenant_id = users.tenant_id AND manager_id = ");
                    qb.push_bind(manager.as_uuid());
                    qb.push("))");
                }
                Filter::WordStartsWith { property, word } => {
                    let (col, lower) = filter_column(*property);
                    let w = like_escape(word);
                    qb.push("(");
                    push_text_column(qb, col, lower);
                    qb.push(" LIKE ");
                    push_pattern(qb, format!("{w}%"), lower);
                    qb.push(" OR ");
                    push_text_column(qb, col, lower);
                    qb.push(" LIKE ");
                    push_pattern(qb, format!("% {w}%"), lower);
                    qb.push(")");
                }
            }
        }
        fn digest_from(what: &str, bytes: Vec<u8>) -> StoreResult<[u8; 32]> {
            bytes.try_into().map_err(|_| corrupt(what, "not 32 bytes"))
        }

        fn auth_method_from_row(row: &DbRow) -> StoreResult<AuthMethodRecord> {
            let kind: String = row.try_get("kind").map_err(map_err)?;
            Ok(AuthMethodRecord {
                id: row.try_get("id").map_err(map_err)?,
                tenant_id: TenantId::from_uuid(row.try_get("tenant_id").map_err(map_err)?),
                user_id: UserId::from_uuid(row.try_get("user_id").map_err(map_err)?),
                kind: MethodKind::parse(&kind).ok_or_else(|| corrupt("authentication method kind", &kind))?,
                display: row.try_get("display").map_err(map_err)?,
                sealed_secret: row.try_get("sealed_secret").map_err(map_err)?,
                created: row.try_get("created_at").map_err(map_err)?,
                activated: row.try_get("activated_at").map_err(map_err)?,
                last_used_step: row.try_get("last_used_step").map_err(map_err)?,
            })
        }

        fn session_from_row(row: &DbRow) -> StoreResult<SignInSessionRecord> {
            Ok(SignInSessionRecord {
                id: row.try_get("id").map_err(map_err)?,
                tenant_id: TenantId::from_uuid(row.try_get("tenant_id").map_err(map_err)?),
                user_id: UserId::from_uuid(row.try_get("user_id").map_err(map_err)?),
                digest: digest_from("session digest", row.try_get("digest").map_err(map_err)?)?,
                created: row.try_get("created_at").map_err(map_err)?,
                expires_at: row.try_get("expires_at").map_err(map_err)?,
                revoked_at: row.try_get("revoked_at").map_err(map_err)?,
                mfa: row.try_get("mfa").map_err(map_err)?,
            })
        }

        fn code_from_row(row: &DbRow) -> StoreResult<AuthorizationCodeRecord> {
            let client: String = row.try_get("client_id").map_err(map_err)?;
            Ok(AuthorizationCodeRecord {
                id: row.try_get("id").map_err(map_err)?,
                tenant_id: TenantId::from_uuid(row.try_get("tenant_id").map_err(map_err)?),
                user_id: UserId::from_uuid(row.try_get("user_id").map_err(map_err)?),
                client_id: AppId(client.parse().map_err(|e| corrupt("code client_id", e))?),
                redirect_uri: row.try_get("redirect_uri").map_err(map_err)?,
                code_challenge: row.try_get("code_challenge").map_err(map_err)?,
                nonce: row.try_get("nonce").map_err(map_err)?,
                scopes: row.try_get("scopes").map_err(map_err)?,
                family_id: row.try_get("family_id").map_err(map_err)?,
                auth_time: row.try_get("auth_time").map_err(map_err)?,
                digest: digest_from("code digest", row.try_get("digest").map_err(map_err)?)?,
                issued_at: row.try_get("issued_at").map_err(map_err)?,
                expires_at: row.try_get("expires_at").map_err(map_err)?,
                redeemed_at: row.try_get("redeemed_at").map_err(map_err)?,
                mfa: row.try_get("mfa").map_err(map_err)?,
            })
        }

        fn device_from_row(row: &DbRow) -> StoreResult<DeviceCodeRecord> {
            let client: String = row.try_get("client_id").map_err(map_err)?;
            Ok(DeviceCodeRecord {
                id: row.try_get("id").map_err(map_err)?,
                tenant_id: TenantId::from_uuid(row.try_get("tenant_id").map_err(map_err)?),
                client_id: AppId(client.parse().map_err(|e| corrupt("device code client_id", e))?),
                digest: digest_from("device code digest", row.try_get("digest").map_err(map_err)?)?,
                user_code: row.try_get("user_code").map_err(map_err)?,
                scopes: row.try_get("scopes").map_err(map_err)?,
                issued_at: row.try_get("issued_at").map_err(map_err)?,
                expires_at: row.try_get("expires_at").map_err(map_err)?,
                user_id: row.try_get::<Option<Uuid>, _>("user_id").map_err(map_err)?.map(UserId::from_uuid),
                decided_at: row.try_get("decided_at").map_err(map_err)?,
                auth_time: row.try_get("auth_time").map_err(map_err)?,
                redeemed_at: row.try_get("redeemed_at").map_err(map_err)?,
            })
        }

        const DEVICE_COLUMNS: &str = "id, tenant_id, client_id, digest, user_code, scopes, issued_at, expires_at, \
            user_id, decided_at, auth_time, redeemed_at";

        const APP_COLUMNS: &str = "app_id, object_id, tenant_id, display_name, redirect_uris, public_client, \
            application_permissions, delegated_permissions, admin_consent, created_at";

        impl $store {
            async fn tenant_from_row(&self, row: &DbRow) -> StoreResult<Tenant> {
                let get_err = |e: sqlx::Error| StoreError::Backend(e.to_string());
                let id: Uuid = row.try_get("id").map_err(get_err)?;
                let policy: String = row.try_get("password_policy").map_err(get_err)?;
                let domains: Vec<String> = sqlx::query_scalar(
                    "SELECT domain FROM tenant_domains WHERE tenant_id = $1 ORDER BY position",
                )
                .bind(id)
                .fetch_all(&self.read)
                .await
                .map_err(map_err)?;
                Ok(Tenant {
                    id: TenantId::from_uuid(id),
                    display_name: row.try_get("display_name").map_err(get_err)?,
                    domains: domains
                        .iter()
                        .map(|d| DomainName::parse(d).map_err(|e| corrupt("domain", e)))
                        .collect::<StoreResult<_>>()?,
                    password_policy: serde_json::from_str::<PasswordPolicy>(&policy)
                        .map_err(|e| corrupt("password policy", e))?,
                    created: row.try_get("created_at").map_err(get_err)?,
                    require_mfa_for_admins: row.try_get("require_mfa_for_admins").map_err(get_err)?,
                })
            }
        }

        #[async_trait]
        impl Store for $store {
            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1").execute(&self.read).await.map_err(map_err)?;
                Ok(())
            }

            async fn create_tenant(&self, tenant: &Tenant, audit: &AuditEvent) -> StoreResult<()> {
                let policy = serde_json::to_string(&tenant.password_policy)
                    .map_err(|e| corrupt("password policy", e))?;
                let mut tx = self.write.begin().await.map_err(map_err)?;
                sqlx::query(
                    "INSERT INTO tenants (id, display_name, password_policy, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(tenant.id.as_uuid())
                .bind(&tenant.display_name)
                .bind(policy)
                .bind(tenant.created)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
                for (position, domain) in tenant.domains.iter().enumerate() {
                    sqlx::query("INSERT INTO tenant_domains (domain, tenant_id, position) VALUES ($1, $2, $3)")
                        .bind(domain.as_str())
                        .bind(tenant.id.as_uuid())
                        .bind(i64::try_from(position).unwrap_or(i64::MAX))
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                }
                insert_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(map_err)
            }

            async fn list_tenants(&self) -> StoreResult<Vec<Tenant>> {
                let rows = sqlx::query("SELECT id, display_name, password_policy, created_at, require_mfa_for_admins FROM tenants ORDER BY created_at, id")
                    .fetch_all(&self.read)
                    .await
                    .map_err(map_err)?;
                let mut out = Vec::with_capacity(rows.len());
                for row in &rows {
                    out.push(self.tenant_from_row(row).await?);
                }
                Ok(out)
            }

            async fn find_tenant(&self, id: TenantId) -> StoreResult<Option<Tenant>> {
                let row = sqlx::query("SELECT id, display_name, password_policy, created_at, require_mfa_for_admins FROM tenants WHERE id = $1")
                    .bind(id.as_uuid())
                    .fetch_optional(&self.read)
                    .await
                    .map_err(map_err)?;
                match row {
                    Some(row) => Ok(Some(self.tenant_from_row(&row).await?)),
                    None => Ok(None),
                }
            }

            async fn find_tenant_by_domain(&self, domain: &DomainName) -> StoreResult<Option<Tenant>> {
                let row = sqlx::query(
                    "SELECT t.id, t.display_name, t.password_policy, t.created_at, t.require_mfa_for_admins FROM tenants t \
                     JOIN tenant_domains d ON d.tenant_id = t.id WHERE d.domain = $1",
                )
                .bind(domain.as_str())
                .fetch_optional(&self.read)
                .await
                .map_err(map_err)?;
                match row {
                    Some(row) => Ok(Some(self.tenant_from_row(&row).await?)),
                    None => Ok(None),
                }
            }

            async fn update_mfa_requirement(&self, tenant: TenantId, require: bool, audit: &AuditEvent) -> StoreResult<()> {
                let mut tx = self.write.begin().await.map_err(map_err)?;
                let done = sqlx::query("UPDATE tenants SET require_mfa_for_admins = $1 WHERE id = $2")
                    .bind(require)
                    .bind(tenant.as_uuid())
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                if done.rows_affected() != 1 {
                    return Err(StoreError::NotFound);
                }
                insert_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(map_err)
            }

            async fn update_password_policy(
                &self,
                tenant: TenantId,
                policy: &PasswordPolicy,
                audit: &AuditEvent,
            ) -> StoreResult<()> {
                let policy = serde_json::to_string(policy).map_err(|e| corrupt("password policy", e))?;
                let mut tx = self.write.begin().await.map_err(map_err)?;
                let done = sqlx::query("UPDATE tenants SET password_policy = $1 WHERE id = $2")
                    .bind(policy)
                    .bind(tenant.as_uuid())
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                if done.rows_affected() != 1 {
                    return Err(StoreError::NotFound);
                }
                insert_audit(&mut tx, audit).await?;
                tx.commit().await.map_err(map_err)
            }

            async fn find_user(&self, tenant: TenantId, id: UserId) -> StoreResult<Option<User>> {
                let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND id = $2");
                let row = sqlx::query(&sql)
                    .bind(tenant.as_uuid())
                    .bind(id.as_uuid())
                    .fetch_optional(&self.read)
                    .await
                    .map_err(map_err)?;
                row.as_ref().map(user_from_row).transpose()
            }

            async fn find_user_by_upn(&self, tenant: TenantId, upn: &Upn) -> StoreResult<Option<User>> {
                let sql = format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND upn_normalized = $2 AND deleted_at IS NULL"
                );
                let row = sqlx::query(&sql)
                    .bind(tenant.as_uuid())
                    .bind(upn.normalized())
                    .fetch_optional(&self.read)
                    .await
                    .map_err(map_err)?;
                row.as_ref().map(user_from_row).transpose()
            }

            async fn list_users(&self, tenant: TenantId, query: &UserQuery) -> StoreResult<Page<User>> {
                let limit = i64::from(query.limit.clamp(1, 999));
                let order = query.order;
                let key_col = order_column(order.property);
                let by_time = key_col == "created_at";
                let mut qb: QueryBuilder<'_, $db> = QueryBuilder::new(format!(
                    "SELECT {USER_COLUMNS}, upn_normalized, display_name_normalized FROM users WHERE tenant_id = "
                ));
                qb.push_bind(tenant.as_uuid());
                push_user_conditions(&mut qb, query);
                if let Some(cursor) = &query.after {
                    let (key, id) = decode_cursor(&order, cursor)?;
                    let cmp = if order.descending { " < " } else { " > " };
                    let push_key = |qb: &mut QueryBuilder<'_, $db>| -> StoreResult<()> {
                        if by_time {
                            let t = DateTime::parse_from_rfc3339(&key)
                                .map_err(|_| StoreError::BadCursor)?
                                .with_timezone(&Utc);
                            qb.push_bind(t);
                        } else {
                            qb.push_bind(key.clone());
                        }
                        Ok(())
                    };
                    qb.push(format!(" AND ({key_col}{cmp}"));
                    push_key(&mut qb)?;
                    qb.push(format!(" OR ({key_col} = "));
                    push_key(&mut qb)?;
                    qb.push(format!(" AND id{cmp}"));
                    qb.push_bind(id);
                    qb.push("))");
                }
                let dir = if order.descending { "DESC" } else { "ASC" };
                qb.push(format!(" ORDER BY {key_col} {dir}, id {dir} LIMIT "));
                // One row more than asked tells whether there is a next page.
                qb.push_bind(limit + 1);
                let rows = qb.build().fetch_all(&self.read).await.map_err(map_err)?;
                let has_more = rows.len() as i64 > limit;
                let mut items = Vec::with_capacity(rows.len());
                let mut next = None;
                for row in rows.iter().take(limit as usize) {
                    let user = user_from_row(row)?;
                    let key: String = if by_time {
                        user.created.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
                    } else {
                        row.try_get(key_col).map_err(map_err)?
                    };
                    next = Some(encode_cursor(&order, &key, user.id.as_uuid()));
                    items.push(user);
                }
                Ok(Page { items, next: if has_more { next } else { None } })
            }

            async fn count_users(&self, tenant: TenantId, query: &UserQuery) -> StoreResult<u64> {
                let mut qb: QueryBuilder<'_, $db> = QueryBuilder::new("SELECT COUNT(*) FROM users WHERE tenant_id = ");
                qb.push_bind(tenant.as_uuid());
                push_user_conditions(&mut qb, query);
                let n: i64 = qb.build_query_scalar().fetch_one(&self.read).await.map_err(map_err)?;
                Ok(u64::try_from(n).unwrap_or(0))
            }

            async fn update_user(&self, w: &UserWrite, events: &[Events]) -> StoreResult<()> {
                let u = &w.user;
                let p = &u.profile;
                let mut tx = self.write.begin().await.map_err(map_err)?;
                let query = sqlx::query(
                    "UPDATE users SET user_principal_name = $1, upn_normalized = $2, display_name = $3, \
                     display_name_normalized = $4, mail_nickname = $5, account_enabled = $6, given_name = $7, \
                     surname = $8, mail = $9, other_mails = $10, mobile_phone = $11, business_phones = $12, \
                     job_title = $13, department = $14, company_name = $15, office_location = $16, \
                     preferred_language = $17, street_address = $18, city = $19, state = $20, postal_code = $21, \
                     country = $22, usage_location = $23, employee_id = $24, employee_type = $25, \
                     employee_hire_date = $26, employee_leave_date_time = $27, password_policies = $28, \
                     sign_in_sessions_valid_from = $29, user_type = $30, force_change_password = $31, \
                     force_change_password_mfa = $32, version = version + 1 \
                     WHERE tenant_id = $33 AND id = $34 AND version = $35 AND deleted_at IS NULL",
                )
                .bind(u.user_principal_name.as_str())
                .bind(u.user_principal_name.normalized())
                .bind(u.display_name.as_str())
                .bind(u.display_name.as_str().to_lowercase())
                .bind(&u.mail_nickname)
                .bind(u.account_enabled);
                let done = bind_profile(query, p)
                .bind(u.password_policies.to_graph())
                .bind(u.sign_in_sessions_valid_from)
                .bind(u.user_type.as_str())
                .bind(u.force_change_password_next_sign_in)
                .bind(u.force_change_password_next_sign_in_with_mfa)
                .bind(u.tenant_id.as_uuid())
                .bind(u.id.as_uuid())
                .bind(u.version)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
                check_one(done.rows_affected())?;
                if let Some(pw) = &w.password {
                    let done = sqlx::query(
                        "UPDATE users SET password_hash = $1, last_password_change = $2, \
                         force_change_password = $3, force_change_password_mfa = $4, \
                         sign_in_sessions_valid_from = COALESCE($5, sign_in_sessions_valid_from), \
                         version = version + 1 WHERE tenant_id = $6 AND id = $7",
                    )
                    .bind(pw.hash.as_str())
                    .bind(pw.changed_at)
                    .bind(pw.force_change_next_sign_in)
                    .bind(pw.force_change_with_mfa)
                    .bind(pw.revoke_sessions_from)
                    .bind(u.tenant_id.as_uuid())
                    .bind(u.id.as_uuid())
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    check_one(done.rows_affected())?;
                }
                for e in events {
                    insert_events(&mut tx, e).await?;
                }
                tx.commit().await.map_err(map_err)
            }

            async fn delete_user_permanently(
                &self,
                tenant: TenantId,
                id: UserId,
                expected_version: i64,
                events: &Events,
            ) -> StoreResult<()> {
                let mut tx = self.write.begin().await.map_err(map_err)?;
                let done = sqlx::query(
                    "DELETE FROM users WHERE tenant_id = $1 AND id = $2 AND version = $3 AND deleted_at IS NOT NULL",
                )
                .bind(tenant.as_uuid())
                .bind(id.as_uuid())
                .bind(expected_version)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
                check_one(done.rows_affected())?;
                insert_events(&mut tx, events).await?;
                tx.commit().await.map_err(map_err)
            }

            async fn find_password_hash(&self, tenant: TenantId, id: UserId) -> StoreResult<Option<PasswordHash>> {
                let phc: Option<Option<String>> = sqlx::query_scalar(
                    "SELECT password_hash FROM users WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant.as_uuid())
                .bind(id.as_uuid())
                .fetch_optional(&self.read)
                .await
                .map_err(map_err)?;
                phc.flatten()
                    .map(|p| PasswordHash::from_phc(p).map_err(|e| corrupt("password hash", e)))
                    .transpose()
            }

            async fn list_user_roles(&self, tenant: TenantId, id: UserId) -> StoreResult<Vec<DirectoryRole>> {
                let roles: Vec<String> = sqlx::query_scalar(
                    "SELECT role FROM user_roles WHERE tenant_id = $1 AND user_id = $2 ORDER BY role",
                )
                .bind(tenant.as_uuid())
                .bind(id.as_uuid())
                .fetch_all(&self.read)
                .await
                .map_err(map_err)?;
                roles
                    .iter()
                    .map(|r| DirectoryRole::parse(r).ok_or_else(|| corrupt("role", r)))
                    .collect()
            }

            async fn insert_user(&self, record: &NewUserRecord, events: &Events) -> StoreResult<()> {
                let u = &record.user;
                let p = &u.profile;
                let mut tx = self.write.begin().await.map_err(map_err)?;
                let query = sqlx::query(
                    "INSERT INTO users (id, tenant_id, user_principal_name, upn_normalized, display_name, \
                     display_name_normalized, mail_nickname, account_enabled, user_type, given_name, surname, \
                     mail, other_mails, mobile_phone, business_phones, job_title, department, company_name, \
                     office_location, preferred_language, street_address, city, state, postal_code, country, \
                     usage_location, employee_id, employee_type, employee_hire_date, employee_leave_date_time, \
                     password_policies, password_hash, force_change_password, force_change_password_mfa, \
                     last_password_change, sign_in_sessions_valid_from, created_at, deleted_at, version) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
                     $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36, \
                     $37, $38, $39)",
                )
                .bind(u.id.as_uuid())
                .bind(u.tenant_id.as_uuid())
                .bind(u.user_principal_name.as_str())
                .bind(u.user_principal_name.normalized())
                .bind(u.display_name.as_str())
                .bind(u.display_name.as_str().to_lowercase())
                .bind(&u.mail_nickname)
                .bind(u.account_enabled)
                .bind(u.user_type.as_str());
                bind_profile(query, p)
                .bind(u.password_policies.to_graph())
                .bind(record.password.as_ref().map(|h| h.as_str().to_owned()))
                .bind(u.force_change_password_next_sign_in)
                .bind(u.force_change_password_next_sign_in_with_mfa)
                .bind(u.last_password_change)
                .bind(u.sign_in_sessions_valid_from)
                .bind(u.created)
                .bind(u.deleted)
                .bind(u.version)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
                for role in &record.roles {
                    sqlx::query("INSERT INTO user_roles (user_id, tenant_id, role) VALUES ($1, $2, $3)")
                        .bind(u.id.as_uuid())
                        .bind(u.tenant_id.as_uuid())
                        .bind(role.template_id())
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                }
                insert_events(&mut tx, events).await?;
                tx.commit().await.map_err(map_err)
            }

            async fn write_password(&self, w: &PasswordWrite, events: &Events) -> StoreResult<()> {
                let mut tx = self.write.begin().await.map_err(map_err)?;
                update_password(&mut tx, w).await?;
                insert_events(&mut tx, events).await?;
                tx.commit().await.map_err(map_err)
            }

            async fn soft_delete_user(
                &self,
                tenant: TenantId,
                id: UserId,
                expected_version: i64,
                at: DateTime<Utc>,
                events: &Events,
            ) -> StoreResult<()> {
                let mut tx = self.write.begin().await.map_err(map_err)?;
                let done = sqlx::query(
                    "UPDATE users SET deleted_at = $1, version = version + 1 \
                     WHERE tenant_id = $2 AND id = $3 AND version = $4 AND deleted_at IS NULL",
                )
                .bind(at)
                .bind(tenant.as_uuid())
                .bind(id.as_uuid())
                .bind(expected_version)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
                check_one(done.rows_affected())?;
                insert_events(&mut tx, events).await?;
                tx.commit().await.map_err(map_err)
            }

            async fn require_password_change(
                &self,
                tenant: TenantId,
                id: UserId,
                expected_version: i64,
                events: &Events,
            ) -> StoreResult<()> {
                let mut tx = self.write.begin().await.map_err(map_err)?;
                let done = sqlx::query(
                    "UPDATE users SET force_change_password = $1, version = version + 1 \
                     WHERE tenant_id = $2 AND id = $3 AND version = $4 AND deleted_at IS NULL",
                )
                .bind(true)
                .bind(tenant.as_uuid())
                .bind(id.as_uuid())
                .bind(expected_version)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
                check_one(done.rows_affected())?;
                insert_events(&mut tx, events).await?;
                tx.commit().await.map_err(map_err)
            }

            async fn restore_user(
                &self,
                tenant: TenantId,
                id: UserId,
                expected_version: i64,
                events: &Events,
            ) -> StoreResult<()> {
                let mut tx = self.write.begin().await.map_err(map_err)?;
                let done = sqlx::query(
                    "UPDATE users SET deleted_at = NULL, version = version + 1 \
                     WHERE tenant_id = $1 AND id = $2 AND version = $3 AND deleted_at IS NOT NULL",
                )
                .bind(tenant.as_uuid())
                .bind(id.as_uuid())
                .bind(expected_version)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
                check_one(done.rows_affected())?;
                insert_events(&mut tx, events).await?;
                tx.commit().await.map_err(map_err)
            }

            async fn purge_deleted_users(&self, tenant: TenantId, deleted_before: DateTime<Utc>) -> StoreResult<u64> {
                let done = sqlx::query(
                    "DELETE FROM users WHERE tenant_id = $1 AND deleted_at IS NOT NULL AND deleted_at < $2",
                )
                .bind(tenant.as_uuid())
                .bind(deleted_before)
                .execute(&self.write)
                .await
                .map_err(map_err)?;
                Ok(done.rows_affected())
            }

            async fn set_user_roles(
                &self,
                tenant: TenantId,
                id: UserId,
                roles: &[DirectoryRole],
                expected_version: i64,
                events: &Events,
            ) -> StoreResult<()> {
                let mut tx = self.write.begin().await.map_err(map_err)?;
                let done = sqlx::query(
                    "UPDATE users SET version = version + 1 \
                     WHERE tenant_id = $1 AND id = $2 AND version = $3 AND deleted_at IS NULL",
                )
                .bind(tenant.as_uuid())
                .bind(id.as_uuid())
                .bind(expected_version)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
                check_one(done.rows_affected())?;
                sqlx::query("DELETE FROM user_roles WHERE tenant_id = $1 AND user_id = $2")
                    .bind(tenant.as_uuid())
                    .bind(id.as_uuid())
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                for role in roles {
                    sqlx::query("INSERT INTO user_roles (user_id, tenant_id, role) VALUES ($1, $2, $3)")
                        .bind(id.as_uuid())
                        .bind(tenant.as_uuid())
                        .bind(role.template_id())
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                }
                insert_events(&mut tx, events).await?;
                tx.commit().await.map_err(map_err)
            }

            // Licences: the SQL is in licenses.rs.
            async fn insert_sku(&self, sku: &latchkey_core::license::Sku, events: &Events) -> StoreResult<()> {
                self.licenses_insert_sku(sku, events).await
            }

            async fn set_sku_seats(
                &self,
                tenant: TenantId,
                sku: latchkey_core::ids::SkuId,
                seats: u32,
                events: &Events,
            ) -> StoreResult<u32> {
                self.licenses_set_sku_seats(tenant, sku, seats, events).await
            }

            async fn list_skus(&self, tenant: TenantId) -> StoreResult<Vec<latchkey_core::license::SkuUsage>> {
                self.licenses_list_skus(tenant).await
            }

            async fn list_user_licenses(
                &self,
                tenant: TenantId,
                users: &[UserId],
            ) -> StoreResult<Vec<(UserId, latchkey_core::license::AssignedLicense)>> {
                self.licenses_of_users(tenant, users).await
            }

            async fn write_user_licenses(
                &self,
                write: &latchkey_core::store::LicenseWrite,
                events: &[Events],
            ) -> StoreResult<()> {
                self.licenses_write(write, events).await
            }

            // The manager relationship: the SQL is in managers.rs.
            async fn find_manager(&self, tenant: TenantId, user: UserId) -> StoreResult<Option<UserId>> {
                self.managers_find(tenant, user).await
            }

            async fn list_managers(&self, tenant: TenantId, users: &[UserId]) -> StoreResult<Vec<(UserId, User)>> {
                self.managers_of_users(tenant, users).await
            }

            async fn write_manager(&self, write: &latchkey_core::store::ManagerWrite, events: &Events) -> StoreResult<()> {
                self.managers_write(write, events).await
            }

            // Change tracking for users/delta: the SQL is in changes.rs.
            async fn latest_user_change(&self, tenant: TenantId) -> StoreResult<i64> {
                self.changes_latest(tenant).await
            }

            async fn prune_user_deletions(
                &self,
                now: DateTime<Utc>,
                horizon: DateTime<Utc>,
            ) -> StoreResult<u64> {
                self.changes_prune(now, horizon).await
            }

            async fn list_user_changes(
                &self,
                tenant: TenantId,
                query: &latchkey_core::store::UserChangeQuery,
            ) -> StoreResult<(Vec<latchkey_core::store::UserChange>, bool)> {
                self.changes_list(tenant, query).await
            }

            async fn insert_app(&self, app: &App, events: &Events) -> StoreResult<()> {
                let mut tx = self.write.begin().await.map_err(map_err)?;
                sqlx::query(&format!(
                    "INSERT INTO apps ({APP_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                ))
                .bind(app.app_id.0)
                .bind(app.object_id)
                .bind(app.tenant_id.as_uuid())
                .bind(&app.display_name)
                .bind(json_list(&app.redirect_uris))
                .bind(app.public_client)
                .bind(json_list(&app.application_permissions))
                .bind(json_list(&app.delegated_permissions))
                .bind(app.admin_consent)
                .bind(app.created)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
                write_app_secrets(&mut tx, app).await?;
                write_app_certificates(&mut tx, app).await?;
                insert_events(&mut tx, events).await?;
                tx.commit().await.map_err(map_err)
            }

            async fn update_app(&self, app: &App, events: &Events) -> StoreResult<()> {
                let mut tx = self.write.begin().await.map_err(map_err)?;
                let done = sqlx::query(
                    "UPDATE apps SET display_name = $1, redirect_uris = $2, public_client = $3, \
                     application_permissions = $4, delegated_permissions = $5, admin_consent = $6 \
                     WHERE tenant_id = $7 AND app_id = $8",
                )
                .bind(&app.display_name)
                .bind(json_list(&app.redirect_uris))
                .bind(app.public_client)
                .bind(json_list(&app.application_permissions))
                .bind(json_list(&app.delegated_permissions))
                .bind(app.admin_consent)
                .bind(app.tenant_id.as_uuid())
                .bind(app.app_id.0)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
                if done.rows_affected() != 1 {
                    return Err(StoreError::NotFound);
                }
                write_app_secrets(&mut tx, app).await?;
                write_app_certificates(&mut tx, app).await?;
                insert_events(&mut tx, events).await?;
                tx.commit().await.map_err(map_err)
            }

            async fn delete_app(&self, tenant: TenantId, app_id: AppId, events: &Events) -> StoreResult<()> {
                let mut tx = self.write.begin().await.map_err(map_err)?;
                let done = sqlx::query("DELETE FROM apps WHERE tenant_id = $1 AND app_id = $2")
                    .bind(tenant.as_uuid())
                    .bind(app_id.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                if done.rows_affected() != 1 {
                    return Err(StoreError::NotFound);
                }
                insert_events(&mut tx, events).await?;
                tx.commit().await.map_err(map_err)
            }

            async fn find_app_tenant(&self, app_id: AppId) -> StoreResult<Option<TenantId>> {
                let row = sqlx::query("SELECT tenant_id FROM apps WHERE app_id = $1")
                    .bind(app_id.0)
                    .fetch_optional(&self.read)
                    .await
                    .map_err(map_err)?;
                row.map(|r| Ok(TenantId::from_uuid(r.try_get("tenant_id").map_err(map_err)?)))
                    .transpose()
            }

            async fn find_app(&self, tenant: TenantId, app_id: AppId) -> StoreResult<Option<App>> {
                let row = sqlx::query(&format!("SELECT {APP_COLUMNS} FROM apps WHERE tenant_id = $1 AND app_id = $2"))
                    .bind(tenant.as_uuid())
                    .bind(app_id.0)
                    .fetch_optional(&self.read)
                    .await
                    .map_err(map_err)?;
                let Some(row) = row else { return Ok(None) };
                let secrets = sqlx::query(
                    "SELECT key_id, app_id, display_name, hint, digest, start_at, end_at FROM app_secrets \
                     WHERE app_id = $1 ORDER BY start_at, key_id",
                )
                .bind(app_id.0)
                .fetch_all(&self.read)
                .await
                .map_err(map_err)?
                .iter()
                .map(|r| secret_from_row(r).map(|(_, s)| s))
                .collect::<StoreResult<Vec<_>>>()?;
                let certificates = sqlx::query(&format!(
                    "SELECT {CERTIFICATE_COLUMNS} FROM app_certificates c WHERE c.app_id = $1 ORDER BY c.start_at, c.key_id"
                ))
                .bind(app_id.0)
                .fetch_all(&self.read)
                .await
                .map_err(map_err)?
                .iter()
                .map(|r| certificate_from_row(r).map(|(_, c)| c))
                .collect::<StoreResult<Vec<_>>>()?;
                app_from_row(&row, secrets, certificates).map(Some)
            }

            async fn list_apps(&self, tenant: TenantId) -> StoreResult<Vec<App>> {
                let rows = sqlx::query(&format!(
                    "SELECT {APP_COLUMNS} FROM apps WHERE tenant_id = $1 ORDER BY display_name, app_id"
                ))
                .bind(tenant.as_uuid())
                .fetch_all(&self.read)
                .await
                .map_err(map_err)?;
                // All the tenant's secrets in one query, grouped in memory: no query per app.
                let mut secrets: std::collections::HashMap<Uuid, Vec<ClientSecret>> = Default::default();
                for row in sqlx::query(
                    "SELECT s.key_id, s.app_id, s.display_name, s.hint, s.digest, s.start_at, s.end_at \
                     FROM app_secrets s JOIN apps a ON a.app_id = s.app_id WHERE a.tenant_id = $1 \
                     ORDER BY s.start_at, s.key_id",
                )
                .bind(tenant.as_uuid())
                .fetch_all(&self.read)
                .await
                .map_err(map_err)?
                .iter()
                {
                    let (app, secret) = secret_from_row(row)?;
                    secrets.entry(app).or_default().push(secret);
                }
                let mut certificates: std::collections::HashMap<Uuid, Vec<CertificateCredential>> = Default::default();
                for row in sqlx::query(&format!(
                    "SELECT {CERTIFICATE_COLUMNS} FROM app_certificates c JOIN apps a ON a.app_id = c.app_id \
                     WHERE a.tenant_id = $1 ORDER BY c.start_at, c.key_id"
                ))
                .bind(tenant.as_uuid())
                .fetch_all(&self.read)
                .await
                .map_err(map_err)?
                .iter()
                {
                    let (app, cert) = certificate_from_row(row)?;
                    certificates.entry(app).or_default().push(cert);
                }
                rows.iter()
                    .map(|row| {
                        let id: Uuid = row.try_get("app_id").map_err(map_err)?;
                        app_from_row(
                            row,
                            secrets.remove(&id).unwrap_or_default(),
                            certificates.remove(&id).unwrap_or_default(),
                        )
                    })
                    .collect()
            }

            async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO signing_keys (kid, sealed_private_key, public_key, created_at, retire_after) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&key.kid)
                .bind(&key.sealed_private_key)
                .bind(&key.public_key)
                .bind(key.created)
                .bind(key.retire_after)
                .execute(&self.write)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
                let rows = sqlx::query(
                    "SELECT kid, sealed_private_key, public_key, created_at, retire_after FROM signing_keys \
                     ORDER BY created_at DESC, kid",
                )
                .fetch_all(&self.read)
                .await
                .map_err(map_err)?;
                rows.iter()
                    .map(|row| {
                        Ok(SigningKeyRecord {
                            kid: row.try_get("kid").map_err(map_err)?,
                            sealed_private_key: row.try_get("sealed_private_key").map_err(map_err)?,
                            public_key: row.try_get("public_key").map_err(map_err)?,
                            created: row.try_get("created_at").map_err(map_err)?,
                            retire_after: row.try_get("retire_after").map_err(map_err)?,
                        })
                    })
                    .collect()
            }

            async fn find_sign_in_state(&self, tenant: TenantId, user: UserId) -> StoreResult<Option<SignInState>> {
                let row = sqlx::query(
                    "SELECT failed_count, lockouts, locked_until, last_success FROM sign_in_state \
                     WHERE tenant_id = $1 AND user_id = $2",
                )
                .bind(tenant.as_uuid())
                .bind(user.as_uuid())
                .fetch_optional(&self.read)
                .await
                .map_err(map_err)?;
                row.map(|r| {
                    Ok(SignInState {
                        failed_count: r.try_get("failed_count").map_err(map_err)?,
                        lockouts: r.try_get("lockouts").map_err(map_err)?,
                        locked_until: r.try_get("locked_until").map_err(map_err)?,
                        last_success: r.try_get("last_success").map_err(map_err)?,
                    })
                })
                .transpose()
            }

            async fn unlock_sign_in(
                &self,
                tenant: TenantId,
                user: UserId,
                now: DateTime<Utc>,
                events: &Events,
            ) -> StoreResult<bool> {
                let mut tx = self.write.begin().await.map_err(map_err)?;
                let rows = sqlx::query(
                    "UPDATE sign_in_state SET failed_count = 0, lockouts = 0, locked_until = NULL \
                     WHERE tenant_id = $1 AND user_id = $2 AND locked_until > $3",
                )
                .bind(tenant.as_uuid())
                .bind(user.as_uuid())
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?
                .rows_affected();
                if rows == 0 {
                    return Ok(false);
                }
                insert_events(&mut tx, events).await?;
                tx.commit().await.map_err(map_err)?;
                Ok(true)
            }

            async fn record_sign_in(
                &self,
                event: &SignInEvent,
                state: Option<(UserId, Option<SignInState>, SignInState)>,
            ) -> StoreResult<()> {
                let mut tx = self.write.begin().await.map_err(map_err)?;
                if let Some((user, expected, new)) = state {
                    let rows = match expected {
                        None => sqlx::query(
                            "INSERT INTO sign_in_state (user_id, tenant_id, failed_count, lockouts, locked_until, last_success) \
                             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (user_id) DO NOTHING",
                        )
                        .bind(user.as_uuid())
                        .bind(event.tenant_id.as_uuid())
                        .bind(new.failed_count)
                        .bind(new.lockouts)
                        .bind(new.locked_until)
                        .bind(new.last_success)
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?
                        .rows_affected(),
                        Some(old) => sqlx::query(
                            "UPDATE sign_in_state SET failed_count = $1, lockouts = $2, locked_until = $3, last_success = $4 \
                             WHERE user_id = $5 AND tenant_id = $6 AND failed_count = $7 AND lockouts = $8",
                        )
                        .bind(new.failed_count)
                        .bind(new.lockouts)
                        .bind(new.locked_until)
                        .bind(new.last_success)
                        .bind(user.as_uuid())
                        .bind(event.tenant_id.as_uuid())
                        .bind(old.failed_count)
                        .bind(old.lockouts)
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?
                        .rows_affected(),
                    };
                    check_one(rows)?;
                }
                sqlx::query(
                    "INSERT INTO sign_in_events (id, tenant_id, created_at, user_id, user_principal_name, app_id, \
                     app_display_name, error_code, failure_reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(event.id.as_uuid())
                .bind(event.tenant_id.as_uuid())
                .bind(event.created)
                .bind(event.user_id.map(|u| u.as_uuid()))
                .bind(&event.user_principal_name)
                .bind(&event.app_id)
                .bind(&event.app_display_name)
                .bind(event.error_code)
                .bind(&event.failure_reason)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
                tx.commit().await.map_err(map_err)
            }

            async fn list_sign_in_events(&self, tenant: TenantId, limit: u32) -> StoreResult<Vec<SignInEvent>> {
                let rows = sqlx::query(
                    "SELECT id, tenant_id, created_at, user_id, user_principal_name, app_id, app_display_name, \
                     error_code, failure_reason FROM sign_in_events WHERE tenant_id = $1 \
                     ORDER BY created_at DESC, seq DESC LIMIT $2",
                )
                .bind(tenant.as_uuid())
                .bind(i64::from(limit))
                .fetch_all(&self.read)
                .await
                .map_err(map_err)?;
                rows.iter()
                    .map(|r| {
                        Ok(SignInEvent {
                            id: EventId::from_uuid(r.try_get("id").map_err(map_err)?),
                            tenant_id: TenantId::from_uuid(r.try_get("tenant_id").map_err(map_err)?),
                            created: r.try_get("created_at").map_err(map_err)?,
                            user_id: r.try_get::<Option<Uuid>, _>("user_id").map_err(map_err)?.map(UserId::from_uuid),
                            user_principal_name: r.try_get("user_principal_name").map_err(map_err)?,
                            app_id: r.try_get("app_id").map_err(map_err)?,
                            app_display_name: r.try_get("app_display_name").map_err(map_err)?,
                            error_code: r.try_get("error_code").map_err(map_err)?,
                            failure_reason: r.try_get("failure_reason").map_err(map_err)?,
                        })
                    })
                    .collect()
            }

            async fn rehash_password(
                &self,
                tenant: TenantId,
                user: UserId,
                old: &PasswordHash,
                new: &PasswordHash,
            ) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE users SET password_hash = $1 WHERE tenant_id = $2 AND id = $3 AND password_hash = $4",
                )
                .bind(new.as_str())
                .bind(tenant.as_uuid())
                .bind(user.as_uuid())
                .bind(old.as_str())
                .execute(&self.write)
                .await
                .map_err(map_err)?;
                Ok(done.rows_affected() == 1)
            }

            async fn insert_refresh_token(&self, t: &RefreshTokenRecord) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO refresh_tokens (id, family_id, tenant_id, user_id, client_id, scopes, digest, \
                     issued_at, expires_at, used_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(t.id)
                .bind(t.family_id)
                .bind(t.tenant_id.as_uuid())
                .bind(t.user_id.as_uuid())
                .bind(&t.client_id)
                .bind(&t.scopes)
                .bind(t.digest.to_vec())
                .bind(t.issued_at)
                .bind(t.expires_at)
                .bind(t.used_at)
                .bind(t.revoked_at)
                .execute(&self.write)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            async fn find_refresh_token(&self, digest: &[u8; 32]) -> StoreResult<Option<RefreshTokenRecord>> {
                let row = sqlx::query(
                    "SELECT id, family_id, tenant_id, user_id, client_id, scopes, digest, issued_at, expires_at, \
                     used_at, revoked_at FROM refresh_tokens WHERE digest = $1",
                )
                .bind(digest.to_vec())
                .fetch_optional(&self.read)
                .await
                .map_err(map_err)?;
                row.as_ref().map(refresh_from_row).transpose()
            }

            async fn use_refresh_token(&self, id: Uuid, at: DateTime<Utc>) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE refresh_tokens SET used_at = $1 WHERE id = $2 AND used_at IS NULL AND revoked_at IS NULL",
                )
                .bind(at)
                .bind(id)
                .execute(&self.write)
                .await
                .map_err(map_err)?;
                Ok(done.rows_affected() == 1)
            }

            async fn revoke_refresh_family(&self, family: Uuid, at: DateTime<Utc>) -> StoreResult<()> {
                sqlx::query("UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL")
                    .bind(at)
                    .bind(family)
                    .execute(&self.write)
                    .await
                    .map_err(map_err)?;
                Ok(())
            }

            async fn insert_sign_in_session(&self, x: &SignInSessionRecord) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO sign_in_sessions (id, tenant_id, user_id, digest, created_at, expires_at, revoked_at, mfa) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(x.id)
                .bind(x.tenant_id.as_uuid())
                .bind(x.user_id.as_uuid())
                .bind(x.digest.to_vec())
                .bind(x.created)
                .bind(x.expires_at)
                .bind(x.revoked_at)
                .bind(x.mfa)
                .execute(&self.write)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            async fn find_sign_in_session(&self, digest: &[u8; 32]) -> StoreResult<Option<SignInSessionRecord>> {
                let row = sqlx::query(
                    "SELECT id, tenant_id, user_id, digest, created_at, expires_at, revoked_at, mfa \
                     FROM sign_in_sessions WHERE digest = $1",
                )
                .bind(digest.to_vec())
                .fetch_optional(&self.read)
                .await
                .map_err(map_err)?;
                row.as_ref().map(session_from_row).transpose()
            }

            async fn revoke_sign_in_session(&self, id: Uuid, at: DateTime<Utc>) -> StoreResult<()> {
                sqlx::query("UPDATE sign_in_sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                    .bind(at)
                    .bind(id)
                    .execute(&self.write)
                    .await
                    .map_err(map_err)?;
                Ok(())
            }

            async fn insert_authorization_code(&self, c: &AuthorizationCodeRecord) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO authorization_codes (id, tenant_id, user_id, client_id, redirect_uri, code_challenge, \
                     nonce, scopes, family_id, auth_time, digest, issued_at, expires_at, redeemed_at, mfa) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
                )
                .bind(c.id)
                .bind(c.tenant_id.as_uuid())
                .bind(c.user_id.as_uuid())
                .bind(c.client_id.to_string())
                .bind(&c.redirect_uri)
                .bind(&c.code_challenge)
                .bind(&c.nonce)
                .bind(&c.scopes)
                .bind(c.family_id)
                .bind(c.auth_time)
                .bind(c.digest.to_vec())
                .bind(c.issued_at)
                .bind(c.expires_at)
                .bind(c.redeemed_at)
                .bind(c.mfa)
                .execute(&self.write)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            async fn find_authorization_code(&self, digest: &[u8; 32]) -> StoreResult<Option<AuthorizationCodeRecord>> {
                let row = sqlx::query(
                    "SELECT id, tenant_id, user_id, client_id, redirect_uri, code_challenge, nonce, scopes, family_id, \
                     auth_time, digest, issued_at, expires_at, redeemed_at, mfa FROM authorization_codes WHERE digest = $1",
                )
                .bind(digest.to_vec())
                .fetch_optional(&self.read)
                .await
                .map_err(map_err)?;
                row.as_ref().map(code_from_row).transpose()
            }

            async fn redeem_authorization_code(&self, id: Uuid, at: DateTime<Utc>) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE authorization_codes SET redeemed_at = $1 WHERE id = $2 AND redeemed_at IS NULL",
                )
                .bind(at)
                .bind(id)
                .execute(&self.write)
                .await
                .map_err(map_err)?;
                Ok(done.rows_affected() == 1)
            }

            async fn find_user_consent(&self, tenant: TenantId, user: UserId, app: AppId) -> StoreResult<Option<UserConsent>> {
                let row = sqlx::query(
                    "SELECT scopes, granted_at FROM user_consents WHERE tenant_id = $1 AND user_id = $2 AND app_id = $3",
                )
                .bind(tenant.as_uuid())
                .bind(user.as_uuid())
                .bind(app.0)
                .fetch_optional(&self.read)
                .await
                .map_err(map_err)?;
                row.map(|r| {
                    let scopes: String = r.try_get("scopes").map_err(map_err)?;
                    Ok(UserConsent {
                        tenant_id: tenant,
                        user_id: user,
                        app_id: app,
                        scopes: parse_json_list("consent scopes", &scopes)?,
                        granted_at: r.try_get("granted_at").map_err(map_err)?,
                    })
                })
                .transpose()
            }

            async fn write_user_consent(&self, c: &UserConsent, events: &Events) -> StoreResult<()> {
                let mut tx = self.write.begin().await.map_err(map_err)?;
                sqlx::query(
                    "INSERT INTO user_consents (tenant_id, user_id, app_id, scopes, granted_at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (user_id, app_id) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at",
                )
                .bind(c.tenant_id.as_uuid())
                .bind(c.user_id.as_uuid())
                .bind(c.app_id.0)
                .bind(json_list(&c.scopes))
                .bind(c.granted_at)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
                insert_events(&mut tx, events).await?;
                tx.commit().await.map_err(map_err)
            }

            async fn insert_device_code(&self, d: &DeviceCodeRecord) -> StoreResult<()> {
                sqlx::query(&format!(
                    "INSERT INTO device_codes ({DEVICE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
                ))
                .bind(d.id)
                .bind(d.tenant_id.as_uuid())
                .bind(d.client_id.to_string())
                .bind(d.digest.to_vec())
                .bind(&d.user_code)
                .bind(&d.scopes)
                .bind(d.issued_at)
                .bind(d.expires_at)
                .bind(d.user_id.map(|u| u.as_uuid()))
                .bind(d.decided_at)
                .bind(d.auth_time)
                .bind(d.redeemed_at)
                .execute(&self.write)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            async fn find_device_code(&self, digest: &[u8; 32]) -> StoreResult<Option<DeviceCodeRecord>> {
                let row = sqlx::query(&format!("SELECT {DEVICE_COLUMNS} FROM device_codes WHERE digest = $1"))
                    .bind(digest.to_vec())
                    .fetch_optional(&self.read)
                    .await
                    .map_err(map_err)?;
                row.as_ref().map(device_from_row).transpose()
            }

            async fn find_device_code_by_user_code(&self, tenant: TenantId, user_code: &str) -> StoreResult<Option<DeviceCodeRecord>> {
                let row = sqlx::query(&format!(
                    "SELECT {DEVICE_COLUMNS} FROM device_codes WHERE tenant_id = $1 AND user_code = $2"
                ))
                .bind(tenant.as_uuid())
                .bind(user_code)
                .fetch_optional(&self.read)
                .await
                .map_err(map_err)?;
                row.as_ref().map(device_from_row).transpose()
            }

            async fn decide_device_code(
                &self,
                id: Uuid,
                user: Option<UserId>,
                at: DateTime<Utc>,
                auth_time: Option<DateTime<Utc>>,
            ) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE device_codes SET user_id = $1, decided_at = $2, auth_time = $3 WHERE id = $4 AND decided_at IS NULL",
                )
                .bind(user.map(|u| u.as_uuid()))
                .bind(at)
                .bind(auth_time)
                .bind(id)
                .execute(&self.write)
                .await
                .map_err(map_err)?;
                Ok(done.rows_affected() == 1)
            }

            async fn redeem_device_code(&self, id: Uuid, at: DateTime<Utc>) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE device_codes SET redeemed_at = $1 WHERE id = $2 AND redeemed_at IS NULL AND user_id IS NOT NULL",
                )
                .bind(at)
                .bind(id)
                .execute(&self.write)
                .await
                .map_err(map_err)?;
                Ok(done.rows_affected() == 1)
            }

            async fn purge_expired_sign_in_records(&self, before: DateTime<Utc>) -> StoreResult<u64> {
                let mut tx = self.write.begin().await.map_err(map_err)?;
                let mut gone = 0;
                for table in ["sign_in_sessions", "authorization_codes", "device_codes"] {
                    gone += sqlx::query(&format!("DELETE FROM {table} WHERE expires_at < $1"))
                        .bind(before)
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?
                        .rows_affected();
                }
                tx.commit().await.map_err(map_err)?;
                Ok(gone)
            }

            async fn list_auth_methods(&self, tenant: TenantId, user: UserId) -> StoreResult<Vec<AuthMethodRecord>> {
                let rows = sqlx::query(
                    "SELECT id, tenant_id, user_id, kind, display, sealed_secret, created_at, activated_at, last_used_step \
                     FROM auth_methods WHERE tenant_id = $1 AND user_id = $2 ORDER BY created_at, id",
                )
                .bind(tenant.as_uuid())
                .bind(user.as_uuid())
                .fetch_all(&self.read)
                .await
                .map_err(map_err)?;
                rows.iter().map(auth_method_from_row).collect()
            }

            async fn insert_auth_method(&self, m: &AuthMethodRecord, events: Option<&Events>) -> StoreResult<()> {
                let mut tx = self.write.begin().await.map_err(map_err)?;
                if m.activated.is_none() {
                    sqlx::query(
                        "DELETE FROM auth_methods WHERE tenant_id = $1 AND user_id = $2 AND kind = $3 AND activated_at IS NULL",
                    )
                    .bind(m.tenant_id.as_uuid())
                    .bind(m.user_id.as_uuid())
                    .bind(m.kind.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                }
                sqlx::query(
                    "INSERT INTO auth_methods (id, tenant_id, user_id, kind, display, sealed_secret, created_at, \
                     activated_at, last_used_step) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(m.id)
                .bind(m.tenant_id.as_uuid())
                .bind(m.user_id.as_uuid())
                .bind(m.kind.as_str())
                .bind(&m.display)
                .bind(&m.sealed_secret)
                .bind(m.created)
                .bind(m.activated)
                .bind(m.last_used_step)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
                if let Some(events) = events {
                    insert_events(&mut tx, events).await?;
                }
                tx.commit().await.map_err(map_err)
            }

            async fn activate_auth_method(
                &self,
                tenant: TenantId,
                user: UserId,
                id: Uuid,
                at: DateTime<Utc>,
                step: i64,
                events: &Events,
            ) -> StoreResult<bool> {
                let mut tx = self.write.begin().await.map_err(map_err)?;
                let done = sqlx::query(
                    "UPDATE auth_methods SET activated_at = $1, last_used_step = $2 \
                     WHERE tenant_id = $3 AND user_id = $4 AND id = $5 AND activated_at IS NULL",
                )
                .bind(at)
                .bind(step)
                .bind(tenant.as_uuid())
                .bind(user.as_uuid())
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?
                .rows_affected();
                if done != 1 {
                    return Ok(false);
                }
                insert_events(&mut tx, events).await?;
                tx.commit().await.map_err(map_err)?;
                Ok(true)
            }

            async fn use_totp_step(&self, tenant: TenantId, user: UserId, id: Uuid, step: i64) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE auth_methods SET last_used_step = $1 WHERE tenant_id = $2 AND user_id = $3 AND id = $4 \
                     AND activated_at IS NOT NULL AND (last_used_step IS NULL OR last_used_step < $1)",
                )
                .bind(step)
                .bind(tenant.as_uuid())
                .bind(user.as_uuid())
                .bind(id)
                .execute(&self.write)
                .await
                .map_err(map_err)?;
                Ok(done.rows_affected() == 1)
            }

            async fn delete_auth_method(&self, tenant: TenantId, user: UserId, id: Uuid, events: &Events) -> StoreResult<bool> {
                let mut tx = self.write.begin().await.map_err(map_err)?;
                let done = sqlx::query("DELETE FROM auth_methods WHERE tenant_id = $1 AND user_id = $2 AND id = $3")
                    .bind(tenant.as_uuid())
                    .bind(user.as_uuid())
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?
                    .rows_affected();
                if done != 1 {
                    return Ok(false);
                }
                insert_events(&mut tx, events).await?;
                tx.commit().await.map_err(map_err)?;
                Ok(true)
            }

            async fn replace_recovery_codes(
                &self,
                tenant: TenantId,
                user: UserId,
                digests: &[[u8; 32]],
                at: DateTime<Utc>,
                events: &Events,
            ) -> StoreResult<()> {
                let mut tx = self.write.begin().await.map_err(map_err)?;
                sqlx::query("DELETE FROM recovery_codes WHERE tenant_id = $1 AND user_id = $2")
                    .bind(tenant.as_uuid())
                    .bind(user.as_uuid())
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                if !digests.is_empty() {
                    let mut qb: QueryBuilder<'_, $db> =
                        QueryBuilder::new("INSERT INTO recovery_codes (tenant_id, user_id, digest, created_at) ");
                    qb.push_values(digests, |mut b, d| {
                        b.push_bind(tenant.as_uuid())
                            .push_bind(user.as_uuid())
                            .push_bind(d.to_vec())
                            .push_bind(at);
                    });
                    qb.build().execute(&mut *tx).await.map_err(map_err)?;
                }
                insert_events(&mut tx, events).await?;
                tx.commit().await.map_err(map_err)
            }

            async fn use_recovery_code(&self, tenant: TenantId, user: UserId, digest: &[u8; 32], at: DateTime<Utc>) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE recovery_codes SET used_at = $1 WHERE tenant_id = $2 AND user_id = $3 AND digest = $4 AND used_at IS NULL",
                )
                .bind(at)
                .bind(tenant.as_uuid())
                .bind(user.as_uuid())
                .bind(digest.to_vec())
                .execute(&self.write)
                .await
                .map_err(map_err)?;
                Ok(done.rows_affected() == 1)
            }

            async fn recovery_code_status(&self, tenant: TenantId, user: UserId) -> StoreResult<RecoveryCodeStatus> {
                let row = sqlx::query(
                    "SELECT COUNT(*) AS total, COUNT(used_at) AS used, MAX(created_at) AS generated \
                     FROM recovery_codes WHERE tenant_id = $1 AND user_id = $2",
                )
                .bind(tenant.as_uuid())
                .bind(user.as_uuid())
                .fetch_one(&self.read)
                .await
                .map_err(map_err)?;
                let total: i64 = row.try_get("total").map_err(map_err)?;
                let used: i64 = row.try_get("used").map_err(map_err)?;
                let generated: Option<DateTime<Utc>> = if total == 0 {
                    None
                } else {
                    row.try_get("generated").map_err(map_err)?
                };
                Ok(RecoveryCodeStatus {
                    generated,
                    total: u32::try_from(total).map_err(|e| corrupt("recovery code count", e))?,
                    unused: u32::try_from(total - used).map_err(|e| corrupt("recovery code count", e))?,
                })
            }

            async fn find_second_factor_state(&self, tenant: TenantId, user: UserId) -> StoreResult<Option<SignInState>> {
                let row = sqlx::query(
                    "SELECT failed_count, lockouts, locked_until, last_success FROM second_factor_state \
                     WHERE tenant_id = $1 AND user_id = $2",
                )
                .bind(tenant.as_uuid())
                .bind(user.as_uuid())
                .fetch_optional(&self.read)
                .await
                .map_err(map_err)?;
                row.map(|r| {
                    Ok(SignInState {
                        failed_count: r.try_get("failed_count").map_err(map_err)?,
                        lockouts: r.try_get("lockouts").map_err(map_err)?,
                        locked_until: r.try_get("locked_until").map_err(map_err)?,
                        last_success: r.try_get("last_success").map_err(map_err)?,
                    })
                })
                .transpose()
            }

            async fn record_second_factor_attempt(
                &self,
                tenant: TenantId,
                user: UserId,
                event: Option<&SignInEvent>,
                expected: Option<SignInState>,
                new: SignInState,
            ) -> StoreResult<()> {
                let mut tx = self.write.begin().await.map_err(map_err)?;
                let rows = match expected {
                    None => sqlx::query(
                        "INSERT INTO second_factor_state (user_id, tenant_id, failed_count, lockouts, locked_until, last_success) \
                         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (user_id) DO NOTHING",
                    )
                    .bind(user.as_uuid())
                    .bind(tenant.as_uuid())
                    .bind(new.failed_count)
                    .bind(new.lockouts)
                    .bind(new.locked_until)
                    .bind(new.last_success)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?
                    .rows_affected(),
                    Some(old) => sqlx::query(
                        "UPDATE second_factor_state SET failed_count = $1, lockouts = $2, locked_until = $3, last_success = $4 \
                         WHERE user_id = $5 AND tenant_id = $6 AND failed_count = $7 AND lockouts = $8",
                    )
                    .bind(new.failed_count)
                    .bind(new.lockouts)
                    .bind(new.locked_until)
                    .bind(new.last_success)
                    .bind(user.as_uuid())
                    .bind(tenant.as_uuid())
                    .bind(old.failed_count)
                    .bind(old.lockouts)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?
                    .rows_affected(),
                };
                check_one(rows)?;
                let Some(event) = event else {
                    return tx.commit().await.map_err(map_err);
                };
                sqlx::query(
                    "INSERT INTO sign_in_events (id, tenant_id, created_at, user_id, user_principal_name, app_id, \
                     app_display_name, error_code, failure_reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(event.id.as_uuid())
                .bind(event.tenant_id.as_uuid())
                .bind(event.created)
                .bind(event.user_id.map(|u| u.as_uuid()))
                .bind(&event.user_principal_name)
                .bind(&event.app_id)
                .bind(&event.app_display_name)
                .bind(event.error_code)
                .bind(&event.failure_reason)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
                tx.commit().await.map_err(map_err)
            }

            async fn insert_temporary_access_pass(&self, p: &latchkey_core::tap::TapRecord, events: &Events) -> StoreResult<bool> {
                let mut tx = self.write.begin().await.map_err(map_err)?;
                let done = sqlx::query(
                    "INSERT INTO temporary_access_passes (id, tenant_id, user_id, digest, created_at, start_at, \
                     lifetime_minutes, usable_once, used_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                     ON CONFLICT (user_id) DO NOTHING",
                )
                .bind(p.id)
                .bind(p.tenant_id.as_uuid())
                .bind(p.user_id.as_uuid())
                .bind(p.digest.to_vec())
                .bind(p.created)
                .bind(p.start)
                .bind(i64::from(p.lifetime_minutes))
                .bind(p.usable_once)
                .bind(p.used_at)
                .bind(&p.created_by)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                insert_events(&mut tx, events).await?;
                tx.commit().await.map_err(map_err)?;
                Ok(true)
            }

            async fn find_temporary_access_pass(&self, tenant: TenantId, user: UserId) -> StoreResult<Option<latchkey_core::tap::TapRecord>> {
                // The writer: a one-time pass used a moment ago must read as used.
                let row = sqlx::query(
                    "SELECT id, tenant_id, user_id, digest, created_at, start_at, lifetime_minutes, usable_once, \
                     used_at, created_by FROM temporary_access_passes WHERE tenant_id = $1 AND user_id = $2",
                )
                .bind(tenant.as_uuid())
                .bind(user.as_uuid())
                .fetch_optional(&self.write)
                .await
                .map_err(map_err)?;
                row.map(|r| {
                    let lifetime: i64 = r.try_get("lifetime_minutes").map_err(map_err)?;
                    Ok(latchkey_core::tap::TapRecord {
                        id: r.try_get("id").map_err(map_err)?,
                        tenant_id: TenantId::from_uuid(r.try_get("tenant_id").map_err(map_err)?),
                        user_id: UserId::from_uuid(r.try_get("user_id").map_err(map_err)?),
                        digest: digest_from("pass digest", r.try_get("digest").map_err(map_err)?)?,
                        created: r.try_get("created_at").map_err(map_err)?,
                        start: r.try_get("start_at").map_err(map_err)?,
                        lifetime_minutes: u32::try_from(lifetime).map_err(|e| corrupt("pass lifetime", e))?,
                        usable_once: r.try_get("usable_once").map_err(map_err)?,
                        used_at: r.try_get("used_at").map_err(map_err)?,
                        created_by: r.try_get("created_by").map_err(map_err)?,
                    })
                })
                .transpose()
            }

            async fn use_temporary_access_pass(&self, tenant: TenantId, id: Uuid, at: DateTime<Utc>) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE temporary_access_passes SET used_at = $1 WHERE tenant_id = $2 AND id = $3 AND used_at IS NULL",
                )
                .bind(at)
                .bind(tenant.as_uuid())
                .bind(id)
                .execute(&self.write)
                .await
                .map_err(map_err)?;
                Ok(done.rows_affected() == 1)
            }

            async fn delete_temporary_access_pass(&self, tenant: TenantId, user: UserId, id: Uuid, events: &Events) -> StoreResult<bool> {
                let mut tx = self.write.begin().await.map_err(map_err)?;
                let done = sqlx::query(
                    "DELETE FROM temporary_access_passes WHERE tenant_id = $1 AND user_id = $2 AND id = $3",
                )
                .bind(tenant.as_uuid())
                .bind(user.as_uuid())
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                insert_events(&mut tx, events).await?;
                tx.commit().await.map_err(map_err)?;
                Ok(true)
            }

            async fn insert_reset_flow(&self, f: &ResetFlowRecord) -> StoreResult<()> {
                sqlx::query(&format!(
                    "INSERT INTO reset_flows ({RESET_FLOW_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
                ))
                .bind(f.id)
                .bind(f.tenant_id.as_uuid())
                .bind(f.digest.to_vec())
                .bind(&f.login_name)
                .bind(f.user_id.map(|u| u.as_uuid()))
                .bind(&f.client_address)
                .bind(f.created_at)
                .bind(f.expires_at)
                .bind(methods_json(&f.verified))
                .bind(f.code_digest.map(|d| d.to_vec()))
                .bind(f.code_expires_at)
                .bind(i64::from(f.wrong_codes))
                .bind(f.completed_at)
                .execute(&self.write)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            async fn find_reset_flow(&self, digest: &[u8; 32]) -> StoreResult<Option<ResetFlowRecord>> {
                // The writer: a flow is read right after a write that must be visible.
                let row = sqlx::query(&format!("SELECT {RESET_FLOW_COLUMNS} FROM reset_flows WHERE digest = $1"))
                    .bind(digest.to_vec())
                    .fetch_optional(&self.write)
                    .await
                    .map_err(map_err)?;
                row.as_ref().map(reset_flow_from_row).transpose()
            }

            async fn count_reset_flows(
                &self,
                tenant: TenantId,
                login_name: &str,
                client_address: Option<&str>,
                since: DateTime<Utc>,
            ) -> StoreResult<(u64, u64)> {
                let row = sqlx::query(
                    "SELECT \
                       (SELECT COUNT(*) FROM reset_flows WHERE tenant_id = $1 AND login_name = $2 AND created_at >= $3) AS by_name, \
                       (SELECT COUNT(*) FROM reset_flows WHERE client_address = $4 AND created_at >= $3) AS by_address",
                )
                .bind(tenant.as_uuid())
                .bind(login_name)
                .bind(since)
                .bind(client_address)
                .fetch_one(&self.write)
                .await
                .map_err(map_err)?;
                let n = |col: &str| -> StoreResult<u64> {
                    let v: i64 = row.try_get(col).map_err(map_err)?;
                    Ok(u64::try_from(v).unwrap_or(0))
                };
                Ok((n("by_name")?, n("by_address")?))
            }

            async fn set_reset_code(
                &self,
                id: Uuid,
                code: &[u8; 32],
                expires_at: DateTime<Utc>,
                events: Option<&Events>,
            ) -> StoreResult<bool> {
                let mut tx = self.write.begin().await.map_err(map_err)?;
                let done = sqlx::query(
                    "UPDATE reset_flows SET code_digest = $1, code_expires_at = $2 \
                     WHERE id = $3 AND completed_at IS NULL AND wrong_codes < $4",
                )
                .bind(code.to_vec())
                .bind(expires_at)
                .bind(id)
                .bind(i64::from(latchkey_core::sspr::MAX_WRONG_CODES))
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                // The message carrying the code, queued with it.
                if let Some(events) = events {
                    insert_events(&mut tx, events).await?;
                }
                tx.commit().await.map_err(map_err)?;
                Ok(true)
            }

            async fn verify_reset_flow(
                &self,
                id: Uuid,
                code: Option<&[u8; 32]>,
                verified: &[VerificationMethod],
                at: DateTime<Utc>,
            ) -> StoreResult<bool> {
                let max = i64::from(latchkey_core::sspr::MAX_WRONG_CODES);
                let done = match code {
                    Some(code) => sqlx::query(
                        "UPDATE reset_flows SET verified = $1, code_digest = NULL, code_expires_at = NULL \
                         WHERE id = $2 AND completed_at IS NULL AND wrong_codes < $3 AND expires_at > $4 \
                         AND code_digest = $5 AND code_expires_at > $4",
                    )
                    .bind(methods_json(verified))
                    .bind(id)
                    .bind(max)
                    .bind(at)
                    .bind(code.to_vec())
                    .execute(&self.write)
                    .await,
                    None => sqlx::query(
                        "UPDATE reset_flows SET verified = $1 \
                         WHERE id = $2 AND completed_at IS NULL AND wrong_codes < $3 AND expires_at > $4",
                    )
                    .bind(methods_json(verified))
                    .bind(id)
                    .bind(max)
                    .bind(at)
                    .execute(&self.write)
                    .await,
                }
                .map_err(map_err)?;
                Ok(done.rows_affected() == 1)
            }

            async fn record_wrong_reset_code(&self, id: Uuid) -> StoreResult<u32> {
                let wrong: i64 = sqlx::query_scalar(
                    "UPDATE reset_flows SET wrong_codes = wrong_codes + 1 WHERE id = $1 RETURNING wrong_codes",
                )
                .bind(id)
                .fetch_one(&self.write)
                .await
                .map_err(map_err)?;
                u32::try_from(wrong).map_err(|e| corrupt("reset flow wrong codes", e))
            }

            async fn complete_reset_flow(
                &self,
                id: Uuid,
                at: DateTime<Utc>,
                password: &PasswordWrite,
                events: &Events,
            ) -> StoreResult<bool> {
                let mut tx = self.write.begin().await.map_err(map_err)?;
                let claimed = sqlx::query(
                    "UPDATE reset_flows SET completed_at = $1, code_digest = NULL \
                     WHERE id = $2 AND completed_at IS NULL AND expires_at > $1 AND user_id = $3",
                )
                .bind(at)
                .bind(id)
                .bind(password.user_id.as_uuid())
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
                if claimed.rows_affected() != 1 {
                    return Ok(false);
                }
                update_password(&mut tx, password).await?;
                insert_events(&mut tx, events).await?;
                tx.commit().await.map_err(map_err)?;
                Ok(true)
            }

            async fn purge_expired_reset_flows(&self, before: DateTime<Utc>) -> StoreResult<u64> {
                let gone = sqlx::query("DELETE FROM reset_flows WHERE expires_at < $1")
                    .bind(before)
                    .execute(&self.write)
                    .await
                    .map_err(map_err)?;
                Ok(gone.rows_affected())
            }

            async fn list_audit_events(&self, tenant: TenantId, limit: u32) -> StoreResult<Vec<AuditEvent>> {
                let rows = sqlx::query(
                    "SELECT id, tenant_id, activity_date_time, category, activity, operation_type, result, \
                     initiated_by_kind, initiated_by_id, initiated_by_display, target_id, target_display, \
                     channel, details FROM audit_events WHERE tenant_id = $1 \
                     ORDER BY activity_date_time DESC, seq DESC LIMIT $2",
                )
                .bind(tenant.as_uuid())
                .bind(i64::from(limit))
                .fetch_all(&self.read)
                .await
                .map_err(map_err)?;
                rows.iter().map(audit_from_row).collect()
            }

            async fn query_audit_events(&self, tenant: TenantId, query: &AuditQuery) -> StoreResult<Page<AuditEvent>> {
                let limit = i64::from(query.limit.clamp(1, 999));
                let mut qb: QueryBuilder<'_, $db> = QueryBuilder::new(
                    "SELECT seq, id, tenant_id, activity_date_time, category, activity, operation_type, result, \
                     initiated_by_kind, initiated_by_id, initiated_by_display, target_id, target_display, \
                     channel, details FROM audit_events WHERE tenant_id = ",
                );
                qb.push_bind(tenant.as_uuid());
                if let Some(from) = query.from {
                    qb.push(" AND activity_date_time >= ");
                    qb.push_bind(from);
                }
                if let Some(to) = query.to {
                    qb.push(" AND activity_date_time <= ");
                    qb.push_bind(to);
                }
                for (col, value) in [
                    ("initiated_by_id", &query.initiated_by),
                    ("activity", &query.activity),
                    ("category", &query.category),
                    ("target_id", &query.target_id),
                ] {
                    if let Some(v) = value {
                        qb.push(format!(" AND {col} = "));
                        qb.push_bind(v.clone());
                    }
                }
                if let Some(cursor) = &query.after {
                    qb.push(" AND seq < ");
                    qb.push_bind(decode_seq(cursor)?);
                }
                qb.push(" ORDER BY seq DESC LIMIT ");
                qb.push_bind(limit + 1);
                let rows = qb.build().fetch_all(&self.read).await.map_err(map_err)?;
                let has_more = rows.len() as i64 > limit;
                let mut items = Vec::with_capacity(rows.len());
                let mut next = None;
                for row in rows.iter().take(limit as usize) {
                    items.push(audit_from_row(row)?);
                    next = Some(row.try_get::<i64, _>("seq").map_err(map_err)?.to_string());
                }
                Ok(Page { items, next: if has_more { next } else { None } })
            }

            async fn query_sign_in_events(&self, tenant: TenantId, query: &SignInQuery) -> StoreResult<Page<SignInEvent>> {
                let limit = i64::from(query.limit.clamp(1, 999));
                let mut qb: QueryBuilder<'_, $db> = QueryBuilder::new(
                    "SELECT seq, id, tenant_id, created_at, user_id, user_principal_name, app_id, app_display_name, \
                     error_code, failure_reason FROM sign_in_events WHERE tenant_id = ",
                );
                qb.push_bind(tenant.as_uuid());
                if let Some(from) = query.from {
                    qb.push(" AND created_at >= ");
                    qb.push_bind(from);
                }
                if let Some(to) = query.to {
                    qb.push(" AND created_at <= ");
                    qb.push_bind(to);
                }
                if let Some(upn) = &query.user_principal_name {
                    qb.push(" AND lower(user_principal_name) = ");
                    qb.push_bind(upn.to_lowercase());
                }
                if let Some(user) = query.user_id {
                    qb.push(" AND user_id = ");
                    qb.push_bind(user.as_uuid());
                }
                if let Some(app) = &query.app_id {
                    qb.push(" AND app_id = ");
                    qb.push_bind(app.clone());
                }
                if let Some(code) = query.error_code {
                    qb.push(" AND error_code = ");
                    qb.push_bind(code);
                }
                if let Some(cursor) = &query.after {
                    qb.push(" AND seq < ");
                    qb.push_bind(decode_seq(cursor)?);
                }
                qb.push(" ORDER BY seq DESC LIMIT ");
                qb.push_bind(limit + 1);
                let rows = qb.build().fetch_all(&self.read).await.map_err(map_err)?;
                let has_more = rows.len() as i64 > limit;
                let mut items = Vec::with_capacity(rows.len());
                let mut next = None;
                for r in rows.iter().take(limit as usize) {
                    items.push(SignInEvent {
                        id: EventId::from_uuid(r.try_get("id").map_err(map_err)?),
                        tenant_id: TenantId::from_uuid(r.try_get("tenant_id").map_err(map_err)?),
                        created: r.try_get("created_at").map_err(map_err)?,
                        user_id: r.try_get::<Option<Uuid>, _>("user_id").map_err(map_err)?.map(UserId::from_uuid),
                        user_principal_name: r.try_get("user_principal_name").map_err(map_err)?,
                        app_id: r.try_get("app_id").map_err(map_err)?,
                        app_display_name: r.try_get("app_display_name").map_err(map_err)?,
                        error_code: r.try_get("error_code").map_err(map_err)?,
                        failure_reason: r.try_get("failure_reason").map_err(map_err)?,
                    });
                    next = Some(r.try_get::<i64, _>("seq").map_err(map_err)?.to_string());
                }
                Ok(Page { items, next: if has_more { next } else { None } })
            }

            async fn list_outbox_events(&self, tenant: TenantId, limit: u32) -> StoreResult<Vec<OutboxEvent>> {
                let rows = sqlx::query(
                    "SELECT id, tenant_id, occurred_at, kind, subject, payload FROM outbox_events \
                     WHERE tenant_id = $1 ORDER BY seq LIMIT $2",
                )
                .bind(tenant.as_uuid())
                .bind(i64::from(limit))
                .fetch_all(&self.read)
                .await
                .map_err(map_err)?;
                rows.iter()
                    .map(|row| {
                        let payload: String = row.try_get("payload").map_err(map_err)?;
                        Ok(OutboxEvent {
                            id: EventId::from_uuid(row.try_get("id").map_err(map_err)?),
                            tenant_id: TenantId::from_uuid(row.try_get("tenant_id").map_err(map_err)?),
                            occurred_at: row.try_get("occurred_at").map_err(map_err)?,
                            kind: row.try_get("kind").map_err(map_err)?,
                            subject: row.try_get::<Option<Uuid>, _>("subject").map_err(map_err)?.map(UserId::from_uuid),
                            payload: serde_json::from_str(&payload).map_err(|e| corrupt("outbox payload", e))?,
                        })
                    })
                    .collect()
            }
        }
    };
}

pub(crate) use impl_store;

#[cfg(test)]
mod prefix_tests {
    use super::prefix_successor;

    #[test]
    fn a_prefixs_successor_is_the_next_string_after_everything_it_starts() {
        assert_eq!(prefix_successor("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_successor("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_successor("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(prefix_successor("\u{10FFFF}"), None);
        assert_eq!(prefix_successor(""), None);
        for s in [
            "ab",
            "ab\u{10FFFF}",
            "ab\u{10FFFF}\u{10FFFF}z",
            "abz\u{10FFFF}",
        ] {
            assert!(s < prefix_successor("ab").unwrap().as_str(), "{s:?}");
        }
        assert!("ac" >= prefix_successor("ab").unwrap().as_str());
    }
}
