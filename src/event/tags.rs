//! Event tags: the numeric `revenue` and `value` a conversion carries beside its tags, read
//! with the official Python SDK's rules (`helpers/event_tag_utils.py`), and the null-dropping
//! its payload serializer applies to every object of the batch, tags included.
//!
//! | tag value                              | `revenue`        | `value`              |
//! |----------------------------------------|------------------|----------------------|
//! | JSON integer (`42`, `-7`)              | the integer      | as a float           |
//! | JSON float (`12.5`, `1.0`)             | none             | the float            |
//! | numeric string (`"2.5"`, `" 1_000 "`)  | none             | parsed as Python's `float()` |
//! | boolean, null, list, object            | none             | none                 |
//! | string that is not a number, `"nan"`, `"inf"`, `"1e999"` | none | none           |

use serde_json::{Map, Value};

/// The tag holding the revenue (an integer, in cents).
pub(crate) const REVENUE_TAG: &str = "revenue";

/// The tag holding the numeric value.
pub(crate) const VALUE_TAG: &str = "value";

/// Keys the Python SDK's serializer drops from any object of the batch when their value is
/// `null` (`payload.EventBatch._dict_clean`).
const NULL_DROPPED_KEYS: [&str; 4] = ["revenue", "value", "tags", "decisions"];

/// The revenue of a conversion: the `revenue` tag when it is a JSON integer (a float such as
/// `12.5` or `100.0`, a string or a boolean gives none).
///
/// An integer beyond the range of `i64` (only possible above 2^63) gives none, where Python
/// would send its arbitrary-precision integer.
pub(crate) fn revenue(tags: &Map<String, Value>) -> Option<i64> {
    match tags.get(REVENUE_TAG)? {
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

/// The numeric value of a conversion: the `value` tag when it is a number or a string Python's
/// `float()` accepts, and the result is finite.
pub(crate) fn numeric_value(tags: &Map<String, Value>) -> Option<f64> {
    let value = match tags.get(VALUE_TAG)? {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => python_float(s)?,
        _ => return None,
    };
    value.is_finite().then_some(value)
}

/// The tags as the Python SDK sends them: a copy in which every object, at any depth, has lost
/// its `revenue`, `value`, `tags` and `decisions` keys whose value is `null`.
pub(crate) fn cleaned(tags: &Map<String, Value>) -> Map<String, Value> {
    tags.iter()
        .filter(|(k, v)| !(v.is_null() && NULL_DROPPED_KEYS.contains(&k.as_str())))
        .map(|(k, v)| (k.clone(), cleaned_value(v)))
        .collect()
}

/// [`cleaned`] for any JSON value.
fn cleaned_value(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(cleaned(map)),
        Value::Array(items) => Value::Array(items.iter().map(cleaned_value).collect()),
        other => other.clone(),
    }
}

/// Python's `float(s)` for a string, `None` where it raises `ValueError`.
///
/// Surrounding whitespace (Unicode, as Python counts it) is ignored; non-ASCII decimal digits
/// count as their ASCII digit; `_` may separate digits; `inf`, `infinity` and `nan` (any case,
/// optionally signed) parse to the non-finite values. Hexadecimal and anything else is refused.
pub(crate) fn python_float(s: &str) -> Option<f64> {
    let ascii = to_ascii_digits_and_spaces(s)?;
    let trimmed = ascii.trim_matches(is_python_ascii_space);
    let plain = without_underscores(trimmed)?;
    let unsigned = plain.strip_prefix(['+', '-']).unwrap_or(&plain);
    let lower = unsigned.to_ascii_lowercase();
    if matches!(lower.as_str(), "inf" | "infinity" | "nan") {
        let magnitude = if lower == "nan" {
            f64::NAN
        } else {
            f64::INFINITY
        };
        return Some(if plain.starts_with('-') {
            -magnitude
        } else {
            magnitude
        });
    }
    if !is_decimal_literal(unsigned) {
        return None;
    }
    plain.parse::<f64>().ok()
}

/// Python's whitespace among ASCII characters (`Py_ISSPACE`): space, `\t`, `\n`, `\v`, `\f`,
/// `\r`.
fn is_python_ascii_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r')
}

/// Python's whitespace among non-ASCII characters (`Py_UNICODE_ISSPACE`).
fn is_python_unicode_space(c: char) -> bool {
    matches!(
        c,
        '\u{85}' | '\u{A0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200A}' | '\u{2028}' | '\u{2029}' | '\u{202F}' | '\u{205F}' | '\u{3000}'
    )
}

/// First code points of the non-ASCII runs of decimal digits (Unicode general category Nd,
/// 15.1). Each run holds the digits 0 to 9 in order.
const DIGIT_RUN_STARTS: [u32; 67] = [
    0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66, 0xBE6, 0xC66, 0xCE6, 0xD66, 0xDE6,
    0xE50, 0xED0, 0xF20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90, 0x1B50,
    0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10,
    0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650,
    0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x11F50, 0x16A60, 0x16AC0,
    0x16B50, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E4F0, 0x1E950,
    0x1FBF0,
];

/// The decimal value of a non-ASCII decimal digit.
fn unicode_digit(c: char) -> Option<u32> {
    let code = u32::from(c);
    DIGIT_RUN_STARTS
        .iter()
        .find(|&&start| (start..start + 10).contains(&code))
        .map(|&start| code - start)
}

/// What Python does before parsing a number (`_PyUnicode_TransformDecimalAndSpaceToASCII`):
/// non-ASCII whitespace becomes a space, non-ASCII decimal digits their ASCII digit; any other
/// non-ASCII character (and DEL) makes the string unparseable.
fn to_ascii_digits_and_spaces(s: &str) -> Option<String> {
    s.chars()
        .map(|c| {
            if u32::from(c) < 0x7F {
                Some(c)
            } else if is_python_unicode_space(c) {
                Some(' ')
            } else {
                unicode_digit(c).and_then(|d| char::from_digit(d, 10))
            }
        })
        .collect()
}

/// Removes `_` where Python allows it (only between two digits); `None` when one stands
/// anywhere else.
fn without_underscores(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut prev: Option<char> = None;
    for c in s.chars() {
        if c == '_' {
            if !prev.is_some_and(|p| p.is_ascii_digit()) {
                return None;
            }
        } else {
            if prev == Some('_') && !c.is_ascii_digit() {
                return None;
            }
            out.push(c);
        }
        prev = Some(c);
    }
    if prev == Some('_') {
        return None;
    }
    Some(out)
}

/// Whether `s` (without its sign) is `digits [. [digits]] [exponent]` or
/// `. digits [exponent]`, exponent being `e|E [+|-] digits`.
fn is_decimal_literal(s: &str) -> bool {
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(at) => (s.get(..at).unwrap_or(""), s.get(at + 1..)),
        None => (s, None),
    };
    let all_digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((i, f)) => (i, f),
        None => (mantissa, ""),
    };
    let mantissa_ok = all_digits(int_part)
        && all_digits(frac_part)
        && !(int_part.is_empty() && frac_part.is_empty());
    let exponent_ok = match exponent {
        None => true,
        Some(e) => {
            let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
            !digits.is_empty() && all_digits(digits)
        }
    };
    mantissa_ok && exponent_ok
}
