//! TLS in front of a loopback mock. `azure_identity` reaches Entra only over HTTPS
//! (azure_identity 1.0.0, `src/lib.rs:148`), so the Entra mock is served behind a TLS
//! front whose certificate is signed by a CA made for this test process. The binary
//! under test trusts that CA through the hidden, test-only `AKS_BACKEND_TEST_CA_FILE`
//! (`clients::http::TEST_CA_ENV`); in-process tests through [`http`]. Nothing about the
//! product's HTTPS is relaxed: certificates are verified as for any real endpoint.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use aks_backend::clients::http::{Http, TEST_CA_ENV};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};

pub struct TestCa {
    /// The CA certificate, PEM.
    pub pem: String,
    /// The same, in a file (for the binary's environment).
    pub file: PathBuf,
    acceptor: tokio_rustls::TlsAcceptor,
}

/// The test process's CA and a server certificate for `127.0.0.1` and `localhost`.
pub fn ca() -> &'static TestCa {
    static CA: OnceLock<TestCa> = OnceLock::new();
    CA.get_or_init(|| {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "aks-backend test CA");
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        ca_params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        ca_params.not_after = rcgen::date_time_ymd(2090, 1, 1);
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();

        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
                .unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "loopback mock");
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2090, 1, 1);
        let leaf = params.signed_by(&key, &ca).unwrap();

        let pem = ca.pem();
        let file = std::env::temp_dir().join(format!(
            "aks-backend-test-ca-{}-{}.pem",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::write(&file, &pem).unwrap();

        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(leaf.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .unwrap();
        TestCa {
            pem,
            file,
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        }
    })
}

/// `(AKS_BACKEND_TEST_CA_FILE, the CA file)`, for the binary's environment.
pub fn env() -> (String, String) {
    (TEST_CA_ENV.to_string(), ca().file.display().to_string())
}

/// An HTTP room that trusts the test CA (in-process tests).
pub fn http() -> Http {
    let h = Http::new();
    h.trust_test_roots(ca().pem.as_bytes()).unwrap();
    h
}

/// Serves TLS on a new loopback port and relays each connection, decrypted, to `plain`
/// (`host:port` of a plain-HTTP mock). Returns `https://127.0.0.1:PORT`.
pub async fn front(plain: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let plain = plain.to_string();
    let acceptor = ca().acceptor.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, plain) = (acceptor.clone(), plain.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut upstream) = TcpStream::connect(&plain).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
            });
        }
    });
    url
}
