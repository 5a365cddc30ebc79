//! [`List`]: a list that keeps its first few items in place, for the many short lists of a
//! datafile and of the config built from it (ids, traffic ranges, variable values).

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

#[cfg(test)]
mod tests {
    use super::*;

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
