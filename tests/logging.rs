//! What the event pipeline logs when batches keep failing: the first failure of a run as a
//! warning, the rest of the run at debug level, and its end once — not a warning per batch.
//! Alone in its test binary because it installs the process's logger.

use decisive::{
    Attributes, BatchEventProcessor, DispatchOutcome, ProcessorOptions, ProjectConfig,
    RecordingDispatcher,
};
use std::sync::Mutex;
use std::time::Duration;

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

#[test]
fn a_run_of_failed_batches_is_one_warning_and_its_end_one_info() {
    log::set_logger(&LOGGER).expect("no other logger");
    log::set_max_level(log::LevelFilter::Debug);
    let rejected = || DispatchOutcome::Rejected("HTTP status 404".into());
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
    let datafile = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/datafiles/quickstart.json"
    ))
    .expect("quickstart datafile");
    let config = ProjectConfig::from_datafile(datafile).expect("config");
    for i in 0..8 {
        let e = decisive::UserEvent::conversion(
            &config,
            "purchase",
            &format!("u{i}"),
            &Attributes::new(),
        )
        .expect("known event");
        assert!(p.process(e));
        // One batch at a time, so the order of outcomes is the script's.
        assert!(p.flush_blocking(Duration::from_secs(10)));
    }
    assert!(p.close());
    assert_eq!((p.stats().failed_rejected, p.stats().dispatched), (7, 1));

    let records = RECORDS.lock().unwrap().clone();
    let about_rejections = |level: log::Level| {
        records
            .iter()
            .filter(|(l, m)| *l == level && m.contains("rejected: HTTP status 404"))
            .count()
    };
    assert_eq!(about_rejections(log::Level::Warn), 2, "{records:?}");
    assert_eq!(about_rejections(log::Level::Debug), 5, "{records:?}");
    let recoveries: Vec<&String> = records
        .iter()
        .filter(|(l, _)| *l == log::Level::Info)
        .map(|(_, m)| m)
        .collect();
    assert_eq!(
        recoveries,
        ["event batches delivered again after 5 that were not"],
        "{records:?}"
    );
}
