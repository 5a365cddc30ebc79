//! The flush interval as a timer (reliability plan R14): a batch is sent one interval after
//! its first event came, however the events after it trickle in; a flush starts the next
//! batch's interval afresh; and an idle processor does not wake at all. One test, so that
//! no other processor's thread runs beside the one whose wake-ups it counts.

mod support;

use decisive::{
    Attributes, BatchEventProcessor, DispatchOutcome, EventDispatcher, LogEvent, ProcessorOptions,
    UserEvent,
};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A dispatcher that notes when each request came and how many events it held.
#[derive(Clone, Default)]
struct Clocked {
    arrivals: Arc<Mutex<Vec<(Instant, usize)>>>,
}

impl EventDispatcher for Clocked {
    fn dispatch(&self, event: &LogEvent) -> DispatchOutcome {
        self.arrivals
            .lock()
            .unwrap()
            .push((Instant::now(), event.event_count));
        DispatchOutcome::Delivered
    }
}

impl Clocked {
    fn arrivals(&self) -> Vec<(Instant, usize)> {
        self.arrivals.lock().unwrap().clone()
    }

    /// Waits up to five seconds for `n` requests.
    fn await_requests(&self, n: usize) -> Vec<(Instant, usize)> {
        let start = Instant::now();
        while self.arrivals.lock().unwrap().len() < n && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(2));
        }
        self.arrivals()
    }
}

fn processor(interval: Duration, batch_size: usize) -> (BatchEventProcessor, Clocked) {
    let clocked = Clocked::default();
    let mut options = ProcessorOptions::default();
    options.flush_interval = interval;
    options.batch_size = batch_size;
    options.queue_capacity = 10_000;
    let p = BatchEventProcessor::new(clocked.clone(), options).expect("processor");
    (p, clocked)
}

fn event(n: usize) -> UserEvent {
    let config = support::quickstart_config("42");
    UserEvent::conversion(&config, "purchase", &format!("u{n}"), &Attributes::new())
        .expect("known event")
}

/// `waited` is at least `interval` and less than `interval + slack`.
fn assert_one_interval(waited: Duration, interval: Duration, slack: Duration) {
    assert!(
        waited >= interval && waited < interval + slack,
        "sent {waited:?} after its first event; the interval is {interval:?}"
    );
}

/// The ids of this process's threads named `decisive-events`.
fn event_threads() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .map(|dir| {
            dir.filter_map(|entry| {
                let id = entry.ok()?.file_name().into_string().ok()?;
                let comm = std::fs::read_to_string(format!("/proc/self/task/{id}/comm")).ok()?;
                (comm.trim_end() == "decisive-events").then_some(id)
            })
            .collect()
        })
        .unwrap_or_default()
}

/// How many times thread `id` has blocked and been woken again.
fn voluntary_switches(id: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/self/task/{id}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

#[test]
fn the_flush_interval_runs_from_a_batchs_first_event_and_an_idle_processor_never_wakes() {
    let interval = Duration::from_millis(300);

    // One event is sent one interval after it came, not before.
    let (p, clocked) = processor(interval, 10);
    let queued_at = Instant::now();
    assert!(p.process(event(0)));
    let arrivals = clocked.await_requests(1);
    assert_one_interval(
        arrivals[0].0 - queued_at,
        interval,
        Duration::from_millis(250),
    );
    assert!(p.close());

    // A flush sends what waits; the next event waits a whole interval from its own arrival.
    let (p, clocked) = processor(interval, 10);
    assert!(p.process(event(1)));
    std::thread::sleep(Duration::from_millis(50));
    assert!(p.flush_blocking(Duration::from_secs(5)));
    assert_eq!(clocked.arrivals().len(), 1);
    std::thread::sleep(Duration::from_millis(100));
    let queued_at = Instant::now();
    assert!(p.process(event(2)));
    let arrivals = clocked.await_requests(2);
    assert_one_interval(
        arrivals[1].0 - queued_at,
        interval,
        Duration::from_millis(250),
    );
    assert!(p.close());

    // Events trickling in below the batch size: each batch still goes one interval after its
    // first event, every event is sent once.
    let interval = Duration::from_millis(200);
    let (p, clocked) = processor(interval, 1_000);
    let mut queued = Vec::new();
    for n in 0..50 {
        queued.push(Instant::now());
        assert!(p.process(event(n)));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(p.flush_blocking(Duration::from_secs(5)));
    let arrivals = clocked.arrivals();
    assert_eq!(arrivals.iter().map(|a| a.1).sum::<usize>(), 50);
    // Every request but the flush's came one interval after its first event.
    let mut first = 0;
    for &(at, count) in &arrivals[..arrivals.len() - 1] {
        assert_one_interval(at - queued[first], interval, Duration::from_millis(150));
        first += count;
    }
    assert!(arrivals.len() >= 4, "{} requests", arrivals.len());
    assert!(p.close());

    // Idle: a processor with nothing to send blocks and is not woken, interval or not.
    let before = event_threads();
    let (p, _clocked) = processor(Duration::from_millis(20), 10);
    std::thread::sleep(Duration::from_millis(200));
    let thread = event_threads()
        .into_iter()
        .find(|id| !before.contains(id))
        .expect("the processor's thread");
    let woken = voluntary_switches(&thread);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(voluntary_switches(&thread) - woken, 0);
    // It still wakes for the next event.
    assert!(p.process(event(99)));
    assert!(p.flush_blocking(Duration::from_secs(5)));
    assert_eq!(p.stats().dispatched, 1);
    assert!(p.close());
}
