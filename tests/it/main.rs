//! One integration test binary; a module per step, mirroring `src/steps/`.

mod support;

mod refer;
mod scan;
