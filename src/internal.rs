//! `aks-backend internal catalog --format json` (hidden): the settings catalog, the step
//! outputs and the exit codes as one JSON document. `scripts/gen-packaging` generates the
//! inputs and outputs of `action.yml`, `task.json` and the docs from it, so packaging is
//! derived from the code instead of copied by hand.

use clap::{Arg, Command};
use serde_json::{Value, json};

use crate::host::outputs;
use crate::inputs::catalog::{self, Kind, Step};
use crate::model::diagnostic::Exit;

/// The hidden `internal` subcommand.
pub fn command() -> Command {
    Command::new("internal")
        .hide(true)
        .about("Machine-readable facts for packaging (not a stable interface)")
        .subcommand_required(true)
        .subcommand(
            Command::new("catalog")
                .about("Print every setting, output and exit code")
                .arg(
                    Arg::new("format")
                        .long("format")
                        .value_parser(["json"])
                        .default_value("json"),
                ),
        )
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Value => "value",
        Kind::Bool => "bool",
        Kind::List => "list",
        Kind::Lines => "lines",
    }
}

/// Every exit code with its meaning (the match keeps this list complete).
pub fn exit_codes() -> Vec<(Exit, &'static str)> {
    let all = [Exit::Ok, Exit::Refused, Exit::BadInput, Exit::External];
    all.into_iter()
        .map(|e| {
            let meaning = match e {
                Exit::Ok => "everything asked for happened",
                Exit::Refused => "the gate (counted findings) or the rollout said no",
                Exit::BadInput => "bad input or configuration; nothing was changed",
                Exit::External => {
                    "an external system (Trivy, a registry, Azure, the cluster) failed"
                }
            };
            (e, meaning)
        })
        .collect()
}

/// The whole catalog as JSON.
pub fn catalog_json() -> Value {
    let settings: Vec<Value> = catalog::SETTINGS
        .iter()
        .map(|s| {
            json!({
                "name": s.name,
                "steps": s.steps.iter().map(|st| st.name()).collect::<Vec<_>>(),
                "kind": kind_name(s.kind),
                "default": s.default,
                "help": s.help,
                "secret": s.secret,
                "env": s.input_env(),
                "input": s.input_name(),
                "aliases": s.aliases,
                "values": s.values,
                "heading": s.heading(),
                "heading_title": s.heading().title(),
                "path": s.path,
                "hosts": s.hosts,
                "label": s.label,
                "action_default": s.action_default,
            })
        })
        .collect();
    let outs: Vec<Value> = outputs::OUTPUTS
        .iter()
        .map(|o| json!({"name": o.name, "step": o.step.name(), "help": o.help}))
        .collect();
    let exits: Vec<Value> = exit_codes()
        .into_iter()
        .map(|(e, meaning)| json!({"code": e.code(), "name": format!("{e:?}"), "meaning": meaning}))
        .collect();
    let mut commands: Vec<&str> = Step::ALL.iter().map(|s| s.name()).collect();
    commands.push("run");
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "commands": commands,
        "settings": settings,
        "outputs": outs,
        "exit_codes": exits,
        "infra_roles": infra_roles(),
    })
}

/// infra's roles, read from the template of representative settings (the DNS zone in
/// another resource group, so every assignment shows): what the identity running infra
/// needs, and the assignments the template makes.
fn infra_roles() -> Value {
    use crate::inputs::settings::InfraSettings;
    use crate::inputs::{Flags, Resolved};
    use crate::plan::infra::{InfraPlan, roles};
    let env = crate::env::Env::from_pairs::<&str, &str>([], "/");
    let mut f = Flags::new();
    for (k, v) in [
        ("name-prefix", "docs"),
        ("resource-group", "rg-shared"),
        ("dns-zone", "example.com"),
        ("dns-zone-resource-group", "rg-dns"),
        ("dry-run", "true"),
    ] {
        f.entry(k.to_string()).or_default().push(v.to_string());
    }
    let r = Resolved::resolve(Step::Infra, &f, &env, None, None);
    let plan = InfraSettings::resolve(&r, &env).and_then(|s| InfraPlan::new(&s));
    match plan {
        Ok(plan) => {
            let a = roles::assignments(&plan.template, &plan.names);
            json!({"needs": roles::needs(&a), "assignments": a})
        }
        Err(e) => json!({"error": e.to_string()}),
    }
}
