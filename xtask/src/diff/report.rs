//! The diff report and its three renderings: `text` for terminals, `markdown` for a PR comment
//! (grouped by endpoint, breaking first), `json` for tools.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Value, json};

use super::rules::{Finding, Level, Rule, Semver};

/// The findings of one endpoint.
pub struct EndpointReport {
    /// The endpoint id (from the document; the file key when the document has none).
    pub endpoint: String,
    /// Its findings, most severe first.
    pub findings: Vec<Finding>,
}

impl EndpointReport {
    /// The most severe wire level.
    pub fn level(&self) -> Option<Level> {
        self.findings.iter().map(Finding::level).max()
    }

    /// The largest Rust semver bump.
    pub fn semver(&self) -> Option<Semver> {
        self.findings.iter().map(|f| f.semver).max()
    }
}

/// Everything `cargo xtask diff` found.
pub struct Report {
    /// Name of the old side.
    pub old: String,
    /// Name of the new side.
    pub new: String,
    /// Endpoints present on both sides.
    pub compared: usize,
    /// Endpoints with at least one finding, breaking first.
    pub endpoints: Vec<EndpointReport>,
}

impl Report {
    /// Builds a report, ordering endpoints by severity then name.
    pub fn new(
        old: String,
        new: String,
        compared: usize,
        mut endpoints: Vec<EndpointReport>,
    ) -> Report {
        endpoints.retain(|e| !e.findings.is_empty());
        endpoints.sort_by(|a, b| {
            (Reverse(a.level()), &a.endpoint).cmp(&(Reverse(b.level()), &b.endpoint))
        });
        Report {
            old,
            new,
            compared,
            endpoints,
        }
    }

    /// The most severe level over all findings.
    pub fn level(&self) -> Option<Level> {
        self.endpoints
            .iter()
            .filter_map(EndpointReport::level)
            .max()
    }

    /// The semver bump `fal-models` needs.
    pub fn semver(&self) -> Option<Semver> {
        self.endpoints
            .iter()
            .filter_map(EndpointReport::semver)
            .max()
    }

    fn count_rule(&self, rule: Rule) -> usize {
        self.endpoints
            .iter()
            .flat_map(|e| &e.findings)
            .filter(|f| f.rule == rule)
            .count()
    }

    fn count_level(&self, level: Level) -> usize {
        self.endpoints
            .iter()
            .flat_map(|e| &e.findings)
            .filter(|f| f.level() == level)
            .count()
    }

    /// Compared endpoints with findings.
    fn changed(&self) -> usize {
        self.endpoints
            .iter()
            .filter(|e| {
                !e.findings
                    .iter()
                    .any(|f| matches!(f.rule, Rule::EndpointAdded | Rule::EndpointRemoved))
            })
            .count()
    }

    fn summary_line(&self) -> String {
        format!(
            "{} compared, {} changed, {} added, {} removed; {} ERR, {} WARN, {} INFO; fal-models: {}",
            self.compared,
            self.changed(),
            self.count_rule(Rule::EndpointAdded),
            self.count_rule(Rule::EndpointRemoved),
            self.count_level(Level::Err),
            self.count_level(Level::Warn),
            self.count_level(Level::Info),
            self.semver().map_or("no change", Semver::as_str),
        )
    }

    /// Plain text, one block per endpoint.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for endpoint in &self.endpoints {
            let _ = writeln!(
                out,
                "{} ({}, {})",
                endpoint.endpoint,
                level_str(endpoint.level()),
                semver_str(endpoint.semver())
            );
            for f in &endpoint.findings {
                let path = if f.path.is_empty() {
                    String::new()
                } else {
                    format!(" {}:", f.path)
                };
                let _ = writeln!(
                    out,
                    "  {:<4} {} [{}]{path} {}",
                    f.level().as_str(),
                    f.rule.id(),
                    f.semver,
                    f.message
                );
            }
        }
        let _ = writeln!(out, "{} → {}: {}", self.old, self.new, self.summary_line());
        out
    }

    /// A PR comment: breaking endpoints first, info-only ones folded, findings that differ
    /// only by property name on one row, cut to fit a GitHub comment.
    pub fn markdown(&self) -> String {
        let mut out = String::from("## fal schema changes\n\n");
        let _ = writeln!(
            out,
            "`{}` → `{}`: {}\n",
            self.old,
            self.new,
            self.summary_line()
        );
        if self.endpoints.is_empty() {
            out.push_str("No changes to the generated API or the wire format.\n");
            return out;
        }
        let (loud, quiet): (Vec<&EndpointReport>, Vec<&EndpointReport>) = self
            .endpoints
            .iter()
            .partition(|e| e.level() > Some(Level::Info));
        let mut shown = 0;
        for endpoint in &loud {
            let section = markdown_endpoint(endpoint);
            if out.len() + section.len() > MARKDOWN_BUDGET {
                break;
            }
            out.push_str(&section);
            shown += 1;
        }
        if shown == loud.len() && !quiet.is_empty() {
            let mut folded = String::new();
            for endpoint in &quiet {
                let section = markdown_endpoint(endpoint);
                if out.len() + folded.len() + section.len() > MARKDOWN_BUDGET {
                    break;
                }
                folded.push_str(&section);
                shown += 1;
            }
            let count = shown - loud.len();
            let _ = writeln!(
                out,
                "<details><summary>{count} endpoint(s) with INFO changes only</summary>\n"
            );
            out.push_str(&folded);
            out.push_str("</details>\n");
        }
        if shown < self.endpoints.len() {
            let _ = writeln!(
                out,
                "\n… {} more endpoint(s) not shown (comment size limit): run `cargo xtask diff` for the full report.",
                self.endpoints.len() - shown
            );
        }
        out
    }

    /// Machine-readable.
    pub fn json(&self) -> Value {
        let mut by_rule = BTreeMap::new();
        for f in self.endpoints.iter().flat_map(|e| &e.findings) {
            *by_rule.entry(f.rule.id()).or_insert(0usize) += 1;
        }
        let mut by_semver = BTreeMap::new();
        for e in &self.endpoints {
            *by_semver.entry(semver_str(e.semver())).or_insert(0usize) += 1;
        }
        json!({
            "old": self.old,
            "new": self.new,
            "summary": {
                "compared": self.compared,
                "changed": self.changed(),
                "added": self.count_rule(Rule::EndpointAdded),
                "removed": self.count_rule(Rule::EndpointRemoved),
                "level": self.level().map(Level::as_str),
                "semver": self.semver().map(Semver::as_str),
                "by_level": {
                    "ERR": self.count_level(Level::Err),
                    "WARN": self.count_level(Level::Warn),
                    "INFO": self.count_level(Level::Info),
                },
                "by_rule": by_rule,
                "endpoints_by_semver": by_semver,
            },
            "endpoints": self.endpoints.iter().map(|e| json!({
                "endpoint": e.endpoint,
                "level": e.level().map(Level::as_str),
                "semver": e.semver().map(Semver::as_str),
                "findings": e.findings.iter().map(|f| json!({
                    "rule": f.rule.id(),
                    "level": f.level().as_str(),
                    "semver": f.semver.as_str(),
                    "path": f.path,
                    "message": f.message,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })
    }
}

/// GitHub refuses comments over 65536 characters; leave room for the tail.
const MARKDOWN_BUDGET: usize = 60_000;

fn markdown_endpoint(endpoint: &EndpointReport) -> String {
    let mut out = String::new();
    let icon = match endpoint.level() {
        Some(Level::Err) => "🔴",
        Some(Level::Warn) => "🟡",
        _ => "🔵",
    };
    let _ = writeln!(
        out,
        "### {icon} `{}` ({}, fal-models {})\n",
        endpoint.endpoint,
        level_str(endpoint.level()),
        semver_str(endpoint.semver())
    );
    out.push_str("| Level | Rule | Where | Change | Rust |\n|---|---|---|---|---|\n");
    for (f, path) in grouped(&endpoint.findings) {
        let path = if path.is_empty() {
            String::new()
        } else {
            format!("`{}`", cell(&path))
        };
        let _ = writeln!(
            out,
            "| {} | `{}` | {path} | {} | {} |",
            f.level(),
            f.rule.id(),
            cell(&f.message),
            f.semver
        );
    }
    out.push('\n');
    out
}

/// Findings with the same rule, verdict and message under the same parent share a row:
/// `output.video.{content_type, file_name}`.
fn grouped(findings: &[Finding]) -> Vec<(&Finding, String)> {
    let mut groups: Vec<(&Finding, &str, Vec<&str>)> = Vec::new();
    for f in findings {
        let (parent, leaf) = match f.path.rsplit_once('.') {
            Some((parent, leaf)) if !leaf.contains(['<', '[', '{']) => (parent, leaf),
            _ => (f.path.as_str(), ""),
        };
        let same = |(g, p, _): &&mut (&Finding, &str, Vec<&str>)| {
            g.rule == f.rule
                && g.semver == f.semver
                && g.message == f.message
                && *p == parent
                && !leaf.is_empty()
        };
        match groups.iter_mut().find(|g| same(g)) {
            Some((_, _, leaves)) => leaves.push(leaf),
            None => groups.push((f, parent, vec![leaf])),
        }
    }
    groups
        .into_iter()
        .map(|(f, parent, leaves)| match leaves.as_slice() {
            [_] => (f, f.path.clone()),
            many => (f, format!("{parent}.{{{}}}", many.join(", "))),
        })
        .collect()
}

/// Keeps a table cell on one line and its pipes from splitting the row.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
        .replace(['\n', '\r'], " ")
        .replace('`', "'")
}

fn level_str(level: Option<Level>) -> &'static str {
    level.map_or("-", Level::as_str)
}

fn semver_str(semver: Option<Semver>) -> &'static str {
    semver.map_or("none", Semver::as_str)
}
