//! The `bodyzone segment` contract: mask files, directories, effects and errors.

mod common;

use std::path::{Path, PathBuf};

use common::{bodyzone, exits_with, shared_fixture, stderr, succeeds};

fn fixture(name: &str) -> PathBuf {
    shared_fixture("tfjs-models").join(name)
}

#[test]
fn mask_is_8_bit_grey_at_the_input_size() {
    let dir = tempfile::tempdir().unwrap();
    let mask = dir.path().join("mask.png");
    let overlay = dir.path().join("overlay.png");
    succeeds(
        bodyzone()
            .arg("segment")
            .arg(fixture("three_people.jpg"))
            .args(["--model", "landscape", "--mask"])
            .arg(&mask)
            .arg("--overlay")
            .arg(&overlay),
    );
    let mask = image::open(&mask).unwrap();
    assert_eq!(mask.color(), image::ColorType::L8);
    assert_eq!((mask.width(), mask.height()), (1049, 861));
    assert_eq!(image::open(&overlay).unwrap().width(), 1049);
}

#[test]
fn a_directory_gives_a_directory_of_masks() {
    let input = tempfile::tempdir().unwrap();
    for name in ["three_people.jpg", "image_to_tensor_input.jpg"] {
        std::fs::copy(fixture(name), input.path().join(name)).unwrap();
    }
    std::fs::write(input.path().join("notes.txt"), "not an image").unwrap();
    let out = tempfile::tempdir().unwrap();
    let masks = out.path().join("masks");
    let background = fixture("image_to_tensor_input.jpg");
    succeeds(
        bodyzone()
            .arg("segment")
            .arg(input.path())
            .arg("--mask")
            .arg(&masks)
            .arg("--overlay")
            .arg(out.path().join("overlays"))
            .arg(format!("--effect=replace:{}", background.display())),
    );
    let mut names: Vec<_> = std::fs::read_dir(&masks)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["image_to_tensor_input.png", "three_people.png"]);
    assert!(out.path().join("overlays/three_people.png").is_file());
}

fn fails_naming(input: &Path, what: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mask = dir.path().join("mask.png");
    let out = exits_with(
        bodyzone()
            .arg("segment")
            .arg(input)
            .arg("--mask")
            .arg(&mask),
        2,
    );
    let stderr = stderr(&out);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains(&input.display().to_string()) && stderr.contains(what),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing written"
    );
}

#[test]
fn a_missing_file_is_named_with_exit_code_2() {
    fails_naming(Path::new("/no/such/picture.jpg"), "No such file");
}

#[test]
fn a_non_image_is_named_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("photo.jpg");
    std::fs::write(&fake, b"\xff\xd8 this is not really a JPEG").unwrap();
    fails_naming(&fake, "not a readable image");
}

#[test]
fn a_truncated_png_is_named_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("cut.png");
    let mut bytes = Vec::new();
    image::RgbImage::from_pixel(64, 64, image::Rgb([9, 9, 9]))
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .unwrap();
    std::fs::write(&png, &bytes[..bytes.len() / 2]).unwrap();
    fails_naming(&png, "not a readable image");
}
