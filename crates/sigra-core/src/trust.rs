//! "Trust this browser": the signed cookie that lets a user skip MFA.
//!
//! The cookie holds `{user_id, trust_epoch, issued_at}`, HMAC-SHA256-signed
//! with the key derived for the purpose `"sigra-mfa-trust"`. It verifies only
//! when the signature, the TTL, the user and the user's *current*
//! `mfa_trust_epoch` all match. Revoking every trusted browser is therefore a
//! single atomic increment of the epoch in the store (the `revoke_all` port
//! operation): every cookie signed with an older epoch stops verifying.
//!
//! ```
//! use std::time::Duration;
//! use chrono::{TimeZone, Utc};
//! use sigra_core::ids::UserId;
//! use sigra_core::keys::{KeyRing, SecretKeyBase};
//! use sigra_core::trust::{self, TrustError};
//!
//! let ring = KeyRing::new(SecretKeyBase::new(vec![7; 64])?, None);
//! let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
//! let user = UserId::new(now);
//! let ttl = Duration::from_secs(30 * 24 * 3600);
//! let cookie = trust::sign(&ring, user, 3, ttl, now);
//! assert_eq!(trust::verify(&ring, &cookie, user, 3, ttl, now)?, user);
//! // After "revoke trusted browsers" the epoch is 4 and the cookie is dead.
//! assert_eq!(trust::verify(&ring, &cookie, user, 4, ttl, now), Err(TrustError::StaleEpoch));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::time::Duration;

use chrono::{DateTime, Utc};
use thiserror::Error;
use uuid::Uuid;

use crate::config::Config;
use crate::cookie::{self, CookieKind, CookieOptions};
use crate::ids::UserId;
use crate::keys::KeyRing;
use crate::signing::{self, MessageSigner, SignatureError};

/// The key-derivation purpose of trust cookies.
pub const PURPOSE: &str = "sigra-mfa-trust";

/// Why a trust cookie was refused. Callers treat every variant the same way
/// (ask for the second factor); the variants exist for tests and telemetry.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrustError {
    /// Not a well-formed trust cookie.
    #[error("the trust cookie is malformed")]
    Malformed,
    /// The signature does not verify (tampered, or another key).
    #[error("the trust cookie's signature does not verify")]
    BadSignature,
    /// Older than the trust TTL.
    #[error("the trust cookie has expired")]
    Expired,
    /// Issued for another user.
    #[error("the trust cookie belongs to another user")]
    WrongUser,
    /// Issued before the user's trusted browsers were revoked.
    #[error("the trust cookie was revoked")]
    StaleEpoch,
}

impl From<SignatureError> for TrustError {
    fn from(e: SignatureError) -> Self {
        match e {
            SignatureError::BadSignature => Self::BadSignature,
            SignatureError::Expired => Self::Expired,
            // A cookie from the future is as unusable as a malformed one.
            SignatureError::Malformed | SignatureError::IssuedInFuture => Self::Malformed,
        }
    }
}

/// A verified trust cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustVerified {
    /// The user it trusts (equal to the `current_user_id` that was checked).
    pub user_id: UserId,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
    /// True when it verified only with `SECRET_KEY_BASE_OLD`: set a fresh cookie.
    pub signed_with_old_key: bool,
}

/// The trust cookie's name under `config`: `_sigra_mfa_trust`, or
/// `__Host-sigra_mfa_trust` in prod without `COOKIE_DOMAIN` (see
/// [`cookie::cookie_name`]).
pub fn cookie_name(config: &Config) -> &'static str {
    cookie::cookie_name(config, CookieKind::MfaTrust)
}

/// The trust cookie's options: honours `cookie_domain`, Secure in prod,
/// HttpOnly, SameSite=Lax, max-age = `trust_ttl`. There is no form without a
/// config, so the domain can never be dropped.
pub fn cookie_opts(config: &Config) -> CookieOptions {
    cookie::cookie_opts(config, CookieKind::MfaTrust)
}

/// Signs a trust cookie for `user_id` at its current `trust_epoch`.
pub fn sign(
    ring: &KeyRing,
    user_id: UserId,
    trust_epoch: i64,
    ttl: Duration,
    now: DateTime<Utc>,
) -> String {
    let mut data = [0u8; 24];
    data[..16].copy_from_slice(user_id.as_bytes());
    data[16..].copy_from_slice(&trust_epoch.to_be_bytes());
    MessageSigner::new(ring, PURPOSE).sign(&data, now, ttl)
}

/// Verifies a trust cookie against the signed-in user and their current epoch.
pub fn verify(
    ring: &KeyRing,
    cookie: &str,
    current_user_id: UserId,
    current_epoch: i64,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Result<UserId, TrustError> {
    verify_detailed(ring, cookie, current_user_id, current_epoch, ttl, now).map(|v| v.user_id)
}

/// [`verify`], also reporting the issue time and whether the cookie should be
/// re-signed with the current key.
pub fn verify_detailed(
    ring: &KeyRing,
    cookie: &str,
    current_user_id: UserId,
    current_epoch: i64,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Result<TrustVerified, TrustError> {
    let verified = MessageSigner::new(ring, PURPOSE).verify(cookie, now)?;
    // The TTL in force now wins over the one embedded at signing, so
    // shortening `trust_ttl` takes effect for cookies already issued.
    signing::check_age(verified.issued_at, ttl.as_secs(), now)?;
    let data: [u8; 24] = verified
        .data
        .as_slice()
        .try_into()
        .map_err(|_| TrustError::Malformed)?;
    let (user, epoch) = data.split_at(16);
    let user_bytes: [u8; 16] = user.try_into().map_err(|_| TrustError::Malformed)?;
    let user_id = UserId::from_uuid(Uuid::from_bytes(user_bytes));
    let epoch = i64::from_be_bytes(epoch.try_into().map_err(|_| TrustError::Malformed)?);
    if user_id != current_user_id {
        return Err(TrustError::WrongUser);
    }
    if epoch != current_epoch {
        return Err(TrustError::StaleEpoch);
    }
    Ok(TrustVerified {
        user_id,
        issued_at: verified.issued_at,
        signed_with_old_key: verified.signed_with_old_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SecretKeyBase;
    use chrono::{TimeDelta, TimeZone};
    use proptest::prelude::*;

    const TTL: Duration = Duration::from_secs(30 * 24 * 3600);

    fn ring(byte: u8, old: Option<u8>) -> KeyRing {
        KeyRing::new(
            SecretKeyBase::new(vec![byte; 64]).unwrap(),
            old.map(|b| SecretKeyBase::new(vec![b; 64]).unwrap()),
        )
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
    }

    #[test]
    fn verifies_only_for_its_user_epoch_and_ttl() {
        let r = ring(1, None);
        let alice = UserId::new(t0());
        let bob = UserId::new(t0());
        let c = sign(&r, alice, 0, TTL, t0());
        assert_eq!(verify(&r, &c, alice, 0, TTL, t0()), Ok(alice));
        assert_eq!(
            verify(&r, &c, bob, 0, TTL, t0()),
            Err(TrustError::WrongUser)
        );
        assert_eq!(
            verify(&r, &c, alice, 1, TTL, t0()),
            Err(TrustError::StaleEpoch)
        );
        let expired = t0() + TimeDelta::days(30) + TimeDelta::seconds(1);
        assert_eq!(
            verify(&r, &c, alice, 0, TTL, expired),
            Err(TrustError::Expired)
        );
        // A shorter TTL configured later applies to cookies already issued.
        let week = Duration::from_secs(7 * 24 * 3600);
        assert_eq!(
            verify(&r, &c, alice, 0, week, t0() + TimeDelta::days(8)),
            Err(TrustError::Expired)
        );
    }

    #[test]
    fn another_purpose_or_key_is_refused() {
        let r = ring(1, None);
        let alice = UserId::new(t0());
        let session_signed = MessageSigner::new(&r, "sigra-session").sign(&[0; 24], t0(), TTL);
        assert_eq!(
            verify(&r, &session_signed, alice, 0, TTL, t0()),
            Err(TrustError::BadSignature)
        );
        let c = sign(&ring(2, None), alice, 0, TTL, t0());
        assert_eq!(
            verify(&r, &c, alice, 0, TTL, t0()),
            Err(TrustError::BadSignature)
        );
    }

    #[test]
    fn rotation_keeps_cookies_and_flags_them_for_resigning() {
        let alice = UserId::new(t0());
        let c = sign(&ring(1, None), alice, 5, TTL, t0());
        let v = verify_detailed(&ring(2, Some(1)), &c, alice, 5, TTL, t0()).unwrap();
        assert!(v.signed_with_old_key);
        assert_eq!(
            verify(&ring(2, None), &c, alice, 5, TTL, t0()),
            Err(TrustError::BadSignature)
        );
    }

    #[test]
    fn cookie_name_and_options() {
        let config = Config::builder(crate::config::Environment::Prod)
            .secret_key_base(SecretKeyBase::new(vec![b'k'; 64]).unwrap())
            .public_url("https://app.example.com")
            .cookie_domain(".example.com")
            .build()
            .unwrap();
        assert_eq!(cookie_name(&config), "_sigra_mfa_trust");
        let opts = cookie_opts(&config);
        assert_eq!(opts.name, "_sigra_mfa_trust");
        assert_eq!(opts.domain.as_deref(), Some(".example.com"));
        assert!(opts.secure && opts.http_only);
        assert_eq!(opts.max_age, Some(config.mfa.trust_ttl));
    }

    proptest! {
        #[test]
        fn any_single_byte_mutation_or_truncation_is_rejected(pos in 0usize..256, flip in 1u8..=255, cut in 0usize..256) {
            let r = ring(1, None);
            let alice = UserId::from_uuid(Uuid::from_bytes([7; 16]));
            let c = sign(&r, alice, 42, TTL, t0());
            let mut bytes = c.clone().into_bytes();
            let p = pos % bytes.len();
            bytes[p] ^= flip;
            if let Ok(mutated) = String::from_utf8(bytes) {
                prop_assert!(verify(&r, &mutated, alice, 42, TTL, t0()).is_err());
            }
            let cut = cut % c.len();
            prop_assert!(verify(&r, &c[..cut], alice, 42, TTL, t0()).is_err());
        }

        #[test]
        fn verify_never_panics(input in ".{0,200}") {
            let r = ring(1, None);
            let _ = verify(&r, &input, UserId::from_uuid(Uuid::nil()), 0, TTL, t0());
        }
    }
}
