//! Posture of one frame from joint angles and body orientation, and the hysteresis that holds it.

use crate::body::landmark::*;
use crate::body::{Body, Posture};
use crate::hold::{Debounce, Hold};

/// Angles (degrees) and ratios the rules compare against. Defaults were read off MediaPipe's
/// world keypoints on the squat and dance clips in `shared/fixtures/golden`: a standing knee
/// reads 150–165° in 3D (never quite 180), a squat bottom 65–95°, a squatting torso leans up
/// to 31° forward.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassifierParams {
    /// Keypoints less visible than this are ignored.
    pub min_visibility: f32,
    /// A knee, hip or elbow at least this open is straight.
    pub straight: f32,
    /// A knee, hip or elbow at most this open is bent (squat, lunge, push-up).
    pub bent: f32,
    /// Largest torso tilt from vertical for standing.
    pub upright: f32,
    /// Largest torso tilt for squat, lunge, warrior, jumping jack (squats lean forward).
    pub lean: f32,
    /// Smallest torso tilt for plank and push-up.
    pub horizontal: f32,
    /// Arms raised at least this far from the torso (shoulder angle) for a jumping jack.
    pub arms_up: f32,
    /// How long a new pose must be seen before it replaces the current one.
    pub hold: Hold,
}

impl Default for ClassifierParams {
    fn default() -> Self {
        ClassifierParams {
            min_visibility: 0.5,
            straight: 140.0,
            bent: 120.0,
            upright: 30.0,
            lean: 50.0,
            horizontal: 60.0,
            arms_up: 120.0,
            hold: Hold::Frames(2),
        }
    }
}

/// Warrior II arms: out to the side, roughly horizontal (shoulder angle, degrees).
const WARRIOR_ARMS: std::ops::RangeInclusive<f32> = 60.0..=120.0;
/// Warrior II stance: ankles at least this many hip widths apart.
const WARRIOR_STANCE: f32 = 2.5;
/// Jumping jack, open: ankles at least this many hip widths apart (standing is 0.9–1.3).
const JACK_STANCE: f32 = 1.5;
/// Both feet on the floor: ankle height difference below this fraction of the leg length
/// (squats reach 0.18; a raised leg in the dance clip 0.5–0.8).
const FEET_LEVEL: f32 = 0.3;
/// Plank and push-up rest on the hands or forearms: wrists below the shoulders by at least this
/// fraction of the torso length (someone lying on their back has them level).
const SUPPORT: f32 = 0.2;
/// Push-up rather than forearm plank: the forearm within this angle of vertical.
const FOREARM_UPRIGHT: f32 = 45.0;

/// The measurements of one body the rules use; `None` where a keypoint is not visible.
/// Pairs are `[left, right]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Measures {
    /// Hip–knee–ankle angle.
    pub knee: [Option<f32>; 2],
    /// Shoulder–hip–knee angle.
    pub hip: [Option<f32>; 2],
    /// Shoulder–elbow–wrist angle.
    pub elbow: [Option<f32>; 2],
    /// Hip–shoulder–elbow angle: 0 arm down along the body, 90 out to the side, 180 overhead.
    pub arm: [Option<f32>; 2],
    /// Shoulder–hip–ankle angle: 180 for a straight body.
    pub line: [Option<f32>; 2],
    /// Elbow→wrist direction from vertical.
    pub forearm_tilt: [Option<f32>; 2],
    /// Wrist below shoulder (metres, y down), over the torso length.
    pub support: [Option<f32>; 2],
    /// Hips→shoulders direction from straight up: 0 upright, 90 lying, 180 upside down.
    pub torso_tilt: Option<f32>,
    /// Ankle distance over hip width.
    pub stance: Option<f32>,
    /// Ankle height difference over leg length.
    pub feet_level: Option<f32>,
}

impl Measures {
    pub fn new(body: &Body, min_visibility: f32) -> Measures {
        let seen = |i: usize| body.visibility[i] >= min_visibility;
        let p = |i: usize| body.world[i];
        let angle = |a: usize, b: usize, c: usize| {
            (seen(a) && seen(b) && seen(c)).then(|| angle_at(p(a), p(b), p(c)))
        };
        let pair = |f: &dyn Fn(usize) -> Option<f32>| [f(0), f(1)];
        // Left/right keypoints alternate: left = even offset 0, right = 1.
        let knee = pair(&|s| angle(LEFT_HIP + s, LEFT_KNEE + s, LEFT_ANKLE + s));
        let hip = pair(&|s| angle(LEFT_SHOULDER + s, LEFT_HIP + s, LEFT_KNEE + s));
        let elbow = pair(&|s| angle(LEFT_SHOULDER + s, LEFT_ELBOW + s, LEFT_WRIST + s));
        let arm = pair(&|s| angle(LEFT_HIP + s, LEFT_SHOULDER + s, LEFT_ELBOW + s));
        let line = pair(&|s| angle(LEFT_SHOULDER + s, LEFT_HIP + s, LEFT_ANKLE + s));
        let forearm_tilt = pair(&|s| {
            (seen(LEFT_ELBOW + s) && seen(LEFT_WRIST + s))
                .then(|| tilt_from_down(sub(p(LEFT_WRIST + s), p(LEFT_ELBOW + s))))
        });

        let shoulders = centre(&[LEFT_SHOULDER, RIGHT_SHOULDER], &seen, &p);
        let hips = centre(&[LEFT_HIP, RIGHT_HIP], &seen, &p);
        let torso = shoulders.zip(hips).map(|(s, h)| sub(s, h));
        let torso_tilt = torso.map(|t| 180.0 - tilt_from_down(t));
        let torso_len = torso.map(norm);
        let support = pair(&|s| {
            let (wrist, shoulder) = (LEFT_WRIST + s, LEFT_SHOULDER + s);
            let len = torso_len.filter(|&l| l > 0.0)?;
            (seen(wrist) && seen(shoulder)).then(|| (p(wrist)[1] - p(shoulder)[1]) / len)
        });

        let all_seen = |ids: &[usize]| ids.iter().all(|&i| seen(i));
        let legs = [LEFT_HIP, RIGHT_HIP, LEFT_ANKLE, RIGHT_ANKLE];
        let (stance, feet_level) = if all_seen(&legs) {
            let hip_width = norm(sub(p(LEFT_HIP), p(RIGHT_HIP)));
            let leg = (norm(sub(p(LEFT_HIP), p(LEFT_ANKLE)))
                + norm(sub(p(RIGHT_HIP), p(RIGHT_ANKLE))))
                / 2.0;
            let ankles = sub(p(LEFT_ANKLE), p(RIGHT_ANKLE));
            (
                (hip_width > 0.0).then(|| norm(ankles) / hip_width),
                (leg > 0.0).then(|| ankles[1].abs() / leg),
            )
        } else {
            (None, None)
        };

        Measures {
            knee,
            hip,
            elbow,
            arm,
            line,
            forearm_tilt,
            support,
            torso_tilt,
            stance,
            feet_level,
        }
    }

    /// The pose these measurements show (no hysteresis).
    pub fn pose(&self, p: &ClassifierParams) -> Posture {
        let Some(tilt) = self.torso_tilt else {
            return Posture::Unknown;
        };
        if tilt >= p.horizontal {
            self.horizontal_pose(p)
        } else if tilt <= p.lean {
            self.upright_pose(p, tilt)
        } else {
            Posture::Unknown
        }
    }

    fn horizontal_pose(&self, p: &ClassifierParams) -> Posture {
        let straight_body = min(self.line).is_some_and(|a| a >= p.straight);
        let on_hands = max(self.support).is_some_and(|s| s >= SUPPORT);
        if !(straight_body && on_hands) {
            return Posture::Unknown;
        }
        match min(self.elbow) {
            None => Posture::Unknown,
            Some(e) if e >= p.straight => Posture::Plank,
            Some(_) if min(self.forearm_tilt).is_some_and(|t| t <= FOREARM_UPRIGHT) => {
                Posture::Pushup
            }
            Some(_) => Posture::Plank,
        }
    }

    fn upright_pose(&self, p: &ClassifierParams, tilt: f32) -> Posture {
        let feet_level = self.feet_level.is_some_and(|d| d <= FEET_LEVEL);
        let stance = self.stance.unwrap_or(0.0);
        let (Some(knee_lo), Some(knee_hi)) = (min(self.knee), max(self.knee)) else {
            return Posture::Unknown;
        };
        let arms = [min(self.arm), max(self.arm)];
        let elbows_straight = min(self.elbow).is_some_and(|e| e >= p.straight);

        if arms[0].is_some_and(|a| a >= p.arms_up) && knee_lo >= p.straight && stance >= JACK_STANCE
        {
            return Posture::JumpingJack;
        }
        let arms_out = arms
            .iter()
            .all(|a| a.is_some_and(|a| WARRIOR_ARMS.contains(&a)));
        if feet_level
            && knee_lo <= p.bent
            && knee_hi >= p.straight
            && stance >= WARRIOR_STANCE
            && arms_out
            && elbows_straight
        {
            return Posture::Warrior;
        }
        let (hip_lo, hip_hi) = (min(self.hip), max(self.hip));
        if feet_level
            && knee_lo <= p.bent
            && hip_hi.is_some_and(|h| h >= p.straight)
            && hip_lo.is_some_and(|h| h <= p.bent)
        {
            return Posture::Lunge;
        }
        if knee_hi <= p.bent && hip_hi.is_some_and(|h| h <= p.bent) {
            return Posture::Squat;
        }
        if tilt <= p.upright && knee_lo >= p.straight && hip_lo.is_some_and(|h| h >= p.straight) {
            return Posture::Standing;
        }
        Posture::Unknown
    }
}

/// The pose of one frame (no hysteresis): see the module docs for the rules' geometry.
pub fn classify(body: &Body, params: &ClassifierParams) -> Posture {
    Measures::new(body, params.min_visibility).pose(params)
}

/// Holds the current pose until another has been seen for [`ClassifierParams::hold`].
#[derive(Debug, Clone)]
pub struct PostureFilter {
    hold: Hold,
    state: Debounce<Posture>,
}

impl PostureFilter {
    pub fn new(hold: Hold) -> PostureFilter {
        PostureFilter {
            hold,
            state: Debounce::new(Posture::Unknown),
        }
    }

    /// Feeds one frame's pose; returns `Some((from, to))` when the held pose changes.
    pub fn update(&mut self, timestamp_ms: u64, raw: Posture) -> Option<(Posture, Posture)> {
        let from = self.state.value();
        self.state
            .update(timestamp_ms, raw, self.hold)
            .map(|to| (from, to))
    }

    /// The pose held now.
    pub fn current(&self) -> Posture {
        self.state.value()
    }
}

fn min(pair: [Option<f32>; 2]) -> Option<f32> {
    pair.into_iter().flatten().reduce(f32::min)
}

fn max(pair: [Option<f32>; 2]) -> Option<f32> {
    pair.into_iter().flatten().reduce(f32::max)
}

/// Mean of the visible keypoints among `ids`.
fn centre(
    ids: &[usize],
    seen: &dyn Fn(usize) -> bool,
    p: &dyn Fn(usize) -> [f32; 3],
) -> Option<[f32; 3]> {
    let visible: Vec<[f32; 3]> = ids.iter().filter(|&&i| seen(i)).map(|&i| p(i)).collect();
    if visible.is_empty() {
        return None;
    }
    let n = visible.len() as f32;
    Some(visible.iter().fold([0.0; 3], |acc, v| {
        [acc[0] + v[0] / n, acc[1] + v[1] / n, acc[2] + v[2] / n]
    }))
}

fn sub(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn dot(a: [f32; 3], b: [f32; 3]) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn norm(a: [f32; 3]) -> f32 {
    dot(a, a).sqrt()
}

fn angle_between(a: [f32; 3], b: [f32; 3]) -> f32 {
    let n = norm(a) * norm(b);
    if n == 0.0 {
        return 0.0;
    }
    (dot(a, b) / n).clamp(-1.0, 1.0).acos().to_degrees()
}

/// Angle at `b` between `b→a` and `b→c`, degrees.
pub(crate) fn angle_at(a: [f32; 3], b: [f32; 3], c: [f32; 3]) -> f32 {
    angle_between(sub(a, b), sub(c, b))
}

/// Angle of `v` from straight down (+y), degrees.
fn tilt_from_down(v: [f32; 3]) -> f32 {
    angle_between(v, [0.0, 1.0, 0.0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn angles() {
        assert!((angle_at([1.0, 0.0, 0.0], [0.0; 3], [0.0, 1.0, 0.0]) - 90.0).abs() < 1e-4);
        assert!((angle_at([1.0, 0.0, 0.0], [0.0; 3], [-1.0, 0.0, 0.0]) - 180.0).abs() < 1e-3);
        assert_eq!(tilt_from_down([0.0, 2.0, 0.0]), 0.0);
        assert!((tilt_from_down([0.0, 0.0, 3.0]) - 90.0).abs() < 1e-4);
    }

    #[test]
    fn pose_filter_needs_hold_frames() {
        let mut f = PostureFilter::new(Hold::Frames(3));
        assert_eq!(f.update(0, Posture::Squat), None);
        assert_eq!(f.update(1, Posture::Squat), None);
        assert_eq!(
            f.update(2, Posture::Squat),
            Some((Posture::Unknown, Posture::Squat))
        );
        assert_eq!(f.update(3, Posture::Standing), None);
        assert_eq!(f.update(4, Posture::Squat), None);
        assert_eq!(f.current(), Posture::Squat);
    }
}
