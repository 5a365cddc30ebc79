//! Properties over every input boundary: arbitrary datafile bytes and JSON, audience
//! conditions, attribute values, event tags, flag keys and user ids. None may panic or hang;
//! what is rejected is rejected with an error value; what is accepted decides deterministically.
//!
//! Each property runs `CASES` cases (override with `PROPTEST_CASES`).

use decisive::{
    AttributeValue, Attributes, Client, ClientError, DecideOption, ProjectConfig,
    RecordingDispatcher,
};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

const CASES: u32 = 10_000;

const DATAFILE: &str = include_str!("../datafiles/quickstart.json");

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(CASES),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Any JSON value, a few levels deep, with the odd strings and numbers that break parsers.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop_oneof![
            Just(String::new()),
            "[a-z_]{0,12}",
            any::<String>(),
            Just("1.2.3-beta+build".to_owned()),
            Just("custom_attribute".to_owned()),
            Just("exact".to_owned()),
            Just("semver_ge".to_owned()),
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("and".to_owned()),
                        Just("or".to_owned()),
                        Just("not".to_owned()),
                        Just("type".to_owned()),
                        Just("name".to_owned()),
                        Just("match".to_owned()),
                        Just("value".to_owned()),
                        "[a-z]{1,6}"
                    ],
                    inner
                ),
                0..6
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Any attribute value, including the numbers the SDK must treat as invalid.
fn attribute_value() -> impl Strategy<Value = AttributeValue> {
    prop_oneof![
        any::<String>().prop_map(AttributeValue::from),
        "[0-9]{1,3}(\\.[0-9]{1,3}){0,3}(-[a-z0-9.]{1,6})?".prop_map(AttributeValue::from),
        prop_oneof![Just("US"), Just("CA"), Just("pro"), Just("")].prop_map(AttributeValue::from),
        any::<i64>().prop_map(AttributeValue::from),
        any::<f64>().prop_map(AttributeValue::from),
        prop_oneof![
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(9_007_199_254_740_993.0),
            Just(-0.0)
        ]
        .prop_map(AttributeValue::from),
        any::<bool>().prop_map(AttributeValue::from),
        Just(AttributeValue::Null),
        json_value().prop_map(AttributeValue::Json),
    ]
}

fn attributes() -> impl Strategy<Value = Attributes> {
    prop::collection::vec(
        (
            prop_oneof![
                Just("country".to_owned()),
                Just("app_version".to_owned()),
                Just("plan".to_owned()),
                Just("$opt_bucketing_id".to_owned()),
                Just("$opt_user_agent".to_owned()),
                any::<String>(),
            ],
            attribute_value(),
        ),
        0..6,
    )
    .prop_map(|kv| {
        let mut attributes = Attributes::new();
        for (k, v) in kv {
            attributes.insert(k, v);
        }
        attributes
    })
}

fn quiet_client(datafile: &str) -> Option<Client> {
    Client::builder()
        .datafile(datafile)
        .event_dispatcher(RecordingDispatcher::new())
        .build()
        .ok()
}

/// Decides every flag and an unknown one for `user_id` with `attributes`; the decisions as
/// JSON, for comparing two runs.
fn decide_everything(client: &Client, user_id: &str, attributes: Attributes) -> Vec<Value> {
    let user = client.create_user_context(user_id, attributes);
    let mut out: Vec<Value> = user
        .decide_all(&[DecideOption::IncludeReasons])
        .iter()
        .map(|d| d.to_json())
        .collect();
    out.push(user.decide("no such flag", &[]).to_json());
    out
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_are_a_datafile_or_an_error(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = ProjectConfig::from_datafile(&bytes).map(|c| c.revision().to_owned());
    }

    #[test]
    fn a_datafile_with_any_field_replaced_loads_or_errs_and_decides(
        path in prop::collection::vec(0usize..64, 1..4),
        replacement in json_value(),
        user_id in any::<String>(),
        attrs in attributes(),
    ) {
        let mut datafile: Value = serde_json::from_str(DATAFILE).unwrap();
        // Walk to a node chosen by `path` and replace it.
        let mut pointer = String::new();
        let mut node = &datafile;
        for step in path {
            let next = match node {
                Value::Object(map) if !map.is_empty() => {
                    let key = map.keys().nth(step % map.len()).unwrap();
                    pointer.push('/');
                    pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
                    map.get(key)
                }
                Value::Array(items) if !items.is_empty() => {
                    let at = step % items.len();
                    pointer.push_str(&format!("/{at}"));
                    items.get(at)
                }
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => break,
            }
        }
        *datafile.pointer_mut(&pointer).unwrap() = replacement;
        let text = datafile.to_string();
        if let Some(client) = quiet_client(&text) {
            let first = decide_everything(&client, &user_id, attrs.clone());
            let second = decide_everything(&client, &user_id, attrs);
            prop_assert_eq!(first, second);
        }
    }

    #[test]
    fn any_audience_conditions_load_or_err_and_decide(
        conditions in json_value(),
        as_string in any::<bool>(),
        attrs in attributes(),
    ) {
        let mut datafile: Value = serde_json::from_str(DATAFILE).unwrap();
        let conditions = if as_string { Value::from(conditions.to_string()) } else { conditions };
        for key in ["typedAudiences", "audiences"] {
            if let Some(Value::Array(list)) = datafile.get_mut(key) {
                for audience in list {
                    audience["conditions"] = conditions.clone();
                }
            }
        }
        if let Some(client) = quiet_client(&datafile.to_string()) {
            let first = decide_everything(&client, "user", attrs.clone());
            let second = decide_everything(&client, "user", attrs);
            prop_assert_eq!(first, second);
        }
    }

    #[test]
    fn any_user_and_attributes_decide_deterministically(
        user_id in prop_oneof![Just(String::new()), any::<String>(), "[a-z0-9-]{1,40}"],
        attrs in attributes(),
    ) {
        let client = quiet_client(DATAFILE).unwrap();
        let first = decide_everything(&client, &user_id, attrs.clone());
        let second = decide_everything(&client, &user_id, attrs);
        prop_assert_eq!(first.len(), 3);
        prop_assert_eq!(&first, &second);
        // An unknown flag is an error decision, never a panic.
        prop_assert_eq!(&first[2]["enabled"], &json!(false));
    }

    #[test]
    fn any_flag_key_decides_or_reports_it_unknown(key in any::<String>()) {
        let client = quiet_client(DATAFILE).unwrap();
        let d = client.create_user_context("u", Attributes::new()).decide(&key, &[]);
        let known = ["checkout_redesign", "new_search"].contains(&key.as_str());
        prop_assert_eq!(d.flag_key(), key.as_str());
        prop_assert_eq!(d.reasons().is_empty(), known);
    }

    #[test]
    fn any_event_tags_are_tracked_and_revenue_is_only_an_integer(
        tags in prop::collection::vec(
            (prop_oneof![Just("revenue".to_owned()), Just("value".to_owned()), any::<String>()], json_value()),
            0..5,
        ),
        key in prop_oneof![Just("purchase".to_owned()), any::<String>()],
    ) {
        let recording = RecordingDispatcher::new();
        let client = Client::builder()
            .datafile(DATAFILE)
            .event_dispatcher(recording.clone())
            .build()
            .unwrap();
        let tags: Map<String, Value> = tags.into_iter().collect();
        let user = client.create_user_context("u", Attributes::new());
        match user.track_event(&key, Some(&tags)) {
            Ok(()) => prop_assert_eq!(key.as_str(), "purchase"),
            Err(ClientError::UnknownEvent(k)) => prop_assert_eq!(k, key),
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
        prop_assert!(client.flush_events_blocking(std::time::Duration::from_secs(10)));
        for event in recording.take_events() {
            let body = event.json();
            prop_assert!(!body.is_null(), "the body is JSON");
            let sent = &body["visitors"][0]["snapshots"][0]["events"][0];
            if let Some(revenue) = sent.get("revenue") {
                prop_assert!(revenue.is_i64(), "revenue {revenue}");
            }
            if let Some(value) = sent.get("value") {
                prop_assert!(value.as_f64().is_some_and(f64::is_finite), "value {value}");
            }
        }
    }
}

#[test]
fn huge_user_ids_flag_keys_attributes_and_tags_are_handled() {
    let huge = "x".repeat(1 << 20);
    let recording = RecordingDispatcher::new();
    let client = Client::builder()
        .datafile(DATAFILE)
        .event_dispatcher(recording.clone())
        .build()
        .unwrap();
    let mut attributes = Attributes::new();
    attributes.insert(huge.clone(), huge.clone());
    attributes.insert("country", huge.clone());
    attributes.insert("app_version", format!("1.{huge}"));
    let user = client.create_user_context(huge.clone(), attributes);
    assert_eq!(user.decide_all(&[]).len(), 2);
    let unknown = user.decide(&huge, &[]);
    assert_eq!(unknown.flag_key().len(), huge.len());
    assert!(!unknown.enabled());
    let mut tags = Map::new();
    tags.insert(huge.clone(), Value::from(huge.clone()));
    user.track_event("purchase", Some(&tags)).unwrap();
    assert!(matches!(
        user.track_event(&huge, None),
        Err(ClientError::UnknownEvent(_))
    ));
    assert!(client.flush_events_blocking(std::time::Duration::from_secs(30)));
    let sent = recording.take_events();
    assert!(!sent.is_empty());
    for event in sent {
        assert!(event.body.len() > huge.len());
        assert!(!event.json().is_null());
    }
}
