//! The client layer: [`Client`], [`UserContext`] and what decide calls return.
//!
//! Invariant: a decide reads the current config through one short read of an `Arc` and never
//! waits on another decide; a datafile update builds the new config first and swaps it whole,
//! so a decide finishes on the config it started with. Impressions and conversions go to the
//! client's [`BatchEventProcessor`] without blocking; the processor closes (delivering what is
//! queued, within its close timeout) on [`Client::close`] or when the last handle is dropped.

mod decision;
mod options;
mod user;

pub use decision::{Decision, Decisions};
pub use options::DecideOption;
pub use user::UserContext;

pub(crate) use decision::FlagRef;
pub(crate) use options::OptionSet;

use crate::config::ProjectConfig;
use crate::datafile::DatafileError;
use crate::decision::UserProfileService;
use crate::event::dispatcher::{DispatchError, DispatchOutcome, EventDispatcher};
use crate::event::http::HttpDispatcher;
use crate::event::processor::{BatchEventProcessor, ProcessorOptions, ProcessorStats};
use crate::event::{EventError, LogEvent};
use crate::value::Attributes;
use parking_lot::RwLock;
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What went wrong building a client or in one of its calls.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientError {
    /// The datafile is unusable.
    Datafile(DatafileError),
    /// The event thread could not be started.
    Events(DispatchError),
    /// The client has no valid datafile yet.
    NotReady,
    /// `track_event` named an event key the datafile does not list; nothing was sent.
    UnknownEvent(String),
    /// The event was dropped (queue full, or the client closed) and counted in the event
    /// stats.
    EventDropped,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Datafile(e) => write!(f, "cannot load the datafile: {e}"),
            ClientError::Events(e) => write!(f, "cannot start the event processor: {e}"),
            ClientError::NotReady => f.write_str("the client has no valid datafile yet"),
            ClientError::UnknownEvent(key) => {
                write!(
                    f,
                    "event key {key:?} is not in the datafile; nothing tracked"
                )
            }
            ClientError::EventDropped => f.write_str(
                "the event was dropped: the event queue is full or the client is closed",
            ),
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Datafile(e) => Some(e),
            ClientError::Events(e) => Some(e),
            _ => None,
        }
    }
}

impl From<EventError> for ClientError {
    fn from(e: EventError) -> Self {
        match e {
            EventError::UnknownEvent(key) => ClientError::UnknownEvent(key),
        }
    }
}

impl From<DatafileError> for ClientError {
    fn from(e: DatafileError) -> Self {
        ClientError::Datafile(e)
    }
}

pub(crate) struct ClientInner {
    config: RwLock<Option<Arc<ProjectConfig>>>,
    /// Bumped (under the write lock, after the swap) on every config change, so that user
    /// contexts can tell whether the config they resolved against is still current without
    /// taking the lock.
    generation: AtomicU64,
    pub(crate) default_options: OptionSet,
    pub(crate) user_profile_service: Option<Arc<dyn UserProfileService>>,
    /// Where impressions and conversions go; `None` for a client built without events.
    pub(crate) events: Option<BatchEventProcessor>,
}

/// The SDK client: holds the current project config and makes user contexts.
///
/// `Client` is a handle: cloning it is cheap (one reference count) and every clone shares the
/// same config. It is `Send + Sync`; share it across threads freely. Build one with
/// [`Client::from_datafile`], [`Client::from_path`] or [`Client::builder`].
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<ClientInner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("revision", &self.config().map(|c| c.revision().to_owned()))
            .finish()
    }
}

/// Builds a [`Client`].
///
/// By default the client sends its events through an [`HttpDispatcher`] to the Optimizely
/// event endpoint of the datafile's region, with [`ProcessorOptions::default`].
#[derive(Default)]
pub struct ClientBuilder {
    datafile: Option<DatafileSource>,
    default_options: Vec<DecideOption>,
    user_profile_service: Option<Arc<dyn UserProfileService>>,
    dispatcher: Option<Box<dyn EventDispatcher>>,
    processor_options: ProcessorOptions,
    without_events: bool,
}

enum DatafileSource {
    Bytes(Vec<u8>),
    Path(std::path::PathBuf),
}

impl ClientBuilder {
    /// Uses the datafile `datafile` (JSON text or bytes).
    pub fn datafile(mut self, datafile: impl AsRef<[u8]>) -> ClientBuilder {
        self.datafile = Some(DatafileSource::Bytes(datafile.as_ref().to_vec()));
        self
    }

    /// Reads the datafile from the file at `path` when the client is built.
    pub fn datafile_path(mut self, path: impl AsRef<Path>) -> ClientBuilder {
        self.datafile = Some(DatafileSource::Path(path.as_ref().to_path_buf()));
        self
    }

    /// Options applied to every decide call, in addition to the call's own.
    pub fn default_decide_options(mut self, options: &[DecideOption]) -> ClientBuilder {
        self.default_options = options.to_vec();
        self
    }

    /// Sticky bucketing through `service`.
    pub fn user_profile_service(
        mut self,
        service: impl UserProfileService + 'static,
    ) -> ClientBuilder {
        self.user_profile_service = Some(Arc::new(service));
        self
    }

    /// Sends event batches through `dispatcher` instead of the default [`HttpDispatcher`]
    /// (a [`RecordingDispatcher`](crate::RecordingDispatcher) in tests, a
    /// [`FileDispatcher`](crate::FileDispatcher) in local development, or your own).
    pub fn event_dispatcher(mut self, dispatcher: impl EventDispatcher + 'static) -> ClientBuilder {
        self.dispatcher = Some(Box::new(dispatcher));
        self
    }

    /// Batching, queueing, retry and close settings of the event processor.
    pub fn event_processor_options(mut self, options: ProcessorOptions) -> ClientBuilder {
        self.processor_options = options;
        self
    }

    /// Builds a client that sends no events at all (no event thread): decisions only.
    pub fn without_events(mut self) -> ClientBuilder {
        self.without_events = true;
        self
    }

    /// Builds the client. Without a datafile the client starts with no config: decisions carry
    /// an error reason until [`Client::update_datafile`] gives it one.
    pub fn build(self) -> Result<Client, ClientError> {
        let config = match self.datafile {
            None => None,
            Some(DatafileSource::Bytes(bytes)) => Some(ProjectConfig::from_datafile(&bytes)?),
            Some(DatafileSource::Path(path)) => {
                let bytes = std::fs::read(&path).map_err(|source| DatafileError::Io {
                    path: path.clone(),
                    source,
                })?;
                Some(ProjectConfig::from_datafile(&bytes)?)
            }
        };
        let events = if self.without_events {
            None
        } else {
            let dispatcher = self
                .dispatcher
                .unwrap_or_else(|| Box::new(HttpDispatcher::new()));
            Some(
                BatchEventProcessor::new(dispatcher, self.processor_options)
                    .map_err(ClientError::Events)?,
            )
        };
        Ok(Client {
            inner: Arc::new(ClientInner {
                config: RwLock::new(config.map(Arc::new)),
                generation: AtomicU64::new(0),
                default_options: OptionSet::from_slice(&self.default_options),
                user_profile_service: self.user_profile_service,
                events,
            }),
        })
    }
}

impl Client {
    /// A builder for a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client deciding from `datafile` (JSON text or bytes).
    pub fn from_datafile(datafile: impl AsRef<[u8]>) -> Result<Client, ClientError> {
        Client::builder().datafile(datafile).build()
    }

    /// A client deciding from the datafile at `path`.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Client, ClientError> {
        Client::builder().datafile_path(path).build()
    }

    /// The current config, if the client has one.
    pub fn config(&self) -> Option<Arc<ProjectConfig>> {
        self.inner.config.read().clone()
    }

    /// The config view (the official SDKs' OptimizelyConfig) of the current config: revision,
    /// attributes, audiences, events, experiments and flags with their variations and
    /// variables. Built once per config, on the first call; `None` without a config.
    pub fn config_view(&self) -> Option<Arc<crate::config::ConfigView>> {
        self.config().map(|config| config.config_view())
    }

    /// The config generation and the current config, read together.
    pub(crate) fn current(&self) -> (u64, Option<Arc<ProjectConfig>>) {
        let slot = self.inner.config.read();
        (self.inner.generation.load(Ordering::Acquire), slot.clone())
    }

    pub(crate) fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }

    /// Replaces the config with one built from `datafile`. Returns `Ok(true)` when the revision
    /// changed, `Ok(false)` when the new datafile has the current revision (nothing changes),
    /// and an error (keeping the current config) when the datafile is unusable.
    pub fn update_datafile(&self, datafile: impl AsRef<[u8]>) -> Result<bool, DatafileError> {
        let config = ProjectConfig::from_datafile(datafile)?;
        let mut slot = self.inner.config.write();
        if slot
            .as_ref()
            .is_some_and(|c| c.revision() == config.revision())
        {
            return Ok(false);
        }
        *slot = Some(Arc::new(config));
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        Ok(true)
    }

    /// A user context for `user_id` with `attributes`.
    pub fn create_user_context(
        &self,
        user_id: impl Into<String>,
        attributes: Attributes,
    ) -> UserContext {
        UserContext::new(self.clone(), user_id.into(), attributes)
    }

    /// Asks the event thread to send what is queued now; returns at once.
    pub fn flush_events(&self) {
        if let Some(events) = &self.inner.events {
            events.flush();
        }
    }

    /// Sends what is queued and waits up to `timeout`: true when every event queued before
    /// the call was delivered or finally failed (see [`BatchEventProcessor::flush_blocking`]);
    /// true at once for a client without events.
    pub fn flush_events_blocking(&self, timeout: Duration) -> bool {
        self.inner
            .events
            .as_ref()
            .map_or(true, |events| events.flush_blocking(timeout))
    }

    /// Closes the client's event processor: no more events are accepted (decisions go on),
    /// what is queued is delivered within the processor's close timeout, and the event thread
    /// stops. True when it stopped in time. Dropping the last handle of the client (user
    /// contexts and decisions hold one) does the same.
    pub fn close(&self) -> bool {
        self.inner
            .events
            .as_ref()
            .map_or(true, |events| events.close())
    }

    /// The event processor's counters; `None` for a client without events.
    pub fn event_stats(&self) -> Option<ProcessorStats> {
        self.inner.events.as_ref().map(BatchEventProcessor::stats)
    }

    /// Calls `callback` on the event thread after each batch's last attempt, with the request
    /// and its outcome. Returns the id to remove it with, or `None` for a client without
    /// events. A panicking callback is logged and does not stop delivery; a callback that
    /// holds a handle of this client keeps the client alive until it is removed or the
    /// client is closed.
    pub fn on_log_event<F>(&self, callback: F) -> Option<u64>
    where
        F: Fn(&LogEvent, &DispatchOutcome) + Send + Sync + 'static,
    {
        self.inner
            .events
            .as_ref()
            .map(|events| events.on_log_event(callback))
    }

    /// Removes the log-event listener `id`; false when there is none.
    pub fn remove_log_event_listener(&self, id: u64) -> bool {
        self.inner
            .events
            .as_ref()
            .is_some_and(|events| events.remove_log_event_listener(id))
    }
}
