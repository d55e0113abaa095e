//! `bodyzone info`: what this binary was built as and what it finds on this machine.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use bodyzone::model::ModelKind;
use bodyzone::platform::{Kernel, Platform};
use serde::Serialize;

#[derive(clap::Args)]
pub struct Args {
    /// One JSON object instead of the human-readable report.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Info {
    version: &'static str,
    cargo_features: Vec<&'static str>,
    #[serde(flatten)]
    platform: Platform,
    models: Vec<ModelInfo>,
}

#[derive(Serialize)]
struct ModelInfo {
    name: String,
    /// `embedded`, `file` or `missing`.
    source: &'static str,
    /// Size of the embedded bytes or of the file found.
    bytes: Option<u64>,
    /// The file found, or for a missing model every place looked in.
    paths: Vec<PathBuf>,
}

impl ModelInfo {
    fn of(kind: ModelKind) -> ModelInfo {
        let name = kind.to_string();
        if let Some(bytes) = kind.embedded() {
            return ModelInfo {
                name,
                source: "embedded",
                bytes: Some(bytes.len() as u64),
                paths: vec![],
            };
        }
        let tried = kind.search_paths();
        match tried.iter().find(|p| p.is_file()) {
            Some(path) => ModelInfo {
                name,
                source: "file",
                bytes: path.metadata().ok().map(|m| m.len()),
                paths: vec![path.clone()],
            },
            None => ModelInfo {
                name,
                source: "missing",
                bytes: None,
                paths: tried,
            },
        }
    }
}

fn cargo_features() -> Vec<&'static str> {
    [
        ("camera", cfg!(feature = "camera")),
        ("cdev", cfg!(feature = "cdev")),
        ("rpi", cfg!(feature = "rpi")),
    ]
    .into_iter()
    .filter_map(|(name, on)| on.then_some(name))
    .collect()
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let info = Info {
        version: env!("CARGO_PKG_VERSION"),
        cargo_features: cargo_features(),
        platform: Platform::probe(),
        models: ModelKind::ALL.into_iter().map(ModelInfo::of).collect(),
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &info).context("writing JSON to stdout")?;
        writeln!(out)?;
    } else {
        write_report(&mut out, &info)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn write_report(out: &mut impl Write, info: &Info) -> std::io::Result<()> {
    let platform = &info.platform;
    writeln!(out, "bodyzone {}", info.version)?;
    let features = if info.cargo_features.is_empty() {
        "none".to_owned()
    } else {
        info.cargo_features.join(", ")
    };
    writeln!(out, "target         {}", platform.target)?;
    writeln!(out, "cargo features {features}")?;
    let compiled: Vec<_> = platform
        .cpu_features
        .iter()
        .filter(|f| f.compiled_in)
        .map(|f| f.name)
        .collect();
    if !compiled.is_empty() {
        writeln!(out, "compiled for   {}", compiled.join(", "))?;
    }
    let cpu: Vec<_> = platform
        .cpu_features
        .iter()
        .map(|f| format!("{} {}", f.name, if f.detected { "yes" } else { "no" }))
        .collect();
    writeln!(out, "cpu            {}", cpu.join(", "))?;
    writeln!(out, "tract isa      {}", platform.tract.isa)?;
    write_kernels(out, "tract matmul", &platform.tract.matmul)?;
    write_kernels(out, "tract f32 ops", &platform.tract.routines)?;
    writeln!(out, "models")?;
    for model in &info.models {
        let detail = match (model.source, model.bytes, model.paths.first()) {
            ("embedded", Some(bytes), _) => format!("embedded, {}", kib(bytes)),
            ("file", bytes, Some(path)) => {
                format!(
                    "{}{}",
                    path.display(),
                    bytes.map(|b| format!(", {}", kib(b))).unwrap_or_default()
                )
            }
            _ => format!(
                "missing (looked in {})",
                model
                    .paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        writeln!(out, "  {:<34} {detail}", model.name)?;
    }
    Ok(())
}

fn write_kernels(out: &mut impl Write, title: &str, kernels: &[Kernel]) -> std::io::Result<()> {
    writeln!(out, "{title}")?;
    for kernel in kernels {
        writeln!(out, "  {:<34} {}", kernel.function, kernel.kernel)?;
    }
    Ok(())
}

fn kib(bytes: u64) -> String {
    format!("{} KiB", bytes.div_ceil(1024))
}
