//! The client layer: [`Client`], [`UserContext`] and what decide calls return.
//!
//! Invariant: a decide reads the current config through one short read of an `Arc` and never
//! waits on another decide; a datafile update builds the new config first and swaps it whole,
//! so a decide finishes on the config it started with. Impressions and conversions go to the
//! client's [`BatchEventProcessor`] without blocking; the processor closes (delivering what is
//! queued, within its close timeout) on [`Client::close`] or when the last handle is dropped.

mod decision;
mod notify;
mod options;
mod user;

pub use decision::{Decision, Decisions};
pub use notify::{
    ConfigUpdateNotification, DecisionNotification, NotificationType, TrackNotification,
};
pub use options::DecideOption;
pub use user::UserContext;

pub(crate) use decision::FlagRef;
pub(crate) use options::OptionSet;

use crate::config::ProjectConfig;
use crate::datafile::{DatafileError, IntoDatafileBytes};
use crate::decision::UserProfileService;
use crate::event::dispatcher::{DispatchError, DispatchOutcome, EventDispatcher};
use crate::event::http::HttpDispatcher;
use crate::event::processor::{BatchEventProcessor, ProcessorOptions, ProcessorStats};
use crate::event::{EventError, LogEvent};
use crate::manager::{
    ConfigManager, DatafileSink, ManagerError, PollingConfigManager, PollingOptions,
};
use crate::value::Attributes;
use parking_lot::{Condvar, Mutex, RwLock};
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// What went wrong building a client or in one of its calls.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientError {
    /// The datafile is unusable.
    Datafile(DatafileError),
    /// The event thread could not be started.
    Events(DispatchError),
    /// The config manager could not be started.
    Manager(ManagerError),
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
            ClientError::Manager(e) => write!(f, "cannot start the config manager: {e}"),
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
            ClientError::Manager(e) => Some(e),
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
    /// The listeners.
    pub(crate) notifications: notify::Notifications,
    /// Where datafiles come from after the first, if anywhere.
    manager: Option<Box<dyn ConfigManager>>,
    /// Set (and signalled) once the client has a config and its CONFIG_UPDATE listeners have
    /// run: not the same as the config being there, which happens before the listeners.
    ready: (Mutex<bool>, Condvar),
}

impl Drop for ClientInner {
    fn drop(&mut self) {
        if let Some(manager) = &self.manager {
            manager.close();
        }
    }
}

/// The client as its config manager sees it: datafiles go to the client while it lives.
struct ClientSink(Weak<ClientInner>);

impl DatafileSink for ClientSink {
    fn update(&self, datafile: &[u8]) -> Result<bool, DatafileError> {
        match self.0.upgrade() {
            Some(inner) => Client { inner }.update_datafile(datafile),
            None => Ok(false),
        }
    }

    fn is_closed(&self) -> bool {
        self.0.strong_count() == 0
    }
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
    manager: Option<Box<dyn ConfigManager>>,
    wait_for_datafile: Option<Duration>,
}

enum DatafileSource {
    /// The datafile's text, or why it is not text.
    Text(Result<String, DatafileError>),
    Path(std::path::PathBuf),
}

impl ClientBuilder {
    /// Uses the datafile `datafile` (JSON text or bytes; an owned buffer is taken without a
    /// copy).
    pub fn datafile(mut self, datafile: impl IntoDatafileBytes) -> ClientBuilder {
        self.datafile = Some(DatafileSource::Text(datafile.into_datafile_text()));
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

    /// Keeps the datafile of `sdk_key` fresh from the Optimizely CDN with the default
    /// [`PollingOptions`] (a fetch at once, then every 5 minutes). A datafile given with
    /// [`datafile`](Self::datafile) is the fallback used until the first download.
    pub fn sdk_key(self, sdk_key: impl Into<String>) -> ClientBuilder {
        self.polling(PollingOptions::new(sdk_key))
    }

    /// Keeps the datafile fresh with a [`PollingConfigManager`] with `options`.
    pub fn polling(self, options: PollingOptions) -> ClientBuilder {
        self.config_manager(PollingConfigManager::new(options))
    }

    /// Takes datafiles from `manager` (started when the client is built, closed with it).
    pub fn config_manager(mut self, manager: impl ConfigManager + 'static) -> ClientBuilder {
        self.manager = Some(Box::new(manager));
        self
    }

    /// Makes `build` wait up to `timeout` for the config manager's first datafile when there
    /// is no fallback datafile. Without it (or when the wait times out) the client starts at
    /// once and decisions carry a not-ready error reason until a datafile arrives.
    pub fn wait_for_datafile(mut self, timeout: Duration) -> ClientBuilder {
        self.wait_for_datafile = Some(timeout);
        self
    }

    /// Keeps events in a durable spool in `dir` (created if missing): each batch is written
    /// there before it is sent and removed once delivered or finally rejected, so batches
    /// survive an outage of the event server, `close`, and a crash; a client started later
    /// on the same directory sends what it finds. For the size bound and the sync policy, set
    /// [`ProcessorOptions::spool`] instead (this replaces the spool of options given before).
    pub fn event_spool(mut self, dir: impl Into<std::path::PathBuf>) -> ClientBuilder {
        self.processor_options.spool = Some(crate::event::spool::SpoolOptions::new(dir));
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
        // The event thread starts first, so that it gets going on the other core while the
        // datafile is read. With a spool it starts after a good config only: a client whose
        // datafile is broken leaves the spool's batches to the next one.
        let spooled = self.processor_options.spool.is_some();
        let (events, config) = if spooled {
            let config = self.datafile.map(read_config).transpose()?;
            let events =
                start_events(self.without_events, self.dispatcher, self.processor_options)?;
            (events, config)
        } else {
            let events =
                start_events(self.without_events, self.dispatcher, self.processor_options)?;
            (events, self.datafile.map(read_config).transpose()?)
        };
        let ready = config.is_some();
        let client = Client {
            inner: Arc::new(ClientInner {
                config: RwLock::new(config.map(Arc::new)),
                generation: AtomicU64::new(0),
                default_options: OptionSet::from_slice(&self.default_options),
                user_profile_service: self.user_profile_service,
                events,
                notifications: notify::Notifications::default(),
                manager: self.manager,
                ready: (Mutex::new(ready), Condvar::new()),
            }),
        };
        if let Some(manager) = &client.inner.manager {
            let sink = Arc::new(ClientSink(Arc::downgrade(&client.inner)));
            manager.start(sink).map_err(ClientError::Manager)?;
            if let Some(timeout) = self.wait_for_datafile {
                if !client.wait_until_ready(timeout) {
                    log::warn!(
                        target: "decisive",
                        "no datafile within {timeout:?}; deciding with an error reason until one arrives"
                    );
                }
            }
        }
        Ok(client)
    }
}

/// The config of a datafile source: its text parsed, or the file at its path read and parsed.
fn read_config(source: DatafileSource) -> Result<ProjectConfig, ClientError> {
    Ok(match source {
        DatafileSource::Text(text) => ProjectConfig::from_text(text?)?,
        DatafileSource::Path(path) => {
            let bytes = std::fs::read(&path).map_err(|source| DatafileError::Io {
                path: path.clone(),
                source,
            })?;
            ProjectConfig::from_bytes(bytes)?
        }
    })
}

/// The client's event processor, its thread started; none for a client without events.
fn start_events(
    without_events: bool,
    dispatcher: Option<Box<dyn EventDispatcher>>,
    options: ProcessorOptions,
) -> Result<Option<BatchEventProcessor>, ClientError> {
    if without_events {
        return Ok(None);
    }
    let dispatcher = dispatcher.unwrap_or_else(|| Box::new(HttpDispatcher::new()));
    BatchEventProcessor::new(dispatcher, options)
        .map(Some)
        .map_err(ClientError::Events)
}

impl Client {
    /// A builder for a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client deciding from `datafile` (JSON text or bytes; an owned buffer is taken
    /// without a copy).
    pub fn from_datafile(datafile: impl IntoDatafileBytes) -> Result<Client, ClientError> {
        Client::builder().datafile(datafile).build()
    }

    /// A client deciding from the datafile at `path`.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Client, ClientError> {
        Client::builder().datafile_path(path).build()
    }

    /// Waits up to `timeout` until the client has a config; true when it has one.
    pub fn wait_until_ready(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let (ready, signal) = &self.inner.ready;
        let mut ready = ready.lock();
        while !*ready {
            if signal.wait_until(&mut ready, deadline).timed_out() {
                return *ready;
            }
        }
        true
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
    pub fn update_datafile(&self, datafile: impl IntoDatafileBytes) -> Result<bool, DatafileError> {
        let config = Arc::new(ProjectConfig::from_datafile(datafile)?);
        {
            let mut slot = self.inner.config.write();
            if slot
                .as_ref()
                .is_some_and(|c| c.revision() == config.revision())
            {
                return Ok(false);
            }
            *slot = Some(Arc::clone(&config));
            self.inner.generation.fetch_add(1, Ordering::AcqRel);
        }
        let update = ConfigUpdateNotification {
            revision: config.revision(),
        };
        self.inner
            .notifications
            .config_update
            .each("config-update", |listener| listener(&update));
        // After the listeners: whoever waited for the first config finds its notification done.
        let (ready, signal) = &self.inner.ready;
        let mut ready = ready.lock();
        if !*ready {
            *ready = true;
            signal.notify_all();
        }
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
            .is_none_or(|events| events.flush_blocking(timeout))
    }

    /// Closes the client: the datafile poller (if any) stops, no more events are accepted
    /// (decisions go on, on the current config), what is queued is delivered within the
    /// processor's close timeout, and the event thread stops. True when it stopped in time. Dropping the last handle of the client (user
    /// contexts and decisions hold one) does the same.
    pub fn close(&self) -> bool {
        if let Some(manager) = &self.inner.manager {
            manager.close();
        }
        self.inner
            .events
            .as_ref()
            .is_none_or(|events| events.close())
    }

    /// The event processor's counters; `None` for a client without events.
    pub fn event_stats(&self) -> Option<ProcessorStats> {
        self.inner.events.as_ref().map(BatchEventProcessor::stats)
    }

    /// Calls `callback` on the event thread after each batch's last attempt, with the request
    /// and its outcome (LOG_EVENT). Returns the id to remove it with, or `None` for a client
    /// without events. A panicking callback is logged and does not stop delivery; a callback
    /// that holds a handle of this client keeps the client alive until it is removed or the
    /// client is closed.
    pub fn on_log_event<F>(&self, callback: F) -> Option<u64>
    where
        F: Fn(&LogEvent, &DispatchOutcome) + Send + Sync + 'static,
    {
        let events = self.inner.events.as_ref()?;
        let notifications = &self.inner.notifications;
        let mut ids = notifications.log_event.lock();
        let id = notifications.next_id();
        ids.push((id, events.on_log_event(callback)));
        Some(id)
    }

    /// Calls `callback` after every flag decision of a known flag (DECISION, type `flag`), on
    /// the deciding thread, after the impression was queued. Returns the id to remove it with.
    /// Keep it short: the decide waits for it.
    pub fn add_decision_listener<F>(&self, callback: F) -> u64
    where
        F: Fn(&DecisionNotification<'_>) + Send + Sync + 'static,
    {
        self.inner.notifications.add_decision(Arc::new(callback))
    }

    /// Calls `callback` after each conversion `track_event` queued (TRACK), on the tracking
    /// thread. Returns the id to remove it with.
    pub fn add_track_listener<F>(&self, callback: F) -> u64
    where
        F: Fn(&TrackNotification<'_>) + Send + Sync + 'static,
    {
        self.inner.notifications.add_track(Arc::new(callback))
    }

    /// Calls `callback` after each change of the config to a new revision (CONFIG_UPDATE), on
    /// the thread that made the change. Returns the id to remove it with.
    pub fn add_config_update_listener<F>(&self, callback: F) -> u64
    where
        F: Fn(&ConfigUpdateNotification<'_>) + Send + Sync + 'static,
    {
        self.inner
            .notifications
            .add_config_update(Arc::new(callback))
    }

    /// Removes the listener `id`, of any type; false when there is none. Takes effect for
    /// notifications raised after it returns.
    pub fn remove_listener(&self, id: u64) -> bool {
        let notifications = &self.inner.notifications;
        if notifications.remove_typed(id) {
            return true;
        }
        let mut ids = notifications.log_event.lock();
        let Some(at) = ids.iter().position(|(ours, _)| *ours == id) else {
            return false;
        };
        let (_, theirs) = ids.remove(at);
        self.inner
            .events
            .as_ref()
            .is_some_and(|events| events.remove_log_event_listener(theirs))
    }

    /// Removes every listener of `kind`.
    pub fn clear_listeners(&self, kind: NotificationType) {
        let notifications = &self.inner.notifications;
        if kind != NotificationType::LogEvent {
            notifications.clear_typed(kind);
            return;
        }
        let ids = std::mem::take(&mut *notifications.log_event.lock());
        if let Some(events) = &self.inner.events {
            for (_, theirs) in ids {
                events.remove_log_event_listener(theirs);
            }
        }
    }

    /// Removes every listener of every type.
    pub fn clear_all_listeners(&self) {
        for kind in [
            NotificationType::Decision,
            NotificationType::Track,
            NotificationType::LogEvent,
            NotificationType::ConfigUpdate,
        ] {
            self.clear_listeners(kind);
        }
    }
}
