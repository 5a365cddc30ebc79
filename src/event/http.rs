//! The production dispatcher: one blocking `POST` per batch over ureq, with every wait bounded
//! by a timeout and the response status classified into a [`DispatchOutcome`].
//!
//! Invariant: the status, not ureq's error mapping, decides the outcome (ureq is configured to
//! return 4xx and 5xx responses rather than errors), and redirects are never followed.

use super::dispatcher::{DispatchOutcome, EventDispatcher};
use super::LogEvent;
use std::io::Read;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The default bound on resolving and connecting.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The default bound on sending the body and on waiting for the response.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// At most this much of a response body is read (and discarded), so the connection can be
/// reused without reading an unbounded body.
const MAX_RESPONSE_BODY: u64 = 64 * 1024;

/// Sends each batch as `POST {url}` with the JSON body, `Content-Type: application/json` and
/// the batch's id in [`BATCH_ID_HEADER`](crate::BATCH_ID_HEADER).
///
/// Classification: 2xx delivered; 5xx, 408, 429 and transport errors (refused, reset,
/// timeouts) retryable; 401 and 403 must-shut-down; 404 not found (sending pauses); 413 too
/// large (sent again in halves); any other status rejected. Cheap to share:
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
        if !event.batch_id.is_empty() {
            request = request.header(super::payload::BATCH_ID_HEADER, &event.batch_id);
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
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| retry_after(v, SystemTime::now()));
                match (classify(status), retry_after) {
                    (DispatchOutcome::Retryable(why), Some(after))
                        if matches!(status, 429 | 503) =>
                    {
                        DispatchOutcome::RetryAfter(after, why)
                    }
                    (outcome, _) => outcome,
                }
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
        404 => DispatchOutcome::NotFound(format!("HTTP status {status}")),
        413 => DispatchOutcome::TooLarge(format!("HTTP status {status}")),
        _ => DispatchOutcome::Rejected(format!("HTTP status {status}")),
    }
}

/// The wait a `Retry-After` header asks for at `now`: delta-seconds, or an HTTP date
/// (`Sun, 06 Nov 1994 08:49:37 GMT`; a date in the past is no wait). `None` when it is
/// neither.
pub(crate) fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = http_date(value)?;
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(at.saturating_sub(now)))
}

/// Seconds since the Unix epoch of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn http_date(value: &str) -> Option<u64> {
    let mut parts = value.split_ascii_whitespace();
    let _weekday = parts.next()?.strip_suffix(',')?;
    let day: u64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut clock = parts.next()?.split(':').map(|p| p.parse::<u64>().ok());
    let (hour, minute, second) = (clock.next()??, clock.next()??, clock.next()??);
    if parts.next()? != "GMT" || parts.next().is_some() || clock.next().is_some() {
        return None;
    }
    if !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 || year < 1970 {
        return None;
    }
    // Days from the civil date (proleptic Gregorian), after H. Hinnant's algorithm.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = u64::try_from(era * 146_097 + doe - 719_468).ok()?;
    Some(days * 86_400 + hour * 3_600 + minute * 60 + second)
}

/// The outcome of a request that got no response.
fn classify_error(error: &ureq::Error, url: &str) -> DispatchOutcome {
    match error {
        ureq::Error::BadUri(_) | ureq::Error::Http(_) => {
            DispatchOutcome::Rejected(format!("cannot send to {url}: {error}"))
        }
        // The whole request went out; the service may have taken it.
        ureq::Error::Timeout(ureq::Timeout::RecvResponse) => {
            DispatchOutcome::Unanswered(format!("{url} did not answer in time: {error}"))
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
            ("not found", 404, "not found"),
            ("request timeout", 408, "retry"),
            ("too large", 413, "split"),
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
                DispatchOutcome::Retryable(_)
                | DispatchOutcome::RetryAfter(..)
                | DispatchOutcome::Unanswered(_) => "retry",
                DispatchOutcome::Rejected(_) => "rejected",
                DispatchOutcome::TooLarge(_) => "split",
                DispatchOutcome::MustShutDown(_) => "shutdown",
                DispatchOutcome::NotFound(_) => "not found",
            };
            assert_eq!(got, *want, "{label} ({status})");
        }
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_an_http_date() {
        // 2026-11-29 13:00:00 UTC.
        let now = UNIX_EPOCH + Duration::from_secs(1_795_957_200);
        let cases: &[(&str, Option<u64>)] = &[
            ("3", Some(3)),
            (" 120 ", Some(120)),
            ("0", Some(0)),
            ("Sun, 29 Nov 2026 13:00:05 GMT", Some(5)),
            ("Sun, 29 Nov 2026 14:00:00 GMT", Some(3600)),
            ("Sun, 29 Nov 2026 12:59:00 GMT", Some(0)),
            ("Thu, 01 Jan 1970 00:00:00 GMT", Some(0)),
            ("Wed, 01 Mar 2028 00:00:00 GMT", Some(39_524_400)),
            ("-1", None),
            ("1.5", None),
            ("", None),
            ("soon", None),
            ("Sun, 29 Nov 2026 13:00:05 PST", None),
            ("Sun, 32 Nov 2026 13:00:05 GMT", None),
            ("Sun, 29 Foo 2026 13:00:05 GMT", None),
            ("Sun, 29 Nov 2026 25:00:05 GMT", None),
        ];
        for (value, want) in cases {
            assert_eq!(
                retry_after(value, now),
                want.map(Duration::from_secs),
                "{value:?}"
            );
        }
    }

    #[test]
    fn name_resolution_and_connecting_are_bounded_by_the_connect_timeout() {
        let d = HttpDispatcher::builder()
            .connect_timeout(Duration::from_millis(700))
            .read_timeout(Duration::from_secs(3))
            .build();
        let t = d.agent.config().timeouts();
        // The HTTP client resolves names on a helper thread when a resolve timeout is set.
        assert_eq!(t.resolve, Some(Duration::from_millis(700)));
        assert_eq!(t.connect, Some(Duration::from_millis(700)));
        assert_eq!(t.recv_response, Some(Duration::from_secs(3)));
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
            batch_id: String::new(),
        };
        assert!(matches!(d.dispatch(&event), DispatchOutcome::Rejected(_)));
    }
}
