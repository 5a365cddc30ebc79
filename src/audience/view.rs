//! A user's attributes as conditions read them: by the slot the config gave each attribute name,
//! with semantic versions parsed once per user rather than once per condition.

use super::semver::{VersionRef, VersionSpans};
use super::Slots;
use crate::value::{AttributeValue, Attributes, NO_SLOT};

/// What is known of the version in a slot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum CachedVersion {
    /// Not parsed (the slot is not read by a semver condition, or holds no string).
    NotParsed,
    /// The string is not a valid version.
    Invalid,
    /// The string parses to these parts.
    Valid(VersionSpans),
}

/// A user's attributes resolved against one config's slots.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Resolution {
    /// Slot → index of the user's attribute (`NO_SLOT`: not set).
    slots: Box<[u16]>,
    /// Slot → parsed version, for slots semver conditions read (empty if there are none).
    versions: Box<[CachedVersion]>,
}

impl Resolution {
    /// Resolves `attributes` against `slots`.
    pub(crate) fn new(attributes: &Attributes, slots: &Slots) -> Resolution {
        let index = attributes.resolve(slots.len(), |name| slots.get(name));
        let versions: Box<[CachedVersion]> = if slots.has_semver() {
            index
                .iter()
                .enumerate()
                .map(|(slot, &at)| {
                    if at == NO_SLOT || !slots.is_semver(slot) {
                        return CachedVersion::NotParsed;
                    }
                    match attributes.value_at(at) {
                        Some(AttributeValue::String(s)) => {
                            VersionSpans::of(s).map_or(CachedVersion::Invalid, CachedVersion::Valid)
                        }
                        _ => CachedVersion::NotParsed,
                    }
                })
                .collect()
        } else {
            Box::default()
        };
        Resolution {
            slots: index,
            versions,
        }
    }
}

/// A user's attributes as conditions read them.
#[derive(Clone, Copy)]
pub(crate) struct AttributeView<'a> {
    attributes: &'a Attributes,
    resolution: Option<&'a Resolution>,
}

impl<'a> AttributeView<'a> {
    /// A view that looks attributes up by name.
    pub(crate) fn by_name(attributes: &'a Attributes) -> AttributeView<'a> {
        AttributeView {
            attributes,
            resolution: None,
        }
    }

    /// A view through a resolution made for the config in use.
    pub(crate) fn resolved(
        attributes: &'a Attributes,
        resolution: &'a Resolution,
    ) -> AttributeView<'a> {
        AttributeView {
            attributes,
            resolution: Some(resolution),
        }
    }

    /// The value of the attribute in `slot`, named `name`.
    #[inline]
    pub(crate) fn get(&self, slot: u16, name: &str) -> Option<&'a AttributeValue> {
        match self.resolution {
            Some(r) => self.attributes.value_at(*r.slots.get(usize::from(slot))?),
            None => self.attributes.get(name),
        }
    }

    /// The version in `slot`, whose value is `text`: from the resolution when it parsed it,
    /// else parsed now.
    #[inline]
    pub(crate) fn version(&self, slot: u16, text: &'a str) -> Option<VersionRef<'a>> {
        let cached = self
            .resolution
            .and_then(|r| r.versions.get(usize::from(slot)))
            .copied()
            .unwrap_or(CachedVersion::NotParsed);
        match cached {
            CachedVersion::Valid(spans) => Some(spans.view(text)),
            CachedVersion::Invalid => None,
            CachedVersion::NotParsed => VersionRef::parse(text),
        }
    }
}
