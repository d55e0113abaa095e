//! Safe state on the ways out that need the process: a panic (hook), SIGINT/SIGTERM (first
//! asks, second exits at once), with fake pins. The tests share the process-wide registry and
//! signal dispositions, so they run one at a time.

use std::io::Write;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bodyzone::exercise::events::{Event, EventKind};
use bodyzone::output::gpio::{DynPin, FakePin, GpioOutput, Level, Mode, Rule};
use bodyzone::process::{self, Shutdown};
use embedded_hal::digital::{ErrorType, OutputPin};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::low_level::raise;

static SERIAL: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn zone_output(pin: Box<dyn DynPin>) -> GpioOutput {
    let rule = Rule::new("zone:mat".parse().unwrap(), Mode::Level);
    let mut gpio = GpioOutput::new(vec![(rule, pin)]).unwrap();
    gpio.handle(&Event::new(0, 0, "mat", EventKind::Enter), Instant::now());
    gpio
}

/// Polls until `done` (signals are delivered by another thread); fails after 10 s.
fn wait_for(what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn panic_on_another_thread_drives_pins_safe() {
    let _serial = lock();
    process::install_panic_hook();
    let pin = FakePin::new();
    let gpio = zone_output(Box::new(pin.clone()));
    assert_eq!(pin.level(), Some(Level::High));
    let worker = std::thread::spawn(|| panic!("a worker dies while the owner is busy"));
    assert!(worker.join().is_err());
    assert_eq!(pin.levels(), [Level::Low, Level::High, Level::Low]);
    drop(gpio);
}

#[test]
fn unwinding_panic_drives_pins_safe() {
    let _serial = lock();
    process::install_panic_hook();
    let pin = FakePin::new();
    let watched = pin.clone();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _gpio = zone_output(Box::new(pin));
        assert_eq!(watched.level(), Some(Level::High));
        panic!("the loop dies");
    }));
    assert!(result.is_err());
    // The hook drives it safe, then unwinding drops the output, which does so again.
    assert_eq!(
        watched.levels(),
        [Level::Low, Level::High, Level::Low, Level::Low]
    );
}

#[test]
fn first_signal_asks_second_drives_safe() {
    let _serial = lock();
    let pin = FakePin::new();
    let gpio = zone_output(Box::new(pin.clone()));
    let seconds = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seconds);
    let shutdown = Shutdown::install_with(move |signal| {
        process::run_all();
        record.lock().unwrap().push(signal);
    })
    .unwrap();
    raise(SIGTERM).unwrap();
    wait_for("the first signal", || shutdown.requested());
    assert_eq!(
        pin.level(),
        Some(Level::High),
        "the first signal only asks the loop to stop"
    );
    raise(SIGINT).unwrap();
    wait_for("the second signal", || !seconds.lock().unwrap().is_empty());
    assert_eq!(*seconds.lock().unwrap(), [SIGINT]);
    assert_eq!(pin.level(), Some(Level::Low));
    drop(gpio);
    drop(shutdown);
}

/// A pin that appends each level to a file: the child process below dies by `exit`, so its
/// memory cannot be inspected afterwards.
struct FilePin(std::fs::File);

impl ErrorType for FilePin {
    type Error = std::convert::Infallible;
}

impl OutputPin for FilePin {
    fn set_low(&mut self) -> Result<(), Self::Error> {
        let _ = writeln!(self.0, "low");
        Ok(())
    }

    fn set_high(&mut self) -> Result<(), Self::Error> {
        let _ = writeln!(self.0, "high");
        Ok(())
    }
}

const CHILD: &str = "BODYZONE_TEST_SIGNAL_CHILD";

/// Runs in a child process (see `second_signal_exits_at_once_with_pins_safe`).
#[test]
fn signal_child() {
    let Some(log) = std::env::var_os(CHILD) else {
        return;
    };
    let file = std::fs::OpenOptions::new().append(true).open(log).unwrap();
    let _gpio = zone_output(Box::new(FilePin(file)));
    let shutdown = Shutdown::install().unwrap();
    raise(SIGTERM).unwrap();
    wait_for("the first signal", || shutdown.requested());
    raise(SIGTERM).unwrap();
    // The signal thread exits the process; never get past here.
    std::thread::sleep(Duration::from_secs(30));
    panic!("the second signal did not exit");
}

#[test]
fn second_signal_exits_at_once_with_pins_safe() {
    let _serial = lock();
    let log = tempfile::NamedTempFile::new().unwrap();
    let status = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "signal_child",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD, log.path())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(128 + SIGTERM));
    let levels = std::fs::read_to_string(log.path()).unwrap();
    assert_eq!(
        levels, "low\nhigh\nlow\n",
        "safe at start, on in the zone, safe at the end"
    );
}
