//! The command line, generated from the settings catalog, and `main`'s body: parse,
//! resolve settings once, run one step, render the error once, exit with its code.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::env::Env;
use crate::error::{Error, Exit};
use crate::host::{Host, Level};
use crate::inputs::catalog::{self, Kind, Step};
use crate::inputs::ci::CiContext;
use crate::inputs::{ConfigFile, Flags, InputError, Resolved};
use crate::steps::{self, Ctx};

const ABOUT: &str = "Ship a backend web API to Azure Kubernetes Service from CI.";

const AFTER_HELP: &str = "Every flag is also a CI input (INPUT_<NAME>, e.g. INPUT_SEVERITY) and a key in \
aks-backend.toml; a flag wins over an input, an input over the file.\n\
Exit codes: 0 ok, 1 the gate or the rollout said no, 2 bad input or configuration, \
3 an external system failed.";

fn step_about(step: Step) -> &'static str {
    match step {
        Step::Scan => {
            "Scan an image with Trivy: SARIF with every finding, a severity gate, a summary"
        }
        Step::Infra => {
            "Create or update the shared infrastructure: one ARM deployment (what-if first), then cert-manager, External Secrets and the Let's Encrypt issuers in the cluster"
        }
        Step::Refer => "Look up the shared infrastructure (ACR, AKS, Key Vault, DNS zone, gateway)",
        Step::Build => "Build the image with the Docker Engine API and push it to ACR",
        Step::Deploy => "Deploy to AKS by digest, track the rollout, roll back on failure",
    }
}

/// The steps this binary can run today.
const STEPS: &[Step] = &[
    Step::Infra,
    Step::Refer,
    Step::Build,
    Step::Scan,
    Step::Deploy,
];

fn arg_for(spec: &catalog::Spec) -> Arg {
    let mut help = spec.help.to_string();
    if let Some(d) = spec.default {
        help.push_str(&format!(" [default: {d}]"));
    }
    if !spec.values.is_empty() {
        help.push_str(&format!(" [possible values: {}]", spec.values.join(", ")));
    }
    let names: Vec<&str> = spec.names().filter(|n| *n != spec.name).collect();
    if !names.is_empty() {
        help.push_str(&format!(" [also: --{}]", names.join(", --")));
    }
    let arg = Arg::new(spec.name)
        .long(spec.name)
        .aliases(names)
        .help(help)
        .help_heading(spec.heading().title());
    match spec.kind {
        Kind::Value if spec.path => arg
            .value_name("PATH")
            .value_hint(clap::ValueHint::AnyPath)
            .action(ArgAction::Append),
        Kind::Value => arg
            .value_name(spec.name.to_ascii_uppercase().replace('-', "_"))
            .action(ArgAction::Append),
        Kind::Bool => arg
            .value_name("true|false")
            .num_args(0..=1)
            .default_missing_value("true")
            .action(ArgAction::Append),
        Kind::List | Kind::Lines if spec.path => arg
            .value_name("PATH")
            .value_hint(clap::ValueHint::AnyPath)
            .action(ArgAction::Append),
        Kind::List | Kind::Lines => arg
            .value_name(spec.name.to_ascii_uppercase().replace('-', "_"))
            .action(ArgAction::Append),
    }
}

/// The whole command line.
pub fn command() -> Command {
    let mut cmd = Command::new("aks-backend")
        .version(env!("CARGO_PKG_VERSION"))
        .about(ABOUT)
        .after_help(AFTER_HELP)
        .subcommand_required(true)
        .arg(
            Arg::new("config")
                .long("config")
                .global(true)
                .value_name("PATH")
                .help("Config file [default: ./aks-backend.toml when present]"),
        )
        .arg(
            Arg::new("print-settings")
                .long("print-settings")
                .global(true)
                .action(ArgAction::SetTrue)
                .help("Print the resolved settings with their origins and exit"),
        );
    for step in STEPS {
        let mut sub = Command::new(step.name()).about(step_about(*step));
        for spec in catalog::for_step(*step) {
            sub = sub.arg(arg_for(spec));
        }
        cmd = cmd.subcommand(sub);
    }
    let mut run = Command::new("run").about(
        "[infra ->] refer -> build -> scan -> deploy in one process, with one timing breakdown",
    );
    for spec in catalog::SETTINGS {
        run = run.arg(arg_for(spec));
    }
    cmd.subcommand(run)
        .subcommand(
            Command::new("completions")
                .about("Print a shell completion script (e.g. `aks-backend completions bash > /etc/bash_completion.d/aks-backend`)")
                .arg(
                    Arg::new("shell")
                        .required(true)
                        .value_parser(["bash", "zsh", "fish", "powershell"]),
                ),
        )
        .subcommand(Command::new("man").about("Print the man page (roff) on stdout"))
        .subcommand(crate::internal::command())
}

/// `completions SHELL`: the script clap_complete generates from [`command`].
pub fn completions(shell: &str) -> Vec<u8> {
    use clap_complete::Shell;
    let shell = match shell {
        "bash" => Shell::Bash,
        "zsh" => Shell::Zsh,
        "fish" => Shell::Fish,
        _ => Shell::PowerShell,
    };
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command(), "aks-backend", &mut out);
    out
}

/// `man`: the man page clap_mangen renders from [`command`] (sections of every step).
pub fn man_page() -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(command()).render(&mut out)?;
    Ok(out)
}

fn flags(m: &ArgMatches, step: Option<Step>) -> Flags {
    let mut out = Flags::new();
    for spec in catalog::SETTINGS
        .iter()
        .filter(|s| step.is_none_or(|st| s.applies_to(st)))
    {
        if m.value_source(spec.name) == Some(ValueSource::CommandLine)
            && let Some(vals) = m.get_many::<String>(spec.name)
        {
            out.insert(spec.name.to_string(), vals.cloned().collect());
        }
    }
    out
}

/// `main`: the real process environment, stdout/stderr.
pub fn main() -> ExitCode {
    let env = Env::from_process();
    let ci = CiContext::detect(&env);
    let host = Host::detect(&env, ci.host);
    ExitCode::from(run(std::env::args_os().collect(), env, host).code())
}

/// Parses `args`, runs one step, renders any error once through `host`.
pub fn run(args: Vec<OsString>, env: Env, host: Host) -> Exit {
    let matches = match command().try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Exit::BadInput
            } else {
                Exit::Ok
            };
        }
    };
    match matches.subcommand() {
        Some(("completions", m)) => {
            // `shell` is a required argument: clap has refused the command line without it.
            let shell = m.get_one::<String>("shell").map_or("bash", String::as_str);
            return write_stdout(&completions(shell));
        }
        Some(("man", _)) => {
            return match man_page() {
                Ok(page) => write_stdout(&page),
                Err(e) => {
                    eprintln!("error: cannot render the man page: {e}");
                    Exit::External
                }
            };
        }
        _ => {}
    }
    if let Some(("internal", _)) = matches.subcommand() {
        // The catalog is strings, numbers and string-keyed maps: it always serializes.
        let json = serde_json::to_string_pretty(&crate::internal::catalog_json())
            .unwrap_or_else(|e| format!("the catalog does not serialize: {e}"));
        host.print_data(&json);
        return Exit::Ok;
    }
    init_tracing(&env);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return Exit::External;
        }
    };
    let ctx = Ctx::new(env, host);
    let result = runtime.block_on(dispatch(&ctx, &matches));
    match result {
        Ok(exit) => {
            ctx.host.complete(exit, "");
            exit
        }
        Err(e) => {
            let exit = e.exit();
            report_error(&ctx.host, &e);
            ctx.host.complete(exit, &e.to_string());
            exit
        }
    }
}

/// A subcommand clap let through that is not a step (it cannot: clap refuses it first).
fn unknown_step(name: &str) -> InputError {
    InputError::Missing(
        format!("unknown step `{name}`"),
        "one of infra, refer, build, scan, deploy, run".into(),
    )
}

fn write_stdout(bytes: &[u8]) -> Exit {
    use std::io::Write;
    match std::io::stdout().lock().write_all(bytes) {
        Ok(()) => Exit::Ok,
        Err(e) => {
            eprintln!("error: cannot write to stdout: {e}");
            Exit::External
        }
    }
}

fn report_error(host: &Host, e: &Error) {
    let mut msg = e.to_string();
    if let Some(h) = e.hint() {
        for line in h.lines() {
            msg.push_str("\nhint: ");
            msg.push_str(line);
        }
    }
    host.annotate(Level::Error, &msg, &e.location().unwrap_or_default());
}

async fn dispatch(ctx: &Ctx, m: &ArgMatches) -> Result<Exit, Error> {
    // clap requires a subcommand and accepts only known ones.
    let Some((name, sub)) = m.subcommand() else {
        return Err(unknown_step("none").into());
    };
    let config_path = m.get_one::<String>("config").map(std::path::PathBuf::from);
    let config = ConfigFile::load(&ctx.env, config_path.as_deref())?;
    let print = m.get_flag("print-settings") || sub.get_flag("print-settings");
    if name == "run" {
        let flags = flags(sub, None);
        if print {
            let all: std::collections::BTreeMap<&str, _> = Step::ALL
                .iter()
                .map(|st| {
                    let r = Resolved::resolve(*st, &flags, &ctx.env, config.as_ref(), None);
                    (st.name(), r.describe())
                })
                .collect();
            let json = serde_json::to_string_pretty(&all)
                .unwrap_or_else(|e| format!("the settings do not serialize: {e}"));
            ctx.host.print_data(&json);
            return Ok(Exit::Ok);
        }
        let inputs = steps::run::Inputs {
            flags: &flags,
            config: config.as_ref(),
        };
        return steps::run::all(ctx, &inputs).await;
    }
    let step = *STEPS
        .iter()
        .find(|s| s.name() == name)
        .ok_or_else(|| unknown_step(name))?;
    let flags = flags(sub, Some(step));
    if print {
        let bare = Resolved::resolve(step, &flags, &ctx.env, config.as_ref(), None);
        let path = steps::run::state_path(ctx, &bare);
        let state = crate::state::State::load(&path)?;
        let resolved = Resolved::resolve(step, &flags, &ctx.env, config.as_ref(), Some(&state));
        let json = serde_json::to_string_pretty(&resolved.describe())
            .unwrap_or_else(|e| format!("the settings do not serialize: {e}"));
        ctx.host.print_data(&json);
        return Ok(Exit::Ok);
    }
    let inputs = steps::run::Inputs {
        flags: &flags,
        config: config.as_ref(),
    };
    steps::run::single(ctx, step, &inputs).await
}

/// Diagnostics on stderr. By default only this crate's warnings: a library's own log
/// line (kube's `ERROR ... failed with status 500`) is not for the user, whose report
/// already says what failed. `AKS_BACKEND_LOG` takes a `RUST_LOG`-style filter
/// (`debug`, `aks_backend=debug,kube=info`) to see everything.
fn init_tracing(env: &Env) {
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(log_filter(env)))
        .with_ansi(log_colour(env, std::io::stderr().is_terminal()))
        .with_writer(std::io::stderr)
        .without_time()
        .try_init();
}

/// The log filter: `AKS_BACKEND_LOG` (tracing's EnvFilter syntax), else our debug logs
/// when the runner is in debug mode (GitHub's `RUNNER_DEBUG=1`, Azure Pipelines'
/// `System.Debug=true`), else our warnings only (never a library's own lines).
pub fn log_filter(env: &Env) -> String {
    if let Some(f) = env
        .get("AKS_BACKEND_LOG")
        .map(str::trim)
        .filter(|f| !f.is_empty())
    {
        return f.to_string();
    }
    let debug = env.get("RUNNER_DEBUG") == Some("1")
        || env
            .get("SYSTEM_DEBUG")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if debug {
        "aks_backend=debug".into()
    } else {
        "aks_backend=warn".into()
    }
}

/// Colour codes only on a terminal, and not when `NO_COLOR` is set (non-empty, as
/// no-color.org says).
fn log_colour(env: &Env, stderr_is_terminal: bool) -> bool {
    stderr_is_terminal && env.get("NO_COLOR").is_none_or(str::is_empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs.iter().copied(), "/")
    }

    #[test]
    fn only_our_crate_logs_by_default_and_the_variable_opens_it_up() {
        assert_eq!(log_filter(&env(&[])), "aks_backend=warn");
        assert_eq!(
            log_filter(&env(&[("AKS_BACKEND_LOG", " ")])),
            "aks_backend=warn"
        );
        assert_eq!(log_filter(&env(&[("AKS_BACKEND_LOG", "debug")])), "debug");
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(!log_colour(&env(&[]), false));
        assert!(log_colour(&env(&[]), true));
        assert!(!log_colour(&env(&[("NO_COLOR", "1")]), true));
        assert!(log_colour(&env(&[("NO_COLOR", "")]), true));
    }

    #[test]
    fn help_groups_settings_under_headings_with_possible_values() {
        let help = command()
            .try_get_matches_from(["aks-backend", "scan", "--help"])
            .expect_err("--help stops parsing")
            .render()
            .to_string();
        for h in [
            "General:",
            "Report (PR comment",
            "Sign-in (Azure):",
            "Scan:",
        ] {
            assert!(help.contains(h), "{h} missing:\n{help}");
        }
        assert!(help.contains("--print-settings"), "{help}");
        assert!(help.contains("[possible values: UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL]"));
        assert!(help.contains("[possible values: AzureCloud, AzureChinaCloud"));
        // Every enumeration lists its values.
        for spec in catalog::SETTINGS.iter().filter(|s| !s.values.is_empty()) {
            let run = command()
                .find_subcommand_mut("run")
                .expect("run")
                .render_long_help()
                .to_string();
            assert!(
                run.contains(&format!("[possible values: {}]", spec.values.join(", "))),
                "{}",
                spec.name
            );
        }
        insta::assert_snapshot!("scan_help", help);
    }

    #[test]
    fn completions_for_every_shell() {
        for shell in ["bash", "zsh", "fish", "powershell"] {
            let out = String::from_utf8(completions(shell)).unwrap();
            assert!(out.contains("severity"), "{shell}");
            assert!(out.contains("trivy-cache-dir"), "{shell}");
            assert!(out.contains("completions"), "{shell}");
        }
        insta::assert_snapshot!(
            "completions_bash",
            String::from_utf8(completions("bash")).unwrap()
        );
    }

    #[test]
    fn man_page_renders() {
        let man = String::from_utf8(man_page().unwrap()).unwrap();
        assert!(man.starts_with(".ie \\n(.g .ds Aq") || man.contains(".TH aks-backend"));
        insta::assert_snapshot!("man_page", man);
    }

    #[test]
    fn runner_debug_mode_turns_on_our_debug_logs() {
        let env = |pairs: &[(&str, &str)]| Env::from_pairs(pairs.iter().copied(), "/");
        assert_eq!(log_filter(&env(&[])), "aks_backend=warn");
        assert_eq!(
            log_filter(&env(&[("RUNNER_DEBUG", "1")])),
            "aks_backend=debug"
        );
        assert_eq!(
            log_filter(&env(&[("SYSTEM_DEBUG", "True")])),
            "aks_backend=debug"
        );
        assert_eq!(
            log_filter(&env(&[("AKS_BACKEND_LOG", "trace"), ("RUNNER_DEBUG", "1")])),
            "trace"
        );
    }
}
