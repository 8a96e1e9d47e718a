//! The demo app in a real browser: headless Chromium, driven over WebDriver
//! (`chromedriver` + `fantoccini`), through register, log out, log in with
//! "remember me", the dashboard, the remember-me cookie standing in for a lost
//! session cookie, log out everywhere, then MFA: enrolment from the secret on
//! the page, a log-in completed with a backup code and "trust this browser",
//! and a later log-in that the trusted browser lets skip the second factor.
//!
//! Chromium and ChromeDriver are never optional: when either is missing the
//! test fails and says how to install them (`cargo xtask ci` does it). Their
//! paths come from `SIGRA_CHROMIUM` and `SIGRA_CHROMEDRIVER` (defaults: the
//! Debian packages' `/usr/bin/chromium` and `/usr/bin/chromedriver`).
//!
//! Artifacts land in `target/browser/`: `dashboard.png` (a screenshot of the
//! signed-in dashboard) and `chromedriver.log`.

use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fantoccini::cookies::Cookie;
use fantoccini::elements::Element;
use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use sigra_core::auth::Auth;
use sigra_core::clock::{Clock, SystemClock};
use sigra_core::config::{Config, Environment};
use sigra_core::mfa::{TotpSecret, totp_code_at};
use sigra_core::password::Argon2Hasher;
use sigra_tests::{Backend, TestStore, fresh_store};
use sigra_web::Sigra;

const CHROMEDRIVER_VAR: &str = "SIGRA_CHROMEDRIVER";
const CHROMIUM_VAR: &str = "SIGRA_CHROMIUM";
const DEFAULT_CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";

const SESSION_COOKIE: &str = "_sigra_session";
const REMEMBER_COOKIE: &str = "_sigra_remember_me";
const TRUST_COOKIE: &str = "_sigra_mfa_trust";

/// How long any one wait for the browser may take.
const WAIT: Duration = Duration::from_secs(10);
/// How often a wait polls.
const POLL: Duration = Duration::from_millis(50);

/// Chromium flags for this machine: headless as root, and no background
/// traffic (the closed network refuses it, and Chromium retries noisily).
const CHROMIUM_ARGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1024,768",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_remember_me_log_out_everywhere_and_trusted_mfa_in_chromium() {
    let started = Instant::now();
    let chromedriver_path = tool_path(CHROMEDRIVER_VAR, DEFAULT_CHROMEDRIVER, "chromedriver");
    let chromium_path = tool_path(CHROMIUM_VAR, DEFAULT_CHROMIUM, "chromium");
    let artifacts = artifacts_dir();

    let store = fresh_store(Backend::SqliteFile).await;
    let base = serve_demo_app(&store).await;

    // Declared before the driver so it is removed after Chromium has exited.
    let profile = tempfile::Builder::new()
        .prefix("sigra-chromium-")
        .tempdir()
        .expect("create a Chromium profile directory");
    let driver = ChromeDriver::start(&chromedriver_path, &artifacts.join("chromedriver.log")).await;
    let client = driver.session(&chromium_path, profile.path()).await;

    // The journey runs in its own task so that, pass or fail, the WebDriver
    // session is closed (and Chromium with it) before the test reports.
    let journey = tokio::spawn(journey(client.clone(), base, artifacts));
    let outcome = journey.await;
    let closed = client.close().await;
    match outcome {
        Ok(()) => {}
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("the browser journey did not finish: {e}"),
    }
    closed.expect("close the WebDriver session");
    drop(driver);
    eprintln!("browser journey passed in {:.1?}", started.elapsed());
}

/// Every step a user takes, asserting what they see after each.
async fn journey(client: Client, base: String, artifacts: PathBuf) {
    let b = Browser { client, base };
    let email = "browser-user@example.com";
    let password = "correct horse battery staple";

    // Register: lands on / showing the new account's email.
    b.goto("/users/register").await;
    b.find("email").await.send_keys(email).await.unwrap();
    b.find("password").await.send_keys(password).await.unwrap();
    b.find("register").await.click().await.unwrap();
    let home_email = b.wait_for_id("home-email").await;
    assert_eq!(
        b.path().await,
        "/",
        "registering redirects to the home page"
    );
    assert_eq!(home_email.text().await.unwrap(), email);
    assert_eq!(b.find("current-user").await.text().await.unwrap(), email);
    assert!(
        b.cookie(REMEMBER_COOKIE).await.is_none(),
        "registering does not set the remember-me cookie"
    );

    // Log out: back on / with the log-in link and no user.
    b.find("log-out").await.click().await.unwrap();
    b.wait_for_css(r#"header a[href="/users/log-in"]"#).await;
    assert_eq!(b.path().await, "/");
    assert!(b.try_find("current-user").await.is_none(), "logged out");

    // Log in with "remember me".
    b.goto("/users/log-in").await;
    b.find("email").await.send_keys(email).await.unwrap();
    b.find("password").await.send_keys(password).await.unwrap();
    let remember = b.find("remember_me").await;
    remember.click().await.unwrap();
    assert!(
        remember.is_selected().await.unwrap(),
        "remember me is ticked"
    );
    b.find("log-in").await.click().await.unwrap();
    let home_email = b.wait_for_id("home-email").await;
    assert_eq!(home_email.text().await.unwrap(), email);

    // The dashboard shows the email; screenshot it.
    b.goto("/dashboard").await;
    assert_eq!(b.path().await, "/dashboard");
    let shown = b.wait_for_id("dashboard-email").await.text().await.unwrap();
    assert_eq!(shown, email, "the dashboard shows the signed-in email");
    let png = b.client.screenshot().await.expect("take a screenshot");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "WebDriver returns a PNG"
    );
    let shot = artifacts.join("dashboard.png");
    std::fs::write(&shot, &png).unwrap_or_else(|e| panic!("write {}: {e}", shot.display()));
    eprintln!("dashboard screenshot: {}", shot.display());

    // The remember-me cookie alone signs the browser back in.
    let remember_cookie = b
        .cookie(REMEMBER_COOKIE)
        .await
        .expect("logging in with remember me sets _sigra_remember_me");
    assert_eq!(
        remember_cookie.http_only(),
        Some(true),
        "the remember-me cookie is HttpOnly"
    );
    let old_cookies = b.client.get_all_cookies().await.unwrap();
    b.client.delete_cookie(SESSION_COOKIE).await.unwrap();
    assert!(
        b.cookie(SESSION_COOKIE).await.is_none(),
        "session cookie deleted"
    );
    b.goto("/dashboard").await;
    assert_eq!(
        b.path().await,
        "/dashboard",
        "with only the remember-me cookie the dashboard still opens"
    );
    let shown = b.wait_for_id("dashboard-email").await.text().await.unwrap();
    assert_eq!(shown, email);
    assert!(
        b.cookie(SESSION_COOKIE).await.is_some(),
        "the remember-me cookie rehydrates the session cookie"
    );

    // Log out everywhere from the settings page: lands on the log-in page.
    b.goto("/users/settings").await;
    b.wait_for_id("log-out-everywhere")
        .await
        .click()
        .await
        .unwrap();
    b.wait_for_id("log-in").await;
    assert_eq!(b.path().await, "/users/log-in");
    assert!(
        b.cookie(REMEMBER_COOKIE).await.is_none(),
        "log out everywhere clears the remember-me cookie"
    );

    // /dashboard now redirects to the log-in page.
    b.goto("/dashboard").await;
    assert_eq!(
        b.path().await,
        "/users/log-in",
        "after log out everywhere, /dashboard redirects to log in"
    );
    b.wait_for_id("log-in").await;
    assert!(b.try_find("current-user").await.is_none(), "signed out");

    // Even with the old cookies put back, the revoked session stays dead.
    b.client.delete_all_cookies().await.unwrap();
    for cookie in old_cookies {
        b.client.add_cookie(cookie).await.unwrap();
    }
    b.goto("/dashboard").await;
    assert_eq!(
        b.path().await,
        "/users/log-in",
        "cookies from before log out everywhere no longer sign anyone in"
    );
    assert!(
        b.try_find("current-user").await.is_none(),
        "still signed out"
    );

    // MFA: enrol with the secret shown on the page, keep a backup code.
    b.goto("/users/log-in").await;
    b.find("email").await.send_keys(email).await.unwrap();
    b.find("password").await.send_keys(password).await.unwrap();
    b.find("log-in").await.click().await.unwrap();
    b.wait_for_id("current-user").await;
    b.goto("/users/settings").await;
    b.wait_for_id("enroll-mfa").await.click().await.unwrap();
    let secret_text = b.wait_for_id("totp-secret").await.text().await.unwrap();
    let secret = TotpSecret::from_base32(&secret_text).expect("the page shows a base32 secret");
    assert!(
        b.try_find("totp-qr").await.is_some(),
        "the enrolment page shows a QR code"
    );
    let code = totp_code_at(&secret, SystemClock.now());
    b.find("code").await.send_keys(&code).await.unwrap();
    b.find("confirm-mfa").await.click().await.unwrap();
    let first_code = b.wait_for_css("li.backup-code").await.text().await.unwrap();
    assert_eq!(
        first_code.len(),
        9,
        "backup codes look like XXXX-XXXX: {first_code}"
    );

    // Log out; logging in now asks for the second factor. A backup code with
    // "trust this browser" completes it.
    b.goto("/").await;
    b.wait_for_id("log-out").await.click().await.unwrap();
    b.wait_for_css(r#"header a[href="/users/log-in"]"#).await;
    b.goto("/users/log-in").await;
    b.find("email").await.send_keys(email).await.unwrap();
    b.find("password").await.send_keys(password).await.unwrap();
    b.find("log-in").await.click().await.unwrap();
    b.wait_for_id("verify-code").await;
    assert_eq!(
        b.path().await,
        "/users/mfa",
        "a user with MFA is asked for a code"
    );
    assert!(
        b.try_find("current-user").await.is_none(),
        "not signed in before the code"
    );
    b.find("code").await.send_keys(&first_code).await.unwrap();
    b.find("trust_browser").await.click().await.unwrap();
    b.find("verify-code").await.click().await.unwrap();
    assert_eq!(
        b.wait_for_id("current-user").await.text().await.unwrap(),
        email
    );
    let trust = b
        .cookie(TRUST_COOKIE)
        .await
        .expect("trusting the browser sets _sigra_mfa_trust");
    assert_eq!(
        trust.http_only(),
        Some(true),
        "the trust cookie is HttpOnly"
    );

    // Log out and in again: the trusted browser skips the second factor.
    b.goto("/").await;
    b.wait_for_id("log-out").await.click().await.unwrap();
    b.wait_for_css(r#"header a[href="/users/log-in"]"#).await;
    b.goto("/users/log-in").await;
    b.find("email").await.send_keys(email).await.unwrap();
    b.find("password").await.send_keys(password).await.unwrap();
    b.find("log-in").await.click().await.unwrap();
    let current = b.wait_for_id("current-user").await;
    assert_eq!(current.text().await.unwrap(), email);
    assert_ne!(
        b.path().await,
        "/users/mfa",
        "a trusted browser is not asked for a code"
    );
}

/// A WebDriver client plus the app's base URL, with waits that say what
/// they were waiting for.
struct Browser {
    client: Client,
    /// `http://127.0.0.1:PORT`, no trailing slash.
    base: String,
}

impl Browser {
    /// Navigates to `path` on the app (WebDriver waits for the page to load).
    async fn goto(&self, path: &str) {
        let url = format!("{}{path}", self.base);
        self.client
            .goto(&url)
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// The current URL's path.
    async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_owned()
    }

    /// The element with `id`, which must be on the page now.
    async fn find(&self, id: &str) -> Element {
        match self.client.find(Locator::Id(id)).await {
            Ok(element) => element,
            Err(e) => panic!("#{id} is not on {}: {e}", self.describe().await),
        }
    }

    /// The element with `id`, or `None` when the page has none.
    async fn try_find(&self, id: &str) -> Option<Element> {
        self.client.find(Locator::Id(id)).await.ok()
    }

    /// Polls until an element with `id` appears.
    async fn wait_for_id(&self, id: &str) -> Element {
        self.wait_for(Locator::Id(id), &format!("#{id}")).await
    }

    /// Polls until an element matching `css` appears.
    async fn wait_for_css(&self, css: &str) -> Element {
        self.wait_for(Locator::Css(css), css).await
    }

    async fn wait_for(&self, locator: Locator<'_>, what: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(WAIT)
            .every(POLL)
            .for_element(locator)
            .await
        {
            Ok(element) => element,
            Err(e) => panic!(
                "waited {WAIT:?} for {what}, but it did not appear on {}: {e}",
                self.describe().await
            ),
        }
    }

    /// The cookie called `name`, if the browser holds one for this site.
    async fn cookie(&self, name: &str) -> Option<Cookie<'static>> {
        self.client
            .get_all_cookies()
            .await
            .unwrap()
            .into_iter()
            .find(|c| c.name() == name)
    }

    /// The current URL and the start of the page, for failure messages.
    async fn describe(&self) -> String {
        let url = self
            .client
            .current_url()
            .await
            .map_or_else(|e| format!("<unknown URL: {e}>"), |u| u.to_string());
        let source = self.client.source().await.unwrap_or_default();
        let excerpt: String = source.chars().take(1500).collect();
        format!("{url}\n--- page source (start) ---\n{excerpt}\n---")
    }
}

/// The path of a browser tool: `$var` if set, else `default`. Fails (never
/// skips) when the file does not exist.
fn tool_path(var: &str, default: &str, name: &str) -> PathBuf {
    let path = std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from);
    assert!(
        path.is_file(),
        "{name} was not found at {} (set {var} to use another path).\n\
         The browser test needs Debian's Chromium and ChromeDriver and never skips.\n\
         How to fix: run `cargo xtask ci`, which installs them, or install them yourself with\n\
         `apt-get update && apt-get install -y chromium chromium-driver`.",
        path.display()
    );
    path
}

/// `target/browser/` in the workspace, created if needed.
fn artifacts_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/browser");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir.canonicalize().unwrap_or(dir)
}

/// Serves the demo app over `store` on 127.0.0.1:0; returns its base URL.
async fn serve_demo_app(store: &TestStore) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the demo app to 127.0.0.1:0");
    let addr = listener.local_addr().unwrap();
    let public_url = format!("http://{addr}");
    let config = Config::builder(Environment::Test)
        .public_url(&public_url)
        .build()
        .unwrap_or_else(|e| panic!("the test configuration is valid: {e}"));
    let auth = Auth::builder(config, store.store())
        .hasher(Arc::new(Argon2Hasher::for_tests()))
        .build()
        .expect("build Auth");
    let app = Sigra::new(auth).demo_app();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .expect("serve the demo app");
    });
    public_url
}

/// A `chromedriver` process on a free local port, killed on drop.
struct ChromeDriver {
    child: Child,
    url: String,
}

impl ChromeDriver {
    /// Starts `chromedriver` and waits until it accepts connections.
    async fn start(program: &Path, log: &Path) -> Self {
        let port = StdTcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("find a free port for chromedriver")
            .port();
        let child = Command::new(program)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "could not start {}: {e}\nHow to fix: run `cargo xtask ci`, which installs \
                     chromium and chromium-driver, or `apt-get install -y chromium chromium-driver`.",
                    program.display()
                )
            });
        let mut driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = driver.child.try_wait().unwrap() {
                panic!(
                    "{} exited with {status} before answering on port {port}; see {}",
                    program.display(),
                    log.display()
                );
            }
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return driver;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not answer on port {port} within {WAIT:?}; see {}",
                program.display(),
                log.display()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// A new headless Chromium session with a fresh profile in `profile`.
    async fn session(&self, chromium: &Path, profile: &Path) -> Client {
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| (*a).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let capabilities = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium, "args": args },
        });
        let capabilities: Capabilities = capabilities.as_object().cloned().unwrap();
        ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "could not start Chromium ({}) through chromedriver at {}: {e}\n\
                     How to fix: run `cargo xtask ci`, which installs chromium and chromium-driver, \
                     or `apt-get install -y chromium chromium-driver`.",
                    chromium.display(),
                    self.url
                )
            })
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
