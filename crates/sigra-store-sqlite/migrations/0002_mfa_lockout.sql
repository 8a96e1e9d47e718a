-- Second-factor lockout: consecutive failures and the lock they cause.
ALTER TABLE user_mfa_credentials ADD COLUMN failed_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE user_mfa_credentials ADD COLUMN locked_until INTEGER;
