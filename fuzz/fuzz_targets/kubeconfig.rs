#![no_main]
//! `cargo +nightly fuzz run kubeconfig`: see fuzz/src/lib.rs.

libfuzzer_sys::fuzz_target!(|data: &[u8]| aks_backend_fuzz::kubeconfig(data));
