//! The kernel's random generator, behind `getrandom`: ChaCha20 (`rand_chacha`) keyed at first use from the
//! generic counter's jitter and the time since boot, and re-keyed from its own output after every request
//! ("fast key erasure"), so that a later compromise of the state does not reveal earlier outputs.
//!
//! Entropy: under QEMU the counter follows the host's clock, and the time a short memory-touching loop takes
//! varies with host scheduling, caches and interrupts; on hardware it varies with DRAM refresh and bus
//! contention. Each sample's low bits are folded into the key, 4096 samples in all, and the key is then run
//! through ChaCha20 itself as the mixing function. The boot time (how long the boot and the programs before
//! the first request took) adds more. This is Linux's jitter-entropy idea in miniature; a board with a hardware
//! generator (FEAT_RNG's RNDR, the Raspberry Pi's RNG200) could add it later.

use arch_arm64::Arm64;
use core_sched::IrqSpinLock;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// The generator, keyed at its first use.
static GENERATOR: IrqSpinLock<Arm64, Option<ChaCha20Rng>> = IrqSpinLock::new(None);

/// Bytes generated per lock hold: the caller copies each chunk out without the lock.
pub const CHUNK: usize = 256;

/// Jitter samples folded into the key.
const JITTER_SAMPLES: usize = 4096;

/// Fills `bytes` (at most [`CHUNK`] long) with random bytes.
pub fn fill(bytes: &mut [u8]) {
    let mut generator = GENERATOR.lock();
    let generator = generator.get_or_insert_with(keyed_from_jitter);
    generator.fill_bytes(bytes);
    let mut next_key = [0u8; 32];
    generator.fill_bytes(&mut next_key);
    *generator = ChaCha20Rng::from_seed(next_key);
}

fn keyed_from_jitter() -> ChaCha20Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&arch_arm64::cpu::counter().to_le_bytes());
    let mut scratch = [0u64; 64];
    let mut previous = arch_arm64::cpu::counter();
    for sample in 0..JITTER_SAMPLES {
        // Work whose duration varies: dependent loads and stores over a small buffer.
        for (index, word) in scratch.iter_mut().enumerate() {
            *word = word.wrapping_add(previous).rotate_left(index as u32 % 63 + 1);
        }
        let now = arch_arm64::cpu::counter();
        let delta = now.wrapping_sub(previous) ^ scratch[sample % scratch.len()];
        key[8 + sample % 24] ^= delta as u8;
        key[sample % 32] = key[sample % 32].rotate_left(3) ^ (delta >> 8) as u8;
        previous = now;
    }
    // Mix: every key bit now affects every output bit.
    let mut mixer = ChaCha20Rng::from_seed(key);
    let mut mixed = [0u8; 32];
    mixer.fill_bytes(&mut mixed);
    ChaCha20Rng::from_seed(mixed)
}
