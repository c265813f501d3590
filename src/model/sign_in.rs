//! How to sign in to Azure, as the settings describe it: the `auth-type` noun and the
//! identity's coordinates. It lives below `inputs` (which resolves it), `plan` (which
//! prints it) and `clients::azure::credential` (which signs in with it), so none of them
//! imports another to share it.

use url::Url;

use crate::secret::Secret;

/// How to sign in, as the `auth-type` setting names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthType {
    Auto,
    GithubOidc,
    AzureDevopsOidc,
    ClientSecret,
    ManagedIdentity,
    AzureCli,
    /// azure/login's `SERVICE_PRINCIPAL`: the app registration, by OIDC federation when the
    /// CI host offers a token, else by client secret; never a managed identity or the CLI.
    ServicePrincipal,
    /// A federated token in a file (`AZURE_FEDERATED_TOKEN_FILE`): AKS workload identity,
    /// e.g. a self-hosted runner in a pod. Chosen by `auto` when the file is announced.
    WorkloadIdentity,
}

impl AuthType {
    /// Ours, then azure/login's (`IDENTITY` is `managed-identity`).
    pub const NAMES: &'static str = "auto, github-oidc, azure-devops-oidc, client-secret, \
managed-identity, azure-cli, workload-identity, SERVICE_PRINCIPAL";

    pub fn parse(v: &str) -> Option<Self> {
        Some(match v.to_ascii_lowercase().as_str() {
            "auto" => AuthType::Auto,
            "github-oidc" | "oidc" => AuthType::GithubOidc,
            "azure-devops-oidc" | "workload-identity-federation" => AuthType::AzureDevopsOidc,
            "client-secret" => AuthType::ClientSecret,
            "service_principal" | "service-principal" => AuthType::ServicePrincipal,
            "managed-identity" | "identity" => AuthType::ManagedIdentity,
            "azure-cli" | "cli" => AuthType::AzureCli,
            "workload-identity" => AuthType::WorkloadIdentity,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            AuthType::Auto => "auto",
            AuthType::GithubOidc => "github-oidc",
            AuthType::AzureDevopsOidc => "azure-devops-oidc",
            AuthType::ClientSecret => "client-secret",
            AuthType::ManagedIdentity => "managed-identity",
            AuthType::AzureCli => "azure-cli",
            AuthType::ServicePrincipal => "SERVICE_PRINCIPAL",
            AuthType::WorkloadIdentity => "workload-identity",
        }
    }
}

/// Everything the credential chain needs from the settings (`inputs::settings::AzureSettings`
/// converts into it). The `AZURE_*` conventions fill what is left empty, in the chain.
#[derive(Clone, Debug)]
pub struct SignIn {
    pub auth: AuthType,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub authority_host: Url,
    pub managed_identity_endpoint: Url,
    pub client_secret: Option<Secret>,
    pub service_connection_id: Option<String>,
    /// The audience of federated ID tokens (`api://AzureADTokenExchange`).
    pub audience: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_types_parse_their_names() {
        for n in AuthType::NAMES.split(", ") {
            assert_eq!(AuthType::parse(n).unwrap().name(), n);
        }
        // azure/login's values, with its meaning.
        assert_eq!(AuthType::parse("IDENTITY"), Some(AuthType::ManagedIdentity));
        assert_eq!(
            AuthType::parse("SERVICE_PRINCIPAL"),
            Some(AuthType::ServicePrincipal)
        );
        assert_eq!(
            AuthType::parse("service-principal"),
            Some(AuthType::ServicePrincipal)
        );
    }
}
