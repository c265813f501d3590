//! Test support shared by every step's tests: spec validators, loopback servers, the
//! real tools (Trivy, registry, kubectl) located or reported missing with the install
//! step that provides them.

#![allow(dead_code)]

pub mod acr_token_service;
pub mod registry;
pub mod spec;
pub mod tools;
