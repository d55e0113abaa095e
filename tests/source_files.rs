//! Still images, directories of images and the synthetic source, opened from `--source` strings.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bodyzone::frame::Frame;
use bodyzone::source::{
    self, FrameSource, ImageSource, OpenOptions, Realtime, SourceError, SourceSpec,
};
use image::{Rgb, RgbImage};

fn open(spec: &str) -> Result<Box<dyn FrameSource>, SourceError> {
    source::open(&spec.parse::<SourceSpec>()?, &OpenOptions::default())
}

fn write_png(path: &Path, value: u8) {
    RgbImage::from_pixel(4, 3, Rgb([value, 0, 0]))
        .save(path)
        .unwrap();
}

#[test]
fn directory_in_natural_order_with_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    for (name, value) in [
        ("frame10.png", 10),
        ("frame2.png", 2),
        ("frame1.jpg", 1),
        ("frame9.PNG", 9),
    ] {
        write_png(&dir.path().join(name), value);
    }
    std::fs::write(dir.path().join("notes.txt"), "not an image").unwrap();
    std::fs::create_dir(dir.path().join("sub.png")).unwrap();

    let listed = ImageSource::directory(dir.path(), 10.0).unwrap();
    let names: Vec<String> = listed
        .files()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["frame1.jpg", "frame2.png", "frame9.PNG", "frame10.png"]
    );

    let opts = OpenOptions {
        image_fps: 10.0,
        ..OpenOptions::default()
    };
    let spec = SourceSpec::Path(dir.path().into());
    let mut src = source::open(&spec, &opts).unwrap();
    assert_eq!(src.len_hint(), Some(4));
    let mut reds = Vec::new();
    while let Some(frame) = src.next_frame().unwrap() {
        assert_eq!(frame.timestamp, Duration::from_millis(100 * frame.sequence));
        reds.push(frame.to_rgb_image().unwrap().get_pixel(0, 0)[0]);
    }
    // JPEG shifts values a little; PNG is exact.
    assert!(reds[0] <= 3);
    assert_eq!(&reds[1..], [2, 9, 10]);
}

#[test]
fn single_image_is_one_frame() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one.png");
    write_png(&path, 200);
    let mut src = open(path.to_str().unwrap()).unwrap();
    let frame = src.next_frame().unwrap().unwrap();
    assert_eq!((frame.width, frame.height, frame.sequence), (4, 3, 0));
    assert_eq!(frame.timestamp, Duration::ZERO);
    assert!(src.next_frame().unwrap().is_none());
}

#[test]
fn bad_paths_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let err = open(empty.to_str().unwrap()).err().unwrap();
    assert!(
        matches!(&err, SourceError::NoImages { dir } if *dir == empty),
        "{err}"
    );

    let broken = dir.path().join("broken.png");
    std::fs::write(&broken, b"\x89PNG\r\n\x1a\n truncated").unwrap();
    let mut src = open(broken.to_str().unwrap()).unwrap();
    let err = src.next_frame().unwrap_err();
    assert!(
        err.to_string().starts_with(&broken.display().to_string()),
        "{err}"
    );

    let missing = dir.path().join("nope.png");
    let err = open(missing.to_str().unwrap()).err().unwrap();
    assert!(
        matches!(&err, SourceError::NotFound { path } if *path == missing),
        "{err}"
    );
}

#[test]
fn synthetic_source_is_deterministic_and_finite() {
    let collect = || {
        let mut src = open("synthetic:96x64@20:frames=5").unwrap();
        assert!(!src.is_live());
        std::iter::from_fn(move || src.next_frame().unwrap()).collect::<Vec<_>>()
    };
    let (a, b) = (collect(), collect());
    assert_eq!(a.len(), 5);
    assert_eq!(a, b);
    assert_eq!(a[4].timestamp, Duration::from_millis(200));
}

#[test]
fn realtime_keeps_order_and_content() {
    let opts = OpenOptions {
        realtime: true,
        ..OpenOptions::default()
    };
    let spec: SourceSpec = "synthetic:32x32@1000:frames=3".parse().unwrap();
    let mut src = source::open(&spec, &opts).unwrap();
    assert!(src.describe().ends_with("(realtime)"));
    let seqs: Vec<u64> = std::iter::from_fn(|| src.next_frame().unwrap())
        .map(|f| f.sequence)
        .collect();
    assert_eq!(seqs, [0, 1, 2]);
}

#[test]
fn cameras_that_do_not_exist_are_named() {
    let err = open("v4l2:/dev/video-bodyzone-test:fmt=YUYV")
        .err()
        .unwrap();
    let msg = err.to_string();
    assert!(msg.contains("/dev/video-bodyzone-test"), "{msg}");
    assert!(!err.is_transient());
}

/// Two frames 30 s apart in the file's time.
struct Gap(u64);

impl FrameSource for Gap {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        self.0 += 1;
        let image = RgbImage::new(4, 4);
        Ok((self.0 <= 2)
            .then(|| Frame::from_rgb(image, Duration::from_secs(30 * (self.0 - 1)), self.0)))
    }

    fn describe(&self) -> String {
        "gap".into()
    }

    fn is_live(&self) -> bool {
        false
    }
}

#[test]
fn a_realtime_wait_ends_when_asked_to_stop() {
    let stop = Arc::new(AtomicBool::new(false));
    let mut source = Realtime::new(Gap(0), stop.clone());
    source.next_frame().unwrap().unwrap();
    let asked = stop.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        asked.store(true, Ordering::Relaxed);
    });
    let started = Instant::now();
    source.next_frame().unwrap().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_huge_image_header_is_refused_before_decoding() {
    // A PNG whose header claims 100000×100000 pixels (30 GB as RGB) in 74 bytes.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/huge_header.png");
    let mut src = source::open(&SourceSpec::Path(path.clone()), &OpenOptions::default()).unwrap();
    let err = src.next_frame().unwrap_err().to_string();
    assert!(
        err.contains("huge_header.png") && err.contains("100000"),
        "{err}"
    );
}
