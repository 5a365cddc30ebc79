//! The bucketer: MurmurHash3 (x86, 32-bit, seed 1) over the bucketing id followed by the parent
//! (experiment, group or holdout) id, scaled to a bucket in `0..10000`.
//!
//! Invariant: the key is hashed from the two strings as one byte sequence without building it
//! on the heap (the bucketing id once per decision, however many rules it is bucketed in), and
//! a bucket matches the first range whose end is strictly greater than it.

/// Number of buckets.
pub const MAX_TRAFFIC_VALUE: u32 = 10_000;
const SEED: u32 = 1;
const C1: u32 = 0xcc9e_2d51;
const C2: u32 = 0x1b87_3593;

#[inline(always)]
fn mix_block(h: u32, k: u32) -> u32 {
    let k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
    (h ^ k)
        .rotate_left(13)
        .wrapping_mul(5)
        .wrapping_add(0xe654_6b64)
}

#[inline(always)]
fn full_block(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(<[u8; 4]>::try_from(bytes).unwrap_or([0; 4]))
}

/// Up to four bytes as a little-endian word (without a call to `memcpy`).
#[inline(always)]
fn block(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .take(4)
        .enumerate()
        .fold(0, |k, (i, b)| k | (u32::from(*b) << (8 * i)))
}

/// The MurmurHash3 state after the bucketing id: computed once per decision and continued
/// with each entity id, so the user's part of every bucketing key is hashed once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BucketingKey {
    h: u32,
    /// Bytes of the id past its last whole block, little-endian.
    pending: u32,
    pending_len: usize,
    len: usize,
}

impl BucketingKey {
    /// The state after hashing `bucketing_id`.
    #[inline]
    pub(crate) fn new(bucketing_id: &str) -> BucketingKey {
        BucketingKey::with_seed(bucketing_id, SEED)
    }

    #[inline]
    fn with_seed(prefix: &str, seed: u32) -> BucketingKey {
        let bytes = prefix.as_bytes();
        let mut h = seed;
        let mut blocks = bytes.chunks_exact(4);
        for c in &mut blocks {
            h = mix_block(h, full_block(c));
        }
        let rest = blocks.remainder();
        BucketingKey {
            h,
            pending: block(rest),
            pending_len: rest.len(),
            len: bytes.len(),
        }
    }

    /// The hash of the bucketing id followed by `entity_id`.
    #[inline]
    pub(crate) fn hash(&self, entity_id: &str) -> u32 {
        let bytes = entity_id.as_bytes();
        let n = self.pending_len;
        let total = (self.len + bytes.len()) as u32;
        // The pending bytes of the id and the entity id, as one run of whole blocks and a tail.
        let mut buf = [0u8; 64];
        let Some(slot) = buf.get_mut(n..n + bytes.len()) else {
            return self.hash_long(bytes);
        };
        slot.copy_from_slice(bytes);
        let run = n + bytes.len();
        let mut h = self.h;
        let mut blocks = buf.chunks_exact(4).take(run / 4);
        if let Some(first) = blocks.next() {
            h = mix_block(h, self.pending | full_block(first));
        }
        for c in blocks {
            h = mix_block(h, full_block(c));
        }
        let tail_len = run % 4;
        if tail_len != 0 {
            let at = run - tail_len;
            // `pending` sits in the first block, which is the tail when there is no whole one.
            let mut k = block(buf.get(at..run).unwrap_or(&[]));
            if at == 0 {
                k |= self.pending;
            }
            h ^= k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        }
        finish(h, total)
    }

    /// [`BucketingKey::hash`] for entity ids too long for the stack buffer.
    #[cold]
    fn hash_long(&self, bytes: &[u8]) -> u32 {
        let mut h = self.h;
        let mut k = self.pending;
        let mut n = self.pending_len;
        for b in bytes {
            k |= u32::from(*b) << (8 * n);
            n += 1;
            if n == 4 {
                h = mix_block(h, k);
                k = 0;
                n = 0;
            }
        }
        if n != 0 {
            h ^= k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        }
        finish(h, (self.len + bytes.len()) as u32)
    }

    /// The hash of the bucketing id followed by the short entity id `id`: the id's pending
    /// bytes and the entity id form one run of at most 16 bytes, mixed from a register.
    #[inline]
    pub(crate) fn hash_short(&self, id: &ShortId) -> u32 {
        // The pending bytes, then the id: at most 3 + 13 bytes, as two little-endian words.
        let shift = 8 * (self.pending_len & 3) as u32;
        let (id_lo, id_hi) = (u64::from_le_bytes(id.lo), u64::from_le_bytes(id.hi));
        let lo = (id_lo << shift) | u64::from(self.pending);
        // `id_lo >> (64 - shift)`, without a shift by 64 when `shift` is 0.
        let hi = (id_hi << shift) | ((id_lo >> 1) >> (63 - shift));
        let words = [lo as u32, (lo >> 32) as u32, hi as u32, (hi >> 32) as u32];
        let run_len = (self.pending_len & 3) + usize::from(id.len);
        let full = run_len / 4;
        let mut h = self.h;
        for w in words.iter().take(full) {
            h = mix_block(h, *w);
        }
        if !run_len.is_multiple_of(4) {
            let k = words.get(full).copied().unwrap_or(0);
            h ^= k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        }
        finish(h, (self.len as u32).wrapping_add(u32::from(id.len)))
    }

    /// The bucket (`0..10000`) of the bucketing id in the entity `id`.
    #[inline]
    pub(crate) fn bucket_short(&self, id: &ShortId) -> u32 {
        scale(self.hash_short(id))
    }

    /// The bucket (`0..10000`) of the bucketing id in the entity `entity_id`.
    #[inline]
    pub(crate) fn bucket(&self, entity_id: &str) -> u32 {
        scale(self.hash(entity_id))
    }

    /// [`BucketingKey::bucket`] in the entity `entity_id`, from its [`ShortId`] when it has one.
    #[inline]
    pub(crate) fn bucket_id(&self, short: Option<&ShortId>, entity_id: &str) -> u32 {
        match short {
            Some(id) => self.bucket_short(id),
            None => self.bucket(entity_id),
        }
    }
}

/// An entity id of at most [`ShortId::MAX_LEN`] bytes, zero-padded to 16: after the up to three
/// bytes a bucketing id leaves unfinished it still fits one 128-bit word.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ShortId {
    /// The first eight bytes and the rest (byte arrays, so that an optional id takes 18
    /// bytes of a rule's core record).
    lo: [u8; 8],
    hi: [u8; 8],
    len: u8,
}

impl ShortId {
    /// The longest id kept this way.
    pub(crate) const MAX_LEN: usize = 13;

    /// The id whose bytes are `src`, when it is at most [`ShortId::MAX_LEN`] bytes long.
    pub(crate) fn new(src: &[u8]) -> Option<ShortId> {
        if src.len() > ShortId::MAX_LEN {
            return None;
        }
        let mut bytes = [0; 16];
        bytes.get_mut(..src.len())?.copy_from_slice(src);
        let (lo, hi) = bytes.split_at(8);
        Some(ShortId {
            lo: lo.try_into().ok()?,
            hi: hi.try_into().ok()?,
            len: u8::try_from(src.len()).ok()?,
        })
    }
}

/// MurmurHash3 x86 32-bit of `a` followed by `b`, streamed over both without joining them.
#[cfg(test)]
pub(crate) fn murmur3_concat(a: &str, b: &str, seed: u32) -> u32 {
    BucketingKey::with_seed(a, seed).hash(b)
}

#[inline(always)]
fn scale(hash: u32) -> u32 {
    ((u64::from(hash) * u64::from(MAX_TRAFFIC_VALUE)) >> 32) as u32
}

#[inline(always)]
fn finish(mut h: u32, len: u32) -> u32 {
    h ^= len;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// The bucket (`0..10000`) of `bucketing_id` in the entity `parent_id`.
#[inline]
pub fn bucket_value(bucketing_id: &str, parent_id: &str) -> u32 {
    BucketingKey::new(bucketing_id).bucket(parent_id)
}

/// One traffic range: buckets below `end` (and at or above the previous range's end) go to
/// `entity`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Range<E> {
    pub end: u32,
    pub entity: E,
}

/// The entity of the first range whose end is greater than `bucket`.
#[inline]
pub(crate) fn find<E>(ranges: &[Range<E>], bucket: u32) -> Option<&E> {
    ranges.iter().find(|r| bucket < r.end).map(|r| &r.entity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_values_match_the_official_test_vectors() {
        assert_eq!(bucket_value("ppid1", "1886780721"), 5254);
        assert_eq!(bucket_value("ppid2", "1886780721"), 4299);
        assert_eq!(bucket_value("ppid2", "1886780722"), 2434);
        assert_eq!(bucket_value("ppid3", "1886780721"), 5439);
        assert_eq!(
            bucket_value(
                "a very very very very very very very very very very very very very very very long ppd string",
                "1886780721"
            ),
            6128
        );
    }

    #[test]
    fn hash_agrees_with_the_reference_murmur3_crate_for_every_split_and_length() {
        let text = "abcdefghijklmnopqrstuvwxyz0123456789-üñï-$opt_bucketing_id".repeat(5);
        let bounds: Vec<usize> = (0..=text.len())
            .filter(|i| text.is_char_boundary(*i))
            .collect();
        for (n, &end) in bounds.iter().enumerate() {
            let mid = bounds[n / 2];
            let (a, b) = (&text[..mid], &text[mid..end]);
            let joined = format!("{a}{b}");
            let expected = murmur3::murmur3_32(&mut std::io::Cursor::new(joined.as_bytes()), 1)
                .expect("in-memory read");
            assert_eq!(murmur3_concat(a, b, 1), expected, "{joined:?}");
        }
    }

    #[test]
    fn entity_ids_of_every_length_bucket_as_their_text_does_the_short_ones_by_their_word() {
        let ids = "1000104-a-much-longer-entity-id-0123456789-0123456789-0123456789-0123456789";
        for user in ["", "a", "ab", "abc", "abcd", "user-00001-13f7639b", "üñï"] {
            let key = BucketingKey::new(user);
            for len in 0..=ids.len() {
                let entity = &ids[..len];
                let short = ShortId::new(entity.as_bytes());
                assert_eq!(short.is_some(), len <= ShortId::MAX_LEN, "{entity:?}");
                assert_eq!(
                    key.bucket_id(short.as_ref(), entity),
                    scale(murmur3_concat(user, entity, SEED)),
                    "{user:?} + {entity:?}"
                );
            }
        }
    }

    #[test]
    fn short_ids_hash_like_streamed_ones_for_every_alignment_and_length() {
        let users = [
            "",
            "a",
            "ab",
            "abc",
            "abcd",
            "abcde",
            "user-00001-13f7639b",
            "üñï",
        ];
        let ids = "9300002877087-üx";
        for user in users {
            let key = BucketingKey::new(user);
            for len in 0..=ids.len() {
                let Some(entity) = ids.get(..len) else {
                    continue;
                };
                match ShortId::new(entity.as_bytes()) {
                    Some(short) => assert_eq!(
                        key.hash_short(&short),
                        murmur3_concat(user, entity, SEED),
                        "{user:?} + {entity:?}"
                    ),
                    None => assert!(len > ShortId::MAX_LEN),
                }
            }
        }
    }

    #[test]
    fn a_bucket_equal_to_a_range_end_goes_to_the_next_range() {
        let ranges = [
            Range {
                end: 2500,
                entity: "",
            },
            Range {
                end: 4999,
                entity: "A",
            },
            Range {
                end: 5399,
                entity: "B",
            },
        ];
        assert_eq!(find(&ranges, 2499), Some(&""));
        assert_eq!(find(&ranges, 2500), Some(&"A"));
        assert_eq!(find(&ranges, 4999), Some(&"B"));
        assert_eq!(find(&ranges, 5399), None);
        assert_eq!(find(&ranges, 0), Some(&""));
    }

    #[test]
    fn zero_width_ranges_are_never_selected() {
        let ranges = [
            Range {
                end: 100,
                entity: 1,
            },
            Range {
                end: 100,
                entity: 2,
            },
            Range {
                end: 200,
                entity: 3,
            },
        ];
        assert_eq!(find(&ranges, 99), Some(&1));
        assert_eq!(find(&ranges, 100), Some(&3));
    }

    #[test]
    fn the_largest_hash_maps_to_the_last_bucket() {
        assert_eq!(((u64::from(u32::MAX) * 10_000) >> 32) as u32, 9999);
    }

    #[test]
    fn test_vectors_fall_into_the_expected_ranges() {
        let ranges = [
            Range {
                end: 2500,
                entity: "",
            },
            Range {
                end: 4999,
                entity: "A",
            },
            Range {
                end: 5399,
                entity: "B",
            },
        ];
        let pick = |id: &str, exp: &str| find(&ranges, bucket_value(id, exp)).copied();
        assert_eq!(pick("ppid1", "1886780721"), Some("B"));
        assert_eq!(pick("ppid2", "1886780721"), Some("A"));
        assert_eq!(pick("ppid2", "1886780722"), Some(""));
        assert_eq!(pick("ppid3", "1886780721"), None);
    }
}
