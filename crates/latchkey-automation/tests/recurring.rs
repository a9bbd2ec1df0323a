//! Recurring and state triggers through the engine, the directory and the real store, on
//! SQLite and PostgreSQL, with the injected clock: yearly anniversaries in the tenant's time
//! zone (leap day, downtime), inactivity spells, cron schedules; per-step conditions; the
//! share-of-tenant confirmation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use latchkey_automation::Engine;
use latchkey_core::clock::Clock;
use latchkey_core::directory::{
    ClientRef, NewUser, PasswordChoice, ProfileField, SignInError, UserChanges, UserRef,
};
use latchkey_core::error::DirectoryError;
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::user::{User, UserProfile};
use latchkey_core::workflow_store::{RunRecord, RunStatus, StepStatus};
use latchkey_testkit::{Backend, Harness};
use secrecy::SecretString;

const PW: &str = "Quartz-Harbor-7319!";

const REVIEW: &str = r#"{
    "name": "Yearly credential review",
    "trigger": {"kind": "anniversary", "attribute": "employeeHireDate"},
    "steps": [{"action": "requirePasswordChange"}]
}"#;

fn utc(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
}

fn client() -> ClientRef {
    ClientRef {
        app_id: None,
        display_name: Some("Workflow test".into()),
    }
}

async fn add_user(h: &Harness, nick: &str, profile: UserProfile) -> User {
    h.directory
        .create_user(
            &Harness::operator(),
            h.tenant(),
            NewUser {
                user_principal_name: Upn::parse(&format!("{nick}@contoso.test")).unwrap(),
                display_name: DisplayName::parse(nick).unwrap(),
                mail_nickname: None,
                account_enabled: true,
                profile,
                password_policies: Default::default(),
                password: PasswordChoice::Provided(SecretString::from(PW)),
                force_change_next_sign_in: false,
                roles: vec![],
            },
        )
        .await
        .unwrap()
        .user
}

fn hired(at: DateTime<Utc>) -> UserProfile {
    UserProfile {
        employee_hire_date: Some(at),
        ..UserProfile::default()
    }
}

fn in_department(department: &str) -> UserProfile {
    UserProfile {
        department: Some(department.into()),
        ..UserProfile::default()
    }
}

async fn runs(h: &Harness) -> Vec<RunRecord> {
    h.directory
        .list_workflow_runs(&Harness::operator(), h.tenant(), None, 500)
        .await
        .unwrap()
}

async fn runs_of(h: &Harness, user: &User) -> Vec<RunRecord> {
    runs(h)
        .await
        .into_iter()
        .filter(|r| r.user_id == user.id)
        .collect()
}

async fn save(h: &Harness, raw: &str) {
    h.directory
        .save_workflow(&Harness::operator(), h.tenant(), raw)
        .await
        .unwrap();
}

fn invalid(e: DirectoryError) -> (String, String) {
    match e {
        DirectoryError::Invalid { property, message } => (property, message),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

/// Moves the clock to `at` (never back).
fn set_clock(h: &Harness, at: DateTime<Utc>) {
    let now = h.clock.now();
    assert!(at >= now, "the clock only moves forward");
    h.clock.advance(at - now);
}

async fn a_yearly_anniversary_fires_once_a_year_per_user_in_the_tenant_time_zone_across_two_years(
    backend: Backend,
) {
    let h = Harness::new(backend).await;
    let op = Harness::operator();
    // Paris: UTC+1 in winter, so a December anniversary falls due at 23:00 UTC the day before.
    h.directory
        .set_workflow_settings(&op, h.tenant(), Some("Europe/Paris"), None)
        .await
        .unwrap();
    // The clock starts on 2026-11-24 09:00 UTC.
    let bob = add_user(&h, "bob", hired(utc(2019, 12, 10, 0))).await;
    let leap = add_user(&h, "leap", hired(utc(2020, 2, 29, 0))).await;
    // This year's anniversary passed before the workflow existed: it waits for next year.
    let early = add_user(&h, "early", hired(utc(2021, 11, 1, 0))).await;
    save(&h, REVIEW).await;
    let engine = Engine::new(h.directory.clone());
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 0);

    // To the minute: not at 22:59 UTC on 9 December, at 23:00 (midnight in Paris).
    set_clock(&h, utc(2026, 12, 9, 22) + Duration::minutes(59));
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 0);
    set_clock(&h, utc(2026, 12, 9, 23));
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 1);
    assert_eq!(engine.run_until_idle().await.unwrap(), 1);
    let signed_in = h
        .directory
        .sign_in_with_password(
            h.tenant(),
            "bob@contoso.test",
            &SecretString::from(PW),
            &client(),
        )
        .await;
    assert!(
        matches!(signed_in, Err(SignInError::MustChangePassword(_))),
        "bob must change his password: {signed_in:?}"
    );

    // Two years of daily ticks at 09:00 UTC.
    let mut day = utc(2026, 12, 10, 9);
    while day <= utc(2028, 11, 24, 9) {
        set_clock(&h, day);
        engine.tick(h.tenant()).await.unwrap();
        engine.run_until_idle().await.unwrap();
        day += Duration::days(1);
    }

    let occurrences = |rs: Vec<RunRecord>| {
        let mut o: Vec<_> = rs
            .into_iter()
            .map(|r| (r.occurrence, r.created_at))
            .collect();
        o.sort();
        o
    };
    let bob_runs = occurrences(runs_of(&h, &bob).await);
    assert_eq!(
        bob_runs,
        vec![
            (
                "anniversary:employeeHireDate:0:2026".into(),
                utc(2026, 12, 9, 23)
            ),
            (
                "anniversary:employeeHireDate:0:2027".into(),
                utc(2027, 12, 10, 9)
            ),
        ],
        "once a year, never twice"
    );
    let leap_runs = occurrences(runs_of(&h, &leap).await);
    assert_eq!(
        leap_runs,
        vec![
            // 2027 has no 29 February: the 28th. 2028 has one.
            (
                "anniversary:employeeHireDate:0:2027".into(),
                utc(2027, 2, 28, 9)
            ),
            (
                "anniversary:employeeHireDate:0:2028".into(),
                utc(2028, 2, 29, 9)
            ),
        ]
    );
    let early_runs = occurrences(runs_of(&h, &early).await);
    assert_eq!(
        early_runs,
        vec![
            (
                "anniversary:employeeHireDate:0:2027".into(),
                utc(2027, 11, 1, 9)
            ),
            (
                "anniversary:employeeHireDate:0:2028".into(),
                utc(2028, 11, 1, 9)
            ),
        ]
    );
    for run in runs(&h).await {
        assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    }
    // Requiring a change that is already required changes nothing: one audit event for bob.
    let audit = h.store.list_audit_events(h.tenant(), 500).await.unwrap();
    let bob_id = bob.id.to_string();
    let required = audit
        .iter()
        .filter(|a| {
            a.target_id.as_deref() == Some(bob_id.as_str())
                && a.channel.as_str() == "workflow"
                && a.activity == "Update user"
        })
        .count();
    assert_eq!(required, 1);
    let second = &runs_of(&h, &bob)
        .await
        .into_iter()
        .find(|r| r.occurrence.ends_with("2027"))
        .unwrap();
    assert!(
        second.steps[0]
            .output
            .as_deref()
            .unwrap()
            .contains("already required"),
        "{:?}",
        second.steps[0]
    );
}

async fn an_anniversary_that_passed_while_the_server_was_down_fires_once_when_it_comes_back(
    backend: Backend,
) {
    let h = Harness::new(backend).await;
    let bob = add_user(&h, "bob", hired(utc(2019, 12, 10, 0))).await;
    save(&h, REVIEW).await;
    let engine = Engine::new(h.directory.clone());
    set_clock(&h, utc(2026, 12, 1, 9));
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 0);
    assert!(
        engine
            .dry_run(h.tenant(), "yearly credential review")
            .await
            .unwrap()
            .is_empty()
    );

    // Down from 1 to 20 December: the 10th passed unseen.
    set_clock(&h, utc(2026, 12, 20, 9));
    let preview = engine
        .dry_run(h.tenant(), "Yearly credential review")
        .await
        .unwrap();
    assert_eq!(preview.len(), 1);
    assert_eq!(preview[0].user_principal_name, "bob@contoso.test");
    assert_eq!(preview[0].due, Some(utc(2026, 12, 10, 0)));
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 1);
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 0);
    engine.run_until_idle().await.unwrap();

    // Down for more than two years: only the latest anniversary fires, once.
    set_clock(&h, utc(2029, 1, 5, 9));
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 1);
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 0);
    let mut keys: Vec<_> = runs_of(&h, &bob)
        .await
        .into_iter()
        .map(|r| r.occurrence)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "anniversary:employeeHireDate:0:2026",
            "anniversary:employeeHireDate:0:2028"
        ]
    );
}

async fn an_inactive_user_is_caught_once_per_inactivity_spell_and_a_sign_in_starts_a_new_one(
    backend: Backend,
) {
    let h = Harness::new(backend).await;
    let start = h.clock.now();
    let dana = add_user(&h, "dana", in_department("Ops")).await;
    let never = add_user(&h, "never", in_department("Ops")).await;
    h.directory
        .sign_in_with_password(
            h.tenant(),
            "dana@contoso.test",
            &SecretString::from(PW),
            &client(),
        )
        .await
        .unwrap();
    h.clock.advance(Duration::days(5));
    // Created five days in: not inactive for 30 days until day 35.
    let late = add_user(&h, "late", in_department("Ops")).await;
    save(
        &h,
        r#"{"name": "Inactive", "trigger": {"kind": "inactivity", "days": 30},
            "scope": "department eq 'Ops'", "steps": [{"action": "revokeSessions"}]}"#,
    )
    .await;
    let engine = Engine::new(h.directory.clone());

    set_clock(&h, start + Duration::days(30) - Duration::minutes(1));
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 0);
    set_clock(&h, start + Duration::days(30) + Duration::minutes(1));
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 2, "dana and never");
    engine.run_until_idle().await.unwrap();
    set_clock(&h, start + Duration::days(36));
    assert_eq!(
        engine.tick(h.tenant()).await.unwrap(),
        1,
        "late, at 30 days old"
    );
    set_clock(&h, start + Duration::days(40));
    assert_eq!(
        engine.tick(h.tenant()).await.unwrap(),
        0,
        "one run per spell"
    );

    // Dana signs in on day 41: a new spell, caught 30 days later, once.
    set_clock(&h, start + Duration::days(41));
    h.directory
        .sign_in_with_password(
            h.tenant(),
            "dana@contoso.test",
            &SecretString::from(PW),
            &client(),
        )
        .await
        .unwrap();
    set_clock(&h, start + Duration::days(70));
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 0);
    set_clock(&h, start + Duration::days(72));
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 1);
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 0);
    engine.run_until_idle().await.unwrap();
    assert_eq!(runs_of(&h, &dana).await.len(), 2);
    assert_eq!(runs_of(&h, &never).await.len(), 1);
    assert_eq!(runs_of(&h, &late).await.len(), 1);
    assert_eq!(runs(&h).await.len(), 4, "the admin is outside the scope");
}

async fn a_schedule_fires_once_per_instant_for_everyone_in_scope_and_once_after_downtime(
    backend: Backend,
) {
    let h = Harness::new(backend).await;
    let op = Harness::operator();
    h.directory
        .set_workflow_settings(&op, h.tenant(), Some("America/New_York"), None)
        .await
        .unwrap();
    let bad = h
        .directory
        .save_workflow(
            &op,
            h.tenant(),
            r#"{"name": "Weekly", "trigger": {"kind": "schedule", "schedule": "0 9 * * FUNDAY"},
                "steps": [{"action": "revokeSessions"}]}"#,
        )
        .await
        .unwrap_err();
    let (property, message) = invalid(bad);
    assert_eq!(property, "trigger.schedule");
    assert!(message.contains("FUNDAY"), "{message}");
    assert!(
        h.directory
            .list_workflows(&op, h.tenant())
            .await
            .unwrap()
            .is_empty(),
        "nothing saved"
    );

    add_user(&h, "s1", in_department("Sales")).await;
    add_user(&h, "s2", in_department("Sales")).await;
    add_user(&h, "support", in_department("Support")).await;
    // Mondays at 09:00 in New York (14:00 UTC in winter). The clock is on Tuesday 24 Nov.
    save(
        &h,
        r#"{"name": "Weekly", "trigger": {"kind": "schedule", "schedule": "0 9 * * MON"},
            "scope": "department eq 'Sales'", "steps": [{"action": "revokeSessions"}]}"#,
    )
    .await;
    let engine = Engine::new(h.directory.clone());
    assert_eq!(
        engine.tick(h.tenant()).await.unwrap(),
        0,
        "Monday 23rd was before the save"
    );
    set_clock(&h, utc(2026, 11, 30, 13) + Duration::minutes(59));
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 0);
    set_clock(&h, utc(2026, 11, 30, 14));
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 2);
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 0);
    // Three Mondays missed while down: one occurrence (the latest) when it comes back.
    set_clock(&h, utc(2026, 12, 23, 9));
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 2);
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 0);
    engine.run_until_idle().await.unwrap();
    let mut keys: Vec<_> = runs(&h).await.into_iter().map(|r| r.occurrence).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(
        keys,
        [
            "schedule:2026-11-30T14:00:00+00:00",
            "schedule:2026-12-21T14:00:00+00:00"
        ]
    );
}

async fn a_step_whose_condition_does_not_hold_for_the_user_is_skipped_and_the_run_goes_on(
    backend: Backend,
) {
    let h = Harness::new(backend).await;
    let op = Harness::operator();
    let bad = h
        .directory
        .save_workflow(
            &op,
            h.tenant(),
            r#"{"name": "Cond", "trigger": {"kind": "manual"}, "steps": [
                {"action": "revokeSessions"},
                {"action": "disableAccount", "condition": "favouriteColour eq 'red'"}]}"#,
        )
        .await
        .unwrap_err();
    let (property, message) = invalid(bad);
    assert_eq!(property, "steps[1].condition");
    assert!(message.contains("favouriteColour"), "{message}");

    let sales = add_user(&h, "sales", in_department("Sales")).await;
    let support = add_user(&h, "support", in_department("Support")).await;
    save(
        &h,
        r#"{"name": "Cond", "trigger": {"kind": "manual"}, "steps": [
            {"action": "disableAccount", "condition": "department eq 'Sales'"},
            {"action": "revokeSessions"}]}"#,
    )
    .await;
    let engine = Engine::new(h.directory.clone());
    let started = engine
        .run_manually(
            h.tenant(),
            "cond",
            &[UserRef::Id(sales.id), UserRef::Id(support.id)],
            false,
        )
        .await
        .unwrap();
    assert_eq!(started, 2);
    engine.run_until_idle().await.unwrap();
    let get = |id| {
        let d = h.directory.clone();
        let t = h.tenant();
        async move {
            d.get_user(&Harness::operator(), t, &UserRef::Id(id))
                .await
                .unwrap()
        }
    };
    assert!(!get(sales.id).await.account_enabled);
    assert!(
        get(support.id).await.account_enabled,
        "the condition kept support enabled"
    );
    let support_run = &runs_of(&h, &support).await[0];
    assert_eq!(support_run.status, RunStatus::Succeeded);
    assert_eq!(support_run.steps[0].status, StepStatus::Skipped);
    assert!(
        support_run.steps[0]
            .output
            .as_deref()
            .unwrap()
            .contains("department eq 'Sales'"),
        "{:?}",
        support_run.steps[0]
    );
    assert_eq!(support_run.steps[1].status, StepStatus::Succeeded);
    let sales_run = &runs_of(&h, &sales).await[0];
    assert!(
        sales_run
            .steps
            .iter()
            .all(|s| s.status == StepStatus::Succeeded)
    );
}

async fn a_run_start_touching_more_than_the_tenant_share_is_refused_until_confirmed(
    backend: Backend,
) {
    let h = Harness::new(backend).await;
    let op = Harness::operator();
    // Twelve leavers and the admin: twelve of thirteen users is 92 %.
    let mut users = Vec::new();
    for i in 0..12 {
        users.push(
            add_user(
                &h,
                &format!("u{i}"),
                UserProfile {
                    employee_leave_date_time: Some(h.clock.now() - Duration::days(1)),
                    ..UserProfile::default()
                },
            )
            .await,
        );
    }
    save(
        &h,
        r#"{"name": "Lock out", "trigger": {"kind": "manual"},
            "steps": [{"action": "revokeSessions"}]}"#,
    )
    .await;
    let engine = Engine::new(h.directory.clone());
    let refs: Vec<_> = users.iter().map(|u| UserRef::Id(u.id)).collect();
    let (property, message) = invalid(
        engine
            .run_manually(h.tenant(), "Lock out", &refs, false)
            .await
            .unwrap_err(),
    );
    assert_eq!(property, "confirmShare");
    assert!(message.contains("12 of the tenant's 13 users"), "{message}");
    assert!(message.contains("--confirm-share"), "{message}");
    assert!(runs(&h).await.is_empty(), "nothing was started");
    // Ten users or fewer never need the confirmation.
    assert_eq!(
        engine
            .run_manually(h.tenant(), "Lock out", &refs[..10], false)
            .await
            .unwrap(),
        10
    );
    // A later manual run is a new occurrence.
    h.clock.advance(Duration::minutes(1));
    assert_eq!(
        engine
            .run_manually(h.tenant(), "Lock out", &refs, true)
            .await
            .unwrap(),
        12
    );

    // A trigger over the same twelve is held at the tick, and the other workflows still tick…
    save(
        &h,
        r#"{"name": "Leavers", "trigger": {"kind": "leaveDate", "offsetDays": 0},
            "steps": [{"action": "revokeSessions"}]}"#,
    )
    .await;
    save(
        &h,
        r#"{"name": "Leavers confirmed", "trigger": {"kind": "leaveDate", "offsetDays": 0},
            "confirmShare": true, "steps": [{"action": "revokeSessions"}]}"#,
    )
    .await;
    assert_eq!(
        engine.tick(h.tenant()).await.unwrap(),
        12,
        "only the confirmed one"
    );
    // …until the tenant allows a larger share.
    let (property, _) = invalid(
        h.directory
            .set_workflow_settings(&op, h.tenant(), None, Some(0))
            .await
            .unwrap_err(),
    );
    assert_eq!(property, "maxRunSharePercent");
    let (property, message) = invalid(
        h.directory
            .set_workflow_settings(&op, h.tenant(), Some("Atlantis/Capital"), Some(100))
            .await
            .unwrap_err(),
    );
    assert_eq!(property, "timeZone");
    assert!(message.contains("Atlantis/Capital"));
    let unchanged = h
        .directory
        .workflow_settings(&op, h.tenant())
        .await
        .unwrap();
    assert_eq!(
        unchanged.max_run_share_percent, 50,
        "a bad zone saved nothing"
    );
    h.directory
        .set_workflow_settings(&op, h.tenant(), None, Some(100))
        .await
        .unwrap();
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 12);
}

async fn set_text(h: &Harness, user: &User, field: ProfileField, value: &str) {
    h.directory
        .update_user(
            &Harness::operator(),
            h.tenant(),
            &UserRef::Id(user.id),
            UserChanges {
                text: vec![(field, Some(value.into()))],
                ..UserChanges::default()
            },
        )
        .await
        .unwrap();
}

async fn a_mover_fires_once_per_watched_change_of_a_user_in_scope(backend: Backend) {
    let h = Harness::new(backend).await;
    let op = Harness::operator();
    let mover = add_user(&h, "mover", in_department("Sales")).await;
    let boss = add_user(&h, "boss", in_department("Sales")).await;
    let outside = add_user(&h, "outside", in_department("Legal")).await;
    // A change before the workflow exists does not fire.
    set_text(&h, &mover, ProfileField::Department, "Marketing").await;
    h.clock.advance(Duration::minutes(1));
    let bad = h
        .directory
        .save_workflow(
            &op,
            h.tenant(),
            r#"{"name": "Mover", "trigger": {"kind": "attributeChanged", "attributes": []},
                "steps": [{"action": "revokeSessions"}]}"#,
        )
        .await
        .unwrap_err();
    assert_eq!(invalid(bad).0, "trigger.attributes");
    save(
        &h,
        r#"{"name": "Mover", "trigger": {"kind": "attributeChanged",
              "attributes": ["department", "manager"]},
            "scope": "department ne 'Legal'", "steps": [{"action": "revokeSessions"}]}"#,
    )
    .await;
    let engine = Engine::new(h.directory.clone());
    h.clock.advance(Duration::minutes(1));
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 0);

    // A change that is not watched, and one of a user outside the scope: nothing.
    set_text(&h, &mover, ProfileField::JobTitle, "Lead").await;
    set_text(&h, &outside, ProfileField::OfficeLocation, "Lyon").await;
    h.clock.advance(Duration::minutes(1));
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 0);

    // The department moves: one run, and only one however often it ticks.
    set_text(&h, &mover, ProfileField::Department, "Support").await;
    assert_eq!(
        engine.tick(h.tenant()).await.unwrap(),
        0,
        "a change settles before it is read"
    );
    h.clock.advance(Duration::minutes(1));
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 1);
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 0);
    // A new manager is another change.
    h.directory
        .set_manager(&op, h.tenant(), &UserRef::Id(mover.id), boss.id)
        .await
        .unwrap();
    h.clock.advance(Duration::minutes(1));
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 1);
    engine.run_until_idle().await.unwrap();
    let mine = runs_of(&h, &mover).await;
    assert_eq!(mine.len(), 2);
    assert!(mine.iter().all(|r| r.status == RunStatus::Succeeded));
    assert_eq!(runs(&h).await.len(), 2);
    assert!(
        engine
            .dry_run(h.tenant(), "mover")
            .await
            .unwrap()
            .is_empty(),
        "nothing left to do"
    );
}

async fn a_wait_step_holds_the_run_until_its_time_and_costs_no_attempt(backend: Backend) {
    let h = Harness::new(backend).await;
    let op = Harness::operator();
    let bad = h
        .directory
        .save_workflow(
            &op,
            h.tenant(),
            r#"{"name": "Later", "trigger": {"kind": "manual"},
                "steps": [{"action": "wait", "days": -1}]}"#,
        )
        .await
        .unwrap_err();
    assert_eq!(invalid(bad).0, "steps[0].days");
    let user = add_user(&h, "later", in_department("Sales")).await;
    save(
        &h,
        r#"{"name": "Later", "trigger": {"kind": "manual"}, "steps": [
            {"action": "revokeSessions"},
            {"action": "wait", "days": 2},
            {"action": "disableAccount"}]}"#,
    )
    .await;
    let engine = Engine::new(h.directory.clone());
    engine
        .run_manually(h.tenant(), "later", &[UserRef::Id(user.id)], false)
        .await
        .unwrap();
    let started = h.clock.now();
    engine.run_until_idle().await.unwrap();
    let run = &runs_of(&h, &user).await[0];
    assert_eq!(run.status, RunStatus::Running);
    assert_eq!(run.steps[1].status, StepStatus::Pending);
    assert!(
        run.steps[1]
            .output
            .as_deref()
            .unwrap()
            .starts_with("waiting until"),
        "{:?}",
        run.steps[1]
    );
    set_clock(&h, started + Duration::days(2) - Duration::minutes(1));
    assert_eq!(engine.run_until_idle().await.unwrap(), 0);
    let get = || async {
        h.directory
            .get_user(&op, h.tenant(), &UserRef::Id(user.id))
            .await
            .unwrap()
    };
    assert!(get().await.account_enabled, "not before the wait is over");
    set_clock(&h, started + Duration::days(2));
    assert_eq!(engine.run_until_idle().await.unwrap(), 2);
    assert!(!get().await.account_enabled);
    let run = &runs_of(&h, &user).await[0];
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(run.steps[1].status, StepStatus::Succeeded);
    assert_eq!(run.steps[1].attempts, 1, "waiting is not an attempt");
}

async fn the_offboarding_template_locks_a_leaver_out_and_deletes_them_thirty_days_later(
    backend: Backend,
) {
    let h = Harness::new(backend).await;
    let op = Harness::operator();
    let leaver = add_user(
        &h,
        "leaver",
        UserProfile {
            employee_leave_date_time: Some(h.clock.now() - Duration::hours(1)),
            ..UserProfile::default()
        },
    )
    .await;
    let template = latchkey_automation::templates::find("offboarding").unwrap();
    save(&h, template.definition).await;
    let engine = Engine::new(h.directory.clone());
    assert_eq!(engine.tick(h.tenant()).await.unwrap(), 1);
    engine.run_until_idle().await.unwrap();
    let user = h
        .directory
        .get_user(&op, h.tenant(), &UserRef::Id(leaver.id))
        .await
        .unwrap();
    assert!(!user.account_enabled);
    let started = runs_of(&h, &leaver).await[0].created_at;
    set_clock(&h, started + Duration::days(30) - Duration::minutes(1));
    engine.run_until_idle().await.unwrap();
    assert!(
        h.directory
            .get_user(&op, h.tenant(), &UserRef::Id(leaver.id))
            .await
            .is_ok(),
        "still there a minute before"
    );
    set_clock(&h, started + Duration::days(30));
    engine.run_until_idle().await.unwrap();
    let gone = h
        .directory
        .get_user(&op, h.tenant(), &UserRef::Id(leaver.id))
        .await
        .unwrap_err();
    assert!(matches!(gone, DirectoryError::NotFound { .. }), "{gone:?}");
    let run = &runs_of(&h, &leaver).await[0];
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    assert_eq!(run.steps.len(), 7);
    // The leaver had no manager: the notice step says so and the run went on.
    assert!(
        run.steps[4]
            .output
            .as_deref()
            .unwrap()
            .contains("no manager")
    );
}

async fn a_manual_run_names_its_users_by_id_or_upn_and_an_unknown_one_starts_nothing(
    backend: Backend,
) {
    let h = Harness::new(backend).await;
    // More users than one lookup reads, so that the names are resolved in several reads.
    let mut users = Vec::new();
    for i in 0..130 {
        users.push(add_user(&h, &format!("m{i}"), UserProfile::default()).await);
    }
    save(
        &h,
        r#"{"name": "Lock out", "trigger": {"kind": "manual"},
            "steps": [{"action": "revokeSessions"}]}"#,
    )
    .await;
    let engine = Engine::new(h.directory.clone());
    // Half by id, half by UPN in capitals, one named twice, and one nobody has.
    let mut refs: Vec<UserRef> = users
        .iter()
        .enumerate()
        .map(|(i, u)| {
            if i % 2 == 0 {
                UserRef::Id(u.id)
            } else {
                UserRef::parse(&u.user_principal_name.as_str().to_uppercase()).unwrap()
            }
        })
        .collect();
    refs.push(UserRef::Id(users[0].id));
    let mut with_unknown = refs.clone();
    with_unknown.insert(70, UserRef::parse("nobody@contoso.test").unwrap());
    let refused = engine
        .run_manually(h.tenant(), "Lock out", &with_unknown, true)
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, DirectoryError::NotFound { what } if what.contains("nobody@contoso.test")),
        "{refused:?}"
    );
    assert!(runs(&h).await.is_empty(), "nothing was started");

    let started = engine
        .run_manually(h.tenant(), "Lock out", &refs, true)
        .await
        .unwrap();
    assert_eq!(started, 130, "one run per user, the one named twice once");
    let mut ran: Vec<_> = runs(&h).await.iter().map(|r| r.user_id).collect();
    ran.sort_unstable();
    let mut expected: Vec<_> = users.iter().map(|u| u.id).collect();
    expected.sort_unstable();
    assert_eq!(ran, expected);
}

async fn a_wait_until_an_instant_holds_the_run_until_then_and_a_past_one_not_at_all(
    backend: Backend,
) {
    let h = Harness::new(backend).await;
    let op = Harness::operator();
    let (property, _) = invalid(
        h.directory
            .save_workflow(
                &op,
                h.tenant(),
                r#"{"name": "Both", "trigger": {"kind": "manual"},
                    "steps": [{"action": "wait", "days": 1, "until": "2027-01-01T00:00:00Z"}]}"#,
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(property, "steps[0].until");
    let (property, message) = invalid(
        h.directory
            .save_workflow(
                &op,
                h.tenant(),
                r#"{"name": "Bad", "trigger": {"kind": "manual"},
                    "steps": [{"action": "wait", "until": "next Tuesday"}]}"#,
            )
            .await
            .unwrap_err(),
    );
    assert!(property.starts_with("steps[0]"), "{property}");
    assert!(
        message.contains("next Tuesday") || message.contains("input"),
        "{message}"
    );

    let user = add_user(&h, "until", in_department("Sales")).await;
    let then = h.clock.now() + Duration::days(3);
    save(
        &h,
        &format!(
            r#"{{"name": "Until", "trigger": {{"kind": "manual"}}, "steps": [
                {{"action": "wait", "until": "{}"}},
                {{"action": "disableAccount"}}]}}"#,
            then.to_rfc3339()
        ),
    )
    .await;
    let engine = Engine::new(h.directory.clone());
    engine
        .run_manually(h.tenant(), "until", &[UserRef::Id(user.id)], false)
        .await
        .unwrap();
    engine.run_until_idle().await.unwrap();
    let run = &runs_of(&h, &user).await[0];
    assert_eq!(run.status, RunStatus::Running);
    let output = run.steps[0].output.as_deref().unwrap();
    assert!(output.contains(&then.to_rfc3339()), "{output}");
    set_clock(&h, then - Duration::minutes(1));
    assert_eq!(engine.run_until_idle().await.unwrap(), 0);
    set_clock(&h, then);
    assert_eq!(engine.run_until_idle().await.unwrap(), 2);
    let run = &runs_of(&h, &user).await[0];
    assert_eq!(run.status, RunStatus::Succeeded);

    // An instant already past lets the run go straight on.
    let other = add_user(&h, "past", in_department("Sales")).await;
    engine
        .run_manually(h.tenant(), "until", &[UserRef::Id(other.id)], false)
        .await
        .unwrap();
    assert_eq!(engine.run_until_idle().await.unwrap(), 2);
    assert_eq!(runs_of(&h, &other).await[0].status, RunStatus::Succeeded);
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

both_backends!(
    a_yearly_anniversary_fires_once_a_year_per_user_in_the_tenant_time_zone_across_two_years,
    an_anniversary_that_passed_while_the_server_was_down_fires_once_when_it_comes_back,
    an_inactive_user_is_caught_once_per_inactivity_spell_and_a_sign_in_starts_a_new_one,
    a_schedule_fires_once_per_instant_for_everyone_in_scope_and_once_after_downtime,
    a_step_whose_condition_does_not_hold_for_the_user_is_skipped_and_the_run_goes_on,
    a_run_start_touching_more_than_the_tenant_share_is_refused_until_confirmed,
    a_mover_fires_once_per_watched_change_of_a_user_in_scope,
    a_wait_step_holds_the_run_until_its_time_and_costs_no_attempt,
    the_offboarding_template_locks_a_leaver_out_and_deletes_them_thirty_days_later,
    a_manual_run_names_its_users_by_id_or_upn_and_an_unknown_one_starts_nothing,
    a_wait_until_an_instant_holds_the_run_until_then_and_a_past_one_not_at_all,
);
