//! Classifier, rep counter and the whole per-frame logic on MediaPipe's own keypoints of the
//! fixture clips (`shared/fixtures/golden`, written by `shared/reference/mediapipe_golden.py`).
//!
//! `squats_mirrored.mp4` (5 fps, 65 frames), counted by watching it: down at frames 6–14, up by
//! 18, down 30–38, up by 43, down again from 54 to the end (frame 64 is still low) — two
//! finished squats. `pose_1.mp4` is dancing: no reps of anything.

use std::path::PathBuf;

use bodyzone::body::{Body, Posture};
use bodyzone::config::Config;
use bodyzone::exercise::events::EventKind;
use bodyzone::exercise::{ClassifierParams, Coach, Observation, RepCounter, classify};
use bodyzone::zone::PresenceGate;
use serde::Deserialize;

#[derive(Deserialize)]
struct GoldenFrame {
    width: f32,
    height: f32,
    keypoints: Option<Vec<GoldenPoint>>,
    #[serde(rename = "keypoints3D")]
    keypoints_3d: Option<Vec<GoldenPoint>>,
}

#[derive(Deserialize)]
struct GoldenPoint {
    x: f32,
    y: f32,
    z: f32,
    visibility: f32,
}

fn golden(name: &str) -> Vec<Option<Body>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/golden")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let frames: Vec<GoldenFrame> = serde_json::from_str(&text).unwrap();
    frames
        .into_iter()
        .map(|f| {
            let (image, world) = (f.keypoints?, f.keypoints_3d?);
            let mut body = Body {
                // The legacy API the goldens come from reports no pose score; a pose was found.
                score: 1.0,
                image: [[0.0; 2]; 33],
                world: [[0.0; 3]; 33],
                visibility: [0.0; 33],
            };
            for i in 0..33 {
                body.image[i] = [image[i].x / f.width, image[i].y / f.height];
                body.world[i] = [world[i].x, world[i].y, world[i].z];
                body.visibility[i] = image[i].visibility;
            }
            Some(body)
        })
        .collect()
}

fn poses(bodies: &[Option<Body>]) -> Vec<Posture> {
    let params = ClassifierParams::default();
    bodies
        .iter()
        .map(|b| {
            b.as_ref()
                .map_or(Posture::Unknown, |b| classify(b, &params))
        })
        .collect()
}

fn run_coach(
    config: &Config,
    bodies: &[Option<Body>],
    frame_ms: u64,
) -> Vec<bodyzone::exercise::events::Event> {
    let gate = PresenceGate {
        pose_enabled: true,
        min_pose_score: 0.5,
        min_visibility: 0.5,
    };
    let mut coach = Coach::new(&config.zones, gate, config.classifier.clone(), &config.reps);
    let mut events = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let obs = Observation {
            frame: i as u64,
            timestamp_ms: i as u64 * frame_ms,
            body: body.as_ref(),
            mask: None,
        };
        events.extend(coach.update(&obs));
    }
    let last = bodies.len() as u64 - 1;
    events.extend(coach.leave_all(last, last * frame_ms));
    events
}

#[test]
fn squat_clip_poses() {
    let poses = poses(&golden("squats_mirrored.pose0.json"));
    let line: Vec<&str> = poses.iter().map(|p| p.name()).collect();
    eprintln!("{}", line.join(" "));
    for f in [0, 1, 2, 21, 22, 23, 24, 25, 45, 46, 47, 48, 49] {
        assert_eq!(poses[f], Posture::Standing, "frame {f}: standing");
    }
    for f in [9, 10, 11, 12, 33, 34, 35, 36, 58, 59, 60, 61] {
        assert_eq!(poses[f], Posture::Squat, "frame {f}: squat bottom");
    }
    assert!(!poses.iter().any(|p| matches!(
        p,
        Posture::Lunge | Posture::Plank | Posture::Pushup | Posture::Warrior | Posture::JumpingJack
    )));
}

#[test]
fn squat_clip_counts_two_reps() {
    let bodies = golden("squats_mirrored.pose0.json");
    let poses = poses(&bodies);
    let config = Config::default_demo();
    let rule = *config.rep_rule(Posture::Squat).unwrap();
    let mut counter = RepCounter::new(rule);
    let params = ClassifierParams::default();
    let mut rep_frames = Vec::new();
    for (i, (body, pose)) in bodies.iter().zip(&poses).enumerate() {
        let signal = body.as_ref().and_then(|b| {
            rule.signal(&bodyzone::exercise::Measures::new(b, params.min_visibility))
        });
        if counter.update(signal, *pose) {
            rep_frames.push(i);
        }
    }
    assert_eq!(rep_frames.len(), 2, "reps at frames {rep_frames:?}");
    assert!(
        (16..=22).contains(&rep_frames[0]) && (40..=46).contains(&rep_frames[1]),
        "{rep_frames:?}"
    );
}

#[test]
fn squat_clip_events_with_the_demo_config() {
    let events = run_coach(
        &Config::default_demo(),
        &golden("squats_mirrored.pose0.json"),
        200,
    );
    for e in &events {
        eprintln!("{e:?}");
    }
    let kinds: Vec<EventKind> = events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds.first(), Some(&EventKind::Enter));
    assert_eq!(
        events[0].frame, 2,
        "enter after 3 frames with feet on the mat"
    );
    let reps: Vec<u32> = events
        .iter()
        .filter(|e| e.kind == EventKind::Rep)
        .map(|e| e.reps.unwrap())
        .collect();
    assert_eq!(reps, [1, 2]);
    let starts = events
        .iter()
        .filter(|e| e.kind == EventKind::PoseStart)
        .count();
    assert_eq!(starts, 3, "three times down into a squat");
    assert!(
        events
            .iter()
            .all(|e| e.pose.is_none_or(|p| p == Posture::Squat))
    );
    assert_eq!(
        kinds[kinds.len() - 2..],
        [EventKind::PoseEnd, EventKind::Exit],
        "the clip ends mid-squat"
    );
}

#[test]
fn dance_clip_counts_no_reps() {
    let bodies = golden("pose_1.pose1.json");
    let poses = poses(&bodies);
    let line: Vec<&str> = poses.iter().map(|p| p.name()).collect();
    eprintln!("{}", line.join(" "));
    let config = Config::parse_str(
        "[[zone]]\nname = \"floor\"\npolygon = [[0, 0.4], [1, 0.4], [1, 1], [0, 1]]\nexercise = \"any\"\n",
    )
    .unwrap();
    let events = run_coach(&config, &bodies, 33);
    for e in &events {
        eprintln!("{e:?}");
    }
    assert!(
        events.iter().any(|e| e.kind == EventKind::Enter),
        "the dancer is on the floor"
    );
    assert_eq!(
        events.iter().filter(|e| e.kind == EventKind::Rep).count(),
        0
    );
}
