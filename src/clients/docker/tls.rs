//! TLS to a remote engine as the docker CLI does it: `DOCKER_TLS_VERIFY` set (any
//! value) means TLS with the server verified against `ca.pem` and our client
//! certificate `cert.pem`/`key.pem`, all three in `DOCKER_CERT_PATH` (default
//! `~/.docker`). That is how Docker-in-Docker services are reached (`tcp://docker:2376`).
//! The same files serve bollard's connection and our own (the BuildKit session).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The client side of the engine's TLS, as read from `DOCKER_CERT_PATH`.
#[derive(Clone)]
pub struct Tls {
    pub dir: PathBuf,
    pub config: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key stays out of any Debug output.
        f.debug_struct("Tls").field("dir", &self.dir).finish()
    }
}

impl PartialEq for Tls {
    fn eq(&self, other: &Self) -> bool {
        self.dir == other.dir && Arc::ptr_eq(&self.config, &other.config)
    }
}
impl Eq for Tls {}

/// Why the TLS files cannot be used (bad input: exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct TlsFileError {
    pub path: PathBuf,
    pub message: String,
}

fn file_error(path: &Path, message: impl Into<String>) -> TlsFileError {
    TlsFileError {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

impl Tls {
    /// Reads `ca.pem`, `cert.pem` and `key.pem` from `dir`.
    pub fn load(dir: &Path) -> Result<Tls, TlsFileError> {
        let read = |name: &str| -> Result<(PathBuf, Vec<u8>), TlsFileError> {
            let p = dir.join(name);
            use crate::fsx;
            fsx::read(&p, "TLS file", fsx::Follow::Yes, fsx::SMALL)
                .map(|b| (p.clone(), b))
                .map_err(|e| file_error(&p, format!("cannot be read ({e})")))
        };
        let (ca_path, ca) = read("ca.pem")?;
        let (cert_path, cert) = read("cert.pem")?;
        let (key_path, key) = read("key.pem")?;
        let certs =
            |path: &Path, pem: &[u8]| -> Result<Vec<CertificateDer<'static>>, TlsFileError> {
                let v = CertificateDer::pem_slice_iter(pem)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| file_error(path, format!("is not PEM certificates ({e})")))?;
                if v.is_empty() {
                    return Err(file_error(path, "holds no certificate"));
                }
                Ok(v)
            };
        let mut roots = rustls::RootCertStore::empty();
        for c in certs(&ca_path, &ca)? {
            roots
                .add(c)
                .map_err(|e| file_error(&ca_path, format!("is not a usable CA ({e})")))?;
        }
        let chain = certs(&cert_path, &cert)?;
        let key = PrivateKeyDer::from_pem_slice(&key)
            .map_err(|e| file_error(&key_path, format!("is not a PEM private key ({e})")))?;
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| file_error(&key_path, format!("does not match cert.pem ({e})")))?;
        Ok(Tls {
            dir: dir.to_path_buf(),
            config: Arc::new(config),
        })
    }
}

/// The engine's TLS settings from the environment, as the docker CLI reads them:
/// `None` without `DOCKER_TLS_VERIFY`.
pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    get("DOCKER_TLS_VERIFY").filter(|v| !v.is_empty())?;
    Some(
        get("DOCKER_CERT_PATH")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(get("HOME").unwrap_or_else(|| "/root".into())).join(".docker")
            }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With a second provider (ring) compiled in, rustls cannot pick one by itself and
    /// `builder()` panics unless something installed a default first: nothing does here.
    #[test]
    fn aws_lc_rs_is_the_only_crypto_provider() {
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        let suites = |p: &rustls::crypto::CryptoProvider| -> Vec<_> {
            p.cipher_suites.iter().map(|s| s.suite()).collect()
        };
        assert_eq!(
            suites(config.crypto_provider()),
            suites(&rustls::crypto::aws_lc_rs::default_provider())
        );
    }

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn tls_is_read_like_the_docker_cli() {
        assert_eq!(from_env(env(&[("DOCKER_CERT_PATH", "/c")])), None);
        assert_eq!(from_env(env(&[("DOCKER_TLS_VERIFY", "")])), None);
        assert_eq!(
            from_env(env(&[
                ("DOCKER_TLS_VERIFY", "1"),
                ("DOCKER_CERT_PATH", "/c")
            ])),
            Some(PathBuf::from("/c"))
        );
        assert_eq!(
            from_env(env(&[("DOCKER_TLS_VERIFY", "0"), ("HOME", "/home/ci")])),
            Some(PathBuf::from("/home/ci/.docker"))
        );
    }

    #[test]
    fn unusable_files_name_the_file() {
        let d = tempfile::tempdir().unwrap();
        let e = Tls::load(d.path()).unwrap_err();
        assert!(e.path.ends_with("ca.pem"), "{e}");
        std::fs::write(d.path().join("ca.pem"), "not pem").unwrap();
        std::fs::write(d.path().join("cert.pem"), "").unwrap();
        std::fs::write(d.path().join("key.pem"), "").unwrap();
        let e = Tls::load(d.path()).unwrap_err();
        assert!(
            e.to_string().contains("ca.pem: holds no certificate"),
            "{e}"
        );
        // The key never shows in Debug.
        assert!(!format!("{e:?}").contains("PRIVATE KEY"));
    }
}
