//! Sign-in settings shared by every step that talks to Azure (refer, build, deploy):
//! embed [`AzureSettings`] and call [`AzureSettings::resolve`].

use url::Url;

use crate::env::Env;
use crate::inputs::{InputError, Resolved};
use crate::model::sign_in::{AuthType, SignIn};
use crate::secret::Secret;

#[derive(Clone, Debug, serde::Serialize)]
pub struct AzureSettings {
    pub cloud: Cloud,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub subscription_id: Option<String>,
    pub authority_host: Url,
    pub arm_endpoint: Url,
    pub managed_identity_endpoint: Url,
    pub auth: AuthType,
    pub client_secret: Option<Secret>,
    pub service_connection_id: Option<String>,
    pub audience: String,
}

/// What the credential chain needs of these settings.
impl From<&AzureSettings> for SignIn {
    fn from(s: &AzureSettings) -> SignIn {
        SignIn {
            auth: s.auth,
            tenant_id: s.tenant_id.clone(),
            client_id: s.client_id.clone(),
            authority_host: s.authority_host.clone(),
            managed_identity_endpoint: s.managed_identity_endpoint.clone(),
            client_secret: s.client_secret.clone(),
            service_connection_id: s.service_connection_id.clone(),
            audience: s.audience.clone(),
        }
    }
}

/// The Azure cloud, by azure/login's `environment` names (matched case-insensitively, as
/// azure/login does): it picks the Entra authority, ARM and ACR endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Cloud {
    AzureCloud,
    AzureChinaCloud,
    AzureUSGovernment,
    /// Endpoints are the stack's own: `arm-endpoint` and `authority-host` must be given.
    AzureStack,
}

impl Cloud {
    pub const NAMES: &'static str = "AzureCloud, AzureChinaCloud, AzureUSGovernment or AzureStack";

    pub fn parse(v: &str) -> Option<Self> {
        Some(match v.to_ascii_lowercase().as_str() {
            "azurecloud" => Cloud::AzureCloud,
            "azurechinacloud" => Cloud::AzureChinaCloud,
            "azureusgovernment" => Cloud::AzureUSGovernment,
            "azurestack" => Cloud::AzureStack,
            _ => return None,
        })
    }

    /// Entra ID's authority host.
    pub fn authority_host(self) -> Option<&'static str> {
        match self {
            Cloud::AzureCloud => Some("https://login.microsoftonline.com"),
            Cloud::AzureChinaCloud => Some("https://login.chinacloudapi.cn"),
            Cloud::AzureUSGovernment => Some("https://login.microsoftonline.us"),
            Cloud::AzureStack => None,
        }
    }

    /// Azure Resource Manager.
    pub fn arm_endpoint(self) -> Option<&'static str> {
        match self {
            Cloud::AzureCloud => Some("https://management.azure.com"),
            Cloud::AzureChinaCloud => Some("https://management.chinacloudapi.cn"),
            Cloud::AzureUSGovernment => Some("https://management.usgovcloudapi.net"),
            Cloud::AzureStack => None,
        }
    }

    /// The DNS suffix of the cloud's container registries.
    pub fn acr_suffix(self) -> Option<&'static str> {
        match self {
            Cloud::AzureCloud => Some(".azurecr.io"),
            Cloud::AzureChinaCloud => Some(".azurecr.cn"),
            Cloud::AzureUSGovernment => Some(".azurecr.us"),
            Cloud::AzureStack => None,
        }
    }
}

fn is_guid(v: &str) -> bool {
    uuid::Uuid::parse_str(v).is_ok() && v.len() == 36
}

fn guid(r: &Resolved, name: &str) -> Result<Option<String>, InputError> {
    match r.one(name) {
        None => Ok(None),
        Some((v, _)) if is_guid(v) => Ok(Some(v.to_ascii_lowercase())),
        Some((v, input)) => Err(InputError::invalid(
            input,
            format!("`{v}` is not a GUID"),
            "a GUID like 00000000-0000-0000-0000-000000000000",
        )),
    }
}

/// An endpoint URL: HTTPS, or plain HTTP on loopback (tests) or the instance metadata
/// address (which is HTTP by design). Tokens never travel in clear text elsewhere.
pub fn endpoint(r: &Resolved, name: &str) -> Result<Url, InputError> {
    let (v, input) = r.one(name).expect("endpoints have defaults");
    endpoint_url(v, input)
}

/// `name`, else the cloud's endpoint for it (AzureStack has none: the setting is needed).
fn cloud_endpoint(
    r: &Resolved,
    name: &str,
    cloud: Cloud,
    of_cloud: Option<&str>,
) -> Result<Url, InputError> {
    match (r.one(name), of_cloud) {
        (Some((v, input)), _) => endpoint_url(v, input),
        (None, Some(v)) => endpoint_url(v, format!("the {cloud:?} default of `{name}`")),
        (None, None) => Err(InputError::Missing(
            format!("{name} is required with environment {cloud:?}"),
            format!(
                "give --{name} with your Azure Stack Hub's endpoint (azure/login needs it too)"
            ),
        )),
    }
}

fn endpoint_url(v: &str, input: String) -> Result<Url, InputError> {
    let expected = "an https:// URL (http:// only for 127.0.0.1 or localhost)";
    let u = Url::parse(v)
        .map_err(|e| InputError::invalid(&input, format!("`{v}` is not a URL: {e}"), expected))?;
    let loopback = matches!(
        u.host_str(),
        Some("127.0.0.1" | "localhost" | "[::1]" | "169.254.169.254")
    );
    match u.scheme() {
        "https" => Ok(u),
        "http" if loopback => Ok(u),
        _ => Err(InputError::invalid(
            input,
            format!("`{v}` would send tokens unencrypted"),
            expected,
        )),
    }
}

impl AzureSettings {
    pub fn resolve(r: &Resolved, env: &Env) -> Result<Self, InputError> {
        let tenant_id = match r.one("tenant-id") {
            None => None,
            Some((v, _)) if is_guid(v) => Some(v.to_ascii_lowercase()),
            // Tenants may also be named by a verified domain.
            Some((v, _)) if v.contains('.') && !v.contains('/') && !v.contains(' ') => {
                Some(v.to_string())
            }
            Some((v, input)) => {
                return Err(InputError::invalid(
                    input,
                    format!("`{v}` is not a tenant ID"),
                    "a GUID, or the tenant's domain like contoso.onmicrosoft.com",
                ));
            }
        };
        let cloud = match r.one("environment") {
            None => Cloud::AzureCloud,
            Some((v, input)) => Cloud::parse(v).ok_or_else(|| {
                InputError::invalid(input, format!("`{v}` is not an Azure cloud"), Cloud::NAMES)
            })?,
        };
        let auth = {
            let (v, input) = r.one("auth-type").expect("auth-type has a default");
            AuthType::parse(v).ok_or_else(|| {
                InputError::invalid(
                    input,
                    format!("`{v}` is not a sign-in type"),
                    AuthType::NAMES,
                )
            })?
        };
        let service_connection_id = match r.one("service-connection-id") {
            None => None,
            Some((v, _)) if is_guid(v) => Some(v.to_string()),
            Some((v, input)) => {
                return Err(InputError::invalid(
                    input,
                    format!("`{v}` is not a service connection ID"),
                    "the GUID of an Azure Resource Manager service connection",
                ));
            }
        };
        // Azure Pipelines: the service connection names its subscription.
        let subscription_id = match (guid(r, "subscription-id")?, &service_connection_id) {
            (Some(s), _) => Some(s),
            (None, Some(id)) => [id.clone(), id.to_ascii_uppercase()]
                .iter()
                .find_map(|id| env.get(&format!("ENDPOINT_DATA_{id}_SUBSCRIPTIONID")))
                .filter(|v| is_guid(v))
                .map(String::from),
            (None, None) => None,
        };
        Ok(AzureSettings {
            cloud,
            tenant_id,
            client_id: guid(r, "client-id")?,
            subscription_id,
            authority_host: match (r.one("authority-host"), env.get("AZURE_AUTHORITY_HOST")) {
                // The Azure SDKs' convention, under our setting and over the cloud's.
                (None, Some(v)) if !v.trim().is_empty() => {
                    endpoint_url(v.trim(), "AZURE_AUTHORITY_HOST".into())?
                }
                _ => cloud_endpoint(r, "authority-host", cloud, cloud.authority_host())?,
            },
            arm_endpoint: cloud_endpoint(r, "arm-endpoint", cloud, cloud.arm_endpoint())?,
            managed_identity_endpoint: endpoint(r, "managed-identity-endpoint")?,
            auth,
            client_secret: r.string("client-secret").map(Secret::new),
            service_connection_id,
            audience: r.string("audience").expect("audience has a default"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inputs::{Flags, Step};

    fn resolve(flags: &[(&str, &str)]) -> Result<AzureSettings, InputError> {
        let env = Env::from_pairs::<&str, &str>([], "/");
        let flags: Flags = flags
            .iter()
            .map(|(k, v)| (k.to_string(), vec![v.to_string()]))
            .collect();
        AzureSettings::resolve(
            &Resolved::resolve(Step::Refer, &flags, &env, None, None),
            &env,
        )
    }

    #[test]
    fn the_cloud_picks_the_endpoints_by_azure_logins_names() {
        let s = resolve(&[]).unwrap();
        assert_eq!(s.cloud, Cloud::AzureCloud);
        assert_eq!(
            s.authority_host.as_str(),
            "https://login.microsoftonline.com/"
        );
        assert_eq!(s.arm_endpoint.as_str(), "https://management.azure.com/");
        // Case-insensitive, as azure/login.
        let s = resolve(&[("environment", "azureusgovernment")]).unwrap();
        assert_eq!(s.cloud, Cloud::AzureUSGovernment);
        assert_eq!(
            s.authority_host.as_str(),
            "https://login.microsoftonline.us/"
        );
        assert_eq!(
            s.arm_endpoint.as_str(),
            "https://management.usgovcloudapi.net/"
        );
        assert_eq!(s.cloud.acr_suffix(), Some(".azurecr.us"));
        let s = resolve(&[("environment", "AzureChinaCloud")]).unwrap();
        assert_eq!(s.authority_host.as_str(), "https://login.chinacloudapi.cn/");
        assert_eq!(
            s.arm_endpoint.as_str(),
            "https://management.chinacloudapi.cn/"
        );
        // An explicit endpoint wins over the cloud's.
        let s = resolve(&[
            ("environment", "AzureChinaCloud"),
            ("arm-endpoint", "https://arm.example"),
        ])
        .unwrap();
        assert_eq!(s.arm_endpoint.as_str(), "https://arm.example/");
        // Azure Stack Hub has no public endpoints: they must be given.
        let e = resolve(&[("environment", "AzureStack")]).unwrap_err();
        assert!(e.to_string().contains("authority-host is required"), "{e}");
        let s = resolve(&[
            ("environment", "AzureStack"),
            ("authority-host", "https://login.stack.example"),
            ("arm-endpoint", "https://management.stack.example"),
        ])
        .unwrap();
        assert_eq!(s.cloud, Cloud::AzureStack);
        // A deployment environment name is not a cloud: exit 2, naming the input.
        let e = resolve(&[("environment", "production")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--environment: `production` is not an Azure cloud"
        );
    }

    #[test]
    fn auth_type_takes_azure_logins_values() {
        let s = resolve(&[("auth-type", "SERVICE_PRINCIPAL")]).unwrap();
        assert_eq!(s.auth, AuthType::ServicePrincipal);
        let s = resolve(&[("auth-type", "IDENTITY")]).unwrap();
        assert_eq!(s.auth, AuthType::ManagedIdentity);
        assert!(resolve(&[("auth-type", "PASSWORD")]).is_err());
    }
}
