//! Where event batches go: the [`EventDispatcher`] trait the batch processor sends each
//! [`LogEvent`] through, the [`DispatchOutcome`] it reports back, and two dispatchers that need
//! no network: [`RecordingDispatcher`] (for tests) and [`FileDispatcher`] (for local
//! development). The HTTP dispatcher is in `http.rs`.
//!
//! Invariant: a dispatcher sends one request per call and never retries by itself; retries,
//! backoff and the must-shut-down latch belong to the processor, which reads the outcome.

use super::LogEvent;
use parking_lot::{Condvar, Mutex};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// What became of one attempt to send a [`LogEvent`].
///
/// New kinds of outcome may be added: a `match` on it needs a wildcard arm.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DispatchOutcome {
    /// The event service accepted the batch (any 2xx).
    Delivered,
    /// A transient failure (transport error, timeout, 5xx, 429): worth another attempt.
    Retryable(String),
    /// The request was sent but no answer came within the read timeout: the service may
    /// have received it. Retried like [`Retryable`](Self::Retryable); events sent again after
    /// it may arrive twice (with the same uuids), and are counted in
    /// [`ProcessorStats::resent_after_timeout`](crate::ProcessorStats::resent_after_timeout).
    Unanswered(String),
    /// A transient failure where the service said how long to wait before the next attempt
    /// (a 429 or 503 with `Retry-After`); the processor waits that long (up to its
    /// `max_retry_after`) or its own backoff, whichever is longer.
    RetryAfter(Duration, String),
    /// The service refused this batch for good (a 4xx other than 401, 403 and 429, or a
    /// request that cannot be built): not retried, the batch is counted failed.
    Rejected(String),
    /// The endpoint was not found (404): most likely a misconfigured endpoint or proxy path.
    /// The batch is counted failed and sending pauses for the processor's
    /// `not_found_pause` before the next batch.
    NotFound(String),
    /// The service refused the batch as too large (413): the processor sends its events
    /// again in two halves; a single event refused so is counted failed.
    TooLarge(String),
    /// The service refused the credentials (401, 403): the processor stops sending.
    MustShutDown(String),
}

impl DispatchOutcome {
    /// Whether the batch was delivered.
    pub fn is_delivered(&self) -> bool {
        matches!(self, DispatchOutcome::Delivered)
    }
}

impl fmt::Display for DispatchOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DispatchOutcome::Delivered => f.write_str("delivered"),
            DispatchOutcome::Retryable(why) => write!(f, "retryable failure: {why}"),
            DispatchOutcome::Unanswered(why) => write!(f, "no answer: {why}"),
            DispatchOutcome::RetryAfter(after, why) => {
                write!(f, "retryable failure: {why} (retry after {after:?})")
            }
            DispatchOutcome::Rejected(why) => write!(f, "rejected: {why}"),
            DispatchOutcome::NotFound(why) => write!(f, "endpoint not found: {why}"),
            DispatchOutcome::TooLarge(why) => write!(f, "too large: {why}"),
            DispatchOutcome::MustShutDown(why) => write!(f, "must shut down: {why}"),
        }
    }
}

/// Sends one event batch and says how it went.
///
/// Called only from the batch processor's `decisive-events` thread, one call at a time; an
/// implementation may block (bound the time it does: close waits for it).
pub trait EventDispatcher: Send + Sync {
    /// Sends `event` once (no retries) and classifies the result.
    fn dispatch(&self, event: &LogEvent) -> DispatchOutcome;
}

impl<D: EventDispatcher + ?Sized> EventDispatcher for Arc<D> {
    fn dispatch(&self, event: &LogEvent) -> DispatchOutcome {
        (**self).dispatch(event)
    }
}

impl<D: EventDispatcher + ?Sized> EventDispatcher for Box<D> {
    fn dispatch(&self, event: &LogEvent) -> DispatchOutcome {
        (**self).dispatch(event)
    }
}

/// Why the event layer could not set something up.
#[derive(Debug)]
#[non_exhaustive]
pub enum DispatchError {
    /// The [`FileDispatcher`] could not open its file.
    Open {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The event spool directory could not be opened or read.
    Spool {
        /// The directory.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// Another event processor (in this process or another) has the event spool directory
    /// open: two spools on one directory would send each other's batches.
    SpoolInUse {
        /// The directory.
        path: PathBuf,
    },
    /// The batch processor could not start its `decisive-events` thread.
    Spawn(std::io::Error),
}

impl fmt::Display for DispatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DispatchError::Open { path, .. } => {
                write!(f, "cannot open event file {}", path.display())
            }
            DispatchError::Spool { path, .. } => {
                write!(f, "cannot open the event spool {}", path.display())
            }
            DispatchError::SpoolInUse { path } => write!(
                f,
                "the event spool {} is in use by another event processor",
                path.display()
            ),
            DispatchError::Spawn(_) => f.write_str("cannot start the decisive-events thread"),
        }
    }
}

impl std::error::Error for DispatchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DispatchError::Open { source, .. }
            | DispatchError::Spool { source, .. }
            | DispatchError::Spawn(source) => Some(source),
            DispatchError::SpoolInUse { .. } => None,
        }
    }
}

/// The JSON object of a [`LogEvent`]: `{url, method, headers, body, batch_id}`.
pub(crate) fn log_event_json(event: &LogEvent) -> Value {
    let headers: serde_json::Map<String, Value> = event
        .headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
        .collect();
    json!({
        "url": event.url,
        "method": event.method,
        "headers": headers,
        "body": event.json(),
        "batch_id": event.batch_id,
    })
}

/// The shared state of a [`RecordingDispatcher`].
#[derive(Debug, Default)]
struct Recording {
    /// Every event received and not yet taken, in order (each attempt of a retried batch
    /// included).
    events: Vec<LogEvent>,
    /// How many dispatch calls were made.
    attempts: usize,
    /// Outcomes to answer with, in order; `Delivered` once they run out.
    script: VecDeque<DispatchOutcome>,
    /// While true, `dispatch` waits (see [`RecordingDispatcher::pause`]).
    paused: bool,
    /// How many calls are waiting while paused.
    waiting: usize,
}

/// A dispatcher that keeps what it is given, for tests: answers `Delivered` unless scripted
/// otherwise, and can be paused to hold the processor's thread inside a dispatch.
///
/// Cloning gives another handle to the same recording, so a test keeps one and hands the
/// other to the processor. The recording outlives the processor (close does not clear it).
#[derive(Debug, Clone, Default)]
pub struct RecordingDispatcher {
    /// The recording and its pause flag.
    inner: Arc<(Mutex<Recording>, Condvar)>,
}

impl RecordingDispatcher {
    /// An empty recording that delivers everything.
    pub fn new() -> RecordingDispatcher {
        RecordingDispatcher::default()
    }

    /// A recording whose first calls answer `outcomes`, in order, then `Delivered`.
    pub fn scripted(outcomes: impl IntoIterator<Item = DispatchOutcome>) -> RecordingDispatcher {
        let dispatcher = RecordingDispatcher::new();
        dispatcher.inner.0.lock().script.extend(outcomes);
        dispatcher
    }

    /// Every event received so far and not taken, in order (each attempt included).
    pub fn events(&self) -> Vec<LogEvent> {
        self.inner.0.lock().events.clone()
    }

    /// Removes and returns the events received so far, in order: what arrived since the last
    /// call, without copying.
    pub fn take_events(&self) -> Vec<LogEvent> {
        std::mem::take(&mut self.inner.0.lock().events)
    }

    /// How many dispatch calls were made (taken events included).
    pub fn attempts(&self) -> usize {
        self.inner.0.lock().attempts
    }

    /// Makes later dispatch calls wait (recorded on arrival) until [`resume`](Self::resume).
    pub fn pause(&self) {
        self.inner.0.lock().paused = true;
    }

    /// Lets waiting and later dispatch calls return.
    pub fn resume(&self) {
        self.inner.0.lock().paused = false;
        self.inner.1.notify_all();
    }

    /// How many dispatch calls are waiting on a pause.
    pub fn waiting(&self) -> usize {
        self.inner.0.lock().waiting
    }
}

impl EventDispatcher for RecordingDispatcher {
    fn dispatch(&self, event: &LogEvent) -> DispatchOutcome {
        let (lock, resumed) = &*self.inner;
        let mut recording = lock.lock();
        recording.events.push(event.clone());
        recording.attempts += 1;
        recording.waiting += 1;
        while recording.paused {
            resumed.wait(&mut recording);
        }
        recording.waiting -= 1;
        recording
            .script
            .pop_front()
            .unwrap_or(DispatchOutcome::Delivered)
    }
}

/// A dispatcher that appends each event as one JSON line `{url, method, headers, body,
/// batch_id}` to a file, for local development: nothing leaves the machine.
#[derive(Debug)]
pub struct FileDispatcher {
    /// Where the lines go.
    path: PathBuf,
    /// The open file (append mode).
    file: Mutex<File>,
}

impl FileDispatcher {
    /// Appends to `path`, creating it when missing.
    pub fn new(path: impl AsRef<Path>) -> Result<FileDispatcher, DispatchError> {
        let path = path.as_ref().to_path_buf();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| DispatchError::Open {
                path: path.clone(),
                source,
            })?;
        Ok(FileDispatcher {
            path,
            file: Mutex::new(file),
        })
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl EventDispatcher for FileDispatcher {
    fn dispatch(&self, event: &LogEvent) -> DispatchOutcome {
        let mut line = log_event_json(event).to_string();
        line.push('\n');
        let mut file = self.file.lock();
        match file.write_all(line.as_bytes()).and_then(|()| file.flush()) {
            Ok(()) => DispatchOutcome::Delivered,
            Err(e) => {
                DispatchOutcome::Retryable(format!("cannot write to {}: {e}", self.path.display()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_event(revision: &str) -> LogEvent {
        LogEvent {
            url: super::super::payload::US_ENDPOINT,
            method: "POST",
            headers: [("Content-Type", "application/json")],
            body: json!({"revision": revision, "visitors": [{"visitor_id": "u"}]}).to_string(),
            event_count: 1,
            batch_id: format!("batch-{revision}"),
        }
    }

    #[test]
    fn recording_dispatcher_answers_its_script_then_delivers() {
        let d = RecordingDispatcher::scripted([
            DispatchOutcome::Retryable("503".into()),
            DispatchOutcome::Rejected("400".into()),
        ]);
        let handle = d.clone();
        assert_eq!(
            d.dispatch(&log_event("1")),
            DispatchOutcome::Retryable("503".into())
        );
        assert_eq!(
            d.dispatch(&log_event("2")),
            DispatchOutcome::Rejected("400".into())
        );
        assert_eq!(d.dispatch(&log_event("3")), DispatchOutcome::Delivered);
        assert_eq!(handle.attempts(), 3);
        assert_eq!(handle.events()[2], log_event("3"));
    }

    #[test]
    fn paused_recording_dispatcher_waits_until_resumed() {
        let d = RecordingDispatcher::new();
        d.pause();
        let other = d.clone();
        let t = std::thread::spawn(move || other.dispatch(&log_event("1")));
        while d.waiting() == 0 {
            std::thread::yield_now();
        }
        assert!(!t.is_finished());
        d.resume();
        assert_eq!(t.join().unwrap(), DispatchOutcome::Delivered);
        assert_eq!(d.waiting(), 0);
    }

    #[test]
    fn file_dispatcher_appends_one_json_line_per_event() {
        let path = std::env::temp_dir().join(format!(
            "decisive-file-dispatcher-{}.jsonl",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        let d = FileDispatcher::new(&path).unwrap();
        assert_eq!(d.dispatch(&log_event("1")), DispatchOutcome::Delivered);
        assert_eq!(d.dispatch(&log_event("2")), DispatchOutcome::Delivered);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["body"]["revision"], "2");
        assert_eq!(lines[0]["method"], "POST");
        assert_eq!(lines[0]["headers"]["Content-Type"], "application/json");
        assert_eq!(lines[0]["url"], "https://logx.optimizely.com/v1/events");
        assert_eq!(lines[0]["batch_id"], "batch-1");
        assert_eq!(lines[1]["batch_id"], "batch-2");
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn file_dispatcher_reports_a_missing_directory() {
        let err = FileDispatcher::new("/nonexistent-dir-decisive/x.jsonl").unwrap_err();
        assert!(matches!(err, DispatchError::Open { .. }));
        assert!(std::error::Error::source(&err).is_some());
        assert!(err
            .to_string()
            .contains("/nonexistent-dir-decisive/x.jsonl"));
    }
}
