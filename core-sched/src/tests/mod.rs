//! Host tests: a recording mock arch, switch-sequence tests, a randomized property test of the reference
//! counts, membarrier conformance, and an exhaustive store-buffer model check of the post-switch barrier.

mod irq;
mod membarrier;
mod mock;
mod model;
mod property;
mod switch;
