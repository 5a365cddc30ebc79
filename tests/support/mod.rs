//! A tiny scripted HTTP/1.1 server on 127.0.0.1 for event-delivery tests.
//!
//! One thread, one connection at a time, `Connection: close` on every answer. Each request's
//! body (by `Content-Length`) is recorded, then answered with the next [`Reply`] of the script
//! (after its delay); once the script runs out, with the default reply. Dropping the server
//! stops and joins its thread.

#![allow(dead_code, reason = "each test file uses a different part of the kit")]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// One scripted answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// How long to wait (after reading the request) before answering.
    pub delay: Duration,
    /// A `Retry-After` header value to send.
    pub retry_after: Option<&'static str>,
}

impl Reply {
    /// `status`, at once.
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            delay: Duration::ZERO,
            retry_after: None,
        }
    }

    /// `status` after `delay`.
    pub fn delayed(status: u16, delay: Duration) -> Reply {
        Reply {
            status,
            delay,
            retry_after: None,
        }
    }

    /// `status` with a `Retry-After: {value}` header.
    pub fn retry_after(status: u16, value: &'static str) -> Reply {
        Reply {
            status,
            delay: Duration::ZERO,
            retry_after: Some(value),
        }
    }
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Request {
    /// `POST /path`.
    pub request_line: String,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The batch id header, if any.
    pub batch_id: Option<String>,
    /// The body bytes.
    pub body: Vec<u8>,
    /// The status it was answered with.
    pub status: u16,
    /// When its body had been read.
    pub arrived: std::time::Instant,
}

impl Request {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// What the server thread and the test share.
struct State {
    /// Replies still to give, in order.
    script: Vec<Reply>,
    /// The reply once the script is used up.
    default: Reply,
    /// Requests so far.
    requests: Vec<Request>,
}

/// The server; see the module docs.
pub struct TestServer {
    /// Where it listens.
    addr: SocketAddr,
    /// Script and recording.
    state: Arc<Mutex<State>>,
    /// Set on drop.
    stop: Arc<AtomicBool>,
    /// The server thread.
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// A server answering `script` in order, then 200.
    pub fn start(script: impl IntoIterator<Item = Reply>) -> TestServer {
        TestServer::with_default(script, Reply::status(200))
    }

    /// A server answering `script` in order, then `default` to every request.
    pub fn with_default(script: impl IntoIterator<Item = Reply>, default: Reply) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let mut script: Vec<Reply> = script.into_iter().collect();
        script.reverse();
        let state = Arc::new(Mutex::new(State {
            script,
            default,
            requests: Vec::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (Arc::clone(&state), Arc::clone(&stop));
            std::thread::Builder::new()
                .name("test-http-server".into())
                .spawn(move || serve(listener, &state, &stop))
                .expect("spawn server thread")
        };
        TestServer {
            addr,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// The server's URL (any path is accepted).
    pub fn url(&self) -> String {
        format!("http://{}/v1/events", self.addr)
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().expect("server state").requests.clone()
    }

    /// How many requests arrived.
    pub fn request_count(&self) -> usize {
        self.state.lock().expect("server state").requests.len()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept call.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The server loop: one connection at a time, one request per connection.
fn serve(listener: TcpListener, state: &Mutex<State>, stop: &AtomicBool) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = stream.set_nodelay(true);
        let _ = handle(stream, state, stop);
    }
}

/// Reads one request from `stream`, records it and answers it.
fn handle(stream: TcpStream, state: &Mutex<State>, stop: &AtomicBool) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line)? == 0 {
        return Ok(()); // a bare connect (the drop wake-up)
    }
    let Some((body, headers)) = read_rest(&mut reader)? else {
        return Ok(());
    };
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let reply = {
        let mut state = state.lock().expect("server state");
        let reply = state.script.pop().unwrap_or(state.default);
        state.requests.push(Request {
            request_line: request_line.trim_end().to_owned(),
            content_type: header("content-type"),
            batch_id: header(decisive::BATCH_ID_HEADER),
            body,
            status: reply.status,
            arrived: std::time::Instant::now(),
        });
        reply
    };
    let waited = std::time::Instant::now();
    while waited.elapsed() < reply.delay && !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut stream = stream;
    let retry_after = reply
        .retry_after
        .map(|v| format!("Retry-After: {v}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "HTTP/1.1 {} Scripted\r\n{retry_after}Content-Length: 0\r\nConnection: close\r\n\r\n",
        reply.status
    )?;
    stream.flush()
}

/// A request's headers, as (name, value) pairs in order.
pub type Headers = Vec<(String, String)>;

/// Reads the rest of a request whose request line was read: its headers, then its body (by
/// `Content-Length`). The body and the headers; `None` when the stream ends first.
pub fn read_rest(reader: &mut impl BufRead) -> std::io::Result<Option<(Vec<u8>, Headers)>> {
    let mut content_length = 0usize;
    let mut headers = Headers::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                content_length = value.parse().unwrap_or(0);
            }
            headers.push((name.to_owned(), value.to_owned()));
        }
    }
    let mut body = vec![0; content_length];
    reader.read_exact(&mut body)?;
    Ok(Some((body, headers)))
}

/// The event uuids of a batch body, in order.
pub fn uuids(body: &serde_json::Value) -> Vec<String> {
    body["visitors"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|v| {
            v["snapshots"][0]["events"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|e| e["uuid"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Waits up to 5 s for `done`.
pub fn eventually(done: impl Fn() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    done()
}

/// The quickstart datafile's config, at `revision`.
pub fn quickstart_config(revision: &str) -> decisive::ProjectConfig {
    let datafile = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/datafiles/quickstart.json"
    ))
    .expect("quickstart datafile")
    .replace(
        "\"revision\": \"42\"",
        &format!("\"revision\": \"{revision}\""),
    );
    decisive::ProjectConfig::from_datafile(datafile).expect("valid datafile")
}
