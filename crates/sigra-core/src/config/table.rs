//! The `settings!` macro: from one declaration per setting it derives the section structs, the builder's draft and setters, the environment reading, the defaults, the per-setting checks, the redacted `Debug` and the list of variables.
//!
//! The one invocation is in [`variables`](super::variables); read that file
//! to see every setting. An entry looks like this:
//!
//! ```text
//! /// Doc comment of the field in its section struct.
//! idle_timeout as idle_timeout: Duration {
//!     var: IDLE_TIMEOUT = "SIGRA_IDLE_TIMEOUT",
//!     doc: "a standard session ends after this long without a request",
//!     default: value(minutes(30)), shown: "30m",
//!     read: parse::duration,
//!     set: |value: Duration| Ok(value),
//!     check: check::positive,
//! }
//! ```
//!
//! - `field as setter: Type`: the field in the section struct, the name of
//!   the [`ConfigBuilder`](super::ConfigBuilder) setter, and the type
//!   [`Config`](super::Config) holds.
//! - `var`: a constant for the variable's name, and the name.
//! - `doc`, `shown`: the one-line meaning and the default as the
//!   configuration guide prints them ([`ENV_VARS`](super::ENV_VARS)).
//! - `default`: what an unset setting becomes, as a function of the
//!   [`Resolve`](super::rules::Resolve) context (most are a plain
//!   [`value`](super::rules::value)).
//! - `read`: parses the variable's value (trimmed, except for the secrets);
//!   an `Err` is the message of the problem.
//! - `set`: the builder setter's argument and how it becomes the value.
//! - `check`: the setting's own rule, run on the final value; rules between
//!   settings are the section checks in [`validate`](super::validate).

/// One environment variable: its name, its default as the configuration
/// guide prints it, and its one-line meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variable {
    /// The variable's name, e.g. `SIGRA_IDLE_TIMEOUT`.
    pub name: &'static str,
    /// The default, as the guide prints it (e.g. `30m`, `none`).
    pub default: &'static str,
    /// What it does, in one line.
    pub doc: &'static str,
}

/// Declares every setting once; see the module docs.
macro_rules! settings {
    (
        first: $first:expr;
        $(
            $(#[doc = $section_doc:literal])*
            $section:ident: $Section:ident $([$external:ident])? {
                $(
                    $(#[doc = $field_doc:literal])*
                    $field:ident as $setter:ident: $ty:ty {
                        var: $VAR:ident = $var:literal,
                        doc: $doc:literal,
                        default: $default:expr, shown: $shown:literal,
                        read: $read:expr,
                        set: |$arg:ident: $arg_ty:ty| $set:expr,
                        check: $check:expr $(,)?
                    }
                )*
            }
        )*
    ) => {
        $($(
            #[doc = concat!("`", $var, "`")]
            pub(crate) const $VAR: &str = $var;
        )*)*

        /// Every environment variable `sigra-core` reads, in the order of
        /// the configuration guide and of [`ConfigErrors`](super::ConfigErrors):
        /// name, default as the guide prints it, and one-line meaning.
        ///
        /// An empty value counts as unset, except in `SIGRA_HSTS`, where it
        /// turns the header off. Surrounding whitespace is ignored,
        /// except in `SECRET_KEY_BASE` and `SECRET_KEY_BASE_OLD`, whose bytes
        /// are used as they are.
        pub const ENV_VARS: &[Variable] = &[
            $first,
            $($(Variable { name: $var, default: $shown, doc: $doc },)*)*
        ];

        $(
            $crate::config::table::section_struct! {
                $(#[doc = $section_doc])*
                $Section $([$external])? {
                    $( $(#[doc = $field_doc])* $field: $ty, )*
                }
            }
        )*

        /// Sigra's validated configuration, one field per section.
        ///
        /// Build it with [`Config::from_env`], [`Config::from_env_map`] or
        /// [`Config::builder`]; all three validate the same way. Fields are
        /// public for reading. `Debug` never prints a secret: keys show as
        /// `[REDACTED]`, URLs that may carry credentials show only their
        /// scheme and host.
        #[derive(Clone)]
        #[non_exhaustive]
        pub struct Config {
            /// Dev, test or prod (`SIGRA_ENV`, default dev).
            pub env: Environment,
            $( $(#[doc = $section_doc])* pub $section: $Section, )*
            pub(crate) warnings: Vec<ConfigWarning>,
        }

        /// Builds a [`Config`] in code, starting from the defaults of an [`Environment`].
        ///
        /// Setters take plain values; [`build`](ConfigBuilder::build) validates
        /// everything at once with the same rules as [`Config::from_env_map`] and
        /// names each problem by its environment variable.
        ///
        /// ```
        /// use std::time::Duration;
        /// use sigra_core::config::{Config, Environment};
        /// use sigra_core::keys::SecretKeyBase;
        ///
        /// let config = Config::builder(Environment::Prod)
        ///     .secret_key_base(SecretKeyBase::new(vec![7; 64])?)
        ///     .public_url("https://app.myapp.com")
        ///     .cookie_domain(".myapp.com")
        ///     .idle_timeout(Duration::from_secs(20 * 60))
        ///     .build()?;
        /// assert!(config.secure_cookies());
        /// assert_eq!(config.public_host(), "app.myapp.com");
        /// assert_eq!(config.session.idle_timeout, Duration::from_secs(20 * 60));
        /// # Ok::<(), sigra_core::Error>(())
        /// ```
        pub struct ConfigBuilder {
            pub(crate) env: Environment,
            /// The port the default `PUBLIC_URL` points at.
            pub(crate) local_port: u16,
            pub(crate) draft: Draft,
            /// Problems found while parsing variables or setter arguments, before validation.
            pub(crate) problems: Vec<ConfigError>,
            /// Warnings found while parsing variables.
            pub(crate) warnings: Vec<ConfigWarning>,
        }

        /// What the builder was given or the environment held, per section;
        /// `None` is unset (the default applies at build).
        #[derive(Default)]
        pub(crate) struct Draft {
            $( pub(crate) $section: draft::$Section, )*
        }

        /// Draft sections: each setting as `Option` of its type.
        pub(crate) mod draft {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[derive(Default)]
                pub(crate) struct $Section {
                    $( pub(crate) $field: Option<$ty>, )*
                }
            )*
        }

        impl ConfigBuilder {
            $($(
                #[doc = concat!("`", $var, "`: ", $doc, " (default ", $shown, ").")]
                #[allow(rustdoc::bare_urls, reason = "the meaning is the guide's text, URLs included")]
                pub fn $setter(mut self, $arg: $arg_ty) -> Self {
                    let value: Result<$ty, String> = $set;
                    match value {
                        Ok(value) => self.draft.$section.$field = Some(value),
                        Err(message) => self.problems.push(ConfigError::invalid($VAR, message)),
                    }
                    self
                }
            )*)*
        }

        impl Draft {
            /// Reads every variable of the table through `get` (the value,
            /// or `None` when unset) into the draft, recording each refusal.
            pub(crate) fn read<'v>(
                &mut self,
                get: impl Fn(&str) -> Option<&'v str>,
                problems: &mut Vec<ConfigError>,
            ) {
                $($(
                    if let Some(value) = get($VAR) {
                        match ($read)(value) {
                            Ok(value) => self.$section.$field = Some(value),
                            Err(message) => problems.push(ConfigError::invalid($VAR, message)),
                        }
                    }
                )*)*
            }

            /// Fills what is unset with its default, then runs every
            /// setting's own check. `None` when a default could not be had
            /// (a problem says why).
            pub(crate) fn resolve(self, ctx: &mut Resolve) -> Option<Config> {
                $($(
                    let $setter: Option<$ty> = match self.$section.$field {
                        Some(value) => Some(value),
                        None => ($default)(&mut *ctx, $VAR),
                    };
                )*)*
                $($(
                    if let Some(value) = &$setter {
                        let check: fn(&$ty) -> Result<(), String> = $check;
                        if let Err(message) = check(value) {
                            ctx.problems.push(ConfigError::invalid($VAR, message));
                        }
                    }
                )*)*
                Some(Config {
                    env: ctx.env,
                    $( $section: $Section { $( $field: $setter?, )* }, )*
                    warnings: Vec::new(),
                })
            }
        }

        $(
            $crate::config::table::section_debug! {
                $Section $([$external])? { $( $field, )* }
            }
        )*

        impl std::fmt::Debug for Config {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct("Config")
                    .field("env", &self.env)
                    $( .field(stringify!($section), &self.$section) )*
                    .field("warnings", &self.warnings)
                    .finish()
            }
        }

        impl std::fmt::Debug for Draft {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let mut s = f.debug_struct("Draft");
                $($(
                    s.field(
                        stringify!($setter),
                        &self.$section.$field.as_ref().map(super::redact::Shown),
                    );
                )*)*
                s.finish()
            }
        }
    };
}

/// The struct of one section, unless the section's type is defined elsewhere (`[external]`).
macro_rules! section_struct {
    ($(#[doc = $doc:literal])* $Section:ident [external] { $($rest:tt)* }) => {};
    (
        $(#[doc = $doc:literal])*
        $Section:ident {
            $( $(#[doc = $field_doc:literal])* $field:ident: $ty:ty, )*
        }
    ) => {
        $(#[doc = $doc])*
        ///
        /// `Debug` redacts secrets.
        #[derive(Clone)]
        #[non_exhaustive]
        pub struct $Section {
            $( $(#[doc = $field_doc])* pub $field: $ty, )*
        }
    };
}

/// The redacted `Debug` of one section (an external type has its own `Debug`).
macro_rules! section_debug {
    ($Section:ident [external] { $($rest:tt)* }) => {};
    ($Section:ident { $( $field:ident, )* }) => {
        impl std::fmt::Debug for $Section {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($Section))
                    $( .field(stringify!($field), &super::redact::Shown(&self.$field)) )*
                    .finish()
            }
        }
    };
}

pub(crate) use {section_debug, section_struct, settings};
