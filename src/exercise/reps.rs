//! Rep counting: a two-threshold state machine over one angle per exercise.

use super::classify::Measures;
use crate::body::Posture;

/// What makes one rep of an exercise: the angle watched, the threshold past which the person is
/// at the bottom (`enter`) and the one past which they are back at the top (`exit`). The band
/// between them is the hysteresis: noise inside it never changes the phase.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RepRule {
    pub exercise: Posture,
    /// Bottom of the movement: the angle has gone past this (below for squat/lunge/push-up,
    /// above for jumping jack).
    pub enter: f32,
    /// Back at the top: the angle has come back past this.
    pub exit: f32,
}

impl RepRule {
    /// Mean knee angle: bottom below `down`, top above `up`.
    pub fn squat(down: f32, up: f32) -> RepRule {
        RepRule {
            exercise: Posture::Squat,
            enter: down,
            exit: up,
        }
    }

    /// Front (more bent) knee angle.
    pub fn lunge(down: f32, up: f32) -> RepRule {
        RepRule {
            exercise: Posture::Lunge,
            enter: down,
            exit: up,
        }
    }

    /// Mean elbow angle.
    pub fn pushup(down: f32, up: f32) -> RepRule {
        RepRule {
            exercise: Posture::Pushup,
            enter: down,
            exit: up,
        }
    }

    /// Mean arm (shoulder) angle: open above `open`, closed below `closed`.
    pub fn jumping_jack(open: f32, closed: f32) -> RepRule {
        RepRule {
            exercise: Posture::JumpingJack,
            enter: open,
            exit: closed,
        }
    }

    /// The exercises that have reps.
    pub fn counts(exercise: Posture) -> bool {
        matches!(
            exercise,
            Posture::Squat | Posture::Lunge | Posture::Pushup | Posture::JumpingJack
        )
    }

    /// The angle this rule watches, if its keypoints are visible.
    pub fn signal(&self, m: &Measures) -> Option<f32> {
        let mean = |pair: [Option<f32>; 2]| {
            let v: Vec<f32> = pair.into_iter().flatten().collect();
            (!v.is_empty()).then(|| v.iter().sum::<f32>() / v.len() as f32)
        };
        match self.exercise {
            Posture::Squat => mean(m.knee),
            Posture::Lunge => m.knee.into_iter().flatten().reduce(f32::min),
            Posture::Pushup => mean(m.elbow),
            Posture::JumpingJack => mean(m.arm),
            _ => None,
        }
    }

    /// The pose a rep starts from and returns to.
    pub fn top_pose(&self) -> Posture {
        match self.exercise {
            Posture::Pushup => Posture::Plank,
            _ => Posture::Standing,
        }
    }

    /// `v` at or past `threshold` towards the bottom.
    fn deeper(&self, v: f32, threshold: f32) -> bool {
        if self.enter <= self.exit {
            v <= threshold
        } else {
            v >= threshold
        }
    }

    /// `v` at or past `threshold` towards the top.
    fn shallower(&self, v: f32, threshold: f32) -> bool {
        if self.enter <= self.exit {
            v >= threshold
        } else {
            v <= threshold
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not yet seen at the top: a rep cannot start mid-way.
    Unknown,
    Top,
    Bottom,
}

/// Counts reps of one exercise. A rep is top → bottom → top: the bottom needs the angle past
/// `enter` **and** the frame classified as the exercise (so a dancer bending a knee is not a
/// squat); the top needs the angle back past `exit` and the frame classified as the rule's
/// [`top_pose`](RepRule::top_pose). The rep counts on the return to the top.
#[derive(Debug, Clone)]
pub struct RepCounter {
    rule: RepRule,
    phase: Phase,
    reps: u32,
}

impl RepCounter {
    pub fn new(rule: RepRule) -> RepCounter {
        RepCounter {
            rule,
            phase: Phase::Unknown,
            reps: 0,
        }
    }

    pub fn rule(&self) -> &RepRule {
        &self.rule
    }

    /// Feeds one frame: the watched angle (`None` when not visible: no change) and the frame's
    /// unfiltered pose. Returns `true` when this frame completes a rep.
    pub fn update(&mut self, signal: Option<f32>, pose: Posture) -> bool {
        let Some(v) = signal else {
            return false;
        };
        let at_top = self.rule.shallower(v, self.rule.exit) && pose == self.rule.top_pose();
        let at_bottom = self.rule.deeper(v, self.rule.enter) && pose == self.rule.exercise;
        match self.phase {
            Phase::Unknown | Phase::Top if at_top => self.phase = Phase::Top,
            Phase::Top if at_bottom => self.phase = Phase::Bottom,
            Phase::Bottom if at_top => {
                self.phase = Phase::Top;
                self.reps += 1;
                return true;
            }
            _ => {}
        }
        false
    }

    /// Reps counted since creation or the last [`reset`](Self::reset).
    pub fn reps(&self) -> u32 {
        self.reps
    }

    /// Back to zero, waiting for the top (a new visit to the zone).
    pub fn reset(&mut self) {
        self.phase = Phase::Unknown;
        self.reps = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(counter: &mut RepCounter, seq: &[(f32, Posture)]) -> u32 {
        seq.iter()
            .filter(|&&(v, p)| counter.update(Some(v), p))
            .count() as u32
    }

    #[test]
    fn squat_counts_on_return_to_top() {
        use Posture::*;
        let mut c = RepCounter::new(RepRule::squat(110.0, 150.0));
        let seq = [
            (160.0, Standing),
            (120.0, Unknown),
            (90.0, Squat),
            (130.0, Unknown),
        ];
        assert_eq!(run(&mut c, &seq), 0, "not back at the top yet");
        assert_eq!(run(&mut c, &[(155.0, Standing)]), 1);
        assert_eq!(c.reps(), 1);
    }

    #[test]
    fn starting_at_the_bottom_is_not_a_rep() {
        use Posture::*;
        let mut c = RepCounter::new(RepRule::squat(110.0, 150.0));
        assert_eq!(run(&mut c, &[(80.0, Squat), (160.0, Standing)]), 0);
    }

    #[test]
    fn bottom_needs_the_exercise_pose() {
        use Posture::*;
        let mut c = RepCounter::new(RepRule::squat(110.0, 150.0));
        assert_eq!(
            run(
                &mut c,
                &[(160.0, Standing), (70.0, Unknown), (160.0, Standing)]
            ),
            0
        );
    }

    #[test]
    fn jumping_jack_counts_upwards_angles() {
        use Posture::*;
        let mut c = RepCounter::new(RepRule::jumping_jack(120.0, 50.0));
        let seq = [
            (20.0, Standing),
            (150.0, JumpingJack),
            (90.0, Unknown),
            (30.0, Standing),
        ];
        assert_eq!(run(&mut c, &seq), 1);
    }

    #[test]
    fn pushup_returns_to_plank() {
        use Posture::*;
        let mut c = RepCounter::new(RepRule::pushup(100.0, 150.0));
        let seq = [
            (170.0, Plank),
            (80.0, Pushup),
            (165.0, Plank),
            (85.0, Pushup),
            (170.0, Plank),
        ];
        assert_eq!(run(&mut c, &seq), 2);
    }
}
