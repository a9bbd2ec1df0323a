//! A small real SMTP server for tests: listens on 127.0.0.1 (port 0 by default), speaks
//! EHLO/HELO, optional AUTH PLAIN, MAIL, RCPT, DATA (with dot-unstuffing), RSET, NOOP and
//! QUIT, and records every message it accepts. It can be stopped and started again on the
//! same port, to play a mail server that is down for a while.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// One accepted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// `MAIL FROM` address.
    pub from: String,
    /// `RCPT TO` addresses.
    pub to: Vec<String>,
    /// The message as sent (headers and body), dot-unstuffed, lines ending in CRLF.
    pub data: String,
    /// The user name of `AUTH PLAIN`, when the client authenticated.
    pub authenticated_as: Option<String>,
}

#[derive(Debug, Default)]
struct Shared {
    messages: Mutex<Vec<ReceivedMail>>,
    arrived: Notify,
}

/// The sink. Dropping it stops it.
#[derive(Debug)]
pub struct SmtpSink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    running: Option<(watch::Sender<bool>, JoinHandle<()>)>,
}

impl SmtpSink {
    /// Starts a sink on a free loopback port.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mut sink = Self {
            addr,
            shared: Arc::default(),
            running: None,
        };
        sink.serve(listener);
        Ok(sink)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every message accepted so far, in order.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.shared
            .messages
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    /// Waits until at least `count` messages have arrived (or `within` has passed) and
    /// returns them all.
    pub async fn wait_for(&self, count: usize, within: std::time::Duration) -> Vec<ReceivedMail> {
        let _ = tokio::time::timeout(within, async {
            loop {
                let arrived = self.shared.arrived.notified();
                if self.messages().len() >= count {
                    return;
                }
                arrived.await;
            }
        })
        .await;
        self.messages()
    }

    /// Stops listening and drops every open connection: clients now get "connection
    /// refused". Messages received so far are kept.
    pub async fn stop(&mut self) {
        if let Some((stop, task)) = self.running.take() {
            let _ = stop.send(true);
            let _ = task.await;
        }
    }

    /// Listens again on the same port.
    pub async fn restart(&mut self) -> std::io::Result<()> {
        self.stop().await;
        let listener = TcpListener::bind(self.addr).await?;
        self.serve(listener);
        Ok(())
    }

    fn serve(&mut self, listener: TcpListener) {
        let (stop_tx, mut stop_rx) = watch::channel(false);
        let shared = self.shared.clone();
        let task = tokio::spawn(async move {
            let mut sessions = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    _ = stop_rx.changed() => break,
                    accepted = listener.accept() => {
                        if let Ok((stream, _)) = accepted {
                            sessions.spawn(session(stream, shared.clone()));
                        }
                    }
                }
            }
            // Dropping the listener and aborting the sessions closes every socket.
            sessions.abort_all();
            while sessions.join_next().await.is_some() {}
        });
        self.running = Some((stop_tx, task));
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some((stop, task)) = self.running.take() {
            let _ = stop.send(true);
            task.abort();
        }
    }
}

fn address(arg: &str) -> String {
    let arg = arg.trim();
    let inner = arg
        .split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map_or(arg, |(a, _)| a);
    inner.to_owned()
}

async fn session(stream: TcpStream, shared: Arc<Shared>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    macro_rules! reply {
        ($s:expr) => {
            if write.write_all($s.as_bytes()).await.is_err() {
                return;
            }
        };
    }
    reply!("220 sink.test ESMTP latchkey test sink\r\n");
    let mut from: Option<String> = None;
    let mut to: Vec<String> = Vec::new();
    let mut user: Option<String> = None;
    let mut line = String::new();
    loop {
        line.clear();
        match lines.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let command = line.trim_end_matches(['\r', '\n']);
        let (verb, arg) = command.split_once(' ').unwrap_or((command, ""));
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" => reply!("250-sink.test\r\n250-8BITMIME\r\n250-AUTH PLAIN\r\n250 SMTPUTF8\r\n"),
            "HELO" => reply!("250 sink.test\r\n"),
            "AUTH" => {
                // `AUTH PLAIN <base64(authzid \0 user \0 password)>`; any password is fine.
                let mut parts = arg.split_whitespace();
                let mech = parts.next().unwrap_or_default();
                let initial = parts.next();
                if !mech.eq_ignore_ascii_case("PLAIN") {
                    reply!("504 5.5.4 only PLAIN\r\n");
                    continue;
                }
                let encoded = match initial {
                    Some(e) => e.to_owned(),
                    None => {
                        reply!("334 \r\n");
                        line.clear();
                        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        line.trim().to_owned()
                    }
                };
                user = decode_plain_user(&encoded);
                reply!("235 2.7.0 authenticated\r\n");
            }
            "MAIL" => {
                from = Some(address(arg.split_once(':').map_or("", |(_, a)| a)));
                to.clear();
                reply!("250 2.1.0 ok\r\n");
            }
            "RCPT" => {
                if from.is_none() {
                    reply!("503 5.5.1 MAIL first\r\n");
                    continue;
                }
                to.push(address(arg.split_once(':').map_or("", |(_, a)| a)));
                reply!("250 2.1.5 ok\r\n");
            }
            "DATA" => {
                if from.is_none() || to.is_empty() {
                    reply!("503 5.5.1 MAIL and RCPT first\r\n");
                    continue;
                }
                reply!("354 end with <CRLF>.<CRLF>\r\n");
                let mut data = String::new();
                loop {
                    line.clear();
                    match lines.read_line(&mut line).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    let content = line.trim_end_matches(['\r', '\n']);
                    if content == "." {
                        break;
                    }
                    // Dot-unstuffing (RFC 5321 4.5.2).
                    let content = content.strip_prefix('.').unwrap_or(content);
                    data.push_str(content);
                    data.push_str("\r\n");
                }
                let mail = ReceivedMail {
                    from: from.take().unwrap_or_default(),
                    to: std::mem::take(&mut to),
                    data,
                    authenticated_as: user.clone(),
                };
                if let Ok(mut m) = shared.messages.lock() {
                    m.push(mail);
                }
                shared.arrived.notify_waiters();
                reply!("250 2.0.0 queued\r\n");
            }
            "RSET" => {
                from = None;
                to.clear();
                reply!("250 2.0.0 ok\r\n");
            }
            "NOOP" => reply!("250 2.0.0 ok\r\n"),
            "QUIT" => {
                let _ = write.write_all(b"221 2.0.0 bye\r\n").await;
                return;
            }
            _ => reply!("502 5.5.2 not implemented\r\n"),
        }
    }
}

fn decode_plain_user(encoded: &str) -> Option<String> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let mut parts = raw.split(|b| *b == 0);
    let _authzid = parts.next()?;
    let user = parts.next()?;
    String::from_utf8(user.to_vec()).ok()
}
