//! `fal-mock`: runs the fal-compatible mock server from the command line, so the examples (or
//! any fal client: Rust, Python, JS) can run offline.
//!
//! ```text
//! cargo run -p fal-models --features mock --bin fal-mock -- --port 8080
//! ```
//! then, in another shell, export the variables it prints first (`FAL_KEY`, `FAL_QUEUE_URL`,
//! `FAL_RUN_URL`, `FAL_REST_URL`, `FAL_CDN_URL`, `FAL_JWKS_URL`).
//!
//! Without `--schemas` it serves `./schemas`, else the `schemas/` folder of the checkout it was
//! built from; `falx mock` (the `fal-cli` package) carries the catalogue inside the binary.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use fal_models::mock::cli::{FAULT_HELP, MockArgs, serve};

/// An offline fal: the queue, sync runs, storage uploads, file downloads and signed webhooks,
/// for the endpoints of the given OpenAPI documents.
#[derive(Parser, Debug)]
#[command(name = "fal-mock", version, after_help = FAULT_HELP)]
struct Args {
    #[command(flatten)]
    mock: MockArgs,
}

/// `./schemas`, else the checkout's (this binary was built from a workspace that has one).
fn default_schemas() -> Result<PathBuf, String> {
    let here = PathBuf::from("schemas");
    if here.is_dir() {
        return Ok(here);
    }
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
    if built_from.is_dir() {
        return Ok(built_from);
    }
    Err(format!(
        "no `schemas` folder here or at {}; pass `--schemas DIR` (a folder of fal OpenAPI \
         documents), or run `falx mock` (`cargo install fal-cli`), which carries the whole \
         catalogue",
        built_from.display()
    ))
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = Args::parse().mock;
    if args.schemas.is_none() {
        match default_schemas() {
            Ok(dir) => args.schemas = Some(dir),
            Err(e) => {
                eprintln!("fal-mock: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    serve(args, Box::new(|| Ok(Vec::new()))).await
}
