//! BuildKit through the real engine: build secrets mounted for one `RUN` and found
//! nowhere afterwards (logs, history, image), and the inline cache pushed to the
//! registry (token auth, Entra-exchanged ACR refresh token) and read back by a build
//! whose local cache is gone.

use std::path::Path;

use sha2::Digest;

use crate::build::{build_args, docker, outputs, run, shell_context, write};
use crate::support::acr_token_service::entra_token;
use crate::support::registry::{PUSHER, Registry, TENANT};

/// `sha256sum` and what it needs, next to the shell from [`shell_context`].
fn sha256sum_context(ctx: &Path) {
    let p = ctx.join("sh/usr/bin/sha256sum");
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::copy("/usr/bin/sha256sum", p).unwrap();
}

/// One file of an image, through `docker create` + `docker cp`.
fn file_in_image(image: &str, path: &str) -> String {
    let c = docker(&["create", image, "/x"]);
    assert!(c.status.success(), "{}", String::from_utf8_lossy(&c.stderr));
    let id = String::from_utf8_lossy(&c.stdout).trim().to_string();
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("f");
    let cp = docker(&["cp", &format!("{id}:{path}"), dst.to_str().unwrap()]);
    docker(&["rm", &id]);
    assert!(
        cp.status.success(),
        "{}",
        String::from_utf8_lossy(&cp.stderr)
    );
    std::fs::read_to_string(dst).unwrap()
}

fn hex_sha256(s: &str) -> String {
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn build_secrets_are_mounted_for_run_and_kept_nowhere() {
    let d = tempfile::tempdir().unwrap();
    let ctx = d.path().join("ctx");
    shell_context(
        &ctx,
        "FROM scratch\nCOPY sh/ /\nRUN --mount=type=secret,id=token --mount=type=secret,id=npm \\\n    sha256sum /run/secrets/token /run/secrets/npm > /proof && echo mounted-ok\n",
    );
    sha256sum_context(&ctx);
    let file_value = "planted-file-secret-7f3a9e";
    let env_value = "planted-env-secret-91bc04";
    std::fs::write(d.path().join("token.txt"), file_value).unwrap();
    let out = d.path().join("o.json");
    let image = "aks-backend-test/secrets:t1";
    let mut args = build_args(ctx.to_str().unwrap(), image, out.to_str().unwrap());
    args.extend([
        "--push",
        "false",
        "--secret",
        "id=token,src=token.txt",
        "--secret",
        "id=npm,env=NPM_TOKEN",
        "--secret",
        "id=unused,env=NPM_TOKEN",
    ]);
    let ws = d.path().to_str().unwrap();
    let r = run(
        &args,
        &[
            ("NPM_TOKEN", env_value),
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_WORKSPACE", ws),
        ],
        d.path(),
    )
    .await;
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("mounted-ok"), "{}", r.stdout);
    // The exact bytes were mounted...
    let proof = file_in_image(image, "/proof");
    assert!(proof.contains(&hex_sha256(file_value)), "{proof}");
    assert!(proof.contains(&hex_sha256(env_value)), "{proof}");
    // ...masked on the host the moment they were read, and nowhere else.
    assert!(r.stdout.contains(&format!("::add-mask::{file_value}")));
    assert!(r.stdout.contains(&format!("::add-mask::{env_value}")));
    let log: String = r
        .stdout
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect::<Vec<_>>()
        .join("\n")
        + &r.stderr;
    for v in [file_value, env_value] {
        assert!(!log.contains(v), "{v} leaked into the log");
    }
    let history = docker(&["history", "--no-trunc", image]);
    let inspect = docker(&["image", "inspect", image]);
    let saved = docker(&["save", image]);
    for v in [file_value, env_value] {
        for (what, bytes) in [
            ("history", &history.stdout),
            ("inspect", &inspect.stdout),
            ("image tar", &saved.stdout),
        ] {
            assert!(
                !bytes.windows(v.len()).any(|w| w == v.as_bytes()),
                "{v} is in the {what}"
            );
        }
    }
    // A secret no RUN asked for is pointed out (a typo in an id is the usual cause).
    assert!(
        r.stdout.contains("::warning") && r.stdout.contains("`unused` was given but no RUN"),
        "{}",
        r.stdout
    );
    assert_eq!(outputs(&out)["image"], "aks-backend-test/secrets");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_secrets_are_refused_before_anything_runs() {
    let d = tempfile::tempdir().unwrap();
    let ctx = d.path().join("ctx");
    write(&ctx, &[("Dockerfile", "FROM scratch\nCOPY Dockerfile /\n")]);
    std::fs::write(d.path().join("token.txt"), "x").unwrap();
    let out = d.path().join("o.json");
    let base = build_args(
        ctx.to_str().unwrap(),
        "aks-backend-test/badsecret",
        out.to_str().unwrap(),
    );
    for (extra, env, expect) in [
        (
            vec!["--secret", "id=token,src=missing.txt"],
            vec![],
            "missing.txt, which is not a file",
        ),
        (
            vec!["--secret", "id=npm,env=NOT_SET_HERE"],
            vec![],
            "$NOT_SET_HERE, which is not set",
        ),
        (
            vec!["--secret", "id=token,src=token.txt", "--builder", "classic"],
            vec![],
            "needs BuildKit, and --builder classic does not offer it",
        ),
        (
            vec!["--secret", "id=token,src=token.txt"],
            vec![("DOCKER_BUILDKIT", "0")],
            "needs BuildKit, and DOCKER_BUILDKIT=0 does not offer it",
        ),
        (
            vec![],
            vec![("DOCKER_BUILDKIT", "yes")],
            "DOCKER_BUILDKIT: \"yes\" is not a boolean",
        ),
        (
            vec!["--builder", "kaniko"],
            vec![],
            "`kaniko` is not a builder",
        ),
        (
            vec!["--cache-to", "type=registry,ref=r.io/x:cache"],
            vec![],
            "exports cache inline only",
        ),
        (
            vec![],
            vec![("INPUT_SECRET", "id=x,bogus=1")],
            "INPUT_SECRET",
        ),
    ] {
        let mut args = base.clone();
        args.extend(["--push", "false"]);
        args.extend(extra.iter().copied());
        let r = run(&args, &env, d.path()).await;
        assert_eq!(r.code, 2, "{extra:?}: {}", r.stderr);
        assert!(r.stderr.contains(expect), "{extra:?}: {}", r.stderr);
    }
    assert!(!out.exists(), "nothing may be half-done");
    let images = docker(&["image", "ls", "-q", "aks-backend-test/badsecret"]);
    assert!(String::from_utf8_lossy(&images.stdout).trim().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_cache_in_the_registry_is_used_by_the_next_build() {
    let reg = Registry::start().await;
    let d = tempfile::tempdir().unwrap();
    let ctx = d.path().join("ctx");
    shell_context(
        &ctx,
        "FROM scratch\nCOPY sh/ /\nRUN read u < /proc/sys/kernel/random/uuid && echo \"$u\" > /stamp\n",
    );
    let image = format!("{}/cache/app", reg.addr);
    let token = entra_token(TENANT, PUSHER);
    let build = |n: u32| {
        let (ctx, image, token) = (ctx.clone(), image.clone(), token.clone());
        let cwd = d.path().to_path_buf();
        async move {
            let out = cwd.join(format!("o{n}.json"));
            let mut args = build_args(ctx.to_str().unwrap(), &image, out.to_str().unwrap());
            args.extend(["--tag", "main"]);
            let r = run(&args, &[("AZURE_ACCESS_TOKEN", token.as_str())], &cwd).await;
            assert_eq!(
                r.code, 0,
                "build {n}\nstdout:\n{}\nstderr:\n{}",
                r.stdout, r.stderr
            );
            (r, outputs(&out))
        }
    };
    let (r1, o1) = build(1).await;
    assert!(r1.stderr.contains("BuildKit"), "{}", r1.stderr);
    let stamp1 = file_in_image(&format!("{image}:main"), "/stamp");

    // Forget everything local: the image and the engine's build cache.
    docker(&["rmi", "-f", &format!("{image}:main")]);
    let prune = docker(&["builder", "prune", "-af"]);
    assert!(
        prune.status.success(),
        "{}",
        String::from_utf8_lossy(&prune.stderr)
    );

    let (r2, o2) = build(2).await;
    let log2 = &r2.stderr;
    let vertex = log2
        .lines()
        .find(|l| l.contains("] RUN read u"))
        .and_then(|l| l.split(' ').next())
        .unwrap_or_else(|| panic!("no RUN step in:\n{log2}"));
    assert!(
        log2.lines().any(|l| l == format!("{vertex} CACHED")),
        "the RUN step was not taken from the registry cache:\n{log2}"
    );
    assert_eq!(file_in_image(&format!("{image}:main"), "/stamp"), stamp1);
    assert!(
        o1["digest"] != o2["digest"],
        "a new build (created label) was pushed"
    );
    // The cache import pulled with our credentials through the registry's token auth.
    let log = reg.tokens.log.lock().unwrap();
    assert!(
        log.tokens
            .iter()
            .filter(|(_, scope)| scope.contains("cache/app") && scope.contains("pull"))
            .count()
            >= 2,
        "{:?}",
        log.tokens
    );
    drop(log);
    assert_eq!(reg.tokens.violations(), Vec::<String>::new());
}

/// `DOCKER_HOST=tcp://...` (Docker-in-Docker in CI): the session upgrade and the build
/// both go over TCP. A loopback forwarder to the engine's socket stands in for dind and
/// counts the connections it carried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buildkit_with_secrets_over_a_tcp_docker_host() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let carried = Arc::new(AtomicUsize::new(0));
    let counter = carried.clone();
    let forwarder = tokio::spawn(async move {
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else {
                return;
            };
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                if let Ok(mut unix) = tokio::net::UnixStream::connect("/var/run/docker.sock").await
                {
                    let _ = tokio::io::copy_bidirectional(&mut tcp, &mut unix).await;
                }
            });
        }
    });
    let d = tempfile::tempdir().unwrap();
    let ctx = d.path().join("ctx");
    shell_context(
        &ctx,
        "FROM scratch\nCOPY sh/ /\nRUN --mount=type=secret,id=t { read v || true; } < /run/secrets/t && [ \"${#v}\" = 9 ] && echo tcp-secret-ok\n",
    );
    let out = d.path().join("o.json");
    let mut args = build_args(
        ctx.to_str().unwrap(),
        "aks-backend-test/tcp:t1",
        out.to_str().unwrap(),
    );
    args.extend(["--push", "false", "--secret", "id=t,env=T"]);
    let host = format!("tcp://127.0.0.1:{port}");
    let r = run(
        &args,
        &[("DOCKER_HOST", host.as_str()), ("T", "nine-char")],
        d.path(),
    )
    .await;
    forwarder.abort();
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("BuildKit") && r.stderr.contains("tcp-secret-ok"),
        "{}",
        r.stderr
    );
    // bollard's calls, the session, the build: all through the forwarder.
    assert!(
        carried.load(Ordering::SeqCst) >= 3,
        "{}",
        carried.load(Ordering::SeqCst)
    );
}

/// Files for an engine behind TLS (`dockerd --tlsverify`): a CA, the engine's
/// certificate for 127.0.0.1, and a client certificate, written as the docker CLI
/// expects them in `DOCKER_CERT_PATH`. Returns the server's rustls config (it demands a
/// client certificate from that CA).
fn tls_files(dir: &std::path::Path) -> std::sync::Arc<rustls::ServerConfig> {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa,
        KeyPair,
    };
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let leaf = |san: &str, usage: ExtendedKeyUsagePurpose| {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(vec![san.to_string()]).unwrap();
        p.extended_key_usages = vec![usage];
        (p.signed_by(&key, &ca).unwrap(), key)
    };
    let (server, server_key) = leaf("127.0.0.1", ExtendedKeyUsagePurpose::ServerAuth);
    let (client, client_key) = leaf("client", ExtendedKeyUsagePurpose::ClientAuth);
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), client.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), client_key.serialize_pem()).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder(std::sync::Arc::new(roots))
        .build()
        .unwrap();
    let config = rustls::ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![CertificateDer::from(server.der().to_vec())],
            PrivateKeyDer::from_pem_slice(server_key.serialize_pem().as_bytes()).unwrap(),
        )
        .unwrap();
    std::sync::Arc::new(config)
}

/// `DOCKER_HOST=tcp://...:2376` with `DOCKER_TLS_VERIFY=1` (Docker-in-Docker with TLS,
/// the default of the `docker:dind` image): bollard's calls, the BuildKit session and
/// the build all go over mutual TLS. A TLS terminator in front of the engine's socket
/// stands in for dind; it refuses clients without a certificate from the CA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builds_over_a_tls_docker_host_with_client_certificates() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let d = tempfile::tempdir().unwrap();
    let certs = d.path().join("certs");
    let server = tls_files(&certs);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (verified, refused) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (v, r) = (verified.clone(), refused.clone());
    let acceptor = tokio_rustls::TlsAcceptor::from(server);
    let terminator = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, v, r) = (acceptor.clone(), v.clone(), r.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    r.fetch_add(1, Ordering::SeqCst);
                    return;
                };
                v.fetch_add(1, Ordering::SeqCst);
                if let Ok(mut unix) = tokio::net::UnixStream::connect("/var/run/docker.sock").await
                {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut unix).await;
                }
            });
        }
    });
    let ctx = d.path().join("ctx");
    shell_context(
        &ctx,
        "FROM scratch\nCOPY sh/ /\nRUN --mount=type=secret,id=t { read v || true; } < /run/secrets/t && [ \"${#v}\" = 9 ] && echo tls-secret-ok\n",
    );
    let plain = d.path().join("plain");
    shell_context(
        &plain,
        "FROM scratch\nCOPY sh/ /\nRUN echo tls-classic-ok\n",
    );
    let out = d.path().join("o.json");
    let host = format!("tcp://127.0.0.1:{port}");
    let cert_path = certs.to_str().unwrap().to_string();
    let build = |builder: &'static str, env: Vec<(&'static str, String)>| {
        let dir = if builder == "buildkit" { &ctx } else { &plain };
        let mut args = build_args(
            dir.to_str().unwrap(),
            "aks-backend-test/tls:t1",
            out.to_str().unwrap(),
        );
        args.extend(["--push", "false", "--builder", builder]);
        if builder == "buildkit" {
            args.extend(["--secret", "id=t,env=T"]);
        }
        let mut env = env;
        env.push(("DOCKER_HOST", host.clone()));
        env.push(("T", "nine-char".into()));
        let cwd = d.path().to_path_buf();
        async move {
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            run(&args, &env, &cwd).await
        }
    };
    let tls_env = || {
        vec![
            ("DOCKER_TLS_VERIFY", "1".to_string()),
            ("DOCKER_CERT_PATH", cert_path.clone()),
        ]
    };
    let r = build("buildkit", tls_env()).await;
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("tls-secret-ok"), "{}", r.stderr);
    let through = verified.load(Ordering::SeqCst);
    assert!(through >= 3, "{through}");
    // The classic builder (bollard alone) over the same TLS.
    let r = build("classic", tls_env()).await;
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("tls-classic-ok"), "{}", r.stderr);
    assert!(verified.load(Ordering::SeqCst) > through);
    assert_eq!(refused.load(Ordering::SeqCst), 0);

    // Plain HTTP to the TLS port: refused by the engine's side, and the hint says why.
    let r = build("classic", vec![]).await;
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("DOCKER_TLS_VERIFY"), "{}", r.stderr);

    // Bad input, exit 2 before any connection: a missing key, TLS without verification,
    // TLS to a Unix socket.
    let before = verified.load(Ordering::SeqCst) + refused.load(Ordering::SeqCst);
    std::fs::rename(certs.join("key.pem"), certs.join("key.pem.away")).unwrap();
    let r = build("classic", tls_env()).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("key.pem") && r.stderr.contains("DOCKER_CERT_PATH"),
        "{}",
        r.stderr
    );
    let r = build("classic", vec![("DOCKER_TLS", "1".into())]).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("DOCKER_TLS_VERIFY"), "{}", r.stderr);
    assert_eq!(
        verified.load(Ordering::SeqCst) + refused.load(Ordering::SeqCst),
        before,
        "bad input reached the engine"
    );
    terminator.abort();
}
