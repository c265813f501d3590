//! Resolved, typed settings, one file per step. Every check on a value happens here,
//! before any step starts, so bad input never leaves anything half-done.

mod addons;
mod azure;
mod build;
mod deploy;
mod infra;
mod net;
mod publish;
mod refer;
mod scan;

pub use addons::{AddonSettings, AddonVersions};
pub use azure::{AzureSettings, Cloud};
pub use build::{BuildSettings, Builder, CacheTo, ImageName, SecretSource, SecretSpec};
pub use deploy::{
    Autoscaling, Cidr, Component, DeploySettings, DnsTarget, Hardening, IngressSources,
    ManifestSource, NsgTarget, ingress_controller_namespace, is_dns_label,
    is_key_vault_secret_name,
};
pub use infra::{DEFAULT_DEPLOYMENT, InfraSettings, Phase, phases as infra_phases};
pub use net::NetSettings;
pub use publish::PublishSettings;
pub use refer::{Infra, ReferSettings};
pub use scan::{ScanInput, ScanSettings, TrivySettings, severities};
