//! The HTTP end-to-end harness: the demo app on a real socket, and a client that keeps cookies.
//!
//! [`spawn_server`] serves `Sigra::demo_app()` over a fresh store of one
//! [`Backend`] on `127.0.0.1:0`, exactly as `sigra serve` does (with
//! `ConnectInfo<SocketAddr>`, so rate limits see the client's address). Its
//! [`Auth`] uses the cheap test hasher and a shared [`TestClock`] that tests
//! move with [`TestServer::clock`]. Its mailer is a [`DevMailbox`] that tests
//! read with [`TestServer::mailbox`] (it is also exposed at
//! `/dev/mailbox.json`, which answers only when the config's environment is
//! dev). The server shuts down gracefully when the [`TestServer`] is dropped.
//!
//! [`Client`] is a deliberately small browser: a cookie jar (name → value, fed
//! from `Set-Cookie`, emptied by `Max-Age=0`), no automatic redirects (tests
//! assert the 303 and its `Location`), and the last `_csrf_token` seen in a
//! page, which [`Client::post_with_csrf`] sends back. It ignores cookie
//! domains, paths and `Secure`: what a real browser would do with those is
//! checked by reading the [`SetCookie`] attributes, not by the jar.
//!
//! **Session cache.** Inside [`with_session_cache`]`(true, …)` every server
//! the harness starts has the node-local session cache on (and follows the
//! revocation log); the `http_tests!` macro runs the whole suite both ways.
//! [`spawn_node`] starts a second server on the *same* database, as another
//! node of a cluster would be.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, COOKIE, HeaderName, LOCATION, SET_COOKIE};
pub use reqwest::header::{HeaderMap, HeaderValue};
pub use reqwest::{Method, StatusCode};
use sigra_core::auth::Auth;
use sigra_core::cache::SessionCache;
use sigra_core::clock::TestClock;
use sigra_core::config::{Config, ConfigBuilder, Environment};
use sigra_core::mail::{DevMailbox, Email, MailError, Mailer};
use sigra_core::model::User;
use sigra_core::password::{Argon2Hasher, PasswordError, PasswordHash, PasswordHasher};
use sigra_store_postgres::PostgresStore;
use sigra_store_sqlite::SqliteStore;
use sigra_web::{CSRF_FIELD, Sigra};
use tokio::sync::{oneshot, watch};

use crate::{Backend, RawPool, TestStore, fresh_store, t0};

tokio::task_local! {
    /// Whether servers started in this task have the session cache on.
    static SESSION_CACHE: bool;
}

/// Runs `test` with the session cache on (or off) for every server
/// [`spawn_server`] and [`spawn_node`] start inside it. Outside, it is off.
pub async fn with_session_cache<F: Future>(on: bool, test: F) -> F::Output {
    SESSION_CACHE.scope(on, test).await
}

/// Whether servers started now get the session cache.
pub fn session_cache_requested() -> bool {
    SESSION_CACHE.try_with(|on| *on).unwrap_or(false)
}

/// The session cookie's name outside prod (and in prod with `COOKIE_DOMAIN`);
/// [`sigra_core::cookie::cookie_name`] gives the one a server's config uses.
pub const SESSION_COOKIE: &str = sigra_core::cookie::SESSION_COOKIE;
/// The remember-me cookie's name outside prod (and in prod with `COOKIE_DOMAIN`).
pub const REMEMBER_ME_COOKIE: &str = sigra_core::cookie::REMEMBER_ME_COOKIE;

/// How long one request may take before the test fails instead of hanging.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The `User-Agent` every [`Client`] sends.
pub const USER_AGENT: &str = "sigra-tests/1.0";

/// The demo app served on a real TCP socket over a fresh store; shut down on drop.
pub struct TestServer {
    addr: SocketAddr,
    sigra: Sigra,
    clock: Arc<TestClock>,
    mailbox: Arc<DevMailbox>,
    mail_gate: watch::Sender<bool>,
    argon2_runs: Arc<AtomicUsize>,
    shutdown: Option<oneshot::Sender<()>>,
    // Declared last so the store (and its database) outlives the server's handles.
    store: TestStore,
}

impl fmt::Debug for TestServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestServer")
            .field("addr", &self.addr)
            .field("backend", &self.store.backend())
            .finish_non_exhaustive()
    }
}

/// Starts the demo app on `127.0.0.1:0` over a fresh store on `backend`.
///
/// The configuration starts as `Config::builder(Environment::Test)` with
/// `public_url` set to the server's own `http://127.0.0.1:PORT` (and the
/// session cache on inside [`with_session_cache`]); `customize` may change
/// anything, or return a different builder altogether (e.g. a prod one).
///
/// # Panics
///
/// When the store, the configuration or the socket cannot be set up.
pub async fn spawn_server(
    backend: Backend,
    customize: impl FnOnce(ConfigBuilder) -> ConfigBuilder,
) -> TestServer {
    serve(
        fresh_store(backend).await,
        customize,
        Sigra::demo_app,
        Hashing::default(),
    )
    .await
}

/// [`spawn_server`] serving the router `app` builds from the server's
/// [`Sigra`] instead of the demo app (e.g. the demo app plus a test route).
///
/// # Panics
///
/// As [`spawn_server`].
pub async fn spawn_server_with_app(
    backend: Backend,
    customize: impl FnOnce(ConfigBuilder) -> ConfigBuilder,
    app: impl FnOnce(&Sigra) -> axum::Router,
) -> TestServer {
    serve(
        fresh_store(backend).await,
        customize,
        app,
        Hashing::default(),
    )
    .await
}

/// [`spawn_server`] with another password hasher on a hashing pool of
/// `threads` threads (e.g. [`crate::SlowVerifyHasher`], to widen a race window).
///
/// # Panics
///
/// As [`spawn_server`].
pub async fn spawn_server_with_hasher(
    backend: Backend,
    hasher: Arc<dyn PasswordHasher>,
    threads: usize,
    customize: impl FnOnce(ConfigBuilder) -> ConfigBuilder,
) -> TestServer {
    let hashing = Hashing { hasher, threads };
    serve(
        fresh_store(backend).await,
        customize,
        Sigra::demo_app,
        hashing,
    )
    .await
}

/// The hasher and hashing-pool size of a test server.
struct Hashing {
    hasher: Arc<dyn PasswordHasher>,
    threads: usize,
}

impl Default for Hashing {
    /// The cheap test hasher on two threads.
    fn default() -> Self {
        Self {
            hasher: Arc::new(Argon2Hasher::for_tests()),
            threads: 2,
        }
    }
}

/// Starts another node of `first`'s app: a second server with its own
/// connection pool, limiter, cache and clock on the same database, reached
/// through `database_url` (by default the first node's own; give another
/// one, e.g. through a [`crate::proxy::TcpProxy`], to cut this node off).
/// `first` must outlive it: it owns the database.
///
/// # Panics
///
/// When the database is in-memory SQLite (no other pool can reach it), or
/// the node cannot be set up.
pub async fn spawn_node(
    first: &TestServer,
    database_url: Option<String>,
    customize: impl FnOnce(ConfigBuilder) -> ConfigBuilder,
) -> TestServer {
    let url = database_url
        .or_else(|| first.store.database_url())
        .expect("a second node needs a database another pool can reach");
    let backend = first.store.backend();
    let store = if url.starts_with("postgres") {
        let store = PostgresStore::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("second node: connect to PostgreSQL: {e}"));
        let raw = RawPool::Postgres(store.pool().clone());
        TestStore {
            store: Arc::new(store),
            raw,
            backend,
            _dir: None,
            _database: None,
        }
    } else {
        let store = SqliteStore::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("second node: open SQLite: {e}"));
        let raw = RawPool::Sqlite(store.pool().clone());
        TestStore {
            store: Arc::new(store),
            raw,
            backend,
            _dir: None,
            _database: None,
        }
    };
    serve(store, customize, Sigra::demo_app, Hashing::default()).await
}

async fn serve(
    store: TestStore,
    customize: impl FnOnce(ConfigBuilder) -> ConfigBuilder,
    app: impl FnOnce(&Sigra) -> axum::Router,
    hashing: Hashing,
) -> TestServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("the listener's address");
    let base = Config::builder(Environment::Test)
        .public_url(format!("http://{addr}"))
        .session_cache(session_cache_requested());
    let config = customize(base)
        .build()
        .unwrap_or_else(|e| panic!("the test server's configuration is invalid: {e}"));
    let clock = Arc::new(TestClock::new(t0()));
    let mailbox = Arc::new(DevMailbox::new());
    let (mail_gate, gate) = watch::channel(true);
    let argon2_runs = Arc::new(AtomicUsize::new(0));
    let auth = Auth::builder(config, store.store())
        .clock(clock.clone())
        .hasher(Arc::new(CountingHasher {
            inner: hashing.hasher,
            runs: argon2_runs.clone(),
        }))
        .hash_pool(hashing.threads, 256)
        .mailer(Arc::new(GatedMailer {
            mailbox: mailbox.clone(),
            gate,
        }))
        .build()
        .expect("build Auth");
    let sigra = Sigra::new(auth).with_dev_mailbox(mailbox.clone());
    let app = app(&sigra);
    let (shutdown, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let served = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            // A dropped sender shuts the server down too.
            let _ = stopped.await;
        })
        .await;
        if let Err(e) = served {
            panic!("the test server failed: {e}");
        }
    });
    TestServer {
        addr,
        sigra,
        clock,
        mailbox,
        mail_gate,
        argon2_runs,
        shutdown: Some(shutdown),
        store,
    }
}

/// The test hasher, counting every Argon2 run (hash, verify, dummy verify).
#[derive(Debug)]
struct CountingHasher {
    inner: Arc<dyn PasswordHasher>,
    runs: Arc<AtomicUsize>,
}

impl PasswordHasher for CountingHasher {
    fn hash(&self, password: &secrecy::SecretString) -> Result<PasswordHash, PasswordError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        self.inner.hash(password)
    }

    fn verify(
        &self,
        password: &secrecy::SecretString,
        hash: &PasswordHash,
    ) -> Result<bool, PasswordError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        self.inner.verify(password, hash)
    }

    fn needs_rehash(&self, hash: &PasswordHash) -> bool {
        self.inner.needs_rehash(hash)
    }

    fn dummy_verify(&self, password: &secrecy::SecretString) {
        self.runs.fetch_add(1, Ordering::SeqCst);
        self.inner.dummy_verify(password);
    }
}

/// The server's mailer: the [`DevMailbox`], behind a gate a test may close
/// ([`TestServer::hold_mail`]) to see what waits on a hand-off.
#[derive(Debug)]
struct GatedMailer {
    mailbox: Arc<DevMailbox>,
    gate: watch::Receiver<bool>,
}

#[async_trait::async_trait]
impl Mailer for GatedMailer {
    async fn send(&self, email: Email) -> Result<(), MailError> {
        let mut gate = self.gate.clone();
        // A dropped sender (the server is gone) opens the gate.
        let _ = gate.wait_for(|open| *open).await;
        self.mailbox.send(email).await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

impl TestServer {
    /// The server's socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The app's [`Sigra`] (its `Auth`, config and limiter).
    pub fn sigra(&self) -> &Sigra {
        &self.sigra
    }

    /// The clock every server-side decision reads; advance it to expire things.
    pub fn clock(&self) -> &TestClock {
        &self.clock
    }

    /// Every message the app has sent, in order (its mailer).
    pub fn mailbox(&self) -> &DevMailbox {
        &self.mailbox
    }

    /// How many Argon2 runs (hashes, verifications, dummy verifications)
    /// the app's hasher has done so far.
    pub fn argon2_runs(&self) -> usize {
        self.argon2_runs.load(Ordering::SeqCst)
    }

    /// Makes every mail hand-off wait until [`TestServer::release_mail`].
    pub fn hold_mail(&self) {
        self.mail_gate.send_replace(false);
    }

    /// Lets held and later mail through.
    pub fn release_mail(&self) {
        self.mail_gate.send_replace(true);
    }

    /// Waits (at most 5 s) until `to` has received `count` messages, for
    /// mail sent after the answer (the reset request's); returns them.
    ///
    /// # Panics
    ///
    /// When they do not arrive in time.
    pub async fn wait_for_mail(&self, to: &str, count: usize) -> Vec<Email> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let messages: Vec<Email> = self
                .mailbox
                .messages()
                .into_iter()
                .filter(|m| m.to == to)
                .collect();
            if messages.len() >= count {
                return messages;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{to} received {} of {count} messages within 5 s",
                messages.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits (at most 5 s) for a message to `to` whose text contains
    /// `needle`; returns the newest such message.
    ///
    /// # Panics
    ///
    /// When none arrives in time.
    pub async fn wait_for_message(&self, to: &str, needle: &str) -> Email {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let found = self
                .mailbox
                .messages()
                .into_iter()
                .rev()
                .find(|m| m.to == to && m.text.contains(needle));
            if let Some(message) = found {
                return message;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no message to {to} containing {needle} within 5 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The store under the app, for raw checks.
    pub fn store(&self) -> &TestStore {
        &self.store
    }

    /// A new client with an empty cookie jar.
    pub fn client(&self) -> Client {
        Client::new(self)
    }

    /// The stored user with this (normalised) email, read through the store port.
    pub async fn user(&self, email: &str) -> Option<User> {
        self.store
            .user_by_email(email)
            .await
            .unwrap_or_else(|e| panic!("read user {email}: {e}"))
    }

    /// How many users are stored.
    pub async fn user_count(&self) -> usize {
        self.store.dump_rows("users").await.len()
    }

    /// Makes the database unreachable for the rest of the test: closes the
    /// store's connection pool (the app's and the harness's share it), so
    /// every query fails as it would when the server goes away.
    ///
    /// With the session cache on, it then waits (at most 5 s) until the
    /// node has noticed and suspended its cache, which it promises to do
    /// within one poll deadline of losing the database.
    pub async fn take_database_down(&self) {
        match &self.store.raw {
            RawPool::Sqlite(pool) => pool.close().await,
            RawPool::Postgres(pool) => pool.close().await,
        }
        if let Some(cache) = self.session_cache() {
            self.wait_for_cache(|c| !c.is_active(), "suspend its session cache")
                .await;
            assert!(!cache.is_active());
        }
    }

    /// The node-local session cache, when this server has it on.
    pub fn session_cache(&self) -> Option<&Arc<SessionCache>> {
        self.sigra.auth().session_cache()
    }

    /// Waits (at most 5 s) until `ready` holds for this server's cache.
    ///
    /// # Panics
    ///
    /// When it does not, or the server has no cache.
    pub async fn wait_for_cache(&self, ready: impl Fn(&SessionCache) -> bool, what: &str) {
        let cache = self.session_cache().expect("the session cache is on");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !ready(cache) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the server did not {what} within 5 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// A minimal browser: a cookie jar, no automatic redirects, the last CSRF token seen.
///
/// Cloning it copies the jar, as an attacker who captured the cookies would.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    jar: BTreeMap<String, String>,
    csrf: Option<String>,
}

impl Client {
    /// A client of `server` with an empty jar.
    pub fn new(server: &TestServer) -> Self {
        Self::for_url(server.url(""))
    }

    /// A client with an empty jar of the server at `base` (`http://host:port`, no trailing slash),
    /// for servers the harness did not start, such as a `sigra serve` child process.
    pub fn for_url(base: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(USER_AGENT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .expect("build the HTTP client");
        Self {
            http,
            base: base.into(),
            jar: BTreeMap::new(),
            csrf: None,
        }
    }

    /// A fresh client of `server` carrying only `cookies`.
    pub fn with_cookies(server: &TestServer, cookies: &[(&str, &str)]) -> Self {
        let mut client = Self::new(server);
        for (name, value) in cookies {
            client.set_cookie(name, value);
        }
        client
    }

    /// The cookie jar.
    pub fn cookies(&self) -> &BTreeMap<String, String> {
        &self.jar
    }

    /// The value of cookie `name` in the jar.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.jar.get(name).map(String::as_str)
    }

    /// Puts a cookie into the jar (replacing any value).
    pub fn set_cookie(&mut self, name: &str, value: &str) {
        self.jar.insert(name.to_owned(), value.to_owned());
    }

    /// Removes a cookie from the jar.
    pub fn remove_cookie(&mut self, name: &str) {
        self.jar.remove(name);
    }

    /// The last `_csrf_token` seen in a page.
    pub fn csrf_token(&self) -> Option<&str> {
        self.csrf.as_deref()
    }

    /// `GET path`.
    pub async fn get(&mut self, path: &str) -> Page {
        self.request(Method::GET, path, HeaderMap::new(), None)
            .await
    }

    /// `POST path` with exactly `fields`, form-encoded (no CSRF token added).
    pub async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        self.request(Method::POST, path, HeaderMap::new(), Some(fields))
            .await
    }

    /// `POST path` with `fields` and the last CSRF token seen.
    ///
    /// # Panics
    ///
    /// When no page has shown a CSRF token yet (GET a page with a form first).
    pub async fn post_with_csrf(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self
            .csrf
            .clone()
            .expect("no CSRF token seen yet: GET a page with a form first");
        let mut all = vec![(CSRF_FIELD, csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_form(path, &all).await
    }

    /// Registers through the form: `GET /users/register`, then the POST. Returns the POST's answer.
    pub async fn register(&mut self, email: &str, password: &str) -> Page {
        self.get("/users/register").await;
        self.post_with_csrf(
            "/users/register",
            &[("email", email), ("password", password)],
        )
        .await
    }

    /// Fills in the form at `path` as a browser would: `GET path`, then
    /// `POST path` with `fields` and the CSRF token the page showed. Unlike
    /// the other methods it returns transport failures (a server that died
    /// mid-request) instead of panicking.
    pub async fn try_submit(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Result<Page, reqwest::Error> {
        self.try_request(Method::GET, path, HeaderMap::new(), None)
            .await?;
        let csrf = self.csrf.clone().unwrap_or_default();
        let mut all = vec![(CSRF_FIELD, csrf.as_str())];
        all.extend_from_slice(fields);
        self.try_request(Method::POST, path, HeaderMap::new(), Some(&all))
            .await
    }

    /// Logs in through the form: `GET /users/log-in`, then the POST (with
    /// `remember_me=true` when `remember`). Returns the POST's answer.
    pub async fn log_in(&mut self, email: &str, password: &str, remember: bool) -> Page {
        self.get("/users/log-in").await;
        let mut fields = vec![("email", email), ("password", password)];
        if remember {
            fields.push(("remember_me", "true"));
        }
        self.post_with_csrf("/users/log-in", &fields).await
    }

    /// Any request. `headers` are sent as given; a `Cookie` header among
    /// them replaces the jar's for this request. `form` is sent
    /// form-encoded. The jar and the CSRF token are updated from the answer.
    ///
    /// # Panics
    ///
    /// When the request or its body fails in transport; see [`Client::try_request`].
    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        headers: HeaderMap,
        form: Option<&[(&str, &str)]>,
    ) -> Page {
        self.try_request(method.clone(), path, headers, form)
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// [`Client::request`], returning transport failures instead of panicking.
    pub async fn try_request(
        &mut self,
        method: Method,
        path: &str,
        mut headers: HeaderMap,
        form: Option<&[(&str, &str)]>,
    ) -> Result<Page, reqwest::Error> {
        if !headers.contains_key(COOKIE) && !self.jar.is_empty() {
            let jar = self
                .jar
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            headers.insert(
                COOKIE,
                HeaderValue::from_str(&jar).expect("cookie values are header-safe"),
            );
        }
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .headers(headers);
        if let Some(fields) = form {
            let body = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(fields)
                .finish();
            request = request
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body);
        }
        let response = request.send().await?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await?;
        let page = Page {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        for cookie in page.set_cookies() {
            if cookie.is_removal() {
                self.jar.remove(&cookie.name);
            } else {
                self.jar.insert(cookie.name, cookie.value);
            }
        }
        if let Some(csrf) = page.csrf_token() {
            self.csrf = Some(csrf);
        }
        Ok(page)
    }
}

/// Builds a header map from pairs.
///
/// # Panics
///
/// When a name or value is not a valid header.
pub fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).expect("a valid header name"),
            HeaderValue::from_str(value).expect("a valid header value"),
        );
    }
    map
}

/// One answer: status, headers and body (decoded lossily as UTF-8).
#[derive(Debug, Clone)]
pub struct Page {
    /// The status code.
    pub status: StatusCode,
    /// The response headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: String,
}

impl Page {
    /// The `Location` header.
    pub fn location(&self) -> Option<&str> {
        self.header(LOCATION.as_str())
    }

    /// The first value of header `name`, if it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every `Set-Cookie` of the answer, parsed.
    pub fn set_cookies(&self) -> Vec<SetCookie> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(SetCookie::parse)
            .collect()
    }

    /// The `Set-Cookie` for cookie `name`, if there is one.
    pub fn set_cookie(&self, name: &str) -> Option<SetCookie> {
        self.set_cookies().into_iter().find(|c| c.name == name)
    }

    /// The value of the first `_csrf_token` hidden input in the body.
    pub fn csrf_token(&self) -> Option<String> {
        self.attribute_after(&format!(r#"name="{CSRF_FIELD}""#), "value")
    }

    /// The text inside the element with `id` (up to its first closing tag).
    pub fn text_of(&self, id: &str) -> Option<String> {
        let marker = format!(r#"id="{id}""#);
        let start = self.body.find(&marker)?;
        let open_end = start + self.body[start..].find('>')? + 1;
        let close = open_end + self.body[open_end..].find("</")?;
        Some(self.body[open_end..close].to_owned())
    }

    /// The form error paragraph (`<p class="error" role="alert" id="form-error">…</p>`), whole.
    pub fn form_error(&self) -> Option<&str> {
        let start = self.body.find(r#"<p class="error""#)?;
        let end = start + self.body[start..].find("</p>")? + "</p>".len();
        Some(&self.body[start..end])
    }

    /// How many times `needle` occurs in the body.
    pub fn count(&self, needle: &str) -> usize {
        self.body.matches(needle).count()
    }

    /// Asserts a 303 to `to`.
    ///
    /// # Panics
    ///
    /// When the answer is anything else.
    #[track_caller]
    pub fn assert_redirect(&self, to: &str) {
        assert_eq!(
            (self.status, self.location()),
            (StatusCode::SEE_OTHER, Some(to)),
            "expected 303 to {to}; body: {}",
            self.body
        );
    }

    /// The value of attribute `attr` in the tag that contains `marker`.
    fn attribute_after(&self, marker: &str, attr: &str) -> Option<String> {
        let at = self.body.find(marker)?;
        let tag_start = self.body[..at].rfind('<')?;
        let tag_end = at + self.body[at..].find('>')?;
        let tag = &self.body[tag_start..tag_end];
        let key = format!(r#" {attr}=""#);
        let value_start = tag.find(&key)? + key.len();
        let value_end = value_start + tag[value_start..].find('"')?;
        Some(tag[value_start..value_end].to_owned())
    }
}

/// One `Set-Cookie` header, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetCookie {
    /// The cookie's name.
    pub name: String,
    /// Its value (empty when it is removed).
    pub value: String,
    /// The attributes after the value, in order: name and optional value.
    pub attributes: Vec<(String, Option<String>)>,
    /// The whole header.
    pub raw: String,
}

impl SetCookie {
    /// Parses a `Set-Cookie` header value.
    pub fn parse(raw: &str) -> Option<Self> {
        let mut parts = raw.split(';');
        let (name, value) = parts.next()?.trim().split_once('=')?;
        let attributes = parts
            .map(|part| {
                let part = part.trim();
                match part.split_once('=') {
                    Some((k, v)) => (k.trim().to_owned(), Some(v.trim().to_owned())),
                    None => (part.to_owned(), None),
                }
            })
            .collect();
        Some(Self {
            name: name.trim().to_owned(),
            value: value.trim().to_owned(),
            attributes,
            raw: raw.to_owned(),
        })
    }

    /// The value of attribute `name` (case-insensitive); `Some("")` for a bare flag.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_deref().unwrap_or(""))
    }

    /// Whether the bare flag `name` (e.g. `Secure`, `HttpOnly`) is present.
    pub fn has_flag(&self, name: &str) -> bool {
        self.attributes
            .iter()
            .any(|(k, v)| v.is_none() && k.eq_ignore_ascii_case(name))
    }

    /// `Max-Age` in seconds.
    pub fn max_age(&self) -> Option<i64> {
        self.attribute("Max-Age")?.parse().ok()
    }

    /// Whether this header removes the cookie (`Max-Age` of zero or less).
    pub fn is_removal(&self) -> bool {
        self.max_age().is_some_and(|age| age <= 0)
    }
}
