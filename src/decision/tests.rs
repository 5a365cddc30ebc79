//! The decision layer's own parts: the user profile tracker, forced-decision storage, the
//! bucketing id, and the equivalence of the shortcuts a decision takes (bucketing before the
//! audience when no reasons are asked for; attributes resolved to slots) with the official
//! order. The decision order itself is tested through the public API in tests/decide.rs.

use super::*;
use crate::audience::AttributeView;
use crate::value::{AttributeValue, Attributes};
use std::sync::Mutex;

/// A profile service returning a fixed answer and recording what it is asked to save.
struct FixedProfiles {
    answer: Result<Option<UserProfile>, String>,
    saved: Mutex<Vec<UserProfile>>,
}

impl FixedProfiles {
    fn new(answer: Result<Option<UserProfile>, String>) -> FixedProfiles {
        FixedProfiles {
            answer,
            saved: Mutex::new(Vec::new()),
        }
    }

    fn saved(&self) -> Vec<UserProfile> {
        self.saved.lock().unwrap().clone()
    }
}

impl UserProfileService for FixedProfiles {
    fn lookup(&self, _user_id: &str) -> Result<Option<UserProfile>, UserProfileError> {
        self.answer.clone().map_err(Into::into)
    }

    fn save(&self, profile: &UserProfile) -> Result<(), UserProfileError> {
        self.saved.lock().unwrap().push(profile.clone());
        Err("the store is read-only".into())
    }
}

fn profile(user_id: &str, entries: &[(&str, &str)]) -> UserProfile {
    UserProfile {
        user_id: user_id.to_owned(),
        experiment_bucket_map: entries
            .iter()
            .map(|(e, v)| (e.to_string(), v.to_string()))
            .collect(),
    }
}

#[test]
fn a_failed_or_empty_lookup_is_no_profile() {
    for answer in [Err("down".to_owned()), Ok(None)] {
        let service = FixedProfiles::new(answer);
        let tracker = ProfileTracker::load(&service, "u");
        assert_eq!(tracker.stored_variation("100"), None);
        tracker.save();
        assert!(service.saved().is_empty());
    }
}

#[test]
fn a_profile_is_saved_once_and_only_when_it_changed() {
    let service = FixedProfiles::new(Ok(Some(profile("u", &[("100", "101")]))));
    let mut tracker = ProfileTracker::load(&service, "u");
    assert_eq!(tracker.stored_variation("100"), Some("101"));
    tracker.record("100", "101");
    tracker.save();
    assert!(
        service.saved().is_empty(),
        "recording the stored variation is no change"
    );

    let mut tracker = ProfileTracker::load(&service, "u");
    tracker.record("100", "102");
    tracker.record("200", "201");
    assert_eq!(tracker.stored_variation("100"), Some("102"));
    // A failing save is logged, not surfaced.
    tracker.save();
    assert_eq!(
        service.saved(),
        [profile("u", &[("100", "102"), ("200", "201")])]
    );
}

#[test]
fn a_saved_profile_carries_the_deciding_user_id() {
    // The service answered with another user's record: it is saved under the user decided.
    let service = FixedProfiles::new(Ok(Some(profile("someone else", &[]))));
    let mut tracker = ProfileTracker::load(&service, "u");
    tracker.record("100", "101");
    tracker.save();
    assert_eq!(service.saved(), [profile("u", &[("100", "101")])]);
}

#[test]
fn forced_decisions_are_kept_per_flag_and_rule() {
    let mut forced = ForcedDecisions::default();
    assert!(forced.is_empty());
    let flag = DecisionContext::new("f", None);
    let rule = DecisionContext::new("f", Some("r"));
    forced.set(flag.clone(), ForcedDecision::new("a"));
    forced.set(rule.clone(), ForcedDecision::new("b"));
    forced.set(flag.clone(), ForcedDecision::new("c"));
    assert_eq!(
        forced.lookup("f", None).map(|d| &*d.variation_key),
        Some("c")
    );
    assert_eq!(
        forced.lookup("f", Some("r")).map(|d| &*d.variation_key),
        Some("b")
    );
    assert_eq!(forced.lookup("f", Some("other")), None);
    assert_eq!(forced.lookup("g", None), None);
    assert!(forced.remove(&rule));
    assert!(!forced.remove(&rule));
    assert_eq!(forced.get(&flag), Some(&ForcedDecision::new("c")));
    forced.clear();
    assert!(forced.is_empty());
}

fn user<'a>(id: &'a str, attributes: &'a Attributes, forced: &'a ForcedDecisions) -> User<'a> {
    User {
        id,
        attributes: AttributeView::by_name(attributes),
        segments: &[],
        forced,
        bucketing: None,
    }
}

#[test]
fn the_bucketing_id_is_a_string_attribute_or_the_user_id() {
    let forced = ForcedDecisions::default();
    let table = [
        ("absent", None, "user", 0),
        (
            "string",
            Some(AttributeValue::from("bucket-me")),
            "bucket-me",
            0,
        ),
        ("empty string", Some(AttributeValue::from("")), "", 0),
        ("number", Some(AttributeValue::Int(7)), "user", 1),
        ("bool", Some(AttributeValue::Bool(false)), "user", 1),
        ("null", Some(AttributeValue::Null), "user", 1),
    ];
    for (label, value, expected, reason_count) in table {
        let mut attributes = Attributes::new();
        if let Some(v) = value {
            attributes.insert(BUCKETING_ID_ATTRIBUTE, v);
        }
        let mut reasons = Reasons::new(true);
        let u = user("user", &attributes, &forced);
        assert_eq!(u.bucketing_id(&mut reasons), expected, "{label}");
        assert_eq!(reasons.into_vec().len(), reason_count, "{label}");
    }
}

#[test]
fn reasons_are_collected_only_when_asked_for() {
    let mut off = Reasons::new(false);
    off.add(|| unreachable!("a reason built while reasons are off"));
    assert!(!off.enabled());
    assert!(off.into_vec().is_empty());
    let mut on = Reasons::new(true);
    on.add(|| "why".to_owned());
    assert_eq!(on.into_vec(), ["why"]);
}

/// Every flag of a generated compat datafile (groups, global and local holdouts, nested
/// audiences of every match type, rollouts) decided for the users of its cases: with and
/// without reasons, with attributes looked up by name or through the resolved slots, and with
/// the bucketing id hashed in advance or not, the decision is the same.
#[test]
fn shortcuts_never_change_a_decision() {
    let sets = [
        (
            include_str!("../../tests/fixtures/compat/generated_1/datafile.json"),
            include_str!("../../tests/fixtures/compat/generated_1/cases.jsonl"),
        ),
        (
            include_str!("../../tests/fixtures/compat/generated_2/datafile.json"),
            include_str!("../../tests/fixtures/compat/generated_2/cases.jsonl"),
        ),
        (
            include_str!("../../tests/fixtures/compat/generated_3/datafile.json"),
            include_str!("../../tests/fixtures/compat/generated_3/cases.jsonl"),
        ),
    ];
    let forced = ForcedDecisions::default();
    let settings = Settings {
        ignore_user_profile: true,
    };
    let mut compared = 0;
    for (datafile, cases) in sets {
        let config = ProjectConfig::from_datafile(datafile).unwrap();
        for line in cases.lines().take(200) {
            let case: serde_json::Value = serde_json::from_str(line).unwrap();
            let id = case["user_id"].as_str().unwrap_or_default();
            let attributes: Attributes =
                serde_json::from_value(case["attributes"].clone()).unwrap_or_default();
            let resolution = config.resolve(&attributes);
            for flag in &config.flags {
                let mut u = user(id, &attributes, &forced);
                let plain =
                    decide_flag(&config, flag, &u, &settings, None, &mut Reasons::new(false));
                let explained =
                    decide_flag(&config, flag, &u, &settings, None, &mut Reasons::new(true));
                u.attributes = AttributeView::resolved(&attributes, &resolution);
                let resolved =
                    decide_flag(&config, flag, &u, &settings, None, &mut Reasons::new(false));
                let bucketing_id = u.bucketing_id(&mut Reasons::new(false)).to_owned();
                u.bucketing = Some(BucketingKey::new(&bucketing_id));
                let prehashed =
                    decide_flag(&config, flag, &u, &settings, None, &mut Reasons::new(false));
                assert_eq!(plain, explained, "{id:?} {}: reasons changed it", flag.key);
                assert_eq!(plain, resolved, "{id:?} {}: slots changed it", flag.key);
                assert_eq!(
                    plain, prehashed,
                    "{id:?} {}: prehashing changed it",
                    flag.key
                );
                compared += 1;
            }
        }
    }
    assert!(compared > 3000, "only {compared} decisions compared");
}
