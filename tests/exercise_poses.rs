//! Every pose the classifier names, on stick figures built from world keypoints (metres, x
//! right, y down, z away from the camera, origin between the hips), and reps of every counted
//! exercise through the whole [`Coach`]: top → bottom → top, with the frames in between.

use bodyzone::body::{Body, Posture};
use bodyzone::config::Config;
use bodyzone::exercise::events::{Event, EventKind};
use bodyzone::exercise::{ClassifierParams, Coach, Observation, classify};
use bodyzone::zone::PresenceGate;

type P = [f32; 3];

/// Joints of a figure, each `[left, right]`.
#[derive(Clone, Copy)]
struct Figure {
    shoulder: [P; 2],
    elbow: [P; 2],
    wrist: [P; 2],
    hip: [P; 2],
    knee: [P; 2],
    ankle: [P; 2],
}

/// Mirror of a left-side point to the right (x or, for a figure seen from the side, z).
fn mirror_x(p: P) -> [P; 2] {
    [p, [-p[0], p[1], p[2]]]
}

fn mirror_z(p: P) -> [P; 2] {
    [p, [p[0], p[1], -p[2]]]
}

impl Figure {
    fn body(&self) -> Body {
        let mut body = Body {
            score: 0.95,
            // On the floor of the zone, wherever the joints are: presence is not under test.
            image: [[0.5, 0.8]; 33],
            world: [[0.0, -0.6, 0.0]; 33],
            visibility: [0.95; 33],
        };
        for (first, joint) in [
            (11, self.shoulder),
            (13, self.elbow),
            (15, self.wrist),
            (23, self.hip),
            (25, self.knee),
            (27, self.ankle),
        ] {
            body.world[first] = joint[0];
            body.world[first + 1] = joint[1];
        }
        body
    }

    /// The figure `t` of the way from `self` to `to`.
    fn towards(&self, to: &Figure, t: f32) -> Figure {
        let lerp = |a: [P; 2], b: [P; 2]| {
            [0, 1].map(|s| [0, 1, 2].map(|k| a[s][k] + (b[s][k] - a[s][k]) * t))
        };
        Figure {
            shoulder: lerp(self.shoulder, to.shoulder),
            elbow: lerp(self.elbow, to.elbow),
            wrist: lerp(self.wrist, to.wrist),
            hip: lerp(self.hip, to.hip),
            knee: lerp(self.knee, to.knee),
            ankle: lerp(self.ankle, to.ankle),
        }
    }
}

fn standing() -> Figure {
    Figure {
        shoulder: mirror_x([0.18, -0.5, 0.0]),
        elbow: mirror_x([0.2, -0.2, 0.0]),
        wrist: mirror_x([0.21, 0.07, 0.0]),
        hip: mirror_x([0.1, 0.0, 0.0]),
        knee: mirror_x([0.1, 0.45, 0.0]),
        ankle: mirror_x([0.1, 0.88, 0.0]),
    }
}

/// Thighs level, knees forward (towards the camera), torso leaning 24°, arms forward.
fn squat() -> Figure {
    Figure {
        shoulder: mirror_x([0.18, -0.45, -0.2]),
        elbow: mirror_x([0.2, -0.35, -0.5]),
        wrist: mirror_x([0.2, -0.35, -0.77]),
        hip: mirror_x([0.1, 0.0, 0.0]),
        knee: mirror_x([0.12, 0.1, -0.44]),
        ankle: mirror_x([0.12, 0.52, -0.3]),
    }
}

/// Left foot forward with the knee at 103°, right leg back with the hip open, upright torso.
fn lunge() -> Figure {
    Figure {
        hip: mirror_x([0.1, 0.0, 0.0]),
        knee: [[0.1, 0.1, -0.44], [-0.1, 0.4, 0.2]],
        ankle: [[0.1, 0.53, -0.44], [-0.1, 0.53, 0.6]],
        ..standing()
    }
}

/// Warrior II: wide stance, left knee bent out to the side, right leg straight, arms level.
fn warrior() -> Figure {
    Figure {
        shoulder: mirror_x([0.18, -0.5, 0.0]),
        elbow: mirror_x([0.48, -0.5, 0.0]),
        wrist: mirror_x([0.75, -0.5, 0.0]),
        hip: mirror_x([0.1, 0.0, 0.0]),
        knee: [[0.5, 0.2, 0.0], [-0.32, 0.31, 0.0]],
        ankle: [[0.5, 0.62, 0.0], [-0.55, 0.62, 0.0]],
    }
}

/// Jumping jack, open: arms overhead, feet apart.
fn jack_open() -> Figure {
    Figure {
        elbow: mirror_x([0.35, -0.75, 0.0]),
        wrist: mirror_x([0.45, -1.0, 0.0]),
        knee: mirror_x([0.2, 0.43, 0.0]),
        ankle: mirror_x([0.3, 0.86, 0.0]),
        ..standing()
    }
}

/// Straight-arm plank seen from the side: head left (-x), feet right, hips between.
fn plank() -> Figure {
    Figure {
        shoulder: mirror_z([-0.5, -0.1, 0.18]),
        elbow: mirror_z([-0.5, 0.18, 0.18]),
        wrist: mirror_z([-0.5, 0.47, 0.18]),
        hip: mirror_z([0.0, 0.0, 0.1]),
        knee: mirror_z([0.45, 0.05, 0.1]),
        ankle: mirror_z([0.88, 0.1, 0.1]),
    }
}

/// The bottom of a push-up: body still straight and low, elbows at 92°, forearms near vertical.
fn pushup() -> Figure {
    Figure {
        shoulder: mirror_z([-0.5, -0.14, 0.18]),
        elbow: mirror_z([-0.3, 0.1, 0.3]),
        wrist: mirror_z([-0.45, 0.3, 0.25]),
        hip: mirror_z([0.0, 0.0, 0.1]),
        knee: mirror_z([0.45, 0.12, 0.1]),
        ankle: mirror_z([0.88, 0.25, 0.1]),
    }
}

#[test]
fn each_pose_is_named() {
    let params = ClassifierParams::default();
    for (figure, pose) in [
        (standing(), Posture::Standing),
        (squat(), Posture::Squat),
        (lunge(), Posture::Lunge),
        (warrior(), Posture::Warrior),
        (jack_open(), Posture::JumpingJack),
        (plank(), Posture::Plank),
        (pushup(), Posture::Pushup),
    ] {
        assert_eq!(classify(&figure.body(), &params), pose);
    }
}

#[test]
fn hidden_joints_give_no_pose() {
    let params = ClassifierParams::default();
    let mut body = squat().body();
    // Knees and ankles out of sight: a squat cannot be told from standing.
    for i in 25..29 {
        body.visibility[i] = 0.1;
    }
    assert_eq!(classify(&body, &params), Posture::Unknown);
}

/// Events of a coach watching `frames` at 10 fps in a zone for `exercise`.
fn coach_events(exercise: &str, frames: &[Figure]) -> Vec<Event> {
    let config = Config::parse_str(&format!(
        "[[zone]]\nname = \"mat\"\npolygon = [[0.1, 0.5], [0.9, 0.5], [0.9, 0.95], [0.1, 0.95]]\n\
         exercise = \"{exercise}\"\n"
    ))
    .unwrap();
    let gate = PresenceGate {
        pose_enabled: true,
        min_pose_score: config.model.min_pose_score,
        min_visibility: config.classifier.min_visibility,
    };
    let mut coach = Coach::new(&config.zones, gate, config.classifier, &config.reps);
    let mut events = Vec::new();
    for (i, figure) in frames.iter().enumerate() {
        let body = figure.body();
        events.extend(coach.update(&Observation {
            frame: i as u64,
            timestamp_ms: 100 * i as u64,
            body: Some(&body),
            mask: None,
        }));
    }
    events
}

/// `reps` cycles top → bottom → top: four frames held at each end, three on the way.
fn cycles(top: Figure, bottom: Figure, reps: usize) -> Vec<Figure> {
    let mut frames = vec![top; 4];
    for _ in 0..reps {
        frames.extend((1..4).map(|i| top.towards(&bottom, i as f32 / 4.0)));
        frames.extend([bottom; 4]);
        frames.extend((1..4).map(|i| bottom.towards(&top, i as f32 / 4.0)));
        frames.extend([top; 4]);
    }
    frames
}

fn reps_of(events: &[Event], pose: Posture) -> Vec<u32> {
    events
        .iter()
        .filter(|e| e.kind == EventKind::Rep && e.pose == Some(pose))
        .filter_map(|e| e.reps)
        .collect()
}

#[test]
fn reps_of_every_counted_exercise() {
    for (exercise, pose, top, bottom) in [
        ("squat", Posture::Squat, standing(), squat()),
        ("lunge", Posture::Lunge, standing(), lunge()),
        ("pushup", Posture::Pushup, plank(), pushup()),
        (
            "jumping_jack",
            Posture::JumpingJack,
            standing(),
            jack_open(),
        ),
    ] {
        let events = coach_events(exercise, &cycles(top, bottom, 3));
        assert_eq!(reps_of(&events, pose), [1, 2, 3], "{exercise}: {events:?}");
        let starts = events
            .iter()
            .filter(|e| e.kind == EventKind::PoseStart)
            .count();
        assert_eq!(starts, 3, "{exercise}: one pose_start per rep");
    }
}

#[test]
fn holds_are_poses_without_reps() {
    for (exercise, pose, figure) in [
        ("plank", Posture::Plank, plank()),
        ("warrior", Posture::Warrior, warrior()),
    ] {
        let events = coach_events(exercise, &[figure; 10]);
        let kinds: Vec<(EventKind, Option<Posture>)> =
            events.iter().map(|e| (e.kind, e.pose)).collect();
        assert_eq!(
            kinds,
            [(EventKind::Enter, None), (EventKind::PoseStart, Some(pose))],
            "{exercise}"
        );
    }
}

#[test]
fn the_wrong_exercise_counts_nothing() {
    // Push-ups in a squat zone, squats in a push-up zone.
    let events = coach_events("squat", &cycles(plank(), pushup(), 2));
    assert!(
        events.iter().all(|e| e.kind == EventKind::Enter),
        "{events:?}"
    );
    let events = coach_events("pushup", &cycles(standing(), squat(), 2));
    assert!(
        events.iter().all(|e| e.kind == EventKind::Enter),
        "{events:?}"
    );
}
