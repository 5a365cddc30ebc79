//! The per-thread buffers in front of the batch processor's channel, through the public API:
//! events a thread leaves in its buffer (alive or finished) are delivered by flush_blocking and
//! close, the queue capacity counts buffered events exactly, several processors share a thread,
//! and a thread's events keep their order. Every scenario checks exact counts.

use decisive::{
    Attributes, BatchEventProcessor, LogEvent, ProcessorOptions, ProjectConfig,
    RecordingDispatcher, UserEvent,
};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);

/// The quickstart datafile's config.
fn config() -> ProjectConfig {
    let datafile = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/datafiles/quickstart.json"
    ))
    .expect("quickstart datafile");
    ProjectConfig::from_datafile(datafile).expect("valid datafile")
}

/// `n` conversions of `purchase`, by users `{prefix}0`, `{prefix}1`, ...
fn events(config: &ProjectConfig, prefix: &str, n: usize) -> Vec<UserEvent> {
    (0..n)
        .map(|i| {
            UserEvent::conversion(
                config,
                "purchase",
                &format!("{prefix}{i}"),
                &Attributes::new(),
            )
            .expect("known event")
        })
        .collect()
}

/// Batches of `batch_size`; the flush interval long enough never to fire in a test.
fn options(batch_size: usize) -> ProcessorOptions {
    let mut options = ProcessorOptions::default();
    options.batch_size = batch_size;
    options.flush_interval = Duration::from_secs(600);
    options
}

/// The visitor ids of `sent`, in order.
fn visitors(sent: &[LogEvent]) -> Vec<String> {
    sent.iter()
        .flat_map(|e| {
            e.json()["visitors"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|v| v["visitor_id"].as_str().unwrap_or_default().to_owned())
        })
        .collect()
}

/// Waits up to 5 s for `done`.
fn eventually(done: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    done()
}

/// Queues `events` on a thread of its own, which then finishes.
fn queue_on_a_thread(p: &Arc<BatchEventProcessor>, events: Vec<UserEvent>) -> usize {
    let p = Arc::clone(p);
    std::thread::spawn(move || events.into_iter().filter(|e| p.process(e.clone())).count())
        .join()
        .expect("producer")
}

#[test]
fn events_a_finished_thread_left_in_its_buffer_are_delivered_by_flush_blocking() {
    let recorder = RecordingDispatcher::new();
    let p = Arc::new(BatchEventProcessor::new(recorder.clone(), options(10)).unwrap());
    let config = config();
    // Fewer than a batch: they stay in the thread's buffer.
    assert_eq!(queue_on_a_thread(&p, events(&config, "u", 4)), 4);
    let stats = p.stats();
    assert_eq!((stats.queued, stats.dispatched), (4, 0));
    assert_eq!(recorder.attempts(), 0);
    assert!(p.flush_blocking(WAIT));
    assert_eq!(visitors(&recorder.events()), ["u0", "u1", "u2", "u3"]);
    let stats = p.stats();
    assert_eq!((stats.queued, stats.dispatched, stats.dropped), (4, 4, 0));
}

#[test]
fn events_a_finished_thread_left_in_its_buffer_are_delivered_by_close() {
    let recorder = RecordingDispatcher::new();
    let p = Arc::new(BatchEventProcessor::new(recorder.clone(), options(10)).unwrap());
    let config = config();
    assert_eq!(queue_on_a_thread(&p, events(&config, "u", 3)), 3);
    assert!(p.close());
    assert_eq!(visitors(&recorder.events()), ["u0", "u1", "u2"]);
    let stats = p.stats();
    assert_eq!((stats.queued, stats.dispatched, stats.dropped), (3, 3, 0));
}

#[test]
fn flush_blocking_delivers_what_waits_in_a_live_threads_buffer() {
    let recorder = RecordingDispatcher::new();
    let p = Arc::new(BatchEventProcessor::new(recorder.clone(), options(10)).unwrap());
    let config = config();
    let (queued_tx, queued_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let producer = {
        let p = Arc::clone(&p);
        let events = events(&config, "live", 5);
        std::thread::spawn(move || {
            for e in events {
                assert!(p.process(e));
            }
            queued_tx.send(()).unwrap();
            // Stays alive, its buffer claimed, until the flush is over.
            done_rx.recv().unwrap();
        })
    };
    queued_rx.recv().unwrap();
    assert!(p.flush_blocking(WAIT));
    assert_eq!(
        visitors(&recorder.events()),
        ["live0", "live1", "live2", "live3", "live4"]
    );
    done_tx.send(()).unwrap();
    producer.join().unwrap();
    let stats = p.stats();
    assert_eq!((stats.queued, stats.dispatched, stats.dropped), (5, 5, 0));
}

#[test]
fn a_full_queue_refuses_exactly_the_events_beyond_its_capacity() {
    let recorder = RecordingDispatcher::new();
    recorder.pause();
    let mut opts = options(10);
    opts.queue_capacity = 40;
    let p = Arc::new(BatchEventProcessor::new(recorder.clone(), opts).unwrap());
    let config = config();
    // A first batch reaches the dispatcher, which holds it: the queue then fills up.
    for e in events(&config, "w", 10) {
        assert!(p.process(e));
    }
    assert!(eventually(|| recorder.waiting() == 1), "first batch held");
    let accepted: Vec<bool> = events(&config, "f", 100)
        .into_iter()
        .map(|e| p.process(e))
        .collect();
    assert_eq!(accepted.iter().filter(|a| **a).count(), 40);
    assert!(accepted[..40].iter().all(|a| *a), "the first 40 fit");
    assert!(
        accepted[40..].iter().all(|a| !*a),
        "the other 60 are refused"
    );
    let stats = p.stats();
    assert_eq!((stats.queued, stats.dropped), (50, 60));
    recorder.resume();
    assert!(p.close());
    let stats = p.stats();
    assert_eq!(
        (stats.queued, stats.dispatched, stats.dropped),
        (50, 50, 60)
    );
    assert_eq!(recorder.attempts(), 5);
}

#[test]
fn room_comes_back_once_the_queue_drains() {
    let recorder = RecordingDispatcher::new();
    let mut opts = options(10);
    opts.queue_capacity = 20;
    let p = BatchEventProcessor::new(recorder.clone(), opts).unwrap();
    let config = config();
    for round in 0..5 {
        let accepted = events(&config, "r", 20)
            .into_iter()
            .filter(|e| p.process(e.clone()))
            .count();
        assert_eq!(accepted, 20, "round {round}");
        assert!(p.flush_blocking(WAIT));
    }
    let stats = p.stats();
    assert_eq!(
        (stats.queued, stats.dispatched, stats.dropped),
        (100, 100, 0)
    );
}

#[test]
fn two_processors_on_one_thread_keep_their_events_apart() {
    let (first, second) = (RecordingDispatcher::new(), RecordingDispatcher::new());
    let p1 = BatchEventProcessor::new(first.clone(), options(10)).unwrap();
    let p2 = BatchEventProcessor::new(second.clone(), options(10)).unwrap();
    let config = config();
    let (mut a, mut b) = (events(&config, "a", 3), events(&config, "b", 4));
    a.reverse();
    b.reverse();
    // Interleaved on this thread.
    while let Some(e) = b.pop() {
        assert!(p2.process(e));
        if let Some(e) = a.pop() {
            assert!(p1.process(e));
        }
    }
    assert!(p1.flush_blocking(WAIT));
    assert!(p2.flush_blocking(WAIT));
    assert_eq!(visitors(&first.events()), ["a0", "a1", "a2"]);
    assert_eq!(visitors(&second.events()), ["b0", "b1", "b2", "b3"]);
    assert_eq!((p1.stats().queued, p1.stats().dispatched), (3, 3));
    assert_eq!((p2.stats().queued, p2.stats().dispatched), (4, 4));
    // A processor made after others stopped on this thread works the same.
    drop(p1);
    drop(p2);
    for round in 0..6 {
        let recorder = RecordingDispatcher::new();
        let p = BatchEventProcessor::new(recorder.clone(), options(10)).unwrap();
        for e in events(&config, "c", 2) {
            assert!(p.process(e));
        }
        assert!(p.close(), "round {round}");
        assert_eq!(visitors(&recorder.events()), ["c0", "c1"], "round {round}");
    }
}

#[test]
fn a_threads_events_keep_their_order_across_chunks() {
    let recorder = RecordingDispatcher::new();
    let p = BatchEventProcessor::new(recorder.clone(), options(7)).unwrap();
    let config = config();
    for e in events(&config, "o", 200) {
        assert!(p.process(e));
    }
    assert!(p.flush_blocking(WAIT));
    let want: Vec<String> = (0..200).map(|i| format!("o{i}")).collect();
    assert_eq!(visitors(&recorder.events()), want);
    assert_eq!(p.stats().dispatched, 200);
}

#[test]
fn many_short_lived_threads_lose_no_event_and_count_each_once() {
    let recorder = RecordingDispatcher::new();
    let p = Arc::new(BatchEventProcessor::new(recorder.clone(), options(10)).unwrap());
    let config = config();
    let mut accepted = 0;
    for t in 0..12 {
        // Not a multiple of the batch: every thread leaves some events in its buffer.
        accepted += queue_on_a_thread(&p, events(&config, &format!("t{t}-"), 13));
    }
    assert_eq!(accepted, 12 * 13);
    assert_eq!(p.stats().queued, 12 * 13);
    assert!(p.flush_blocking(WAIT));
    let sent = visitors(&recorder.events());
    assert_eq!(sent.len(), 12 * 13);
    let unique: std::collections::HashSet<&String> = sent.iter().collect();
    assert_eq!(unique.len(), 12 * 13, "each event once");
    let stats = p.stats();
    assert_eq!(
        (stats.queued, stats.dispatched, stats.dropped),
        (156, 156, 0)
    );
}
