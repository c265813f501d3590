//! Test support shared by every step's tests: spec validators, loopback servers, the
//! real tools (Trivy, registry, kubectl) located or reported missing with the install
//! step that provides them.

#![allow(dead_code)]

pub mod acr_token_service;
pub mod arm;
pub mod arm_deployments;
pub mod arm_template;
pub mod azure;
pub mod azure_devops;
pub mod cli;
pub mod entra;
pub mod fake_cluster;
pub mod files;
pub mod github;
pub mod registry;
pub mod release_server;
pub mod schema7;
pub mod spec;
pub mod tls;
pub mod tools;
