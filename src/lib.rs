//! aks-backend: ship a backend web API to Azure Kubernetes Service from CI.
//!
//! Data flows one way: `inputs` (raw flags, `INPUT_*` env, config file) are resolved once
//! into typed settings, `plan` says what a step will do (printable with `--dry-run`),
//! `steps` sequence the I/O through `clients` (one room per external system), and
//! `render` + `host` report the result where people look.

pub mod cli;
pub mod clients;
pub mod env;
pub mod error;
pub mod fsx;
pub mod host;
pub mod inputs;
pub mod internal;
pub mod model;
pub mod plan;
pub mod render;
pub mod secret;
pub mod state;
pub mod steps;
