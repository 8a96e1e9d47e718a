//! Fuzzes `Config::from_env_map` with arbitrary variables: it returns a
//! config or a list of problems, never panics.
//!
//! Input: lines of `NAME=value`. Names are matched against Sigra's known
//! variables by index half the time, so the parsers behind them are reached.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use sigra_core::config::{Config, ENV_VARS};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut vars = HashMap::new();
    for line in text.lines() {
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        // `#3` names the fourth known variable, so short inputs hit real parsers.
        let name = match name.strip_prefix('#').and_then(|n| n.parse::<usize>().ok()) {
            Some(index) if !ENV_VARS.is_empty() => ENV_VARS[index % ENV_VARS.len()].name.to_owned(),
            _ => name.to_owned(),
        };
        vars.insert(name, value.to_owned());
    }
    match Config::from_env_map(&vars) {
        Ok(config) => {
            let _ = format!("{config:?}");
            let _ = config.public_host();
        }
        Err(errors) => {
            assert!(!errors.problems().is_empty());
            let _ = errors.to_string();
        }
    }
});
