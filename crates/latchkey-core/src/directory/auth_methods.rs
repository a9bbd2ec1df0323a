//! A user's authentication methods: registering an authenticator app (two steps: the secret
//! is shown, then a current code proves the app has it), a recovery e-mail address and
//! recovery codes; removing them; and checking a second factor, at sign-in or for
//! self-service password reset ([`Directory::verify_totp_code`]).

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use uuid::Uuid;

use super::{Change, ClientRef, Directory, UserRef};
use crate::auth_method::{
    AuthMethodRecord, MethodKind, RecoveryCodeStatus, TOTP_SEAL_PURPOSE, generate_recovery_codes,
    generate_totp_secret, looks_like_recovery_code, matching_totp_step, otpauth_uri,
    parse_totp_secret_base32, recovery_code_digest, totp_secret_base32,
};
use crate::authz::{Action, Actor, authorize, may_use_own_methods};
use crate::error::DirectoryError;
use crate::ids::{EventId, TenantId};
use crate::sign_in::{SignInEvent, SignInState};
use crate::store::StoreError;
use crate::user::User;

/// A method as channels show it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthMethod {
    pub id: Uuid,
    pub kind: MethodKind,
    /// The e-mail address, or the authenticator app's name.
    pub display: String,
    pub created: DateTime<Utc>,
}

impl From<&AuthMethodRecord> for AuthMethod {
    fn from(r: &AuthMethodRecord) -> Self {
        Self {
            id: r.id,
            kind: r.kind,
            display: r.display.clone(),
            created: r.created,
        }
    }
}

/// The first step of registering an authenticator app: what the app must be given. It
/// exists only in this value (the store keeps the secret sealed) and is shown once.
pub struct TotpEnrollment {
    /// The pending method, named again when the user confirms with a code.
    pub method_id: Uuid,
    /// The secret in base32, for typing into the app.
    pub secret: SecretString,
    /// The `otpauth://` URI the QR code carries.
    pub uri: SecretString,
}

impl std::fmt::Debug for TotpEnrollment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpEnrollment")
            .field("method_id", &self.method_id)
            .finish_non_exhaustive()
    }
}

/// Which second factor a user proved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactor {
    AuthenticatorApp,
    /// A recovery code, now used up.
    RecoveryCode,
}

/// Why a second factor was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SecondFactorError {
    #[error("no authenticator app is registered for this account")]
    NoMethod,
    #[error("the code is not correct")]
    WrongCode,
    /// A code that was accepted once already (or one older than the last accepted).
    #[error("this code was already used; wait for the next one")]
    Replayed,
    #[error("too many wrong codes; try again later")]
    Locked,
    #[error("internal error: {0}")]
    Internal(String),
}

impl SecondFactorError {
    /// The AADSTS code Entra logs for it.
    pub fn aadsts(&self) -> i64 {
        match self {
            Self::NoMethod => 50072,
            Self::WrongCode | Self::Replayed => 500121,
            Self::Locked => 50053,
            Self::Internal(_) => 90033,
        }
    }
}

impl From<StoreError> for SecondFactorError {
    fn from(e: StoreError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<DirectoryError> for SecondFactorError {
    fn from(e: DirectoryError) -> Self {
        Self::Internal(e.to_string())
    }
}

/// What a sign-in owes after the right password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactorDue {
    /// Nothing: the password is enough.
    None,
    /// A code from the user's authenticator app (or a recovery code).
    Verify,
    /// The user has no authenticator but must use one (an administrator in a tenant that
    /// requires it, or `forceChangePasswordNextSignInWithMfa`): register it now.
    Register,
}

/// How long a sign-in may wait between the password and the second factor.
pub const SECOND_FACTOR_TICKET_LIFETIME: chrono::Duration = chrono::Duration::minutes(10);
const TICKET_PURPOSE: &str = "second-factor-ticket";

/// Where a sign-in stands between its steps, carried by the browser in a sealed ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketStage {
    /// The password was right; the second factor is due.
    PasswordVerified,
    /// Both factors were proved; a forced password change is due.
    SecondFactorVerified,
    /// A Temporary Access Pass (strong authentication on its own) was right and the user
    /// must create a password, without a current one to prove.
    TemporaryAccessPassVerified,
}

impl TicketStage {
    const fn as_str(self) -> &'static str {
        match self {
            Self::PasswordVerified => "pwd",
            Self::SecondFactorVerified => "mfa",
            Self::TemporaryAccessPassVerified => "tap",
        }
    }
}

/// The longest recovery e-mail address accepted (RFC 5321's path limit).
const MAX_EMAIL: usize = 254;

/// Checks the shape of a recovery e-mail address: one `@`, a local part, a domain with a dot,
/// nothing that is not printable, no spaces.
fn parse_email(address: &str) -> Result<String, DirectoryError> {
    let a = address.trim();
    let invalid = |m: &str| DirectoryError::invalid("emailAddress", m);
    if a.is_empty() {
        return Err(invalid("Type an e-mail address."));
    }
    if a.len() > MAX_EMAIL {
        return Err(invalid("The e-mail address is longer than 254 characters."));
    }
    if a.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("The e-mail address must not contain spaces."));
    }
    match a.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.') =>
        {
            Ok(a.to_owned())
        }
        _ => Err(invalid(
            "That is not an e-mail address; it should look like name@example.com.",
        )),
    }
}

impl Directory {
    /// Whether `actor` may read (`write` false) or change `user`'s methods: the user
    /// themselves on the self-service pages or with `UserAuthenticationMethod.*` scopes, or
    /// an authentication administrator / an app with `UserAuthenticationMethod.*.All`.
    pub(super) async fn authorize_methods(
        &self,
        actor: &Actor,
        tenant: TenantId,
        user: &User,
        write: bool,
    ) -> Result<(), DirectoryError> {
        if matches!(actor, Actor::User { id, .. } if *id == user.id)
            && may_use_own_methods(actor, write).is_ok()
        {
            return Ok(());
        }
        let roles = self.store.list_user_roles(tenant, user.id).await?;
        let action = if write {
            Action::ManageAuthMethods
        } else {
            Action::ReadAuthMethods
        };
        authorize(actor, action, &roles)?;
        Ok(())
    }

    /// Only the user may register their own methods (an administrator cannot read their
    /// secrets, nor receive their recovery codes).
    async fn own_user(
        &self,
        actor: &Actor,
        tenant: TenantId,
        target: &UserRef,
    ) -> Result<User, DirectoryError> {
        let me = may_use_own_methods(actor, true)?;
        let user = self.active_user(tenant, target).await?;
        if user.id != me {
            return Err(crate::authz::Denied(
                "Security info is registered by the user it belongs to, on their own My account page.".into(),
            )
            .into());
        }
        Ok(user)
    }

    fn method_change<'a>(
        &self,
        actor: &'a Actor,
        tenant: TenantId,
        user: &'a User,
        registered: bool,
        method: &str,
    ) -> crate::audit::Events {
        let by_user = matches!(actor, Actor::User { id, .. } if *id == user.id);
        let activity = match (registered, by_user) {
            (true, true) => "User registered security info",
            (true, false) => "Admin registered security info",
            (false, true) => "User deleted security info",
            (false, false) => "Admin deleted security info",
        };
        self.events(Change {
            actor,
            tenant,
            category: "UserManagement",
            activity,
            operation_type: if registered { "Add" } else { "Delete" },
            target: Some(user),
            other_target: None,
            details: vec![("authenticationMethod".into(), method.to_owned())],
            outbox_kind: if registered {
                "user.authenticationMethodAdded"
            } else {
                "user.authenticationMethodRemoved"
            },
            payload: json!({ "method": method }),
        })
    }

    /// The user's registered (active) methods.
    pub async fn auth_methods(
        &self,
        actor: &Actor,
        tenant: TenantId,
        target: &UserRef,
    ) -> Result<Vec<AuthMethod>, DirectoryError> {
        let user = self.active_user(tenant, target).await?;
        self.authorize_methods(actor, tenant, &user, false).await?;
        Ok(self
            .store
            .list_auth_methods(tenant, user.id)
            .await?
            .iter()
            .filter(|m| m.is_active())
            .map(AuthMethod::from)
            .collect())
    }

    /// How many recovery codes the user has left.
    pub async fn recovery_codes(
        &self,
        actor: &Actor,
        tenant: TenantId,
        target: &UserRef,
    ) -> Result<RecoveryCodeStatus, DirectoryError> {
        let user = self.active_user(tenant, target).await?;
        self.authorize_methods(actor, tenant, &user, false).await?;
        Ok(self.store.recovery_code_status(tenant, user.id).await?)
    }

    /// Step one of registering an authenticator app: a fresh secret, sealed into a pending
    /// method (replacing an earlier pending one), returned once for the QR code.
    pub async fn begin_totp_registration(
        &self,
        actor: &Actor,
        tenant_id: TenantId,
        target: &UserRef,
    ) -> Result<TotpEnrollment, DirectoryError> {
        let user = self.own_user(actor, tenant_id, target).await?;
        let existing = self.store.list_auth_methods(tenant_id, user.id).await?;
        if existing
            .iter()
            .any(|m| m.kind == MethodKind::SoftwareOath && m.is_active())
        {
            return Err(DirectoryError::Conflict(
                "An authenticator app is already registered. Remove it before registering another."
                    .into(),
            ));
        }
        let tenant = self.tenant(tenant_id).await?;
        let secret = generate_totp_secret();
        let sealed = self
            .master_key()?
            .seal(TOTP_SEAL_PURPOSE, secret.expose_secret())
            .map_err(|e| DirectoryError::Internal(e.to_string()))?;
        let record = AuthMethodRecord {
            id: Uuid::new_v4(),
            tenant_id,
            user_id: user.id,
            kind: MethodKind::SoftwareOath,
            display: MethodKind::SoftwareOath.display_name().into(),
            sealed_secret: Some(sealed),
            created: self.clock.now(),
            activated: None,
            last_used_step: None,
        };
        self.store.insert_auth_method(&record, None).await?;
        let b32 = totp_secret_base32(secret.expose_secret());
        let uri = otpauth_uri(
            &tenant.display_name,
            user.user_principal_name.as_str(),
            &b32,
        );
        Ok(TotpEnrollment {
            method_id: record.id,
            secret: b32,
            uri,
        })
    }

    /// Imports an authenticator secret from another system (a migration, or tokens handed
    /// out before Latchkey), active at once: only the local operator may, as secrets must not
    /// travel through a web form. The secret is base32 as apps and exports write it; one that
    /// is not base32 or carries fewer than 128 bits is refused, naming the problem, and
    /// nothing is stored. Audited like a registration.
    pub async fn import_totp_method(
        &self,
        actor: &Actor,
        tenant_id: TenantId,
        target: &UserRef,
        secret_base32: &SecretString,
    ) -> Result<AuthMethod, DirectoryError> {
        if !matches!(actor, Actor::Operator { .. }) {
            return Err(crate::authz::Denied(
                "Authenticator secrets are imported by the local operator only (latchkey users import-authenticator).".into(),
            )
            .into());
        }
        let user = self.active_user(tenant_id, target).await?;
        let Some(secret) = parse_totp_secret_base32(secret_base32.expose_secret()) else {
            return Err(DirectoryError::invalid(
                "secret",
                "not a usable authenticator secret: expected base32 (letters A-Z and digits 2-7) carrying at least 128 bits (26 characters)",
            ));
        };
        let existing = self.store.list_auth_methods(tenant_id, user.id).await?;
        if existing
            .iter()
            .any(|m| m.kind == MethodKind::SoftwareOath && m.is_active())
        {
            return Err(DirectoryError::Conflict(
                "An authenticator app is already registered. Remove it before importing another."
                    .into(),
            ));
        }
        let sealed = self
            .master_key()?
            .seal(TOTP_SEAL_PURPOSE, secret.expose_secret())
            .map_err(|e| DirectoryError::Internal(e.to_string()))?;
        let now = self.clock.now();
        let record = AuthMethodRecord {
            id: Uuid::new_v4(),
            tenant_id,
            user_id: user.id,
            kind: MethodKind::SoftwareOath,
            display: MethodKind::SoftwareOath.display_name().into(),
            sealed_secret: Some(sealed),
            created: now,
            activated: Some(now),
            last_used_step: None,
        };
        let events = self.method_change(actor, tenant_id, &user, true, "Authenticator app");
        self.store
            .insert_auth_method(&record, Some(&events))
            .await?;
        Ok(AuthMethod::from(&record))
    }

    /// The pending registration again (its QR code and secret), for the user who started it:
    /// to show the page once more after a mistyped code.
    pub async fn pending_totp_registration(
        &self,
        actor: &Actor,
        tenant_id: TenantId,
        target: &UserRef,
        method_id: Uuid,
    ) -> Result<TotpEnrollment, DirectoryError> {
        let user = self.own_user(actor, tenant_id, target).await?;
        let pending = self
            .store
            .list_auth_methods(tenant_id, user.id)
            .await?
            .into_iter()
            .find(|m| m.id == method_id && !m.is_active() && m.kind == MethodKind::SoftwareOath)
            .ok_or_else(|| {
                DirectoryError::not_found(format!("Pending registration '{method_id}'"))
            })?;
        let tenant = self.tenant(tenant_id).await?;
        let secret = self.open_totp(&pending)?;
        let b32 = totp_secret_base32(secret.expose_secret());
        let uri = otpauth_uri(
            &tenant.display_name,
            user.user_principal_name.as_str(),
            &b32,
        );
        Ok(TotpEnrollment {
            method_id,
            secret: b32,
            uri,
        })
    }

    /// Step two: a current code from the app finishes the registration (audited). The code
    /// is then used up, like any accepted code.
    pub async fn finish_totp_registration(
        &self,
        actor: &Actor,
        tenant: TenantId,
        target: &UserRef,
        method_id: Uuid,
        code: &str,
    ) -> Result<AuthMethod, DirectoryError> {
        let user = self.own_user(actor, tenant, target).await?;
        let pending = self
            .store
            .list_auth_methods(tenant, user.id)
            .await?
            .into_iter()
            .find(|m| m.id == method_id && !m.is_active() && m.kind == MethodKind::SoftwareOath)
            .ok_or_else(|| {
                DirectoryError::invalid(
                    "code",
                    "This registration has expired or was already finished. Start again.",
                )
            })?;
        let secret = self.open_totp(&pending)?;
        let now = self.clock.now();
        let Some(step) = matching_totp_step(secret.expose_secret(), code, now) else {
            return Err(DirectoryError::invalid(
                "code",
                "The code is not correct. Type the 6-digit code your authenticator app shows now.",
            ));
        };
        let events = self.method_change(actor, tenant, &user, true, "Authenticator app");
        if !self
            .store
            .activate_auth_method(tenant, user.id, method_id, now, step, &events)
            .await?
        {
            return Err(DirectoryError::invalid(
                "code",
                "This registration has expired or was already finished. Start again.",
            ));
        }
        let mut done = pending;
        done.activated = Some(now);
        Ok(AuthMethod::from(&done))
    }

    /// Adds a recovery e-mail address (one per user, as in Entra).
    pub async fn add_email_method(
        &self,
        actor: &Actor,
        tenant: TenantId,
        target: &UserRef,
        address: &str,
    ) -> Result<AuthMethod, DirectoryError> {
        let address = parse_email(address)?;
        let user = self.active_user(tenant, target).await?;
        self.authorize_methods(actor, tenant, &user, true).await?;
        let existing = self.store.list_auth_methods(tenant, user.id).await?;
        if existing.iter().any(|m| m.kind == MethodKind::Email) {
            return Err(DirectoryError::Conflict(
                "A recovery e-mail address is already registered. Remove it before adding another."
                    .into(),
            ));
        }
        let now = self.clock.now();
        let record = AuthMethodRecord {
            id: Uuid::new_v4(),
            tenant_id: tenant,
            user_id: user.id,
            kind: MethodKind::Email,
            display: address,
            sealed_secret: None,
            created: now,
            activated: Some(now),
            last_used_step: None,
        };
        let events = self.method_change(actor, tenant, &user, true, "Email");
        self.store
            .insert_auth_method(&record, Some(&events))
            .await?;
        Ok(AuthMethod::from(&record))
    }

    /// Removes one of the user's methods (audited). Another user's method is not found.
    pub async fn remove_auth_method(
        &self,
        actor: &Actor,
        tenant: TenantId,
        target: &UserRef,
        method_id: Uuid,
    ) -> Result<(), DirectoryError> {
        let user = self.active_user(tenant, target).await?;
        self.authorize_methods(actor, tenant, &user, true).await?;
        let not_found =
            || DirectoryError::not_found(format!("Authentication method '{method_id}'"));
        let method = self
            .store
            .list_auth_methods(tenant, user.id)
            .await?
            .into_iter()
            .find(|m| m.id == method_id && m.is_active())
            .ok_or_else(not_found)?;
        let events = self.method_change(actor, tenant, &user, false, method.kind.display_name());
        if !self
            .store
            .delete_auth_method(tenant, user.id, method_id, &events)
            .await?
        {
            return Err(not_found());
        }
        Ok(())
    }

    /// Ten new recovery codes, replacing any earlier ones (audited). They exist only in the
    /// returned value: the store keeps digests.
    pub async fn generate_recovery_codes(
        &self,
        actor: &Actor,
        tenant: TenantId,
        target: &UserRef,
    ) -> Result<Vec<SecretString>, DirectoryError> {
        let user = self.own_user(actor, tenant, target).await?;
        let codes = generate_recovery_codes();
        let digests: Vec<[u8; 32]> = codes
            .iter()
            .map(|c| recovery_code_digest(user.id, c.expose_secret()))
            .collect();
        let events = self.method_change(actor, tenant, &user, true, "Recovery codes");
        self.store
            .replace_recovery_codes(tenant, user.id, &digests, self.clock.now(), &events)
            .await?;
        Ok(codes)
    }

    /// A ticket saying that `user` reached `stage` of a sign-in, for the browser to carry to
    /// the next step: sealed under the master key (nobody can forge or read it), bound to
    /// `binding` (a value only the browser that signed in can present, e.g. derived from its
    /// flow cookie), good for [`SECOND_FACTOR_TICKET_LIFETIME`].
    pub fn sign_in_ticket(
        &self,
        user: &User,
        stage: TicketStage,
        binding: &str,
    ) -> Result<String, DirectoryError> {
        use base64::Engine;
        let payload = format!(
            "{}|{}|{}|{}|{}",
            user.tenant_id,
            user.id,
            stage.as_str(),
            self.clock.now().timestamp(),
            binding
        );
        let sealed = self
            .master_key()?
            .seal(TICKET_PURPOSE, payload.as_bytes())
            .map_err(|e| DirectoryError::Internal(e.to_string()))?;
        Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sealed))
    }

    /// The user a ticket names, if it is genuine, for `stage`, bound to `binding`, not
    /// expired, and the user can still sign in (and has not changed their password or had
    /// their sessions revoked since it was issued). Anything else: `None`.
    pub async fn open_sign_in_ticket(
        &self,
        tenant: TenantId,
        ticket: &str,
        stage: TicketStage,
        binding: &str,
    ) -> Result<Option<User>, DirectoryError> {
        use base64::Engine;
        use subtle::ConstantTimeEq;
        let Ok(sealed) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(ticket.trim())
        else {
            return Ok(None);
        };
        let Ok(plain) = self.master_key()?.open(TICKET_PURPOSE, &sealed) else {
            return Ok(None);
        };
        let text = String::from_utf8(plain).unwrap_or_default();
        let parts: Vec<&str> = text.splitn(5, '|').collect();
        let [t, u, s, at, bound] = parts.as_slice() else {
            return Ok(None);
        };
        let issued = at
            .parse::<i64>()
            .ok()
            .and_then(|ts| DateTime::<Utc>::from_timestamp(ts, 0));
        let now = self.clock.now();
        let fresh = issued.is_some_and(|i| now < i + SECOND_FACTOR_TICKET_LIFETIME);
        let ok = *t == tenant.to_string()
            && *s == stage.as_str()
            && fresh
            && bool::from(bound.as_bytes().ct_eq(binding.as_bytes()));
        let Some(id) = u.parse().ok().filter(|_| ok) else {
            return Ok(None);
        };
        let Some(issued) = issued else {
            return Ok(None);
        };
        Ok(self.find_active_user(tenant, id).await?.filter(|user| {
            user.account_enabled
                && issued.timestamp() >= user.sign_in_sessions_valid_from.timestamp()
        }))
    }

    /// What a sign-in of `user` owes after the right password: a code when they have an
    /// authenticator; a registration when they have none but must use one (the tenant's
    /// "require a second factor for administrators" and a role, or a forced change with
    /// `forceChangePasswordNextSignInWithMfa`); otherwise nothing.
    pub async fn second_factor_due(
        &self,
        tenant_id: TenantId,
        user: &User,
    ) -> Result<SecondFactorDue, DirectoryError> {
        if self.has_second_factor(tenant_id, user).await? {
            return Ok(SecondFactorDue::Verify);
        }
        if user.force_change_password_next_sign_in
            && user.force_change_password_next_sign_in_with_mfa
        {
            return Ok(SecondFactorDue::Register);
        }
        let tenant = self.tenant(tenant_id).await?;
        if tenant.require_mfa_for_admins
            && !self
                .store
                .list_user_roles(tenant_id, user.id)
                .await?
                .is_empty()
        {
            return Ok(SecondFactorDue::Register);
        }
        Ok(SecondFactorDue::None)
    }

    /// The user acting on their own account during a sign-in they proved the password of.
    async fn signing_in(&self, tenant: TenantId, user: &User) -> Result<Actor, DirectoryError> {
        Ok(Actor::User {
            id: user.id,
            display: user.user_principal_name.to_string(),
            roles: self.store.list_user_roles(tenant, user.id).await?,
            scopes: None,
            channel: crate::authz::Channel::SelfService,
        })
    }

    /// Registration of an authenticator in the middle of a sign-in (the password was
    /// proved; the sign-in pages hold a ticket that says so): step one.
    pub async fn begin_totp_registration_at_sign_in(
        &self,
        tenant: TenantId,
        user: &User,
    ) -> Result<TotpEnrollment, DirectoryError> {
        let actor = self.signing_in(tenant, user).await?;
        self.begin_totp_registration(&actor, tenant, &UserRef::Id(user.id))
            .await
    }

    /// The pending registration again, after a mistyped code at sign-in.
    pub async fn pending_totp_registration_at_sign_in(
        &self,
        tenant: TenantId,
        user: &User,
        method_id: Uuid,
    ) -> Result<TotpEnrollment, DirectoryError> {
        let actor = self.signing_in(tenant, user).await?;
        self.pending_totp_registration(&actor, tenant, &UserRef::Id(user.id), method_id)
            .await
    }

    /// Step two at sign-in: the code finishes the registration (audited as the user).
    pub async fn finish_totp_registration_at_sign_in(
        &self,
        tenant: TenantId,
        user: &User,
        method_id: Uuid,
        code: &str,
    ) -> Result<AuthMethod, DirectoryError> {
        let actor = self.signing_in(tenant, user).await?;
        self.finish_totp_registration(&actor, tenant, &UserRef::Id(user.id), method_id, code)
            .await
    }

    /// Whether the user has an authenticator app, so that a sign-in must ask for a code.
    pub async fn has_second_factor(
        &self,
        tenant: TenantId,
        user: &User,
    ) -> Result<bool, DirectoryError> {
        Ok(self
            .store
            .list_auth_methods(tenant, user.id)
            .await?
            .iter()
            .any(|m| m.kind == MethodKind::SoftwareOath && m.is_active()))
    }

    fn open_totp(
        &self,
        m: &AuthMethodRecord,
    ) -> Result<secrecy::SecretBox<Vec<u8>>, DirectoryError> {
        let sealed = m.sealed_secret.as_deref().ok_or_else(|| {
            DirectoryError::Internal("an authenticator method has no secret".into())
        })?;
        let raw = self
            .master_key()?
            .open(TOTP_SEAL_PURPOSE, sealed)
            .map_err(|e| DirectoryError::Internal(e.to_string()))?;
        Ok(secrecy::SecretBox::new(Box::new(raw)))
    }

    /// Checks a code from the user's authenticator app: ±1 time step, compared in constant
    /// time, and used up, so the same code (or an older one) is refused afterwards, on every
    /// node. No attempt counting: callers (sign-in, self-service reset) limit attempts.
    pub async fn verify_totp_code(
        &self,
        tenant: TenantId,
        user: &User,
        code: &str,
    ) -> Result<(), SecondFactorError> {
        let methods = self.store.list_auth_methods(tenant, user.id).await?;
        let Some(method) = methods
            .iter()
            .find(|m| m.kind == MethodKind::SoftwareOath && m.is_active())
        else {
            return Err(SecondFactorError::NoMethod);
        };
        let secret = self.open_totp(method)?;
        let Some(step) = matching_totp_step(secret.expose_secret(), code, self.clock.now()) else {
            return Err(SecondFactorError::WrongCode);
        };
        if self
            .store
            .use_totp_step(tenant, user.id, method.id, step)
            .await?
        {
            Ok(())
        } else {
            Err(SecondFactorError::Replayed)
        }
    }

    /// The second step of a sign-in: a code from the authenticator app, or a recovery code
    /// (used up). Wrong and replayed codes count toward a lockout of their own (ten in a
    /// row lock for a minute, doubling), kept apart from password failures so that knowing
    /// the password does not reset it; each is logged in the sign-in log.
    pub async fn verify_second_factor(
        &self,
        tenant: TenantId,
        user: &User,
        code: &str,
        client: &ClientRef,
    ) -> Result<SecondFactor, SecondFactorError> {
        let now = self.clock.now();
        let first = self.store.find_second_factor_state(tenant, user.id).await?;
        let event = |e: &SecondFactorError| SignInEvent {
            id: EventId::new(),
            tenant_id: tenant,
            created: now,
            user_id: Some(user.id),
            user_principal_name: user.user_principal_name.to_string(),
            app_id: client.app_id.clone(),
            app_display_name: client.display_name.clone(),
            error_code: e.aadsts(),
            failure_reason: Some(e.to_string()),
        };
        if first.unwrap_or_default().locked_at(now) {
            let e = SecondFactorError::Locked;
            self.store.record_sign_in(&event(&e), None).await?;
            return Err(e);
        }
        let outcome = if looks_like_recovery_code(code) {
            let digest = recovery_code_digest(user.id, code);
            if self
                .store
                .use_recovery_code(tenant, user.id, &digest, now)
                .await?
            {
                Ok(SecondFactor::RecoveryCode)
            } else {
                Err(SecondFactorError::WrongCode)
            }
        } else {
            match self.verify_totp_code(tenant, user, code).await {
                Ok(()) => Ok(SecondFactor::AuthenticatorApp),
                Err(e @ (SecondFactorError::WrongCode | SecondFactorError::Replayed)) => Err(e),
                Err(other) => return Err(other),
            }
        };
        let logged = outcome.as_ref().err().map(event);
        let lockout = if outcome.is_ok() {
            crate::sign_in::SmartLockout::default()
        } else {
            self.lockout_settings(tenant).await?
        };
        let mut current = first;
        for _ in 0..64 {
            let state: SignInState = current.unwrap_or_default();
            let next = if outcome.is_ok() {
                state.after_success(now)
            } else {
                state.after_failure(now, lockout)
            };
            match self
                .store
                .record_second_factor_attempt(tenant, user.id, logged.as_ref(), current, next)
                .await
            {
                Ok(()) => return outcome,
                Err(StoreError::Stale) => {
                    current = self.store.find_second_factor_state(tenant, user.id).await?;
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(SecondFactorError::Internal(
            "the second-factor state kept changing; gave up".into(),
        ))
    }
}
