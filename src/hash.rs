//! A small, fast hasher for the config's string-keyed indexes.
//!
//! The indexes are built from the datafile and only looked up with user input, never grown by
//! it, so a non-keyed hash is safe here and several times cheaper than SipHash for short keys.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Multiply-rotate hashing of eight bytes at a time (the scheme rustc uses internally).
#[derive(Default, Clone, Copy)]
pub(crate) struct FastHasher {
    hash: u64,
}

const K: u64 = 0xf135_7aea_2e62_a9c5;

impl FastHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(26) ^ word).wrapping_mul(K);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(c);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            self.add(tail_word(rest));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// The 1 to 7 bytes of `rest` as a little-endian word, zero-padded, without a call to `memcpy`:
/// two overlapping reads whose common bytes land in the same place.
#[inline(always)]
pub(crate) fn tail_word(rest: &[u8]) -> u64 {
    let n = rest.len();
    let u32_at = |at: usize| {
        rest.get(at..at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map_or(0, |b| u64::from(u32::from_le_bytes(b)))
    };
    let byte_at = |at: usize| rest.get(at).map_or(0, |&b| u64::from(b));
    if n >= 4 {
        u32_at(0) | (u32_at(n - 4) << (8 * (n - 4)))
    } else {
        byte_at(0) | (byte_at(n / 2) << (8 * (n / 2))) | (byte_at(n - 1) << (8 * (n - 1)))
    }
}

/// Whether `a` and `b` are the same bytes: an id or key of up to sixteen bytes (nearly every
/// one) compared as one or two words, without a call to `memcmp`.
#[inline(always)]
pub(crate) fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word_at = |bytes: &[u8], at: usize| {
        bytes
            .get(at..at + 8)
            .and_then(|w| <[u8; 8]>::try_from(w).ok())
            .map(u64::from_le_bytes)
    };
    match n {
        0 => true,
        1..=7 => tail_word(a) == tail_word(b),
        // The first eight bytes and the last eight (overlapping them when fewer than 16).
        8..=16 => word_at(a, 0) == word_at(b, 0) && word_at(a, n - 8) == word_at(b, n - 8),
        _ => a == b,
    }
}

/// The [`FastHasher`] hash of `bytes`, finished with one more multiply so that its high bits
/// depend on every byte.
#[inline(always)]
pub(crate) fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut hasher = FastHasher::default();
    hasher.write(bytes);
    hasher.add(bytes.len() as u64);
    hasher.hash
}

/// A `HashMap` using [`FastHasher`].
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_equal_only_when_every_byte_and_the_length_are() {
        for len in 0..40usize {
            let a: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            assert!(bytes_eq(&a, &a.clone()), "{len}");
            for at in 0..len {
                let mut b = a.clone();
                b[at] ^= 0x01;
                assert!(!bytes_eq(&a, &b), "{len} {at}");
                // A zero byte where a shorter text would end is still a difference.
                b[at] = 0;
                assert!(!bytes_eq(&a, &b), "{len} {at}");
            }
            let mut longer = a.clone();
            longer.push(0);
            assert!(!bytes_eq(&a, &longer) && !bytes_eq(&longer, &a), "{len}");
        }
    }

    #[test]
    fn the_tail_word_is_the_zero_padded_bytes() {
        let bytes = b"abcdefgh";
        for n in 1..8 {
            let rest = &bytes[..n];
            let mut word = [0u8; 8];
            word[..n].copy_from_slice(rest);
            assert_eq!(tail_word(rest), u64::from_le_bytes(word), "{n}");
        }
    }
}
