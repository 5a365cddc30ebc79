//! A small JSON text writer for event batches: object keys are written as literals and
//! strings are escaped exactly as `serde_json` escapes them, so a batch is written in one pass
//! into one growing buffer, with no intermediate tree and no per-string allocation.

use serde::Serialize;

/// JSON text being written.
pub(crate) struct JsonWriter {
    /// The text so far (always valid UTF-8: only `&str` data and ASCII are appended).
    buf: Vec<u8>,
}

/// The escape of each byte below 0x20 that has a short form; others use `\u00XX`.
fn short_escape(b: u8) -> Option<&'static [u8]> {
    Some(match b {
        0x08 => b"\\b",
        0x09 => b"\\t",
        0x0A => b"\\n",
        0x0C => b"\\f",
        0x0D => b"\\r",
        b'"' => b"\\\"",
        b'\\' => b"\\\\",
        _ => return None,
    })
}

/// Whether `b` must be escaped inside a JSON string.
fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

impl JsonWriter {
    /// An empty writer with room for `capacity` bytes.
    pub(crate) fn with_capacity(capacity: usize) -> JsonWriter {
        JsonWriter {
            buf: Vec::with_capacity(capacity),
        }
    }

    /// The text written.
    pub(crate) fn finish(self) -> String {
        // Only `&str` data, escapes and ASCII punctuation were appended.
        String::from_utf8(self.buf).unwrap_or_default()
    }

    /// Appends `text` as it is (JSON punctuation, or an object key already quoted).
    pub(crate) fn raw(&mut self, text: &str) {
        self.buf.extend_from_slice(text.as_bytes());
    }

    /// Appends `s` as a JSON string.
    pub(crate) fn string(&mut self, s: &str) {
        let bytes = s.as_bytes();
        // Most strings (ids, keys, attribute values) need no escape: one scan, one copy.
        if !bytes.iter().fold(false, |any, &b| any | needs_escape(b)) {
            self.buf.reserve(bytes.len() + 2);
            self.buf.push(b'"');
            self.buf.extend_from_slice(bytes);
            self.buf.push(b'"');
            return;
        }
        self.escaped(bytes);
    }

    /// Appends the bytes of a string that holds characters to escape, quoted and escaped.
    fn escaped(&mut self, bytes: &[u8]) {
        self.buf.reserve(bytes.len() + 8);
        self.buf.push(b'"');
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            if !needs_escape(b) {
                continue;
            }
            if let Some(run) = bytes.get(start..i) {
                self.buf.extend_from_slice(run);
            }
            match short_escape(b) {
                Some(escape) => self.buf.extend_from_slice(escape),
                None => {
                    let hex = |n: u8| char::from_digit(u32::from(n), 16).map_or(b'0', |c| c as u8);
                    self.buf.extend_from_slice(b"\\u00");
                    self.buf.push(hex(b >> 4));
                    self.buf.push(hex(b & 0x0F));
                }
            }
            start = i + 1;
        }
        if let Some(run) = bytes.get(start..) {
            self.buf.extend_from_slice(run);
        }
        self.buf.push(b'"');
    }

    /// Appends a UUID's 16 bytes as a JSON string `"xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"`.
    pub(crate) fn uuid(&mut self, bytes: &[u8; 16]) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let digit = |n: u8| HEX.get(usize::from(n)).copied().unwrap_or(b'0');
        self.buf.reserve(38);
        self.buf.push(b'"');
        for (i, &b) in bytes.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                self.buf.push(b'-');
            }
            self.buf.push(digit(b >> 4));
            self.buf.push(digit(b & 0x0F));
        }
        self.buf.push(b'"');
    }

    /// Appends `b`.
    pub(crate) fn bool(&mut self, b: bool) {
        self.raw(if b { "true" } else { "false" });
    }

    /// Appends `null`.
    pub(crate) fn null(&mut self) {
        self.raw("null");
    }

    /// Appends any serialisable value (numbers, tag objects) as `serde_json` writes it.
    pub(crate) fn value<T: Serialize + ?Sized>(&mut self, value: &T) {
        if serde_json::to_writer(&mut self.buf, value).is_err() {
            // Only a map with non-string keys fails, which no value given here has.
            self.null();
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
    fn a_uuid_is_written_as_its_canonical_string() {
        let bytes = [
            0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x42, 0xd3, 0xa4, 0x56, 0x42, 0x66, 0x14, 0x17,
            0x40, 0x00,
        ];
        let mut w = JsonWriter::with_capacity(0);
        w.uuid(&bytes);
        assert_eq!(w.finish(), "\"123e4567-e89b-42d3-a456-426614174000\"");
    }

    #[test]
    fn numbers_and_literals_are_serde_json_text() {
        let mut w = JsonWriter::with_capacity(0);
        w.raw("[");
        w.value(&1.5f64);
        w.raw(",");
        w.value(&-9_007_199_254_740_992i64);
        w.raw(",");
        w.value(&1e21f64);
        w.raw(",");
        w.bool(true);
        w.raw(",");
        w.null();
        w.raw("]");
        assert_eq!(w.finish(), "[1.5,-9007199254740992,1e+21,true,null]");
    }
}
