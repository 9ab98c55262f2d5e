//! `cargo xtask bench-build`: what the catalogue costs a user to compile, measured.
//!
//! Copies the workspace (sources and schemas) to a scratch folder, builds
//! fal-models' dependencies once, then times in the same run, each time after cleaning
//! fal-models, its core and its shard crates so that only they are compiled:
//!
//! 1. the runtime alone (`--no-default-features`): the baseline;
//! 2. the whole catalogue (default features): core, the shards in parallel, the facade;
//! 3. one family over the runtime (`--features <family>`): one shard with one family;
//! 4. an incremental rebuild after touching one endpoint's schema and regenerating;
//! 5. the whole catalogue regenerated into fewer shard crates (`--compare-shards`, 1 by
//!    default: everything in one crate, as before the split), for the split's effect;
//! 6. with `--cold`, a new user's first build: an empty binary crate that depends on
//!    fal-models, built from an empty target folder, dependencies included, once with
//!    `default-features = false` (the baseline of that pair) and once with the defaults.
//!
//! Each step's peak RSS is the largest resident set of cargo's process tree (one rustc), read
//! from `wait4`, with the CPU time of the tree (user + system): CPU over wall time says how
//! much the build ran in parallel. Figures are printed, never asserted: the machine may be
//! shared; the ratios against the baseline of the same run are the robust part.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use anyhow::{Context as _, bail};

use crate::workspace_root;

#[derive(clap::Args)]
pub struct Args {
    /// Scratch folder for the workspace copy (default: target/bench-build).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Cargo target folder (default: this workspace's target/, so its already-built
    /// dependencies are reused; fal-models there is cleaned and rebuilt by the next build).
    #[arg(long)]
    target_dir: Option<PathBuf>,
    /// The family built alone over the runtime (a cargo feature of fal-models).
    #[arg(long, default_value = "sora")]
    family: String,
    /// The endpoint whose schema is touched for the incremental rebuild.
    #[arg(long, default_value = "fal-ai/sora-2/text-to-video")]
    touch: String,
    /// Skip the incremental step.
    #[arg(long)]
    no_incremental: bool,
    /// Also build the whole catalogue regenerated into this many shard crates (0: skip).
    #[arg(long, default_value_t = 1)]
    compare_shards: usize,
    /// Also time a new user's first build, dependencies included (two builds from nothing).
    #[arg(long)]
    cold: bool,
}

/// One measured cargo run.
struct Measured {
    seconds: f64,
    cpu_seconds: f64,
    peak_rss_mib: f64,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let root = workspace_root();
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| root.join("target/bench-build"));
    let ws = out.join("ws");
    let target = args
        .target_dir
        .clone()
        .unwrap_or_else(|| root.join("target"));
    println!("bench-build: copying the workspace to {}", ws.display());
    copy_workspace(&root, &ws)?;
    let manifest = ws.join("Cargo.toml");
    let load = || {
        std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|l| l.split_whitespace().next().map(str::to_owned))
            .unwrap_or_default()
    };
    let load_before = load();

    println!("bench-build: building the dependencies (not timed)");
    cargo(
        &manifest,
        &target,
        &[
            "build",
            "--lib",
            "-p",
            "fal-models",
            "--no-default-features",
        ],
        false,
    )?;

    let step = |name: &str, features: &[&str], incremental: bool| -> anyhow::Result<Measured> {
        println!("bench-build: {name}");
        let mut clean = vec![
            "clean".to_owned(),
            "-p".into(),
            "fal-models".into(),
            "-p".into(),
            "fal-models-core".into(),
        ];
        for shard in shard_packages(&ws)? {
            clean.extend(["-p".to_owned(), shard]);
        }
        cargo(
            &manifest,
            &target,
            &clean.iter().map(String::as_str).collect::<Vec<_>>(),
            false,
        )?;
        let mut a = vec!["build", "--lib", "-p", "fal-models"];
        a.extend_from_slice(features);
        cargo(&manifest, &target, &a, incremental)
    };
    let runtime = step("runtime only (baseline)", &["--no-default-features"], false)?;
    let catalogue = step("whole catalogue", &[], false)?;
    let family_features = ["--no-default-features", "--features", args.family.as_str()];
    let family = step(
        &format!("family `{}` over the runtime", args.family),
        &family_features,
        false,
    )?;

    let mut incremental = None;
    if !args.no_incremental {
        // As a developer of this workspace works: incremental on, then one schema changes.
        let first = step("whole catalogue, incremental on (first build)", &[], true)?;
        let schema = crate::fetch::store::document_path(&ws.join("schemas"), &args.touch)?;
        let mut doc: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&schema)
                .with_context(|| format!("reading {}", schema.display()))?,
        )?;
        let about = doc
            .pointer_mut("/info/x-fal-metadata/about")
            .context("the touched document has no `about`")?;
        *about = serde_json::Value::String(format!(
            "{} (touched by bench-build)",
            about.as_str().unwrap_or_default()
        ));
        std::fs::write(&schema, crate::fetch::store::canonical(&doc))?;
        let started = Instant::now();
        if crate::regen::regenerate(&ws, &ws.join("schemas"), false)? != ExitCode::SUCCESS {
            bail!("regen of the scratch copy failed");
        }
        let regen_seconds = started.elapsed().as_secs_f64();
        println!(
            "bench-build: incremental rebuild after touching {}",
            args.touch
        );
        let rebuild = cargo(
            &manifest,
            &target,
            &["build", "--lib", "-p", "fal-models"],
            true,
        )?;
        incremental = Some((first, regen_seconds, rebuild));
    }

    let mut compared = None;
    if args.compare_shards > 0 {
        if crate::regen::regenerate_sharded(&ws, &ws.join("schemas"), false, args.compare_shards)?
            != ExitCode::SUCCESS
        {
            bail!(
                "regen of the scratch copy into {} shards failed",
                args.compare_shards
            );
        }
        let name = format!("whole catalogue in {} shard crate(s)", args.compare_shards);
        compared = Some((name.clone(), step(&name, &[], false)?));
    }

    let cold = if args.cold {
        Some((cold_build(&out, &ws, false)?, cold_build(&out, &ws, true)?))
    } else {
        None
    };

    let mut s = String::new();
    let ratio = |m: &Measured| {
        format!(
            "{:.1}x time, {:.1}x memory",
            m.seconds / runtime.seconds,
            m.peak_rss_mib / runtime.peak_rss_mib
        )
    };
    let _ = writeln!(
        s,
        "\ncatalogue split into {} shard crates (cargo xtask regen)",
        crate::regen::SHARDS
    );
    let _ = writeln!(
        s,
        "\nbuild budget (clean debug build of fal-models over its built dependencies; load average {load_before} before, {} after)",
        load()
    );
    let line = |s: &mut String, name: &str, m: &Measured, vs: bool| {
        let _ = writeln!(
            s,
            "  {name:<44} {:>7.1} s  cpu {:>6.1} s  peak RSS {:>6.0} MiB{}",
            m.seconds,
            m.cpu_seconds,
            m.peak_rss_mib,
            if vs {
                format!("  ({} of the baseline)", ratio(m))
            } else {
                String::new()
            }
        );
    };
    line(&mut s, "runtime only (baseline)", &runtime, false);
    line(
        &mut s,
        "whole catalogue (default features)",
        &catalogue,
        true,
    );
    line(
        &mut s,
        &format!("family `{}` over the runtime", args.family),
        &family,
        true,
    );
    let _ = writeln!(
        s,
        "  catalogue over the runtime: {:.1} s",
        catalogue.seconds - runtime.seconds
    );
    let _ = writeln!(
        s,
        "  family over the runtime:    {:.1} s",
        family.seconds - runtime.seconds
    );
    if let Some((first, regen_seconds, rebuild)) = &incremental {
        line(
            &mut s,
            "whole catalogue, incremental (first build)",
            first,
            true,
        );
        let _ = writeln!(s, "  touch {} + regen: {regen_seconds:.1} s", args.touch);
        line(&mut s, "incremental rebuild after it", rebuild, true);
    }
    if let Some((name, m)) = &compared {
        line(&mut s, name, m, true);
        let _ = writeln!(
            s,
            "  split into {} vs {}: {:.2}x wall time, {:.2}x peak RSS",
            crate::regen::SHARDS,
            args.compare_shards,
            catalogue.seconds / m.seconds,
            catalogue.peak_rss_mib / m.peak_rss_mib
        );
    }
    if let Some((runtime_cold, catalogue_cold)) = &cold {
        let _ = writeln!(
            s,
            "\nfirst build of a new user's crate (`cargo build` of an empty binary depending on fal-models, from an empty target folder, dependencies included)"
        );
        let cold_line = |s: &mut String, name: &str, m: &Measured| {
            let _ = writeln!(
                s,
                "  {name:<44} {:>7.1} s  cpu {:>6.1} s  peak RSS {:>6.0} MiB",
                m.seconds, m.cpu_seconds, m.peak_rss_mib
            );
        };
        cold_line(&mut s, "default-features = false (baseline)", runtime_cold);
        cold_line(&mut s, "default features (whole catalogue)", catalogue_cold);
        let _ = writeln!(
            s,
            "  default over the baseline: {:.1} s ({:.2}x)",
            catalogue_cold.seconds - runtime_cold.seconds,
            catalogue_cold.seconds / runtime_cold.seconds
        );
    }
    print!("{s}");
    Ok(ExitCode::SUCCESS)
}

/// A new user's first build: a binary crate of its own (outside the workspace) that depends on
/// the copied fal-models by path, built in a fresh target folder. The workspace's lock file is
/// copied so the dependencies are the versions CI tests. Built without incremental caches, as
/// cargo builds a crate from the registry.
fn cold_build(out: &Path, ws: &Path, default_features: bool) -> anyhow::Result<Measured> {
    let name = if default_features {
        "default features"
    } else {
        "default-features = false"
    };
    println!("bench-build: a new user's first build, {name}");
    let krate = out.join("first-build");
    let _ = std::fs::remove_dir_all(&krate);
    std::fs::create_dir_all(krate.join("src"))?;
    let dependency = format!(
        "fal-models = {{ path = {:?}{} }}",
        ws.join("fal-models"),
        if default_features {
            ""
        } else {
            ", default-features = false"
        }
    );
    std::fs::write(
        krate.join("Cargo.toml"),
        format!(
            "[package]\nname = \"first-build\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n[dependencies]\n{dependency}\n\n[workspace]\n"
        ),
    )?;
    std::fs::write(krate.join("src/main.rs"), "fn main() {}\n")?;
    std::fs::copy(ws.join("Cargo.lock"), krate.join("Cargo.lock"))?;
    let target = out.join("first-build-target");
    let _ = std::fs::remove_dir_all(&target);
    cargo(&krate.join("Cargo.toml"), &target, &["build"], false)
}

/// The packages of the shard crates in the workspace at `ws`.
fn shard_packages(ws: &Path) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    let dir = ws.join(crate::regen::SHARDS_DIR);
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if let Some(k) = name
            .strip_prefix("shard-")
            .and_then(|k| k.parse::<usize>().ok())
        {
            out.push(crate::regen::shard_package(k));
        }
    }
    out.sort();
    Ok(out)
}

/// Copies what building fal-models needs: the root manifest and lock file, fal-models, its
/// core and shard crates, fal-schema (a dependency of fal-models), the schemas (for the
/// regen steps). Other members are dropped.
fn copy_workspace(root: &Path, ws: &Path) -> anyhow::Result<()> {
    let _ = std::fs::remove_dir_all(ws);
    std::fs::create_dir_all(ws)?;
    let manifest = std::fs::read_to_string(root.join("Cargo.toml"))?;
    let members_line = manifest
        .lines()
        .find(|l| l.trim_start().starts_with("members"))
        .context("no workspace members line")?;
    let members = format!(
        "members = [\"fal-schema\", \"fal-models-core\", \"fal-models\", \"{}/*\"]",
        crate::regen::SHARDS_DIR
    );
    std::fs::write(
        ws.join("Cargo.toml"),
        manifest.replace(members_line, &members),
    )?;
    std::fs::copy(root.join("Cargo.lock"), ws.join("Cargo.lock"))?;
    for dir in [
        "fal-schema",
        "fal-models",
        "fal-models-core",
        crate::regen::SHARDS_DIR,
        "schemas",
    ] {
        copy_dir(&root.join(dir), &ws.join(dir))?;
    }
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let dest = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &dest)?;
        } else {
            std::fs::copy(entry.path(), &dest)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Runs cargo and measures its wall time and the peak RSS of its process tree.
fn cargo(
    manifest: &Path,
    target: &Path,
    args: &[&str],
    incremental: bool,
) -> anyhow::Result<Measured> {
    std::fs::create_dir_all(target)?;
    let log = target.join("bench-build-cargo.log");
    let log_file = std::fs::File::create(&log)?;
    let started = Instant::now();
    let child = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .arg("--manifest-path")
        .arg(manifest)
        .env("CARGO_TARGET_DIR", target)
        // A dependency is built without incremental caches, as cargo builds registry crates.
        .env("CARGO_INCREMENTAL", if incremental { "1" } else { "0" })
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .context("running cargo")?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: plain wait4 on our own child; the rusage struct is ours to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // wait4 reports the child's usage including its waited-for descendants (rustc): the peak
    // RSS is the largest process of the tree.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let seconds = started.elapsed().as_secs_f64();
    if rc != pid {
        bail!("waiting for cargo: {}", std::io::Error::last_os_error());
    }
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        bail!(
            "cargo {} failed:\n{}",
            args.join(" "),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let cpu_seconds = secs(usage.ru_utime) + secs(usage.ru_stime);
    Ok(Measured {
        seconds,
        cpu_seconds,
        peak_rss_mib: usage.ru_maxrss as f64 / 1024.0,
    })
}
