//! Debian's `docker-registry` (distribution 2.8) on loopback with `auth: token:`, its
//! realm/issuer/service pointing at the [`TokenService`]: the real engine pushes to it
//! with real tokens that the real registry verifies.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::acr_token_service::{ISSUER, TokenService};

pub struct Registry {
    /// `127.0.0.1:PORT` (also the token service's `service`).
    pub addr: String,
    pub tokens: TokenService,
    pub dir: tempfile::TempDir,
    child: Option<Child>,
}

pub const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
pub const PUSHER: &str = "11111111-2222-3333-4444-555555555555";
pub const READER: &str = "99999999-8888-7777-6666-555555555555";

fn binary() -> PathBuf {
    super::tools::which("docker-registry").unwrap_or_else(|| {
        panic!("docker-registry is missing: run `scripts/setup-test-tools` (apt-get install docker-registry)")
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Registry {
    /// A registry whose token service accepts Entra tokens of [`TENANT`] and grants
    /// AcrPush to [`PUSHER`] only.
    pub async fn start() -> Registry {
        Registry::start_trusting(TENANT, &[PUSHER]).await
    }

    /// A registry whose token service accepts Entra tokens of `tenant` and grants AcrPush
    /// to `pushers` (e.g. the identity the Entra mock signs in).
    pub async fn start_trusting(tenant: &str, pushers: &[&str]) -> Registry {
        let addr = format!("127.0.0.1:{}", free_port());
        let tokens = TokenService::start(&addr, tenant, pushers).await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("root.pem"), &tokens.cert_pem).unwrap();
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {root}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\nauth:\n  token:\n    realm: {realm}/oauth2/token\n    service: {addr}\n    issuer: {ISSUER}\n    rootcertbundle: {cert}\n",
            root = dir.path().join("data").display(),
            realm = tokens.url,
            cert = dir.path().join("root.pem").display(),
        );
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let mut r = Registry {
            addr,
            tokens,
            dir,
            child: None,
        };
        r.restart();
        r
    }

    /// (Re)starts the registry process on the same port and storage.
    pub fn restart(&mut self) {
        self.stop();
        let log = std::fs::File::create(self.dir.path().join("registry.log")).unwrap();
        let child = Command::new(binary())
            .arg("serve")
            .arg(self.dir.path().join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("docker-registry starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(&self.addr).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "docker-registry did not listen on {}: {}",
            self.addr,
            self.log()
        );
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// The pid, so a background thread can stop it mid-push.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}
