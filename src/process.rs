//! The process's ways out, for every part of it: the SIGINT/SIGTERM [`Shutdown`], the panic hook,
//! and the registry of "safe actions" (closures that drive outputs such as GPIO pins to their safe
//! level) that both run.
//!
//! `Drop` already covers a normal exit and an unwinding panic on the thread that owns the pins.
//! The registry covers what `Drop` cannot: a panic on another thread while the owner is blocked,
//! and a second signal, after which the process exits at once without unwinding.
//!
//! Locks here are only ever *tried*: a panic can start while the panicking thread holds the
//! registry or a pin, and a hook that waited for that lock would hang the process instead of
//! letting it die.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once, TryLockError};
use std::thread::JoinHandle;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::{Handle, Signals};

type Action = Arc<dyn Fn() + Send + Sync>;

/// The process-wide registry that the panic hook and the signal thread run.
pub static GLOBAL: Registry = Registry::new();
static PANIC_HOOK: Once = Once::new();

/// Takes a lock without waiting; a poisoned lock is still used (driving pins safe is exactly
/// what must happen after a panic). `None` when another holder has it right now.
pub(crate) fn try_lock<T: ?Sized>(mutex: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    match mutex.try_lock() {
        Ok(guard) => Some(guard),
        Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

/// A list of safe actions. Only [`GLOBAL`] is run by the hooks; other instances exist so tests
/// can run "all actions" without touching pins of tests running beside them.
pub struct Registry {
    actions: Mutex<Vec<(u64, Action)>>,
    next_id: AtomicU64,
}

impl Registry {
    pub const fn new() -> Self {
        Self {
            actions: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(0),
        }
    }

    /// Registers an action that [`Registry::run_all`] will call until the returned
    /// [`Registration`] is dropped.
    pub fn register(&'static self, action: impl Fn() + Send + Sync + 'static) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut actions = self
            .actions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        actions.push((id, Arc::new(action)));
        Registration { registry: self, id }
    }

    /// Runs every registered action. Returns how many ran (0 when the registry is busy).
    pub fn run_all(&self) -> usize {
        // Clone the list out so that an action may itself (un)register without deadlocking.
        let actions: Vec<Action> = match try_lock(&self.actions) {
            Some(actions) => actions
                .iter()
                .map(|(_, action)| Arc::clone(action))
                .collect(),
            None => return 0,
        };
        for action in &actions {
            action();
        }
        actions.len()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

/// Keeps a safe action registered; dropping it unregisters the action.
#[must_use = "the action is unregistered when this is dropped"]
pub struct Registration {
    registry: &'static Registry,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        // Unregistering must not be skipped, so this one waits (it never runs inside the hook).
        let mut actions = self
            .registry
            .actions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        actions.retain(|(id, _)| *id != self.id);
    }
}

/// The text a panic carried (`panic!("...")` gives a `&str` or a `String`).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_string())
}

/// Runs every action of [`GLOBAL`].
pub fn run_all() -> usize {
    GLOBAL.run_all()
}

/// Installs (once per process) a panic hook that runs [`run_all`] before the previous hook.
pub fn install_panic_hook() {
    PANIC_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            run_all();
            previous(info);
        }));
    });
}

/// SIGINT/SIGTERM handling: the first signal asks the loop to stop (it checks
/// [`Shutdown::requested`] every frame and leaves through `Drop`); the second drives every pin
/// safe and exits at once, for a loop stuck in a camera read.
pub struct Shutdown {
    flag: Arc<AtomicBool>,
    handle: Handle,
    thread: Option<JoinHandle<()>>,
}

impl Shutdown {
    /// Listens for SIGINT and SIGTERM; the second one runs the safe actions and exits with
    /// status 128 + signal number, as a shell reports a death by that signal.
    pub fn install() -> std::io::Result<Self> {
        Self::install_with(|signal| {
            run_all();
            std::process::exit(128 + signal);
        })
    }

    /// Like [`Shutdown::install`] with a chosen reaction to the second signal (tests use one
    /// that records instead of exiting).
    pub fn install_with(on_second: impl Fn(i32) + Send + 'static) -> std::io::Result<Self> {
        let flag = Arc::new(AtomicBool::new(false));
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        let handle = signals.handle();
        let seen = Arc::clone(&flag);
        let thread = std::thread::Builder::new()
            .name("bodyzone-signals".into())
            .spawn(move || {
                for signal in signals.forever() {
                    if seen.swap(true, Ordering::SeqCst) {
                        on_second(signal);
                    } else {
                        tracing::info!(
                            signal,
                            "stopping: signal received (send it again to exit at once)"
                        );
                    }
                }
            })?;
        Ok(Self {
            flag,
            handle,
            thread: Some(thread),
        })
    }

    /// Whether a first signal has arrived; the run loop polls this every frame.
    pub fn requested(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// The flag itself, for loops that only want an `AtomicBool`.
    pub fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.flag)
    }
}

impl Drop for Shutdown {
    fn drop(&mut self) {
        self.handle.close();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn registered_actions_run_until_unregistered() {
        static LOCAL: Registry = Registry::new();
        let count = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&count);
        let registration = LOCAL.register(move || {
            counted.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(LOCAL.run_all(), 1);
        assert_eq!(count.load(Ordering::SeqCst), 1);
        drop(registration);
        assert_eq!(LOCAL.run_all(), 0);
        assert_eq!(count.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn poisoned_lock_is_still_taken() {
        let mutex = Arc::new(Mutex::new(5));
        let poisoner = Arc::clone(&mutex);
        let _ = std::thread::spawn(move || {
            let _guard = poisoner.lock().unwrap();
            panic!("poison it");
        })
        .join();
        assert!(mutex.is_poisoned());
        assert_eq!(try_lock(&mutex).map(|value| *value), Some(5));
    }

    #[test]
    fn busy_lock_is_skipped() {
        let mutex = Mutex::new(());
        let _held = mutex.lock().unwrap();
        assert!(try_lock(&mutex).is_none());
    }
}
