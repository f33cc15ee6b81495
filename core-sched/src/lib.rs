//! Architecture-independent scheduler (placeholder until the crate lands).
#![no_std]
#![forbid(unsafe_code)]
