//! Azure: sign-in (one credential chain for every step), Resource Manager, Key Vault,
//! AKS credentials, DNS and the gateway's network.
//!
//! Everything talks HTTP in-process through the caller's HTTP room: no `az`, no
//! `kubelogin`, no child process except the Azure CLI credential, which is the laptop's
//! last resort. Endpoints (authority host, ARM, Key Vault) come from the caller, so tests
//! aim them at loopback mocks and sovereign clouds just work.

pub mod aks;
pub mod arm;
pub mod credential;
pub mod deployments;
pub mod dns;
pub mod keyvault;
pub mod network;
pub mod resources;
mod wire;

pub use crate::model::sign_in::AuthType;
pub use crate::secret::Mask;
pub use arm::Arm;
pub use credential::Credential;

use crate::model::diagnostic::{Diagnostic, Exit};

/// Claims of a federated assertion, kept to explain an Entra refusal.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AssertionClaims {
    pub issuer: Option<String>,
    pub subject: Option<String>,
    pub audience: Option<String>,
}

/// Why ARM said 403, parsed from its message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forbidden {
    /// The action that was refused, e.g. `Microsoft.ContainerService/managedClusters/read`.
    pub action: Option<String>,
    /// The scope the role is missing on.
    pub scope: String,
    /// The built-in role that grants the action.
    pub role: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum AzureError {
    #[error("no way to sign in to Azure was found ({tried})")]
    NoCredential { tried: String },
    #[error("{setting} is needed to sign in with {auth}")]
    MissingSetting {
        setting: &'static str,
        auth: &'static str,
    },
    #[error(
        "this GitHub Actions job cannot request an OIDC token: ACTIONS_ID_TOKEN_REQUEST_URL is not set"
    )]
    GitHubOidcUnavailable,
    #[error("this Azure Pipelines job cannot request an OIDC token: {missing} is not set")]
    AzureDevOpsOidcUnavailable { missing: &'static str },
    #[error("requesting the {provider} OIDC token failed{status}: {message}")]
    Oidc {
        provider: &'static str,
        status: String,
        message: String,
    },
    #[error("Entra ID refused to sign in client {client_id} in tenant {tenant}: {description}")]
    Entra {
        client_id: String,
        tenant: String,
        /// `AADSTS70021` etc., when Entra said one.
        code: Option<u32>,
        description: String,
        assertion: Option<Box<AssertionClaims>>,
    },
    #[error("workload identity sign-in needs AZURE_FEDERATED_TOKEN_FILE, which is not set")]
    WorkloadIdentityUnavailable,
    #[error("cannot read the federated token file {path}: {message}")]
    FederatedTokenFile { path: String, message: String },
    #[error("managed identity sign-in failed ({endpoint}): {message}")]
    ManagedIdentity { endpoint: String, message: String },
    #[error("Azure CLI sign-in failed: {message}")]
    AzureCli { message: String },
    #[error("{op} failed: HTTP {status}{code}: {message}")]
    Http {
        op: String,
        status: u16,
        /// ` (Code)` or empty.
        code: String,
        message: String,
        forbidden: Option<Box<Forbidden>>,
    },
    #[error("{op}: {what} `{name}` was not found{scope}")]
    NotFound {
        op: String,
        what: &'static str,
        name: String,
        scope: String,
    },
    #[error("{op}: {source}")]
    Net {
        op: String,
        source: crate::clients::http::HttpError,
    },
    #[error("{op}: unexpected answer: {message}")]
    Protocol { op: String, message: String },
    #[error("looking for the {kind} in {scope} ({lookup}) found {}{}", count_word(.candidates.len()), list(.candidates))]
    Discovery {
        kind: &'static str,
        scope: String,
        lookup: String,
        candidates: Vec<String>,
        setting: &'static str,
    },
    #[error("{what}: {message}")]
    InvalidArgument { what: String, message: String },
    #[error("ARM deployment `{deployment}` ended {state}:\n{}", .failures.join("\n"))]
    DeploymentFailed {
        deployment: String,
        state: String,
        /// One line per failed resource: name, type, error codes and messages.
        failures: Vec<String>,
    },
    #[error("pre-flight found {} problem(s):\n{}", .problems.len(), .problems.iter().map(|(p, f)| format!("{p} (fix: {f})")).collect::<Vec<_>>().join("\n"))]
    Preflight {
        /// (problem, fix), one per line.
        problems: Vec<(String, String)>,
    },
}

fn count_word(n: usize) -> String {
    match n {
        0 => "none".into(),
        1 => "1 candidate".into(),
        n => format!("{n} candidates"),
    }
}

fn list(c: &[String]) -> String {
    if c.is_empty() {
        String::new()
    } else {
        format!(": {}", c.join(", "))
    }
}

impl AzureError {
    /// The HTTP status, for callers that branch on it.
    pub fn status(&self) -> Option<u16> {
        match self {
            AzureError::Http { status, .. } => Some(*status),
            AzureError::NotFound { .. } => Some(404),
            _ => None,
        }
    }
}

impl Diagnostic for AzureError {
    fn exit(&self) -> Exit {
        match self {
            AzureError::NoCredential { .. }
            | AzureError::MissingSetting { .. }
            | AzureError::GitHubOidcUnavailable
            | AzureError::AzureDevOpsOidcUnavailable { .. }
            | AzureError::FederatedTokenFile { .. }
            | AzureError::WorkloadIdentityUnavailable
            | AzureError::NotFound { .. }
            | AzureError::Discovery { .. }
            | AzureError::InvalidArgument { .. }
            | AzureError::Preflight { .. } => Exit::BadInput,
            // Entra refusing a configured identity is configuration, not an outage.
            AzureError::Entra { code: Some(_), .. } => Exit::BadInput,
            _ => Exit::External,
        }
    }

    fn hint(&self) -> Option<String> {
        Some(match self {
            AzureError::NoCredential { .. } => {
                "in GitHub Actions grant `permissions: id-token: write` and pass client-id and tenant-id; in Azure Pipelines pass service-connection-id; on a laptop run `az login`".into()
            }
            AzureError::MissingSetting { setting, .. } => format!("pass --{setting} (or input `{setting}`)"),
            AzureError::GitHubOidcUnavailable => "add `permissions: id-token: write` to the job or the workflow (pull requests from forks never get an OIDC token)".into(),
            AzureError::AzureDevOpsOidcUnavailable { .. } => "use an Azure Resource Manager service connection with workload identity federation and pass its ID as service-connection-id; map System.AccessToken into the task's environment (SYSTEM_ACCESSTOKEN)".into(),
            AzureError::FederatedTokenFile { .. } | AzureError::WorkloadIdentityUnavailable => "AZURE_FEDERATED_TOKEN_FILE must name the projected service account token: on AKS, label the pod `azure.workload.identity/use: \"true\"` and give its service account the annotation `azure.workload.identity/client-id`".into(),
            AzureError::Entra { code, assertion, client_id, .. } => entra_hint(*code, assertion.as_deref(), client_id)?,
            AzureError::Http { forbidden: Some(f), .. } => format!(
                "grant the role `{}` on scope `{}` to the signed-in identity{}",
                f.role,
                f.scope,
                f.action.as_deref().map(|a| format!(" (it allows `{a}`)")).unwrap_or_default()
            ),
            AzureError::Http { status: 429, .. } => "Azure kept throttling after the retries; run again later".into(),
            AzureError::Http { status, .. } if *status >= 500 => "Azure failed after the retries; run again later".into(),
            AzureError::NotFound { .. } => "check the name, the resource group and the subscription".into(),
            AzureError::Discovery { candidates, setting, .. } if candidates.is_empty() => format!(
                "pass --{setting} NAME, or tag the resource (see --discovery-tags), or name an ARM deployment with --deployment-name"
            ),
            AzureError::Discovery { setting, .. } => format!("pass --{setting} with one of them, or narrow --discovery-tags"),
            AzureError::AzureCli { .. } => "run `az login` (or sign in with OIDC federation instead)".into(),
            AzureError::DeploymentFailed { .. } => "fix the resource named above and run infra again: the deployment is incremental, what succeeded stays".into(),
            AzureError::Preflight { .. } => "nothing was deployed; fix each line and run again".into(),
            AzureError::Net { source, .. } => source.hint(),
            AzureError::ManagedIdentity { .. } => "managed identity only works on an Azure machine with an identity assigned; pass client-id for a user-assigned one".into(),
            _ => return None,
        })
    }
}

fn entra_hint(
    code: Option<u32>,
    claims: Option<&AssertionClaims>,
    client_id: &str,
) -> Option<String> {
    let code = code?;
    Some(match code {
        70021 => {
            let c = claims.cloned().unwrap_or_default();
            format!(
                "no federated credential of app {client_id} matches this run's token: it carried subject `{}` (issuer `{}`, audience `{}`)\nadd a federated credential to the app registration / managed identity with exactly that issuer and subject",
                c.subject.as_deref().unwrap_or("?"),
                c.issuer.as_deref().unwrap_or("?"),
                c.audience.as_deref().unwrap_or("?"),
            )
        }
        700024 => "the federated token had expired when Entra received it (AADSTS700024); it was re-minted and retried once. Check the runner's clock, and that the audience is api://AzureADTokenExchange".into(),
        7000215 | 7000222 => "the client secret is wrong or expired: create a new one, or better, switch to OIDC federation".into(),
        700016 => "no app with this client-id exists in the tenant: check client-id and tenant-id".into(),
        90002 | 900023 => "the tenant-id is wrong".into(),
        // AADSTS700213: no federated credential with the assertion's *subject*.
        700213 => {
            let c = claims.cloned().unwrap_or_default();
            format!(
                "no federated credential of app {client_id} has this run's subject: the token carried subject `{}` (issuer `{}`)\nadd a federated credential with exactly that subject, or fix the subject of the existing one (branch, environment, tag or pull_request)",
                c.subject.as_deref().unwrap_or("?"),
                c.issuer.as_deref().unwrap_or("?"),
            )
        }
        // AADSTS700211: no federated credential with the assertion's issuer.
        700211 => {
            let c = claims.cloned().unwrap_or_default();
            format!(
                "no federated credential of app {client_id} trusts the issuer `{}` of this run's token: add one with exactly that issuer",
                c.issuer.as_deref().unwrap_or("?"),
            )
        }
        // AADSTS700212: no federated credential with the assertion's audience.
        700212 => {
            let c = claims.cloned().unwrap_or_default();
            format!(
                "the token's audience `{}` matches no federated credential of app {client_id}: pass --audience with the credential's audience (usually api://AzureADTokenExchange)",
                c.audience.as_deref().unwrap_or("?"),
            )
        }
        _ => return None,
    })
}

/// The built-in role that grants `action` (ARM 403 hints).
pub fn role_for_action(action: &str) -> &'static str {
    let a = action.to_ascii_lowercase();
    if a.starts_with("microsoft.containerservice/managedclusters/listclusterusercredential") {
        "Azure Kubernetes Service Cluster User Role"
    } else if a.starts_with("microsoft.containerservice/managedclusters/listclusteradmincredential")
    {
        "Azure Kubernetes Service Cluster Admin Role"
    } else if a.starts_with("microsoft.network/dnszones/") && !a.ends_with("/read") {
        "DNS Zone Contributor"
    } else if a.starts_with("microsoft.network/") && !a.ends_with("/read") {
        "Network Contributor"
    } else if a.starts_with("microsoft.keyvault/vaults/secrets/") {
        "Key Vault Secrets User"
    } else if a.starts_with("microsoft.containerregistry/registries/push") {
        "AcrPush"
    } else if a.ends_with("/read") {
        "Reader"
    } else {
        "Contributor"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_for_common_actions() {
        assert_eq!(
            role_for_action(
                "Microsoft.ContainerService/managedClusters/listClusterUserCredential/action"
            ),
            "Azure Kubernetes Service Cluster User Role"
        );
        assert_eq!(
            role_for_action("Microsoft.Network/dnsZones/A/write"),
            "DNS Zone Contributor"
        );
        assert_eq!(
            role_for_action("Microsoft.Network/networkSecurityGroups/securityRules/write"),
            "Network Contributor"
        );
        assert_eq!(
            role_for_action("Microsoft.ContainerRegistry/registries/read"),
            "Reader"
        );
    }

    #[test]
    fn discovery_errors_list_candidates() {
        let e = AzureError::Discovery {
            kind: "AKS cluster",
            scope: "resource group rg".into(),
            lookup: "tags env=prod".into(),
            candidates: vec!["a".into(), "b".into()],
            setting: "cluster-name",
        };
        assert_eq!(
            e.to_string(),
            "looking for the AKS cluster in resource group rg (tags env=prod) found 2 candidates: a, b"
        );
        assert_eq!(e.exit(), Exit::BadInput);
    }

    fn refused(code: u32) -> AzureError {
        AzureError::Entra {
            client_id: "c".into(),
            tenant: "t".into(),
            code: Some(code),
            description: format!("AADSTS{code}: refused"),
            assertion: Some(Box::new(AssertionClaims {
                issuer: Some("https://token.actions.githubusercontent.com".into()),
                subject: Some("repo:o/r:environment:prod".into()),
                audience: Some("api://AzureADTokenExchange".into()),
            })),
        }
    }

    #[test]
    fn a_subject_mismatch_names_the_subject_the_token_carried() {
        for code in [70021, 700213] {
            let hint = refused(code).hint().unwrap();
            assert!(
                hint.contains("`repo:o/r:environment:prod`"),
                "{code}: {hint}"
            );
        }
        assert!(
            !refused(700213)
                .hint()
                .unwrap()
                .contains("issuer does not match")
        );
    }

    #[test]
    fn an_issuer_mismatch_names_the_issuer() {
        let hint = refused(700211).hint().unwrap();
        assert!(
            hint.contains("`https://token.actions.githubusercontent.com`"),
            "{hint}"
        );
    }
}
