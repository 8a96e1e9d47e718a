//! The tower [`SigraLayer`] and [`SigraService`]: the steps of the layer in
//! order, on the way in and on the way out.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::Request;
use sigra_core::cookie::{CookieKind, cookie_name};
use tower::{Layer, Service};

use super::client::Client;
use super::headers::secure_headers;
use super::{guard, response_cookies, session};
use crate::cookies;
use crate::sigra::Sigra;
use crate::state::RequestState;

impl Sigra {
    /// The layer that authenticates every request (wrap the whole app with it).
    pub fn layer(&self) -> SigraLayer {
        SigraLayer {
            sigra: self.clone(),
        }
    }
}

/// The tower layer; build it with [`Sigra::layer`].
#[derive(Debug, Clone)]
pub struct SigraLayer {
    sigra: Sigra,
}

impl<S> Layer<S> for SigraLayer {
    type Service = SigraService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        SigraService {
            inner,
            sigra: self.sigra.clone(),
        }
    }
}

/// The service [`SigraLayer`] wraps around an app.
#[derive(Debug, Clone)]
pub struct SigraService<S> {
    inner: S,
    sigra: Sigra,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S> Service<Request<Body>> for SigraService<S>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let sigra = self.sigra.clone();
        // The clone that was polled ready is the one that handles the request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let (request, state) = match prepare(&sigra, request).await {
                Ok(prepared) => prepared,
                Err(response) => return Ok(secure_headers(&sigra, response, true)),
            };
            let response = inner.call(request).await?;
            Ok(finish(&state, response))
        })
    }
}

/// The way in: loads the session, reads the client, checks a
/// state-changing request, and puts the shared state and the
/// [`CurrentScope`](crate::CurrentScope) into the request's extensions.
/// `Err` is the response to send instead of calling the app.
async fn prepare(
    sigra: &Sigra,
    request: Request<Body>,
) -> Result<(Request<Body>, Arc<RequestState>), Response> {
    let inner = session::load(sigra, request.headers())
        .await
        .map_err(IntoResponse::into_response)?;
    let scope = inner.scope.clone();
    let client = Client::read(&sigra.auth().config().endpoints.trusted_proxies, &request);
    let proto = client.forwarded_proto;
    let trust_name = cookie_name(sigra.auth().config(), CookieKind::MfaTrust);
    let trust_cookies = cookies::cookie_values(request.headers(), trust_name)
        .map(str::to_owned)
        .collect();
    let state = RequestState::new(
        sigra.clone(),
        client.meta,
        trust_cookies,
        proto == Some("https"),
        inner,
    );

    let mut request = if guard::is_state_changing(request.method()) {
        guard::check(sigra, &state, request, proto)
            .await
            .map_err(|rejection| finish(&state, rejection.into_response()))?
    } else {
        request
    };
    request.extensions_mut().insert(Arc::clone(&state));
    request.extensions_mut().insert(scope);
    Ok((request, state))
}

/// The way out: the cookies the request's changes call for, and the security headers.
fn finish(state: &RequestState, mut response: Response) -> Response {
    let personal = response_cookies::write(state, &mut response);
    secure_headers(&state.sigra, response, personal)
}
