//! Semantic-version comparison as the official SDKs do it for `semver_*` conditions.
//!
//! This is deliberately not SemVer 2.0 precedence: only the condition's (target's) precision is
//! compared ("2.0" equals "2.0.1"), a pre-release or build suffix is one opaque part compared
//! as a string, and a version with a space, more than two dots before its suffix, or a
//! non-numeric core part is invalid.

use std::cmp::Ordering;

/// A parsed version borrowing its text: up to three core parts, then the suffix (if any) as
/// one more part. Parsing allocates nothing, so user values are parsed on every evaluation
/// without touching the heap.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct VersionRef<'a> {
    parts: [&'a str; 4],
    len: usize,
    pre_release: bool,
    build: bool,
}

/// A condition's target version, parsed once at load.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Version {
    text: Box<str>,
    /// Byte ranges of the parts in `text`.
    spans: [(u16, u16); 4],
    len: usize,
    pre_release: bool,
    build: bool,
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Compares two all-digit strings as unbounded integers.
fn cmp_digits(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

impl Version {
    /// Checks and keeps a target version; `None` when it is not a version the SDKs accept (or
    /// is longer than 64 KiB).
    pub(crate) fn parse(text: &str) -> Option<Version> {
        let parsed = VersionRef::parse(text)?;
        let base = text.as_ptr() as usize;
        let mut spans = [(0u16, 0u16); 4];
        for (span, part) in spans.iter_mut().zip(parsed.parts()) {
            let start = part.as_ptr() as usize - base;
            *span = (u16::try_from(start).ok()?, u16::try_from(start + part.len()).ok()?);
        }
        Some(Version {
            text: text.into(),
            spans,
            len: parsed.len,
            pre_release: parsed.pre_release,
            build: parsed.build,
        })
    }

    /// The parsed parts, borrowed from the kept text.
    #[inline]
    pub(crate) fn as_ref(&self) -> VersionRef<'_> {
        let mut parts = [""; 4];
        for (part, (a, b)) in parts.iter_mut().zip(self.spans.iter()).take(self.len) {
            *part = self.text.get(usize::from(*a)..usize::from(*b)).unwrap_or("");
        }
        VersionRef {
            parts,
            len: self.len,
            pre_release: self.pre_release,
            build: self.build,
        }
    }
}

impl<'a> VersionRef<'a> {
    /// Parses `text`; `None` when it is not a version the SDKs accept.
    pub(crate) fn parse(text: &'a str) -> Option<VersionRef<'a>> {
        let bytes = text.as_bytes();
        let (mut dash, mut plus) = (None, None);
        for (i, &b) in bytes.iter().enumerate() {
            match b {
                b' ' => return None,
                b'-' if dash.is_none() => dash = Some(i),
                b'+' if plus.is_none() => plus = Some(i),
                _ => {}
            }
        }
        let pre_release = match (dash, plus) {
            (Some(d), Some(p)) => d < p,
            (Some(_), None) => true,
            _ => false,
        };
        let build = match (dash, plus) {
            (Some(d), Some(p)) => p < d,
            (None, Some(_)) => true,
            _ => false,
        };
        let split_at = if pre_release {
            dash
        } else if build {
            plus
        } else {
            None
        };
        let (prefix, suffix) = match split_at {
            Some(at) => (text.get(..at)?, Some(text.get(at + 1..)?)),
            None => (text, None),
        };
        let mut parts = [""; 4];
        let mut len = 0;
        for part in prefix.split('.') {
            if len == 3 || !is_digits(part) {
                return None;
            }
            parts[len] = part;
            len += 1;
        }
        if let Some(suffix) = suffix {
            parts[len] = suffix;
            len += 1;
        }
        Some(VersionRef {
            parts,
            len,
            pre_release,
            build,
        })
    }

    fn parts(&self) -> &[&'a str] {
        self.parts.get(..self.len).unwrap_or(&[])
    }

    /// Compares `user` against this target version: `Some(Greater)` when the user's version is
    /// greater. `None` where the official SDKs fail (a numeric user part against a non-numeric
    /// target part).
    pub(crate) fn compare_user(&self, user: &VersionRef<'_>) -> Option<Ordering> {
        let user_parts = user.parts();
        for (idx, target_part) in self.parts().iter().enumerate() {
            let Some(user_part) = user_parts.get(idx) else {
                return Some(if self.pre_release || self.build {
                    Ordering::Greater
                } else {
                    Ordering::Less
                });
            };
            if !is_digits(user_part) {
                match (*user_part).cmp(*target_part) {
                    Ordering::Less => {
                        return Some(if self.pre_release && !user.pre_release {
                            Ordering::Greater
                        } else {
                            Ordering::Less
                        })
                    }
                    Ordering::Greater => {
                        return Some(if !self.pre_release && user.pre_release {
                            Ordering::Less
                        } else {
                            Ordering::Greater
                        })
                    }
                    Ordering::Equal => {}
                }
            } else {
                if !is_digits(target_part) {
                    return None;
                }
                match cmp_digits(user_part, target_part) {
                    Ordering::Equal => {}
                    other => return Some(other),
                }
            }
        }
        if user.pre_release && !self.pre_release {
            return Some(Ordering::Less);
        }
        Some(Ordering::Equal)
    }
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
