//! Email addresses: how they are normalised and which ones are accepted.

/// Normalises an email for storage and lookup: trimmed and lowercased.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A deliberately simple, strict check of a normalised email address: one
/// `@`, a non-empty local part, a dotted domain, no spaces or control
/// characters, at most 254 characters. Deliverability is proven by the
/// confirmation mail, not by a regex.
pub fn is_valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    email.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}
