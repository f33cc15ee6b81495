//! `CpuSet`: a fixed-size set of CPU numbers (a `u64` bitmask), used for affinity and IPI targets.

/// Most CPUs the scheduler manages. Every CPU number is below this.
pub const MAX_CPUS: usize = 8;

/// A set of CPU numbers below [`MAX_CPUS`], stored as a bitmask (bit `n` = CPU `n`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CpuSet(pub u64);

impl CpuSet {
    /// The empty set.
    pub const EMPTY: CpuSet = CpuSet(0);

    /// Every CPU the scheduler can manage (`0..MAX_CPUS`).
    pub const fn all() -> CpuSet {
        CpuSet((1u64 << MAX_CPUS) - 1)
    }

    /// CPUs `0..count`.
    pub const fn first(count: usize) -> CpuSet {
        if count >= 64 {
            CpuSet(u64::MAX)
        } else {
            CpuSet((1u64 << count) - 1)
        }
    }

    /// The set holding only `cpu`.
    pub const fn single(cpu: usize) -> CpuSet {
        CpuSet(1u64 << cpu)
    }

    /// Whether `cpu` is in the set.
    pub const fn contains(self, cpu: usize) -> bool {
        cpu < 64 && self.0 & (1u64 << cpu) != 0
    }

    /// Adds `cpu`.
    pub fn insert(&mut self, cpu: usize) {
        self.0 |= 1u64 << cpu;
    }

    /// Removes `cpu`.
    pub fn remove(&mut self, cpu: usize) {
        self.0 &= !(1u64 << cpu);
    }

    /// Whether the set has no CPU.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Number of CPUs in the set.
    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The CPUs in both sets.
    pub const fn intersection(self, other: CpuSet) -> CpuSet {
        CpuSet(self.0 & other.0)
    }

    /// The lowest-numbered CPU of the set.
    pub const fn lowest(self) -> Option<usize> {
        if self.0 == 0 {
            None
        } else {
            Some(self.0.trailing_zeros() as usize)
        }
    }

    /// The CPUs in increasing order.
    pub fn iter(self) -> CpuSetIter {
        CpuSetIter(self.0)
    }
}

impl IntoIterator for CpuSet {
    type Item = usize;
    type IntoIter = CpuSetIter;
    fn into_iter(self) -> CpuSetIter {
        self.iter()
    }
}

impl FromIterator<usize> for CpuSet {
    fn from_iter<I: IntoIterator<Item = usize>>(iter: I) -> Self {
        let mut set = CpuSet::EMPTY;
        for cpu in iter {
            set.insert(cpu);
        }
        set
    }
}

/// Iterator over the CPUs of a [`CpuSet`], lowest first.
#[derive(Clone, Debug)]
pub struct CpuSetIter(u64);

impl Iterator for CpuSetIter {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        if self.0 == 0 {
            return None;
        }
        let cpu = self.0.trailing_zeros() as usize;
        self.0 &= self.0 - 1;
        Some(cpu)
    }
}
