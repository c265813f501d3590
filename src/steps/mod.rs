//! The only place that sequences I/O: each step takes resolved settings, makes its
//! plan, calls the clients, and reports through the host.

pub mod build;
pub mod compose;
pub mod deploy;
pub mod infra;
pub mod infra_cluster;
pub mod publish;
pub mod refer;
pub mod run;
pub mod scan;

use jiff::civil::Date;

use crate::clients::http::Http;
use crate::env::Env;
use crate::error::Error;
use crate::host::{Host, write_outputs_file};
use crate::inputs::ci::CiContext;

/// A log group on the host, closed when it is dropped: on every path out of the scope
/// that opened it, early returns and `?` included.
pub struct Group<'a>(&'a Host);

impl<'a> Group<'a> {
    pub fn open(host: &'a Host, title: &str) -> Self {
        host.group_start(title);
        Group(host)
    }
}

impl Drop for Group<'_> {
    fn drop(&mut self) {
        self.0.group_end();
    }
}

/// What every step gets: the environment snapshot, the CI context, the host, an HTTP
/// client and today's date (injected so tests do not depend on the clock).
pub struct Ctx {
    pub env: Env,
    pub ci: CiContext,
    pub host: Host,
    /// The one HTTP room; its limits are set from the settings when a step starts.
    pub http: Http,
    pub today: Date,
}

impl Ctx {
    pub fn new(env: Env, host: Host) -> Self {
        let ci = CiContext::detect(&env);
        Ctx {
            env,
            ci,
            host,
            http: Http::new(),
            today: jiff::Timestamp::now()
                .to_zoned(jiff::tz::TimeZone::UTC)
                .date(),
        }
    }

    /// Sets every output on the host and, when asked, writes them to `--outputs-file`.
    pub fn publish(
        &self,
        outputs: &[(&str, String)],
        outputs_file: Option<&std::path::Path>,
    ) -> Result<(), Error> {
        for (k, v) in outputs {
            debug_assert!(
                crate::host::outputs::find(k).is_some(),
                "output `{k}` is not declared in src/host/outputs.rs (action.yml is generated from it)"
            );
            self.host.set_output(k, v)?;
        }
        if let Some(p) = outputs_file {
            write_outputs_file(p, &self.host.outputs())?;
        }
        Ok(())
    }
}
