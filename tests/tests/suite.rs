//! Sigra's one integration-test binary (STYLE.md §7): modules by purpose.
//!
//! - `conformance`: the store conformance suite, written once and run on every backend.

// Everything in this binary is test code, including the helpers that are not
// `#[test]` functions themselves: a panic here is a failing test, which is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod conformance;
