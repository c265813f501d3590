#![no_main]
//! `cargo +nightly fuzz run trivy_report`: see fuzz/src/lib.rs.

libfuzzer_sys::fuzz_target!(|data: &[u8]| aks_backend_fuzz::trivy_report(data));
