//! One integration test binary; a module per step, mirroring `src/steps/`.

mod support;

mod build;
mod buildkit;
mod deploy;
mod deploy_control_plane;
mod packaging;
mod refer;
mod report;
mod run;
mod scan;
