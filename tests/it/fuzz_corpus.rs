//! Replays every committed fuzz seed (`fuzz/corpus/<target>/seed-*`) through the same
//! target bodies the fuzzer runs (`fuzz/src/lib.rs`), on stable and without fuzzing:
//! CI checks the corpus on every run, so a crash the fuzzer found stays fixed.

#[path = "../../fuzz/src/lib.rs"]
mod harness;

#[test]
fn every_fuzz_corpus_seed_parses_without_panicking() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut replayed = 0;
    for (name, body) in harness::TARGETS {
        let dir = root.join(name);
        let mut seeds: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("seed-"))
            })
            .collect();
        seeds.sort();
        assert!(!seeds.is_empty(), "no seeds for fuzz target {name}");
        for seed in seeds {
            let data = std::fs::read(&seed).unwrap();
            if std::panic::catch_unwind(|| body(&data)).is_err() {
                panic!("fuzz target {name} panicked on {}", seed.display());
            }
            replayed += 1;
        }
    }
    assert!(replayed >= harness::TARGETS.len());
}
