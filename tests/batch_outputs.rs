//! Batch outputs and hostile files (issue 13): outputs written through devices, FIFOs and
//! symlinks and never over an input, pictures refused from a header claiming too many pixels,
//! cut-off pictures decoded with a warning, and a directory with a bad file going on past it.

use std::ffi::OsStr;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs bodyzone; its exit code and stderr.
fn bodyzone<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bodyzone"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// A 96×128 picture, a light figure on a dark background, in the format `path`'s extension names.
fn picture(path: &Path) -> PathBuf {
    image::RgbImage::from_fn(96, 128, |x, y| {
        let inside = (32..64).contains(&x) && y > 16;
        image::Rgb(if inside {
            [220, 180, 150]
        } else {
            [30, 40, 50]
        })
    })
    .save(path)
    .unwrap();
    path.to_path_buf()
}

fn assert_fails(args: &[&OsStr], code: i32, says: &[&str]) -> String {
    let (status, stderr) = bodyzone(args);
    assert_eq!(status, Some(code), "{stderr}");
    for what in says {
        assert!(stderr.contains(what), "{what:?} not in {stderr:?}");
    }
    stderr
}

#[test]
fn a_device_fifo_or_symlink_output_is_written_through_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let photo = picture(&dir.path().join("photo.png"));
    let fifo = dir.path().join("overlay.fifo");
    let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let reader = std::thread::spawn({
        let fifo = fifo.clone();
        move || std::fs::read(fifo).unwrap()
    });
    let (status, stderr) = bodyzone([
        "segment".as_ref(),
        photo.as_os_str(),
        "--mask".as_ref(),
        "/dev/null".as_ref(),
        "--overlay".as_ref(),
        fifo.as_os_str(),
    ]);
    assert_eq!(status, Some(0), "{stderr}");
    let sent = image::load_from_memory(&reader.join().unwrap()).unwrap();
    assert_eq!((sent.width(), sent.height()), (96, 128));
    let null = std::fs::symlink_metadata("/dev/null").unwrap();
    assert!(null.file_type().is_char_device());
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );

    std::fs::create_dir(dir.path().join("masks")).unwrap();
    let link = dir.path().join("latest.png");
    std::os::unix::fs::symlink("masks/photo.png", &link).unwrap();
    let (status, stderr) = bodyzone([
        "segment".as_ref(),
        photo.as_os_str(),
        "--mask".as_ref(),
        link.as_os_str(),
    ]);
    assert_eq!(status, Some(0), "{stderr}");
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    let mask = image::open(dir.path().join("masks/photo.png")).unwrap();
    assert_eq!(mask.color(), image::ColorType::L8);
}

#[test]
fn an_output_that_is_an_input_is_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let photo = picture(&dir.path().join("photo.png"));
    let before = std::fs::read(&photo).unwrap();
    let link = dir.path().join("link.png");
    std::os::unix::fs::symlink(&photo, &link).unwrap();
    let mask = dir.path().join("mask.png");
    for (flag, out) in [("--mask", &photo), ("--overlay", &link)] {
        let mut args = vec!["segment".as_ref(), photo.as_os_str()];
        if flag == "--overlay" {
            args.extend(["--mask".as_ref(), mask.as_os_str()]);
        }
        args.extend([flag.as_ref(), out.as_os_str()]);
        let stderr = assert_fails(&args, 2, &["would overwrite the input", flag]);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
    assert_eq!(std::fs::read(&photo).unwrap(), before);
    assert!(!mask.exists(), "nothing written");

    // A directory segmented into itself: a.png's mask would be a.png.
    let frames = dir.path().join("frames");
    std::fs::create_dir(&frames).unwrap();
    picture(&frames.join("a.png"));
    let args = [
        "segment".as_ref(),
        frames.as_os_str(),
        "--mask".as_ref(),
        frames.as_os_str(),
    ];
    assert_fails(
        &args,
        2,
        &["a.png: --mask for", "would overwrite the input"],
    );

    let json = dir.path().join("poses.json");
    let args = [
        "pose".as_ref(),
        photo.as_os_str(),
        "--json".as_ref(),
        photo.as_os_str(),
    ];
    assert_fails(&args, 2, &["--json would overwrite the input"]);
    // Frame masks are numbered: the first frame's mask would be the first frame.
    let sequence = dir.path().join("sequence");
    std::fs::create_dir(&sequence).unwrap();
    picture(&sequence.join("00000.png"));
    let args = [
        "pose".as_ref(),
        sequence.as_os_str(),
        "--json".as_ref(),
        json.as_os_str(),
        "--mask-dir".as_ref(),
        sequence.as_os_str(),
    ];
    assert_fails(
        &args,
        2,
        &["00000.png: --mask-dir for", "would overwrite the input"],
    );
    assert!(!json.exists());
}

#[test]
fn outputs_colliding_with_each_other_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let frames = dir.path().join("frames");
    std::fs::create_dir(&frames).unwrap();
    picture(&frames.join("a.png"));
    picture(&frames.join("a.jpg"));
    let out = dir.path().join("out");
    let args = [
        "segment".as_ref(),
        frames.as_os_str(),
        "--mask".as_ref(),
        out.as_os_str(),
    ];
    assert_fails(
        &args,
        2,
        &["a.png: written twice", "a.jpg and by --mask for"],
    );
    std::fs::remove_file(frames.join("a.jpg")).unwrap();
    let args = [
        "segment".as_ref(),
        frames.as_os_str(),
        "--mask".as_ref(),
        out.as_os_str(),
        "--overlay".as_ref(),
        out.as_os_str(),
    ];
    assert_fails(
        &args,
        2,
        &["written twice, by --mask for", "and by --overlay for"],
    );
    assert!(!out.exists(), "checked before the output directory is made");
}

/// A real PNG whose header says `width × height` (its CRC fixed), with 8×8 pixels of data.
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut png = Vec::new();
    image::GrayImage::new(8, 8)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    assert_eq!(&png[12..16], b"IHDR");
    png[16..20].copy_from_slice(&width.to_be_bytes());
    png[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A real baseline JPEG whose frame header says `width × height`, with 8×8 pixels of data.
fn jpeg_claiming(width: u16, height: u16) -> Vec<u8> {
    let mut jpeg = Vec::new();
    image::RgbImage::new(8, 8)
        .write_to(
            &mut std::io::Cursor::new(&mut jpeg),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    let sof = jpeg.windows(2).position(|m| m == [0xFF, 0xC0]).unwrap();
    jpeg[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    jpeg[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    jpeg
}

#[test]
fn a_header_claiming_a_huge_picture_is_refused_without_allocating_it() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("huge.png");
    std::fs::write(&png, png_claiming(100_000, 100_000)).unwrap();
    assert!(std::fs::metadata(&png).unwrap().len() < 400);
    let jpeg = dir.path().join("huge.jpg");
    std::fs::write(&jpeg, jpeg_claiming(60_000, 60_000)).unwrap();
    let mask = dir.path().join("mask.png");
    for (path, size) in [(&png, "100000×100000"), (&jpeg, "60000×60000")] {
        let args = [
            "segment".as_ref(),
            path.as_os_str(),
            "--mask".as_ref(),
            mask.as_os_str(),
        ];
        let name = path.display().to_string();
        let says = [name.as_str(), size, "over the limit of 40000000 pixels"];
        assert_fails(&args, 2, &says);
        let json = dir.path().join("poses.json");
        let args = [
            "pose".as_ref(),
            path.as_os_str(),
            "--json".as_ref(),
            json.as_os_str(),
        ];
        assert_fails(&args, 2, &says);
    }
    // The limit is the user's: a 96×128 picture is 12288 pixels.
    let small = picture(&dir.path().join("small.png"));
    let args = [
        "segment".as_ref(),
        small.as_os_str(),
        "--mask".as_ref(),
        mask.as_os_str(),
        "--max-pixels".as_ref(),
        "12000".as_ref(),
    ];
    assert_fails(
        &args,
        2,
        &["96×128 pixels is over the limit of 12000 pixels"],
    );
    assert!(!mask.exists());
}

#[test]
fn a_cut_off_jpeg_is_segmented_with_a_warning_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let whole = std::fs::read(picture(&dir.path().join("whole.jpg"))).unwrap();
    let cut = dir.path().join("cut.jpg");
    std::fs::write(&cut, &whole[..whole.len() * 2 / 3]).unwrap();
    let mask = dir.path().join("mask.png");
    let (status, stderr) = bodyzone([
        "segment".as_ref(),
        cut.as_os_str(),
        "--mask".as_ref(),
        mask.as_os_str(),
    ]);
    assert_eq!(status, Some(0), "{stderr}");
    assert!(
        stderr.contains("WARN")
            && stderr.contains(&cut.display().to_string())
            && stderr.contains("Premature end of JPEG file"),
        "{stderr}"
    );
    let mask = image::open(&mask).unwrap();
    assert_eq!((mask.width(), mask.height()), (96, 128));
}

#[test]
fn a_directory_goes_on_past_a_bad_file_and_lists_every_failure() {
    let dir = tempfile::tempdir().unwrap();
    let frames = dir.path().join("frames");
    std::fs::create_dir(&frames).unwrap();
    picture(&frames.join("1_good.png"));
    let whole = std::fs::read(picture(&frames.join("2_cut.webp"))).unwrap();
    std::fs::write(frames.join("2_cut.webp"), &whole[..whole.len() / 2]).unwrap();
    std::fs::write(frames.join("3_huge.png"), png_claiming(100_000, 100_000)).unwrap();
    picture(&frames.join("4_good.jpg"));
    let masks = dir.path().join("masks");
    let args = [
        "segment".as_ref(),
        frames.as_os_str(),
        "--mask".as_ref(),
        masks.as_os_str(),
    ];
    let stderr = assert_fails(
        &args,
        2,
        &[
            "2_cut.webp: not a readable image",
            "3_huge.png: 100000×100000 pixels",
            "2 of 4 inputs failed",
        ],
    );
    let mut written: Vec<_> = std::fs::read_dir(&masks)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    written.sort();
    assert_eq!(written, ["1_good.png", "4_good.png"], "{stderr}");

    let json = dir.path().join("poses.json");
    let args = [
        "pose".as_ref(),
        frames.as_os_str(),
        "--json".as_ref(),
        json.as_os_str(),
    ];
    assert_fails(
        &args,
        2,
        &["2_cut.webp", "3_huge.png", "2 of 4 inputs failed"],
    );
    let frames: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let numbers: Vec<u64> = frames
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["frame"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [0, 3], "the good frames keep their numbers");
}
