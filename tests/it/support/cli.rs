//! Runs the CLI in-process with a scrubbed environment and captured output, so host
//! output can be snapshot-tested without a developer's `GITHUB_*` variables leaking in.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use aks_backend::env::Env;
use aks_backend::error::Exit;
use aks_backend::host::Host;

#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub struct Outcome {
    pub exit: Exit,
    /// What people see (log lines, workflow commands).
    pub log: String,
    /// What programs read (plans, settings).
    pub data: String,
}

/// Runs `aks-backend <args>` with exactly `vars` as its environment, in `cwd`.
pub fn run(args: &[&str], vars: &[(&str, &str)], cwd: &Path) -> Outcome {
    let env = Env::from_pairs(vars.iter().copied(), cwd);
    let kind = aks_backend::inputs::ci::CiContext::detect(&env).host;
    let log = Capture::default();
    let data = Capture::default();
    let host = Host::with_writers(
        &env,
        kind,
        Box::new(log.clone()),
        Box::new(data.clone()),
        false,
    );
    let mut argv: Vec<std::ffi::OsString> = vec!["aks-backend".into()];
    argv.extend(args.iter().map(Into::into));
    let exit = aks_backend::cli::run(argv, env, host);
    Outcome {
        exit,
        log: log.text(),
        data: data.text(),
    }
}
