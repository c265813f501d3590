//! The five steps, in pipeline order: what a setting, an output and the state file's
//! entries belong to.

/// A step of the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    /// The shared infrastructure (one ARM deployment); first in pipeline order.
    Infra,
    Refer,
    Build,
    Scan,
    Deploy,
}

impl Step {
    /// Pipeline order: infra, refer, build, scan, deploy.
    pub const ALL: [Step; 5] = [
        Step::Infra,
        Step::Refer,
        Step::Build,
        Step::Scan,
        Step::Deploy,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Step::Infra => "infra",
            Step::Refer => "refer",
            Step::Build => "build",
            Step::Scan => "scan",
            Step::Deploy => "deploy",
        }
    }
}

/// What earlier steps published, as a later step's settings see it (the state file; the
/// settings funnel takes it without knowing the file).
pub trait EarlierOutputs {
    /// The earlier output that feeds setting `name` of `step`, as (value, "step.output").
    fn feed(&self, step: Step, name: &str) -> Option<(String, String)>;
}
