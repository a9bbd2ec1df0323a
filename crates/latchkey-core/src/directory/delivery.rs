//! View-once delivery: an administrator resets a password and Latchkey e-mails the user (or
//! their manager) a link, never the password. See [`crate::delivery`] for what is stored.
//!
//! The reset, the sealed delivery and the queued message are one transaction: the password
//! is never changed without its link on the way, nor a link queued for a reset that failed.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::mail::user_addresses;
use super::{Change, Directory, PasswordChoice, SetPassword, UserRef};
use crate::authz::{Action, Actor, Channel, authorize};
use crate::delivery::{VIEW_ONCE_PURPOSE, ViewOnceRecord};
use crate::error::DirectoryError;
use crate::ids::{TenantId, UserId};
use crate::mail::{MailAddress, MailContent};

/// Where a view-once link goes and how long it works.
#[derive(Debug, Clone)]
pub struct ViewOnceLink {
    /// One of the user's addresses ([`Directory::delivery_recipients`]).
    pub to: MailAddress,
    /// The page's URL up to the token, e.g. `https://id.contoso.test/account/delivered/`.
    pub link_prefix: String,
    /// `None`: the server's setting ([`crate::delivery::DeliverySettings`], by default
    /// [`crate::delivery::DEFAULT_LIFETIME`]).
    pub lifetime: Option<Duration>,
}

/// What the administrator learns: where the link went and until when it works. Never the
/// password, never the link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveredPassword {
    pub user_id: UserId,
    pub to: MailAddress,
    pub expires_at: DateTime<Utc>,
}

/// The password behind a link, revealed once.
#[derive(Debug)]
pub struct RevealedPassword {
    pub user_principal_name: String,
    pub password: SecretString,
}

/// The one answer for a link that cannot be used, whatever the reason (unknown, already
/// opened, expired, or its password replaced since): the page says no more than that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this link has expired or was already used")]
pub struct ViewOnceGone;

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Directory {
    /// Who may receive a user's view-once link, the one list both the offer and the check
    /// use: the user's own addresses (`mail`, `otherMails`), then their manager's (a new
    /// hire has no mailbox of their own yet; their manager hands the link over).
    async fn recipients_of(
        &self,
        user: &crate::user::User,
    ) -> Result<Vec<MailAddress>, DirectoryError> {
        let mut to = user_addresses(user);
        if let Some(manager) = self.store.find_manager(user.tenant_id, user.id).await?
            && let Some(manager) = self.store.find_user(user.tenant_id, manager).await?
            && !manager.is_deleted()
        {
            for a in user_addresses(&manager) {
                if !to.contains(&a) {
                    to.push(a);
                }
            }
        }
        Ok(to)
    }

    /// The addresses a user's password may be delivered to: their `mail` and `otherMails`,
    /// and their manager's.
    pub async fn delivery_recipients(
        &self,
        actor: &Actor,
        tenant: TenantId,
        user: UserId,
    ) -> Result<Vec<MailAddress>, DirectoryError> {
        let user = self.get_user(actor, tenant, &UserRef::Id(user)).await?;
        self.recipients_of(&user).await
    }

    /// Resets a user's password to a generated one and e-mails them a view-once link to it,
    /// for a form filled in when the user was at `seen_version` (`Stale` otherwise, as
    /// [`Directory::set_password_as_seen`]). Authorized as a reset; the recipient must be one
    /// of [`Directory::delivery_recipients`].
    pub async fn reset_password_with_delivery(
        &self,
        actor: &Actor,
        tenant_id: TenantId,
        user_id: UserId,
        seen_version: i64,
        request: SetPassword,
        link: ViewOnceLink,
    ) -> Result<DeliveredPassword, DirectoryError> {
        let user = self.active_user(tenant_id, &UserRef::Id(user_id)).await?;
        let roles = self.store.list_user_roles(tenant_id, user.id).await?;
        authorize(actor, Action::ResetPassword, &roles)?;
        if user.version != seen_version {
            return Err(DirectoryError::Stale);
        }
        if !matches!(request.choice, PasswordChoice::Generate) {
            return Err(DirectoryError::invalid(
                "delivery",
                "only a generated password can be sent by e-mail; a password you typed is yours to pass on",
            ));
        }
        let allowed = self.recipients_of(&user).await?;
        if !allowed
            .iter()
            .any(|a| a.as_str().eq_ignore_ascii_case(link.to.as_str()))
        {
            return Err(DirectoryError::invalid(
                "recipient",
                format!(
                    "{} is not one of this user's e-mail addresses (mail, otherMails) nor their manager's",
                    link.to
                ),
            ));
        }
        self.deliver_generated_password(actor, tenant_id, &user, request, link, None)
            .await?
            .ok_or_else(|| DirectoryError::Internal("the delivery was already queued".into()))
    }

    /// The reset, its sealed delivery and the queued link, in one transaction. With
    /// `mail_id`, a message of that id already queued (the same workflow step's) writes
    /// nothing and returns `None`.
    async fn deliver_generated_password(
        &self,
        actor: &Actor,
        tenant_id: TenantId,
        user: &crate::user::User,
        request: SetPassword,
        link: ViewOnceLink,
        mail_id: Option<crate::mail::MailId>,
    ) -> Result<Option<DeliveredPassword>, DirectoryError> {
        let lifetime = link.lifetime.unwrap_or(self.delivery.lifetime);
        if !(crate::delivery::MIN_LIFETIME..=crate::delivery::MAX_LIFETIME).contains(&lifetime) {
            return Err(DirectoryError::invalid(
                "lifetime",
                "a view-once link must live between 10 minutes and 7 days",
            ));
        }
        let key = self.master_key()?.clone();
        let tenant = self.tenant(tenant_id).await?;

        let mut prepared = self
            .prepare_password(actor, tenant_id, user, request)
            .await?;
        let password = prepared
            .generated
            .take()
            .ok_or_else(|| DirectoryError::Internal("no generated password".into()))?;
        let now = prepared.write.changed_at;
        let expires_at = now + lifetime;
        let sealed = key
            .seal(VIEW_ONCE_PURPOSE, password.expose_secret().as_bytes())
            .map_err(|e| DirectoryError::Internal(e.to_string()))?;
        drop(password);

        let mut raw = [0u8; 32];
        OsRng.fill_bytes(&mut raw);
        let token = SecretString::from(URL_SAFE_NO_PAD.encode(raw));
        let by = crate::audit::Initiator::of(actor).display;
        prepared.events.deliveries.push(ViewOnceRecord {
            id: Uuid::new_v4(),
            tenant_id,
            user_id: user.id,
            digest: digest(token.expose_secret()),
            sealed_secret: Some(sealed),
            created_at: now,
            expires_at,
            opened_at: None,
            created_by: by.clone(),
        });
        let content = MailContent::ViewOnceLink {
            display_name: user.display_name.to_string(),
            user_principal_name: user.user_principal_name.to_string(),
            link: SecretString::from(format!("{}{}", link.link_prefix, token.expose_secret())),
            expires_at,
            sent_by: by,
        };
        let mut mail = self.seal_mail(&tenant, vec![link.to.clone()], &content)?;
        if let Some(id) = mail_id {
            mail.id = id;
        }
        prepared.events.mail.push(mail);
        prepared.events.audit.details.extend([
            ("passwordDelivery".into(), "viewOnceLink".into()),
            ("deliveredTo".into(), link.to.to_string()),
        ]);
        match self
            .store
            .write_password(&prepared.write, &prepared.events)
            .await
        {
            Err(crate::store::StoreError::Conflict(_)) if mail_id.is_some() => return Ok(None),
            other => other?,
        }
        self.mail_queued(&prepared.events);
        Ok(Some(DeliveredPassword {
            user_id: user.id,
            to: link.to,
            expires_at,
        }))
    }

    /// A workflow's `resetPassword` step: a generated password (the tenant's policy), a
    /// change required at next sign-in, and a view-once link to it e-mailed to the user
    /// (`mail`, then `otherMails`) or their manager, in one transaction, audited as a reset.
    /// The message's id is derived from the run and step, so a step taken over after a crash
    /// that had already made its reset makes none and sends nothing: `None` then. Fails,
    /// naming `steps[N].deliverTo`, when this server sends no e-mail or the recipient has no
    /// address.
    pub async fn reset_password_for_workflow_step(
        &self,
        actor: &Actor,
        step: &crate::workflow_store::ClaimedStep,
        deliver_to: crate::workflow_http::DeliverTo,
        link_prefix: &str,
    ) -> Result<Option<DeliveredPassword>, DirectoryError> {
        use crate::workflow_http::DeliverTo;
        let field = format!("steps[{}].deliverTo", step.position);
        if !self.delivery.mail_enabled {
            return Err(DirectoryError::invalid(
                field,
                "this server sends no e-mail (start it with --smtp-host), so the view-once \
                 link cannot be delivered; nothing was reset",
            ));
        }
        let tenant_id = step.tenant_id;
        let user = self
            .active_user(tenant_id, &UserRef::Id(step.user_id))
            .await?;
        let roles = self.store.list_user_roles(tenant_id, user.id).await?;
        authorize(actor, Action::ResetPassword, &roles)?;
        let to = match deliver_to {
            DeliverTo::User => user_addresses(&user).into_iter().next().ok_or_else(|| {
                DirectoryError::invalid(
                    field.as_str(),
                    format!(
                        "{} has no e-mail address (mail, otherMails); nothing was reset",
                        user.user_principal_name
                    ),
                )
            })?,
            DeliverTo::Manager => {
                let manager = match self.store.find_manager(tenant_id, user.id).await? {
                    Some(id) => self
                        .store
                        .find_user(tenant_id, id)
                        .await?
                        .filter(|m| !m.is_deleted()),
                    None => None,
                };
                let manager = manager.ok_or_else(|| {
                    DirectoryError::invalid(
                        field.as_str(),
                        format!(
                            "{} has no manager to deliver to; nothing was reset",
                            user.user_principal_name
                        ),
                    )
                })?;
                user_addresses(&manager).into_iter().next().ok_or_else(|| {
                    DirectoryError::invalid(
                        field.as_str(),
                        format!(
                            "the manager {} has no e-mail address (mail, otherMails); nothing \
                             was reset",
                            manager.user_principal_name
                        ),
                    )
                })?
            }
        };
        let request = SetPassword {
            choice: PasswordChoice::Generate,
            force_change_next_sign_in: true,
            force_change_with_mfa: false,
            reason: Some(format!("workflow '{}'", step.workflow_name)),
        };
        let link = ViewOnceLink {
            to,
            link_prefix: link_prefix.to_owned(),
            lifetime: None,
        };
        self.deliver_generated_password(
            actor,
            tenant_id,
            &user,
            request,
            link,
            Some(step_delivery_mail_id(step)),
        )
        .await
    }

    /// Whether a link can still be revealed, without using it (for the interstitial page
    /// that mail scanners' prefetches may load freely). Returns the user's UPN.
    pub async fn view_once_pending(&self, token: &str) -> Result<String, ViewOnceGone> {
        let (_, user) = self.usable_view_once(token).await?;
        Ok(user.user_principal_name.to_string())
    }

    /// Reveals the password behind a link, once: the opening (and its audit event) is
    /// recorded and the sealed password wiped in one transaction before it is returned.
    pub async fn reveal_view_once(&self, token: &str) -> Result<RevealedPassword, ViewOnceGone> {
        let (record, user) = self.usable_view_once(token).await?;
        let sealed = record.sealed_secret.as_deref().ok_or(ViewOnceGone)?;
        let internal = |e: &dyn std::fmt::Display| {
            tracing::error!("a view-once link could not be revealed: {e}");
            ViewOnceGone
        };
        let key = self.master_key().map_err(|e| internal(&e))?;
        let bytes = key
            .open(VIEW_ONCE_PURPOSE, sealed)
            .map_err(|e| internal(&e))?;
        let password = SecretString::from(String::from_utf8(bytes).map_err(|e| internal(&e))?);
        let link_holder = Actor::Operator {
            channel: Channel::SelfService,
        };
        let mut events = self.events(Change {
            actor: &link_holder,
            tenant: record.tenant_id,
            category: "UserManagement",
            activity: "Reveal delivered password",
            operation_type: "Update",
            target: Some(&user),
            other_target: None,
            details: vec![
                ("deliveryId".into(), record.id.to_string()),
                ("deliveredBy".into(), record.created_by.clone()),
            ],
            outbox_kind: "user.passwordDeliveryOpened",
            payload: json!({ "deliveryId": record.id.to_string() }),
        });
        events.audit.initiated_by.display = "holder of a view-once link".into();
        let opened = self
            .store
            .open_view_once(record.id, self.clock.now(), &events)
            .await
            .map_err(|e| internal(&e))?;
        if !opened {
            return Err(ViewOnceGone);
        }
        Ok(RevealedPassword {
            user_principal_name: user.user_principal_name.to_string(),
            password,
        })
    }

    /// A link's delivery and user if it can be revealed now: known, unopened, unexpired,
    /// its secret still there, and the user's password still the one it delivers.
    async fn usable_view_once(
        &self,
        token: &str,
    ) -> Result<(ViewOnceRecord, crate::user::User), ViewOnceGone> {
        // A token is 43 base64url characters; anything else is not worth a query.
        if token.len() != 43
            || !token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(ViewOnceGone);
        }
        let record = self
            .store
            .find_view_once(&digest(token))
            .await
            .map_err(|e| {
                tracing::error!("a view-once link could not be read: {e}");
                ViewOnceGone
            })?
            .ok_or(ViewOnceGone)?;
        let now = self.clock.now();
        if record.opened_at.is_some() || record.sealed_secret.is_none() || record.expires_at <= now
        {
            return Err(ViewOnceGone);
        }
        let user = self
            .store
            .find_user(record.tenant_id, record.user_id)
            .await
            .map_err(|_| ViewOnceGone)?
            .filter(|u| !u.is_deleted() && u.account_enabled)
            .ok_or(ViewOnceGone)?;
        // A later password change (another reset, the user's own change) makes this one moot.
        if user.last_password_change != Some(record.created_at) {
            return Err(ViewOnceGone);
        }
        Ok((record, user))
    }

    /// Wipes the secrets of expired links (and forgets links long expired); returns how many
    /// secrets were wiped. Run by the server's background purge.
    pub async fn purge_expired_deliveries(&self) -> Result<u64, DirectoryError> {
        Ok(self.store.purge_view_once(self.clock.now()).await?)
    }
}

/// The queue id of a `resetPassword` step's link: the same for every attempt of the step.
fn step_delivery_mail_id(step: &crate::workflow_store::ClaimedStep) -> crate::mail::MailId {
    let digest = Sha256::new()
        .chain_update(b"latchkey workflow password delivery\0")
        .chain_update(step.run_id.to_string().as_bytes())
        .chain_update(step.position.to_be_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    crate::mail::MailId(uuid::Builder::from_random_bytes(bytes).into_uuid())
}
