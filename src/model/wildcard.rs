//! The names `infra --wildcard` and `deploy --tls wildcard` agree on: the wildcard
//! certificate's Secret (in `cert-manager`, and each app namespace's copy of it) and the
//! ClusterSecretStore that copies it. One place, so the two steps cannot drift apart.

/// The wildcard certificate's Secret, and the name of every copy.
pub const SECRET: &str = "wildcard-tls";
/// The ClusterSecretStore (ESO Kubernetes provider) that reads only that Secret.
pub const STORE: &str = "wildcard-tls";
/// Where cert-manager keeps the certificate.
pub const NAMESPACE: &str = "cert-manager";
/// The label that lets a namespace read the wildcard copy: the store's
/// `spec.conditions` admit only namespaces carrying it (`deploy --tls wildcard` sets it
/// on the namespaces it creates; an admin labels an existing one), so no other namespace
/// can pull the wildcard key.
pub const NAMESPACE_LABEL: (&str, &str) = ("aks-backend.io/wildcard-tls", "true");
