//! What the event pipeline logs when batches keep failing (the first failure of a run as a
//! warning, the rest of the run at debug level, and its end once — not a warning per batch)
//! and when the queue overflows (one warning per episode, however many events get in between
//! drops, and one line when it has drained). Alone in its test binary because it installs the
//! process's logger; each test reads only the records about its own subject.

use decisive::{
    Attributes, BatchEventProcessor, DispatchOutcome, ProcessorOptions, ProjectConfig,
    RecordingDispatcher,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

/// Every record of the `decisive` target: (level, message).
static RECORDS: Mutex<Vec<(log::Level, String)>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.target() == "decisive"
    }
    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            RECORDS
                .lock()
                .unwrap()
                .push((record.level(), record.args().to_string()));
        }
    }
    fn flush(&self) {}
}

static LOGGER: Capture = Capture;

/// Installs the capturing logger (once for the binary).
fn capture() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        log::set_logger(&LOGGER).expect("no other logger");
        log::set_max_level(log::LevelFilter::Debug);
    });
}

/// The quickstart datafile's config.
fn quickstart() -> ProjectConfig {
    let datafile = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/datafiles/quickstart.json"
    ))
    .expect("quickstart datafile");
    ProjectConfig::from_datafile(datafile).expect("config")
}

/// A conversion of user `user`.
fn conversion(config: &ProjectConfig, user: &str) -> decisive::UserEvent {
    decisive::UserEvent::conversion(config, "purchase", user, &Attributes::new())
        .expect("known event")
}

#[test]
fn a_run_of_failed_batches_is_one_warning_and_its_end_one_info() {
    capture();
    let rejected = || DispatchOutcome::Rejected("HTTP status 400".into());
    // Five batches rejected, one delivered, two rejected again.
    let recorder = RecordingDispatcher::scripted([
        rejected(),
        rejected(),
        rejected(),
        rejected(),
        rejected(),
        DispatchOutcome::Delivered,
        rejected(),
        rejected(),
    ]);
    let mut options = ProcessorOptions::default();
    options.batch_size = 1;
    let p = BatchEventProcessor::new(recorder, options).expect("processor");
    let config = quickstart();
    for i in 0..8 {
        assert!(p.process(conversion(&config, &format!("u{i}"))));
        // One batch at a time, so the order of outcomes is the script's.
        assert!(p.flush_blocking(Duration::from_secs(10)));
    }
    assert!(p.close());
    assert_eq!((p.stats().failed_rejected, p.stats().dispatched), (7, 1));

    let records = RECORDS.lock().unwrap().clone();
    let about_rejections = |level: log::Level| {
        records
            .iter()
            .filter(|(l, m)| *l == level && m.contains("rejected: HTTP status 400"))
            .count()
    };
    assert_eq!(about_rejections(log::Level::Warn), 2, "{records:?}");
    assert_eq!(about_rejections(log::Level::Debug), 5, "{records:?}");
    let recoveries: Vec<&String> = records
        .iter()
        // (Other tests of this binary log recoveries of their own runs.)
        .filter(|(l, m)| *l == log::Level::Info && m.contains("delivered again after 5 "))
        .map(|(_, m)| m)
        .collect();
    assert_eq!(
        recoveries,
        ["event batches delivered again after 5 that were not"],
        "{records:?}"
    );
}

#[test]
fn a_run_of_404s_is_one_error_that_names_the_endpoint_as_the_cause() {
    capture();
    let not_found = || DispatchOutcome::NotFound("HTTP status 404 from the test".into());
    let recorder = RecordingDispatcher::scripted([not_found(), not_found(), not_found()]);
    let mut options = ProcessorOptions::default();
    options.batch_size = 1;
    options.not_found_pause = Duration::from_millis(10);
    let p = BatchEventProcessor::new(recorder, options).expect("processor");
    let config = quickstart();
    for i in 0..4 {
        assert!(p.process(conversion(&config, &format!("u{i}"))));
        assert!(p.flush_blocking(Duration::from_secs(10)));
    }
    assert!(p.close());
    assert_eq!((p.stats().failed_not_found, p.stats().dispatched), (3, 1));
    let records = RECORDS.lock().unwrap().clone();
    let about = |level: log::Level| -> Vec<String> {
        records
            .iter()
            .filter(|(l, m)| *l == level && m.contains("HTTP status 404 from the test"))
            .map(|(_, m)| m.clone())
            .collect()
    };
    assert_eq!(
        about(log::Level::Error),
        [
            "1 events failed: the event endpoint was not found (HTTP status 404 from the test); \
          check the endpoint. Sending pauses for 10ms after each such answer"
        ],
        "{records:?}"
    );
    assert_eq!(about(log::Level::Debug).len(), 2, "{records:?}");
}

/// A dispatcher that holds each batch until the test hands it a token, counting the batches
/// it has been given.
struct Gate {
    tokens: Mutex<std::sync::mpsc::Receiver<()>>,
    calls: Arc<AtomicUsize>,
}

impl decisive::EventDispatcher for Gate {
    fn dispatch(&self, _: &decisive::LogEvent) -> DispatchOutcome {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let _ = self.tokens.lock().unwrap().recv();
        DispatchOutcome::Delivered
    }
}

/// Waits until `calls` reaches `n`.
fn until(calls: &AtomicUsize, n: usize) {
    let start = Instant::now();
    while calls.load(Ordering::SeqCst) < n {
        assert!(start.elapsed() < Duration::from_secs(10), "no dispatch {n}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_queue_overflow_warns_once_per_episode_and_says_what_it_dropped_once_drained() {
    capture();
    let (give, tokens) = std::sync::mpsc::channel();
    let calls = Arc::new(AtomicUsize::new(0));
    let gate = Gate {
        tokens: Mutex::new(tokens),
        calls: Arc::clone(&calls),
    };
    let mut options = ProcessorOptions::default();
    (options.batch_size, options.queue_capacity) = (1, 2);
    let p = BatchEventProcessor::new(gate, options).expect("processor");
    let config = quickstart();
    let mut n = 0;
    let mut send = || {
        n += 1;
        p.process(conversion(&config, &format!("u{n}")))
    };
    // The thread holds the first event's batch; two more fill the queue; the next is dropped.
    assert!(send());
    until(&calls, 1);
    assert_eq!([send(), send(), send()], [true, true, false]);
    // The thread takes one more out: one gets in, and the next is dropped, in the same
    // episode (the queue has not been emptied).
    give.send(()).unwrap();
    until(&calls, 2);
    assert_eq!([send(), send()], [true, false]);
    // The rest is delivered and the queue empties: the episode ends.
    for k in 3..=4 {
        give.send(()).unwrap();
        until(&calls, k);
    }
    give.send(()).unwrap();
    let start = Instant::now();
    while !RECORDS
        .lock()
        .unwrap()
        .iter()
        .any(|(_, m)| m.contains("has room again"))
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "episode not ended"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    // A second episode: one held, two queued, one dropped.
    assert!(send());
    until(&calls, 5);
    assert_eq!([send(), send(), send()], [true, true, false]);
    for _ in 0..3 {
        give.send(()).unwrap();
    }
    assert!(p.flush_blocking(Duration::from_secs(10)));
    assert!(p.close());
    assert_eq!((p.stats().dropped_queue_full, p.stats().dispatched), (3, 7));

    let records = RECORDS.lock().unwrap().clone();
    let about = |level: log::Level, text: &str| -> Vec<String> {
        records
            .iter()
            .filter(|(l, m)| *l == level && m.contains(text))
            .map(|(_, m)| m.clone())
            .collect()
    };
    assert_eq!(
        about(log::Level::Warn, "event queue full").len(),
        2,
        "{records:?}"
    );
    assert_eq!(
        about(log::Level::Info, "event queue has room again"),
        [
            "event queue has room again; 2 events were dropped while it was full",
            "event queue has room again; 1 events were dropped while it was full"
        ],
        "{records:?}"
    );
}
