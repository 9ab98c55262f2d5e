//! `cargo xtask feature-flips`: turning on a runtime feature (`mock`, `webhook`, `realtime`,
//! `proxy`) must never recompile the catalogue.
//!
//! The catalogue (fal-models-core and the shard crates) depends on serde, serde_json and
//! schemars only. A runtime feature that pulls in a crate which turns on another feature of one
//! of those (axum turns on `serde_json/raw_value` and `serde_core/default`) changes their
//! fingerprint, and with it every shard's: minutes of rebuild for a feature flip. The fix lives in
//! the manifests (fal-models-core asks for the same features itself); this command proves it.
//!
//! It builds fal-models with a base feature set, then with each runtime feature added, in the
//! same target folder, and reads cargo's `--message-format json`: every `compiler-artifact` of
//! fal-models-core or a shard crate must be `"fresh": true`. A small family keeps it cheap; what
//! is measured is the catalogue's crates being reused, which does not depend on their size.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use anyhow::{Context as _, bail};

use crate::workspace_root;

#[derive(clap::Args)]
pub struct Args {
    /// Features of the first build (with `--no-default-features`); `default` for fal-models'
    /// default features.
    #[arg(long, default_value = "sora")]
    base: String,
    /// Runtime features added one at a time to the base.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "mock,webhook,realtime,proxy"
    )]
    flip: Vec<String>,
    /// Cargo target folder (default: this workspace's target/).
    #[arg(long)]
    target_dir: Option<std::path::PathBuf>,
}

/// What one build compiled (not fresh), by package name.
struct Built {
    seconds: f64,
    recompiled: Vec<String>,
}

fn is_catalogue(package: &str) -> bool {
    package == "fal-models-core" || package.starts_with("fal-models-shard-")
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let root = workspace_root();
    let target = args.target_dir.unwrap_or_else(|| root.join("target"));
    let build = |features: &str| -> anyhow::Result<Built> {
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.current_dir(&root)
            .args(["build", "-p", "fal-models", "--message-format", "json"])
            .arg("--target-dir")
            .arg(&target)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if features != "default" {
            cmd.args(["--no-default-features", "--features", features]);
        }
        let started = Instant::now();
        let mut child = cmd.spawn().context("running cargo build")?;
        let mut recompiled = Vec::new();
        let stdout = child.stdout.take().expect("piped");
        for line in BufReader::new(stdout).lines() {
            let line = line?;
            let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if msg["reason"] == "compiler-message" {
                if let Some(rendered) = msg["message"]["rendered"].as_str() {
                    eprint!("{rendered}");
                }
            }
            if msg["reason"] != "compiler-artifact" || msg["fresh"] != false {
                continue;
            }
            // package_id: `path+file:///.../shards/shard-2#fal-models-shard-2@0.1.0`, or
            // `path+file:///.../fal-models-core#0.1.0` when the folder is the package's name,
            // or the older `name version (source)` form.
            let id = msg["package_id"].as_str().unwrap_or_default();
            let name = match id.rsplit_once('#') {
                Some((_, tail)) if tail.contains('@') => tail.split('@').next().unwrap_or(tail),
                Some((path, _)) => path.rsplit('/').next().unwrap_or(path),
                None => id.split_whitespace().next().unwrap_or(id),
            };
            let kind = msg["target"]["kind"][0].as_str().unwrap_or("");
            recompiled.push(format!("{name} ({kind})"));
        }
        if !child.wait()?.success() {
            bail!("cargo build with features `{features}` failed");
        }
        Ok(Built {
            seconds: started.elapsed().as_secs_f64(),
            recompiled,
        })
    };

    let base = build(&args.base)?;
    println!(
        "feature-flips: base `{}`: {:.1} s, {} units compiled",
        args.base,
        base.seconds,
        base.recompiled.len()
    );
    let mut failed = false;
    for flip in &args.flip {
        let features = if args.base == "default" {
            format!("default,{flip}")
        } else {
            format!("{},{flip}", args.base)
        };
        let built = build(&features)?;
        let catalogue: Vec<_> = built
            .recompiled
            .iter()
            .filter(|unit| is_catalogue(unit.split(' ').next().unwrap_or("")))
            .collect();
        println!(
            "feature-flips: + `{flip}`: {:.1} s, {} units compiled, catalogue crates recompiled: {}{}",
            built.seconds,
            built.recompiled.len(),
            catalogue.len(),
            if catalogue.is_empty() {
                String::new()
            } else {
                format!(
                    " ({})",
                    catalogue
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        );
        if !catalogue.is_empty() {
            failed = true;
            let others: Vec<_> = built.recompiled.iter().map(String::as_str).collect();
            println!("  compiled: {}", others.join(", "));
        }
        // Back to the base: switching back must not rebuild the catalogue either.
        let back = build(&args.base)?;
        let catalogue_back = back
            .recompiled
            .iter()
            .filter(|unit| is_catalogue(unit.split(' ').next().unwrap_or("")))
            .count();
        if catalogue_back > 0 {
            failed = true;
            println!(
                "feature-flips: back to `{}`: catalogue crates recompiled: {catalogue_back}",
                args.base
            );
        }
    }
    if failed {
        eprintln!(
            "error: a runtime feature changes the catalogue's dependency features; make \
             fal-models-core ask for the same features itself (see its Cargo.toml)"
        );
        return Ok(ExitCode::FAILURE);
    }
    println!("feature-flips: no runtime feature recompiles fal-models-core or a shard crate");
    Ok(ExitCode::SUCCESS)
}
