//! The user context: a user id, attributes, qualified segments and forced decisions, and the
//! decide calls made for that user.

use super::{
    Client, ClientError, DecideOption, Decision, DecisionNotification, Decisions, FlagRef,
    OptionSet, TrackNotification,
};
use crate::audience::{AttributeView, Resolution};
use crate::bucketing::BucketingKey;
use crate::config::ProjectConfig;
use crate::decision::{
    self, DecisionContext, ForcedDecision, ForcedDecisions, PackedDecision, ProfileTracker,
    Reasons, Settings, User,
};
use crate::event::{self, Decided, Tracked, Visitor};
use crate::value::BUCKETING_ID_ATTRIBUTE;
use crate::value::{AttributeValue, Attributes};
use serde::ser::{Serialize, SerializeStruct, Serializer};
use serde_json::{Map, Value};
use std::sync::Arc;

#[derive(Clone)]
struct UserData {
    client: Client,
    /// The user id and attributes, shared with the events this user's decisions make.
    visitor: Arc<Visitor>,
    segments: Option<Vec<String>>,
    forced: ForcedDecisions,
    /// The config current when the attributes were last resolved, and the attribute index of
    /// each of its condition slots.
    resolved: Option<Resolved>,
}

/// The config a call decides with.
enum Current<'a> {
    /// The one the user context resolved its attributes against (decisions reach it through
    /// their user context).
    Resolved(&'a Arc<ProjectConfig>),
    /// A newer one from the client.
    Fresh(Arc<ProjectConfig>),
}

impl Current<'_> {
    fn arc(&self) -> &Arc<ProjectConfig> {
        match self {
            Current::Resolved(config) => config,
            Current::Fresh(config) => config,
        }
    }

    /// What a decision must hold to reach the config: nothing when its user context has it.
    fn for_decision(&self) -> Option<Arc<ProjectConfig>> {
        match self {
            Current::Resolved(_) => None,
            Current::Fresh(config) => Some(Arc::clone(config)),
        }
    }
}

impl std::ops::Deref for Current<'_> {
    type Target = ProjectConfig;

    fn deref(&self) -> &ProjectConfig {
        self.arc()
    }
}

#[derive(Clone)]
struct Resolved {
    config: Arc<ProjectConfig>,
    generation: u64,
    resolution: Resolution,
    bucketing: BucketingKey,
}

impl UserData {
    fn resolve(&mut self) {
        let (generation, config) = self.client.current();
        self.resolved = config.map(|config| Resolved {
            resolution: config.resolve(&self.visitor.attributes),
            bucketing: BucketingKey::new(
                match self.visitor.attributes.get(BUCKETING_ID_ATTRIBUTE) {
                    Some(AttributeValue::String(id)) => id,
                    _ => &self.visitor.user_id,
                },
            ),
            config,
            generation,
        });
    }

    /// The client's current config: the resolved one while no update has happened since,
    /// borrowed, without touching the client's lock or its reference count.
    fn config(&self) -> Option<Current<'_>> {
        match &self.resolved {
            Some(r) if r.generation == self.client.generation() => {
                Some(Current::Resolved(&r.config))
            }
            _ => self.client.current().1.map(Current::Fresh),
        }
    }

    /// The user as a decision with `config` sees them.
    fn user(&self, config: &ProjectConfig) -> User<'_> {
        let resolved = self.resolved.as_ref().filter(|r| r.config.id == config.id);
        User {
            id: &self.visitor.user_id,
            attributes: match resolved {
                Some(r) => AttributeView::resolved(&self.visitor.attributes, &r.resolution),
                None => AttributeView::by_name(&self.visitor.attributes),
            },
            segments: self.segments.as_deref().unwrap_or(&[]),
            forced: &self.forced,
            bucketing: resolved.map(|r| r.bucketing),
        }
    }
}

/// One user, as the SDK decides for them.
///
/// Cloning is cheap: the user's data is shared until one of the clones changes it. A
/// [`Decision`] keeps a clone made at decide time, so later changes do not alter it.
#[derive(Clone)]
pub struct UserContext {
    data: Arc<UserData>,
}

impl std::fmt::Debug for UserContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserContext")
            .field("user_id", &self.data.visitor.user_id)
            .field("attributes", &self.data.visitor.attributes)
            .finish()
    }
}

impl PartialEq for UserContext {
    fn eq(&self, other: &Self) -> bool {
        self.data.visitor == other.data.visitor
            && self.data.segments == other.data.segments
            && self.data.forced == other.data.forced
    }
}

impl Serialize for UserContext {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("UserContext", 2)?;
        s.serialize_field("user_id", &self.data.visitor.user_id)?;
        s.serialize_field("attributes", &self.data.visitor.attributes)?;
        s.end()
    }
}

const NOT_READY: &str = "SDK not configured properly yet: the client has no valid datafile";

impl UserContext {
    pub(crate) fn new(client: Client, user_id: String, attributes: Attributes) -> UserContext {
        let mut data = UserData {
            client,
            visitor: Arc::new(Visitor {
                user_id,
                attributes,
            }),
            segments: None,
            forced: ForcedDecisions::default(),
            resolved: None,
        };
        data.resolve();
        UserContext {
            data: Arc::new(data),
        }
    }

    /// The config this context's attributes were resolved against, if any.
    pub(crate) fn resolved_config(&self) -> Option<&ProjectConfig> {
        self.data.resolved.as_ref().map(|r| &*r.config)
    }

    /// The client this context decides with.
    pub fn client(&self) -> &Client {
        &self.data.client
    }

    /// The user id.
    pub fn user_id(&self) -> &str {
        &self.data.visitor.user_id
    }

    /// The attributes.
    pub fn attributes(&self) -> &Attributes {
        &self.data.visitor.attributes
    }

    /// The value of attribute `key`.
    pub fn attribute(&self, key: &str) -> Option<&AttributeValue> {
        self.data.visitor.attributes.get(key)
    }

    /// Sets attribute `key`.
    pub fn set_attribute(&mut self, key: impl Into<String>, value: impl Into<AttributeValue>) {
        let data = Arc::make_mut(&mut self.data);
        Arc::make_mut(&mut data.visitor)
            .attributes
            .insert(key, value);
        data.resolve();
    }

    /// The qualified (ODP) segments, if set.
    pub fn qualified_segments(&self) -> Option<&[String]> {
        self.data.segments.as_deref()
    }

    /// Sets (or, with `None`, clears) the qualified segments that `qualified` audience
    /// conditions test.
    pub fn set_qualified_segments(&mut self, segments: Option<Vec<String>>) {
        Arc::make_mut(&mut self.data).segments = segments;
    }

    /// Whether `segment` is among the qualified segments.
    pub fn is_qualified_for(&self, segment: &str) -> bool {
        self.data
            .segments
            .as_ref()
            .is_some_and(|s| s.iter().any(|x| x == segment))
    }

    /// Forces `decision` for `context`, replacing an earlier one for the same context.
    pub fn set_forced_decision(
        &mut self,
        context: DecisionContext,
        decision: ForcedDecision,
    ) -> bool {
        Arc::make_mut(&mut self.data).forced.set(context, decision);
        true
    }

    /// The forced decision for `context`, if one is set.
    pub fn forced_decision(&self, context: &DecisionContext) -> Option<ForcedDecision> {
        self.data.forced.get(context).cloned()
    }

    /// Removes the forced decision for `context`; false when there was none.
    pub fn remove_forced_decision(&mut self, context: &DecisionContext) -> bool {
        if self.data.forced.get(context).is_none() {
            return false;
        }
        Arc::make_mut(&mut self.data).forced.remove(context)
    }

    /// Removes every forced decision.
    pub fn remove_all_forced_decisions(&mut self) -> bool {
        Arc::make_mut(&mut self.data).forced.clear();
        true
    }

    /// Tracks a conversion: the user did `event_key` (an event the datafile lists), with
    /// optional `tags` (`revenue`, an integer, and `value`, a number, are also reported as
    /// such). The conversion is queued for the event thread; this never blocks.
    ///
    /// Errors: [`ClientError::NotReady`] without a config, [`ClientError::UnknownEvent`] for a
    /// key the datafile does not list (nothing is sent), [`ClientError::EventDropped`] when the
    /// event queue is full or the client is closed (the drop is counted in the event stats).
    /// A client built without events checks the key and sends nothing.
    pub fn track_event(
        &self,
        event_key: &str,
        tags: Option<&Map<String, Value>>,
    ) -> Result<(), ClientError> {
        let Some(config) = self.data.config() else {
            log::error!(target: "decisive", "track_event({event_key:?}): {NOT_READY}");
            return Err(ClientError::NotReady);
        };
        let config = Arc::clone(config.arc());
        let conversion = Tracked::new(config, Arc::clone(&self.data.visitor), event_key, tags)
            .map_err(|e| {
                log::error!(target: "decisive", "{e}");
                ClientError::from(e)
            })?;
        let Some(events) = &self.data.client.inner.events else {
            return Ok(());
        };
        let listeners = &self.data.client.inner.notifications.track;
        let copy = (!listeners.is_empty()).then(|| conversion.clone());
        if !events.process_tracked(conversion) {
            return Err(ClientError::EventDropped);
        }
        if let Some(log_event) = copy.and_then(|c| event::log_event(&[c])) {
            let notification = TrackNotification {
                event_key,
                user_id: &self.data.visitor.user_id,
                attributes: &self.data.visitor.attributes,
                event_tags: tags,
                log_event: &log_event,
            };
            listeners.each("track", |listener| listener(&notification));
        }
        Ok(())
    }

    /// Decides one flag. `EnabledFlagsOnly` does not apply to a single decision.
    pub fn decide(&self, flag_key: &str, options: &[DecideOption]) -> Decision {
        let Some(config) = self.data.config() else {
            return Decision::error(flag_key, self.clone(), vec![NOT_READY.to_owned()]);
        };
        let options = OptionSet::from_slice(options)
            .union(self.data.client.inner.default_options)
            .without(DecideOption::EnabledFlagsOnly);
        let Some((flag_idx, _)) = config.flag(flag_key) else {
            return unknown_flag(flag_key, self.clone());
        };
        let mut tracker = self.profile_tracker(options);
        let user = self.data.user(&config);
        let decision = self.decide_one(&config, &user, flag_idx, options, tracker.as_mut());
        if let Some(t) = tracker {
            t.save();
        }
        decision
    }

    /// Decides every flag of the config, in datafile order.
    pub fn decide_all(&self, options: &[DecideOption]) -> Decisions {
        let Some(config) = self.data.config() else {
            return Decisions::default();
        };
        let flags = (0..config.flags.len() as u32).map(Ok);
        self.decide_many(&config, options, flags)
    }

    /// Decides the flags `keys`, in that order. An unknown key gives a decision with an error
    /// reason.
    pub fn decide_for_keys<K: AsRef<str>>(
        &self,
        keys: &[K],
        options: &[DecideOption],
    ) -> Decisions {
        let Some(config) = self.data.config() else {
            return Decisions::default();
        };
        let flags = keys.iter().map(|key| {
            let key = key.as_ref();
            config.flag(key).map(|(idx, _)| idx).ok_or(key)
        });
        self.decide_many(&config, options, flags)
    }

    /// Decides several flags with one user profile lookup and save; `flags` gives each flag's
    /// index, or the key that names no flag.
    fn decide_many<'k>(
        &self,
        config: &Current<'_>,
        options: &[DecideOption],
        flags: impl ExactSizeIterator<Item = Result<u32, &'k str>>,
    ) -> Decisions {
        let options = OptionSet::from_slice(options).union(self.data.client.inner.default_options);
        let mut tracker = self.profile_tracker(options);
        let user = self.data.user(config);
        let mut list = Vec::with_capacity(flags.len());
        for flag in flags {
            match flag {
                Err(key) => list.push(unknown_flag(key, self.clone())),
                Ok(idx) => {
                    let d = self.decide_one(config, &user, idx, options, tracker.as_mut());
                    if d.enabled() || !options.has(DecideOption::EnabledFlagsOnly) {
                        list.push(d);
                    }
                }
            }
        }
        if let Some(t) = tracker {
            t.save();
        }
        Decisions { list }
    }

    #[inline]
    fn profile_tracker(&self, options: OptionSet) -> Option<ProfileTracker<'_>> {
        if options.has(DecideOption::IgnoreUserProfileService) {
            return None;
        }
        let service = self.data.client.inner.user_profile_service.as_deref()?;
        Some(ProfileTracker::load(service, &self.data.visitor.user_id))
    }

    #[inline(always)]
    fn decide_one(
        &self,
        current: &Current<'_>,
        user: &User<'_>,
        flag_idx: u32,
        options: OptionSet,
        tracker: Option<&mut ProfileTracker<'_>>,
    ) -> Decision {
        let config = current.arc();
        let Some(flag) = config.flags.get(flag_idx as usize) else {
            return unknown_flag("", self.clone());
        };
        let data = &*self.data;
        let mut reasons = Reasons::new(options.has(DecideOption::IncludeReasons));
        let settings = Settings {
            ignore_user_profile: options.has(DecideOption::IgnoreUserProfileService),
        };
        let (fd, held_out) =
            decision::decide_flag(config, flag, user, &settings, tracker, &mut reasons);
        let mut dispatched = false;
        if let Some(events) = &data.client.inner.events {
            let disabled = options.has(DecideOption::DisableDecisionEvent);
            let [holdout, own] =
                event::reported(fd, held_out, config.send_flag_decisions, disabled);
            for (reported, is_own) in [(holdout, false), (own, true)] {
                let Some(reported) = reported else { continue };
                let queued = events.process_decided(Decided::new(
                    Arc::clone(config),
                    Arc::clone(&data.visitor),
                    flag_idx,
                    reported,
                ));
                dispatched |= is_own && queued;
            }
        }
        let enabled = fd
            .variation
            .and_then(|v| config.variation(v))
            .is_some_and(|v| v.feature_enabled);
        let decision = Decision::known(
            self.clone(),
            current.for_decision(),
            FlagRef::new(
                flag_idx,
                PackedDecision::pack(fd),
                held_out,
                enabled,
                options.has(DecideOption::ExcludeVariables),
            ),
            reasons.into_vec(),
        );
        let listeners = &data.client.inner.notifications.decision;
        if !listeners.is_empty() {
            let notification = DecisionNotification {
                decision: &decision,
                decision_event_dispatched: dispatched,
            };
            listeners.each("decision", |listener| listener(&notification));
        }
        decision
    }
}

fn unknown_flag(key: &str, user_context: UserContext) -> Decision {
    Decision::error(
        key,
        user_context,
        vec![format!("no flag was found for key {key:?}")],
    )
}
