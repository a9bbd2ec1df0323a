//! Change tracking for sync tools (Graph's `users/delta`): a round pages through the users
//! changed since the previous round (all users present, in a first round) and ends with a
//! delta token for the next. Tokens are sealed under the master key and bound to their
//! tenant, so they are opaque and cannot be forged or moved; delta tokens live 7 days, as
//! Graph's do for directory objects.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Directory;
use crate::authz::{Action, Actor, authorize};
use crate::error::DirectoryError;
use crate::ids::{TenantId, UserId};
use crate::store::{UserChange, UserChangeQuery};

const DELTA_PURPOSE: &str = "graph-users-delta";

/// How long a round's tokens stay good (Graph: 7 days for identity resources).
pub const DELTA_TOKEN_LIFETIME_DAYS: i64 = 7;

/// Graph's default delta page size.
const DEFAULT_PAGE: u32 = 100;

/// Where a delta request starts.
#[derive(Debug, Clone, Copy)]
pub enum DeltaStart<'a> {
    /// A first round: every user present now.
    Initial,
    /// `$deltatoken=latest`: no users, just a delta token from now on.
    Latest,
    /// The next page of a round (`$skiptoken`).
    Page(&'a str),
    /// The next round (`$deltatoken`).
    Round(&'a str),
}

/// A delta request. `select` and `limit` are remembered by the round's tokens; given with a
/// token they replace what the token remembers.
#[derive(Debug, Clone)]
pub struct DeltaRequest<'a> {
    pub start: DeltaStart<'a>,
    /// The channel's own view of the items (Graph: `$select`), carried in the tokens as is.
    pub select: Option<Vec<String>>,
    pub limit: Option<u32>,
    /// Track only these users (Graph's `$filter=id eq …`, at most
    /// [`MAX_DELTA_IDS`]); remembered by the round's tokens like `select`.
    pub ids: Option<Vec<UserId>>,
}

/// Graph tracks at most 50 objects by id in one delta query.
pub const MAX_DELTA_IDS: usize = 50;

/// What follows a delta page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeltaNext {
    /// More of this round: Graph's `@odata.nextLink` with this `$skiptoken`.
    Page(String),
    /// The round is complete: Graph's `@odata.deltaLink` with this `$deltatoken`.
    Round(String),
}

#[derive(Debug, Clone)]
pub struct DeltaPage {
    pub changes: Vec<UserChange>,
    /// The view the round was started with (or replaced by this request).
    pub select: Option<Vec<String>>,
    pub next: DeltaNext,
}

#[derive(Debug, thiserror::Error)]
pub enum DeltaError {
    /// The token is older than its lifetime: the client must start a full round again.
    #[error(
        "The sync state generation is not found. The delta token is expired and data must be synchronized again."
    )]
    Expired,
    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

/// What a token remembers. `p` tells a page token (a round under way) from a delta token.
#[derive(Debug, Serialize, Deserialize)]
struct TokenState {
    t: Uuid,
    p: bool,
    since: Option<i64>,
    upto: i64,
    after: Option<(i64, Uuid)>,
    limit: u32,
    select: Option<Vec<String>>,
    #[serde(default)]
    ids: Vec<Uuid>,
    /// Unix seconds when the token's round started (page tokens) or ended (delta tokens).
    at: i64,
}

/// How long a tombstone of a user gone for good is kept for delta rounds: longer than any
/// valid token can reach back (a round's page tokens live 7 days, its delta token 7 more, and
/// the next round's page tokens 7 more, each carrying the round's starting point).
pub const TOMBSTONE_RETENTION_DAYS: i64 = 30;

impl Directory {
    /// Drops the users/delta tombstones no valid token can still need (older than
    /// [`TOMBSTONE_RETENTION_DAYS`], measured by the marks each pass leaves at the
    /// directory's clock). Run hourly by `serve`; returns how many went.
    pub async fn prune_change_tracking(&self) -> Result<u64, DirectoryError> {
        let now = self.clock.now();
        Ok(self
            .store
            .prune_user_deletions(now, now - Duration::days(TOMBSTONE_RETENTION_DAYS))
            .await?)
    }

    /// One page of a delta round over the tenant's users.
    pub async fn user_delta(
        &self,
        actor: &Actor,
        tenant: TenantId,
        request: DeltaRequest<'_>,
    ) -> Result<DeltaPage, DeltaError> {
        authorize(actor, Action::ReadUsers, &[]).map_err(DirectoryError::from)?;
        if let Some(l) = request.limit
            && !(1..=999).contains(&l)
        {
            return Err(DirectoryError::invalid("$top", "must be between 1 and 999").into());
        }
        let now = self.clock.now().timestamp();
        let (mut state, latest) = match request.start {
            DeltaStart::Initial | DeltaStart::Latest => (
                TokenState {
                    t: tenant.as_uuid(),
                    p: true,
                    since: None,
                    upto: 0,
                    after: None,
                    limit: DEFAULT_PAGE,
                    select: None,
                    ids: Vec::new(),
                    at: now,
                },
                matches!(request.start, DeltaStart::Latest),
            ),
            DeltaStart::Page(token) => (self.open_delta_token(tenant, token, true, now)?, false),
            DeltaStart::Round(token) => (self.open_delta_token(tenant, token, false, now)?, false),
        };
        if request.select.is_some() {
            state.select = request.select;
        }
        if let Some(l) = request.limit {
            state.limit = l;
        }
        if let Some(ids) = request.ids {
            if ids.is_empty() || ids.len() > MAX_DELTA_IDS {
                return Err(DirectoryError::invalid(
                    "$filter",
                    format!("track 1 to {MAX_DELTA_IDS} users by id in one $filter"),
                )
                .into());
            }
            state.ids = ids.iter().map(UserId::as_uuid).collect();
        }
        // A round reads up to the latest change committed when it starts; later changes
        // belong to the next round.
        if !state.p || matches!(request.start, DeltaStart::Initial | DeltaStart::Latest) {
            state.upto = self
                .store
                .latest_user_change(tenant)
                .await
                .map_err(DirectoryError::from)?;
            state.p = true;
            state.at = now;
        }
        let (changes, more) = if latest {
            (Vec::new(), false)
        } else {
            self.store
                .list_user_changes(
                    tenant,
                    &UserChangeQuery {
                        since: state.since,
                        upto: state.upto,
                        after: state.after.map(|(s, id)| (s, UserId::from_uuid(id))),
                        ids: state.ids.iter().copied().map(UserId::from_uuid).collect(),
                        limit: state.limit,
                    },
                )
                .await
                .map_err(DirectoryError::from)?
        };
        let next = if more {
            state.after = changes.last().map(|c| (c.seq, c.id.as_uuid()));
            DeltaNext::Page(self.seal_delta_token(&state)?)
        } else {
            let done = TokenState {
                t: state.t,
                p: false,
                since: Some(state.upto),
                upto: state.upto,
                after: None,
                limit: state.limit,
                select: state.select.clone(),
                ids: state.ids.clone(),
                at: now,
            };
            DeltaNext::Round(self.seal_delta_token(&done)?)
        };
        Ok(DeltaPage {
            changes,
            select: state.select,
            next,
        })
    }

    fn seal_delta_token(&self, state: &TokenState) -> Result<String, DirectoryError> {
        let plain =
            serde_json::to_vec(state).map_err(|e| DirectoryError::Internal(e.to_string()))?;
        let sealed = self
            .master_key()?
            .seal(DELTA_PURPOSE, &plain)
            .map_err(|e| DirectoryError::Internal(e.to_string()))?;
        Ok(URL_SAFE_NO_PAD.encode(sealed))
    }

    /// A token of this tenant and kind, not expired; anything else is the caller's error.
    fn open_delta_token(
        &self,
        tenant: TenantId,
        token: &str,
        page: bool,
        now: i64,
    ) -> Result<TokenState, DeltaError> {
        let (name, link) = if page {
            ("$skiptoken", "@odata.nextLink")
        } else {
            ("$deltatoken", "@odata.deltaLink")
        };
        let bad = || {
            DirectoryError::invalid(
                name,
                format!(
                    "The {name} is not valid: use the {link} of the previous response as it is."
                ),
            )
        };
        let sealed = URL_SAFE_NO_PAD.decode(token.trim()).map_err(|_| bad())?;
        let plain = self
            .master_key()?
            .open(DELTA_PURPOSE, &sealed)
            .map_err(|_| bad())?;
        let state: TokenState = serde_json::from_slice(&plain).map_err(|_| bad())?;
        if state.t != tenant.as_uuid() || state.p != page {
            return Err(bad().into());
        }
        if now - state.at > Duration::days(DELTA_TOKEN_LIFETIME_DAYS).num_seconds() {
            return Err(DeltaError::Expired);
        }
        Ok(state)
    }
}
