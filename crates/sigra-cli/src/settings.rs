//! The settings only the `sigra` binary reads (`DATABASE_URL`, `SMTP_URL`, `PORT`), read together with `sigra-core`'s [`Config`] so that every problem of both is reported at once, in the same form.

use std::collections::HashMap;
use std::fmt;

use secrecy::SecretString;
use sigra_core::config::{
    Config, ConfigError, ConfigErrors, EnvOptions, Variable, parse, redacted_url,
};

/// `DATABASE_URL`
pub(crate) const DATABASE_URL: &str = "DATABASE_URL";
/// `SMTP_URL`
pub(crate) const SMTP_URL: &str = "SMTP_URL";
/// `PORT`
pub(crate) const PORT: &str = "PORT";

/// The port `sigra serve` listens on unless `PORT` says otherwise.
const DEFAULT_PORT: u16 = 4000;
const PORT_EXPECTED: &str = "expected a port from 1 to 65535";

/// The binary's own variables, in the order the configuration guide lists
/// them after `sigra-core`'s [`ENV_VARS`](sigra_core::config::ENV_VARS).
pub(crate) const BIN_VARS: &[Variable] = &[
    Variable {
        name: DATABASE_URL,
        default: "none",
        doc: "database URL: postgres://, postgresql:// or sqlite:",
    },
    Variable {
        name: SMTP_URL,
        default: "none",
        doc: "smtp:// or smtps:// URL; enables SMTP mail delivery",
    },
    Variable {
        name: PORT,
        default: "4000",
        doc: "HTTP port",
    },
];

/// Everything `sigra` runs with: the library's configuration and the binary's own settings.
#[derive(Clone)]
pub(crate) struct Settings {
    /// `sigra-core`'s configuration.
    pub(crate) config: Config,
    /// `DATABASE_URL`, if set.
    pub(crate) database_url: Option<SecretString>,
    /// `SMTP_URL`, if set.
    pub(crate) smtp_url: Option<SecretString>,
    /// `PORT` (default 4000).
    pub(crate) port: u16,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = |u: &Option<SecretString>| u.as_ref().map(redacted_url);
        f.debug_struct("Settings")
            .field("config", &self.config)
            .field("database_url", &url(&self.database_url))
            .field("smtp_url", &url(&self.smtp_url))
            .field("port", &self.port)
            .finish()
    }
}

/// Reads the binary's variables and the library's configuration from
/// `vars`; every problem of both is reported, the library's first.
pub(crate) fn load(vars: &HashMap<String, String>) -> Result<Settings, ConfigErrors> {
    let get = |name: &str| vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let mut problems = Vec::new();
    let database_url = get(DATABASE_URL).and_then(|v| {
        record(
            &mut problems,
            DATABASE_URL,
            parse::url_with_scheme(v, &["postgres://", "postgresql://", "sqlite:"]),
        )
    });
    let smtp_url = get(SMTP_URL).and_then(|v| {
        record(
            &mut problems,
            SMTP_URL,
            parse::url_with_scheme(v, &["smtp://", "smtps://"]),
        )
    });
    let port = get(PORT)
        .and_then(|v| record(&mut problems, PORT, parse::number(PORT_EXPECTED)(v)))
        .unwrap_or(DEFAULT_PORT);
    if port == 0 {
        problems.push(ConfigError::invalid(
            PORT,
            format!("{PORT_EXPECTED}, got 0"),
        ));
    }
    let options = EnvOptions {
        local_port: port,
        host_vars: BIN_VARS,
    };
    let config = Config::from_env_map_with(vars, &options);
    let mut all = match &config {
        Ok(_) => Vec::new(),
        Err(errors) => errors.problems().to_vec(),
    };
    all.extend(problems);
    match (config, ConfigErrors::from_problems(all)) {
        (_, Some(errors)) => Err(errors),
        (Ok(config), None) => Ok(Settings {
            config,
            database_url,
            smtp_url,
            port,
        }),
        // Not reached: the library's errors are never empty.
        (Err(errors), None) => Err(errors),
    }
}

/// The value, or `None` with the problem recorded.
fn record<T>(
    problems: &mut Vec<ConfigError>,
    name: &'static str,
    result: Result<T, String>,
) -> Option<T> {
    result
        .map_err(|message| problems.push(ConfigError::invalid(name, message)))
        .ok()
}

#[cfg(test)]
mod tests {
    //! The binary's variables, moved here from `sigra-core`'s config tests
    //! with their assertions, and the guide's table against the code.

    use std::collections::HashMap;

    use secrecy::ExposeSecret;
    use sigra_core::config::{ConfigErrors, ConfigWarning, ENV_VARS, Variable};

    use super::*;

    const SECRET: &str =
        "TOPSECRET-TOPSECRET-TOPSECRET-TOPSECRET-TOPSECRET-TOPSECRET-TOPSECRET-TOPSECRET-";

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn ok(pairs: &[(&str, &str)]) -> Settings {
        load(&map(pairs)).unwrap_or_else(|e| panic!("{e}"))
    }

    fn err(pairs: &[(&str, &str)]) -> ConfigErrors {
        match load(&map(pairs)) {
            Ok(settings) => panic!("expected errors, got {settings:?}"),
            Err(e) => e,
        }
    }

    fn problem_vars(errors: &ConfigErrors) -> Vec<&'static str> {
        errors.problems().iter().map(|p| p.variable()).collect()
    }

    /// The one problem of `errors`, which must be about `var`.
    fn only_problem(errors: &ConfigErrors, var: &str) -> ConfigError {
        assert_eq!(problem_vars(errors), [var], "{errors}");
        errors.problems()[0].clone()
    }

    #[test]
    fn defaults() {
        let s = ok(&[]);
        assert!(s.database_url.is_none());
        assert!(s.smtp_url.is_none());
        assert_eq!(s.port, 4000);
        assert_eq!(
            s.config.endpoints.public_url.as_str(),
            "http://localhost:4000/"
        );
    }

    #[test]
    fn every_variable_is_read_and_takes_effect() {
        let s = ok(&[(DATABASE_URL, "postgres://u:pw@db.internal/app")]);
        assert!(
            s.database_url
                .as_ref()
                .is_some_and(|u| u.expose_secret() == "postgres://u:pw@db.internal/app")
        );
        let s = ok(&[(PORT, "8080")]);
        assert!(
            s.port == 8080 && s.config.endpoints.public_url.as_str() == "http://localhost:8080/"
        );
        let s = ok(&[(SMTP_URL, "smtps://u:pw@mail:465")]);
        assert!(
            s.smtp_url
                .as_ref()
                .is_some_and(|u| u.expose_secret() == "smtps://u:pw@mail:465")
        );
        for var in BIN_VARS {
            assert!(!var.doc.is_empty(), "{} needs a meaning", var.name);
        }
    }

    #[test]
    fn the_table_is_complete_and_unique() {
        let names: Vec<_> = ENV_VARS.iter().chain(BIN_VARS).map(|v| v.name).collect();
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
    }

    #[test]
    fn service_urls_need_the_right_scheme_and_are_never_echoed() {
        let cases: [(&str, &[&str], &[&str]); 2] = [
            (
                DATABASE_URL,
                &[
                    "postgres://u:p@db/app",
                    "postgresql://db/app",
                    "POSTGRES://db",
                    "sqlite://data.db",
                    "sqlite::memory:",
                    "sqlite:data.db?mode=rwc",
                ],
                &[
                    "mysql://root:URLSECRET@db",
                    "postgres:/db",
                    "http://db",
                    "URLSECRET",
                    "sqlit:x",
                    "://URLSECRET",
                ],
            ),
            (
                SMTP_URL,
                &["smtp://mail:25", "smtps://u:p@mail:465"],
                &["smtp:mail", "https://mail", "URLSECRET"],
            ),
        ];
        for (var, good, bad) in cases {
            for url in good {
                ok(&[(var, url)]);
            }
            for url in bad {
                let errors = err(&[(var, url)]);
                let problem = only_problem(&errors, var);
                assert!(
                    problem
                        .message()
                        .starts_with("expected a URL starting with"),
                    "{problem}"
                );
                assert!(!problem.to_string().contains("URLSECRET"), "{problem}");
            }
        }
        let errors = err(&[(DATABASE_URL, "mysql://db")]);
        assert_eq!(
            errors.problems()[0].to_string(),
            r#"DATABASE_URL: expected a URL starting with postgres://, postgresql:// or sqlite:, got one with the scheme "mysql""#
        );
    }

    #[test]
    fn ports() {
        for bad in ["0", "65536", "+80", "-1", "80x", "8 0", "http"] {
            only_problem(&err(&[(PORT, bad)]), PORT);
        }
        assert_eq!(ok(&[(PORT, "65535")]).port, 65535);
        assert_eq!(
            err(&[(PORT, "0")]).problems()[0].to_string(),
            "PORT: expected a port from 1 to 65535, got 0"
        );
    }

    #[test]
    fn the_binary_and_the_library_are_validated_together() {
        let errors = err(&[
            ("SIGRA_ENV", "prod"),
            (PORT, "0"),
            (DATABASE_URL, "mysql://x"),
            (SMTP_URL, "ftp://x"),
            ("REDIS_URL", "http://x"),
        ]);
        let shown = errors.to_string();
        assert!(
            shown.starts_with("invalid configuration (6 problems):"),
            "{shown}"
        );
        // Ordered as in the guide: the library's variables, then the binary's.
        let position = |v: &&str| ENV_VARS.iter().chain(BIN_VARS).position(|k| k.name == *v);
        let got = problem_vars(&errors);
        assert!(
            got.windows(2).all(|w| position(&w[0]) <= position(&w[1])),
            "{got:?}"
        );
        let mut vars = got;
        vars.sort_unstable();
        let mut expected = vec![
            "SECRET_KEY_BASE",
            "PUBLIC_URL",
            PORT,
            DATABASE_URL,
            "REDIS_URL",
            SMTP_URL,
        ];
        expected.sort_unstable();
        assert_eq!(vars, expected, "{errors}");
    }

    #[test]
    fn debug_never_prints_a_secret() {
        let settings = ok(&[
            ("SECRET_KEY_BASE", SECRET),
            (
                DATABASE_URL,
                "postgres://admin:DBPASSWORD@db.internal:5432/app?sslpassword=QUERYSECRET",
            ),
            (SMTP_URL, "smtp://mailer:SMTPPASSWORD@mail.internal:587"),
        ]);
        let printed = format!("{settings:?} {settings:#?}");
        for secret in [
            "TOPSECRET",
            "DBPASSWORD",
            "QUERYSECRET",
            "SMTPPASSWORD",
            "admin",
            "mailer",
        ] {
            assert!(!printed.contains(secret), "{secret} leaked: {printed}");
        }
        assert!(printed.contains("postgres:[REDACTED]"), "{printed}");
    }

    #[test]
    fn a_misspelt_binary_variable_is_pointed_at() {
        let settings = ok(&[("SECRET_KEY_BASE", SECRET), ("SIGRA_PORT", "80")]);
        assert_eq!(
            settings.config.warnings(),
            [ConfigWarning::UnknownVariable {
                name: "SIGRA_PORT".to_owned(),
                suggestion: Some(PORT),
            }]
        );
    }

    /// `docs/guides/configuration.md` lists exactly the variables the code
    /// reads (the library's and the binary's), in the same order, with the
    /// same defaults.
    #[test]
    fn the_configuration_guide_matches_the_code() {
        let guide = include_str!("../../../docs/guides/configuration.md");
        let listed: Vec<(String, String)> = guide
            .lines()
            .filter(|l| l.starts_with("| `"))
            .map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                (
                    cells[1].trim_matches('`').to_owned(),
                    cells[2].trim_matches('`').to_owned(),
                )
            })
            .collect();
        let code: Vec<(String, String)> = ENV_VARS
            .iter()
            .chain(BIN_VARS)
            .map(|v| (v.name.to_owned(), v.default.to_owned()))
            .collect();
        let table: String = ENV_VARS
            .iter()
            .chain(BIN_VARS)
            .map(
                |Variable {
                     name, default, doc, ..
                 }| { format!("| `{name}` | `{default}` | {doc} |\n") },
            )
            .collect();
        assert_eq!(
            listed, code,
            "docs/guides/configuration.md disagrees with the code; its table should read:\n{table}"
        );
    }
}
