//! `sigra serve` and `sigra migrate`.

use std::net::SocketAddr;
use std::sync::Arc;

use sigra_core::auth::Auth;
use sigra_web::Sigra;

use crate::boot::{
    Mail, config, env_with_flags, init_tracing, job_runner, open_store, runtime, shutdown_signal,
    take_jobs_mode,
};

/// `sigra migrate`: applies the migrations and exits.
pub(crate) fn migrate(args: &[String]) -> Result<(), String> {
    let config = config(env_with_flags(args)?)?;
    runtime()?.block_on(async {
        open_store(&config).await?;
        println!("migrations applied");
        Ok(())
    })
}

/// `sigra serve`: the demo app.
pub(crate) fn serve(args: &[String]) -> Result<(), String> {
    init_tracing();
    let (jobs_mode, args) = take_jobs_mode(args)?;
    let config = config(env_with_flags(&args)?)?;
    runtime()?.block_on(async move {
        let store = open_store(&config).await?;
        let addr = SocketAddr::from(([127, 0, 0, 1], config.port));
        let url = config.config.endpoints.public_url.to_string();
        let env = config.config.env;
        let mail = Mail::from_settings(
            &config,
            true,
            "SMTP_URL is not set: password-reset, confirmation and other links are not sent",
        )?;
        // Background jobs: inline by default, `--jobs durable` for the queue;
        // the app's mail goes through them to the transport chosen above.
        let mut jobs = job_runner(
            &config,
            Arc::clone(&store),
            jobs_mode,
            mail.transport(),
            sigra_jobs::JobsConfig::default(),
        )
        .await?;
        let auth = Auth::builder(config.config, store)
            .mailer(jobs.mailer())
            .build()
            .map_err(|e| format!("cannot start authentication: {e}"))?;
        let mut sigra = with_rate_limiter(auth).await?;
        if let Mail::Dev(mailbox) = &mail {
            sigra = sigra.with_dev_mailbox(mailbox.clone());
        }
        let app = sigra.demo_app();
        let jobs = jobs
            .start()
            .await
            .map_err(|e| format!("cannot start background jobs: {e}"))?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        println!("Sigra demo ({env}) listening on http://{addr}");
        println!("Open {url} and register an account.");
        match sigra.auth().session_cache() {
            Some(_) => println!(
                "Session cache on (SIGRA_SESSION_CACHE): following revocations every {}",
                sigra_core::config::format_duration(
                    sigra.auth().config().session_cache.revocation_poll
                )
            ),
            None => println!(
                "Session cache off (SIGRA_SESSION_CACHE=off): every request reads the database"
            ),
        }
        if matches!(mail, Mail::Dev(_)) {
            println!("Mail is not sent in dev: read it at {url}dev/mailbox.json");
        }
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| format!("server error: {e}"))?;
        // Inline mail still in flight gets the runner's shutdown timeout;
        // durable mail not yet delivered stays in the queue for the next start.
        jobs.shutdown().await;
        println!("Sigra demo stopped.");
        Ok(())
    })
}

/// Sigra with the rate limiter the config calls for: with `REDIS_URL`, the
/// Redis limiter, connected before the first request (an unreachable Redis
/// is logged once and the limits are counted on this node until it answers);
/// otherwise the in-memory one.
async fn with_rate_limiter(auth: Auth) -> Result<Sigra, String> {
    use secrecy::ExposeSecret;
    let Some(url) = auth.config().endpoints.redis_url.clone() else {
        return Ok(Sigra::new(auth));
    };
    let limiter = sigra_web::redis_limiter::RedisRateLimiter::connect(url.expose_secret())
        .await
        .map_err(|e| match std::error::Error::source(&e) {
            Some(source) => source.to_string(),
            None => e.to_string(),
        })?;
    Ok(Sigra::with_limiter(auth, Arc::new(limiter)))
}
