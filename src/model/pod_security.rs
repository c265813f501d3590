//! The Pod Security Standards (baseline and restricted), checked against a pod template
//! without a cluster. The deploy plan uses it to warn when the settings relax a
//! generated pod below the namespace level it labels, the tests hold every generated pod
//! spec to `restricted` with it, and `relax_hint` turns the PodSecurity admission's
//! refusal into the name of the setting to relax. Controls and wording follow the
//! official list (kubernetes.io "Pod Security Standards") and the admission's messages.

use serde::Serialize;
use serde_json::Value;

/// A Pod Security Standard level, as in the `pod-security.kubernetes.io/enforce` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Privileged,
    Baseline,
    Restricted,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "privileged" => Some(Level::Privileged),
            "baseline" => Some(Level::Baseline),
            "restricted" => Some(Level::Restricted),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Privileged => "privileged",
            Level::Baseline => "baseline",
            Level::Restricted => "restricted",
        }
    }
}

/// The label PodSecurity admission enforces.
pub const ENFORCE_LABEL: &str = "pod-security.kubernetes.io/enforce";

/// One control of the standards; `level` is the lowest level that has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Control {
    HostProcess,
    HostNamespaces,
    PrivilegedContainers,
    Capabilities,
    HostPathVolumes,
    HostPorts,
    AppArmor,
    SeLinux,
    ProcMount,
    Seccomp,
    Sysctls,
    VolumeTypes,
    PrivilegeEscalation,
    RunningAsNonRoot,
    RunningAsNonRootUser,
    SeccompRestricted,
    CapabilitiesRestricted,
}

impl Control {
    pub const ALL: [Control; 17] = [
        Control::HostProcess,
        Control::HostNamespaces,
        Control::PrivilegedContainers,
        Control::Capabilities,
        Control::HostPathVolumes,
        Control::HostPorts,
        Control::AppArmor,
        Control::SeLinux,
        Control::ProcMount,
        Control::Seccomp,
        Control::Sysctls,
        Control::VolumeTypes,
        Control::PrivilegeEscalation,
        Control::RunningAsNonRoot,
        Control::RunningAsNonRootUser,
        Control::SeccompRestricted,
        Control::CapabilitiesRestricted,
    ];

    pub fn level(self) -> Level {
        match self {
            Control::VolumeTypes
            | Control::PrivilegeEscalation
            | Control::RunningAsNonRoot
            | Control::RunningAsNonRootUser
            | Control::SeccompRestricted
            | Control::CapabilitiesRestricted => Level::Restricted,
            _ => Level::Baseline,
        }
    }

    /// The deploy setting that relaxes this control on generated pods, if there is one.
    pub fn setting(self) -> Option<&'static str> {
        match self {
            Control::PrivilegeEscalation => Some("allow-privilege-escalation"),
            Control::RunningAsNonRoot | Control::RunningAsNonRootUser => Some("run-as-non-root"),
            Control::Seccomp | Control::SeccompRestricted => Some("seccomp-profile"),
            Control::Capabilities | Control::CapabilitiesRestricted => Some("capabilities-add"),
            _ => None,
        }
    }
}

/// One failed control, worded like the PodSecurity admission (`forbidden sysctls (x)`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub control: Control,
    pub message: String,
}

const BASELINE_CAPABILITIES: [&str; 13] = [
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];
const SAFE_SYSCTLS: [&str; 10] = [
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];
const RESTRICTED_VOLUMES: [&str; 8] = [
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
];
const SELINUX_TYPES: [&str; 4] = [
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];
const APPARMOR_ANNOTATION: &str = "container.apparmor.security.beta.kubernetes.io/";

struct Container<'a> {
    name: &'a str,
    sc: &'a Value,
    v: &'a Value,
}

fn containers(spec: &Value) -> Vec<Container<'_>> {
    ["initContainers", "containers", "ephemeralContainers"]
        .iter()
        .flat_map(|l| spec.get(*l).and_then(Value::as_array).into_iter().flatten())
        .map(|c| Container {
            name: c.get("name").and_then(Value::as_str).unwrap_or(""),
            sc: c.get("securityContext").unwrap_or(&Value::Null),
            v: c,
        })
        .collect()
}

/// The names of the containers for which `pred` holds.
fn names_where<'a>(cs: &[Container<'a>], pred: impl Fn(&Container<'a>) -> bool) -> Vec<&'a str> {
    cs.iter().filter(|c| pred(c)).map(|c| c.name).collect()
}

/// Who breaks a rule that the pod or its containers can break: "pod" when the pod-level
/// setting does, else the containers that do (none: `None`).
fn pod_or(pod: bool, containers: &[&str]) -> Option<String> {
    if pod {
        Some("pod".to_string())
    } else if containers.is_empty() {
        None
    } else {
        Some(quoted(containers))
    }
}

fn quoted(names: &[&str]) -> String {
    let q: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    let noun = if names.len() == 1 {
        "container"
    } else {
        "containers"
    };
    format!("{noun} {}", q.join(", "))
}

fn is_true(v: Option<&Value>) -> bool {
    v.and_then(Value::as_bool) == Some(true)
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// The controls of `level` (and those it includes) that `template` (a pod template or a
/// Pod: `metadata` and `spec`) fails, in the order of the official list.
pub fn violations(template: &Value, level: Level) -> Vec<Violation> {
    let spec = template.get("spec").unwrap_or(&Value::Null);
    let annotations = template
        .pointer("/metadata/annotations")
        .and_then(Value::as_object);
    let pod_sc = spec.get("securityContext").unwrap_or(&Value::Null);
    let cs = containers(spec);
    let mut out = Vec::new();
    if level == Level::Privileged {
        return out;
    }
    let mut fail = |control: Control, message: String| {
        if control.level() <= level {
            out.push(Violation { control, message });
        }
    };

    // --- baseline ---
    let host_process: Vec<&str> = names_where(&cs, |c| {
        is_true(c.sc.pointer("/windowsOptions/hostProcess"))
    });
    if is_true(pod_sc.pointer("/windowsOptions/hostProcess")) || !host_process.is_empty() {
        fail(
            Control::HostProcess,
            "hostProcess (pod and containers must not set securityContext.windowsOptions.hostProcess=true)".into(),
        );
    }
    let host_ns: Vec<String> = ["hostNetwork", "hostPID", "hostIPC"]
        .iter()
        .filter(|k| is_true(spec.get(**k)))
        .map(|k| format!("{k}=true"))
        .collect();
    if !host_ns.is_empty() {
        fail(
            Control::HostNamespaces,
            format!("host namespaces ({})", host_ns.join(", ")),
        );
    }
    let privileged: Vec<&str> = names_where(&cs, |c| is_true(c.sc.get("privileged")));
    if !privileged.is_empty() {
        fail(
            Control::PrivilegedContainers,
            format!(
                "privileged ({} must not set securityContext.privileged=true)",
                quoted(&privileged)
            ),
        );
    }
    let added = |c: &Container<'_>| -> Vec<String> {
        c.sc.pointer("/capabilities/add")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect()
    };
    let mut non_default = Vec::new();
    for c in &cs {
        for a in added(c) {
            if !BASELINE_CAPABILITIES.contains(&a.as_str()) {
                non_default.push(format!(
                    "container {:?} must not include {a:?} in securityContext.capabilities.add",
                    c.name
                ));
            }
        }
    }
    if !non_default.is_empty() {
        fail(
            Control::Capabilities,
            format!("non-default capabilities ({})", non_default.join("; ")),
        );
    }
    let volumes: Vec<&Value> = spec
        .get("volumes")
        .and_then(Value::as_array)
        .map(|v| v.iter().collect())
        .unwrap_or_default();
    let vol_name = |v: &Value| {
        v.get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let host_paths: Vec<String> = volumes
        .iter()
        .filter(|v| v.get("hostPath").is_some())
        .map(|v| format!("{:?}", vol_name(v)))
        .collect();
    if !host_paths.is_empty() {
        fail(
            Control::HostPathVolumes,
            format!(
                "hostPath volumes (volume{} {})",
                if host_paths.len() == 1 { "" } else { "s" },
                host_paths.join(", ")
            ),
        );
    }
    let mut host_ports = Vec::new();
    for c in &cs {
        for p in
            c.v.get("ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        {
            if let Some(n) = p
                .get("hostPort")
                .and_then(Value::as_i64)
                .filter(|n| *n != 0)
            {
                host_ports.push(format!("container {:?} uses hostPort {n}", c.name));
            }
        }
    }
    if !host_ports.is_empty() {
        fail(
            Control::HostPorts,
            format!("hostPort ({})", host_ports.join(", ")),
        );
    }
    let mut apparmor = Vec::new();
    let bad_profile_type =
        |t: Option<&str>| !matches!(t, None | Some("RuntimeDefault" | "Localhost"));
    if bad_profile_type(str_at(pod_sc, "/appArmorProfile/type")) {
        apparmor.push(
            "pod must not set securityContext.appArmorProfile.type to \"Unconfined\"".to_string(),
        );
    }
    for c in &cs {
        if bad_profile_type(str_at(c.sc, "/appArmorProfile/type")) {
            apparmor.push(format!(
                "container {:?} must not set securityContext.appArmorProfile.type to \"Unconfined\"",
                c.name
            ));
        }
    }
    for (k, v) in annotations.into_iter().flatten() {
        if let Some(container) = k.strip_prefix(APPARMOR_ANNOTATION) {
            let v = v.as_str().unwrap_or("");
            if v != "runtime/default" && !v.starts_with("localhost/") {
                apparmor.push(format!(
                    "container {container:?} must not use the profile {v:?}"
                ));
            }
        }
    }
    if !apparmor.is_empty() {
        fail(
            Control::AppArmor,
            format!("forbidden AppArmor profile ({})", apparmor.join("; ")),
        );
    }
    let mut selinux = Vec::new();
    let mut check_selinux = |who: String, sc: &Value| {
        let Some(o) = sc.get("seLinuxOptions") else {
            return;
        };
        if let Some(t) = o.get("type").and_then(Value::as_str)
            && !SELINUX_TYPES.contains(&t)
        {
            selinux.push(format!(
                "{who} set forbidden securityContext.seLinuxOptions: type {t:?}"
            ));
        }
        for k in ["user", "role"] {
            if o.get(k)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty())
            {
                selinux.push(format!(
                    "{who} set forbidden securityContext.seLinuxOptions: {k}"
                ));
            }
        }
    };
    check_selinux("pod".into(), pod_sc);
    for c in &cs {
        check_selinux(format!("container {:?}", c.name), c.sc);
    }
    if !selinux.is_empty() {
        fail(
            Control::SeLinux,
            format!("seLinuxOptions ({})", selinux.join("; ")),
        );
    }
    let proc_mount: Vec<&str> = names_where(&cs, |c| {
        !matches!(str_at(c.sc, "/procMount"), None | Some("Default"))
    });
    if !proc_mount.is_empty() {
        fail(
            Control::ProcMount,
            format!(
                "procMount ({} must not set securityContext.procMount to \"Unmasked\")",
                quoted(&proc_mount)
            ),
        );
    }
    let unconfined = |sc: &Value| str_at(sc, "/seccompProfile/type") == Some("Unconfined");
    let unconfined_containers: Vec<&str> = names_where(&cs, |c| unconfined(c.sc));
    if let Some(who) = pod_or(unconfined(pod_sc), &unconfined_containers) {
        fail(
            Control::Seccomp,
            format!(
                "seccompProfile ({who} must not set securityContext.seccompProfile.type to \"Unconfined\")"
            ),
        );
    }
    let sysctls: Vec<&str> = pod_sc
        .get("sysctls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("name").and_then(Value::as_str))
        .filter(|n| !SAFE_SYSCTLS.contains(n))
        .collect();
    if !sysctls.is_empty() {
        fail(
            Control::Sysctls,
            format!("forbidden sysctls ({})", sysctls.join(", ")),
        );
    }

    // --- restricted ---
    let mut restricted_volumes = Vec::new();
    for v in &volumes {
        let Some(o) = v.as_object() else { continue };
        for k in o.keys().filter(|k| *k != "name") {
            if !RESTRICTED_VOLUMES.contains(&k.as_str()) {
                restricted_volumes.push(format!(
                    "volume {:?} uses restricted volume type {k:?}",
                    vol_name(v)
                ));
            }
        }
    }
    if !restricted_volumes.is_empty() {
        fail(
            Control::VolumeTypes,
            format!(
                "restricted volume types ({})",
                restricted_volumes.join(", ")
            ),
        );
    }
    let escalating: Vec<&str> = names_where(&cs, |c| {
        c.sc.get("allowPrivilegeEscalation")
            .and_then(Value::as_bool)
            != Some(false)
    });
    if !escalating.is_empty() {
        fail(
            Control::PrivilegeEscalation,
            format!(
                "allowPrivilegeEscalation != false ({} must set securityContext.allowPrivilegeEscalation=false)",
                quoted(&escalating)
            ),
        );
    }
    let pod_non_root = pod_sc.get("runAsNonRoot").and_then(Value::as_bool);
    let explicit_root: Vec<&str> = names_where(&cs, |c| {
        c.sc.get("runAsNonRoot").and_then(Value::as_bool) == Some(false)
    });
    let unset: Vec<&str> = names_where(&cs, |c| c.sc.get("runAsNonRoot").is_none());
    if let Some(who) = pod_or(pod_non_root == Some(false), &explicit_root) {
        fail(
            Control::RunningAsNonRoot,
            format!("runAsNonRoot != true ({who} must not set securityContext.runAsNonRoot=false)"),
        );
    } else if pod_non_root != Some(true) && !unset.is_empty() {
        fail(
            Control::RunningAsNonRoot,
            format!(
                "runAsNonRoot != true (pod or {} must set securityContext.runAsNonRoot=true)",
                quoted(&unset)
            ),
        );
    }
    let root_user = |sc: &Value| sc.get("runAsUser").and_then(Value::as_i64) == Some(0);
    let root_containers: Vec<&str> = names_where(&cs, |c| root_user(c.sc));
    if let Some(who) = pod_or(root_user(pod_sc), &root_containers) {
        fail(
            Control::RunningAsNonRootUser,
            format!("runAsUser=0 ({who} must not set runAsUser=0)"),
        );
    }
    let allowed_seccomp = |sc: &Value| {
        matches!(
            str_at(sc, "/seccompProfile/type"),
            Some("RuntimeDefault" | "Localhost")
        )
    };
    let pod_seccomp = allowed_seccomp(pod_sc);
    let missing_seccomp: Vec<&str> = names_where(&cs, |c| {
        !allowed_seccomp(c.sc) && (!pod_seccomp || c.sc.pointer("/seccompProfile/type").is_some())
    });
    if !missing_seccomp.is_empty() {
        fail(
            Control::SeccompRestricted,
            format!(
                "seccompProfile (pod or {} must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")",
                quoted(&missing_seccomp)
            ),
        );
    }
    let mut caps = Vec::new();
    let no_drop_all: Vec<&str> = names_where(&cs, |c| {
        !c.sc
            .pointer("/capabilities/drop")
            .and_then(Value::as_array)
            .is_some_and(|d| d.iter().any(|x| x.as_str() == Some("ALL")))
    });
    if !no_drop_all.is_empty() {
        caps.push(format!(
            "{} must set securityContext.capabilities.drop=[\"ALL\"]",
            quoted(&no_drop_all)
        ));
    }
    for c in &cs {
        for a in added(c).iter().filter(|a| *a != "NET_BIND_SERVICE") {
            caps.push(format!(
                "container {:?} must not include {a:?} in securityContext.capabilities.add",
                c.name
            ));
        }
    }
    if !caps.is_empty() {
        fail(
            Control::CapabilitiesRestricted,
            format!("unrestricted capabilities ({})", caps.join("; ")),
        );
    }
    out
}

/// For a refusal by the PodSecurity admission (`violates PodSecurity "restricted:latest":
/// ...`), what to relax: the settings of the failed controls that have one, and the
/// namespace level; for the kubelet's "image will run as root", `run-as-non-root`. None
/// for any other message.
pub fn relax_hint(message: &str) -> Option<String> {
    // The kubelet's refusal of an image whose user is root under runAsNonRoot.
    if message.contains("runAsNonRoot and image will run as root") {
        return Some(
            "the image runs as root and the generated pods require non-root: give the image a \
             non-root USER, or set run-as-non-root false (with pod-security baseline for a \
             namespace the deploy creates)"
                .into(),
        );
    }
    let at = message.find("violates PodSecurity \"")?;
    let rest = &message[at + "violates PodSecurity \"".len()..];
    let level = rest.split([':', '"']).next().unwrap_or("restricted");
    let mut settings: Vec<&str> = Vec::new();
    for (needle, setting) in [
        ("allowPrivilegeEscalation", "allow-privilege-escalation"),
        ("runAsNonRoot", "run-as-non-root"),
        ("runAsUser=0", "run-as-non-root"),
        ("seccompProfile", "seccomp-profile"),
        ("capabilities", "capabilities-add"),
    ] {
        if rest.contains(needle) && !settings.contains(&setting) {
            settings.push(setting);
        }
    }
    let settings = if settings.is_empty() {
        String::new()
    } else {
        format!(
            "generated pods relax this with the setting{} {}; ",
            if settings.len() == 1 { "" } else { "s" },
            settings.join(", ")
        )
    };
    Some(format!(
        "the namespace enforces the {level:?} Pod Security Standard and refused the pods. \
         {settings}for these pods to run, also set pod-security to a laxer level (baseline \
         or privileged) for namespaces aks-backend creates (their {ENFORCE_LABEL} label; an \
         existing namespace keeps its own)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A pod template that passes `restricted`, for each case to break one control of.
    fn good() -> Value {
        json!({
            "metadata": {"labels": {"app": "a"}},
            "spec": {
                "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{
                    "name": "app",
                    "image": "x@sha256:1",
                    "ports": [{"containerPort": 8080}],
                    "securityContext": {
                        "allowPrivilegeEscalation": false,
                        "capabilities": {"drop": ["ALL"]},
                    },
                    "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                }],
                "volumes": [{"name": "tmp", "emptyDir": {}}],
            }
        })
    }

    fn failed(t: &Value, level: Level) -> Vec<Control> {
        violations(t, level).iter().map(|v| v.control).collect()
    }

    /// Breaks one control with `edit` and checks that it is exactly the one reported
    /// (at restricted, and at baseline for baseline controls).
    fn case(control: Control, edit: impl Fn(&mut Value)) -> Vec<Violation> {
        let mut t = good();
        edit(&mut t);
        assert_eq!(failed(&t, Level::Restricted), [control], "{t:#}");
        let at_baseline = failed(&t, Level::Baseline);
        if control.level() == Level::Baseline {
            assert_eq!(at_baseline, [control]);
        } else {
            assert!(at_baseline.is_empty(), "{at_baseline:?}");
        }
        assert!(failed(&t, Level::Privileged).is_empty());
        violations(&t, Level::Restricted)
    }

    fn container(t: &mut Value) -> &mut Value {
        &mut t["spec"]["containers"][0]
    }

    #[test]
    fn the_good_template_passes() {
        assert!(violations(&good(), Level::Restricted).is_empty());
    }

    #[test]
    fn host_process() {
        case(Control::HostProcess, |t| {
            container(t)["securityContext"]["windowsOptions"] = json!({"hostProcess": true})
        });
        case(Control::HostProcess, |t| {
            t["spec"]["securityContext"]["windowsOptions"] = json!({"hostProcess": true})
        });
    }

    #[test]
    fn host_namespaces() {
        for k in ["hostNetwork", "hostPID", "hostIPC"] {
            let v = case(Control::HostNamespaces, |t| t["spec"][k] = json!(true));
            assert_eq!(v[0].message, format!("host namespaces ({k}=true)"));
        }
        let mut t = good();
        t["spec"]["hostNetwork"] = json!(false);
        assert!(violations(&t, Level::Restricted).is_empty());
    }

    #[test]
    fn privileged_containers() {
        let v = case(Control::PrivilegedContainers, |t| {
            container(t)["securityContext"]["privileged"] = json!(true)
        });
        assert_eq!(
            v[0].message,
            "privileged (container \"app\" must not set securityContext.privileged=true)"
        );
    }

    #[test]
    fn capabilities_beyond_the_default_set() {
        // SYS_ADMIN breaks baseline and restricted; CHOWN only restricted.
        let mut t = good();
        container(&mut t)["securityContext"]["capabilities"]["add"] = json!(["SYS_ADMIN"]);
        assert_eq!(
            failed(&t, Level::Restricted),
            [Control::Capabilities, Control::CapabilitiesRestricted]
        );
        assert_eq!(failed(&t, Level::Baseline), [Control::Capabilities]);
        case(Control::CapabilitiesRestricted, |t| {
            container(t)["securityContext"]["capabilities"]["add"] = json!(["CHOWN"])
        });
    }

    #[test]
    fn host_path_volumes() {
        // hostPath is also not an allowed volume type under restricted.
        let mut t = good();
        t["spec"]["volumes"] = json!([{"name": "h", "hostPath": {"path": "/"}}]);
        assert_eq!(
            failed(&t, Level::Restricted),
            [Control::HostPathVolumes, Control::VolumeTypes]
        );
        assert_eq!(failed(&t, Level::Baseline), [Control::HostPathVolumes]);
    }

    #[test]
    fn host_ports() {
        let v = case(Control::HostPorts, |t| {
            container(t)["ports"][0]["hostPort"] = json!(80)
        });
        assert_eq!(
            v[0].message,
            "hostPort (container \"app\" uses hostPort 80)"
        );
        let mut t = good();
        container(&mut t)["ports"][0]["hostPort"] = json!(0);
        assert!(violations(&t, Level::Restricted).is_empty());
    }

    #[test]
    fn app_armor() {
        case(Control::AppArmor, |t| {
            t["spec"]["securityContext"]["appArmorProfile"] = json!({"type": "Unconfined"})
        });
        case(Control::AppArmor, |t| {
            container(t)["securityContext"]["appArmorProfile"] = json!({"type": "Unconfined"})
        });
        case(
            Control::AppArmor,
            |t| {
                t["metadata"]["annotations"] =
                    json!({"container.apparmor.security.beta.kubernetes.io/app": "unconfined"})
            },
        );
        let mut t = good();
        t["metadata"]["annotations"] =
            json!({"container.apparmor.security.beta.kubernetes.io/app": "runtime/default"});
        container(&mut t)["securityContext"]["appArmorProfile"] =
            json!({"type": "Localhost", "localhostProfile": "p"});
        assert!(violations(&t, Level::Restricted).is_empty());
    }

    #[test]
    fn se_linux() {
        case(Control::SeLinux, |t| {
            container(t)["securityContext"]["seLinuxOptions"] = json!({"type": "spc_t"})
        });
        case(Control::SeLinux, |t| {
            t["spec"]["securityContext"]["seLinuxOptions"] = json!({"user": "system_u"})
        });
        case(Control::SeLinux, |t| {
            container(t)["securityContext"]["seLinuxOptions"] = json!({"role": "sysadm_r"})
        });
        let mut t = good();
        container(&mut t)["securityContext"]["seLinuxOptions"] =
            json!({"type": "container_t", "level": "s0:c1"});
        assert!(violations(&t, Level::Restricted).is_empty());
    }

    #[test]
    fn proc_mount() {
        case(Control::ProcMount, |t| {
            container(t)["securityContext"]["procMount"] = json!("Unmasked")
        });
        let mut t = good();
        container(&mut t)["securityContext"]["procMount"] = json!("Default");
        assert!(violations(&t, Level::Restricted).is_empty());
    }

    #[test]
    fn seccomp() {
        // Unconfined breaks baseline's control and restricted's.
        let mut t = good();
        t["spec"]["securityContext"]["seccompProfile"]["type"] = json!("Unconfined");
        assert_eq!(
            failed(&t, Level::Restricted),
            [Control::Seccomp, Control::SeccompRestricted]
        );
        assert_eq!(failed(&t, Level::Baseline), [Control::Seccomp]);
    }

    #[test]
    fn sysctls() {
        let v = case(
            Control::Sysctls,
            |t| t["spec"]["securityContext"]["sysctls"] = json!([{"name": "net.ipv4.tcp_syncookies", "value": "1"}, {"name": "kernel.msgmax", "value": "1"}]),
        );
        assert_eq!(v[0].message, "forbidden sysctls (kernel.msgmax)");
    }

    #[test]
    fn volume_types() {
        let v = case(Control::VolumeTypes, |t| {
            t["spec"]["volumes"] = json!([{"name": "n", "nfs": {"server": "s", "path": "/"}}])
        });
        assert!(
            v[0].message
                .contains("volume \"n\" uses restricted volume type \"nfs\"")
        );
        for ok in [
            "configMap",
            "csi",
            "downwardAPI",
            "emptyDir",
            "ephemeral",
            "persistentVolumeClaim",
            "projected",
            "secret",
        ] {
            let mut t = good();
            t["spec"]["volumes"] = json!([{"name": "v", ok: {}}]);
            assert!(violations(&t, Level::Restricted).is_empty(), "{ok}");
        }
    }

    #[test]
    fn privilege_escalation() {
        let v = case(Control::PrivilegeEscalation, |t| {
            container(t)["securityContext"]
                .as_object_mut()
                .unwrap()
                .remove("allowPrivilegeEscalation");
        });
        assert_eq!(
            v[0].message,
            "allowPrivilegeEscalation != false (container \"app\" must set securityContext.allowPrivilegeEscalation=false)"
        );
        case(Control::PrivilegeEscalation, |t| {
            container(t)["securityContext"]["allowPrivilegeEscalation"] = json!(true)
        });
    }

    #[test]
    fn running_as_non_root() {
        let v = case(Control::RunningAsNonRoot, |t| {
            t["spec"]["securityContext"]
                .as_object_mut()
                .unwrap()
                .remove("runAsNonRoot");
        });
        assert_eq!(
            v[0].message,
            "runAsNonRoot != true (pod or container \"app\" must set securityContext.runAsNonRoot=true)"
        );
        case(Control::RunningAsNonRoot, |t| {
            container(t)["securityContext"]["runAsNonRoot"] = json!(false)
        });
        // Set on every container instead of the pod: fine.
        let mut t = good();
        t["spec"]["securityContext"]
            .as_object_mut()
            .unwrap()
            .remove("runAsNonRoot");
        container(&mut t)["securityContext"]["runAsNonRoot"] = json!(true);
        assert!(violations(&t, Level::Restricted).is_empty());
    }

    #[test]
    fn running_as_non_root_user() {
        case(Control::RunningAsNonRootUser, |t| {
            t["spec"]["securityContext"]["runAsUser"] = json!(0)
        });
        case(Control::RunningAsNonRootUser, |t| {
            container(t)["securityContext"]["runAsUser"] = json!(0)
        });
        let mut t = good();
        container(&mut t)["securityContext"]["runAsUser"] = json!(10001);
        assert!(violations(&t, Level::Restricted).is_empty());
    }

    #[test]
    fn seccomp_restricted() {
        case(Control::SeccompRestricted, |t| {
            t["spec"]["securityContext"]
                .as_object_mut()
                .unwrap()
                .remove("seccompProfile");
        });
        // Set on the container instead of the pod: fine.
        let mut t = good();
        t["spec"]["securityContext"]
            .as_object_mut()
            .unwrap()
            .remove("seccompProfile");
        container(&mut t)["securityContext"]["seccompProfile"] =
            json!({"type": "Localhost", "localhostProfile": "p"});
        assert!(violations(&t, Level::Restricted).is_empty());
    }

    #[test]
    fn capabilities_restricted() {
        let v = case(Control::CapabilitiesRestricted, |t| {
            container(t)["securityContext"]["capabilities"] = json!({"drop": ["NET_RAW"]})
        });
        assert_eq!(
            v[0].message,
            "unrestricted capabilities (container \"app\" must set securityContext.capabilities.drop=[\"ALL\"])"
        );
        let mut t = good();
        container(&mut t)["securityContext"]["capabilities"]["add"] = json!(["NET_BIND_SERVICE"]);
        assert!(violations(&t, Level::Restricted).is_empty());
    }

    #[test]
    fn init_and_ephemeral_containers_count() {
        let mut t = good();
        t["spec"]["initContainers"] = json!([{"name": "init", "image": "x"}]);
        let v = violations(&t, Level::Restricted);
        assert_eq!(
            v.iter().map(|v| v.control).collect::<Vec<_>>(),
            [
                Control::PrivilegeEscalation,
                Control::CapabilitiesRestricted
            ]
        );
        assert!(v[0].message.contains("container \"init\""));
    }

    #[test]
    fn every_control_is_covered_by_a_case_above() {
        // One per control of the official list (17: baseline's 11 and restricted's 6).
        assert_eq!(Control::ALL.len(), 17);
        let restricted = Control::ALL
            .iter()
            .filter(|c| c.level() == Level::Restricted)
            .count();
        assert_eq!(restricted, 6);
    }

    #[test]
    fn relax_hint_names_the_settings_of_the_failed_controls() {
        let m = "Error creating: pods \"api-1\" is forbidden: violates PodSecurity \"restricted:latest\": \
                 runAsNonRoot != true (pod or container \"api\" must set securityContext.runAsNonRoot=true), \
                 seccompProfile (pod or container \"api\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")";
        let h = relax_hint(m).unwrap();
        assert!(h.contains("\"restricted\" Pod Security Standard"), "{h}");
        assert!(
            h.contains("settings run-as-non-root, seccomp-profile;"),
            "{h}"
        );
        assert!(h.contains("set pod-security to a laxer level"), "{h}");
        assert!(relax_hint("exceeded quota: compute-resources").is_none());
        let root = relax_hint("CreateContainerConfigError: container has runAsNonRoot and image will run as root (pod: \"a_b(c)\", container: api)").unwrap();
        assert!(root.contains("set run-as-non-root false"), "{root}");
    }
}
