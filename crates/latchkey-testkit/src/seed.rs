//! Seeding many users fast, for benchmarks and scale tests only: every user gets the same
//! precomputed argon2id PHC hash (hashing 100k passwords would take minutes), and the rows go
//! in through the ordinary `Store::insert_user`, so no SQL lives here and the data is exactly
//! what the directory itself writes. Never used by a production path.

use chrono::{Duration, Utc};
use latchkey_core::audit::{AuditEvent, Events, Initiator, OutboxEvent};
use latchkey_core::authz::Channel;
use latchkey_core::clock::Clock;
use latchkey_core::ids::{EventId, TenantId, UserId};
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::password::Hasher;
use latchkey_core::store::NewUserRecord;
use latchkey_core::user::{PasswordPolicies, User, UserProfile, UserType};
use secrecy::SecretString;

use crate::Harness;

const GIVEN: &[&str] = &[
    "Adele", "Alex", "Diego", "Grady", "Isaiah", "Johanna", "Joni", "Lee", "Lidia", "Lynne",
    "Megan", "Miriam", "Nestor", "Patti", "Pradeep", "Zoë", "Émile", "Sakura", "Olu", "Ingrid",
];
const SURNAMES: &[&str] = &[
    "Vance",
    "Wilber",
    "Siciliani",
    "Archie",
    "Langer",
    "Lauer",
    "Sherman",
    "Gu",
    "Holloway",
    "Robbins",
    "Bowen",
    "Gracey",
    "Wilke",
    "Fernandez",
    "Gupta",
    "Nakamura",
    "Okafor",
    "Berg",
];
const DEPARTMENTS: &[&str] = &[
    "Sales",
    "Marketing",
    "Engineering",
    "Finance",
    "Legal",
    "Operations",
    "Support",
    "HR",
];

/// Every seeded user's password: hashed once (test parameters) and the PHC string reused.
pub const SEED_PASSWORD: &str = "Seeded-Bench-Password-1";

/// Inserts `n` users named `bench.<i>@<domain>` with varied display names, departments and
/// enabled flags (every 10th disabled), returning their ids in insertion order.
pub async fn seed_users(h: &Harness, n: usize) -> Vec<UserId> {
    seed_users_from(h, 0, n).await
}

/// As [`seed_users`], numbering the users from `first` (to add more to a seeded tenant).
pub async fn seed_users_from(h: &Harness, first: usize, n: usize) -> Vec<UserId> {
    seed_users_with(h, first, n, |_, _| {}).await
}

/// As [`seed_users_from`], with `edit` applied to each user (by its number) before it is
/// inserted: a leave date, a manager's address.
pub async fn seed_users_with(
    h: &Harness,
    first: usize,
    n: usize,
    edit: impl Fn(usize, &mut User),
) -> Vec<UserId> {
    let tenant = h.tenant();
    let domain = h.boot.tenant.domains[0].as_str().to_owned();
    let hasher = Hasher::new(crate::TEST_HASH, 1, 8).expect("hasher");
    let hash = hasher
        .hash(&SecretString::from(SEED_PASSWORD.to_owned()))
        .await
        .expect("hash the seed password once");
    let now = h.clock.now();
    let records: Vec<(NewUserRecord, Events)> = (0..n)
        .map(|i| {
            let mut user = seed_user(tenant, &domain, first + i, now);
            edit(first + i, &mut user);
            let events = seed_events(tenant, &user);
            let record = NewUserRecord {
                user,
                password: Some(hash.clone()),
                roles: Vec::new(),
            };
            (record, events)
        })
        .collect();
    let ids: Vec<UserId> = records.iter().map(|(r, _)| r.user.id).collect();
    // A few writers at once: PostgreSQL takes them in parallel, SQLite in turn.
    let mut writers = tokio::task::JoinSet::new();
    let mut rest = records;
    let chunk = n.div_ceil(WRITERS).max(1);
    while !rest.is_empty() {
        let tail = rest.split_off(chunk.min(rest.len()));
        let mine = std::mem::replace(&mut rest, tail);
        let store = h.store.clone();
        writers.spawn(async move {
            for (record, events) in &mine {
                store.insert_user(record, events).await.expect("seed user");
            }
        });
    }
    while let Some(done) = writers.join_next().await {
        done.expect("seed writer");
    }
    ids
}

/// How many seed writers run at once.
const WRITERS: usize = 8;

fn seed_user(tenant: TenantId, domain: &str, i: usize, now: chrono::DateTime<Utc>) -> User {
    let given = GIVEN[i % GIVEN.len()];
    let surname = SURNAMES[(i / GIVEN.len()) % SURNAMES.len()];
    User {
        id: UserId::new(),
        tenant_id: tenant,
        user_principal_name: Upn::parse(&format!("bench.{i}@{domain}")).expect("upn"),
        display_name: DisplayName::parse(&format!("{given} {surname} {i}")).expect("name"),
        mail_nickname: format!("bench.{i}"),
        account_enabled: !i.is_multiple_of(10),
        user_type: UserType::Member,
        profile: UserProfile {
            given_name: Some(given.into()),
            surname: Some(surname.into()),
            department: Some(DEPARTMENTS[i % DEPARTMENTS.len()].into()),
            usage_location: Some("GB".into()),
            ..UserProfile::default()
        },
        password_policies: PasswordPolicies::default(),
        force_change_password_next_sign_in: false,
        force_change_password_next_sign_in_with_mfa: false,
        last_password_change: Some(now),
        sign_in_sessions_valid_from: now - Duration::minutes(1),
        created: now,
        deleted: None,
        version: 1,
    }
}

fn seed_events(tenant: TenantId, user: &User) -> Events {
    let initiator = Initiator {
        kind: "operator".into(),
        id: None,
        display: "benchmark seed".into(),
    };
    Events::new(
        AuditEvent {
            id: EventId::new(),
            tenant_id: tenant,
            activity_date_time: user.created,
            category: "UserManagement".into(),
            activity: "Add user".into(),
            operation_type: "Add".into(),
            result: "success".into(),
            initiated_by: initiator,
            target_id: Some(user.id.to_string()),
            target_display: Some(user.user_principal_name.as_str().to_owned()),
            channel: Channel::Cli,
            details: Vec::new(),
        },
        OutboxEvent {
            id: EventId::new(),
            tenant_id: tenant,
            occurred_at: user.created,
            kind: "user.created".into(),
            subject: Some(user.id),
            payload: serde_json::json!({}),
        },
    )
}
