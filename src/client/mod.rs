//! The client layer: [`Client`], [`UserContext`] and what decide calls return.
//!
//! Invariant: a decide reads the current config through one short read of an `Arc` and never
//! waits on another decide; a datafile update builds the new config first and swaps it whole,
//! so a decide finishes on the config it started with.

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
use crate::value::Attributes;
use parking_lot::RwLock;
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Why a client could not be built.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientError {
    /// The datafile is unusable.
    Datafile(DatafileError),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Datafile(e) => write!(f, "cannot load the datafile: {e}"),
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Datafile(e) => Some(e),
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
#[derive(Default)]
pub struct ClientBuilder {
    datafile: Option<DatafileSource>,
    default_options: Vec<DecideOption>,
    user_profile_service: Option<Arc<dyn UserProfileService>>,
}

enum DatafileSource {
    Bytes(Vec<u8>),
    Path(std::path::PathBuf),
    /// Already parsed (by [`Client::from_datafile`], which so need not copy the bytes).
    Config(Box<ProjectConfig>),
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

    /// Builds the client. Without a datafile the client starts with no config: decisions carry
    /// an error reason until [`Client::update_datafile`] gives it one.
    pub fn build(self) -> Result<Client, ClientError> {
        let config = match self.datafile {
            None => None,
            Some(DatafileSource::Bytes(bytes)) => Some(ProjectConfig::from_datafile(&bytes)?),
            Some(DatafileSource::Config(config)) => Some(*config),
            Some(DatafileSource::Path(path)) => {
                let bytes = std::fs::read(&path).map_err(|source| DatafileError::Io {
                    path: path.clone(),
                    source,
                })?;
                Some(ProjectConfig::from_datafile(&bytes)?)
            }
        };
        Ok(Client {
            inner: Arc::new(ClientInner {
                config: RwLock::new(config.map(Arc::new)),
                generation: AtomicU64::new(0),
                default_options: OptionSet::from_slice(&self.default_options),
                user_profile_service: self.user_profile_service,
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
        let config = ProjectConfig::from_datafile(datafile)?;
        ClientBuilder {
            datafile: Some(DatafileSource::Config(Box::new(config))),
            ..ClientBuilder::default()
        }
        .build()
    }

    /// A client deciding from the datafile at `path`.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Client, ClientError> {
        Client::builder().datafile_path(path).build()
    }

    /// The current config, if the client has one.
    pub fn config(&self) -> Option<Arc<ProjectConfig>> {
        self.inner.config.read().clone()
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
}
