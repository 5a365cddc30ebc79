//! The notification center: DECISION, TRACK, LOG_EVENT and CONFIG_UPDATE listeners with the
//! official payloads, removal by id and by type, and panicking listeners.

use decisive::{
    Attributes, Client, DecideOption, NotificationType, ProcessorOptions, RecordingDispatcher,
};
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const DATAFILE: &str = include_str!("../datafiles/quickstart.json");

fn client_with(datafile: &str) -> (Client, RecordingDispatcher) {
    let recording = RecordingDispatcher::new();
    let client = Client::builder()
        .datafile(datafile)
        .event_dispatcher(recording.clone())
        .event_processor_options(ProcessorOptions::default())
        .build()
        .unwrap();
    (client, recording)
}

fn alice() -> Attributes {
    let mut attributes = Attributes::new();
    attributes.insert("country", "US");
    attributes.insert("app_version", "2.4.1");
    attributes.insert("plan", "pro");
    attributes
}

/// A listener that keeps each payload it gets as JSON.
fn collect() -> Arc<Mutex<Vec<Value>>> {
    Arc::default()
}

#[test]
fn a_decision_notification_carries_the_official_payload() {
    let (client, _) = client_with(DATAFILE);
    let seen = collect();
    let sink = Arc::clone(&seen);
    client.add_decision_listener(move |n| sink.lock().unwrap().push(n.to_json()));
    let user = client.create_user_context("alice", alice());
    let decision = user.decide("checkout_redesign", &[DecideOption::IncludeReasons]);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    let payload = &seen[0];
    assert_eq!(payload["type"], "flag");
    assert_eq!(payload["user_id"], "alice");
    assert_eq!(
        payload["attributes"],
        json!({"country": "US", "app_version": "2.4.1", "plan": "pro"})
    );
    let info = &payload["decision_info"];
    assert_eq!(info["flag_key"], "checkout_redesign");
    assert_eq!(info["enabled"], true);
    assert_eq!(info["variation_key"], "treatment");
    assert_eq!(info["rule_key"], "checkout_redesign_test");
    assert_eq!(
        info["variables"],
        json!({"button_color": "green", "layout": {"steps": ["cart", "pay"]}, "max_steps": 3})
    );
    assert!(!decision.reasons().is_empty());
    assert_eq!(info["reasons"], json!(decision.reasons()));
    assert_eq!(info.as_object().unwrap().len(), 7, "{info}");
    assert_eq!(payload.as_object().unwrap().len(), 4, "{payload}");
    assert_eq!(info["decision_event_dispatched"], true);
}

#[test]
fn decision_event_dispatched_follows_the_impression() {
    let no_flag_decisions = DATAFILE.replace(
        "\"sendFlagDecisions\": true",
        "\"sendFlagDecisions\": false",
    );
    assert_ne!(no_flag_decisions, DATAFILE);
    let (client, _) = client_with(&no_flag_decisions);
    let seen = collect();
    let sink = Arc::clone(&seen);
    client.add_decision_listener(move |n| {
        sink.lock().unwrap().push(json!([
            n.decision.flag_key(),
            n.decision.rule_key(),
            n.decision_event_dispatched
        ]))
    });
    let alice = client.create_user_context("alice", alice());
    let bob = client.create_user_context("bob", Attributes::new());
    alice.decide("checkout_redesign", &[]);
    alice.decide("checkout_redesign", &[DecideOption::DisableDecisionEvent]);
    // A delivery rule sends no impression without sendFlagDecisions.
    alice.decide("new_search", &[]);
    bob.decide("checkout_redesign", &[]);
    // Unknown flags give an error decision and no notification.
    alice.decide("no_such_flag", &[]);
    assert_eq!(
        *seen.lock().unwrap(),
        [
            json!(["checkout_redesign", "checkout_redesign_test", true]),
            json!(["checkout_redesign", "checkout_redesign_test", false]),
            json!(["new_search", "search_for_paying_customers", false]),
            json!(["checkout_redesign", "checkout_everyone_else", false]),
        ]
    );
}

#[test]
fn decide_all_notifies_every_flag_even_those_enabled_flags_only_drops() {
    let (client, _) = client_with(DATAFILE);
    let seen = collect();
    let sink = Arc::clone(&seen);
    client.add_decision_listener(move |n| {
        sink.lock()
            .unwrap()
            .push(json!([n.decision.flag_key(), n.decision.enabled()]))
    });
    let bob = client.create_user_context("bob", Attributes::new());
    let returned = bob.decide_all(&[DecideOption::EnabledFlagsOnly]).len();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        returned,
        seen.iter().filter(|v| v[1] == true).count(),
        "{seen:?}"
    );
}

#[test]
fn a_track_notification_carries_the_event_and_its_request() {
    let (client, _) = client_with(DATAFILE);
    let seen = collect();
    let sink = Arc::clone(&seen);
    client.add_track_listener(move |n| {
        let body = n.log_event.json();
        sink.lock().unwrap().push(json!({
            "event_key": n.event_key,
            "user_id": n.user_id,
            "attributes": n.attributes,
            "event_tags": n.event_tags,
            "snapshot_event": body["visitors"][0]["snapshots"][0]["events"][0],
            "url": n.log_event.url,
        }));
    });
    let user = client.create_user_context("alice", alice());
    let mut tags = Map::new();
    tags.insert("revenue".into(), json!(4200));
    user.track_event("purchase", Some(&tags)).unwrap();
    assert!(user.track_event("unknown", None).is_err());
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "no notification for an unknown event");
    let n = &seen[0];
    assert_eq!(n["event_key"], "purchase");
    assert_eq!(n["user_id"], "alice");
    assert_eq!(n["attributes"]["plan"], "pro");
    assert_eq!(n["event_tags"], json!({"revenue": 4200}));
    assert_eq!(n["snapshot_event"]["entity_id"], "90001");
    assert_eq!(n["snapshot_event"]["key"], "purchase");
    assert_eq!(n["snapshot_event"]["revenue"], 4200);
    assert_eq!(n["url"], "https://logx.optimizely.com/v1/events");
}

#[test]
fn config_update_fires_once_per_new_revision() {
    let (client, _) = client_with(DATAFILE);
    let seen = collect();
    let sink = Arc::clone(&seen);
    client.add_config_update_listener(move |n| sink.lock().unwrap().push(json!(n.revision)));
    let r43 = DATAFILE.replace("\"revision\": \"42\"", "\"revision\": \"43\"");
    assert!(!client.update_datafile(DATAFILE).unwrap(), "same revision");
    assert!(client.update_datafile(&r43).unwrap());
    assert!(!client.update_datafile(&r43).unwrap());
    assert!(client.update_datafile("{broken").is_err());
    assert!(client.update_datafile(DATAFILE).unwrap());
    assert_eq!(*seen.lock().unwrap(), [json!("43"), json!("42")]);
}

#[test]
fn listeners_are_removed_by_id_by_type_and_all_at_once() {
    let (client, _) = client_with(DATAFILE);
    let counts: Arc<[AtomicUsize; 4]> = Arc::new(Default::default());
    let add = |i: usize| {
        let counts = Arc::clone(&counts);
        move || {
            counts[i].fetch_add(1, Ordering::SeqCst);
        }
    };
    let (d, t, c, l) = (add(0), add(1), add(2), add(3));
    let decision = client.add_decision_listener(move |_| d());
    let track = client.add_track_listener(move |_| t());
    let config = client.add_config_update_listener(move |_| c());
    let log = client.on_log_event(move |_, _| l()).unwrap();
    let ids = [decision, track, config, log];
    let mut unique = ids.to_vec();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 4, "ids are unique across types: {ids:?}");

    let user = client.create_user_context("alice", alice());
    let round = |client: &Client, revision: &str| {
        user.decide("checkout_redesign", &[]);
        user.track_event("purchase", None).unwrap();
        client
            .update_datafile(DATAFILE.replace("\"revision\": \"42\"", revision))
            .unwrap();
        assert!(client.flush_events_blocking(Duration::from_secs(10)));
        counts
            .iter()
            .map(|c| c.swap(0, Ordering::SeqCst))
            .collect::<Vec<_>>()
    };
    assert_eq!(round(&client, "\"revision\": \"43\""), [1, 1, 1, 1]);
    assert!(client.remove_listener(decision));
    assert!(!client.remove_listener(decision));
    assert!(client.remove_listener(log));
    assert_eq!(round(&client, "\"revision\": \"44\""), [0, 1, 1, 0]);
    client.clear_listeners(NotificationType::Track);
    assert_eq!(round(&client, "\"revision\": \"45\""), [0, 0, 1, 0]);
    client.on_log_event(add_as_log(&counts)).unwrap();
    client.clear_all_listeners();
    assert_eq!(round(&client, "\"revision\": \"46\""), [0, 0, 0, 0]);
}

/// A LOG_EVENT listener counting into slot 3.
fn add_as_log(
    counts: &Arc<[AtomicUsize; 4]>,
) -> impl Fn(&decisive::LogEvent, &decisive::DispatchOutcome) + Send + Sync + 'static {
    let counts = Arc::clone(counts);
    move |_, _| {
        counts[3].fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_panicking_listener_does_not_disturb_the_decide_or_the_others() {
    let (client, _) = client_with(DATAFILE);
    let calls = Arc::new(AtomicUsize::new(0));
    client.add_decision_listener(|_| panic!("listener bug"));
    let c = Arc::clone(&calls);
    client.add_decision_listener(move |_| {
        c.fetch_add(1, Ordering::SeqCst);
    });
    let user = client.create_user_context("alice", alice());
    for _ in 0..3 {
        assert!(user.decide("checkout_redesign", &[]).enabled());
    }
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}
