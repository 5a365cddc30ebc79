//! `ProcessorOptions::full_queue_wait`: a producer that would rather slow down than lose events
//! waits for room in a full queue, for at most that long; a close ends the wait; without the
//! option a full queue drops at once.

mod support;

use decisive::{Attributes, BatchEventProcessor, ProcessorOptions, RecordingDispatcher, UserEvent};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn event(n: usize) -> UserEvent {
    let config = support::quickstart_config("42");
    UserEvent::conversion(&config, "purchase", &format!("u{n}"), &Attributes::new())
        .expect("known event")
}

/// A processor with a queue of 10 and batches of 10, whose dispatcher is paused and already
/// holds a first batch, and whose queue then holds a second: full.
fn full(wait: Duration) -> (BatchEventProcessor, RecordingDispatcher) {
    let d = RecordingDispatcher::new();
    d.pause();
    let mut options = ProcessorOptions::default();
    options.batch_size = 10;
    options.queue_capacity = 10;
    options.full_queue_wait = wait;
    options.close_timeout = Duration::from_secs(2);
    let p = BatchEventProcessor::new(d.clone(), options).expect("processor");
    for i in 0..10 {
        assert!(p.process(event(i)));
    }
    assert!(
        support::eventually(|| d.waiting() == 1),
        "the first batch is held"
    );
    for i in 10..20 {
        assert!(p.process(event(i)));
    }
    (p, d)
}

#[test]
fn a_producer_waits_for_room_and_every_event_arrives() {
    let (p, d) = full(Duration::from_secs(10));
    let resumed = std::thread::scope(|s| {
        let producer = s.spawn(|| (20..50).filter(|&i| p.process(event(i))).count());
        std::thread::sleep(Duration::from_millis(100));
        // Still waiting: nothing was dropped meanwhile.
        assert_eq!(p.stats().dropped, 0);
        assert!(!producer.is_finished());
        let resumed = Instant::now();
        d.resume();
        assert_eq!(producer.join().expect("producer"), 30);
        resumed
    });
    assert!(resumed.elapsed() < Duration::from_secs(5));
    assert!(p.flush_blocking(Duration::from_secs(5)));
    let stats = p.stats();
    assert_eq!((stats.queued, stats.dispatched, stats.dropped), (50, 50, 0));
    let delivered: usize = d.events().iter().map(|e| e.event_count).sum();
    assert_eq!(delivered, 50);
}

#[test]
fn a_wait_that_runs_out_drops_the_event_and_counts_it() {
    let wait = Duration::from_millis(150);
    let (p, d) = full(wait);
    let start = Instant::now();
    assert!(!p.process(event(20)));
    let waited = start.elapsed();
    assert!(
        waited >= wait && waited < wait + Duration::from_secs(1),
        "waited {waited:?}"
    );
    assert_eq!(p.stats().dropped_queue_full, 1);
    d.resume();
    assert!(p.flush_blocking(Duration::from_secs(5)));
    assert_eq!((p.stats().dispatched, p.stats().dropped), (20, 1));
}

#[test]
fn without_the_option_a_full_queue_drops_at_once() {
    let (p, d) = full(Duration::ZERO);
    let start = Instant::now();
    assert!(!p.process(event(20)));
    assert!(start.elapsed() < Duration::from_millis(100));
    assert_eq!(p.stats().dropped_queue_full, 1);
    d.resume();
}

#[test]
fn a_close_ends_a_producers_wait() {
    let (p, d) = full(Duration::from_secs(30));
    std::thread::scope(|s| {
        let producer = s.spawn(|| {
            let start = Instant::now();
            (p.process(event(20)), start.elapsed())
        });
        std::thread::sleep(Duration::from_millis(100));
        // The dispatcher stays paused: close waits for its close timeout, then gives up.
        let start = Instant::now();
        p.close();
        assert!(start.elapsed() < Duration::from_secs(4), "close held up");
        let (accepted, waited) = producer.join().expect("producer");
        assert!(!accepted);
        assert!(waited < Duration::from_secs(5), "waited {waited:?}");
    });
    assert_eq!(p.stats().dropped_closed, 1);
    d.resume();
}

#[test]
fn a_listener_on_the_event_thread_never_waits() {
    let d = RecordingDispatcher::new();
    let mut options = ProcessorOptions::default();
    options.batch_size = 10;
    options.queue_capacity = 10;
    options.full_queue_wait = Duration::from_secs(30);
    let p = Arc::new(BatchEventProcessor::new(d, options).expect("processor"));
    let weak = Arc::downgrade(&p);
    let seen: Arc<Mutex<Option<(Duration, usize)>>> = Arc::default();
    let note = Arc::clone(&seen);
    p.on_log_event(move |_, _| {
        let (Some(p), Ok(mut note)) = (weak.upgrade(), note.lock()) else {
            return;
        };
        if note.is_none() {
            // The queue is empty now: 10 of these fit, the rest find it full.
            let start = Instant::now();
            let accepted = (100..125).filter(|&i| p.process(event(i))).count();
            *note = Some((start.elapsed(), accepted));
        }
    });
    for i in 0..10 {
        assert!(p.process(event(i)));
    }
    assert!(support::eventually(|| seen.lock().unwrap().is_some()));
    let (took, accepted) = seen.lock().unwrap().expect("the listener ran");
    assert_eq!(accepted, 10);
    assert!(
        took < Duration::from_secs(1),
        "the listener waited {took:?}"
    );
    assert_eq!(p.stats().dropped_queue_full, 15);
}
