//! The config view: the read-only summary of a project config that the official SDKs call
//! OptimizelyConfig — revision, keys, attributes, audiences, events, and the experiments and
//! flags by key with their variations and variables.
//!
//! Invariant: a config builds its view at most once, on first request, from the datafile text
//! it keeps (the view shows the datafile as written: `featureEnabled` absent is `None`, a
//! variable's declared type, an experiment's `audienceConditions` only), and every field is
//! what the official Python SDK's OptimizelyConfig holds for the same datafile. Building a
//! config does not build its view.

mod build;
mod conditions;
mod json;

use super::ProjectConfig;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

/// The read-only view of a project config that the official SDKs call OptimizelyConfig.
///
/// Get one from [`Client::config_view`](crate::Client::config_view) or
/// [`ProjectConfig::config_view`]. It serializes (with `serde`) to the field names of the
/// official Python SDK's OptimizelyConfig.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ConfigView {
    /// The datafile revision.
    pub revision: String,
    /// The SDK key (empty when the datafile has none).
    pub sdk_key: String,
    /// The environment key (empty when the datafile has none).
    pub environment_key: String,
    /// The attributes, in datafile order.
    pub attributes: Vec<ViewAttribute>,
    /// The audiences: typed audiences first, then the legacy audiences that no typed audience
    /// replaces (without the placeholder `$opt_dummy_audience`).
    pub audiences: Vec<ViewAudience>,
    /// The conversion events, in datafile order.
    pub events: Vec<ViewEvent>,
    /// Top-level and grouped experiments by key (the last of a repeated key wins). In flag
    /// projects experiment keys need not be unique across flags: prefer
    /// [`ViewFeature::experiment_rules`].
    pub experiments_map: BTreeMap<String, ViewExperiment>,
    /// Flags by key.
    pub features_map: BTreeMap<String, ViewFeature>,
    #[serde(skip)]
    datafile: Datafile,
}

impl ConfigView {
    /// The datafile the config was built from, as given.
    pub fn datafile(&self) -> &str {
        &self.datafile.0
    }
}

/// The datafile text, kept out of `Debug` output.
#[derive(Clone, PartialEq, Default)]
struct Datafile(Arc<String>);

impl fmt::Debug for Datafile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes>", self.0.len())
    }
}

/// A user attribute the project knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ViewAttribute {
    /// The attribute id.
    pub id: String,
    /// The attribute key.
    pub key: String,
}

/// An audience.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ViewAudience {
    /// The audience id.
    pub id: String,
    /// The audience name; `None` when the datafile gives none.
    pub name: Option<String>,
    /// The conditions as a JSON string: a legacy audience's string as written, a typed
    /// audience's tree written as Python's `json.dumps` writes it.
    pub conditions: String,
}

/// A conversion event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ViewEvent {
    /// The event id.
    pub id: String,
    /// The event key.
    pub key: String,
    /// The experiments that count the event.
    pub experiment_ids: Vec<String>,
}

/// An experiment, or a delivery rule of a flag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ViewExperiment {
    /// The experiment id.
    pub id: String,
    /// The experiment key.
    pub key: String,
    /// The audience conditions with audience names for ids, as `"a" OR ("b" AND "c")`; empty
    /// when the rule has no `audienceConditions`.
    pub audiences: String,
    /// The variations by key.
    pub variations_map: BTreeMap<String, ViewVariation>,
}

/// A variation of an experiment or delivery rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ViewVariation {
    /// The variation id.
    pub id: String,
    /// The variation key.
    pub key: String,
    /// `featureEnabled` as the datafile gives it (`None` when absent).
    pub feature_enabled: Option<bool>,
    /// The flag's variables with this variation's values. An experiment's variation shows its
    /// own values over the flag's defaults when it is enabled, the defaults otherwise; a
    /// delivery rule's variation shows the defaults (as the official SDK does); an
    /// experiment of no flag has none.
    pub variables_map: BTreeMap<String, ViewVariable>,
}

/// A flag variable and a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ViewVariable {
    /// The variable id.
    pub id: String,
    /// The variable key.
    pub key: String,
    /// The declared type (`"json"` for a string with sub-type json).
    #[serde(rename = "type")]
    pub kind: String,
    /// The value as the datafile writes it.
    pub value: String,
}

/// A flag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ViewFeature {
    /// The flag id.
    pub id: String,
    /// The flag key.
    pub key: String,
    /// The flag's experiments, in order.
    pub experiment_rules: Vec<ViewExperiment>,
    /// The rules of the flag's rollout, in order (the last is "Everyone Else").
    pub delivery_rules: Vec<ViewExperiment>,
    /// The flag's experiments by key (kept for the official SDKs' deprecated field; prefer
    /// `experiment_rules`).
    pub experiments_map: BTreeMap<String, ViewExperiment>,
    /// The flag's variables with their default values, by key.
    pub variables_map: BTreeMap<String, ViewVariable>,
}

/// What a [`ProjectConfig`] keeps to build its view on request: the datafile text and, once
/// built, the view.
#[derive(Default)]
pub(crate) struct ViewSource {
    datafile: Option<Arc<String>>,
    view: OnceLock<Arc<ConfigView>>,
}

impl ViewSource {
    /// Keeps `datafile` (the text a config was built from) for the view.
    pub(crate) fn new(datafile: Arc<String>) -> ViewSource {
        ViewSource {
            datafile: Some(datafile),
            view: OnceLock::new(),
        }
    }
}

impl fmt::Debug for ViewSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ViewSource")
            .field("built", &self.view.get().is_some())
            .finish()
    }
}

impl ProjectConfig {
    /// The config view (OptimizelyConfig) of this config: built on the first call, then
    /// shared.
    pub fn config_view(&self) -> Arc<ConfigView> {
        Arc::clone(self.view.view.get_or_init(|| {
            let text = self.view.datafile.clone().unwrap_or_default();
            let root = json::loads(&text).unwrap_or(json::Json::Null);
            let mut view = build::build(&root, Datafile(text));
            // A config always has these, even if its text could not be read again.
            if root == json::Json::Null {
                view.revision = self.revision().to_owned();
                view.sdk_key = self.sdk_key().unwrap_or_default().to_owned();
                view.environment_key = self.environment_key().unwrap_or_default().to_owned();
            }
            Arc::new(view)
        }))
    }
}

#[cfg(test)]
mod tests;
