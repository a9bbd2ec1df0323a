//! Two nodes work the same runs at once: two engines, each over its own store (its own
//! connection pool) on one database, pass after pass until every run is over. On PostgreSQL
//! their claims skip each other's rows (`FOR UPDATE SKIP LOCKED`), on SQLite the single writer
//! orders them; either way no step runs twice: each step was claimed once, each node's
//! recorded outcomes add up to the steps, and every user has exactly one audit event per
//! action.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use latchkey_automation::{Engine, workflow_actor};
use latchkey_core::Directory;
use latchkey_core::authz::Channel;
use latchkey_core::directory::{NewUser, PasswordChoice, UserRef};
use latchkey_core::ids::TenantId;
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::password::Hasher;
use latchkey_core::store::AuditQuery;
use latchkey_core::workflow_store::{RunStatus, StepStatus};
use latchkey_testkit::{Backend, Harness, TEST_HASH};
use std::collections::HashMap;

const USERS: usize = 150;

const OFFBOARD: &str = r#"{
    "name": "Offboard",
    "trigger": {"kind": "manual"},
    "steps": [
        {"action": "resetPasswordUnknown"},
        {"action": "revokeSessions"},
        {"action": "disableAccount"}
    ]
}"#;

/// A second node: its own store and pool on the harness's database, the same clock.
async fn second_node(h: &Harness) -> Directory {
    let store = latchkey_store::open(h.database_url.as_deref(), h.data_dir())
        .await
        .unwrap();
    Directory::new(
        store,
        Hasher::new(TEST_HASH, 2, 1024).unwrap(),
        h.clock.clone(),
    )
}

/// Passes of one node until no run is left running; the steps it recorded.
async fn work(engine: Engine, directory: Directory, tenant: TenantId) -> usize {
    let mut done = 0;
    for _ in 0..10_000 {
        done += engine.run_due_steps().await.unwrap();
        let runs = directory
            .list_workflow_runs(&workflow_actor(), tenant, None, 500)
            .await
            .unwrap();
        if runs.iter().all(|r| r.status != RunStatus::Running) {
            return done;
        }
        tokio::task::yield_now().await;
    }
    panic!("the runs did not finish");
}

async fn two_nodes_working_the_same_runs_never_run_a_step_twice(backend: Backend) {
    let h = Harness::new(backend).await;
    let mut users = Vec::new();
    for i in 0..USERS {
        let created = h
            .directory
            .create_user(
                &Harness::operator(),
                h.tenant(),
                NewUser {
                    user_principal_name: Upn::parse(&format!("leaver{i:03}@contoso.test")).unwrap(),
                    display_name: DisplayName::parse(&format!("Leaver {i}")).unwrap(),
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
            .unwrap();
        users.push(created.user.id);
    }
    h.directory
        .save_workflow(&Harness::operator(), h.tenant(), OFFBOARD)
        .await
        .unwrap();
    let refs: Vec<_> = users.iter().map(|id| UserRef::Id(*id)).collect();
    let node_a = Engine::new(h.directory.clone());
    assert_eq!(
        node_a
            .run_manually(h.tenant(), "Offboard", &refs, true)
            .await
            .unwrap(),
        USERS
    );
    let node_b = Engine::new(second_node(&h).await);

    // Both nodes at once, each on its own task (the runtime has two threads).
    let a = tokio::spawn(work(node_a, h.directory.clone(), h.tenant()));
    let b = tokio::spawn(work(node_b, h.directory.clone(), h.tenant()));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    assert_eq!(a + b, 3 * USERS, "each step recorded once, by one node");
    assert!(a > 0 && b > 0, "both nodes worked: {a} and {b} steps");

    let runs = h
        .directory
        .list_workflow_runs(&Harness::operator(), h.tenant(), None, 500)
        .await
        .unwrap();
    assert_eq!(runs.len(), USERS);
    for run in &runs {
        assert_eq!(run.status, RunStatus::Succeeded);
        for step in &run.steps {
            assert_eq!(step.status, StepStatus::Succeeded);
            assert_eq!(step.attempts, 1, "a step was claimed twice");
        }
    }
    for activity in [
        "Reset user password",
        "Invalidate all refresh tokens for user",
        "Update user",
    ] {
        let mut counts: HashMap<String, usize> = HashMap::new();
        let mut after = None;
        loop {
            let page = h
                .store
                .query_audit_events(
                    h.tenant(),
                    &AuditQuery {
                        activity: Some(activity.into()),
                        after: after.take(),
                        limit: 999,
                        ..AuditQuery::default()
                    },
                )
                .await
                .unwrap();
            for e in page.items.iter().filter(|e| e.channel == Channel::Workflow) {
                *counts.entry(e.target_id.clone().unwrap()).or_insert(0) += 1;
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(counts.len(), USERS, "{activity}");
        for user in &users {
            assert_eq!(
                counts.get(&user.to_string()),
                Some(&1),
                "{activity} for {user}"
            );
        }
    }
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Postgres).await })*
        }
    };
}

both_backends!(two_nodes_working_the_same_runs_never_run_a_step_twice);
