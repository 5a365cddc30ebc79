//! The batch event processor: a bounded queue in front of one named thread
//! (`decisive-events`) that batches user events, hands each batch to an [`EventDispatcher`],
//! retries transient failures with backoff and tells log-event listeners what happened.
//!
//! Invariants: every event given to [`BatchEventProcessor::process`] ends up counted exactly
//! once as dispatched (delivered), failed (rejected, or retries exhausted) or dropped (queue
//! full, processor closed, sending disabled after a 401/403, or abandoned when close ran out of
//! time); `process` never blocks (unless `ProcessorOptions::full_queue_wait` asks it to wait
//! for room in a full queue, for a bounded time); every wait (flush, close, drop) is bounded.

use super::dispatcher::{DispatchError, DispatchOutcome, EventDispatcher};
use super::json::JsonWriter;
use super::payload::{BatchItem, ContextRef, Fragments};
use super::spool::{Spool, SpoolOptions};
use super::worker::{Channels, Worker};
use super::{Decided, LogEvent, Tracked, UserEvent};
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TryRecvError, TrySendError};
use parking_lot::{Mutex, RwLock};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

/// Events per batch unless configured (as the official SDKs).
pub const DEFAULT_BATCH_SIZE: usize = 10;
/// How often a partial batch is sent unless configured (as the official SDKs).
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(30);
/// How many events may wait in the queue unless configured (as the Go SDK's processor).
pub const DEFAULT_QUEUE_CAPACITY: usize = 1000;
/// How long close (and drop) may take to deliver what is queued unless configured.
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Retries of a batch after a retryable failure unless configured.
pub const DEFAULT_MAX_RETRIES: u32 = 3;
/// The wait before the first retry unless configured; it doubles for each later one.
pub const DEFAULT_RETRY_BACKOFF: Duration = Duration::from_millis(200);
/// The longest wait between retries unless configured.
pub const DEFAULT_MAX_RETRY_BACKOFF: Duration = Duration::from_secs(1);
/// The longest `Retry-After` the processor honours unless configured.
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// How long sending pauses after the event endpoint answered 404, unless configured.
pub const DEFAULT_NOT_FOUND_PAUSE: Duration = Duration::from_secs(120);

/// Room for control messages (flush, flush-blocking, close) waiting for the thread.
const CONTROL_CAPACITY: usize = 64;

/// The first pause of a producer waiting for room in a full queue, doubled up to
/// [`FULL_QUEUE_MAX_PAUSE`] while the queue stays full.
const FULL_QUEUE_FIRST_PAUSE: Duration = Duration::from_micros(50);

/// The longest pause between a waiting producer's tries.
const FULL_QUEUE_MAX_PAUSE: Duration = Duration::from_millis(2);

/// How long `flush_blocking` waits for its answer awake (yielding) before it blocks.
const FLUSH_AWAKE_WAIT: Duration = Duration::from_millis(1);

/// How the [`BatchEventProcessor`] batches, queues, retries and stops.
///
/// Start from `ProcessorOptions::default()` and set fields. Invalid values (zero sizes or
/// durations, a batch larger than the queue, a backoff cap below the backoff) fall back to
/// the defaults with a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcessorOptions {
    /// Events per batch (default 10).
    pub batch_size: usize,
    /// A batch that has not filled is sent this long after its first event came (default
    /// 30 s); spooled batches whose retries ran out are tried again at this interval.
    pub flush_interval: Duration,
    /// Events that may wait in the queue; more are dropped (default 1000).
    pub queue_capacity: usize,
    /// How long close may take to deliver what is queued (default 5 s).
    pub close_timeout: Duration,
    /// Retries of a batch after a retryable failure (default 3).
    pub max_retries: u32,
    /// Wait before the first retry, doubled for each later one (default 200 ms; zero allowed).
    pub retry_backoff: Duration,
    /// The longest wait between retries (default 1 s).
    pub max_retry_backoff: Duration,
    /// The longest wait a `Retry-After` from the event service can ask for (default 60 s);
    /// a longer one is cut to this, with a warning. Close never waits for it.
    pub max_retry_after: Duration,
    /// A durable spool (off by default): batches are written to this directory before they
    /// are sent and kept there until delivered or finally rejected, across retries running
    /// out, close and crashes; a processor started on the same directory sends what it finds.
    pub spool: Option<SpoolOptions>,
    /// How long a producer waits for room when the queue is full before the event is dropped
    /// (default zero: never wait, the caller never blocks). For batch jobs that would rather
    /// slow down than lose events; a wait ends early when the processor is closed. Events
    /// queued from a log-event listener (on the event thread, which would be waiting for
    /// itself) never wait.
    pub full_queue_wait: Duration,
    /// How long sending pauses after the event endpoint answered 404 (default 2 minutes):
    /// the endpoint is most likely misconfigured (a proxy path, say), so the batch is counted
    /// failed and the next one is sent only after this pause, which repeats while the answer
    /// stays 404 and ends with the first batch delivered. Sending is never stopped for good
    /// on a 404. Events keep queueing meanwhile (a full queue drops and counts them); close
    /// does not wait for the pause. Zero: no pause.
    pub not_found_pause: Duration,
}

impl Default for ProcessorOptions {
    fn default() -> Self {
        ProcessorOptions {
            batch_size: DEFAULT_BATCH_SIZE,
            flush_interval: DEFAULT_FLUSH_INTERVAL,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            close_timeout: DEFAULT_CLOSE_TIMEOUT,
            max_retries: DEFAULT_MAX_RETRIES,
            retry_backoff: DEFAULT_RETRY_BACKOFF,
            max_retry_backoff: DEFAULT_MAX_RETRY_BACKOFF,
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
            spool: None,
            full_queue_wait: Duration::ZERO,
            not_found_pause: DEFAULT_NOT_FOUND_PAUSE,
        }
    }
}

impl ProcessorOptions {
    /// These options with every invalid value replaced by its default (and a warning).
    pub(crate) fn validated(mut self) -> ProcessorOptions {
        let defaults = ProcessorOptions::default();
        if self.batch_size == 0 {
            log::warn!(target: "decisive", "batch_size 0 is invalid; using {DEFAULT_BATCH_SIZE}");
            self.batch_size = defaults.batch_size;
        }
        if self.queue_capacity == 0 {
            log::warn!(target: "decisive", "queue_capacity 0 is invalid; using {DEFAULT_QUEUE_CAPACITY}");
            self.queue_capacity = defaults.queue_capacity;
        }
        if self.batch_size > self.queue_capacity {
            log::warn!(
                target: "decisive",
                "batch_size {} exceeds queue_capacity {}; using {DEFAULT_BATCH_SIZE} and {DEFAULT_QUEUE_CAPACITY}",
                self.batch_size,
                self.queue_capacity
            );
            self.batch_size = defaults.batch_size;
            self.queue_capacity = defaults.queue_capacity;
        }
        if self.flush_interval.is_zero() {
            log::warn!(target: "decisive", "flush_interval 0 is invalid; using {DEFAULT_FLUSH_INTERVAL:?}");
            self.flush_interval = defaults.flush_interval;
        }
        if self.close_timeout.is_zero() {
            log::warn!(target: "decisive", "close_timeout 0 is invalid; using {DEFAULT_CLOSE_TIMEOUT:?}");
            self.close_timeout = defaults.close_timeout;
        }
        if self.max_retry_backoff < self.retry_backoff {
            log::warn!(
                target: "decisive",
                "max_retry_backoff {:?} is below retry_backoff {:?}; using {:?}",
                self.max_retry_backoff,
                self.retry_backoff,
                self.retry_backoff
            );
            self.max_retry_backoff = self.retry_backoff;
        }
        self
    }
}

/// A snapshot of the processor's counters.
///
/// At rest (after close, or after a successful `flush_blocking` with no concurrent producers)
/// every event given to `process` is in exactly one of `dispatched`, `failed`, `dropped` and
/// `spooled`; `queued` counts the events the queue accepted, so events produced = `queued` +
/// the drops at `process` (queue full or closed). A snapshot taken at any other moment never
/// counts an event twice: `dispatched + failed + dropped + spooled` and `queued + dropped` never
/// exceed the events produced, and `dispatched + failed` never exceeds `queued`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ProcessorStats {
    /// Events accepted into the queue.
    pub queued: u64,
    /// Events delivered (their batch got a 2xx).
    pub dispatched: u64,
    /// Events not sent: queue full, processor closed, sending disabled, abandoned at close
    /// (without a spool), evicted from a full spool, or in a spool file found damaged at start.
    pub dropped: u64,
    /// Events whose batch was rejected, refused (401/403), not found (404) or ran out of
    /// retries.
    pub failed: u64,
    /// Events kept in the spool for a later attempt (retries ran out, or close came first);
    /// always 0 without a spool. Batches a previous process left count here when they are
    /// found, and move to `dispatched`, `failed` or `dropped` as they are sent or evicted.
    pub spooled: u64,
    /// Whether sending stopped after the service answered 401 or 403.
    pub disabled: bool,
    /// Of `dropped`: events refused at `process` because the queue was full.
    pub dropped_queue_full: u64,
    /// Of `dropped`: events given after close (or after the event thread stopped), or still
    /// unsent when close's timeout ran out.
    pub dropped_closed: u64,
    /// Of `dropped`: events not sent because sending stopped after a 401 or 403.
    pub dropped_disabled: u64,
    /// Of `dropped`: events of batches evicted from a full spool, or in spool files found
    /// damaged.
    pub dropped_spool: u64,
    /// Of `failed`: events whose batch the service rejected (a 4xx other than 401, 403, 404,
    /// 408, 413 and 429; a redirect; an unknown status), a single event too large, or a batch
    /// the dispatcher panicked on.
    pub failed_rejected: u64,
    /// Of `failed`: events whose batch still met a retryable failure (network error,
    /// timeout, 5xx, 408, 429) after its last retry.
    pub failed_retries_exhausted: u64,
    /// Of `failed`: events of the batch the service refused with 401 or 403.
    pub failed_refused: u64,
    /// Of `failed`: events whose batch met a 404 from the event endpoint (see
    /// [`ProcessorOptions::not_found_pause`]).
    pub failed_not_found: u64,
    /// Events sent again after an attempt the service did not answer within the read
    /// timeout ([`DispatchOutcome::Unanswered`]), counted once per such retry: the service may
    /// have received the first attempt, so up to this many events may arrive twice (with the
    /// same uuids). Not part of the sum above: these events are also counted where they end.
    pub resent_after_timeout: u64,
}

/// Why events were not delivered: the parts of [`ProcessorStats::dropped`] and
/// [`ProcessorStats::failed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Loss {
    QueueFull,
    Closed,
    Disabled,
    Spool,
    Rejected,
    RetriesExhausted,
    Refused,
    NotFound,
}

impl Loss {
    const COUNT: usize = 8;
}

/// A log-event listener.
pub(super) type Listener = Arc<dyn Fn(&LogEvent, &DispatchOutcome) + Send + Sync>;

/// A zero-sized field that starts the fields after it on a new cache line (two lines, for
/// adjacent-line prefetch), so that what producers write and what the event thread writes do
/// not share one.
#[derive(Default)]
#[repr(align(128))]
pub(super) struct LineBreak;

/// What the processor's handle and its thread share, by who writes it, each group on cache
/// lines of its own: first what producers write on every event (and the thread never
/// touches), then the flags both read and seldom write, then the wake-up request (producers
/// set it once a batch, the thread clears it), then what the event thread writes.
#[derive(Default)]
#[repr(C)]
pub(super) struct Shared {
    /// See [`ProcessorStats::queued`].
    pub(super) queued: AtomicU64,
    /// Makes "not closed, so enqueue" atomic with respect to close, so no event is accepted
    /// after the thread's final drain.
    pub(super) gate: RwLock<()>,
    /// Set by close, under the write side of `gate`: `process` refuses events. The thread
    /// reads `closing` instead, so that this line stays the producers'.
    pub(super) closed: AtomicBool,
    /// Starts the flags both sides read.
    _flags: LineBreak,
    /// Set by the thread before it blocks with nothing to send and no timer; the producer
    /// that finds it set clears it and wakes the thread, so that the flush interval of the
    /// event it queued starts at once (an idle thread runs no timer).
    pub(super) idle: AtomicBool,
    /// Whether a queue-full warning was logged for the current overflow episode: set by the
    /// first drop, cleared by the event thread once it has emptied the queue, so a flood
    /// that keeps the queue at capacity warns once however often an event gets in.
    pub(super) overflowing: AtomicBool,
    /// Whether a drop after close was logged.
    pub(super) warned_closed: AtomicBool,
    /// Starts the wake-up request.
    _wake: LineBreak,
    /// Set by the producer that asks the thread to take a full batch out of the queue, cleared
    /// by the thread when it wakes; while set, producers send no further wake-ups.
    pub(super) wake_pending: AtomicBool,
    /// Starts the event thread's fields.
    _line: LineBreak,
    /// Set by close with `closed`, for the thread.
    pub(super) closing: AtomicBool,
    /// See [`ProcessorStats::dispatched`].
    pub(super) dispatched: AtomicU64,
    /// See [`ProcessorStats::spooled`].
    pub(super) spooled: AtomicU64,
    /// See [`ProcessorStats::resent_after_timeout`].
    pub(super) resent_after_timeout: AtomicU64,
    /// Events dropped or failed, by why ([`Loss`]); `dropped` and `failed` are their sums.
    pub(super) losses: [AtomicU64; Loss::COUNT],
    /// Set (once) by a 401/403: nothing more is sent.
    pub(super) disabled: AtomicBool,
    /// When close must be done by; set by close before it wakes the thread.
    pub(super) close_deadline: Mutex<Option<Instant>>,
    /// Log-event listeners by id.
    pub(super) listeners: Mutex<Vec<(u64, Listener)>>,
    /// The next listener id.
    pub(super) next_listener: AtomicU64,
}

impl Shared {
    /// Adds `n` to a counter.
    pub(super) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::AcqRel);
    }

    /// Takes `n` from a counter (never below zero).
    pub(super) fn sub(counter: &AtomicU64, n: u64) {
        let _ = counter.fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| {
            Some(c.saturating_sub(n))
        });
    }

    /// Counts `n` events dropped for `why` (a [`Loss`] of `dropped`).
    pub(super) fn drop_events(&self, n: u64, why: Loss) {
        self.lose(n, why);
    }

    /// Counts `n` events failed for `why` (a [`Loss`] of `failed`).
    pub(super) fn fail_events(&self, n: u64, why: Loss) {
        self.lose(n, why);
    }

    fn lose(&self, n: u64, why: Loss) {
        if let Some(counter) = self.losses.get(why as usize) {
            Shared::add(counter, n);
        }
    }

    /// Events lost for `why` so far.
    pub(super) fn loss(&self, why: Loss) -> u64 {
        self.losses
            .get(why as usize)
            .map_or(0, |c| c.load(Ordering::Acquire))
    }

    /// The close deadline, once close was called.
    pub(super) fn deadline(&self) -> Option<Instant> {
        *self.close_deadline.lock()
    }
}

/// An event in the queue: built, or an impression the event thread builds.
pub(super) enum Queued {
    /// A user event in wire form (boxed: the queue's slots stay as small as an impression
    /// from the decide path).
    Built(Box<UserEvent>),
    /// An impression from the decide path.
    Decided(Decided),
    /// A conversion from `track_event`.
    Tracked(Tracked),
}

impl BatchItem for Queued {
    fn context(&self) -> ContextRef<'_> {
        match self {
            Queued::Built(event) => BatchItem::context(&**event),
            Queued::Decided(decided) => decided.context(),
            Queued::Tracked(tracked) => tracked.context(),
        }
    }

    fn same_context(&self, other: &Self) -> bool {
        match (self, other) {
            (Queued::Decided(a), Queued::Decided(b)) => a.same_context(b),
            (Queued::Tracked(a), Queued::Tracked(b)) => a.same_context(b),
            // Compared as they are held (the same allocation, for clones of one event), without
            // reading their strings as text.
            (Queued::Built(a), Queued::Built(b)) => a.same_context(b),
            _ => self.context() == other.context(),
        }
    }

    fn write_visitor(&self, w: &mut JsonWriter, fragments: &mut Fragments) {
        match self {
            Queued::Built(event) => event.write_visitor(w, fragments),
            Queued::Decided(decided) => decided.write_visitor(w, fragments),
            Queued::Tracked(tracked) => tracked.write_visitor(w, fragments),
        }
    }
}

/// Messages from the handle to the thread.
pub(super) enum Control {
    /// A batch's worth of events is queued: take them.
    Wake,
    /// Send what is queued.
    Flush,
    /// Send what is queued, then answer.
    FlushBlocking(Sender<()>),
    /// Wake up: close was called (the deadline is in `Shared::close_deadline`).
    Close,
}

/// Queues user events and sends them in batches from one background thread.
///
/// `process` is cheap and never blocks (by default; see [`ProcessorOptions::full_queue_wait`]); batching, HTTP and retries happen on the
/// `decisive-events` thread, which this handle owns: [`close`](Self::close) (or dropping the
/// handle) delivers what is queued within `close_timeout`, then stops and joins it. Share the
/// handle between threads by reference or in an `Arc`; every method takes `&self`.
pub struct BatchEventProcessor {
    /// Counters, listeners and the close gate.
    shared: Arc<Shared>,
    /// The queue of events.
    inbox: Sender<Queued>,
    /// The control channel.
    control: Sender<Control>,
    /// Disconnected when the thread has finished.
    done: Receiver<()>,
    /// The thread, until close joins it.
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The thread's id (flush_blocking from it would wait on itself).
    thread_id: ThreadId,
    /// The options in force (validated).
    options: ProcessorOptions,
}

impl std::fmt::Debug for BatchEventProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchEventProcessor")
            .field("options", &self.options)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl BatchEventProcessor {
    /// Starts the `decisive-events` thread sending through `dispatcher`.
    pub fn new(
        dispatcher: impl EventDispatcher + 'static,
        options: ProcessorOptions,
    ) -> Result<BatchEventProcessor, DispatchError> {
        let options = options.validated();
        let (spool, recovered, lost) = match &options.spool {
            None => (None, Vec::new(), 0),
            Some(spool_options) => {
                let (spool, recovered) = Spool::open(spool_options.clone()).map_err(|source| {
                    let path = spool_options.dir.clone();
                    if source.kind() == std::io::ErrorKind::WouldBlock {
                        DispatchError::SpoolInUse { path }
                    } else {
                        DispatchError::Spool { path, source }
                    }
                })?;
                if !recovered.batches.is_empty() || recovered.skipped > 0 {
                    log::info!(
                        target: "decisive",
                        "event spool {}: {} batches to send, {} unusable files skipped",
                        spool_options.dir.display(),
                        recovered.batches.len(),
                        recovered.skipped
                    );
                }
                (Some(spool), recovered.batches, recovered.skipped_events)
            }
        };
        let (inbox_tx, inbox_rx) = bounded(options.queue_capacity);
        let (control_tx, control_rx) = bounded(CONTROL_CAPACITY);
        let (done_tx, done_rx) = bounded::<()>(0);
        let shared = Arc::new(Shared::default());
        let found: u64 = recovered.iter().map(|(_, e)| e.event_count as u64).sum();
        Shared::add(&shared.spooled, found);
        // Events of spool files that did not check out: lost, and reported so.
        shared.drop_events(lost, Loss::Spool);
        let worker = Worker {
            spool,
            pending: recovered.into(),
            dispatcher: Box::new(dispatcher),
            options: options.clone(),
            shared: Arc::clone(&shared),
            batch: Vec::with_capacity(options.batch_size),
            spare_body: String::new(),
            closing: None,
            flush_requested: false,
            waiters: Vec::new(),
            abandoned: false,
            fragments: Fragments::default(),
            failed_in_a_row: 0,
            not_found_until: None,
            full_drops_reported: 0,
            batch_due: None,
        };
        let channels = Channels {
            inbox: inbox_rx,
            control: control_rx,
        };
        let handle = std::thread::Builder::new()
            .name("decisive-events".into())
            .spawn(move || {
                let _done = done_tx;
                worker.run(&channels);
            })
            .map_err(DispatchError::Spawn)?;
        Ok(BatchEventProcessor {
            shared,
            inbox: inbox_tx,
            control: control_tx,
            done: done_rx,
            thread_id: handle.thread().id(),
            thread: Mutex::new(Some(handle)),
            options,
        })
    }

    /// The options in force (after invalid values fell back to defaults).
    pub fn options(&self) -> &ProcessorOptions {
        &self.options
    }

    /// Queues `event` for sending; false when it was dropped because the queue is full or
    /// the processor is closed (it is then counted in `dropped`). Never blocks, unless
    /// [`ProcessorOptions::full_queue_wait`] asks to wait for room in a full queue.
    pub fn process(&self, event: UserEvent) -> bool {
        self.enqueue(Queued::Built(Box::new(event)))
    }

    /// Queues an impression from the decide path (built on the event thread); as
    /// [`process`](Self::process).
    pub(crate) fn process_decided(&self, event: Decided) -> bool {
        self.enqueue(Queued::Decided(event))
    }

    /// Queues a conversion from `track_event` (written on the event thread); as
    /// [`process`](Self::process).
    pub(crate) fn process_tracked(&self, event: Tracked) -> bool {
        self.enqueue(Queued::Tracked(event))
    }

    /// Queues `event`; see [`process`](Self::process). A full queue drops it, unless
    /// [`ProcessorOptions::full_queue_wait`] allows waiting for room.
    fn enqueue(&self, event: Queued) -> bool {
        match self.try_enqueue(event) {
            Ok(accepted) => accepted,
            Err(event) => self.enqueue_full(event),
        }
    }

    /// Queues `event` if there is room: true when queued, false when dropped because the
    /// processor is closed (counted); the event back when the queue is full (not counted).
    #[inline]
    fn try_enqueue(&self, event: Queued) -> Result<bool, Queued> {
        let shared = &*self.shared;
        let _gate = shared.gate.read();
        if shared.closed.load(Ordering::Acquire) {
            shared.drop_events(1, Loss::Closed);
            if !shared.warned_closed.swap(true, Ordering::AcqRel) {
                log::warn!(target: "decisive", "event dropped: the event processor is closed");
            }
            return Ok(false);
        }
        // Count first so a snapshot never shows more dispatched than queued.
        let count = shared.queued.fetch_add(1, Ordering::AcqRel).wrapping_add(1);
        match self.inbox.try_send(event) {
            Ok(()) => {
                // The thread does not wait on the queue itself (a wake-up per event would cost
                // each caller a system call): it is woken once a batch's worth is waiting.
                // Every batch_size-th event asks for that, so whenever a batch's worth is
                // queued, one of them has asked; the count is the caller's own cache line,
                // where the queue's length would read the line the thread writes per event.
                if count.is_multiple_of(self.options.batch_size.max(1) as u64)
                    || (shared.idle.load(Ordering::SeqCst)
                        && shared.idle.swap(false, Ordering::SeqCst))
                {
                    self.wake();
                }
                Ok(true)
            }
            Err(e) => {
                shared.queued.fetch_sub(1, Ordering::AcqRel);
                // A full queue certainly holds a batch (this event's number, given back, may
                // have been the one to ask).
                self.wake();
                match e {
                    TrySendError::Full(event) => Err(event),
                    TrySendError::Disconnected(_) => {
                        shared.drop_events(1, Loss::Closed);
                        if !shared.warned_closed.swap(true, Ordering::AcqRel) {
                            log::error!(target: "decisive", "event dropped: the event thread has stopped");
                        }
                        Ok(false)
                    }
                }
            }
        }
    }

    /// An event the full queue did not take: waits for room up to
    /// [`ProcessorOptions::full_queue_wait`] (not holding the close gate, so close is not
    /// held up), else drops it, counted, with one warning per overflow episode.
    #[cold]
    fn enqueue_full(&self, mut event: Queued) -> bool {
        let wait = self.options.full_queue_wait;
        if !wait.is_zero() && std::thread::current().id() != self.thread_id {
            let deadline = Instant::now() + wait;
            let mut pause = FULL_QUEUE_FIRST_PAUSE;
            loop {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                std::thread::sleep(pause.min(deadline - now));
                pause = (pause * 2).min(FULL_QUEUE_MAX_PAUSE);
                match self.try_enqueue(event) {
                    Ok(accepted) => return accepted,
                    Err(back) => event = back,
                }
            }
        }
        drop(event);
        let shared = &*self.shared;
        shared.drop_events(1, Loss::QueueFull);
        if !shared.overflowing.swap(true, Ordering::AcqRel) {
            log::warn!(
                target: "decisive",
                "event queue full ({} events): dropping events until it drains",
                self.options.queue_capacity
            );
        }
        false
    }

    /// Wakes the thread to take a batch out of the queue, unless a wake-up is pending.
    fn wake(&self) {
        let shared = &*self.shared;
        if !shared.wake_pending.load(Ordering::Relaxed)
            && !shared.wake_pending.swap(true, Ordering::AcqRel)
        {
            let _ = self.control.try_send(Control::Wake);
        }
    }

    /// Asks the thread to send what is queued now; returns at once.
    pub fn flush(&self) {
        if !self.shared.closed.load(Ordering::Acquire) {
            // A full control channel already holds messages that flush.
            let _ = self.control.try_send(Control::Flush);
        }
    }

    /// Sends what is queued and waits up to `timeout`: true when every event queued before
    /// the call was delivered, failed for good or dropped (sending disabled); false on timeout,
    /// after close, or when called from the event thread (a log-event listener).
    pub fn flush_blocking(&self, timeout: Duration) -> bool {
        if self.shared.closed.load(Ordering::Acquire) {
            return false;
        }
        if std::thread::current().id() == self.thread_id {
            log::warn!(target: "decisive", "flush_blocking called from the event thread; not waiting");
            return false;
        }
        let deadline = Instant::now() + timeout;
        let (reply_tx, reply_rx) = bounded(1);
        if self
            .control
            .send_deadline(Control::FlushBlocking(reply_tx), deadline)
            .is_err()
        {
            return false;
        }
        // The reply usually comes within a fraction of a millisecond: wait for it awake
        // (yielding) for a while, so that this thread, once answered, goes on at once instead
        // of waiting to be scheduled again, and the event thread, still lingering, sees what
        // it does next without being woken either.
        let awake_until = Instant::now() + FLUSH_AWAKE_WAIT;
        loop {
            match reply_rx.try_recv() {
                Ok(()) => return true,
                Err(TryRecvError::Disconnected) => return false,
                Err(TryRecvError::Empty) => {}
            }
            let now = Instant::now();
            if now >= awake_until || now >= deadline {
                break;
            }
            std::thread::yield_now();
        }
        reply_rx.recv_deadline(deadline).is_ok()
    }

    /// Stops accepting events, delivers what is queued within `close_timeout`, then stops and
    /// joins the thread. True when the thread finished in time; false when it was still busy
    /// (a dispatch outlasting the timeout): it then stops by itself after that dispatch,
    /// counting what it could not send as dropped. Idempotent; a second call waits for the
    /// same bound.
    pub fn close(&self) -> bool {
        let deadline = Instant::now() + self.options.close_timeout;
        {
            let _gate = self.shared.gate.write();
            if !self.shared.closed.swap(true, Ordering::AcqRel) {
                *self.shared.close_deadline.lock() = Some(deadline);
                self.shared.closing.store(true, Ordering::Release);
            }
        }
        let deadline = self.shared.deadline().unwrap_or(deadline);
        if std::thread::current().id() == self.thread_id {
            // Closed from a log-event listener (or by dropping the last client handle there):
            // the thread finishes by itself once the listener returns.
            let _ = self.control.try_send(Control::Close);
            return false;
        }
        let handle = self.thread.lock().take();
        if handle.is_some() {
            // A full control channel holds messages that wake the thread anyway.
            let _ = self.control.try_send(Control::Close);
        }
        let stopped = matches!(
            self.done.recv_deadline(deadline),
            Err(RecvTimeoutError::Disconnected)
        );
        if stopped {
            // Listeners may hold handles of a client that owns this processor; let them go.
            self.shared.listeners.lock().clear();
        }
        if let Some(handle) = handle {
            if stopped {
                if handle.join().is_err() {
                    log::error!(target: "decisive", "the event thread panicked");
                }
            } else {
                log::warn!(
                    target: "decisive",
                    "the event thread did not stop within {:?}; it stops after its current dispatch",
                    self.options.close_timeout
                );
            }
        }
        stopped
    }

    /// Whether close was called.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// The counters now. A snapshot taken while events move never counts one twice: it
    /// may miss an event in flight between two counters, never more (see the ledger in
    /// [`ProcessorStats`]).
    pub fn stats(&self) -> ProcessorStats {
        let s = &*self.shared;
        // An event moves from `queued` (a full queue takes it back) or `spooled` to
        // `dispatched`, `failed` or `dropped`, and the source is always decreased before the
        // destination grows. Reading the destinations first and the sources last then sees
        // a moving event in one place at most, and never more dispatched than queued.
        let dispatched = s.dispatched.load(Ordering::Acquire);
        let [failed_rejected, failed_retries_exhausted, failed_refused, failed_not_found] = [
            Loss::Rejected,
            Loss::RetriesExhausted,
            Loss::Refused,
            Loss::NotFound,
        ]
        .map(|why| s.loss(why));
        let [dropped_queue_full, dropped_closed, dropped_disabled, dropped_spool] =
            [Loss::QueueFull, Loss::Closed, Loss::Disabled, Loss::Spool].map(|why| s.loss(why));
        let spooled = s.spooled.load(Ordering::Acquire);
        let queued = s.queued.load(Ordering::Acquire);
        ProcessorStats {
            queued,
            dispatched,
            dropped: dropped_queue_full + dropped_closed + dropped_disabled + dropped_spool,
            failed: failed_rejected + failed_retries_exhausted + failed_refused + failed_not_found,
            spooled,
            disabled: s.disabled.load(Ordering::Acquire),
            dropped_queue_full,
            dropped_closed,
            dropped_disabled,
            dropped_spool,
            failed_rejected,
            failed_retries_exhausted,
            failed_refused,
            failed_not_found,
            resent_after_timeout: s.resent_after_timeout.load(Ordering::Acquire),
        }
    }

    /// Calls `callback` on the event thread after each batch's last attempt, with the request
    /// and its outcome; returns an id for [`remove_log_event_listener`](Self::remove_log_event_listener).
    /// A panicking callback is logged and does not stop delivery or the other callbacks. Keep
    /// callbacks short: delivery waits for them.
    pub fn on_log_event<F>(&self, callback: F) -> u64
    where
        F: Fn(&LogEvent, &DispatchOutcome) + Send + Sync + 'static,
    {
        let id = self.shared.next_listener.fetch_add(1, Ordering::AcqRel) + 1;
        self.shared.listeners.lock().push((id, Arc::new(callback)));
        id
    }

    /// Removes the listener `id`; false when there is none. Takes effect from the next batch.
    pub fn remove_log_event_listener(&self, id: u64) -> bool {
        let mut listeners = self.shared.listeners.lock();
        let before = listeners.len();
        listeners.retain(|(i, _)| *i != id);
        listeners.len() != before
    }
}

impl Drop for BatchEventProcessor {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ProjectConfig;
    use crate::event::dispatcher::RecordingDispatcher;
    use crate::value::Attributes;
    use std::collections::HashSet;

    /// A conversion decided with the quickstart datafile at `revision`.
    fn event(revision: &str, user: &str) -> UserEvent {
        let datafile = include_str!("../../datafiles/quickstart.json").replace(
            "\"revision\": \"42\"",
            &format!("\"revision\": \"{revision}\""),
        );
        let config = ProjectConfig::from_datafile(datafile).unwrap();
        UserEvent::conversion(&config, "purchase", user, &Attributes::new()).unwrap()
    }

    fn options(batch_size: usize) -> ProcessorOptions {
        ProcessorOptions {
            batch_size,
            retry_backoff: Duration::from_millis(1),
            max_retry_backoff: Duration::from_millis(2),
            ..ProcessorOptions::default()
        }
    }

    /// The queue's slots (an event and the slot's 8-byte stamp) are one cache line each, so
    /// the producer and the event thread share one line per event rather than two.
    #[test]
    fn a_queued_event_takes_at_most_56_bytes() {
        assert!(std::mem::size_of::<Queued>() <= 56);
    }

    #[test]
    fn invalid_options_fall_back_to_defaults() {
        type Edit = fn(&mut ProcessorOptions);
        let cases: [(&str, Edit, Edit); 7] = [
            ("zero batch", |o| o.batch_size = 0, |_| {}),
            ("zero queue", |o| o.queue_capacity = 0, |_| {}),
            (
                "batch over queue resets both",
                |o| (o.batch_size, o.queue_capacity) = (50, 20),
                |_| {},
            ),
            (
                "zero interval",
                |o| o.flush_interval = Duration::ZERO,
                |_| {},
            ),
            (
                "zero close timeout",
                |o| o.close_timeout = Duration::ZERO,
                |_| {},
            ),
            (
                "cap below backoff is raised",
                |o| o.max_retry_backoff = Duration::from_millis(1),
                |o| o.max_retry_backoff = DEFAULT_RETRY_BACKOFF,
            ),
            (
                "valid values kept",
                |o| (o.batch_size, o.queue_capacity, o.max_retries) = (3, 7, 0),
                |o| (o.batch_size, o.queue_capacity, o.max_retries) = (3, 7, 0),
            ),
        ];
        for (label, edit, expect) in cases {
            let (mut given, mut want) = (ProcessorOptions::default(), ProcessorOptions::default());
            edit(&mut given);
            expect(&mut want);
            assert_eq!(given.validated(), want, "{label}");
        }
    }

    #[test]
    fn the_flush_interval_sends_a_partial_batch() {
        let d = RecordingDispatcher::new();
        let opts = ProcessorOptions {
            flush_interval: Duration::from_millis(30),
            ..options(10)
        };
        let p = BatchEventProcessor::new(d.clone(), opts).unwrap();
        p.process(event("1", "u"));
        assert_eq!(await_attempts(&d, 1), 1);
    }

    /// Waits up to five seconds for `d` to have seen `n` attempts.
    fn await_attempts(d: &RecordingDispatcher, n: usize) -> usize {
        let start = Instant::now();
        while d.attempts() < n && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(2));
        }
        d.attempts()
    }

    #[test]
    fn full_batches_go_out_without_waiting_for_the_flush_interval() {
        let d = RecordingDispatcher::new();
        let p = BatchEventProcessor::new(d.clone(), options(10)).unwrap();
        // Two producers, 4 × 10 events between them: every full batch is sent at once (the
        // flush interval is 30 s), whichever producer's event completed it.
        std::thread::scope(|s| {
            for t in 0..2 {
                let p = &p;
                s.spawn(move || {
                    for i in 0..20 {
                        assert!(p.process(event("1", &format!("u{t}-{i}"))));
                    }
                });
            }
        });
        assert_eq!(await_attempts(&d, 4), 4);
        std::thread::sleep(Duration::from_millis(50));
        let counts: Vec<usize> = d.events().iter().map(|e| e.event_count).collect();
        assert_eq!(counts, [10, 10, 10, 10]);
        // Seven more wait for the interval (or a flush): no batch is full.
        for i in 0..7 {
            p.process(event("1", &format!("late{i}")));
        }
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(d.attempts(), 4);
        assert!(p.flush_blocking(Duration::from_secs(5)));
        assert_eq!(d.events().last().map(|e| e.event_count), Some(7));
    }

    #[test]
    fn a_queue_filled_while_the_dispatcher_is_held_is_sent_when_it_returns() {
        let d = RecordingDispatcher::new();
        d.pause();
        let opts = ProcessorOptions {
            queue_capacity: 10,
            ..options(10)
        };
        let p = BatchEventProcessor::new(d.clone(), opts).unwrap();
        // The first batch is held by the paused dispatcher; the next fills the queue, and
        // further events are dropped.
        for i in 0..10 {
            assert!(p.process(event("1", &format!("a{i}"))));
        }
        let start = Instant::now();
        while d.waiting() == 0 && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(2));
        }
        let accepted = (0..25)
            .filter(|i| p.process(event("1", &format!("b{i}"))))
            .count();
        assert_eq!(accepted, 10);
        d.resume();
        // Both batches are sent with no flush and no interval.
        assert_eq!(await_attempts(&d, 2), 2);
        assert_eq!(p.stats().dropped_queue_full, 15);
    }

    #[test]
    fn every_attempt_of_a_batch_carries_its_id() {
        let retry = || DispatchOutcome::Retryable("503".into());
        let d = RecordingDispatcher::scripted([retry(), retry()]);
        let p = BatchEventProcessor::new(d.clone(), options(2)).unwrap();
        for i in 0..4 {
            p.process(event("1", &format!("u{i}")));
        }
        assert!(p.flush_blocking(Duration::from_secs(5)));
        let ids: Vec<String> = d.events().iter().map(|e| e.batch_id.clone()).collect();
        assert_eq!(ids.len(), 4, "the first batch three times, the second once");
        assert_eq!((&ids[0], &ids[1]), (&ids[2], &ids[2]));
        assert_ne!(ids[2], ids[3]);
        assert!(ids.iter().all(|id| id.len() == 36), "{ids:?}");
    }

    #[test]
    fn a_404_fails_its_batch_and_pauses_sending_until_a_batch_is_delivered() {
        let not_found = || DispatchOutcome::NotFound("404".into());
        let d = RecordingDispatcher::scripted([not_found(), not_found()]);
        let mut opts = options(2);
        opts.not_found_pause = Duration::from_millis(150);
        let p = BatchEventProcessor::new(d.clone(), opts).unwrap();
        let start = Instant::now();
        for i in 0..6 {
            p.process(event("1", &format!("u{i}")));
        }
        assert!(p.flush_blocking(Duration::from_secs(5)));
        // Three batches: 404 (no retry), a pause, 404, a pause, delivered.
        assert_eq!(d.attempts(), 3);
        assert!(start.elapsed() >= Duration::from_millis(300));
        let s = p.stats();
        assert_eq!(
            (s.dispatched, s.failed, s.failed_not_found, s.dropped),
            (2, 4, 4, 0)
        );
        // Delivered again: the next batch goes at once.
        let again = Instant::now();
        p.process(event("1", "v1"));
        p.process(event("1", "v2"));
        assert!(p.flush_blocking(Duration::from_secs(5)));
        assert!(again.elapsed() < Duration::from_millis(150));
        assert_eq!(p.stats().dispatched, 4);
    }

    #[test]
    fn close_does_not_wait_out_a_404_pause() {
        let d = RecordingDispatcher::scripted([DispatchOutcome::NotFound("404".into())]);
        let mut opts = options(1);
        opts.not_found_pause = Duration::from_secs(60);
        let p = BatchEventProcessor::new(d.clone(), opts).unwrap();
        p.process(event("1", "a"));
        assert_eq!(await_attempts(&d, 1), 1);
        p.process(event("1", "b"));
        let start = Instant::now();
        assert!(p.close());
        assert!(start.elapsed() < Duration::from_secs(2));
        let s = p.stats();
        assert_eq!((s.dispatched, s.failed_not_found), (1, 1));
    }

    #[test]
    fn exhausted_retries_count_the_batch_failed() {
        let d = RecordingDispatcher::scripted(vec![DispatchOutcome::Retryable("503".into()); 10]);
        let p = BatchEventProcessor::new(d.clone(), options(1)).unwrap();
        p.process(event("1", "a"));
        assert!(p.flush_blocking(Duration::from_secs(5)));
        assert_eq!(d.attempts(), 1 + DEFAULT_MAX_RETRIES as usize);
        assert_eq!((p.stats().dispatched, p.stats().failed), (0, 1));
    }

    #[test]
    fn a_batch_too_large_is_sent_in_halves_until_it_fits() {
        let too_large = || DispatchOutcome::TooLarge("413".into());
        // 10 → too large; 5 → too large; 2 and 3 fit; the other 5 fit.
        let d = RecordingDispatcher::scripted([too_large(), too_large()]);
        let p = BatchEventProcessor::new(d.clone(), options(10)).unwrap();
        for i in 0..10 {
            p.process(event("1", &format!("u{i}")));
        }
        assert!(p.flush_blocking(Duration::from_secs(5)));
        let sizes: Vec<usize> = d.events().iter().map(|e| e.event_count).collect();
        assert_eq!(sizes, [10, 5, 2, 3, 5]);
        let users: Vec<String> = d.events()[2..]
            .iter()
            .flat_map(|e| {
                e.json()["visitors"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v["visitor_id"].as_str().unwrap().to_owned())
                    .collect::<Vec<_>>()
            })
            .collect();
        let want: Vec<String> = (0..10).map(|i| format!("u{i}")).collect();
        assert_eq!(users, want, "each event once, in order");
        let ids: HashSet<String> = d.events().iter().map(|e| e.batch_id.clone()).collect();
        assert_eq!(ids.len(), 5, "each part a batch with an id of its own");
        let s = p.stats();
        assert_eq!((s.dispatched, s.failed, s.dropped), (10, 0, 0));
    }

    #[test]
    fn a_single_event_too_large_is_counted_failed() {
        let d = RecordingDispatcher::scripted([DispatchOutcome::TooLarge("413".into())]);
        let p = BatchEventProcessor::new(d.clone(), options(1)).unwrap();
        p.process(event("1", "a"));
        assert!(p.flush_blocking(Duration::from_secs(5)));
        assert_eq!(d.attempts(), 1);
        assert_eq!((p.stats().dispatched, p.stats().failed), (0, 1));
    }

    #[test]
    fn process_after_close_is_refused_and_counted() {
        let p = BatchEventProcessor::new(RecordingDispatcher::new(), options(10)).unwrap();
        assert!(p.close());
        assert!(p.close(), "close is idempotent");
        assert!(p.is_closed());
        assert!(!p.process(event("1", "a")));
        assert!(!p.flush_blocking(Duration::from_millis(10)));
        assert_eq!((p.stats().queued, p.stats().dropped), (0, 1));
    }

    #[test]
    fn listeners_see_each_batch_once_and_a_panicking_one_is_contained() {
        let d = RecordingDispatcher::scripted([DispatchOutcome::Retryable("503".into())]);
        let p = BatchEventProcessor::new(d.clone(), options(1)).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let panicky = p.on_log_event(|_, _| panic!("listener bug"));
        let record = Arc::clone(&seen);
        let id = p.on_log_event(move |e, o| record.lock().push((e.event_count as u64, o.clone())));
        p.process(event("1", "a"));
        p.process(event("1", "b"));
        assert!(p.flush_blocking(Duration::from_secs(5)));
        assert_eq!(d.attempts(), 3);
        assert_eq!(
            *seen.lock(),
            vec![
                (1, DispatchOutcome::Delivered),
                (1, DispatchOutcome::Delivered)
            ]
        );
        assert!(p.remove_log_event_listener(id));
        assert!(!p.remove_log_event_listener(id));
        assert!(p.remove_log_event_listener(panicky));
        p.process(event("1", "c"));
        assert!(p.flush_blocking(Duration::from_secs(5)));
        assert_eq!(seen.lock().len(), 2);
        assert_eq!(p.stats().dispatched, 3);
    }

    #[test]
    fn flush_blocking_from_a_listener_returns_at_once() {
        let d = RecordingDispatcher::new();
        let p = Arc::new(BatchEventProcessor::new(d, options(1)).unwrap());
        let results = Arc::new(Mutex::new(Vec::new()));
        let (weak, out) = (Arc::downgrade(&p), Arc::clone(&results));
        p.on_log_event(move |_, _| {
            if let Some(p) = weak.upgrade() {
                let start = Instant::now();
                out.lock()
                    .push((p.flush_blocking(Duration::from_secs(2)), start.elapsed()));
            }
        });
        p.process(event("1", "a"));
        assert!(p.flush_blocking(Duration::from_secs(5)));
        let results = results.lock();
        assert_eq!(results.len(), 1);
        assert!(!results[0].0);
        assert!(results[0].1 < Duration::from_millis(500));
    }

    #[test]
    fn a_panicking_dispatcher_fails_the_batch_and_the_thread_goes_on() {
        struct Panics(AtomicBool);
        impl EventDispatcher for Panics {
            fn dispatch(&self, _: &LogEvent) -> DispatchOutcome {
                if !self.0.swap(true, Ordering::AcqRel) {
                    panic!("dispatcher bug");
                }
                DispatchOutcome::Delivered
            }
        }
        let p = BatchEventProcessor::new(Panics(AtomicBool::new(false)), options(1)).unwrap();
        p.process(event("1", "a"));
        p.process(event("1", "b"));
        assert!(p.flush_blocking(Duration::from_secs(5)));
        assert_eq!((p.stats().failed, p.stats().dispatched), (1, 1));
    }
}
