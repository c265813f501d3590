//! One room per external system. Each client takes its endpoint (base URL, binary path)
//! from its caller, has its own error enum, and never imports `plan` or `steps`.

pub mod acr;
pub mod azure;
pub mod azure_devops;
pub mod docker;
pub mod github;
pub mod http;
pub mod kube;
pub mod trivy;
