//! SARIF 2.1.0 from one scan: every finding, with stable fingerprints, shaped to be
//! accepted by GitHub code scanning.
//!
//! - One rule per finding ID, with `security-severity` (the CVSS v3 score when the report
//!   has one, else 9.5/8.0/5.5/2.0/0.0 by severity, as Trivy does).
//! - Locations and `partialFingerprints` never contain the image tag or digest, so a
//!   rebuild with a new tag updates the same alerts instead of opening new ones.
//! - `automationDetails.id` is per image, so several images never close each other's alerts.
//! - Findings the ignore file lists are kept, with a SARIF suppression.
//! - GitHub's limits (25,000 results per run, 10 MB gzipped) are checked; when over,
//!   the most severe findings are kept and the run says how many were left out.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Write;

use serde::Serialize;

use serde_sarif::sarif::{
    ArtifactLocation, MultiformatMessageString, PropertyBag, ReportingConfiguration,
    ReportingDescriptor, ResultLevel, Run, RunAutomationDetails, Sarif, Tool, ToolComponent,
};
use sha2::{Digest, Sha256};

use crate::model::gate::{Disposition, GatePolicy};
use crate::model::{Finding, FindingKind, Rule, ScanFindings, Severity, Target};

/// GitHub code scanning: results per run.
pub const GITHUB_MAX_RESULTS: usize = 25_000;
/// GitHub code scanning: gzipped upload size.
pub const GITHUB_MAX_GZIP_BYTES: usize = 10 * 1024 * 1024;

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// What the renderer needs besides the findings.
#[derive(Clone, Debug)]
pub struct SarifContext<'a> {
    /// Image reference, tarball or directory that was scanned.
    pub artifact: &'a str,
    /// `automationDetails.id`; derived from the artifact when `None`.
    pub category: Option<&'a str>,
    pub tool_version: &'a str,
    pub trivy_version: Option<&'a str>,
    /// The ignore-file path, for suppression justifications.
    pub ignore_file: &'a str,
}

/// What was written, and what had to be left out to fit GitHub's limits.
#[derive(Clone, Debug)]
pub struct Rendered {
    pub bytes: usize,
    pub results: usize,
    pub omitted: usize,
    pub category: String,
}

/// Writes the SARIF for `report` to `out`, with at most `max_results` results (the most
/// severe). Results are serialized one at a time, so memory stays flat however many
/// findings there are. `policy` marks ignored findings as suppressed.
pub fn render<W: Write>(
    report: &ScanFindings,
    policy: &GatePolicy,
    ctx: &SarifContext<'_>,
    max_results: usize,
    out: W,
) -> std::io::Result<Rendered> {
    let order: Vec<&Finding> = report.by_severity();
    let keep = order.len().min(max_results).min(GITHUB_MAX_RESULTS);
    let kept = order.get(..keep).unwrap_or_default();
    let omitted = report.findings.len() - keep;
    let stable = stable_artifact(ctx.artifact);
    let category = ctx
        .category
        .map(String::from)
        .unwrap_or_else(|| default_category(ctx.artifact));

    // Only the rules the kept results use, in first-use order; `slots[i]` is the index
    // of `kept[i]`'s rule among them.
    let mut first_use: HashMap<u32, usize> = HashMap::new();
    let mut rules = Vec::new();
    let slots: Vec<usize> = kept
        .iter()
        .map(|f| {
            *first_use.entry(f.rule).or_insert_with(|| {
                rules.push(descriptor(report.rule(f), &report.target(f).class));
                rules.len() - 1
            })
        })
        .collect();
    let skeleton = serde_json::to_string(&skeleton(ctx, &stable, &category, rules, omitted))?;
    // The run's empty `"results":[]` is where the streamed results go. A quote inside a
    // JSON string is escaped, so this exact text can only be the key itself.
    const MARK: &str = "\"results\":[]";
    let (head, tail) = skeleton
        .split_once(MARK)
        .ok_or_else(|| std::io::Error::other("the SARIF skeleton has no empty results array"))?;
    let mut w = Counting {
        inner: std::io::BufWriter::with_capacity(256 * 1024, out),
        bytes: 0,
    };
    w.write_all(head.as_bytes())?;
    w.write_all(b"\"results\":[")?;
    // Each target's name without tag or digest, once (not once per finding).
    let target_names: Vec<String> = report
        .targets
        .iter()
        .map(|t| stable_target(t, &stable))
        .collect();
    for (i, (f, &slot)) in kept.iter().zip(&slots).enumerate() {
        if i > 0 {
            w.write_all(b",")?;
        }
        let target_name = (target_names.get(f.target as usize)).map_or("", String::as_str);
        write_result(&mut w, report, policy, ctx, &stable, target_name, f, slot)?;
    }
    w.write_all(b"]")?;
    w.write_all(tail.as_bytes())?;
    w.flush()?;
    Ok(Rendered {
        bytes: w.bytes,
        results: keep,
        omitted,
        category,
    })
}

/// Whether a SARIF file of `bytes` (whose gzipped size `gzipped` computes, only when the
/// raw size is over the limit) fits GitHub's upload limit.
pub fn fits_github(
    bytes: usize,
    gzipped: impl FnOnce() -> std::io::Result<usize>,
) -> std::io::Result<bool> {
    Ok(bytes <= GITHUB_MAX_GZIP_BYTES || gzipped()? <= GITHUB_MAX_GZIP_BYTES)
}

/// The gzipped size of what `read` yields (fast compression: an upper bound of what a
/// client sends).
pub fn gzip_len(mut read: impl std::io::Read) -> std::io::Result<usize> {
    let mut enc = flate2::write::GzEncoder::new(
        Counting {
            inner: std::io::sink(),
            bytes: 0,
        },
        flate2::Compression::fast(),
    );
    std::io::copy(&mut read, &mut enc)?;
    Ok(enc.finish()?.bytes)
}

struct Counting<W> {
    inner: W,
    bytes: usize,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(b)?;
        self.bytes += n;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The image repository without tag or digest (`reg.io/team/api:1.2@sha256:..` ->
/// `reg.io/team/api`); other artifacts unchanged.
pub fn stable_artifact(artifact: &str) -> String {
    let no_digest = artifact.split('@').next().unwrap_or(artifact);
    match no_digest.rfind(':') {
        // A colon after the last slash is a tag; before it, a registry port.
        Some(i) if !no_digest[i..].contains('/') => no_digest[..i].to_string(),
        _ => no_digest.to_string(),
    }
}

/// The default category: `aks-backend/<repository>`. The artifact name can come from a
/// report's `ArtifactName` (outside text): anything but letters, digits and `._/:-`
/// becomes `-`, and it is cut to 200 characters, so the category output and the SARIF
/// carry no control characters, spaces or markup.
pub fn default_category(artifact: &str) -> String {
    let clean: String = stable_artifact(artifact)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._/:-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(200)
        .collect();
    format!("aks-backend/{clean}")
}

fn security_severity(rule: &Rule) -> f64 {
    rule.cvss_v3.unwrap_or(match rule.severity {
        Severity::Critical => 9.5,
        Severity::High => 8.0,
        Severity::Medium => 5.5,
        Severity::Low => 2.0,
        Severity::Unknown => 0.0,
    })
}

fn level(s: Severity) -> ResultLevel {
    match s {
        Severity::Critical | Severity::High => ResultLevel::Error,
        Severity::Medium => ResultLevel::Warning,
        Severity::Low | Severity::Unknown => ResultLevel::Note,
    }
}

/// The level as the JSON value SARIF's `defaultConfiguration` holds.
// why: a unit enum variant serializes to its name, it cannot fail.
#[allow(clippy::expect_used)]
fn level_value(s: Severity) -> serde_json::Value {
    serde_json::to_value(level(s)).expect("level serializes")
}

fn rule_name(rule: &Rule, class: &str) -> &'static str {
    match (rule.kind, class) {
        (FindingKind::Vulnerability, "lang-pkgs") => "LanguageSpecificPackageVulnerability",
        (FindingKind::Vulnerability, _) => "OsPackageVulnerability",
        (FindingKind::Secret, _) => "Secret",
        (FindingKind::Misconfiguration, _) => "Misconfiguration",
    }
}

fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max - 1;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn descriptor(rule: &Rule, class: &str) -> ReportingDescriptor {
    let short = if rule.title.is_empty() {
        &rule.id
    } else {
        &rule.title
    };
    let full = if rule.description.is_empty() {
        short
    } else {
        &rule.description
    };
    let sev = security_severity(rule);
    let mut md = format!("**{}** {}\n\n", rule.id, rule.severity);
    md.push_str(&crate::render::markdown::text(full));
    if !rule.cwe_ids.is_empty() {
        md.push_str(&format!("\n\nWeakness: {}", rule.cwe_ids.join(", ")));
    }
    if let Some(r) = &rule.resolution {
        md.push_str(&format!(
            "\n\nResolution: {}",
            crate::render::markdown::text(r)
        ));
    }
    if let Some(u) = &rule.primary_url {
        md.push_str(&format!("\n\n{}", crate::render::markdown::link(u, u)));
    }
    let mut text = format!("{} {}: {}", rule.id, rule.severity, full);
    if let Some(u) = &rule.primary_url {
        text.push_str(&format!("\n{u}"));
    }
    let kind_tag = match rule.kind {
        FindingKind::Vulnerability => "vulnerability",
        FindingKind::Secret => "secret",
        FindingKind::Misconfiguration => "misconfiguration",
    };
    let mut props = BTreeMap::new();
    props.insert("precision".to_string(), serde_json::json!("very-high"));
    props.insert(
        "security-severity".to_string(),
        serde_json::json!(format!("{sev:.1}")),
    );
    let mut d = ReportingDescriptor::builder()
        .id(rule.id.clone())
        .name(rule_name(rule, class).to_string())
        .short_description(
            MultiformatMessageString::builder()
                .text(clip(short, 1000))
                .build(),
        )
        .full_description(
            MultiformatMessageString::builder()
                .text(clip(full, 4000))
                .build(),
        )
        .default_configuration(
            ReportingConfiguration::builder()
                .level(level_value(rule.severity))
                .build(),
        )
        .help(
            MultiformatMessageString::builder()
                .text(text)
                .markdown(md)
                .build(),
        )
        .properties(
            PropertyBag::builder()
                .tags(vec![
                    kind_tag.to_string(),
                    "security".to_string(),
                    rule.severity.to_string(),
                ])
                .additional_properties(props)
                .build(),
        )
        .build();
    if let Some(u) = &rule.primary_url {
        d.help_uri = Some(u.clone());
    }
    d
}

/// The finding's stable fingerprint: 32 hex digits.
// why: a SHA-256 digest has 32 bytes; its first 16 are exactly 32 hex digits.
#[allow(clippy::expect_used, clippy::indexing_slicing)]
fn fingerprint(report: &ScanFindings, f: &Finding, uri: &str) -> [u8; 32] {
    let rule = report.rule(f);
    let target = report.target(f);
    let mut h = Sha256::new();
    for part in [
        rule.id.as_str(),
        &f.package,
        f.pkg_path.as_deref().unwrap_or(""),
        &target.class,
        &target.kind,
        uri,
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    if rule.kind != FindingKind::Vulnerability {
        h.update(f.start_line.unwrap_or(0).to_le_bytes());
    }
    let mut out = [0u8; 32];
    hex::encode_to_slice(&h.finalize()[..16], &mut out).expect("16 bytes are 32 hex digits");
    out
}

/// Hex digits (and `:1`) as the text they are.
// why: only ASCII bytes are passed (the fingerprint's hex digits).
#[allow(clippy::expect_used)]
fn ascii(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).expect("hex is ASCII")
}

/// Where a finding is, without tag or digest.
fn location_uri<'a>(report: &'a ScanFindings, f: &'a Finding, stable: &'a str) -> &'a str {
    let target = report.target(f);
    let path = match target.class.as_str() {
        "os-pkgs" => stable,
        _ => f
            .pkg_path
            .as_deref()
            .unwrap_or(&target.name)
            .trim_start_matches('/'),
    };
    if path.is_empty() { stable } else { path }
}

/// The target's name with the image tag/digest replaced by the stable repository:
/// `reg/api:1.0 (debian 12.5)` -> `reg/api (debian 12.5)`.
fn stable_target(target: &Target, stable: &str) -> String {
    if target.class != "os-pkgs" {
        return target.name.clone();
    }
    match target.name.rfind(" (") {
        Some(i) => format!("{stable}{}", &target.name[i..]),
        None => stable.to_string(),
    }
}

/// The result's message text, written straight into the JSON string.
struct MessageText<'a> {
    report: &'a ScanFindings,
    f: &'a Finding,
    target_name: &'a str,
}

impl fmt::Display for MessageText<'_> {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (report, f, target_name) = (self.report, self.f, self.target_name);
        let rule = report.rule(f);
        match rule.kind {
            FindingKind::Vulnerability => write!(
                out,
                "Package: {}\nInstalled Version: {}\nVulnerability {}\nSeverity: {}\nFixed Version: {}\nTarget: {}\nLink: {}",
                f.package,
                f.installed,
                rule.id,
                f.severity,
                f.fixed.as_deref().unwrap_or("none"),
                target_name,
                rule.primary_url.as_deref().unwrap_or("-"),
            ),
            FindingKind::Secret => {
                write!(
                    out,
                    "Secret: {}\nSeverity: {}\nFile: {}\nLine: ",
                    rule.title, f.severity, target_name,
                )?;
                match f.start_line {
                    Some(l) => write!(out, "{l}"),
                    None => out.write_str("-"),
                }
            }
            FindingKind::Misconfiguration => write!(
                out,
                "{}: {}\nSeverity: {}\nFile: {}\n{}",
                rule.id,
                rule.title,
                f.severity,
                target_name,
                f.message.as_deref().unwrap_or(""),
            ),
        }
    }
}

/// A package's `type/name`, or a file's name, written straight into the JSON string.
enum LogicalName<'a> {
    Package(&'a str, &'a str),
    File(&'a str),
}

impl fmt::Display for LogicalName<'_> {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogicalName::Package(kind, name) => write!(out, "{kind}/{name}"),
            LogicalName::File(name) => out.write_str(name),
        }
    }
}

/// A string serialized from its `Display`, without building it first.
struct Shown<T>(T);

impl<T: fmt::Display> Serialize for Shown<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

// One SARIF result as borrowed data. Fields are in serde_sarif's order (alphabetical by
// field name, `None`s left out), so the bytes are the same as serializing its
// `sarif::Result` (see the test `streamed_results_match_serde_sarif`).

#[derive(Serialize)]
struct Text<T> {
    text: T,
}

#[derive(Serialize)]
struct ResultOut<'a, M, L> {
    level: ResultLevel,
    locations: [LocationOut<'a, L>; 1],
    message: Text<M>,
    #[serde(rename = "partialFingerprints")]
    partial_fingerprints: Fingerprints<'a>,
    #[serde(rename = "ruleId")]
    rule_id: &'a str,
    #[serde(rename = "ruleIndex")]
    rule_index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    suppressions: Option<[SuppressionOut; 1]>,
}

#[derive(Serialize)]
struct LocationOut<'a, L> {
    #[serde(rename = "logicalLocations")]
    logical_locations: [LogicalOut<L>; 1],
    message: Text<&'a str>,
    #[serde(rename = "physicalLocation")]
    physical_location: PhysicalOut<'a>,
}

#[derive(Serialize)]
struct LogicalOut<L> {
    #[serde(rename = "fullyQualifiedName")]
    fully_qualified_name: L,
    kind: &'static str,
}

#[derive(Serialize)]
struct PhysicalOut<'a> {
    #[serde(rename = "artifactLocation")]
    artifact_location: UriOut<'a>,
    region: RegionOut,
}

#[derive(Serialize)]
struct UriOut<'a> {
    uri: &'a str,
}

#[derive(Serialize)]
struct RegionOut {
    #[serde(rename = "endColumn")]
    end_column: i64,
    #[serde(rename = "endLine")]
    end_line: i64,
    #[serde(rename = "startColumn")]
    start_column: i64,
    #[serde(rename = "startLine")]
    start_line: i64,
}

#[derive(Serialize)]
struct Fingerprints<'a> {
    /// The key is versioned: a new fingerprint scheme gets a new key.
    #[serde(rename = "aksBackendFinding/v1")]
    finding: &'a str,
    #[serde(rename = "primaryLocationLineHash")]
    line_hash: &'a str,
}

#[derive(Serialize)]
struct SuppressionOut {
    justification: String,
    kind: &'static str,
    status: &'static str,
}

/// Writes one result: no per-finding tree, only the strings that are not already there.
// why: called once per finding in a hot loop; the arguments are the loop's borrowed state.
#[allow(clippy::too_many_arguments)]
fn write_result<W: Write>(
    w: &mut W,
    report: &ScanFindings,
    policy: &GatePolicy,
    ctx: &SarifContext<'_>,
    stable: &str,
    target_name: &str,
    f: &Finding,
    slot: usize,
) -> std::io::Result<()> {
    let rule = report.rule(f);
    let uri = location_uri(report, f, stable);
    let start = f.start_line.unwrap_or(1).max(1) as i64;
    let end = f.end_line.map(|e| (e as i64).max(start)).unwrap_or(start);
    let target = report.target(f);
    let (logical, kind) = match rule.kind {
        FindingKind::Vulnerability => (LogicalName::Package(&target.kind, &f.package), "package"),
        _ => (LogicalName::File(&target.name), "file"),
    };
    let fp = fingerprint(report, f, uri);
    let mut line_hash = [0u8; 34];
    line_hash[..32].copy_from_slice(&fp);
    line_hash[32..].copy_from_slice(b":1");
    let suppressions = match policy.disposition(report, f) {
        Disposition::Ignored { until } => Some([SuppressionOut {
            justification: match until {
                Some(d) => format!("listed in {} until {d}", ctx.ignore_file),
                None => format!("listed in {}", ctx.ignore_file),
            },
            kind: "external",
            status: "accepted",
        }]),
        _ => None,
    };
    let out = ResultOut {
        level: level(f.severity),
        locations: [LocationOut {
            logical_locations: [LogicalOut {
                fully_qualified_name: Shown(logical),
                kind,
            }],
            message: Text { text: target_name },
            physical_location: PhysicalOut {
                artifact_location: UriOut { uri },
                region: RegionOut {
                    end_column: 1,
                    end_line: end,
                    start_column: 1,
                    start_line: start,
                },
            },
        }],
        message: Text {
            text: Shown(MessageText {
                report,
                f,
                target_name,
            }),
        },
        partial_fingerprints: Fingerprints {
            finding: ascii(&fp),
            line_hash: ascii(&line_hash),
        },
        rule_id: &rule.id,
        rule_index: slot,
        suppressions,
    };
    serde_json::to_writer(w, &out).map_err(std::io::Error::from)
}

/// The log without results: tool, rules, category, properties.
fn skeleton(
    ctx: &SarifContext<'_>,
    stable: &str,
    category: &str,
    rules: Vec<ReportingDescriptor>,
    omitted: usize,
) -> Sarif {
    let mut run_props = BTreeMap::new();
    if omitted > 0 {
        run_props.insert(
            "omittedResults".to_string(),
            serde_json::json!({
                "count": omitted,
                "reason": "GitHub code scanning accepts at most 25,000 results and 10 MB gzipped per run; the most severe findings were kept",
            }),
        );
    }
    if let Some(v) = ctx.trivy_version {
        run_props.insert("trivyVersion".to_string(), serde_json::json!(v));
    }
    run_props.insert("artifact".to_string(), serde_json::json!(stable));

    let driver = ToolComponent::builder()
        .name("aks-backend")
        .full_name(format!("aks-backend {} (Trivy scan)", ctx.tool_version))
        .version(ctx.tool_version.to_string())
        .information_uri("https://github.com/org/aks-backend-action".to_string())
        .rules(rules)
        .build();
    let run = Run::builder()
        .tool(Tool::builder().driver(driver).build())
        .results(Vec::new())
        .automation_details(
            RunAutomationDetails::builder()
                .id(format!("{category}/"))
                .build(),
        )
        .column_kind(serde_json::json!("utf16CodeUnits"))
        .original_uri_base_ids({
            let mut m = BTreeMap::new();
            m.insert(
                "ROOTPATH".to_string(),
                ArtifactLocation::builder()
                    .uri("file:///".to_string())
                    .build(),
            );
            m
        })
        .properties(
            PropertyBag::builder()
                .additional_properties(run_props)
                .build(),
        )
        .build();
    Sarif::builder()
        .schema(SCHEMA.to_string())
        .version(serde_json::json!("2.1.0"))
        .runs(vec![run])
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_sarif::sarif::{
        Location, LogicalLocation, Message, PhysicalLocation, Region, Result as SarifResult,
        Suppression,
    };

    /// The result as serde_sarif builds it: what `write_result` must match byte for byte.
    fn sarif_result(
        report: &ScanFindings,
        policy: &GatePolicy,
        ctx: &SarifContext<'_>,
        stable: &str,
        f: &Finding,
        slot: usize,
    ) -> SarifResult {
        let rule = report.rule(f);
        let uri = location_uri(report, f, stable).to_string();
        let target_name = stable_target(report.target(f), stable);
        let start = f.start_line.unwrap_or(1).max(1) as i64;
        let end = f.end_line.map(|e| (e as i64).max(start)).unwrap_or(start);
        let logical = match rule.kind {
            FindingKind::Vulnerability => format!("{}/{}", report.target(f).kind, f.package),
            _ => report.target(f).name.clone(),
        };
        let location = Location::builder()
            .physical_location(
                PhysicalLocation::builder()
                    .artifact_location(ArtifactLocation::builder().uri(uri.clone()).build())
                    .region(
                        Region::builder()
                            .start_line(start)
                            .end_line(end)
                            .start_column(1)
                            .end_column(1)
                            .build(),
                    )
                    .build(),
            )
            .logical_locations(vec![
                LogicalLocation::builder()
                    .fully_qualified_name(logical)
                    .kind(
                        if rule.kind == FindingKind::Vulnerability {
                            "package"
                        } else {
                            "file"
                        }
                        .to_string(),
                    )
                    .build(),
            ])
            .message(Message::builder().text(target_name.clone()).build())
            .build();
        let fp = String::from_utf8(fingerprint(report, f, &uri).to_vec()).unwrap();
        let mut partial = BTreeMap::new();
        partial.insert("aksBackendFinding/v1".to_string(), fp.clone());
        partial.insert("primaryLocationLineHash".to_string(), format!("{fp}:1"));
        let text = MessageText {
            report,
            f,
            target_name: &target_name,
        }
        .to_string();
        let mut r = SarifResult::builder()
            .rule_id(rule.id.clone())
            .rule_index(slot as i64)
            .level(level(f.severity))
            .message(Message::builder().text(text).build())
            .locations(vec![location])
            .partial_fingerprints(partial)
            .build();
        if let Disposition::Ignored { until } = policy.disposition(report, f) {
            let why = match until {
                Some(d) => format!("listed in {} until {d}", ctx.ignore_file),
                None => format!("listed in {}", ctx.ignore_file),
            };
            r.suppressions = Some(vec![
                Suppression::builder()
                    .kind(serde_json::json!("external"))
                    .status(serde_json::json!("accepted"))
                    .justification(why)
                    .build(),
            ]);
        }
        r
    }

    #[test]
    fn streamed_results_match_serde_sarif() {
        let report = crate::clients::trivy::results::parse(
            std::path::Path::new("r.json"),
            br#"{"SchemaVersion":2,"ArtifactName":"reg.io/api:1.2","Results":[
              {"Target":"reg.io/api:1.2 (debian 12.5)","Class":"os-pkgs","Type":"debian",
               "Vulnerabilities":[
                {"VulnerabilityID":"CVE-1","PkgName":"libssl3","InstalledVersion":"3.0","FixedVersion":"3.1",
                 "Severity":"CRITICAL","PrimaryURL":"https://x/CVE-1","Title":"t \"q\" <b>"},
                {"VulnerabilityID":"CVE-2","PkgName":"","InstalledVersion":"1","Severity":"LOW"}]},
              {"Target":"/app/package-lock.json","Class":"lang-pkgs","Type":"npm","Vulnerabilities":[
                {"VulnerabilityID":"GHSA-1","PkgName":"lodash","PkgPath":"/app/node_modules/lodash/package.json",
                 "InstalledVersion":"4.17.0","Severity":"MEDIUM"}]},
              {"Target":"/app/.env","Class":"secret","Secrets":[
                {"RuleID":"aws-access-key-id","Category":"AWS","Severity":"CRITICAL","Title":"AWS\tkey","StartLine":3,"EndLine":2},
                {"RuleID":"github-pat","Severity":"HIGH"}]},
              {"Target":"Dockerfile","Class":"config","Type":"dockerfile","Misconfigurations":[
                {"ID":"DS002","AVDID":"AVD-DS-0002","Title":"root","Message":"Specify \u00e9 USER\n",
                 "Severity":"HIGH","Status":"FAIL","CauseMetadata":{"StartLine":1,"EndLine":4}}]}]}"#,
        )
        .unwrap();
        let policy = GatePolicy {
            severities: Severity::DESCENDING.into_iter().collect(),
            ignore_unfixed: false,
            fail_on_findings: true,
            ignores: crate::model::ignore::IgnoreList::parse(
                std::path::Path::new(".trivyignore"),
                "CVE-2 exp:2099-01-01\nGHSA-1\n",
            )
            .unwrap(),
            today: jiff::civil::date(2026, 1, 1),
        };
        let ctx = SarifContext {
            artifact: "reg.io/api:1.2",
            category: None,
            tool_version: "0.1.0",
            trivy_version: None,
            ignore_file: ".trivyignore",
        };
        let stable = stable_artifact(ctx.artifact);
        assert_eq!(report.findings.len(), 6);
        for (slot, f) in report.findings.iter().enumerate() {
            let want = serde_json::to_vec(&sarif_result(&report, &policy, &ctx, &stable, f, slot))
                .unwrap();
            let target_name = stable_target(report.target(f), &stable);
            let mut got = Vec::new();
            write_result(
                &mut got,
                &report,
                &policy,
                &ctx,
                &stable,
                &target_name,
                f,
                slot,
            )
            .unwrap();
            assert_eq!(
                String::from_utf8(got).unwrap(),
                String::from_utf8(want).unwrap()
            );
        }
    }

    /// Issue 13 item 11: the `sarif-category` output carried raw `ArtifactName` text.
    #[test]
    fn the_default_category_is_clean() {
        let c = default_category("evil\n::set-output name=x::1 <b>@me\u{1b}]52;c;x\u{7}");
        assert!(
            c.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "._/:-".contains(ch)),
            "{c:?}"
        );
        assert_eq!(
            default_category("reg.io:5000/team/api:1.2"),
            "aks-backend/reg.io:5000/team/api"
        );
        assert_eq!(
            default_category(&"a".repeat(500)).len(),
            "aks-backend/".len() + 200
        );
    }

    #[test]
    fn stable_artifact_drops_tag_and_digest_not_port() {
        assert_eq!(
            stable_artifact("reg.io:5000/team/api:1.2"),
            "reg.io:5000/team/api"
        );
        assert_eq!(
            stable_artifact("reg.io/team/api@sha256:abcd"),
            "reg.io/team/api"
        );
        assert_eq!(
            stable_artifact("reg.io:5000/team/api"),
            "reg.io:5000/team/api"
        );
        assert_eq!(stable_artifact("image.tar"), "image.tar");
    }
}
