//! Semantic-version comparison as the official SDKs do it for `semver_*` conditions.
//!
//! This is deliberately not SemVer 2.0 precedence: only the condition's (target's) precision is
//! compared ("2.0" equals "2.0.1"), a pre-release or build suffix is one opaque part compared
//! as a string, and a version with a space, more than two dots before its suffix, or a
//! non-numeric core part is invalid.

use std::cmp::Ordering;

/// The parts of a version and what the comparison needs to know of them.
trait Parts {
    fn count(&self) -> usize;
    fn part(&self, i: usize) -> &str;
    /// Whether part `i` is all ASCII digits.
    fn is_numeric(&self, i: usize) -> bool;
    fn pre_release(&self) -> bool;
    fn build(&self) -> bool;
    /// Part `i` as a number, when it is numeric and small enough to compare as one.
    fn number(&self, i: usize) -> Option<u64> {
        small_number(self.part(i)).filter(|_| self.is_numeric(i))
    }
}

/// An all-digit string of at most 18 digits as a number (larger ones compare as text).
fn small_number(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 18 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Small numeric parts, precomputed: bit `i` of `fits` says `values[i]` holds part `i`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct Numbers {
    values: [u64; 4],
    fits: u8,
}

impl Numbers {
    fn of<'p>(parts: impl Iterator<Item = &'p str>) -> Numbers {
        let mut numbers = Numbers::default();
        for (i, part) in parts.enumerate().take(4) {
            if let (Some(n), Some(slot)) = (small_number(part), numbers.values.get_mut(i)) {
                *slot = n;
                numbers.fits |= 1 << i;
            }
        }
        numbers
    }

    #[inline]
    fn get(&self, i: usize) -> Option<u64> {
        if self.fits & (1 << i) != 0 {
            self.values.get(i).copied()
        } else {
            None
        }
    }
}

/// A parsed version borrowing its text: up to three core parts, then the suffix (if any) as
/// one more part. Parsing allocates nothing, so user values are parsed on every evaluation
/// without touching the heap.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct VersionRef<'a> {
    parts: [&'a str; 4],
    len: usize,
    /// Bit `i` set: part `i` is all digits.
    numeric: u8,
    pre_release: bool,
    build: bool,
}

/// A condition's target version, parsed once at load: its text and where its parts lie in it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Version {
    text: Box<str>,
    /// The parts' byte ranges in `text`; the first `len` are the parts.
    spans: [(usize, usize); 4],
    len: u8,
    numeric: u8,
    pre_release: bool,
    build: bool,
    numbers: Numbers,
}

/// Compares two all-digit strings as unbounded integers.
fn cmp_digits(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0').as_bytes();
    let b = b.trim_start_matches('0').as_bytes();
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Where the parts of a valid version lie in its text: what a user context keeps so that a
/// version is parsed once per user.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct VersionSpans {
    spans: [(u16, u16); 4],
    len: u8,
    numeric: u8,
    pre_release: bool,
    build: bool,
    numbers: Numbers,
}

impl VersionSpans {
    /// Parses `text`; `None` when it is not a valid version (or is over 64 KiB).
    pub(crate) fn of(text: &str) -> Option<VersionSpans> {
        let parsed = VersionRef::parse(text)?;
        let base = text.as_ptr() as usize;
        let mut spans = [(0u16, 0u16); 4];
        for (span, part) in spans.iter_mut().zip(parsed.parts.iter().take(parsed.len)) {
            let start = (part.as_ptr() as usize).checked_sub(base)?;
            *span = (
                u16::try_from(start).ok()?,
                u16::try_from(start + part.len()).ok()?,
            );
        }
        Some(VersionSpans {
            spans,
            len: u8::try_from(parsed.len).ok()?,
            numeric: parsed.numeric,
            pre_release: parsed.pre_release,
            build: parsed.build,
            numbers: Numbers::of(parsed.parts.iter().take(parsed.len).copied()),
        })
    }

    /// The version over `text`, which must be the text these spans were made from; parts are
    /// cut from the text only when a comparison needs them as text.
    #[inline]
    pub(crate) fn view<'a>(&'a self, text: &'a str) -> SpansView<'a> {
        SpansView { spans: self, text }
    }
}

/// A cached version over its text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SpansView<'a> {
    spans: &'a VersionSpans,
    text: &'a str,
}

impl Parts for SpansView<'_> {
    fn count(&self) -> usize {
        usize::from(self.spans.len)
    }
    fn part(&self, i: usize) -> &str {
        self.spans
            .spans
            .get(i)
            .and_then(|(a, b)| self.text.get(usize::from(*a)..usize::from(*b)))
            .unwrap_or("")
    }
    fn is_numeric(&self, i: usize) -> bool {
        self.spans.numeric & (1 << i) != 0
    }
    fn pre_release(&self) -> bool {
        self.spans.pre_release
    }
    fn build(&self) -> bool {
        self.spans.build
    }
    fn number(&self, i: usize) -> Option<u64> {
        self.spans.numbers.get(i)
    }
}

impl Version {
    /// Parses and keeps a target version; `None` when it is not a version the SDKs accept.
    pub(crate) fn parse(text: &str) -> Option<Version> {
        let parsed = VersionRef::parse(text)?;
        let base = text.as_ptr() as usize;
        let mut spans = [(0, 0); 4];
        for (span, part) in spans.iter_mut().zip(parsed.parts.iter().take(parsed.len)) {
            let start = (part.as_ptr() as usize).checked_sub(base)?;
            *span = (start, start + part.len());
        }
        Some(Version {
            text: text.into(),
            spans,
            len: u8::try_from(parsed.len).ok()?,
            numeric: parsed.numeric,
            pre_release: parsed.pre_release,
            build: parsed.build,
            numbers: Numbers::of(parsed.parts.iter().take(parsed.len).copied()),
        })
    }

    /// Compares a cached user version against this target version (see
    /// [`Version::compare_user`]).
    #[inline]
    pub(crate) fn compare_cached(&self, user: &SpansView<'_>) -> Option<Ordering> {
        self.compare_numbers(user.spans)
            .or_else(|| compare(self, user))
    }

    /// The comparison when this target is all small numbers without a suffix and the user's
    /// parts it reaches are small numbers too: what [`compare`] gives then, without cutting
    /// or reading any text. `None` when the fast path does not apply.
    #[inline]
    pub(crate) fn compare_numbers(&self, user: &VersionSpans) -> Option<Ordering> {
        let count = usize::from(self.len);
        let all = |n: usize| (1u8 << n) - 1;
        if count > 3 || self.pre_release || self.build || self.numbers.fits != all(count) {
            return None;
        }
        let reached = count.min(usize::from(user.len));
        if user.numbers.fits & all(reached) != all(reached) {
            return None;
        }
        for idx in 0..count {
            if idx >= usize::from(user.len) {
                return Some(Ordering::Less);
            }
            match user.numbers.get(idx)?.cmp(&self.numbers.get(idx)?) {
                Ordering::Equal => {}
                other => return Some(other),
            }
        }
        Some(if user.pre_release {
            Ordering::Less
        } else {
            Ordering::Equal
        })
    }

    /// Compares `user` against this target version: `Some(Greater)` when the user's version is
    /// greater. `None` where the official SDKs fail (a numeric user part against a non-numeric
    /// target part).
    #[inline]
    pub(crate) fn compare_user(&self, user: &VersionRef<'_>) -> Option<Ordering> {
        compare(self, user)
    }
}

impl Parts for Version {
    fn number(&self, i: usize) -> Option<u64> {
        self.numbers.get(i)
    }
    fn count(&self) -> usize {
        usize::from(self.len)
    }
    fn part(&self, i: usize) -> &str {
        self.spans
            .get(i)
            .filter(|_| i < usize::from(self.len))
            .and_then(|&(a, b)| self.text.get(a..b))
            .unwrap_or("")
    }
    fn is_numeric(&self, i: usize) -> bool {
        self.numeric & (1 << i) != 0
    }
    fn pre_release(&self) -> bool {
        self.pre_release
    }
    fn build(&self) -> bool {
        self.build
    }
}

impl Parts for VersionRef<'_> {
    fn count(&self) -> usize {
        self.len
    }
    fn part(&self, i: usize) -> &str {
        self.parts.get(i).copied().unwrap_or("")
    }
    fn is_numeric(&self, i: usize) -> bool {
        self.numeric & (1 << i) != 0
    }
    fn pre_release(&self) -> bool {
        self.pre_release
    }
    fn build(&self) -> bool {
        self.build
    }
}

impl<'a> VersionRef<'a> {
    /// Parses `text` in one pass; `None` when it is not a version the SDKs accept.
    ///
    /// The first `-` or `+` ends the core and makes the version a pre-release or a build; the
    /// rest is the suffix, kept whole as one more part.
    pub(crate) fn parse(text: &'a str) -> Option<VersionRef<'a>> {
        let bytes = text.as_bytes();
        let mut version = VersionRef {
            parts: [""; 4],
            len: 0,
            numeric: 0,
            pre_release: false,
            build: false,
        };
        let mut start = 0;
        let mut i = 0;
        loop {
            let byte = bytes.get(i).copied();
            match byte {
                Some(b) if b.is_ascii_digit() => {
                    i += 1;
                    continue;
                }
                Some(b'.') | Some(b'-') | Some(b'+') | None => {
                    if i == start || version.len == 3 {
                        return None;
                    }
                    *version.parts.get_mut(version.len)? = text.get(start..i)?;
                    version.numeric |= 1 << version.len;
                    version.len += 1;
                    start = i + 1;
                }
                Some(_) => return None,
            }
            match byte {
                Some(b'.') => i += 1,
                Some(mark) if mark == b'-' || mark == b'+' => {
                    let suffix = text.get(i + 1..)?;
                    let mut numeric = !suffix.is_empty();
                    for b in suffix.bytes() {
                        if b == b' ' {
                            return None;
                        }
                        numeric &= b.is_ascii_digit();
                    }
                    *version.parts.get_mut(version.len)? = suffix;
                    if numeric {
                        version.numeric |= 1 << version.len;
                    }
                    version.len += 1;
                    version.pre_release = mark == b'-';
                    version.build = mark == b'+';
                    return Some(version);
                }
                _ => return Some(version),
            }
        }
    }

    /// Compares `user` against this target version (see [`Version::compare_user`]).
    #[cfg(test)]
    pub(crate) fn compare_user(&self, user: &VersionRef<'_>) -> Option<Ordering> {
        compare(self, user)
    }

    #[cfg(test)]
    fn parts(&self) -> &[&'a str] {
        self.parts.get(..self.len).unwrap_or(&[])
    }
}

/// The official SDKs' comparison, walking the target's parts.
fn compare(target: &impl Parts, user: &impl Parts) -> Option<Ordering> {
    for idx in 0..target.count() {
        if idx >= user.count() {
            return Some(if target.pre_release() || target.build() {
                Ordering::Greater
            } else {
                Ordering::Less
            });
        }
        if user.is_numeric(idx) {
            if !target.is_numeric(idx) {
                return None;
            }
            let order = match (user.number(idx), target.number(idx)) {
                (Some(u), Some(t)) => u.cmp(&t),
                _ => cmp_digits(user.part(idx), target.part(idx)),
            };
            match order {
                Ordering::Equal => continue,
                other => return Some(other),
            }
        }
        {
            match user.part(idx).cmp(target.part(idx)) {
                Ordering::Less => {
                    return Some(if target.pre_release() && !user.pre_release() {
                        Ordering::Greater
                    } else {
                        Ordering::Less
                    })
                }
                Ordering::Greater => {
                    return Some(if !target.pre_release() && user.pre_release() {
                        Ordering::Less
                    } else {
                        Ordering::Greater
                    })
                }
                Ordering::Equal => {}
            }
        }
    }
    if user.pre_release() && !target.pre_release() {
        return Some(Ordering::Less);
    }
    Some(Ordering::Equal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(target: &str, user: &str) -> Option<Ordering> {
        let t = VersionRef::parse(target)?;
        let u = VersionRef::parse(user)?;
        t.compare_user(&u)
    }

    #[test]
    fn equal_versions_compare_equal_at_the_targets_precision() {
        for (t, u) in [
            ("2.0.1", "2.0.1"),
            ("2.9.9-beta", "2.9.9-beta"),
            ("2.1", "2.1.0"),
            ("2", "2.12"),
            ("2.9", "2.9.1"),
            ("2.9.1", "2.9.1+beta"),
        ] {
            assert_eq!(cmp(t, u), Some(Ordering::Equal), "{t} vs {u}");
        }
    }

    #[test]
    fn user_versions_greater_than_the_target() {
        for (t, u) in [
            ("2.0.0", "2.0.1"),
            ("2.0", "3.0.1"),
            ("2.1.2-beta", "2.1.2-release"),
            ("2.1.3-beta1", "2.1.3-beta2"),
            ("2.9.9-beta", "2.9.9"),
            ("2.9.9+beta", "2.9.9"),
            ("3.7.0-prerelease+build", "3.7.0-prerelease+rc"),
            ("2.2.3+beta2-beta1", "2.2.3+beta3-beta2"),
        ] {
            assert_eq!(cmp(t, u), Some(Ordering::Greater), "{t} vs {u}");
        }
    }

    #[test]
    fn user_versions_smaller_than_the_target() {
        for (t, u) in [
            ("2.0.1", "2.0.0"),
            ("3.0", "2.0.1"),
            ("2.9.8", "2.9"),
            ("2.1.2-release", "2.1.2-beta"),
            ("2.9.9+beta", "2.9.9-beta"),
            ("2.1.3-beta-beta2", "2.1.3-beta"),
            ("2.1.3-beta1+beta3", "2.1.3-beta1+beta2"),
        ] {
            assert_eq!(cmp(t, u), Some(Ordering::Less), "{t} vs {u}");
        }
    }

    #[test]
    fn the_number_fast_path_agrees_with_the_general_comparison() {
        let versions = [
            "1",
            "2",
            "1.0",
            "1.2",
            "1.2.3",
            "1.2.4",
            "1.10.0",
            "2.0.0",
            "1.2.3-beta",
            "1.2.3-5",
            "1.2-5",
            "1.2+7",
            "1.2.3+build",
            "01.002.3",
            "1.2.99999999999999999999",
            "0.0.0",
            "3.0.0-1",
            "1.2.3-",
        ];
        for target in versions {
            let t = Version::parse(target).unwrap();
            for user in versions {
                let spans = VersionSpans::of(user).unwrap();
                let expected = compare(&t, &VersionRef::parse(user).unwrap());
                assert_eq!(
                    t.compare_cached(&spans.view(user)),
                    expected,
                    "{target} vs {user}"
                );
                if let Some(fast) = t.compare_numbers(&spans) {
                    assert_eq!(Some(fast), expected, "fast: {target} vs {user}");
                }
            }
        }
    }

    #[test]
    fn malformed_versions_do_not_parse() {
        for v in [
            "-",
            ".",
            "..",
            "+",
            "+test",
            " ",
            "2 .3. 0",
            "2.",
            ".2.2",
            "3.7.2.2",
            "3.x",
            ",",
            "+build-prerelease",
            "2..2",
            "",
        ] {
            assert_eq!(VersionRef::parse(v), None, "{v:?}");
        }
    }

    #[test]
    fn numeric_parts_compare_as_unbounded_integers() {
        assert_eq!(
            cmp("1.99999999999999999999", "1.100000000000000000000"),
            Some(Ordering::Greater)
        );
        assert_eq!(cmp("1.010", "1.10"), Some(Ordering::Equal));
    }

    #[test]
    fn numeric_user_part_against_textual_target_part_is_unknown() {
        assert_eq!(cmp("1.2.3-beta", "1.2.3-5"), None);
    }

    #[test]
    fn an_empty_suffix_is_a_part_of_its_own() {
        let v = VersionRef::parse("1.2.3-").unwrap();
        assert_eq!(v.parts(), ["1", "2", "3", ""]);
        assert!(v.pre_release);
    }
}
