//! Change tracking for users/delta through the directory and the real store, on SQLite and
//! on PostgreSQL: a first round sees every user, later rounds only what changed (removals
//! told apart), tokens are sealed to their tenant and expire, and racing writers never make
//! a reader skip a change.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use chrono::Duration;
use latchkey_core::directory::{
    DeltaError, DeltaNext, DeltaRequest, DeltaStart, NewUser, PasswordChoice, UserChanges, UserRef,
};
use latchkey_core::error::DirectoryError;
use latchkey_core::ids::UserId;
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::store::UserChangeKind;
use latchkey_core::user::User;
use latchkey_testkit::{Backend, Harness};

async fn add_user(h: &Harness, upn: &str) -> User {
    h.directory
        .create_user(
            &Harness::operator(),
            h.tenant(),
            NewUser {
                user_principal_name: Upn::parse(upn).unwrap(),
                display_name: DisplayName::parse("Sync Target").unwrap(),
                mail_nickname: None,
                account_enabled: true,
                profile: Default::default(),
                password_policies: Default::default(),
                password: PasswordChoice::Generate,
                force_change_next_sign_in: false,
                roles: vec![],
            },
        )
        .await
        .unwrap()
        .user
}

async fn rename(h: &Harness, user: UserId, name: &str) {
    h.directory
        .update_user(
            &Harness::operator(),
            h.tenant(),
            &UserRef::Id(user),
            UserChanges {
                display_name: Some(DisplayName::parse(name).unwrap()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
}

/// What a client sees of one change.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Present(String),
    Changed,
    Deleted,
}

/// Follows a whole round from `start` with pages of `limit`: every change seen (in order)
/// and the delta token that ends it.
async fn round(h: &Harness, start: DeltaStart<'_>, limit: u32) -> (Vec<(UserId, Seen)>, String) {
    let mut seen = Vec::new();
    let mut page = h
        .directory
        .user_delta(
            &Harness::operator(),
            h.tenant(),
            DeltaRequest {
                start,
                select: None,
                limit: Some(limit),
                ids: None,
            },
        )
        .await
        .unwrap();
    loop {
        assert!(page.changes.len() <= limit as usize);
        for c in &page.changes {
            seen.push((
                c.id,
                match &c.kind {
                    UserChangeKind::Present(u) => Seen::Present(u.display_name.to_string()),
                    UserChangeKind::SoftDeleted => Seen::Changed,
                    UserChangeKind::Deleted => Seen::Deleted,
                },
            ));
        }
        let skip = match page.next {
            DeltaNext::Round(token) => return (seen, token),
            DeltaNext::Page(skip) => skip,
        };
        page = h
            .directory
            .user_delta(
                &Harness::operator(),
                h.tenant(),
                DeltaRequest {
                    start: DeltaStart::Page(&skip),
                    select: None,
                    limit: None,
                    ids: None,
                },
            )
            .await
            .unwrap();
    }
}

async fn a_first_round_pages_through_every_user_and_later_rounds_see_only_what_changed(h: Harness) {
    let mut users = Vec::new();
    for i in 0..7 {
        users.push(add_user(&h, &format!("sync{i}@contoso.test")).await);
    }
    let (first, token) = round(&h, DeltaStart::Initial, 3).await;
    let ids: Vec<UserId> = first.iter().map(|(id, _)| *id).collect();
    let mut unique = ids.clone();
    unique.sort_by_key(|id| id.as_uuid());
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "no user twice in a round");
    // The bootstrap administrator and the seven users.
    assert_eq!(ids.len(), 8);
    for u in &users {
        assert!(ids.contains(&u.id));
    }

    // Nothing changed: an empty round and a new token.
    let (none, token) = round(&h, DeltaStart::Round(&token), 3).await;
    assert!(none.is_empty(), "{none:?}");

    rename(&h, users[0].id, "Renamed Once").await;
    rename(&h, users[0].id, "Renamed Twice").await;
    let created = add_user(&h, "newcomer@contoso.test").await;
    let op = Harness::operator();
    h.directory
        .delete_user(&op, h.tenant(), &UserRef::Id(users[1].id))
        .await
        .unwrap();
    h.directory
        .delete_user(&op, h.tenant(), &UserRef::Id(users[2].id))
        .await
        .unwrap();
    h.directory
        .delete_user_permanently(&op, h.tenant(), users[2].id)
        .await
        .unwrap();

    let (changes, token) = round(&h, DeltaStart::Round(&token), 2).await;
    let got: HashMap<UserId, Seen> = changes.iter().cloned().collect();
    assert_eq!(changes.len(), 4, "one entry per changed user: {changes:?}");
    assert_eq!(got[&users[0].id], Seen::Present("Renamed Twice".into()));
    assert_eq!(got[&created.id], Seen::Present("Sync Target".into()));
    assert_eq!(got[&users[1].id], Seen::Changed);
    assert_eq!(got[&users[2].id], Seen::Deleted);

    // A restore brings the user back as present.
    h.directory
        .restore_user(&op, h.tenant(), users[1].id)
        .await
        .unwrap();
    let (changes, _) = round(&h, DeltaStart::Round(&token), 2).await;
    assert_eq!(
        changes,
        vec![(users[1].id, Seen::Present("Sync Target".into()))]
    );
}

/// Tombstones of users gone for good are pruned once no valid token can need them: a round
/// started from a token of the last weeks still sees its removals, and the hourly pass drops
/// only tombstones older than the retention, measured by the marks it leaves.
async fn tombstones_older_than_any_valid_token_are_pruned_and_recent_ones_kept(h: Harness) {
    let op = Harness::operator();
    let gone = add_user(&h, "gone@contoso.test").await;
    h.directory
        .delete_user(&op, h.tenant(), &UserRef::Id(gone.id))
        .await
        .unwrap();
    h.directory
        .delete_user_permanently(&op, h.tenant(), gone.id)
        .await
        .unwrap();
    // The first pass only marks: nothing is old enough.
    assert_eq!(h.directory.prune_change_tracking().await.unwrap(), 0);
    h.clock.advance(Duration::days(20));
    assert_eq!(h.directory.prune_change_tracking().await.unwrap(), 0);

    // 31 days after the first mark: a client syncs, then a user goes for good.
    h.clock.advance(Duration::days(11));
    let (_, token) = round(&h, DeltaStart::Initial, 50).await;
    let later = add_user(&h, "later@contoso.test").await;
    h.directory
        .delete_user(&op, h.tenant(), &UserRef::Id(later.id))
        .await
        .unwrap();
    h.directory
        .delete_user_permanently(&op, h.tenant(), later.id)
        .await
        .unwrap();
    // The pass drops the old tombstone only (the one the first mark covers) ...
    assert_eq!(h.directory.prune_change_tracking().await.unwrap(), 1);
    assert_eq!(h.directory.prune_change_tracking().await.unwrap(), 0);
    // ... and the client's next round still learns of the recent removal.
    h.clock.advance(Duration::days(6));
    let (changes, _) = round(&h, DeltaStart::Round(&token), 50).await;
    assert_eq!(changes, vec![(later.id, Seen::Deleted)]);
    // The mark left on day 31, after that removal, covers it 30 days on and not before.
    h.clock.advance(Duration::days(13));
    assert_eq!(h.directory.prune_change_tracking().await.unwrap(), 0);
    h.clock.advance(Duration::days(12));
    assert_eq!(h.directory.prune_change_tracking().await.unwrap(), 1);
}

async fn latest_starts_from_now_without_listing_anyone(h: Harness) {
    add_user(&h, "before@contoso.test").await;
    let (none, token) = round(&h, DeltaStart::Latest, 10).await;
    assert!(none.is_empty());
    let after = add_user(&h, "after@contoso.test").await;
    let (changes, _) = round(&h, DeltaStart::Round(&token), 10).await;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].0, after.id);
}

async fn tokens_are_sealed_bound_to_their_kind_and_expire_after_seven_days(h: Harness) {
    add_user(&h, "a@contoso.test").await;
    add_user(&h, "b@contoso.test").await;
    let op = Harness::operator();
    let ask = |start| DeltaRequest {
        start,
        select: None,
        limit: Some(1),
        ids: None,
    };
    let page = h
        .directory
        .user_delta(&op, h.tenant(), ask(DeltaStart::Initial))
        .await
        .unwrap();
    let DeltaNext::Page(skip) = page.next else {
        panic!("a page of one leaves more")
    };
    // A skip token is not a delta token, and a changed byte is no token at all.
    for bad in [
        DeltaStart::Round(&skip),
        DeltaStart::Page("bm90IGEgdG9rZW4"),
        DeltaStart::Page(&skip[..skip.len() - 2]),
    ] {
        match h.directory.user_delta(&op, h.tenant(), ask(bad)).await {
            Err(DeltaError::Directory(DirectoryError::Invalid { .. })) => {}
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    let (_, token) = round(&h, DeltaStart::Initial, 10).await;
    h.clock.advance(Duration::days(6));
    let (_, token) = round(&h, DeltaStart::Round(&token), 10).await;
    h.clock.advance(Duration::days(7) + Duration::minutes(1));
    match h
        .directory
        .user_delta(&op, h.tenant(), ask(DeltaStart::Round(&token)))
        .await
    {
        Err(DeltaError::Expired) => {}
        other => panic!("{other:?}"),
    }
}

async fn a_token_of_another_tenant_is_refused(h: Harness) {
    let (_, token) = round(&h, DeltaStart::Initial, 10).await;
    let other = h
        .directory
        .bootstrap_tenant(
            &latchkey_core::names::DomainName::parse("fabrikam.test").unwrap(),
            "Fabrikam",
            None,
        )
        .await
        .unwrap();
    let got = h
        .directory
        .user_delta(
            &Harness::operator(),
            other.tenant.id,
            DeltaRequest {
                start: DeltaStart::Round(&token),
                select: None,
                limit: None,
                ids: None,
            },
        )
        .await;
    assert!(
        matches!(
            got,
            Err(DeltaError::Directory(DirectoryError::Invalid { .. }))
        ),
        "{got:?}"
    );
}

/// Writers race on their own users while a reader follows rounds; afterwards the reader has
/// seen every user's last name. A change numbered before one the reader already passed but
/// committed after it would be lost here for good.
async fn racing_writers_never_make_a_reader_skip_a_change(h: Harness) {
    let mut users = Vec::new();
    for i in 0..4 {
        users.push(add_user(&h, &format!("racer{i}@contoso.test")).await);
    }
    let (_, mut token) = round(&h, DeltaStart::Initial, 50).await;
    let h = std::sync::Arc::new(h);
    let mut writers = Vec::new();
    for u in &users {
        let (h, id) = (h.clone(), u.id);
        writers.push(tokio::spawn(async move {
            for n in 0..15 {
                rename(&h, id, &format!("Racer {n}")).await;
            }
        }));
    }
    let mut last: HashMap<UserId, String> = HashMap::new();
    while !writers.iter().all(|w| w.is_finished()) {
        let (changes, next) = round(&h, DeltaStart::Round(&token), 3).await;
        token = next;
        for (id, seen) in changes {
            if let Seen::Present(name) = seen {
                last.insert(id, name);
            }
        }
        tokio::task::yield_now().await;
    }
    for w in writers {
        w.await.unwrap();
    }
    let (changes, _) = round(&h, DeltaStart::Round(&token), 3).await;
    for (id, seen) in changes {
        if let Seen::Present(name) = seen {
            last.insert(id, name);
        }
    }
    for u in &users {
        assert_eq!(last.get(&u.id).map(String::as_str), Some("Racer 14"));
    }
}

async fn a_round_tracking_some_ids_sees_only_their_changes_and_removals(h: Harness) {
    let kept = add_user(&h, "kept@contoso.test").await;
    let other = add_user(&h, "other@contoso.test").await;
    let op = Harness::operator();
    let ask = |start| DeltaRequest {
        start,
        select: None,
        limit: None,
        ids: Some(vec![kept.id]),
    };
    let first = h
        .directory
        .user_delta(&op, h.tenant(), ask(DeltaStart::Initial))
        .await
        .unwrap();
    assert_eq!(
        first.changes.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![kept.id]
    );
    let DeltaNext::Round(token) = first.next else {
        panic!("one page")
    };
    for u in [&kept, &other] {
        h.directory
            .delete_user(&op, h.tenant(), &UserRef::Id(u.id))
            .await
            .unwrap();
        h.directory
            .delete_user_permanently(&op, h.tenant(), u.id)
            .await
            .unwrap();
    }
    // The token remembers the ids.
    let (changes, _) = round(&h, DeltaStart::Round(&token), 10).await;
    assert_eq!(changes, vec![(kept.id, Seen::Deleted)]);
    // Too many ids for one delta query.
    let many = DeltaRequest {
        ids: Some((0..51).map(|_| UserId::new()).collect()),
        ..ask(DeltaStart::Initial)
    };
    assert!(matches!(
        h.directory.user_delta(&op, h.tenant(), many).await,
        Err(DeltaError::Directory(DirectoryError::Invalid { .. }))
    ));
}

/// PostgreSQL only (SQLite has one writer, so its commits cannot overtake each other): a
/// transaction that wrote a user first but commits last must still reach a reader whose
/// round ran in between. Were numbers taken when the row is written, the slow writer's
/// number would be below the token the reader already holds, and its change lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_writer_that_commits_after_a_later_one_is_not_skipped() {
    let h = Harness::new(Backend::Postgres).await;
    let slow = add_user(&h, "slow@contoso.test").await;
    let fast = add_user(&h, "fast@contoso.test").await;
    let (_, token) = round(&h, DeltaStart::Initial, 10).await;

    let pool = sqlx::PgPool::connect(h.database_url.as_deref().unwrap())
        .await
        .unwrap();
    let mut open = pool.begin().await.unwrap();
    sqlx::query(
        "UPDATE users SET display_name = 'Slow Writer', version = version + 1 WHERE id = $1",
    )
    .bind(slow.id.as_uuid())
    .execute(&mut *open)
    .await
    .unwrap();
    rename(&h, fast.id, "Fast Writer").await;
    let (changes, token) = round(&h, DeltaStart::Round(&token), 10).await;
    assert_eq!(
        changes,
        vec![(fast.id, Seen::Present("Fast Writer".into()))]
    );
    open.commit().await.unwrap();

    let (changes, _) = round(&h, DeltaStart::Round(&token), 10).await;
    assert_eq!(
        changes,
        vec![(slow.id, Seen::Present("Slow Writer".into()))]
    );
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(latchkey_testkit::Harness::new(super::Backend::Sqlite).await).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(latchkey_testkit::Harness::new(super::Backend::Postgres).await).await })*
        }
    };
}

both_backends!(
    tombstones_older_than_any_valid_token_are_pruned_and_recent_ones_kept,
    a_first_round_pages_through_every_user_and_later_rounds_see_only_what_changed,
    latest_starts_from_now_without_listing_anyone,
    tokens_are_sealed_bound_to_their_kind_and_expire_after_seven_days,
    a_token_of_another_tenant_is_refused,
    racing_writers_never_make_a_reader_skip_a_change,
    a_round_tracking_some_ids_sees_only_their_changes_and_removals,
);
