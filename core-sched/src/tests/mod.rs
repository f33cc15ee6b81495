//! Host tests: a recording mock arch, switch-sequence tests, the user-page release of the two mm counts, a
//! randomized property test of the reference counts, membarrier conformance, and an exhaustive store-buffer
//! model check of the post-switch barrier.

pub(crate) mod barrier_mutant;
mod cpuset;
mod irq;
mod membarrier;
mod mm;
mod mock;
mod model;
mod property;
mod rseq;
mod runqueue;
mod scenarios;
mod switch;
mod wait;
