//! `azure_identity`'s HTTP goes through our HTTP room: [`RoomTransport`] is the
//! `azure_core` transport (`ClientOptions::transport`) of every credential we build, so
//! Entra calls get the room's deadline, size cap and one retry policy (the pipeline's own
//! retries are off: `RetryOptions::none()`), and the TLS roots the room trusts.
//!
//! `azure_core`'s error can carry a transport failure only as text; the room's typed
//! [`HttpError`] (which names the endpoint and says "did not answer within") is kept
//! beside it and taken back by the caller ([`RoomTransport::take_failure`]).

use std::sync::{Arc, Mutex};

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::error::ErrorKind;
use azure_core::http::headers::{HeaderName, HeaderValue, Headers};
use azure_core::http::{
    AsyncRawResponse, Body, ClientOptions, HttpClient, Request, RetryOptions, Transport,
};
use url::Url;

use crate::clients::http::{Http, HttpError, Retry};

/// Our HTTP room as an `azure_core` transport.
#[derive(Clone)]
pub struct RoomTransport {
    http: Http,
    failure: Arc<Mutex<Option<HttpError>>>,
}

impl std::fmt::Debug for RoomTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomTransport").finish_non_exhaustive()
    }
}

impl RoomTransport {
    pub fn new(http: &Http) -> Self {
        RoomTransport {
            http: http.clone(),
            failure: Default::default(),
        }
    }

    /// The options of a credential that talks to `authority_host` through this room.
    pub fn client_options(&self, authority_host: &Url) -> ClientOptions {
        let mut cloud = CustomConfiguration::default();
        cloud.authority_host = authority_host.as_str().trim_end_matches('/').to_string();
        ClientOptions {
            transport: Some(Transport::new(Arc::new(self.clone()))),
            // The room retries (429, 5xx on token endpoints, dropped connections).
            retry: RetryOptions::none(),
            cloud: Some(Arc::new(CloudConfiguration::Custom(cloud))),
            ..Default::default()
        }
    }

    /// The room's own error for the last call that failed in transport, if any.
    pub fn take_failure(&self) -> Option<HttpError> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}

#[async_trait::async_trait]
impl HttpClient for RoomTransport {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let method = reqwest::Method::from_bytes(request.method().as_ref().as_bytes())
            .map_err(|e| azure_core::Error::with_message(ErrorKind::Other, e.to_string()))?;
        let url = request.url().clone();
        let headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.as_str().to_string()))
            .collect();
        let body = match request.body() {
            Body::Bytes(b) => b.clone(),
            // A streaming body (SeekableStream): no token request sends one.
            _ => {
                return Err(azure_core::Error::with_message(
                    ErrorKind::Other,
                    "streamed request bodies are not sent by sign-in",
                ));
            }
        };
        // Token endpoints (Entra's, IMDS) are documented as safe to repeat.
        let sent = self
            .http
            .send(Retry::Safe, |c| {
                let mut r = c.request(method.clone(), url.clone());
                for (k, v) in &headers {
                    r = r.header(k.as_str(), v.as_str());
                }
                r.body(body.clone())
            })
            .await;
        match sent {
            Ok(resp) => {
                let mut h = Headers::new();
                for (k, v) in &resp.headers {
                    if let Ok(v) = v.to_str() {
                        h.insert(
                            HeaderName::from(k.as_str().to_string()),
                            HeaderValue::from(v.to_string()),
                        );
                    }
                }
                Ok(AsyncRawResponse::from_bytes(
                    resp.status.as_u16().into(),
                    h,
                    resp.body,
                ))
            }
            Err(e) => {
                let message = e.to_string();
                *self.failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                Err(azure_core::Error::with_message(ErrorKind::Io, message))
            }
        }
    }
}
