//! The cat rule: pictures without a person never make anyone enter a zone while the pose model
//! runs, even where the selfie model paints them as person; with `pose = "off"` the same
//! pictures do enter, and the log says so at start.
//!
//! The pictures are made here: a tabby cat on a rug, a coat over a chair, a cup of coffee on a
//! table, skin-toned noise, plus a TF.js test pattern (Apache-2.0) from the shared fixtures.

mod common;

use std::path::Path;
use std::time::Duration;

use bodyzone::config::Config;
use bodyzone::exercise::events::{Event, EventKind};
use bodyzone::runner::Pipeline;
use common::{bodyzone, shared_fixture, stderr, stdout, succeeds, write_config};
use image::{Rgb, RgbImage};

/// A deterministic hash of a pixel, `0..1` (fur, grain, noise without a random crate).
fn hash(x: u32, y: u32, salt: u32) -> f32 {
    let mut h = x
        .wrapping_mul(0x9E37_79B1)
        .wrapping_add(y.wrapping_mul(0x85EB_CA77))
        .wrapping_add(salt.wrapping_mul(0xC2B2_AE3D));
    h ^= h >> 15;
    h = h.wrapping_mul(0x2C1B_3C6D);
    h ^= h >> 12;
    (h & 0xFFFF) as f32 / 65535.0
}

/// Smooth value noise at `scale` pixels, `0..1`.
fn value_noise(x: f32, y: f32, scale: f32, salt: u32) -> f32 {
    let (gx, gy) = (x / scale, y / scale);
    let (ix, iy) = (gx.floor() as u32, gy.floor() as u32);
    let (fx, fy) = (gx.fract(), gy.fract());
    let s = |t: f32| t * t * (3.0 - 2.0 * t);
    let (sx, sy) = (s(fx), s(fy));
    let top = hash(ix, iy, salt) * (1.0 - sx) + hash(ix + 1, iy, salt) * sx;
    let bottom = hash(ix, iy + 1, salt) * (1.0 - sx) + hash(ix + 1, iy + 1, salt) * sx;
    top * (1.0 - sy) + bottom * sy
}

fn mix(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

fn shade(c: [f32; 3], k: f32) -> [f32; 3] {
    [c[0] * k, c[1] * k, c[2] * k]
}

fn pixel(c: [f32; 3]) -> Rgb<u8> {
    Rgb(c.map(|v| v.clamp(0.0, 255.0) as u8))
}

/// Inside an axis-aligned ellipse centred at `c` with radii `r`.
fn in_ellipse(p: [f32; 2], c: [f32; 2], r: [f32; 2]) -> bool {
    let (dx, dy) = ((p[0] - c[0]) / r[0], (p[1] - c[1]) / r[1]);
    dx * dx + dy * dy <= 1.0
}

/// Inside the triangle `a b c`.
fn in_triangle(p: [f32; 2], a: [f32; 2], b: [f32; 2], c: [f32; 2]) -> bool {
    let side =
        |u: [f32; 2], v: [f32; 2]| (v[0] - u[0]) * (p[1] - u[1]) - (v[1] - u[1]) * (p[0] - u[0]);
    let (d1, d2, d3) = (side(a, b), side(b, c), side(c, a));
    !((d1 < 0.0 || d2 < 0.0 || d3 < 0.0) && (d1 > 0.0 || d2 > 0.0 || d3 > 0.0))
}

/// A room: a plain wall above a wooden floor, in a `w × h` frame.
fn room(x: u32, y: u32, h: u32) -> [f32; 3] {
    let horizon = h as f32 * 0.45;
    if (y as f32) < horizon {
        shade(
            [205.0, 198.0, 186.0],
            0.9 + 0.1 * value_noise(x as f32, y as f32, 40.0, 1),
        )
    } else {
        let plank = ((x as f32 + 0.3 * y as f32) / 60.0).floor() as u32;
        let grain = value_noise(x as f32, y as f32 * 8.0, 12.0, 2 + plank);
        shade([150.0, 110.0, 75.0], 0.75 + 0.25 * grain)
    }
}

/// A tabby cat sitting on a rug in a room, seen from the side.
fn cat(w: u32, h: u32) -> RgbImage {
    let (fw, fh) = (w as f32, h as f32);
    RgbImage::from_fn(w, h, |x, y| {
        let p = [x as f32 / fw, y as f32 / fh];
        let fur = |k: f32| {
            let stripes = (0.5
                + 0.5 * (p[0] * 60.0 + 6.0 * value_noise(x as f32, y as f32, 25.0, 3)).sin())
            .powf(3.0);
            let base = mix([190.0, 140.0, 90.0], [90.0, 60.0, 40.0], stripes);
            pixel(shade(base, k * (0.85 + 0.3 * hash(x, y, 4))))
        };
        let body = in_ellipse(p, [0.5, 0.68], [0.2, 0.17]);
        let head = in_ellipse(p, [0.36, 0.45], [0.1, 0.1 * fw / fh]);
        let ears = in_triangle(p, [0.28, 0.42], [0.3, 0.3], [0.34, 0.4])
            || in_triangle(p, [0.38, 0.4], [0.43, 0.3], [0.45, 0.42]);
        let tail = in_ellipse(p, [0.74, 0.8], [0.12, 0.035]);
        let eye =
            in_ellipse(p, [0.33, 0.44], [0.012, 0.01]) || in_ellipse(p, [0.4, 0.44], [0.012, 0.01]);
        if eye {
            Rgb([40, 60, 20])
        } else if head || ears {
            fur(1.05)
        } else if body || tail {
            fur(0.95)
        } else if in_ellipse(p, [0.5, 0.85], [0.4, 0.08]) {
            pixel(shade([160.0, 40.0, 50.0], 0.8 + 0.2 * hash(x, y, 5)))
        } else {
            pixel(room(x, y, h))
        }
    })
}

/// A dark coat hung over the back of a chair, sleeves down.
fn coat_on_chair(w: u32, h: u32) -> RgbImage {
    let (fw, fh) = (w as f32, h as f32);
    RgbImage::from_fn(w, h, |x, y| {
        let p = [x as f32 / fw, y as f32 / fh];
        let cloth = |k: f32| {
            pixel(shade(
                [60.0, 70.0, 95.0],
                k * (0.8 + 0.4 * value_noise(x as f32, y as f32, 6.0, 6)),
            ))
        };
        let shoulders = in_ellipse(p, [0.5, 0.3], [0.16, 0.05]);
        let torso = p[0] > 0.36 && p[0] < 0.64 && p[1] > 0.3 && p[1] < 0.72;
        let sleeves = (p[0] > 0.3 && p[0] < 0.37 && p[1] > 0.3 && p[1] < 0.66)
            || (p[0] > 0.63 && p[0] < 0.7 && p[1] > 0.3 && p[1] < 0.66);
        let collar = in_ellipse(p, [0.5, 0.26], [0.05, 0.03]);
        let legs = [0.38, 0.6]
            .iter()
            .any(|&lx| p[0] > lx && p[0] < lx + 0.025 && p[1] > 0.7 && p[1] < 0.95);
        let seat = p[0] > 0.34 && p[0] < 0.66 && p[1] > 0.68 && p[1] < 0.72;
        if collar {
            pixel([200.0, 200.0, 200.0])
        } else if shoulders || torso {
            cloth(1.0)
        } else if sleeves {
            cloth(0.8)
        } else if legs || seat {
            pixel(shade([110.0, 75.0, 45.0], 0.9 + 0.1 * hash(x, y, 7)))
        } else {
            pixel(room(x, y, h))
        }
    })
}

/// A cup of coffee on a table, close up.
fn coffee(w: u32, h: u32) -> RgbImage {
    let (fw, fh) = (w as f32, h as f32);
    RgbImage::from_fn(w, h, |x, y| {
        let p = [x as f32 / fw, y as f32 / fh];
        let rim = in_ellipse(p, [0.5, 0.35], [0.2, 0.06]);
        let coffee = in_ellipse(p, [0.5, 0.36], [0.18, 0.05]);
        let cup = p[0] > 0.3 && p[0] < 0.7 && p[1] > 0.35 && p[1] < 0.75
            || in_ellipse(p, [0.5, 0.75], [0.2, 0.05]);
        let handle =
            in_ellipse(p, [0.73, 0.52], [0.08, 0.1]) && !in_ellipse(p, [0.73, 0.52], [0.05, 0.065]);
        let saucer = in_ellipse(p, [0.5, 0.8], [0.35, 0.07]);
        if coffee {
            pixel(shade(
                [110.0, 70.0, 40.0],
                0.9 + 0.2 * value_noise(x as f32, y as f32, 5.0, 8),
            ))
        } else if rim || cup || handle {
            let light = 1.0 - 0.5 * ((p[0] - 0.42) / 0.3).abs();
            pixel(shade([235.0, 230.0, 222.0], light.clamp(0.5, 1.0)))
        } else if saucer {
            pixel([220.0, 215.0, 205.0])
        } else {
            let grain = value_noise(x as f32 * 0.3, y as f32 * 3.0, 10.0, 9);
            pixel(shade([120.0, 80.0, 50.0], 0.7 + 0.3 * grain))
        }
    })
}

/// Blotchy noise in skin and hair colours: no shape at all.
fn skin_noise(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let n = 0.6 * value_noise(x as f32, y as f32, 48.0, 10)
            + 0.4 * value_noise(x as f32, y as f32, 12.0, 11);
        pixel(mix([225.0, 175.0, 140.0], [70.0, 45.0, 30.0], n))
    })
}

/// The pictures, by name: ours and the TF.js pattern.
fn scenes() -> Vec<(&'static str, RgbImage)> {
    let pattern = shared_fixture("tfjs-models/image_to_tensor_input.jpg");
    vec![
        ("cat", cat(640, 480)),
        ("coat", coat_on_chair(480, 640)),
        ("coffee", coffee(640, 480)),
        ("noise", skin_noise(640, 480)),
        ("pattern", image::open(pattern).unwrap().to_rgb8()),
    ]
}

/// The whole frame is the zone, and any person pixel in it is enough.
const EAGER_ZONE: &str = "[[zone]]\nname = \"all\"\npolygon = [[0, 0], [1, 0], [1, 1], [0, 1]]\n\
                          presence = \"mask\"\nmin_coverage = 0.01\nenter_frames = 1\n";

fn config(pose: &str, segmentation: &str) -> Config {
    Config::parse_str(&format!(
        "[model]\npose = \"{pose}\"\nsegmentation = \"{segmentation}\"\n{EAGER_ZONE}"
    ))
    .unwrap()
}

/// Shows `image` three times (100 ms apart) to a fresh pipeline: its events, whether the pose
/// model found a body, and the fraction of the frame the mask calls person.
fn watch(config: &Config, image: &RgbImage) -> (Vec<Event>, bool, f32) {
    let mut pipeline = Pipeline::new(config).unwrap();
    let (mut events, mut body, mut person) = (Vec::new(), false, 0.0f32);
    for i in 0..3u64 {
        let result = pipeline
            .process(image, i, Duration::from_millis(100 * i))
            .unwrap();
        events.extend(result.events);
        body |= result.body.is_some();
        if let Some(mask) = &result.mask {
            let p = mask.probabilities();
            let share = p.iter().filter(|&&v| v >= 0.5).count() as f32 / p.len() as f32;
            person = person.max(share);
        }
    }
    (events, body, person)
}

#[test]
fn no_zone_event_while_the_pose_model_runs() {
    let scenes = scenes();
    for (pose, segmentation) in [
        ("lite", "landscape"),
        ("lite", "general"),
        ("full", "landscape"),
    ] {
        let config = config(pose, segmentation);
        for (name, image) in &scenes {
            let (events, body, person) = watch(&config, image);
            eprintln!(
                "{pose}/{segmentation} {name}: {:.0}% person pixels",
                person * 100.0
            );
            assert!(!body, "{pose}/{segmentation}: a body in {name}");
            assert!(
                events.is_empty(),
                "{pose}/{segmentation} {name}: {events:?}"
            );
            // The test means something: the segmenter alone would have let these in.
            if ["cat", "coat"].contains(name) {
                assert!(person > 0.1, "{segmentation} {name}: {person}");
            }
        }
    }
}

#[test]
fn without_the_pose_model_the_cat_gets_in() {
    // What pose = "off" costs: the mask alone decides, and the cat and the coat are "people".
    let config = config("off", "landscape");
    for (name, image) in scenes() {
        let (events, _, _) = watch(&config, &image);
        let entered = events.iter().any(|e| e.kind == EventKind::Enter);
        assert_eq!(
            entered,
            ["cat", "coat"].contains(&name),
            "{name}: {events:?}"
        );
    }
}

/// `bodyzone run` on the pictures in `dir` with `[model] pose`: stdout and stderr.
fn run_binary(dir: &Path, pose: &str) -> (String, String) {
    write_config(dir, &format!("[model]\npose = \"{pose}\"\n{EAGER_ZONE}"));
    let output = succeeds(
        bodyzone()
            .args(["run", "--source", "pictures"])
            .current_dir(dir),
    );
    (stdout(&output), stderr(&output))
}

#[test]
fn the_run_command_warns_when_pose_is_off() {
    let dir = tempfile::tempdir().unwrap();
    let pictures = dir.path().join("pictures");
    std::fs::create_dir(&pictures).unwrap();
    for (name, image) in scenes() {
        image.save(pictures.join(format!("{name}.png"))).unwrap();
    }

    let (events, log) = run_binary(dir.path(), "lite");
    assert_eq!(events, "", "pose on: no event");
    assert!(!log.contains("pose model off"), "{log}");

    let (events, log) = run_binary(dir.path(), "off");
    assert!(events.contains(r#""type":"enter""#), "pose off: {events}");
    let warning = log
        .lines()
        .find(|l| l.contains("pose model off"))
        .unwrap_or_else(|| panic!("no warning in {log}"));
    assert!(warning.contains("WARN"), "{warning}");
    assert!(
        warning.contains("non-people"),
        "says what it costs: {warning}"
    );
}
