//! The polling config manager: a `decisive-datafile` thread that fetches the datafile at once
//! and then every polling interval, with conditional requests, and hands each new one to the
//! client.

use super::{ConfigManager, DatafileSink, ManagerError};
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};
use parking_lot::Mutex;
use std::io::Read;
use std::sync::Arc;
use std::thread::ThreadId;
use std::time::Duration;

/// The CDN URL of a datafile; `{sdk_key}` is replaced by the SDK key.
pub const DEFAULT_URL_TEMPLATE: &str = "https://cdn.optimizely.com/datafiles/{sdk_key}.json";
/// The URL of an authenticated datafile (used when an access token is given).
pub const DEFAULT_AUTH_URL_TEMPLATE: &str =
    "https://config.optimizely.com/datafiles/auth/{sdk_key}.json";
/// How often the datafile is fetched unless configured.
pub const DEFAULT_POLLING_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// The shortest polling interval accepted; shorter ones are raised to it.
pub const MIN_POLLING_INTERVAL: Duration = Duration::from_secs(1);
/// Below this interval a warning is logged (as the official SDKs do).
const LOW_POLLING_INTERVAL: Duration = Duration::from_secs(30);
/// The bound on each datafile request unless configured.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest datafile accepted.
const MAX_DATAFILE_BYTES: u64 = 64 * 1024 * 1024;
/// How long close waits for the thread to finish.
const CLOSE_WAIT: Duration = Duration::from_millis(200);

/// Settings of a [`PollingConfigManager`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PollingOptions {
    /// The project environment's SDK key.
    pub sdk_key: String,
    /// The datafile URL, `{sdk_key}` replaced by the key (default: the CDN, or the
    /// authenticated endpoint when `access_token` is set).
    pub url_template: Option<String>,
    /// A token for authenticated datafiles, sent as `Authorization: Bearer {token}`.
    pub access_token: Option<String>,
    /// How often to fetch (default 5 minutes; at least 1 s, a warning below 30 s).
    pub interval: Duration,
    /// The bound on each request: resolving, connecting, sending, and receiving (default 10 s).
    pub request_timeout: Duration,
}

impl PollingOptions {
    /// The defaults for `sdk_key`.
    pub fn new(sdk_key: impl Into<String>) -> PollingOptions {
        PollingOptions {
            sdk_key: sdk_key.into(),
            url_template: None,
            access_token: None,
            interval: DEFAULT_POLLING_INTERVAL,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }

    /// The URL fetched.
    pub fn url(&self) -> String {
        let template = match (&self.url_template, &self.access_token) {
            (Some(template), _) => template.as_str(),
            (None, Some(_)) => DEFAULT_AUTH_URL_TEMPLATE,
            (None, None) => DEFAULT_URL_TEMPLATE,
        };
        template.replace("{sdk_key}", &self.sdk_key)
    }

    /// The interval in force.
    fn effective_interval(&self) -> Duration {
        if self.interval < MIN_POLLING_INTERVAL {
            log::warn!(
                target: "decisive",
                "polling interval {:?} is below the minimum; using {MIN_POLLING_INTERVAL:?}",
                self.interval
            );
            MIN_POLLING_INTERVAL
        } else {
            if self.interval < LOW_POLLING_INTERVAL {
                log::warn!(
                    target: "decisive",
                    "polling interval {:?} is below {LOW_POLLING_INTERVAL:?}: many requests to the datafile server",
                    self.interval
                );
            }
            self.interval
        }
    }
}

/// The thread and how to stop it.
struct Running {
    /// Dropping it tells the thread to stop.
    stop: Option<Sender<()>>,
    /// Disconnected when the thread has finished.
    done: Receiver<()>,
    /// The thread's id (close from the thread itself must not wait for it).
    thread: ThreadId,
}

/// Fetches the datafile of an SDK key at start and then every polling interval, on its own
/// `decisive-datafile` thread, and hands each one to the client.
///
/// Requests are conditional (`If-None-Match` with the last `ETag`, `If-Modified-Since` with
/// the last `Last-Modified`); a 304 changes nothing. A failed request, an HTTP error, or a
/// datafile that is not valid JSON or has an unsupported version is logged and the current
/// config is kept; the next interval tries again.
pub struct PollingConfigManager {
    /// The settings.
    options: PollingOptions,
    /// The running thread, once started.
    running: Mutex<Option<Running>>,
}

impl std::fmt::Debug for PollingConfigManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PollingConfigManager")
            .field("url", &self.options.url())
            .field("interval", &self.options.interval)
            .finish_non_exhaustive()
    }
}

impl PollingConfigManager {
    /// A manager with `options`.
    pub fn new(options: PollingOptions) -> PollingConfigManager {
        PollingConfigManager {
            options,
            running: Mutex::new(None),
        }
    }

    /// The settings.
    pub fn options(&self) -> &PollingOptions {
        &self.options
    }
}

impl ConfigManager for PollingConfigManager {
    fn start(&self, sink: Arc<dyn DatafileSink>) -> Result<(), ManagerError> {
        let mut running = self.running.lock();
        if running.is_some() {
            return Ok(());
        }
        let (stop_tx, stop_rx) = bounded::<()>(1);
        let (done_tx, done_rx) = bounded::<()>(0);
        let mut poller = Poller::new(&self.options);
        let interval = self.options.effective_interval();
        let handle = std::thread::Builder::new()
            .name("decisive-datafile".into())
            .spawn(move || {
                let _done = done_tx;
                loop {
                    if sink.is_closed() {
                        return;
                    }
                    poller.poll(&*sink);
                    match stop_rx.recv_timeout(interval) {
                        Err(RecvTimeoutError::Timeout) => {}
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
            })
            .map_err(ManagerError::Spawn)?;
        *running = Some(Running {
            stop: Some(stop_tx),
            done: done_rx,
            thread: handle.thread().id(),
        });
        // The thread is not joined: close waits on `done` with a bound instead, so a request
        // in flight never holds close up for longer.
        drop(handle);
        Ok(())
    }

    fn close(&self) {
        let Some(mut running) = self.running.lock().take() else {
            return;
        };
        drop(running.stop.take());
        if std::thread::current().id() == running.thread {
            return;
        }
        if let Err(RecvTimeoutError::Timeout) = running.done.recv_timeout(CLOSE_WAIT) {
            log::debug!(
                target: "decisive",
                "the datafile thread is finishing a request; it stops after it"
            );
        }
    }
}

impl Drop for PollingConfigManager {
    fn drop(&mut self) {
        self.close();
    }
}

/// One fetch loop's state: the request settings and the validators of the last datafile.
struct Poller {
    /// The HTTP agent (keeps connections between polls).
    agent: ureq::Agent,
    /// The URL fetched.
    url: String,
    /// `Bearer {token}`, for authenticated datafiles.
    authorization: Option<String>,
    /// The last accepted response's `ETag`.
    etag: Option<String>,
    /// The last accepted response's `Last-Modified`.
    last_modified: Option<String>,
}

impl Poller {
    fn new(options: &PollingOptions) -> Poller {
        let timeout = if options.request_timeout.is_zero() {
            DEFAULT_REQUEST_TIMEOUT
        } else {
            options.request_timeout
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build()
            .into();
        Poller {
            agent,
            url: options.url(),
            authorization: options
                .access_token
                .as_ref()
                .map(|token| format!("Bearer {token}")),
            etag: None,
            last_modified: None,
        }
    }

    /// Fetches once and offers a new datafile to `sink`; every failure is logged.
    fn poll(&mut self, sink: &dyn DatafileSink) {
        let mut request = self.agent.get(&self.url);
        if let Some(authorization) = &self.authorization {
            request = request.header("Authorization", authorization);
        }
        if let Some(etag) = &self.etag {
            request = request.header("If-None-Match", etag);
        }
        if let Some(last_modified) = &self.last_modified {
            request = request.header("If-Modified-Since", last_modified);
        }
        let mut response = match request.call() {
            Ok(response) => response,
            Err(e) => {
                log::warn!(target: "decisive", "cannot fetch the datafile from {}: {e}; keeping the current config", self.url);
                return;
            }
        };
        let status = response.status().as_u16();
        match status {
            304 => {
                log::debug!(target: "decisive", "datafile not modified");
                return;
            }
            200..=299 => {}
            403 => {
                log::error!(target: "decisive", "the datafile server refused the request (403): check the SDK key and access token; keeping the current config");
                return;
            }
            _ => {
                log::warn!(target: "decisive", "the datafile server answered {status}; keeping the current config");
                return;
            }
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (etag, last_modified) = (header("etag"), header("last-modified"));
        let mut body = Vec::new();
        if let Err(e) = response
            .body_mut()
            .as_reader()
            .take(MAX_DATAFILE_BYTES)
            .read_to_end(&mut body)
        {
            log::warn!(target: "decisive", "cannot read the datafile from {}: {e}; keeping the current config", self.url);
            return;
        }
        match sink.update(&body) {
            Ok(changed) => {
                if changed {
                    log::info!(target: "decisive", "new datafile from {}", self.url);
                }
                self.etag = etag;
                self.last_modified = last_modified;
            }
            Err(e) => {
                log::warn!(target: "decisive", "the datafile from {} is unusable ({e}); keeping the current config", self.url);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_follows_the_key_the_token_and_the_template() {
        let mut o = PollingOptions::new("KEY");
        assert_eq!(o.url(), "https://cdn.optimizely.com/datafiles/KEY.json");
        o.access_token = Some("t".into());
        assert_eq!(
            o.url(),
            "https://config.optimizely.com/datafiles/auth/KEY.json"
        );
        o.url_template = Some("http://127.0.0.1:9/{sdk_key}/df".into());
        assert_eq!(o.url(), "http://127.0.0.1:9/KEY/df");
    }

    #[test]
    fn a_too_short_interval_is_raised_to_the_minimum() {
        let mut o = PollingOptions::new("KEY");
        o.interval = Duration::from_millis(10);
        assert_eq!(o.effective_interval(), MIN_POLLING_INTERVAL);
        o.interval = Duration::from_secs(2);
        assert_eq!(o.effective_interval(), Duration::from_secs(2));
        assert_eq!(
            PollingOptions::new("KEY").effective_interval(),
            DEFAULT_POLLING_INTERVAL
        );
    }
}
