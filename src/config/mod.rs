//! The project config: everything a decision needs, indexed once when a datafile is loaded.
//!
//! Invariant: a `ProjectConfig` is immutable once built and is shared as an `Arc`; every
//! reference between entities (flag → rules → variations, rule → audiences, rule → group) is
//! resolved to an index at load, so a decision follows indexes and never looks up by string
//! except for the flag key it is given.

mod build;
mod index;
mod variables;
mod view;

pub(crate) use variables::NO_VARIABLES;
pub use variables::{VariableType, VariableValue, Variables};
pub use view::{
    ConfigView, ViewAttribute, ViewAudience, ViewEvent, ViewExperiment, ViewFeature, ViewVariable,
    ViewVariation,
};

use crate::audience::{Audience, Program, Slots, TermSet, Tree};
use crate::bucketing::{Range, ShortId};
use crate::datafile::DatafileError;
use crate::hash::FastMap;
use crate::small_list::{List, Span};
use crate::small_str::SmallStr;
use std::sync::Arc;

/// Where the project's events go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    /// The US endpoint (the default).
    Us,
    /// The EU endpoint.
    Eu,
}

/// What kind of rule an entry of [`ProjectConfig`]'s rule table is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RuleKind {
    /// A top-level or grouped experiment.
    Experiment,
    /// A targeted-delivery rule of a rollout.
    Delivery,
    /// A global or local holdout.
    Holdout,
}

#[derive(Debug, Clone)]
#[allow(dead_code, reason = "read by the event pipeline and the config view")]
pub(crate) struct AttributeDef {
    pub id: SmallStr,
    pub key: SmallStr,
}

#[derive(Debug, Clone)]
pub(crate) struct Variation {
    pub id: SmallStr,
    pub key: SmallStr,
    pub feature_enabled: bool,
}

/// An experiment, delivery rule or holdout.
///
/// The fields a decision reads come first, in declaration order (`repr(C)`), so that deciding
/// a rule touches few cache lines of it.
#[derive(Debug, Clone)]
#[repr(C)]
pub(crate) struct Rule {
    pub running: bool,
    /// False for a rule whose key is empty or blank: the SDKs bucket no one into it.
    pub bucketable: bool,
    pub cmab: bool,
    /// A targeted-delivery experiment (`"type": "td"`): still evaluated for a user in a global
    /// holdout that excludes targeted deliveries.
    pub targeted_delivery: bool,
    /// For a global holdout: whether it lets targeted deliveries run for the users it holds
    /// out (`excludeTargetedDeliveries`).
    pub exclude_targeted_deliveries: bool,
    pub feature_rollout: bool,
    pub kind: RuleKind,
    /// The mutual-exclusion group gating this rule (random policy only).
    pub group: Option<u32>,
    /// Traffic ranges; `None` for a hold-back range or an id that is not one of the rule's
    /// variations.
    pub traffic: List<Range<Option<u32>>, 4>,
    /// Local holdouts that target this rule (indexes into the rule table).
    pub local_holdouts: Vec<u32>,
    /// `audience` with each audience's conditions inlined and flattened: what a decision
    /// evaluates.
    pub matcher: Option<Program>,
    /// `forcedVariations`: user id → variation index (`None` when the key names no variation).
    pub whitelist: FastMap<SmallStr, Option<u32>>,
    /// The rule id as one hashing word, when it is short enough (else it is hashed as text).
    pub short_id: Option<ShortId>,
    /// The rule id (the id index keys a copy).
    pub id: SmallStr,
    pub key: SmallStr,
    pub layer_id: SmallStr,
    /// Global variation indexes.
    pub variations: List<u32, 4>,
}

/// What a decision reads of a rule in the usual case, in one 64-byte record of the config's
/// core table (same index as the rule table); anything else (keys and ids for reasons and user
/// profiles, the whitelist, local holdouts, the group, audiences that are not a few terms) is
/// read from the [`Rule`], which the record's flags say when to consult.
#[derive(Debug, Clone)]
pub(crate) struct RuleCore {
    /// The audience's terms, when [`RuleCore::TERMS`] is set.
    pub terms: TermSet,
    /// The rule id, when it is short enough (else its text is hashed).
    pub short_id: Option<ShortId>,
    /// The rule's traffic ranges: `traffic_len` entries of the config's traffic table from
    /// `traffic_start`.
    pub traffic_start: u32,
    pub traffic_len: u32,
    /// The first range's variation, when [`RuleCore::COVERS_ALL`] is set and
    /// [`RuleCore::COVERS_ALL_NONE`] is not.
    pub first_entity: u32,
    pub flags: u16,
}

impl RuleCore {
    pub const RUNNING: u16 = 1;
    pub const BUCKETABLE: u16 = 1 << 1;
    pub const CMAB: u16 = 1 << 2;
    pub const TARGETED_DELIVERY: u16 = 1 << 3;
    /// In a mutual-exclusion group with a random policy.
    pub const GROUPED: u16 = 1 << 4;
    /// A non-empty whitelist (`forcedVariations`).
    pub const WHITELIST: u16 = 1 << 5;
    /// Local holdouts target the rule.
    pub const LOCAL_HOLDOUTS: u16 = 1 << 6;
    /// An audience, decided by `terms` for a resolved user.
    pub const TERMS: u16 = 1 << 7;
    /// An audience that is not a few terms: the rule's `matcher` decides it.
    pub const MATCHER: u16 = 1 << 8;
    /// The first traffic range takes every bucket: no hash is needed.
    pub const COVERS_ALL: u16 = 1 << 9;
    /// With [`RuleCore::COVERS_ALL`]: that range names no variation.
    pub const COVERS_ALL_NONE: u16 = 1 << 10;

    /// Whether every flag in `flags` is set.
    #[inline(always)]
    pub fn has(&self, flags: u16) -> bool {
        self.flags & flags == flags
    }
}

/// A flag's rules in the config's rule list: `experiments` experiment rules from `start`, then
/// `deliveries` delivery rules.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RuleSpan {
    pub start: u32,
    pub experiments: u32,
    pub deliveries: u32,
}

#[derive(Debug, Clone)]
#[allow(dead_code, reason = "read by the event pipeline and the config view")]
pub(crate) struct Group {
    pub id: SmallStr,
    /// The group id as one hashing word, when it is short enough (else it is hashed as text).
    pub short_id: Option<ShortId>,
    pub policy: SmallStr,
    pub traffic: Vec<Range<SmallStr>>,
}

/// A flag variable's definition, as the build reads it while it makes the flag's variable
/// sets (the config keeps none: its variable table holds each key and type).
#[derive(Debug, Clone)]
pub(crate) struct VariableDef {
    pub id: SmallStr,
    pub key: SmallStr,
    pub kind: VariableType,
}

/// A feature flag. The fields a decision reads come first, in declaration order (`repr(C)`).
#[derive(Debug, Clone)]
#[repr(C)]
pub(crate) struct Flag {
    /// The flag's experiment rules and delivery rules in the config's rule list
    /// ([`ProjectConfig::rules_of`]).
    pub rules: RuleSpan,
    /// Its part of the config's list of enabled flag variations with their variable sets
    /// ([`ProjectConfig::variation_sets_of`]).
    pub variation_sets: Span,
    /// Compared by the flag index.
    pub key: SmallStr,
    /// Its part of the config's list of variable sets ([`ProjectConfig::variable_sets_of`]).
    pub variable_sets: Span,
    pub id: SmallStr,
    pub rollout_id: SmallStr,
    /// Its part of the config's list of flag variations
    /// ([`ProjectConfig::flag_variations_of`]).
    pub flag_variations: Span,
}

#[derive(Debug, Clone)]
#[allow(dead_code, reason = "read by the event pipeline and the config view")]
pub(crate) struct EventDef {
    pub id: SmallStr,
    pub key: SmallStr,
    pub experiment_ids: Vec<SmallStr>,
}

/// An immutable, indexed project config built from one datafile.
///
/// Build one with [`ProjectConfig::from_datafile`]; clients share it behind an `Arc`.
#[derive(Debug)]
#[allow(dead_code, reason = "read by the event pipeline and the config view")]
pub struct ProjectConfig {
    /// Unique among the configs of this process, so that data resolved against one config is
    /// never used with another.
    pub(crate) id: u64,
    /// The slot of every attribute name a condition reads (slot 0: the bucketing id).
    pub(crate) slots: Slots,
    pub(crate) version: SmallStr,
    pub(crate) revision: SmallStr,
    pub(crate) account_id: SmallStr,
    pub(crate) project_id: SmallStr,
    pub(crate) sdk_key: Option<SmallStr>,
    pub(crate) environment_key: Option<SmallStr>,
    pub(crate) anonymize_ip: bool,
    pub(crate) bot_filtering: Option<bool>,
    pub(crate) send_flag_decisions: bool,
    pub(crate) region: Region,
    pub(crate) attributes: Vec<AttributeDef>,
    pub(crate) attribute_index: FastMap<SmallStr, u32>,
    pub(crate) audiences: Vec<Audience>,
    pub(crate) audience_index: FastMap<SmallStr, u32>,
    pub(crate) rules: Vec<Rule>,
    /// What a decision reads of each rule, by rule index.
    pub(crate) cores: Vec<RuleCore>,
    /// Every rule's traffic ranges, one rule after another.
    pub(crate) traffic: Vec<Range<Option<u32>>>,
    /// Every flag's experiment rules then delivery rules, one flag after another.
    pub(crate) rule_list: Vec<u32>,
    /// Experiments and delivery rules by id (holdouts are not in it).
    pub(crate) rule_index: FastMap<SmallStr, u32>,
    pub(crate) variations: Vec<Variation>,
    pub(crate) groups: Vec<Group>,
    pub(crate) flags: Vec<Flag>,
    /// Every flag's enabled variations, each with the index of its variable set among the
    /// flag's sets, one flag after another.
    pub(crate) variation_sets: Vec<(u32, u32)>,
    /// Every flag's typed variable sets, one flag after another: a flag's `[0]` the defaults,
    /// `[1]` the values an enabled variation without a resolvable variable map gets (a
    /// holdout's), then one per enabled flag variation.
    pub(crate) variable_sets: Vec<Variables>,
    /// Every flag's variations (of its rules, first occurrence of each id: what forced
    /// decisions may name), one flag after another.
    pub(crate) flag_variations: Vec<u32>,
    pub(crate) flag_index: index::FlagIndex,
    /// Whether some flag key is listed more than once (the key then finds the last flag).
    pub(crate) repeated_flag_keys: bool,
    pub(crate) events: Vec<EventDef>,
    pub(crate) event_index: FastMap<SmallStr, u32>,
    pub(crate) global_holdouts: Vec<u32>,
    pub(crate) odp_host: Option<SmallStr>,
    pub(crate) odp_public_key: Option<SmallStr>,
    pub(crate) segments: Vec<SmallStr>,
    /// The datafile text and, once asked for, the config view.
    pub(crate) view: view::ViewSource,
}

impl ProjectConfig {
    /// Parses and indexes a datafile; an owned buffer becomes the config's text without a copy.
    pub fn from_datafile(
        datafile: impl crate::datafile::IntoDatafileBytes,
    ) -> Result<ProjectConfig, DatafileError> {
        ProjectConfig::from_text(datafile.into_datafile_text()?)
    }

    /// Parses and indexes a datafile the caller owns: its bytes become the text the config
    /// keeps for its view, without another copy.
    pub(crate) fn from_bytes(bytes: Vec<u8>) -> Result<ProjectConfig, DatafileError> {
        ProjectConfig::from_text(crate::datafile::into_text(bytes)?)
    }

    /// Parses and indexes a datafile's text: it becomes the text the config keeps for its
    /// view, without another copy.
    pub(crate) fn from_text(text: String) -> Result<ProjectConfig, DatafileError> {
        let text = Arc::new(text);
        let parsed = crate::datafile::parse_text(&text)?;
        let mut config = build::build(parsed, &text)?;
        config.view = view::ViewSource::new(text);
        Ok(config)
    }

    /// The datafile version (`"2"`, `"3"` or `"4"`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The datafile revision.
    pub fn revision(&self) -> &str {
        &self.revision
    }

    /// The account id.
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// The project id.
    pub fn project_id(&self) -> &str {
        &self.project_id
    }

    /// The SDK key, if the datafile names one.
    pub fn sdk_key(&self) -> Option<&str> {
        self.sdk_key.as_deref()
    }

    /// The environment key, if the datafile names one.
    pub fn environment_key(&self) -> Option<&str> {
        self.environment_key.as_deref()
    }

    /// Whether events should ask for the visitor's IP to be anonymised.
    pub fn anonymize_ip(&self) -> bool {
        self.anonymize_ip
    }

    /// The datafile's `botFiltering`, when it has one.
    pub fn bot_filtering(&self) -> Option<bool> {
        self.bot_filtering
    }

    /// Whether decisions of delivery rules (and of no rule) send impressions.
    pub fn send_flag_decisions(&self) -> bool {
        self.send_flag_decisions
    }

    /// The region whose event endpoint the project uses.
    pub fn region(&self) -> Region {
        self.region
    }

    /// The flag keys, in datafile order.
    pub fn flag_keys(&self) -> impl Iterator<Item = &str> {
        self.flags.iter().map(|f| f.key.as_ref())
    }

    /// The ODP segments any audience asks about (`qualified` conditions).
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().map(AsRef::as_ref)
    }

    /// The ODP host and public key, when the datafile has an `odp` integration.
    pub fn odp_integration(&self) -> Option<(&str, &str)> {
        Some((self.odp_host.as_deref()?, self.odp_public_key.as_deref()?))
    }

    /// A user's attributes resolved against this config's condition slots.
    pub(crate) fn resolve(
        &self,
        attributes: &crate::value::Attributes,
    ) -> crate::audience::Resolution {
        crate::audience::Resolution::new(attributes, &self.slots)
    }

    /// The enabled variations of `flag`, each with the index of its variable set among the
    /// flag's.
    pub(crate) fn variation_sets_of(&self, flag: &Flag) -> &[(u32, u32)] {
        flag.variation_sets.of(&self.variation_sets)
    }

    /// The typed variable sets of `flag` (see [`ProjectConfig::variable_sets`]).
    pub(crate) fn variable_sets_of(&self, flag: &Flag) -> &[Variables] {
        flag.variable_sets.of(&self.variable_sets)
    }

    /// The variations of `flag`'s rules, first occurrence of each id.
    pub(crate) fn flag_variations_of(&self, flag: &Flag) -> &[u32] {
        flag.flag_variations.of(&self.flag_variations)
    }

    pub(crate) fn flag(&self, key: &str) -> Option<(u32, &Flag)> {
        let idx = self.flag_index.get(key, &self.flags)?;
        Some((idx, self.flags.get(idx as usize)?))
    }

    pub(crate) fn rule(&self, idx: u32) -> Option<&Rule> {
        self.rules.get(idx as usize)
    }

    /// What a decision reads of rule `idx`.
    #[inline(always)]
    pub(crate) fn core(&self, idx: u32) -> Option<&RuleCore> {
        self.cores.get(idx as usize)
    }

    /// The traffic ranges of `core`.
    #[inline(always)]
    pub(crate) fn traffic_of(&self, core: &RuleCore) -> &[Range<Option<u32>>] {
        let start = core.traffic_start as usize;
        self.traffic
            .get(start..start + core.traffic_len as usize)
            .unwrap_or(&[])
    }

    /// The experiment rules and the delivery rules of `flag`.
    #[inline(always)]
    pub(crate) fn rules_of(&self, flag: &Flag) -> (&[u32], &[u32]) {
        let span = flag.rules;
        let start = span.start as usize;
        let mid = start + span.experiments as usize;
        let end = mid + span.deliveries as usize;
        (
            self.rule_list.get(start..mid).unwrap_or(&[]),
            self.rule_list.get(mid..end).unwrap_or(&[]),
        )
    }

    pub(crate) fn variation(&self, idx: u32) -> Option<&Variation> {
        self.variations.get(idx as usize)
    }

    pub(crate) fn group(&self, idx: u32) -> Option<&Group> {
        self.groups.get(idx as usize)
    }
}

#[cfg(test)]
mod tests;
