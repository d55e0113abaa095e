//! Config errors name the key and the expected form, and all of them are reported.

mod common;

use std::io::Write;

use bodyzone::body::Posture;
use bodyzone::config::{Config, ConfigError};
use bodyzone::hold::Hold;
use bodyzone::model::ModelKind;
use bodyzone::output::display::DisplayConfig;
use bodyzone::output::gpio::{Mode, PinAddress, Trigger};
use bodyzone::zone::PresenceMode;
use common::MAT;

fn errors(text: &str) -> Vec<String> {
    let err = Config::parse_str(text).expect_err("config should be rejected");
    err.to_string().lines().map(str::to_string).collect()
}

fn one_error(text: &str) -> String {
    let errs = errors(text);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    errs.into_iter().next().unwrap()
}

#[test]
fn the_issue_example_parses() {
    let text = r#"
[model]
segmentation = "landscape"   # general | landscape | off
pose = "lite"                # lite | full | heavy | off
[[zone]]
name = "mat"
polygon = [[0.15, 0.55], [0.75, 0.55], [0.75, 0.95], [0.15, 0.95]]  # normalised x,y of the frame
exercise = "squat"
"#;
    let config = Config::parse_str(text).unwrap();
    assert_eq!(config.model.segmentation, Some(ModelKind::SelfieLandscape));
    assert_eq!(config.model.pose, Some(ModelKind::PoseLite));
    assert_eq!(config.zones[0].exercise, Some(Posture::Squat));
    assert_eq!(config.zones[0].polygon.points().len(), 4);
}

#[test]
fn a_full_file_parses() {
    let text = format!(
        r#"
[model]
segmentation = "off"
pose = "heavy"
min_pose_score = 0.6
[source]
input = "synthetic"
realtime = true
frame_timeout_ms = 500
[smoothing]
mask = 0.5
landmarks = false
skip_unchanged = 0.01
[exercise]
hold_ms = 300
squat = {{ down = 100, up = 150 }}
jumping_jack = {{ open = 130, closed = 40 }}
{MAT}exercise = "jumping_jack"
presence = "feet"
anchors = ["left_heel", "right_heel"]
anchor_rule = "any"
enter_ms = 250
exit_frames = 10
min_dwell_ms = 1000
cooldown_ms = 2000
[output]
events = "out.jsonl"
[[output.gpio]]
chip = "/dev/gpiochip0"
line = 17
on = "pose:jumping_jack@mat"
active_low = true
safe = "high"
[[output.gpio]]
pin = 27
on = "rep@mat"
pulse_ms = 100
[output.display]
kind = "png"
path = "status.png"
"#
    );
    let c = Config::parse_str(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.model.segmentation, None);
    assert_eq!(c.model.pose, Some(ModelKind::PoseHeavy));
    assert!(c.source.realtime && c.source.input.is_some());
    assert_eq!(c.classifier.hold, Hold::Millis(300));
    assert_eq!(c.rep_rule(Posture::Squat).unwrap().enter, 100.0);
    assert_eq!(c.rep_rule(Posture::JumpingJack).unwrap().exit, 40.0);
    let z = &c.zones[0];
    assert_eq!(
        (z.presence, z.anchors.as_slice(), z.enter, z.exit),
        (
            PresenceMode::Feet,
            &[29, 30][..],
            Hold::Millis(250),
            Hold::Frames(10)
        )
    );
    assert_eq!((z.min_dwell_ms, z.cooldown_ms), (1000, 2000));
    let (pin, rule) = &c.output.gpio[0];
    assert_eq!(
        pin,
        &PinAddress::Cdev {
            chip: "/dev/gpiochip0".into(),
            line: 17
        }
    );
    assert_eq!(
        rule.trigger,
        Trigger::Posture {
            pose: "jumping_jack".into(),
            zone: "mat".into()
        }
    );
    assert!(rule.active_low && rule.mode == Mode::Level);
    assert_eq!(
        c.output.gpio[1].1.mode,
        Mode::Pulse(std::time::Duration::from_millis(100))
    );
    assert_eq!(
        c.output.display,
        Some(DisplayConfig::Png {
            path: "status.png".into()
        })
    );
}

#[test]
fn polygon_with_two_points() {
    let text = format!("{MAT}[[zone]]\nname = \"door\"\npolygon = [[0.1, 0.1], [0.2, 0.2]]\n");
    assert_eq!(
        one_error(&text),
        "bodyzone.toml: zone[1].polygon: need at least 3 points, got 2 (line 6)"
    );
}

#[test]
fn polygon_outside_the_frame() {
    let err =
        one_error("[[zone]]\nname = \"mat\"\npolygon = [[0.1, 0.1], [1.2, 0.5], [0.1, 0.9]]\n");
    assert!(
        err.starts_with(
            "bodyzone.toml: zone[0].polygon: point 1 is [1.2, 0.5]: coordinates are fractions"
        ),
        "{err}"
    );
}

#[test]
fn unknown_key() {
    let err = one_error(&format!("{MAT}colour = \"red\"\n"));
    assert!(err.starts_with("bodyzone.toml: zone[0].colour: unknown field `colour`, expected one of `name`, `polygon`"), "{err}");
    assert!(err.ends_with("(line 4)"), "{err}");
    let err = one_error(&format!("[modle]\npose = \"lite\"\n{MAT}"));
    assert!(
        err.starts_with("bodyzone.toml: modle: unknown section, expected one of model, source"),
        "{err}"
    );
}

#[test]
fn wrong_types() {
    let err = one_error(&format!("{MAT}enter_frames = \"three\"\n"));
    assert_eq!(
        err,
        "bodyzone.toml: zone[0].enter_frames: invalid type: string \"three\", expected u32 (line 4)"
    );
    let err = one_error(&format!("[model]\npose = \"huge\"\n{MAT}"));
    assert!(err.starts_with("bodyzone.toml: model.pose: unknown variant `huge`, expected one of `lite`, `full`, `heavy`, `off`"), "{err}");
    let err = one_error(&format!("[model]\npose = 3\n{MAT}"));
    assert_eq!(
        err,
        "bodyzone.toml: model.pose: invalid type: integer `3`, expected one of `lite`, `full`, \
         `heavy`, `off` (line 2)"
    );
    let err = one_error(&format!("{MAT}exercise = [\"squat\"]\n"));
    assert!(
        err.starts_with(
            "bodyzone.toml: zone[0].exercise: invalid type: sequence, expected one of `squat`"
        ),
        "{err}"
    );
    let err =
        one_error("[[zone]]\nname = \"mat\"\npolygon = [[0.1, 0.1], [0.5, \"x\"], [0.1, 0.9]]\n");
    assert!(
        err.starts_with("bodyzone.toml: zone[0].polygon[1][1]: invalid type: string \"x\""),
        "{err}"
    );
}

#[test]
fn all_errors_are_collected() {
    let text = "[model]\npose = \"off\"\nmin_pose_score = 2\n\
                [[zone]]\nname = \"a b\"\npolygon = [[0, 0], [1, 0], [0, 1]]\npresence = \"feet\"\n\
                [[zone]]\nname = \"c\"\npolygon = [[0, 0]]\nbogus = 1\n\
                [[zone]]\nname = \"d\"\npolygon = [[0, 0], [1, 0], [0, 1]]\nenter_frames = 2\nenter_ms = 100\n";
    let errs = errors(text);
    let expected_keys = [
        "model.min_pose_score",
        "zone[0].name",
        "zone[0].presence",
        "zone[1].bogus",
        "zone[2].enter_ms",
    ];
    assert_eq!(errs.len(), expected_keys.len(), "{errs:#?}");
    for key in expected_keys {
        assert!(
            errs.iter()
                .any(|e| e.starts_with(&format!("bodyzone.toml: {key}: "))),
            "{key} missing in {errs:#?}"
        );
    }
}

#[test]
fn output_rules_are_checked_against_zones() {
    let gpio = |body: &str| one_error(&format!("{MAT}[[output.gpio]]\n{body}\n"));
    let err = gpio("pin = 17\non = \"zone:door\"");
    assert_eq!(
        err,
        "bodyzone.toml: output.gpio[0].on: zone \"door\" is not a [[zone]] name (line 6)"
    );
    let err = gpio("pin = 17\non = \"squat\"");
    assert!(
        err.starts_with("bodyzone.toml: output.gpio[0].on: bad GPIO trigger \"squat\""),
        "{err}"
    );
    let err = gpio("pin = 17\non = \"pose:sitting@mat\"");
    assert!(
        err.contains("pose \"sitting\" is not one of squat, lunge"),
        "{err}"
    );
    let err = gpio("pin = 17\non = \"rep@mat\"\nmode = \"level\"");
    assert!(
        err.starts_with("bodyzone.toml: output.gpio[0].mode: a rep is an instant"),
        "{err}"
    );
    let err = gpio("chip = \"/dev/gpiochip0\"\non = \"zone:mat\"");
    assert!(
        err.starts_with("bodyzone.toml: output.gpio[0].line: a chip needs a line"),
        "{err}"
    );
    let err = one_error(&format!("{MAT}[output.display]\nkind = \"png\"\n"));
    assert!(
        err.starts_with("bodyzone.toml: output.display.path: kind = \"png\" needs path"),
        "{err}"
    );
}

#[test]
fn no_zone_and_syntax_errors() {
    assert_eq!(
        one_error(""),
        "bodyzone.toml: zone: need at least one [[zone]] with a name and a polygon"
    );
    let err = one_error("[[zone]\nname = 1\n");
    assert!(err.starts_with("bodyzone.toml: "), "{err}");
    assert!(err.contains("(line 1)"), "{err}");
}

#[test]
fn load_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gym.toml");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(b"[[zone]]\nname = \"mat\"\npolygon = []\n")
        .unwrap();
    let err = Config::load(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: zone[0].polygon: need at least 3 points, got 0 (line 3)",
            path.display()
        )
    );
    let missing = dir.path().join("missing.toml");
    assert!(matches!(
        Config::load(&missing),
        Err(ConfigError::Read { .. })
    ));
    assert!(
        Config::load(&missing)
            .unwrap_err()
            .to_string()
            .starts_with(&missing.display().to_string())
    );
}

#[test]
fn demo_config() {
    let c = Config::default_demo();
    assert_eq!(c.zones.len(), 1);
    assert_eq!(
        (c.zones[0].name.as_str(), c.zones[0].exercise),
        ("mat", Some(Posture::Squat))
    );
}
