//! Video files through ffmpeg: the bundled squat clip, truncated and broken files.

mod common;

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use bodyzone::source::{self, FrameSource, OpenOptions, SourceError, SourceSpec, VideoSource};
use common::{remux_index_first, squat_clip};

#[test]
fn squat_clip_has_65_frames_at_5_fps() {
    let mut video = VideoSource::open(&squat_clip(), &Default::default()).unwrap();
    assert_eq!((video.width(), video.height()), (720, 1280));
    assert_eq!(video.fps(), 5.0);
    assert_eq!(video.len_hint(), Some(65));
    assert!(!video.is_live());
    let mut n = 0u64;
    let mut previous: Option<Vec<u8>> = None;
    while let Some(frame) = video.next_frame().unwrap() {
        assert_eq!(frame.sequence, n);
        assert_eq!(frame.timestamp, Duration::from_millis(200 * n), "frame {n}");
        assert_eq!(frame.data.len(), 720 * 1280 * 3);
        assert_ne!(
            previous.as_ref(),
            Some(&frame.data),
            "frame {n} repeats the previous one"
        );
        previous = Some(frame.data.clone());
        n += 1;
        video.recycle(frame);
    }
    assert_eq!(n, 65);
    assert_eq!(video.next_frame().unwrap(), None);
}

#[test]
fn opened_from_a_source_string() {
    let spec: SourceSpec = squat_clip().to_str().unwrap().parse().unwrap();
    let mut src = source::open(&spec, &OpenOptions::default()).unwrap();
    assert!(
        src.describe().contains("720x1280, 65 frames at 5.000 fps"),
        "{}",
        src.describe()
    );
    let frame = src.next_frame().unwrap().unwrap();
    let rgb = frame.to_rgb_image().unwrap();
    // A person in a room, not a blank frame.
    let lumas: Vec<u8> = rgb.pixels().map(|p| p[1]).collect();
    assert!(lumas.iter().max().unwrap() - lumas.iter().min().unwrap() > 100);
}

/// The clip remuxed with its index first, so that cutting it leaves a readable but short file.
fn truncated_copy(dir: &Path) -> PathBuf {
    let faststart = dir.join("faststart.mp4");
    remux_index_first(&squat_clip(), &faststart);
    let bytes = std::fs::read(&faststart).unwrap();
    let cut = dir.join("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() * 6 / 10]).unwrap();
    cut
}

#[test]
fn truncated_video_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cut = truncated_copy(dir.path());
    let err = VideoSource::open(&cut, &Default::default())
        .err()
        .expect("a cut video must not open cleanly");
    assert!(
        matches!(&err, SourceError::Truncated { path, .. } if *path == cut),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with(&format!("{}: truncated or corrupt", cut.display())),
        "{err}"
    );
}

#[test]
fn video_without_index_or_garbage_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    // The fixture keeps its index at the end: cutting it loses the index altogether.
    let bytes = std::fs::read(squat_clip()).unwrap();
    let headless = dir.path().join("headless.mp4");
    std::fs::write(&headless, &bytes[..bytes.len() / 2]).unwrap();
    let err = VideoSource::open(&headless, &Default::default())
        .err()
        .unwrap();
    assert!(
        matches!(&err, SourceError::Video { path, .. } if *path == headless),
        "{err}"
    );

    let garbage = dir.path().join("garbage.mp4");
    std::fs::write(&garbage, b"not a video at all").unwrap();
    let err = VideoSource::open(&garbage, &Default::default())
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .starts_with(&format!("{}: not a readable video", garbage.display())),
        "{err}"
    );

    let missing = dir.path().join("missing.mp4");
    let err = VideoSource::open(&missing, &Default::default())
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        format!("{}: no such file, directory or device", missing.display())
    );
}

#[test]
fn stopping_early_does_not_hang() {
    // On a thread of its own, so that a drop waiting for ffmpeg fails the test at the deadline
    // instead of blocking the test run forever.
    let (done, finished) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        let mut video = VideoSource::open(&squat_clip(), &Default::default()).unwrap();
        video.next_frame().unwrap().unwrap();
        drop(video); // ffmpeg is blocked on a full pipe; dropping must kill it, not wait.
        done.send(()).unwrap();
    });
    // Generous: the drop takes milliseconds; only a slow machine under load comes near.
    let deadline = Duration::from_secs(60);
    match finished.recv_timeout(deadline) {
        Ok(()) => worker.join().unwrap(),
        // The worker failed before the drop: show its panic, not a hang.
        Err(RecvTimeoutError::Disconnected) => {
            std::panic::resume_unwind(worker.join().unwrap_err())
        }
        Err(RecvTimeoutError::Timeout) => {
            panic!("dropping a video source after one frame still blocks after {deadline:?}")
        }
    }
}
