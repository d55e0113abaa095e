//! Floor zones: where a person must be for their pose to count.
//!
//! A [`Zone`] is a polygon in normalised frame coordinates (`0..1`, x right, y down) with rules
//! for deciding that the person is in it ([`Zone::is_present`]) and a [`ZoneTracker`] that turns
//! those per-frame answers into `enter`/`exit` changes with hysteresis, a minimum dwell and a
//! cooldown.
//!
//! # Presence
//!
//! - `feet`: the visible floor-contact keypoints ([`Zone::anchors`], by default ankles, heels and
//!   toes) are inside the polygon (`any` or `all` of them, [`AnchorRule`]). This is where the
//!   person stands, whatever the camera angle.
//! - `mask`: at least [`Zone::min_coverage`] of the polygon's area is covered by the person mask.
//! - `auto`: feet when a foot keypoint is visible, mask otherwise (feet cut off by the frame).
//!
//! The selfie segmentation models are not person detectors: MediaPipe's general model marks 91%
//! of a cat photo as person and 23–51% of a cup of coffee. So when the pose model runs, presence
//! in **every** mode is gated on it: no body, or a body whose score is below
//! [`PresenceGate::min_pose_score`], is absent, whatever the mask says. With the pose model off
//! there is nothing to gate with and presence falls back to mask coverage alone: anything the
//! segmenter mistakes for a person (pets, coats on chairs, some furniture) can then enter a zone.
//!
//! ## Examples
//!
//! ```
//! use bodyzone::hold::Hold;
//! use bodyzone::zone::{ZoneChange, ZoneTracker};
//!
//! let mut tracker = ZoneTracker::new(Hold::Frames(2), Hold::Frames(2), 0, 0);
//! assert_eq!(tracker.update(0, true), None);
//! assert_eq!(tracker.update(100, true), Some(ZoneChange::Enter));
//! assert_eq!(tracker.update(200, false), None); // one frame away is noise
//! assert_eq!(tracker.update(300, true), None);
//! assert!(tracker.is_inside());
//! ```

use crate::body::landmark::FEET;
use crate::body::{Body, Posture};
use crate::frame::Mask;
use crate::hold::{Debounce, Hold};

/// A polygon in normalised frame coordinates: at least 3 points, each in `0..=1`, with an area.
#[derive(Debug, Clone, PartialEq)]
pub struct Polygon {
    points: Vec<[f32; 2]>,
}

/// Why a list of points is not a [`Polygon`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolygonError {
    #[error("need at least 3 points, got {0}")]
    TooFewPoints(usize),
    #[error("point {index} is [{}, {}]: coordinates are fractions of the frame, 0.0 to 1.0", point[0], point[1])]
    OutOfRange { index: usize, point: [f32; 2] },
    #[error("the points enclose no area (all on one line)")]
    NoArea,
}

impl Polygon {
    pub fn new(points: Vec<[f32; 2]>) -> Result<Polygon, PolygonError> {
        if points.len() < 3 {
            return Err(PolygonError::TooFewPoints(points.len()));
        }
        let unit = 0.0..=1.0;
        if let Some((index, &point)) = points
            .iter()
            .enumerate()
            .find(|(_, p)| !(unit.contains(&p[0]) && unit.contains(&p[1])))
        {
            return Err(PolygonError::OutOfRange { index, point });
        }
        let polygon = Polygon { points };
        if polygon.area() < 1e-6 {
            return Err(PolygonError::NoArea);
        }
        Ok(polygon)
    }

    pub fn points(&self) -> &[[f32; 2]] {
        &self.points
    }

    /// Area in units of the whole frame (shoelace formula).
    pub fn area(&self) -> f32 {
        let n = self.points.len();
        let twice: f32 = (0..n)
            .map(|i| {
                let (a, b) = (self.points[i], self.points[(i + 1) % n]);
                a[0] * b[1] - b[0] * a[1]
            })
            .sum();
        twice.abs() / 2.0
    }

    /// Whether a normalised point is inside (even-odd rule).
    pub fn contains(&self, [x, y]: [f32; 2]) -> bool {
        let n = self.points.len();
        let mut inside = false;
        for i in 0..n {
            let (a, b) = (self.points[i], self.points[(i + n - 1) % n]);
            if (a[1] > y) != (b[1] > y) && x < (b[0] - a[0]) * (y - a[1]) / (b[1] - a[1]) + a[0] {
                inside = !inside;
            }
        }
        inside
    }

    /// Fraction of the polygon's mask pixels (by pixel centre) whose person probability is at
    /// least 0.5; 0 when the polygon holds no pixel centre.
    pub fn coverage(&self, mask: &Mask) -> f32 {
        let (w, h) = (mask.width(), mask.height());
        let (mut lo, mut hi) = ([1.0f32; 2], [0.0f32; 2]);
        for p in &self.points {
            lo = [lo[0].min(p[0]), lo[1].min(p[1])];
            hi = [hi[0].max(p[0]), hi[1].max(p[1])];
        }
        let px = |v: f32, n: u32| ((v * n as f32) as u32).min(n.saturating_sub(1));
        let (mut inside, mut person) = (0u32, 0u32);
        for y in px(lo[1], h)..=px(hi[1], h) {
            for x in px(lo[0], w)..=px(hi[0], w) {
                let centre = [(x as f32 + 0.5) / w as f32, (y as f32 + 0.5) / h as f32];
                if self.contains(centre) {
                    inside += 1;
                    person += u32::from(mask.get(x, y) >= 0.5);
                }
            }
        }
        if inside == 0 {
            0.0
        } else {
            person as f32 / inside as f32
        }
    }
}

/// How a zone decides that the person is in it (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceMode {
    Feet,
    Mask,
    Auto,
}

/// Whether any or all of the visible anchor keypoints must be inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnchorRule {
    Any,
    All,
}

/// A zone and its rules, as validated from the config.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    /// Letters, digits, `_` and `-`; unique.
    pub name: String,
    pub polygon: Polygon,
    /// The exercise this zone is for; `None` for any.
    pub exercise: Option<Posture>,
    pub presence: PresenceMode,
    /// Mask mode: least fraction of the polygon the person must cover.
    pub min_coverage: f32,
    /// Feet mode: keypoint indices that must be inside.
    pub anchors: Vec<usize>,
    pub anchor_rule: AnchorRule,
    pub enter: Hold,
    pub exit: Hold,
    /// Exercise events (pose, rep) only once the person has been inside this long.
    pub min_dwell_ms: u64,
    /// After an exit, presence is ignored for this long.
    pub cooldown_ms: u64,
}

/// What presence is gated on: the pose model's verdict that a person is there.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PresenceGate {
    /// Whether a pose model runs at all; without one, presence is mask coverage alone.
    pub pose_enabled: bool,
    /// A body scoring below this is nobody.
    pub min_pose_score: f32,
    /// Keypoints less visible than this are ignored.
    pub min_visibility: f32,
}

impl Zone {
    /// A zone with the default rules: auto presence, all visible feet keypoints inside, 15%
    /// coverage, enter after 3 frames, exit after 5, no dwell or cooldown.
    pub fn new(name: impl Into<String>, polygon: Polygon) -> Zone {
        Zone {
            name: name.into(),
            polygon,
            exercise: None,
            presence: PresenceMode::Auto,
            min_coverage: 0.15,
            anchors: FEET.to_vec(),
            anchor_rule: AnchorRule::All,
            enter: Hold::Frames(3),
            exit: Hold::Frames(5),
            min_dwell_ms: 0,
            cooldown_ms: 0,
        }
    }

    /// Whether this frame shows the person in the zone. `body` is the pose model's person (or
    /// `None` when it found nobody or does not run), `mask` the person mask if there is one.
    pub fn is_present(
        &self,
        gate: &PresenceGate,
        body: Option<&Body>,
        mask: Option<&Mask>,
    ) -> bool {
        let covered = || mask.is_some_and(|m| self.polygon.coverage(m) >= self.min_coverage);
        if !gate.pose_enabled {
            return covered();
        }
        let Some(body) = body.filter(|b| b.score >= gate.min_pose_score) else {
            return false;
        };
        match (self.presence, self.feet_inside(body, gate.min_visibility)) {
            (PresenceMode::Mask, _) | (PresenceMode::Auto, None) => covered(),
            (PresenceMode::Feet | PresenceMode::Auto, Some(inside)) => inside,
            (PresenceMode::Feet, None) => false,
        }
    }

    /// `None` when no anchor keypoint is visible.
    fn feet_inside(&self, body: &Body, min_visibility: f32) -> Option<bool> {
        let mut visible = self
            .anchors
            .iter()
            .filter(|&&i| body.visibility[i] >= min_visibility)
            .peekable();
        visible.peek()?;
        let mut inside = visible.map(|&i| self.polygon.contains(body.image[i]));
        Some(match self.anchor_rule {
            AnchorRule::Any => inside.any(|b| b),
            AnchorRule::All => inside.all(|b| b),
        })
    }
}

/// A change of a zone's occupancy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneChange {
    Enter,
    Exit,
}

/// Turns per-frame presence into enter/exit changes: `enter` consecutive presence to enter,
/// `exit` consecutive absence to leave, then `cooldown_ms` during which presence is ignored.
#[derive(Debug, Clone)]
pub struct ZoneTracker {
    enter: Hold,
    exit: Hold,
    min_dwell_ms: u64,
    cooldown_ms: u64,
    inside: Debounce<bool>,
    entered_ms: u64,
    cooldown_until_ms: u64,
}

impl ZoneTracker {
    pub fn new(enter: Hold, exit: Hold, min_dwell_ms: u64, cooldown_ms: u64) -> ZoneTracker {
        ZoneTracker {
            enter,
            exit,
            min_dwell_ms,
            cooldown_ms,
            inside: Debounce::new(false),
            entered_ms: 0,
            cooldown_until_ms: 0,
        }
    }

    pub fn for_zone(zone: &Zone) -> ZoneTracker {
        ZoneTracker::new(zone.enter, zone.exit, zone.min_dwell_ms, zone.cooldown_ms)
    }

    /// Feeds one frame's presence at `timestamp_ms` (non-decreasing).
    pub fn update(&mut self, timestamp_ms: u64, present: bool) -> Option<ZoneChange> {
        let inside = self.inside.value();
        let present = present && (inside || timestamp_ms >= self.cooldown_until_ms);
        let hold = if inside { self.exit } else { self.enter };
        match self.inside.update(timestamp_ms, present, hold)? {
            true => {
                self.entered_ms = timestamp_ms;
                Some(ZoneChange::Enter)
            }
            false => {
                self.cooldown_until_ms = timestamp_ms.saturating_add(self.cooldown_ms);
                Some(ZoneChange::Exit)
            }
        }
    }

    /// Leaves at once (camera lost, shutting down); `Some(Exit)` if the person was inside.
    pub fn force_exit(&mut self, timestamp_ms: u64) -> Option<ZoneChange> {
        let was_inside = self.inside.value();
        self.inside.force(false);
        was_inside.then(|| {
            self.cooldown_until_ms = timestamp_ms.saturating_add(self.cooldown_ms);
            ZoneChange::Exit
        })
    }

    pub fn is_inside(&self) -> bool {
        self.inside.value()
    }

    /// Inside for at least the minimum dwell: exercise events count.
    pub fn is_settled(&self, timestamp_ms: u64) -> bool {
        self.is_inside() && timestamp_ms.saturating_sub(self.entered_ms) >= self.min_dwell_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square() -> Polygon {
        Polygon::new(vec![[0.25, 0.25], [0.75, 0.25], [0.75, 0.75], [0.25, 0.75]]).unwrap()
    }

    #[test]
    fn polygon_validation() {
        assert_eq!(
            Polygon::new(vec![[0.0, 0.0], [1.0, 1.0]]),
            Err(PolygonError::TooFewPoints(2))
        );
        assert_eq!(
            Polygon::new(vec![[0.0, 0.0], [1.5, 0.0], [1.0, 1.0]]),
            Err(PolygonError::OutOfRange {
                index: 1,
                point: [1.5, 0.0]
            })
        );
        assert_eq!(
            Polygon::new(vec![[0.0, 0.0], [0.5, 0.5], [1.0, 1.0]]),
            Err(PolygonError::NoArea)
        );
        assert!((square().area() - 0.25).abs() < 1e-6);
    }

    #[test]
    fn point_in_polygon() {
        let p = square();
        assert!(p.contains([0.5, 0.5]));
        assert!(!p.contains([0.1, 0.5]));
        assert!(!p.contains([0.5, 0.9]));
        let tri = Polygon::new(vec![[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]).unwrap();
        assert!(tri.contains([0.2, 0.2]));
        assert!(!tri.contains([0.8, 0.8]));
    }

    #[test]
    fn coverage_counts_person_pixels_inside() {
        // 4×4 mask, left half person: the square covers the middle 2×2, half of it person.
        let values = (0..16).map(|i| if i % 4 < 2 { 1.0 } else { 0.0 }).collect();
        let mask = Mask::new(4, 4, values);
        assert_eq!(square().coverage(&mask), 0.5);
    }

    #[test]
    fn cooldown_blocks_reentry() {
        let mut t = ZoneTracker::new(Hold::Frames(1), Hold::Frames(1), 0, 1000);
        assert_eq!(t.update(0, true), Some(ZoneChange::Enter));
        assert_eq!(t.update(100, false), Some(ZoneChange::Exit));
        assert_eq!(t.update(500, true), None);
        assert_eq!(t.update(1100, true), Some(ZoneChange::Enter));
    }

    #[test]
    fn dwell_settles() {
        let mut t = ZoneTracker::new(Hold::Frames(1), Hold::Frames(1), 500, 0);
        t.update(1000, true);
        assert!(!t.is_settled(1200));
        assert!(t.is_settled(1500));
    }
}
