//! Byte scans shared by the datafile reader and the event batch writer: where a JSON string's
//! run of bytes that need no escape ends, eight bytes at a time.

/// Whether `b` ends an unescaped run of a JSON string: a quote, a backslash or a control byte.
pub(crate) fn is_string_special(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// The position of the first byte at or after `from` that ends an unescaped run of a JSON
/// string (`bytes.len()` when there is none).
pub(crate) fn string_run_end(bytes: &[u8], from: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // The bytes of `v` that are zero / of `x` below 0x20, flagged in their high bit. The
    // lowest flag is exact; later flags may be borrow artefacts.
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    let mut i = from;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        let hits = (x.wrapping_sub(ONES * 0x20) & !x & HIGHS)
            | zero(x ^ (ONES * u64::from(b'"')))
            | zero(x ^ (ONES * u64::from(b'\\')));
        if hits != 0 {
            return i + (hits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&b) = bytes.get(i) {
        if is_string_special(b) {
            return i;
        }
        i += 1;
    }
    bytes.len().max(from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_ends_at_the_first_special_byte_from_any_start() {
        let text = b"abcdefghij\"klmnopq\\rstuvwxyz\x01ABCDEFGHIJKLMNOP\x7f\xc3\xa9";
        for from in 0..=text.len() {
            let expected = (from..text.len())
                .find(|&i| is_string_special(text[i]))
                .unwrap_or(text.len());
            assert_eq!(string_run_end(text, from), expected, "from {from}");
        }
    }
}
