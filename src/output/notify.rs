//! systemd's readiness and watchdog protocol (`sd_notify`): one datagram of `KEY=value` lines
//! to the socket named by `$NOTIFY_SOCKET`. With `Type=notify` and `WatchdogSec=` in the unit,
//! the run loop sends `READY=1` once frames flow and `WATCHDOG=1` at least every half
//! [`Notifier::watchdog_interval`]; systemd restarts a loop that stops sending.
//!
//! Outside systemd (`$NOTIFY_SOCKET` unset) [`Notifier::from_env`] returns `None` and nothing
//! is sent.
//!
//! ## Examples
//!
//! ```
//! use std::os::unix::net::UnixDatagram;
//! use bodyzone::output::notify::Notifier;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let listener = UnixDatagram::bind(dir.path().join("notify")).unwrap();
//! let notifier = Notifier::new(dir.path().join("notify").to_str().unwrap(), None).unwrap();
//! notifier.ready("watching 2 zones").unwrap();
//! let mut buf = [0; 256];
//! let n = listener.recv(&mut buf).unwrap();
//! assert_eq!(&buf[..n], b"READY=1\nSTATUS=watching 2 zones\n");
//! ```

use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::PathBuf;
use std::time::Duration;

/// Notification errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `$NOTIFY_SOCKET` is neither a path nor an abstract name (`@name`).
    #[error("NOTIFY_SOCKET={0:?}: expected an absolute path or @abstract-name")]
    BadSocket(String),
    /// The datagram could not be sent (systemd gone, socket permissions).
    #[error("NOTIFY_SOCKET={socket}: {source}")]
    Send {
        socket: String,
        source: std::io::Error,
    },
}

/// A connection to the service manager's notification socket.
#[derive(Debug)]
pub struct Notifier {
    socket: UnixDatagram,
    address: SocketAddr,
    name: String,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// From `$NOTIFY_SOCKET` and `$WATCHDOG_USEC` (honouring `$WATCHDOG_PID`: a watchdog meant
    /// for another process is ignored). `Ok(None)` when not started by systemd with
    /// `Type=notify`.
    pub fn from_env() -> Result<Option<Self>, Error> {
        let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else {
            return Ok(None);
        };
        let socket = socket.to_string_lossy().into_owned();
        let for_us = std::env::var("WATCHDOG_PID")
            .ok()
            .and_then(|pid| pid.parse::<u32>().ok())
            .is_none_or(|pid| pid == std::process::id());
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|usec| usec.parse::<u64>().ok())
            .filter(|&usec| usec > 0 && for_us)
            .map(Duration::from_micros);
        Self::new(&socket, watchdog).map(Some)
    }

    /// To the socket `name` (a path, or `@name` for the abstract namespace).
    pub fn new(name: &str, watchdog: Option<Duration>) -> Result<Self, Error> {
        let address = if let Some(abstract_name) = name.strip_prefix('@') {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(abstract_name.as_bytes())
        } else if name.starts_with('/') {
            SocketAddr::from_pathname(PathBuf::from(name))
        } else {
            return Err(Error::BadSocket(name.to_string()));
        }
        .map_err(|_| Error::BadSocket(name.to_string()))?;
        let socket = UnixDatagram::unbound().map_err(|source| Error::Send {
            socket: name.to_string(),
            source,
        })?;
        Ok(Self {
            socket,
            address,
            name: name.to_string(),
            watchdog,
        })
    }

    /// The watchdog timeout systemd set (`WatchdogSec=`); ping at least twice per interval.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog
    }

    /// Sends raw `KEY=value` lines.
    pub fn send(&self, lines: &[(&str, &str)]) -> Result<(), Error> {
        let mut message = String::new();
        for (key, value) in lines {
            // A newline in a value would start a new (bogus) assignment.
            message.push_str(key);
            message.push('=');
            message.push_str(&value.replace('\n', " "));
            message.push('\n');
        }
        self.socket
            .send_to_addr(message.as_bytes(), &self.address)
            .map(|_| ())
            .map_err(|source| Error::Send {
                socket: self.name.clone(),
                source,
            })
    }

    /// Start-up is complete.
    pub fn ready(&self, status: &str) -> Result<(), Error> {
        self.send(&[("READY", "1"), ("STATUS", status)])
    }

    /// The loop is alive.
    pub fn watchdog(&self) -> Result<(), Error> {
        self.send(&[("WATCHDOG", "1")])
    }

    /// A one-line status for `systemctl status`.
    pub fn status(&self, status: &str) -> Result<(), Error> {
        self.send(&[("STATUS", status)])
    }

    /// Shutting down.
    pub fn stopping(&self) -> Result<(), Error> {
        self.send(&[("STOPPING", "1")])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listen() -> (tempfile::TempDir, UnixDatagram, Notifier) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        let notifier =
            Notifier::new(path.to_str().unwrap(), Some(Duration::from_secs(10))).unwrap();
        (dir, listener, notifier)
    }

    fn receive(listener: &UnixDatagram) -> String {
        let mut buf = [0; 512];
        let n = listener.recv(&mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn messages_are_key_value_lines() {
        let (_dir, listener, notifier) = listen();
        notifier.watchdog().unwrap();
        notifier.status("9.8 fps\nsecond line").unwrap();
        notifier.stopping().unwrap();
        assert_eq!(receive(&listener), "WATCHDOG=1\n");
        assert_eq!(receive(&listener), "STATUS=9.8 fps second line\n");
        assert_eq!(receive(&listener), "STOPPING=1\n");
        assert_eq!(notifier.watchdog_interval(), Some(Duration::from_secs(10)));
    }

    #[test]
    fn abstract_sockets_work() {
        let name = format!("bodyzone-test-{}", std::process::id());
        use std::os::linux::net::SocketAddrExt;
        let listener =
            UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap())
                .unwrap();
        Notifier::new(&format!("@{name}"), None)
            .unwrap()
            .ready("up")
            .unwrap();
        assert_eq!(receive(&listener), "READY=1\nSTATUS=up\n");
    }

    #[test]
    fn relative_names_and_dead_sockets_are_errors() {
        assert!(matches!(
            Notifier::new("notify", None),
            Err(Error::BadSocket(_))
        ));
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("gone");
        let err = Notifier::new(gone.to_str().unwrap(), None)
            .unwrap()
            .watchdog()
            .unwrap_err();
        assert!(err.to_string().contains("gone"), "{err}");
    }
}
