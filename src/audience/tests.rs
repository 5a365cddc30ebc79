//! Every match type at its edges, three-valued and/or/not trees, and audience compilation.
//!
//! Expected values are those of the official Python SDK (`optimizely-sdk` 5.7.0,
//! `CustomAttributeConditionEvaluator` and `condition_tree_evaluator`); every leaf table below
//! was checked against it.

use super::*;
use crate::value::{AttributeValue, Attributes};
use serde_json::{json, Value};

const T: Option<bool> = Some(true);
const F: Option<bool> = Some(false);
const U: Option<bool> = None;

/// 2^53, the largest magnitude a number may have in a condition.
const TWO_53: i64 = 1 << 53;

fn condition(object: Value) -> Condition {
    Condition::compile(object.as_object().expect("a condition object"))
}

/// `{"name": "a", "type": "custom_attribute", "match": m, "value": v}` evaluated for a user
/// whose attribute `a` is `user` (`None`: the user has no attribute `a`).
fn leaf(m: &str, v: Value, user: Option<AttributeValue>) -> Option<bool> {
    let c = condition(json!({"name": "a", "type": "custom_attribute", "match": m, "value": v}));
    let mut attributes = Attributes::new();
    if let Some(u) = user {
        attributes.insert("a", u);
    }
    c.evaluate(&attributes, &[])
}

/// A user value from JSON.
fn u(v: Value) -> Option<AttributeValue> {
    Some(AttributeValue::from_json(v))
}

/// One row of a leaf table: label, match, condition value, user value (`None`: absent) and
/// the expected result.
type Row = (
    &'static str,
    &'static str,
    Value,
    Option<AttributeValue>,
    Option<bool>,
);

/// Runs a labelled table of leaf cases.
fn check(table: &[Row]) {
    for (label, m, v, user, expected) in table {
        assert_eq!(
            leaf(m, v.clone(), user.clone()),
            *expected,
            "{label}: {m} {v} vs {user:?}"
        );
    }
}

#[test]
fn exact_string_matches_only_the_identical_string() {
    check(&[
        ("same string", "exact", json!("US"), u(json!("US")), T),
        ("case differs", "exact", json!("US"), u(json!("us")), F),
        ("longer string", "exact", json!("US"), u(json!("USA")), F),
        ("both empty", "exact", json!(""), u(json!("")), T),
        ("user number", "exact", json!("5"), u(json!(5)), U),
        ("user bool", "exact", json!("true"), u(json!(true)), U),
        ("user list", "exact", json!("x"), u(json!(["x"])), U),
        ("user object", "exact", json!("x"), u(json!({"x": 1})), U),
    ]);
}

#[test]
fn exact_bool_matches_only_a_bool_and_never_a_number() {
    check(&[
        ("true vs true", "exact", json!(true), u(json!(true)), T),
        ("true vs false", "exact", json!(true), u(json!(false)), F),
        ("false vs false", "exact", json!(false), u(json!(false)), T),
        (
            "bool condition, user 1",
            "exact",
            json!(true),
            u(json!(1)),
            U,
        ),
        (
            "number condition, user true",
            "exact",
            json!(1),
            u(json!(true)),
            U,
        ),
        ("0 vs false", "exact", json!(0), u(json!(false)), U),
        (
            "bool condition, user string",
            "exact",
            json!(true),
            u(json!("true")),
            U,
        ),
    ]);
}

#[test]
fn exact_number_treats_int_and_float_as_one_kind() {
    check(&[
        (
            "int condition, float user",
            "exact",
            json!(5),
            u(json!(5.0)),
            T,
        ),
        (
            "float condition, int user",
            "exact",
            json!(5.0),
            u(json!(5)),
            T,
        ),
        ("int vs int", "exact", json!(5), u(json!(5)), T),
        ("negative zero", "exact", json!(-0.0), u(json!(0)), T),
        ("different value", "exact", json!(5), u(json!(5.5)), F),
        ("floats", "exact", json!(1.5), u(json!(1.5)), T),
        ("string user", "exact", json!(5), u(json!("5")), U),
    ]);
}

#[test]
fn exact_accepts_two_to_the_53_and_nothing_beyond() {
    check(&[
        (
            "2^53 both sides",
            "exact",
            json!(TWO_53),
            Some(AttributeValue::Int(TWO_53)),
            T,
        ),
        (
            "-2^53 both sides",
            "exact",
            json!(-TWO_53),
            Some(AttributeValue::Int(-TWO_53)),
            T,
        ),
        (
            "2^53 as float user",
            "exact",
            json!(TWO_53),
            Some(AttributeValue::Float(TWO_53 as f64)),
            T,
        ),
        (
            "user int 2^53+1",
            "exact",
            json!(TWO_53),
            Some(AttributeValue::Int(TWO_53 + 1)),
            U,
        ),
        (
            "user int 2^53+1, small condition",
            "exact",
            json!(1),
            Some(AttributeValue::Int(TWO_53 + 1)),
            U,
        ),
        (
            "user float 2^54",
            "exact",
            json!(1),
            Some(AttributeValue::Float(2.0 * TWO_53 as f64)),
            U,
        ),
        (
            "condition 2^53+1",
            "exact",
            json!(TWO_53 + 1),
            Some(AttributeValue::Int(1)),
            U,
        ),
        (
            "condition 2^53+1, equal user",
            "exact",
            json!(TWO_53 + 1),
            Some(AttributeValue::Int(TWO_53 + 1)),
            U,
        ),
        (
            "condition -(2^53+1)",
            "exact",
            json!(-TWO_53 - 1),
            Some(AttributeValue::Int(1)),
            U,
        ),
        (
            "condition 1e300",
            "exact",
            json!(1e300),
            Some(AttributeValue::Float(1e300)),
            U,
        ),
        (
            "condition u64::MAX",
            "exact",
            json!(u64::MAX),
            Some(AttributeValue::Int(1)),
            U,
        ),
    ]);
}

#[test]
fn exact_with_a_non_finite_user_number_is_unknown() {
    for f in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert_eq!(
            leaf("exact", json!(1), Some(AttributeValue::Float(f))),
            U,
            "{f}"
        );
        assert_eq!(
            leaf("exact", json!("x"), Some(AttributeValue::Float(f))),
            U,
            "{f}"
        );
    }
}

#[test]
fn exact_with_a_condition_value_that_is_not_a_scalar_is_unknown() {
    check(&[
        ("null condition", "exact", json!(null), u(json!("x")), U),
        ("list condition", "exact", json!([1]), u(json!(1)), U),
        ("object condition", "exact", json!({"a": 1}), u(json!(1)), U),
    ]);
}

#[test]
fn exists_is_true_for_any_present_non_null_value_and_never_unknown() {
    check(&[
        ("string", "exists", json!(null), u(json!("x")), T),
        ("empty string", "exists", json!(null), u(json!("")), T),
        ("false", "exists", json!(null), u(json!(false)), T),
        ("zero", "exists", json!(null), u(json!(0)), T),
        ("empty list", "exists", json!(null), u(json!([])), T),
        (
            "beyond 2^53",
            "exists",
            json!("ignored"),
            Some(AttributeValue::Int(TWO_53 + 1)),
            T,
        ),
        (
            "NaN",
            "exists",
            json!(null),
            Some(AttributeValue::Float(f64::NAN)),
            T,
        ),
        ("null", "exists", json!(null), u(json!(null)), F),
        ("missing", "exists", json!(null), None, F),
    ]);
    // Without a name the attribute is never there.
    let nameless = condition(json!({"type": "custom_attribute", "match": "exists"}));
    let attributes: Attributes = [("a", "x")].into_iter().collect();
    assert_eq!(nameless.evaluate(&attributes, &[]), F);
}

#[test]
fn numeric_matches_compare_at_their_boundaries() {
    check(&[
        ("gt equal", "gt", json!(10), u(json!(10)), F),
        ("gt above", "gt", json!(10), u(json!(10.5)), T),
        ("gt below", "gt", json!(10), u(json!(9)), F),
        (
            "gt float condition, int user",
            "gt",
            json!(1.5),
            u(json!(2)),
            T,
        ),
        ("ge equal", "ge", json!(10), u(json!(10)), T),
        ("ge equal as float", "ge", json!(10), u(json!(10.0)), T),
        ("ge just below", "ge", json!(10), u(json!(9.999)), F),
        ("lt equal", "lt", json!(10), u(json!(10)), F),
        ("lt just below", "lt", json!(10), u(json!(9.999)), T),
        ("lt negatives", "lt", json!(-1), u(json!(-2)), T),
        ("le equal", "le", json!(10), u(json!(10)), T),
        ("le just above", "le", json!(10), u(json!(10.001)), F),
        (
            "le at 2^53",
            "le",
            json!(TWO_53),
            Some(AttributeValue::Int(TWO_53)),
            T,
        ),
    ]);
}

#[test]
fn numeric_matches_are_unknown_for_anything_but_a_safe_number() {
    check(&[
        ("user true", "gt", json!(1), u(json!(true)), U),
        ("user false", "lt", json!(1), u(json!(false)), U),
        ("user numeric string", "gt", json!(1), u(json!("2")), U),
        ("user null", "gt", json!(1), u(json!(null)), U),
        ("user missing", "gt", json!(1), None, U),
        ("user list", "gt", json!(1), u(json!([2])), U),
        (
            "user 2^53+1",
            "gt",
            json!(1),
            Some(AttributeValue::Int(TWO_53 + 1)),
            U,
        ),
        (
            "user -(2^53+1)",
            "lt",
            json!(1),
            Some(AttributeValue::Int(-TWO_53 - 1)),
            U,
        ),
        (
            "user NaN",
            "ge",
            json!(1),
            Some(AttributeValue::Float(f64::NAN)),
            U,
        ),
        (
            "user infinity",
            "gt",
            json!(1),
            Some(AttributeValue::Float(f64::INFINITY)),
            U,
        ),
        ("condition string", "gt", json!("10"), u(json!(11)), U),
        ("condition bool", "gt", json!(true), u(json!(2)), U),
        ("condition null", "lt", json!(null), u(json!(1)), U),
        ("condition 2^53+1", "gt", json!(TWO_53 + 1), u(json!(1)), U),
        ("condition 1e300", "ge", json!(1e300), u(json!(1)), U),
    ]);
}

#[test]
fn substring_needs_two_strings_and_is_case_sensitive() {
    check(&[
        ("contained", "substring", json!("ell"), u(json!("hello")), T),
        (
            "case differs",
            "substring",
            json!("Ell"),
            u(json!("hello")),
            F,
        ),
        (
            "condition longer",
            "substring",
            json!("hello"),
            u(json!("hell")),
            F,
        ),
        ("empty condition", "substring", json!(""), u(json!("x")), T),
        ("both empty", "substring", json!(""), u(json!("")), T),
        ("user number", "substring", json!("1"), u(json!(12)), U),
        ("condition number", "substring", json!(1), u(json!("12")), U),
        ("user bool", "substring", json!("a"), u(json!(true)), U),
        ("user null", "substring", json!("a"), u(json!(null)), U),
        ("user missing", "substring", json!("a"), None, U),
    ]);
}

#[test]
fn every_semver_match_against_equal_greater_and_smaller_versions() {
    // (user version, [eq, gt, ge, lt, le]) against the target "2.0.0".
    let table = [
        ("2.0.0", [T, F, T, F, T]),
        ("2.0.1", [F, T, T, F, F]),
        ("1.9.9", [F, F, F, T, T]),
        ("10.0.0", [F, T, T, F, F]),
        ("2.0.0-beta", [F, F, F, T, T]),
        ("2.0.0+build.7", [T, F, T, F, T]),
    ];
    let ops = [
        "semver_eq",
        "semver_gt",
        "semver_ge",
        "semver_lt",
        "semver_le",
    ];
    for (user, expected) in table {
        for (op, want) in ops.iter().zip(expected) {
            assert_eq!(
                leaf(op, json!("2.0.0"), u(json!(user))),
                want,
                "{op} 2.0.0 vs {user}"
            );
        }
    }
}

#[test]
fn semver_pre_release_build_and_precision_cases() {
    check(&[
        (
            "target build is below the release",
            "semver_gt",
            json!("2.0.0+build"),
            u(json!("2.0.0")),
            T,
        ),
        (
            "target pre-release is below the release",
            "semver_gt",
            json!("2.0.0-beta"),
            u(json!("2.0.0")),
            T,
        ),
        (
            "same pre-release",
            "semver_eq",
            json!("2.0.0-beta"),
            u(json!("2.0.0-beta")),
            T,
        ),
        (
            "pre-releases compare as strings",
            "semver_lt",
            json!("2.0.0-beta.2"),
            u(json!("2.0.0-beta.10")),
            T,
        ),
        (
            "alpha below beta",
            "semver_gt",
            json!("2.0.0-alpha"),
            u(json!("2.0.0-beta")),
            T,
        ),
        (
            "only the target's precision counts",
            "semver_eq",
            json!("2.0"),
            u(json!("2.0.5")),
            T,
        ),
        (
            "major-only target",
            "semver_eq",
            json!("2"),
            u(json!("2.99.1")),
            T,
        ),
        (
            "shorter user is smaller",
            "semver_lt",
            json!("2.0.1"),
            u(json!("2.0")),
            T,
        ),
        (
            "parts compare as integers",
            "semver_lt",
            json!("10.0.0"),
            u(json!("9.99.99")),
            T,
        ),
        (
            "leading zeros",
            "semver_eq",
            json!("1.010"),
            u(json!("1.10")),
            T,
        ),
    ]);
}

#[test]
fn semver_with_an_invalid_or_non_string_version_is_unknown() {
    for user in [
        "v1.2.3", "1.2.3.4", "", "1 .2", "1..2", "abc", "-1", "1.2.", "+build",
    ] {
        for op in [
            "semver_eq",
            "semver_gt",
            "semver_ge",
            "semver_lt",
            "semver_le",
        ] {
            assert_eq!(
                leaf(op, json!("1.2.3"), u(json!(user))),
                U,
                "{op} 1.2.3 vs {user:?}"
            );
        }
    }
    check(&[
        ("user number", "semver_eq", json!("1.2.3"), u(json!(123)), U),
        ("user bool", "semver_eq", json!("1.2.3"), u(json!(true)), U),
        ("user missing", "semver_eq", json!("1.2.3"), None, U),
        ("user null", "semver_eq", json!("1.2.3"), u(json!(null)), U),
        (
            "condition number",
            "semver_eq",
            json!(1.2),
            u(json!("1.2")),
            U,
        ),
        (
            "condition not a version",
            "semver_eq",
            json!("x.y"),
            u(json!("1.2")),
            U,
        ),
        (
            "condition with four parts",
            "semver_eq",
            json!("1.2.3.4"),
            u(json!("1.2.3")),
            U,
        ),
    ]);
}

#[test]
fn qualified_tests_the_segments_not_the_attributes() {
    let c = condition(
        json!({"name": "odp.audiences", "type": "third_party_dimension", "match": "qualified", "value": "vip"}),
    );
    let none = Attributes::new();
    let same_named: Attributes = [("odp.audiences", "vip")].into_iter().collect();
    let segments = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(c.evaluate(&none, &segments(&["gold", "vip"])), T);
    assert_eq!(c.evaluate(&none, &segments(&["gold"])), F);
    assert_eq!(c.evaluate(&none, &[]), F);
    assert_eq!(c.evaluate(&same_named, &[]), F);
    assert_eq!(c.evaluate(&none, &segments(&["VIP"])), F);
    let custom = condition(
        json!({"name": "x", "type": "custom_attribute", "match": "qualified", "value": "vip"}),
    );
    assert_eq!(custom.evaluate(&none, &segments(&["vip"])), T);
    let number = condition(
        json!({"name": "x", "type": "third_party_dimension", "match": "qualified", "value": 7}),
    );
    assert_eq!(number.evaluate(&none, &segments(&["7"])), U);
}

#[test]
fn match_and_type_rules_of_a_leaf() {
    let us: Attributes = [("a", "US")].into_iter().collect();
    let table = [
        (
            "missing match is exact (hit)",
            json!({"name": "a", "type": "custom_attribute", "value": "US"}),
            T,
        ),
        (
            "missing match is exact (miss)",
            json!({"name": "a", "type": "custom_attribute", "value": "FR"}),
            F,
        ),
        (
            "null match is exact",
            json!({"name": "a", "type": "custom_attribute", "match": null, "value": "US"}),
            T,
        ),
        (
            "unknown match",
            json!({"name": "a", "type": "custom_attribute", "match": "regex", "value": "US"}),
            U,
        ),
        (
            "non-string match",
            json!({"name": "a", "type": "custom_attribute", "match": 1, "value": "US"}),
            U,
        ),
        (
            "match names are case-sensitive",
            json!({"name": "a", "type": "custom_attribute", "match": "EXACT", "value": "US"}),
            U,
        ),
        (
            "unknown type",
            json!({"name": "a", "type": "browser", "match": "exact", "value": "US"}),
            U,
        ),
        (
            "unknown type with exists",
            json!({"name": "a", "type": "browser", "match": "exists"}),
            U,
        ),
        (
            "missing type",
            json!({"name": "a", "match": "exact", "value": "US"}),
            U,
        ),
        (
            "third_party_dimension with exact",
            json!({"name": "a", "type": "third_party_dimension", "match": "exact", "value": "US"}),
            T,
        ),
        (
            "missing attribute",
            json!({"name": "b", "type": "custom_attribute", "match": "exact", "value": "US"}),
            U,
        ),
        (
            "missing attribute, unknown match",
            json!({"name": "b", "type": "custom_attribute", "match": "regex", "value": "US"}),
            U,
        ),
        (
            "no name",
            json!({"type": "custom_attribute", "match": "exact", "value": "US"}),
            U,
        ),
    ];
    for (label, object, expected) in table {
        assert_eq!(condition(object).evaluate(&us, &[]), expected, "{label}");
    }
}

#[test]
fn a_null_attribute_is_unknown_for_every_typed_match() {
    for (m, v) in [
        ("exact", json!("x")),
        ("gt", json!(1)),
        ("ge", json!(1)),
        ("lt", json!(1)),
        ("le", json!(1)),
        ("substring", json!("x")),
        ("semver_eq", json!("1.0")),
        ("semver_ge", json!("1.0")),
    ] {
        assert_eq!(
            leaf(m, v.clone(), Some(AttributeValue::Null)),
            U,
            "{m} null"
        );
        assert_eq!(leaf(m, v.clone(), None), U, "{m} missing");
    }
}

// ---- condition trees -------------------------------------------------------------------

/// Three conditions on `c`: "t" is true, "f" false and "u" unknown for the user of
/// [`tree_eval`] (who has `c = "x"` and no `missing` attribute).
fn symbol(name: &str) -> Value {
    match name {
        "t" => json!({"name": "c", "type": "custom_attribute", "match": "exact", "value": "x"}),
        "f" => json!({"name": "c", "type": "custom_attribute", "match": "exact", "value": "y"}),
        "u" => {
            json!({"name": "missing", "type": "custom_attribute", "match": "exact", "value": "x"})
        }
        other => json!(other),
    }
}

/// Replaces the strings "t", "f" and "u" in `expression` by their conditions.
fn expand(expression: &Value) -> Value {
    match expression {
        Value::Array(items) => Value::Array(items.iter().map(expand).collect()),
        Value::String(s) if s == "t" || s == "f" || s == "u" => symbol(s),
        other => other.clone(),
    }
}

fn tree_eval(expression: Value) -> Option<bool> {
    let user: Attributes = [("c", "x")].into_iter().collect();
    let tree: Tree<Condition> = Tree::from_json(&expand(&expression), &mut |leaf| {
        leaf.as_object().map(Condition::compile)
    });
    tree.evaluate(&mut |c| c.evaluate(&user, &[]))
}

#[test]
fn and_is_false_if_any_operand_is_false_else_unknown_if_any_is_unknown() {
    let table = [
        ("all true", json!(["and", "t", "t"]), T),
        ("false beats unknown", json!(["and", "u", "f"]), F),
        (
            "false beats unknown, false first",
            json!(["and", "f", "u"]),
            F,
        ),
        ("true and unknown", json!(["and", "t", "u"]), U),
        ("true and false", json!(["and", "t", "f"]), F),
        ("one operand", json!(["and", "u"]), U),
    ];
    for (label, expression, expected) in table {
        assert_eq!(tree_eval(expression), expected, "{label}");
    }
}

#[test]
fn or_is_true_if_any_operand_is_true_else_unknown_if_any_is_unknown() {
    let table = [
        ("true beats unknown", json!(["or", "u", "t"]), T),
        ("true beats unknown, true first", json!(["or", "t", "u"]), T),
        ("false or unknown", json!(["or", "f", "u"]), U),
        ("all false", json!(["or", "f", "f"]), F),
        ("one true operand", json!(["or", "t"]), T),
    ];
    for (label, expression, expected) in table {
        assert_eq!(tree_eval(expression), expected, "{label}");
    }
}

#[test]
fn not_negates_its_first_operand_and_keeps_unknown() {
    let table = [
        ("not true", json!(["not", "t"]), F),
        ("not false", json!(["not", "f"]), T),
        ("not unknown", json!(["not", "u"]), U),
        ("no operand", json!(["not"]), U),
        ("only the first operand counts", json!(["not", "f", "f"]), T),
        ("not of a false and", json!(["not", ["and", "u", "f"]]), T),
        (
            "not of an unknown and",
            json!(["not", ["and", "t", "u"]]),
            U,
        ),
    ];
    for (label, expression, expected) in table {
        assert_eq!(tree_eval(expression), expected, "{label}");
    }
}

#[test]
fn list_shapes_without_an_operator() {
    let table = [
        (
            "list without operator is an or (true)",
            json!(["f", "t"]),
            T,
        ),
        (
            "list without operator is an or (unknown)",
            json!(["f", "u"]),
            U,
        ),
        (
            "list without operator is an or (false)",
            json!(["f", "f"]),
            F,
        ),
        (
            "nested lists without operator",
            json!([["f"], ["and", "t", "t"]]),
            T,
        ),
        ("a single leaf object", json!("t"), T),
        ("a single false leaf object", json!("f"), F),
        ("empty list", json!([]), U),
        ("empty nested list", json!(["and", "t", []]), U),
        ("a number in the tree", json!(["or", 3]), U),
        (
            "an unknown operator string is an operand",
            json!(["nand", "t"]),
            T,
        ),
    ];
    for (label, expression, expected) in table {
        assert_eq!(tree_eval(expression), expected, "{label}");
    }
}

#[test]
fn deep_trees_combine_three_valued_results() {
    // (t or u) and not (f and u) and (u or t): true and not(false) and true.
    let expression = json!([
        "and",
        ["or", "t", "u"],
        ["not", ["and", "f", "u"]],
        ["u", "t"]
    ]);
    assert_eq!(tree_eval(expression), T);
    // not (t and u) or f: not unknown or false -> unknown.
    assert_eq!(tree_eval(json!(["or", ["not", ["and", "t", "u"]], "f"])), U);
}

// ---- audiences -------------------------------------------------------------------------

fn attrs(pairs: &[(&str, Value)]) -> Attributes {
    pairs
        .iter()
        .map(|(k, v)| (*k, AttributeValue::from_json(v.clone())))
        .collect()
}

#[test]
fn an_audience_from_a_json_encoded_string() {
    let text = r#"["and", ["or", {"name": "country", "type": "custom_attribute", "value": "US"}],
                         ["or", {"name": "age", "type": "custom_attribute", "match": "ge", "value": 18}]]"#;
    let audience = Audience::compile("11", "adult US", &json!(text)).expect("valid conditions");
    assert_eq!((&*audience.id, &*audience.name), ("11", "adult US"));
    let table = [
        (
            "US adult",
            attrs(&[("country", json!("US")), ("age", json!(18))]),
            T,
        ),
        (
            "US minor",
            attrs(&[("country", json!("US")), ("age", json!(17))]),
            F,
        ),
        (
            "FR adult",
            attrs(&[("country", json!("FR")), ("age", json!(40))]),
            F,
        ),
        ("US, no age", attrs(&[("country", json!("US"))]), U),
        ("no country, minor", attrs(&[("age", json!(3))]), F),
    ];
    for (label, user, expected) in table {
        assert_eq!(audience.evaluate(&user, &[]), expected, "{label}");
    }
}

#[test]
fn an_audience_from_an_object_tree_or_a_single_leaf() {
    let tree = json!(["or",
        {"name": "plan", "type": "custom_attribute", "match": "exact", "value": "pro"},
        {"name": "app", "type": "custom_attribute", "match": "semver_ge", "value": "3.1"}]);
    let audience = Audience::compile("12", "pro or new app", &tree).expect("a tree");
    assert_eq!(audience.evaluate(&attrs(&[("plan", json!("pro"))]), &[]), T);
    assert_eq!(
        audience.evaluate(&attrs(&[("app", json!("3.1.4"))]), &[]),
        T
    );
    assert_eq!(
        audience.evaluate(
            &attrs(&[("plan", json!("free")), ("app", json!("3.0.9"))]),
            &[]
        ),
        F
    );
    assert_eq!(
        audience.evaluate(&attrs(&[("plan", json!("free"))]), &[]),
        U
    );

    let single =
        json!({"name": "plan", "type": "custom_attribute", "match": "exact", "value": "pro"});
    let audience = Audience::compile("13", "pro", &single).expect("a leaf");
    assert_eq!(audience.evaluate(&attrs(&[("plan", json!("pro"))]), &[]), T);
    assert_eq!(
        audience.evaluate(&attrs(&[("plan", json!("free"))]), &[]),
        F
    );

    let encoded_leaf = single.to_string();
    let audience = Audience::compile("14", "pro", &json!(encoded_leaf)).expect("an encoded leaf");
    assert_eq!(audience.evaluate(&attrs(&[("plan", json!("pro"))]), &[]), T);
}

#[test]
fn an_audience_whose_conditions_string_is_not_json_is_an_error() {
    for text in ["[\"and\", {", "", "not json"] {
        let err = Audience::compile("15", "broken", &json!(text)).expect_err("invalid JSON");
        assert!(
            err.starts_with("conditions are not valid JSON: "),
            "{text:?}: {err}"
        );
    }
}

#[test]
fn an_audience_with_an_empty_condition_list_is_unknown() {
    let audience = Audience::compile("16", "empty", &json!("[]")).expect("valid JSON");
    assert_eq!(audience.evaluate(&attrs(&[("a", json!(1))]), &[]), U);
}

#[test]
fn a_leaf_written_again_is_compiled_once_and_the_same_leaf_of_another_type_is_not() {
    let gt = |v: &str| {
        format!(r#"{{"name": "age", "type": "custom_attribute", "match": "gt", "value": {v}}}"#)
    };
    // Read by the datafile's one-pass reader, which keeps each leaf's text.
    let text = format!(
        r#"{{"version": "4", "revision": "1", "accountId": "1", "projectId": "2",
            "attributes": [], "audiences": [], "experiments": [], "groups": [], "events": [],
            "typedAudiences": [
              {{"id": "1", "name": "a", "conditions": ["and", {a}]}},
              {{"id": "2", "name": "b", "conditions": ["or", {a}, {b}, {c}, {d}]}}]}}"#,
        a = gt("18"),
        b = gt("18.5"),
        c = gt(r#""18""#),
        // The same leaf written otherwise: compiled again, its outcome the same.
        d = r#"{"type": "custom_attribute", "name": "age", "match": "gt", "value": 18}"#,
    );
    let datafile = crate::datafile::fast::parse(&text).expect("read in one pass");
    let mut slots = Slots::default();
    let [first, second] = [0, 1].map(|i| {
        let root = datafile.typed_audiences[i]
            .conditions
            .root_in(&datafile.lists.conditions);
        audience_tree(root, &mut slots)
    });
    let leaves = |tree: &Tree<Condition>| {
        let mut out = Vec::new();
        tree.for_each_leaf(&mut |c: &Condition| out.push(c.clone()));
        out
    };
    let (first, second) = (leaves(&first), leaves(&second));
    assert_eq!((first.len(), second.len()), (1, 4));
    assert!(first[0].shares_test_with(&second[0]));
    assert!(!first[0].shares_test_with(&second[1]));
    assert!(!first[0].shares_test_with(&second[2]));
    let user = attrs(&[("age", json!(18.2))]);
    let view = AttributeView::by_name(&user);
    let outcomes: Vec<_> = second.iter().map(|c| c.evaluate_view(&view, &[])).collect();
    assert_eq!(outcomes, [T, F, U, T]);
    // Once the config is built, nothing compiled is kept for it.
    slots.built();
    assert!(slots.compiled.is_empty());
}
