//! Settings for `infra`'s cluster phase: what cert-manager, External Secrets, the Let's
//! Encrypt issuers and the Key Vault store need to know (identities, zone, vault, email,
//! versions), checked here so nothing is applied with a value the cluster would refuse.

use crate::inputs::key;
use std::path::PathBuf;
use std::time::Duration;

use crate::env::Env;
use crate::inputs::{InputError, Resolved, parse};

/// The chart versions to install (pinned; a change is an upgrade).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AddonVersions {
    /// `v1.21.1` style (cert-manager's OCI chart tags carry the `v`).
    pub cert_manager: String,
    /// `2.9.0` style.
    pub external_secrets: String,
    /// `sha256:…` the cert-manager chart archive must have (Flux HelmChart
    /// `status.artifact.digest`); none: the digest seen is reported, not checked.
    pub cert_manager_digest: Option<String>,
    pub external_secrets_digest: Option<String>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct AddonSettings {
    pub acme_email: String,
    pub http01: bool,
    pub wildcard: bool,
    pub wildcard_dns_record: bool,
    pub zone: String,
    pub zone_resource_group: String,
    pub subscription_id: String,
    pub tenant_id: Option<String>,
    pub eso_client_id: String,
    pub cert_manager_client_id: String,
    pub key_vault_uri: String,
    pub versions: AddonVersions,
    pub gateway_ip: Option<std::net::Ipv4Addr>,
    pub kubeconfig: Option<PathBuf>,
    pub timeout: Duration,
    pub dry_run: bool,
    /// Sign-in for the wildcard DNS record (only with `--wildcard-dns-record`).
    pub azure: Option<super::AzureSettings>,
}

const TIMEOUT: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(24 * 3600));

fn input_of(r: &Resolved, name: impl Into<key::Key>) -> String {
    let name: key::Key = name.into();
    r.one(name)
        .map(|(_, i)| i)
        .unwrap_or_else(|| format!("--{name}"))
}

fn required(r: &Resolved, name: impl Into<key::Key>, hint: &str) -> Result<String, InputError> {
    let name: key::Key = name.into();
    r.string(name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| InputError::Missing(format!("infra needs --{name}"), hint.into()))
}

fn is_guid(v: &str) -> bool {
    let parts: Vec<&str> = v.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

fn guid(r: &Resolved, name: impl Into<key::Key>, hint: &str) -> Result<String, InputError> {
    let name: key::Key = name.into();
    let v = required(r, name, hint)?;
    if !is_guid(&v) {
        return Err(InputError::invalid(
            input_of(r, name),
            format!("`{v}` is not a client ID"),
            "a GUID like 11111111-2222-3333-4444-555555555555",
        ));
    }
    Ok(v)
}

/// A chart version: digits and dots, optionally a leading `v` and a pre-release suffix.
fn version(r: &Resolved, name: key::Defaulted, leading_v: bool) -> Result<String, InputError> {
    let (v, input) = r.value(name);
    let core = v.strip_prefix('v').unwrap_or(v);
    let numbers = core.split(['-', '+']).next().unwrap_or("");
    let ok = numbers.split('.').count() == 3
        && numbers
            .split('.')
            .all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        && core
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-+".contains(c))
        && v.starts_with('v') == leading_v;
    if !ok {
        return Err(InputError::invalid(
            input,
            format!("`{v}` is not a pinned chart version"),
            if leading_v {
                "an exact version with a leading v, like v1.21.1"
            } else {
                "an exact version without a leading v, like 2.9.0"
            },
        ));
    }
    Ok(v.to_string())
}

/// An optional chart digest: `sha256:` and 64 lowercase hex digits (what source-controller
/// reports in a HelmChart's `status.artifact.digest`).
fn digest(r: &Resolved, name: key::Key) -> Result<Option<String>, InputError> {
    let Some(v) = r.string(name).map(|v| v.trim().to_string()) else {
        return Ok(None);
    };
    if v.is_empty() {
        return Ok(None);
    }
    let hex = v.strip_prefix("sha256:").unwrap_or("");
    if hex.len() != 64
        || !hex
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    {
        return Err(InputError::invalid(
            input_of(r, name),
            format!("`{v}` is not a chart digest"),
            "sha256: and 64 lowercase hex digits, as infra prints for the chart it saw \
             (the HelmChart's status.artifact.digest)",
        ));
    }
    Ok(Some(v))
}

/// `https://NAME.vault.azure.net` (any sovereign cloud's vault suffix is accepted).
fn key_vault_uri(r: &Resolved) -> Result<String, InputError> {
    if let Some(u) = r.string(key::KEY_VAULT_URI) {
        let u = u.trim().trim_end_matches('/').to_string();
        let ok = url::Url::parse(&u)
            .ok()
            .is_some_and(|p| p.scheme() == "https" && p.host_str().is_some() && p.path() == "/");
        if !ok {
            return Err(InputError::invalid(
                input_of(r, key::KEY_VAULT_URI),
                format!("`{u}` is not a Key Vault URI"),
                "https://NAME.vault.azure.net (infra's output key-vault-uri)",
            ));
        }
        return Ok(u);
    }
    if let Some(name) = r.string(key::KEY_VAULT_NAME) {
        let ok = (3..=24).contains(&name.len())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && name.starts_with(|c: char| c.is_ascii_alphabetic());
        if !ok {
            return Err(InputError::invalid(
                input_of(r, key::KEY_VAULT_NAME),
                format!("`{name}` is not a Key Vault name"),
                "3-24 letters, digits and hyphens, starting with a letter",
            ));
        }
        return Ok(format!("https://{name}.vault.azure.net"));
    }
    Err(InputError::Missing(
        "infra needs the Key Vault for the ClusterSecretStore".into(),
        "give --key-vault-uri (infra's ARM output key-vault-uri) or --key-vault-name".into(),
    ))
}

impl AddonSettings {
    /// The cluster phase on its own: everything the ARM phase would have made is given.
    pub fn resolve(r: &Resolved, env: &Env) -> Result<Self, InputError> {
        Self::resolve_with(r, env, false)
    }

    /// The cluster phase after infra's ARM phase in the same run: the identities' client
    /// IDs, the vault, the gateway IP and the cluster come from the deployment (see
    /// [`AddonSettings::fill_from_arm`]); what the user gives is still checked up front,
    /// so a bad value stops infra before anything is deployed.
    pub fn resolve_after_arm(r: &Resolved, env: &Env) -> Result<Self, InputError> {
        Self::resolve_with(r, env, true)
    }

    /// Takes the ARM deployment's outputs (names as `infra` publishes them) for what
    /// the user did not give.
    pub fn fill_from_arm(&mut self, outputs: &[(String, String)]) {
        let get = |k: &str| {
            outputs
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };
        let fill = |slot: &mut String, k: &str| {
            if slot.is_empty()
                && let Some(v) = get(k)
            {
                *slot = v;
            }
        };
        fill(&mut self.eso_client_id, "eso-client-id");
        fill(&mut self.cert_manager_client_id, "cert-manager-client-id");
        fill(&mut self.key_vault_uri, "key-vault-uri");
        self.key_vault_uri = self.key_vault_uri.trim_end_matches('/').to_string();
        if self.gateway_ip.is_none() {
            self.gateway_ip = get("gateway-public-ip").and_then(|v| v.parse().ok());
        }
    }

    fn resolve_with(r: &Resolved, env: &Env, after_arm: bool) -> Result<Self, InputError> {
        let arm = "infra's ARM phase outputs it";
        let acme_email = required(
            r,
            key::ACME_EMAIL,
            "Let's Encrypt mails expiry and policy notices to it: give --acme-email you@example.com",
        )?;
        let at = acme_email.split_once('@');
        if !at.is_some_and(|(user, domain)| {
            !user.is_empty() && domain.contains('.') && !domain.starts_with('.')
        }) || acme_email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(InputError::invalid(
                input_of(r, key::ACME_EMAIL),
                format!("`{acme_email}` is not an email address"),
                "an address like ops@example.com",
            ));
        }
        let zone = required(
            r,
            key::DNS_ZONE,
            "the Azure DNS zone DNS-01 answers in, e.g. example.com",
        )?
        .trim_end_matches('.')
        .to_ascii_lowercase();
        if !zone.contains('.')
            || !zone.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
        {
            return Err(InputError::invalid(
                input_of(r, key::DNS_ZONE),
                format!("`{zone}` is not a DNS zone name"),
                "a zone like example.com",
            ));
        }
        // After the ARM phase, the zone's group defaults to infra's resource group.
        let zone_resource_group = match r.string(key::RESOURCE_GROUP) {
            Some(rg) if after_arm && r.string(key::DNS_ZONE_RESOURCE_GROUP).is_none() => rg,
            _ => required(
                r,
                key::DNS_ZONE_RESOURCE_GROUP,
                "the resource group that holds the DNS zone",
            )?,
        };
        let subscription_id = guid(
            r,
            key::SUBSCRIPTION_ID,
            "the subscription that holds the DNS zone",
        )?;
        let tenant_id = r.string(key::TENANT_ID);
        let from_arm = |name: key::Key| after_arm && r.string(name).is_none();
        let eso_client_id = if from_arm(key::ESO_CLIENT_ID) {
            String::new()
        } else {
            guid(r, key::ESO_CLIENT_ID, arm)?
        };
        let cert_manager_client_id = if from_arm(key::CERT_MANAGER_CLIENT_ID) {
            String::new()
        } else {
            guid(r, key::CERT_MANAGER_CLIENT_ID, arm)?
        };
        let key_vault_uri = if from_arm(key::KEY_VAULT_URI) && from_arm(key::KEY_VAULT_NAME) {
            String::new()
        } else {
            key_vault_uri(r)?
        };
        let versions = AddonVersions {
            cert_manager: version(r, key::CERT_MANAGER_VERSION, true)?,
            external_secrets: version(r, key::EXTERNAL_SECRETS_VERSION, false)?,
            cert_manager_digest: digest(r, key::CERT_MANAGER_CHART_DIGEST)?,
            external_secrets_digest: digest(r, key::EXTERNAL_SECRETS_CHART_DIGEST)?,
        };
        let wildcard = r.bool(key::WILDCARD)?;
        let wildcard_dns_record = r.bool(key::WILDCARD_DNS_RECORD)?;
        if wildcard_dns_record && !wildcard {
            return Err(InputError::Conflict(
                "--wildcard-dns-record needs --wildcard true".into(),
                "the *.ZONE record is for hosts served by the wildcard certificate: add --wildcard true".into(),
            ));
        }
        let gateway_ip = match r.one(key::GATEWAY_PUBLIC_IP) {
            None => None,
            Some((v, i)) => Some(v.trim().parse().map_err(|_| {
                InputError::invalid(
                    i,
                    format!("`{v}` is not an IPv4 address"),
                    "an address like 20.50.60.70",
                )
            })?),
        };
        if wildcard_dns_record && gateway_ip.is_none() && !after_arm {
            return Err(InputError::Missing(
                "--wildcard-dns-record needs the gateway's public IP".into(),
                "give --gateway-public-ip (infra's ARM output gateway-public-ip)".into(),
            ));
        }
        let timeout = {
            let (v, i) = r.value(key::TIMEOUT);
            parse::duration_in(&i, v, TIMEOUT.0, TIMEOUT.1)?
        };
        let kubeconfig = r.path(env, key::KUBECONFIG).or_else(|| {
            env.get("KUBECONFIG")
                .and_then(|k| k.split(':').find(|p| !p.is_empty()))
                .map(|p| env.resolve_path(p))
        });
        let dry_run = r.bool(key::DRY_RUN)?;
        // After the ARM phase, the cluster's own kubeconfig is used.
        if !dry_run && !after_arm {
            match &kubeconfig {
                Some(p) if p.is_file() => {}
                Some(p) => {
                    return Err(InputError::invalid(
                        input_of(r, key::KUBECONFIG),
                        format!("{} is not a file", p.display()),
                        "the AKS cluster's kubeconfig",
                    ));
                }
                None => {
                    return Err(InputError::Missing(
                        "no kubeconfig".into(),
                        "give --kubeconfig PATH or set KUBECONFIG".into(),
                    ));
                }
            }
        }
        let azure = if wildcard_dns_record {
            Some(super::AzureSettings::resolve(r, env)?)
        } else {
            None
        };
        Ok(AddonSettings {
            azure,
            acme_email,
            http01: r.bool(key::HTTP01)?,
            wildcard,
            wildcard_dns_record,
            zone,
            zone_resource_group,
            subscription_id,
            tenant_id,
            eso_client_id,
            cert_manager_client_id,
            key_vault_uri,
            versions,
            gateway_ip,
            kubeconfig,
            timeout,
            dry_run,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_are_guids() {
        assert!(is_guid("11111111-2222-3333-4444-555555555555"));
        assert!(!is_guid("11111111-2222-3333-4444-55555555555"));
        assert!(!is_guid("not-a-guid"));
    }
}
