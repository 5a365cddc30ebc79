//! The client's notification center: typed listeners for flag decisions, conversions, event
//! batches and config updates, as the official SDKs' notification centers offer them.
//!
//! Invariant: a listener runs on the thread that raised the notification (the decide or
//! `track_event` caller, the event thread, the caller of `update_datafile`), after the fact it
//! reports; a panicking listener is caught and logged, and the others still run. With no
//! listener of a type, raising that type costs one relaxed atomic load and nothing else.

use super::Decision;
use crate::event::LogEvent;
use crate::value::Attributes;
use parking_lot::{Mutex, RwLock};
use serde_json::{json, Map, Value};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// The kinds of notification a listener can be added for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NotificationType {
    /// A flag was decided ([`DecisionNotification`]).
    Decision,
    /// A conversion was tracked ([`TrackNotification`]).
    Track,
    /// An event batch was sent ([`LogEvent`] and its outcome).
    LogEvent,
    /// The client's config changed to a new revision ([`ConfigUpdateNotification`]).
    ConfigUpdate,
}

/// A flag decision, as DECISION listeners (type `flag`) receive it.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct DecisionNotification<'a> {
    /// The decision: flag key, enabled, variables, variation key, rule key, reasons, and the
    /// user context (user id and attributes).
    pub decision: &'a Decision,
    /// Whether the decision's impression was queued for sending.
    pub decision_event_dispatched: bool,
}

impl DecisionNotification<'_> {
    /// The official payload: `{type: "flag", user_id, attributes, decision_info: {flag_key,
    /// enabled, variables, variation_key, rule_key, reasons, decision_event_dispatched}}`.
    pub fn to_json(&self) -> Value {
        let d = self.decision;
        json!({
            "type": "flag",
            "user_id": d.user_context().user_id(),
            "attributes": d.user_context().attributes(),
            "decision_info": {
                "flag_key": d.flag_key(),
                "enabled": d.enabled(),
                "variables": d.variables().to_json(),
                "variation_key": d.variation_key(),
                "rule_key": d.rule_key(),
                "reasons": d.reasons(),
                "decision_event_dispatched": self.decision_event_dispatched,
            },
        })
    }
}

/// A tracked conversion, as TRACK listeners receive it.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct TrackNotification<'a> {
    /// The event key.
    pub event_key: &'a str,
    /// The user id.
    pub user_id: &'a str,
    /// The user's attributes.
    pub attributes: &'a Attributes,
    /// The tags given to `track_event`.
    pub event_tags: Option<&'a Map<String, Value>>,
    /// The conversion as a request of its own (what the event thread sends, batched).
    pub log_event: &'a LogEvent,
}

/// A config update, as CONFIG_UPDATE listeners receive it.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ConfigUpdateNotification<'a> {
    /// The new config's revision.
    pub revision: &'a str,
}

/// A DECISION listener.
pub(crate) type DecisionListener = dyn Fn(&DecisionNotification<'_>) + Send + Sync;
/// A TRACK listener.
pub(crate) type TrackListener = dyn Fn(&TrackNotification<'_>) + Send + Sync;
/// A CONFIG_UPDATE listener.
pub(crate) type ConfigUpdateListener = dyn Fn(&ConfigUpdateNotification<'_>) + Send + Sync;

/// A list of listeners by id, shared with the notifications being raised.
type List<F> = Arc<[(u64, Arc<F>)]>;

/// The listeners of one type: a list swapped whole on change, read without copying.
pub(crate) struct Listeners<F: ?Sized> {
    /// How many listeners there are (read without the lock).
    count: AtomicUsize,
    /// The listeners by id.
    list: RwLock<List<F>>,
}

impl<F: ?Sized> Default for Listeners<F> {
    fn default() -> Self {
        Listeners {
            count: AtomicUsize::new(0),
            list: RwLock::new(Arc::from(Vec::new())),
        }
    }
}

impl<F: ?Sized> Listeners<F> {
    /// Whether there is no listener.
    pub(crate) fn is_empty(&self) -> bool {
        self.count.load(Ordering::Relaxed) == 0
    }

    fn add(&self, id: u64, listener: Arc<F>) {
        let mut list = self.list.write();
        let mut next: Vec<(u64, Arc<F>)> = list.iter().cloned().collect();
        next.push((id, listener));
        self.count.store(next.len(), Ordering::Relaxed);
        *list = Arc::from(next);
    }

    fn remove(&self, id: u64) -> bool {
        let mut list = self.list.write();
        if !list.iter().any(|(i, _)| *i == id) {
            return false;
        }
        let next: Vec<(u64, Arc<F>)> = list.iter().filter(|(i, _)| *i != id).cloned().collect();
        self.count.store(next.len(), Ordering::Relaxed);
        *list = Arc::from(next);
        true
    }

    fn clear(&self) {
        let mut list = self.list.write();
        self.count.store(0, Ordering::Relaxed);
        *list = Arc::from(Vec::new());
    }

    /// Calls `call` with each listener, catching and logging a panic.
    pub(crate) fn each(&self, kind: &str, call: impl Fn(&F)) {
        if self.is_empty() {
            return;
        }
        let list = Arc::clone(&self.list.read());
        for (id, listener) in list.iter() {
            if catch_unwind(AssertUnwindSafe(|| call(listener))).is_err() {
                log::error!(target: "decisive", "{kind} listener {id} panicked; it stays registered");
            }
        }
    }
}

/// The client's listeners.
#[derive(Default)]
pub(crate) struct Notifications {
    /// The next listener id (shared by all types).
    next_id: AtomicU64,
    /// DECISION listeners.
    pub(crate) decision: Listeners<DecisionListener>,
    /// TRACK listeners.
    pub(crate) track: Listeners<TrackListener>,
    /// CONFIG_UPDATE listeners.
    pub(crate) config_update: Listeners<ConfigUpdateListener>,
    /// LOG_EVENT listeners, kept by the event processor: our id and the processor's.
    pub(crate) log_event: Mutex<Vec<(u64, u64)>>,
}

impl Notifications {
    /// A new listener id.
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub(crate) fn add_decision(&self, listener: Arc<DecisionListener>) -> u64 {
        let id = self.next_id();
        self.decision.add(id, listener);
        id
    }

    pub(crate) fn add_track(&self, listener: Arc<TrackListener>) -> u64 {
        let id = self.next_id();
        self.track.add(id, listener);
        id
    }

    pub(crate) fn add_config_update(&self, listener: Arc<ConfigUpdateListener>) -> u64 {
        let id = self.next_id();
        self.config_update.add(id, listener);
        id
    }

    /// Removes listener `id` from the typed lists (LOG_EVENT ids are the client's to map).
    pub(crate) fn remove_typed(&self, id: u64) -> bool {
        self.decision.remove(id) || self.track.remove(id) || self.config_update.remove(id)
    }

    /// Removes every listener of `kind` from the typed lists.
    pub(crate) fn clear_typed(&self, kind: NotificationType) {
        match kind {
            NotificationType::Decision => self.decision.clear(),
            NotificationType::Track => self.track.clear(),
            NotificationType::ConfigUpdate => self.config_update.clear(),
            NotificationType::LogEvent => {}
        }
    }
}
