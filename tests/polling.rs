//! The polling config manager against a real HTTP server on 127.0.0.1: conditional requests,
//! new revisions, failures that keep the config, startup waits and fallbacks, access tokens
//! and a prompt close.

use decisive::{Attributes, Client, PollingOptions};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const DATAFILE: &str = include_str!("../datafiles/quickstart.json");

fn revision(r: &str) -> String {
    DATAFILE.replace("\"revision\": \"42\"", &format!("\"revision\": \"{r}\""))
}

/// One scripted answer: status, extra headers, body.
#[derive(Clone)]
struct Answer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

fn ok(body: String, etag: &str) -> Answer {
    Answer {
        status: 200,
        headers: vec![
            ("ETag", etag.to_owned()),
            ("Last-Modified", "Sun, 29 Nov 2026 10:00:00 GMT".to_owned()),
        ],
        body,
    }
}

fn status(status: u16) -> Answer {
    Answer {
        status,
        headers: Vec::new(),
        body: String::new(),
    }
}

/// A request as the server saw it: its path and lower-cased headers.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: Vec<(String, String)>,
    at: Instant,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A datafile server answering from a script, then with `fallback`.
struct DatafileServer {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl DatafileServer {
    fn start(script: Vec<Answer>, fallback: Answer) -> DatafileServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (Arc::clone(&seen), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let mut script = script.into_iter();
            for stream in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let Some(request) = read_request(&stream) else {
                    continue;
                };
                s.lock().unwrap().push(request);
                let answer = script.next().unwrap_or_else(|| fallback.clone());
                let _ = respond(stream, &answer);
            }
        });
        DatafileServer {
            addr,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    fn template(&self) -> String {
        format!("http://{}/datafiles/{{sdk_key}}.json", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for DatafileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn read_request(stream: &TcpStream) -> Option<Seen> {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let path = line.split_whitespace().nth(1)?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            break;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((n, v)) = h.split_once(':') {
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    Some(Seen {
        path,
        headers,
        at: Instant::now(),
    })
}

fn respond(mut stream: TcpStream, answer: &Answer) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} Scripted\r\n", answer.status);
    for (name, value) in &answer.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        answer.body.len()
    ));
    stream.write_all(head.as_bytes())?;
    stream.write_all(answer.body.as_bytes())?;
    stream.flush()
}

fn options(server: &DatafileServer, interval: Duration) -> PollingOptions {
    let mut options = PollingOptions::new("KEY");
    options.url_template = Some(server.template());
    options.interval = interval;
    options.request_timeout = Duration::from_secs(2);
    options
}

fn current_revision(client: &Client) -> Option<String> {
    client.config().map(|c| c.revision().to_owned())
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

#[test]
fn the_client_follows_the_served_revisions_and_keeps_the_last_good_one() {
    let unsupported = revision("9").replace("\"version\": \"4\"", "\"version\": \"5\"");
    assert_ne!(unsupported, revision("9"));
    let server = DatafileServer::start(
        vec![
            ok(revision("1"), "\"a\""),
            status(304),
            ok(revision("2"), "\"b\""),
            status(500),
            ok("{\"broken".to_owned(), "\"c\""),
            ok(unsupported, "\"d\""),
        ],
        status(304),
    );
    let client = Client::builder()
        .polling(options(&server, Duration::from_secs(1)))
        .wait_for_datafile(Duration::from_secs(5))
        .without_events()
        .build()
        .unwrap();
    assert_eq!(current_revision(&client).as_deref(), Some("1"));
    let updates: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = Arc::clone(&updates);
    client.add_config_update_listener(move |n| sink.lock().unwrap().push(n.revision.to_owned()));

    // Deciding all along never fails.
    let failures = Arc::new(AtomicUsize::new(0));
    let decided = Arc::new(AtomicUsize::new(0));
    let running = Arc::new(AtomicBool::new(true));
    let decider = {
        let (client, failures, decided, running) = (
            client.clone(),
            Arc::clone(&failures),
            Arc::clone(&decided),
            Arc::clone(&running),
        );
        std::thread::spawn(move || {
            let user = client.create_user_context("alice", Attributes::new());
            while running.load(Ordering::SeqCst) {
                let d = user.decide("checkout_redesign", &[]);
                if !d.reasons().is_empty() || d.flag_key() != "checkout_redesign" {
                    failures.fetch_add(1, Ordering::SeqCst);
                }
                decided.fetch_add(1, Ordering::SeqCst);
            }
        })
    };

    assert!(eventually(Duration::from_secs(10), || server.seen().len() >= 7));
    running.store(false, Ordering::SeqCst);
    decider.join().unwrap();
    let seen = server.seen();
    assert_eq!(current_revision(&client).as_deref(), Some("2"));
    assert_eq!(
        *updates.lock().unwrap(),
        ["2"],
        "one notification per new revision"
    );
    assert_eq!(failures.load(Ordering::SeqCst), 0);
    assert!(decided.load(Ordering::SeqCst) > 0);
    assert!(seen.iter().all(|s| s.path == "/datafiles/KEY.json"));
    // Conditional requests carry the validators of the last accepted datafile only.
    let etags: Vec<Option<&str>> = seen.iter().map(|s| s.header("if-none-match")).collect();
    assert_eq!(
        etags[..7],
        [
            None,
            Some("\"a\""),
            Some("\"a\""),
            Some("\"b\""),
            Some("\"b\""),
            Some("\"b\""),
            Some("\"b\"")
        ]
    );
    assert_eq!(
        seen[1].header("if-modified-since"),
        Some("Sun, 29 Nov 2026 10:00:00 GMT")
    );
    // Polls are an interval apart.
    for pair in seen.windows(2).take(6) {
        let gap = pair[1].at - pair[0].at;
        assert!(gap >= Duration::from_millis(900), "polled after {gap:?}");
    }
    assert!(client.close());
}

#[test]
fn startup_with_an_unreachable_server_returns_within_the_wait() {
    let unused = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = unused.local_addr().unwrap();
    drop(unused);
    let mut options = PollingOptions::new("KEY");
    options.url_template = Some(format!("http://{addr}/{{sdk_key}}.json"));
    options.request_timeout = Duration::from_secs(1);
    let started = Instant::now();
    let client = Client::builder()
        .polling(options.clone())
        .wait_for_datafile(Duration::from_millis(300))
        .without_events()
        .build()
        .unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_millis(400), "build took {took:?}");
    assert!(client.config().is_none());
    let d = client
        .create_user_context("alice", Attributes::new())
        .decide("checkout_redesign", &[]);
    assert!(!d.enabled());
    assert_eq!(d.reasons().len(), 1, "{:?}", d.reasons());

    // With a fallback datafile it decides from the fallback at once.
    let started = Instant::now();
    let client = Client::builder()
        .datafile(DATAFILE)
        .polling(options)
        .wait_for_datafile(Duration::from_secs(5))
        .without_events()
        .build()
        .unwrap();
    assert!(started.elapsed() < Duration::from_millis(100));
    assert_eq!(current_revision(&client).as_deref(), Some("42"));
    let d = client
        .create_user_context("alice", Attributes::new())
        .decide("checkout_redesign", &[]);
    assert!(d.reasons().is_empty());
}

#[test]
fn an_access_token_is_sent_as_a_bearer_header() {
    let server = DatafileServer::start(vec![ok(revision("1"), "\"a\"")], status(304));
    let mut options = options(&server, Duration::from_secs(60));
    options.access_token = Some("s3cret".into());
    let client = Client::builder()
        .polling(options)
        .wait_for_datafile(Duration::from_secs(5))
        .without_events()
        .build()
        .unwrap();
    assert_eq!(current_revision(&client).as_deref(), Some("1"));
    assert_eq!(
        server.seen()[0].header("authorization"),
        Some("Bearer s3cret")
    );
}

#[test]
fn close_stops_polling_promptly_and_dropping_the_client_does_too() {
    let server = DatafileServer::start(vec![ok(revision("1"), "\"a\"")], status(304));
    let client = Client::builder()
        .polling(options(&server, Duration::from_secs(1)))
        .wait_for_datafile(Duration::from_secs(5))
        .without_events()
        .build()
        .unwrap();
    let started = Instant::now();
    assert!(client.close());
    assert!(started.elapsed() < Duration::from_millis(300));
    let before = server.seen().len();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(server.seen().len(), before, "no poll after close");

    let client = Client::builder()
        .polling(options(&server, Duration::from_secs(1)))
        .wait_for_datafile(Duration::from_secs(5))
        .without_events()
        .build()
        .unwrap();
    let started = Instant::now();
    drop(client);
    assert!(started.elapsed() < Duration::from_millis(300));
    let before = server.seen().len();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        server.seen().len(),
        before,
        "no poll after the client is dropped"
    );
}
