//! `SigraLayer`: who is this request from, is it allowed to change anything,
//! and which cookies go back.
//!
//! On the way in it reads `_sigra_session` (falling back to
//! `_sigra_remember_me`, which rehydrates the session cookie), looks the
//! session up through [`sigra_core::auth::Auth::fetch_session`], enforces CSRF
//! and origin checks on every state-changing request, and puts a
//! [`CurrentScope`](crate::CurrentScope) into the request's extensions. On
//! the way out it writes the cookies the handler's changes call for and adds
//! security headers.
//!
//! It fails closed: when the database cannot answer whether a session is
//! valid, the request gets 503, never the page of a session it could not
//! verify.
//!
//! One file per concern: [`service`] runs the steps in order; [`session`]
//! loads the session (and rehydrates it from remember-me), [`client`] says
//! who the client is behind trusted proxies, [`guard`] holds the CSRF and
//! origin checks, [`response_cookies`] writes the cookies and [`headers`]
//! the security headers.

pub(crate) mod client;
mod guard;
mod headers;
mod response_cookies;
pub(crate) mod service;
mod session;
