//! The device authorization grant (RFC 8628): a device without a browser gets a device code
//! and a short user code; the user types the user code on the device-login page, signs in
//! (forced change and consent included) and approves; the device's polling then gets tokens.

use secrecy::SecretString;
use uuid::Uuid;

use super::Directory;
use crate::app::App;
use crate::error::DirectoryError;
use crate::ids::TenantId;
use crate::interactive::{
    DEVICE_CODE_LIFETIME, DeviceCodeRecord, normalise_user_code, random_token, random_user_code,
    token_digest,
};
use crate::store::StoreError;
use crate::user::User;

/// Why a device's poll did not get tokens, with RFC 8628's error and Entra's code.
#[derive(Debug, thiserror::Error)]
pub enum DeviceCodeError {
    #[error("the device code is not valid")]
    Unknown,
    #[error("the user has not finished signing in yet")]
    Pending,
    #[error("the user declined the sign-in")]
    Declined,
    #[error("the device code has expired")]
    Expired,
    #[error("the device code has already been redeemed")]
    Redeemed,
    #[error("the user can no longer sign in")]
    UserGone,
    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

impl DeviceCodeError {
    /// `(error, AADSTS code)`.
    pub fn wire(&self) -> (&'static str, u32) {
        match self {
            Self::Unknown | Self::Redeemed => ("invalid_grant", 70000),
            Self::Pending => ("authorization_pending", 70016),
            Self::Declined => ("authorization_declined", 70018),
            Self::Expired => ("expired_token", 70019),
            Self::UserGone => ("invalid_grant", 50173),
            Self::Directory(_) => ("server_error", 90033),
        }
    }
}

impl Directory {
    /// Starts a device authorization for an app; returns the device code (shown once, stored
    /// as a digest) and the record with the user code.
    pub async fn start_device_authorization(
        &self,
        app: &App,
        scopes: &str,
    ) -> Result<(SecretString, DeviceCodeRecord), DirectoryError> {
        let now = self.clock.now();
        let device_code = random_token();
        // A clash of user codes within a tenant is refused by the store's unique index:
        // draw again (27^8 codes make a second clash vanishingly rare).
        for _ in 0..4 {
            let record = DeviceCodeRecord {
                id: Uuid::new_v4(),
                tenant_id: app.tenant_id,
                client_id: app.app_id,
                digest: token_digest(&device_code),
                user_code: random_user_code(),
                scopes: scopes.to_owned(),
                issued_at: now,
                expires_at: now + DEVICE_CODE_LIFETIME,
                user_id: None,
                decided_at: None,
                auth_time: None,
                redeemed_at: None,
            };
            match self.store.insert_device_code(&record).await {
                Ok(()) => return Ok((device_code, record)),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(DirectoryError::Internal(
            "could not draw a free user code".into(),
        ))
    }

    /// The undecided, unexpired device authorization a typed user code names.
    pub async fn pending_device_code(
        &self,
        tenant: TenantId,
        typed: &str,
    ) -> Result<Option<DeviceCodeRecord>, DirectoryError> {
        let code = normalise_user_code(typed);
        if code.is_empty() {
            return Ok(None);
        }
        let now = self.clock.now();
        Ok(self
            .store
            .find_device_code_by_user_code(tenant, &code)
            .await?
            .filter(|d| d.decided_at.is_none() && now < d.expires_at))
    }

    /// The signed-in user approves (or declines) a device authorization. `false` if it was
    /// decided meanwhile.
    pub async fn decide_device_code(
        &self,
        record: &DeviceCodeRecord,
        user: &User,
        approve: bool,
        auth_time: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, DirectoryError> {
        if user.tenant_id != record.tenant_id {
            return Ok(false);
        }
        let (who, at) = if approve {
            (Some(user.id), Some(auth_time))
        } else {
            (None, None)
        };
        let decided = self
            .store
            .decide_device_code(record.id, who, self.clock.now(), at)
            .await?;
        if decided && approve {
            // A sign-in to the app on a device: its use goes into the SaaS inventory.
            let scopes: Vec<String> = record
                .scopes
                .split_whitespace()
                .map(str::to_owned)
                .collect();
            self.note_app_sign_in(record.tenant_id, record.client_id, user.id, &scopes)
                .await;
        }
        Ok(decided)
    }

    /// A device's poll: tokens once approved (exactly once), else why not.
    pub async fn redeem_device_code(
        &self,
        tenant: TenantId,
        device_code: &SecretString,
        client: &App,
    ) -> Result<(DeviceCodeRecord, User), DeviceCodeError> {
        let now = self.clock.now();
        let record = self
            .store
            .find_device_code(&token_digest(device_code))
            .await
            .map_err(DirectoryError::from)?
            .filter(|d| d.tenant_id == tenant && d.client_id == client.app_id)
            .ok_or(DeviceCodeError::Unknown)?;
        if record.redeemed_at.is_some() {
            return Err(DeviceCodeError::Redeemed);
        }
        if now >= record.expires_at {
            return Err(DeviceCodeError::Expired);
        }
        let Some(user_id) = record.user_id else {
            return Err(if record.decided_at.is_some() {
                DeviceCodeError::Declined
            } else {
                DeviceCodeError::Pending
            });
        };
        if !self
            .store
            .redeem_device_code(record.id, now)
            .await
            .map_err(DirectoryError::from)?
        {
            return Err(DeviceCodeError::Redeemed);
        }
        let user = self
            .find_active_user(tenant, user_id)
            .await?
            .filter(|u| {
                u.account_enabled
                    && record
                        .auth_time
                        .is_some_and(|t| t >= u.sign_in_sessions_valid_from)
            })
            .ok_or(DeviceCodeError::UserGone)?;
        Ok((record, user))
    }
}
