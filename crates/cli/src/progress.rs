//! Progress for anything that waits, on stderr.
//!
//! On a terminal a spinner with a message appears after a short delay and is
//! erased when the wait ends, so a quick request leaves no trace and a slow
//! one (a cold `wrangler dev`, a login's 100,000 PBKDF2 rounds) does not look
//! like a hang. Off a terminal nothing is drawn: a script's stderr should hold
//! only lines worth keeping, and the commands that wait long (`tail`,
//! `logs --follow`) print their own one-line status messages there.

use std::io::{IsTerminal as _, Write as _};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a wait must last before the spinner shows: below a quarter of a
/// second a flicker would only distract.
const SHOW_AFTER: Duration = Duration::from_millis(250);

/// How often the spinner turns: ten frames a second reads as motion without
/// spending anything noticeable.
const FRAME: Duration = Duration::from_millis(100);

const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/// A spinner that lives as long as this value.
#[derive(Debug)]
pub struct Progress {
    running: Option<(Sender<()>, JoinHandle<()>)>,
}

impl Progress {
    /// Starts a spinner with `message` if stderr is a terminal.
    pub fn start(message: impl Into<String>) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress { running: None };
        }
        let message = message.into();
        let (stop, stopped) = mpsc::channel::<()>();
        let handle = std::thread::spawn(move || {
            if !matches!(
                stopped.recv_timeout(SHOW_AFTER),
                Err(RecvTimeoutError::Timeout)
            ) {
                return;
            }
            let mut frame = 0usize;
            let mut err = std::io::stderr();
            loop {
                let _ = write!(err, "\r{} {message}", FRAMES[frame % FRAMES.len()]);
                let _ = err.flush();
                frame += 1;
                if !matches!(stopped.recv_timeout(FRAME), Err(RecvTimeoutError::Timeout)) {
                    // Erase the line: carriage return, then ANSI "erase line".
                    let _ = write!(err, "\r\x1b[2K");
                    let _ = err.flush();
                    return;
                }
            }
        });
        Progress {
            running: Some((stop, handle)),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some((stop, handle)) = self.running.take() {
            let _ = stop.send(());
            let _ = handle.join();
        }
    }
}

/// Runs `f` with a spinner saying `message`.
pub fn with<T>(message: impl Into<String>, f: impl FnOnce() -> T) -> T {
    let _progress = Progress::start(message);
    f()
}
