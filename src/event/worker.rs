//! The `decisive-events` thread: one loop over the inbox, the control channel and two timers
//! (a batch's flush interval, the spool's retry interval) that batches user events, dispatches each batch with retries and backoff, and counts and
//! reports every event's fate.

use super::dispatcher::{DispatchOutcome, EventDispatcher};
use super::payload::BatchItem;
use super::payload::{log_event_with, Fragments};
use super::processor::{Control, Listener, Loss, ProcessorOptions, Queued, Shared};
use super::spool::Spool;
use super::LogEvent;
use crossbeam_channel::{select, Receiver, RecvError, Sender};
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The largest request buffer kept for reuse (bytes).
const MAX_SPARE_BODY: usize = 1 << 20;

/// What became of a request, for the caller of `deliver`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Counted for good (delivered, failed or dropped): its spool file can go.
    Done,
    /// Kept in the spool for a later attempt.
    Kept,
    /// Too large: nothing counted; the caller sends it in parts.
    TooLarge,
}

/// The thread's ends of the channels.
pub(super) struct Channels {
    /// Events.
    pub(super) inbox: Receiver<Queued>,
    /// Control messages.
    pub(super) control: Receiver<Control>,
}

/// The `decisive-events` thread's state.
pub(super) struct Worker {
    /// Where batches go.
    pub(super) dispatcher: Box<dyn EventDispatcher>,
    /// Validated options.
    pub(super) options: ProcessorOptions,
    /// Counters and listeners.
    pub(super) shared: Arc<Shared>,
    /// The batch being filled; its events share one context. Its capacity is kept from one
    /// batch to the next.
    pub(super) batch: Vec<Queued>,
    /// The text buffer of a request already sent, for the next request to write into.
    pub(super) spare_body: String,
    /// The close deadline, once seen.
    pub(super) closing: Option<Instant>,
    /// A flush arrived while a batch was being retried.
    pub(super) flush_requested: bool,
    /// flush_blocking callers to answer once what was queued before them is done.
    pub(super) waiters: Vec<Sender<()>>,
    /// Whether close's deadline made the thread drop events.
    pub(super) abandoned: bool,
    /// Text pieces of the current config's impressions.
    pub(super) fragments: Fragments,
    /// The durable spool, when configured.
    pub(super) spool: Option<Spool>,
    /// Spooled batches waiting for another attempt (found at start, or kept when their
    /// retries ran out), oldest first.
    pub(super) pending: VecDeque<(u64, LogEvent)>,
    /// Batches not delivered since the last one that was: a run of failures is logged as a
    /// warning once, then at debug level, and its end once.
    pub(super) failed_in_a_row: u64,
    /// Until when sending pauses after the endpoint answered 404.
    pub(super) not_found_until: Option<Instant>,
    /// When the batch must be sent: a flush interval after its first event came.
    pub(super) batch_due: Option<Instant>,
    /// Queue-full drops already reported by the end of an overflow episode.
    pub(super) full_drops_reported: u64,
}

impl Worker {
    /// The loop: wait for a control message or the next timer, then act. Producers wake the
    /// thread (a `Wake` message) once a batch's worth of events is queued, and for the first
    /// event after it went idle; every wake-up moves the queued events into batches, sending
    /// each batch once full. Two timers: a batch is sent a flush interval after its first
    /// event came, and spooled batches whose retries ran out are tried again a flush interval
    /// after the last try. With neither running and nothing queued the thread blocks without
    /// a timeout (an idle processor does not wake). Before it waits the thread lingers
    /// briefly (see [`linger`]).
    pub(super) fn run(mut self, channels: &Channels) {
        self.retry_pending(channels);
        let interval = self.options.flush_interval;
        let mut retry_at = (!self.pending.is_empty()).then(|| Instant::now() + interval);
        loop {
            linger(&channels.control);
            let message = match self.batch_due.into_iter().chain(retry_at).min() {
                Some(due) => select! {
                    recv(channels.control) -> message => Some(message),
                    default(due.saturating_duration_since(Instant::now())) => None,
                },
                None => self.wait_idle(channels),
            };
            match message {
                Some(Ok(message)) => self.note(message),
                Some(Err(_)) => self.note_disconnect(),
                None => {}
            }
            // Written only when set: the line is the producers' to read.
            if self.shared.wake_pending.load(Ordering::Relaxed) {
                self.shared.wake_pending.store(false, Ordering::Release);
            }
            self.drain(channels);
            let now = Instant::now();
            if self.batch_due.is_some_and(|due| due <= now) {
                self.flush_batch(channels);
            }
            if retry_at.is_some_and(|due| due <= now) {
                self.retry_pending(channels);
                retry_at = (!self.pending.is_empty()).then(|| now + interval);
            } else if retry_at.is_none() && !self.pending.is_empty() {
                retry_at = Some(now + interval);
            }
            if self.closing.is_none() && self.shared.closing.load(Ordering::Acquire) {
                self.closing = self.shared.deadline();
            }
            if let Some(deadline) = self.closing {
                self.finish(deadline, channels);
                return;
            }
            self.serve_flushes(channels);
        }
    }

    /// Blocks until a control message comes, with nothing to send and no timer running:
    /// producers are told (`idle`) to wake the thread with their next event. `None` when an
    /// event was queued meanwhile (there is work without a message).
    fn wait_idle(&mut self, channels: &Channels) -> Option<Result<Control, RecvError>> {
        let idle = &self.shared.idle;
        idle.store(true, Ordering::SeqCst);
        // An event queued before the flag was seen would wake no one: look once more.
        if !channels.inbox.is_empty() {
            idle.store(false, Ordering::SeqCst);
            return None;
        }
        let message = channels.control.recv();
        idle.store(false, Ordering::SeqCst);
        Some(message)
    }

    /// Records a control message; flushes it asks for are served by the main loop.
    fn note(&mut self, message: Control) {
        match message {
            Control::Wake => {}
            Control::Flush => self.flush_requested = true,
            Control::FlushBlocking(reply) => self.waiters.push(reply),
            Control::Close => self.closing = self.shared.deadline(),
        }
    }

    /// The handle is gone without close (cannot happen while it lives): close now.
    fn note_disconnect(&mut self) {
        if self.closing.is_none() {
            self.closing = Some(Instant::now() + self.options.close_timeout);
        }
    }

    /// Serves pending flushes: sends everything queued so far, then answers the waiters.
    fn serve_flushes(&mut self, channels: &Channels) {
        while self.closing.is_none() && (self.flush_requested || !self.waiters.is_empty()) {
            self.flush_requested = false;
            let waiters = std::mem::take(&mut self.waiters);
            self.drain(channels);
            self.flush_batch(channels);
            for waiter in waiters {
                let _ = waiter.try_send(());
            }
        }
    }

    /// Moves the events queued now (not those arriving meanwhile) into batches.
    fn drain(&mut self, channels: &Channels) {
        for _ in 0..channels.inbox.len() {
            match channels.inbox.try_recv() {
                Ok(event) => self.add(event, channels),
                Err(_) => break,
            }
        }
        if self.shared.overflowing.load(Ordering::Acquire) && channels.inbox.is_empty() {
            self.end_overflow();
        }
    }

    /// The queue, full at some point, has been emptied: ends the overflow episode (the next
    /// drop warns again) and says how many events it dropped.
    fn end_overflow(&mut self) {
        self.shared.overflowing.store(false, Ordering::Release);
        let dropped = self.shared.loss(Loss::QueueFull);
        log::info!(
            target: "decisive",
            "event queue has room again; {} events were dropped while it was full",
            dropped.saturating_sub(self.full_drops_reported)
        );
        self.full_drops_reported = dropped;
    }

    /// Adds `event` to the batch: the batch is sent first when the context differs, and
    /// after when it is full.
    fn add(&mut self, event: Queued, channels: &Channels) {
        if self
            .batch
            .first()
            .is_some_and(|first| !first.same_context(&event))
        {
            self.flush_batch(channels);
        }
        if self.batch.is_empty() {
            self.batch_due = Some(Instant::now() + self.options.flush_interval);
        }
        self.batch.push(event);
        if self.batch.len() >= self.options.batch_size {
            self.flush_batch(channels);
        }
    }

    /// Sends the batch, if any.
    fn flush_batch(&mut self, channels: &Channels) {
        self.batch_due = None;
        if self.batch.is_empty() {
            return;
        }
        // One request: `add` keeps the batch to events of one context.
        let mut events = std::mem::take(&mut self.batch);
        self.send_run(&events, channels);
        events.clear();
        self.batch = events;
    }

    /// Sends `run` (events of one context) as one request, written to the spool first when
    /// there is one; when the service finds it too large, sends each half the same way.
    fn send_run(&mut self, run: &[Queued], channels: &Channels) {
        let buf = std::mem::take(&mut self.spare_body);
        let Some(log_event) = log_event_with(run, &mut self.fragments, buf) else {
            return;
        };
        let seq = self.store(&log_event);
        match self.deliver(&log_event, run.len() as u64, seq.is_some(), channels) {
            Fate::Done => {
                self.unspool(seq);
                self.keep_body(log_event.body);
            }
            Fate::Kept => {
                if let Some(seq) = seq {
                    self.pending.push_back((seq, log_event));
                }
            }
            Fate::TooLarge => {
                self.unspool(seq);
                self.keep_body(log_event.body);
                let (first, second) = run.split_at(run.len() / 2);
                log::debug!(target: "decisive", "a batch of {} events was too large; sending it in halves", run.len());
                self.send_run(first, channels);
                self.send_run(second, channels);
            }
        }
    }

    /// Keeps the text buffer of a request sent for the next one, unless it grew unusually
    /// large.
    fn keep_body(&mut self, body: String) {
        if body.capacity() <= MAX_SPARE_BODY {
            self.spare_body = body;
        }
    }

    /// Writes `event` to the spool, if any: its sequence number, or `None` (without a spool,
    /// or when writing failed: the batch is then sent from memory only).
    fn store(&mut self, event: &LogEvent) -> Option<u64> {
        let spool = self.spool.as_mut()?;
        match spool.store(event) {
            Ok((seq, evicted)) => {
                if evicted > 0 {
                    Shared::sub(&self.shared.spooled, evicted);
                    self.shared.drop_events(evicted, Loss::Spool);
                }
                Some(seq)
            }
            Err(e) => {
                log::error!(target: "decisive", "cannot write to the event spool: {e}; sending the batch from memory only");
                None
            }
        }
    }

    /// Removes batch `seq` from the spool.
    fn unspool(&mut self, seq: Option<u64>) {
        if let (Some(spool), Some(seq)) = (self.spool.as_mut(), seq) {
            spool.remove(seq);
        }
    }

    /// Sends spooled batches again, oldest first, until one is kept again (the service is
    /// still unreachable) or none is left. Not while closing: they stay on disk.
    fn retry_pending(&mut self, channels: &Channels) {
        while self.closing.is_none() {
            let Some((seq, event)) = self.pending.pop_front() else {
                return;
            };
            if !self.spool.as_ref().is_some_and(|s| s.contains(seq)) {
                continue; // evicted meanwhile (already counted dropped)
            }
            let count = event.event_count as u64;
            Shared::sub(&self.shared.spooled, count);
            match self.deliver(&event, count, true, channels) {
                Fate::Done => self.unspool(Some(seq)),
                Fate::Kept => {
                    self.pending.push_front((seq, event));
                    return;
                }
                Fate::TooLarge => {
                    // A stored batch cannot be cut apart any more.
                    log::warn!(target: "decisive", "a spooled batch of {count} events was rejected as too large");
                    self.shared.fail_events(count, Loss::Rejected);
                    self.unspool(Some(seq));
                }
            }
        }
    }

    /// Sends one request of `count` events with retries, counts the result and tells the
    /// listeners. With `spooled` (the batch is in the spool), a batch whose retries ran out,
    /// or that close left no time for, is kept (counted `spooled`) instead of failed or
    /// dropped.
    fn deliver(
        &mut self,
        event: &LogEvent,
        count: u64,
        spooled: bool,
        channels: &Channels,
    ) -> Fate {
        let shared = Arc::clone(&self.shared);
        if shared.disabled.load(Ordering::Acquire) {
            shared.drop_events(count, Loss::Disabled);
            return Fate::Done;
        }
        if self.closing.is_some_and(|d| Instant::now() >= d) {
            if spooled {
                Shared::add(&shared.spooled, count);
                return Fate::Kept;
            }
            shared.drop_events(count, Loss::Closed);
            self.abandoned = true;
            return Fate::Done;
        }
        // After a 404, the next batch waits out the pause (close does not).
        if let Some(until) = self.not_found_until.take() {
            let now = Instant::now();
            if until > now && self.closing.is_none() {
                // False when close came first: the batch is then sent at once.
                self.wait(until - now, channels);
            }
        }
        let mut backoff = self.options.retry_backoff;
        let mut retries = 0;
        let outcome = loop {
            let outcome = catch_unwind(AssertUnwindSafe(|| self.dispatcher.dispatch(event)))
                .unwrap_or_else(|_| DispatchOutcome::Rejected("the dispatcher panicked".into()));
            let (why, asked) = match &outcome {
                DispatchOutcome::Retryable(why) | DispatchOutcome::Unanswered(why) => (why, None),
                DispatchOutcome::RetryAfter(after, why) => (why, Some(*after)),
                _ => break outcome,
            };
            if retries >= self.options.max_retries {
                break outcome;
            }
            let wait = match asked {
                Some(after) if after > self.options.max_retry_after => {
                    log::warn!(
                        target: "decisive",
                        "the event service asked to retry after {after:?}; waiting {:?} instead",
                        self.options.max_retry_after
                    );
                    self.options.max_retry_after.max(backoff)
                }
                Some(after) => after.max(backoff),
                None => backoff,
            };
            log::debug!(target: "decisive", "event batch attempt {} failed: {why}; retrying in {wait:?}", retries + 1);
            if !self.wait(wait, channels) {
                break outcome;
            }
            retries += 1;
            backoff = (backoff * 2).min(self.options.max_retry_backoff);
            if matches!(outcome, DispatchOutcome::Unanswered(_)) {
                Shared::add(&shared.resent_after_timeout, count);
            }
        };
        let mut fate = Fate::Done;
        // The first failure of a run is a warning; the rest of the run (an outage, a wrong
        // endpoint) is logged at debug level until a batch is delivered again.
        let level = if matches!(outcome, DispatchOutcome::TooLarge(_)) && count > 1 {
            log::Level::Debug // sent again in halves: not a failure yet
        } else if matches!(outcome, DispatchOutcome::Delivered) {
            if self.failed_in_a_row > 0 {
                log::info!(target: "decisive", "event batches delivered again after {} that were not", self.failed_in_a_row);
            }
            self.failed_in_a_row = 0;
            log::Level::Debug
        } else {
            self.failed_in_a_row += 1;
            if self.failed_in_a_row > 1 {
                log::Level::Debug
            } else if matches!(outcome, DispatchOutcome::NotFound(_)) {
                // A configuration error: said loudly.
                log::Level::Error
            } else {
                log::Level::Warn
            }
        };
        match &outcome {
            DispatchOutcome::Delivered => Shared::add(&shared.dispatched, count),
            DispatchOutcome::Retryable(why)
            | DispatchOutcome::Unanswered(why)
            | DispatchOutcome::RetryAfter(_, why)
                if spooled =>
            {
                Shared::add(&shared.spooled, count);
                log::log!(target: "decisive", level, "{count} events not delivered after {} attempts ({why}); kept in the spool", retries + 1);
                fate = Fate::Kept;
            }
            DispatchOutcome::Retryable(why)
            | DispatchOutcome::Unanswered(why)
            | DispatchOutcome::RetryAfter(_, why) => {
                shared.fail_events(count, Loss::RetriesExhausted);
                log::log!(target: "decisive", level, "{count} events failed after {} attempts: {why}", retries + 1);
            }
            DispatchOutcome::Rejected(why) => {
                shared.fail_events(count, Loss::Rejected);
                log::log!(target: "decisive", level, "{count} events rejected: {why}");
            }
            DispatchOutcome::TooLarge(why) if count <= 1 => {
                shared.fail_events(count, Loss::Rejected);
                log::log!(target: "decisive", level, "an event was rejected as too large: {why}");
            }
            DispatchOutcome::TooLarge(_) => fate = Fate::TooLarge,
            DispatchOutcome::NotFound(why) => {
                shared.fail_events(count, Loss::NotFound);
                let pause = self.options.not_found_pause;
                if !pause.is_zero() {
                    self.not_found_until = Some(Instant::now() + pause);
                }
                log::log!(target: "decisive", level, "{count} events failed: the event endpoint was not found ({why}); check the endpoint. Sending pauses for {pause:?} after each such answer");
            }
            DispatchOutcome::MustShutDown(why) => {
                shared.fail_events(count, Loss::Refused);
                if !shared.disabled.swap(true, Ordering::AcqRel) {
                    log::error!(target: "decisive", "event service refused the request ({why}); no more events will be sent");
                }
            }
        }
        notify(&shared, event, &outcome);
        fate
    }

    /// Waits `backoff` before a retry while noting control messages; false when close's
    /// deadline comes first (the batch then gets no more attempts).
    fn wait(&mut self, backoff: Duration, channels: &Channels) -> bool {
        let until = Instant::now() + backoff;
        loop {
            if self.closing.is_none() {
                self.closing = self.shared.deadline();
            }
            if self.closing.is_some_and(|d| d < until) {
                return false;
            }
            let now = Instant::now();
            if now >= until {
                return true;
            }
            select! {
                recv(channels.control) -> message => match message {
                    Ok(message) => self.note(message),
                    Err(_) => self.note_disconnect(),
                },
                default(until - now) => return true,
            }
        }
    }

    /// Close: sends everything queued, within `deadline` (later batches are dropped), then
    /// answers flush waiters unless something was abandoned.
    fn finish(&mut self, deadline: Instant, channels: &Channels) {
        self.closing = Some(deadline);
        // After close no event enters the queue, so this ends.
        while let Ok(event) = channels.inbox.try_recv() {
            self.add(event, channels);
        }
        self.flush_batch(channels);
        while let Ok(message) = channels.control.try_recv() {
            self.note(message);
        }
        if !self.abandoned {
            for waiter in std::mem::take(&mut self.waiters) {
                let _ = waiter.try_send(());
            }
        }
        let s = &*self.shared;
        log::debug!(
            target: "decisive",
            "event thread stopped: {} queued, {} dispatched, losses {:?}",
            s.queued.load(Ordering::Acquire),
            s.dispatched.load(Ordering::Acquire),
            s.losses
        );
    }
}

/// Yields the CPU a few times (a few microseconds) while the control channel is empty, before
/// the thread blocks on it: a wake-up (or flush) sent meanwhile finds the thread awake, so its
/// sender makes no system call to wake it and the thread pays no wake-up latency. Events
/// coming steadily thus keep the thread from blocking between batches; once they stop, it
/// blocks after this short wait. (It yields rather than spins: a spin's pause instructions
/// can make a virtual CPU exit to its hypervisor.)
fn linger(control: &Receiver<Control>) {
    for _ in 0..LINGER_YIELDS {
        if !control.is_empty() {
            return;
        }
        std::thread::yield_now();
    }
}

/// How many times [`linger`] yields (checking the channel before each) before the thread
/// blocks.
const LINGER_YIELDS: u32 = 16;

/// Calls every listener with `event` and `outcome`, each under `catch_unwind`.
fn notify(shared: &Shared, event: &LogEvent, outcome: &DispatchOutcome) {
    let listeners: Vec<(u64, Listener)> = shared.listeners.lock().clone();
    for (id, listener) in listeners {
        if catch_unwind(AssertUnwindSafe(|| listener(event, outcome))).is_err() {
            log::error!(target: "decisive", "log-event listener {id} panicked; it stays registered");
        }
    }
}
