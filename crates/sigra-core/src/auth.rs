//! The `Auth` service: the operations an application calls.
//!
//! `Auth` ties the store ports, the password hasher (on a bounded
//! [`HashPool`](crate::hash_pool::HashPool)), the clock and the config together. It decides; the store
//! persists. Every security event writes an audit row and a `tracing` event
//! named like the Elixir library's (`sigra.auth.login`, `sigra.session.fetch`,
//! …) with its outcome and latency — never an email, token or password.
//!
//! ```no_run
//! # async fn demo(store: std::sync::Arc<dyn sigra_core::store::Store>) -> Result<(), sigra_core::auth::AuthError> {
//! use secrecy::SecretString;
//! use sigra_core::auth::Auth;
//! use sigra_core::config::{Config, Environment};
//! use sigra_core::model::{SessionKind, SessionMeta};
//!
//! let config = Config::builder(Environment::Dev).build()?;
//! let auth = Auth::new(config, store)?;
//! let password = SecretString::from("correct horse battery staple");
//! let user = auth.register(" Alice@Example.com ", &password).await?;
//! let user = auth.authenticate("alice@example.com", &password, &SessionMeta::default()).await?;
//! let (token, _session) = auth.create_session(&user, SessionKind::Standard, SessionMeta::default()).await?;
//! // On each request: the cookie's token → the session and its user, or None.
//! let current = auth.fetch_session(&token).await?;
//! assert_eq!(current.map(|(_, u)| u.id), Some(user.id));
//! # Ok(()) }
//! ```
//!
//! The service is split by operation family, one file each: `service`
//! holds the [`Auth`] struct, its builder and the helpers every family uses;
//! `register`, `log_in`, `sessions`, `password`, `email`, `deletion` and
//! `mfa` add the operations; `mail` holds the messages they send. Its store
//! is wrapped in a [`CachingStore`](crate::caching_store::CachingStore) when
//! the session cache is on, which evicts after every write that concerns a
//! user or a session: no operation here evicts by hand.

mod address;
mod deletion;
mod email;
mod error;
mod gate;
mod lockout;
mod log_in;
mod mail;
mod mfa;
mod password;
mod register;
mod service;
mod sessions;

pub use address::{is_valid_email, normalize_email};
pub use error::AuthError;
pub use mfa::{MfaEnrollment, SecondFactor};
pub use service::{Auth, AuthBuilder};

#[cfg(test)]
mod cache_tests;
#[cfg(test)]
mod tests;
