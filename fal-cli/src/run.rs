//! `falx run <id> [flags]`: the endpoint's fields as flags, validated before sending, local
//! files uploaded, progress, outputs downloaded.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Arg, ArgAction, Command};
use fal_models::client::{Progress, StreamEvent, SubscribeEvent};
use fal_models::files::RemoteFile;
use fal_models::mock::EndpointSpec;
use futures::StreamExt as _;
use serde_json::{Map, Value};

use crate::catalogue::{self, Entry};
use crate::fields::{self, Field};

/// The tool's own options; a field with one of these names is set with `--set NAME=VALUE`.
const RESERVED: &[&str] = &[
    "input",
    "output-dir",
    "stream",
    "json",
    "no-download",
    "set",
    "help",
];

fn command(entry: &Entry, fields: &[Field]) -> Command {
    let mut about = format!("{} ({})", entry.name, entry.category);
    if !entry.description.is_empty() {
        about.push_str(&format!(": {}", entry.description));
    }
    let mut cmd = Command::new(format!("falx run {}", entry.id))
        .bin_name(format!("falx run {}", entry.id))
        .about(about)
        .arg(
            Arg::new("input")
                .long("input")
                .value_name("FILE")
                .help("A JSON file with the input; flags override its fields"),
        )
        .arg(
            Arg::new("output-dir")
                .short('o')
                .long("output-dir")
                .value_name("DIR")
                .default_value(".")
                .help("Where the output's files are downloaded"),
        )
        .arg(
            Arg::new("stream")
                .long("stream")
                .action(ArgAction::SetTrue)
                .help("Stream the endpoint's events as they come (streaming endpoints)"),
        )
        .arg(
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .help("Print {\"output\", \"files\"} as JSON on stdout; progress goes to stderr"),
        )
        .arg(
            Arg::new("no-download")
                .long("no-download")
                .action(ArgAction::SetTrue)
                .help("Do not download the output's files"),
        )
        .arg(
            Arg::new("set")
                .long("set")
                .value_name("FIELD=VALUE")
                .action(ArgAction::Append)
                .help("Any field by name; the value is read as JSON when it is JSON, else text"),
        );
    for f in fields {
        if RESERVED.contains(&f.name.as_str()) {
            continue;
        }
        let mut arg = Arg::new(f.name.clone())
            .long(f.name.clone())
            .value_name(f.name.to_uppercase())
            .help(f.help());
        let kebab = f.name.replace('_', "-");
        if kebab != f.name && !RESERVED.contains(&kebab.as_str()) {
            arg = arg.alias(kebab);
        }
        if f.is_array() {
            arg = arg.action(ArgAction::Append);
        }
        if f.types == ["boolean"] {
            arg = arg.num_args(0..=1).default_missing_value("true");
        }
        cmd = cmd.arg(arg);
    }
    cmd
}

/// A file of the output: its URL and what the output declares.
struct OutputFile {
    url: String,
    content_type: Option<String>,
    file_size: Option<u64>,
    file_name: Option<String>,
}

impl RemoteFile for OutputFile {
    fn url(&self) -> &str {
        &self.url
    }
    fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }
    fn file_size(&self) -> Option<u64> {
        self.file_size
    }
}

/// Every file of an output: objects with a `url` (fal's File, Image, Video, Audio) and
/// `*_url` strings.
fn output_files(value: &Value, key: Option<&str>, out: &mut Vec<OutputFile>) {
    match value {
        Value::Object(map) => {
            if let Some(url) = map.get("url").and_then(Value::as_str) {
                out.push(OutputFile {
                    url: url.to_owned(),
                    content_type: map
                        .get("content_type")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    file_size: map.get("file_size").and_then(Value::as_u64),
                    file_name: map
                        .get("file_name")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                });
            }
            for (k, v) in map {
                if k != "url" {
                    output_files(v, Some(k), out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| output_files(i, key, out)),
        Value::String(s)
            if key.is_some_and(|k| k.ends_with("_url") || k.ends_with("_urls"))
                && (s.starts_with("http://") || s.starts_with("https://")) =>
        {
            out.push(OutputFile {
                url: s.clone(),
                content_type: None,
                file_size: None,
                file_name: None,
            });
        }
        _ => {}
    }
}

/// Progress on stderr: a spinner on a terminal, plain lines otherwise.
struct Reporter {
    bar: Option<indicatif::ProgressBar>,
}

impl Reporter {
    fn new() -> Reporter {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Reporter { bar }
    }
    /// A state change: the spinner's message, or a line.
    fn state(&self, text: String) {
        match &self.bar {
            Some(bar) => bar.set_message(text),
            None => eprintln!("{text}"),
        }
    }
    /// A line kept above the spinner (logs).
    fn line(&self, text: String) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }
    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn fail(text: impl std::fmt::Display) -> ExitCode {
    eprintln!("falx: {text}");
    ExitCode::FAILURE
}

pub async fn run(args: Vec<String>) -> ExitCode {
    let Some(id) = args.first().filter(|a| !a.starts_with('-')) else {
        eprintln!(
            "usage: falx run <ENDPOINT ID> [--FIELD VALUE ...] [--input FILE] [-o DIR] [--stream] \
             [--json]\n       falx run <ENDPOINT ID> --help   (the endpoint's fields)\n       \
             falx list --search TEXT   (find an endpoint)"
        );
        return if args.iter().any(|a| a == "--help" || a == "-h") {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(2)
        };
    };
    let entry = match catalogue::entry(id) {
        Ok(entry) => entry,
        Err(e) => return fail(e),
    };
    let fields = fields::fields(&entry.document);
    let matches = match command(&entry, &fields).try_get_matches_from(&args) {
        Ok(m) => m,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };

    // The input: the file, then the flags over it.
    let mut input = match matches.get_one::<String>("input") {
        Some(path) => match std::fs::read_to_string(path)
            .map_err(|e| format!("{path}: {e}"))
            .and_then(|t| serde_json::from_str::<Value>(&t).map_err(|e| format!("{path}: {e}")))
        {
            Ok(Value::Object(map)) => map,
            Ok(_) => return fail(format!("{path}: the input must be a JSON object")),
            Err(e) => return fail(e),
        },
        None => Map::new(),
    };
    for f in &fields {
        if RESERVED.contains(&f.name.as_str()) {
            continue;
        }
        let Some(values) = matches.get_many::<String>(&f.name) else {
            continue;
        };
        let values: Vec<&String> = values.collect();
        let value = if f.is_array() {
            match values.as_slice() {
                [one] if one.trim_start().starts_with('[') => f.value(one, &f.types),
                many => Value::Array(many.iter().map(|v| f.value(v, &f.item_types)).collect()),
            }
        } else {
            f.value(values[0], &f.types)
        };
        input.insert(f.name.clone(), value);
    }
    for set in matches.get_many::<String>("set").into_iter().flatten() {
        let Some((name, text)) = set.split_once('=') else {
            return fail(format!("--set {set}: expected FIELD=VALUE"));
        };
        let value = serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()));
        input.insert(name.to_owned(), value);
    }
    let mut input = Value::Object(input);

    // Checked here with fal's own 422 messages (the mock's validator), before anything is sent.
    let spec = match EndpointSpec::from_document(entry.document.clone()) {
        Ok(spec) => spec,
        Err(e) => return fail(e),
    };
    let errors = spec.validate(&input);
    if !errors.is_empty() {
        eprintln!(
            "falx: invalid input for {} (fal would answer 422):",
            entry.id
        );
        for e in &errors {
            eprintln!("  {}: {}", e.field(), e.msg);
        }
        eprintln!("(`falx run {} --help` lists the fields)", entry.id);
        return ExitCode::from(2);
    }

    let client = match fal_models::Client::from_env() {
        Ok(client) => client,
        Err(e) => return fail(e),
    };
    let reporter = Reporter::new();

    // Local paths in URL fields are uploaded to fal storage, their URLs sent instead.
    let local: Vec<(String, Option<usize>, PathBuf)> = local_paths(&fields, &input);
    if !local.is_empty() {
        let storage = match client.storage() {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        for (name, index, path) in local {
            reporter.state(format!("uploading {}", path.display()));
            let url = match storage.upload_path(&path, &Default::default()).await {
                Ok(url) => url,
                Err(e) => return fail(format!("uploading {}: {e}", path.display())),
            };
            reporter.line(format!("uploaded {} -> {url}", path.display()));
            match index {
                Some(i) => input[&name][i] = Value::String(url),
                None => input[&name] = Value::String(url),
            }
        }
    }

    let json = matches.get_flag("json");
    let output = if matches.get_flag("stream") {
        let mut stream = client.stream_json(&entry.id, input);
        let mut events = 0u64;
        let mut last = None;
        while let Some(event) = stream.next().await {
            match event {
                Ok(StreamEvent::Partial(partial)) => {
                    events += 1;
                    let text = partial.to_string();
                    let short: String = text.chars().take(100).collect();
                    reporter.line(format!("event {events}: {short}"));
                }
                Ok(StreamEvent::Done(output)) => last = Some(output),
                Err(e) => {
                    reporter.finish();
                    return fail(e);
                }
            }
        }
        reporter.state(format!("stream ended after {events} events"));
        match last {
            Some(output) => output,
            None => return fail("the stream ended without an output"),
        }
    } else {
        let mut events = client.subscribe_json(&entry.id, input).events();
        let mut output = None;
        while let Some(event) = events.next().await {
            match event {
                Ok(SubscribeEvent::Progress(p)) => match p {
                    Progress::Submitted(handle) => {
                        reporter.line(format!("submitted: request {}", handle.request_id()))
                    }
                    Progress::InQueue { position } => reporter.state(match position {
                        Some(p) => format!("in queue: position {p}"),
                        None => "in queue".to_owned(),
                    }),
                    Progress::InProgress => reporter.state("in progress".to_owned()),
                    Progress::Log(log) => reporter.line(format!("log: {}", log.message)),
                    Progress::Completed { .. } => reporter.state("completed".to_owned()),
                    _ => {}
                },
                Ok(SubscribeEvent::Output(o)) => output = Some(o),
                Err(e) => {
                    reporter.finish();
                    return fail(e);
                }
            }
        }
        match output {
            Some(o) => o,
            None => return fail("no output"),
        }
    };
    reporter.finish();

    let mut saved = Vec::new();
    if !matches.get_flag("no-download") {
        let dir = PathBuf::from(matches.get_one::<String>("output-dir").map_or(".", |s| s));
        let mut files = Vec::new();
        output_files(&output, None, &mut files);
        if !files.is_empty() {
            if let Err(e) = std::fs::create_dir_all(&dir) {
                return fail(format!("{}: {e}", dir.display()));
            }
        }
        for (i, file) in files.iter().enumerate() {
            let path = dir.join(file_name(file, i, &saved));
            match client.download(file, &path).await {
                Ok(done) => {
                    if !json {
                        println!("saved {} ({} bytes)", path.display(), done.bytes);
                    }
                    saved.push(path);
                }
                Err(e) => return fail(e),
            }
        }
    }
    if json {
        let files: Vec<String> = saved.iter().map(|p| p.display().to_string()).collect();
        println!(
            "{}",
            serde_json::json!({ "output": output, "files": files })
        );
    } else {
        println!(
            "{}",
            serde_json::to_string_pretty(&output).unwrap_or_default()
        );
    }
    ExitCode::SUCCESS
}

/// The (field, index in an array field, path) of every local path given in a URL field.
fn local_paths(fields: &[Field], input: &Value) -> Vec<(String, Option<usize>, PathBuf)> {
    let is_local = |s: &str| {
        !(s.starts_with("http://") || s.starts_with("https://") || s.starts_with("data:"))
            && Path::new(s).is_file()
    };
    let mut out = Vec::new();
    for f in fields.iter().filter(|f| f.is_file()) {
        match input.get(&f.name) {
            Some(Value::String(s)) if is_local(s) => out.push((f.name.clone(), None, s.into())),
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    if let Some(s) = item.as_str().filter(|s| is_local(s)) {
                        out.push((f.name.clone(), Some(i), s.into()));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// A file name for a download: the declared one, else the URL's last segment, made unique.
fn file_name(file: &OutputFile, index: usize, taken: &[PathBuf]) -> String {
    let from_url = file
        .url
        .split(['?', '#'])
        .next()
        .and_then(|u| u.rsplit('/').next())
        .filter(|n| !n.is_empty() && !file.url.starts_with("data:"));
    let name = file
        .file_name
        .as_deref()
        .or(from_url)
        .map(|n| n.replace(['/', '\\'], "_"))
        .unwrap_or_else(|| format!("output-{index}"));
    if taken
        .iter()
        .any(|p| p.file_name().is_some_and(|f| f == name.as_str()))
    {
        format!("{index}-{name}")
    } else {
        name
    }
}
