//! The durability proof of the lifecycle workflows: a real `latchkey serve` works an
//! offboarding run for each of 1,000 users, is killed with SIGKILL twice in the middle of it
//! (while it holds steps it has claimed, some perhaps half done), and is started again. When
//! the runs are over every user has been reset, signed out and disabled exactly once: one
//! audit event of each per user, every step succeeded, and no user missed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use latchkey_automation::Engine;
use latchkey_core::Directory;
use latchkey_core::authz::{Actor, Channel};
use latchkey_core::clock::SystemClock;
use latchkey_core::directory::{NewUser, PasswordChoice, UserRef};
use latchkey_core::ids::TenantId;
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::odata::parse_filter;
use latchkey_core::password::Hasher;
use latchkey_core::store::{AuditQuery, Store, UserQuery};
use latchkey_core::workflow_store::{RunRecord, RunStatus, StepStatus, WorkflowId};
use support::{Server, cli, serve_with};

const USERS: usize = 1000;

const OFFBOARD: &str = r#"{
    "name": "Offboard everyone",
    "trigger": {"kind": "manual"},
    "steps": [
        {"action": "resetPasswordUnknown"},
        {"action": "revokeSessions"},
        {"action": "disableAccount"}
    ]
}"#;

/// The worker runs every second and holds a step for 3 s, so that a restarted server takes
/// over the killed one's steps within seconds; hashing is argon2id at 4 MiB, so that the run
/// of 1,000 resets lasts long enough to be interrupted.
const SERVE: &[&str] = &[
    "--workflow-interval-seconds",
    "1",
    "--workflow-lease-seconds",
    "3",
    "--argon2-memory-kib",
    "4096",
];

fn operator() -> Actor {
    Actor::Operator {
        channel: Channel::Cli,
    }
}

async fn runs(store: &Arc<dyn Store>, tenant: TenantId, workflow: WorkflowId) -> Vec<RunRecord> {
    store
        .list_workflow_runs(tenant, Some(workflow), None, 2 * USERS as u32)
        .await
        .unwrap()
}

fn finished(runs: &[RunRecord]) -> usize {
    runs.iter()
        .filter(|r| r.status != RunStatus::Running)
        .count()
}

/// Polls the store until at least `done` runs have finished, then kills the server with
/// SIGKILL; returns how many had finished when it died.
async fn kill_after(
    server: &mut Server,
    store: &Arc<dyn Store>,
    tenant: TenantId,
    workflow: WorkflowId,
    done: usize,
) -> usize {
    let deadline = Instant::now() + Duration::from_secs(300);
    while finished(&runs(store, tenant, workflow).await) < done {
        assert!(
            Instant::now() < deadline,
            "the server did not finish {done} runs in 5 minutes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.child.start_kill().unwrap();
    server.child.wait().await.unwrap();
    finished(&runs(store, tenant, workflow).await)
}

/// Every audit event with this activity made by the workflow channel, counted per target.
async fn per_user(
    store: &Arc<dyn Store>,
    tenant: TenantId,
    activity: &str,
) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    let mut after = None;
    loop {
        let page = store
            .query_audit_events(
                tenant,
                &AuditQuery {
                    activity: Some(activity.into()),
                    after: after.take(),
                    limit: 999,
                    ..AuditQuery::default()
                },
            )
            .await
            .unwrap();
        for e in page.items {
            if e.channel == Channel::Workflow {
                *counts.entry(e.target_id.unwrap()).or_insert(0) += 1;
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return counts,
        }
    }
}

async fn populate(data: &Path, tenant: TenantId) -> (Arc<dyn Store>, WorkflowId, Vec<String>) {
    let store = latchkey_store::open(None, data).await.unwrap();
    let hasher = Hasher::new(latchkey_testkit::TEST_HASH, 2, 1024).unwrap();
    let directory = Directory::new(store.clone(), hasher, Arc::new(SystemClock));
    let mut ids = Vec::with_capacity(USERS);
    for i in 0..USERS {
        let created = directory
            .create_user(
                &operator(),
                tenant,
                NewUser {
                    user_principal_name: Upn::parse(&format!("leaver{i:04}@contoso.test")).unwrap(),
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
        ids.push(created.user.id);
    }
    let workflow = directory
        .save_workflow(&operator(), tenant, OFFBOARD)
        .await
        .unwrap();
    let users: Vec<UserRef> = ids.iter().map(|id| UserRef::Id(*id)).collect();
    let started = Engine::new(directory)
        .run_manually(tenant, "Offboard everyone", &users, true)
        .await
        .unwrap();
    assert_eq!(started, USERS);
    (
        store,
        workflow.id,
        ids.iter().map(ToString::to_string).collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_twice_during_a_run_of_1000_users_processes_every_user_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let init = cli(&data, &["init", "--domain", "contoso.test"]);
    let tenant: TenantId = init["tenantId"].as_str().unwrap().parse().unwrap();
    let (store, workflow, users) = populate(&data, tenant).await;

    // Killed with a tenth of the runs done, and again with half done.
    let mut server = serve_with(&data, SERVE).await;
    let at_first_kill = kill_after(&mut server, &store, tenant, workflow, USERS / 10).await;
    let mut server = serve_with(&data, SERVE).await;
    let at_second_kill = kill_after(&mut server, &store, tenant, workflow, USERS / 2).await;
    assert!(
        at_second_kill < USERS,
        "the runs were over before the second kill ({at_first_kill}, {at_second_kill}): nothing was interrupted"
    );

    // Restarted, the server finishes what is left, the killed one's leased steps included.
    let _server = serve_with(&data, SERVE).await;
    let deadline = Instant::now() + Duration::from_secs(300);
    let all = loop {
        let all = runs(&store, tenant, workflow).await;
        if finished(&all) == USERS {
            break all;
        }
        assert!(
            Instant::now() < deadline,
            "the runs did not finish in 5 minutes after the restart"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    assert_eq!(all.len(), USERS, "one run per user, none started twice");
    for run in &all {
        assert_eq!(run.status, RunStatus::Succeeded, "run {}", run.id);
        assert_eq!(run.steps.len(), 3);
        for step in &run.steps {
            assert_eq!(
                step.status,
                StepStatus::Succeeded,
                "run {} step {}",
                run.id,
                step.position
            );
        }
    }
    // The kills caught steps the server had claimed: the restarted one took them over.
    let taken_over = all
        .iter()
        .flat_map(|r| &r.steps)
        .filter(|s| s.attempts > 1)
        .count();
    assert!(taken_over > 0, "no kill interrupted a claimed step");
    eprintln!(
        "killed with {at_first_kill} and {at_second_kill} runs finished; {taken_over} steps taken over"
    );

    // Exactly one reset, one sign-out and one disable per user, whatever was interrupted.
    for activity in [
        "Reset user password",
        "Invalidate all refresh tokens for user",
        "Update user",
    ] {
        let counts = per_user(&store, tenant, activity).await;
        for user in &users {
            assert_eq!(
                counts.get(user).copied().unwrap_or(0),
                1,
                "{activity} for {user} (takeovers: {taken_over})"
            );
        }
        assert_eq!(counts.len(), USERS, "{activity}: only the run's users");
    }
    let enabled = store
        .list_users(
            tenant,
            &UserQuery {
                filter: Some(parse_filter("accountEnabled eq true").unwrap()),
                limit: 10,
                ..UserQuery::default()
            },
        )
        .await
        .unwrap();
    let enabled: Vec<_> = enabled
        .items
        .iter()
        .map(|u| u.user_principal_name.to_string())
        .collect();
    assert_eq!(
        enabled,
        ["admin@contoso.test"],
        "only the administrator is still enabled"
    );
}
