//! Decide options.

/// An option of a decide call (or a default of the client).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecideOption {
    /// Send no impression event for this decision.
    DisableDecisionEvent,
    /// Leave disabled flags out of `decide_all` and `decide_for_keys` (ignored by `decide`).
    EnabledFlagsOnly,
    /// Neither read nor write the user profile service.
    IgnoreUserProfileService,
    /// Return the reasons for each decision.
    IncludeReasons,
    /// Return no variables.
    ExcludeVariables,
}

impl DecideOption {
    /// Every option.
    pub const ALL: [DecideOption; 5] = [
        DecideOption::DisableDecisionEvent,
        DecideOption::EnabledFlagsOnly,
        DecideOption::IgnoreUserProfileService,
        DecideOption::IncludeReasons,
        DecideOption::ExcludeVariables,
    ];

    /// The official SDKs' name (`DISABLE_DECISION_EVENT`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DecideOption::DisableDecisionEvent => "DISABLE_DECISION_EVENT",
            DecideOption::EnabledFlagsOnly => "ENABLED_FLAGS_ONLY",
            DecideOption::IgnoreUserProfileService => "IGNORE_USER_PROFILE_SERVICE",
            DecideOption::IncludeReasons => "INCLUDE_REASONS",
            DecideOption::ExcludeVariables => "EXCLUDE_VARIABLES",
        }
    }

    /// The option with the official name `name`.
    pub fn from_name(name: &str) -> Option<DecideOption> {
        DecideOption::ALL.into_iter().find(|o| o.name() == name)
    }

    fn bit(self) -> u8 {
        match self {
            DecideOption::DisableDecisionEvent => 1,
            DecideOption::EnabledFlagsOnly => 2,
            DecideOption::IgnoreUserProfileService => 4,
            DecideOption::IncludeReasons => 8,
            DecideOption::ExcludeVariables => 16,
        }
    }
}

/// A set of decide options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct OptionSet(u8);

impl OptionSet {
    pub(crate) fn from_slice(options: &[DecideOption]) -> OptionSet {
        OptionSet(options.iter().fold(0, |acc, o| acc | o.bit()))
    }

    pub(crate) fn union(self, other: OptionSet) -> OptionSet {
        OptionSet(self.0 | other.0)
    }

    pub(crate) fn without(self, option: DecideOption) -> OptionSet {
        OptionSet(self.0 & !option.bit())
    }

    pub(crate) fn has(self, option: DecideOption) -> bool {
        self.0 & option.bit() != 0
    }
}
