//! A TCP proxy a test can cut: the network between one node and its database.
//!
//! [`TcpProxy::start`] forwards every connection to `upstream`.
//! [`TcpProxy::cut`] drops every open connection and refuses new ones (they
//! are accepted and closed at once) until [`TcpProxy::restore`], which is
//! what a node sees when its database link fails.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// A cuttable TCP forwarder on `127.0.0.1:0`; stops when dropped.
#[derive(Debug)]
pub struct TcpProxy {
    addr: SocketAddr,
    state: Arc<State>,
    accept: AbortHandle,
}

#[derive(Debug, Default)]
struct State {
    cut: AtomicBool,
    links: Mutex<Vec<AbortHandle>>,
}

impl TcpProxy {
    /// Starts forwarding to `upstream`.
    ///
    /// # Panics
    ///
    /// When it cannot listen.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let state = Arc::new(State::default());
        let shared = state.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if shared.cut.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let link = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                let mut links = shared.links.lock().unwrap_or_else(|e| e.into_inner());
                links.retain(|l| !l.is_finished());
                links.push(link.abort_handle());
            }
        })
        .abort_handle();
        Self {
            addr,
            state,
            accept,
        }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `url` (`scheme://user@host:port/db?…`) with its host and port replaced by the proxy's.
    pub fn url_through(&self, url: &str) -> String {
        let start = url.find("://").map_or(0, |i| i + 3);
        let rest = &url[start..];
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        let host_start = authority.rfind('@').map_or(0, |i| i + 1);
        format!(
            "{}{}{}{}",
            &url[..start],
            &authority[..host_start],
            self.addr,
            &rest[authority_end..]
        )
    }

    /// Drops every open connection and refuses new ones.
    pub fn cut(&self) {
        self.state.cut.store(true, Ordering::SeqCst);
        let links =
            std::mem::take(&mut *self.state.links.lock().unwrap_or_else(|e| e.into_inner()));
        for link in links {
            link.abort();
        }
    }

    /// Forwards new connections again.
    pub fn restore(&self) {
        self.state.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn urls_go_through_the_proxy() {
        let proxy = TcpProxy::start("127.0.0.1:9".parse().unwrap()).await;
        let port = proxy.addr().port();
        assert_eq!(
            proxy.url_through("postgres://postgres@127.0.0.1:5432/sigra_t_1?sslmode=disable"),
            format!("postgres://postgres@127.0.0.1:{port}/sigra_t_1?sslmode=disable")
        );
        assert_eq!(
            proxy.url_through("postgres://h:5432/x"),
            format!("postgres://127.0.0.1:{port}/x")
        );
    }
}
