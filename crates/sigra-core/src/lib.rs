//! Sigra's pure authentication domain.
//!
//! `sigra-core` holds the rules every other Sigra crate builds on: opaque
//! session tokens and their hashes, signed messages and "trust this browser"
//! cookies, field encryption, password hashing, TOTP and backup codes, rate
//! limit rules, and the [`Config`](config::Config) that ties them together.
//!
//! **Architecture invariant:** this crate does no I/O. It has no database,
//! HTTP or async-runtime dependency, it never reads the environment except in
//! [`Config::from_env`](config::Config::from_env), and it never reads the
//! clock except through the [`Clock`](clock::Clock) port. Time arrives as a
//! parameter.
//!
//! # Example
//!
//! ```
//! use secrecy::ExposeSecret;
//! use sigra_core::token::RawToken;
//!
//! let token = RawToken::generate()?;
//! let cookie_value = token.encode();                              // 43 base64url characters
//! let decoded = RawToken::decode(cookie_value.expose_secret())?; // strict: any other shape is refused
//! assert_eq!(decoded.hash(), token.hash());       // only this hash is ever stored
//! # Ok::<(), sigra_core::error::Error>(())
//! ```

pub mod auth;
pub mod cache;
pub mod caching_store;
pub mod clock;
pub mod config;
pub mod cookie;
pub mod duration;
pub mod encryption;
pub mod error;
pub mod hash_pool;
pub mod ids;
pub mod keys;
pub mod mail;
pub mod mfa;
pub mod model;
pub mod password;
pub mod random;
pub mod rate_limit;
pub mod reencrypt;
pub mod signing;
pub mod store;
mod telemetry;
pub mod token;
pub mod trust;

pub use error::Error;

#[cfg(test)]
mod mock_store;
