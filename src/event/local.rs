//! Per-thread buffers in front of the batch processor's channel.
//!
//! Each thread that queues events keeps, for each processor it uses, a [`Local`]: a small
//! buffer the processor also holds in its registry. Queueing an event takes the buffer's lock
//! (uncontended: the event thread takes it only to flush and before it sleeps) and pushes the
//! event; once the buffer holds a chunk, the whole chunk goes through the bounded channel as
//! one message. The events and the lock stay on the producer's core: the one shared line an
//! event writes is the capacity count (below), which the event thread writes only once per
//! chunk it takes.
//!
//! Capacity is counted in events, buffered ones included: each accepted event takes a unit of
//! the processor's shared count (one atomic add, on a line the event thread writes only once
//! per chunk it takes), and the event thread gives the room back as it takes events out (of the
//! channel or of a buffer). So accepted events never exceed the queue capacity, and an event is
//! refused (and counted dropped) exactly when it would not fit.

use super::processor::{Queued, Shared};
use super::{Impressed, Tracked, UserEvent};
use crate::config::ProjectConfig;
use parking_lot::Mutex;
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

/// The most events a chunk holds.
pub(super) const MAX_CHUNK: usize = 32;

/// An event waiting in a buffer or in the channel.
pub(super) enum Pending {
    /// A user event in wire form (boxed: buffer slots stay as small as an impression).
    Built(Box<UserEvent>),
    /// An impression from the decide path; its config is the chunk's.
    Impressed(Impressed),
    /// A conversion from `track_event`.
    Tracked(Tracked),
}

/// Events that travel through the channel together.
pub(super) struct Chunk {
    /// The config of the chunk's impressions (`None` when it has none).
    pub(super) config: Option<Arc<ProjectConfig>>,
    /// The events, oldest first.
    pub(super) events: Vec<Pending>,
}

/// `event` as the event thread batches it, an impression joined to `config` (the config of
/// its chunk or buffer). `None` for an impression without one, which is never made: a buffer
/// takes the config with its first impression.
pub(super) fn queued(config: Option<&Arc<ProjectConfig>>, event: Pending) -> Option<Queued> {
    Some(match event {
        Pending::Built(event) => Queued::Built(event),
        Pending::Impressed(event) => Queued::Decided(event.bind(Arc::clone(config?))),
        Pending::Tracked(event) => Queued::Tracked(event),
    })
}

/// What a buffer holds, under its lock.
pub(super) struct Buffer {
    /// The config of the buffered impressions; set by the first one, taken with the events.
    pub(super) config: Option<Arc<ProjectConfig>>,
    /// The events, oldest first.
    pub(super) events: Vec<Pending>,
}

/// One thread's buffer for one processor (or a buffer a finished thread left, waiting for
/// another thread or for the event thread). On lines of its own: its owner writes it on
/// every event.
#[repr(align(128))]
pub(super) struct Local {
    /// The events.
    pub(super) buffer: Mutex<Buffer>,
    /// Events this buffer accepted, ever (only its owner adds, under the lock).
    pub(super) queued: AtomicU64,
    /// Whether a thread uses this buffer.
    pub(super) claimed: AtomicBool,
    /// Set when the processor has stopped: a thread drops its claim on it.
    pub(super) retired: AtomicBool,
    /// The processor's shared state, told when a thread leaves events behind.
    shared: Weak<Shared>,
}

impl Local {
    /// An empty, unclaimed buffer with room for `chunk` events.
    pub(super) fn new(chunk: usize, shared: Weak<Shared>) -> Local {
        Local {
            buffer: Mutex::new(Buffer {
                config: None,
                events: Vec::with_capacity(chunk),
            }),
            queued: AtomicU64::new(0),
            claimed: AtomicBool::new(false),
            retired: AtomicBool::new(false),
            shared,
        }
    }

    /// Claims this buffer for the calling thread; false when another thread has it.
    pub(super) fn try_claim(&self) -> bool {
        !self.claimed.load(Ordering::Acquire)
            && self
                .claimed
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }

    /// Gives the buffer up (its thread is finishing); events left in it are flagged to the
    /// event thread, which takes them at its next wake-up.
    fn release(&self) {
        let left = !self.buffer.lock().events.is_empty();
        self.claimed.store(false, Ordering::Release);
        if left {
            if let Some(shared) = self.shared.upgrade() {
                shared.stray.store(true, Ordering::Release);
            }
        }
    }
}

/// A thread's claim on a processor's buffer; released when the thread finishes.
struct Claim {
    /// The processor's id.
    processor: u64,
    /// The buffer.
    local: Arc<Local>,
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.local.release();
    }
}

/// How many claims a thread keeps without allocating.
const NEAR: usize = 4;

/// A thread's claims, by processor id: the first few inline, more in a list.
struct Claims {
    /// The first claims.
    near: [Option<Claim>; NEAR],
    /// Claims beyond [`NEAR`].
    far: Vec<Claim>,
}

impl Claims {
    /// The buffer claimed for `processor`.
    fn find(&self, processor: u64) -> Option<&Local> {
        for claim in self.near.iter().flatten() {
            if claim.processor == processor {
                return Some(&claim.local);
            }
        }
        self.far
            .iter()
            .find(|c| c.processor == processor)
            .map(|c| &*c.local)
    }

    /// Records a claim, first letting go of claims on processors that have stopped.
    fn add(&mut self, claim: Claim) {
        for slot in &mut self.near {
            if slot
                .as_ref()
                .is_some_and(|c| c.local.retired.load(Ordering::Acquire))
            {
                *slot = None;
            }
        }
        self.far
            .retain(|c| !c.local.retired.load(Ordering::Acquire));
        match self.near.iter_mut().find(|slot| slot.is_none()) {
            Some(slot) => *slot = Some(claim),
            None => self.far.push(claim),
        }
    }
}

thread_local! {
    /// This thread's buffers, one per processor it queued events in.
    static CLAIMS: RefCell<Claims> = const {
        RefCell::new(Claims {
            near: [None, None, None, None],
            far: Vec::new(),
        })
    };
}

/// Runs `f` with this thread's buffer for `processor` (claimed with `claim` on first use) and
/// `value`, and gives its answer; gives `value` back when the thread's buffers cannot be
/// reached (the thread is finishing, or this is called from within `f`).
pub(super) fn with_local<T>(
    processor: u64,
    claim: impl FnOnce() -> Arc<Local>,
    value: T,
    f: impl Fn(&Local, T) -> bool,
) -> Result<bool, T> {
    let mut value = Some(value);
    let answer = CLAIMS.try_with(|claims| {
        if let Ok(claims) = claims.try_borrow() {
            if let Some(local) = claims.find(processor) {
                return value.take().map(|value| f(local, value));
            }
        }
        let mut claims = claims.try_borrow_mut().ok()?;
        let local = claim();
        claims.add(Claim {
            processor,
            local: Arc::clone(&local),
        });
        drop(claims);
        value.take().map(|value| f(&local, value))
    });
    match (answer, value) {
        (Ok(Some(accepted)), _) => Ok(accepted),
        (_, Some(value)) => Err(value),
        // `f` ran, so its answer was returned above.
        (_, None) => Ok(false),
    }
}
