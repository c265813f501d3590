//! Thin binary: everything lives in the library so tests drive the same code.
fn main() -> std::process::ExitCode {
    // The one TLS crypto provider, installed before any client exists (ring is not
    // compiled in; libraries and tests get the same provider from rustls' features).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    aks_backend::cli::main()
}
