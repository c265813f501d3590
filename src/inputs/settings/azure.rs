//! Sign-in settings shared by every step that talks to Azure (refer, build, deploy):
//! embed [`AzureSettings`] and call [`AzureSettings::resolve`].

use url::Url;

use crate::clients::azure::AuthType;
use crate::env::Env;
use crate::inputs::{InputError, Resolved};
use crate::secret::Secret;

#[derive(Clone, Debug, serde::Serialize)]
pub struct AzureSettings {
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
            tenant_id,
            client_id: guid(r, "client-id")?,
            subscription_id,
            authority_host: endpoint(r, "authority-host")?,
            arm_endpoint: endpoint(r, "arm-endpoint")?,
            managed_identity_endpoint: endpoint(r, "managed-identity-endpoint")?,
            auth,
            client_secret: r.string("client-secret").map(Secret::new),
            service_connection_id,
            audience: r.string("audience").expect("audience has a default"),
        })
    }
}
