//! `latchkey serve`: open (or initialise) the directory, set up TLS, listen, and shut down
//! gracefully on SIGTERM/SIGINT.

use std::net::{IpAddr, TcpListener};
use std::time::Duration;

use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use latchkey_core::Directory;
use latchkey_core::names::DomainName;

use latchkey_core::crypto::MasterKey;
use latchkey_core::delivery::DeliverySettings;
use latchkey_graph::http::GraphState;
use latchkey_identity::http::IdentityState;
use latchkey_identity::{KeyRing, TokenService};
use latchkey_web::WebState;

use super::{CliError, CliResult, open_directory};
use crate::cli::ServeArgs;
use crate::server::{AppState, router};
use crate::{logging, tls};

pub async fn run(args: ServeArgs) -> CliResult {
    logging::init(args.log_format);
    let master = master_key(&args)?;
    // Mail settings are checked before anything starts: a typo fails the start, not a reset.
    let smtp = super::mail::smtp_config(&args.smtp)?;
    let delivery = DeliverySettings {
        mail_enabled: smtp.is_some(),
        lifetime: chrono::Duration::hours(i64::from(args.view_once_hours)),
    };
    delivery
        .validate()
        .map_err(|e| CliError(format!("--view-once-hours: {e}")))?;
    let mailer = smtp
        .as_ref()
        .map(latchkey_mail::Mailer::new)
        .transpose()
        .map_err(|e| CliError(e.to_string()))?;
    let directory = open_directory(&args.store)
        .await?
        .with_master_key(master.clone())
        .with_delivery_settings(delivery);
    if directory.list_tenants().await?.is_empty() {
        let domain = DomainName::parse(&args.domain).map_err(|e| CliError(e.to_string()))?;
        let label = super::init::capitalise(domain.first_label());
        let boot = directory.bootstrap_tenant(&domain, &label, None).await?;
        // Standard output, not the log: the one time this password is shown.
        println!("Initialised a new directory for {domain}.");
        super::init::print_bootstrap(&boot, false);
    }

    let listener = TcpListener::bind(args.listen)
        .map_err(|e| CliError(format!("cannot listen on {}: {e}", args.listen)))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| CliError(e.to_string()))?;
    let local = listener.local_addr().map_err(|e| CliError(e.to_string()))?;
    let scheme = if args.http { "http" } else { "https" };
    let public_url = match &args.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let host = match local.ip() {
                ip if ip.is_loopback() || ip.is_unspecified() => "localhost".to_owned(),
                IpAddr::V6(ip) => format!("[{ip}]"),
                IpAddr::V4(ip) => ip.to_string(),
            };
            format!("{scheme}://{host}:{}", local.port())
        }
    };

    let tls = if args.http {
        None
    } else {
        let material = match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => tls::provided(cert, key),
            _ => {
                let mut hosts = vec![
                    "localhost".to_owned(),
                    "127.0.0.1".to_owned(),
                    "::1".to_owned(),
                ];
                if let Some(host) = url_host(&public_url).filter(|h| !hosts.contains(h)) {
                    hosts.push(host);
                }
                tls::generated(&args.store.data_dir, &hosts)
            }
        }
        .map_err(|e| CliError(e.to_string()))?;
        if let Some(ca) = &material.ca_path {
            println!("Clients must trust the CA certificate at {}", ca.display());
        }
        // ring is the one crypto provider compiled in; install it before rustls needs one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Some(
            RustlsConfig::from_pem(material.cert_chain_pem, material.key_pem)
                .await
                .map_err(|e| CliError(format!("the TLS certificate or key is unusable: {e}")))?,
        )
    };

    let clock = directory.clock().clone();
    let keys = KeyRing::new(
        directory.store().clone(),
        master,
        clock.clone(),
        TOKEN_LIFETIME,
    );
    let tokens = TokenService::new(keys, clock, TOKEN_LIFETIME);
    // Make (or load) the signing key before the first request needs it, so that no client
    // waits for RSA key generation.
    tokens
        .keys()
        .signing_key()
        .await
        .map_err(|e| CliError(format!("cannot prepare the token-signing key: {e}")))?;
    let identity = IdentityState {
        directory: directory.clone(),
        tokens: tokens.clone(),
        public_url: public_url.clone().into(),
    };
    let graph = GraphState {
        directory: directory.clone(),
        tokens,
        public_url: public_url.clone().into(),
        throttle: latchkey_graph::throttle::Throttle::per_minute(args.graph_rate_limit),
    };
    let web = WebState {
        directory: directory.clone(),
        public_url: public_url.clone().into(),
        workflows: Some(std::sync::Arc::new(crate::workflow_pages::EnginePort::new(
            directory.clone(),
        ))),
    };
    let state = AppState {
        directory: directory.clone(),
    };
    // With the peer's address, for per-address limits (self-service password reset).
    let app = router(state, identity, graph, web)
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    let handle = Handle::new();
    tokio::spawn(shutdown_on_signal(handle.clone()));
    let (stop_mail, mail_stopped) = tokio::sync::watch::channel(false);
    let delivery = match mailer {
        Some(mailer) => Some(tokio::spawn(latchkey_mail::run_delivery_loop(
            directory.clone(),
            mailer,
            MAIL_TICK,
            mail_stopped,
        ))),
        None => {
            tracing::info!("no --smtp-host: e-mail waits in the queue until one is configured");
            None
        }
    };
    tokio::spawn(latchkey_automation::run_worker(
        latchkey_automation::Engine::new(directory.clone())
            .with_step_lease(chrono::Duration::seconds(args.workflow_lease_seconds))
            .with_public_url(&public_url),
        Duration::from_secs(args.workflow_interval_seconds),
    ));
    tokio::spawn(saas_renewal_alerts(directory.clone()));
    tokio::spawn(super::apps_inventory_discover::hourly(directory.clone()));
    tokio::spawn(purge_deleted_users(directory));

    // Scripts and tests read this line to learn the port.
    println!("Latchkey is listening on {scheme}://{local} (public URL {public_url})");
    tracing::info!(%local, %public_url, "listening");
    let served = match tls {
        Some(config) => {
            axum_server::from_tcp_rustls(listener, config)
                .handle(handle)
                .serve(app)
                .await
        }
        None => {
            axum_server::from_tcp(listener)
                .handle(handle)
                .serve(app)
                .await
        }
    };
    // Let a delivery pass under way finish its conversations (bounded by the SMTP timeout,
    // and here by a shorter grace), so that a stop rarely leads to a message sent twice.
    let _ = stop_mail.send(true);
    if let Some(task) = delivery {
        let _ = tokio::time::timeout(MAIL_GRACE, task).await;
    }
    served.map_err(|e| CliError(format!("the server stopped: {e}")))?;
    tracing::info!("stopped");
    Ok(())
}

/// How often the delivery loop looks at the queue without being woken (retries, and mail
/// queued by other nodes).
const MAIL_TICK: Duration = Duration::from_secs(15);

/// How long a stopping server waits for a delivery pass under way.
const MAIL_GRACE: Duration = Duration::from_secs(20);

/// Access tokens live an hour, as Entra's do by default.
const TOKEN_LIFETIME: chrono::Duration = chrono::Duration::hours(1);

/// The master key: from `--master-key-file`, or `<data-dir>/master.key`, created (0600) on
/// first start when neither exists.
fn master_key(args: &ServeArgs) -> CliResult<MasterKey> {
    master_key_at(&args.store.data_dir, args.master_key_file.as_deref())
}

/// The master key of `file`, or of `<data_dir>/master.key`, created (0600) when neither
/// exists; for `serve` and the offline commands that seal or open secrets.
pub(crate) fn master_key_at(
    data_dir: &std::path::Path,
    file: Option<&std::path::Path>,
) -> CliResult<MasterKey> {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    let path = file.map_or_else(|| data_dir.join("master.key"), std::path::Path::to_path_buf);
    let decode = |text: &str| -> CliResult<MasterKey> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| CliError(format!("{} is not base64", path.display())))?;
        MasterKey::from_bytes(&bytes).map_err(|e| CliError(format!("{}: {e}", path.display())))
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => decode(&text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && file.is_none() => {
            let key = MasterKey::generate();
            // The data directory is private (the store opens it only if it does not exist yet,
            // and this runs first).
            let mut dir = std::fs::DirBuilder::new();
            dir.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                dir.mode(0o700);
            }
            dir.create(data_dir).map_err(|e| CliError(e.to_string()))?;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let mut file = options
                .open(&path)
                .map_err(|e| CliError(format!("cannot create {}: {e}", path.display())))?;
            std::io::Write::write_all(&mut file, STANDARD.encode(key.to_bytes()).as_bytes())
                .map_err(|e| CliError(format!("cannot write {}: {e}", path.display())))?;
            Ok(key)
        }
        Err(e) => Err(CliError(format!(
            "cannot read the master key {}: {e}",
            path.display()
        ))),
    }
}

fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        authority.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_owned())
}

async fn shutdown_on_signal(handle: Handle) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
    handle.graceful_shutdown(Some(Duration::from_secs(10)));
}

/// At start (catching up on alerts whose day came while no server ran) and then hourly:
/// the SaaS renewal pass over every tenant. With several nodes each runs it; the store's
/// (contract, deadline, offset) key lets one of them send each alert.
async fn saas_renewal_alerts(directory: Directory) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        match directory.saas_renewal_pass_all().await {
            Ok(p) => tracing::info!(
                contracts = p.contracts_read,
                alerts = p.alerts_sent,
                "SaaS renewal pass done"
            ),
            Err(e) => tracing::warn!(error = %e, "SaaS renewal pass failed"),
        }
    }
}

/// Hourly: permanently remove users whose 30-day restore window has passed, and sign-in
/// sessions and codes a day past their expiry.
async fn purge_deleted_users(directory: Directory) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        match directory.purge_expired_deliveries().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "wiped the passwords of expired view-once links"),
            Err(e) => tracing::warn!(error = %e, "purge of expired view-once links failed"),
        }
        match directory.purge_expired_sign_in_records().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "purged expired sign-in sessions and codes"),
            Err(e) => tracing::warn!(error = %e, "purge of expired sign-in records failed"),
        }
        match directory.prune_change_tracking().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(pruned = n, "pruned users/delta tombstones past retention"),
            Err(e) => tracing::warn!(error = %e, "pruning users/delta tombstones failed"),
        }
        let tenants = match directory.list_tenants().await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "purge: cannot list tenants");
                continue;
            }
        };
        for t in tenants {
            match directory.purge_expired_deleted_users(t.id).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(tenant = %t.id, purged = n, "purged deleted users past retention")
                }
                Err(e) => tracing::warn!(tenant = %t.id, error = %e, "purge failed"),
            }
        }
    }
}
