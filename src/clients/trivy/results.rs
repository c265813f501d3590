//! Trivy's JSON report (SchemaVersion 2) into [`ScanFindings`].
//!
//! The report is streamed: it is read in chunks, and each `Results[]` entry is
//! deserialized with strings borrowed from the chunk, folded into the lean model, and
//! dropped with the bytes it came from. Memory is the model plus the largest single
//! entry, not the whole file (a big image's report is tens of MB). Unknown fields are
//! ignored (Trivy adds fields often); a malformed or truncated file is an error that
//! names the file and the line and column where it broke.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer, IgnoredAny, Visitor};

use crate::model::diagnostic::{Diagnostic, Exit};
use crate::model::findings::{Finding, FindingKind, Rule, ScanFindings, Severity, Target};

#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
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

impl Diagnostic for ResultsError {
    fn exit(&self) -> Exit {
        Exit::BadInput
    }

    fn hint(&self) -> Option<String> {
        Some(match self {
            ResultsError::Read { .. } => "check the path given to --trivy-report".into(),
            ResultsError::Truncated { .. } => {
                "the file was cut off; re-run `trivy ... --format json --output FILE`".into()
            }
            ResultsError::Malformed { .. } => {
                "pass a report written by `trivy ... --format json` (not table or SARIF)".into()
            }
            ResultsError::Schema { .. } => {
                "use Trivy 0.20 or newer, which writes SchemaVersion 2".into()
            }
            ResultsError::Fs(e) => return e.hint(),
        })
    }
}

/// Reads and parses the report at `path`.
pub fn read(path: &Path) -> Result<ScanFindings, ResultsError> {
    use crate::fsx::{self, FsError};
    let fs_err = |e| match e {
        FsError::Read { source, .. } => ResultsError::Read {
            path: path.to_path_buf(),
            source,
        },
        other => ResultsError::Fs(other),
    };
    // A regular file, not followed through a symlink, no larger than the cap; then
    // streamed, so memory is the largest entry, not the file.
    let file = fsx::open(path, "Trivy report", fsx::Follow::No).map_err(fs_err)?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len > fsx::REPORT {
        return Err(ResultsError::Fs(FsError::TooLarge {
            what: "Trivy report",
            path: path.to_path_buf(),
            limit: fsx::REPORT,
        }));
    }
    parse_from(path, std::io::Read::take(file, fsx::REPORT + 1))
}

/// Parses report bytes; `path` is only used in errors.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<ScanFindings, ResultsError> {
    parse_from(path, bytes)
}

/// Parses the report `src` yields, one chunk at a time; `path` is only used in errors.
pub fn parse_from(path: &Path, src: impl Read) -> Result<ScanFindings, ResultsError> {
    use std::io::BufRead;
    let mut src = std::io::BufReader::new(src);
    // A UTF-8 byte order mark (Windows editors, PowerShell) is no JSON error.
    let bom = src
        .fill_buf()
        .is_ok_and(|head| head.starts_with(b"\xEF\xBB\xBF"));
    if bom {
        src.consume(3);
    }
    parse_chunked(path, src, CHUNK)
}

fn parse_chunked(path: &Path, src: impl Read, chunk: usize) -> Result<ScanFindings, ResultsError> {
    let mut w = Window::new(path, src, chunk);
    let mut report = ScanFindings::default();
    let schema = top_level(&mut w, &mut report)?;
    match schema {
        Some(2) => Ok(report),
        Some(n) => Err(ResultsError::Schema {
            path: path.to_path_buf(),
            found: n.to_string(),
        }),
        None => Err(ResultsError::Schema {
            path: path.to_path_buf(),
            found: "(missing)".into(),
        }),
    }
}

/// The top-level object, its `Results` entry by entry; returns `SchemaVersion`.
fn top_level<R: Read>(
    w: &mut Window<'_, R>,
    report: &mut ScanFindings,
) -> Result<Option<u64>, ResultsError> {
    if w.peek()? != Some(b'{') {
        // Not an object: serde_json says what it is instead (or where it breaks).
        w.value::<ReportObject>()?;
        return Err(w.unexpected("expected a Trivy JSON report object"));
    }
    w.pos += 1;
    let mut schema = None;
    let mut first = true;
    loop {
        match w.peek()? {
            Some(b'}') if first => break,
            Some(b'"') if first => {}
            Some(b',') if !first => {
                w.pos += 1;
                match w.peek()? {
                    Some(b'"') => {}
                    // Found by fuzzing: the end after a `,` is a truncated report.
                    None => return Err(w.truncated()),
                    Some(_) => return Err(w.unexpected("key must be a string")),
                }
            }
            Some(b'}') => break,
            None => return Err(w.truncated()),
            Some(_) if first => return Err(w.unexpected("key must be a string")),
            Some(_) => return Err(w.unexpected("expected `,` or `}`")),
        }
        first = false;
        let key: String = w.value()?;
        match w.peek()? {
            Some(b':') => w.pos += 1,
            None => return Err(w.truncated()),
            Some(_) => return Err(w.unexpected("expected `:`")),
        }
        match key.as_str() {
            "SchemaVersion" => schema = Some(w.value::<u64>()?),
            "ArtifactName" => report.artifact_name = w.value()?,
            "ArtifactType" => report.artifact_type = w.value()?,
            "Metadata" => report.repo_digests = w.value::<Metadata>()?.repo_digests,
            "Results" => results(w, report)?,
            _ => {
                w.value::<IgnoredAny>()?;
            }
        }
    }
    w.pos += 1;
    match w.peek()? {
        None => Ok(schema),
        Some(_) => Err(w.unexpected("trailing characters")),
    }
}

/// The one part of the report's `Metadata` we use (the rest: OS, image config, ...).
#[derive(Deserialize)]
struct Metadata {
    #[serde(rename = "RepoDigests", default, deserialize_with = "null_as_empty")]
    repo_digests: Vec<String>,
}

/// `Results`: `null`, or an array of entries folded one at a time.
fn results<R: Read>(w: &mut Window<'_, R>, report: &mut ScanFindings) -> Result<(), ResultsError> {
    if w.peek()? != Some(b'[') {
        // `null`, or serde_json's words for what else it is.
        w.value::<Option<Vec<IgnoredAny>>>()?;
        return Ok(());
    }
    w.pos += 1;
    if w.peek()? == Some(b']') {
        w.pos += 1;
        return Ok(());
    }
    loop {
        w.result(report)?;
        match w.peek()? {
            Some(b',') => w.pos += 1,
            Some(b']') => {
                w.pos += 1;
                return Ok(());
            }
            None => return Err(w.truncated()),
            Some(_) => return Err(w.unexpected("expected `,` or `]`")),
        }
    }
}

/// A non-object top level, refused in serde's words ("invalid type: sequence, ...").
struct ReportObject;

impl<'de> Deserialize<'de> for ReportObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ReportObject)
    }
}

impl<'de> Visitor<'de> for ReportObject {
    type Value = ReportObject;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Trivy JSON report object")
    }
}

/// The part of the report in memory: `buf[pos..]` is not parsed yet. Bytes before `pos`
/// are dropped when more are read; `line` and `column` say where `buf[0]` is.
struct Window<'p, R> {
    path: &'p Path,
    src: R,
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
    /// 1-based line of `buf[0]`.
    line: usize,
    /// Bytes between the last newline before `buf[0]` and `buf[0]`.
    column: usize,
    /// How much is read at a time (more when one value is larger).
    chunk: usize,
}

/// How much is read at a time by default.
const CHUNK: usize = 1 << 20;

impl<'p, R: Read> Window<'p, R> {
    fn new(path: &'p Path, src: R, chunk: usize) -> Self {
        Window {
            path,
            src,
            buf: Vec::new(),
            pos: 0,
            eof: false,
            line: 1,
            column: 0,
            chunk,
        }
    }

    /// Drops the parsed bytes and reads at least as many as are left (at least a chunk),
    /// so a value that does not fit is re-parsed only O(log n) times. False at the end.
    fn more(&mut self) -> Result<bool, ResultsError> {
        if self.eof {
            return Ok(false);
        }
        self.pos = self.pos.min(self.buf.len());
        let done = self.buf.get(..self.pos).unwrap_or_default();
        match done.iter().rposition(|b| *b == b'\n') {
            Some(i) => {
                self.line += done.iter().filter(|b| **b == b'\n').count();
                self.column = done.len() - i - 1;
            }
            None => self.column += done.len(),
        }
        self.buf.drain(..self.pos);
        self.pos = 0;
        let start = self.buf.len();
        let want = start.max(self.chunk);
        self.buf.resize(start + want, 0);
        let mut filled = start;
        while let Some(free) = self.buf.get_mut(filled..).filter(|f| !f.is_empty()) {
            match self.src.read(free) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(ResultsError::Read {
                        path: self.path.to_path_buf(),
                        source,
                    });
                }
            }
        }
        self.buf.truncate(filled);
        Ok(filled > start)
    }

    /// The bytes not parsed yet.
    fn rest(&self) -> &[u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// The next byte that is not JSON whitespace (not consumed), `None` at the end.
    fn peek(&mut self) -> Result<Option<u8>, ResultsError> {
        loop {
            match self
                .rest()
                .iter()
                .enumerate()
                .find(|(_, b)| !matches!(b, b' ' | b'\n' | b'\t' | b'\r'))
            {
                Some((i, &b)) => {
                    self.pos += i;
                    return Ok(Some(b));
                }
                None => {
                    self.pos = self.buf.len();
                    if !self.more()? {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Line and column (serde_json's: bytes since the last newline) just after `at`
    /// bytes of the window.
    fn position(&self, at: usize) -> (usize, usize) {
        // Never past the window, whatever a caller asks: an error's place must not panic.
        let at = at.min(self.buf.len());
        let before = self.buf.get(..at).unwrap_or_default();
        match before.iter().rposition(|b| *b == b'\n') {
            Some(i) => (
                self.line + before.iter().filter(|b| **b == b'\n').count(),
                at - i - 1,
            ),
            None => (self.line, self.column + at),
        }
    }

    fn truncated(&self) -> ResultsError {
        let (line, column) = self.position(self.buf.len());
        ResultsError::Truncated {
            path: self.path.to_path_buf(),
            line,
            column,
        }
    }

    /// The byte at `pos` is not what the grammar allows there.
    fn unexpected(&self, message: &str) -> ResultsError {
        let (line, column) = self.position(self.pos + 1);
        ResultsError::Malformed {
            path: self.path.to_path_buf(),
            line,
            column,
            message: message.into(),
        }
    }

    /// serde_json's error on the value that starts at `pos`, placed in the file.
    fn json_error(&self, e: serde_json::Error) -> ResultsError {
        let (line, column) = self.position(self.pos);
        let (line, column) = if e.line() <= 1 {
            (line, column + e.column())
        } else {
            (line + e.line() - 1, e.column())
        };
        if e.is_eof() {
            return ResultsError::Truncated {
                path: self.path.to_path_buf(),
                line,
                column,
            };
        }
        let full = e.to_string();
        let message = full
            .rsplit_once(" at line ")
            .map(|(m, _)| m.to_string())
            .unwrap_or(full);
        ResultsError::Malformed {
            path: self.path.to_path_buf(),
            line,
            column,
            message,
        }
    }

    /// Parses the one value at `pos` with `parse`, which gets the window's bytes from
    /// there and whether they run to the end of the file, and returns how many it used.
    /// A value that runs past the window (or may: a number at its very end) is parsed
    /// again once more is read; `parse` must keep its result only when `n` is less than
    /// the bytes it got, or they were the last.
    fn parse_with(
        &mut self,
        mut parse: impl FnMut(&[u8], bool) -> Result<usize, serde_json::Error>,
    ) -> Result<(), ResultsError> {
        loop {
            match parse(self.rest(), self.eof) {
                Ok(n) if self.pos + n < self.buf.len() || self.eof => {
                    self.pos += n;
                    return Ok(());
                }
                Ok(_) => {}
                // A number cut at the window's end is an "invalid number" there.
                Err(e) if !self.eof && (e.is_eof() || at_end(self.rest(), &e)) => {}
                Err(e) => return Err(self.json_error(e)),
            }
            self.more()?;
        }
    }

    /// One value of a type that owns its data.
    fn value<T: DeserializeOwned>(&mut self) -> Result<T, ResultsError> {
        let mut out = None;
        self.parse_with(|bytes, _| {
            let mut it = serde_json::Deserializer::from_slice(bytes).into_iter::<T>();
            out = Some(it.next().unwrap_or_else(end_of_input)?);
            Ok(it.byte_offset())
        })?;
        // parse_with returns Ok only after a parse, so `out` is set.
        out.ok_or_else(|| self.json_error(no_value()))
    }

    /// One `Results[]` entry, with strings borrowed from the window, folded into `report`.
    fn result(&mut self, report: &mut ScanFindings) -> Result<(), ResultsError> {
        self.parse_with(|bytes, last| {
            let mut it = serde_json::Deserializer::from_slice(bytes).into_iter::<RawResult>();
            let r = it.next().unwrap_or_else(end_of_input)?;
            let n = it.byte_offset();
            if n < bytes.len() || last {
                fold(report, r);
            }
            Ok(n)
        })
    }
}

/// Whether serde_json placed `e` at the very end of `bytes`.
fn at_end(bytes: &[u8], e: &serde_json::Error) -> bool {
    let line = 1 + bytes.iter().filter(|b| **b == b'\n').count();
    let column = bytes.len() - bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    (e.line(), e.column()) == (line, column)
}

/// serde_json's error for input that ends before a value.
fn end_of_input<T>() -> Result<T, serde_json::Error> {
    Err(no_value())
}

/// The error serde_json gives for no bytes (an end of input, `is_eof`).
fn no_value() -> serde_json::Error {
    match serde_json::from_slice::<IgnoredAny>(b"") {
        Err(e) => e,
        // Never: no bytes are no value.
        Ok(_) => serde::de::Error::custom("EOF while parsing a value"),
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

fn fold(report: &mut ScanFindings, r: RawResult<'_>) {
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

    fn p(s: &str) -> Result<ScanFindings, ResultsError> {
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
    fn the_scanned_image_is_pinned_by_its_repo_digest() {
        let r = p(r#"{"SchemaVersion":2,"ArtifactName":"reg.io/team/proxy:1.27",
            "Metadata":{"OS":{"Family":"debian"},"ImageConfig":{"history":[{"created":"x"}]},
              "RepoDigests":["other.io/proxy@sha256:1111111111111111111111111111111111111111111111111111111111111111",
                             "reg.io/team/proxy@sha256:2222222222222222222222222222222222222222222222222222222222222222"]},
            "Results":[]}"#)
        .unwrap();
        let pinned = r.digest_in("reg.io/team/proxy").unwrap();
        assert!(
            pinned.to_string().ends_with(
                "@sha256:2222222222222222222222222222222222222222222222222222222222222222"
            )
        );
        assert!(r.digest_in("reg.io/team/web").is_none());
        let none =
            p(r#"{"SchemaVersion":2,"Metadata":{"RepoDigests":null},"Results":[]}"#).unwrap();
        assert!(none.repo_digests.is_empty());
    }

    #[test]
    fn truncated_names_where() {
        let e = p(r#"{"SchemaVersion":2,"Results":[{"Target":"#).unwrap_err();
        assert!(matches!(e, ResultsError::Truncated { line: 1, .. }), "{e}");
        assert!(e.to_string().contains("r.json"));
    }

    #[test]
    fn malformed_names_line_and_column() {
        let e = p("{\"SchemaVersion\":2,\n\"Results\": [}").unwrap_err();
        assert!(matches!(e, ResultsError::Malformed { line: 2, .. }), "{e}");
    }

    #[test]
    fn wrong_schema_is_refused() {
        let e = p(r#"{"SchemaVersion":1,"Results":[]}"#).unwrap_err();
        assert!(matches!(e, ResultsError::Schema { .. }));
        let e = p(r#"{"Results":[]}"#).unwrap_err();
        assert!(e.to_string().contains("missing"));
    }

    /// Found by `cargo fuzz` (trivy_report): a report that ends after a `,` between keys
    /// panicked placing the error one byte past the window; it is a truncated report.
    #[test]
    fn a_report_ending_after_a_comma_between_keys_is_truncated() {
        let e =
            p("\u{FEFF}{\"Sc_emaVersion\":2,\"ArtifactName\":\"a|b @x\",\"RetmaVersion\":2,   ")
                .unwrap_err();
        assert!(matches!(e, ResultsError::Truncated { .. }), "{e}");
        let e = p("{\"SchemaVersion\":2,").unwrap_err();
        assert!(matches!(e, ResultsError::Truncated { .. }), "{e}");
    }

    /// Issue 13 item 11: a BOM made the report "invalid JSON".
    #[test]
    fn a_byte_order_mark_is_accepted() {
        let r = p("\u{FEFF}{\"SchemaVersion\":2,\"Results\":[]}").unwrap();
        assert!(r.findings.is_empty());
    }

    /// A report with every kind of finding, escapes, numbers and nulls in odd places.
    fn varied_report(entries: usize) -> String {
        let mut results = Vec::new();
        for i in 0..entries {
            results.push(format!(
                r#"{{"Target":"lib{i}/package-lock.json","Class":"lang-pkgs","Type":"npm",
  "Packages":null,"Vulnerabilities":[
  {{"VulnerabilityID":"CVE-2024-{i}","PkgName":"p\"{i}","InstalledVersion":"1.0.{i}",
    "FixedVersion":"1.1","Severity":"HIGH","SeveritySource":"nvd","Title":"t\u00e9\n{i}",
    "CweIDs":["CWE-79"],"CVSS":{{"nvd":{{"V3Score":7.5,"V2Score":5}}}},"Extra":[-1.25e-3,2.5E+3,true,{{}}]}}],
  "Secrets":[{{"RuleID":"aws-{i}","Category":"AWS","Severity":"CRITICAL","StartLine":{i},"EndLine":{i}}}],
  "Misconfigurations":[{{"ID":"DS{i}","AVDID":"AVD-DS-{i}","Status":"FAIL","Severity":"LOW",
    "CauseMetadata":{{"StartLine":3,"EndLine":4}}}}]}}"#
            ));
        }
        format!(
            "{{\n  \"SchemaVersion\": 2,\n  \"ArtifactName\": \"reg/api:1\",\n  \"Metadata\": {{\"OS\": {{\"Family\": \"debian\"}}}},\n  \"Results\": [\n{}\n  ],\n  \"ArtifactType\": \"container_image\"\n}}\n",
            results.join(",\n")
        )
    }

    #[test]
    fn any_chunk_size_gives_the_same_report() {
        let text = varied_report(12);
        let whole = p(&text).unwrap();
        assert_eq!(whole.findings.len(), 36);
        assert_eq!(whole.artifact_type, "container_image");
        assert_eq!(whole.rules[0].cvss_v3, Some(7.5));
        for chunk in [1, 2, 3, 7, 64, 1000] {
            let r = parse_chunked(Path::new("r.json"), text.as_bytes(), chunk).unwrap();
            assert_eq!(r, whole, "chunk {chunk}");
        }
    }

    #[test]
    fn a_number_at_a_chunk_end_is_read_whole() {
        let text = r#"{"SchemaVersion":20,"Results":[]}"#;
        for chunk in [1, 2, 3, 17, 19, 20] {
            let e = parse_chunked(Path::new("r.json"), text.as_bytes(), chunk).unwrap_err();
            assert!(
                e.to_string().contains("SchemaVersion 20"),
                "chunk {chunk}: {e}"
            );
        }
    }

    #[test]
    fn errors_are_placed_where_serde_json_places_them_in_the_whole_file() {
        let good = varied_report(3);
        let cases = [
            good.replacen("\"Results\": [", "\"Results\": [}", 1),
            good.replacen("\"Class\":\"lang-pkgs\"", "\"Class\":lang-pkgs", 1),
            good.replacen("\"InstalledVersion\":", "\"InstalledVersion\";", 2),
            good.replacen("\n  ],\n", "\n  } \n", 1),
            good.replacen("\"ArtifactName\":", "\"ArtifactName\"", 1),
            good.replacen("\"SchemaVersion\": 2,", "\"SchemaVersion\": 2 ", 1),
            good.replacen("\"Target\":\"lib2", "\"Target\":\"lib2\u{1}", 1),
            format!("{good}x"),
            good[..good.len() / 2].to_string(),
            good[..good.len() - 3].to_string(),
            String::new(),
            "[1, 2]".into(),
            "image.tar (debian 12.5)\n===\nTotal: 8".into(),
        ];
        for (i, text) in cases.iter().enumerate() {
            let want = serde_json::from_str::<serde_json::Value>(text)
                .err()
                .map(|e| (e.line(), e.column(), e.is_eof()));
            for chunk in [1, 5, 64, 1 << 20] {
                let e = parse_chunked(Path::new("r.json"), text.as_bytes(), chunk).unwrap_err();
                let got = match &e {
                    ResultsError::Truncated { line, column, .. } => (*line, *column, true),
                    ResultsError::Malformed { line, column, .. } => (*line, *column, false),
                    other => panic!("case {i}, chunk {chunk}: {other}"),
                };
                if let Some(want) = want {
                    assert_eq!(got, want, "case {i}, chunk {chunk}: {e}");
                } else {
                    // Valid JSON, not a report object ([1, 2]): refused at its start.
                    assert_eq!((got.0, got.2), (1, false), "case {i}: {e}");
                }
            }
        }
    }

    #[test]
    fn memory_is_the_largest_entry_not_the_file() {
        let text = varied_report(4_000);
        assert!(text.len() > 2_000_000);
        let mut w = Window::new(Path::new("r.json"), text.as_bytes(), 4096);
        let mut report = ScanFindings::default();
        assert_eq!(top_level(&mut w, &mut report).unwrap(), Some(2));
        assert_eq!(report.findings.len(), 12_000);
        assert!(w.buf.capacity() < 64 * 1024, "{}", w.buf.capacity());
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
