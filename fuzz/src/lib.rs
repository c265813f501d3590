//! The fuzz targets' bodies: each feeds outside text to the real parser of the library.
//!
//! The `fuzz_targets/` binaries call these under libFuzzer (nightly, `cargo fuzz run`);
//! `tests/it/fuzz_corpus.rs` includes this file and replays every committed seed on
//! stable, so CI checks the corpus without fuzzing. A body must never panic: any panic
//! is a bug in the parser it reaches.

use std::collections::BTreeMap;
use std::path::Path;

use aks_backend::env::Env;
use aks_backend::inputs::{ConfigFile, Flags, Resolved, Step, catalog, settings};
use aks_backend::secret::Secret;

/// A target's body.
pub type Body = fn(&[u8]);

/// Every target, by the name of its `fuzz_targets/` file and `corpus/` folder.
pub const TARGETS: &[(&str, Body)] = &[
    ("trivy_report", trivy_report),
    ("trivyignore", trivyignore),
    ("dockerignore", dockerignore),
    ("image_ref", image_ref),
    ("settings", settings_value),
    ("config_file", config_file),
    ("www_authenticate", www_authenticate),
    ("jwt_claims", jwt_claims),
    ("kubeconfig", kubeconfig),
    ("docker_config", docker_config),
];

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// A Trivy JSON report, then everything derived from it (gate, SARIF, summary).
pub fn trivy_report(data: &[u8]) {
    use aks_backend::clients::trivy::results;
    use aks_backend::model::gate::GatePolicy;
    use aks_backend::render::{sarif, scan_summary};
    let Ok(r) = results::parse(Path::new("report.json"), data) else {
        return;
    };
    let policy = GatePolicy {
        severities: ["HIGH", "CRITICAL"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect(),
        ignore_unfixed: false,
        fail_on_findings: true,
        ignores: Default::default(),
        today: "2026-01-01".parse().unwrap(),
    };
    let gate = policy.evaluate(&r);
    let ctx = sarif::SarifContext {
        artifact: &r.artifact_name,
        category: None,
        tool_version: "0",
        trivy_version: None,
        ignore_file: ".trivyignore",
    };
    let _ = sarif::render(&r, &policy, &ctx, 100, std::io::sink());
    let _ = scan_summary::render(
        &r,
        &policy,
        &gate,
        &scan_summary::SummaryContext {
            artifact: &r.artifact_name,
            sarif_path: "out.sarif",
            top: 10,
            sarif_omitted: 0,
        },
    );
}

/// `.trivyignore`, then a lookup of every ID it names.
pub fn trivyignore(data: &[u8]) {
    use aks_backend::model::ignore::IgnoreList;
    let Some(t) = text(data) else { return };
    if let Ok(l) = IgnoreList::parse(Path::new(".trivyignore"), t) {
        for id in t.split_whitespace().take(50) {
            let _ = l.check(id, "2026-01-01".parse().unwrap());
        }
    }
}

/// `.dockerignore`: patterns, then matching paths taken from the same text.
pub fn dockerignore(data: &[u8]) {
    use aks_backend::clients::docker::ignore::{Matcher, clean, parse_dockerignore};
    let Some(t) = text(data) else { return };
    let patterns = parse_dockerignore(t);
    if let Ok(m) = Matcher::new(&patterns) {
        for p in ["Dockerfile", "a/b/c.txt", ".git/HEAD", "src/main.rs"]
            .into_iter()
            .chain(t.lines().take(20))
        {
            let _ = m.excluded(&clean(p));
        }
    }
}

/// An image reference.
pub fn image_ref(data: &[u8]) {
    use aks_backend::model::image_ref::ImageRef;
    let Some(t) = text(data) else { return };
    if let Ok(r) = ImageRef::parse(t) {
        let _ = r.canonical_repository();
        let again = r.pinned();
        let _ = ImageRef::parse(&again);
    }
}

fn env() -> Env {
    Env::from_pairs(
        Vec::<(String, String)>::new(),
        "/nonexistent/aks-backend-fuzz",
    )
}

/// Flags that get each step past "missing input", so the fuzzed value is reached.
fn baseline(step: Step) -> Flags {
    let digest = format!("r.example.io/api@sha256:{}", "a".repeat(64));
    let mut f: Flags = BTreeMap::new();
    let mut set = |k: &str, v: &str| {
        f.insert(k.to_string(), vec![v.to_string()]);
    };
    match step {
        Step::Infra => {
            set("acme-email", "ops@example.org");
            set("dns-zone", "example.org");
            set("dns-zone-resource-group", "rg");
            set("subscription-id", "00000000-0000-0000-0000-000000000001");
            set("eso-client-id", "00000000-0000-0000-0000-000000000002");
            set(
                "cert-manager-client-id",
                "00000000-0000-0000-0000-000000000003",
            );
            set("key-vault-name", "kv-example");
            set("dry-run", "true");
            set("resource-group", "rg");
            set("name-prefix", "shop");
        }
        Step::Refer => {
            set("subscription-id", "00000000-0000-0000-0000-000000000001");
            set("resource-group", "rg");
        }
        Step::Build => set("image", "r.example.io/api"),
        Step::Scan | Step::Deploy => set("image", &digest),
    }
    f
}

fn resolve_all(step: Step, r: &Resolved, env: &Env) {
    let _ = match step {
        Step::Infra => settings::InfraSettings::resolve(r, env)
            .map(drop)
            .and_then(|()| settings::AddonSettings::resolve_after_arm(r, env).map(drop))
            .and_then(|()| settings::AddonSettings::resolve(r, env).map(drop)),
        Step::Refer => settings::ReferSettings::resolve(r, env).map(drop),
        Step::Build => settings::BuildSettings::resolve(r, env).map(drop),
        Step::Scan => settings::ScanSettings::resolve(r, env).map(drop),
        Step::Deploy => settings::DeploySettings::resolve(r, env).map(drop),
    };
}

/// One setting's value (durations, quantities, CIDRs, lists, components...): the first
/// line names the setting, the rest is its value (one value per line), resolved as
/// every step that has it would.
pub fn settings_value(data: &[u8]) {
    let Some(t) = text(data) else { return };
    let (name, value) = t.split_once('\n').unwrap_or((t, ""));
    let Some(spec) = catalog::find(name.trim()) else {
        return;
    };
    let env = env();
    for &step in spec.steps {
        let mut flags = baseline(step);
        flags.insert(
            spec.name.to_string(),
            value.split('\n').map(String::from).collect(),
        );
        let r = Resolved::resolve(step, &flags, &env, None, None);
        resolve_all(step, &r, &env);
    }
}

/// `aks-backend.toml`, then every step's settings resolved from it.
pub fn config_file(data: &[u8]) {
    let Some(t) = text(data) else { return };
    let Ok(cfg) = ConfigFile::parse(Path::new("aks-backend.toml"), t) else {
        return;
    };
    let env = env();
    for step in Step::ALL {
        let r = Resolved::resolve(step, &baseline(step), &env, Some(&cfg), None);
        resolve_all(step, &r, &env);
    }
}

/// A registry's `WWW-Authenticate` header.
pub fn www_authenticate(data: &[u8]) {
    use aks_backend::clients::acr::Challenge;
    let Some(t) = text(data) else { return };
    if let Some(c) = Challenge::parse(t) {
        let _ = c.exchange_url();
    }
}

/// A JWT's claims, read without verification (Entra tokens, OIDC assertions).
pub fn jwt_claims(data: &[u8]) {
    let Some(t) = text(data) else { return };
    let s = Secret::new(t);
    let _ = aks_backend::clients::acr::tenant_of(&s);
    let _ = aks_backend::clients::azure::credential::claims(&s);
}

/// A kubeconfig: as `kube` reads it for deploy, and as refer inspects and rewrites it.
pub fn kubeconfig(data: &[u8]) {
    use aks_backend::clients::azure::aks;
    let Some(t) = text(data) else { return };
    let _ = aks_backend::clients::kube::parse_kubeconfig(Path::new("kubeconfig"), t);
    let s = aks::decode_kubeconfig(&Secret::new(t));
    let _ = aks::inspect(&s);
    let _ = aks::with_token(&s, &Secret::new("token"));
}

/// `~/.docker/config.json`, looked up for a few registries.
pub fn docker_config(data: &[u8]) {
    use aks_backend::clients::docker::config;
    let Some(t) = text(data) else { return };
    for registry in ["r.example.io", "docker.io", "localhost:5000"] {
        let _ = config::parse(Path::new("config.json"), t, registry);
    }
}
