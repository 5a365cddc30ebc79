//! [`SmallStr`]: an immutable string of the config that keeps a short text in place, so that
//! loading a datafile does not allocate once for each of its thousands of ids and keys.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// How many bytes a [`SmallStr`] keeps in place; a longer text is boxed.
const INLINE: usize = 30;

/// An immutable string: up to 30 bytes kept in the value itself (most datafile ids and keys),
/// a longer one boxed. It reads as a `str` and hashes and compares as one, so that a map keyed
/// by it is looked up with a `&str`.
#[derive(Clone)]
pub(crate) struct SmallStr(Repr);

#[derive(Clone)]
enum Repr {
    /// The length and the bytes, zero-padded.
    Inline(u8, [u8; INLINE]),
    Boxed(Box<str>),
}

/// Copies `bytes` (at most [`INLINE`]) to the start of `buf` in two fixed-size moves that may
/// overlap, rather than through a call to copy a length known only at run time: config
/// strings are many and short.
#[inline(always)]
fn fill(buf: &mut [u8; INLINE], bytes: &[u8]) {
    /// Moves `bytes[at..at + N]` to `buf[at..at + N]`.
    #[inline(always)]
    fn put<const N: usize>(buf: &mut [u8; INLINE], bytes: &[u8], at: usize) {
        if let (Some(to), Some(from)) = (buf.get_mut(at..at + N), bytes.get(at..at + N)) {
            to.copy_from_slice(from);
        }
    }
    let n = bytes.len();
    if n >= 16 {
        put::<16>(buf, bytes, 0);
        put::<16>(buf, bytes, n - 16);
    } else if n >= 8 {
        put::<8>(buf, bytes, 0);
        put::<8>(buf, bytes, n - 8);
    } else if n >= 4 {
        put::<4>(buf, bytes, 0);
        put::<4>(buf, bytes, n - 4);
    } else {
        for (to, &from) in buf.iter_mut().zip(bytes) {
            *to = from;
        }
    }
}

impl SmallStr {
    /// A copy of `s`.
    #[inline]
    pub(crate) fn new(s: &str) -> SmallStr {
        let bytes = s.as_bytes();
        let mut buf = [0u8; INLINE];
        if bytes.len() > INLINE {
            return SmallStr(Repr::Boxed(Box::from(s)));
        }
        fill(&mut buf, bytes);
        SmallStr(Repr::Inline(bytes.len() as u8, buf))
    }

    /// The text's bytes.
    #[inline]
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline(len, buf) => buf.get(..usize::from(*len)).unwrap_or(&[]),
            Repr::Boxed(s) => s.as_bytes(),
        }
    }

    /// The text.
    #[inline]
    pub(crate) fn as_str(&self) -> &str {
        match &self.0 {
            // Made from a `str`, so always UTF-8: the check only keeps this safe code.
            Repr::Inline(..) => std::str::from_utf8(self.as_bytes()).unwrap_or_default(),
            Repr::Boxed(s) => s,
        }
    }
}

impl Default for SmallStr {
    fn default() -> SmallStr {
        SmallStr(Repr::Inline(0, [0; INLINE]))
    }
}

impl From<&str> for SmallStr {
    fn from(s: &str) -> SmallStr {
        SmallStr::new(s)
    }
}

impl Deref for SmallStr {
    type Target = str;
    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for SmallStr {
    #[inline]
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for SmallStr {
    #[inline]
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for SmallStr {
    #[inline]
    fn eq(&self, other: &SmallStr) -> bool {
        crate::hash::bytes_eq(self.as_bytes(), other.as_bytes())
    }
}

impl Eq for SmallStr {}

impl PartialEq<str> for SmallStr {
    #[inline]
    fn eq(&self, other: &str) -> bool {
        crate::hash::bytes_eq(self.as_bytes(), other.as_bytes())
    }
}

impl PartialEq<&str> for SmallStr {
    #[inline]
    fn eq(&self, other: &&str) -> bool {
        crate::hash::bytes_eq(self.as_bytes(), other.as_bytes())
    }
}

impl Hash for SmallStr {
    /// As a `str` hashes (its bytes, then `0xff`), so that a `&str` finds it in a map.
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(self.as_bytes());
        state.write_u8(0xff);
    }
}

impl fmt::Debug for SmallStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for SmallStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::FastMap;

    #[test]
    fn short_and_long_texts_read_back_as_given() {
        for text in [
            "",
            "1000012",
            "default-rollout-1000017",
            &"k".repeat(30),
            &"é".repeat(40),
        ] {
            let s = SmallStr::new(text);
            assert_eq!(s.as_str(), text);
            assert_eq!(s.as_bytes(), text.as_bytes());
            assert_eq!(s.to_string(), text);
            assert_eq!(format!("{s:?}"), format!("{text:?}"));
        }
        assert!(matches!(
            SmallStr::new(&"k".repeat(30)).0,
            Repr::Inline(30, _)
        ));
        assert!(matches!(SmallStr::new(&"k".repeat(31)).0, Repr::Boxed(_)));
        assert_eq!(SmallStr::default().as_str(), "");
    }

    #[test]
    fn every_length_kept_in_place_reads_back_and_leaves_the_rest_zero() {
        let text: String = ('a'..='z').chain('A'..='Z').collect();
        for len in 0..=INLINE {
            let part = &text[..len];
            let s = SmallStr::new(part);
            assert_eq!(s.as_str(), part, "length {len}");
            let Repr::Inline(n, buf) = &s.0 else {
                panic!("length {len} kept on the heap")
            };
            assert_eq!(usize::from(*n), len);
            assert!(buf[len..].iter().all(|&b| b == 0), "length {len}");
            // Equal texts are equal strings whatever their length.
            assert_eq!(s, SmallStr::new(part));
        }
    }

    #[test]
    fn a_map_keyed_by_small_strings_is_looked_up_by_str() {
        let long = "a_key_longer_than_the_thirty_bytes_kept_in_place";
        let mut map: FastMap<SmallStr, u32> = FastMap::default();
        map.insert(SmallStr::new("flag_00"), 1);
        map.insert(SmallStr::new(long), 2);
        assert_eq!(map.get("flag_00"), Some(&1));
        assert_eq!(map.get(long), Some(&2));
        assert_eq!(map.get("flag_0"), None);
        assert_eq!(SmallStr::new("a"), SmallStr::new("a"));
        assert!(SmallStr::new("a") == "a" && SmallStr::new("a") != "b");
    }

    #[test]
    fn a_small_string_hashes_as_its_str() {
        use std::hash::BuildHasher;
        let fast = crate::hash::FastMap::<(), ()>::default().hasher().clone();
        let std = std::collections::hash_map::RandomState::new();
        for text in ["", "1000012", &"k".repeat(45)] {
            let s = SmallStr::new(text);
            assert_eq!(fast.hash_one(&s), fast.hash_one(text));
            assert_eq!(std.hash_one(&s), std.hash_one(text));
        }
    }
}
