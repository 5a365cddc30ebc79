//! Clients made and dropped in a loop without `close`, as a service that makes one per request
//! would: each drop delivers what its client queued, within a bounded time, and leaves no
//! thread behind. Alone in its test binary so that no other test's threads are counted.

use decisive::{Client, RecordingDispatcher};
use std::time::{Duration, Instant};

/// The threads of this process now.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn dropping_a_thousand_clients_delivers_each_ones_event_and_leaks_no_thread() {
    let datafile = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/datafiles/quickstart.json"
    ))
    .expect("quickstart datafile");
    let recorder = RecordingDispatcher::new();
    let before = threads();
    let started = Instant::now();
    for i in 0..1000 {
        let client = Client::builder()
            .datafile(&datafile)
            .event_dispatcher(recorder.clone())
            .build()
            .expect("client");
        let user = client.create_user_context(format!("user-{i}"), Default::default());
        user.track_event("purchase", None).expect("known event");
        let dropping = Instant::now();
        drop(client);
        drop(user);
        assert!(
            dropping.elapsed() < Duration::from_secs(2),
            "drop {i} took {:?}",
            dropping.elapsed()
        );
    }
    let events: usize = recorder.events().iter().map(|e| e.event_count).sum();
    assert_eq!(events, 1000, "every client's event was delivered on drop");
    if before > 0 {
        assert_eq!(threads(), before, "every event thread was joined");
    }
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
}
