//! The event pipeline's fault suite: a `BatchEventProcessor` posting through the
//! `HttpDispatcher` to a loopback server that answers as a real, misbehaving event service
//! might (keep-alive, outages, odd and broken responses, an address nothing answers on).
//! Every scenario ends with the ledger: each event produced is delivered, failed or dropped,
//! counted exactly, and none is delivered twice.

mod support;

use decisive::{
    Attributes, BatchEventProcessor, DispatchOutcome, HttpDispatcher, ProcessorOptions,
    ProcessorStats, ProjectConfig, RecordingDispatcher, UserEvent,
};
use serde_json::Value;
use std::collections::HashSet;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{eventually, quickstart_config as config, uuids};

/// How the server answers one request.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Answer {
    /// `HTTP/1.1 {status}`, no body, the connection kept alive.
    Status(u16),
    /// `HTTP/1.1 {status}` with this body (and its true length).
    Body(u16, &'static str),
    /// `HTTP/1.0 {status}` with a body ended by closing the connection.
    Http10(u16, &'static str),
    /// `HTTP/1.1 {status}` whose `Content-Length` promises 100 bytes that never come.
    ShortBody(u16),
    /// `HTTP/1.1 200` announcing a 1 GB body and sending zeros until the client goes.
    HugeBody,
    /// `HTTP/1.1 {status}` with a header line of 1 MB.
    HugeHeader(u16),
    /// `301` to another host.
    Redirect,
    /// `HTTP/1.1 {status}` after waiting this long (the request was read whole), longer than
    /// the client's read timeout.
    Late(Duration, u16),
    /// The request is read, then the connection closed without a word.
    Hangup,
    /// Only the request line is read, then the connection closed with the rest unread (the
    /// kernel answers with a reset).
    Reset,
}

/// One request as the server received it.
#[derive(Debug, Clone)]
struct Seen {
    body: Vec<u8>,
    answer: Answer,
}

impl Seen {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

type Script = dyn Fn(usize, Duration) -> Answer + Send + Sync;

struct Shared {
    script: Box<Script>,
    started: Instant,
    seen: Mutex<Vec<Seen>>,
    connections: AtomicUsize,
    stop: AtomicBool,
}

/// A loopback HTTP/1.1 server, a thread per connection, answering request `n` (counted from
/// 0 across connections), `elapsed` after the server started, with `script(n, elapsed)`.
struct FaultServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl FaultServer {
    fn start(script: impl Fn(usize, Duration) -> Answer + Send + Sync + 'static) -> FaultServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address");
        let shared = Arc::new(Shared {
            script: Box::new(script),
            started: Instant::now(),
            seen: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let accept = Arc::clone(&shared);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accept.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                accept.connections.fetch_add(1, Ordering::SeqCst);
                let shared = Arc::clone(&accept);
                std::thread::spawn(move || {
                    let _ = serve(stream, &shared);
                });
            }
        });
        FaultServer { addr, shared }
    }

    /// Always `answer`.
    fn always(answer: Answer) -> FaultServer {
        FaultServer::start(move |_, _| answer)
    }

    fn url(&self) -> String {
        format!("http://{}/v1/events", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().expect("requests").clone()
    }

    fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// The event uuids of every request answered with a 2xx status, in arrival order.
    fn acknowledged_uuids(&self) -> Vec<String> {
        self.seen()
            .iter()
            .filter(|s| acknowledged(s.answer))
            .flat_map(|s| uuids(&s.json()))
            .collect()
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

/// Whether the client gets a 2xx status line from `answer`.
fn acknowledged(answer: Answer) -> bool {
    match answer {
        Answer::Status(s)
        | Answer::Body(s, _)
        | Answer::Http10(s, _)
        | Answer::ShortBody(s)
        | Answer::HugeHeader(s) => (200..300).contains(&s),
        Answer::HugeBody => true,
        // Scripted later than the client's read timeout: it has given up by then.
        Answer::Redirect | Answer::Hangup | Answer::Reset | Answer::Late(..) => false,
    }
}

/// Serves the requests of one connection until it closes or an answer ends it.
fn serve(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    // Each answer goes out in one write, and at once.
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = BufWriter::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 || shared.stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        let n = {
            let seen = shared.seen.lock().expect("requests");
            seen.len()
        };
        let answer = (shared.script)(n, shared.started.elapsed());
        if answer == Answer::Reset {
            shared.seen.lock().expect("requests").push(Seen {
                body: Vec::new(),
                answer,
            });
            return Ok(()); // dropping both handles with the rest unread
        }
        let Some((body, _)) = support::read_rest(&mut reader)? else {
            return Ok(());
        };
        shared
            .seen
            .lock()
            .expect("requests")
            .push(Seen { body, answer });
        match answer {
            Answer::Status(status) => write!(
                out,
                "HTTP/1.1 {status} Scripted\r\nContent-Length: 0\r\n\r\n"
            )?,
            Answer::Body(status, body) => write!(
                out,
                "HTTP/1.1 {status} Scripted\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )?,
            Answer::Http10(status, body) => {
                write!(out, "HTTP/1.0 {status} Scripted\r\n\r\n{body}")?;
                return out.flush();
            }
            Answer::ShortBody(status) => {
                write!(
                    out,
                    "HTTP/1.1 {status} Scripted\r\nContent-Length: 100\r\n\r\nonly this"
                )?;
                out.flush()?;
                std::thread::sleep(Duration::from_millis(300));
                return Ok(());
            }
            Answer::HugeBody => {
                write!(
                    out,
                    "HTTP/1.1 200 Scripted\r\nContent-Length: 1000000000\r\n\r\n"
                )?;
                out.flush()?;
                let zeros = [0u8; 64 * 1024];
                let mut sent = 0usize;
                // Until the client closes (a write fails) or 1 GB has gone.
                while sent < 1_000_000_000 && !shared.stop.load(Ordering::SeqCst) {
                    out.write_all(&zeros)?;
                    sent += zeros.len();
                }
                return Ok(());
            }
            Answer::HugeHeader(status) => {
                let filler = "x".repeat(1 << 20);
                write!(
                    out,
                    "HTTP/1.1 {status} Scripted\r\nX-Filler: {filler}\r\nContent-Length: 0\r\n\r\n"
                )?;
            }
            Answer::Redirect => write!(
                out,
                "HTTP/1.1 301 Moved\r\nLocation: http://elsewhere.invalid/v1/events\r\n\
                 Content-Length: 0\r\n\r\n"
            )?,
            Answer::Late(wait, status) => {
                std::thread::sleep(wait);
                write!(
                    out,
                    "HTTP/1.1 {status} Scripted\r\nContent-Length: 0\r\n\r\n"
                )?;
            }
            Answer::Hangup | Answer::Reset => return Ok(()),
        }
        out.flush()?;
    }
}

/// A conversion of `purchase` by `user`.
fn event(config: &ProjectConfig, user: &str) -> UserEvent {
    UserEvent::conversion(config, "purchase", user, &Attributes::new()).expect("known event")
}

/// Batches of `batch_size`, `retries` fast retries.
fn options(batch_size: usize, retries: u32) -> ProcessorOptions {
    let mut options = ProcessorOptions::default();
    options.batch_size = batch_size;
    options.max_retries = retries;
    options.retry_backoff = Duration::from_millis(10);
    options.max_retry_backoff = Duration::from_millis(40);
    options
}

/// An HTTP dispatcher posting to `url`.
fn http(url: &str, timeout: Duration) -> HttpDispatcher {
    HttpDispatcher::builder()
        .endpoint(url)
        .connect_timeout(timeout)
        .read_timeout(timeout)
        .build()
}

/// Every event produced is accounted for exactly once, and every drop and failure has its
/// reason.
fn assert_ledger(stats: &ProcessorStats, produced: u64) {
    assert_eq!(
        stats.dispatched + stats.failed + stats.dropped + stats.spooled,
        produced,
        "{stats:?}"
    );
    assert_eq!(
        stats.dropped,
        stats.dropped_queue_full
            + stats.dropped_closed
            + stats.dropped_disabled
            + stats.dropped_spool,
        "{stats:?}"
    );
    assert_eq!(
        stats.failed,
        stats.failed_rejected + stats.failed_retries_exhausted + stats.failed_refused,
        "{stats:?}"
    );
}

#[test]
fn r1_ten_thousand_events_make_one_thousand_posts_of_ten_each_delivered_once() {
    let server = FaultServer::always(Answer::Status(204));
    let mut opts = options(10, 3);
    opts.queue_capacity = 10_000;
    let p = BatchEventProcessor::new(http(&server.url(), Duration::from_secs(5)), opts)
        .expect("processor");
    let notified = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&notified);
    p.on_log_event(move |_, outcome| {
        assert!(outcome.is_delivered());
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let config = config("1");
    for i in 0..10_000 {
        assert!(p.process(event(&config, &format!("user-{i}"))));
    }
    assert!(p.flush_blocking(Duration::from_secs(60)));
    let closing = Instant::now();
    assert!(p.close());
    assert!(
        closing.elapsed() < Duration::from_secs(1),
        "nothing left to send"
    );

    let seen = server.seen();
    assert_eq!(seen.len(), 1000);
    assert!(seen
        .iter()
        .all(|s| s.json()["visitors"].as_array().map(Vec::len) == Some(10)));
    let delivered = server.acknowledged_uuids();
    assert_eq!(delivered.len(), 10_000);
    assert_eq!(delivered.iter().collect::<HashSet<_>>().len(), 10_000);
    assert_eq!(notified.load(Ordering::SeqCst), 1000);
    assert!(
        server.connections() <= 4,
        "connections are reused: {} opened",
        server.connections()
    );
    let stats = p.stats();
    assert_eq!(
        (stats.queued, stats.dispatched, stats.failed, stats.dropped),
        (10_000, 10_000, 0, 0)
    );
}

#[test]
fn r2_with_the_service_down_every_batch_gets_its_retries_then_counts_failed() {
    let server = FaultServer::always(Answer::Status(503));
    let p = BatchEventProcessor::new(http(&server.url(), Duration::from_secs(5)), options(10, 3))
        .expect("processor");
    let config = config("1");
    let mut slowest = Duration::ZERO;
    for i in 0..100 {
        let e = event(&config, &format!("user-{i}"));
        let t = Instant::now();
        assert!(p.process(e));
        slowest = slowest.max(t.elapsed());
    }
    assert!(
        slowest < Duration::from_millis(50),
        "queueing never waits for the service: {slowest:?}"
    );
    assert!(p.flush_blocking(Duration::from_secs(30)));
    let seen = server.seen();
    assert_eq!(seen.len(), 10 * 4, "ten batches, each tried 1 + 3 times");
    for attempts in seen.chunks(4) {
        assert!(attempts.iter().all(|s| s.body == attempts[0].body));
    }
    let stats = p.stats();
    assert_eq!((stats.dispatched, stats.failed, stats.dropped), (0, 100, 0));
    assert_eq!(stats.failed_retries_exhausted, 100);
    assert_ledger(&stats, 100);
}

#[test]
fn r2_with_nothing_listening_close_still_returns_within_its_timeout() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let mut opts = options(10, 1_000);
    opts.close_timeout = Duration::from_millis(500);
    let p = BatchEventProcessor::new(
        http(
            &format!("http://127.0.0.1:{port}/v1/events"),
            Duration::from_secs(1),
        ),
        opts,
    )
    .expect("processor");
    let config = config("1");
    for i in 0..100 {
        assert!(p.process(event(&config, &format!("user-{i}"))));
    }
    p.flush();
    std::thread::sleep(Duration::from_millis(200));
    let closing = Instant::now();
    p.close();
    assert!(
        closing.elapsed() < Duration::from_millis(1_500),
        "close took {:?}",
        closing.elapsed()
    );
    // A close that ran out of time leaves the thread to count what it could not send.
    let settled = |s: &ProcessorStats| s.dispatched + s.failed + s.dropped == 100;
    assert!(eventually(|| settled(&p.stats())), "{:?}", p.stats());
    assert_eq!(p.stats().dispatched, 0);
}

#[test]
fn r3_events_made_during_an_outage_are_delivered_once_after_it() {
    let outage = Duration::from_millis(400);
    let server = FaultServer::start(move |_, at| {
        if at < outage {
            Answer::Hangup
        } else {
            Answer::Status(204)
        }
    });
    let p = BatchEventProcessor::new(http(&server.url(), Duration::from_secs(5)), options(10, 30))
        .expect("processor");
    let config = config("1");
    let produced: Vec<String> = (0..50).map(|i| format!("user-{i}")).collect();
    for user in &produced {
        assert!(p.process(event(&config, user)));
    }
    assert!(p.flush_blocking(Duration::from_secs(30)));
    let delivered = server.acknowledged_uuids();
    assert_eq!(delivered.len(), 50, "each event acknowledged once");
    assert_eq!(delivered.iter().collect::<HashSet<_>>().len(), 50);
    let visitors: Vec<String> = server
        .seen()
        .iter()
        .filter(|s| acknowledged(s.answer))
        .flat_map(|s| s.json()["visitors"].as_array().cloned().unwrap_or_default())
        .map(|v| v["visitor_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(visitors, produced, "in the order they were made");
    assert!(
        server.seen().iter().any(|s| s.answer == Answer::Hangup),
        "the outage was seen"
    );
    let stats = p.stats();
    assert_eq!((stats.dispatched, stats.failed, stats.dropped), (50, 0, 0));
}

/// One event through a server that always gives `answer`, tried once and retried once:
/// (requests the server saw, the processor's stats).
fn one_event_against(answer: Answer) -> (usize, ProcessorStats) {
    let server = FaultServer::always(answer);
    let p = BatchEventProcessor::new(http(&server.url(), Duration::from_secs(2)), options(1, 1))
        .expect("processor");
    assert!(p.process(event(&config("1"), "odd")));
    assert!(
        p.flush_blocking(Duration::from_secs(20)),
        "{answer:?}: flush finished"
    );
    let stats = p.stats();
    assert_ledger(&stats, 1);
    p.close();
    (server.seen().len(), stats)
}

#[test]
fn r8_odd_responses_are_classified_and_nothing_panics() {
    // (answer, requests expected, outcome: delivered, rejected or retried until out of tries)
    let (delivered, rejected, retried) = ((1, 0, 0), (0, 1, 0), (0, 0, 1));
    let cases = [
        (Answer::Body(200, "<html>not json</html>"), 1, delivered),
        (Answer::Status(200), 1, delivered),
        (Answer::Status(202), 1, delivered),
        (Answer::Http10(200, "closed when done"), 1, delivered),
        (Answer::ShortBody(200), 1, delivered),
        (Answer::HugeBody, 1, delivered),
        (Answer::Status(599), 2, retried),
        (Answer::Status(999), 1, rejected),
        (Answer::Redirect, 1, rejected),
        (Answer::Hangup, 2, retried),
        (Answer::Reset, 2, retried),
        // A header line of 1 MB: the response is unreadable, as if the connection broke.
        (Answer::HugeHeader(200), 2, retried),
    ];
    for (answer, requests, outcome) in cases {
        let started = Instant::now();
        let (seen, stats) = one_event_against(answer);
        assert_eq!(seen, requests, "{answer:?}: requests");
        assert_eq!(
            (
                stats.dispatched,
                stats.failed_rejected,
                stats.failed_retries_exhausted
            ),
            outcome,
            "{answer:?}: {stats:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{answer:?} took {:?}",
            started.elapsed()
        );
    }
}

#[test]
fn r6_a_request_answered_after_the_read_timeout_is_sent_again_and_counted_as_possibly_twice() {
    // The first attempt is answered only after the client gave up on it (the service did
    // take it); the second at once.
    let server = FaultServer::start(|n, _| match n {
        0 => Answer::Late(Duration::from_millis(600), 204),
        _ => Answer::Status(204),
    });
    let p = BatchEventProcessor::new(
        http(&server.url(), Duration::from_millis(200)),
        options(10, 3),
    )
    .expect("processor");
    let config = config("42");
    let sent: Vec<UserEvent> = (0..10).map(|i| event(&config, &format!("u{i}"))).collect();
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&outcomes);
    p.on_log_event(move |_, outcome| seen.lock().unwrap().push(outcome.clone()));
    for e in sent {
        assert!(p.process(e));
    }
    assert!(p.flush_blocking(Duration::from_secs(10)));
    assert!(p.close());
    let stats = p.stats();
    assert_ledger(&stats, 10);
    assert_eq!(
        (stats.dispatched, stats.resent_after_timeout),
        (10, 10),
        "{stats:?}"
    );
    // The server got the batch twice, byte for byte: the same ten uuids.
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].body, seen[1].body);
    assert_eq!(uuids(&seen[0].json()).len(), 10);
    // One call to the listener, with the outcome of the last attempt.
    assert_eq!(*outcomes.lock().unwrap(), [DispatchOutcome::Delivered]);
}

#[test]
fn r12_a_revision_alternating_every_seven_events_makes_one_post_per_run() {
    let server = FaultServer::always(Answer::Status(204));
    let mut opts = options(10, 3);
    opts.queue_capacity = 2_000;
    let p = BatchEventProcessor::new(http(&server.url(), Duration::from_secs(5)), opts)
        .expect("processor");
    let (odd, even) = (config("7"), config("8"));
    let mut expected_revisions = Vec::new();
    for i in 0..1000 {
        let run = i / 7;
        let config = if run % 2 == 0 { &even } else { &odd };
        if i % 7 == 0 {
            expected_revisions.push(config.revision().to_owned());
        }
        assert!(p.process(event(config, &format!("user-{i}"))));
    }
    assert!(p.flush_blocking(Duration::from_secs(30)));
    let seen = server.seen();
    assert_eq!(seen.len(), 143, "142 runs of seven and one of six");
    let revisions: Vec<String> = seen
        .iter()
        .map(|s| s.json()["revision"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(revisions, expected_revisions);
    let delivered = server.acknowledged_uuids();
    assert_eq!(delivered.iter().collect::<HashSet<_>>().len(), 1000);
    assert_eq!(p.stats().dispatched, 1000);
}

#[test]
fn r15_flush_blocking_with_the_queue_full_and_the_dispatcher_stuck_still_times_out() {
    let recorder = RecordingDispatcher::new();
    recorder.pause();
    let mut opts = options(10, 3);
    opts.queue_capacity = 20;
    let p = BatchEventProcessor::new(recorder.clone(), opts).expect("processor");
    let config = config("1");
    let mut produced = 0;
    while p.stats().dropped == 0 {
        p.process(event(&config, "full"));
        produced += 1;
        assert!(produced < 10_000, "the queue never filled");
    }
    let started = Instant::now();
    assert!(!p.flush_blocking(Duration::from_millis(300)));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_millis(1_300),
        "flush_blocking waited {waited:?}"
    );
    recorder.resume();
    assert!(p.close());
    assert_ledger(&p.stats(), produced);
}

#[test]
fn r17_an_address_nothing_answers_on_is_bounded_by_the_connect_timeout() {
    // TEST-NET-1 (RFC 5737): never routed; a connect either fails at once or hangs until the
    // timeout, which must bound it.
    let mut opts = options(10, 1);
    opts.close_timeout = Duration::from_secs(1);
    let p = BatchEventProcessor::new(
        http("http://192.0.2.1:9/v1/events", Duration::from_millis(300)),
        opts,
    )
    .expect("processor");
    let config = config("1");
    for i in 0..10 {
        assert!(p.process(event(&config, &format!("user-{i}"))));
    }
    let started = Instant::now();
    assert!(p.flush_blocking(Duration::from_secs(10)));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "two attempts of at most the connect timeout: {:?}",
        started.elapsed()
    );
    let closing = Instant::now();
    assert!(p.close());
    assert!(closing.elapsed() < Duration::from_secs(2));
    let stats = p.stats();
    assert_eq!((stats.dispatched, stats.failed), (0, 10));
}

#[test]
fn r19_a_stats_snapshot_taken_at_any_moment_never_counts_more_than_was_produced() {
    let server = FaultServer::start(|n, _| {
        if n % 5 == 0 {
            Answer::Status(503)
        } else {
            Answer::Status(204)
        }
    });
    let mut opts = options(10, 3);
    opts.queue_capacity = 100;
    let p = Arc::new(
        BatchEventProcessor::new(http(&server.url(), Duration::from_secs(5)), opts)
            .expect("processor"),
    );
    let produced = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let monitor = {
        let (p, produced, done) = (Arc::clone(&p), Arc::clone(&produced), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut snapshots = 0;
            while !done.load(Ordering::SeqCst) {
                let s = p.stats();
                let made = produced.load(Ordering::SeqCst);
                let settled = s.dispatched + s.failed + s.dropped + s.spooled;
                assert!(settled <= made, "{s:?} with {made} produced");
                assert!(s.dispatched + s.failed <= s.queued, "{s:?}");
                assert!(s.queued + s.dropped <= made, "{s:?} with {made} produced");
                snapshots += 1;
            }
            snapshots
        })
    };
    let config = Arc::new(config("1"));
    let producers: Vec<_> = (0..2)
        .map(|t| {
            let (p, produced, config) =
                (Arc::clone(&p), Arc::clone(&produced), Arc::clone(&config));
            std::thread::spawn(move || {
                for i in 0..2_000 {
                    produced.fetch_add(1, Ordering::SeqCst);
                    p.process(event(&config, &format!("user-{t}-{i}")));
                }
            })
        })
        .collect();
    for t in producers {
        t.join().expect("producer");
    }
    assert!(p.flush_blocking(Duration::from_secs(60)));
    done.store(true, Ordering::SeqCst);
    assert!(monitor.join().expect("monitor") > 0);
    let stats = p.stats();
    assert_ledger(&stats, 4_000);
    assert_eq!(stats.failed, 0, "no batch met 503 four times in a row");
    let delivered = server.acknowledged_uuids();
    assert_eq!(delivered.len() as u64, stats.dispatched);
    assert_eq!(
        delivered.iter().collect::<HashSet<_>>().len() as u64,
        stats.dispatched,
        "nothing delivered twice"
    );
}

#[test]
fn r11_panicking_slow_and_reentrant_listeners_neither_stop_nor_stall_delivery() {
    let server = FaultServer::always(Answer::Status(204));
    let p = Arc::new(
        BatchEventProcessor::new(http(&server.url(), Duration::from_secs(5)), options(10, 3))
            .expect("processor"),
    );
    let config = Arc::new(config("1"));
    let calls = Arc::new([
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    ]);
    let c = Arc::clone(&calls);
    p.on_log_event(move |_, _| {
        let n = c[0].fetch_add(1, Ordering::SeqCst) + 1;
        if n.is_multiple_of(3) {
            panic!("listener failure on batch {n}");
        }
    });
    let c = Arc::clone(&calls);
    p.on_log_event(move |_, _| {
        c[1].fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(20));
    });
    // Re-enters the processor from its own thread: queues one more event for each of the
    // first five batches, and asks for flushes, which must neither block nor deadlock.
    let (c, weak, cfg) = (Arc::clone(&calls), Arc::downgrade(&p), Arc::clone(&config));
    p.on_log_event(move |_, _| {
        let n = c[2].fetch_add(1, Ordering::SeqCst);
        if let Some(p) = weak.upgrade() {
            if n < 5 {
                assert!(p.process(event(&cfg, &format!("from-listener-{n}"))));
            }
            p.flush();
            let t = Instant::now();
            assert!(
                !p.flush_blocking(Duration::from_secs(5)),
                "not from the event thread"
            );
            assert!(t.elapsed() < Duration::from_millis(100));
        }
    });
    for i in 0..100 {
        assert!(p.process(event(&config, &format!("user-{i}"))));
    }
    assert!(p.flush_blocking(Duration::from_secs(30)));
    // The listeners' own events went out in later batches; wait for those too.
    assert!(
        eventually(|| p.stats().dispatched == 105),
        "{:?}",
        p.stats()
    );
    assert!(p.flush_blocking(Duration::from_secs(30)));
    let batches = server.seen().len();
    assert!(batches >= 11, "{batches} requests");
    for (i, listener) in calls.iter().enumerate() {
        assert_eq!(listener.load(Ordering::SeqCst), batches, "listener {i}");
    }
    let delivered = server.acknowledged_uuids();
    assert_eq!(delivered.iter().collect::<HashSet<_>>().len(), 105);
    assert!(p.close());
    let stats = p.stats();
    assert_eq!((stats.dispatched, stats.failed, stats.dropped), (105, 0, 0));
}

#[test]
fn r13_two_hundred_thousand_events_from_two_threads_all_arrive_over_reused_connections() {
    let server = FaultServer::always(Answer::Status(204));
    let mut opts = options(500, 3);
    opts.queue_capacity = 200_000;
    let p = Arc::new(
        BatchEventProcessor::new(http(&server.url(), Duration::from_secs(5)), opts)
            .expect("processor"),
    );
    let config = Arc::new(config("1"));
    let started = Instant::now();
    let producers: Vec<_> = (0..2)
        .map(|t| {
            let (p, config) = (Arc::clone(&p), Arc::clone(&config));
            std::thread::spawn(move || {
                let template = event(&config, &format!("user-{t}"));
                (0..100_000).filter(|_| p.process(template.clone())).count()
            })
        })
        .collect();
    let accepted: usize = producers
        .into_iter()
        .map(|t| t.join().expect("producer"))
        .sum();
    assert_eq!(
        accepted, 200_000,
        "a queue sized for the load drops nothing"
    );
    assert!(p.flush_blocking(Duration::from_secs(60)));
    let elapsed = started.elapsed();
    assert!(p.close());
    let stats = p.stats();
    assert_eq!(
        (stats.dispatched, stats.failed, stats.dropped),
        (200_000, 0, 0)
    );
    assert_eq!(server.seen().len(), 400, "batches of 500");
    assert!(
        server.connections() <= 2,
        "one connection, reused: {} opened",
        server.connections()
    );
    eprintln!(
        "200,000 events in {elapsed:?}: {:.0} events/s",
        200_000.0 / elapsed.as_secs_f64()
    );
}
