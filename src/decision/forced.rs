//! Forced decisions a user context carries: a variation key per flag, or per flag and rule.

/// Names what a forced decision applies to: a whole flag (`rule_key` `None`) or one rule of it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DecisionContext {
    /// The flag key.
    pub flag_key: String,
    /// The rule (experiment or delivery rule) key, or `None` for the whole flag.
    pub rule_key: Option<String>,
}

impl DecisionContext {
    /// A context for `flag_key` and, optionally, one of its rules.
    pub fn new(flag_key: impl Into<String>, rule_key: Option<&str>) -> DecisionContext {
        DecisionContext {
            flag_key: flag_key.into(),
            rule_key: rule_key.map(str::to_owned),
        }
    }
}

/// The variation a forced decision chooses.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ForcedDecision {
    /// The variation key.
    pub variation_key: String,
}

impl ForcedDecision {
    /// Forces `variation_key`.
    pub fn new(variation_key: impl Into<String>) -> ForcedDecision {
        ForcedDecision {
            variation_key: variation_key.into(),
        }
    }
}

/// The forced decisions of one user context, in the order they were set.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ForcedDecisions {
    entries: Vec<(DecisionContext, ForcedDecision)>,
}

impl ForcedDecisions {
    pub(crate) fn set(&mut self, context: DecisionContext, decision: ForcedDecision) {
        match self.entries.iter_mut().find(|(c, _)| *c == context) {
            Some(entry) => entry.1 = decision,
            None => self.entries.push((context, decision)),
        }
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn get(&self, context: &DecisionContext) -> Option<&ForcedDecision> {
        self.lookup(&context.flag_key, context.rule_key.as_deref())
    }

    /// The variation key forced for `flag_key` and `rule_key`, without building a context.
    pub(crate) fn lookup(&self, flag_key: &str, rule_key: Option<&str>) -> Option<&ForcedDecision> {
        if self.entries.is_empty() {
            return None;
        }
        self.entries
            .iter()
            .find(|(c, _)| c.flag_key == flag_key && c.rule_key.as_deref() == rule_key)
            .map(|(_, d)| d)
    }

    pub(crate) fn remove(&mut self, context: &DecisionContext) -> bool {
        let before = self.entries.len();
        self.entries.retain(|(c, _)| c != context);
        self.entries.len() != before
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }
}
