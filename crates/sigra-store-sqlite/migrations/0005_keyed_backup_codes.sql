-- Backup codes are now stored as HMAC-SHA256 under a key derived from
-- SECRET_KEY_BASE (purpose "sigra-mfa-backup-code"), no longer as a bare
-- SHA-256 that a database copy could reverse in one GPU pass over 40 bits.
-- A bare hash cannot be re-keyed without the code it hides, so every
-- existing code is invalidated: users with MFA keep their authenticator
-- app and generate new codes in their settings (docs/guides/mfa.md,
-- "Upgrading").
DELETE FROM user_backup_codes;
