//! The one-pass reader against the serde reading: wherever it gives a model, serde gives the
//! same one; on the documents the SDK meets it does give one; on anything odd it steps aside.

use super::parse;
use proptest::prelude::*;
use serde_json::{json, Value};

use super::serde_model as by_serde;

/// Asserts that where the reader gives a model, serde gives the same; returns whether the
/// reader gave one.
fn agrees(text: &str) -> bool {
    match parse(text) {
        Some(fast) => {
            let slow = by_serde(text);
            assert_eq!(
                Some(&fast.detached()),
                slow.as_ref(),
                "the readers differ on {text}"
            );
            true
        }
        None => false,
    }
}

fn documents(dir: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                out.push((path.display().to_string(), text));
            }
        }
    }
    out
}

#[test]
fn every_sample_and_fixture_datafile_is_read_in_one_pass_to_the_serde_model() {
    let mut read = 0;
    for (path, text) in documents("datafiles")
        .into_iter()
        .chain(documents("tests/fixtures/compat"))
        .filter(|(path, _)| path.ends_with("datafile.json") || path.contains("datafiles"))
    {
        if path.contains("invalid") {
            continue;
        }
        assert!(agrees(&text), "{path} was left to serde");
        read += 1;
    }
    assert_eq!(read, 21);
}

#[test]
fn invalid_documents_are_left_to_serde_or_read_as_it_reads_them() {
    let invalid = documents("tests/fixtures/compat/invalid");
    assert_eq!(invalid.len(), 7);
    let mut read = Vec::new();
    for (path, text) in invalid {
        if agrees(&text) {
            read.push(path.rsplit('/').next().unwrap_or_default().to_owned());
        }
        assert!(crate::datafile::parse(text.as_bytes()).is_err(), "{path}");
    }
    // Only the one whose fault is its version number has the datafile's shape.
    assert_eq!(read, ["unsupported_version.json"]);
}

fn minimal() -> Value {
    json!({"version": "4", "revision": "1", "accountId": "12", "projectId": "34",
           "attributes": [], "audiences": [], "experiments": [], "groups": [], "events": []})
}

fn with(field: &str, value: Value) -> String {
    let mut doc = minimal();
    doc[field] = value;
    doc.to_string()
}

#[test]
fn escaped_strings_are_unescaped_as_serde_does() {
    for key in [
        r#""a\"b\\c\/d\b\f\n\r\te""#,
        r#""caf\u00e9 \ud83d\ude00""#,
        r#""\u0041\n""#,
        r#""plain""#,
    ] {
        let text = format!(
            r#"{{"version": "4", "revision": {key}, "accountId": "1", "projectId": "2",
               "attributes": [{{"id": {key}, "key": "k"}}], "audiences": [], "experiments": [],
               "groups": [], "events": []}}"#
        );
        assert!(agrees(&text), "{key}");
    }
}

/// Legacy conditions strings written like the one before (the reader takes those as read)
/// and like it in part only, as serde reads them; broken ones are left to serde.
#[test]
fn repeated_legacy_conditions_are_read_as_serde_reads_them() {
    let dummy = r#"["or", {"match": "exact", "name": "$opt_dummy_attribute", "value": "x\\"}]"#;
    let audience = |id: usize, conditions: &str| json!({"id": id.to_string(), "name": "n", "conditions": conditions});
    let sets: [Vec<String>; 4] = [
        vec![dummy.into(), dummy.into(), dummy.into()],
        vec![
            dummy.into(),
            format!("{dummy} "),
            dummy.into(),
            format!("{dummy}é"),
        ],
        vec![
            "plain".into(),
            "plain".into(),
            dummy.into(),
            "plain".into(),
            dummy.into(),
        ],
        vec![format!("{dummy}\n"), dummy.into(), format!("{dummy}\n")],
    ];
    for set in &sets {
        let audiences: Vec<Value> = set
            .iter()
            .enumerate()
            .map(|(i, c)| audience(i, c))
            .collect();
        let text = with("audiences", Value::Array(audiences));
        assert!(agrees(&text), "{text}");
        let model = parse(&text).unwrap();
        let read: Vec<String> = model
            .audiences
            .iter()
            .map(|a| a.conditions.encoded().unwrap().into_owned())
            .collect();
        assert_eq!(&read, set);
    }
    // A repeat whose closing quote is missing, or followed by a broken escape, is not taken.
    let first = json!(dummy).to_string();
    let body = &first[1..first.len() - 1];
    for second in [format!(r#""{body}"#), format!(r#""{body}\q""#)] {
        let text = format!(
            r#"{{"version": "4", "revision": "1", "accountId": "1", "projectId": "2",
               "attributes": [], "audiences": [{{"id": "1", "name": "a", "conditions": {first}}},
               {{"id": "2", "name": "b", "conditions": {second}}}], "experiments": [],
               "groups": [], "events": []}}"#
        );
        assert!(!agrees(&text), "{second}");
        assert!(by_serde(&text).is_none(), "{second}");
    }
}

/// A rule's conditions of one operator and one audience id (read without the general
/// reading's node list) and the shapes near it, spaced in every way, as serde reads them.
#[test]
fn operator_and_audience_id_conditions_are_read_as_serde_reads_them() {
    let conditions = [
        r#"["or", "1000018"]"#,
        r#"[ "and" ,"7" ]"#,
        "[\n  \"not\",\n  \"12\"\n]",
        r#"["or", "1", "2"]"#,
        r#"["or"]"#,
        r#"[]"#,
        r#"["or", "a\"b"]"#,
        r#"["o\u0072", "1"]"#,
        r#"["or", 1]"#,
        r#"["or", ["and", "1"]]"#,
        r#"["or", {"name": "a", "type": "custom_attribute", "value": 1}]"#,
        r#""1""#,
    ];
    for written in conditions {
        let text = format!(
            r#"{{"version": "4", "revision": "1", "accountId": "1", "projectId": "2",
               "attributes": [], "audiences": [], "groups": [], "events": [],
               "experiments": [{{"id": "9", "key": "e", "layerId": "9", "status": "Running",
               "variations": [], "trafficAllocation": [], "audienceIds": [],
               "audienceConditions": {written}, "forcedVariations": {{}}}}]}}"#
        );
        assert!(agrees(&text), "{written}");
    }
    // What the pair is read as: the list, its operator and its operand, in that order.
    let text = with(
        "experiments",
        json!([{"id": "9", "key": "e", "layerId": "9", "status": "Running", "variations": [],
                "trafficAllocation": [], "audienceIds": ["5"],
                "audienceConditions": ["and", "5"], "forcedVariations": {}}]),
    );
    let model = parse(&text).unwrap();
    let experiment = model.experiments.first().unwrap();
    let root = experiment.audience_conditions.as_ref().unwrap().root();
    let crate::datafile::conditions::Shape::List(items) = root.shape() else {
        panic!("not a list");
    };
    let strings: Vec<String> = items
        .map(|item| match item.shape() {
            crate::datafile::conditions::Shape::Str(s) => s.to_string(),
            _ => panic!("not a string"),
        })
        .collect();
    assert_eq!(strings, ["and", "5"]);
}

#[test]
fn what_serde_rejects_or_resolves_otherwise_is_left_to_it() {
    let minimal = minimal().to_string();
    let cases = [
        // A duplicate field: serde keeps the last value by another road.
        minimal.replacen("{", r#"{"revision": "0", "#, 1),
        // Trailing characters.
        format!("{minimal} x"),
        // A field name written with an escape.
        minimal.replacen("\"revision\"", "\"revisio\\u006e\"", 1),
        // A lone surrogate, a bad escape, a raw control character.
        with("revision", json!("x")).replacen("\"x\"", r#""\ud800""#, 1),
        with("revision", json!("x")).replacen("\"x\"", r#""\q""#, 1),
        with("revision", json!("x")).replacen("\"x\"", "\"a\u{1}b\"", 1),
        // Wrong types, numbers serde cannot hold.
        with("anonymizeIP", json!(null)),
        with("revision", json!(1)),
        with(
            "experiments",
            json!([{"id": "1", "key": "e", "layerId": "2", "status": "Running",
                    "variations": [], "audienceIds": [], "forcedVariations": {},
                    "trafficAllocation": [{"entityId": "1", "endOfRange": 10000.0}]}]),
        ),
        with(
            "typedAudiences",
            json!([{"id": "1", "conditions": {"name": 1}}]),
        )
        .replacen(r#""name":1"#, r#""name":1e400"#, 1),
        with("unknown", json!(1)).replacen(r#""unknown":1"#, r#""unknown":01"#, 1),
        // Nesting deeper than the reader goes.
        with(
            "typedAudiences",
            json!([{"id": "1", "conditions": "PLACEHOLDER"}]),
        )
        .replacen(
            "\"PLACEHOLDER\"",
            &format!("{}{}", "[".repeat(120), "]".repeat(120)),
            1,
        ),
        // Not an object at all.
        "[]".to_owned(),
    ];
    for text in cases {
        assert!(parse(&text).is_none(), "read: {text}");
    }
}

#[test]
fn what_serde_accepts_quietly_the_reader_accepts_the_same_way() {
    let cases = [
        with("unknown", json!({"a": [1, -2.5e-3, true, null, "\u{e9}"]})),
        with("botFiltering", json!(null)),
        with("sdkKey", json!(null)),
        with(
            "typedAudiences",
            json!([{"id": "1", "name": "n", "conditions": ["and", ["or", "3", 4, null, true],
                {"name": "age", "type": "custom_attribute", "match": "gt", "value": 18.5,
                 "extra": {"x": [1]}},
                {"name": null, "type": 5, "match": 7, "value": [1, {"b": 2}]},
                {"match": null, "value": -0}]}]),
        ),
        with(
            "audiences",
            json!([{"id": "1", "conditions": "[\"or\", {\"name\": \"a\"}]"},
                   {"id": "2", "conditions": ["not", "1"]},
                   {"id": "3", "conditions": null}]),
        ),
        with(
            "experiments",
            json!([{"id": "1", "key": "e", "layerId": "2", "status": "Running",
                    "variations": [{"id": "v", "key": "on", "featureEnabled": null,
                                    "variables": [{"id": "x", "value": "1"}]}],
                    "trafficAllocation": [{"entityId": "v", "endOfRange": 4294967295u64}],
                    "audienceIds": ["3"], "audienceConditions": null,
                    "forcedVariations": {"u1": "on", "u\"2": "on"}, "type": null,
                    "cmab": {"trafficAllocation": 5000, "attributeIds": ["1"]}}]),
        ),
    ];
    for text in cases {
        assert!(agrees(&text), "left to serde: {text}");
    }
}

#[test]
fn white_space_of_every_kind_is_read_as_serde_reads_it() {
    let value: Value = serde_json::from_str(include_str!("../../../datafiles/quickstart.json"))
        .expect("the quickstart datafile");
    let pretty = serde_json::to_string_pretty(&value).expect("pretty");
    let mut forms = vec![
        pretty.replace("\n", "\n\t\t"),
        pretty.replace('\n', "\r\n"),
        pretty.replace("\n", "\n\n \n   "),
        serde_json::to_string(&value).expect("compact"),
    ];
    // Every indentation, across the eight bytes read at once, and the text's end after a
    // newline and a few spaces.
    for extra in 0..=17 {
        let spaces = " ".repeat(extra);
        forms.push(pretty.replace("\n", &format!("\n{spaces}")));
        forms.push(format!("{pretty}\n{spaces}"));
    }
    for text in &forms {
        assert!(agrees(text), "left to serde: {text}");
        assert_eq!(parse(text), parse(&pretty));
    }
    // A control byte that is not white space, where white space may be: serde refuses it.
    for bad in ["\n  \u{b}  ", "\n\u{c}", "\u{0}"] {
        let text = pretty.replacen("\n", bad, 3);
        assert!(parse(&text).is_none());
        assert!(by_serde(&text).is_none());
    }
}

/// `value` as JSON text, each object's keys in the order `order` leaves them, with an extra
/// key `"x"` first when `extra` is set (but in the objects the datafile reads whole).
fn written(value: &Value, order: fn(&mut Vec<(&String, &Value)>), extra: bool) -> String {
    match value {
        Value::Object(map) => {
            let mut fields: Vec<_> = map.iter().collect();
            order(&mut fields);
            let mut parts: Vec<String> = extra
                .then(|| r#""x": [1, {"id": 2}]"#.into())
                .into_iter()
                .collect();
            for (key, value) in fields {
                let whole = key == "forcedVariations" || key == "cmab";
                let value = written(value, order, extra && !whole);
                parts.push(format!("{}: {value}", Value::from(key.as_str())));
            }
            format!("{{{}}}", parts.join(", "))
        }
        Value::Array(items) => {
            let items: Vec<_> = items.iter().map(|v| written(v, order, extra)).collect();
            format!("[{}]", items.join(", "))
        }
        other => other.to_string(),
    }
}

#[test]
fn keys_in_any_order_and_keys_of_no_interest_are_read_as_serde_reads_them() {
    for (name, text) in documents("tests/fixtures/compat")
        .into_iter()
        .chain(documents("datafiles"))
    {
        let Ok(value) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        // Compared as serde reads them: the reader's arenas hold the trees in document order.
        let Some(expected) = parse(&text).map(|d| d.detached()) else {
            continue;
        };
        let reversed: fn(&mut Vec<(&String, &Value)>) = |fields| fields.reverse();
        let sorted: fn(&mut Vec<(&String, &Value)>) = |fields| fields.sort_by_key(|(k, _)| *k);
        for (order, extra) in [(reversed, false), (sorted, true), (reversed, true)] {
            let text = written(&value, order, extra);
            assert!(agrees(&text), "left to serde: {name}");
            let read = parse(&text).map(|d| d.detached());
            assert_eq!(read.as_ref(), Some(&expected), "{name}");
        }
    }
}

#[test]
fn a_known_key_is_matched_by_words_only_where_the_text_holds_it_whole() {
    let names: Vec<String> = (1..=31)
        .map(|n| "abcdefghijklmnopqrstuvwxyz01234"[..n].to_owned())
        .collect();
    for name in &names {
        let leaked: &'static [u8] = Box::leak(name.clone().into_bytes().into_boxed_slice());
        let key = super::Key::new(leaked);
        for pad in ["", ": 1}", ": 1, \"other\": 2}                "] {
            let text = format!(" {name}\"{pad}");
            let bytes = text.as_bytes();
            // Whole, from its first byte: found where eight-byte words can be read; never
            // anywhere else.
            let room = bytes.len() > 8 * (name.len() / 8 + 1);
            assert_eq!(key.is_at(bytes, 1), room, "{name:?} in {text:?}");
            assert!(!key.is_at(bytes, 0) && !key.is_at(bytes, 2), "{name:?}");
            // Any one byte of the key or its quote changed: not found.
            for at in 1..=name.len() + 1 {
                let mut changed = bytes.to_vec();
                changed[at] ^= 0x20;
                assert!(!key.is_at(&changed, 1), "{name:?} changed at {at}");
            }
        }
    }
}

#[test]
fn a_learned_gap_is_found_only_where_the_text_holds_all_of_it() {
    for len in 1..=32usize {
        let gap_bytes: Vec<u8> = (0..len).map(|i| b"\n ,\"key\": "[i % 10]).collect();
        let gap = super::Gap::new(&gap_bytes, 3).unwrap();
        for tail in [0usize, 31 - len.min(31), 32 - len, 40] {
            let mut text = b"x".to_vec();
            text.extend_from_slice(&gap_bytes);
            text.extend(std::iter::repeat_n(b'z', tail));
            // Found where 32 bytes can be read from it; never one byte off.
            assert_eq!(gap.is_at(&text, 1), text.len() >= 33, "{len} {tail}");
            assert!(!gap.is_at(&text, 0), "{len}");
            for at in 1..=len {
                let mut changed = text.clone();
                changed[at] ^= 0x01;
                assert!(!gap.is_at(&changed, 1), "{len} changed at {at}");
            }
        }
    }
    assert!(super::Gap::new(&[b' '; 33], 0).is_none());
    assert!(super::Gap::new(&[], 0).is_none());
    assert!(!super::Gap::default().is_at(&[b' '; 64], 0));
}

/// A datafile whose attributes are the objects `attributes`, written as given.
fn with_attributes(attributes: &[String]) -> String {
    format!(
        r#"{{"version": "4", "revision": "1", "accountId": "1", "projectId": "2",
           "attributes": [{}], "audiences": [], "experiments": [], "groups": [], "events": []}}"#,
        attributes.join(",\n  ")
    )
}

#[test]
fn objects_written_like_the_one_before_or_not_are_read_as_serde_reads_them() {
    let usual = r#"{
    "id": "1001",
    "key": "country"
  }"#;
    let variants = [
        // The same separators, other values.
        r#"{
    "id": "2002",
    "key": "plan"
  }"#,
        // Keys swapped, a key of no interest, other white space, a one-byte change of key.
        r#"{
    "key": "age",
    "id": "3003"
  }"#,
        r#"{
    "id": "4004",
    "other": [1, {"id": 2}],
    "key": "device"
  }"#,
        r#"{
    "id": "5005",
     "key": "size"
  }"#,
        r#"{
    "id": "6006",
    "kez": "x",
    "key": "y"
  }"#,
        r#"{"id": "7007", "key": "z"}"#,
    ];
    for variant in variants {
        for order in [[usual, variant, usual], [variant, usual, variant]] {
            let objects: Vec<String> = order.iter().map(|s| s.to_string()).collect();
            assert!(agrees(&with_attributes(&objects)), "{objects:?}");
        }
    }
    // A key written twice after the learned separators: the reader steps aside, for serde to
    // decide.
    let twice = r#"{
    "id": "8008",
    "key": "a",
    "key": "b"
  }"#;
    let text = with_attributes(&[usual.to_owned(), usual.to_owned(), twice.to_owned()]);
    assert!(!agrees(&text));
}

/// Datafiles to damage: the quickstart sample and two fixture sets with holdouts, groups,
/// typed audiences and escapes between them.
const DAMAGED: [&str; 3] = [
    include_str!("../../../datafiles/quickstart.json"),
    include_str!("../../../tests/fixtures/compat/py_typed_audiences/datafile.json"),
    include_str!("../../../tests/fixtures/compat/generated_1/datafile.json"),
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, failure_persistence: None,
                                        ..ProptestConfig::default() })]

    /// Any one byte changed, inserted or removed anywhere: the reader never gives a model
    /// serde would not give.
    #[test]
    fn a_damaged_document_is_never_read_differently(
        which in 0usize..DAMAGED.len(), at in any::<usize>(), byte in any::<u8>(), how in 0u8..3
    ) {
        let mut bytes = DAMAGED[which].as_bytes().to_vec();
        let at = at % bytes.len();
        match how {
            0 => bytes[at] = byte,
            1 => bytes.insert(at, byte),
            _ => { bytes.remove(at); }
        }
        if let Ok(text) = std::str::from_utf8(&bytes) {
            agrees(text);
        }
    }

    /// Any text at any value position of a small datafile.
    #[test]
    fn any_value_anywhere_is_read_as_serde_reads_it(
        field in prop::sample::select(vec!["revision", "anonymizeIP", "botFiltering",
            "attributes", "audiences", "typedAudiences", "experiments", "groups",
            "featureFlags", "rollouts", "events", "integrations", "holdouts", "region"]),
        value in r#"(\[|\]|\{|\}|"|\\|,|:|[a-z]{1,4}|-?[0-9]{1,3}(\.[0-9])?(e-?[0-9]{1,3})?|null|true|false| |\\u[0-9a-f]{4}){1,12}"#
    ) {
        let text = with(field, json!("SLOT")).replacen("\"SLOT\"", &value, 1);
        agrees(&text);
    }
}
