//! The diff report and its three renderings: `text` for terminals, `markdown` for a PR comment
//! (grouped by endpoint, breaking first), `json` for tools.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Value, json};

use super::rules::{Finding, Level, Rule, Semver};
use super::rust_api::{self, ApiChange, ChangeKind, ItemKind};

/// The findings of one endpoint.
pub struct EndpointReport {
    /// The endpoint id (from the document; the file key when the document has none).
    pub endpoint: String,
    /// Its findings, most severe first.
    pub findings: Vec<Finding>,
    /// The change of its generated public items, when both sides were generated (`Err`: why
    /// they could not be read).
    pub api: Option<Result<Vec<ApiChange>, String>>,
}

impl EndpointReport {
    /// The most severe wire level.
    pub fn level(&self) -> Option<Level> {
        self.findings.iter().map(Finding::level).max()
    }

    /// The largest bump the rules predict.
    pub fn rules_semver(&self) -> Option<Semver> {
        self.findings.iter().map(|f| f.semver).max()
    }

    /// The bump the generated API change needs (`None`: not computed, or nothing changed at
    /// all); patch when only docs, defaults or validation changed.
    pub fn api_semver(&self) -> Option<Semver> {
        // Deprecating (or un-deprecating) a whole module is not in the item signatures.
        let retirement = self
            .findings
            .iter()
            .filter(|f| matches!(f.rule, Rule::EndpointRetired | Rule::EndpointUnretired))
            .map(|f| f.semver)
            .max();
        match &self.api {
            Some(Ok(changes)) => changes
                .iter()
                .map(|c| c.semver)
                .max()
                .max(retirement)
                .or((!self.findings.is_empty()).then_some(Semver::Patch)),
            _ => None,
        }
    }

    /// The verdict: from the generated API when known, else from the rules.
    pub fn semver(&self) -> Option<Semver> {
        match &self.api {
            Some(Ok(_)) => self.api_semver(),
            _ => self.rules_semver(),
        }
    }

    fn is_added_or_removed(&self) -> bool {
        self.findings
            .iter()
            .any(|f| matches!(f.rule, Rule::EndpointAdded | Rule::EndpointRemoved))
    }

    /// The API changes worth listing, as changes ([`summarize`]): none for a whole module
    /// added or removed.
    pub fn listed_api(&self) -> Vec<ApiChange> {
        match &self.api {
            Some(Ok(changes)) if !self.is_added_or_removed() => summarize(changes),
            _ => Vec::new(),
        }
    }

    /// A sentence when the rules and the generated API disagree on the verdict.
    fn verdict_note(&self) -> Option<String> {
        let (rules, api) = (self.rules_semver(), self.api_semver());
        match &self.api {
            Some(Err(error)) => Some(format!("Rust API not compared: {error}")),
            Some(Ok(_)) if rules != api && api.is_some() => Some(format!(
                "the rules predict {}, the generated API needs {}",
                semver_str(rules),
                semver_str(api)
            )),
            _ => None,
        }
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
        endpoints.retain(|e| !e.findings.is_empty() || !e.listed_api().is_empty());
        endpoints.sort_by(|a, b| {
            (Reverse(a.level()), Reverse(a.semver()), &a.endpoint).cmp(&(
                Reverse(b.level()),
                Reverse(b.semver()),
                &b.endpoint,
            ))
        });
        Report {
            old,
            new,
            compared,
            endpoints,
        }
    }

    /// Adds each endpoint's Rust API change from the generated API of both sides (endpoints
    /// with only API changes are added too).
    pub fn add_rust_api(
        &mut self,
        old: &Result<rust_api::Api, String>,
        new: &Result<rust_api::Api, String>,
    ) {
        let (old, new) = match (old, new) {
            (Ok(old), Ok(new)) => (old, new),
            (Err(e), _) | (_, Err(e)) => {
                for endpoint in &mut self.endpoints {
                    endpoint.api = Some(Err(e.clone()));
                }
                return;
            }
        };
        let empty = BTreeMap::new();
        let ids: std::collections::BTreeSet<&String> =
            old.endpoints.keys().chain(new.endpoints.keys()).collect();
        for id in ids {
            let changes = rust_api::compare(
                old.endpoints.get(id).unwrap_or(&empty),
                new.endpoints.get(id).unwrap_or(&empty),
            );
            match self.endpoints.iter_mut().find(|e| &e.endpoint == id) {
                Some(endpoint) => endpoint.api = Some(Ok(changes)),
                None if !changes.is_empty() => self.endpoints.push(EndpointReport {
                    endpoint: id.clone(),
                    findings: Vec::new(),
                    api: Some(Ok(changes)),
                }),
                None => {}
            }
        }
        for endpoint in &mut self.endpoints {
            endpoint.api.get_or_insert(Ok(Vec::new()));
        }
        let endpoints = std::mem::take(&mut self.endpoints);
        *self = Report::new(
            std::mem::take(&mut self.old),
            std::mem::take(&mut self.new),
            self.compared,
            endpoints,
        );
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
            for change in endpoint.listed_api() {
                let _ = writeln!(out, "  rust [{}] {}", change.semver, change.describe());
            }
            if let Some(note) = endpoint.verdict_note() {
                let _ = writeln!(out, "  note: {note}");
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
            .partition(|e| e.level() > Some(Level::Info) || e.semver() == Some(Semver::Major));
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
                "rules_semver": e.rules_semver().map(Semver::as_str),
                "rust_api": match &e.api {
                    Some(Ok(changes)) => json!(changes.iter().map(ApiChange::json).collect::<Vec<_>>()),
                    Some(Err(error)) => json!({"error": error}),
                    None => Value::Null,
                },
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
    if !endpoint.findings.is_empty() {
        out.push_str("| Level | Rule | Where | Change | Rust |\n|---|---|---|---|---|\n");
    }
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
    let api = endpoint.listed_api();
    let api = api.as_slice();
    if !api.is_empty() {
        if !endpoint.findings.is_empty() {
            out.push('\n');
        }
        out.push_str("| Rust API | Item | Signature | Rust |\n|---|---|---|---|\n");
        for change in api.iter().take(MARKDOWN_API_ROWS) {
            let signature = match (&change.old, &change.new) {
                (Some(a), Some(b)) => format!("`{}` → `{}`", cell(a), cell(b)),
                (Some(s), None) | (None, Some(s)) if !s.is_empty() => format!("`{}`", cell(s)),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "| {} {} | `{}` | {signature} | {} |",
                change.change.as_str(),
                change.kind.as_str(),
                cell(&change.item),
                change.semver
            );
        }
        if api.len() > MARKDOWN_API_ROWS {
            let _ = writeln!(
                out,
                "\n… and {} more item(s): `cargo xtask diff --format json` lists them all.",
                api.len() - MARKDOWN_API_ROWS
            );
        }
    }
    if let Some(note) = endpoint.verdict_note() {
        let _ = writeln!(out, "\n_Note: {note}._");
    }
    out.push('\n');
    out
}

/// The API changes as a reader wants them: a type added or removed is one row with its
/// members summed up (`removed type File (5 fields, 6 impls, new)`), and a field that left one
/// type for another with the same Rust type is one `moved` row (`Output.seed → Output2.seed`),
/// not a removal and an addition. Other changes are kept as they are.
pub fn summarize(changes: &[ApiChange]) -> Vec<ApiChange> {
    use std::collections::BTreeSet;
    // A type that became another kind of item (a struct now an alias) lost its members: they
    // are summed up on its row like those of a removed type.
    let kind_changed = |c: &ApiChange| {
        let word = |s: &Option<String>| {
            s.as_deref()
                .and_then(|s| {
                    s.split_whitespace()
                        .find(|w| ["struct", "enum", "type"].contains(w))
                })
                .map(str::to_owned)
        };
        c.change == ChangeKind::Changed && word(&c.old) != word(&c.new)
    };
    let whole: BTreeMap<&str, ChangeKind> = changes
        .iter()
        .filter(|c| {
            c.kind == ItemKind::Type && (c.change != ChangeKind::Changed || kind_changed(c))
        })
        .map(|c| {
            let members = match c.change {
                ChangeKind::Changed => ChangeKind::Removed,
                other => other,
            };
            (c.item.as_str(), members)
        })
        .collect();
    // The type a member belongs to: `T.field`, `T::variant`, `T::new`, `T: Clone`.
    let owner = |item: &str| -> Option<String> {
        let end = item.find(['.', ':'])?;
        Some(item[..end].to_owned())
    };
    let field_name = |c: &ApiChange| c.item.split_once('.').map(|(_, f)| f.to_owned());
    // Moves: a removed field and an added field of the same name and signature in two
    // different types, unless both types are wholly removed/added (a renamed type).
    let mut moved: BTreeSet<usize> = BTreeSet::new();
    let mut rows = Vec::new();
    for (i, gone) in changes.iter().enumerate() {
        if gone.kind != ItemKind::Field || gone.change != ChangeKind::Removed {
            continue;
        }
        let found = changes.iter().enumerate().find(|(j, came)| {
            !moved.contains(j)
                && came.kind == ItemKind::Field
                && came.change == ChangeKind::Added
                && field_name(came) == field_name(gone)
                && came.new == gone.old
                && owner(&came.item) != owner(&gone.item)
                && !(owner(&came.item).is_some_and(|o| whole.contains_key(o.as_str()))
                    && owner(&gone.item).is_some_and(|o| whole.contains_key(o.as_str())))
        });
        if let Some((j, came)) = found {
            moved.insert(i);
            moved.insert(j);
            rows.push(ApiChange {
                change: ChangeKind::Moved,
                kind: ItemKind::Field,
                item: field_name(gone).unwrap_or_default(),
                old: Some(gone.item.clone()),
                new: Some(format!(
                    "{}: {}",
                    came.item,
                    came.new.clone().unwrap_or_default()
                )),
                semver: gone.semver.max(came.semver),
            });
        }
    }
    // Members of a wholly added or removed type, summed up on its row.
    let mut members: BTreeMap<&str, Vec<&ApiChange>> = BTreeMap::new();
    for (i, c) in changes.iter().enumerate() {
        if moved.contains(&i) || c.kind == ItemKind::Type {
            continue;
        }
        if let Some(o) = owner(&c.item) {
            if let Some((name, change)) = whole.get_key_value(o.as_str()) {
                if *change == c.change {
                    members.entry(name).or_default().push(c);
                    continue;
                }
            }
        }
        rows.push(c.clone());
    }
    for c in changes.iter().filter(|c| c.kind == ItemKind::Type) {
        let Some(list) = members.get(c.item.as_str()) else {
            rows.push(c.clone());
            continue;
        };
        let count = |kind: ItemKind| list.iter().filter(|m| m.kind == kind).count();
        let mut parts = Vec::new();
        for (kind, one, many) in [
            (ItemKind::Field, "field", "fields"),
            (ItemKind::Variant, "variant", "variants"),
            (ItemKind::Setter, "setter", "setters"),
            (ItemKind::Method, "method", "methods"),
            (ItemKind::TraitImpl, "impl", "impls"),
        ] {
            match count(kind) {
                0 => {}
                1 => parts.push(format!("1 {one}")),
                n => parts.push(format!("{n} {many}")),
            }
        }
        for m in list.iter().filter(|m| m.kind == ItemKind::Constructor) {
            parts.push(m.item.rsplit("::").next().unwrap_or_default().to_owned());
        }
        let summary = if parts.is_empty() {
            c.old
                .as_ref()
                .or(c.new.as_ref())
                .cloned()
                .unwrap_or_default()
        } else {
            format!("({})", parts.join(", "))
        };
        let (old, new) = match c.change {
            ChangeKind::Removed => (Some(summary), None),
            ChangeKind::Changed => (
                c.old.clone(),
                Some(format!(
                    "{} (removed {})",
                    c.new.clone().unwrap_or_default(),
                    summary.trim_start_matches('(').trim_end_matches(')')
                )),
            ),
            _ => (None, Some(summary)),
        };
        rows.push(ApiChange {
            old,
            new,
            semver: list.iter().map(|m| m.semver).fold(c.semver, Semver::max),
            ..c.clone()
        });
    }
    rows.sort_by(|a, b| (a.change, &a.item).cmp(&(b.change, &b.item)));
    rows
}

/// Rust API rows shown per endpoint in a comment.
const MARKDOWN_API_ROWS: usize = 40;

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

#[cfg(test)]
mod tests {
    use super::*;

    fn change(change: ChangeKind, kind: ItemKind, item: &str, sig: &str) -> ApiChange {
        let sig = Some(sig.to_owned());
        let (old, new) = match change {
            ChangeKind::Added => (None, sig),
            _ => (sig, None),
        };
        ApiChange {
            change,
            kind,
            item: item.into(),
            old,
            new,
            semver: if change == ChangeKind::Added {
                Semver::Minor
            } else {
                Semver::Major
            },
        }
    }

    #[test]
    fn a_removed_type_is_one_row_and_a_moved_field_is_not_removed_and_added() {
        use ChangeKind::*;
        use ItemKind::*;
        let mut changes = vec![change(Removed, Type, "File", "non_exhaustive struct")];
        for f in ["url", "content_type", "file_name", "file_size", "file_data"] {
            changes.push(change(Removed, Field, &format!("File.{f}"), "String"));
        }
        for t in [
            "Clone",
            "Debug",
            "Deserialize",
            "PartialEq",
            "Serialize",
            "RemoteFile",
        ] {
            changes.push(change(Removed, TraitImpl, &format!("File: {t}"), ""));
        }
        changes.push(change(
            Removed,
            Constructor,
            "File::new",
            "fn(url: String) -> Self",
        ));
        changes.push(change(Removed, Field, "Output.seed", "Option<i64>"));
        changes.push(change(Added, Field, "Timings.seed", "Option<i64>"));
        changes.push(change(Added, Field, "Output.timings", "Timings"));
        // A struct that became an alias: its lost members go on its row.
        let mut became_alias = change(Changed, Type, "Result", "non_exhaustive struct");
        became_alias.new = Some("type = serde_json::Value".into());
        changes.push(became_alias);
        changes.push(change(Removed, Field, "Result.video", "Video"));
        changes.push(change(Removed, TraitImpl, "Result: Clone", ""));
        let rows: Vec<String> = summarize(&changes)
            .iter()
            .map(ApiChange::describe)
            .collect();
        assert_eq!(
            rows,
            [
                "removed type File (5 fields, 6 impls, new)",
                "moved field seed: Output.seed → Timings.seed: Option<i64>",
                "changed type Result: non_exhaustive struct → type = serde_json::Value (removed 1 field, 1 impl)",
                "added field Output.timings: Timings",
            ]
        );
    }
}
