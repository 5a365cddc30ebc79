//! Sticky bucketing: the user profile service a user implements, and the tracker that reads a
//! profile once per decide call and saves it once if anything changed.

use std::collections::HashMap;

/// The error type a [`UserProfileService`] returns.
pub type UserProfileError = Box<dyn std::error::Error + Send + Sync>;

/// What a user was bucketed into before: experiment id → variation id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserProfile {
    /// The user id.
    pub user_id: String,
    /// Experiment id → the variation id the user was bucketed into.
    pub experiment_bucket_map: HashMap<String, String>,
}

/// Storage for user profiles, implemented by the application, so that a user keeps the
/// variation they were first bucketed into when traffic allocation changes.
///
/// A failing lookup is treated as "no profile" and a failing save is logged; neither fails a
/// decision.
pub trait UserProfileService: Send + Sync {
    /// The stored profile of `user_id`, if any.
    fn lookup(&self, user_id: &str) -> Result<Option<UserProfile>, UserProfileError>;
    /// Stores `profile`.
    fn save(&self, profile: &UserProfile) -> Result<(), UserProfileError>;
}

/// One decide call's view of a user's profile.
pub(crate) struct ProfileTracker<'a> {
    service: &'a dyn UserProfileService,
    profile: UserProfile,
    changed: bool,
}

impl<'a> ProfileTracker<'a> {
    pub(crate) fn load(service: &'a dyn UserProfileService, user_id: &str) -> ProfileTracker<'a> {
        let profile = match service.lookup(user_id) {
            Ok(Some(profile)) => profile,
            Ok(None) => UserProfile::default(),
            Err(err) => {
                log::warn!(target: "decisive", "user profile lookup for {user_id:?} failed: {err}");
                UserProfile::default()
            }
        };
        ProfileTracker {
            service,
            profile: UserProfile {
                user_id: user_id.to_owned(),
                ..profile
            },
            changed: false,
        }
    }

    pub(crate) fn stored_variation(&self, experiment_id: &str) -> Option<&str> {
        self.profile
            .experiment_bucket_map
            .get(experiment_id)
            .map(String::as_str)
    }

    pub(crate) fn record(&mut self, experiment_id: &str, variation_id: &str) {
        if self.stored_variation(experiment_id) != Some(variation_id) {
            self.profile
                .experiment_bucket_map
                .insert(experiment_id.to_owned(), variation_id.to_owned());
            self.changed = true;
        }
    }

    pub(crate) fn save(self) {
        if !self.changed {
            return;
        }
        if let Err(err) = self.service.save(&self.profile) {
            log::warn!(target: "decisive", "user profile save for {:?} failed: {err}", self.profile.user_id);
        }
    }
}
