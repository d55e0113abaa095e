//! `bodyzone selftest` on a machine without the hardware: a config with a PNG display and no
//! camera passes; a missing camera and a missing GPIO chip each give a failing row and exit
//! code 1; a config that cannot be read is exit code 2.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{assert_shows_a_picture, bodyzone, exits_with, stderr, stdout, write_config};

const ZONE: &str = r#"
[[zone]]
name = "mat"
polygon = [[0.2, 0.65], [0.8, 0.65], [0.85, 0.9], [0.15, 0.9]]
"#;

fn selftest(dir: &Path, config: &str) -> Output {
    let path = write_config(dir, &format!("{config}{ZONE}"));
    bodyzone()
        .args(["selftest", "--config"])
        .arg(path)
        .output()
        .unwrap()
}

/// The columns (result, ms, detail) of the row named `name`; columns are apart by two or more
/// spaces.
fn row(output: &Output, name: &str) -> Vec<String> {
    let stdout = stdout(output);
    stdout
        .lines()
        .map(|line| {
            line.split("  ")
                .map(str::trim)
                .filter(|column| !column.is_empty())
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .find(|columns| columns[0] == name)
        .map(|columns| columns[1..].to_vec())
        .unwrap_or_else(|| panic!("no row {name:?} in:\n{stdout}"))
}

#[test]
fn models_and_a_png_display_pass() {
    let dir = tempfile::tempdir().unwrap();
    let png: PathBuf = dir.path().join("status.png");
    let output = selftest(
        dir.path(),
        &format!(
            "[model]\nsegmentation = \"landscape\"\npose = \"lite\"\n\
             [output.display]\nkind = \"png\"\npath = {png:?}\n"
        ),
    );
    let stdout = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    for model in ["selfie_segmentation_landscape", "pose_landmark_lite"] {
        let row = row(&output, &format!("model {model}"));
        assert_eq!(row[0], "pass", "{row:?}");
        assert!(row[1].parse::<u64>().is_ok(), "{row:?}");
        assert!(row[2].starts_with("mask IoU "), "{row:?}");
    }
    assert_eq!(row(&output, "camera")[0], "skip");
    assert_eq!(
        row(&output, &format!("display {}", png.display()))[0],
        "pass"
    );
    assert_shows_a_picture(&png, (640, 480));
    assert!(stdout.ends_with("all checks passed\n"), "{stdout}");
}

#[test]
fn a_missing_camera_and_gpio_chip_fail_with_exit_code_1() {
    let dir = tempfile::tempdir().unwrap();
    let output = selftest(
        dir.path(),
        "[model]\nsegmentation = \"landscape\"\npose = \"off\"\n\
         [source]\ninput = \"/dev/video99\"\nframe_timeout_ms = 500\n\
         [[output.gpio]]\nchip = \"/dev/gpiochip99\"\nline = 3\non = \"zone:mat\"\n",
    );
    let stdout = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert_eq!(
        row(&output, "model selfie_segmentation_landscape")[0],
        "pass"
    );
    let camera = row(&output, "camera /dev/video99");
    assert_eq!(camera[0], "FAIL");
    assert!(camera[2].contains("/dev/video99"), "{camera:?}");
    let gpio = row(&output, "gpio[0] /dev/gpiochip99 line 3");
    assert_eq!(gpio[0], "FAIL");
    assert!(gpio[2].contains("/dev/gpiochip99"), "{gpio:?}");
    assert!(stdout.ends_with("2 check(s) failed\n"), "{stdout}");
}

#[test]
fn an_unreadable_config_is_exit_code_2() {
    let output = exits_with(
        bodyzone().args(["selftest", "--config", "/nonexistent/bodyzone.toml"]),
        2,
    );
    assert!(stderr(&output).contains("/nonexistent/bodyzone.toml"));
}
