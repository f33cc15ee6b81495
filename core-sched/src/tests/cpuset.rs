//! `CpuSet`'s constructors and queries at their edges (no CPU, one, all 64 bits).

use crate::CpuSet;

#[test]
fn first_contains_len_and_lowest_at_the_edges() {
    assert_eq!(CpuSet::first(0), CpuSet::EMPTY);
    assert_eq!(CpuSet::first(3), CpuSet(0b111));
    assert_eq!(CpuSet::first(63), CpuSet(u64::MAX >> 1));
    assert_eq!(CpuSet::first(64), CpuSet(u64::MAX));
    assert_eq!(CpuSet::first(100), CpuSet(u64::MAX));
    let full = CpuSet(u64::MAX);
    assert!(full.contains(63) && !full.contains(64) && !full.contains(1000));
    let set = CpuSet(0b10_1000);
    assert_eq!(set.len(), 2);
    assert_eq!(CpuSet::EMPTY.len(), 0);
    assert_eq!(set.lowest(), Some(3));
    assert_eq!(CpuSet::single(0).lowest(), Some(0));
    assert_eq!(CpuSet::EMPTY.lowest(), None);
}
