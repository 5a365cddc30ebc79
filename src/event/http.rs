//! The production dispatcher: one blocking `POST` per batch over ureq, with every wait bounded
//! by a timeout and the response status classified into a [`DispatchOutcome`].
//!
//! Invariant: the status, not ureq's error mapping, decides the outcome (ureq is configured to
//! return 4xx and 5xx responses rather than errors), and redirects are never followed.

use super::dispatcher::{DispatchOutcome, EventDispatcher};
use super::LogEvent;
use std::io::Read;
use std::time::Duration;

/// The default bound on resolving and connecting.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The default bound on sending the body and on waiting for the response.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// At most this much of a response body is read (and discarded), so the connection can be
/// reused without reading an unbounded body.
const MAX_RESPONSE_BODY: u64 = 64 * 1024;

/// Sends each batch as `POST {url}` with the JSON body and `Content-Type: application/json`.
///
/// Classification: 2xx delivered; 5xx, 408, 429 and transport errors (refused, reset,
/// timeouts) retryable; 401 and 403 must-shut-down; any other status rejected. Cheap to share:
/// the connection pool lives inside.
#[derive(Debug, Clone)]
pub struct HttpDispatcher {
    /// The configured client.
    agent: ureq::Agent,
    /// Replaces each event's own URL when set (a proxy, or a test server).
    endpoint: Option<String>,
}

/// Builds an [`HttpDispatcher`]; see [`HttpDispatcher::builder`].
#[derive(Debug, Clone)]
pub struct HttpDispatcherBuilder {
    /// Bound on resolving and connecting.
    connect_timeout: Duration,
    /// Bound on sending the body, on waiting for the response head and on reading the body.
    read_timeout: Duration,
    /// Replaces each event's own URL when set.
    endpoint: Option<String>,
}

impl Default for HttpDispatcherBuilder {
    fn default() -> Self {
        HttpDispatcherBuilder {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            read_timeout: DEFAULT_READ_TIMEOUT,
            endpoint: None,
        }
    }
}

impl HttpDispatcherBuilder {
    /// Bounds name resolution and connecting, each (default 10 s). Zero means the default.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = non_zero(timeout, DEFAULT_CONNECT_TIMEOUT, "connect_timeout");
        self
    }

    /// Bounds sending the body, waiting for the response and reading it, each (default 10 s).
    /// Zero means the default.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = non_zero(timeout, DEFAULT_READ_TIMEOUT, "read_timeout");
        self
    }

    /// Sends every batch to `url` instead of its region's Optimizely endpoint.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// The dispatcher.
    pub fn build(self) -> HttpDispatcher {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_resolve(Some(self.connect_timeout))
            .timeout_connect(Some(self.connect_timeout))
            .timeout_send_request(Some(self.read_timeout))
            .timeout_send_body(Some(self.read_timeout))
            .timeout_recv_response(Some(self.read_timeout))
            .timeout_recv_body(Some(self.read_timeout))
            .build()
            .into();
        HttpDispatcher {
            agent,
            endpoint: self.endpoint,
        }
    }
}

/// `timeout`, or `default` with a warning when it is zero.
fn non_zero(timeout: Duration, default: Duration, name: &str) -> Duration {
    if timeout.is_zero() {
        log::warn!(target: "decisive", "{name} of zero is invalid; using {default:?}");
        default
    } else {
        timeout
    }
}

impl Default for HttpDispatcher {
    fn default() -> Self {
        HttpDispatcher::new()
    }
}

impl HttpDispatcher {
    /// A dispatcher with the default timeouts, posting to each batch's region endpoint.
    pub fn new() -> HttpDispatcher {
        HttpDispatcher::builder().build()
    }

    /// A builder, for timeouts or another endpoint.
    pub fn builder() -> HttpDispatcherBuilder {
        HttpDispatcherBuilder::default()
    }
}

impl EventDispatcher for HttpDispatcher {
    fn dispatch(&self, event: &LogEvent) -> DispatchOutcome {
        let url = self.endpoint.as_deref().unwrap_or(event.url);
        let body = event.body.as_bytes();
        let mut request = self.agent.post(url);
        for (name, value) in event.headers {
            request = request.header(name, value);
        }
        match request.send(body) {
            Ok(mut response) => {
                // Drain a bounded amount so the connection can go back to the pool.
                let mut sink = Vec::new();
                let _ = response
                    .body_mut()
                    .as_reader()
                    .take(MAX_RESPONSE_BODY)
                    .read_to_end(&mut sink);
                classify(response.status().as_u16())
            }
            Err(e) => classify_error(&e, url),
        }
    }
}

/// The outcome of a response with status `status`.
pub(crate) fn classify(status: u16) -> DispatchOutcome {
    match status {
        200..=299 => DispatchOutcome::Delivered,
        401 | 403 => DispatchOutcome::MustShutDown(format!("HTTP status {status}")),
        408 | 429 | 500..=599 => DispatchOutcome::Retryable(format!("HTTP status {status}")),
        _ => DispatchOutcome::Rejected(format!("HTTP status {status}")),
    }
}

/// The outcome of a request that got no response.
fn classify_error(error: &ureq::Error, url: &str) -> DispatchOutcome {
    match error {
        ureq::Error::BadUri(_) | ureq::Error::Http(_) => {
            DispatchOutcome::Rejected(format!("cannot send to {url}: {error}"))
        }
        _ => DispatchOutcome::Retryable(format!("cannot send to {url}: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_are_classified() {
        let cases: &[(&str, u16, &str)] = &[
            ("ok", 200, "delivered"),
            ("no content", 204, "delivered"),
            ("other 2xx", 299, "delivered"),
            ("redirect not followed", 301, "rejected"),
            ("bad request", 400, "rejected"),
            ("unauthorized", 401, "shutdown"),
            ("forbidden", 403, "shutdown"),
            ("not found", 404, "rejected"),
            ("request timeout", 408, "retry"),
            ("too large", 413, "rejected"),
            ("too many requests", 429, "retry"),
            ("server error", 500, "retry"),
            ("bad gateway", 502, "retry"),
            ("unavailable", 503, "retry"),
            ("gateway timeout", 504, "retry"),
            ("odd 5xx", 599, "retry"),
            ("informational", 100, "rejected"),
            ("out of range", 999, "rejected"),
        ];
        for (label, status, want) in cases {
            let got = match classify(*status) {
                DispatchOutcome::Delivered => "delivered",
                DispatchOutcome::Retryable(_) => "retry",
                DispatchOutcome::Rejected(_) => "rejected",
                DispatchOutcome::MustShutDown(_) => "shutdown",
            };
            assert_eq!(got, *want, "{label} ({status})");
        }
    }

    #[test]
    fn zero_timeouts_fall_back_to_defaults() {
        let b = HttpDispatcher::builder()
            .connect_timeout(Duration::ZERO)
            .read_timeout(Duration::ZERO);
        assert_eq!(b.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
        assert_eq!(b.read_timeout, DEFAULT_READ_TIMEOUT);
    }

    #[test]
    fn a_bad_url_is_rejected_not_retried() {
        let d = HttpDispatcher::builder().endpoint("not a url").build();
        let event = LogEvent {
            url: super::super::payload::US_ENDPOINT,
            method: "POST",
            headers: [("Content-Type", "application/json")],
            body: "{}".to_owned(),
            event_count: 0,
        };
        assert!(matches!(d.dispatch(&event), DispatchOutcome::Rejected(_)));
    }
}
