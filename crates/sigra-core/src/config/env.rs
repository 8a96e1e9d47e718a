//! Reading a [`Config`] from environment variables: the process environment or a map, and the warning for unknown `SIGRA_*` names.

use std::collections::HashMap;

use super::builder::DEFAULT_LOCAL_PORT;
use super::environment::Environment;
use super::error::{ConfigError, ConfigErrors, ConfigWarning};
use super::table::Variable;
use super::variables::{
    Config, ConfigBuilder, ENV_VARS, HSTS, SECRET_KEY_BASE, SECRET_KEY_BASE_OLD, SIGRA_ENV,
};

/// What an application that reads variables of its own tells
/// [`Config::from_env_map_with`].
#[derive(Debug, Clone, Copy)]
pub struct EnvOptions<'a> {
    /// The port the default `PUBLIC_URL` points at (see [`ConfigBuilder::local_port`]).
    pub local_port: u16,
    /// The application's own variables, so that a `SIGRA_`-prefixed
    /// misspelling of one is pointed at it (e.g. `SIGRA_PORT` at `PORT`).
    pub host_vars: &'a [Variable],
}

impl Default for EnvOptions<'_> {
    fn default() -> Self {
        Self {
            local_port: DEFAULT_LOCAL_PORT,
            host_vars: &[],
        }
    }
}

impl Config {
    /// Reads the configuration from the process environment.
    ///
    /// **This is the one place in `sigra-core` that reads the environment**
    /// (`std::env::vars_os`); everything else takes values as parameters.
    /// It collects the variables into a map and calls
    /// [`Config::from_env_map`]. A Sigra variable whose value is not valid
    /// UTF-8 is reported as a problem; other variables are ignored.
    pub fn from_env() -> Result<Config, ConfigErrors> {
        let mut vars = HashMap::new();
        let mut not_utf8 = Vec::new();
        for (name, value) in std::env::vars_os() {
            match (name.into_string(), value.into_string()) {
                (Ok(name), Ok(value)) => {
                    vars.insert(name, value);
                }
                (Ok(name), Err(_)) => not_utf8.push(name),
                // A name that is not UTF-8 cannot be one of ours.
                (Err(_), _) => {}
            }
        }
        Self::from_vars(&vars, &not_utf8, &EnvOptions::default())
    }

    /// Builds the configuration from a map of environment variables (see
    /// [`ENV_VARS`]), without touching the process environment.
    ///
    /// An empty value counts as unset, except in `SIGRA_HSTS`, where it
    /// turns the header off. `SIGRA_ENV` defaults to `dev`; when
    /// it is invalid, the rest is validated with the strict prod rules so
    /// that every problem shows. Parsing problems and validation problems
    /// (the same checks as [`ConfigBuilder::build`]) are returned together.
    /// Unknown `SIGRA_*` variables produce a [`ConfigWarning::UnknownVariable`].
    pub fn from_env_map(vars: &HashMap<String, String>) -> Result<Config, ConfigErrors> {
        Self::from_env_map_with(vars, &EnvOptions::default())
    }

    /// [`Config::from_env_map`] for an application that reads variables of
    /// its own: it says which port it listens on and what its variables are.
    pub fn from_env_map_with(
        vars: &HashMap<String, String>,
        options: &EnvOptions<'_>,
    ) -> Result<Config, ConfigErrors> {
        Self::from_vars(vars, &[], options)
    }

    fn from_vars(
        vars: &HashMap<String, String>,
        not_utf8: &[String],
        options: &EnvOptions<'_>,
    ) -> Result<Config, ConfigErrors> {
        let mut problems = Vec::new();
        for name in not_utf8 {
            if let Some(known) = known_var(name, &[]) {
                problems.push(ConfigError::invalid(known, "the value is not valid UTF-8"));
            }
        }
        let env = match value(vars, SIGRA_ENV).map(str::parse::<Environment>) {
            None => Environment::Dev,
            Some(Ok(env)) => env,
            Some(Err(e)) => {
                problems.push(ConfigError::invalid(SIGRA_ENV, e.to_string()));
                Environment::Prod
            }
        };
        let mut b = ConfigBuilder::new(env).local_port(options.local_port);
        b.draft.read(|name| value(vars, name), &mut problems);

        let mut unknown: Vec<&String> = vars
            .keys()
            .filter(|name| {
                name.starts_with("SIGRA_") && known_var(name, options.host_vars).is_none()
            })
            .collect();
        unknown.sort();
        b.warnings = unknown
            .into_iter()
            .map(|name| ConfigWarning::UnknownVariable {
                name: name.clone(),
                suggestion: suggest(name, options.host_vars),
            })
            .collect();
        b.problems = problems;
        b.build()
    }
}

/// The value of `name` in `vars`, or `None` when unset or blank. Trimmed,
/// except for the secrets, whose bytes are used exactly as given.
/// `SIGRA_HSTS` is the exception to blank meaning unset: set but empty, it
/// turns the header off.
fn value<'a>(vars: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    let value = vars.get(name)?;
    let value = if [SECRET_KEY_BASE, SECRET_KEY_BASE_OLD].contains(&name) {
        value.as_str()
    } else {
        value.trim()
    };
    (!value.is_empty() || name == HSTS).then_some(value)
}

/// The static name of a known variable: one of [`ENV_VARS`] or of `host_vars`.
pub(crate) fn known_var(name: &str, host_vars: &[Variable]) -> Option<&'static str> {
    ENV_VARS
        .iter()
        .chain(host_vars)
        .map(|v| v.name)
        .find(|n| *n == name)
}

/// The known variable an unknown `SIGRA_*` name most likely meant.
pub(crate) fn suggest(name: &str, host_vars: &[Variable]) -> Option<&'static str> {
    if let Some(known) = name
        .strip_prefix("SIGRA_")
        .and_then(|n| known_var(n, host_vars))
    {
        // e.g. SIGRA_PORT for PORT
        return Some(known);
    }
    let upper = name.to_ascii_uppercase();
    if let Some(known) = known_var(&upper, host_vars) {
        return Some(known);
    }
    ENV_VARS
        .iter()
        .chain(host_vars)
        .map(|v| v.name)
        .map(|known| (edit_distance(&upper, known), known))
        .filter(|(distance, _)| *distance <= 3)
        .min()
        .map(|(_, known)| known)
}

/// Levenshtein distance, bounded in cost by refusing long inputs.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len() > 64 || b.len() > 64 {
        return usize::MAX;
    }
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != cb);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}
