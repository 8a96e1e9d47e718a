//! `Debug` views that name users and sessions by id only: no email, client
//! address, user agent, token, CSRF token or cookie value reaches a log line
//! through `{:?}` of a Sigra web type.

use std::fmt;

use sigra_core::model::{Session, User};

/// Stands in for a secret or personal value in `Debug` output.
pub(crate) const REDACTED: &str = "[REDACTED]";

/// `User { id, .. }`.
pub(crate) struct UserView<'a>(pub(crate) &'a User);

impl fmt::Debug for UserView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.0.id)
            .finish_non_exhaustive()
    }
}

/// `Session { id, kind, .. }`.
pub(crate) struct SessionView<'a>(pub(crate) &'a Session);

impl fmt::Debug for SessionView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.0.id)
            .field("kind", &self.0.kind)
            .finish_non_exhaustive()
    }
}

/// [`UserView`] of an optional user.
pub(crate) fn user(user: Option<&User>) -> Option<UserView<'_>> {
    user.map(UserView)
}

/// [`SessionView`] of an optional session.
pub(crate) fn session(session: Option<&Session>) -> Option<SessionView<'_>> {
    session.map(SessionView)
}

/// `Some([REDACTED])` or `None`: whether a secret is there, not what it is.
pub(crate) fn presence<T>(value: Option<&T>) -> Option<&'static str> {
    value.map(|_| REDACTED)
}
