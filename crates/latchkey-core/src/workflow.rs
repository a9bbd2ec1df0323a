//! Lifecycle workflows: the validated model the automation engine runs. A workflow is a
//! trigger, a scope (which users: a condition in Graph's `$filter` language, compiled to the
//! one [`Filter`] AST when the workflow is saved), and ordered steps, each an action with
//! typed arguments and an on-failure policy.
//!
//! A definition arrives as JSON ([`WorkflowDefinition::parse_json`]); everything a workflow
//! can get wrong is refused there, with an error naming the field, so that nothing invalid is
//! ever stored or run. The definition is stored as JSON with a schema version
//! ([`DEFINITION_SCHEMA`]); a run keeps the workflow version it started with.

use std::str::FromStr as _;

use chrono::{DateTime, Datelike as _, Duration, NaiveDate, TimeZone as _, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::error::DirectoryError;
use crate::odata::{QueryError, parse_filter};
use crate::query::Filter;
use crate::user::User;

/// The version of the stored JSON shape; bumped when the shape changes incompatibly.
pub const DEFINITION_SCHEMA: u32 = 1;
/// Most steps in one workflow.
pub const MAX_STEPS: usize = 50;
/// Time offsets are bounded to ten years either way.
pub const MAX_OFFSET_DAYS: i64 = 3650;
/// Longest workflow name, in characters.
pub const MAX_NAME_LEN: usize = 120;

/// What starts a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum Trigger {
    /// `employeeHireDate` + `offsetDays` has been reached (joiner).
    #[serde(rename_all = "camelCase")]
    HireDate { offset_days: i64 },
    /// `employeeLeaveDateTime` + `offsetDays` has been reached (leaver).
    #[serde(rename_all = "camelCase")]
    LeaveDate { offset_days: i64 },
    /// Only run on demand, for a chosen set of users.
    Manual,
    /// Every year on the anniversary of a date attribute (+ `offsetDays`), at midnight in
    /// the tenant's time zone. A 29 February date falls due on 28 February in other years.
    #[serde(rename_all = "camelCase")]
    Anniversary {
        attribute: DateAttribute,
        #[serde(default)]
        offset_days: i64,
    },
    /// No sign-in (and created) more than `days` days ago; once per inactivity spell.
    #[serde(rename_all = "camelCase")]
    Inactivity { days: i64 },
    /// At each instant of a cron schedule (five fields, the tenant's time zone), for every
    /// user in scope.
    #[serde(rename_all = "camelCase")]
    Schedule { schedule: String },
    /// One of `attributes` of a user changed (mover): once per change, from the workflow's
    /// creation on.
    #[serde(rename_all = "camelCase")]
    AttributeChanged { attributes: Vec<WatchedAttribute> },
    /// A user was created (joiner), from the workflow's creation on: once per user.
    UserCreated,
    /// A user's `accountEnabled` went from true to false, from the workflow's creation on:
    /// once per such change.
    AccountDisabled,
    /// A new app entered the SaaS inventory (discovered, not yet reviewed) from a user's
    /// consent or sign-in, from the workflow's creation on: once per app, the run's user the
    /// user whose consent or sign-in revealed it (`saas.appDiscovered` in the outbox).
    AppDiscovered,
    /// A user's seat of a SaaS app became idle: unused (and assigned) for `days` days, or
    /// for the app's own idle threshold when absent. Once per seat and idle spell (a use
    /// starts a new spell); the run's user is the seat holder.
    #[serde(rename_all = "camelCase")]
    LicenseIdle {
        #[serde(default)]
        days: Option<u32>,
    },
    /// `offsetDays` days (or fewer) are left before a SaaS contract's cancellation deadline
    /// (end less notice): once per contract and deadline, while the deadline has not passed;
    /// the run's user is the app's owner (an app without one starts no run).
    #[serde(rename_all = "camelCase")]
    ContractRenewalDue { offset_days: u32 },
}

/// What a mover trigger can watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum WatchedAttribute {
    Department,
    JobTitle,
    Manager,
    CompanyName,
    OfficeLocation,
    EmployeeType,
}

impl WatchedAttribute {
    /// The Graph property name, as a change's `modifiedProperties` lists it.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Department => "department",
            Self::JobTitle => "jobTitle",
            Self::Manager => "manager",
            Self::CompanyName => "companyName",
            Self::OfficeLocation => "officeLocation",
            Self::EmployeeType => "employeeType",
        }
    }
}

impl Trigger {
    /// Whether a directory change event (`user.updated`, `user.managerChanged`) is one this
    /// mover trigger watches.
    pub fn watches(&self, kind: &str, payload: &serde_json::Value) -> bool {
        let modified = |name: &str| {
            payload["modifiedProperties"]
                .as_array()
                .is_some_and(|changed| changed.iter().any(|p| p.as_str() == Some(name)))
        };
        let attributes = match self {
            Self::AttributeChanged { attributes } => attributes,
            Self::UserCreated => return kind == "user.created",
            Self::AppDiscovered => return kind == "saas.appDiscovered",
            // `user.updated` carries the new `accountEnabled` when it changed.
            Self::AccountDisabled => {
                return kind == "user.updated"
                    && modified("accountEnabled")
                    && payload["accountEnabled"] == serde_json::Value::Bool(false);
            }
            _ => return false,
        };
        match kind {
            "user.managerChanged" => attributes.contains(&WatchedAttribute::Manager),
            "user.updated" => payload["modifiedProperties"]
                .as_array()
                .is_some_and(|changed| {
                    changed
                        .iter()
                        .any(|p| attributes.iter().any(|a| p.as_str() == Some(a.name())))
                }),
            _ => false,
        }
    }
}

/// The date attributes an anniversary can follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DateAttribute {
    #[serde(rename = "employeeHireDate")]
    EmployeeHireDate,
}

impl DateAttribute {
    pub const fn name(self) -> &'static str {
        match self {
            Self::EmployeeHireDate => "employeeHireDate",
        }
    }

    pub fn of(self, user: &User) -> Option<DateTime<Utc>> {
        match self {
            Self::EmployeeHireDate => user.profile.employee_hire_date,
        }
    }
}

/// What a time trigger needs besides the user to find its due occurrence.
#[derive(Debug, Clone, Copy)]
pub struct TriggerContext {
    pub now: DateTime<Utc>,
    pub time_zone: Tz,
    /// Recurring occurrences (anniversaries, schedules) due before this instant (the
    /// workflow's creation) do not fire: saving a workflow does not replay the past year.
    pub not_before: DateTime<Utc>,
    /// The schedule's latest instant at or before `now`, computed once per tick.
    pub scheduled: Option<DateTime<Utc>>,
}

/// Most inactivity days.
pub const MAX_INACTIVITY_DAYS: i64 = 3650;

impl Trigger {
    /// Whether runs start from the directory's change events (mover, joiner, disabled)
    /// rather than from the users' state.
    pub const fn follows_changes(&self) -> bool {
        matches!(
            self,
            Self::AttributeChanged { .. }
                | Self::UserCreated
                | Self::AccountDisabled
                | Self::AppDiscovered
        )
    }

    /// Whether runs start from the SaaS inventory's state (idle seats, contracts' deadlines)
    /// rather than from the users' own.
    pub const fn follows_saas(&self) -> bool {
        matches!(
            self,
            Self::LicenseIdle { .. } | Self::ContractRenewalDue { .. }
        )
    }

    /// The occurrence key of a change event this trigger watches: unique per workflow,
    /// user and change, so each fires once.
    pub fn change_key(&self, event: crate::ids::EventId) -> String {
        match self {
            Self::UserCreated => format!("created:{event}"),
            Self::AccountDisabled => format!("disabled:{event}"),
            Self::AppDiscovered => format!("discovered:{event}"),
            _ => format!("changed:{event}"),
        }
    }

    /// [`Self::change_key`] for an outbox event: a discovery's key also names the app it
    /// discovered (`discovered:EVENT:APP`), for the run's template context.
    pub fn change_key_for(&self, event: &crate::audit::OutboxEvent) -> String {
        match (self, event.payload["id"].as_str()) {
            (Self::AppDiscovered, Some(app)) => format!("discovered:{}:{app}", event.id),
            _ => self.change_key(event.id),
        }
    }

    /// The occurrence of this trigger for `user`, if the user has one: the instant it is due
    /// and its key (unique per workflow and user, so it fires once). The key carries the
    /// attribute's date, so moving a leave date creates a new occurrence.
    pub fn occurrence(&self, user: &User) -> Option<Occurrence> {
        self.date_occurrence(
            user.profile.employee_hire_date,
            user.profile.employee_leave_date_time,
        )
    }

    /// [`Self::occurrence`] from the two dates alone, for users that are not this
    /// directory's (a connected tenant's `employeeHireDate` / `employeeLeaveDateTime`).
    pub fn date_occurrence(
        &self,
        hire: Option<DateTime<Utc>>,
        leave: Option<DateTime<Utc>>,
    ) -> Option<Occurrence> {
        let (date, offset, label) = match self {
            Self::HireDate { offset_days } => (hire?, *offset_days, "hire"),
            Self::LeaveDate { offset_days } => (leave?, *offset_days, "leave"),
            Self::Manual
            | Self::AttributeChanged { .. }
            | Self::UserCreated
            | Self::AccountDisabled
            | Self::AppDiscovered
            | Self::LicenseIdle { .. }
            | Self::ContractRenewalDue { .. }
            | Self::Anniversary { .. }
            | Self::Inactivity { .. }
            | Self::Schedule { .. } => return None,
        };
        Some(Occurrence {
            due: date + Duration::days(offset),
            key: format!("{label}:{}:{offset}", date.to_rfc3339()),
        })
    }
}

impl Trigger {
    /// The occurrence of the trigger for `user` that is due at `ctx.now`, if any: for
    /// recurring triggers the latest one (a tick after downtime fires that one, once; the
    /// missed earlier ones do not fire). `last_sign_in` is the user's last successful
    /// sign-in (inactivity only).
    pub fn due_occurrence(
        &self,
        user: &User,
        last_sign_in: Option<DateTime<Utc>>,
        ctx: &TriggerContext,
    ) -> Option<Occurrence> {
        let due = match self {
            Self::HireDate { .. } | Self::LeaveDate { .. } => self.occurrence(user)?,
            // Changes come from the directory's events, not from the user's state.
            Self::Manual
            | Self::AttributeChanged { .. }
            | Self::UserCreated
            | Self::AccountDisabled
            | Self::AppDiscovered
            | Self::LicenseIdle { .. }
            | Self::ContractRenewalDue { .. } => return None,
            Self::Anniversary {
                attribute,
                offset_days,
            } => {
                let date = attribute.of(user)?;
                let (year, due) = latest_anniversary(date, *offset_days, ctx.time_zone, ctx.now)?;
                if due < ctx.not_before {
                    return None;
                }
                Occurrence {
                    due,
                    key: format!("anniversary:{}:{offset_days}:{year}", attribute.name()),
                }
            }
            Self::Inactivity { days } => {
                // The spell starts at the last sign-in, or at creation for someone who never
                // signed in; a later sign-in starts a new spell (a new key).
                let since = last_sign_in.map_or(user.created, |t| t.max(user.created));
                Occurrence {
                    due: since + Duration::days(*days),
                    key: format!("inactive:{days}:{}", since.to_rfc3339()),
                }
            }
            Self::Schedule { .. } => {
                let at = ctx.scheduled.filter(|at| *at >= ctx.not_before)?;
                Occurrence {
                    due: at,
                    key: format!("schedule:{}", at.to_rfc3339()),
                }
            }
        };
        (due.due <= ctx.now).then_some(due)
    }

    /// A schedule trigger's latest instant at or before `now` in `time_zone`.
    pub fn latest_scheduled(&self, now: DateTime<Utc>, time_zone: Tz) -> Option<DateTime<Utc>> {
        let Self::Schedule { schedule } = self else {
            return None;
        };
        let cron = parse_cron(schedule).ok()?;
        cron.find_previous_occurrence(&now.with_timezone(&time_zone), true)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }
}

fn parse_cron(raw: &str) -> Result<croner::Cron, String> {
    croner::Cron::from_str(raw.trim()).map_err(|e| e.to_string())
}

/// The anniversary of `date` (its calendar date as stored, in UTC) in `year`, plus
/// `offset_days`, at the first instant of that day in `tz`. 29 February becomes 28 February
/// in years without it.
pub fn anniversary_due(
    date: DateTime<Utc>,
    year: i32,
    offset_days: i64,
    tz: Tz,
) -> Option<DateTime<Utc>> {
    let d = date.date_naive();
    let day = NaiveDate::from_ymd_opt(year, d.month(), d.day())
        .or_else(|| NaiveDate::from_ymd_opt(year, d.month(), d.day() - 1))?;
    let local = day.checked_add_signed(Duration::days(offset_days))?;
    // Midnight may not exist (a DST change at 00:00): the day's first existing hour.
    (0..4).find_map(|h| {
        tz.from_local_datetime(&local.and_hms_opt(h, 0, 0)?)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    })
}

/// The latest anniversary of `date` (after its own year) due at or before `now`: its year
/// and due instant.
pub fn latest_anniversary(
    date: DateTime<Utc>,
    offset_days: i64,
    tz: Tz,
    now: DateTime<Utc>,
) -> Option<(i32, DateTime<Utc>)> {
    let this_year = now.with_timezone(&tz).year();
    let spread = i32::try_from(offset_days.abs() / 365 + 2).ok()?;
    let first = date.date_naive().year() + 1;
    ((this_year - spread).max(first)..=this_year + spread)
        .rev()
        .find_map(|year| {
            anniversary_due(date, year, offset_days, tz)
                .filter(|due| *due <= now)
                .map(|due| (year, due))
        })
}

/// Parses an IANA time zone name (`Europe/Paris`, `UTC`).
pub fn parse_time_zone(raw: &str) -> Result<Tz, DirectoryError> {
    Tz::from_str(raw.trim()).map_err(|_| {
        DirectoryError::invalid(
            "timeZone",
            format!(
                "'{}' is not an IANA time zone name (such as Europe/Paris or UTC)",
                raw.trim()
            ),
        )
    })
}

/// One firing of a trigger for one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occurrence {
    pub due: DateTime<Utc>,
    pub key: String,
}

/// What a step does, with its typed arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum Action {
    /// Sets `accountEnabled` to false (a no-op when already disabled).
    DisableAccount,
    /// Ends every session and refresh token.
    RevokeSessions,
    /// Sets a generated password nobody is told, and requires a change at next sign-in.
    ResetPasswordUnknown,
    /// Removes every licence the user holds.
    RemoveAllLicenses,
    /// E-mails the user's manager that the workflow ran for the user.
    NotifyManager,
    /// Requires a password change at the next sign-in (a no-op when already required).
    RequirePasswordChange,
    /// Moves the user to the recycle bin (restorable for 30 days); done if already gone.
    DeleteUser,
    /// Waits `days` (and `hours`) from when the step first came up before the run goes on,
    /// or until the instant `until` (RFC 3339; a past one waits not at all).
    #[serde(rename_all = "camelCase")]
    Wait {
        #[serde(default)]
        days: i64,
        #[serde(default)]
        hours: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<DateTime<Utc>>,
    },
    /// POSTs a JSON notice about the run's user to `url`, signed with the workflow's webhook
    /// secret (HMAC-SHA-256 of the body); `format: "slack"` sends Slack's `{"text": …}`.
    /// Delivered at least once (retries carry the same `X-Latchkey-Delivery` id).
    #[serde(rename_all = "camelCase")]
    SendWebhook {
        url: String,
        #[serde(default)]
        format: WebhookFormat,
    },
    /// Sets `accountEnabled` to true (a no-op when already enabled).
    EnableAccount,
    /// Sets profile properties, by Graph name (`department`, `jobTitle`, …), to a string or
    /// `null` (cleared); properties already so are left alone.
    #[serde(rename_all = "camelCase")]
    SetAttributes {
        attributes: std::collections::BTreeMap<String, serde_json::Value>,
    },
    /// Assigns a directory role, by display name or template id (done if already held).
    #[serde(rename_all = "camelCase")]
    AddRole { role: String },
    /// Takes a directory role away (done if not held).
    #[serde(rename_all = "camelCase")]
    RemoveRole { role: String },
    /// Assigns a licence, by `skuPartNumber` or `skuId` (done if already held).
    #[serde(rename_all = "camelCase")]
    AssignLicense { sku: String },
    /// Removes a licence (done if not held).
    #[serde(rename_all = "camelCase")]
    RemoveLicense { sku: String },
    /// E-mails `to` (`user`, `manager`, or an address) a message whose `subject` and `body`
    /// are minijinja templates over the user's attributes, the workflow and the run.
    #[serde(rename_all = "camelCase")]
    SendEmail {
        to: String,
        subject: String,
        body: String,
    },
    /// Calls another system's HTTP API: `method` (`GET`, `POST`, `PUT`, `PATCH`, `DELETE`) to
    /// `url`, with `headers` and an optional `body` that are minijinja templates (as
    /// `sendEmail`'s), optionally authenticated by OAuth 2.0 client credentials (`auth`, its
    /// secret sealed at save). Every attempt carries the same `Idempotency-Key`.
    #[serde(rename_all = "camelCase")]
    CallHttp {
        method: String,
        url: String,
        #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
        headers: std::collections::BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        auth: Option<crate::workflow_http::HttpAuth>,
    },
    /// Sets a generated password that meets the tenant's policy, requires a change at next
    /// sign-in, and e-mails `deliverTo` (`user` or `manager`) a view-once link to it.
    #[serde(rename_all = "camelCase")]
    ResetPassword {
        deliver_to: crate::workflow_http::DeliverTo,
    },
    /// E-mails `approver` (`manager`, or the UPN of a user of this tenant) a link to an
    /// approval page (with `message`, a minijinja template as `sendEmail`'s body) and waits
    /// until they decide or `timeoutDays` pass; then `onTimeout` (`reject`, `approve` or
    /// `fail`) decides. A rejection ends the run, its remaining steps skipped.
    #[serde(rename_all = "camelCase")]
    RequestApproval {
        approver: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        #[serde(default = "default_approval_days")]
        timeout_days: i64,
        #[serde(default = "default_on_timeout")]
        on_timeout: String,
    },
    /// Creates the user in a SCIM 2.0 app (`latchkey workflows connect-scim`), or updates the
    /// app's user so that its mapped attributes match (done if they already do).
    #[serde(rename_all = "camelCase")]
    ScimProvision { connection: String },
    /// Deactivates (`active: false`) or deletes the user in a SCIM 2.0 app; done if absent.
    #[serde(rename_all = "camelCase")]
    ScimDeprovision {
        connection: String,
        #[serde(default)]
        mode: ScimDeprovisionMode,
    },
}

/// What a `scimDeprovision` step does to the app's user.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ScimDeprovisionMode {
    /// Sets `active` to false (the app keeps the user's data).
    #[default]
    Deactivate,
    /// Deletes the app's user.
    Delete,
}

impl Action {
    /// The SCIM connection a `scimProvision` / `scimDeprovision` step names.
    pub fn scim_connection(&self) -> Option<&str> {
        match self {
            Self::ScimProvision { connection } | Self::ScimDeprovision { connection, .. } => {
                Some(connection.trim())
            }
            _ => None,
        }
    }
}

/// Who a `sendEmail` step writes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailRecipient {
    /// The run's user (`mail`, then `otherMails`).
    User,
    /// The run's user's manager.
    Manager,
    /// A fixed address.
    Address(crate::mail::MailAddress),
}

impl EmailRecipient {
    /// `user`, `manager`, or an e-mail address.
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "user" => Ok(Self::User),
            "manager" => Ok(Self::Manager),
            other => crate::mail::MailAddress::parse(other)
                .map(Self::Address)
                .map_err(|_| {
                    format!("'{other}' is neither \"user\", \"manager\" nor an e-mail address")
                }),
        }
    }
}

/// Longest template source (subject or body), in bytes.
pub const MAX_TEMPLATE_SOURCE: usize = 20_000;
/// Longest rendered subject, in bytes.
pub const MAX_RENDERED_SUBJECT: usize = 1_000;
/// Longest rendered body, in bytes.
pub const MAX_RENDERED_BODY: usize = 100_000;
/// The work a template may do while rendering (minijinja's fuel: about one unit per
/// instruction), so that a loop cannot hold a worker.
pub const TEMPLATE_FUEL: u64 = 50_000;

/// The sandbox templates render in: no loader (no `include`/`import` of anything), builtin
/// filters only, an undefined name is an error, no auto-escaping (the mail renderer escapes
/// the HTML part), bounded fuel and recursion.
fn template_env() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_fuel(Some(TEMPLATE_FUEL));
    env.set_recursion_limit(50);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env
}

/// Checks that a template parses; the error names `field`.
pub fn check_template(source: &str, field: &str) -> Result<(), DirectoryError> {
    if source.len() > MAX_TEMPLATE_SOURCE {
        return Err(DirectoryError::invalid(
            field,
            format!("must be at most {MAX_TEMPLATE_SOURCE} bytes"),
        ));
    }
    template_env()
        .template_from_str(source)
        .map(|_| ())
        .map_err(|e| DirectoryError::invalid(field, format!("is not a valid template: {e}")))
}

/// A writer that refuses to grow past its limit.
struct Capped {
    out: Vec<u8>,
    limit: usize,
    overflowed: bool,
}

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.out.len() + buf.len() > self.limit {
            self.overflowed = true;
            return Err(std::io::Error::other("output too large"));
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Renders a template in the sandbox with `context`, at most `limit` bytes of output. The
/// error says what went wrong (a name undefined, out of fuel, too long) for the run history.
pub fn render_template(
    source: &str,
    context: &serde_json::Value,
    limit: usize,
) -> Result<String, String> {
    let env = template_env();
    let template = env
        .template_from_str(source)
        .map_err(|e| format!("does not parse: {e}"))?;
    let mut out = Capped {
        out: Vec::new(),
        limit,
        overflowed: false,
    };
    match template.render_captured_to(context, &mut out) {
        Ok(_) => String::from_utf8(out.out).map_err(|_| "rendered invalid UTF-8".to_owned()),
        Err(_) if out.overflowed => Err(format!("renders to more than {limit} bytes")),
        Err(e) => Err(match e.kind() {
            minijinja::ErrorKind::OutOfFuel => {
                "used up its fuel (too much work: a loop too long?)".to_owned()
            }
            _ => e.to_string(),
        }),
    }
}

/// The body a webhook step sends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum WebhookFormat {
    /// `{"workflow", "runId", "step", "user": {…}}`.
    #[default]
    Json,
    /// Slack's incoming-webhook shape: `{"text": "…"}`.
    Slack,
}

/// A URL's scheme and host (and port), without its path and query: what the run history
/// and the logs may show of a webhook URL, whose path can be a credential (Slack's are).
pub fn url_origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let end = url[after_scheme..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| after_scheme + i);
    &url[..end]
}

/// Longest webhook URL.
pub const MAX_URL_LEN: usize = 2000;

impl Action {
    /// Whether this is a `wait` step (core decides when it is over, [`Self::wait_until`]).
    pub const fn is_wait(&self) -> bool {
        matches!(self, Self::Wait { .. })
    }

    /// When a `wait` step that first came up at `started` is over: its instant, or `started`
    /// plus its days and hours.
    pub fn wait_until(&self, started: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Self::Wait {
                until: Some(until), ..
            } => Some(*until),
            Self::Wait { days, hours, .. } => {
                Some(started + Duration::days(*days) + Duration::hours(*hours))
            }
            _ => None,
        }
    }

    pub const fn name(&self) -> &'static str {
        match self {
            Self::DisableAccount => "disableAccount",
            Self::RevokeSessions => "revokeSessions",
            Self::ResetPasswordUnknown => "resetPasswordUnknown",
            Self::RemoveAllLicenses => "removeAllLicenses",
            Self::NotifyManager => "notifyManager",
            Self::RequirePasswordChange => "requirePasswordChange",
            Self::SendWebhook { .. } => "sendWebhook",
            Self::Wait { .. } => "wait",
            Self::DeleteUser => "deleteUser",
            Self::EnableAccount => "enableAccount",
            Self::SetAttributes { .. } => "setAttributes",
            Self::AddRole { .. } => "addRole",
            Self::RemoveRole { .. } => "removeRole",
            Self::AssignLicense { .. } => "assignLicense",
            Self::RemoveLicense { .. } => "removeLicense",
            Self::SendEmail { .. } => "sendEmail",
            Self::CallHttp { .. } => "callHttp",
            Self::ResetPassword { .. } => "resetPassword",
            Self::RequestApproval { .. } => "requestApproval",
            Self::ScimProvision { .. } => "scimProvision",
            Self::ScimDeprovision { .. } => "scimDeprovision",
        }
    }

    /// What the step would do to `user`, for a dry run.
    pub fn describe(&self, user: &User) -> String {
        let upn = user.user_principal_name.as_str();
        match self {
            Self::DisableAccount if !user.account_enabled => {
                format!("{upn} is already disabled: nothing to do")
            }
            Self::DisableAccount => format!("disable the account of {upn}"),
            Self::RevokeSessions => format!("revoke every session and refresh token of {upn}"),
            Self::ResetPasswordUnknown => format!(
                "set an unknown generated password on {upn} and require a change at next sign-in"
            ),
            Self::RemoveAllLicenses => format!("remove every licence {upn} holds"),
            Self::NotifyManager => format!("e-mail the manager of {upn}"),
            Self::RequirePasswordChange if user.force_change_password_next_sign_in => {
                format!("{upn} must already change their password: nothing to do")
            }
            Self::RequirePasswordChange => {
                format!("require {upn} to change their password at next sign-in")
            }
            Self::SendWebhook { url, .. } => {
                format!("POST a signed notice about {upn} to {}", url_origin(url))
            }
            Self::Wait {
                until: Some(until), ..
            } => format!("wait until {}", until.to_rfc3339()),
            Self::Wait { days, hours, .. } => format!("wait {days} day(s) {hours} hour(s)"),
            Self::DeleteUser => format!("delete {upn} (restorable for 30 days)"),
            Self::EnableAccount if user.account_enabled => {
                format!("{upn} is already enabled: nothing to do")
            }
            Self::EnableAccount => format!("enable the account of {upn}"),
            Self::SetAttributes { attributes } => format!(
                "set {} on {upn}",
                attributes
                    .iter()
                    .map(|(k, v)| format!("{k} = {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Self::AddRole { role } => format!("assign the role {role} to {upn}"),
            Self::RemoveRole { role } => format!("remove the role {role} from {upn}"),
            Self::AssignLicense { sku } => format!("assign the licence {sku} to {upn}"),
            Self::RemoveLicense { sku } => format!("remove the licence {sku} from {upn}"),
            Self::SendEmail { to, .. } => format!("e-mail {to} about {upn}"),
            Self::CallHttp { method, url, .. } => {
                format!("call {method} {} about {upn}", url_origin(url))
            }
            Self::ResetPassword { deliver_to } => format!(
                "set a generated password on {upn}, require a change at next sign-in, and \
                 e-mail the {} a view-once link to it",
                deliver_to.as_str()
            ),
            Self::RequestApproval {
                approver,
                timeout_days,
                on_timeout,
                ..
            } => format!(
                "ask {approver} to approve the run for {upn} (wait up to {timeout_days} day(s), \
                 then {on_timeout})"
            ),
            Self::ScimProvision { connection } => {
                format!("create or update {upn} in the SCIM app '{connection}'")
            }
            Self::ScimDeprovision {
                connection,
                mode: ScimDeprovisionMode::Deactivate,
            } => format!("deactivate {upn} in the SCIM app '{connection}'"),
            Self::ScimDeprovision {
                connection,
                mode: ScimDeprovisionMode::Delete,
            } => format!("delete {upn} from the SCIM app '{connection}'"),
        }
    }
}

/// What happens to the run when a step fails for good.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OnFailure {
    /// The run stops; later steps are skipped.
    #[default]
    Stop,
    /// The failure is recorded and the next step runs.
    Continue,
}

/// One step. (serde cannot refuse unknown keys next to a flattened enum, so an unknown key
/// in a step is ignored; the action's name is still checked.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    #[serde(flatten)]
    pub action: Action,
    #[serde(default)]
    pub on_failure: OnFailure,
    /// A `$filter` the run's user must match when the step comes up; otherwise the step is
    /// skipped. Compiled (and so checked) when the workflow is saved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
}

impl Step {
    /// The step's condition compiled to the filter AST (`None`: always runs).
    pub fn compiled_condition(&self) -> Result<Option<Filter>, DirectoryError> {
        compile_filter(self.condition.as_deref(), "condition")
    }
}

fn compile_filter(raw: Option<&str>, field: &str) -> Result<Option<Filter>, DirectoryError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(raw) => parse_filter(raw).map(Some).map_err(|e| {
            let (QueryError::Bad(m) | QueryError::Unsupported(m)) = e;
            DirectoryError::invalid(field, m)
        }),
    }
}

/// A workflow as written by an administrator (JSON), before validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkflowDefinition {
    pub name: String,
    /// What the workflow is for, as its administrators wrote it (Graph's `description`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Joiner, mover or leaver (Graph's `category`); absent, it follows from the trigger
    /// ([`WorkflowDefinition::category`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<WorkflowCategory>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Whether the trigger fires on its own (Graph's `isSchedulingEnabled`); with `false`
    /// an enabled workflow only runs on demand. Ignored when `enabled` is false.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub scheduling_enabled: bool,
    pub trigger: Trigger,
    /// A `$filter` over users; absent means every user of the tenant.
    #[serde(default)]
    pub scope: Option<String>,
    pub steps: Vec<Step>,
    /// The administrator confirmed that a run start of this workflow may touch more than the
    /// tenant's share of users at once (see `maxRunSharePercent`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub confirm_share: bool,
    /// Where the steps act: absent means this directory; `{"tenant": NAME}` a connected
    /// Microsoft 365 tenant (`latchkey workflows connect-tenant`) through Graph.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<WorkflowTarget>,
}

/// A workflow's remote target: a connected tenant, by its connection's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkflowTarget {
    pub tenant: String,
}

/// The actions a connected tenant's connector performs (the others need this directory).
pub fn remote_action_supported(action: &Action) -> bool {
    matches!(
        action,
        Action::ResetPasswordUnknown
            | Action::RevokeSessions
            | Action::DisableAccount
            | Action::RemoveAllLicenses
            | Action::RequirePasswordChange
            | Action::DeleteUser
            | Action::SendWebhook { .. }
            | Action::Wait { .. }
            | Action::EnableAccount
            | Action::SetAttributes { .. }
            | Action::AssignLicense { .. }
            | Action::RemoveLicense { .. }
            | Action::AddRole { .. }
            | Action::RemoveRole { .. }
    )
}

fn yes() -> bool {
    true
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if takes a reference
fn is_true(b: &bool) -> bool {
    *b
}

/// Longest workflow description, in characters.
pub const MAX_DESCRIPTION_LEN: usize = 1000;

/// The lifecycle stage a workflow serves (Entra's `lifecycleWorkflowCategory`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum WorkflowCategory {
    Joiner,
    Mover,
    Leaver,
}

impl WorkflowCategory {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Joiner => "joiner",
            Self::Mover => "mover",
            Self::Leaver => "leaver",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Joiner, Self::Mover, Self::Leaver]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

impl WorkflowDefinition {
    /// The category as saved, or the one the trigger implies: a hire date or a creation is a
    /// joiner's, a leave date, inactivity or a disabled account a leaver's, anything else a
    /// mover's.
    pub fn category(&self) -> WorkflowCategory {
        self.category.unwrap_or(match self.trigger {
            Trigger::HireDate { .. } | Trigger::UserCreated => WorkflowCategory::Joiner,
            Trigger::LeaveDate { .. } | Trigger::Inactivity { .. } | Trigger::AccountDisabled => {
                WorkflowCategory::Leaver
            }
            Trigger::Manual
            | Trigger::Anniversary { .. }
            | Trigger::Schedule { .. }
            | Trigger::AttributeChanged { .. }
            | Trigger::AppDiscovered
            | Trigger::LicenseIdle { .. }
            | Trigger::ContractRenewalDue { .. } => WorkflowCategory::Mover,
        })
    }

    /// Whether the trigger fires on its own now: enabled, scheduling on, and not manual.
    pub fn fires_on_schedule(&self) -> bool {
        self.enabled && self.scheduling_enabled && self.trigger != Trigger::Manual
    }
}

/// A definition its parser refused, named by the path of the field at fault (`trigger`,
/// `steps[1]`), or as the workflow when the document itself is at fault (not an object, bad
/// syntax).
pub fn refused_definition<E: std::fmt::Display>(
    e: serde_path_to_error::Error<E>,
) -> DirectoryError {
    let path = e.path().to_string();
    let inner = e.into_inner().to_string();
    if path == "." {
        return DirectoryError::invalid("workflow", format!("is not a valid definition: {inner}"));
    }
    // Some parsers (YAML's) start their message with the path already.
    let inner = inner
        .strip_prefix(&path)
        .and_then(|rest| rest.strip_prefix(": "))
        .unwrap_or(&inner);
    DirectoryError::invalid(path.clone(), format!("is not valid: {inner}"))
}

/// A definition that passed validation, with its scope compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidWorkflow {
    pub definition: WorkflowDefinition,
    pub scope: Option<Filter>,
}

impl WorkflowDefinition {
    /// Parses and validates a JSON definition. A field of the wrong type or unknown to the
    /// model is refused by the parser, whose message names it; the rest is checked by
    /// [`Self::validate`].
    pub fn parse_json(raw: &str) -> Result<ValidWorkflow, DirectoryError> {
        let def: Self =
            serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(raw))
                .map_err(refused_definition)?;
        def.validate()
    }

    /// Checks every field and compiles the scope.
    pub fn validate(self) -> Result<ValidWorkflow, DirectoryError> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err(DirectoryError::invalid("name", "must not be empty"));
        }
        if name.chars().count() > MAX_NAME_LEN {
            return Err(DirectoryError::invalid(
                "name",
                format!("must be at most {MAX_NAME_LEN} characters"),
            ));
        }
        if let Some(d) = &self.description
            && d.chars().count() > MAX_DESCRIPTION_LEN
        {
            return Err(DirectoryError::invalid(
                "description",
                format!("must be at most {MAX_DESCRIPTION_LEN} characters"),
            ));
        }
        if let Trigger::HireDate { offset_days } | Trigger::LeaveDate { offset_days } =
            &self.trigger
            && offset_days.abs() > MAX_OFFSET_DAYS
        {
            return Err(DirectoryError::invalid(
                "trigger.offsetDays",
                format!("must be between -{MAX_OFFSET_DAYS} and {MAX_OFFSET_DAYS}"),
            ));
        }
        match &self.trigger {
            Trigger::Anniversary { offset_days, .. } if offset_days.abs() > MAX_OFFSET_DAYS => {
                return Err(DirectoryError::invalid(
                    "trigger.offsetDays",
                    format!("must be between -{MAX_OFFSET_DAYS} and {MAX_OFFSET_DAYS}"),
                ));
            }
            Trigger::AttributeChanged { attributes } if attributes.is_empty() => {
                return Err(DirectoryError::invalid(
                    "trigger.attributes",
                    "must name at least one attribute",
                ));
            }
            Trigger::LicenseIdle { days: Some(days) }
                if !(1..=MAX_INACTIVITY_DAYS).contains(&i64::from(*days)) =>
            {
                return Err(DirectoryError::invalid(
                    "trigger.days",
                    format!("must be between 1 and {MAX_INACTIVITY_DAYS}"),
                ));
            }
            Trigger::ContractRenewalDue { offset_days }
                if i64::from(*offset_days) > MAX_OFFSET_DAYS =>
            {
                return Err(DirectoryError::invalid(
                    "trigger.offsetDays",
                    format!("must be between 0 and {MAX_OFFSET_DAYS}"),
                ));
            }
            Trigger::Inactivity { days } if !(1..=MAX_INACTIVITY_DAYS).contains(days) => {
                return Err(DirectoryError::invalid(
                    "trigger.days",
                    format!("must be between 1 and {MAX_INACTIVITY_DAYS}"),
                ));
            }
            Trigger::Schedule { schedule } => {
                let cron = parse_cron(schedule).map_err(|m| {
                    DirectoryError::invalid(
                        "trigger.schedule",
                        format!("'{}' is not a valid cron schedule: {m}", schedule.trim()),
                    )
                })?;
                // A pattern such as 30 February parses but never falls due.
                let epoch = DateTime::<Utc>::UNIX_EPOCH + Duration::days(365 * 30);
                if cron.find_next_occurrence(&epoch, false).is_err() {
                    return Err(DirectoryError::invalid(
                        "trigger.schedule",
                        format!("'{}' never falls due", schedule.trim()),
                    ));
                }
            }
            _ => {}
        }
        if self.steps.is_empty() {
            return Err(DirectoryError::invalid(
                "steps",
                "must name at least one step",
            ));
        }
        if self.steps.len() > MAX_STEPS {
            return Err(DirectoryError::invalid(
                "steps",
                format!("must have at most {MAX_STEPS} steps"),
            ));
        }
        let scope = compile_filter(self.scope.as_deref(), "scope")?;
        if let Some(target) = &self.target {
            if target.tenant.trim().is_empty() {
                return Err(DirectoryError::invalid(
                    "target.tenant",
                    "must name a connected tenant",
                ));
            }
            if !matches!(
                self.trigger,
                Trigger::Manual | Trigger::HireDate { .. } | Trigger::LeaveDate { .. }
            ) {
                return Err(DirectoryError::invalid(
                    "trigger",
                    "a workflow aimed at a connected tenant is manual or triggered by \
                     employeeHireDate / employeeLeaveDateTime for now",
                ));
            }
            for (i, step) in self.steps.iter().enumerate() {
                if !remote_action_supported(&step.action) {
                    return Err(DirectoryError::invalid(
                        format!("steps[{i}].action"),
                        format!(
                            "{} is not available against a connected tenant",
                            step.action.name()
                        ),
                    ));
                }
                if step.condition.is_some() {
                    return Err(DirectoryError::invalid(
                        format!("steps[{i}].condition"),
                        "step conditions are not available against a connected tenant",
                    ));
                }
            }
        }
        for (i, step) in self.steps.iter().enumerate() {
            compile_filter(step.condition.as_deref(), &format!("steps[{i}].condition"))?;
            if let Action::Wait {
                days,
                hours,
                until: Some(_),
            } = &step.action
                && (*days != 0 || *hours != 0)
            {
                return Err(DirectoryError::invalid(
                    format!("steps[{i}].until"),
                    "a wait is either until an instant or for days and hours, not both",
                ));
            }
            if let Action::Wait {
                days,
                hours,
                until: None,
            } = &step.action
                && (*days < 0
                    || *hours < 0
                    || *days > MAX_OFFSET_DAYS
                    || *hours > 24 * MAX_OFFSET_DAYS
                    || *days == 0 && *hours == 0)
            {
                return Err(DirectoryError::invalid(
                    format!("steps[{i}].days"),
                    format!(
                        "a wait must be positive and at most {MAX_OFFSET_DAYS} days (or until \
                         an instant: \"until\": \"2027-01-31T09:00:00Z\")"
                    ),
                ));
            }
            validate_action(i, &step.action)?;
            if let Action::SendWebhook { url, .. } = &step.action {
                let ok = (url.starts_with("https://") || url.starts_with("http://"))
                    && url.len() <= MAX_URL_LEN
                    && url.len() > "https://".len()
                    && !url.chars().any(|c| c.is_whitespace() || c.is_control());
                if !ok {
                    return Err(DirectoryError::invalid(
                        format!("steps[{i}].url"),
                        format!(
                            "must be an http:// or https:// URL of at most {MAX_URL_LEN} characters"
                        ),
                    ));
                }
            }
        }
        let definition = Self {
            name: name.to_owned(),
            ..self
        };
        Ok(ValidWorkflow { definition, scope })
    }

    /// The stored form: the definition with its schema version.
    pub fn to_stored_json(&self) -> Result<String, DirectoryError> {
        // A client secret is stored sealed or not at all.
        if self.steps.iter().any(|s| {
            matches!(
                &s.action,
                Action::CallHttp {
                    auth: Some(crate::workflow_http::HttpAuth::ClientCredentials {
                        client_secret: crate::workflow_http::ClientSecret::Plain(_),
                        ..
                    }),
                    ..
                }
            )
        }) {
            return Err(DirectoryError::Internal(
                "a callHttp client secret must be sealed before the workflow is stored".into(),
            ));
        }
        serde_json::to_string(&StoredDefinition {
            schema: DEFINITION_SCHEMA,
            definition: self.clone(),
        })
        .map_err(|e| DirectoryError::Internal(format!("workflow definition: {e}")))
    }

    /// Reads a stored definition back, validating it again (a scope names properties that a
    /// later version might not know).
    pub fn from_stored_json(raw: &str) -> Result<ValidWorkflow, DirectoryError> {
        let stored: StoredDefinition = serde_json::from_str(raw)
            .map_err(|e| DirectoryError::Internal(format!("stored workflow definition: {e}")))?;
        if stored.schema != DEFINITION_SCHEMA {
            return Err(DirectoryError::Internal(format!(
                "stored workflow definition has schema {}, this version reads {DEFINITION_SCHEMA}",
                stored.schema
            )));
        }
        stored.definition.validate()
    }
}

/// The argument checks of the actions added with joiner automation; each error names the
/// step's field.
fn validate_action(i: usize, action: &Action) -> Result<(), DirectoryError> {
    let field = |name: &str| format!("steps[{i}].{name}");
    match action {
        Action::SetAttributes { attributes } => {
            if attributes.is_empty() {
                return Err(DirectoryError::invalid(
                    field("attributes"),
                    "must name at least one property",
                ));
            }
            for (name, value) in attributes {
                if crate::directory::ProfileField::from_graph_name(name).is_none() {
                    return Err(DirectoryError::invalid(
                        field(&format!("attributes.{name}")),
                        format!(
                            "'{name}' is not a property a workflow can set (one of: {})",
                            crate::directory::ProfileField::graph_names().join(", ")
                        ),
                    ));
                }
                match value {
                    serde_json::Value::Null => {}
                    serde_json::Value::String(v) if v.chars().count() <= MAX_ATTRIBUTE_LEN => {}
                    serde_json::Value::String(_) => {
                        return Err(DirectoryError::invalid(
                            field(&format!("attributes.{name}")),
                            format!("must be at most {MAX_ATTRIBUTE_LEN} characters"),
                        ));
                    }
                    other => {
                        return Err(DirectoryError::invalid(
                            field(&format!("attributes.{name}")),
                            format!("must be a string or null, not {other}"),
                        ));
                    }
                }
            }
        }
        Action::AddRole { role } | Action::RemoveRole { role }
            if crate::role::DirectoryRole::parse(role).is_none() =>
        {
            return Err(DirectoryError::invalid(
                field("role"),
                format!(
                    "'{}' is not a directory role (its display name or template id)",
                    role.trim()
                ),
            ));
        }
        Action::AssignLicense { sku } | Action::RemoveLicense { sku } if sku.trim().is_empty() => {
            return Err(DirectoryError::invalid(
                field("sku"),
                "must name a SKU (its skuPartNumber or skuId)",
            ));
        }
        Action::SendEmail { to, subject, body } => {
            EmailRecipient::parse(to).map_err(|m| DirectoryError::invalid(field("to"), m))?;
            check_template(subject, &field("subject"))?;
            check_template(body, &field("body"))?;
        }
        Action::CallHttp {
            method,
            url,
            headers,
            body,
            auth,
        } => crate::workflow_http::validate_call_http(
            i,
            method,
            url,
            headers,
            body.as_deref(),
            auth.as_ref(),
        )?,
        Action::RequestApproval {
            approver,
            message,
            timeout_days,
            on_timeout,
        } => {
            crate::approval::ApproverRef::parse(approver)
                .map_err(|m| DirectoryError::invalid(field("approver"), m))?;
            if let Some(message) = message {
                check_template(message, &field("message"))?;
            }
            if !(1..=crate::approval::MAX_TIMEOUT_DAYS).contains(timeout_days) {
                return Err(DirectoryError::invalid(
                    field("timeoutDays"),
                    format!(
                        "must be between 1 and {} days",
                        crate::approval::MAX_TIMEOUT_DAYS
                    ),
                ));
            }
            crate::approval::OnTimeout::parse(on_timeout)
                .map_err(|m| DirectoryError::invalid(field("onTimeout"), m))?;
        }
        Action::ScimProvision { connection } | Action::ScimDeprovision { connection, .. }
            if connection.trim().is_empty() =>
        {
            return Err(DirectoryError::invalid(
                field("connection"),
                "must name a SCIM connection (`latchkey workflows connect-scim`)",
            ));
        }
        _ => {}
    }
    Ok(())
}

fn default_approval_days() -> i64 {
    crate::approval::DEFAULT_TIMEOUT_DAYS
}

fn default_on_timeout() -> String {
    "reject".to_owned()
}

/// Longest value a `setAttributes` step may write (the directory checks each property's own
/// limit when the step runs).
pub const MAX_ATTRIBUTE_LEN: usize = 1024;

#[derive(Serialize, Deserialize)]
struct StoredDefinition {
    schema: u32,
    definition: WorkflowDefinition,
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFBOARDING: &str = r#"{
        "name": "Offboarding",
        "trigger": {"kind": "leaveDate", "offsetDays": 0},
        "scope": "department eq 'Sales'",
        "steps": [
            {"action": "resetPasswordUnknown"},
            {"action": "revokeSessions"},
            {"action": "disableAccount"},
            {"action": "removeAllLicenses", "onFailure": "continue"},
            {"action": "notifyManager", "onFailure": "continue"}
        ]
    }"#;

    fn invalid_property(e: DirectoryError) -> (String, String) {
        match e {
            DirectoryError::Invalid { property, message } => (property, message),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn an_offboarding_definition_parses_with_its_scope_compiled() {
        let w = WorkflowDefinition::parse_json(OFFBOARDING).unwrap();
        assert_eq!(w.definition.name, "Offboarding");
        assert!(w.definition.enabled);
        assert_eq!(w.definition.steps.len(), 5);
        assert_eq!(w.definition.steps[3].on_failure, OnFailure::Continue);
        assert_eq!(w.definition.steps[0].on_failure, OnFailure::Stop);
        assert!(matches!(w.scope, Some(Filter::Compare { .. })));
    }

    #[test]
    fn a_scope_naming_an_unknown_attribute_is_refused_naming_it() {
        let raw = OFFBOARDING.replace("department eq", "shoeSize eq");
        let (property, message) =
            invalid_property(WorkflowDefinition::parse_json(&raw).unwrap_err());
        assert_eq!(property, "scope");
        assert!(message.contains("shoeSize"), "{message}");
    }

    #[test]
    fn an_unknown_action_or_a_wrong_type_is_refused_naming_it() {
        let raw = OFFBOARDING.replace("revokeSessions", "formatHardDisk");
        let (_, message) = invalid_property(WorkflowDefinition::parse_json(&raw).unwrap_err());
        assert!(message.contains("formatHardDisk"), "{message}");
        let raw = OFFBOARDING.replace("\"offsetDays\": 0", "\"offsetDays\": \"soon\"");
        let (property, message) =
            invalid_property(WorkflowDefinition::parse_json(&raw).unwrap_err());
        assert_eq!(property, "trigger");
        assert!(
            message.contains("soon") || message.contains("integer"),
            "{message}"
        );
        let raw = OFFBOARDING.replace("revokeSessions", "formatHardDisk");
        let (property, _) = invalid_property(WorkflowDefinition::parse_json(&raw).unwrap_err());
        assert!(property.starts_with("steps["), "{property}");
    }

    #[test]
    fn empty_names_no_steps_and_huge_offsets_are_refused_naming_the_field() {
        let raw = OFFBOARDING.replace("\"Offboarding\"", "\"  \"");
        assert_eq!(
            invalid_property(WorkflowDefinition::parse_json(&raw).unwrap_err()).0,
            "name"
        );
        let def = WorkflowDefinition {
            steps: vec![],
            ..WorkflowDefinition::parse_json(OFFBOARDING)
                .unwrap()
                .definition
        };
        assert_eq!(invalid_property(def.validate().unwrap_err()).0, "steps");
        let raw = OFFBOARDING.replace("\"offsetDays\": 0", "\"offsetDays\": 99999");
        assert_eq!(
            invalid_property(WorkflowDefinition::parse_json(&raw).unwrap_err()).0,
            "trigger.offsetDays"
        );
    }

    fn utc(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    #[test]
    fn a_leap_day_anniversary_falls_on_the_28th_in_other_years_and_on_the_29th_in_leap_years() {
        let hired = utc(2020, 2, 29, 0);
        assert_eq!(
            anniversary_due(hired, 2027, 0, Tz::UTC),
            Some(utc(2027, 2, 28, 0))
        );
        assert_eq!(
            anniversary_due(hired, 2028, 0, Tz::UTC),
            Some(utc(2028, 2, 29, 0))
        );
    }

    #[test]
    fn an_anniversary_falls_due_at_midnight_in_the_tenant_time_zone_with_its_offset() {
        let hired = utc(2019, 12, 10, 0);
        // Paris is UTC+1 in December: local midnight is 23:00 UTC the day before.
        assert_eq!(
            anniversary_due(hired, 2026, 0, chrono_tz::Europe::Paris),
            Some(utc(2026, 12, 9, 23))
        );
        assert_eq!(
            anniversary_due(hired, 2026, -7, Tz::UTC),
            Some(utc(2026, 12, 3, 0))
        );
        // The latest one due: last year's until this year's has come.
        assert_eq!(
            latest_anniversary(hired, 0, Tz::UTC, utc(2026, 12, 9, 23)),
            Some((2025, utc(2025, 12, 10, 0)))
        );
        assert_eq!(
            latest_anniversary(hired, 0, Tz::UTC, utc(2026, 12, 10, 0)),
            Some((2026, utc(2026, 12, 10, 0)))
        );
        // The hire date itself is not an anniversary.
        assert_eq!(
            latest_anniversary(hired, 0, Tz::UTC, utc(2020, 6, 1, 0)),
            None
        );
    }

    #[test]
    fn an_invalid_cron_or_inactivity_or_time_zone_is_refused_naming_the_field() {
        let raw = |trigger: &str| {
            format!(
                r#"{{"name": "X", "trigger": {trigger}, "steps": [{{"action": "revokeSessions"}}]}}"#
            )
        };
        let e = WorkflowDefinition::parse_json(&raw(
            r#"{"kind": "schedule", "schedule": "61 * * * *"}"#,
        ))
        .unwrap_err();
        let (property, message) = invalid_property(e);
        assert_eq!(property, "trigger.schedule");
        assert!(message.contains("61 * * * *"), "{message}");
        assert!(
            WorkflowDefinition::parse_json(&raw(
                r#"{"kind": "schedule", "schedule": "0 9 * * MON"}"#
            ))
            .is_ok()
        );
        let e = WorkflowDefinition::parse_json(&raw(
            r#"{"kind": "schedule", "schedule": "0 0 30 2 *"}"#,
        ))
        .unwrap_err();
        assert!(invalid_property(e).1.contains("never falls due"));
        let e = WorkflowDefinition::parse_json(&raw(r#"{"kind": "inactivity", "days": 0}"#))
            .unwrap_err();
        assert_eq!(invalid_property(e).0, "trigger.days");
        let e = WorkflowDefinition::parse_json(&raw(
            r#"{"kind": "anniversary", "attribute": "favouriteDate"}"#,
        ))
        .unwrap_err();
        assert!(invalid_property(e).1.contains("favouriteDate"));
        assert_eq!(
            invalid_property(parse_time_zone("Mars/Olympus").unwrap_err()).0,
            "timeZone"
        );
        assert_eq!(
            parse_time_zone("Europe/Paris").unwrap(),
            chrono_tz::Europe::Paris
        );
    }

    #[test]
    fn a_step_condition_naming_an_unknown_attribute_is_refused_naming_the_step() {
        let raw = OFFBOARDING.replace(
            r#"{"action": "revokeSessions"}"#,
            r#"{"action": "revokeSessions", "condition": "shoeSize eq 44"}"#,
        );
        let (property, message) =
            invalid_property(WorkflowDefinition::parse_json(&raw).unwrap_err());
        assert_eq!(property, "steps[1].condition");
        assert!(message.contains("shoeSize"), "{message}");
    }

    #[test]
    fn templates_render_in_a_sandbox_with_strict_names_fuel_and_an_output_limit() {
        let ctx = serde_json::json!({"user": {"displayName": "Ada", "department": null}});
        assert_eq!(
            render_template(
                "Hi {{ user.displayName }}{{ user.department or '' }}",
                &ctx,
                100
            ),
            Ok("Hi Ada".to_owned())
        );
        // No auto-escaping here: the mail renderer escapes the HTML part.
        let markup = serde_json::json!({"user": {"displayName": "<b>Ada</b>"}});
        assert_eq!(
            render_template("{{ user.displayName }}", &markup, 100),
            Ok("<b>Ada</b>".to_owned())
        );
        let e = render_template("{{ user.shoeSize }}", &ctx, 100).unwrap_err();
        assert!(e.contains("undefined"), "{e}");
        let e = render_template(
            "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
            &ctx,
            100,
        )
        .unwrap_err();
        assert!(e.contains("fuel"), "{e}");
        let e = render_template("{{ 'x' * 500 }}", &ctx, 100).unwrap_err();
        assert!(e.contains("more than 100 bytes"), "{e}");
        // Nothing to include from: there is no loader.
        assert!(render_template("{% include 'secrets.txt' %}", &ctx, 100).is_err());
    }

    #[test]
    fn joiner_actions_are_checked_at_save_naming_the_step_field() {
        let raw = |steps: &str| {
            format!(r#"{{"name": "J", "trigger": {{"kind": "userCreated"}}, "steps": [{steps}]}}"#)
        };
        let field = |steps: &str| {
            invalid_property(WorkflowDefinition::parse_json(&raw(steps)).unwrap_err()).0
        };
        assert_eq!(
            field(r#"{"action": "setAttributes", "attributes": {"department": true}}"#),
            "steps[0].attributes.department"
        );
        assert_eq!(
            field(r#"{"action": "setAttributes", "attributes": {"passwordHash": "x"}}"#),
            "steps[0].attributes.passwordHash"
        );
        assert_eq!(
            field(r#"{"action": "removeRole", "role": "Wizard"}"#),
            "steps[0].role"
        );
        assert_eq!(
            field(r#"{"action": "assignLicense", "sku": " "}"#),
            "steps[0].sku"
        );
        assert_eq!(
            field(r#"{"action": "sendEmail", "to": "manager", "subject": "{{", "body": ""}"#),
            "steps[0].subject"
        );
        let ok = WorkflowDefinition::parse_json(&raw(
            r#"{"action": "addRole", "role": "fe930be7-5e62-47db-91af-98c3a49a38b1"},
               {"action": "enableAccount"},
               {"action": "sendEmail", "to": "it@contoso.test", "subject": "{{ user.displayName }}", "body": "{{ run.id }}"}"#,
        ))
        .unwrap();
        assert_eq!(ok.definition.trigger, Trigger::UserCreated);
        let disabled =
            serde_json::json!({"modifiedProperties": ["accountEnabled"], "accountEnabled": false});
        let enabled =
            serde_json::json!({"modifiedProperties": ["accountEnabled"], "accountEnabled": true});
        assert!(Trigger::AccountDisabled.watches("user.updated", &disabled));
        assert!(!Trigger::AccountDisabled.watches("user.updated", &enabled));
        assert!(Trigger::UserCreated.watches("user.created", &serde_json::Value::Null));
        assert!(!Trigger::UserCreated.watches("user.updated", &disabled));
    }

    #[test]
    fn the_stored_form_round_trips_with_its_schema_version() {
        let w = WorkflowDefinition::parse_json(OFFBOARDING).unwrap();
        let stored = w.definition.to_stored_json().unwrap();
        assert!(stored.contains("\"schema\":1"));
        assert_eq!(WorkflowDefinition::from_stored_json(&stored).unwrap(), w);
    }
}
