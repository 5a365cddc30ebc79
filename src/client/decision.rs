//! What a decide call returns.

use super::UserContext;
use crate::config::{ProjectConfig, Variables, NO_VARIABLES};
use crate::decision::{FlagDecision, HeldOut, PackedDecision, Source, NONE};
use serde::ser::{Serialize, SerializeStruct, Serializer};
use std::sync::Arc;

fn unpacked(index: u32) -> Option<u32> {
    (index != NONE).then_some(index)
}

/// A decided flag as indexes into its config, each `Option` packed into its `u32` ([`NONE`] for
/// none).
#[derive(Debug, Clone, Copy)]
pub(crate) struct FlagRef {
    /// The rule and the variation, as [`PackedDecision::indexes`].
    indexes: u64,
    /// `NONE` for a key the config does not have (or no config at all).
    flag: u32,
    /// A global holdout the user is in that let targeted deliveries decide the flag: its rule
    /// and variation (`NONE` for none).
    held_rule: u32,
    held_variation: u32,
    source: Source,
    enabled: bool,
    /// Decided with `ExcludeVariables`.
    exclude_variables: bool,
}

impl FlagRef {
    const UNKNOWN: FlagRef = FlagRef {
        indexes: u64::MAX,
        flag: NONE,
        held_rule: NONE,
        held_variation: NONE,
        source: Source::FeatureTest,
        enabled: false,
        exclude_variables: false,
    };

    /// Flag `flag` of the config, decided as `decided`.
    #[inline(always)]
    pub(crate) fn new(
        flag: u32,
        decided: PackedDecision,
        held_out: Option<HeldOut>,
        enabled: bool,
        exclude_variables: bool,
    ) -> FlagRef {
        FlagRef {
            indexes: decided.indexes,
            flag,
            held_rule: held_out.map_or(NONE, |h| h.rule),
            held_variation: held_out.map_or(NONE, |h| h.variation),
            source: decided.source,
            enabled,
            exclude_variables,
        }
    }

    fn flag(&self) -> Option<u32> {
        unpacked(self.flag)
    }

    fn packed(&self) -> PackedDecision {
        PackedDecision {
            indexes: self.indexes,
            source: self.source,
        }
    }

    fn rule(&self) -> Option<u32> {
        unpacked(self.packed().rule())
    }

    fn variation(&self) -> Option<u32> {
        unpacked(self.packed().variation())
    }

    /// The decision and the global holdout that let it be made, if any.
    fn decided(&self) -> (FlagDecision, Option<HeldOut>) {
        let held_out = match (unpacked(self.held_rule), unpacked(self.held_variation)) {
            (Some(rule), Some(variation)) => Some(HeldOut { rule, variation }),
            _ => None,
        };
        (self.packed().unpack(), held_out)
    }
}

/// What a decision holds only when it has it: the key of an unknown flag, and reasons.
#[derive(Debug, Clone)]
struct Extra {
    /// The key asked for, when the config has no such flag (empty for a known flag).
    key: Box<str>,
    reasons: Vec<String>,
}

/// The decision for one flag and one user.
///
/// It borrows its strings from the config it was made with, so making one allocates nothing
/// beyond the reasons asked for.
#[derive(Debug, Clone)]
pub struct Decision {
    user_context: UserContext,
    /// The config decided with, when it is not the one the user context resolved against
    /// (`None`: that one, reached through the user context).
    config: Option<Arc<ProjectConfig>>,
    /// An unknown flag's key and the reasons; `None` for a known flag without reasons.
    extra: Option<Box<Extra>>,
    flag: FlagRef,
}

impl Decision {
    /// The decision `flag` of a known flag, without reasons.
    #[inline(always)]
    pub(crate) fn quiet(
        user_context: UserContext,
        config: Option<Arc<ProjectConfig>>,
        flag: FlagRef,
    ) -> Decision {
        Decision {
            user_context,
            config,
            extra: None,
            flag,
        }
    }

    /// The decision `flag` of a known flag.
    pub(crate) fn known(
        user_context: UserContext,
        config: Option<Arc<ProjectConfig>>,
        flag: FlagRef,
        reasons: Vec<String>,
    ) -> Decision {
        Decision {
            user_context,
            config,
            extra: (!reasons.is_empty()).then(|| {
                Box::new(Extra {
                    key: Box::default(),
                    reasons,
                })
            }),
            flag,
        }
    }

    pub(crate) fn error(key: &str, user_context: UserContext, reasons: Vec<String>) -> Decision {
        Decision {
            user_context,
            config: None,
            extra: Some(Box::new(Extra {
                key: key.into(),
                reasons,
            })),
            flag: FlagRef::UNKNOWN,
        }
    }

    /// The config the decision was made with (`None` for an unknown flag).
    pub(crate) fn config(&self) -> Option<&ProjectConfig> {
        self.flag.flag()?;
        match &self.config {
            Some(config) => Some(config),
            None => self.user_context.resolved_config(),
        }
    }

    /// The flag decision and the global holdout that let it be made (`None` for an unknown
    /// flag).
    pub(crate) fn decided(&self) -> Option<(FlagDecision, Option<HeldOut>)> {
        self.flag.flag().map(|_| self.flag.decided())
    }

    /// The flag key.
    pub fn flag_key(&self) -> &str {
        match self.flag.flag() {
            Some(flag) => self
                .config()
                .and_then(|c| c.flags.get(flag as usize))
                .map_or("", |f| f.key.as_ref()),
            None => self.extra.as_ref().map_or("", |e| &e.key),
        }
    }

    /// Whether the flag is on for the user.
    pub fn enabled(&self) -> bool {
        self.flag.enabled
    }

    /// The key of the variation chosen, if any.
    pub fn variation_key(&self) -> Option<&str> {
        let v = self.flag.variation()?;
        self.config()
            .and_then(|c| c.variation(v))
            .map(|v| v.key.as_ref())
    }

    /// The key of the rule (experiment, delivery rule or holdout) that chose the variation.
    pub fn rule_key(&self) -> Option<&str> {
        let r = self.flag.rule()?;
        self.config()
            .and_then(|c| c.rule(r))
            .map(|r| r.key.as_ref())
    }

    /// The flag's variables with their values for this decision.
    pub fn variables(&self) -> &Variables {
        let Some(flag) = self.flag.flag() else {
            return &NO_VARIABLES;
        };
        if self.flag.exclude_variables {
            return &NO_VARIABLES;
        }
        let Some((config, flag)) = self
            .config()
            .and_then(|c| Some((c, c.flags.get(flag as usize)?)))
        else {
            return &NO_VARIABLES;
        };
        // An enabled variation's own set (the values for no resolvable variable map when it
        // has none); disabled, or no variation: the defaults.
        let set = match (self.flag.enabled, self.flag.variation()) {
            (true, Some(v)) => config
                .variation_sets_of(flag)
                .iter()
                .find(|(var, _)| *var == v)
                .map_or(1, |(_, set)| *set),
            _ => 0,
        };
        config
            .variable_sets_of(flag)
            .get(set as usize)
            .unwrap_or(&NO_VARIABLES)
    }

    /// The user context as it was when the decision was made.
    pub fn user_context(&self) -> &UserContext {
        &self.user_context
    }

    /// Why the decision came out as it did (with `INCLUDE_REASONS`), and any errors.
    pub fn reasons(&self) -> &[String] {
        self.extra.as_ref().map_or(&[], |e| &e.reasons)
    }

    /// The decision as JSON: `flag_key`, `enabled`, `variation_key`, `rule_key`, `variables`,
    /// `user_context` and `reasons`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// The rule type the decision's impression reports.
    #[allow(dead_code, reason = "read by the event pipeline and the config view")]
    pub(crate) fn source(&self) -> Option<Source> {
        self.flag.flag().map(|_| self.flag.source)
    }
}

impl Serialize for Decision {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Decision", 7)?;
        s.serialize_field("flag_key", self.flag_key())?;
        s.serialize_field("enabled", &self.flag.enabled)?;
        s.serialize_field("variation_key", &self.variation_key())?;
        s.serialize_field("rule_key", &self.rule_key())?;
        s.serialize_field("variables", self.variables())?;
        s.serialize_field("user_context", &self.user_context)?;
        s.serialize_field("reasons", self.reasons())?;
        s.end()
    }
}

/// The decisions of a `decide_all` or `decide_for_keys` call, in the order the flags were
/// asked for (datafile order for `decide_all`).
#[derive(Debug, Clone, Default)]
pub struct Decisions {
    pub(crate) list: Vec<Decision>,
}

impl Decisions {
    /// One decision per flag key, as a map keyed by flag key holds them (the official SDKs
    /// return one): at the place the key first came, the last decision made for it. A key
    /// comes twice when the caller asks for it twice or the datafile lists it twice.
    pub(crate) fn keep_one_per_key(&mut self) {
        // Most lists repeat nothing: check the known flags' indexes against a bit set first.
        let mut seen = [0u64; 8];
        let mut unknown = 0;
        let mut repeats = false;
        for d in &self.list {
            match d.flag.flag() {
                Some(idx) if (idx as usize) < seen.len() * 64 => {
                    let (word, bit) = ((idx / 64) as usize, 1u64 << (idx % 64));
                    if let Some(w) = seen.get_mut(word) {
                        repeats |= *w & bit != 0;
                        *w |= bit;
                    }
                }
                _ => unknown += 1,
            }
        }
        if !repeats && unknown < 2 {
            return;
        }
        let mut kept: Vec<Decision> = Vec::with_capacity(self.list.len());
        for d in self.list.drain(..) {
            match kept.iter_mut().find(|k| k.flag_key() == d.flag_key()) {
                Some(earlier) => *earlier = d,
                None => kept.push(d),
            }
        }
        self.list = kept;
    }

    /// The decision for `flag_key`.
    pub fn get(&self, flag_key: &str) -> Option<&Decision> {
        self.list.iter().find(|d| d.flag_key() == flag_key)
    }

    /// The decisions in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Decision> {
        self.list.iter()
    }

    /// The flag keys in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.list.iter().map(Decision::flag_key)
    }

    /// The number of decisions.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

impl IntoIterator for Decisions {
    type Item = Decision;
    type IntoIter = std::vec::IntoIter<Decision>;
    fn into_iter(self) -> Self::IntoIter {
        self.list.into_iter()
    }
}

impl<'a> IntoIterator for &'a Decisions {
    type Item = &'a Decision;
    type IntoIter = std::slice::Iter<'a, Decision>;
    fn into_iter(self) -> Self::IntoIter {
        self.list.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::Decision;

    /// A `decide_all` writes one per flag: the packed indexes, the user context, the config
    /// (when not the user context's) and one optional box for an unknown key and reasons.
    #[test]
    fn a_decision_takes_48_bytes() {
        assert!(std::mem::size_of::<Decision>() <= 48);
    }
}
