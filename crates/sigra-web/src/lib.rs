//! The axum/tower adapter for Sigra.
//!
//! [`Sigra`] wraps an [`Auth`] service. Its [`layer`](Sigra::layer) reads
//! Sigra's cookies on every request, looks the session up, enforces CSRF and
//! origin checks on state-changing requests and writes cookies and security
//! headers on the way out; its [`routes`](Sigra::routes) are the default
//! pages (register, log in, log out, settings, `/health`). Handlers use the
//! [`CurrentUser`], [`MaybeUser`] and [`AuthSession`] extractors.
//!
//! ```no_run
//! use std::sync::Arc;
//! use axum::{Router, routing::get};
//! use sigra_core::auth::Auth;
//! use sigra_core::config::Config;
//! use sigra_store_sqlite::SqliteStore;
//! use sigra_web::{CurrentUser, Sigra};
//!
//! async fn dashboard(current: CurrentUser) -> String {
//!     format!("Signed in as {}", current.user.email)
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = SqliteStore::connect("sqlite://app.db").await?;
//! store.migrate().await?;
//! let sigra = Sigra::new(Auth::new(Config::from_env()?, Arc::new(store))?);
//! let app = Router::new()
//!     .route("/dashboard", get(dashboard))   // 303 to /users/log-in when signed out
//!     .merge(sigra.routes())                 // register, log in, log out, settings, /health
//!     .layer(sigra.layer());                 // sessions, remember-me, CSRF, security headers
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:4000").await?;
//! axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await?;
//! # Ok(()) }
//! ```
//!
//! **Architecture invariant:** this is the only Sigra crate that knows HTTP,
//! and every failure in it becomes a deliberate response (303, 401, 403,
//! 422, 429, 503), never a panic.
//!
//! This file only declares the modules and re-exports; [`Sigra`] itself is
//! in `sigra.rs`, the layer in `layer/`, the refusals in [`rejection`].
//!
//! [`Auth`]: sigra_core::auth::Auth

// Rejections are `Response`s by axum's convention; boxing them buys nothing here.
#![allow(clippy::result_large_err)]

mod cookies;
mod csrf;
mod extract;
#[doc(hidden)]
pub mod fuzz;
mod layer;
mod memory_limiter;
mod pages;
pub mod rate_limit;
mod redact;
#[cfg(feature = "redis")]
pub mod redis_limiter;
pub mod rejection;
mod revocations;
mod routes;
mod sigra;
mod state;
mod templates;
#[cfg(feature = "testing")]
pub mod testing;

pub use cookies::{Flash, FlashKind};
pub use csrf::{CSRF_FIELD, CSRF_HEADER};
pub use extract::{AuthSession, CurrentUser, MaybeUser};
pub use layer::service::{SigraLayer, SigraService};
pub use rejection::LOG_IN_PATH;
pub use sigra::Sigra;
pub use state::CurrentScope;
