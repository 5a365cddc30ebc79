//! A small JSON text writer for event batches: object keys are written as literals and
//! strings are escaped exactly as `serde_json` escapes them, so a batch is written in one pass
//! into one growing buffer, with no intermediate tree and no per-string allocation.

use serde::Serialize;

/// JSON text being written.
pub(crate) struct JsonWriter {
    /// The text so far.
    buf: String,
}

/// The escape of a byte that has a short form; others below 0x20 use `\u00XX`.
fn short_escape(b: u8) -> Option<&'static str> {
    Some(match b {
        0x08 => "\\b",
        0x09 => "\\t",
        0x0A => "\\n",
        0x0C => "\\f",
        0x0D => "\\r",
        b'"' => "\\\"",
        b'\\' => "\\\\",
        _ => return None,
    })
}

use crate::scan::is_string_special as needs_escape;

/// Whether any byte of `bytes` must be escaped.
fn any_needs_escape(bytes: &[u8]) -> bool {
    crate::scan::has_string_special(bytes)
}

/// The lowercase hex digit of `n` (below 16).
fn hex_digit(n: u8) -> char {
    char::from_digit(u32::from(n), 16).unwrap_or('0')
}

impl JsonWriter {
    /// An empty writer with room for `capacity` bytes.
    pub(crate) fn with_capacity(capacity: usize) -> JsonWriter {
        JsonWriter {
            buf: String::with_capacity(capacity),
        }
    }

    /// A writer into `buf`, emptied, with room for `capacity` bytes.
    pub(crate) fn reusing(mut buf: String, capacity: usize) -> JsonWriter {
        buf.clear();
        buf.reserve(capacity);
        JsonWriter { buf }
    }

    /// The text written.
    pub(crate) fn finish(self) -> String {
        self.buf
    }

    /// The length of the text so far.
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    /// The text at `range` of what was written, if that is a piece of it.
    pub(crate) fn written(&self, range: std::ops::Range<usize>) -> Option<&str> {
        self.buf.get(range)
    }

    /// Appends `text` as it is (JSON punctuation, or an object key already quoted).
    pub(crate) fn raw(&mut self, text: &str) {
        self.buf.push_str(text);
    }

    /// Appends `s` as a JSON string.
    pub(crate) fn string(&mut self, s: &str) {
        // Most strings (ids, keys, attribute values) need no escape: one scan, one copy.
        if !any_needs_escape(s.as_bytes()) {
            self.buf.reserve(s.len() + 2);
            self.buf.push('"');
            self.buf.push_str(s);
            self.buf.push('"');
            return;
        }
        self.escaped(s);
    }

    /// Appends a string that holds characters to escape, quoted and escaped.
    fn escaped(&mut self, s: &str) {
        self.buf.reserve(s.len() + 8);
        self.buf.push('"');
        let mut start = 0;
        for (i, b) in s.bytes().enumerate() {
            if !needs_escape(b) {
                continue;
            }
            // Every byte to escape is ASCII, so `start..i` lies on character boundaries.
            if let Some(run) = s.get(start..i) {
                self.buf.push_str(run);
            }
            match short_escape(b) {
                Some(escape) => self.buf.push_str(escape),
                None => {
                    self.buf.push_str("\\u00");
                    self.buf.push(hex_digit(b >> 4));
                    self.buf.push(hex_digit(b & 0x0F));
                }
            }
            start = i + 1;
        }
        if let Some(run) = s.get(start..) {
            self.buf.push_str(run);
        }
        self.buf.push('"');
    }

    /// Appends a UUID's 16 bytes as a JSON string `"xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"`.
    pub(crate) fn uuid(&mut self, bytes: &[u8; 16]) {
        self.buf
            .push_str(super::uuid::UuidText::new(bytes).quoted());
    }

    /// Appends `b`.
    pub(crate) fn bool(&mut self, b: bool) {
        self.raw(if b { "true" } else { "false" });
    }

    /// Appends `null`.
    pub(crate) fn null(&mut self) {
        self.raw("null");
    }

    /// Appends a signed integer.
    pub(crate) fn integer(&mut self, n: i64) {
        if n < 0 {
            self.buf.push('-');
        }
        self.unsigned(n.unsigned_abs());
    }

    /// Appends an unsigned integer.
    pub(crate) fn unsigned(&mut self, mut n: u64) {
        // One or two digits (ages, counts) as characters: no UTF-8 check of a digit buffer.
        if n < 100 {
            let digit = |d: u64| char::from(b'0' + (d % 10) as u8);
            if n >= 10 {
                self.buf.push(digit(n / 10));
            }
            self.buf.push(digit(n));
            return;
        }
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        for slot in digits.iter_mut().rev() {
            *slot = b'0' + (n % 10) as u8;
            n /= 10;
            start -= 1;
            if n == 0 {
                break;
            }
        }
        if let Some(text) = digits
            .get(start..)
            .and_then(|d| std::str::from_utf8(d).ok())
        {
            self.buf.push_str(text);
        }
    }

    /// Appends a JSON value as `serde_json` writes it: strings, booleans, null and integers
    /// directly, floats, arrays and objects through `serde_json`.
    pub(crate) fn json(&mut self, value: &serde_json::Value) {
        use serde_json::Value;
        match value {
            Value::String(s) => self.string(s),
            Value::Bool(b) => self.bool(*b),
            Value::Null => self.null(),
            Value::Number(n) => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => self.unsigned(u),
                (None, Some(i)) => self.integer(i),
                _ => self.value(n),
            },
            Value::Array(_) | Value::Object(_) => self.value(value),
        }
    }

    /// Appends any serialisable value (floats, tag objects) as `serde_json` writes it.
    pub(crate) fn value<T: Serialize + ?Sized>(&mut self, value: &T) {
        match serde_json::to_string(value) {
            Ok(text) => self.buf.push_str(&text),
            // Only a map with non-string keys fails, which no value given here has.
            Err(_) => self.null(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(s: &str) -> String {
        let mut w = JsonWriter::with_capacity(0);
        w.string(s);
        w.finish()
    }

    #[test]
    fn strings_are_escaped_exactly_as_serde_json_escapes_them() {
        let mut all = String::new();
        for c in (0u32..0x80).filter_map(char::from_u32) {
            all.push(c);
        }
        all.push_str("é€😀\u{2028}");
        for s in ["", "plain", "quote\"back\\slash", "\u{7f}", &all] {
            assert_eq!(written(s), serde_json::to_string(s).unwrap(), "{s:?}");
        }
    }

    #[test]
    fn the_escape_scan_agrees_with_the_byte_rule_at_every_position() {
        for len in 0..20 {
            for pos in 0..len {
                for special in [0u8, 0x1f, b'"', b'\\', 0x20, b'a', 0x7f, 0x80, 0xff] {
                    let mut bytes = vec![b'x'; len];
                    bytes[pos] = special;
                    let want = bytes.iter().any(|&b| needs_escape(b));
                    assert_eq!(any_needs_escape(&bytes), want, "{bytes:?}");
                }
            }
        }
    }

    #[test]
    fn integers_are_written_in_decimal() {
        for n in [
            0i64,
            7,
            -7,
            9,
            10,
            42,
            99,
            -99,
            100,
            1_800_000_000_000,
            i64::MIN,
            i64::MAX,
        ] {
            let mut w = JsonWriter::with_capacity(0);
            w.integer(n);
            assert_eq!(w.finish(), n.to_string());
        }
    }

    #[test]
    fn a_uuid_is_written_as_its_canonical_string() {
        let bytes = [
            0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x42, 0xd3, 0xa4, 0x56, 0x42, 0x66, 0x14, 0x17,
            0x40, 0x00,
        ];
        let mut w = JsonWriter::with_capacity(0);
        w.uuid(&bytes);
        assert_eq!(w.finish(), "\"123e4567-e89b-42d3-a456-426614174000\"");
    }

    /// A uuid's text written digit by digit, to check the word-at-a-time writer against.
    fn oracle(bytes: &[u8; 16]) -> String {
        let mut out = String::new();
        for (i, b) in bytes.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                out.push('-');
            }
            out.push_str(&format!("{b:02x}"));
        }
        out
    }

    #[test]
    fn every_byte_value_in_every_uuid_position_is_written_as_its_two_hex_digits() {
        for value in 0..=255u8 {
            for at in 0..16 {
                let mut bytes = [0xA5u8; 16];
                bytes[at] = value;
                let mut w = JsonWriter::with_capacity(0);
                w.uuid(&bytes);
                let want = format!("\"{}\"", oracle(&bytes));
                assert_eq!(w.finish(), want, "byte {value:#04x} at {at}");
            }
        }
    }

    #[test]
    fn json_values_are_serde_json_text() {
        let values = serde_json::json!([
            "plain", "quote\"d", true, false, null, 0, 7, -7, u64::MAX, i64::MIN, 1.5, -0.0,
            1e21, [1, "a"], {"k": [null]}
        ]);
        for value in values.as_array().unwrap() {
            let mut w = JsonWriter::with_capacity(0);
            w.json(value);
            assert_eq!(
                w.finish(),
                serde_json::to_string(value).unwrap(),
                "{value:?}"
            );
        }
    }

    #[test]
    fn numbers_and_literals_are_serde_json_text() {
        let mut w = JsonWriter::with_capacity(0);
        w.raw("[");
        w.value(&1.5f64);
        w.raw(",");
        w.integer(-9_007_199_254_740_992i64);
        w.raw(",");
        w.unsigned(u64::MAX);
        w.raw(",");
        w.value(&1e21f64);
        w.raw(",");
        w.bool(true);
        w.raw(",");
        w.null();
        w.raw("]");
        assert_eq!(
            w.finish(),
            "[1.5,-9007199254740992,18446744073709551615,1e+21,true,null]"
        );
    }
}
