#![no_main]
//! `cargo +nightly fuzz run jwt_claims`: see fuzz/src/lib.rs.

libfuzzer_sys::fuzz_target!(|data: &[u8]| aks_backend_fuzz::jwt_claims(data));
