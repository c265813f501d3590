//! Packs a build context exactly as `aks-backend build` sends it, to a tar file:
//! `pack_context CONTEXT_DIR OUT.tar [DOCKERFILE]`. Used by scripts/bench/build-context.sh.

// A development tool beside the tests (benchmarks), not the product: it fails loudly on
// a bad argument, as the tests do.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use aks_backend::clients::docker::context::{ContextSpec, tar_dockerfile_name, write_tar};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: pack_context CONTEXT_DIR OUT.tar [DOCKERFILE]");
        std::process::exit(2);
    }
    let dir = std::path::PathBuf::from(&args[1]).canonicalize().unwrap();
    let dockerfile = args
        .get(3)
        .map(|p| std::path::PathBuf::from(p).canonicalize().unwrap())
        .unwrap_or_else(|| dir.join("Dockerfile"));
    let spec = ContextSpec { dir, dockerfile };
    let out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&args[2]).unwrap());
    let p = write_tar(&spec, &tar_dockerfile_name(&spec), out).unwrap();
    eprintln!(
        "{} files, {} bytes, {} excluded",
        p.files, p.bytes, p.excluded
    );
}
