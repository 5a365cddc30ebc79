//! The shared benchmark workload: the 333 KB datafile and the 10,000 users of
//! `benches/data/bench_users.json`, as user contexts of a client; and what the event benches
//! and the `event_costs` example share.

#![allow(dead_code, reason = "each bench uses a different part of the workload")]

use decisive::{
    Attributes, BatchEventProcessor, Client, DispatchOutcome, EventDispatcher, LogEvent,
    ProjectConfig, UserContext, UserEvent,
};
use serde::Deserialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Deserialize)]
struct BenchUser {
    id: String,
    attributes: Attributes,
}

/// The bench datafile's bytes.
pub fn datafile() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/datafiles/bench_datafile.json"
    ))
    .expect("bench datafile")
}

/// A user context of `client` for each bench user, in file order.
pub fn users(client: &Client) -> Vec<UserContext> {
    let text = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/data/bench_users.json"
    ))
    .expect("bench users");
    let users: Vec<BenchUser> = serde_json::from_slice(&text).expect("bench users parse");
    users
        .into_iter()
        .map(|u| client.create_user_context(u.id, u.attributes))
        .collect()
}

/// A dispatcher that counts the events it is given and sends nothing.
#[derive(Clone, Default)]
pub struct Discard {
    /// Events dispatched so far.
    pub events: Arc<AtomicU64>,
}

impl EventDispatcher for Discard {
    fn dispatch(&self, event: &LogEvent) -> DispatchOutcome {
        self.events
            .fetch_add(event.event_count as u64, Ordering::Relaxed);
        DispatchOutcome::Delivered
    }
}

/// The bench datafile's config.
pub fn config() -> Arc<ProjectConfig> {
    Client::builder()
        .datafile(datafile())
        .without_events()
        .build()
        .expect("client")
        .config()
        .expect("config")
}

/// The attributes of the purchases the event benches make: two of them.
pub fn purchase_attributes() -> Attributes {
    let mut attributes = Attributes::new();
    attributes.insert("country", "US");
    attributes.insert("tier", "gold");
    attributes
}

/// A conversion of `purchase` by `user-1` with `attributes`, made from `config`.
pub fn purchase(config: &ProjectConfig, attributes: &Attributes) -> UserEvent {
    UserEvent::conversion(config, "purchase", "user-1", attributes)
        .expect("the bench datafile has a purchase event")
}

/// A conversion of `purchase` by one user with two attributes, built from the bench datafile.
pub fn purchase_event() -> UserEvent {
    purchase(&config(), &purchase_attributes())
}

/// Two threads each queue `per_thread` copies of `event` (built beforehand), then a flush
/// waits until all of them reached the dispatcher: the time from the first queued event.
pub fn queue_from_two_threads(
    processor: &BatchEventProcessor,
    event: &UserEvent,
    per_thread: u64,
    timeout: Duration,
) -> Duration {
    let batches: Vec<Vec<UserEvent>> = (0..2)
        .map(|_| (0..per_thread).map(|_| event.clone()).collect())
        .collect();
    let start = Instant::now();
    std::thread::scope(|s| {
        for events in batches {
            s.spawn(move || {
                for e in events {
                    processor.process(e);
                }
            });
        }
    });
    assert!(processor.flush_blocking(timeout), "flush timed out");
    start.elapsed()
}
