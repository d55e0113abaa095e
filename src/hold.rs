//! Believing a change only once it has lasted: the timing that zones (enter/exit) and the
//! exercise rules (a held posture) share.

/// How long a new state must be seen, without interruption, before it is believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// This many consecutive frames (1 = at once).
    Frames(u32),
    /// This long since the first frame showing it (0 = at once).
    Millis(u64),
}

impl Hold {
    fn reached(self, frames: u32, elapsed_ms: u64) -> bool {
        match self {
            Hold::Frames(n) => frames >= n,
            Hold::Millis(ms) => elapsed_ms >= ms,
        }
    }
}

/// A value that only changes once a different one has been seen for a [`Hold`].
#[derive(Debug, Clone)]
pub struct Debounce<T> {
    value: T,
    /// The different value being seen, since when, and in how many frames.
    candidate: Option<(T, u64, u32)>,
}

impl<T: Copy + PartialEq> Debounce<T> {
    pub fn new(value: T) -> Debounce<T> {
        Debounce {
            value,
            candidate: None,
        }
    }

    pub fn value(&self) -> T {
        self.value
    }

    /// Feeds one observation; returns the new value when it changes.
    pub fn update(&mut self, timestamp_ms: u64, raw: T, hold: Hold) -> Option<T> {
        if raw == self.value {
            self.candidate = None;
            return None;
        }
        let (since, frames) = match self.candidate {
            Some((c, since, frames)) if c == raw => (since, frames + 1),
            _ => (timestamp_ms, 1),
        };
        if hold.reached(frames, timestamp_ms.saturating_sub(since)) {
            self.value = raw;
            self.candidate = None;
            Some(raw)
        } else {
            self.candidate = Some((raw, since, frames));
            None
        }
    }

    /// Sets the value at once, forgetting any candidate.
    pub fn force(&mut self, value: T) {
        self.value = value;
        self.candidate = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hold_in_millis() {
        let mut d = Debounce::new(false);
        assert_eq!(d.update(0, true, Hold::Millis(250)), None);
        assert_eq!(d.update(200, true, Hold::Millis(250)), None);
        assert_eq!(d.update(300, true, Hold::Millis(250)), Some(true));
    }
}
