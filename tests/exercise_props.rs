//! Properties of the state machines over random sequences.

use bodyzone::body::Posture;
use bodyzone::exercise::{PostureFilter, RepCounter, RepRule};
use bodyzone::hold::Hold;
use bodyzone::zone::ZoneTracker;
use proptest::prelude::*;

const DOWN: f32 = 110.0;
const UP: f32 = 150.0;

fn frame() -> impl Strategy<Value = (f32, Posture)> {
    (
        0.0f32..180.0,
        prop::sample::select(vec![Posture::Standing, Posture::Squat, Posture::Unknown]),
    )
}

proptest! {
    /// Every counted rep was preceded, since the previous rep (or the start), by a frame at the
    /// top and then a squat frame at the bottom, and is itself a frame at the top.
    #[test]
    fn no_rep_without_a_full_cycle(seq in prop::collection::vec(frame(), 0..200)) {
        let mut counter = RepCounter::new(RepRule::squat(DOWN, UP));
        let (mut top_seen, mut bottom_after_top) = (false, false);
        let mut reps = 0;
        for &(v, pose) in &seq {
            let at_top = v >= UP && pose == Posture::Standing;
            let at_bottom = v <= DOWN && pose == Posture::Squat;
            if counter.update(Some(v), pose) {
                reps += 1;
                prop_assert!(at_top && bottom_after_top, "rep without top→bottom→top");
                bottom_after_top = false;
            }
            if at_bottom && top_seen {
                bottom_after_top = true;
            }
            if at_top {
                top_seen = true;
            }
        }
        prop_assert_eq!(counter.reps(), reps);
    }

    /// Once at the top, angles inside the hysteresis band never count or flip anything: a
    /// later full cycle still counts exactly one rep.
    #[test]
    fn noise_inside_the_band_counts_nothing(noise in prop::collection::vec((DOWN + 0.01..UP - 0.01, any::<bool>()), 0..100)) {
        let mut counter = RepCounter::new(RepRule::squat(DOWN, UP));
        counter.update(Some(170.0), Posture::Standing);
        for &(v, squatting) in &noise {
            let pose = if squatting { Posture::Squat } else { Posture::Standing };
            prop_assert!(!counter.update(Some(v), pose));
        }
        prop_assert!(!counter.update(Some(80.0), Posture::Squat));
        for &(v, squatting) in &noise {
            let pose = if squatting { Posture::Squat } else { Posture::Standing };
            prop_assert!(!counter.update(Some(v), pose));
        }
        prop_assert!(counter.update(Some(170.0), Posture::Standing));
        prop_assert_eq!(counter.reps(), 1);
    }

    /// Interruptions shorter than the hold never change the held pose.
    #[test]
    fn short_noise_never_flips_the_pose(
        hold in 2u32..6,
        runs in prop::collection::vec((1u32..20, prop::sample::select(vec![Posture::Standing, Posture::Lunge, Posture::Unknown])), 0..50),
    ) {
        let mut filter = PostureFilter::new(Hold::Frames(hold));
        let mut t = 0;
        for _ in 0..hold {
            filter.update(t, Posture::Squat);
            t += 33;
        }
        prop_assert_eq!(filter.current(), Posture::Squat);
        for &(len, pose) in &runs {
            for _ in 0..len.min(hold - 1) {
                prop_assert_eq!(filter.update(t, pose), None);
                t += 33;
            }
            filter.update(t, Posture::Squat);
            t += 33;
        }
        prop_assert_eq!(filter.current(), Posture::Squat);
    }

    /// Presence flicker shorter than the enter hysteresis never enters the zone.
    #[test]
    fn flicker_never_enters(enter in 2u32..6, pattern in prop::collection::vec(1u32..10, 0..50)) {
        let mut tracker = ZoneTracker::new(Hold::Frames(enter), Hold::Frames(1), 0, 0);
        let mut t = 0;
        for &run in &pattern {
            for _ in 0..run.min(enter - 1) {
                prop_assert_eq!(tracker.update(t, true), None);
                t += 33;
            }
            prop_assert_eq!(tracker.update(t, false), None);
            t += 33;
        }
        prop_assert!(!tracker.is_inside());
    }
}
