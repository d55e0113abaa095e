//! The `bodyzone` command line. Thin: each subcommand lives in `cli/<name>.rs`.

mod cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Person zones, fitness poses and rep counting with MediaPipe models on tract.
#[derive(Parser)]
#[command(name = "bodyzone", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Person-probability mask (Selfie Segmentation) of an image or a directory of images.
    Segment(cli::segment::Args),
    /// BlazePose keypoints, 3D keypoints and mask of an image, a video or a directory of frames.
    Pose(cli::pose::Args),
    /// The edge loop: frames in, zones, poses and reps out.
    Run(cli::run::Args),
    /// Runs the bundled squat clip with the default config.
    Demo(cli::demo::Args),
    /// Lists V4L2 cameras with their formats and sizes.
    Devices(cli::devices::Args),
    /// Checks models, camera, GPIO and display; prints a pass/fail table.
    Selftest(cli::selftest::Args),
    /// Per-stage timings of a model.
    Bench(cli::bench::Args),
    /// Build target, CPU features, tract kernels and embedded models.
    Info(cli::info::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Segment(args) => cli::segment::run(args),
        Command::Pose(args) => cli::pose::run(args),
        Command::Run(args) => cli::run::run(args),
        Command::Demo(args) => cli::demo::run(args),
        Command::Devices(args) => cli::devices::run(args),
        Command::Selftest(args) => cli::selftest::run(args),
        Command::Bench(args) => cli::bench::run(args),
        Command::Info(args) => cli::info::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            // One line per problem (a config with several lists each, in file order).
            for line in one_line(&err).lines() {
                if cli::run::json_logs() {
                    tracing::error!("{line}");
                } else {
                    eprintln!("bodyzone: {line}");
                }
            }
            if is_broken_pipe(&err) {
                // What a shell reports for a writer killed by SIGPIPE: the reader went away,
                // and whatever was still to be written (events) is lost, so never 0.
                return ExitCode::from(141);
            }
            // 2: bad input (file, config, device); other failures return their own code through Ok.
            ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line (a cause listing several problems keeps one line for
/// each). Library errors often repeat their source in their own message; a cause already spelled
/// out by the message before it is not printed again.
pub(crate) fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause
            .to_string()
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .join("\n");
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    line
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
