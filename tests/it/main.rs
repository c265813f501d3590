//! One integration test binary; a module per step, mirroring `src/steps/`.

// Tests fail loudly by design: unwrap, expect, panic and indexing are how they say so
// (the crate's [lints] deny them in the product; clippy's allow-*-in-tests only covers
// `#[test]` functions, not this binary's helpers).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

mod architecture;
mod bad_input;
mod build;
mod buildkit;
mod compose;
mod deploy;
mod deploy_control_plane;
mod fuzz_corpus;
mod hostile_files;
mod infra;
mod infra_cluster;
mod net;
mod packaging;
mod publish;
mod refer;
mod run;
mod scan;
mod sign_in;
