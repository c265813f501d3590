//! The infra step's settings: what the shared infrastructure is called, where it lives
//! and how big it is. Every value is checked here (exit 2 naming the input); the
//! names derived from `name-prefix` are checked against Azure's rules in the plan.

use crate::inputs::key;
use std::path::PathBuf;

use super::AzureSettings;
use super::deploy::Cidr;
use super::refer::group_name;
use crate::env::Env;
use crate::inputs::{InputError, Resolved};

/// The ARM deployment name when `deployment-name` is not given.
pub const DEFAULT_DEPLOYMENT: &str = "aks-backend-infra";

/// The parts of infra: the ARM deployment, then the installs in the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Arm,
    Cluster,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct InfraSettings {
    pub azure: AzureSettings,
    /// `None` only with `--dry-run`: then the plan is printed without Azure.
    pub subscription_id: Option<String>,
    pub resource_group: String,
    pub name_prefix: String,
    pub location: String,
    pub zone: String,
    pub node_count: u32,
    pub node_vm_size: String,
    pub kubernetes_version: Option<String>,
    pub allow_cidrs: Vec<String>,
    pub mysql_allow_cidrs: Vec<String>,
    pub mysql_allow_azure_services: bool,
    pub mysql_sku: String,
    pub mysql_admin_user: String,
    pub log_retention_days: u32,
    pub dns_zone: String,
    pub dns_zone_resource_group: String,
    pub tags: Vec<(String, String)>,
    pub deployment_name: String,
    pub template_out: Option<PathBuf>,
    pub phases: Vec<Phase>,
    pub outputs_file: Option<PathBuf>,
    pub dry_run: bool,
}

fn number(r: &Resolved, name: key::Defaulted, min: u32, max: u32) -> Result<u32, InputError> {
    let (v, input) = r.value(name);
    v.parse::<u32>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            InputError::invalid(
                input,
                format!("`{v}` is out of range"),
                format!("a whole number from {min} to {max}"),
            )
        })
}

fn missing(what: &str, setting: &str) -> InputError {
    InputError::Missing(
        format!("infra needs {what}"),
        format!("pass --{setting} (input `{setting}`)"),
    )
}

/// Letters, digits, `_`, `-`: VM sizes, SKUs, regions, logins.
fn word(r: &Resolved, name: key::Defaulted, expected: &str) -> Result<String, InputError> {
    let (v, input) = r.value(name);
    let ok = !v.is_empty()
        && v.len() <= 64
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(v.to_string())
    } else {
        Err(InputError::invalid(
            input,
            format!("`{v}` is not valid"),
            expected,
        ))
    }
}

fn cidrs(r: &Resolved, name: impl Into<key::Key>) -> Result<Vec<String>, InputError> {
    let name: key::Key = name.into();
    let Some(v) = r.get(name) else {
        return Ok(vec![]);
    };
    let input = v.origin.describe(name.name());
    v.values
        .iter()
        .map(|c| {
            Cidr::parse(c).map(|c| c.0).ok_or_else(|| {
                InputError::invalid(
                    &input,
                    format!("`{c}` is not a CIDR"),
                    "IPv4 or IPv6 addresses or CIDRs like 203.0.113.0/24 (host bits zero)",
                )
            })
        })
        .collect()
}

/// `infra-phases`: which parts of infra run, in order (arm before cluster).
pub fn phases(r: &Resolved) -> Result<Vec<Phase>, InputError> {
    let mut phases = Vec::new();
    if let Some(v) = r.get(key::INFRA_PHASES) {
        let input = v.origin.describe("infra-phases");
        for p in &v.values {
            let phase = match p.to_ascii_lowercase().as_str() {
                "arm" => Phase::Arm,
                "cluster" => Phase::Cluster,
                _ => {
                    return Err(InputError::invalid(
                        &input,
                        format!("`{p}` is not a phase of infra"),
                        "a comma-separated list of arm, cluster",
                    ));
                }
            };
            if !phases.contains(&phase) {
                phases.push(phase);
            }
        }
    }
    phases.sort();
    Ok(phases)
}

impl InfraSettings {
    pub fn resolve(r: &Resolved, env: &Env) -> Result<Self, InputError> {
        let azure = AzureSettings::resolve(r, env)?;
        let dry_run = r.bool(key::DRY_RUN)?;
        let subscription_id = azure.subscription_id.clone();
        if subscription_id.is_none() && !dry_run {
            return Err(InputError::Missing(
                "infra needs the subscription (only --dry-run works without one)".into(),
                "pass --subscription-id (input `subscription-id`)".into(),
            ));
        }
        let resource_group = match r.one(key::RESOURCE_GROUP) {
            Some((v, input)) => group_name(&input, v)?,
            None => {
                return Err(missing(
                    "the resource group to create it in",
                    "resource-group",
                ));
            }
        };
        let name_prefix = match r.one(key::NAME_PREFIX) {
            Some((v, input)) => {
                let ok = (3..=10).contains(&v.len())
                    && v.starts_with(|c: char| c.is_ascii_lowercase())
                    && v.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
                if !ok {
                    return Err(InputError::invalid(
                        input,
                        format!("`{v}` cannot start every resource name"),
                        "3-10 lowercase letters and digits, starting with a letter (ACR and Key Vault names allow no more)",
                    ));
                }
                v.to_string()
            }
            None => return Err(missing("a name prefix for its resources", "name-prefix")),
        };
        let dns_zone = match r.one(key::DNS_ZONE) {
            Some((v, input)) => {
                let z = v.trim_end_matches('.').to_ascii_lowercase();
                if !z.contains('.') || !z.split('.').all(super::is_dns_label) {
                    return Err(InputError::invalid(
                        input,
                        format!("`{v}` is not a DNS zone name"),
                        "an existing Azure DNS zone like example.com",
                    ));
                }
                z
            }
            None => {
                return Err(missing(
                    "the existing DNS zone (it is never created)",
                    "dns-zone",
                ));
            }
        };
        let dns_zone_resource_group = match r.one(key::DNS_ZONE_RESOURCE_GROUP) {
            Some((v, input)) => group_name(&input, v)?,
            None => resource_group.clone(),
        };
        let mut tags = Vec::new();
        if let Some(v) = r.get(key::DISCOVERY_TAGS) {
            let input = v.origin.describe("discovery-tags");
            for t in &v.values {
                match t.split_once('=') {
                    Some((k, val)) if !k.trim().is_empty() && k.len() <= 512 => {
                        tags.push((k.trim().to_string(), val.trim().to_string()))
                    }
                    _ => {
                        return Err(InputError::invalid(
                            &input,
                            format!("`{t}` is not K=V"),
                            "tags as K=V, one per line",
                        ));
                    }
                }
            }
        }
        let deployment_name = match r.one(key::DEPLOYMENT_NAME) {
            None => DEFAULT_DEPLOYMENT.to_string(),
            Some((v, input)) => {
                let ok = (1..=64).contains(&v.len())
                    && v.chars()
                        .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')'));
                if !ok {
                    return Err(InputError::invalid(
                        input,
                        format!("`{v}` is not an ARM deployment name"),
                        "1-64 letters, digits, `-`, `_`, `.`, `(`, `)`",
                    ));
                }
                v.to_string()
            }
        };
        let kubernetes_version = match r.one(key::KUBERNETES_VERSION) {
            None => None,
            Some((v, input)) => {
                let parts: Vec<&str> = v.split('.').collect();
                let ok = (2..=3).contains(&parts.len())
                    && parts
                        .iter()
                        .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
                if !ok {
                    return Err(InputError::invalid(
                        input,
                        format!("`{v}` is not a Kubernetes version"),
                        "MAJOR.MINOR or MAJOR.MINOR.PATCH, e.g. 1.33",
                    ));
                }
                Some(v.to_string())
            }
        };
        let mysql_admin_user = {
            let (v, input) = r.value(key::MYSQL_ADMIN_USER);
            let reserved = [
                "admin",
                "administrator",
                "root",
                "sa",
                "guest",
                "public",
                "azure_superuser",
                "azure_pg_admin",
            ];
            let ok = (1..=32).contains(&v.len())
                && v.starts_with(|c: char| c.is_ascii_alphabetic())
                && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !reserved.contains(&v.to_ascii_lowercase().as_str());
            if !ok {
                return Err(InputError::invalid(
                    input,
                    format!("`{v}` cannot be the MySQL administrator login"),
                    "1-32 letters, digits and `_`, starting with a letter, not admin, root, sa or another reserved name",
                ));
            }
            v.to_string()
        };
        let phases = phases(r)?;
        Ok(InfraSettings {
            azure,
            subscription_id,
            resource_group,
            name_prefix,
            location: word(r, key::LOCATION, "an Azure region name like japaneast")?
                .to_ascii_lowercase(),
            zone: {
                let (v, input) = r.value(key::ZONE);
                if !matches!(v, "1" | "2" | "3") {
                    return Err(InputError::invalid(
                        input,
                        format!("`{v}` is not an availability zone"),
                        "1, 2 or 3",
                    ));
                }
                v.to_string()
            },
            node_count: number(r, key::NODE_COUNT, 1, 80)?,
            node_vm_size: word(r, key::NODE_VM_SIZE, "a VM size like Standard_D2s_v5")?,
            kubernetes_version,
            allow_cidrs: cidrs(r, key::ALLOW_CIDR)?,
            mysql_allow_cidrs: cidrs(r, key::MYSQL_ALLOW_CIDR)?,
            mysql_allow_azure_services: r.bool(key::MYSQL_ALLOW_AZURE_SERVICES)?,
            mysql_sku: word(
                r,
                key::MYSQL_SKU,
                "a MySQL flexible server SKU like Standard_B1ms",
            )?,
            mysql_admin_user,
            log_retention_days: number(r, key::LOG_RETENTION_DAYS, 30, 730)?,
            dns_zone,
            dns_zone_resource_group,
            tags,
            deployment_name,
            template_out: r.path(env, key::TEMPLATE_OUT),
            phases,
            outputs_file: r.path(env, key::OUTPUTS_FILE),
            dry_run,
        })
    }
}
