//! The fake Kubernetes API server (`scripts/fake-cluster`) for a test: started with a
//! small time scale, its kubeconfig path read from the first stdout line, its control
//! API (`/_fake/...`) reachable, and killed when dropped. Also Debian's kubectl against
//! it, and a way to run `aks-backend deploy` with a scrubbed environment.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

pub struct FakeCluster {
    child: Child,
    pub kubeconfig: PathBuf,
    /// `127.0.0.1:PORT`.
    pub address: String,
    pub dir: tempfile::TempDir,
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

impl FakeCluster {
    pub fn start(time_scale: f64) -> Self {
        Self::start_with(time_scale, &[])
    }

    /// Started with more launcher options (`--bare`: a cluster as the ARM phase leaves
    /// it, with the Flux extension and no cert-manager or External Secrets).
    pub fn start_with(time_scale: f64, options: &[&str]) -> Self {
        let mut child = Command::new(repo_root().join("scripts/fake-cluster"))
            .args(["--time-scale", &time_scale.to_string()])
            .args(options)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect(
                "scripts/fake-cluster starts (needs python3 and PyYAML: scripts/setup-test-tools)",
            );
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let kubeconfig = PathBuf::from(line.trim());
        assert!(kubeconfig.is_file(), "fake-cluster printed {line:?}");
        let text = std::fs::read_to_string(&kubeconfig).unwrap();
        let server = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("server: "))
            .expect("the kubeconfig names a server");
        let address = server.trim_start_matches("http://").to_string();
        FakeCluster {
            child,
            kubeconfig,
            address,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// One plain HTTP request to the fake; the JSON answer.
    pub fn http(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut s = std::net::TcpStream::connect(&self.address).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Authorization: Bearer fake-token\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.address,
            body.len()
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let (_, body) = out.split_once("\r\n\r\n").expect("an HTTP answer");
        serde_json::from_str(body).unwrap_or(Value::String(body.to_string()))
    }

    pub fn fault(&self, spec: Value) {
        self.http("POST", "/_fake/faults", Some(&spec));
    }

    pub fn state(&self) -> Value {
        self.http("GET", "/_fake/state", None)
    }

    /// Stored objects of `kind` (e.g. `deployments.apps`, `pods`) in `namespace`.
    pub fn objects(&self, plural_group: &str, namespace: &str) -> Vec<Value> {
        let (plural, group) = plural_group.split_once('.').unwrap_or((plural_group, ""));
        let path = if group.is_empty() {
            format!("/api/v1/namespaces/{namespace}/{plural}")
        } else {
            let version = if group == "autoscaling" { "v2" } else { "v1" };
            format!("/apis/{group}/{version}/namespaces/{namespace}/{plural}")
        };
        self.http("GET", &path, None)["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Requests the cluster served for the Kubernetes API (control calls excluded).
    pub fn requests(&self) -> Vec<Value> {
        self.state()["requests"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The number the next request will get: pass it to [`Self::requests_since`].
    pub fn next_request(&self) -> u64 {
        self.state()["nextRequest"].as_u64().unwrap_or(0)
    }

    /// The requests that began at or after `next_request`'s mark, whenever they ended
    /// (a watch of an earlier process is recorded when it closes, later than it began).
    pub fn requests_since(&self, mark: u64) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| r["started"].as_u64().is_some_and(|n| n >= mark))
            .collect()
    }

    pub fn kubectl(&self, args: &[&str]) -> Output {
        Command::new(kubectl())
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self.dir.path())
            .output()
            .expect("kubectl runs")
    }

    /// `kubectl ...` with `stdin`.
    pub fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new(kubectl())
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// `aks-backend deploy --kubeconfig ... ARGS` in a scrubbed environment.
    pub fn deploy(&self, args: &[&str]) -> Deployed {
        deploy_with(Some(&self.kubeconfig), self.dir.path(), args)
    }

    /// Removes the CustomResourceDefinition `name` (e.g. `certificates.cert-manager.io`):
    /// its type is no longer served, as when the operator was never installed.
    pub fn delete_crd(&self, name: &str) {
        self.http(
            "DELETE",
            &format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"),
            None,
        );
    }
}

impl Drop for FakeCluster {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Debian's kubectl: `$KUBECTL`, else where `scripts/setup-test-tools` unpacks it.
pub fn kubectl() -> PathBuf {
    let p = std::env::var("KUBECTL")
        .map(PathBuf::from)
        .unwrap_or_else(|_| super::tools::tools_dir().join("debian-kubectl/usr/bin/kubectl"));
    assert!(
        p.is_file(),
        "kubectl is missing at {}: run `eval \"$(scripts/setup-test-tools)\"`",
        p.display()
    );
    p
}

pub struct Deployed {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// The `--outputs-file` JSON.
    pub outputs: Value,
}

impl Deployed {
    pub fn report(&self) -> Value {
        serde_json::from_str(self.outputs["deploy-report"].as_str().unwrap_or("null"))
            .unwrap_or(Value::Null)
    }

    /// The first workload's report.
    pub fn workload(&self) -> Value {
        self.report()["workloads"][0].clone()
    }
}

impl std::fmt::Debug for Deployed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

pub fn deploy_with(kubeconfig: Option<&Path>, dir: &Path, args: &[&str]) -> Deployed {
    step_with("deploy", kubeconfig, dir, args)
}

/// `aks-backend STEP --kubeconfig ... ARGS` in a scrubbed environment.
pub fn step_with(step: &str, kubeconfig: Option<&Path>, dir: &Path, args: &[&str]) -> Deployed {
    let outputs = dir.join(format!("outputs-{}.json", uuid::Uuid::new_v4()));
    let mut cmd = Command::new(super::tools::bin());
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        // A short settle window keeps the suite fast; flags still override it, and the
        // tests of the window set it themselves.
        .env("INPUT_SETTLE_SECONDS", "1")
        .env("INPUT_MIN_READY_SECONDS", "0")
        .current_dir(dir)
        .arg(step)
        .args(["--outputs-file", outputs.to_str().unwrap()]);
    if let Some(k) = kubeconfig {
        cmd.args(["--kubeconfig", k.to_str().unwrap()]);
    }
    let out = cmd.args(args).output().expect("aks-backend runs");
    Deployed {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        outputs: std::fs::read_to_string(&outputs)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(Value::Null),
    }
}
