//! The capture thread: a device (camera, pipe) or a file source read on a thread of its own,
//! each frame run through a [`Stage`] there (the runner converts its pixels), and a queue of 1–2
//! items where the newest wins, with a failed device reopened with exponential back-off.
//!
//! The thread owns the device ([`Capture`]). A live device's thread never waits for the
//! consumer: when the queue is full the oldest item is dropped. Its frames are renumbered so
//! that `sequence` counts every frame the device produced — the driver's own sequence gaps
//! included — and [`Live::dropped`] is the number the consumer never saw. A lossless source (a
//! pipe, a file) waits for room instead. Items handed back ([`Live::recycle_item`]) go to a pool
//! the stage fills next, and the thread keeps one raw buffer, so nothing is allocated once the
//! stream runs.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{FrameSource, OpenOptions, SourceError};
use crate::frame::{ConvertError, Frame};

/// A device that blocks until its next frame.
pub trait Capture: Send {
    /// Fills `frame` (reusing `frame.data`'s memory) with the next frame, setting `sequence` to
    /// the device's own counter if it has one. `Ok(false)`: the stream ended (a closed pipe).
    /// Must return within the device's frame timeout.
    fn grab(&mut self, frame: &mut Frame) -> Result<bool, SourceError>;
}

/// Opens (and later reopens) the device.
pub type Opener = Box<dyn FnMut() -> Result<Box<dyn Capture>, SourceError> + Send>;

/// Work done on the capture thread on every frame before it is queued, so that it overlaps the
/// consumer's work on the previous item.
pub trait Stage: Send + 'static {
    /// What the consumer receives.
    type Item: Send + 'static;

    /// Turns the grabbed `frame` into an item, refilling `reuse` (an item handed back) when
    /// there is one. `frame` keeps a buffer for the next grab.
    fn process(
        &mut self,
        frame: &mut Frame,
        reuse: Option<Self::Item>,
    ) -> Result<Self::Item, ConvertError>;
}

/// The stage that queues the raw frames themselves.
#[derive(Debug, Clone, Copy, Default)]
pub struct Raw;

impl Stage for Raw {
    type Item = Frame;

    fn process(&mut self, frame: &mut Frame, reuse: Option<Frame>) -> Result<Frame, ConvertError> {
        Ok(std::mem::replace(frame, reuse.unwrap_or_else(Frame::empty)))
    }
}

/// Delays between reopening attempts: `initial`, doubled each failure, at most `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(8),
        }
    }
}

impl Backoff {
    /// The wait before attempt `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(30);
        self.initial.saturating_mul(1 << doublings).min(self.max)
    }
}

/// A device opened and not yet captured from.
pub struct Device {
    /// For logs and errors: `/dev/video0 (uvcvideo, YUYV 640x480@30)`, `stdin`.
    pub name: String,
    pub first: Box<dyn Capture>,
    /// Reopens the device after a failure, when `reconnect` is set.
    pub opener: Opener,
    pub reconnect: Option<Backoff>,
    /// Wait for the consumer instead of dropping the oldest frame (pipes).
    pub lossless: bool,
    /// Items kept for a slow consumer (1–2).
    pub queue: usize,
    /// Longest wait for a frame before [`SourceError::Timeout`].
    pub frame_timeout: Duration,
}

/// A source before its capture thread starts: a device, or a source read in turn (files,
/// images, the synthetic figure), which the thread reads losslessly and without a timeout.
pub enum Opened {
    Device(Device),
    Pull(Box<dyn FrameSource>),
}

impl Opened {
    /// Starts the capture thread, running `stage` on every frame.
    pub fn start<S: Stage>(self, stage: S) -> Result<Live<S>, SourceError> {
        match self {
            Opened::Device(device) => Live::start(device, stage, false),
            Opened::Pull(source) => {
                let name = source.describe();
                let len_hint = source.len_hint();
                let is_live = source.is_live();
                let device = Device {
                    name,
                    first: Box::new(Pulled(source)),
                    opener: Box::new(|| unreachable!("a pulled source is never reopened")),
                    reconnect: None,
                    lossless: true,
                    queue: 2,
                    frame_timeout: Duration::MAX,
                };
                let mut live = Live::start(device, stage, true)?;
                live.len_hint = len_hint;
                live.is_live = is_live;
                Ok(live)
            }
        }
    }

    /// As a plain frame source: a device gets its capture thread, any other source is itself.
    pub fn into_source(self) -> Result<Box<dyn FrameSource>, SourceError> {
        Ok(match self {
            Opened::Device(device) => Box::new(Live::start(device, Raw, false)?),
            Opened::Pull(source) => source,
        })
    }
}

impl<S: FrameSource + 'static> From<S> for Opened {
    fn from(source: S) -> Opened {
        Opened::Pull(Box::new(source))
    }
}

/// A source read in turn on the capture thread.
struct Pulled(Box<dyn FrameSource>);

impl Capture for Pulled {
    fn grab(&mut self, frame: &mut Frame) -> Result<bool, SourceError> {
        let Some(next) = self.0.next_frame()? else {
            return Ok(false);
        };
        let used = std::mem::replace(frame, next);
        if !used.data.is_empty() {
            self.0.recycle(used);
        }
        Ok(true)
    }
}

#[derive(Debug)]
enum Status {
    Running,
    Reconnecting { attempt: u32, cause: String },
    Ended,
    Failed(SourceError),
}

struct State<T> {
    /// Items, and the transient errors of a source without reconnection, in order.
    queue: VecDeque<Result<T, SourceError>>,
    pool: Vec<T>,
    status: Status,
    dropped: u64,
    /// Bumped on every new item or status change; the consumer waits for it to move.
    generation: u64,
    stop: bool,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    changed: Condvar,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panic on the other side leaves the state consistent (every update is one assignment).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, f: impl FnOnce(&mut State<T>)) {
        let mut state = self.lock();
        f(&mut state);
        state.generation += 1;
        self.changed.notify_all();
    }
}

/// A source on its capture thread, giving [`Stage::Item`]s; with the [`Raw`] stage a
/// [`FrameSource`].
pub struct Live<S: Stage = Raw> {
    name: String,
    shared: Arc<Shared<S::Item>>,
    frame_timeout: Duration,
    is_live: bool,
    len_hint: Option<u64>,
    /// Joined on drop, so that a file source (and an `ffmpeg` behind it) is closed by then; a
    /// device's thread is not, as a pipe read can block until its writer closes it.
    joined: Option<std::thread::JoinHandle<()>>,
}

impl Live {
    /// Opens the device once on the caller's thread (so a missing device fails at once), then
    /// captures on a new thread. With `reconnect`, a failing device is reopened for ever with
    /// back-off; without, its error ends the stream.
    pub fn spawn(
        name: String,
        mut opener: Opener,
        reconnect: Option<Backoff>,
        opts: &OpenOptions,
    ) -> Result<Live, SourceError> {
        let first = opener()?;
        let device = Device {
            name,
            first,
            opener,
            reconnect,
            lossless: opts.lossless,
            queue: opts.queue,
            frame_timeout: opts.frame_timeout,
        };
        Live::start(device, Raw, false)
    }
}

impl<S: Stage> Live<S> {
    /// `pulled`: a source read in turn, whose frames keep their own numbers and times (a
    /// device's are numbered and timed here).
    fn start(device: Device, stage: S, pulled: bool) -> Result<Live<S>, SourceError> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                pool: Vec::new(),
                status: Status::Running,
                dropped: 0,
                generation: 0,
                stop: false,
            }),
            changed: Condvar::new(),
        });
        let name = device.name.clone();
        let worker = Worker {
            name: name.clone(),
            shared: shared.clone(),
            capacity: device.queue.clamp(1, 2),
            lossless: device.lossless,
            restamp: !pulled,
            start: Instant::now(),
            stage,
        };
        let lossless = device.lossless;
        let frame_timeout = device.frame_timeout;
        let thread = std::thread::Builder::new()
            .name(format!("capture {name}"))
            .spawn(move || {
                let shared = worker.shared.clone();
                let device_name = worker.name.clone();
                // A bug in a driver binding or a converter must end the run with its message,
                // not leave the consumer waiting for frames that never come.
                let run = std::panic::AssertUnwindSafe(|| {
                    worker.run(device.first, device.opener, device.reconnect)
                });
                if let Err(panic) = std::panic::catch_unwind(run) {
                    let message = crate::process::panic_message(&*panic);
                    shared.update(|s| {
                        s.status = Status::Failed(SourceError::Panicked {
                            device: device_name,
                            message,
                        })
                    });
                }
            })
            .map_err(|source| SourceError::Io {
                path: name.clone().into(),
                source,
            })?;
        Ok(Live {
            name,
            shared,
            frame_timeout,
            is_live: !lossless,
            len_hint: None,
            joined: pulled.then_some(thread),
        })
    }

    /// The next item; `Ok(None)` once the stream ended. Waits at most the frame timeout for a
    /// device; a transient error ([`SourceError::is_transient`]) means "no item now, call
    /// again".
    pub fn next_item(&mut self) -> Result<Option<S::Item>, SourceError> {
        let mut state = self.shared.lock();
        let seen = state.generation;
        let deadline = Instant::now().checked_add(self.frame_timeout);
        loop {
            if let Some(item) = state.queue.pop_front() {
                // A lossless worker waits for this room.
                self.shared.changed.notify_all();
                return item.map(Some);
            }
            match &state.status {
                Status::Ended => return Ok(None),
                Status::Failed(_) => {
                    let Status::Failed(err) = std::mem::replace(&mut state.status, Status::Ended)
                    else {
                        unreachable!("matched Failed above")
                    };
                    return Err(err);
                }
                Status::Reconnecting { attempt, cause } if state.generation != seen => {
                    return Err(SourceError::Reconnecting {
                        device: self.name.clone(),
                        attempt: *attempt,
                        cause: cause.clone(),
                    });
                }
                _ => {}
            }
            let before = state.generation;
            let Some(deadline) = deadline else {
                state = self
                    .shared
                    .changed
                    .wait_while(state, |s| s.generation == before)
                    .unwrap_or_else(|e| e.into_inner());
                continue;
            };
            let now = Instant::now();
            if now >= deadline {
                return Err(match &state.status {
                    Status::Reconnecting { attempt, cause } => SourceError::Reconnecting {
                        device: self.name.clone(),
                        attempt: *attempt,
                        cause: cause.clone(),
                    },
                    _ => SourceError::Timeout {
                        device: self.name.clone(),
                        after: self.frame_timeout,
                    },
                });
            }
            state = self
                .shared
                .changed
                .wait_timeout_while(state, deadline - now, |s| s.generation == before)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Hands an item back so the stage refills it for a later frame.
    pub fn recycle_item(&mut self, item: S::Item) {
        let mut state = self.shared.lock();
        if state.pool.len() < 4 {
            state.pool.push(item);
        }
    }

    /// What this is, for logs.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Frames the device produced that the consumer never received.
    pub fn dropped(&self) -> u64 {
        self.shared.lock().dropped
    }

    /// A camera or pipe that does not wait for the consumer.
    pub fn is_live(&self) -> bool {
        self.is_live
    }

    /// The number of frames, when the source knows it in advance.
    pub fn len_hint(&self) -> Option<u64> {
        self.len_hint
    }
}

struct Worker<S: Stage> {
    name: String,
    shared: Arc<Shared<S::Item>>,
    capacity: usize,
    /// Wait for room in the queue instead of dropping the oldest item.
    lossless: bool,
    restamp: bool,
    start: Instant,
    stage: S,
}

impl<S: Stage> Worker<S> {
    fn run(
        mut self,
        mut capture: Box<dyn Capture>,
        mut opener: Opener,
        reconnect: Option<Backoff>,
    ) {
        let mut produced: u64 = 0;
        let mut last_device_seq: Option<u64> = None;
        let mut frame = Frame::empty();
        loop {
            let grabbed = capture.grab(&mut frame);
            if self.shared.lock().stop {
                return;
            }
            match grabbed {
                Ok(true) => {
                    let mut gap = 0;
                    if self.restamp {
                        let device_seq = frame.sequence;
                        gap = match last_device_seq {
                            Some(last) if device_seq > last => device_seq - last - 1,
                            _ => 0,
                        };
                        last_device_seq = Some(device_seq);
                        produced += gap;
                        frame.sequence = produced;
                        frame.timestamp = self.start.elapsed();
                        produced += 1;
                    }
                    let reuse = self.shared.lock().pool.pop();
                    let item = match self.stage.process(&mut frame, reuse) {
                        Ok(item) => item,
                        Err(source) => {
                            let device = self.name.clone();
                            let err = SourceError::Convert { device, source };
                            self.shared.update(|s| s.status = Status::Failed(err));
                            return;
                        }
                    };
                    if !self.push(Ok(item), gap) {
                        return;
                    }
                }
                Ok(false) => {
                    tracing::info!(source = %self.name, "end of stream");
                    self.shared.update(|s| s.status = Status::Ended);
                    return;
                }
                Err(err) if err.is_transient() && reconnect.is_none() => {
                    if !self.push(Err(err), 0) {
                        return;
                    }
                }
                Err(err) => {
                    let Some(backoff) = reconnect else {
                        self.shared.update(|s| s.status = Status::Failed(err));
                        return;
                    };
                    drop(capture);
                    match self.reopen(&mut opener, backoff, err) {
                        Some(reopened) => capture = reopened,
                        None => return,
                    }
                    last_device_seq = None;
                }
            }
        }
    }

    /// Queues an item (dropping the oldest when full, or waiting for room when lossless);
    /// `false` when the source was dropped meanwhile.
    fn push(&self, item: Result<S::Item, SourceError>, gap: u64) -> bool {
        if self.lossless && !self.wait_for_room() {
            return false;
        }
        let capacity = self.capacity;
        self.shared.update(|s| {
            s.dropped += gap;
            while s.queue.len() >= capacity {
                if let Some(Ok(stale)) = s.queue.pop_front() {
                    s.pool.push(stale);
                    s.dropped += 1;
                }
            }
            s.queue.push_back(item);
        });
        true
    }

    /// Waits until the queue has room; `false` when the source was dropped meanwhile.
    fn wait_for_room(&self) -> bool {
        let state = self.shared.lock();
        let state = self
            .shared
            .changed
            .wait_while(state, |s| s.queue.len() >= self.capacity && !s.stop)
            .unwrap_or_else(|e| e.into_inner());
        !state.stop
    }

    /// Retries `opener` with back-off until it succeeds (`Some`) or the source is dropped.
    fn reopen(
        &self,
        opener: &mut Opener,
        backoff: Backoff,
        err: SourceError,
    ) -> Option<Box<dyn Capture>> {
        tracing::warn!(source = %self.name, error = %err, "camera failed; reconnecting");
        let mut cause = err.to_string();
        for attempt in 1.. {
            self.shared.update(|s| {
                s.status = Status::Reconnecting {
                    attempt,
                    cause: cause.clone(),
                };
            });
            let delay = backoff.delay(attempt);
            let state = self.shared.lock();
            let (state, _) = self
                .shared
                .changed
                .wait_timeout_while(state, delay, |s| !s.stop)
                .unwrap_or_else(|e| e.into_inner());
            if state.stop {
                return None;
            }
            drop(state);
            match opener() {
                Ok(capture) => {
                    tracing::info!(source = %self.name, attempt, "camera reconnected");
                    self.shared.update(|s| s.status = Status::Running);
                    return Some(capture);
                }
                Err(e) => {
                    tracing::warn!(source = %self.name, attempt, retry_in = ?backoff.delay(attempt + 1), error = %e, "reconnect failed");
                    cause = e.to_string();
                }
            }
        }
        unreachable!("the attempt counter is unbounded")
    }
}

impl FrameSource for Live {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        self.next_item()
    }

    fn describe(&self) -> String {
        self.name.clone()
    }

    fn is_live(&self) -> bool {
        Live::is_live(self)
    }

    fn dropped(&self) -> u64 {
        Live::dropped(self)
    }

    fn len_hint(&self) -> Option<u64> {
        Live::len_hint(self)
    }

    fn recycle(&mut self, frame: Frame) {
        self.recycle_item(frame)
    }
}

impl<S: Stage> Drop for Live<S> {
    /// Tells the thread to stop; it closes the device after its current `grab` returns.
    fn drop(&mut self) {
        self.shared.update(|s| s.stop = true);
        if let Some(thread) = self.joined.take() {
            // A panic there was already reported through the status.
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn backoff_doubles_up_to_max() {
        let b = Backoff {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(2),
        };
        let delays: Vec<u64> = (1..=6).map(|a| b.delay(a).as_millis() as u64).collect();
        assert_eq!(delays, [250, 500, 1000, 2000, 2000, 2000]);
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(2));
    }

    /// What the fake camera does on its next `grab`.
    enum Step {
        Frame(u64),
        Fail,
        End,
    }

    /// A camera driven step by step by the test, so the schedule is deterministic.
    struct FakeCamera {
        steps: Arc<Mutex<mpsc::Receiver<Step>>>,
        ready: mpsc::Sender<()>,
    }

    impl Capture for FakeCamera {
        fn grab(&mut self, frame: &mut Frame) -> Result<bool, SourceError> {
            // Ready for the next step: the previous frame has been queued.
            let _ = self.ready.send(());
            let step = self.steps.lock().unwrap().recv();
            match step {
                Ok(Step::Frame(seq)) => {
                    frame.data.clear();
                    frame.data.push(seq as u8);
                    frame.sequence = seq;
                    Ok(true)
                }
                Ok(Step::Fail) => Err(SourceError::Device {
                    device: "/dev/fake".into(),
                    op: "VIDIOC_DQBUF",
                    source: std::io::Error::from_raw_os_error(19),
                }),
                Ok(Step::End) | Err(_) => Ok(false),
            }
        }
    }

    struct Rig {
        steps: mpsc::Sender<Step>,
        ready: mpsc::Receiver<()>,
        opens: Arc<Mutex<u32>>,
    }

    impl Rig {
        /// Runs one step and waits until the capture thread has handled it.
        fn step(&self, step: Step) {
            self.steps.send(step).unwrap();
            self.ready.recv().unwrap();
        }

        /// A step after which the camera grabs no more (failure, end).
        fn last(&self, step: Step) {
            self.steps.send(step).unwrap();
        }
    }

    /// A live source on a fake camera whose reopen fails `failing_reopens` times.
    fn rig(failing_reopens: u32, reconnect: Option<Backoff>, queue: usize) -> (Live, Rig) {
        let (step_tx, step_rx) = mpsc::channel();
        let (grab_tx, grab_rx) = mpsc::channel();
        let steps = Arc::new(Mutex::new(step_rx));
        let opens = Arc::new(Mutex::new(0));
        let counter = opens.clone();
        let opener: Opener = Box::new(move || {
            let mut n = counter.lock().unwrap();
            *n += 1;
            if *n > 1 && *n <= 1 + failing_reopens {
                return Err(SourceError::NotFound {
                    path: "/dev/fake".into(),
                });
            }
            Ok(Box::new(FakeCamera {
                steps: steps.clone(),
                ready: grab_tx.clone(),
            }) as Box<dyn Capture>)
        });
        let opts = OpenOptions {
            frame_timeout: Duration::from_secs(10),
            queue,
            ..OpenOptions::default()
        };
        let live = Live::spawn("/dev/fake".into(), opener, reconnect, &opts).unwrap();
        grab_rx.recv().unwrap(); // the first grab is waiting
        (
            live,
            Rig {
                steps: step_tx,
                ready: grab_rx,
                opens,
            },
        )
    }

    fn payload(frame: &Frame) -> u8 {
        frame.data[0]
    }

    #[test]
    fn newest_frame_wins_and_drops_are_counted() {
        let (mut live, rig) = rig(0, None, 1);
        for seq in 0..5 {
            rig.step(Step::Frame(seq));
        }
        let f = live.next_frame().unwrap().unwrap();
        assert_eq!((payload(&f), f.sequence), (4, 4));
        assert_eq!(live.dropped(), 4);
        live.recycle(f);
        // A driver-side gap (sequence 5 and 6 never arrived) counts too.
        rig.step(Step::Frame(7));
        let f = live.next_frame().unwrap().unwrap();
        assert_eq!(f.sequence, 7);
        assert_eq!(live.dropped(), 6);
        rig.last(Step::End);
        assert_eq!(live.next_frame().unwrap(), None);
    }

    #[test]
    fn queue_of_two_keeps_the_two_newest() {
        let (mut live, rig) = rig(0, None, 2);
        for seq in 0..4 {
            rig.step(Step::Frame(seq));
        }
        let got: Vec<u64> = (0..2)
            .map(|_| live.next_frame().unwrap().unwrap().sequence)
            .collect();
        assert_eq!(got, [2, 3]);
        assert_eq!(live.dropped(), 2);
    }

    #[test]
    fn failure_without_reconnect_is_returned_once() {
        let (mut live, rig) = rig(0, None, 1);
        rig.last(Step::Fail);
        let err = live.next_frame().unwrap_err();
        assert_eq!(
            err.to_string(),
            "/dev/fake: VIDIOC_DQBUF: No such device (os error 19)"
        );
        assert!(!err.is_transient());
        assert_eq!(live.next_frame().unwrap(), None);
    }

    #[test]
    fn reconnects_after_failure_with_backoff() {
        let backoff = Backoff {
            initial: Duration::from_millis(1),
            max: Duration::from_millis(4),
        };
        let (mut live, rig) = rig(3, Some(backoff), 1);
        rig.step(Step::Frame(10));
        assert_eq!(live.next_frame().unwrap().unwrap().sequence, 0);
        // Unplugged: the consumer is told (transient error) while reopening fails 3 times.
        rig.last(Step::Fail);
        let err = live.next_frame().unwrap_err();
        assert!(err.is_transient(), "{err}");
        assert!(
            matches!(err, SourceError::Reconnecting { ref device, .. } if device == "/dev/fake"),
            "{err}"
        );
        // The 4th reopen succeeds; the new stream's sequence restarts at 0 without counting a gap.
        rig.last(Step::Frame(0));
        let f = loop {
            match live.next_frame() {
                Ok(Some(f)) => break f,
                Err(e) if e.is_transient() => continue,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!((payload(&f), f.sequence), (0, 1));
        assert_eq!(*rig.opens.lock().unwrap(), 5);
        assert_eq!(live.dropped(), 0);
    }

    /// A camera that gives `frames` frames as fast as it is asked, then ends.
    struct Burst(u64);

    impl Capture for Burst {
        fn grab(&mut self, frame: &mut Frame) -> Result<bool, SourceError> {
            if self.0 == 0 {
                return Ok(false);
            }
            self.0 -= 1;
            frame.data.clear();
            frame.data.push(0);
            frame.sequence = u64::MAX; // no device counter: every frame counts as the next
            Ok(true)
        }
    }

    fn spawn(capture: Box<dyn Capture>, lossless: bool) -> Live {
        let mut once = Some(capture);
        let opener: Opener = Box::new(move || Ok(once.take().expect("opened once")));
        let opts = OpenOptions {
            lossless,
            ..OpenOptions::default()
        };
        Live::spawn("pipe".into(), opener, None, &opts).unwrap()
    }

    #[test]
    fn a_lossless_source_waits_for_a_slow_consumer() {
        let mut live = spawn(Box::new(Burst(50)), true);
        assert!(!live.is_live());
        let mut got = 0;
        while let Some(frame) = live.next_frame().unwrap() {
            std::thread::sleep(Duration::from_millis(1));
            live.recycle(frame);
            got += 1;
        }
        assert_eq!((got, live.dropped()), (50, 0));
    }

    /// A camera binding with a bug.
    struct Panics;

    impl Capture for Panics {
        fn grab(&mut self, _: &mut Frame) -> Result<bool, SourceError> {
            panic!("index out of bounds in a converter");
        }
    }

    #[test]
    fn a_panic_on_the_capture_thread_is_an_error_with_its_message() {
        let mut live = spawn(Box::new(Panics), false);
        let err = live.next_frame().unwrap_err();
        assert!(!err.is_transient());
        assert!(
            err.to_string()
                .contains("capture thread panicked: index out of bounds in a converter"),
            "{err}"
        );
    }

    /// A file source: frames `range` with their own numbers and times.
    struct Numbered(std::ops::Range<u64>);

    impl FrameSource for Numbered {
        fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
            Ok(self.0.next().map(|i| Frame {
                data: vec![i as u8],
                sequence: i,
                timestamp: Duration::from_millis(100 * i),
                ..Frame::empty()
            }))
        }

        fn describe(&self) -> String {
            "numbered".into()
        }

        fn is_live(&self) -> bool {
            false
        }

        fn len_hint(&self) -> Option<u64> {
            Some(self.0.end - self.0.start)
        }
    }

    /// Doubles each frame's byte, on the capture thread.
    struct Double;

    impl Stage for Double {
        type Item = (u64, Duration, u8);

        fn process(
            &mut self,
            frame: &mut Frame,
            _: Option<Self::Item>,
        ) -> Result<Self::Item, ConvertError> {
            Ok((frame.sequence, frame.timestamp, frame.data[0] * 2))
        }
    }

    #[test]
    fn a_pulled_source_goes_through_the_stage_in_order_with_its_own_times() {
        let mut live = Opened::from(Numbered(10..60)).start(Double).unwrap();
        assert_eq!(live.len_hint(), Some(50));
        assert!(!live.is_live());
        let mut got = Vec::new();
        while let Some(item) = live.next_item().unwrap() {
            std::thread::sleep(Duration::from_millis(1));
            got.push(item);
        }
        let expected: Vec<_> = (10..60u64)
            .map(|i| (i, Duration::from_millis(100 * i), 2 * i as u8))
            .collect();
        assert_eq!(got, expected);
        assert_eq!(live.dropped(), 0);
    }
}
