//! One integration test binary; a module per step, mirroring `src/steps/`.

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
mod refer;
mod report;
mod run;
mod scan;
mod sign_in;
