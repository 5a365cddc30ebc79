//! Byte scans shared by the datafile reader and the event batch writer, eight bytes at a time:
//! where a JSON string's run of bytes that need no escape ends, and where a byte is next.

/// Whether `b` ends an unescaped run of a JSON string: a quote, a backslash or a control byte.
pub(crate) fn is_string_special(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The zero bytes of the word `v`, flagged in their high bit: the lowest flag is exact, later
/// flags may be borrow artefacts (never set when `v` has no zero byte).
#[inline(always)]
fn zero_flags(v: u64) -> u64 {
    v.wrapping_sub(ONES) & !v & HIGHS
}

/// The bytes of the word `x` that [`is_string_special`] flags, flagged in their high bit (the
/// lowest flag exact, as in [`zero_flags`]).
#[inline(always)]
fn special_flags(x: u64) -> u64 {
    (x.wrapping_sub(ONES * 0x20) & !x & HIGHS)
        | zero_flags(x ^ (ONES * u64::from(b'"')))
        | zero_flags(x ^ (ONES * u64::from(b'\\')))
}

/// Whether the word `x` (eight bytes) holds a byte that [`is_string_special`] flags: exact,
/// as a borrow never flags a byte when there is no true hit.
#[inline(always)]
fn word_has_special(x: u64) -> bool {
    special_flags(x) != 0
}

/// Whether any byte of `bytes` ends an unescaped run of a JSON string: eight bytes at a time,
/// the last (partial) eight read as a word that overlaps the one before, or, for a string
/// shorter than eight bytes, padded with spaces.
#[inline]
pub(crate) fn has_string_special(bytes: &[u8]) -> bool {
    let word = |b: &[u8]| {
        let mut w = [0u8; 8];
        w.copy_from_slice(b);
        u64::from_le_bytes(w)
    };
    let n = bytes.len();
    if n == 0 {
        return false;
    }
    if n < 8 {
        // The bytes past the end read as spaces (0x20), which are never special.
        const SPACES: u64 = 0x2020_2020_2020_2020;
        return word_has_special(crate::hash::tail_word(bytes) | (SPACES << (8 * n)));
    }
    let mut chunks = bytes.chunks_exact(8);
    if chunks.any(|c| word_has_special(word(c))) {
        return true;
    }
    !chunks.remainder().is_empty()
        && bytes
            .get(n - 8..)
            .is_some_and(|last| word_has_special(word(last)))
}

/// The position of the first byte at or after `from` that ends an unescaped run of a JSON
/// string (`bytes.len()` when there is none).
#[inline(always)]
pub(crate) fn string_run_end(bytes: &[u8], from: usize) -> usize {
    let mut i = from;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let hits = special_flags(u64::from_le_bytes(word));
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

/// The bytes of the word `v` that are zero, flagged in their high bit: every flag exact (no
/// borrow crosses bytes), so that flags may be shifted onto the next byte.
#[inline(always)]
fn exact_zero_flags(v: u64) -> u64 {
    const LOWS: u64 = !HIGHS;
    !(((v & LOWS) + LOWS) | v | LOWS)
}

/// As [`string_run_end`] for a string that holds escapes: eight bytes at a time it also passes
/// over words whose only specials are escaped quotes (`\"`, as in JSON written into a
/// string), a backslash in a word's last byte escaping the next word's first. It stops at the
/// first special byte of any other word, which may be such an escape, or at a backslash that
/// ends the last word it passed over when the next is not passed over.
pub(crate) fn escaped_run_end(bytes: &[u8], from: usize) -> usize {
    let mut i = from;
    // The flag of the first byte when the word before ended with a backslash.
    let mut carried = 0;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        let quotes = exact_zero_flags(x ^ (ONES * u64::from(b'"')));
        let slashes = exact_zero_flags(x ^ (ONES * u64::from(b'\\')));
        // Bytes below 0x20: their low seven bits plus 0x60 stay below 0x80, with no carry.
        let controls = !(((x & !HIGHS) + ONES * 0x60) | x) & HIGHS;
        // Every quote right after a backslash, every backslash right before a quote.
        let escaped = (slashes << 8) | carried;
        if controls | (quotes ^ escaped) == 0 {
            carried = (slashes >> 63) << 7;
            i += 8;
            continue;
        }
        if carried != 0 {
            return i - 1;
        }
        let hits = controls | quotes | slashes;
        return i + (hits.trailing_zeros() / 8) as usize;
    }
    if carried != 0 {
        return i - 1;
    }
    string_run_end(bytes, i)
}

/// The position of the first `byte` at or after `from`, eight bytes at a time; `None` when
/// there is none.
pub(crate) fn find_byte(bytes: &[u8], from: usize, byte: u8) -> Option<usize> {
    let pattern = ONES * u64::from(byte);
    let mut i = from;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let hits = zero_flags(u64::from_le_bytes(word) ^ pattern);
        if hits != 0 {
            return Some(i + (hits.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    bytes
        .get(i..)
        .and_then(|rest| rest.iter().position(|&b| b == byte))
        .map(|at| i + at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_is_found_first_wherever_it_is_and_not_where_it_is_not() {
        for len in 0..40 {
            for from in 0..=len {
                assert_eq!(
                    find_byte(&vec![b'x'; len], from, b'}'),
                    None,
                    "{len} {from}"
                );
            }
            for pos in 0..len {
                // The byte itself, and below and above it, where a borrow could mislead.
                let mut bytes: Vec<u8> =
                    (0..len).map(|i| [b'|', b'~', 0x7c, 0xfd][i % 4]).collect();
                bytes[pos] = b'}';
                for from in 0..=len {
                    let found = find_byte(&bytes, from, b'}');
                    assert_eq!(found, (from <= pos).then_some(pos), "{len} {pos} {from}");
                }
                bytes.iter_mut().skip(pos + 1).for_each(|b| *b = b'}');
                assert_eq!(find_byte(&bytes, 0, b'}'), Some(pos), "{len} {pos}");
            }
        }
    }

    #[test]
    fn a_special_byte_is_found_at_every_position_of_every_length() {
        for len in 0..40 {
            assert!(!has_string_special(&vec![b'x'; len]), "{len}");
            assert!(!has_string_special(&vec![0xff; len]), "{len}");
            for pos in 0..len {
                for b in 0..=255u8 {
                    let mut bytes = vec![b'x'; len];
                    bytes[pos] = b;
                    assert_eq!(
                        has_string_special(&bytes),
                        is_string_special(b),
                        "{len} {pos} {b}"
                    );
                }
            }
        }
    }

    /// Where the escaped run from `from` must end at the latest (the first byte that is not
    /// plain nor the start of an escaped quote), and whether the walk there passes `at`.
    fn walk_to(text: &[u8], from: usize, at: usize) -> (usize, bool) {
        let (mut i, mut visited) = (from, from == at);
        while i < text.len() {
            match (text[i], text.get(i + 1)) {
                (b'\\', Some(b'"')) => i += 2,
                (b, _) if !is_string_special(b) => i += 1,
                _ => break,
            }
            visited |= i == at;
        }
        (i, visited)
    }

    #[test]
    fn an_escaped_run_passes_only_plain_bytes_and_escaped_quotes() {
        let alphabet: &[&[u8]] = &[
            b"a",
            b"\\\"",
            b"\"",
            b"\\",
            b"\\\\",
            b"\\n",
            b" ",
            b"\x01",
            b"\xc3\xa9",
        ];
        let mut seed = 0x2545_f491_u64;
        for _ in 0..4000 {
            let mut text = Vec::new();
            while text.len() < 40 {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                // Mostly plain bytes and escaped quotes, as in JSON written into a string.
                let pick = (seed >> 33) as usize % 16;
                text.extend_from_slice(
                    alphabet[if pick < 8 { pick % 2 } else { pick - 7 }.min(alphabet.len() - 1)],
                );
            }
            for from in 0..=text.len() {
                let end = escaped_run_end(&text, from);
                let (limit, visited) = walk_to(&text, from, end);
                assert!(
                    end >= from && end <= limit,
                    "{text:?} from {from}: {end} past {limit}"
                );
                assert!(visited, "{text:?} from {from}: {end} inside an escape");
                assert!(
                    end == text.len() || is_string_special(text[end]),
                    "{text:?} from {from}: {end} at a plain byte"
                );
            }
        }
    }

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
