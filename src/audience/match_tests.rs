//! Leaf conditions at their edges and the three-valued tree logic, as the official SDKs
//! evaluate them.

use super::*;
use crate::value::Attributes;
use serde_json::json;

/// Evaluates one condition `{"name": "a", "type": "custom_attribute", "match": m, "value": v}`
/// for a user whose attribute `a` is `user` (absent when `None`).
fn leaf(m: &str, v: serde_json::Value, user: Option<serde_json::Value>) -> Option<bool> {
    let condition = json!({"name": "a", "type": "custom_attribute", "match": m, "value": v});
    let condition = Condition::compile(condition.as_object().unwrap());
    let mut attributes = Attributes::new();
    if let Some(u) = user {
        attributes.insert("a", u);
    }
    condition.evaluate(&attributes, &[])
}

const T: Option<bool> = Some(true);
const F: Option<bool> = Some(false);
const U: Option<bool> = None;

#[test]
fn exact_matches_strings_booleans_and_numbers_of_the_same_kind() {
    let table = [
        ("string equal", json!("US"), json!("US"), T),
        ("string differs", json!("US"), json!("us"), F),
        ("bool equal", json!(true), json!(true), T),
        ("bool differs", json!(true), json!(false), F),
        ("int equals float", json!(5), json!(5.0), T),
        ("float equals int", json!(2.5), json!(2.5), T),
        ("number differs", json!(5), json!(6), F),
        ("bool is not a number", json!(1), json!(true), U),
        ("number is not a bool", json!(true), json!(1), U),
        ("string is not a number", json!(5), json!("5"), U),
        ("list is unknown", json!("x"), json!(["x"]), U),
        (
            "2^53 is accepted",
            json!(9007199254740992u64),
            json!(9007199254740992u64),
            T,
        ),
        (
            "user beyond 2^53 is unknown",
            json!(1),
            json!(9007199254740993u64),
            U,
        ),
        (
            "condition beyond 2^53 is unknown",
            json!(9007199254740994u64),
            json!(1),
            U,
        ),
        (
            "negative 2^53 is accepted",
            json!(-9007199254740992i64),
            json!(-9007199254740992i64),
            T,
        ),
        ("condition list is unknown", json!([1]), json!(1), U),
        ("condition null is unknown", json!(null), json!("x"), U),
    ];
    for (label, condition, user, expected) in table {
        assert_eq!(leaf("exact", condition, Some(user)), expected, "{label}");
    }
}

#[test]
fn exact_with_a_non_finite_user_float_is_unknown() {
    let condition = json!({"name": "a", "type": "custom_attribute", "match": "exact", "value": 1});
    let condition = Condition::compile(condition.as_object().unwrap());
    for f in [f64::INFINITY, f64::NEG_INFINITY, f64::NAN] {
        let attributes: Attributes = [("a", f)].into_iter().collect();
        assert_eq!(condition.evaluate(&attributes, &[]), U, "{f}");
    }
}

#[test]
fn exists_is_true_only_for_a_present_non_null_value_and_never_unknown() {
    assert_eq!(leaf("exists", json!(null), Some(json!("x"))), T);
    assert_eq!(leaf("exists", json!(null), Some(json!(false))), T);
    assert_eq!(leaf("exists", json!(null), Some(json!([]))), T);
    assert_eq!(leaf("exists", json!(null), Some(json!(null))), F);
    assert_eq!(leaf("exists", json!(null), None), F);
}

#[test]
fn numeric_comparisons_at_their_boundaries() {
    let table = [
        ("gt", json!(10), json!(10), F),
        ("gt", json!(10), json!(10.000001), T),
        ("ge", json!(10), json!(10), T),
        ("ge", json!(10), json!(9.99), F),
        ("lt", json!(10), json!(10), F),
        ("lt", json!(10), json!(-3), T),
        ("le", json!(10), json!(10.0), T),
        ("le", json!(10), json!(11), F),
        ("gt", json!(0.1), json!(0.2), T),
        ("gt", json!(1), json!(true), U),
        ("gt", json!(1), json!("2"), U),
        ("gt", json!("1"), json!(2), U),
        ("lt", json!(true), json!(0), U),
        ("ge", json!(1), json!(9007199254740993u64), U),
        ("le", json!(9007199254740993u64), json!(1), U),
    ];
    for (m, condition, user, expected) in table {
        assert_eq!(
            leaf(m, condition.clone(), Some(user.clone())),
            expected,
            "{m} {condition} vs {user}"
        );
    }
}

#[test]
fn substring_needs_two_strings() {
    assert_eq!(leaf("substring", json!("ell"), Some(json!("hello"))), T);
    assert_eq!(leaf("substring", json!("hello"), Some(json!("hell"))), F);
    assert_eq!(leaf("substring", json!(""), Some(json!("x"))), T);
    assert_eq!(leaf("substring", json!("1"), Some(json!(12))), U);
    assert_eq!(leaf("substring", json!(1), Some(json!("12"))), U);
}

#[test]
fn semver_matches_compare_at_the_targets_precision() {
    let table = [
        ("semver_eq", "2.0", "2.0.1", T),
        ("semver_eq", "2.0.1", "2.0.0", F),
        ("semver_gt", "3.7.1-beta", "3.7.1", T),
        ("semver_lt", "3.7.1", "3.7.1-beta", T),
        ("semver_ge", "2.0.0", "2.0.0", T),
        ("semver_ge", "2.0.0", "1.9.9", F),
        ("semver_le", "2.0.0", "2.0.0-rc.1", T),
        ("semver_gt", "3.7.1+build", "3.7.1", T),
        ("semver_ge", "1.2.3", "1.2.3.4", U),
        ("semver_ge", "1.2.3", "v1", U),
        ("semver_eq", "1.2.3", "1. 2", U),
        ("semver_eq", "x.y", "1.2", U),
    ];
    for (m, target, user, expected) in table {
        assert_eq!(
            leaf(m, json!(target), Some(json!(user))),
            expected,
            "{m} {target} vs {user}"
        );
    }
    assert_eq!(leaf("semver_eq", json!("1.2"), Some(json!(1.2))), U);
    assert_eq!(leaf("semver_eq", json!(1.2), Some(json!("1.2"))), U);
}

#[test]
fn qualified_looks_at_segments_not_attributes() {
    let condition = json!({"name": "odp.audiences", "type": "third_party_dimension", "match": "qualified", "value": "seg-a"});
    let condition = Condition::compile(condition.as_object().unwrap());
    let attributes = Attributes::new();
    assert_eq!(condition.evaluate(&attributes, &["seg-a".to_owned()]), T);
    assert_eq!(condition.evaluate(&attributes, &["seg-b".to_owned()]), F);
    assert_eq!(condition.evaluate(&attributes, &[]), F);
    let bad =
        json!({"name": "x", "type": "third_party_dimension", "match": "qualified", "value": 3});
    let bad = Condition::compile(bad.as_object().unwrap());
    assert_eq!(bad.evaluate(&attributes, &["3".to_owned()]), U);
}

#[test]
fn unknown_types_matches_and_missing_values_are_unknown() {
    let attributes: Attributes = [("a", "x")].into_iter().collect();
    let cases = [
        (
            json!({"name": "a", "type": "custom_attribute", "value": "x"}),
            T,
        ),
        (
            json!({"name": "a", "type": "custom_attribute", "match": null, "value": "x"}),
            T,
        ),
        (
            json!({"name": "a", "type": "custom_attribute", "match": "regex", "value": "x"}),
            U,
        ),
        (
            json!({"name": "a", "type": "custom_attribute", "match": 7, "value": "x"}),
            U,
        ),
        (
            json!({"name": "a", "type": "browser", "match": "exact", "value": "x"}),
            U,
        ),
        (json!({"name": "a", "match": "exact", "value": "x"}), U),
        (
            json!({"name": "b", "type": "custom_attribute", "match": "exact", "value": "x"}),
            U,
        ),
        (json!({"type": "custom_attribute", "match": "exists"}), F),
    ];
    for (condition, expected) in cases {
        let compiled = Condition::compile(condition.as_object().unwrap());
        assert_eq!(compiled.evaluate(&attributes, &[]), expected, "{condition}");
    }
    assert_eq!(leaf("exact", json!("x"), Some(json!(null))), U);
    assert_eq!(leaf("gt", json!(1), None), U);
}

fn tree(value: serde_json::Value) -> Tree<Option<bool>> {
    Tree::from_json(&value, &mut |leaf| match leaf {
        serde_json::Value::String(s) if s == "T" => Some(Some(true)),
        serde_json::Value::String(s) if s == "F" => Some(Some(false)),
        serde_json::Value::String(s) if s == "U" => Some(None),
        _ => None,
    })
}

fn eval(value: serde_json::Value) -> Option<bool> {
    tree(value).evaluate(&mut |v| *v)
}

#[test]
fn and_or_not_follow_three_valued_logic() {
    let table = [
        (json!(["and", "T", "T"]), T),
        (json!(["and", "T", "U"]), U),
        (json!(["and", "U", "F"]), F),
        (json!(["and", "F", "U"]), F),
        (json!(["or", "F", "U"]), U),
        (json!(["or", "U", "T"]), T),
        (json!(["or", "F", "F"]), F),
        (json!(["not", "T"]), F),
        (json!(["not", "U"]), U),
        (json!(["not"]), U),
        (json!(["not", "F", "T"]), T),
        (json!(["F", "T"]), T),
        (json!(["F", "U"]), U),
        (json!("T"), T),
        (json!([]), U),
        (
            json!(["and", ["or", "F", ["not", "F"]], ["not", ["and", "T", "F"]]]),
            T,
        ),
        (json!(["and"]), T),
        (json!(["or"]), F),
        (json!([5]), U),
    ];
    for (expression, expected) in table {
        assert_eq!(eval(expression.clone()), expected, "{expression}");
    }
}

#[test]
fn legacy_audiences_read_their_json_encoded_conditions() {
    let encoded = json!("[\"and\", {\"name\": \"a\", \"type\": \"custom_attribute\", \"match\": \"exact\", \"value\": \"x\"}]");
    let audience = Audience::compile("1", "legacy", &encoded).unwrap();
    let yes: Attributes = [("a", "x")].into_iter().collect();
    let no: Attributes = [("a", "y")].into_iter().collect();
    assert_eq!(audience.evaluate(&yes, &[]), T);
    assert_eq!(audience.evaluate(&no, &[]), F);
    assert_eq!(audience.evaluate(&Attributes::new(), &[]), U);
}

#[test]
fn typed_audiences_take_a_tree_or_a_single_leaf() {
    let single = json!({"name": "a", "type": "custom_attribute", "match": "exists"});
    let audience = Audience::compile("2", "typed", &single).unwrap();
    let yes: Attributes = [("a", 1)].into_iter().collect();
    assert_eq!(audience.evaluate(&yes, &[]), T);
    assert_eq!(audience.evaluate(&Attributes::new(), &[]), F);
}

#[test]
fn legacy_conditions_that_are_not_json_are_an_error() {
    let err = Audience::compile("3", "broken", &json!("[\"and\", {")).unwrap_err();
    assert!(err.starts_with("conditions are not valid JSON"), "{err}");
}
