//! Presence rules: feet inside, mask coverage, and the pose-model gate that keeps a cat (or a
//! coat, or a cup of coffee the segmenter calls a person) out of a zone.

use bodyzone::body::Body;
use bodyzone::frame::Mask;
use bodyzone::zone::{AnchorRule, Polygon, PresenceGate, PresenceMode, Zone};

const POSE_ON: PresenceGate = PresenceGate {
    pose_enabled: true,
    min_pose_score: 0.5,
    min_visibility: 0.5,
};
const POSE_OFF: PresenceGate = PresenceGate {
    pose_enabled: false,
    ..POSE_ON
};

fn mat() -> Zone {
    Zone::new(
        "mat",
        Polygon::new(vec![[0.2, 0.6], [0.8, 0.6], [0.8, 0.95], [0.2, 0.95]]).unwrap(),
    )
}

/// A body whose feet (ankles, heels, toes) are at `feet`, all visible.
fn body_at(feet: [[f32; 2]; 2], score: f32) -> Body {
    let mut body = Body {
        score,
        image: [[0.5, 0.3]; 33],
        world: [[0.0; 3]; 33],
        visibility: [0.9; 33],
    };
    for (i, side) in [(27, 0), (28, 1), (29, 0), (30, 1), (31, 0), (32, 1)] {
        body.image[i] = feet[side];
    }
    body
}

/// A mask that is "person" everywhere: what the selfie model does to a cat photo.
fn full_mask() -> Mask {
    Mask::new(64, 36, vec![0.95; 64 * 36])
}

#[test]
fn feet_inside_and_outside() {
    let zone = mat();
    assert!(zone.is_present(
        &POSE_ON,
        Some(&body_at([[0.4, 0.8], [0.6, 0.8]], 0.9)),
        None
    ));
    assert!(!zone.is_present(
        &POSE_ON,
        Some(&body_at([[0.4, 0.8], [0.9, 0.8]], 0.9)),
        None
    ));
    let mut any = mat();
    any.anchor_rule = AnchorRule::Any;
    assert!(any.is_present(
        &POSE_ON,
        Some(&body_at([[0.4, 0.8], [0.9, 0.8]], 0.9)),
        None
    ));
}

#[test]
fn invisible_feet_fall_back_to_the_mask_in_auto_mode() {
    let zone = mat();
    let mut body = body_at([[0.0, 0.0], [0.0, 0.0]], 0.9);
    for i in 27..33 {
        body.visibility[i] = 0.1;
    }
    assert!(zone.is_present(&POSE_ON, Some(&body), Some(&full_mask())));
    assert!(!zone.is_present(&POSE_ON, Some(&body), None));
    let mut feet = mat();
    feet.presence = PresenceMode::Feet;
    assert!(!feet.is_present(&POSE_ON, Some(&body), Some(&full_mask())));
}

#[test]
fn a_cat_does_not_enter_when_pose_runs() {
    // The segmenter says person everywhere; the pose model found nobody, or a weak pose.
    for presence in [PresenceMode::Mask, PresenceMode::Auto, PresenceMode::Feet] {
        let mut zone = mat();
        zone.presence = presence;
        assert!(
            !zone.is_present(&POSE_ON, None, Some(&full_mask())),
            "{presence:?}: no body"
        );
        let weak = body_at([[0.4, 0.8], [0.6, 0.8]], 0.2);
        assert!(
            !zone.is_present(&POSE_ON, Some(&weak), Some(&full_mask())),
            "{presence:?}: weak body"
        );
    }
}

#[test]
fn without_pose_the_mask_alone_decides() {
    // The documented cost of pose = "off": the same cat is now "in" the zone.
    let zone = mat();
    assert!(zone.is_present(&POSE_OFF, None, Some(&full_mask())));
    let empty = Mask::new(64, 36, vec![0.0; 64 * 36]);
    assert!(!zone.is_present(&POSE_OFF, None, Some(&empty)));
    let mut strict = mat();
    strict.min_coverage = 1.0;
    let mut half = vec![0.0; 64 * 36];
    half[..64 * 30].fill(1.0);
    assert!(!strict.is_present(&POSE_OFF, None, Some(&Mask::new(64, 36, half))));
}
