//! Where a client's datafiles come from: the [`ConfigManager`] trait, a static manager (one
//! datafile, given once) and a polling manager that keeps the datafile fresh from the
//! Optimizely CDN (or any URL) on a thread of its own.
//!
//! Invariant: a manager only hands datafile bytes to a [`DatafileSink`] (the client); parsing,
//! the revision check, the atomic swap and the CONFIG_UPDATE notification are the client's.
//! A manager never holds the client alive, and `close` stops its thread promptly.

mod polling;

pub use polling::{PollingConfigManager, PollingOptions};

use crate::datafile::DatafileError;
use std::fmt;
use std::sync::Arc;

/// Receives the datafiles a [`ConfigManager`] fetches (the client implements it).
pub trait DatafileSink: Send + Sync {
    /// Offers `datafile`: `Ok(true)` when it became the current config (a new revision),
    /// `Ok(false)` when the current config has the same revision, an error (the current
    /// config is kept) when the datafile is unusable.
    fn update(&self, datafile: &[u8]) -> Result<bool, DatafileError>;

    /// Whether the receiver is gone (the client was dropped): the manager should stop.
    fn is_closed(&self) -> bool;
}

/// Why a config manager could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum ManagerError {
    /// The manager's thread could not be started.
    Spawn(std::io::Error),
    /// The static datafile is unusable.
    Datafile(DatafileError),
}

impl fmt::Display for ManagerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManagerError::Spawn(e) => write!(f, "cannot start the datafile thread: {e}"),
            ManagerError::Datafile(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ManagerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ManagerError::Spawn(e) => Some(e),
            ManagerError::Datafile(e) => Some(e),
        }
    }
}

/// A source of datafiles for a client.
///
/// The client calls [`start`](Self::start) once when it is built, and
/// [`close`](Self::close) when it is closed or dropped.
pub trait ConfigManager: Send + Sync {
    /// Starts delivering datafiles to `sink` (a manager with a thread starts it here).
    fn start(&self, sink: Arc<dyn DatafileSink>) -> Result<(), ManagerError>;

    /// Stops delivering; a thread is told to stop and is not waited on beyond a short bound.
    /// Idempotent.
    fn close(&self);
}

/// A manager with one fixed datafile, delivered at start.
#[derive(Debug, Clone)]
pub struct StaticConfigManager {
    /// The datafile.
    datafile: Vec<u8>,
}

impl StaticConfigManager {
    /// A manager delivering `datafile` (JSON text or bytes; an owned buffer is taken without
    /// a copy).
    pub fn new(datafile: impl crate::datafile::IntoDatafileBytes) -> StaticConfigManager {
        StaticConfigManager {
            datafile: datafile.into_datafile_bytes(),
        }
    }

    /// A manager delivering the datafile read from `path` now.
    pub fn from_path(
        path: impl AsRef<std::path::Path>,
    ) -> Result<StaticConfigManager, ManagerError> {
        let path = path.as_ref();
        std::fs::read(path)
            .map(|datafile| StaticConfigManager { datafile })
            .map_err(|source| {
                ManagerError::Datafile(DatafileError::Io {
                    path: path.to_path_buf(),
                    source,
                })
            })
    }
}

impl ConfigManager for StaticConfigManager {
    fn start(&self, sink: Arc<dyn DatafileSink>) -> Result<(), ManagerError> {
        sink.update(&self.datafile)
            .map(|_| ())
            .map_err(ManagerError::Datafile)
    }

    fn close(&self) {}
}
