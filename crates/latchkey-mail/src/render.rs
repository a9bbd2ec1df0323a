//! The messages' text and HTML, from askama templates compiled into the binary (HTML
//! escaped by the engine; the text parts are plain).

use askama::Template;
use latchkey_core::mail::{MailContent, OpenedMail};
use secrecy::ExposeSecret;

/// A message ready to send. `Debug` shows only the subject: the bodies may hold a code or a
/// link.
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl std::fmt::Debug for Rendered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rendered")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("a message could not be rendered: {0}")]
pub struct RenderError(String);

fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

macro_rules! pair {
    ($text:ident, $txt:literal, $html:ident, $htm:literal, { $($field:ident : $ty:ty),* $(,)? }) => {
        #[derive(Template)]
        #[template(path = $txt)]
        struct $text<'a> { $($field: $ty),* }
        #[derive(Template)]
        #[template(path = $htm)]
        struct $html<'a> { $($field: $ty),* }
    };
}

pair!(CodeText, "one_time_code.txt", CodeHtml, "one_time_code.html", {
    organization: &'a str, display_name: &'a str, code: &'a str, valid_minutes: u32,
});
pair!(LinkText, "view_once_link.txt", LinkHtml, "view_once_link.html", {
    organization: &'a str, display_name: &'a str, user_principal_name: &'a str,
    link: &'a str, expires: String, sent_by: &'a str,
});
pair!(ChangedText, "password_changed.txt", ChangedHtml, "password_changed.html", {
    organization: &'a str, display_name: &'a str, user_principal_name: &'a str, changed: String,
});
pair!(TestText, "test.txt", TestHtml, "test.html", { organization: &'a str, sent_by: &'a str });
pair!(WorkflowNoticeText, "workflow_notice.txt", WorkflowNoticeHtml, "workflow_notice.html", {
    organization: &'a str, manager_display_name: &'a str, display_name: &'a str,
    user_principal_name: &'a str, workflow: &'a str,
});
pair!(SaasText, "saas_app_discovered.txt", SaasHtml, "saas_app_discovered.html", {
    organization: &'a str, app_name: &'a str, seen_by: &'a str, source: &'a str,
    permissions: String, risky: String,
});
pair!(SaasNoticeText, "saas_notice.txt", SaasNoticeHtml, "saas_notice.html", {
    organization: &'a str, subject: &'a str, paragraphs: &'a [String],
});

#[derive(Template)]
#[template(path = "workflow_message.txt")]
struct WorkflowMessageText<'a> {
    organization: &'a str,
    body: &'a str,
}
#[derive(Template)]
#[template(path = "workflow_message.html")]
struct WorkflowMessageHtml<'a> {
    organization: &'a str,
    subject: &'a str,
    paragraphs: &'a [String],
}

/// How a discovery source reads in a sentence.
fn seen_through(source: &str) -> &'static str {
    match source {
        "userConsent" => "consent on the sign-in page",
        "adminConsent" => "administrator consent for the organisation",
        "signIn" => "sign-in",
        "microsoft365" => "a connected Microsoft 365 tenant",
        _ => "other use",
    }
}

/// Renders an opened message.
pub fn render(mail: &OpenedMail) -> Result<Rendered, RenderError> {
    let org = mail.organization.as_str();
    let err = |e: askama::Error| RenderError(e.to_string());
    let (subject, text, html) = match &mail.content {
        MailContent::OneTimeCode {
            display_name,
            code,
            valid_minutes,
        } => {
            let code = code.expose_secret();
            let t = CodeText {
                organization: org,
                display_name,
                code,
                valid_minutes: *valid_minutes,
            };
            let h = CodeHtml {
                organization: org,
                display_name,
                code,
                valid_minutes: *valid_minutes,
            };
            (
                format!("Your {org} verification code"),
                t.render().map_err(err)?,
                h.render().map_err(err)?,
            )
        }
        MailContent::ViewOnceLink {
            display_name,
            user_principal_name,
            link,
            expires_at,
            sent_by,
        } => {
            let link = link.expose_secret();
            let t = LinkText {
                organization: org,
                display_name,
                user_principal_name,
                link,
                expires: when(*expires_at),
                sent_by,
            };
            let h = LinkHtml {
                organization: org,
                display_name,
                user_principal_name,
                link,
                expires: when(*expires_at),
                sent_by,
            };
            (
                format!("A temporary password for {user_principal_name} is waiting"),
                t.render().map_err(err)?,
                h.render().map_err(err)?,
            )
        }
        MailContent::PasswordChanged {
            display_name,
            user_principal_name,
            changed_at,
        } => {
            let t = ChangedText {
                organization: org,
                display_name,
                user_principal_name,
                changed: when(*changed_at),
            };
            let h = ChangedHtml {
                organization: org,
                display_name,
                user_principal_name,
                changed: when(*changed_at),
            };
            (
                format!("Your {org} password was changed"),
                t.render().map_err(err)?,
                h.render().map_err(err)?,
            )
        }
        MailContent::Test { sent_by } => {
            let t = TestText {
                organization: org,
                sent_by,
            };
            let h = TestHtml {
                organization: org,
                sent_by,
            };
            (
                format!("Latchkey test message for {org}"),
                t.render().map_err(err)?,
                h.render().map_err(err)?,
            )
        }
        MailContent::WorkflowNotice {
            manager_display_name,
            display_name,
            user_principal_name,
            workflow,
        } => {
            let t = WorkflowNoticeText {
                organization: org,
                manager_display_name,
                display_name,
                user_principal_name,
                workflow,
            };
            let h = WorkflowNoticeHtml {
                organization: org,
                manager_display_name,
                display_name,
                user_principal_name,
                workflow,
            };
            (
                format!("{workflow} ran for {display_name}"),
                t.render().map_err(err)?,
                h.render().map_err(err)?,
            )
        }
        MailContent::SaasAppDiscovered {
            app_name,
            seen_by,
            source,
            permissions,
            risky,
        } => {
            let permissions = if permissions.is_empty() {
                "none".to_owned()
            } else {
                permissions.join(", ")
            };
            let t = SaasText {
                organization: org,
                app_name,
                seen_by,
                source: seen_through(source),
                permissions: permissions.clone(),
                risky: risky.join(", "),
            };
            let h = SaasHtml {
                organization: org,
                app_name,
                seen_by,
                source: seen_through(source),
                permissions,
                risky: risky.join(", "),
            };
            let subject = if risky.is_empty() {
                format!("New app discovered: {app_name}")
            } else {
                format!(
                    "New app discovered: {app_name} (risky permissions: {})",
                    risky.join(", ")
                )
            };
            (subject, t.render().map_err(err)?, h.render().map_err(err)?)
        }
        MailContent::SaasNotice {
            subject,
            paragraphs,
        } => {
            let t = SaasNoticeText {
                organization: org,
                subject,
                paragraphs,
            };
            let h = SaasNoticeHtml {
                organization: org,
                subject,
                paragraphs,
            };
            (
                subject.clone(),
                t.render().map_err(err)?,
                h.render().map_err(err)?,
            )
        }
        MailContent::WorkflowMessage { subject, body } => {
            // The HTML part: the plain text's paragraphs (blank-line separated), escaped.
            let paragraphs: Vec<String> = body
                .split("\n\n")
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect();
            let t = WorkflowMessageText {
                organization: org,
                body,
            };
            let h = WorkflowMessageHtml {
                organization: org,
                subject,
                paragraphs: &paragraphs,
            };
            (
                subject.clone(),
                t.render().map_err(err)?,
                h.render().map_err(err)?,
            )
        }
    };
    Ok(Rendered {
        subject,
        text,
        html,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use secrecy::SecretString;

    #[test]
    fn a_view_once_message_carries_the_link_and_escapes_names_in_html() {
        let mail = OpenedMail {
            organization: "Contoso <Ltd>".into(),
            content: MailContent::ViewOnceLink {
                display_name: "Ada <script>".into(),
                user_principal_name: "ada@contoso.test".into(),
                link: SecretString::from("https://id.contoso.test/account/delivered/abc"),
                expires_at: chrono::DateTime::UNIX_EPOCH,
                sent_by: "admin@contoso.test".into(),
            },
        };
        let r = render(&mail).unwrap();
        assert_eq!(
            r.subject,
            "A temporary password for ada@contoso.test is waiting"
        );
        assert!(
            r.text
                .contains("https://id.contoso.test/account/delivered/abc")
        );
        assert!(r.text.contains("Ada <script>"));
        assert!(r.html.contains("Ada &#60;script&#62;") || r.html.contains("Ada &lt;script&gt;"));
        assert!(!r.html.contains("<script>"));
        assert!(!format!("{r:?}").contains("delivered/abc"));
    }

    #[test]
    fn a_workflow_notice_names_the_workflow_and_the_report_and_escapes_them_in_html() {
        let mail = OpenedMail {
            organization: "Contoso".into(),
            content: MailContent::WorkflowNotice {
                manager_display_name: "Morgan Manager".into(),
                display_name: "Lee <b>Leaver</b>".into(),
                user_principal_name: "leaver@contoso.test".into(),
                workflow: "Offboarding".into(),
            },
        };
        let r = render(&mail).unwrap();
        assert_eq!(r.subject, "Offboarding ran for Lee <b>Leaver</b>");
        assert!(r.text.contains("Hello Morgan Manager"));
        assert!(r.text.contains("\"Offboarding\""));
        assert!(r.text.contains("leaver@contoso.test"));
        assert!(!r.html.contains("<b>Leaver"));
    }

    #[test]
    fn a_workflow_message_keeps_its_text_and_escapes_its_paragraphs_in_html() {
        let mail = OpenedMail {
            organization: "Contoso".into(),
            content: MailContent::WorkflowMessage {
                subject: "Welcome <Jo>".into(),
                body: "Hello Morgan,\n\nJo <b>joins</b> today.".into(),
            },
        };
        let r = render(&mail).unwrap();
        assert_eq!(r.subject, "Welcome <Jo>");
        assert!(r.text.contains("Hello Morgan,\n\nJo <b>joins</b> today."));
        assert!(r.html.contains("<p>Hello Morgan,</p>"), "{}", r.html);
        assert!(!r.html.contains("<b>joins"));
    }

    #[test]
    fn a_saas_notice_carries_its_subject_and_paragraphs_and_escapes_them_in_html() {
        let mail = OpenedMail {
            organization: "Contoso".into(),
            content: MailContent::SaasNotice {
                subject: "Design <Suite>: cancel by 2027-05-02 (30 days left)".into(),
                paragraphs: vec![
                    "The Design <Suite> contract ends on 2027-06-01.".into(),
                    "It costs 1200.00 EUR per annual period.".into(),
                ],
            },
        };
        let r = render(&mail).unwrap();
        assert_eq!(
            r.subject,
            "Design <Suite>: cancel by 2027-05-02 (30 days left)"
        );
        assert!(
            r.text
                .contains("The Design <Suite> contract ends on 2027-06-01.")
        );
        assert!(r.text.contains("It costs 1200.00 EUR per annual period."));
        assert!(!r.html.contains("<Suite>"));
        assert!(r.html.contains("It costs 1200.00 EUR per annual period."));
    }
}
