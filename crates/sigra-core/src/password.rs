//! Password hashing (Argon2id, PHC strings), rehash detection, timing-safe
//! verification of unknown accounts, and the password length policy.
//!
//! The [`PasswordHasher`] trait is synchronous and CPU-bound on purpose: the
//! auth service runs it on a bounded blocking pool, never on the async
//! executor. [`Argon2Hasher`] is the implementation Sigra ships, with the
//! OWASP parameters by default.
//!
//! ```
//! use secrecy::SecretString;
//! use sigra_core::password::{Argon2Hasher, PasswordHasher, PasswordPolicy};
//!
//! let password = SecretString::from("correct horse battery staple");
//! PasswordPolicy::default().validate(&password)?;
//!
//! let hasher = Argon2Hasher::for_tests(); // use Argon2Hasher::owasp() in production
//! let hash = hasher.hash(&password)?;
//! assert!(hasher.verify(&password, &hash)?);
//! assert!(!hasher.verify(&SecretString::from("wrong"), &hash)?);
//! assert!(!hasher.needs_rehash(&hash));
//! # Ok::<(), sigra_core::password::PasswordError>(())
//! ```

use std::cell::RefCell;
use std::collections::HashSet;
use std::error::Error as StdError;
use std::fmt;
use std::sync::OnceLock;

use argon2::password_hash::{Output, ParamsString, PasswordHash as PhcHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use thiserror::Error;
use zeroize::{Zeroize, Zeroizing};

use crate::random::{self, RandomError};

/// Length of the random salt put into every new hash, in bytes.
const SALT_LEN: usize = 16;

/// Stored hashes asking for more memory than this (or than the current
/// parameters, if higher) are refused as malformed rather than verified.
const MAX_VERIFY_MEMORY_KIB: u32 = 1024 * 1024;

/// Stored hashes asking for more passes than this (or than the current
/// parameters, if higher) are refused as malformed rather than verified.
const MAX_VERIFY_ITERATIONS: u32 = 64;

thread_local! {
    /// Argon2's working memory (19 MiB at the default cost), kept by each
    /// thread that hashes (in practice the few threads of the hashing pool)
    /// and reused. Allocating it afresh for every hash, as `Argon2`'s own
    /// methods do, costs page faults each time and leaves every thread's
    /// malloc arena holding several such blocks: `sigra serve` measured about
    /// 200 MiB resident after twenty log-ins that way, against about 50 MiB
    /// with reuse.
    static WORK_MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Runs `argon2` into `out`. When it needs at most `reuse_up_to` blocks the
/// thread's [`WORK_MEMORY`] is used, and wiped afterwards (it holds values
/// derived from the password); larger jobs (an old hash with a higher cost)
/// get memory of their own, freed at once, so the kept buffer never grows
/// past the hasher's own cost.
fn hash_into(
    argon2: &Argon2<'_>,
    reuse_up_to: usize,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    let blocks = argon2.params().block_count();
    if blocks > reuse_up_to {
        return argon2.hash_password_into(password, salt, out);
    }
    WORK_MEMORY.with(|cell| {
        let Ok(mut memory) = cell.try_borrow_mut() else {
            // Only reachable by reentrancy, which hashing never does.
            return argon2.hash_password_into(password, salt, out);
        };
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        let Some(used) = memory.get_mut(..blocks) else {
            return argon2.hash_password_into(password, salt, out);
        };
        let result = argon2.hash_password_into_with_memory(password, salt, out, &mut *used);
        used.iter_mut().for_each(Zeroize::zeroize);
        result
    })
}

/// Hashes `password` with `salt` into a PHC string, as
/// `argon2::PasswordHasher::hash_password` does, through [`hash_into`].
fn hash_phc<'a>(
    argon2: &Argon2<'_>,
    (algorithm, version): (Algorithm, Version),
    reuse_up_to: usize,
    password: &[u8],
    salt: Salt<'a>,
) -> Result<PhcHash<'a>, argon2::password_hash::Error> {
    let mut salt_buf = [0u8; Salt::MAX_LENGTH];
    let salt_bytes = salt.decode_b64(&mut salt_buf)?;
    let output_len = argon2
        .params()
        .output_len()
        .unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let output = Output::init_with(output_len, |out| {
        Ok(hash_into(argon2, reuse_up_to, password, salt_bytes, out)?)
    })?;
    Ok(PhcHash {
        algorithm: algorithm.ident(),
        version: Some(version.into()),
        params: ParamsString::try_from(argon2.params())?,
        salt: Some(salt),
        hash: Some(output),
    })
}

/// Everything that can go wrong while hashing, verifying or validating a
/// password.
///
/// No variant ever carries the password, the hash input or the stored hash.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// The password has fewer characters than the policy allows.
    #[error("password must be at least {min} characters")]
    TooShort {
        /// The minimum length, in characters (Unicode scalar values).
        min: usize,
    },
    /// The password has more characters than the policy allows.
    #[error("password must be at most {max} characters")]
    TooLong {
        /// The maximum length, in characters (Unicode scalar values).
        max: usize,
    },
    /// The password is one of the 20,000 most common ones (compared without
    /// case and surrounding spaces), which guessing attacks try first.
    #[error("password is one of the most commonly used passwords; choose one that is less common")]
    TooCommon,
    /// A stored hash is not a PHC string this hasher can verify (wrong
    /// format, missing salt or output, an algorithm other than Argon2, or
    /// costs beyond 1 GiB of memory or 64 passes and beyond the current
    /// parameters).
    #[error(
        "the stored password hash is malformed or unsupported; \
         it must be an Argon2 PHC string with reasonable costs"
    )]
    MalformedHash,
    /// The Argon2 parameters are outside what Argon2 accepts.
    #[error(
        "invalid Argon2 parameters (memory_kib = {memory_kib}, iterations = {iterations}, \
         parallelism = {parallelism}): memory must be at least 8 KiB per lane, \
         iterations and parallelism at least 1"
    )]
    InvalidParams {
        /// The requested memory cost, in KiB.
        memory_kib: u32,
        /// The requested number of passes.
        iterations: u32,
        /// The requested number of lanes.
        parallelism: u32,
        /// Why Argon2 refused them.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// Hashing failed inside the Argon2 implementation.
    #[error("password hashing failed")]
    Hashing(#[source] Box<dyn StdError + Send + Sync>),
    /// The operating system's random number generator failed (no salt).
    #[error(transparent)]
    Random(#[from] RandomError),
}

/// Hashes and verifies passwords.
///
/// Implementations are synchronous and CPU-bound; callers run them off the
/// async executor with bounded concurrency (the auth service does this).
/// Held as `Arc<dyn PasswordHasher>`, so the trait is object safe.
///
/// # What an implementation must guarantee
///
/// - [`hash`](Self::hash) returns a self-describing string (algorithm,
///   version, parameters, a fresh random salt of at least 16 bytes, output),
///   so that [`verify`](Self::verify) needs nothing but the string, and two
///   hashes of the same password differ.
/// - [`verify`](Self::verify) returns `Ok(false)` for a wrong password and
///   `Err` only when the stored hash cannot be verified at all (malformed,
///   unsupported algorithm, costs far beyond any sane setting). It verifies
///   hashes made with *older* parameters too, using the parameters recorded
///   in the hash, and compares the output in constant time.
/// - [`needs_rehash`](Self::needs_rehash) is `true` whenever the hash was not
///   made with exactly the current algorithm, version and parameters
///   (including when it cannot be parsed); the caller re-hashes on the next
///   successful login.
/// - [`dummy_verify`](Self::dummy_verify) costs the same time and memory as
///   a `verify` against a hash made with the current parameters, so that a
///   login for an unknown email cannot be told apart from a wrong password
///   by timing.
/// - No method panics, logs, or puts the password or the hash into an error
///   or `Debug` output.
pub trait PasswordHasher: Send + Sync + fmt::Debug {
    /// Hashes `password` with the current parameters and a fresh random salt.
    ///
    /// # Errors
    ///
    /// [`PasswordError::Random`] when no salt can be drawn, or
    /// [`PasswordError::Hashing`] when the algorithm fails.
    fn hash(&self, password: &SecretString) -> Result<PasswordHash, PasswordError>;

    /// Checks `password` against a stored `hash`.
    ///
    /// `Ok(false)` for a wrong password.
    ///
    /// # Errors
    ///
    /// [`PasswordError::MalformedHash`], only for a stored hash that cannot
    /// be verified.
    fn verify(&self, password: &SecretString, hash: &PasswordHash) -> Result<bool, PasswordError>;

    /// Whether `hash` should be replaced by a fresh [`hash`](Self::hash) of
    /// the same password (its algorithm, version or parameters differ from
    /// the current ones, or it cannot be parsed).
    fn needs_rehash(&self, hash: &PasswordHash) -> bool;

    /// Does the work of a [`verify`](Self::verify) with the current
    /// parameters and throws the answer away.
    ///
    /// Call it when the account does not exist, so that the response takes
    /// as long as for a wrong password.
    fn dummy_verify(&self, password: &SecretString);
}

/// A stored password hash: a PHC string such as
/// `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`.
///
/// It is not a secret in the way a password is, but it still allows an
/// offline guessing attack, so `Debug` shows only the algorithm and
/// parameters and hides the salt and output.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a PHC string read from storage. It is not parsed here; a
    /// malformed string is reported by [`PasswordHasher::verify`].
    #[must_use]
    pub fn from_phc(phc: String) -> Self {
        Self(phc)
    }

    /// The PHC string, for storage.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Consumes the hash and returns the PHC string, for storage.
    #[must_use]
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Keep `$id$v=..$params$`: the leading segments that look like an
        // algorithm identifier or `name=value` lists. Stop at the salt.
        let mut shown = String::new();
        for (i, segment) in self.0.split('$').enumerate() {
            let is_id = i == 1
                && !segment.is_empty()
                && segment.len() <= 32
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            let is_params = i > 1
                && segment.contains('=')
                && segment.len() <= 64
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'=' || b == b',');
            if i == 0 && segment.is_empty() {
                continue;
            }
            if !(is_id || is_params) {
                break;
            }
            shown.push('$');
            shown.push_str(segment);
        }
        write!(f, "PasswordHash(\"{shown}$[REDACTED]\")")
    }
}

/// Argon2 cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Argon2Params {
    /// Memory cost in KiB (Argon2 `m`).
    pub memory_kib: u32,
    /// Number of passes over memory (Argon2 `t`).
    pub iterations: u32,
    /// Number of lanes (Argon2 `p`).
    pub parallelism: u32,
}

impl Argon2Params {
    /// The OWASP recommendation for Argon2id: 19 MiB, 2 passes, 1 lane.
    pub const OWASP: Self = Self {
        memory_kib: 19 * 1024,
        iterations: 2,
        parallelism: 1,
    };

    /// The cheapest parameters Argon2 accepts (8 KiB, 1 pass, 1 lane). Only
    /// for test suites: see [`Argon2Hasher::for_tests`].
    const TESTS: Self = Self {
        memory_kib: Params::MIN_M_COST,
        iterations: Params::MIN_T_COST,
        parallelism: Params::MIN_P_COST,
    };

    fn to_argon2(self) -> Result<Params, argon2::Error> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, None)
    }
}

impl Default for Argon2Params {
    /// [`Argon2Params::OWASP`].
    fn default() -> Self {
        Self::OWASP
    }
}

/// Argon2id (version 0x13) password hashing with PHC strings and 16-byte
/// random salts: Sigra's [`PasswordHasher`].
///
/// The dummy hash used by [`dummy_verify`](PasswordHasher::dummy_verify) is
/// computed once, lazily, with this hasher's parameters.
#[derive(Clone)]
pub struct Argon2Hasher {
    params: Argon2Params,
    argon2: Argon2<'static>,
    /// PHC string of a fixed password under the current parameters; `None`
    /// if computing it failed (then a direct hash of the same cost is used).
    dummy: OnceLock<Option<String>>,
}

impl fmt::Debug for Argon2Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Argon2Hasher")
            .field("algorithm", &"argon2id")
            .field("version", &0x13)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl Argon2Hasher {
    /// An Argon2id hasher with the given parameters.
    ///
    /// # Errors
    ///
    /// [`PasswordError::InvalidParams`] when Argon2 refuses them (memory below
    /// 8 KiB per lane, zero iterations or lanes, too many lanes).
    pub fn new(params: Argon2Params) -> Result<Self, PasswordError> {
        let argon2_params = params
            .to_argon2()
            .map_err(|source| PasswordError::InvalidParams {
                memory_kib: params.memory_kib,
                iterations: params.iterations,
                parallelism: params.parallelism,
                source: Box::new(source),
            })?;
        Ok(Self::from_valid(params, argon2_params))
    }

    /// An Argon2id hasher with [`Argon2Params::OWASP`] (m = 19456 KiB, t = 2,
    /// p = 1): the production default.
    #[must_use]
    pub fn owasp() -> Self {
        // `Params::DEFAULT` is argon2's name for exactly the OWASP parameters
        // (checked by a test), so this needs no fallible construction.
        Self::from_valid(Argon2Params::OWASP, Params::DEFAULT)
    }

    /// A deliberately cheap hasher (m = 8 KiB, the minimum Argon2 allows;
    /// t = 1; p = 1) that keeps test suites fast.
    ///
    /// **For test suites only.** These parameters give no meaningful
    /// protection against offline guessing; never use them in production.
    #[must_use]
    pub fn for_tests() -> Self {
        const PARAMS: Params = match Params::new(
            Argon2Params::TESTS.memory_kib,
            Argon2Params::TESTS.iterations,
            Argon2Params::TESTS.parallelism,
            None,
        ) {
            Ok(params) => params,
            // Unreachable: the minimums are valid by definition. Falling back
            // to the (valid, stronger) defaults keeps this panic-free.
            Err(_) => Params::DEFAULT,
        };
        let params = Argon2Params {
            memory_kib: PARAMS.m_cost(),
            iterations: PARAMS.t_cost(),
            parallelism: PARAMS.p_cost(),
        };
        Self::from_valid(params, PARAMS)
    }

    /// The parameters new hashes are made with.
    #[must_use]
    pub fn params(&self) -> Argon2Params {
        self.params
    }

    fn from_valid(params: Argon2Params, argon2_params: Params) -> Self {
        Self {
            params,
            argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, argon2_params),
            dummy: OnceLock::new(),
        }
    }

    /// Hashes a fixed password with a fixed salt under the current
    /// parameters: the same work as a real hash.
    fn compute_dummy(&self) -> Option<String> {
        const DUMMY_PASSWORD: &[u8] = b"sigra dummy password, never a real one";
        let salt = SaltString::encode_b64(b"sigra-dummy-salt").ok()?;
        self.hash_phc(DUMMY_PASSWORD, salt.as_salt())
            .ok()
            .map(|hash| hash.to_string())
    }

    /// The most Argon2 blocks a thread keeps for reuse: this hasher's own cost.
    fn reuse_up_to(&self) -> usize {
        self.argon2.params().block_count()
    }

    /// A new hash under this hasher's parameters.
    fn hash_phc<'a>(
        &self,
        password: &[u8],
        salt: Salt<'a>,
    ) -> Result<PhcHash<'a>, argon2::password_hash::Error> {
        hash_phc(
            &self.argon2,
            (Algorithm::Argon2id, Version::V0x13),
            self.reuse_up_to(),
            password,
            salt,
        )
    }

    /// Whether `password` matches `stored`, computed with the algorithm,
    /// version and parameters recorded in it (so older hashes still verify)
    /// and compared in constant time (`Output`'s equality).
    fn matches(
        &self,
        password: &[u8],
        stored: &PhcHash<'_>,
    ) -> Result<bool, argon2::password_hash::Error> {
        let (Some(salt), Some(expected)) = (stored.salt, stored.hash) else {
            return Err(argon2::password_hash::Error::Password);
        };
        let algorithm = Algorithm::try_from(stored.algorithm)?;
        let version = stored
            .version
            .map(Version::try_from)
            .transpose()?
            .unwrap_or_default();
        let argon2 = Argon2::new(algorithm, version, Params::try_from(stored)?);
        let computed = hash_phc(
            &argon2,
            (algorithm, version),
            self.reuse_up_to(),
            password,
            salt,
        )?;
        Ok(computed.hash.is_some_and(|computed| computed == expected))
    }
}

impl Default for Argon2Hasher {
    /// [`Argon2Hasher::owasp`].
    fn default() -> Self {
        Self::owasp()
    }
}

impl PasswordHasher for Argon2Hasher {
    fn hash(&self, password: &SecretString) -> Result<PasswordHash, PasswordError> {
        let salt_bytes = random::bytes::<SALT_LEN>()?;
        let salt =
            SaltString::encode_b64(&salt_bytes).map_err(|e| PasswordError::Hashing(Box::new(e)))?;
        let hash = self
            .hash_phc(password.expose_secret().as_bytes(), salt.as_salt())
            .map_err(|e| PasswordError::Hashing(Box::new(e)))?;
        Ok(PasswordHash(hash.to_string()))
    }

    fn verify(&self, password: &SecretString, hash: &PasswordHash) -> Result<bool, PasswordError> {
        let parsed = PhcHash::new(hash.as_str()).map_err(|_| PasswordError::MalformedHash)?;
        if parsed.salt.is_none() || parsed.hash.is_none() {
            return Err(PasswordError::MalformedHash);
        }
        // A corrupted row with absurd costs must not abort the process on an
        // impossible allocation or hold a blocking thread for hours.
        let stored = Params::try_from(&parsed).map_err(|_| PasswordError::MalformedHash)?;
        if stored.m_cost() > self.params.memory_kib.max(MAX_VERIFY_MEMORY_KIB)
            || stored.t_cost() > self.params.iterations.max(MAX_VERIFY_ITERATIONS)
        {
            return Err(PasswordError::MalformedHash);
        }
        self.matches(password.expose_secret().as_bytes(), &parsed)
            .map_err(|_| PasswordError::MalformedHash)
    }

    fn needs_rehash(&self, hash: &PasswordHash) -> bool {
        let Ok(parsed) = PhcHash::new(hash.as_str()) else {
            return true;
        };
        if parsed.algorithm != Algorithm::Argon2id.ident()
            || parsed.version != Some(Version::V0x13.into())
        {
            return true;
        }
        let Ok(stored) = Params::try_from(&parsed) else {
            return true;
        };
        let salt_too_short = parsed
            .salt
            .is_none_or(|salt| salt.len() < (SALT_LEN * 4).div_ceil(3));
        stored.m_cost() != self.params.memory_kib
            || stored.t_cost() != self.params.iterations
            || stored.p_cost() != self.params.parallelism
            || stored.output_len() != Some(Params::DEFAULT_OUTPUT_LEN)
            || !stored.keyid().is_empty()
            || !stored.data().is_empty()
            || salt_too_short
    }

    fn dummy_verify(&self, password: &SecretString) {
        let mut computed_now = false;
        let dummy = self.dummy.get_or_init(|| {
            computed_now = true;
            self.compute_dummy()
        });
        if computed_now {
            // Computing the dummy hash was already one hash's worth of work
            // with the current parameters: the same cost as a verify.
            return;
        }
        let outcome = dummy
            .as_deref()
            .and_then(|phc| PhcHash::new(phc).ok())
            .map(|parsed| {
                self.matches(password.expose_secret().as_bytes(), &parsed)
                    .is_ok_and(|m| m)
            });
        if outcome.is_none() {
            // No usable dummy hash (cannot happen with valid parameters): do
            // the same work directly.
            let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
            let _ = hash_into(
                &self.argon2,
                self.reuse_up_to(),
                password.expose_secret().as_bytes(),
                b"sigra-dummy-salt",
                &mut out,
            );
            std::hint::black_box(&out);
        }
        std::hint::black_box(outcome);
    }
}

/// The rules a new password must meet: a length, counted in characters
/// (Unicode scalar values), not bytes, and not being a common password. There
/// are no composition rules (ASVS 6.2.5).
///
/// The maximum also bounds the work an attacker can make a login do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// The fewest characters a password may have.
    pub min_length: usize,
    /// The most characters a password may have.
    pub max_length: usize,
    /// Refuse the 20,000 most common passwords ([`is_common_password`]).
    pub reject_common: bool,
}

impl Default for PasswordPolicy {
    /// 8 to 256 characters, common passwords refused.
    fn default() -> Self {
        Self {
            min_length: 8,
            max_length: 256,
            reject_common: true,
        }
    }
}

/// The common-password list: 20,000 passwords seen most often in breach
/// corpora, lowercased, one per line (see `data/common-passwords.LICENSE`).
const COMMON_PASSWORDS: &str = include_str!("../data/common-passwords.txt");

/// Whether `password`, without case and surrounding whitespace, is on the
/// list of the 20,000 most common passwords. The list is loaded into a set
/// on first use (well under a megabyte); later checks are one hash lookup.
#[must_use]
pub fn is_common_password(password: &str) -> bool {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    let set = SET.get_or_init(|| COMMON_PASSWORDS.lines().collect());
    let candidate = Zeroizing::new(password.trim().to_lowercase());
    set.contains(candidate.as_str())
}

impl PasswordPolicy {
    /// The policy configured by `SIGRA_PASSWORD_MIN_LENGTH`,
    /// `SIGRA_PASSWORD_MAX_LENGTH` and `SIGRA_PASSWORD_REJECT_COMMON`.
    #[must_use]
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            min_length: config.password.min_length,
            max_length: config.password.max_length,
            reject_common: config.password.reject_common,
        }
    }

    /// Checks a new password.
    ///
    /// # Errors
    ///
    /// [`PasswordError::TooShort`], [`PasswordError::TooLong`] or
    /// [`PasswordError::TooCommon`], whose messages can be shown to the user
    /// as they are.
    pub fn validate(&self, password: &SecretString) -> Result<(), PasswordError> {
        // Count at most max + 1 characters: enough to decide, and bounded.
        let chars = password
            .expose_secret()
            .chars()
            .take(self.max_length.saturating_add(1))
            .count();
        if chars < self.min_length {
            return Err(PasswordError::TooShort {
                min: self.min_length,
            });
        }
        if chars > self.max_length {
            return Err(PasswordError::TooLong {
                max: self.max_length,
            });
        }
        if self.reject_common && is_common_password(password.expose_secret()) {
            return Err(PasswordError::TooCommon);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};

    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s)
    }

    #[test]
    fn reused_memory_gives_argon2s_own_answers_and_is_wiped() {
        let hasher = Argon2Hasher::new(Argon2Params {
            memory_kib: 64,
            iterations: 2,
            parallelism: 1,
        })
        .unwrap();
        let salt = SaltString::encode_b64(&[9u8; 16]).unwrap();
        // Twice on this thread (the second run reuses the first's memory),
        // both equal to what argon2 computes with fresh memory.
        let reference = hasher
            .argon2
            .hash_password(b"pa55word", &salt)
            .unwrap()
            .to_string();
        for _ in 0..2 {
            let ours = hasher.hash_phc(b"pa55word", salt.as_salt()).unwrap();
            assert_eq!(ours.to_string(), reference);
        }
        // Ours verify with argon2's verifier, and argon2's with ours.
        let made = hasher.hash(&secret("pa55word")).unwrap();
        let parsed = PhcHash::new(made.as_str()).unwrap();
        assert!(hasher.argon2.verify_password(b"pa55word", &parsed).is_ok());
        assert!(hasher.argon2.verify_password(b"other", &parsed).is_err());
        let theirs = PasswordHash::from_phc(reference);
        assert!(hasher.verify(&secret("pa55word"), &theirs).unwrap());
        assert!(!hasher.verify(&secret("pa55wore"), &theirs).unwrap());
        // The kept memory holds nothing derived from the password.
        let zero = format!("{:?}", Block::new());
        WORK_MEMORY.with(|cell| {
            let memory = cell.borrow();
            assert_eq!(memory.len(), hasher.reuse_up_to());
            assert!(memory.iter().all(|b| format!("{b:?}") == zero));
        });
    }

    #[test]
    fn an_old_costlier_hash_does_not_grow_the_kept_memory() {
        let costly = Argon2Hasher::new(Argon2Params {
            memory_kib: 256,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap();
        let old = costly.hash(&secret("pa55word")).unwrap();
        let current = Argon2Hasher::for_tests();
        // A fresh thread, so the buffer starts empty whatever ran before.
        std::thread::spawn(move || {
            assert!(current.verify(&secret("pa55word"), &old).unwrap());
            assert!(current.needs_rehash(&old));
            let kept = WORK_MEMORY.with(|cell| cell.borrow().len());
            assert!(kept <= current.reuse_up_to(), "{kept} blocks kept");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn hash_then_verify_round_trips() {
        let hasher = Argon2Hasher::for_tests();
        let hash = hasher
            .hash(&secret("correct horse battery staple"))
            .unwrap();
        assert!(
            hasher
                .verify(&secret("correct horse battery staple"), &hash)
                .unwrap()
        );
    }

    #[test]
    fn wrong_password_is_false_not_error() {
        let hasher = Argon2Hasher::for_tests();
        let hash = hasher
            .hash(&secret("correct horse battery staple"))
            .unwrap();
        assert!(
            !hasher
                .verify(&secret("Correct horse battery staple"), &hash)
                .unwrap()
        );
        assert!(!hasher.verify(&secret(""), &hash).unwrap());
    }

    #[test]
    fn a_hash_verifies_with_a_hasher_of_other_params() {
        let old = Argon2Hasher::new(Argon2Params {
            memory_kib: 16,
            iterations: 2,
            parallelism: 2,
        })
        .unwrap();
        let hash = old.hash(&secret("pa55word")).unwrap();
        let current = Argon2Hasher::for_tests();
        assert!(current.verify(&secret("pa55word"), &hash).unwrap());
        assert!(!current.verify(&secret("pa55wore"), &hash).unwrap());
        assert!(current.needs_rehash(&hash));
    }

    #[test]
    fn malformed_hashes_are_errors_that_do_not_echo_the_hash() {
        let hasher = Argon2Hasher::for_tests();
        let good = hasher.hash(&secret("pa55word")).unwrap();
        let (without_output, _) = good.as_str().rsplit_once('$').unwrap();
        let cases = [
            String::new(),
            "not a hash".to_owned(),
            "$argon2id$v=19$m=8,t=1,p=1".to_owned(),
            without_output.to_owned(),
            "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$!!!!".to_owned(),
            "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW".to_owned(),
            "$scrypt$ln=4,r=8,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA".to_owned(),
        ];
        for case in cases {
            let hash = PasswordHash::from_phc(case.clone());
            let err = hasher.verify(&secret("pa55word"), &hash).unwrap_err();
            assert!(matches!(err, PasswordError::MalformedHash), "{case:?}");
            if !case.is_empty() {
                assert!(!err.to_string().contains(&case));
            }
            assert!(hasher.needs_rehash(&hash), "{case:?}");
        }
    }

    #[test]
    fn absurd_stored_costs_are_refused_not_attempted() {
        let hasher = Argon2Hasher::for_tests();
        let good = hasher.hash(&secret("pa55word")).unwrap();
        let tail = good.as_str().splitn(5, '$').nth(4).unwrap();
        for params in ["m=4294967295,t=1,p=1", "m=8,t=4294967295,p=1"] {
            let hash = PasswordHash::from_phc(format!("$argon2id$v=19${params}${tail}"));
            assert!(matches!(
                hasher.verify(&secret("pa55word"), &hash),
                Err(PasswordError::MalformedHash)
            ));
        }
    }

    #[test]
    fn needs_rehash_follows_the_params() {
        let hasher = Argon2Hasher::for_tests();
        let hash = hasher.hash(&secret("pa55word")).unwrap();
        assert!(!hasher.needs_rehash(&hash));
        assert!(!Argon2Hasher::for_tests().needs_rehash(&hash));

        for params in [
            Argon2Params {
                memory_kib: 16,
                ..hasher.params()
            },
            Argon2Params {
                iterations: 2,
                ..hasher.params()
            },
            Argon2Params {
                memory_kib: 16,
                parallelism: 2,
                ..hasher.params()
            },
        ] {
            let other = Argon2Hasher::new(params).unwrap();
            assert!(other.needs_rehash(&hash), "{params:?}");
            assert!(hasher.needs_rehash(&other.hash(&secret("pa55word")).unwrap()));
        }
    }

    #[test]
    fn needs_rehash_for_other_variants_and_versions() {
        let password = b"pa55word";
        let salt = SaltString::encode_b64(&[7u8; 16]).unwrap();
        let params = Argon2Params::TESTS.to_argon2().unwrap();
        let current = Argon2Hasher::for_tests();
        for (algorithm, version) in [
            (Algorithm::Argon2i, Version::V0x13),
            (Algorithm::Argon2d, Version::V0x13),
            (Algorithm::Argon2id, Version::V0x10),
        ] {
            let phc = Argon2::new(algorithm, version, params.clone())
                .hash_password(password, &salt)
                .unwrap()
                .to_string();
            let hash = PasswordHash::from_phc(phc);
            assert!(current.needs_rehash(&hash), "{hash:?}");
            assert!(current.verify(&secret("pa55word"), &hash).unwrap());
        }
    }

    #[test]
    fn owasp_params_and_phc_prefix() {
        let hasher = Argon2Hasher::owasp();
        assert_eq!(hasher.params(), Argon2Params::OWASP);
        assert_eq!(Argon2Params::default(), Argon2Params::OWASP);
        // `owasp()` relies on argon2's defaults being the OWASP parameters.
        let default = Params::DEFAULT;
        assert_eq!(
            (default.m_cost(), default.t_cost(), default.p_cost()),
            (19456, 2, 1)
        );
        let hash = hasher.hash(&secret("pa55word")).unwrap();
        assert!(
            hash.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            hash.as_str()
        );
        assert!(!hasher.needs_rehash(&hash));
        assert!(Argon2Hasher::for_tests().needs_rehash(&hash));
        assert!(hasher.verify(&secret("pa55word"), &hash).unwrap());
    }

    #[test]
    fn for_tests_uses_the_minimum_params() {
        let hasher = Argon2Hasher::for_tests();
        assert_eq!(
            hasher.params(),
            Argon2Params {
                memory_kib: 8,
                iterations: 1,
                parallelism: 1
            }
        );
        let hash = hasher.hash(&secret("pa55word")).unwrap();
        assert!(hash.as_str().starts_with("$argon2id$v=19$m=8,t=1,p=1$"));
    }

    #[test]
    fn salts_differ() {
        let hasher = Argon2Hasher::for_tests();
        let a = hasher.hash(&secret("pa55word")).unwrap();
        let b = hasher.hash(&secret("pa55word")).unwrap();
        assert_ne!(a, b);
        let salt = |h: &PasswordHash| h.as_str().split('$').nth(4).unwrap().to_owned();
        assert_ne!(salt(&a), salt(&b));
        // 16 bytes of salt are 22 unpadded base64 characters.
        assert_eq!(salt(&a).len(), 22);
    }

    #[test]
    fn invalid_params_are_refused() {
        for params in [
            Argon2Params {
                memory_kib: 7,
                iterations: 1,
                parallelism: 1,
            },
            Argon2Params {
                memory_kib: 64,
                iterations: 0,
                parallelism: 1,
            },
            Argon2Params {
                memory_kib: 64,
                iterations: 1,
                parallelism: 0,
            },
            Argon2Params {
                memory_kib: 8,
                iterations: 1,
                parallelism: 2,
            },
        ] {
            let err = Argon2Hasher::new(params).unwrap_err();
            assert!(matches!(err, PasswordError::InvalidParams { .. }));
            assert!(StdError::source(&err).is_some());
        }
    }

    #[test]
    fn dummy_verify_costs_about_a_verify() {
        // Heavier than `for_tests` so that timing noise is small; still fast.
        let hasher = Argon2Hasher::new(Argon2Params {
            memory_kib: 4096,
            iterations: 2,
            parallelism: 1,
        })
        .unwrap();
        let hash = hasher.hash(&secret("pa55word")).unwrap();
        let password = secret("guess");
        hasher.dummy_verify(&password); // first call computes the dummy hash
        assert!(hasher.dummy.get().is_some_and(Option::is_some));

        let time = |f: &dyn Fn()| {
            let mut best = Duration::MAX;
            for _ in 0..5 {
                let start = Instant::now();
                f();
                best = best.min(start.elapsed());
            }
            best
        };
        let real = time(&|| {
            let _ = hasher.verify(&password, &hash);
        });
        let dummy = time(&|| hasher.dummy_verify(&password));
        assert!(
            dummy * 5 > real && real * 5 > dummy,
            "verify {real:?} vs dummy_verify {dummy:?}"
        );
    }

    #[test]
    fn dummy_verify_first_call_does_not_panic() {
        Argon2Hasher::for_tests().dummy_verify(&secret(""));
        let hasher = Argon2Hasher::for_tests();
        for _ in 0..3 {
            hasher.dummy_verify(&secret("anything"));
        }
    }

    #[test]
    fn policy_boundaries() {
        let policy = PasswordPolicy::default();
        assert_eq!(
            policy,
            PasswordPolicy {
                min_length: 8,
                max_length: 256,
                reject_common: true,
            }
        );
        let err = policy.validate(&secret(&"b".repeat(7))).unwrap_err();
        assert!(matches!(err, PasswordError::TooShort { min: 8 }));
        assert_eq!(err.to_string(), "password must be at least 8 characters");
        policy.validate(&secret("zq8vx-wk")).unwrap();
        policy.validate(&secret(&"a".repeat(256))).unwrap();
        let err = policy.validate(&secret(&"a".repeat(257))).unwrap_err();
        assert!(matches!(err, PasswordError::TooLong { max: 256 }));
        assert_eq!(err.to_string(), "password must be at most 256 characters");
        policy.validate(&secret(&"a".repeat(100_000))).unwrap_err();
    }

    #[test]
    fn common_passwords_are_refused_whatever_their_case_and_spacing() {
        let policy = PasswordPolicy::default();
        for common in [
            "password",
            "12345678",
            "PassWord",
            "  iloveyou ",
            "P@ssw0rd",
            "aaaaaaaa",
        ] {
            let err = policy.validate(&secret(common)).unwrap_err();
            assert!(matches!(err, PasswordError::TooCommon), "{common:?}");
        }
        assert!(
            PasswordPolicy::default()
                .validate(&secret("password"))
                .unwrap_err()
                .to_string()
                .starts_with("password is one of the most commonly used passwords")
        );
        // Long enough and not on the list.
        policy
            .validate(&secret("correct horse battery staple"))
            .unwrap();
        policy.validate(&secret("password but longer")).unwrap();
        // The list has 20,000-odd entries, all lowercase, and is really used.
        assert!(COMMON_PASSWORDS.lines().count() > 19_000);
        assert!(COMMON_PASSWORDS.lines().all(|l| l == l.to_lowercase()));
        assert!(is_common_password("qwertyuiop"));
        // Switched off, only the length counts.
        let lenient = PasswordPolicy {
            reject_common: false,
            ..policy
        };
        lenient.validate(&secret("password")).unwrap();
    }

    #[test]
    fn policy_counts_characters_not_bytes() {
        let policy = PasswordPolicy::default();
        // 7 characters, 21 bytes: too short.
        assert!(matches!(
            policy.validate(&secret(
                &"é€a"
                    .repeat(2)
                    .chars()
                    .chain("ü".chars())
                    .collect::<String>()
            )),
            Err(PasswordError::TooShort { .. })
        ));
        // 8 four-byte characters (32 bytes) are exactly long enough.
        policy.validate(&secret(&"🔑".repeat(8))).unwrap();
        // 256 characters of 4 bytes each pass; 257 do not.
        policy.validate(&secret(&"🔑".repeat(256))).unwrap();
        assert!(matches!(
            policy.validate(&secret(&"🔑".repeat(257))),
            Err(PasswordError::TooLong { .. })
        ));
        let custom = PasswordPolicy {
            min_length: 2,
            max_length: 3,
            reject_common: true,
        };
        custom.validate(&secret("日本")).unwrap();
        custom.validate(&secret("日本語")).unwrap();
        custom.validate(&secret("日本語!")).unwrap_err();
        custom.validate(&secret("日")).unwrap_err();
    }

    #[test]
    fn debug_output_hides_salt_hash_and_password() {
        let hasher = Argon2Hasher::for_tests();
        let hash = hasher.hash(&secret("hunter2hunter2")).unwrap();
        let segments: Vec<&str> = hash.as_str().split('$').collect();
        let (salt, output) = (segments[4], segments[5]);

        let debug = format!("{hash:?}");
        assert_eq!(
            debug,
            "PasswordHash(\"$argon2id$v=19$m=8,t=1,p=1$[REDACTED]\")"
        );
        assert!(!debug.contains(salt) && !debug.contains(output));

        let debug = format!("{hasher:?}");
        assert!(debug.contains("Argon2Hasher") && debug.contains("memory_kib: 8"));
        hasher.dummy_verify(&secret("hunter2hunter2"));
        let debug = format!("{hasher:?}");
        assert!(!debug.contains('$'), "{debug}");
        assert!(!debug.contains("hunter2"));

        let odd = PasswordHash::from_phc("plaintext-password".to_owned());
        assert!(!format!("{odd:?}").contains("plaintext"));

        let err = hasher
            .verify(
                &secret("hunter2hunter2"),
                &PasswordHash::from_phc("hunter2".into()),
            )
            .unwrap_err();
        assert!(!format!("{err:?} {err}").contains("hunter2"));
    }

    #[test]
    fn hasher_is_object_safe_and_thread_safe() {
        let hasher: std::sync::Arc<dyn PasswordHasher> =
            std::sync::Arc::new(Argon2Hasher::for_tests());
        let hash = hasher.hash(&secret("pa55word")).unwrap();
        let handle = {
            let hasher = std::sync::Arc::clone(&hasher);
            std::thread::spawn(move || hasher.verify(&secret("pa55word"), &hash).unwrap())
        };
        assert!(handle.join().unwrap());
    }
}
