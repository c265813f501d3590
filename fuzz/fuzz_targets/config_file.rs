#![no_main]
//! `cargo +nightly fuzz run config_file`: see fuzz/src/lib.rs.

libfuzzer_sys::fuzz_target!(|data: &[u8]| aks_backend_fuzz::config_file(data));
