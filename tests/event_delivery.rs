//! Event delivery through the public API: a `BatchEventProcessor` sending through the
//! `HttpDispatcher` to a scripted server on 127.0.0.1 (status codes, timeouts, refused
//! connections, context splits), and through a `RecordingDispatcher` for the queue and close
//! behaviour. Every scenario checks exact counts.

mod support;

use decisive::{
    Attributes, BatchEventProcessor, DispatchOutcome, EventDispatcher, HttpDispatcher, LogEvent,
    ProcessorOptions, RecordingDispatcher, UserEvent,
};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{eventually, quickstart_config, uuids, Reply, TestServer};

/// A conversion of `purchase` by `user`, decided with the quickstart datafile at `revision`.
fn event(revision: &str, user: &str) -> UserEvent {
    UserEvent::conversion(
        &quickstart_config(revision),
        "purchase",
        user,
        &Attributes::new(),
    )
    .expect("known event")
}

/// Batches of `batch_size`, fast retries (3 of them).
fn options(batch_size: usize) -> ProcessorOptions {
    let mut options = ProcessorOptions::default();
    options.batch_size = batch_size;
    options.retry_backoff = Duration::from_millis(10);
    options.max_retry_backoff = Duration::from_millis(40);
    options
}

/// An HTTP dispatcher posting to `url` with a short read timeout.
fn http(url: &str, read_timeout: Duration) -> HttpDispatcher {
    HttpDispatcher::builder()
        .endpoint(url)
        .connect_timeout(Duration::from_secs(2))
        .read_timeout(read_timeout)
        .build()
}

#[test]
fn status_503_twice_then_200_delivers_every_event_exactly_once() {
    let server = TestServer::start([Reply::status(503), Reply::status(503)]);
    let p = BatchEventProcessor::new(http(&server.url(), Duration::from_secs(2)), options(5))
        .expect("processor");
    for i in 0..10 {
        assert!(p.process(event("1", &format!("user-{i}"))));
    }
    assert!(p.flush_blocking(Duration::from_secs(10)));
    let requests = server.requests();
    assert_eq!(requests.len(), 4, "first batch 3 attempts, second batch 1");
    assert_eq!(
        requests[0].body, requests[2].body,
        "a retry resends the same bytes"
    );
    assert_eq!(requests[1].body, requests[2].body);
    for r in &requests {
        assert_eq!(r.content_type.as_deref(), Some("application/json"));
        assert!(r.request_line.starts_with("POST /v1/events "));
    }
    let ids: Vec<&str> = requests
        .iter()
        .map(|r| r.batch_id.as_deref().expect("a batch id header"))
        .collect();
    assert_eq!(ids[0], ids[1], "a retry carries the batch's id");
    assert_eq!(ids[1], ids[2]);
    assert_ne!(ids[2], ids[3], "another batch, another id");
    let delivered: Vec<String> = requests
        .iter()
        .filter(|r| r.status == 200)
        .flat_map(|r| uuids(&r.json()))
        .collect();
    assert_eq!(delivered.len(), 10);
    assert_eq!(delivered.iter().collect::<HashSet<_>>().len(), 10);
    let stats = p.stats();
    assert_eq!(
        (stats.queued, stats.dispatched, stats.failed, stats.dropped),
        (10, 10, 0, 0)
    );
}

#[test]
fn a_server_slower_than_the_read_timeout_is_retried_then_counted_failed() {
    let server = TestServer::with_default([], Reply::delayed(200, Duration::from_secs(2)));
    let mut opts = options(2);
    opts.max_retries = 1;
    let p = BatchEventProcessor::new(http(&server.url(), Duration::from_millis(200)), opts)
        .expect("processor");
    p.process(event("1", "a"));
    p.process(event("1", "b"));
    assert!(p.flush_blocking(Duration::from_secs(10)));
    assert!(eventually(|| server.request_count() == 2));
    let stats = p.stats();
    assert_eq!((stats.dispatched, stats.failed), (0, 2));
    // The server got the batch twice: the same bytes and the same batch id tell it so.
    let requests = server.requests();
    assert_eq!(requests[0].body, requests[1].body);
    assert!(requests[0].batch_id.is_some());
    assert_eq!(requests[0].batch_id, requests[1].batch_id);
    assert_eq!(stats.resent_after_timeout, 2);
}

#[test]
fn close_returns_within_its_timeout_while_the_server_stalls() {
    let server = TestServer::with_default([], Reply::delayed(200, Duration::from_secs(3)));
    let mut opts = options(1);
    opts.close_timeout = Duration::from_millis(500);
    let p = BatchEventProcessor::new(http(&server.url(), Duration::from_millis(300)), opts)
        .expect("processor");
    p.process(event("1", "a"));
    p.process(event("1", "b"));
    assert!(
        eventually(|| server.request_count() == 1),
        "first dispatch in flight"
    );
    let start = Instant::now();
    p.close();
    let took = start.elapsed();
    assert!(
        took <= Duration::from_millis(500 + 150),
        "close took {took:?}"
    );
    // The batch in flight gets no retry past the deadline and fails; the one never
    // attempted is dropped (abandoned), even when close returned before the thread stopped.
    assert!(eventually(|| {
        let s = p.stats();
        s.failed + s.dropped == 2
    }));
    let stats = p.stats();
    assert_eq!((stats.dispatched, stats.failed, stats.dropped), (0, 1, 1));
}

#[test]
fn status_400_is_not_retried_and_the_pipeline_goes_on() {
    let server = TestServer::start([Reply::status(400)]);
    let p = BatchEventProcessor::new(http(&server.url(), Duration::from_secs(2)), options(3))
        .expect("processor");
    for user in ["a", "b", "c"] {
        p.process(event("1", user));
    }
    assert!(p.flush_blocking(Duration::from_secs(10)));
    assert_eq!(server.request_count(), 1);
    assert_eq!((p.stats().failed, p.stats().dispatched), (3, 0));
    p.process(event("1", "d"));
    assert!(p.flush_blocking(Duration::from_secs(10)));
    assert_eq!(server.request_count(), 2);
    assert_eq!((p.stats().failed, p.stats().dispatched), (3, 1));
    assert_eq!(p.stats().failed_rejected, 3);
}

#[test]
fn status_404_fails_the_batch_pauses_and_recovers_when_the_endpoint_answers() {
    let server = TestServer::start([Reply::status(404)]);
    let mut opts = options(5);
    opts.not_found_pause = Duration::from_millis(300);
    let p = BatchEventProcessor::new(http(&server.url(), Duration::from_secs(2)), opts)
        .expect("processor");
    for i in 0..10 {
        assert!(p.process(event("1", &format!("user-{i}"))));
    }
    assert!(p.flush_blocking(Duration::from_secs(10)));
    let requests = server.requests();
    assert_eq!(
        requests.iter().map(|r| r.status).collect::<Vec<_>>(),
        [404, 200],
        "the 404 batch is not retried"
    );
    assert!(requests[1].arrived - requests[0].arrived >= Duration::from_millis(300));
    let stats = p.stats();
    assert_eq!(
        (
            stats.dispatched,
            stats.failed,
            stats.failed_not_found,
            stats.dropped,
            stats.disabled
        ),
        (5, 5, 5, 0, false)
    );
}

#[test]
fn status_401_stops_sending_and_counts_later_batches_dropped() {
    let server = TestServer::start([Reply::status(401)]);
    let p = BatchEventProcessor::new(http(&server.url(), Duration::from_secs(2)), options(2))
        .expect("processor");
    for i in 0..6 {
        p.process(event("1", &format!("u{i}")));
    }
    assert!(p.flush_blocking(Duration::from_secs(10)));
    let stats = p.stats();
    assert_eq!((stats.failed, stats.dropped, stats.dispatched), (2, 4, 0));
    assert_eq!((stats.failed_refused, stats.dropped_disabled), (2, 4));
    assert!(stats.disabled);
    p.process(event("1", "later"));
    assert!(p.flush_blocking(Duration::from_secs(10)));
    assert_eq!(p.stats().dropped, 5);
    assert_eq!(server.request_count(), 1);
}

/// Counts the calls it forwards.
struct Counting<D>(D, Arc<AtomicUsize>);

impl<D: EventDispatcher> EventDispatcher for Counting<D> {
    fn dispatch(&self, event: &LogEvent) -> DispatchOutcome {
        self.1.fetch_add(1, Ordering::SeqCst);
        self.0.dispatch(event)
    }
}

#[test]
fn a_refused_connection_is_retried_then_counted_failed() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let url = format!("http://127.0.0.1:{port}/v1/events");
    let attempts = Arc::new(AtomicUsize::new(0));
    let dispatcher = Counting(http(&url, Duration::from_secs(1)), Arc::clone(&attempts));
    let p = BatchEventProcessor::new(dispatcher, options(2)).expect("processor");
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&outcomes);
    p.on_log_event(move |_, outcome| seen.lock().expect("lock").push(outcome.clone()));
    p.process(event("1", "a"));
    p.process(event("1", "b"));
    assert!(p.flush_blocking(Duration::from_secs(10)));
    assert_eq!(attempts.load(Ordering::SeqCst), 4, "1 attempt + 3 retries");
    assert_eq!((p.stats().failed, p.stats().dispatched), (2, 0));
    let outcomes = outcomes.lock().expect("lock");
    assert_eq!(outcomes.len(), 1, "listeners hear once per batch");
    assert!(
        matches!(outcomes[0], DispatchOutcome::Retryable(_)),
        "{:?}",
        outcomes[0]
    );
}

#[test]
fn a_flood_from_two_threads_past_capacity_counts_every_drop_exactly() {
    let recorder = RecordingDispatcher::new();
    recorder.pause();
    let mut opts = options(10);
    opts.queue_capacity = 50;
    let p = Arc::new(BatchEventProcessor::new(recorder.clone(), opts).expect("processor"));
    let warmup = 10;
    for i in 0..warmup {
        assert!(p.process(event("1", &format!("w{i}"))));
    }
    assert!(
        eventually(|| recorder.waiting() == 1),
        "first batch held in dispatch"
    );
    let per_thread = 2000;
    let template = event("1", "flood");
    let producers: Vec<_> = (0..2)
        .map(|_| {
            let (p, e) = (Arc::clone(&p), template.clone());
            std::thread::spawn(move || (0..per_thread).filter(|_| p.process(e.clone())).count())
        })
        .collect();
    let accepted: usize = producers
        .into_iter()
        .map(|t| t.join().expect("producer"))
        .sum();
    let produced = (warmup + 2 * per_thread) as u64;
    let stats = p.stats();
    assert_eq!(stats.queued + stats.dropped, produced);
    assert_eq!(stats.dropped_queue_full, stats.dropped);
    assert_eq!(stats.queued, (warmup + accepted) as u64);
    assert_eq!(
        accepted, 50,
        "the dispatcher is held, so exactly the capacity fits"
    );
    recorder.resume();
    assert!(p.close());
    let stats = p.stats();
    assert_eq!(stats.dispatched, stats.queued);
    assert_eq!(stats.dispatched + stats.dropped, produced);
    assert_eq!(recorder.attempts(), 6);
}

#[test]
fn close_during_an_in_flight_dispatch_delivers_what_was_accepted() {
    let recorder = RecordingDispatcher::new();
    recorder.pause();
    let p = Arc::new(BatchEventProcessor::new(recorder.clone(), options(10)).expect("processor"));
    for i in 0..25 {
        assert!(p.process(event("1", &format!("u{i}"))));
    }
    assert!(eventually(|| recorder.waiting() == 1));
    let releaser = {
        let recorder = recorder.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            recorder.resume();
        })
    };
    let other = {
        let p = Arc::clone(&p);
        std::thread::spawn(move || p.close())
    };
    let start = Instant::now();
    assert!(p.close());
    assert!(
        other.join().expect("second close"),
        "a concurrent close also sees the stop"
    );
    assert!(start.elapsed() < Duration::from_secs(5));
    releaser.join().expect("releaser");
    assert!(!p.process(event("1", "late")));
    let stats = p.stats();
    assert_eq!((stats.queued, stats.dispatched, stats.dropped), (25, 25, 1));
    assert_eq!(stats.dropped_closed, 1, "the event given after close");
    let sizes: Vec<usize> = recorder
        .events()
        .iter()
        .map(|e| e.json()["visitors"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(sizes, vec![10, 10, 5]);
}

#[test]
fn batches_split_when_the_revision_changes() {
    let server = TestServer::start([]);
    let p = BatchEventProcessor::new(http(&server.url(), Duration::from_secs(2)), options(10))
        .expect("processor");
    for rev in ["1", "1", "2", "2", "2", "1"] {
        p.process(event(rev, "u"));
    }
    assert!(p.flush_blocking(Duration::from_secs(10)));
    let batches: Vec<(String, usize)> = server
        .requests()
        .iter()
        .map(|r| {
            let body = r.json();
            (
                body["revision"].as_str().unwrap_or_default().to_owned(),
                body["visitors"].as_array().map_or(0, Vec::len),
            )
        })
        .collect();
    assert_eq!(
        batches,
        vec![("1".into(), 2), ("2".into(), 3), ("1".into(), 1)]
    );
}

#[test]
fn a_panicking_log_event_listener_does_not_stop_delivery() {
    let server = TestServer::start([]);
    let p = BatchEventProcessor::new(http(&server.url(), Duration::from_secs(2)), options(5))
        .expect("processor");
    p.on_log_event(|_, _| panic!("listener bug"));
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    p.on_log_event(move |_, _| {
        counted.fetch_add(1, Ordering::SeqCst);
    });
    for i in 0..20 {
        p.process(event("1", &format!("u{i}")));
    }
    assert!(p.flush_blocking(Duration::from_secs(10)));
    assert_eq!(server.request_count(), 4);
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert_eq!(p.stats().dispatched, 20);
}

#[test]
fn flush_blocking_returns_true_once_delivered_and_false_on_timeout() {
    let server = TestServer::start([
        Reply::delayed(200, Duration::from_millis(200)),
        Reply::delayed(200, Duration::from_millis(800)),
    ]);
    let p = BatchEventProcessor::new(http(&server.url(), Duration::from_secs(2)), options(10))
        .expect("processor");
    for user in ["a", "b", "c"] {
        p.process(event("1", user));
    }
    assert!(p.flush_blocking(Duration::from_secs(10)));
    assert_eq!(server.request_count(), 1);
    assert_eq!(p.stats().dispatched, 3);

    p.process(event("1", "d"));
    let start = Instant::now();
    assert!(!p.flush_blocking(Duration::from_millis(100)));
    assert!(start.elapsed() < Duration::from_millis(100 + 100));
    assert!(p.flush_blocking(Duration::from_secs(10)));
    assert_eq!(p.stats().dispatched, 4);
}

#[test]
fn status_429_with_retry_after_waits_that_long_before_the_next_attempt() {
    let server = TestServer::start([Reply::retry_after(429, "1")]);
    let p = BatchEventProcessor::new(http(&server.url(), Duration::from_secs(2)), options(1))
        .expect("processor");
    assert!(p.process(event("1", "user-1")));
    assert!(p.flush_blocking(Duration::from_secs(10)));
    let requests = server.requests();
    assert_eq!(
        requests.iter().map(|r| r.status).collect::<Vec<_>>(),
        [429, 200]
    );
    let gap = requests[1].arrived - requests[0].arrived;
    assert!(gap >= Duration::from_millis(950), "retried after {gap:?}");
    assert!(gap < Duration::from_secs(3), "retried after {gap:?}");
    assert_eq!(p.stats().dispatched, 1);
}

#[test]
fn a_retry_after_longer_than_the_cap_is_cut_to_it() {
    let server = TestServer::start([Reply::retry_after(503, "3600")]);
    let mut o = options(1);
    o.max_retry_after = Duration::from_millis(300);
    let p = BatchEventProcessor::new(http(&server.url(), Duration::from_secs(2)), o)
        .expect("processor");
    assert!(p.process(event("1", "user-1")));
    assert!(p.flush_blocking(Duration::from_secs(10)));
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let gap = requests[1].arrived - requests[0].arrived;
    assert!(gap >= Duration::from_millis(280), "retried after {gap:?}");
    assert!(gap < Duration::from_secs(2), "retried after {gap:?}");
}
