-- Log-ins that race a credential change: a session is inserted only while
-- the user's session_epoch is the one read when the password was checked.
-- Password change and reset, email change, log-out-everywhere and a
-- scheduled deletion increment it in their own transaction.
ALTER TABLE users ADD COLUMN session_epoch INTEGER NOT NULL DEFAULT 0;
