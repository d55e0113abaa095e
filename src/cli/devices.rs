//! `bodyzone devices`: the V4L2 cameras, their formats, sizes and frame rates.

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Also list nodes that cannot stream video (metadata, output, codec nodes).
    #[arg(long)]
    all: bool,
}

#[cfg(feature = "camera")]
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    use bodyzone::frame::PixelFormat;
    use bodyzone::source::list_devices;

    let devices = list_devices();
    if devices.is_empty() {
        println!("no /dev/video* devices");
        println!(
            "A Raspberry Pi CSI camera on Bookworm is a libcamera device: see `rpicam-hello --list-cameras`,"
        );
        println!(
            "then use `libcamerify bodyzone run …` or `--source stdin:yuv420:640x480` with rpicam-vid."
        );
        return Ok(ExitCode::SUCCESS);
    }
    for (path, info) in devices {
        let info = match info {
            Ok(info) => info,
            Err(err) => {
                println!("{}: {err}", path.display());
                continue;
            }
        };
        if !info.capture {
            if args.all {
                println!(
                    "{}: {} '{}' ({}) — not a capture node",
                    path.display(),
                    info.driver,
                    info.card,
                    info.bus
                );
            }
            continue;
        }
        println!(
            "{}: {} '{}' ({})",
            path.display(),
            info.driver,
            info.card,
            info.bus
        );
        for format in &info.formats {
            let note = if format.format.is_supported() {
                ""
            } else {
                "  (not supported by bodyzone)"
            };
            println!("  {} {}{note}", format.format, format.description);
            for size in &format.sizes {
                println!("    {size}");
            }
        }
        if !info.formats.iter().any(|f| f.format.is_supported()) {
            let names: Vec<String> = PixelFormat::SUPPORTED
                .iter()
                .map(|f| f.to_string())
                .collect();
            println!(
                "  no format bodyzone can convert (needs one of {})",
                names.join(", ")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(feature = "camera"))]
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!(
        "this bodyzone was built without the `camera` feature, so it cannot list V4L2 devices: \
         rebuild with `cargo build --features camera` (or use `v4l2-ctl --list-devices --list-formats-ext`)"
    )
}
