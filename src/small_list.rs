//! [`List`]: a list that keeps its first few items in place, for the many short lists of a
//! datafile and of the config built from it (ids, traffic ranges, variable values); and
//! [`Span`]: a short list kept as a part of a longer one that many lists share.

use serde::Deserialize;

/// A list that keeps up to `N` items in place, more in a vector. It reads as a slice and
/// compares as one, whichever way it holds its items.
#[derive(Debug, Clone)]
pub(crate) enum List<T, const N: usize> {
    /// The first `len` items; the rest are defaults.
    Inline(u8, [T; N]),
    Heap(Vec<T>),
}

impl<T: Default, const N: usize> List<T, N> {
    /// Adds `item` at the end.
    pub(crate) fn push(&mut self, item: T) {
        match self {
            List::Inline(len, items) => match items.get_mut(usize::from(*len)) {
                Some(slot) => {
                    *slot = item;
                    // `N` is a handful: the length stays far below `u8::MAX`.
                    *len = len.saturating_add(1);
                }
                None => {
                    let mut heap = Vec::with_capacity(N * 2);
                    heap.extend(items.iter_mut().map(std::mem::take));
                    heap.push(item);
                    *self = List::Heap(heap);
                }
            },
            List::Heap(heap) => heap.push(item),
        }
    }
}

impl<T: Default, const N: usize> FromIterator<T> for List<T, N> {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Self {
        let mut list = List::default();
        for item in items {
            list.push(item);
        }
        list
    }
}

impl<T: Default, const N: usize> Default for List<T, N> {
    fn default() -> Self {
        List::Inline(0, std::array::from_fn(|_| T::default()))
    }
}

impl<T, const N: usize> std::ops::Deref for List<T, N> {
    type Target = [T];
    #[inline]
    fn deref(&self) -> &[T] {
        match self {
            List::Inline(len, items) => items.get(..usize::from(*len)).unwrap_or(&[]),
            List::Heap(heap) => heap,
        }
    }
}

impl<'l, T, const N: usize> IntoIterator for &'l List<T, N> {
    type Item = &'l T;
    type IntoIter = std::slice::Iter<'l, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<T: PartialEq, const N: usize> PartialEq for List<T, N> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T, const N: usize> From<Vec<T>> for List<T, N> {
    fn from(items: Vec<T>) -> Self {
        List::Heap(items)
    }
}

impl<'de, T: Deserialize<'de>, const N: usize> Deserialize<'de> for List<T, N> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::deserialize(deserializer).map(List::Heap)
    }
}

/// A part of a list that many short lists share: `len` items from `start`. One such list
/// holds them all (one allocation), each short list a span of it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) start: u32,
    pub(crate) len: u32,
}

impl Span {
    /// `len` items from `start`; `None` when either does not fit in 32 bits.
    pub(crate) fn new(start: usize, len: usize) -> Option<Span> {
        Some(Span {
            start: u32::try_from(start).ok()?,
            len: u32::try_from(len).ok()?,
        })
    }

    /// The items of `list` pushed since it had `start` of them (empty where that does not fit
    /// in 32 bits).
    pub(crate) fn since<T>(list: &[T], start: usize) -> Span {
        let start = start.min(list.len());
        Span::new(start, list.len() - start).unwrap_or_default()
    }

    /// This part of `list` (empty where it is out of range).
    #[inline]
    pub(crate) fn of<T>(self, list: &[T]) -> &[T] {
        let start = self.start as usize;
        list.get(start..start + self.len as usize)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_is_the_items_pushed_since_its_start_and_empty_out_of_range() {
        let mut list = vec![1, 2];
        let start = list.len();
        list.extend([3, 4, 5]);
        let span = Span::since(&list, start);
        assert_eq!(span, Span { start: 2, len: 3 });
        assert_eq!(span.of(&list), [3, 4, 5]);
        assert_eq!(Span::since(&list, 9), Span { start: 5, len: 0 });
        assert!(span.of(&list[..4]).is_empty());
        assert_eq!(
            Span::new(1, 2).map(|s| s.of(&list).to_vec()),
            Some(vec![2, 3])
        );
        assert_eq!(Span::new(usize::MAX, 1), None);
    }

    #[test]
    fn a_list_reads_as_the_slice_of_its_items_in_place_or_not() {
        let mut list: List<u32, 2> = List::default();
        assert!(list.is_empty());
        list.push(1);
        list.push(2);
        assert!(matches!(list, List::Inline(2, _)));
        assert_eq!(*list, [1, 2]);
        list.push(3);
        assert!(matches!(list, List::Heap(_)));
        assert_eq!(*list, [1, 2, 3]);
        assert_eq!(list, List::from(vec![1, 2, 3]));
        assert_ne!(list, List::from(vec![1, 2]));
        assert_eq!(list.iter().rev().copied().collect::<Vec<_>>(), [3, 2, 1]);
    }
}
