//! Project automation: `cargo xtask <command>` (alias in `.cargo/config.toml`).
//!
//! xtask depends on the generator only, never on `fal-models`, so `regen` works even when the
//! checked-in generated code does not compile.

mod bench_build;
mod corpus;
mod diff;
#[cfg_attr(not(test), allow(dead_code))] // used by tests (the family check)
mod families;
mod feature_flips;
mod fetch;
mod fsutil;
mod fuzz;
mod import;
mod regen;
mod release;
mod sync;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "fal-models project tasks")]
struct Cli {
    /// Work on the workspace at this folder instead of the one xtask was built in (tests run
    /// regen, import and fetch on a temporary copy this way).
    #[arg(long, global = true, value_name = "DIR")]
    workspace: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Regenerate the bindings (core types, shard crates, fal-models facade) from schemas/.
    Regen(regen::Args),
    /// Generate, compile and round-trip every document of a folder (such as the fal corpus).
    Corpus(corpus::Args),
    /// Fetch fresh OpenAPI documents from fal into schemas/, then regenerate.
    Fetch(fetch::Args),
    /// Vendor fal queue documents (files, folders or platform-API listing pages) into schemas/,
    /// then regenerate.
    Import(import::Args),
    /// Follow fal's listing of active endpoints: add new ones, refresh changed ones, retire
    /// (never delete, unless --prune) the ones fal no longer lists, then regenerate.
    Sync(sync::Args),
    /// Write the CHANGELOG section and bump the published crates' version, from the diff of
    /// schemas/ since the last release tag.
    Release(release::Args),
    /// Report the changes between two versions of the schemas, with their breaking level.
    Diff(diff::Args),
    /// Time a clean build of the whole catalogue, of one family and of the runtime alone.
    BenchBuild(bench_build::Args),
    /// Fuzz the generator with mutated documents: no panic, no hang, output that parses.
    Fuzz(fuzz::Args),
    /// Check that turning on a runtime feature (mock, webhook, realtime, proxy) recompiles no
    /// catalogue crate (fal-models-core, the shards).
    FeatureFlips(feature_flips::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(dir) = cli.workspace {
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        let _ = WORKSPACE.set(dir);
    }
    let result = match cli.command {
        Command::Regen(args) => regen::run(args),
        Command::Corpus(args) => corpus::run(args),
        Command::Fetch(args) => fetch::run(args),
        Command::Import(args) => import::run(args),
        Command::Sync(args) => sync::run(args),
        Command::Release(args) => release::run(args),
        Command::Diff(args) => diff::run(args),
        Command::Fuzz(args) => fuzz::run(args),
        Command::BenchBuild(args) => bench_build::run(args),
        Command::FeatureFlips(args) => feature_flips::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

static WORKSPACE: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// The workspace root: `--workspace` if given, else the one xtask was built in (xtask runs from
/// `cargo xtask`, whose manifest is one level down).
pub fn workspace_root() -> std::path::PathBuf {
    if let Some(dir) = WORKSPACE.get() {
        return dir.clone();
    }
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}
