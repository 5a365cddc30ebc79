//! The flag-key index: open addressing over one array of slots, each a flag's index and, for
//! a key of up to 16 bytes, the key itself as two words, so that a look-up of such a key
//! reads the key once, hashes two words and compares two words with its slot's.

use super::Flag;
use crate::hash::{hash_bytes, tail_word};

/// Flag indexes by key; the first flag with a given key is the one found.
#[derive(Debug, Default)]
pub(crate) struct FlagIndex {
    slots: Box<[Slot]>,
    /// How far to shift a hash right to get its home slot.
    shift: u32,
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    /// The key's bytes, little-endian and zero-padded, for a key of up to 16 bytes.
    words: (u64, u64),
    /// The flag's index plus one (`0`: an empty slot), and, above it, the key's length for a
    /// key of up to 16 bytes or [`LONG`] for a longer one (compared with the flag's key).
    entry: u64,
}

/// The length recorded for a key longer than 16 bytes.
const LONG: u64 = u32::MAX as u64;

const K: u64 = 0x9e37_79b9_7f4a_7c15;

/// A key of up to 16 bytes as two words, else `None`.
#[inline(always)]
fn words(key: &[u8]) -> Option<(u64, u64)> {
    let word = |bytes: &[u8]| match bytes.len() {
        0 => Some(0),
        1..=7 => Some(tail_word(bytes)),
        8 => <[u8; 8]>::try_from(bytes).ok().map(u64::from_le_bytes),
        _ => None,
    };
    match key.split_at_checked(key.len().min(8)) {
        Some((first, rest)) => Some((word(first)?, word(rest)?)),
        None => None,
    }
}

/// The hash of a key: of its words for a short one, of its bytes for a longer one.
#[inline(always)]
fn hash(key: &[u8], words: Option<(u64, u64)>) -> u64 {
    match words {
        Some((a, b)) => (a.wrapping_mul(K) ^ b ^ key.len() as u64).wrapping_mul(K),
        None => hash_bytes(key),
    }
}

impl FlagIndex {
    /// Indexes the keys of `flags`.
    pub(crate) fn new(flags: &[Flag]) -> FlagIndex {
        // At most half full.
        let capacity = (flags.len() * 2).max(8).next_power_of_two();
        let mut index = FlagIndex {
            slots: vec![Slot::default(); capacity].into_boxed_slice(),
            shift: 64 - capacity.trailing_zeros(),
        };
        let mask = capacity - 1;
        // A key listed twice finds its last flag, as in the official SDKs' key maps: the flags
        // are entered last first and a key already entered is skipped.
        for (i, flag) in flags.iter().enumerate().rev() {
            let Some(i) = u32::try_from(i).ok().filter(|&i| i < u32::MAX) else {
                continue;
            };
            if index.get_bytes(flag.key.as_bytes(), flags).is_some() {
                continue;
            }
            let key = flag.key.as_bytes();
            let words = words(key);
            let len = words.map_or(LONG, |_| key.len() as u64);
            let slot = Slot {
                words: words.unwrap_or_default(),
                entry: (len << 32) | u64::from(i + 1),
            };
            let mut at = index.home(hash(key, words));
            while let Some(s) = index.slots.get_mut(at) {
                if s.entry == 0 {
                    *s = slot;
                    break;
                }
                at = (at + 1) & mask;
            }
        }
        index
    }

    #[inline(always)]
    fn home(&self, hash: u64) -> usize {
        hash.checked_shr(self.shift).unwrap_or(0) as usize
    }

    /// The index of the last of `flags` (the ones this index was built from) with key `key`.
    #[inline]
    pub(crate) fn get(&self, key: &str, flags: &[Flag]) -> Option<u32> {
        self.get_bytes(key.as_bytes(), flags)
    }

    /// [`FlagIndex::get`] by the key's bytes.
    #[inline(always)]
    fn get_bytes(&self, bytes: &[u8], flags: &[Flag]) -> Option<u32> {
        let words = words(bytes);
        let len = words.map_or(LONG, |_| bytes.len() as u64);
        let mask = self.slots.len().wrapping_sub(1);
        let mut at = self.home(hash(bytes, words));
        loop {
            let slot = self.slots.get(at)?;
            if slot.entry == 0 {
                return None;
            }
            if slot.entry >> 32 == len {
                let i = (slot.entry as u32).wrapping_sub(1);
                match words {
                    Some(w) if slot.words == w => return Some(i),
                    None if flags
                        .get(i as usize)
                        .is_some_and(|f| f.key.as_bytes() == bytes) =>
                    {
                        return Some(i)
                    }
                    _ => {}
                }
            }
            at = (at + 1) & mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::ProjectConfig;

    #[test]
    fn every_key_finds_its_last_flag_and_other_keys_find_none() {
        let keys: Vec<String> = (0..40)
            .map(|i| match i % 30 {
                n if n < 20 => format!("flag_{n}"),
                n => format!("a_flag_key_longer_than_sixteen_bytes_{n}"),
            })
            .chain(
                [
                    "",
                    "k",
                    "exactly_8",
                    "exactly_16_bytes",
                    "seventeen_bytes_k",
                ]
                .map(String::from),
            )
            .collect();
        let flags: Vec<String> = keys
            .iter()
            .enumerate()
            .map(|(i, key)| format!(r#"{{"id": "{i}", "key": "{key}", "rolloutId": "", "experimentIds": [], "variables": []}}"#))
            .collect();
        let datafile = format!(
            r#"{{"version": "4", "accountId": "1", "projectId": "1", "revision": "1",
                "experiments": [], "rollouts": [], "attributes": [], "audiences": [],
                "events": [], "groups": [], "featureFlags": [{}]}}"#,
            flags.join(",")
        );
        let config = ProjectConfig::from_datafile(datafile).unwrap();
        for (i, key) in keys.iter().enumerate() {
            let last = keys.iter().rposition(|k| k == key).unwrap() as u32;
            assert_eq!(
                config.flag(key).map(|(idx, _)| idx),
                Some(last),
                "{key} ({i})"
            );
        }
        for key in [
            "flag_30",
            "flag_",
            "flag_0 ",
            "FLAG_1",
            "flag_00",
            "exactly_9",
            "kk",
        ] {
            assert!(config.flag(key).is_none(), "{key}");
        }
        assert!(config
            .flag("a_flag_key_longer_than_sixteen_bytes_31")
            .is_none());
    }
}
