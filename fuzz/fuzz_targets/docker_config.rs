#![no_main]
//! `cargo +nightly fuzz run docker_config`: see fuzz/src/lib.rs.

libfuzzer_sys::fuzz_target!(|data: &[u8]| aks_backend_fuzz::docker_config(data));
