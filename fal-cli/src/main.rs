//! `falx`: fal.ai from the shell, and an offline fal.
//!
//! - `falx mock`: fal-mock with the whole catalogue inside the binary (runs from any folder).
//! - `falx run <endpoint id> [--field value ...]`: flags and `--help` from the endpoint's
//!   document, the input validated before sending (fal's 422 messages, by the mock's
//!   validator), local paths uploaded, progress, outputs downloaded.
//! - `falx list`, `falx schema <id>`.
//!
//! It uses fal-models' JSON path and the embedded documents, so it builds without the typed
//! catalogue.

mod catalogue;
mod fields;
mod run;

use std::io::Write as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fal_models::mock::cli::{FAULT_HELP, MockArgs};

#[derive(Parser)]
#[command(
    name = "falx",
    version,
    about = "fal.ai from the shell: run any endpoint, or an offline fal"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// An offline fal (fal-mock) serving the whole catalogue; export the lines it prints first.
    #[command(after_help = FAULT_HELP)]
    Mock(MockArgs),
    /// Run an endpoint: `falx run fal-ai/flux/dev --prompt "a cat" -o out/`
    /// (`falx run <id> --help` lists its fields).
    #[command(disable_help_flag = true)]
    Run {
        /// The endpoint id, then its flags.
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "ID [FLAGS]"
        )]
        args: Vec<String>,
    },
    /// List the catalogue's endpoints.
    List {
        /// Only this category (text-to-image, image-to-video, ...).
        #[arg(long)]
        category: Option<String>,
        /// Only endpoints whose id, name or description contains this text (any case).
        #[arg(long)]
        search: Option<String>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Print an endpoint's input JSON Schema (references inlined).
    Schema {
        /// The endpoint id.
        id: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("falx: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::Mock(args) => runtime.block_on(fal_models::mock::cli::serve(
            args,
            Box::new(catalogue::documents),
        )),
        Command::Run { args } => runtime.block_on(run::run(args)),
        Command::List {
            category,
            search,
            json,
        } => list(category, search, json),
        Command::Schema { id } => match catalogue::entry(&id) {
            Ok(entry) => {
                let schema = fields::input_schema(&entry.document)
                    .map(|s| fields::inlined(&entry.document, s, 0))
                    .unwrap_or_else(|| serde_json::json!({}));
                println!(
                    "{}",
                    serde_json::to_string_pretty(&schema).unwrap_or_default()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("falx: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn list(category: Option<String>, search: Option<String>, json: bool) -> ExitCode {
    let entries = match catalogue::entries() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("falx: {e}");
            return ExitCode::FAILURE;
        }
    };
    let search = search.map(|s| s.to_lowercase());
    // Stops quietly when the reader goes away (`falx list | head`).
    let mut out = std::io::stdout().lock();
    let mut shown = 0;
    for e in entries {
        if category.as_deref().is_some_and(|c| c != e.category) {
            continue;
        }
        if let Some(s) = &search {
            let hay = format!("{} {} {}", e.id, e.name, e.description).to_lowercase();
            if !hay.contains(s.as_str()) {
                continue;
            }
        }
        shown += 1;
        if json {
            let line = serde_json::json!({"id": e.id, "name": e.name, "category": e.category,
                                          "description": e.description});
            if writeln!(out, "{line}").is_err() {
                return ExitCode::SUCCESS;
            }
        } else {
            let mut description = e.description.clone();
            if description.chars().count() > 70 {
                description = description.chars().take(69).collect::<String>() + "…";
            }
            if writeln!(out, "{:<50} {:<18} {description}", e.id, e.category).is_err() {
                return ExitCode::SUCCESS;
            }
        }
    }
    if shown == 0 {
        eprintln!("falx: no endpoint matches");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
