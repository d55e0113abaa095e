//! `bodyzone bench`: per-stage timings of a model on a 1280×720 frame, for people and for
//! `bench/compare.sh`, which parses `--json`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use bodyzone::bench::{self, BenchConfig, Report, Summary};
use bodyzone::model::profile::{NodeTime, by_op};
use bodyzone::model::{ModelKind, Precision, quantized};

#[derive(clap::Args)]
pub struct Args {
    /// landscape, general, pose-lite or pose-full.
    #[arg(long, default_value = "landscape", value_parser = |s: &str| ModelKind::parse_among(s, &bench::MODELS))]
    model: ModelKind,
    /// f32, f16 or int8 (the 1×1 convolutions in 8 bits, the rest f32; the report's `onnx` is
    /// then ONNX Runtime's int8 file of the same model).
    #[arg(long, default_value = "f32")]
    precision: Precision,
    /// Threads for tract's matrix products.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Timed frames (after the warm-up).
    #[arg(long, default_value_t = 200)]
    iters: usize,
    /// Untimed frames first.
    #[arg(long, default_value_t = 20)]
    warmup: usize,
    /// The frame to time, any size; default: a synthetic 1280×720 scene with a standing figure.
    #[arg(long)]
    image: Option<PathBuf>,
    /// Also write the report as JSON to this file (`-` for standard output, without the table).
    #[arg(long, value_name = "OUT")]
    json: Option<PathBuf>,
    /// Instead of the stages, time every node of the model's optimised plan (tract ops and ours)
    /// and print the totals per op and the slowest nodes.
    #[arg(long, conflicts_with = "json")]
    profile: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let (Some(image), Some(json)) = (&args.image, &args.json) {
        let report = bodyzone::files::PlannedOutput {
            path: json.clone(),
            by: "--json".into(),
        };
        bodyzone::files::check_outputs(&[image], &[report])?;
    }
    let image = args
        .image
        .as_deref()
        .map(bodyzone::files::load_rgb)
        .transpose()?;
    let config = BenchConfig {
        model: args.model,
        precision: args.precision,
        threads: args.threads,
        warmup: args.warmup,
        iters: args.iters,
        image,
    };
    if args.profile {
        let times = bench::profile(&config)
            .with_context(|| format!("profiling {} {}", args.model.name(), args.precision))?;
        print_profile(&times)?;
        return Ok(ExitCode::SUCCESS);
    }
    let report = bench::run(&config)
        .with_context(|| format!("benchmarking {} {}", args.model.name(), args.precision))?;
    match args.json.as_deref() {
        Some(path) if path.as_os_str() == "-" => {
            let mut out = std::io::stdout().lock();
            serde_json::to_writer(&mut out, &report)?;
            writeln!(out)?;
        }
        Some(path) => {
            bodyzone::files::write_atomic(path, |out| {
                serde_json::to_writer_pretty(&mut *out, &report)?;
                writeln!(out)
            })?;
            print_table(&report)?;
        }
        None => print_table(&report)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(report: &Report) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    let p = &report.platform;
    writeln!(
        out,
        "{} {} ({}), {} thread(s), {} frames of {}×{}",
        report.model,
        report.precision,
        report.onnx,
        report.threads,
        report.iters,
        report.frame.0,
        report.frame.1
    )?;
    let detected: Vec<&str> = p
        .cpu_features
        .iter()
        .filter(|f| f.detected)
        .map(|f| f.name)
        .collect();
    writeln!(
        out,
        "{}: cpu {}; tract isa {}",
        p.target,
        detected.join(","),
        p.tract.isa
    )?;
    for k in p.tract.matmul.iter().chain(&p.tract.routines) {
        writeln!(out, "  {:<16} {}", k.function, k.kernel)?;
    }
    if report.precision == Precision::Int8.to_string() {
        writeln!(
            out,
            "  {:<16} {}",
            "int8 1×1 conv",
            quantized::kernel_name()
        )?;
    }
    writeln!(
        out,
        "{:<12} {:>10} {:>10} {:>10}",
        "stage", "median ms", "p10 ms", "p90 ms"
    )?;
    let s = &report.stages;
    let rows: [(&str, &Summary); 4] = [
        ("preprocess", &s.preprocess),
        ("inference", &s.inference),
        ("postprocess", &s.postprocess),
        ("end_to_end", &s.end_to_end),
    ];
    for (name, t) in rows {
        writeln!(
            out,
            "{name:<12} {:>10.3} {:>10.3} {:>10.3}",
            t.median_ms, t.p10_ms, t.p90_ms
        )?;
    }
    if let Some(p) = &report.pose_stages {
        writeln!(out, "pose pipeline:")?;
        let rows: [(&str, &Summary); 4] = [
            ("detector", &p.detector),
            ("warp", &p.warp),
            ("landmarks", &p.landmarks),
            ("decode", &p.decode),
        ];
        for (name, t) in rows {
            writeln!(
                out,
                "  {name:<10} {:>10.3} {:>10.3} {:>10.3}",
                t.median_ms, t.p10_ms, t.p90_ms
            )?;
        }
    }
    Ok(())
}

fn print_profile(times: &[NodeTime]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    let total: f64 = times.iter().map(|t| t.median.as_secs_f64() * 1e3).sum();
    writeln!(out, "sum of node medians {total:.3} ms")?;
    writeln!(out, "{:<28} {:>6} {:>10} {:>6}", "op", "nodes", "ms", "%")?;
    for (op, time, count) in by_op(times) {
        let ms = time.as_secs_f64() * 1e3;
        writeln!(
            out,
            "{op:<28} {count:>6} {ms:>10.3} {:>6.1}",
            100.0 * ms / total
        )?;
    }
    writeln!(out, "slowest nodes:")?;
    for t in times.iter().take(25) {
        writeln!(
            out,
            "  {:>8.3} ms  {:<24} {}",
            t.median.as_secs_f64() * 1e3,
            t.op,
            t.name
        )?;
    }
    Ok(())
}
