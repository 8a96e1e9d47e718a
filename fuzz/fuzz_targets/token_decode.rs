//! Fuzzes `RawToken::decode`: no input panics, and whatever decodes
//! re-encodes to exactly the input (one string per token).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigra_core::token::RawToken;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(token) = RawToken::decode(text) {
        let encoded = token.encode();
        assert_eq!(secrecy::ExposeSecret::expose_secret(&encoded), text);
    }
});
