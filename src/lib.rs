//! # decisive
//!
//! Decides Optimizely Feature Experimentation flags locally, from a project datafile, exactly
//! as the official Optimizely SDKs do: A/B tests, targeted deliveries, mutual-exclusion
//! groups, holdouts, audiences, variables and forced decisions.
//!
//! ```
//! use decisive::{Attributes, Client, DecideOption};
//!
//! let datafile = std::fs::read_to_string(concat!(
//!     env!("CARGO_MANIFEST_DIR"),
//!     "/datafiles/quickstart.json"
//! ))?;
//! // Decisions only: this client sends no impressions (see `ClientBuilder` for events).
//! let client = Client::builder().datafile(&datafile).without_events().build()?;
//!
//! let mut attributes = Attributes::new();
//! attributes.insert("country", "US");
//! attributes.insert("app_version", "2.4.1");
//! let user = client.create_user_context("user-123", attributes);
//!
//! let decision = user.decide("checkout_redesign", &[]);
//! println!(
//!     "{} -> enabled: {}, variation: {:?}, rule: {:?}",
//!     decision.flag_key(),
//!     decision.enabled(),
//!     decision.variation_key(),
//!     decision.rule_key()
//! );
//! let button = decision.variables().get("button_color");
//! # let _ = button;
//!
//! for d in user.decide_all(&[DecideOption::EnabledFlagsOnly]).iter() {
//!     println!("{} is on", d.flag_key());
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Layers
//!
//! `datafile` (the JSON as written) → `config` (indexed once, immutable, shared as an `Arc`)
//! → `audience` and `bucketing` → `decision` (pure: config + user → decision) → `client`
//! ([`Client`], [`UserContext`], [`Decision`]). See ARCHITECTURE.md.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod audience;
mod bucketing;
mod client;
mod config;
mod datafile;

/// Internals exposed to the fuzz targets only (`cargo fuzz` builds with `--cfg fuzzing`).
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::datafile::fast::readers_agree;
}
mod decision;
mod event;
mod hash;
mod manager;
pub mod replay;
mod scan;
mod small_list;
mod small_str;
mod value;

pub use bucketing::bucket_value;
pub use client::{
    Client, ClientBuilder, ClientError, ConfigUpdateNotification, DecideOption, Decision,
    DecisionNotification, Decisions, NotificationType, TrackNotification, UserContext,
};
pub use config::{
    ConfigView, ProjectConfig, Region, VariableType, VariableValue, Variables, ViewAttribute,
    ViewAudience, ViewEvent, ViewExperiment, ViewFeature, ViewVariable, ViewVariation,
};
pub use datafile::{DatafileError, IntoDatafileBytes, SUPPORTED_VERSIONS};
pub use decision::{
    DecisionContext, ForcedDecision, UserProfile, UserProfileError, UserProfileService,
};
pub use event::dispatcher::{
    DispatchError, DispatchOutcome, EventDispatcher, FileDispatcher, RecordingDispatcher,
};
pub use event::http::{HttpDispatcher, HttpDispatcherBuilder};
pub use event::payload::{LogEvent, BATCH_ID_HEADER};
pub use event::processor::{BatchEventProcessor, ProcessorOptions, ProcessorStats};
pub use event::spool::{SpoolOptions, SpoolSync};
pub use event::UserEvent;
pub use manager::{
    ConfigManager, DatafileSink, ManagerError, PollingConfigManager, PollingOptions,
    StaticConfigManager,
};
pub use value::{AttributeValue, Attributes, BUCKETING_ID_ATTRIBUTE};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
