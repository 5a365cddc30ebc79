//! The durable event spool, end to end: a real HTTP server on 127.0.0.1, real files, and a
//! real process killed with SIGKILL. Each scenario counts events produced, delivered and
//! reported dropped, and asserts produced = delivered + dropped with every event delivered
//! once (by uuid) unless the spool says otherwise.

mod support;

use decisive::{Attributes, Client, HttpDispatcher, ProcessorOptions, SpoolOptions};
use serde_json::Value;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::{Reply, TestServer};

const DATAFILE: &str = include_str!("../datafiles/quickstart.json");

/// A fresh directory for one scenario.
fn spool_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("decisive-spool-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A URL nothing listens on.
/// An endpoint that refuses connections: port 1, which no test binds (the ports the system
/// hands out are far above it). A port freed by a listener of this test could be handed to
/// a server of another test running alongside, which would then take the events.
fn refused_url() -> String {
    "http://127.0.0.1:1/v1/events".to_owned()
}

fn options(dir: &Path) -> ProcessorOptions {
    let mut options = ProcessorOptions::default();
    options.retry_backoff = Duration::from_millis(5);
    options.max_retry_backoff = Duration::from_millis(10);
    options.max_retries = 1;
    options.close_timeout = Duration::from_secs(2);
    options.spool = Some(SpoolOptions::new(dir));
    options
}

fn client(dir: &Path, url: &str) -> Client {
    Client::builder()
        .datafile(DATAFILE)
        .event_dispatcher(
            HttpDispatcher::builder()
                .endpoint(url)
                .connect_timeout(Duration::from_secs(1))
                .read_timeout(Duration::from_secs(2))
                .build(),
        )
        .event_processor_options(options(dir))
        .build()
        .unwrap()
}

fn batch_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "batch"))
                .count()
        })
        .unwrap_or(0)
}

/// The event uuids the server acknowledged.
fn delivered(server: &TestServer) -> Vec<String> {
    server
        .requests()
        .iter()
        .filter(|r| r.status == 200)
        .flat_map(|r| {
            let body: Value = r.json();
            body["visitors"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|v| {
                    v["snapshots"][0]["events"][0]["uuid"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned()
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

fn eventually(timeout: Duration, done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    done()
}

fn track(client: &Client, n: usize) {
    for i in 0..n {
        client
            .create_user_context(format!("user-{i}"), Attributes::new())
            .track_event("purchase", None)
            .unwrap();
    }
}

#[test]
fn batches_kept_through_an_outage_are_delivered_by_the_next_client() {
    let dir = spool_dir("outage");
    let produced = 25;
    let down = client(&dir, &refused_url());
    // The batch ids of the attempts that failed.
    let failed_ids = std::sync::Arc::new(std::sync::Mutex::new(HashSet::new()));
    let ids = std::sync::Arc::clone(&failed_ids);
    down.on_log_event(move |event, _| {
        ids.lock().unwrap().insert(event.batch_id.clone());
    })
    .expect("a client with events");
    track(&down, produced);
    assert!(down.flush_events_blocking(Duration::from_secs(10)));
    let stats = down.event_stats().unwrap();
    assert_eq!(
        (
            stats.queued,
            stats.spooled,
            stats.failed,
            stats.dropped,
            stats.dispatched
        ),
        (produced as u64, produced as u64, 0, 0, 0)
    );
    assert!(down.close());
    assert_eq!(
        batch_files(&dir),
        3,
        "10 + 10 + 5 events, one file per batch"
    );

    let server = TestServer::start([]);
    let up = client(&dir, &server.url());
    assert!(eventually(Duration::from_secs(10), || delivered(&server)
        .len()
        == produced));
    let uuids = delivered(&server);
    assert_eq!(
        uuids.iter().collect::<HashSet<_>>().len(),
        produced,
        "each event once"
    );
    assert!(eventually(Duration::from_secs(5), || batch_files(&dir) == 0));
    let sent_ids: HashSet<String> = server
        .requests()
        .iter()
        .filter_map(|r| r.batch_id.clone())
        .collect();
    assert_eq!(
        sent_ids,
        *failed_ids.lock().unwrap(),
        "a batch sent from the spool keeps the id its first attempts had"
    );
    assert_eq!(sent_ids.len(), 3);
    let stats = up.event_stats().unwrap();
    assert_eq!((stats.dispatched, stats.spooled), (produced as u64, 0));
    println!(
        "outage: produced {produced}, delivered {}, dropped 0",
        uuids.len()
    );
    drop(up);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_full_spool_drops_the_oldest_batches_and_counts_them() {
    let dir = spool_dir("full");
    let mut opts = options(&dir);
    // Room for two batches of 10 events (about 2.9 KB each) but not three.
    let cap = 7_000;
    opts.spool.as_mut().unwrap().max_bytes = cap;
    let down = Client::builder()
        .datafile(DATAFILE)
        .event_dispatcher(HttpDispatcher::builder().endpoint(refused_url()).build())
        .event_processor_options(opts)
        .build()
        .unwrap();
    let produced = 40;
    track(&down, produced);
    assert!(down.flush_events_blocking(Duration::from_secs(10)));
    assert!(down.close());
    let stats = down.event_stats().unwrap();
    assert_eq!((stats.dropped, stats.spooled), (20, 20), "{stats:?}");
    assert_eq!(stats.dropped_spool, 20, "evicted from the full spool");
    assert_eq!(stats.spooled + stats.dropped, produced as u64, "{stats:?}");
    let on_disk: u64 = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.metadata().unwrap().len())
        .sum();
    let files: Vec<(String, u64)> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    assert!(
        on_disk <= cap,
        "{on_disk} bytes on disk: {files:?} {stats:?}"
    );

    let server = TestServer::start([]);
    let up = client(&dir, &server.url());
    assert!(eventually(Duration::from_secs(10), || {
        delivered(&server).len() as u64 == stats.spooled
    }));
    println!(
        "full spool: produced {produced}, delivered {}, dropped {}",
        delivered(&server).len(),
        stats.dropped
    );
    drop(up);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The child side of the crash test: tracks events with the server down, waits until they
/// are all in the spool, says so, and waits to be killed.
fn crash_child(dir: &Path, produced: usize) {
    let down = client(dir, &refused_url());
    track(&down, produced);
    assert!(down.flush_events_blocking(Duration::from_secs(20)));
    assert_eq!(down.event_stats().unwrap().spooled, produced as u64);
    std::fs::write(dir.join("ready"), b"").unwrap();
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
fn a_process_killed_while_the_server_is_down_loses_no_event() {
    let produced = 37;
    if let Ok(dir) = std::env::var("DECISIVE_SPOOL_CRASH_CHILD") {
        crash_child(Path::new(&dir), produced);
        return;
    }
    let dir = spool_dir("crash");
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "a_process_killed_while_the_server_is_down_loses_no_event",
            "--exact",
            "--nocapture",
        ])
        .env("DECISIVE_SPOOL_CRASH_CHILD", &dir)
        .spawn()
        .unwrap();
    let ready = eventually(Duration::from_secs(60), || dir.join("ready").exists());
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(ready, "the child spooled its events");
    std::fs::remove_file(dir.join("ready")).unwrap();

    let server = TestServer::with_default([], Reply::status(200));
    let up = client(&dir, &server.url());
    assert!(eventually(Duration::from_secs(10), || delivered(&server)
        .len()
        == produced));
    let uuids = delivered(&server);
    assert_eq!(uuids.iter().collect::<HashSet<_>>().len(), produced);
    assert!(eventually(Duration::from_secs(5), || batch_files(&dir) == 0));
    println!(
        "crash: produced {produced}, delivered {}, dropped 0",
        uuids.len()
    );
    drop(up);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_server_down_for_a_while_gets_every_event_once_it_is_up() {
    let dir = spool_dir("down-then-up");
    // Down (503) for the first 6 requests: each batch's two attempts, three batches.
    let server = TestServer::start(vec![Reply::status(503); 6]);
    let mut opts = options(&dir);
    opts.flush_interval = Duration::from_millis(300);
    let client = Client::builder()
        .datafile(DATAFILE)
        .event_dispatcher(HttpDispatcher::builder().endpoint(server.url()).build())
        .event_processor_options(opts)
        .build()
        .unwrap();
    let produced = 30;
    track(&client, produced);
    assert!(client.flush_events_blocking(Duration::from_secs(10)));
    assert!(eventually(Duration::from_secs(10), || delivered(&server)
        .len()
        == produced));
    let uuids = delivered(&server);
    assert_eq!(
        uuids.iter().collect::<HashSet<_>>().len(),
        produced,
        "each event once"
    );
    let stats = client.event_stats().unwrap();
    assert_eq!(
        (stats.dispatched, stats.spooled, stats.failed, stats.dropped),
        (produced as u64, 0, 0, 0)
    );
    assert!(eventually(Duration::from_secs(5), || batch_files(&dir) == 0));
    println!(
        "down then up: produced {produced}, delivered {}, dropped 0",
        uuids.len()
    );
    drop(client);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_client_dropped_mid_stream_leaves_its_events_to_the_next_one() {
    let dir = spool_dir("dropped");
    let produced = 25;
    let down = client(&dir, &refused_url());
    track(&down, produced);
    // No flush, no close: the drop of the last handle closes, and what cannot be sent stays.
    drop(down);
    let server = TestServer::start([]);
    let up = client(&dir, &server.url());
    assert!(eventually(Duration::from_secs(10), || delivered(&server)
        .len()
        == produced));
    let uuids = delivered(&server);
    assert_eq!(uuids.iter().collect::<HashSet<_>>().len(), produced);
    println!(
        "dropped mid-stream: produced {produced}, delivered {}, dropped 0",
        uuids.len()
    );
    drop(up);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_torn_segment_loses_only_its_own_events_and_reports_them() {
    let dir = spool_dir("torn");
    let produced = 25;
    let down = client(&dir, &refused_url());
    track(&down, produced);
    assert!(down.flush_events_blocking(Duration::from_secs(10)));
    assert!(down.close());
    // Tear the newest batch file (5 events) as a crash below the file system would.
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|x| x == "batch"))
        .collect();
    files.sort();
    let newest = files.last().unwrap();
    let bytes = std::fs::read(newest).unwrap();
    std::fs::write(newest, &bytes[..bytes.len() / 2]).unwrap();

    let server = TestServer::start([]);
    let up = client(&dir, &server.url());
    assert!(eventually(Duration::from_secs(10), || delivered(&server)
        .len()
        == 20));
    let stats = up.event_stats().unwrap();
    let uuids = delivered(&server);
    assert_eq!(uuids.iter().collect::<HashSet<_>>().len(), 20);
    assert_eq!(
        stats.dropped, 5,
        "the torn batch's events are reported lost"
    );
    assert_eq!(uuids.len() as u64 + stats.dropped, produced as u64);
    println!(
        "torn segment: produced {produced}, delivered {}, dropped {}",
        uuids.len(),
        stats.dropped
    );
    drop(up);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_spool_directory_in_use_is_refused_until_its_client_closes() {
    let dir = spool_dir("in-use");
    let url = refused_url();
    let first = client(&dir, &url);
    track(&first, 3);
    let build = |dir: &Path| {
        Client::builder()
            .datafile(DATAFILE)
            .event_dispatcher(HttpDispatcher::builder().endpoint(&url).build())
            .event_processor_options(options(dir))
            .build()
    };
    // A second client on the same directory would send the first one's batches too.
    let Err(refused) = build(&dir) else {
        panic!("a second client on the directory was built")
    };
    assert_eq!(
        refused.to_string(),
        format!(
            "cannot start the event processor: the event spool {} is in use by another event processor",
            dir.display()
        )
    );
    assert!(matches!(
        refused,
        decisive::ClientError::Events(decisive::DispatchError::SpoolInUse { ref path }) if *path == dir
    ));
    // Another directory is not affected.
    let other = spool_dir("in-use-other");
    assert!(build(&other).is_ok());
    // Once the first client is closed (its batches kept), the directory is free again and
    // the next client finds its events.
    assert!(first.close());
    assert_eq!(first.event_stats().unwrap().spooled, 3);
    let next = build(&dir).expect("the directory is free");
    assert_eq!(next.event_stats().unwrap().spooled, 3);
    next.close();
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&other);
}

#[test]
fn a_client_whose_datafile_is_broken_leaves_the_spool_to_the_next_one() {
    let dir = spool_dir("broken-datafile");
    let down = client(&dir, &refused_url());
    track(&down, 3);
    assert!(down.close());
    assert_eq!(batch_files(&dir), 1);

    let server = TestServer::start([]);
    let broken = Client::builder()
        .datafile("{\"version\": \"4\", \"experiments\": [")
        .event_dispatcher(HttpDispatcher::builder().endpoint(server.url()).build())
        .event_processor_options(options(&dir))
        .build();
    let Err(error) = broken else {
        panic!("a client was built from a broken datafile")
    };
    assert!(matches!(error, decisive::ClientError::Datafile(_)));
    // The broken client never started its events: nothing was sent, the batch is still kept,
    // and the directory is free for the next client, which sends it.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(server.requests().len(), 0);
    assert_eq!(batch_files(&dir), 1);
    let next = client(&dir, &server.url());
    assert!(eventually(Duration::from_secs(10), || delivered(&server)
        .len()
        == 3));
    drop(next);
    let _ = std::fs::remove_dir_all(&dir);
}
