//! Latchkey's e-mail: the templates (text and HTML, compiled in), SMTP sending through
//! lettre over rustls, and the delivery loop that drains the store's send queue.
//!
//! It owns how a message looks and how it travels, nothing else: what is queued, when a
//! failed attempt is retried and when it is given up are `latchkey_core::Directory`
//! operations (`claim_due_mail`, `mail_sent`, `mail_failed`), and it never touches SQL. A
//! message's content is opened from the queue only here, at send time; neither it nor the
//! SMTP password is ever logged.

mod config;
mod deliver;
mod render;
mod send;

pub use config::{ConfigError, Security, SmtpConfig};
pub use deliver::{DeliveryPass, deliver_due, run_delivery_loop};
pub use render::{RenderError, Rendered, render};
pub use send::{Mailer, SendError};
