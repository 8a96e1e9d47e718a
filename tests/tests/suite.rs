//! Sigra's one integration-test binary (STYLE.md §7): modules by purpose.
//!
//! - `architecture`: invariants of the source tree (no module imports a module that imports it).
//! - `conformance`: the store conformance suite, written once and run on every backend.
//! - `http`: the demo app over a real socket, driven by a cookie-keeping client; every
//!   test runs on SQLite (file) and PostgreSQL.
//! - `jobs`: sigra-jobs on real databases: each job's effect on rows, crash pickup, mail
//!   retry and give-up, and two nodes sharing one database running each cron tick once.
//! - `telemetry`: a whole flow at TRACE level leaks no secret and emits the documented events.
//! - `rate_limiter`: the rate-limit port's guarantees, the same tests on the in-memory and
//!   the Redis backend, and Redis outages (a Redis the test stops and starts again).
//! - `chaos`: a private PostgreSQL killed and restarted under load (`cargo xtask chaos`).
//! - `browser`: the demo app in headless Chromium over WebDriver (register, remember me,
//!   log out everywhere); needs Debian's `chromium` and `chromium-driver`, which
//!   `cargo xtask ci` installs.

// Everything in this binary is test code, including the helpers that are not
// `#[test]` functions themselves: a panic here is a failing test, which is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod architecture;
mod browser;
mod chaos;
mod conformance;
mod http;
mod jobs;
mod rate_limiter;
mod telemetry;
