//! Events through the client: impressions from decide and conversions from track_event go
//! through the batch processor to the dispatcher, with the official payloads; the client's
//! flush, close, stats and log-event listeners.

mod common;

use common::{fixture_sets, same};
use decisive::replay::{request_json, user_context, Case};
use decisive::{
    Attributes, Client, ClientError, DecideOption, DispatchOutcome, ProcessorOptions,
    RecordingDispatcher,
};
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

const DATAFILE: &str = include_str!("../datafiles/quickstart.json");

/// Options sending every user event in a request of its own, as the fixtures were made.
fn one_per_request() -> ProcessorOptions {
    let mut options = ProcessorOptions::default();
    options.batch_size = 1;
    options
}

fn recording_client(datafile: &str, options: ProcessorOptions) -> (Client, RecordingDispatcher) {
    let recording = RecordingDispatcher::new();
    let client = Client::builder()
        .datafile(datafile)
        .event_dispatcher(recording.clone())
        .event_processor_options(options)
        .build()
        .expect("client");
    (client, recording)
}

fn alice() -> Attributes {
    let mut attributes = Attributes::new();
    attributes.insert("country", "US");
    attributes.insert("app_version", "2.4.1");
    attributes.insert("plan", "pro");
    attributes
}

#[test]
fn every_fixture_case_sends_the_official_requests_through_the_client() {
    let mut requests = 0;
    let mut failures = Vec::new();
    for set in fixture_sets() {
        let name = set.file_name().unwrap().to_string_lossy().to_string();
        let datafile = std::fs::read_to_string(set.join("datafile.json")).unwrap();
        let (client, recording) = recording_client(&datafile, one_per_request());
        let cases = std::fs::read_to_string(set.join("cases.jsonl")).unwrap();
        let expected = std::fs::read_to_string(set.join("expected.jsonl")).unwrap();
        for (line, want) in cases.lines().zip(expected.lines()) {
            let case = Case::parse(line).unwrap();
            let want: Value = serde_json::from_str(want).unwrap();
            let options: Vec<DecideOption> = case
                .options
                .iter()
                .map(|n| DecideOption::from_name(n).expect("known option"))
                .collect();
            let user = user_context(&client, &case);
            match case.op.as_str() {
                "decide" => {
                    user.decide(case.flag_key.as_deref().unwrap(), &options);
                }
                "decide_all" => {
                    user.decide_all(&options);
                }
                "track" => {
                    let tags = match &case.tags {
                        Some(Value::Object(map)) => Some(map),
                        _ => None,
                    };
                    let _ = user.track_event(case.event_key.as_deref().unwrap_or(""), tags);
                }
                other => panic!("unknown op {other}"),
            }
            assert!(client.flush_events_blocking(WAIT), "{name} {}", case.id);
            let got: Vec<Value> = recording.take_events().iter().map(request_json).collect();
            let want = want["events"].as_array().unwrap();
            requests += want.len();
            if !same(&Value::Array(got.clone()), &Value::Array(want.clone())) {
                failures.push(format!(
                    "{name} {}: sent {}\nwant {}",
                    case.id,
                    Value::Array(got),
                    Value::Array(want.clone())
                ));
            }
        }
        let stats = client.event_stats().unwrap();
        let sent = recording.attempts() as u64;
        assert_eq!(stats.dispatched, sent, "{name}");
        assert_eq!(stats.queued, sent, "{name}");
        assert_eq!((stats.dropped, stats.failed), (0, 0), "{name}");
    }
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures[..failures.len().min(5)].join("\n")
    );
    assert_eq!(requests, 10_589);
}

#[test]
fn decide_queues_an_impression_that_reaches_the_dispatcher_on_flush() {
    let (client, recording) = recording_client(DATAFILE, ProcessorOptions::default());
    let user = client.create_user_context("alice", alice());
    let decision = user.decide("checkout_redesign", &[]);
    assert!(
        recording.events().is_empty(),
        "a partial batch waits for a flush"
    );
    assert!(client.flush_events_blocking(WAIT));
    let sent = recording.events();
    assert_eq!(sent.len(), 1);
    let visitor = &sent[0].json()["visitors"][0];
    assert_eq!(visitor["visitor_id"], "alice");
    let meta = &visitor["snapshots"][0]["decisions"][0]["metadata"];
    assert_eq!(meta["flag_key"], "checkout_redesign");
    assert_eq!(meta["rule_key"], decision.rule_key().unwrap_or(""));
    assert_eq!(
        meta["variation_key"],
        decision.variation_key().unwrap_or("")
    );
    assert_eq!(meta["enabled"], decision.enabled());
    assert_eq!(sent[0].json()["client_name"], "decisive");
    assert_eq!(sent[0].json()["client_version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn disable_decision_event_sends_no_impression() {
    let (client, recording) = recording_client(DATAFILE, ProcessorOptions::default());
    let user = client.create_user_context("alice", alice());
    user.decide("checkout_redesign", &[DecideOption::DisableDecisionEvent]);
    user.decide_all(&[DecideOption::DisableDecisionEvent]);
    assert!(client.flush_events_blocking(WAIT));
    assert!(recording.events().is_empty());
    assert_eq!(client.event_stats().unwrap().queued, 0);
}

#[test]
fn a_default_disable_decision_event_option_sends_no_impression() {
    let recording = RecordingDispatcher::new();
    let client = Client::builder()
        .datafile(DATAFILE)
        .default_decide_options(&[DecideOption::DisableDecisionEvent])
        .event_dispatcher(recording.clone())
        .build()
        .unwrap();
    client.create_user_context("alice", alice()).decide_all(&[]);
    assert!(client.flush_events_blocking(WAIT));
    assert_eq!(recording.events().len(), 0);
}

#[test]
fn decide_all_with_enabled_flags_only_still_reports_every_decided_flag() {
    let (client, recording) = recording_client(DATAFILE, ProcessorOptions::default());
    let user = client.create_user_context("bob", Attributes::new());
    let all = user.decide_all(&[]).len();
    assert!(client.flush_events_blocking(WAIT));
    let before = recording.events()[0].json()["visitors"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, all);
    let enabled = user.decide_all(&[DecideOption::EnabledFlagsOnly]).len();
    assert!(enabled < all);
    assert!(client.flush_events_blocking(WAIT));
    let sent = recording.events();
    assert_eq!(sent[1].json()["visitors"].as_array().unwrap().len(), all);
}

#[test]
fn an_impression_reports_the_attributes_the_user_had_at_decide_time() {
    let (client, recording) = recording_client(DATAFILE, ProcessorOptions::default());
    let mut user = client.create_user_context("alice", alice());
    user.decide("checkout_redesign", &[]);
    user.set_attribute("plan", "free");
    assert!(client.flush_events_blocking(WAIT));
    let sent = recording.events();
    let attributes = &sent[0].json()["visitors"][0]["attributes"];
    let plan: Vec<&Value> = attributes
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["key"] == "plan")
        .map(|a| &a["value"])
        .collect();
    assert_eq!(plan, [&json!("pro")]);
}

#[test]
fn track_event_sends_a_conversion_with_revenue_and_value() {
    let (client, recording) = recording_client(DATAFILE, ProcessorOptions::default());
    let user = client.create_user_context("alice", alice());
    let mut tags = Map::new();
    tags.insert("revenue".into(), json!(4200));
    tags.insert("value".into(), json!(1.5));
    tags.insert("coupon".into(), json!("SPRING"));
    user.track_event("purchase", Some(&tags)).unwrap();
    assert!(client.flush_events_blocking(WAIT));
    let sent = recording.events();
    assert_eq!(sent.len(), 1);
    let snapshot = &sent[0].json()["visitors"][0]["snapshots"][0];
    assert!(snapshot.get("decisions").is_none());
    let event = &snapshot["events"][0];
    assert_eq!(event["key"], "purchase");
    assert_eq!(event["revenue"], 4200);
    assert_eq!(event["value"], 1.5);
    assert_eq!(
        event["tags"],
        json!({"revenue": 4200, "value": 1.5, "coupon": "SPRING"})
    );
}

#[test]
fn track_event_with_an_unknown_key_is_an_error_and_sends_nothing() {
    let (client, recording) = recording_client(DATAFILE, ProcessorOptions::default());
    let user = client.create_user_context("alice", alice());
    match user.track_event("no_such_event", None) {
        Err(ClientError::UnknownEvent(key)) => assert_eq!(key, "no_such_event"),
        other => panic!("expected UnknownEvent, got {other:?}"),
    }
    assert!(client.flush_events_blocking(WAIT));
    assert!(recording.events().is_empty());
    assert_eq!(client.event_stats().unwrap().queued, 0);
}

#[test]
fn track_event_without_a_datafile_is_not_ready() {
    let client = Client::builder()
        .event_dispatcher(RecordingDispatcher::new())
        .build()
        .unwrap();
    let user = client.create_user_context("alice", alice());
    assert!(matches!(
        user.track_event("purchase", None),
        Err(ClientError::NotReady)
    ));
}

#[test]
fn after_close_decisions_go_on_and_events_are_counted_dropped() {
    let (client, recording) = recording_client(DATAFILE, ProcessorOptions::default());
    let user = client.create_user_context("alice", alice());
    user.track_event("purchase", None).unwrap();
    assert!(client.close());
    assert_eq!(
        recording.events().len(),
        1,
        "close delivers what was queued"
    );
    let decision = user.decide("checkout_redesign", &[]);
    assert_eq!(decision.flag_key(), "checkout_redesign");
    assert!(matches!(
        user.track_event("purchase", None),
        Err(ClientError::EventDropped)
    ));
    let stats = client.event_stats().unwrap();
    assert_eq!(
        (stats.queued, stats.dispatched, stats.dropped),
        (1, 1, 2),
        "the impression and the conversion after close are dropped"
    );
    assert!(!client.flush_events_blocking(WAIT));
}

#[test]
fn dropping_the_last_handle_delivers_what_is_queued() {
    let (client, recording) = recording_client(DATAFILE, ProcessorOptions::default());
    let user = client.create_user_context("alice", alice());
    let decision = user.decide("checkout_redesign", &[]);
    user.track_event("purchase", None).unwrap();
    drop(client);
    drop(user);
    assert!(
        recording.events().is_empty(),
        "the decision still holds the client"
    );
    drop(decision);
    let sent = recording.events();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].json()["visitors"].as_array().unwrap().len(), 2);
}

#[test]
fn log_event_listeners_see_every_request_and_its_outcome_until_removed() {
    let (client, _recording) = recording_client(DATAFILE, one_per_request());
    let seen: Arc<Mutex<Vec<(String, DispatchOutcome)>>> = Arc::default();
    let calls = Arc::new(AtomicUsize::new(0));
    let id = {
        let seen = Arc::clone(&seen);
        client
            .on_log_event(move |event, outcome| {
                let body = event.json();
                let visitor = body["visitors"][0]["visitor_id"].as_str().unwrap_or("");
                seen.lock()
                    .unwrap()
                    .push((visitor.to_owned(), outcome.clone()));
            })
            .unwrap()
    };
    let panicky = {
        let calls = Arc::clone(&calls);
        client
            .on_log_event(move |_, _| {
                calls.fetch_add(1, Ordering::SeqCst);
                panic!("a listener bug");
            })
            .unwrap()
    };
    assert_ne!(id, panicky);
    client
        .create_user_context("u1", Attributes::new())
        .track_event("purchase", None)
        .unwrap();
    client
        .create_user_context("u2", Attributes::new())
        .track_event("purchase", None)
        .unwrap();
    assert!(client.flush_events_blocking(WAIT));
    assert!(client.remove_listener(id));
    assert!(!client.remove_listener(id));
    client
        .create_user_context("u3", Attributes::new())
        .track_event("purchase", None)
        .unwrap();
    assert!(client.flush_events_blocking(WAIT));
    assert_eq!(
        *seen.lock().unwrap(),
        [
            ("u1".to_owned(), DispatchOutcome::Delivered),
            ("u2".to_owned(), DispatchOutcome::Delivered)
        ]
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "the panicking listener stays registered"
    );
    assert_eq!(client.event_stats().unwrap().dispatched, 3);
}

#[test]
fn a_client_without_events_decides_and_tracks_nothing() {
    let client = Client::builder()
        .datafile(DATAFILE)
        .without_events()
        .build()
        .unwrap();
    assert!(client.event_stats().is_none());
    assert!(client.on_log_event(|_, _| {}).is_none());
    let user = client.create_user_context("alice", alice());
    assert!(user.decide("checkout_redesign", &[]).enabled());
    assert!(user.track_event("purchase", None).is_ok());
    assert!(matches!(
        user.track_event("nope", None),
        Err(ClientError::UnknownEvent(_))
    ));
    assert!(client.flush_events_blocking(WAIT));
    assert!(client.close());
}

#[test]
fn events_made_before_a_datafile_update_keep_their_revision() {
    let (client, recording) = recording_client(DATAFILE, ProcessorOptions::default());
    let user = client.create_user_context("alice", alice());
    user.track_event("purchase", None).unwrap();
    let updated = DATAFILE.replace("\"revision\": \"42\"", "\"revision\": \"43\"");
    assert!(client.update_datafile(&updated).unwrap());
    user.track_event("purchase", None).unwrap();
    assert!(client.flush_events_blocking(WAIT));
    let revisions: Vec<Value> = recording
        .events()
        .iter()
        .map(|e| e.json()["revision"].clone())
        .collect();
    assert_eq!(revisions, [json!("42"), json!("43")]);
}
