//! Packaging: `action.yml`, the workflows, the Azure DevOps task and extension hold to the
//! official schemas, to each other and to the settings catalog (the drift check), and the
//! action's binary resolver only runs a release asset whose sha256 the committed manifest
//! names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use aks_backend::host::outputs::OUTPUTS;
use aks_backend::inputs::catalog::{Hosts, SETTINGS, Spec};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::release_server::ReleaseServer;
use crate::support::schema7::{check7, json_file, yaml, yaml_file};
use crate::support::spec::spec;
use crate::support::tools::bin;

/// Inputs of the action / task that are not settings (kept in sync with scripts/gen-packaging).
const ACTION_ONLY_INPUTS: &[&str] = &["command", "cache-trivy-db"];
const TASK_ONLY_INPUTS: &[&str] = &["command", "azureSubscription"];
const ACTION_ONLY_OUTPUTS: &[&str] = &["bin"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn action() -> Value {
    yaml_file(&root().join("action.yml"))
}

fn task() -> Value {
    json_file(&root().join("azure-pipelines-task/AksBackend/task.json"))
}

fn camel(kebab: &str) -> String {
    let mut parts = kebab.split('-');
    let mut out = parts.next().unwrap_or_default().to_string();
    for p in parts {
        let mut c = p.chars();
        if let Some(f) = c.next() {
            out.extend(f.to_uppercase());
            out.push_str(c.as_str());
        }
    }
    out
}

fn kebab(camel: &str) -> String {
    let mut out = String::new();
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            out.push('-');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// A YAML/JSON default as the catalog writes it.
fn default_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// The action's default of a setting: only a workflow expression the catalog names
/// (`${{ github.token }}`). A declared default would make the runner set `INPUT_<NAME>` on
/// every run, and that outranks the user's `aks-backend.toml`; the binary applies its own.
fn action_default(s: &Spec) -> Option<&'static str> {
    s.action_default
}

/// Everything on which `action.yml`, `task.json` and the catalog disagree.
fn drift(action: &Value, task: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    // action.yml: the input names (plural for lists) and the peers' aliases.
    let mut catalog: BTreeMap<&str, Option<&str>> = BTreeMap::new();
    for s in SETTINGS.iter().filter(|s| s.hosts != Hosts::AzureDevOps) {
        catalog.insert(s.input_name(), action_default(s));
        for a in s.aliases {
            catalog.insert(a, None);
        }
    }
    let github_only: BTreeSet<&str> = SETTINGS
        .iter()
        .filter(|s| s.hosts == Hosts::GitHub)
        .map(|s| s.input_name())
        .collect();
    let ado_only: BTreeSet<&str> = SETTINGS
        .iter()
        .filter(|s| s.hosts == Hosts::AzureDevOps)
        .map(|s| s.input_name())
        .collect();

    // action.yml inputs
    let inputs = action["inputs"].as_object().cloned().unwrap_or_default();
    for (name, default) in &catalog {
        match inputs.get(*name) {
            None => problems.push(format!("action.yml: input `{name}` is missing")),
            Some(i) => {
                let got = default_text(i.get("default"));
                if got.as_deref() != *default {
                    problems.push(format!(
                        "action.yml: input `{name}` default {got:?}, the catalog says {default:?}"
                    ));
                }
            }
        }
    }
    for name in inputs.keys() {
        if ado_only.contains(name.as_str()) {
            problems.push(format!(
                "action.yml: input `{name}` is for Azure DevOps only"
            ));
        } else if !catalog.contains_key(name.as_str())
            && !ACTION_ONLY_INPUTS.contains(&name.as_str())
        {
            problems.push(format!("action.yml: input `{name}` is not in the catalog"));
        }
    }
    // ... each reaches the binary as INPUT_* env of the run step
    let steps = action["runs"]["steps"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let run = steps.iter().find(|s| s["id"] == "run");
    let env = run
        .and_then(|r| r["env"].as_object().cloned())
        .unwrap_or_default();
    for name in catalog.keys() {
        let var = format!("INPUT_{}", name.to_ascii_uppercase().replace('-', "_"));
        let want = format!("${{{{ inputs.{name} }}}}");
        if env.get(&var).and_then(Value::as_str) != Some(want.as_str()) {
            problems.push(format!(
                "action.yml: the run step does not set {var}: {want}"
            ));
        }
    }
    // outputs
    let outputs = action["outputs"].as_object().cloned().unwrap_or_default();
    for o in OUTPUTS.iter().filter(|o| !o.name.contains('<')) {
        let want = format!("${{{{ steps.run.outputs.{} }}}}", o.name);
        match outputs.get(o.name) {
            None => problems.push(format!("action.yml: output `{}` is missing", o.name)),
            Some(v) if v["value"].as_str() != Some(want.as_str()) => {
                problems.push(format!("action.yml: output `{}` is not {want}", o.name))
            }
            _ => {}
        }
    }
    for name in outputs.keys() {
        if !OUTPUTS.iter().any(|o| o.name == name) && !ACTION_ONLY_OUTPUTS.contains(&name.as_str())
        {
            problems.push(format!("action.yml: output `{name}` is not in the catalog"));
        }
    }

    // task.json inputs
    let task_inputs: BTreeMap<String, Value> = task["inputs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|i| (i["name"].as_str().unwrap_or_default().to_string(), i))
        .collect();
    let catalog: BTreeMap<&str, Option<&str>> = SETTINGS
        .iter()
        .filter(|s| s.hosts != Hosts::GitHub)
        // No defaultValue in task.json, for the reason `action_default` gives.
        .map(|s| (s.input_name(), None))
        .collect();
    for (name, default) in &catalog {
        let tname = camel(name);
        if kebab(&tname) != *name {
            problems.push(format!(
                "task.json: `{name}` does not survive camelCase and back ({tname})"
            ));
        }
        match task_inputs.get(&tname) {
            None => problems.push(format!("task.json: input `{tname}` ({name}) is missing")),
            Some(i) => {
                let got = default_text(i.get("defaultValue"));
                if got.as_deref() != *default {
                    problems.push(format!(
                        "task.json: input `{tname}` default {got:?}, the catalog says {default:?}"
                    ));
                }
            }
        }
    }
    for name in task_inputs.keys() {
        if github_only.contains(kebab(name).as_str()) {
            problems.push(format!("task.json: input `{name}` is for GitHub only"));
        }
    }
    for name in task_inputs.keys() {
        if !catalog.contains_key(kebab(name).as_str()) && !TASK_ONLY_INPUTS.contains(&name.as_str())
        {
            problems.push(format!("task.json: input `{name}` is not in the catalog"));
        }
    }
    let task_outputs: BTreeSet<String> = task["outputVariables"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|o| o["name"].as_str().map(String::from))
        .collect();
    let want_outputs: BTreeSet<String> = OUTPUTS
        .iter()
        .filter(|o| !o.name.contains('<'))
        .map(|o| camel(o.name))
        .collect();
    if task_outputs != want_outputs {
        problems.push(format!(
            "task.json: outputVariables {task_outputs:?}, the catalog says {want_outputs:?}"
        ));
    }
    // the hand-written inputs
    for name in ["command"] {
        if !inputs.contains_key(name) {
            problems.push(format!("action.yml: input `{name}` is missing"));
        }
    }
    for name in TASK_ONLY_INPUTS {
        if !task_inputs.contains_key(*name) {
            problems.push(format!("task.json: input `{name}` is missing"));
        }
    }
    problems
}

#[test]
fn action_task_and_catalog_agree() {
    let problems = drift(&action(), &task());
    assert!(
        problems.is_empty(),
        "packaging drifted from the catalog; run scripts/gen-packaging:\n{}",
        problems.join("\n")
    );
}

#[test]
fn drift_check_sees_a_missing_input_a_changed_default_and_a_stray_input() {
    let mut a = action();
    let mut t = task();
    a["inputs"].as_object_mut().unwrap().remove("severity");
    a["inputs"]["timeout"]["default"] = json!("99m");
    a["outputs"].as_object_mut().unwrap().remove("gate");
    t["inputs"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "bogusInput", "label": "x", "type": "string"}));
    for i in t["inputs"].as_array_mut().unwrap() {
        if i["name"] == "ignoreUnfixed" {
            i["defaultValue"] = json!(true);
        }
    }
    let p = drift(&a, &t).join("\n");
    assert!(p.contains("action.yml: input `severity` is missing"), "{p}");
    assert!(p.contains("input `timeout` default Some(\"99m\")"), "{p}");
    assert!(p.contains("action.yml: output `gate` is missing"), "{p}");
    assert!(
        p.contains("task.json: input `bogusInput` is not in the catalog"),
        "{p}"
    );
    assert!(p.contains("`ignoreUnfixed` default Some(\"true\")"), "{p}");

    // Names: the action's list inputs are plural, GitHub-only inputs stay out of the
    // task and Azure-DevOps-only ones out of the action.
    let mut a = action();
    let mut t = task();
    let tags = a["inputs"]["tags"].clone();
    a["inputs"].as_object_mut().unwrap().remove("tags");
    a["inputs"]["tag"] = tags;
    a["inputs"]["pr-status"] = json!({"description": "x", "required": false, "default": "false"});
    a["inputs"]["github-token"]
        .as_object_mut()
        .unwrap()
        .remove("default");
    t["inputs"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "githubToken", "label": "GitHub token", "type": "string"}));
    let p = drift(&a, &t).join("\n");
    assert!(p.contains("action.yml: input `tags` is missing"), "{p}");
    assert!(
        p.contains("action.yml: input `tag` is not in the catalog"),
        "{p}"
    );
    assert!(
        p.contains("action.yml: input `pr-status` is for Azure DevOps only"),
        "{p}"
    );
    assert!(
        p.contains(
            "input `github-token` default None, the catalog says Some(\"${{ github.token }}\")"
        ),
        "{p}"
    );
    assert!(
        p.contains("task.json: input `githubToken` is for GitHub only"),
        "{p}"
    );
}

/// The action's names reach the binary's settings: `INPUT_TAGS` (the action's plural)
/// fills `--tag`, the config file takes `tags` and `tag`, trivy-action's `exit-code`
/// fills `fail-on-findings`, azure/login's `environment` is the cloud.
#[test]
fn the_default_github_token_is_what_the_self_test_exercises() {
    // The action defaults the token like every peer: the runner does not export
    // GITHUB_TOKEN to steps.
    assert_eq!(
        action()["inputs"]["github-token"]["default"],
        "${{ github.token }}"
    );
    // The self-test's scan passes no token, requires the SARIF upload (which needs one)
    // and grants the permission for it: a missing default fails the workflow.
    let wf = yaml_file(&root().join(".github/workflows/action-selftest.yml"));
    let job = &wf["jobs"]["selftest"];
    assert_eq!(job["permissions"]["security-events"], "write");
    let scan = job["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "scan")
        .expect("the scan step");
    assert_eq!(scan["uses"], "./");
    assert!(scan["with"].get("github-token").is_none(), "{scan}");
    assert!(
        scan["with"]["sarif-upload-required"]
            .as_str()
            .is_some_and(|v| v.contains("github.event_name == 'push'")),
        "{scan}"
    );
}

#[test]
fn action_names_and_peer_aliases_map_to_the_settings() {
    let dir = tempfile::tempdir().unwrap();
    let print = |args: &[&str], envs: &[(&str, &str)]| -> Value {
        let mut cmd = Command::new(bin());
        cmd.current_dir(dir.path())
            .args(args)
            .arg("--print-settings")
            .env_remove("GITHUB_ACTIONS")
            .env_remove("TF_BUILD");
        for (k, _) in std::env::vars() {
            if k.starts_with("INPUT_") {
                cmd.env_remove(k);
            }
        }
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let b = print(
        &["build"],
        &[
            ("INPUT_TAGS", "r.io/a:v1,r.io/a:v2"),
            ("INPUT_BUILD_ARGS", "A=1\nB=x,y"),
            ("INPUT_PLATFORMS", "linux/amd64"),
            ("INPUT_ENVIRONMENT", "AzureUSGovernment"),
        ],
    );
    assert_eq!(b["tag"]["values"], json!(["r.io/a:v1", "r.io/a:v2"]));
    assert_eq!(b["tag"]["origin"], json!({"env": "INPUT_TAGS"}));
    assert_eq!(b["build-arg"]["values"], json!(["A=1", "B=x,y"]));
    assert_eq!(b["platform"]["values"], json!(["linux/amd64"]));
    assert_eq!(b["environment"]["values"], json!(["AzureUSGovernment"]));
    // The CLI is the docker CLI's: singular, repeatable.
    let b = print(&["build", "--tag", "r.io/a:v1", "--tag", "r.io/a:v2"], &[]);
    assert_eq!(b["tag"]["values"], json!(["r.io/a:v1", "r.io/a:v2"]));
    // Peers' names.
    let s = print(
        &["scan"],
        &[
            ("INPUT_EXIT_CODE", "0"),
            ("INPUT_CACHE_DIR", "/tmp/c"),
            ("INPUT_OUTPUT", "t.sarif"),
        ],
    );
    assert_eq!(s["fail-on-findings"]["values"], json!(["0"]));
    assert_eq!(
        s["fail-on-findings"]["origin"],
        json!({"env": "INPUT_EXIT_CODE"})
    );
    assert_eq!(s["trivy-cache-dir"]["values"], json!(["/tmp/c"]));
    assert_eq!(s["sarif"]["values"], json!(["t.sarif"]));
    // The config file takes the action's names.
    std::fs::write(
        dir.path().join("aks-backend.toml"),
        "[build]\ntags = [\"r.io/a:cfg\"]\nlabels = [\"k=v\"]\n[scan]\ntrivyignores = \"x.ignore\"\n",
    )
    .unwrap();
    let b = print(&["build"], &[]);
    assert_eq!(b["tag"]["values"], json!(["r.io/a:cfg"]));
    assert_eq!(b["label"]["values"], json!(["k=v"]));
    let s = print(&["scan"], &[]);
    assert_eq!(s["trivyignore"]["values"], json!(["x.ignore"]));
}

/// What a runner does with `action.yml`: every input with a `default` is set as
/// `INPUT_<NAME>` on every run. The user's `aks-backend.toml` must still win over the
/// binary's defaults, so the action may declare none (the token's expression aside), and
/// the task none either (the agent does the same with `defaultValue`).
#[test]
fn the_config_file_is_not_overridden_by_the_packagings_defaults() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("aks-backend.toml"),
        "[deploy]\nnamespace = \"from-config\"\ntimeout = \"7m\"\nreplicas = \"4\"\n",
    )
    .unwrap();
    let mut runner_env: Vec<(String, String)> = Vec::new();
    for (name, input) in action()["inputs"].as_object().unwrap() {
        if let Some(d) = default_text(input.get("default")) {
            let v = if d.contains("${{") {
                "t0ken".to_string()
            } else {
                d
            };
            runner_env.push((
                format!("INPUT_{}", name.to_ascii_uppercase().replace(' ', "_")),
                v,
            ));
        }
    }
    for i in task()["inputs"].as_array().unwrap() {
        if let Some(d) = default_text(i.get("defaultValue")) {
            runner_env.push((
                format!("INPUT_{}", i["name"].as_str().unwrap().to_ascii_uppercase()),
                d,
            ));
        }
    }
    let mut cmd = Command::new(bin());
    cmd.current_dir(dir.path())
        .args(["deploy", "--print-settings"])
        .env_remove("GITHUB_ACTIONS")
        .env_remove("TF_BUILD");
    for (k, _) in std::env::vars() {
        if k.starts_with("INPUT_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(runner_env);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["namespace"]["values"], json!(["from-config"]), "{v}");
    assert_eq!(v["timeout"]["values"], json!(["7m"]), "{v}");
    assert_eq!(v["replicas"]["values"], json!(["4"]), "{v}");
}

#[test]
fn generated_files_are_up_to_date() {
    let out = Command::new("python3")
        .arg(root().join("scripts/gen-packaging"))
        .args(["--check", "--bin"])
        .arg(bin())
        .output()
        .expect("python3 runs (scripts/setup-test-tools)");
    assert!(
        out.status.success(),
        "scripts/gen-packaging --check: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn internal_catalog_prints_every_setting_output_and_exit_code() {
    let out = Command::new(bin())
        .args(["internal", "catalog", "--format", "json"])
        .env_remove("GITHUB_ACTIONS")
        .env_remove("TF_BUILD")
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["settings"].as_array().unwrap().len(), SETTINGS.len());
    assert_eq!(v["outputs"].as_array().unwrap().len(), OUTPUTS.len());
    let sev = v["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "severity")
        .unwrap();
    assert_eq!(sev["kind"], "list");
    assert_eq!(sev["steps"], json!(["scan"]));
    assert_eq!(sev["default"], "UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL");
    let codes: Vec<u64> = v["exit_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_u64().unwrap())
        .collect();
    assert_eq!(codes, [0, 1, 2, 3]);
    assert_eq!(
        v["commands"],
        json!(["infra", "refer", "build", "scan", "deploy", "run"])
    );
}

// --- the README's quickstart ---

/// The README's first screen holds the quickstart a user copies: a GitHub workflow that
/// validates and uses the action's inputs, the Azure Pipelines step with the task's, then
/// the two commands.
#[test]
fn readme_quickstart_is_on_the_first_screen_and_uses_real_inputs() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let first: Vec<&str> = readme.lines().take(45).collect();
    let first = first.join("\n");
    let blocks: Vec<&str> = first.split("```").skip(1).step_by(2).collect();
    assert!(blocks.len() >= 3, "{first}");
    let wf = yaml(blocks[0].trim_start_matches("yaml\n")).unwrap();
    check7("schemas/github-workflow.json", &wf).unwrap();
    let inputs = action()["inputs"].as_object().cloned().unwrap();
    let step = &wf["jobs"]["ship"]["steps"][1];
    assert!(
        step["uses"]
            .as_str()
            .unwrap()
            .starts_with("org/aks-backend-action@")
    );
    for k in step["with"].as_object().unwrap().keys() {
        assert!(inputs.contains_key(k), "README workflow: unknown input {k}");
    }
    assert!(blocks[0].lines().filter(|l| !l.trim().is_empty()).count() <= 11);
    let ado = yaml(blocks[1].trim_start_matches("yaml\n")).unwrap();
    let names: BTreeSet<String> = task()["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect();
    for k in ado["steps"][0]["inputs"].as_object().unwrap().keys() {
        assert!(names.contains(k), "README pipeline: unknown input {k}");
    }
    assert!(blocks[2].contains("scripts/demo") && blocks[2].contains("scripts/test"));
}

// --- schemas ---

/// `docs/aks-backend.schema.json` (generated from the catalog; `generated_files_are_up_to_date`
/// holds it to the catalog) accepts the examples, which reference it, and the config
/// parser accepts them too; a misspelt key or a wrong enumeration value is refused.
#[test]
fn config_examples_reference_and_satisfy_the_generated_schema() {
    let schema: Value = json_file(&root().join("docs/aks-backend.schema.json"));
    let mut compiled = schema.clone();
    compiled.as_object_mut().unwrap().remove("$schema");
    let v = jsonschema::draft7::options().build(&compiled).unwrap();
    let example = root().join("examples/aks-backend.toml");
    let text = std::fs::read_to_string(&example).unwrap();
    assert_eq!(
        text.lines().next(),
        Some("#:schema ../docs/aks-backend.schema.json")
    );
    let doc: Value = serde_json::to_value(text.parse::<toml::Table>().unwrap()).unwrap();
    let errors: Vec<String> = v.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    aks_backend::inputs::ConfigFile::parse(&example, &text).unwrap();
    // Every setting's every name is a key; the step tables hold the step's settings.
    for s in SETTINGS {
        for n in s.names() {
            assert!(schema["properties"].get(n).is_some(), "{n}");
        }
    }
    assert!(
        schema["properties"]["build"]["properties"]
            .get("tags")
            .is_some()
    );
    assert!(
        schema["properties"]["build"]["properties"]
            .get("severity")
            .is_none()
    );
    for bad in [
        "tgas = [\"x\"]",
        "[scan]\nseverity = [\"SEVERE\"]",
        "environment = \"production\"",
    ] {
        let doc: Value = serde_json::to_value(bad.parse::<toml::Table>().unwrap()).unwrap();
        assert!(!v.is_valid(&doc), "{bad} passed the schema");
    }
}

/// Every GitHub workflow file of the repository and the examples.
fn workflow_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in [".github/workflows", "examples/github"] {
        if let Ok(rd) = std::fs::read_dir(root().join(dir)) {
            for e in rd.flatten() {
                let p = e.path();
                if matches!(p.extension().and_then(|x| x.to_str()), Some("yml" | "yaml")) {
                    files.push(p);
                }
            }
        }
    }
    files.sort();
    files
}

#[test]
fn action_yml_validates_against_the_action_schema() {
    check7("schemas/github-action.json", &action()).unwrap();
    // and the schema is not a rubber stamp
    let mut broken = action();
    broken["runs"]["using"] = json!("docker-compose");
    broken["inputs"]["command"]["requird"] = json!(true);
    assert!(check7("schemas/github-action.json", &broken).is_err());
}

#[test]
fn workflows_validate_against_the_workflow_schema() {
    let files = workflow_files();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for want in ["ci.yml", "release.yml", "action-selftest.yml"] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} is missing: {names:?}"
        );
    }
    for f in &files {
        check7("schemas/github-workflow.json", &yaml_file(f))
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    }
    let broken = yaml("on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    step: []\n").unwrap();
    assert!(check7("schemas/github-workflow.json", &broken).is_err());
}

#[test]
fn third_party_actions_are_pinned_by_commit_and_permissions_are_explicit() {
    let mut files = workflow_files();
    files.push(root().join("action.yml"));
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for line in text.lines() {
            let l = line.trim_start().trim_start_matches("- ");
            let Some(rest) = l.strip_prefix("uses:") else {
                continue;
            };
            let target = rest.split('#').next().unwrap().trim();
            // `./` is this checkout; the examples use this project's own action by its
            // release tag (the binary is verified against the manifest at that ref).
            if target.starts_with("./") || target.starts_with("org/aks-backend-action@") {
                continue;
            }
            let sha = target.rsplit_once('@').map(|(_, s)| s).unwrap_or("");
            assert!(
                sha.len() == 40 && sha.chars().all(|c| c.is_ascii_hexdigit()),
                "{}: `{target}` is not pinned by a full commit SHA",
                f.display()
            );
        }
        if f.file_name().unwrap() != "action.yml" {
            let wf = yaml_file(f);
            assert!(
                wf.get("permissions").is_some(),
                "{}: no top-level permissions",
                f.display()
            );
        }
    }
}

#[test]
fn task_json_validates_against_the_task_schema() {
    let s = spec("schemas/tasks.schema.json");
    s.check("#", &task()).unwrap();
    let mut broken = task();
    broken["inputs"][0]["name"] = json!("not-alphanumeric");
    assert!(s.check("#", &broken).is_err());
    let conn = task()["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "azureSubscription")
        .cloned()
        .unwrap();
    assert_eq!(conn["type"], "connectedService:AzureRM");
}

#[test]
fn extension_manifest_validates() {
    let m = json_file(&root().join("azure-pipelines-task/vss-extension.json"));
    check7("schemas/azure-devops-extension-manifest-1.0.json", &m).unwrap();
    assert_eq!(m["contributions"][0]["properties"]["name"], "AksBackend");
    let mut broken = m.clone();
    broken["categories"] = json!(["Not a category"]);
    assert!(check7("schemas/azure-devops-extension-manifest-1.0.json", &broken).is_err());
}

#[test]
fn the_task_ships_the_same_checksum_manifest_as_the_action() {
    assert_eq!(
        json_file(&root().join("dist/checksums.json")),
        json_file(&root().join("azure-pipelines-task/AksBackend/checksums.json")),
        "copy dist/checksums.json to azure-pipelines-task/AksBackend/"
    );
}

#[test]
fn azure_pipelines_example_uses_the_task_inputs() {
    let p = yaml_file(&root().join("examples/azure-pipelines.yml"));
    let names: BTreeSet<String> = task()["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect();
    let mut seen = 0;
    for step in p["steps"].as_array().expect("steps") {
        if step["task"]
            .as_str()
            .is_some_and(|t| t.starts_with("AksBackend@"))
        {
            seen += 1;
            for k in step["inputs"].as_object().unwrap().keys() {
                assert!(
                    names.contains(k),
                    "examples/azure-pipelines.yml: unknown input {k}"
                );
            }
        }
    }
    assert!(seen > 0, "the example does not use the task");
}

// --- the action's binary resolver ---

const TARGET: &str = "x86_64-unknown-linux-musl";
const ASSET: &str = "aks-backend-x86_64-unknown-linux-musl";

struct Resolver {
    dir: tempfile::TempDir,
    manifest: PathBuf,
}

impl Resolver {
    fn new(current: &str, releases: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("checksums.json");
        let mut rel = serde_json::Map::new();
        for (tag, sha) in releases {
            rel.insert(
                tag.to_string(),
                json!({TARGET: {"asset": ASSET, "sha256": sha}}),
            );
        }
        std::fs::write(
            &manifest,
            json!({"schema": 1, "current": current, "release_base_url": null, "releases": rel})
                .to_string(),
        )
        .unwrap();
        Resolver { dir, manifest }
    }

    fn tool_cache(&self) -> PathBuf {
        self.dir.path().join("tool-cache")
    }

    fn run(
        &self,
        r#ref: &str,
        base: &str,
        path_env: Option<&str>,
    ) -> (i32, String, String, String) {
        self.run_on(r#ref, base, path_env, Some("X64"))
    }

    /// As [`Resolver::run`] on a runner of `arch` (`RUNNER_ARCH`; `None`: not set, so the
    /// resolver falls back to `uname -m`).
    fn run_on(
        &self,
        r#ref: &str,
        base: &str,
        path_env: Option<&str>,
        arch: Option<&str>,
    ) -> (i32, String, String, String) {
        let out_file = self.dir.path().join("github-output");
        let _ = std::fs::remove_file(&out_file);
        let mut cmd = Command::new("bash");
        cmd.arg(root().join("scripts/action/resolve-binary.sh"))
            .env_clear()
            .env("PATH", path_env.unwrap_or(&std::env::var("PATH").unwrap()))
            .env("HOME", self.dir.path())
            .env("AKS_BACKEND_ACTION_PATH", root())
            .env("AKS_BACKEND_ACTION_REF", r#ref)
            .env("AKS_BACKEND_MANIFEST", &self.manifest)
            .env("AKS_BACKEND_RELEASE_BASE_URL", base)
            .env("RUNNER_TOOL_CACHE", self.tool_cache())
            .env("RUNNER_TEMP", self.dir.path())
            .env("RUNNER_OS", "Linux")
            .env("GITHUB_OUTPUT", &out_file);
        if let Some(arch) = arch {
            cmd.env("RUNNER_ARCH", arch);
        }
        let o = cmd.output().unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).trim().to_string(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
            std::fs::read_to_string(&out_file).unwrap_or_default(),
        )
    }
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// A stand-in release asset: small (the debug binary is >100 MB), and it runs.
fn release_asset() -> Vec<u8> {
    b"#!/bin/sh\necho \"aks-backend 0.0.0-release-asset\"\n".to_vec()
}

#[test]
fn resolver_downloads_a_verified_release_into_the_tool_cache_and_reuses_it() {
    let server = ReleaseServer::start();
    let bytes = release_asset();
    server.put("v7.1.0", ASSET, bytes.clone());
    let r = Resolver::new("v7.1.0", &[("v7.1.0", &sha256_hex(&bytes))]);

    // `@v7` is the major alias of the release this commit was tagged as.
    let (code, path, err, gh_out) = r.run("v7", &server.base, None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        Path::new(&path),
        r.tool_cache().join("aks-backend/7.1.0/x86_64/aks-backend")
    );
    assert_eq!(gh_out, format!("bin={path}\n"));
    assert_eq!(
        server.hits(),
        [
            format!("/download/v7.1.0/{ASSET}"),
            format!("/assets/v7.1.0/{ASSET}")
        ]
    );
    let v = Command::new(&path).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&v.stdout).starts_with("aks-backend "));

    // Second run: the tool cache, verified, no request.
    let (code, again, err, _) = r.run("v7.1.0", &server.base, None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(again, path);
    assert!(err.contains("from the tool cache"), "{err}");
    assert_eq!(server.hits().len(), 2);

    // A tampered cache copy is replaced by a verified download.
    std::fs::write(&path, b"#!/bin/sh\necho evil\n").unwrap();
    let (code, _, err, _) = r.run("v7.1.0", &server.base, None);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("does not match the manifest"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

/// Issue 14: the release has an x86_64 and an aarch64 asset; the resolver picks the one of
/// the runner's architecture (`RUNNER_ARCH` X64/ARM64, else `uname -m`), verified by its own
/// sha256, into its own tool cache directory.
#[test]
fn resolver_picks_the_asset_of_the_runners_architecture() {
    const ARM_TARGET: &str = "aarch64-unknown-linux-musl";
    const ARM_ASSET: &str = "aks-backend-aarch64-unknown-linux-musl";
    let server = ReleaseServer::start();
    let x86 = release_asset();
    let arm = b"#!/bin/sh\necho \"aks-backend 0.0.0-aarch64\"\n".to_vec();
    server.put("v7.4.0", ASSET, x86.clone());
    server.put("v7.4.0", ARM_ASSET, arm.clone());
    let r = Resolver::new("v7.4.0", &[("v7.4.0", &sha256_hex(&x86))]);
    let mut m = json_file(&r.manifest);
    m["releases"]["v7.4.0"][ARM_TARGET] = json!({"asset": ARM_ASSET, "sha256": sha256_hex(&arm)});
    std::fs::write(&r.manifest, m.to_string()).unwrap();

    let (code, path, err, _) = r.run_on("v7.4.0", &server.base, None, Some("ARM64"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        Path::new(&path),
        r.tool_cache().join("aks-backend/7.4.0/aarch64/aks-backend")
    );
    assert_eq!(std::fs::read(&path).unwrap(), arm);
    assert_eq!(
        server.hits().last().unwrap(),
        &format!("/assets/v7.4.0/{ARM_ASSET}")
    );

    let (code, path, err, _) = r.run_on("v7.4.0", &server.base, None, Some("X64"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        Path::new(&path),
        r.tool_cache().join("aks-backend/7.4.0/x86_64/aks-backend")
    );
    assert_eq!(std::fs::read(&path).unwrap(), x86);

    // No RUNNER_ARCH (another CI, a laptop): `uname -m` decides; from the cache now.
    let machine = Command::new("uname").arg("-m").output().unwrap();
    let machine = String::from_utf8_lossy(&machine.stdout).trim().to_string();
    let (code, path, err, _) = r.run_on("v7.4.0", &server.base, None, None);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("from the tool cache"), "{err}");
    assert_eq!(
        Path::new(&path),
        r.tool_cache()
            .join(format!("aks-backend/7.4.0/{machine}/aks-backend"))
    );
    assert_eq!(server.hits().len(), 4);

    // An ARM64 runner with a manifest that has no aarch64 asset builds from source.
    let r = Resolver::new("v7.4.0", &[("v7.4.0", &sha256_hex(&x86))]);
    let (code, _, err, _) = r.run_on("v7.4.0", &server.base, Some("/usr/bin:/bin"), Some("ARM64"));
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("building from source"), "{err}");
}

/// The release builds both assets with scripts/release/build (cargo zigbuild) using the
/// cross tools scripts/setup-test-tools pins, and scripts/test runs the aarch64 one under qemu.
#[test]
fn release_builds_both_architectures_with_the_pinned_cross_tools() {
    let wf = std::fs::read_to_string(root().join(".github/workflows/release.yml")).unwrap();
    let setup = std::fs::read_to_string(root().join("scripts/setup-test-tools")).unwrap();
    let build = std::fs::read_to_string(root().join("scripts/release/build")).unwrap();
    let test = std::fs::read_to_string(root().join("scripts/test")).unwrap();
    let pin = |name: &str| {
        setup
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} is not pinned in scripts/setup-test-tools"))
            .to_string()
    };
    let (zig, zigbuild) = (pin("ZIGLANG_VERSION"), pin("ZIGBUILD_VERSION"));
    assert!(
        wf.contains(&format!("ziglang=={zig} cargo-zigbuild=={zigbuild}")),
        "release.yml installs other cross tools than scripts/setup-test-tools"
    );
    assert!(wf.contains("scripts/release/build --out out"));
    assert!(build.contains("x86_64-unknown-linux-musl aarch64-unknown-linux-musl"));
    // The release profile unless told otherwise; scripts/test's smoke binary is the
    // cheaper cross-check profile, and the release workflow smoke-tests both real assets.
    assert!(build.contains("profile=release\n"));
    assert!(build.contains("cargo zigbuild --profile \"$profile\" --locked"));
    assert!(test.contains("--profile cross-check"));
    for asset in ["x86_64", "aarch64"] {
        assert!(
            wf.contains(&format!(
                "scripts/release/smoke out/aks-backend-{asset}-unknown-linux-musl"
            )),
            "{asset} not smoke-tested before release"
        );
    }
    assert!(test.contains("--target aarch64-unknown-linux-musl"));
    assert!(test.contains("scripts/release/smoke \"$aarch64_bin\""));
}

/// What `scripts/release/update-manifest` records as the release's `source_sha256`:
/// computed here independently (Rust) over Cargo.toml, Cargo.lock and src/**.
fn source_digest() -> String {
    fn walk(dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(
                    p.strip_prefix(root())
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    let mut files = vec!["Cargo.toml".to_string(), "Cargo.lock".to_string()];
    walk(&root().join("src"), &mut files);
    files.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    let lines: String = files
        .iter()
        .map(|f| {
            format!(
                "{}  {f}\n",
                sha256_hex(&std::fs::read(root().join(f)).unwrap())
            )
        })
        .collect();
    sha256_hex(lines.as_bytes())
}

#[test]
fn release_records_the_digest_of_the_sources_the_resolver_checks() {
    let out = Command::new("python3")
        .arg(root().join("scripts/release/update-manifest"))
        .arg("--print-source-digest")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), source_digest());
    let wf = std::fs::read_to_string(root().join(".github/workflows/release.yml")).unwrap();
    assert!(
        wf.contains("--commit \"$COMMIT\""),
        "release.yml records the commit"
    );
}

#[test]
fn resolver_gives_a_commit_sha_pin_the_verified_release_binary_of_its_sources() {
    let server = ReleaseServer::start();
    let bytes = release_asset();
    server.put("v7.3.0", ASSET, bytes.clone());
    let built_from = "1".repeat(40);
    let release_commit = "abcdef0123456789abcdef0123456789abcdef01";
    let r = Resolver::new("v7.3.0", &[("v7.3.0", &sha256_hex(&bytes))]);
    let with_sources = |digest: &str| {
        let mut m = json_file(&r.manifest);
        m["sources"] = json!({"v7.3.0": {"commit": built_from, "source_sha256": digest}});
        std::fs::write(&r.manifest, m.to_string()).unwrap();
    };

    // The checked-out action is the source the release was built from: same binary as
    // `@v7.3.0`, downloaded and verified; no cargo (PATH without it) needed.
    with_sources(&source_digest());
    let (code, path, err, _) = r.run(release_commit, &server.base, Some("/usr/bin:/bin"));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!(
            "commit {release_commit} has the sources of v7.3.0"
        )),
        "{err}"
    );
    assert_eq!(
        Path::new(&path),
        r.tool_cache().join("aks-backend/7.3.0/x86_64/aks-backend")
    );
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    assert_eq!(server.hits().len(), 2);

    // Other sources (a later commit on a branch): built from source, never the release.
    with_sources(&"0".repeat(64));
    let (code, _, err, _) = r.run(release_commit, &server.base, Some("/usr/bin:/bin"));
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains(&format!("ref {release_commit} is not a release")),
        "{err}"
    );
    assert_eq!(server.hits().len(), 2);
}

#[test]
fn resolver_refuses_a_release_asset_whose_checksum_differs() {
    let server = ReleaseServer::start();
    let bytes = release_asset();
    let mut tampered = bytes.clone();
    tampered.extend_from_slice(b"tampered");
    server.put("v7.2.0", ASSET, tampered);
    let r = Resolver::new("v7.2.0", &[("v7.2.0", &sha256_hex(&bytes))]);
    let (code, path, err, gh_out) = r.run("v7.2.0", &server.base, None);
    assert_eq!(code, 3, "{err}");
    assert!(path.is_empty());
    assert!(gh_out.is_empty());
    assert!(err.contains("checksum mismatch"), "{err}");
    assert!(err.contains("::error title=aks-backend::"), "{err}");
    let dir = r.tool_cache().join("aks-backend/7.2.0/x86_64");
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "nothing left behind"
    );
    assert!(
        !r.tool_cache()
            .join("aks-backend/7.2.0/x86_64.complete")
            .exists()
    );
}

#[test]
fn resolver_builds_from_source_for_a_ref_without_a_release() {
    let server = ReleaseServer::start();
    let r = Resolver::new("v7.1.0", &[("v7.1.0", &"0".repeat(64))]);
    // A PATH without cargo: the source build is chosen, and fails with a hint.
    let (code, _, err, _) = r.run("main", &server.base, Some("/usr/bin:/bin"));
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("building from source (ref main is not a release"),
        "{err}"
    );
    assert!(err.contains("cargo is not installed"), "{err}");
    // `uses: ./` has no ref at all.
    let (_, _, err, _) = r.run("", &server.base, Some("/usr/bin:/bin"));
    assert!(err.contains("a local action (uses: ./)"), "{err}");
    assert!(server.hits().is_empty());
}
