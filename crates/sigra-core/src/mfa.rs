//! MFA primitives: TOTP secrets, codes and `otpauth://` URIs (RFC 6238: SHA-1,
//! 6 digits, 30-second steps) and one-time backup codes.
//!
//! Nothing here stores anything: the caller keeps the TOTP secret (encrypted
//! at rest), the last used TOTP step, and the keyed hashes of the backup
//! codes (HMAC-SHA256 under a key of purpose [`BACKUP_CODE_KEY_PURPOSE`],
//! so a copy of the database alone cannot test guesses). Time arrives as `now`.
//!
//! ```
//! use sigra_core::mfa::{self, TotpSecret};
//! # let now = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
//!
//! let secret = TotpSecret::generate()?;
//! let uri = mfa::otpauth_uri(&secret, "ACME", "alice@example.com")?; // show as a QR code
//!
//! let code = mfa::totp_code_at(&secret, now); // what the user's app shows
//! let step = mfa::verify_totp(&secret, &code, now, None)?;
//! // Store `step` as the user's last used step: the same code is now refused.
//! assert!(matches!(
//!     mfa::verify_totp(&secret, &code, now, Some(step)),
//!     Err(mfa::MfaError::Replayed)
//! ));
//!
//! let keys = sigra_core::keys::KeyRing::new(sigra_core::keys::SecretKeyBase::generate()?, None);
//! let key = keys.purpose(mfa::BACKUP_CODE_KEY_PURPOSE);
//! let codes = mfa::generate_backup_codes(10)?;
//! let stored = codes[0].keyed_hash(key.current()); // store only this; show `expose()` once
//! assert_eq!(
//!     mfa::hash_backup_code_input(&codes[0].expose().to_lowercase(), key.current()),
//!     Some(stored)
//! );
//! # let _ = uri;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use chrono::{DateTime, Utc};
use ring::hmac;
use secrecy::{ExposeSecret, ExposeSecretMut, SecretSlice, SecretString};
use subtle::{Choice, ConstantTimeEq};
use thiserror::Error;
use totp_rs::{Algorithm, TOTP};
use zeroize::{Zeroize, Zeroizing};

use crate::random::{self, RandomError};

/// Length of a TOTP step in seconds (RFC 6238's recommended 30).
pub const TOTP_PERIOD_SECONDS: u64 = 30;

/// Number of digits in a TOTP code.
pub const TOTP_DIGITS: usize = 6;

/// The 32 symbols backup codes are made of: digits and capital letters
/// without the easily confused `0`, `1`, `I` and `O`.
pub const BACKUP_CODE_ALPHABET: &str = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

/// Number of symbols in a backup code (shown as `XXXX-XXXX`): 40 bits.
const BACKUP_CODE_SYMBOLS: usize = 8;

/// The [`KeyRing`](crate::keys::KeyRing) purpose of the backup-code key: the
/// stored value of a code is HMAC-SHA256 of its 8 symbols under this
/// purpose's key, derived from `SECRET_KEY_BASE`. 40 bits fall to one GPU
/// pass under a bare hash; without the key, a database copy cannot test a
/// guess at all.
pub const BACKUP_CODE_KEY_PURPOSE: &str = "sigra-mfa-backup-code";

/// RFC 4648 base32 alphabet.
const BASE32_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Everything that can go wrong with TOTP or backup codes.
///
/// No variant ever carries a secret or the code the user typed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum MfaError {
    /// The code is not 6 digits, or matches none of the accepted steps.
    #[error("invalid code: enter the 6-digit code your authenticator app shows now")]
    InvalidCode,
    /// The code is right but its step was already used (a replay).
    #[error("this code has already been used: wait for your authenticator app to show a new one")]
    Replayed,
    /// The TOTP secret is too short or not valid base32.
    #[error(
        "invalid TOTP secret: it must be at least 16 bytes, written in RFC 4648 base32 \
         (letters A-Z and digits 2-7)"
    )]
    InvalidSecret,
    /// The operating system's random number generator failed.
    #[error(transparent)]
    Random(#[from] RandomError),
    /// The issuer or account name cannot go into an `otpauth://` URI.
    #[error("cannot build the otpauth URI: {0}")]
    Uri(&'static str),
}

/// A TOTP shared secret: raw bytes, zeroized on drop, never shown by `Debug`.
///
/// Encrypt [`expose_bytes`](Self::expose_bytes) at rest; show
/// [`to_base32`](Self::to_base32) or [`otpauth_uri`] to the user once, at
/// enrolment.
pub struct TotpSecret(SecretSlice<u8>);

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret([REDACTED])")
    }
}

impl TotpSecret {
    /// Length of a generated secret: 20 bytes (160 bits), as RFC 4226
    /// recommends.
    pub const LEN: usize = 20;

    /// The shortest secret accepted: 16 bytes (128 bits), RFC 4226's minimum.
    pub const MIN_LEN: usize = 16;

    /// A fresh random secret of [`LEN`](Self::LEN) bytes.
    ///
    /// # Errors
    ///
    /// [`MfaError::Random`] if the system random number generator fails.
    pub fn generate() -> Result<Self, MfaError> {
        let mut secret = SecretSlice::from(vec![0u8; Self::LEN]);
        random::fill(secret.expose_secret_mut())?;
        Ok(Self(secret))
    }

    /// Wraps raw secret bytes, for example after decryption. `bytes` is
    /// zeroized whatever the outcome.
    ///
    /// # Errors
    ///
    /// [`MfaError::InvalidSecret`] if it is shorter than
    /// [`MIN_LEN`](Self::MIN_LEN).
    pub fn from_bytes(mut bytes: Vec<u8>) -> Result<Self, MfaError> {
        if bytes.len() < Self::MIN_LEN {
            bytes.zeroize();
            return Err(MfaError::InvalidSecret);
        }
        // Copy into an exactly sized allocation and wipe the original, which
        // may have spare capacity that `into_boxed_slice` would free unwiped.
        let boxed: Box<[u8]> = Box::from(bytes.as_slice());
        bytes.zeroize();
        Ok(Self(SecretSlice::new(boxed)))
    }

    /// Parses a base32 secret (RFC 4648). Case, spaces, hyphens and trailing
    /// `=` padding are ignored, as authenticator apps and users write them.
    ///
    /// # Errors
    ///
    /// [`MfaError::InvalidSecret`] for any other character, a length that is
    /// not a whole number of bytes, or fewer than [`MIN_LEN`](Self::MIN_LEN)
    /// bytes.
    pub fn from_base32(encoded: &str) -> Result<Self, MfaError> {
        let bytes = base32_decode(encoded).ok_or(MfaError::InvalidSecret)?;
        Self::from_bytes(bytes)
    }

    /// The secret in RFC 4648 base32 without padding, as authenticator apps
    /// expect it when typed in by hand.
    #[must_use]
    pub fn to_base32(&self) -> SecretString {
        let encoded = base32_encode(self.expose_bytes());
        SecretString::from(encoded.as_str())
    }

    /// The raw secret bytes, for the caller to encrypt at rest.
    #[must_use]
    pub fn expose_bytes(&self) -> &[u8] {
        self.0.expose_secret()
    }

    /// A totp-rs generator for this secret (it zeroizes its copy on drop).
    fn totp(&self) -> TOTP {
        // The length was checked at construction, so the checked constructor
        // (which only re-checks digits and length) is not needed.
        TOTP::new_unchecked(
            Algorithm::SHA1,
            TOTP_DIGITS,
            1,
            TOTP_PERIOD_SECONDS,
            self.expose_bytes().to_vec(),
            None,
            String::new(),
        )
    }
}

/// Builds the `otpauth://` URI that authenticator apps read from a QR code:
///
/// `otpauth://totp/Issuer:account?secret=…&issuer=Issuer&algorithm=SHA1&digits=6&period=30`
///
/// The issuer and account are percent-encoded. The URI contains the secret,
/// so it is returned as a [`SecretString`].
///
/// # Errors
///
/// [`MfaError::Uri`] if the issuer or the account is empty or contains `:`
/// (the label separator, which the Key URI format forbids in either part).
pub fn otpauth_uri(
    secret: &TotpSecret,
    issuer: &str,
    account: &str,
) -> Result<SecretString, MfaError> {
    if issuer.trim().is_empty() || issuer.contains(':') {
        return Err(MfaError::Uri("the issuer must not be empty or contain ':'"));
    }
    if account.trim().is_empty() || account.contains(':') {
        return Err(MfaError::Uri(
            "the account name must not be empty or contain ':'",
        ));
    }
    let issuer = percent_encode(issuer);
    let account = percent_encode(account);
    let encoded_secret = base32_encode(secret.expose_bytes());

    let parts = [
        "otpauth://totp/",
        &issuer,
        ":",
        &account,
        "?secret=",
        &encoded_secret,
        "&issuer=",
        &issuer,
        "&algorithm=SHA1&digits=6&period=30",
    ];
    // Reserve everything up front so the string holding the secret never
    // reallocates and leaves an unwiped copy behind.
    let mut uri = Zeroizing::new(String::with_capacity(parts.iter().map(|p| p.len()).sum()));
    for part in parts {
        uri.push_str(part);
    }
    Ok(SecretString::from(uri.as_str()))
}

/// The TOTP step that contains `now`: `floor(unix_seconds / 30)`, and 0 for
/// times before 1970.
#[must_use]
pub fn current_step(now: DateTime<Utc>) -> u64 {
    u64::try_from(now.timestamp()).map_or(0, |seconds| seconds / TOTP_PERIOD_SECONDS)
}

/// The 6-digit code for the step that contains `now`: what the user's
/// authenticator app shows at that time.
///
/// Meant for tests (Sigra's and downstream apps') that need a valid code.
/// Production code verifies codes with [`verify_totp`]; it never needs to
/// produce one.
#[must_use]
pub fn totp_code_at(secret: &TotpSecret, now: DateTime<Utc>) -> String {
    let code = code_for_step(&secret.totp(), current_step(now));
    code.as_str().to_owned()
}

/// Verifies a TOTP code typed by the user and returns the step it matched.
///
/// Codes for the step that contains `now` and the steps just before and after
/// it (clock drift of up to 30 seconds either way) are accepted. Spaces are
/// ignored, then the input must be exactly 6 ASCII digits. Expected codes are
/// compared in constant time.
///
/// `last_used_step` is the step returned by the last successful call for
/// this user; every step at or before it is refused, so a code cannot be used
/// twice. Store the returned step as the new `last_used_step`.
///
/// # Errors
///
/// - [`MfaError::InvalidCode`] if the input is not 6 digits or matches none
///   of the accepted steps.
/// - [`MfaError::Replayed`] if it matches only steps at or before
///   `last_used_step`.
pub fn verify_totp(
    secret: &TotpSecret,
    code: &str,
    now: DateTime<Utc>,
    last_used_step: Option<u64>,
) -> Result<u64, MfaError> {
    let input = parse_totp_input(code).ok_or(MfaError::InvalidCode)?;
    let totp = secret.totp();
    let step = current_step(now);
    let candidates = [step.checked_sub(1), Some(step), step.checked_add(1)];

    // Compare against every candidate before deciding, without early exit.
    let mut matched = [Choice::from(0); 3];
    for (slot, candidate) in matched.iter_mut().zip(candidates) {
        if let Some(candidate) = candidate {
            let expected = code_for_step(&totp, candidate);
            *slot = expected.as_bytes().ct_eq(&input[..]);
        }
    }

    let mut replayed = false;
    for (candidate, is_match) in candidates.into_iter().zip(matched) {
        let Some(candidate) = candidate else { continue };
        if !bool::from(is_match) {
            continue;
        }
        if last_used_step.is_some_and(|last| candidate <= last) {
            replayed = true;
        } else {
            return Ok(candidate);
        }
    }
    Err(if replayed {
        MfaError::Replayed
    } else {
        MfaError::InvalidCode
    })
}

/// A one-time backup code, `XXXX-XXXX` from [`BACKUP_CODE_ALPHABET`].
///
/// Show [`expose`](Self::expose) to the user once; store only
/// [`keyed_hash`](Self::keyed_hash). `Debug` never shows the code.
pub struct BackupCode(SecretString);

impl fmt::Debug for BackupCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BackupCode([REDACTED])")
    }
}

impl BackupCode {
    /// The code as shown to the user, e.g. `7K3M-XQ9D`.
    #[must_use]
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// HMAC-SHA256 of the normalised code (its 8 symbols, no hyphen) under
    /// `key` (the current key of [`BACKUP_CODE_KEY_PURPOSE`]): the value to
    /// store. Equal to [`hash_backup_code_input`] of the code under the same
    /// key however the user types it.
    #[must_use]
    pub fn keyed_hash(&self, key: &hmac::Key) -> [u8; 32] {
        match normalise_backup_code(self.expose()) {
            Some(symbols) => hash_symbols(&symbols, key),
            // Unreachable: generated codes always normalise. Hashing the raw
            // text instead yields a hash no input can match (fails closed).
            None => mac(self.expose().as_bytes(), key),
        }
    }
}

/// Generates `count` distinct backup codes, each `XXXX-XXXX` from
/// [`BACKUP_CODE_ALPHABET`] with every symbol drawn uniformly (no modulo
/// bias).
///
/// # Errors
///
/// [`MfaError::Random`] if the system random number generator fails.
pub fn generate_backup_codes(count: usize) -> Result<Vec<BackupCode>, MfaError> {
    let alphabet = BACKUP_CODE_ALPHABET.as_bytes();
    let mut codes = Vec::with_capacity(count);
    while codes.len() < count {
        let mut symbols = Zeroizing::new([0u8; BACKUP_CODE_SYMBOLS]);
        for symbol in symbols.iter_mut() {
            let index = random::index_below(alphabet.len())?;
            *symbol = alphabet.get(index).copied().unwrap_or(alphabet[0]);
        }
        let (first, second) = symbols.split_at(BACKUP_CODE_SYMBOLS / 2);
        let mut text = Zeroizing::new(String::with_capacity(BACKUP_CODE_SYMBOLS + 1));
        text.extend(first.iter().map(|&b| char::from(b)));
        text.push('-');
        text.extend(second.iter().map(|&b| char::from(b)));
        if codes
            .iter()
            .any(|c: &BackupCode| c.expose() == text.as_str())
        {
            continue; // a duplicate within the batch: draw again
        }
        codes.push(BackupCode(SecretString::from(text.as_str())));
    }
    Ok(codes)
}

/// Normalises a backup code typed by the user and returns its HMAC-SHA256
/// under `key`, to look up against the stored [`BackupCode::keyed_hash`]
/// values. During a rotation of `SECRET_KEY_BASE`, try each of the
/// purpose's [`verification_keys`](crate::keys::PurposeKeys::verification_keys),
/// current first.
///
/// Surrounding whitespace, hyphens and spaces are dropped and letters are
/// upper-cased, so `abcd-efgh`, ` ABCDEFGH ` and `ABCD EFGH` hash alike.
/// Returns `None` unless exactly 8 symbols of [`BACKUP_CODE_ALPHABET`]
/// remain.
///
/// Compare the result with stored hashes in constant time (or look it up by
/// equality in the store), and delete a code once it has been used.
#[must_use]
pub fn hash_backup_code_input(input: &str, key: &hmac::Key) -> Option<[u8; 32]> {
    normalise_backup_code(input).map(|symbols| hash_symbols(&symbols, key))
}

/// The 8 upper-case alphabet symbols of a backup code, or `None`.
fn normalise_backup_code(input: &str) -> Option<Zeroizing<[u8; BACKUP_CODE_SYMBOLS]>> {
    let mut symbols = Zeroizing::new([0u8; BACKUP_CODE_SYMBOLS]);
    let mut len = 0;
    for c in input.trim().chars() {
        if c == '-' || c == ' ' {
            continue;
        }
        let c = c.to_ascii_uppercase();
        let byte = u8::try_from(c).ok()?;
        if !BACKUP_CODE_ALPHABET.as_bytes().contains(&byte) {
            return None;
        }
        *symbols.get_mut(len)? = byte;
        len += 1;
    }
    (len == BACKUP_CODE_SYMBOLS).then_some(symbols)
}

fn hash_symbols(symbols: &[u8; BACKUP_CODE_SYMBOLS], key: &hmac::Key) -> [u8; 32] {
    mac(symbols, key)
}

fn mac(data: &[u8], key: &hmac::Key) -> [u8; 32] {
    let tag = hmac::sign(key, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// The 6 digits of a typed TOTP code, ignoring spaces, or `None`.
fn parse_totp_input(code: &str) -> Option<Zeroizing<[u8; TOTP_DIGITS]>> {
    let mut digits = Zeroizing::new([0u8; TOTP_DIGITS]);
    let mut len = 0;
    for byte in code.trim().bytes() {
        if byte == b' ' {
            continue;
        }
        if !byte.is_ascii_digit() {
            return None;
        }
        *digits.get_mut(len)? = byte;
        len += 1;
    }
    (len == TOTP_DIGITS).then_some(digits)
}

fn code_for_step(totp: &TOTP, step: u64) -> Zeroizing<String> {
    Zeroizing::new(totp.generate(step.saturating_mul(TOTP_PERIOD_SECONDS)))
}

/// RFC 4648 base32, upper case, without padding.
fn base32_encode(bytes: &[u8]) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity((bytes.len() * 8).div_ceil(5)));
    let mut buffer: u16 = 0;
    let mut bits = 0u32;
    for &byte in bytes {
        buffer = (buffer << 8) | u16::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(base32_symbol(buffer >> bits));
        }
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(base32_symbol(buffer << (5 - bits)));
    }
    buffer.zeroize();
    out
}

fn base32_symbol(value: u16) -> char {
    char::from(BASE32_ALPHABET[usize::from(value & 0x1f)])
}

/// Decodes RFC 4648 base32, ignoring case, spaces, hyphens and trailing `=`.
/// Refuses other characters, impossible lengths and non-zero trailing bits
/// (so every secret has exactly one accepted spelling, up to case and
/// separators).
fn base32_decode(encoded: &str) -> Option<Vec<u8>> {
    let trimmed = encoded.trim().trim_end_matches('=');
    let mut out = Vec::with_capacity(trimmed.len() * 5 / 8);
    let mut buffer: u16 = 0;
    let mut bits = 0u32;
    let mut ok = true;
    for c in trimmed.bytes() {
        if c == b' ' || c == b'-' {
            continue;
        }
        let value = match c.to_ascii_uppercase() {
            upper @ b'A'..=b'Z' => upper - b'A',
            digit @ b'2'..=b'7' => digit - b'2' + 26,
            _ => {
                ok = false;
                break;
            }
        };
        buffer = (buffer << 5) | u16::from(value);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            // Truncation intended: the top 8 of the buffered bits.
            out.push(u8::try_from(buffer >> bits).unwrap_or(0));
            buffer &= (1 << bits) - 1;
        }
    }
    // A whole number of bytes leaves fewer than 5 bits, and they are zero.
    ok &= bits < 5 && buffer == 0;
    buffer.zeroize();
    if ok {
        Some(out)
    } else {
        out.zeroize();
        None
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// The RFC 6238 appendix B SHA-1 secret.
    const RFC_SECRET: &[u8] = b"12345678901234567890";

    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(RFC_SECRET.to_vec()).unwrap()
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).unwrap()
    }

    #[test]
    fn rfc_6238_test_vectors() {
        let secret = rfc_secret();
        // (T, 8-digit code from RFC 6238 appendix B): 6 digits are the last 6.
        for (t, eight_digits) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(totp_code_at(&secret, at(t)), eight_digits[2..], "T = {t}");
        }
        assert_eq!(totp_code_at(&secret, at(59)), "287082");
        assert_eq!(verify_totp(&secret, "287082", at(59), None).unwrap(), 1);
    }

    #[test]
    fn current_step_is_floor_of_unix_over_30() {
        assert_eq!(current_step(at(0)), 0);
        assert_eq!(current_step(at(29)), 0);
        assert_eq!(current_step(at(30)), 1);
        assert_eq!(current_step(at(59)), 1);
        assert_eq!(current_step(at(1_111_111_109)), 37_037_036);
        assert_eq!(current_step(at(-100)), 0);
    }

    #[test]
    fn adjacent_steps_are_accepted_and_the_matched_step_returned() {
        let secret = TotpSecret::generate().unwrap();
        let now = at(1_700_000_000);
        let t = current_step(now);
        for delta in [-1i64, 0, 1] {
            let then = now + chrono::Duration::seconds(30 * delta);
            let code = totp_code_at(&secret, then);
            let step = verify_totp(&secret, &code, now, None).unwrap();
            assert_eq!(i128::from(step), i128::from(t) + i128::from(delta));
        }
    }

    #[test]
    fn steps_two_away_are_refused() {
        let secret = rfc_secret();
        let now = at(1_700_000_000);
        for delta in [-3i64, -2, 2, 3] {
            let code = totp_code_at(&secret, now + chrono::Duration::seconds(30 * delta));
            let current_window = [-1i64, 0, 1]
                .map(|d| totp_code_at(&secret, now + chrono::Duration::seconds(30 * d)));
            if current_window.contains(&code) {
                continue; // a one-in-a-million collision with an accepted step
            }
            assert!(
                matches!(
                    verify_totp(&secret, &code, now, None),
                    Err(MfaError::InvalidCode)
                ),
                "delta {delta}"
            );
        }
    }

    #[test]
    fn replays_are_refused() {
        let secret = TotpSecret::generate().unwrap();
        let now = at(1_700_000_000);
        let code = totp_code_at(&secret, now);
        let step = verify_totp(&secret, &code, now, None).unwrap();
        assert_eq!(step, current_step(now));

        // The same code again, even 30 seconds later while still accepted.
        for later in [now, now + chrono::Duration::seconds(30)] {
            assert!(matches!(
                verify_totp(&secret, &code, later, Some(step)),
                Err(MfaError::Replayed)
            ));
        }
        // An earlier step's code after a later one was used.
        let previous = totp_code_at(&secret, now - chrono::Duration::seconds(30));
        if previous != code {
            assert!(matches!(
                verify_totp(&secret, &previous, now, Some(step)),
                Err(MfaError::Replayed)
            ));
        }
        // The next step's code is still fine.
        let next_time = now + chrono::Duration::seconds(30);
        let next = totp_code_at(&secret, next_time);
        assert_eq!(
            verify_totp(&secret, &next, next_time, Some(step)).unwrap(),
            step + 1
        );
        // A last used step far in the future refuses everything now.
        assert!(matches!(
            verify_totp(&secret, &code, now, Some(step + 5)),
            Err(MfaError::Replayed)
        ));
    }

    #[test]
    fn wrong_codes_are_invalid() {
        let secret = rfc_secret();
        let wrong = if totp_code_at(&secret, at(59)) == "000000" {
            "000001"
        } else {
            "000000"
        };
        assert!(matches!(
            verify_totp(&secret, wrong, at(59), None),
            Err(MfaError::InvalidCode)
        ));
    }

    #[test]
    fn input_is_trimmed_and_must_be_six_ascii_digits() {
        let secret = rfc_secret();
        for ok in ["287082", " 287082 ", "287 082", "\t287082\n", "28 70 82"] {
            assert_eq!(verify_totp(&secret, ok, at(59), None).unwrap(), 1, "{ok:?}");
        }
        for bad in [
            "",
            "      ",
            "28708",
            "2870820",
            "28708a",
            "287-082",
            "+287082",
            "２８７０８２",
            "287082\u{0}",
            "94287082",
        ] {
            let err = verify_totp(&secret, bad, at(59), None).unwrap_err();
            assert!(matches!(err, MfaError::InvalidCode), "{bad:?}");
            let shown = format!("{err} {err:?}");
            assert!(
                bad.trim().is_empty() || !shown.contains(bad.trim()),
                "{shown}"
            );
        }
        assert!(!MfaError::InvalidCode.to_string().contains("287082"));
    }

    #[test]
    fn generated_secrets_are_20_random_bytes() {
        let a = TotpSecret::generate().unwrap();
        let b = TotpSecret::generate().unwrap();
        assert_eq!(a.expose_bytes().len(), 20);
        assert_ne!(a.expose_bytes(), b.expose_bytes());
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(matches!(
            TotpSecret::from_bytes(vec![7; 15]),
            Err(MfaError::InvalidSecret)
        ));
        assert!(TotpSecret::from_bytes(vec![7; 16]).is_ok());
        // 15 bytes of base32.
        assert!(matches!(
            TotpSecret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBV"),
            Err(MfaError::InvalidSecret)
        ));
    }

    #[test]
    fn base32_matches_rfc_4648() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32_encode(plain.as_bytes()).as_str(), encoded);
            assert_eq!(base32_decode(encoded).unwrap(), plain.as_bytes());
        }
        assert_eq!(
            rfc_secret().to_base32().expose_secret(),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
    }

    #[test]
    fn base32_round_trip_and_lenient_spelling() {
        let secret = TotpSecret::generate().unwrap();
        let encoded = secret.to_base32();
        assert_eq!(encoded.expose_secret().len(), 32);
        assert!(!encoded.expose_secret().contains('='));
        let back = TotpSecret::from_base32(encoded.expose_secret()).unwrap();
        assert_eq!(back.expose_bytes(), secret.expose_bytes());

        for spelling in [
            "gezdgnbvgy3tqojqgezdgnbvgy3tqojq",
            "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ",
            "GEZD-GNBV-GY3T-QOJQ-GEZD-GNBV-GY3T-QOJQ",
            " GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ ",
        ] {
            assert_eq!(
                TotpSecret::from_base32(spelling).unwrap().expose_bytes(),
                RFC_SECRET,
                "{spelling:?}"
            );
        }
        // 17 bytes: padded and unpadded spellings.
        let seventeen = TotpSecret::from_bytes(vec![0xAB; 17]).unwrap();
        let unpadded = seventeen.to_base32();
        assert_eq!(unpadded.expose_secret().len(), 28);
        let padded = format!("{}====", unpadded.expose_secret());
        assert_eq!(
            TotpSecret::from_base32(&padded).unwrap().expose_bytes(),
            &[0xAB; 17]
        );
    }

    #[test]
    fn base32_rejects_garbage() {
        for bad in [
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ0", // 0 is not base32
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ1",
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ8",
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQA", // 33 symbols: not whole bytes
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQAB", // 34 symbols: 2 bits of garbage
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ=A",
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\u{e9}",
            "",
        ] {
            let decoded = TotpSecret::from_base32(bad);
            assert!(matches!(decoded, Err(MfaError::InvalidSecret)), "{bad:?}");
        }
        // "MZ" would decode to one byte with non-zero trailing bits.
        assert!(base32_decode("MZ").is_none());
        assert_eq!(base32_decode("MY").unwrap(), b"f");
    }

    #[test]
    fn otpauth_uri_has_the_standard_shape() {
        let uri = otpauth_uri(&rfc_secret(), "ACME Co", "alice@example.com").unwrap();
        assert_eq!(
            uri.expose_secret(),
            "otpauth://totp/ACME%20Co:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30"
        );

        let secret = TotpSecret::generate().unwrap();
        let uri = otpauth_uri(&secret, "Sigra", "bob").unwrap();
        let uri = uri.expose_secret();
        assert!(uri.starts_with("otpauth://totp/Sigra:bob?"));
        assert!(uri.contains(&format!("secret={}", secret.to_base32().expose_secret())));
        assert!(uri.contains("&issuer=Sigra"));
        assert!(
            uri.contains("algorithm=SHA1") && uri.contains("digits=6") && uri.contains("period=30")
        );

        // totp-rs, an independent parser, reads back the same generator.
        let parsed = TOTP::from_url(uri).unwrap();
        assert_eq!(parsed.secret, secret.expose_bytes());
        assert_eq!(parsed.issuer.as_deref(), Some("Sigra"));
        assert_eq!(parsed.account_name, "bob");
        assert_eq!((parsed.digits, parsed.step), (6, 30));
        assert_eq!(
            parsed.generate(1_700_000_000),
            totp_code_at(&secret, at(1_700_000_000))
        );
    }

    #[test]
    fn otpauth_uri_refuses_bad_labels() {
        let secret = rfc_secret();
        for (issuer, account) in [
            ("", "alice"),
            ("  ", "alice"),
            ("A:B", "alice"),
            ("ACME", ""),
            ("ACME", "a:b"),
        ] {
            let err = otpauth_uri(&secret, issuer, account).unwrap_err();
            assert!(matches!(err, MfaError::Uri(_)), "{issuer:?} {account:?}");
            assert!(!err.to_string().contains("GEZDGNBV"));
        }
    }

    #[test]
    fn debug_never_shows_secrets() {
        let secret = rfc_secret();
        let debug = format!("{secret:?}");
        assert_eq!(debug, "TotpSecret([REDACTED])");
        let codes = generate_backup_codes(1).unwrap();
        let debug = format!("{codes:?}");
        assert!(!debug.contains(codes[0].expose()), "{debug}");
        assert!(!debug.contains(&codes[0].expose()[..4]));
        let uri = otpauth_uri(&secret, "ACME", "alice").unwrap();
        assert!(!format!("{uri:?}").contains("GEZDGNBV"));
    }

    #[test]
    fn backup_codes_count_format_and_uniqueness() {
        assert!(generate_backup_codes(0).unwrap().is_empty());
        let codes = generate_backup_codes(10).unwrap();
        assert_eq!(codes.len(), 10);
        for code in &codes {
            let text = code.expose();
            assert_eq!(text.len(), 9, "{text}");
            for (i, c) in text.chars().enumerate() {
                if i == 4 {
                    assert_eq!(c, '-');
                } else {
                    assert!(BACKUP_CODE_ALPHABET.contains(c), "{text}");
                }
            }
        }
        let many = generate_backup_codes(2000).unwrap();
        let distinct: HashSet<&str> = many.iter().map(BackupCode::expose).collect();
        assert_eq!(distinct.len(), 2000);
        let key = test_key(1);
        let hashes: HashSet<[u8; 32]> = many.iter().map(|c| c.keyed_hash(&key)).collect();
        assert_eq!(hashes.len(), 2000);
    }

    #[test]
    fn every_alphabet_symbol_appears() {
        assert_eq!(BACKUP_CODE_ALPHABET.len(), 32);
        for confusing in ['0', '1', 'I', 'O'] {
            assert!(!BACKUP_CODE_ALPHABET.contains(confusing));
        }
        // 400 codes = 3200 symbols, 100 expected per symbol.
        let mut counts = [0usize; 32];
        for code in generate_backup_codes(400).unwrap() {
            for c in code.expose().chars().filter(|&c| c != '-') {
                counts[BACKUP_CODE_ALPHABET.find(c).unwrap()] += 1;
            }
        }
        for (symbol, count) in BACKUP_CODE_ALPHABET.chars().zip(counts) {
            // Far outside these bounds is bias, not chance (> 6 sigma).
            assert!((40..=170).contains(&count), "{symbol}: {count} of 3200");
        }
    }

    #[test]
    fn backup_code_hash_is_hmac_of_the_normalised_symbols() {
        let key = test_key(1);
        let expected = mac(b"ABCDEFGH", &key);
        for spelling in [
            "ABCD-EFGH",
            "abcd-efgh",
            " ABCDEFGH ",
            "abcdefgh",
            "ABCD EFGH",
            "A-B-C-D-E-F-G-H",
            "\tAbCd-EfGh\n",
        ] {
            assert_eq!(
                hash_backup_code_input(spelling, &key),
                Some(expected),
                "{spelling:?}"
            );
        }
        for code in generate_backup_codes(20).unwrap() {
            let text = code.expose();
            let hash = code.keyed_hash(&key);
            assert_eq!(hash_backup_code_input(text, &key), Some(hash));
            assert_eq!(
                hash_backup_code_input(&text.to_lowercase(), &key),
                Some(hash)
            );
            assert_eq!(
                hash_backup_code_input(&text.replace('-', ""), &key),
                Some(hash)
            );
            assert_eq!(
                hash_backup_code_input(&format!("  {} ", text.replace('-', " ")), &key),
                Some(hash)
            );
            assert_eq!(hash, mac(text.replace('-', "").as_bytes(), &key));
            // Neither the bare SHA-256 nor the value under another key.
            let bare =
                ring::digest::digest(&ring::digest::SHA256, text.replace('-', "").as_bytes());
            assert_ne!(hash.as_slice(), bare.as_ref());
            assert_ne!(Some(hash), hash_backup_code_input(text, &test_key(2)));
        }
    }

    fn test_key(byte: u8) -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, &[byte; 32])
    }

    #[test]
    fn invalid_backup_code_input_is_none() {
        for bad in [
            "",
            "-",
            "ABCD-EFG",
            "ABCD-EFGHJ",
            "ABCD-EFG0",
            "ABCD-EFG1",
            "ABCD-EFGI",
            "ABCD-EFGO",
            "ABCD_EFGH",
            "ABCD-EFGÉ",
            "ＡBCD-EFGH",
            "ABCD-EFGH\u{0}",
        ] {
            assert_eq!(hash_backup_code_input(bad, &test_key(1)), None, "{bad:?}");
        }
    }
}
