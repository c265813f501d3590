#![no_main]
//! `cargo +nightly fuzz run www_authenticate`: see fuzz/src/lib.rs.

libfuzzer_sys::fuzz_target!(|data: &[u8]| aks_backend_fuzz::www_authenticate(data));
