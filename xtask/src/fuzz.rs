//! `cargo xtask fuzz`: structure-aware mutation fuzzing of the generator, on stable Rust.
//!
//! Each iteration takes a seed document (the vendored schemas, plus the real fal documents of
//! the corpus when present), applies 1-8 random JSON-structure mutations aimed at what the
//! generator reads (schemas, `$ref`s, enums, property names, the endpoint id, `paths`), runs
//! `Config::generate` on it (one case in eight with a second document, for sharing and module
//! collisions; one in four with cargo features on) and renders every output. It fails on:
//!
//! - a panic anywhere in the generator (a panic hook counts them, since `generate` hides its
//!   own behind `catch_unwind` and reports an "internal generator error");
//! - a hang (each run has a timeout, on a worker thread);
//! - invalid output: a file, the single-file layout or the examples test that `syn::parse_file`
//!   rejects, or that rustc would reject although syn does not (a name defined twice in one
//!   scope, a raw text-direction codepoint in a comment).
//!
//! Generation runs on a thread with the default 2 MiB stack (what a `cargo test` test gets);
//! a stack overflow aborts the process, so the case being run is kept on disk
//! (`target/fuzz-crashes/in-flight-<seed>.json`) until the run ends.
//!
//! Everything is derived from `--seed` and the iteration number, so a failure replays with
//! `cargo xtask fuzz --seed S --start I --iterations 1`, or from its files with
//! `cargo xtask fuzz --replay FILE...`. The offending documents are written to
//! `target/fuzz-crashes/<seed>-<iter>.json` (and `-2.json` for a second document).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Once, mpsc};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use fal_codegen::{Config, Document};
use serde_json::{Map, Value, json};

use crate::workspace_root;

#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// Run for this many seconds (default 60 when --iterations is not given either).
    #[arg(long)]
    seconds: Option<u64>,
    /// Run this many iterations.
    #[arg(long)]
    iterations: Option<u64>,
    /// The PRNG seed (default: from the clock; printed so a run can be replayed).
    #[arg(long)]
    seed: Option<u64>,
    /// The first iteration number (replay one case with `--start I --iterations 1`).
    #[arg(long, default_value_t = 0)]
    start: u64,
    /// Folder of real fal documents used as seeds besides schemas/ (default: `FAL_CORPUS_DIR`
    /// or <workspace>/../shared/fal-corpus; its `docs/` subfolder when it has one).
    #[arg(long)]
    corpus: Option<PathBuf>,
    /// Use the vendored schemas only.
    #[arg(long)]
    no_corpus: bool,
    /// Seconds one generation may take before it counts as a hang.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// Where failing documents are written (default: target/fuzz-crashes).
    #[arg(long)]
    crashes: Option<PathBuf>,
    /// Run these documents once, unmutated, and report (a saved case, or an in-flight file).
    #[arg(long, num_args = 1..)]
    replay: Vec<PathBuf>,
    /// Write one line per iteration to this file: the iteration and a digest of everything
    /// generated (every output, diagnostic and failure). Two runs with the same `--seed`, one
    /// before a refactor of the generator and one after, compare with `diff`: a line that
    /// differs names a case whose output changed (replay it with `--start I --iterations 1`).
    #[arg(long)]
    record: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if !args.replay.is_empty() {
        return replay(&args.replay, Duration::from_secs(args.timeout));
    }
    let root = workspace_root();
    let mut seeds = load_seeds(&root.join("schemas"), &root)?;
    let vendored = seeds.len();
    if !args.no_corpus {
        let dir = args.corpus.clone().unwrap_or_else(|| default_corpus(&root));
        let dir = if dir.join("docs").is_dir() {
            dir.join("docs")
        } else {
            dir
        };
        if dir.is_dir() {
            seeds.extend(load_seeds(&dir, &dir)?);
        } else {
            eprintln!(
                "note: no fal corpus at {} (set FAL_CORPUS_DIR or --corpus); vendored schemas only",
                dir.display()
            );
        }
    }
    anyhow::ensure!(!seeds.is_empty(), "no seed documents");
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    let limit = match (args.seconds, args.iterations) {
        (None, None) => Limit {
            seconds: Some(60),
            iterations: None,
        },
        (s, i) => Limit {
            seconds: s,
            iterations: i,
        },
    };
    println!(
        "fuzz: seed {seed}, {} seed documents ({vendored} vendored, {} corpus), timeout {} s, limit {}",
        seeds.len(),
        seeds.len() - vendored,
        args.timeout,
        limit.describe()
    );
    let crash_dir = args
        .crashes
        .clone()
        .unwrap_or_else(|| root.join("target/fuzz-crashes"));
    let mut record = match &args.record {
        Some(path) => Some(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => None,
    };
    let report = fuzz(
        &seeds,
        seed,
        args.start,
        limit,
        Duration::from_secs(args.timeout),
        Sinks {
            crash_dir: Some(&crash_dir),
            progress: true,
            record: record.as_mut().map(|w| w as &mut dyn std::io::Write),
        },
    );
    if let Some(mut w) = record {
        std::io::Write::flush(&mut w).context("writing the record")?;
    }
    report.print();
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Runs saved documents once and says what happened.
fn replay(paths: &[PathBuf], timeout: Duration) -> anyhow::Result<ExitCode> {
    let mut docs = Vec::new();
    for path in paths {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let json: Value =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        match json.get("documents").and_then(Value::as_array) {
            Some(list) if json.get("iteration").is_some() => {
                for (i, d) in list.iter().enumerate() {
                    docs.push(Document {
                        source: format!("{}#{i}", path.display()),
                        json: d.clone(),
                    });
                }
            }
            _ => docs.push(Document {
                source: path.display().to_string(),
                json,
            }),
        }
    }
    install_panic_hook();
    let (tx, rx) = spawn_worker();
    tx.send(Job {
        docs: Arc::new(docs),
        config: Config::new(),
    })
    .map_err(|_| anyhow::anyhow!("worker gone"))?;
    let Ok(o) = rx.recv_timeout(timeout) else {
        println!("HANG: no result after {} s", timeout.as_secs_f64());
        return Ok(ExitCode::from(1));
    };
    println!(
        "{:.1} ms, {} endpoints, {} diagnostics",
        o.elapsed.as_secs_f64() * 1e3,
        o.endpoints,
        o.diagnostics.len()
    );
    for p in &o.panics {
        println!("PANIC: {p}");
    }
    for e in &o.internal_errors {
        println!("INTERNAL ERROR: {e}");
    }
    for (name, err, _) in &o.invalid {
        println!("INVALID OUTPUT: {name}: {err}");
    }
    let ok = o.panics.is_empty() && o.internal_errors.is_empty() && o.invalid.is_empty();
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn default_corpus(root: &Path) -> PathBuf {
    std::env::var_os("FAL_CORPUS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/fal-corpus"))
}

/// Seed documents: every `*.json` below `dir`, parsed (unparsable files are skipped).
fn load_seeds(dir: &Path, shown_from: &Path) -> anyhow::Result<Vec<Document>> {
    let (docs, _unreadable) = crate::regen::load_documents(dir, shown_from)
        .with_context(|| format!("loading seeds from {}", dir.display()))?;
    Ok(docs)
}

#[derive(Clone, Copy, Debug)]
struct Limit {
    seconds: Option<u64>,
    iterations: Option<u64>,
}

impl Limit {
    fn describe(&self) -> String {
        match (self.seconds, self.iterations) {
            (Some(s), Some(i)) => format!("{s} s or {i} iterations"),
            (Some(s), None) => format!("{s} s"),
            (None, Some(i)) => format!("{i} iterations"),
            (None, None) => "none".into(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Detection

#[derive(Debug, Clone)]
struct Failure {
    iteration: u64,
    kind: &'static str,
    message: String,
    files: Vec<PathBuf>,
}

#[derive(Debug, Default)]
struct Report {
    seed: u64,
    executions: u64,
    wall: Duration,
    failures: Vec<Failure>,
    hangs: u64,
    panics: u64,
    invalid: u64,
    slowest: Option<(Duration, u64, String)>,
    /// Where the slowest case was saved.
    slowest_file: Option<PathBuf>,
    diagnostics: BTreeMap<String, u64>,
    failed_documents: u64,
    generated_endpoints: u64,
    two_document_runs: u64,
}

impl Report {
    fn ok(&self) -> bool {
        self.failures.is_empty()
    }

    fn print(&self) {
        let secs = self.wall.as_secs_f64();
        println!();
        println!("executions:        {}", self.executions);
        println!("wall time:         {secs:.1} s");
        println!(
            "executions/second: {:.1}",
            self.executions as f64 / secs.max(1e-9)
        );
        println!("two-document runs: {}", self.two_document_runs);
        println!(
            "endpoints generated: {} (documents rejected as a whole: {})",
            self.generated_endpoints, self.failed_documents
        );
        println!(
            "crashes:           {} (panics {}, invalid output {})",
            self.panics + self.invalid,
            self.panics,
            self.invalid
        );
        println!("hangs:             {}", self.hangs);
        if let Some((d, iter, source)) = &self.slowest {
            println!(
                "slowest case:      {:.1} ms (iteration {iter}, seed document {source})",
                d.as_secs_f64() * 1e3
            );
            if let Some(p) = &self.slowest_file {
                println!("                   saved to {}", p.display());
            }
        }
        let mut top: Vec<(&String, &u64)> = self.diagnostics.iter().collect();
        top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        println!(
            "distinct diagnostics: {} (top 10 by count):",
            self.diagnostics.len()
        );
        for (message, count) in top.iter().take(10) {
            println!("  {count:>9}  {message}");
        }
        for f in self.failures.iter().take(20) {
            println!("FAIL iteration {} ({}): {}", f.iteration, f.kind, f.message);
            for p in &f.files {
                println!("     {}", p.display());
            }
            println!(
                "     replay: cargo xtask fuzz --seed {} --start {} --iterations 1",
                self.seed, f.iteration
            );
        }
        println!(
            "{}",
            if self.ok() {
                "fuzz: OK"
            } else {
                "fuzz: FAILED"
            }
        );
    }
}

thread_local! {
    /// Set on fuzz worker threads: their panics are recorded here instead of printed.
    static IS_WORKER: Cell<bool> = const { Cell::new(false) };
    static PANICS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// A panic hook that records the panics of fuzz workers (even those `generate` catches) and
/// leaves every other thread to the previous hook.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IS_WORKER.with(Cell::get) {
                let message = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(non-string payload)".into());
                let at = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                PANICS.with(|p| p.borrow_mut().push(format!("{message}{at}")));
            } else {
                previous(info);
            }
        }));
    });
}

struct Job {
    docs: Arc<Vec<Document>>,
    config: Config,
}

#[derive(Default)]
struct Outcome {
    elapsed: Duration,
    panics: Vec<String>,
    internal_errors: Vec<String>,
    /// (which output, syn's error, the text)
    invalid: Vec<(String, String, String)>,
    diagnostics: Vec<String>,
    failed_documents: usize,
    endpoints: usize,
    /// A digest of every output, diagnostic and failure, for `--record`.
    digest: u64,
}

/// Generates and renders; checks that every output parses as Rust.
fn execute(job: &Job) -> Outcome {
    PANICS.with(|p| p.borrow_mut().clear());
    let started = Instant::now();
    let rendered = catch_unwind(AssertUnwindSafe(|| {
        let generated = job.config.generate(&job.docs);
        let single = generated.single_file();
        let files = generated.files();
        let examples = generated.examples_test("crate", "// fuzz", false);
        // Every `serde_json::Value` in the types must be free-form by schema or diagnosed.
        let audit = fal_codegen::audit_values(&job.docs);
        (generated, single, files, examples, audit)
    }));
    let elapsed = started.elapsed();
    let mut out = Outcome {
        elapsed,
        ..Outcome::default()
    };
    if let Ok((generated, single, files, examples, audit)) = rendered {
        {
            for f in &generated.failed {
                if f.message.contains("internal generator error") {
                    out.internal_errors.push(f.to_string());
                }
            }
            out.failed_documents = generated.failed.len() - out.internal_errors.len();
            out.endpoints = generated.endpoint_count();
            out.diagnostics = generated
                .diagnostics
                .iter()
                .map(|d| normalize_message(&d.message))
                .collect();
            let mut digest = Fnv::default();
            for d in generated.failed.iter().chain(&generated.diagnostics) {
                digest.write(d.to_string().as_bytes());
            }
            for site in audit.silent() {
                out.invalid.push((
                    "audit_values()".into(),
                    format!("silent fallback to serde_json::Value: {site:?}"),
                    String::new(),
                ));
            }
            let mut outputs: Vec<(String, &String)> = files
                .iter()
                .map(|(p, t)| (p.display().to_string(), t))
                .collect();
            if let Some(split) = generated.split() {
                outputs.extend(
                    split
                        .facade
                        .iter()
                        .map(|(p, t)| (format!("facade/{}", p.display()), t)),
                );
                outputs.extend(
                    split
                        .core_types
                        .iter()
                        .map(|t| ("core/types.rs".to_owned(), t)),
                );
                for (k, shard) in split.shards.iter().enumerate() {
                    outputs.extend(
                        shard
                            .iter()
                            .map(|(p, t)| (format!("shard-{k}/{}", p.display()), t)),
                    );
                }
            }
            outputs.push(("single_file()".into(), &single));
            outputs.push(("examples_test()".into(), &examples));
            for (name, text) in &outputs {
                digest.write(name.as_bytes());
                digest.write(text.as_bytes());
            }
            out.digest = digest.0;
            for (name, text) in outputs {
                let parsed = syn::parse_file(text);
                if let Err(e) = parsed {
                    out.invalid.push((name, e.to_string(), text.clone()));
                } else if let Some(dup) = parsed
                    .ok()
                    .filter(|_| name == "single_file()")
                    .and_then(|f| duplicates(&f.items, "crate"))
                {
                    // Parses, but rustc rejects a name defined twice.
                    out.invalid.push((name, dup, text.clone()));
                } else if let Some(c) = text.chars().find(|c| TEXT_DIRECTION.contains(c)) {
                    // Parses, but rustc denies it in comments (`text_direction_codepoint_in_comment`);
                    // in literals it is always escaped.
                    out.invalid.push((
                        name,
                        format!("raw {} in the output: rustc rejects it", c.escape_unicode()),
                        text.clone(),
                    ));
                }
            }
        }
    }
    out.panics = PANICS.with(|p| std::mem::take(&mut *p.borrow_mut()));
    out
}

/// The first name defined twice in the same scope (module items in the type or the value
/// namespace, struct fields, enum variants, inherent methods of a type), which syn accepts and
/// rustc does not.
fn duplicates(items: &[syn::Item], module: &str) -> Option<String> {
    use std::collections::BTreeSet;
    fn once(seen: &mut BTreeSet<String>, name: String, what: &str, scope: &str) -> Option<String> {
        (!seen.insert(name.clone())).then(|| format!("{what} `{name}` defined twice in `{scope}`"))
    }
    fn use_names(tree: &syn::UseTree, out: &mut Vec<String>) {
        match tree {
            syn::UseTree::Path(p) => use_names(&p.tree, out),
            syn::UseTree::Name(n) => out.push(n.ident.to_string()),
            syn::UseTree::Rename(r) => out.push(r.rename.to_string()),
            syn::UseTree::Group(g) => g.items.iter().for_each(|t| use_names(t, out)),
            syn::UseTree::Glob(_) => {}
        }
    }
    let (mut types, mut values) = (BTreeSet::new(), BTreeSet::new());
    let mut methods: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for item in items {
        let found = match item {
            syn::Item::Struct(s) => {
                let mut fields = BTreeSet::new();
                let dup_field = s
                    .fields
                    .iter()
                    .filter_map(|f| f.ident.as_ref())
                    .find_map(|i| {
                        once(
                            &mut fields,
                            i.to_string(),
                            "field",
                            &format!("{module}::{}", s.ident),
                        )
                    });
                let tuple = !matches!(s.fields, syn::Fields::Named(_));
                dup_field
                    .or_else(|| once(&mut types, s.ident.to_string(), "type", module))
                    .or_else(|| {
                        if tuple {
                            once(&mut values, s.ident.to_string(), "value", module)
                        } else {
                            None
                        }
                    })
            }
            syn::Item::Enum(e) => {
                let mut variants = BTreeSet::new();
                e.variants
                    .iter()
                    .find_map(|v| {
                        once(
                            &mut variants,
                            v.ident.to_string(),
                            "variant",
                            &format!("{module}::{}", e.ident),
                        )
                    })
                    .or_else(|| once(&mut types, e.ident.to_string(), "type", module))
            }
            syn::Item::Type(t) => once(&mut types, t.ident.to_string(), "type", module),
            syn::Item::Mod(m) => {
                once(&mut types, m.ident.to_string(), "module", module).or_else(|| {
                    m.content
                        .as_ref()
                        .and_then(|(_, inner)| duplicates(inner, &format!("{module}::{}", m.ident)))
                })
            }
            syn::Item::Const(c) => once(&mut values, c.ident.to_string(), "value", module),
            syn::Item::Fn(f) => once(&mut values, f.sig.ident.to_string(), "value", module),
            syn::Item::Use(u) => {
                let mut names = Vec::new();
                use_names(&u.tree, &mut names);
                // A re-export takes the name in whichever namespaces the item has: types here.
                names
                    .into_iter()
                    .find_map(|n| once(&mut types, n, "type", module))
            }
            syn::Item::Impl(i) if i.trait_.is_none() => {
                let self_ty = quote_type(&i.self_ty);
                let seen = methods.entry(self_ty.clone()).or_default();
                i.items.iter().find_map(|it| match it {
                    syn::ImplItem::Fn(f) => once(
                        seen,
                        f.sig.ident.to_string(),
                        "method",
                        &format!("{module}::{self_ty}"),
                    ),
                    _ => None,
                })
            }
            _ => None,
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

fn quote_type(t: &syn::Type) -> String {
    match t {
        syn::Type::Path(p) => p
            .path
            .segments
            .iter()
            .map(|s| s.ident.to_string())
            .collect::<Vec<_>>()
            .join("::"),
        _ => "?".into(),
    }
}

/// The codepoints rustc refuses in comments (and syn does not mind).
const TEXT_DIRECTION: &[char] = &[
    '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}',
    '\u{2069}',
];

/// A diagnostic message with its specifics (names, values in backticks) blanked, so messages
/// group by kind.
fn normalize_message(m: &str) -> String {
    let mut out = String::with_capacity(m.len());
    let mut inside = false;
    for c in m.chars() {
        if c == '`' {
            if !inside {
                out.push_str("`…");
            }
            inside = !inside;
            if !inside {
                out.push('`');
            }
        } else if !inside {
            out.push(c);
        }
    }
    out
}

/// The worker runs generations on a thread of the default spawned-thread stack size (2 MiB,
/// what `cargo test` gives a test), so a deep document must not overflow it.
fn spawn_worker() -> (mpsc::Sender<Job>, mpsc::Receiver<Outcome>) {
    let (job_tx, job_rx) = mpsc::channel::<Job>();
    let (out_tx, out_rx) = mpsc::channel::<Outcome>();
    std::thread::Builder::new()
        .name("fal-fuzz-worker".into())
        .stack_size(2 << 20)
        .spawn(move || {
            IS_WORKER.with(|w| w.set(true));
            for job in job_rx {
                if out_tx.send(execute(&job)).is_err() {
                    break;
                }
            }
        })
        .expect("spawn the fuzz worker");
    (job_tx, out_rx)
}

fn fuzz(
    seeds: &[Document],
    seed: u64,
    start: u64,
    limit: Limit,
    timeout: Duration,
    sinks: Sinks<'_>,
) -> Report {
    let Sinks {
        crash_dir,
        progress,
        mut record,
    } = sinks;
    install_panic_hook();
    let (mut job_tx, mut out_rx) = spawn_worker();
    let mut report = Report {
        seed,
        ..Report::default()
    };
    let started = Instant::now();
    let mut last_progress = Instant::now();
    let mut iter = start;
    let mut slowest_docs: Option<Arc<Vec<Document>>> = None;
    let in_flight = crash_dir
        .filter(|d| std::fs::create_dir_all(d).is_ok())
        .map(|d| d.join(format!("in-flight-{seed}.json")));
    if let (Some(path), true) = (&in_flight, progress) {
        println!(
            "the case being run is kept in {} (should the process die)",
            path.display()
        );
    }
    loop {
        if limit.iterations.is_some_and(|n| iter - start >= n)
            || limit
                .seconds
                .is_some_and(|s| started.elapsed() >= Duration::from_secs(s))
        {
            break;
        }
        let case = make_case(seeds, seed, iter);
        let docs = Arc::new(case.docs);
        let job = Job {
            docs: Arc::clone(&docs),
            config: case.config,
        };
        if docs.len() > 1 {
            report.two_document_runs += 1;
        }
        if let Some(path) = &in_flight {
            // A stack overflow aborts the process: the case that did it stays on disk.
            let _ = std::fs::write(path, in_flight_text(seed, iter, &docs));
        }
        let sent = job_tx.send(job).is_ok();
        let outcome = if sent {
            out_rx.recv_timeout(timeout)
        } else {
            Err(mpsc::RecvTimeoutError::Disconnected)
        };
        report.executions += 1;
        match outcome {
            Ok(o) => {
                if let Some(w) = record.as_mut() {
                    let _ = writeln!(w, "{iter} {:016x}", o.digest);
                }
                for d in o.diagnostics {
                    *report.diagnostics.entry(d).or_default() += 1;
                }
                report.failed_documents += o.failed_documents as u64;
                report.generated_endpoints += o.endpoints as u64;
                if report
                    .slowest
                    .as_ref()
                    .is_none_or(|(d, _, _)| o.elapsed > *d)
                {
                    report.slowest = Some((o.elapsed, iter, case.seed_source.clone()));
                    slowest_docs = Some(Arc::clone(&docs));
                }
                let crashed = !o.panics.is_empty() || !o.internal_errors.is_empty();
                if crashed || !o.invalid.is_empty() {
                    let mut files = save_case(crash_dir, seed, iter, &docs);
                    let (kind, message) = if crashed {
                        report.panics += 1;
                        let mut m = o.panics.clone();
                        m.extend(o.internal_errors.iter().cloned());
                        ("panic", m.join("; "))
                    } else {
                        report.invalid += 1;
                        let (name, err, text) = &o.invalid[0];
                        if let Some(dir) = crash_dir {
                            let p = dir.join(format!("{seed}-{iter}.out.rs"));
                            if std::fs::write(&p, text).is_ok() {
                                files.push(p);
                            }
                        }
                        ("invalid output", format!("{name}: {err}"))
                    };
                    if progress {
                        println!("FAIL iteration {iter} ({kind}): {message}");
                        for f in &files {
                            println!("     {}", f.display());
                        }
                    }
                    report.failures.push(Failure {
                        iteration: iter,
                        kind,
                        message,
                        files,
                    });
                }
            }
            Err(e) => {
                if let Some(w) = record.as_mut() {
                    let _ = writeln!(w, "{iter} hang");
                }
                // The worker is stuck (or gone): record the case, and go on with a fresh one.
                let files = save_case(crash_dir, seed, iter, &docs);
                report.hangs += 1;
                let message = match e {
                    mpsc::RecvTimeoutError::Timeout => {
                        format!("no result after {} s", timeout.as_secs_f64())
                    }
                    mpsc::RecvTimeoutError::Disconnected => "the worker thread died".to_owned(),
                };
                if progress {
                    println!("FAIL iteration {iter} (hang): {message}");
                    for f in &files {
                        println!("     {}", f.display());
                    }
                }
                report.failures.push(Failure {
                    iteration: iter,
                    kind: "hang",
                    message,
                    files,
                });
                if report.hangs >= 3 {
                    // Each stuck worker keeps a core busy; stop before the machine is swamped.
                    break;
                }
                (job_tx, out_rx) = spawn_worker();
            }
        }
        iter += 1;
        if progress && last_progress.elapsed() >= Duration::from_secs(30) {
            last_progress = Instant::now();
            let secs = started.elapsed().as_secs_f64();
            println!(
                "[{secs:>6.0} s] {} executions, {:.1}/s, {} crashes, {} hangs",
                report.executions,
                report.executions as f64 / secs,
                report.panics + report.invalid,
                report.hangs
            );
        }
    }
    report.wall = started.elapsed();
    if let Some(path) = &in_flight {
        let _ = std::fs::remove_file(path);
    }
    if let (Some(dir), Some(docs), Some((_, iter, _))) = (crash_dir, slowest_docs, &report.slowest)
    {
        let path = dir.join(format!("slowest-{seed}.json"));
        if std::fs::write(&path, in_flight_text(seed, *iter, &docs)).is_ok() {
            report.slowest_file = Some(path);
        }
    }
    report
}

/// The documents of one case as one JSON value: `{"seed", "iteration", "documents": [...]}`.
fn in_flight_text(seed: u64, iter: u64, docs: &[Document]) -> Vec<u8> {
    let docs: Vec<&Value> = docs.iter().map(|d| &d.json).collect();
    serde_json::to_vec(&json!({ "seed": seed, "iteration": iter, "documents": docs }))
        .unwrap_or_default()
}

fn save_case(dir: Option<&Path>, seed: u64, iter: u64, docs: &[Document]) -> Vec<PathBuf> {
    let Some(dir) = dir else { return Vec::new() };
    if std::fs::create_dir_all(dir).is_err() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        let name = if i == 0 {
            format!("{seed}-{iter}.json")
        } else {
            format!("{seed}-{iter}-{}.json", i + 1)
        };
        let path = dir.join(name);
        if let Ok(text) = serde_json::to_string_pretty(&d.json) {
            if std::fs::write(&path, text).is_ok() {
                out.push(path);
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Cases

/// SplitMix64: small, fast, and good enough to drive mutations reproducibly.
struct Rng(u64);

impl Rng {
    fn for_iteration(seed: u64, iter: u64) -> Self {
        let mut r = Rng(seed ^ iter.wrapping_mul(0xD1B5_4A32_D192_ED03));
        r.next();
        r
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when n is 0).
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    /// True one time in `n`.
    fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

struct Case {
    docs: Vec<Document>,
    config: Config,
    seed_source: String,
}

/// serde_json refuses documents nested deeper than 128; mutations stay below, so every case
/// written to disk loads again.
const MAX_DEPTH: usize = 120;

fn make_case(seeds: &[Document], seed: u64, iter: u64) -> Case {
    let mut rng = Rng::for_iteration(seed, iter);
    let base = rng.pick(seeds);
    let mut doc = base.json.clone();
    let n = 1 + rng.below(8);
    for _ in 0..n {
        let before = doc.clone();
        mutate(&mut doc, &mut rng);
        if depth(&doc) > MAX_DEPTH {
            doc = before;
        }
    }
    let mut docs = vec![Document {
        source: format!("fuzz/{}", base.source),
        json: doc,
    }];
    // One case in eight has a second document: sharing, and module-name collisions.
    if rng.one_in(8) {
        let other = rng.pick(seeds);
        let mut json = other.json.clone();
        if rng.one_in(2) {
            mutate(&mut json, &mut rng);
        }
        if rng.one_in(2) {
            // An endpoint id that differs from the first one's by case, `-` vs `_`, or a segment.
            let first = docs[0]
                .json
                .pointer("/info/x-fal-metadata/endpointId")
                .and_then(Value::as_str)
                .unwrap_or("fal-ai/x");
            let id = match rng.below(4) {
                0 => first.replace('-', "_"),
                1 => first.to_uppercase(),
                2 => format!("{first}/sub"),
                _ => first
                    .rsplit_once('/')
                    .map(|(a, _)| a.to_owned())
                    .unwrap_or_else(|| format!("{first}-2")),
            };
            if depth(&json) < MAX_DEPTH {
                set_pointer(
                    &mut json,
                    &["info", "x-fal-metadata", "endpointId"],
                    Value::String(id),
                );
            }
        }
        if depth(&json) <= MAX_DEPTH {
            docs.push(Document {
                source: format!("fuzz/{}", other.source),
                json,
            });
        }
    }
    let mut config = Config::new();
    if rng.one_in(4) {
        // As regen runs it: features on, the modules split into shard crates (3 here, so that
        // two documents often land in different shards and share a container module).
        config = config
            .cargo_features(true)
            .runtime_crate("::fal_models_core")
            .split_into_crates(3, "shard_");
    }
    Case {
        docs,
        config,
        seed_source: base.source.clone(),
    }
}

fn set_pointer(doc: &mut Value, keys: &[&str], value: Value) {
    let mut cur = doc;
    for k in keys {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        cur = cur
            .as_object_mut()
            .expect("just made an object")
            .entry((*k).to_owned())
            .or_insert(Value::Null);
    }
    *cur = value;
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Seg {
    Key(String),
    Idx(usize),
}

fn all_paths(v: &Value) -> Vec<Vec<Seg>> {
    fn walk(v: &Value, path: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
        out.push(path.clone());
        match v {
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    path.push(Seg::Idx(i));
                    walk(x, path, out);
                    path.pop();
                }
            }
            Value::Object(o) => {
                for (k, x) in o {
                    path.push(Seg::Key(k.clone()));
                    walk(x, path, out);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, &mut Vec::new(), &mut out);
    out
}

fn get<'a>(v: &'a Value, path: &[Seg]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, seg| match seg {
        Seg::Key(k) => cur.get(k),
        Seg::Idx(i) => cur.get(*i),
    })
}

fn get_mut<'a>(v: &'a mut Value, path: &[Seg]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |cur, seg| match seg {
        Seg::Key(k) => cur.get_mut(k),
        Seg::Idx(i) => cur.get_mut(*i),
    })
}

const SCHEMA_KEYS: &[&str] = &[
    "type",
    "properties",
    "items",
    "$ref",
    "anyOf",
    "oneOf",
    "allOf",
    "enum",
    "const",
    "additionalProperties",
    "prefixItems",
    "nullable",
];

fn is_schema(v: &Value) -> bool {
    v.as_object()
        .is_some_and(|o| SCHEMA_KEYS.iter().any(|k| o.contains_key(*k)))
}

/// Paths of the nodes that look like schemas (half the time any object, to reach odd places).
fn schema_paths(doc: &Value, rng: &mut Rng) -> Vec<Vec<Seg>> {
    let loose = rng.one_in(4);
    all_paths(doc)
        .into_iter()
        .filter(|p| get(doc, p).is_some_and(|v| if loose { v.is_object() } else { is_schema(v) }))
        .collect()
}

fn is_prefix(a: &[Seg], b: &[Seg]) -> bool {
    a.len() <= b.len() && b[..a.len()] == *a
}

fn component_names(doc: &Value) -> Vec<String> {
    doc.pointer("/components/schemas")
        .and_then(Value::as_object)
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn mutate(doc: &mut Value, rng: &mut Rng) {
    match rng.below(17) {
        0 => replace_random(doc, rng),
        1 => delete_key(doc, rng),
        2 => copy_subtree(doc, rng),
        3 => schema_into_slot(doc, rng),
        4 => swap_subtrees(doc, rng),
        5 | 6 => mutate_ref(doc, rng),
        7 => wrap(doc, rng),
        8 => mutate_type(doc, rng),
        9 => mutate_enum(doc, rng),
        10 | 11 => rename_property(doc, rng),
        12 => deep_nest(doc, rng),
        13 => mutate_endpoint_id(doc, rng),
        14 => mutate_paths(doc, rng),
        15 => inject_keyword(doc, rng),
        _ => fan_out(doc, rng),
    }
}

fn replace_random(doc: &mut Value, rng: &mut Rng) {
    let paths = if rng.one_in(2) {
        schema_paths(doc, rng)
    } else {
        all_paths(doc)
    };
    if paths.is_empty() {
        return;
    }
    let p = rng.pick(&paths).clone();
    let v = if rng.one_in(3) {
        random_schema(rng, 3)
    } else {
        random_value(rng, 3)
    };
    if let Some(slot) = get_mut(doc, &p) {
        *slot = v;
    }
}

fn delete_key(doc: &mut Value, rng: &mut Rng) {
    let paths: Vec<Vec<Seg>> = all_paths(doc)
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect();
    // Prefer the keys the generator reads.
    let interesting: Vec<&Vec<Seg>> = paths
        .iter()
        .filter(|p| matches!(p.last(), Some(Seg::Key(k)) if SCHEMA_KEYS.contains(&k.as_str()) || ["required", "paths", "post", "get", "requestBody", "responses", "components", "schemas", "info", "x-fal-metadata", "endpointId"].contains(&k.as_str())))
        .collect();
    let p = if !interesting.is_empty() && rng.one_in(2) {
        (*rng.pick(&interesting)).clone()
    } else if !paths.is_empty() {
        rng.pick(&paths).clone()
    } else {
        return;
    };
    let (last, parent) = p.split_last().expect("not the root");
    match (get_mut(doc, parent), last) {
        (Some(Value::Object(o)), Seg::Key(k)) => {
            o.remove(k);
        }
        (Some(Value::Array(a)), Seg::Idx(i)) if *i < a.len() => {
            a.remove(*i);
        }
        _ => {}
    }
}

fn copy_subtree(doc: &mut Value, rng: &mut Rng) {
    let paths = all_paths(doc);
    let from = rng.pick(&paths).clone();
    let to = rng.pick(&paths).clone();
    if let Some(v) = get(doc, &from).cloned() {
        if let Some(slot) = get_mut(doc, &to) {
            *slot = v;
        }
    }
}

/// Puts a schema where another kind of schema is expected: as `items`, a property, a union
/// branch, `additionalProperties`, or a whole component.
fn schema_into_slot(doc: &mut Value, rng: &mut Rng) {
    let paths = schema_paths(doc, rng);
    if paths.is_empty() {
        return;
    }
    let from = rng.pick(&paths).clone();
    let to = rng.pick(&paths).clone();
    let Some(v) = get(doc, &from).cloned() else {
        return;
    };
    let Some(Value::Object(target)) = get_mut(doc, &to) else {
        return;
    };
    match rng.below(6) {
        0 => {
            target.insert("items".into(), v);
        }
        1 => {
            target.insert("additionalProperties".into(), v);
        }
        2 => {
            let props = target.entry("properties").or_insert_with(|| json!({}));
            if let Value::Object(p) = props {
                p.insert(odd_name(rng), v);
            }
        }
        3 => {
            let key = *rng.pick(&["anyOf", "oneOf", "allOf"]);
            match target.entry(key).or_insert_with(|| json!([])) {
                Value::Array(a) => a.push(v),
                other => *other = json!([v]),
            }
        }
        4 => {
            target.insert("prefixItems".into(), json!([v.clone(), v]));
        }
        _ => {
            *target = v.as_object().cloned().unwrap_or_default();
        }
    }
}

fn swap_subtrees(doc: &mut Value, rng: &mut Rng) {
    let paths = if rng.one_in(2) {
        schema_paths(doc, rng)
    } else {
        all_paths(doc)
    };
    if paths.len() < 2 {
        return;
    }
    let a = rng.pick(&paths).clone();
    let b = rng.pick(&paths).clone();
    if is_prefix(&a, &b) || is_prefix(&b, &a) {
        return;
    }
    let (Some(va), Some(vb)) = (get(doc, &a).cloned(), get(doc, &b).cloned()) else {
        return;
    };
    if let Some(slot) = get_mut(doc, &a) {
        *slot = vb;
    }
    if let Some(slot) = get_mut(doc, &b) {
        *slot = va;
    }
}

fn component_ref(name: &str) -> String {
    format!("#/components/schemas/{name}")
}

/// Dangling, self, cyclic and odd `$ref`s.
fn mutate_ref(doc: &mut Value, rng: &mut Rng) {
    let names = component_names(doc);
    let refs: Vec<Vec<Seg>> = all_paths(doc)
        .into_iter()
        .filter(|p| matches!(p.last(), Some(Seg::Key(k)) if k == "$ref"))
        .collect();
    // Cycles between components (some with no object in between).
    if !names.is_empty() && rng.one_in(3) {
        let a = rng.pick(&names).clone();
        let b = rng.pick(&names).clone();
        let (ra, rb) = (component_ref(&a), component_ref(&b));
        let (va, vb) = match rng.below(8) {
            0 => (json!({ "$ref": rb }), json!({ "$ref": ra })),
            1 => (json!({ "allOf": [{ "$ref": ra }] }), json!({ "$ref": ra })),
            2 => (
                json!({ "anyOf": [{ "$ref": ra }, { "type": "null" }] }),
                json!({ "anyOf": [{ "$ref": rb }, { "type": "string" }] }),
            ),
            3 => (
                json!({ "type": "array", "items": { "$ref": ra } }),
                json!({ "type": "object", "additionalProperties": { "$ref": rb } }),
            ),
            4 => (
                json!({ "type": "object", "properties": { "next": { "$ref": ra }, "other": { "$ref": rb } }, "required": ["next", "other"] }),
                json!({ "type": "object", "properties": { "back": { "$ref": ra } }, "required": ["back"] }),
            ),
            5 => (
                json!({ "allOf": [{ "$ref": rb }, { "$ref": ra }] }),
                json!({ "allOf": [{ "$ref": ra }, { "properties": { "x": { "type": "string" } } }] }),
            ),
            6 => (
                json!({ "oneOf": [{ "$ref": rb }, { "$ref": ra }] }),
                json!({ "type": ["object", "null"], "properties": { "a": { "$ref": ra } } }),
            ),
            _ => (
                json!({ "enum": [{ "$ref": ra }] }),
                json!({ "const": { "$ref": rb } }),
            ),
        };
        if let Some(Value::Object(schemas)) = doc.pointer_mut("/components/schemas") {
            schemas.insert(a, va);
            if rng.one_in(2) {
                schemas.insert(b, vb);
            }
        }
        return;
    }
    let target = if !refs.is_empty() && !rng.one_in(4) {
        rng.pick(&refs).clone()
    } else {
        // A new `$ref` on some schema (its other keys stay: `$ref` beside `properties`).
        let paths = schema_paths(doc, rng);
        if paths.is_empty() {
            return;
        }
        let mut p = rng.pick(&paths).clone();
        p.push(Seg::Key("$ref".into()));
        if let Some(Value::Object(o)) = get_mut(doc, &p[..p.len() - 1]) {
            o.insert("$ref".into(), Value::Null);
        }
        p
    };
    // The component the ref sits in, for a self-reference.
    let own = match (target.first(), target.get(1), target.get(2)) {
        (Some(Seg::Key(c)), Some(Seg::Key(s)), Some(Seg::Key(name)))
            if c == "components" && s == "schemas" =>
        {
            Some(name.clone())
        }
        _ => None,
    };
    let v = match rng.below(10) {
        0 => json!("#/components/schemas/DoesNotExist"),
        1 => Value::String(component_ref(own.as_deref().unwrap_or("Input"))),
        2 if !names.is_empty() => Value::String(component_ref(&rng.pick(&names).clone())),
        3 => Value::String(
            rng.pick(&[
                "",
                "#",
                "#/",
                "#/components/schemas/",
                "#/components/schemas",
                "#/paths/~1x",
                "#/components/schemas/a~1b",
                "#/components/schemas/a/b",
                "#/components/schemas/~",
                "http://example.com/s.json#/x",
                "#/definitions/X",
                "#/components/schemas/%20",
                "../other.json",
            ])
            .to_string(),
        ),
        4 => random_value(rng, 1),
        5 => Value::String(component_ref(&odd_name(rng))),
        _ if !names.is_empty() => Value::String(component_ref(&rng.pick(&names).clone())),
        _ => json!("#/components/schemas/Missing"),
    };
    if let Some(slot) = get_mut(doc, &target) {
        *slot = v;
    }
}

fn wrap(doc: &mut Value, rng: &mut Rng) {
    let paths = schema_paths(doc, rng);
    if paths.is_empty() {
        return;
    }
    let p = rng.pick(&paths).clone();
    let Some(slot) = get_mut(doc, &p) else { return };
    let s = slot.take();
    let nul = json!({ "type": "null" });
    *slot = match rng.below(10) {
        0 => json!({ "anyOf": [s, nul] }),
        1 => json!({ "anyOf": [nul, s] }),
        2 => json!({ "oneOf": [s, nul] }),
        3 => json!({ "allOf": [s] }),
        4 => json!({ "allOf": [s, nul] }),
        5 => json!({ "anyOf": [s.clone(), s] }),
        6 => json!({ "anyOf": [s] }),
        7 => json!({ "oneOf": [s, { "type": "array", "items": s.clone() }] }),
        8 => json!({ "anyOf": [s, { "enum": [null] }, { "const": null }], "nullable": true }),
        _ => json!({ "allOf": [s.clone(), s], "title": "Both" }),
    };
}

fn mutate_type(doc: &mut Value, rng: &mut Rng) {
    let paths = schema_paths(doc, rng);
    if paths.is_empty() {
        return;
    }
    let p = rng.pick(&paths).clone();
    let t = match rng.below(12) {
        0 => json!(["string", "null"]),
        1 => json!([
            "object", "array", "integer", "number", "string", "boolean", "null"
        ]),
        2 => json!([]),
        3 => json!(["null"]),
        4 => json!([1, null, "string"]),
        5 => json!(["object", "object"]),
        6 => Value::String(
            rng.pick(&[
                "float", "", "any", "Object", "STRING", "int", "file", "null", "self", "type",
            ])
            .to_string(),
        ),
        7 => Value::String(
            rng.pick(&["string", "integer", "number", "boolean", "object", "array"])
                .to_string(),
        ),
        8 => json!(["integer", "number"]),
        9 => json!(["array", "null"]),
        _ => random_value(rng, 1),
    };
    if let Some(Value::Object(o)) = get_mut(doc, &p) {
        o.insert("type".into(), t);
    }
}

fn mutate_enum(doc: &mut Value, rng: &mut Rng) {
    let paths = schema_paths(doc, rng);
    if paths.is_empty() {
        return;
    }
    let p = rng.pick(&paths).clone();
    let values = random_enum(rng);
    let Some(Value::Object(o)) = get_mut(doc, &p) else {
        return;
    };
    match rng.below(5) {
        0 => {
            o.insert("const".into(), random_value(rng, 1));
        }
        1 => {
            o.remove("type");
            o.insert("enum".into(), values);
        }
        2 => {
            o.insert("enum".into(), random_value(rng, 1));
        }
        _ => {
            o.insert("enum".into(), values);
        }
    }
}

fn random_enum(rng: &mut Rng) -> Value {
    let n = match rng.below(10) {
        0 => 0,
        1 => 200 + rng.below(800),
        _ => 1 + rng.below(8),
    };
    let kind = rng.below(6);
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let v = match kind {
            0 => random_number(rng),
            1 => json!(rng.below(5) as i64 - 2),
            2 => random_value(rng, 0),
            // A case/punctuation variant of a small set: duplicates and near-duplicates.
            3 => Value::String(
                rng.pick(&[
                    "fast",
                    "Fast",
                    "FAST",
                    "fast ",
                    " fast",
                    "fa-st",
                    "fa_st",
                    "fa st",
                    "Unknown",
                    "Other",
                    "UnknownValue",
                    "UnlistedValue",
                    "unknown",
                ])
                .to_string(),
            ),
            _ => Value::String(interesting_string(rng)),
        };
        out.push(v);
        if rng.one_in(6) {
            out.push(out[out.len() - 1].clone());
        }
    }
    Value::Array(out)
}

/// Renames a property (and keeps `required` and the order hint pointing at it, sometimes), or
/// adds properties whose names collide once made into Rust identifiers.
fn rename_property(doc: &mut Value, rng: &mut Rng) {
    let props: Vec<Vec<Seg>> = all_paths(doc)
        .into_iter()
        .filter(|p| matches!(p.last(), Some(Seg::Key(k)) if k == "properties"))
        .filter(|p| get(doc, p).is_some_and(Value::is_object))
        .collect();
    if props.is_empty() {
        return;
    }
    let p = rng.pick(&props).clone();
    let new_name = odd_name(rng);
    let add_collisions = rng.one_in(3);
    let fix_required = rng.one_in(2);
    let Some(Value::Object(map)) = get_mut(doc, &p) else {
        return;
    };
    let keys: Vec<String> = map.keys().cloned().collect();
    let old = if keys.is_empty() {
        None
    } else {
        Some(keys[rng.below(keys.len())].clone())
    };
    if add_collisions {
        let base = old.clone().unwrap_or_else(|| "image_url".into());
        let schema = old
            .as_ref()
            .and_then(|k| map.get(k))
            .cloned()
            .unwrap_or(json!({ "type": "string" }));
        let camel: String = base
            .split(['_', '-'])
            .enumerate()
            .map(|(i, w)| {
                let mut cs = w.chars();
                match cs.next() {
                    Some(c) if i > 0 => c.to_uppercase().chain(cs).collect(),
                    _ => w.to_owned(),
                }
            })
            .collect();
        for name in [
            base.replace('_', "-"),
            base.to_uppercase(),
            camel,
            format!("{base} "),
            format!("_{base}"),
            format!("{base}_2"),
        ] {
            map.insert(name, schema.clone());
        }
        return;
    }
    let Some(old) = old else {
        map.insert(new_name, json!({ "type": "string" }));
        return;
    };
    let Some(v) = map.remove(&old) else { return };
    map.insert(new_name.clone(), v);
    if fix_required {
        let parent = &p[..p.len() - 1];
        if let Some(Value::Object(schema)) = get_mut(doc, parent) {
            for key in ["required", "x-fal-order-properties"] {
                if let Some(Value::Array(list)) = schema.get_mut(key) {
                    for item in list.iter_mut() {
                        if item.as_str() == Some(old.as_str()) {
                            *item = Value::String(new_name.clone());
                        }
                    }
                }
            }
        }
    }
}

/// Wraps a schema in many levels of objects, arrays, unions or maps (staying under the depth
/// serde_json accepts).
fn deep_nest(doc: &mut Value, rng: &mut Rng) {
    let paths = schema_paths(doc, rng);
    if paths.is_empty() {
        return;
    }
    let p = rng.pick(&paths).clone();
    let total = depth(doc);
    if total + 4 >= MAX_DEPTH {
        return;
    }
    let room = MAX_DEPTH - total;
    let style = rng.below(6);
    let Some(slot) = get_mut(doc, &p) else { return };
    let mut s = slot.take();
    // Each level adds two or three JSON levels.
    let levels = 1 + rng.below(room / 3);
    for i in 0..levels {
        let level_style = if style == 5 { rng.below(5) } else { style };
        s = match level_style {
            0 => json!({ "type": "object", "properties": { format!("level_{i}"): s } }),
            1 => json!({ "type": "array", "items": s }),
            2 => json!({ "anyOf": [s, { "type": "null" }] }),
            3 => json!({ "type": "object", "additionalProperties": s }),
            _ => json!({ "allOf": [s] }),
        };
    }
    *slot = s;
}

fn mutate_endpoint_id(doc: &mut Value, rng: &mut Rng) {
    let current = doc
        .pointer("/info/x-fal-metadata/endpointId")
        .and_then(Value::as_str)
        .unwrap_or("fal-ai/x")
        .to_owned();
    let v = match rng.below(16) {
        0 => json!(""),
        1 => json!("../x"),
        2 => json!("a//b"),
        3 => Value::String("x".repeat(1 + rng.below(5000))),
        4 => json!("fal-ai/日本語/モデル"),
        5 => json!("/"),
        6 => json!("  "),
        7 => Value::String(format!("{current}/")),
        8 => Value::String(current.replace('/', "//")),
        9 => json!("fal-ai/type/self/super/crate/Self/_"),
        10 => json!("types"),
        // Many segments: as many nested modules (up to and past the generator's limit).
        11 => {
            let any = 1 + rng.below(1000);
            let n = *rng.pick(&[31, 32, 33, 60, any]);
            Value::String(
                (0..n)
                    .map(|i| format!("s{i}"))
                    .collect::<Vec<_>>()
                    .join("/"),
            )
        }
        12 => Value::String(format!("{current}\r\n\"`*/")),
        13 => random_value(rng, 1),
        14 => {
            if let Some(Value::Object(info)) = doc.get_mut("info") {
                info.remove("x-fal-metadata");
            }
            return;
        }
        _ => Value::String(interesting_string(rng)),
    };
    if depth(doc) < MAX_DEPTH {
        set_pointer(doc, &["info", "x-fal-metadata", "endpointId"], v);
    }
}

fn mutate_paths(doc: &mut Value, rng: &mut Rng) {
    let Some(obj) = doc.as_object_mut() else {
        return;
    };
    let choice = rng.below(10);
    let Some(Value::Object(paths)) = obj.get_mut("paths") else {
        obj.insert(
            "paths".into(),
            if rng.one_in(2) {
                json!({})
            } else {
                random_value(rng, 2)
            },
        );
        return;
    };
    let keys: Vec<String> = paths.keys().cloned().collect();
    let submit = keys.iter().find(|k| !k.contains("/requests/")).cloned();
    let result = keys
        .iter()
        .find(|k| k.ends_with("/requests/{request_id}"))
        .cloned();
    match choice {
        0 => {
            obj.remove("paths");
        }
        1 => {
            obj.insert("paths".into(), random_value(rng, 1));
        }
        2 => {
            if let Some(k) = submit {
                paths.remove(&k);
            }
        }
        3 => {
            if let Some(v) = submit.and_then(|k| paths.remove(&k)) {
                let key = rng
                    .pick(&[
                        "",
                        "/",
                        "//",
                        "/a/../b",
                        "/fal-ai/x/requests/",
                        "/日本",
                        "/x y",
                    ])
                    .to_string();
                paths.insert(key, v);
            }
        }
        4 => {
            if let Some(Value::Object(op)) = submit.and_then(|k| paths.get_mut(&k)) {
                if let Some(Value::Object(post)) = op.get_mut("post") {
                    post.remove("requestBody");
                }
            }
        }
        5 => {
            if let Some(k) = result {
                paths.remove(&k);
            }
        }
        6 => {
            // A second POST path: which one is the submit?
            if let Some(v) = submit.and_then(|k| paths.get(&k).cloned()) {
                paths.insert("/aaa/first".into(), v);
            }
        }
        7 => {
            if let Some(Value::Object(op)) = result.and_then(|k| paths.get_mut(&k)) {
                let schema = random_schema(rng, 3);
                op.insert(
                    "get".into(),
                    json!({ "responses": { "200": { "content": { "application/json": { "schema": schema } } } } }),
                );
            }
        }
        8 => {
            if let Some(Value::Object(op)) = submit.and_then(|k| paths.get_mut(&k)) {
                let schema = if rng.one_in(2) {
                    random_schema(rng, 3)
                } else {
                    random_value(rng, 2)
                };
                op.insert(
                    "post".into(),
                    json!({ "requestBody": { "content": { "application/json": { "schema": schema } } } }),
                );
            }
        }
        _ => {
            if let Some(k) = submit {
                paths.insert(k, random_value(rng, 2));
            }
        }
    }
}

fn inject_keyword(doc: &mut Value, rng: &mut Rng) {
    let paths = schema_paths(doc, rng);
    if paths.is_empty() {
        return;
    }
    let p = rng.pick(&paths).clone();
    let (key, v) = match rng.below(14) {
        0 => (
            "nullable",
            if rng.one_in(2) {
                json!(true)
            } else {
                random_value(rng, 0)
            },
        ),
        1 => (
            "additionalProperties",
            if rng.one_in(2) {
                random_schema(rng, 2)
            } else {
                random_value(rng, 1)
            },
        ),
        2 => (
            "prefixItems",
            json!([random_schema(rng, 1), random_schema(rng, 1)]),
        ),
        3 => ("items", json!([random_schema(rng, 1)])),
        4 => ("x-fal-order-properties", random_value(rng, 2)),
        5 => ("default", random_value(rng, 2)),
        6 => (
            "examples",
            json!([random_value(rng, 2), random_value(rng, 1)]),
        ),
        7 => ("example", random_value(rng, 2)),
        8 => ("description", Value::String(doc_text(rng))),
        9 => ("title", Value::String(doc_text(rng))),
        10 => (
            *rng.pick(&[
                "minimum",
                "maximum",
                "exclusiveMinimum",
                "exclusiveMaximum",
                "multipleOf",
                "minLength",
                "maxLength",
                "minItems",
                "maxItems",
            ]),
            random_number(rng),
        ),
        11 => ("pattern", Value::String(doc_text(rng))),
        12 => (
            *rng.pick(&["format", "writeOnly"]),
            json!(rng.pick(&["password", "binary", "uri"])),
        ),
        _ => ("required", random_required(rng)),
    };
    if let Some(Value::Object(o)) = get_mut(doc, &p) {
        o.insert(key.to_owned(), v);
    }
}

fn random_required(rng: &mut Rng) -> Value {
    match rng.below(4) {
        0 => random_value(rng, 1),
        1 => json!([1, null, "type", "", "missing"]),
        _ => Value::Array(
            (0..1 + rng.below(4))
                .map(|_| Value::String(odd_name(rng)))
                .collect(),
        ),
    }
}

/// Very wide objects, unions and enums, to find quadratic paths.
fn fan_out(doc: &mut Value, rng: &mut Rng) {
    let paths = schema_paths(doc, rng);
    if paths.is_empty() {
        return;
    }
    let p = rng.pick(&paths).clone();
    let n = 100 + rng.below(2000);
    let v = match rng.below(4) {
        0 => {
            let props: Map<String, Value> = (0..n)
                .map(|i| {
                    (
                        format!("p{}", i % (n / 2 + 1)) + &"_".repeat(i % 3),
                        json!({ "type": "string" }),
                    )
                })
                .collect();
            let required: Vec<Value> = props.keys().map(|k| Value::String(k.clone())).collect();
            json!({ "type": "object", "properties": props, "required": required })
        }
        1 => {
            json!({ "enum": (0..n).map(|i| Value::String(format!("v{}", i % (n / 3 + 1)) + &"-".repeat(i % 3))).collect::<Vec<_>>() })
        }
        2 => {
            json!({ "anyOf": (0..n.min(300)).map(|i| json!({ "type": "object", "properties": { format!("k{i}"): { "type": "integer" } } })).collect::<Vec<_>>() })
        }
        _ => json!({ "enum": (0..n).map(|i| json!(i as i64 - 7)).collect::<Vec<_>>() }),
    };
    if let Some(slot) = get_mut(doc, &p) {
        *slot = v;
    }
}

// ---------------------------------------------------------------------------------------------
// Random values

const STRINGS: &[&str] = &[
    "",
    " ",
    "type",
    "self",
    "Self",
    "super",
    "crate",
    "_",
    "__",
    "r#type",
    "16:9",
    "8s",
    "1.5s",
    "720p",
    "1.5",
    "-1",
    "0",
    "007",
    "+",
    "-",
    "#/components/schemas/",
    "#/components/schemas/Input",
    "#/components/schemas/Nope",
    "null",
    "object",
    "array",
    "string",
    "Unknown",
    "Other",
    "UnknownValue",
    "UnlistedValue",
    "Input",
    "Output",
    "ENDPOINT_ID",
    "new",
    "set_new",
    "api_key",
    "password",
    "types",
    "mod",
    "fn",
    "async",
    "gen",
    "union",
    "Option",
    "String",
    "Vec",
    "日本語",
    "größe",
    "émoji 🎉",
    "\u{0}",
    "\r",
    "a\rb",
    "\n",
    "a\nb",
    "*/",
    "/*",
    "/** x */",
    "\"",
    "\\",
    "`",
    "```rust\nfn x() {}\n```",
    "#[doc = \"x\"]",
    "}",
    "{",
    "\u{202e}",
    "\u{feff}",
    "fal-ai/x",
    "../x",
    "a//b",
    "a b",
    "a-b",
    "a_b",
    "A_B",
    "aB",
    "\t",
    "\u{2028}",
    "\u{85}",
];

fn interesting_string(rng: &mut Rng) -> String {
    match rng.below(8) {
        0 => (0..rng.below(40))
            .map(|_| (b' ' + rng.below(95) as u8) as char)
            .collect(),
        1 => (0..1 + rng.below(12))
            .filter_map(|_| char::from_u32(rng.below(0x11_0000) as u32))
            .collect(),
        2 => rng.pick(STRINGS).repeat(1 + rng.below(300)),
        _ => rng.pick(STRINGS).to_string(),
    }
}

/// A property name that is hard to turn into a Rust identifier.
fn odd_name(rng: &mut Rng) -> String {
    match rng.below(6) {
        0 => rng
            .pick(&[
                "3d",
                "0",
                "",
                "r#type",
                "type",
                "self",
                "Self",
                "super",
                "crate",
                "_",
                "new",
                "set_new",
                "größe",
                "日本",
                "ImageUrl",
                "image-url",
                "image_url",
                "imageUrl",
                "IMAGE_URL",
                "a b",
                "\n",
                "api_key",
                "secret_token",
                "field",
                "field_2",
                "Input",
                "r#self",
            ])
            .to_string(),
        1 => format!("{}", rng.next() % 1000),
        2 => "p".repeat(1 + rng.below(400)),
        _ => interesting_string(rng),
    }
}

fn random_number(rng: &mut Rng) -> Value {
    match rng.below(12) {
        0 => json!(0),
        1 => json!(-1),
        2 => json!(i64::MAX),
        3 => json!(i64::MIN),
        4 => json!(u64::MAX),
        5 => json!(1e308),
        6 => json!(-1e-308),
        7 => json!(0.5),
        8 => json!(9_007_199_254_740_993_i64),
        9 => json!(rng.next() as i64),
        10 => json!(-0.0),
        _ => json!(rng.below(100)),
    }
}

fn random_value(rng: &mut Rng, depth: usize) -> Value {
    let kinds = if depth == 0 { 4 } else { 6 };
    match rng.below(kinds) {
        0 => Value::Null,
        1 => Value::Bool(rng.one_in(2)),
        2 => random_number(rng),
        3 => Value::String(interesting_string(rng)),
        4 => Value::Array(
            (0..rng.below(4))
                .map(|_| random_value(rng, depth - 1))
                .collect(),
        ),
        _ => Value::Object(
            (0..rng.below(4))
                .map(|_| (interesting_string(rng), random_value(rng, depth - 1)))
                .collect(),
        ),
    }
}

/// A random but schema-shaped value.
fn random_schema(rng: &mut Rng, depth: usize) -> Value {
    if depth == 0 {
        return json!({ "type": rng.pick(&["string", "integer", "number", "boolean", "null", "object", "array"]) });
    }
    match rng.below(9) {
        0 => {
            let props: Map<String, Value> = (0..1 + rng.below(4))
                .map(|_| (odd_name(rng), random_schema(rng, depth - 1)))
                .collect();
            let required: Vec<Value> = props
                .keys()
                .filter(|_| rng.one_in(2))
                .map(|k| Value::String(k.clone()))
                .collect();
            json!({ "type": "object", "properties": props, "required": required, "title": doc_text(rng) })
        }
        1 => json!({ "type": "array", "items": random_schema(rng, depth - 1) }),
        2 => {
            json!({ "anyOf": (0..1 + rng.below(4)).map(|_| random_schema(rng, depth - 1)).collect::<Vec<_>>() })
        }
        3 => json!({ "enum": random_enum(rng), "description": doc_text(rng) }),
        4 => json!({ "const": random_value(rng, 1) }),
        5 => json!({ "type": "object", "additionalProperties": random_schema(rng, depth - 1) }),
        6 => {
            json!({ "allOf": (0..1 + rng.below(3)).map(|_| random_schema(rng, depth - 1)).collect::<Vec<_>>() })
        }
        7 => {
            json!({ "type": "string", "default": random_value(rng, 1), "examples": [random_value(rng, 1)] })
        }
        _ => json!({ "$ref": component_ref(&odd_name(rng)) }),
    }
}

const SEPARATORS: &[&str] = &[" ", "\n", "\r\n", "\r", "*/", "/*", " text "];

/// Documentation-like text with the characters that break comments and doc attributes.
fn doc_text(rng: &mut Rng) -> String {
    let parts = 1 + rng.below(4);
    let mut s = String::new();
    for _ in 0..parts {
        s.push_str(&interesting_string(rng));
        let sep = SEPARATORS[rng.below(SEPARATORS.len())];
        s.push_str(sep);
    }
    s
}

/// FNV-1a: a digest that is the same on every run and toolchain (`--record` files compare
/// across builds).
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
        // A separator, so ("ab", "c") and ("a", "bc") differ.
        self.0 = (self.0 ^ 0xff).wrapping_mul(0x100_0000_01b3);
    }
}

/// Where a run's findings go.
struct Sinks<'a> {
    /// Failing cases are written here.
    crash_dir: Option<&'a Path>,
    /// Print progress and failures.
    progress: bool,
    /// `--record`: one digest line per iteration.
    record: Option<&'a mut dyn std::io::Write>,
}

impl<'a> Sinks<'a> {
    #[cfg(test)]
    fn quiet(record: Option<&'a mut dyn std::io::Write>) -> Sinks<'a> {
        Sinks {
            crash_dir: None,
            progress: false,
            record,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vendored schemas and every 16th corpus document (when the corpus is there), loaded
    /// once for all the tests.
    fn seeds() -> &'static [Document] {
        static SEEDS: std::sync::OnceLock<Vec<Document>> = std::sync::OnceLock::new();
        SEEDS.get_or_init(|| {
            let root = workspace_root();
            let mut seeds =
                load_seeds(&root.join("schemas"), &root).expect("vendored schemas load");
            assert!(!seeds.is_empty(), "no vendored schemas");
            let corpus = default_corpus(&root).join("docs");
            // Asked for (CI sets the variable) but missing: fail rather than fuzz fewer seeds.
            let required = std::env::var_os("FAL_CORPUS_DIR").is_some_and(|v| !v.is_empty());
            assert!(
                !required || corpus.is_dir(),
                "FAL_CORPUS_DIR is set but {} is not a folder",
                corpus.display()
            );
            let mut paths: Vec<PathBuf> = std::fs::read_dir(&corpus)
                .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default();
            paths.retain(|p| p.extension().is_some_and(|e| e == "json"));
            paths.sort();
            for path in paths.into_iter().step_by(16) {
                if let Ok(d) = Document::load(&path) {
                    seeds.push(d);
                }
            }
            seeds
        })
    }

    /// `--record` is what a refactor of the generator is checked with: two runs of one seed
    /// must give the same lines (generation is deterministic on mutated documents too), one
    /// line per iteration, and a changed output must change its line.
    #[test]
    fn a_record_repeats_run_to_run_and_changes_with_the_output() {
        let seeds = seeds();
        let limit = Limit {
            seconds: None,
            iterations: Some(40),
        };
        let run = |seeds: &[Document]| {
            let mut lines = Vec::new();
            fuzz(
                seeds,
                7,
                100,
                limit,
                Duration::from_secs(120),
                Sinks::quiet(Some(&mut lines)),
            );
            String::from_utf8(lines).expect("utf-8")
        };
        let first = run(seeds);
        assert_eq!(first.lines().count(), 40, "{first}");
        assert!(
            first.lines().next().is_some_and(|l| l.starts_with("100 ")),
            "{first}"
        );
        assert_eq!(run(seeds), first, "same seed, same record");
        // The same cases with every endpoint's summary changed: the digests move.
        let mut edited = seeds.to_vec();
        for d in &mut edited {
            if let Some(meta) = d
                .json
                .pointer_mut("/info/x-fal-metadata")
                .and_then(Value::as_object_mut)
            {
                meta.insert("about".into(), json!("edited"));
            }
        }
        let changed = run(&edited);
        let same = first
            .lines()
            .zip(changed.lines())
            .filter(|(a, b)| a == b)
            .count();
        // Not every line: a mutation may drop the metadata or make the document fail.
        assert!(
            same < 20,
            "{same} of 40 lines unchanged:\n{first}\n{changed}"
        );
    }

    /// A few hundred fixed iterations: no panic, no hang, every output parses.
    #[test]
    fn fuzz_regression_fixed_seed() {
        let seeds = seeds();
        let limit = Limit {
            seconds: None,
            iterations: Some(300),
        };
        let report = fuzz(
            seeds,
            0x00FA_15EE_D5EE_D001,
            0,
            limit,
            Duration::from_secs(120),
            Sinks::quiet(None),
        );
        assert_eq!(report.executions, 300);
        let failures: Vec<String> = report
            .failures
            .iter()
            .map(|f| format!("iteration {} ({}): {}", f.iteration, f.kind, f.message))
            .collect();
        assert!(
            failures.is_empty(),
            "fuzz failures:\n{}",
            failures.join("\n")
        );
    }

    /// Same seed and iteration, same document.
    #[test]
    fn cases_are_reproducible() {
        let seeds = seeds();
        for iter in [0, 7, 123] {
            let a = make_case(seeds, 42, iter);
            let b = make_case(seeds, 42, iter);
            let ja: Vec<&Value> = a.docs.iter().map(|d| &d.json).collect();
            let jb: Vec<&Value> = b.docs.iter().map(|d| &d.json).collect();
            assert_eq!(ja, jb);
        }
    }

    /// Mutated documents stay loadable: serde_json reads back what the fuzzer writes.
    #[test]
    fn cases_stay_within_serde_json_depth() {
        let seeds = seeds();
        for iter in 0..200 {
            for d in make_case(seeds, 7, iter).docs {
                let text = serde_json::to_string(&d.json).expect("serializes");
                assert!(
                    Document::parse("x", &text).is_ok(),
                    "iteration {iter}: depth {}",
                    depth(&d.json)
                );
            }
        }
    }

    #[test]
    fn normalizes_messages() {
        assert_eq!(
            normalize_message("unknown type `float`"),
            "unknown type `…`"
        );
        assert_eq!(
            normalize_message("dangling $ref: `#/x` is not in the document"),
            "dangling $ref: `…` is not in the document"
        );
    }

    #[test]
    fn the_detector_sees_unparsable_output() {
        install_panic_hook();
        let job = Job {
            docs: Arc::new(Vec::new()),
            config: Config::new().header("fn ("),
        };
        let (tx, rx) = spawn_worker();
        tx.send(job).expect("worker alive");
        let o = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("worker answers");
        assert!(!o.invalid.is_empty(), "a broken header must be reported");
    }
}
