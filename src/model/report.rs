//! Trivy's JSON report (SchemaVersion 2) into [`ScanReport`].
//!
//! The report is read once and walked one `Results[]` entry at a time: each entry is
//! deserialized with borrowed strings, folded into the lean model, and dropped. Unknown
//! fields are ignored (Trivy adds fields often); a malformed or truncated file is an
//! error that names the file and the line and column where it broke.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::findings::{Finding, FindingKind, Rule, ScanReport, Severity, Target};
use crate::model::diagnostic::{Diagnostic, Exit};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot read Trivy report {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("Trivy report {path} is truncated (it ends at line {line}, column {column})")]
    Truncated {
        path: PathBuf,
        line: usize,
        column: usize,
    },
    #[error("Trivy report {path} is not valid JSON at line {line}, column {column}: {message}")]
    Malformed {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("Trivy report {path} has SchemaVersion {found}; only version 2 is understood")]
    Schema { path: PathBuf, found: String },
    #[error(transparent)]
    Fs(crate::fsx::FsError),
}

impl Diagnostic for ReportError {
    fn exit(&self) -> Exit {
        Exit::BadInput
    }

    fn hint(&self) -> Option<String> {
        Some(match self {
            ReportError::Read { .. } => "check the path given to --trivy-report".into(),
            ReportError::Truncated { .. } => {
                "the file was cut off; re-run `trivy ... --format json --output FILE`".into()
            }
            ReportError::Malformed { .. } => {
                "pass a report written by `trivy ... --format json` (not table or SARIF)".into()
            }
            ReportError::Schema { .. } => {
                "use Trivy 0.20 or newer, which writes SchemaVersion 2".into()
            }
            ReportError::Fs(e) => return e.hint(),
        })
    }
}

/// Reads and parses the report at `path`.
pub fn read(path: &Path) -> Result<ScanReport, ReportError> {
    use crate::fsx::{self, FsError};
    let bytes =
        fsx::read(path, "Trivy report", fsx::Follow::No, fsx::REPORT).map_err(|e| match e {
            FsError::Read { source, .. } => ReportError::Read {
                path: path.to_path_buf(),
                source,
            },
            other => ReportError::Fs(other),
        })?;
    parse(path, &bytes)
}

/// Parses report bytes; `path` is only used in errors.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<ScanReport, ReportError> {
    // A UTF-8 byte order mark (Windows editors, PowerShell) is no JSON error.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let mut report = ScanReport::default();
    let schema = ReportSeed {
        report: &mut report,
    }
    .deserialize(&mut de)
    .and_then(|s| de.end().map(|_| s))
    .map_err(|e| json_error(path, e))?;
    match schema {
        Some(2) => Ok(report),
        Some(n) => Err(ReportError::Schema {
            path: path.to_path_buf(),
            found: n.to_string(),
        }),
        None => Err(ReportError::Schema {
            path: path.to_path_buf(),
            found: "(missing)".into(),
        }),
    }
}

fn json_error(path: &Path, e: serde_json::Error) -> ReportError {
    if e.is_eof() {
        ReportError::Truncated {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
        }
    } else {
        let full = e.to_string();
        let message = full
            .rsplit_once(" at line ")
            .map(|(m, _)| m.to_string())
            .unwrap_or(full);
        ReportError::Malformed {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            message,
        }
    }
}

/// The top-level object; returns `SchemaVersion`.
struct ReportSeed<'r> {
    report: &'r mut ScanReport,
}

impl<'de> DeserializeSeed<'de> for ReportSeed<'_> {
    type Value = Option<u64>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ReportSeed<'_> {
    type Value = Option<u64>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Trivy JSON report object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut schema = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match key.as_ref() {
                "SchemaVersion" => schema = Some(map.next_value::<u64>()?),
                "ArtifactName" => self.report.artifact_name = map.next_value::<String>()?,
                "ArtifactType" => self.report.artifact_type = map.next_value::<String>()?,
                "Results" => map.next_value_seed(ResultsSeed {
                    report: self.report,
                })?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(schema)
    }
}

struct ResultsSeed<'r> {
    report: &'r mut ScanReport,
}

impl<'de> DeserializeSeed<'de> for ResultsSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ResultsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of results")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(r) = seq.next_element::<RawResult<'de>>()? {
            fold(self.report, r);
        }
        Ok(())
    }
}

type S<'a> = Cow<'a, str>;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawResult<'a> {
    #[serde(borrow, default)]
    target: S<'a>,
    #[serde(borrow, default)]
    class: S<'a>,
    #[serde(borrow, default, rename = "Type")]
    kind: S<'a>,
    #[serde(borrow, default, deserialize_with = "null_as_empty")]
    vulnerabilities: Vec<RawVuln<'a>>,
    #[serde(borrow, default, deserialize_with = "null_as_empty")]
    secrets: Vec<RawSecret<'a>>,
    #[serde(borrow, default, deserialize_with = "null_as_empty")]
    misconfigurations: Vec<RawMisconf<'a>>,
}

fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawVuln<'a> {
    #[serde(borrow, rename = "VulnerabilityID")]
    id: S<'a>,
    #[serde(borrow, default)]
    pkg_name: S<'a>,
    #[serde(borrow, default)]
    pkg_path: Option<S<'a>>,
    #[serde(borrow, default)]
    installed_version: S<'a>,
    #[serde(borrow, default)]
    fixed_version: Option<S<'a>>,
    #[serde(borrow, default)]
    status: Option<S<'a>>,
    #[serde(borrow, default)]
    severity: Option<S<'a>>,
    #[serde(borrow, default)]
    severity_source: Option<S<'a>>,
    #[serde(borrow, default, rename = "PrimaryURL")]
    primary_url: Option<S<'a>>,
    #[serde(borrow, default)]
    title: Option<S<'a>>,
    #[serde(borrow, default)]
    description: Option<S<'a>>,
    #[serde(borrow, default, rename = "CweIDs")]
    cwe_ids: Option<Vec<S<'a>>>,
    #[serde(borrow, default, rename = "CVSS")]
    cvss: Option<BTreeMap<S<'a>, RawCvss>>,
}

#[derive(Deserialize)]
struct RawCvss {
    #[serde(default, rename = "V3Score")]
    v3_score: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawSecret<'a> {
    #[serde(borrow, rename = "RuleID")]
    rule_id: S<'a>,
    #[serde(borrow, default)]
    category: Option<S<'a>>,
    #[serde(borrow, default)]
    severity: Option<S<'a>>,
    #[serde(borrow, default)]
    title: Option<S<'a>>,
    #[serde(default)]
    start_line: Option<u32>,
    #[serde(default)]
    end_line: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawMisconf<'a> {
    #[serde(borrow, rename = "ID")]
    id: S<'a>,
    #[serde(borrow, default, rename = "AVDID")]
    avd_id: Option<S<'a>>,
    #[serde(borrow, default)]
    title: Option<S<'a>>,
    #[serde(borrow, default)]
    description: Option<S<'a>>,
    #[serde(borrow, default)]
    message: Option<S<'a>>,
    #[serde(borrow, default)]
    resolution: Option<S<'a>>,
    #[serde(borrow, default)]
    severity: Option<S<'a>>,
    #[serde(borrow, default, rename = "PrimaryURL")]
    primary_url: Option<S<'a>>,
    #[serde(borrow, default)]
    status: Option<S<'a>>,
    #[serde(default)]
    cause_metadata: Option<RawCause>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawCause {
    #[serde(default)]
    start_line: Option<u32>,
    #[serde(default)]
    end_line: Option<u32>,
}

fn boxed(s: Option<S<'_>>) -> Option<Box<str>> {
    s.filter(|s| !s.is_empty())
        .map(|s| s.into_owned().into_boxed_str())
}

fn fold(report: &mut ScanReport, r: RawResult<'_>) {
    if r.vulnerabilities.is_empty() && r.secrets.is_empty() && r.misconfigurations.is_empty() {
        return;
    }
    let target = report.add_target(Target {
        name: r.target.into_owned(),
        class: r.class.into_owned(),
        kind: r.kind.into_owned(),
    });
    for v in r.vulnerabilities {
        let severity = v
            .severity
            .as_deref()
            .map_or(Severity::Unknown, Severity::from_report);
        let rule = report.rule_for(&v.id, || Rule {
            id: v.id.to_string(),
            kind: FindingKind::Vulnerability,
            title: v.title.as_deref().unwrap_or_default().to_string(),
            description: v.description.as_deref().unwrap_or_default().to_string(),
            primary_url: v.primary_url.as_deref().map(String::from),
            severity,
            cvss_v3: cvss_v3(v.cvss.as_ref(), v.severity_source.as_deref()),
            cwe_ids: v.cwe_ids.iter().flatten().map(|c| c.to_string()).collect(),
            resolution: None,
        });
        report.findings.push(Finding {
            rule,
            target,
            severity,
            package: v.pkg_name.into_owned().into_boxed_str(),
            installed: v.installed_version.into_owned().into_boxed_str(),
            fixed: boxed(v.fixed_version),
            status: boxed(v.status),
            pkg_path: boxed(v.pkg_path),
            start_line: None,
            end_line: None,
            message: None,
        });
    }
    for s in r.secrets {
        let severity = s
            .severity
            .as_deref()
            .map_or(Severity::Unknown, Severity::from_report);
        let title = s.title.as_deref().unwrap_or(&s.rule_id).to_string();
        let rule = report.rule_for(&s.rule_id, || Rule {
            id: s.rule_id.to_string(),
            kind: FindingKind::Secret,
            description: format!("A secret ({title}) is stored in the image."),
            title,
            primary_url: None,
            severity,
            cvss_v3: None,
            cwe_ids: vec!["CWE-798".into()],
            resolution: Some(
                "Remove the secret from the image, rotate it, and pass it at run time.".into(),
            ),
        });
        report.findings.push(Finding {
            rule,
            target,
            severity,
            package: "".into(),
            installed: "".into(),
            fixed: None,
            status: None,
            pkg_path: None,
            start_line: s.start_line,
            end_line: s.end_line,
            message: boxed(s.category),
        });
    }
    for m in r.misconfigurations {
        if m.status
            .as_deref()
            .is_some_and(|s| !s.eq_ignore_ascii_case("FAIL"))
        {
            continue;
        }
        let severity = m
            .severity
            .as_deref()
            .map_or(Severity::Unknown, Severity::from_report);
        let id = m
            .avd_id
            .as_deref()
            .filter(|a| !a.is_empty())
            .unwrap_or(&m.id)
            .to_string();
        let rule = report.rule_for(&id, || Rule {
            id: id.clone(),
            kind: FindingKind::Misconfiguration,
            title: m.title.as_deref().unwrap_or_default().to_string(),
            description: m.description.as_deref().unwrap_or_default().to_string(),
            primary_url: m.primary_url.as_deref().map(String::from),
            severity,
            cvss_v3: None,
            cwe_ids: Vec::new(),
            resolution: m.resolution.as_deref().map(String::from),
        });
        report.findings.push(Finding {
            rule,
            target,
            severity,
            package: m.id.into_owned().into_boxed_str(),
            installed: "".into(),
            fixed: None,
            status: None,
            pkg_path: None,
            start_line: m.cause_metadata.as_ref().and_then(|c| c.start_line),
            end_line: m.cause_metadata.as_ref().and_then(|c| c.end_line),
            message: boxed(m.message),
        });
    }
}

/// The CVSS v3 score of the severity source, else NVD's, else the first vendor's.
fn cvss_v3(cvss: Option<&BTreeMap<S<'_>, RawCvss>>, source: Option<&str>) -> Option<f64> {
    let cvss = cvss?;
    let score = |k: &str| cvss.get(k).and_then(|c| c.v3_score).filter(|s| *s > 0.0);
    source
        .and_then(score)
        .or_else(|| score("nvd"))
        .or_else(|| cvss.values().find_map(|c| c.v3_score.filter(|s| *s > 0.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<ScanReport, ReportError> {
        parse(Path::new("r.json"), s.as_bytes())
    }

    #[test]
    fn minimal_report_with_unknown_fields() {
        let r = p(r#"{"SchemaVersion":2,"Future":{"x":1},"ArtifactName":"a","Results":[
            {"Target":"t","Class":"os-pkgs","Type":"debian","Vulnerabilities":[
              {"VulnerabilityID":"CVE-1","PkgName":"p","InstalledVersion":"1","Severity":"HIGH","New":true}]}]}"#)
        .unwrap();
        assert_eq!(r.findings.len(), 1);
        assert_eq!(r.rules[0].id, "CVE-1");
        assert_eq!(r.findings[0].severity, Severity::High);
    }

    #[test]
    fn truncated_names_where() {
        let e = p(r#"{"SchemaVersion":2,"Results":[{"Target":"#).unwrap_err();
        assert!(matches!(e, ReportError::Truncated { line: 1, .. }), "{e}");
        assert!(e.to_string().contains("r.json"));
    }

    #[test]
    fn malformed_names_line_and_column() {
        let e = p("{\"SchemaVersion\":2,\n\"Results\": [}").unwrap_err();
        assert!(matches!(e, ReportError::Malformed { line: 2, .. }), "{e}");
    }

    #[test]
    fn wrong_schema_is_refused() {
        let e = p(r#"{"SchemaVersion":1,"Results":[]}"#).unwrap_err();
        assert!(matches!(e, ReportError::Schema { .. }));
        let e = p(r#"{"Results":[]}"#).unwrap_err();
        assert!(e.to_string().contains("missing"));
    }

    /// Issue 13 item 11: a BOM made the report "invalid JSON".
    #[test]
    fn a_byte_order_mark_is_accepted() {
        let r = p("\u{FEFF}{\"SchemaVersion\":2,\"Results\":[]}").unwrap();
        assert!(r.findings.is_empty());
    }

    #[test]
    fn null_results_are_empty() {
        let r = p(r#"{"SchemaVersion":2,"Results":null}"#).unwrap();
        assert!(r.findings.is_empty());
        let r =
            p(r#"{"SchemaVersion":2,"Results":[{"Target":"x","Vulnerabilities":null}]}"#).unwrap();
        assert!(r.targets.is_empty());
    }
}
