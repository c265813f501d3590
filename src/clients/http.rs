//! The one HTTP room: every call to ARM, Entra, Key Vault, ACR, Azure DevOps and the
//! Trivy download goes through [`Http`], so every one of them has the same limits.
//!
//! - One `reqwest` client, built once, with connect and read timeouts.
//! - One deadline per call that retries never pass: `--http-timeout` from the first
//!   byte sent to the last byte of the answer read, and never later than the step's own
//!   deadline when the step gave one ([`Http::with_deadline`]). A server that accepts the
//!   connection and never answers fails the call with exit 3 naming the endpoint.
//! - A cap on the size of an answer ([`API_BODY_CAP`], [`DOWNLOAD_CAP`]): a bigger body is
//!   refused, never buffered.
//! - One retry policy ([`policy`], backon's exponential backoff with jitter): 429 always
//!   (the server did not do the work), 5xx and dropped connections only for idempotent
//!   methods and for the POSTs an API documents as safe to repeat ([`Retry::Safe`]: token
//!   endpoints), a `Retry-After` honoured when it still fits before the deadline. The kube
//!   client and the engine's push reuse the same policy.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder, Retryable};
use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use tokio::time::Instant;
use url::Url;

/// The largest API answer we read (ARM lists, Key Vault, tokens, PR threads).
pub const API_BODY_CAP: u64 = 32 * 1024 * 1024;
/// The largest download we read (the Trivy archive is ~50 MiB).
pub const DOWNLOAD_CAP: u64 = 512 * 1024 * 1024;
/// The longest `Retry-After` we wait for at once.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Timeouts, from the `http-*` settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// TCP + TLS connect.
    pub connect: Duration,
    /// The longest silence while reading an answer.
    pub read: Duration,
    /// One call, retries included.
    pub total: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connect: Duration::from_secs(10),
            read: Duration::from_secs(30),
            total: Duration::from_secs(300),
        }
    }
}

/// The first pause of the retry policy.
pub const MIN_DELAY: Duration = Duration::from_millis(500);
/// The longest pause of the retry policy (a `Retry-After` may ask for more, up to 60 s).
pub const MAX_DELAY: Duration = Duration::from_secs(30);
/// How many times a call is retried.
pub const RETRIES: usize = 4;

/// The retry policy every client shares: exponential backoff from [`MIN_DELAY`], at most
/// [`MAX_DELAY`] apart, with jitter, [`RETRIES`] retries.
pub fn policy() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(MIN_DELAY)
        .with_max_delay(MAX_DELAY)
        .with_factor(2.0)
        .with_max_times(RETRIES)
        .with_jitter()
}

/// May this request be sent again after the server failed (5xx) or the connection dropped?
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// By its method: GET, HEAD, PUT, DELETE and OPTIONS yes; POST and PATCH no.
    ByMethod,
    /// A POST the API documents as safe to repeat (OAuth token endpoints).
    Safe,
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{endpoint} did not answer within {} s", .after.as_secs())]
    Timeout { endpoint: String, after: Duration },
    #[error("cannot reach {endpoint}: {message}")]
    Transport { endpoint: String, message: String },
    #[error("the answer of {endpoint} is larger than the {} MiB we read; refused", .cap / (1024 * 1024))]
    TooLarge { endpoint: String, cap: u64 },
    #[error("cannot build the request to {endpoint}: {message}")]
    Request { endpoint: String, message: String },
}

impl HttpError {
    pub fn endpoint(&self) -> &str {
        match self {
            HttpError::Timeout { endpoint, .. }
            | HttpError::Transport { endpoint, .. }
            | HttpError::TooLarge { endpoint, .. }
            | HttpError::Request { endpoint, .. } => endpoint,
        }
    }

    /// What the user can do about it.
    pub fn hint(&self) -> String {
        match self {
            HttpError::Timeout { .. } => "the server accepted the request but did not answer in time; check the endpoint, or raise --http-timeout".into(),
            HttpError::TooLarge { .. } => "this is not the answer the API gives; check the endpoint".into(),
            _ => "check the endpoint and that the runner can reach it".into(),
        }
    }
}

/// A whole answer, read within the deadline and the cap.
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The URL that answered, without its query (safe to print).
    pub endpoint: String,
    pub body: Bytes,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

struct Inner {
    limits: OnceLock<Limits>,
    client: OnceLock<reqwest::Client>,
    /// Extra roots for the test suite's TLS mocks ([`TEST_CA_ENV`]); empty in real runs.
    test_roots: OnceLock<Vec<reqwest::Certificate>>,
}

/// Test-only, hidden: a PEM file of root certificates the HTTP room trusts besides the
/// built-in ones. The test suite serves its loopback Entra mock over TLS with a CA of
/// its own (`azure_identity` signs in over HTTPS only) and names it here. Not a setting
/// and not for real runs: a real endpoint has a publicly trusted certificate, and nothing
/// else about HTTPS is relaxed (no plain HTTP, no skipped verification).
pub const TEST_CA_ENV: &str = "AKS_BACKEND_TEST_CA_FILE";

/// The shared client; cheap to clone (clones share the one `reqwest` client).
#[derive(Clone)]
pub struct Http {
    inner: Arc<Inner>,
    deadline: Option<Instant>,
}

impl Default for Http {
    fn default() -> Self {
        Http::new()
    }
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("limits", &self.limits())
            .field("deadline", &self.deadline)
            .finish()
    }
}

impl Http {
    /// A room whose limits are set by [`Http::configure`] (or the defaults) before the
    /// client is built on first use.
    pub fn new() -> Self {
        Http {
            inner: Arc::new(Inner {
                limits: OnceLock::new(),
                client: OnceLock::new(),
                test_roots: OnceLock::new(),
            }),
            deadline: None,
        }
    }

    /// A room with these limits.
    pub fn with_limits(limits: Limits) -> Self {
        let h = Http::new();
        h.configure(limits);
        h
    }

    /// Sets the limits once, from the settings; later calls change nothing.
    pub fn configure(&self, limits: Limits) {
        let _ = self.inner.limits.set(limits);
    }

    /// Trusts the roots in `pem` too (the test suite's CA, see [`TEST_CA_ENV`]). Must
    /// come before the first call; later calls change nothing.
    pub fn trust_test_roots(&self, pem: &[u8]) -> Result<(), HttpError> {
        let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| HttpError::Request {
            endpoint: TEST_CA_ENV.into(),
            message: root_cause(&e),
        })?;
        let _ = self.inner.test_roots.set(certs);
        Ok(())
    }

    pub fn limits(&self) -> Limits {
        *self.inner.limits.get_or_init(Limits::default)
    }

    /// The same room, bounded by the step's deadline too.
    pub fn with_deadline(&self, deadline: Instant) -> Http {
        Http {
            inner: self.inner.clone(),
            deadline: Some(self.deadline.map_or(deadline, |d| d.min(deadline))),
        }
    }

    /// The `reqwest` client, for building requests (built once).
    pub fn client(&self) -> &reqwest::Client {
        self.inner.client.get_or_init(|| {
            let l = self.limits();
            let mut builder = reqwest::Client::builder()
                .user_agent(concat!("aks-backend/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(l.connect)
                .read_timeout(l.read);
            let roots = self.inner.test_roots.get_or_init(test_roots_from_env);
            for c in roots {
                builder = builder.add_root_certificate(c.clone());
            }
            let built = builder.build();
            // Building fails only when the TLS backend cannot start; without TLS, a
            // client that fails every call says so per call.
            built.unwrap_or_else(|e| {
                tracing::error!("the HTTP client cannot start TLS: {e}");
                reqwest::Client::new()
            })
        })
    }

    /// The deadline of a call starting now.
    fn deadline(&self) -> Instant {
        let total = Instant::now()
            .checked_add(self.limits().total)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400));
        self.deadline.map_or(total, |d| d.min(total))
    }

    /// Sends the request `build` makes (again for each retry), reads the answer within the
    /// API cap, and retries by the shared policy until the deadline.
    pub async fn send(
        &self,
        retry: Retry,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<Response, HttpError> {
        self.send_capped(retry, API_BODY_CAP, build).await
    }

    /// A download (GET) read within [`DOWNLOAD_CAP`].
    pub async fn download(&self, url: &str) -> Result<Response, HttpError> {
        self.send_capped(Retry::ByMethod, DOWNLOAD_CAP, |c| c.get(url))
            .await
    }

    /// [`Http::send`] with a given cap on the answer's size.
    pub async fn send_capped(
        &self,
        retry: Retry,
        cap: u64,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<Response, HttpError> {
        let started = Instant::now();
        let deadline = self.deadline();
        let (this, build) = (self, &build);
        let attempt = move || async move {
            let req = build(this.client()).build().map_err(|e| {
                Failed::Final(HttpError::Request {
                    endpoint: e.url().map(endpoint_of).unwrap_or_default(),
                    message: root_cause(&e),
                })
            })?;
            let endpoint = endpoint_of(req.url());
            let repeatable = retry == Retry::Safe || is_idempotent(req.method());
            let timeout = || HttpError::Timeout {
                endpoint: endpoint.clone(),
                after: started.elapsed(),
            };
            let one = async {
                let resp = this.client().execute(req).await.map_err(|e| {
                    // Refused before anything was sent: always safe to try again.
                    let again = repeatable || e.is_connect();
                    let err = HttpError::Transport {
                        endpoint: endpoint.clone(),
                        message: root_cause(&e),
                    };
                    if again {
                        Failed::Again(err, None)
                    } else {
                        Failed::Final(err)
                    }
                })?;
                read_capped(resp, cap, &endpoint, repeatable).await
            };
            let resp = match tokio::time::timeout_at(deadline, one).await {
                Ok(r) => r?,
                Err(_) => return Err(Failed::Final(timeout())),
            };
            match decide(resp.status, &resp.headers, repeatable) {
                Decision::Done => Ok(resp),
                Decision::Again(after) => Err(Failed::Status(Box::new(resp), after)),
            }
        };
        let result = attempt
            .retry(policy().build())
            .when(|f: &Failed| !matches!(f, Failed::Final(_)))
            .adjust(|f: &Failed, backoff: Option<Duration>| {
                let wait = wait_for(f.retry_after(), backoff)?;
                // Never past the deadline: give up with what we have instead.
                (Instant::now() + wait < deadline).then_some(wait)
            })
            .notify(|f: &Failed, wait: Duration| {
                tracing::debug!("{}; retrying in {wait:?}", f.describe());
            })
            .await;
        match result {
            Ok(r) => Ok(r),
            Err(Failed::Status(r, _)) => Ok(*r),
            Err(Failed::Again(e, _) | Failed::Final(e)) => Err(e),
        }
    }
}

/// The roots [`TEST_CA_ENV`] names, read when the client is built (the binary under
/// test); none when it is unset, which is every real run.
fn test_roots_from_env() -> Vec<reqwest::Certificate> {
    let Some(path) = std::env::var_os(TEST_CA_ENV) else {
        return Vec::new();
    };
    let path = std::path::PathBuf::from(path);
    let read = crate::fsx::read(&path, "test CA file", crate::fsx::Follow::Yes, 1024 * 1024);
    match read.map(|pem| reqwest::Certificate::from_pem_bundle(&pem)) {
        Ok(Ok(certs)) => certs,
        Ok(Err(e)) => {
            tracing::error!("{TEST_CA_ENV}: {}", root_cause(&e));
            Vec::new()
        }
        Err(e) => {
            tracing::error!("{TEST_CA_ENV}: {e}");
            Vec::new()
        }
    }
}

/// One attempt that did not end in a usable answer.
enum Failed {
    /// A retryable status; the answer is returned as it is when the retries end.
    Status(Box<Response>, Option<Duration>),
    /// A retryable transport failure.
    Again(HttpError, Option<Duration>),
    /// Not worth another try.
    Final(HttpError),
}

impl Failed {
    fn retry_after(&self) -> Option<Duration> {
        match self {
            Failed::Status(_, a) | Failed::Again(_, a) => *a,
            Failed::Final(_) => None,
        }
    }

    fn describe(&self) -> String {
        match self {
            Failed::Status(r, _) => format!("{} answered HTTP {}", r.endpoint, r.status),
            Failed::Again(e, _) | Failed::Final(e) => e.to_string(),
        }
    }
}

/// What to do with an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Done,
    /// Try again, after the server's `Retry-After` if it gave one.
    Again(Option<Duration>),
}

/// 429 is retried whatever the method (the server refused before doing anything); 5xx
/// only when the request may be repeated. 501 and 505 will not change by retrying.
pub fn decide(status: StatusCode, headers: &HeaderMap, repeatable: bool) -> Decision {
    let again = status == StatusCode::TOO_MANY_REQUESTS
        || (repeatable
            && status.is_server_error()
            && status != StatusCode::NOT_IMPLEMENTED
            && status != StatusCode::HTTP_VERSION_NOT_SUPPORTED);
    if again {
        Decision::Again(retry_after(headers))
    } else {
        Decision::Done
    }
}

/// The pause before the next try: the server's `Retry-After` (capped) when it gave one,
/// else the backoff; `None` when the policy has no retries left.
pub fn wait_for(retry_after: Option<Duration>, backoff: Option<Duration>) -> Option<Duration> {
    let backoff = backoff?;
    Some(retry_after.map_or(backoff, |a| a.min(MAX_RETRY_AFTER)))
}

/// `Retry-After`: seconds, or an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get("retry-after")?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = jiff::fmt::rfc2822::parse(v).ok()?.timestamp();
    let left = when
        .as_second()
        .saturating_sub(jiff::Timestamp::now().as_second());
    Some(Duration::from_secs(u64::try_from(left).unwrap_or(0)))
}

pub fn is_idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
    )
}

/// Reads the whole body, refusing it as soon as it passes `cap`.
async fn read_capped(
    mut resp: reqwest::Response,
    cap: u64,
    endpoint: &str,
    repeatable: bool,
) -> Result<Response, Failed> {
    let too_large = || {
        Failed::Final(HttpError::TooLarge {
            endpoint: endpoint.to_string(),
            cap,
        })
    };
    if resp.content_length().is_some_and(|n| n > cap) {
        return Err(too_large());
    }
    let status = resp.status();
    let headers = resp.headers().clone();
    let mut body = bytes::BytesMut::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if (body.len() + chunk.len()) as u64 > cap {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => {
                let err = HttpError::Transport {
                    endpoint: endpoint.to_string(),
                    message: root_cause(&e),
                };
                return Err(if repeatable {
                    Failed::Again(err, None)
                } else {
                    Failed::Final(err)
                });
            }
        }
    }
    Ok(Response {
        status,
        headers,
        endpoint: endpoint.to_string(),
        body: body.freeze(),
    })
}

/// A URL as errors show it: no query (it may carry a token or a SAS).
pub fn endpoint_of(u: &Url) -> String {
    let mut u = u.clone();
    u.set_query(None);
    u.set_fragment(None);
    let _ = u.set_password(None);
    let _ = u.set_username("");
    u.to_string()
}

/// An error and its causes on one line (reqwest hides the interesting part in `source`).
pub fn root_cause(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let s_text = s.to_string();
        if !msg.contains(&s_text) {
            msg = format!("{msg}: {s_text}");
        }
        src = s.source();
    }
    msg
}

/// Is `host` a loopback address? Parsed as an IP address (`127.evil.example` is a name,
/// not loopback), or `localhost`.
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn a_throttled_answer_is_retried_after_its_retry_after() {
        let h = headers(&[("retry-after", "7")]);
        let d = decide(StatusCode::TOO_MANY_REQUESTS, &h, false);
        assert_eq!(d, Decision::Again(Some(Duration::from_secs(7))));
        assert_eq!(
            wait_for(
                Some(Duration::from_secs(7)),
                Some(Duration::from_millis(500))
            ),
            Some(Duration::from_secs(7))
        );
        // Capped, and only while the policy has retries left.
        assert_eq!(
            wait_for(
                Some(Duration::from_secs(3600)),
                Some(Duration::from_secs(1))
            ),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(wait_for(Some(Duration::from_secs(1)), None), None);
        assert_eq!(
            wait_for(None, Some(Duration::from_millis(800))),
            Some(Duration::from_millis(800))
        );
    }

    #[test]
    fn server_errors_are_retried_only_for_repeatable_requests() {
        let none = HeaderMap::new();
        assert_eq!(
            decide(StatusCode::SERVICE_UNAVAILABLE, &none, true),
            Decision::Again(None)
        );
        assert_eq!(
            decide(StatusCode::INTERNAL_SERVER_ERROR, &none, false),
            Decision::Done
        );
        assert_eq!(
            decide(StatusCode::NOT_IMPLEMENTED, &none, true),
            Decision::Done
        );
        assert_eq!(decide(StatusCode::FORBIDDEN, &none, true), Decision::Done);
        assert!(is_idempotent(&Method::PUT) && !is_idempotent(&Method::POST));
        assert!(!is_idempotent(&Method::PATCH));
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(
            retry_after(&headers(&[("retry-after", " 12 ")])),
            Some(Duration::from_secs(12))
        );
        assert_eq!(
            retry_after(&headers(&[(
                "retry-after",
                "Wed, 21 Oct 2015 07:28:00 GMT"
            )])),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")])), None);
    }

    #[test]
    fn the_policy_has_jitter_and_a_bound() {
        let delays: Vec<Duration> = policy().build().collect();
        assert_eq!(delays.len(), 4);
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(60)));
    }

    #[test]
    fn loopback_is_an_address_not_a_prefix() {
        assert!(is_loopback_host("127.0.0.1"));
        assert!(is_loopback_host("127.3.2.1"));
        assert!(is_loopback_host("[::1]"));
        assert!(is_loopback_host("localhost"));
        assert!(!is_loopback_host("127.evil.example"));
        assert!(!is_loopback_host("localhost.evil.example"));
        assert!(!is_loopback_host("10.0.0.1"));
    }

    #[test]
    fn endpoints_are_printed_without_query_or_credentials() {
        let u = Url::parse("https://u:p@example.com/a?sig=secret").unwrap();
        assert_eq!(endpoint_of(&u), "https://example.com/a");
    }
}
