//! A TLS-only `redis-server` of the test's own, with a CA the test makes (rcgen, ring).
//!
//! Used by the rate-limiter suite (`rediss://` with and without
//! SIGRA_REDIS_CA_FILE) and by `sigra doctor`'s tests. The server is Debian's
//! `redis-server` (built with TLS), started on 127.0.0.1 with `--port 0` and
//! a free `--tls-port`, and killed when the [`TlsRedis`] is dropped.

use std::fs;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `redis-server` that speaks only TLS, on a free port, with a server
/// certificate for 127.0.0.1 signed by a CA made for the test; killed on drop.
pub struct TlsRedis {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl TlsRedis {
    /// Makes the CA and certificate, starts the server and waits until it answers.
    pub async fn start() -> Self {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let dir = tempfile::Builder::new()
            .prefix("sigra-redis-tls-")
            .tempdir()
            .unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "sigra test CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let server_key = KeyPair::generate().unwrap();
        let server_params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        let server_cert = server_params.signed_by(&server_key, &issuer).unwrap();
        fs::write(dir.path().join("ca.pem"), ca_cert.pem()).unwrap();
        fs::write(dir.path().join("server.pem"), server_cert.pem()).unwrap();
        fs::write(dir.path().join("server.key"), server_key.serialize_pem()).unwrap();

        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args(["--port", "0", "--tls-port", &port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no", "--tls-auth-clients", "no"])
            .arg("--tls-cert-file")
            .arg(dir.path().join("server.pem"))
            .arg("--tls-key-file")
            .arg(dir.path().join("server.key"))
            .arg("--tls-ca-cert-file")
            .arg(dir.path().join("ca.pem"))
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run `redis-server` ({e}); the TLS tests start their own Redis.\n\
                     How to fix: install it (`apt-get install redis-server`; `.ci/run` does this)."
                )
            });
        let redis = Self { child, port, dir };
        redis.wait_until_up().await;
        redis
    }

    /// `rediss://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.port)
    }

    /// The PEM file of the test CA (what SIGRA_REDIS_CA_FILE names).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A client of our own that trusts the test CA.
    pub fn raw(&self) -> ::redis::Client {
        ::redis::Client::build_with_tls(
            self.url(),
            ::redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(fs::read(self.ca_file()).unwrap()),
            },
        )
        .unwrap()
    }

    async fn wait_until_up(&self) {
        let what = format!(
            "the test's TLS redis-server on port {} (is it built with TLS? Debian's is)",
            self.port
        );
        wait_for_ping(&self.raw(), &what).await;
    }
}

/// Waits until `client`'s server answers `PING`, at most 5 s; panics naming `what`.
pub async fn wait_for_ping(client: &::redis::Client, what: &str) {
    for _ in 0..100 {
        if let Ok(mut conn) = client.get_multiplexed_async_connection().await
            && ::redis::cmd("PING")
                .query_async::<()>(&mut conn)
                .await
                .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not come up in 5 s");
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl std::fmt::Debug for TlsRedis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsRedis")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}
