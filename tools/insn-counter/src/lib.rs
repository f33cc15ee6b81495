//! `insn-counter`: a QEMU TCG plugin that counts guest instructions per vCPU, and the instructions each vCPU
//! executes between a start marker (`hint #0x60`) and an end marker (`hint #0x61`).
//!
//! Counting is an inline per-instruction add into a per-vCPU scoreboard entry, so it is exact for every
//! instruction that executes (a block left early by an exception counts only what ran) and costs no call into
//! the plugin. Only the marker instructions get a callback: it reads the vCPU's count and, for an end marker,
//! records a region. A region is everything the vCPU executed between its two markers, whatever task ran:
//! a region may span context switches, interrupts and exceptions on that vCPU.
//!
//! Multi-threaded TCG runs each vCPU in its own host thread. Each scoreboard entry is written only by the
//! inline ops of its own vCPU, and the marker callbacks run on that vCPU's thread, so the counts need no
//! atomics and are exact per vCPU. What multi-threaded TCG makes non-deterministic is the guest's behaviour,
//! not the counting: a loop spinning on another core's store runs as many times as host scheduling makes it,
//! so the totals (and regions that wait on other cores) vary from run to run, while a region that runs
//! straight-line code on one vCPU counts the same every time.
//!
//! Regions are numbered in the order they end (a global sequence over all vCPUs): the guest runs its
//! measured regions one after another and prints a line per region, so the n-th region here is the n-th line
//! there. The report goes to `outfile=PATH` (or QEMU's log with `-d plugin`) from an atexit callback: a
//! semihosting exit skips the per-vCPU exit callbacks, the atexit callback still runs.
//!
//! Arguments: `outfile=PATH` (where to write the report), `audit=on` (the post-switch barrier audit below),
//! `profile=PATH` (the per-PC profile below).
//!
//! The profile (`cargo xtask profile`) counts, per region, how often each guest PC executed strictly between
//! the region's markers: every instruction but the markers gets a conditional callback that runs only while
//! its vCPU's "in a region" scoreboard flag is set (the marker callbacks set and clear it), so the PCs' counts
//! of a region add up to exactly its instruction count. The file has one line per region and PC,
//! `region=<k> pc=0x<address> count=<n>`; xtask maps the PCs to functions.
//!
//! The barrier audit checks, on the real switch path, what the post-switch-mm barrier must provide: after the
//! scheduler publishes a user mm as a CPU's current one (the kernel executes `hint #0x62` right after that store),
//! a full barrier (`dmb`/`dsb` with ISH, OSH or SY) must execute on that vCPU before its first EL0 instruction.
//! Without it, a membarrier caller that read the old value and skipped this CPU is not ordered with the user
//! task's first accesses (the litmus in docs/membarrier.md; core-sched's model checker shows the outcome
//! becomes reachable). Each such window is one check; a window with no barrier is a violation. EL0 code is
//! recognised by its address (below 2^39, TTBR0's range), checked at the first instruction of each block.
//!
//! With `audit=on` it also checks the two points where a running CPU stops publishing a user mm: task exit
//! (`exit_mm_current`, marker `hint #0x63` right after the clearing store) and `kthread_unuse_mm` (`hint
//! #0x64`). A full barrier must have executed on that vCPU between the last user access and the marker, or a
//! membarrier caller that reads "no user mm" and skips the CPU is not ordered after those accesses (the `exit`
//! and `kthread_use_and_unuse_mm` scenarios of core-sched's model checker). The last user access is the last
//! EL0 instruction, or for a kernel thread the `hint #0x65` that `kthread_use_mm` executes when it is done
//! (the thread's accesses to the mm come after it). Each marker is one check; reported per point.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Instant;

use qemu_plugin::install::{Args, Info};
use qemu_plugin::sys::{qemu_plugin_cb_flags, qemu_plugin_op, qemu_plugin_scoreboard, qemu_plugin_u64};
use qemu_plugin::{HasCallbacks, PluginId, Register, TranslationBlock};

/// `hint #0x60` (HINT with CRm:op2 = 0x60): the start marker. Executes as a NOP on hardware.
const START_MARKER: u32 = 0xd503_201f | (0x60 << 5);
/// `hint #0x61`: the end marker.
const END_MARKER: u32 = 0xd503_201f | (0x61 << 5);

/// `hint #0x62`: the kernel published a user mm as this CPU's current one (start of an audit window).
const AUDIT_MARKER: u32 = 0xd503_201f | (0x62 << 5);
/// `hint #0x63`: task exit has just cleared the published mm (end of an exit window).
const EXIT_MM_CLEARED_MARKER: u32 = 0xd503_201f | (0x63 << 5);
/// `hint #0x64`: `kthread_unuse_mm` has just cleared the published mm (end of an unuse window).
const KTHREAD_UNUSE_MM_CLEARED_MARKER: u32 = 0xd503_201f | (0x64 << 5);
/// `hint #0x65`: a kernel thread finished `kthread_use_mm`; its accesses to the user mm follow.
const KTHREAD_USER_ACCESSES_MARKER: u32 = 0xd503_201f | (0x65 << 5);
/// User (EL0) code lives below this address (TTBR0, T0SZ = 25).
const USER_ADDRESS_LIMIT: u64 = 1 << 39;

/// Whether `word` is a full barrier between the cores: DMB or DSB with the ISH, OSH or SY option.
fn is_full_barrier(word: u32) -> bool {
    let is_dmb = word & !0xf00 == 0xd503_30bf;
    let is_dsb = word & !0xf00 == 0xd503_309f;
    let option = (word >> 8) & 0xf;
    (is_dmb || is_dsb) && matches!(option, 0b1011 | 0b0011 | 0b1111)
}

/// Audit window state per vCPU: 0 closed, 1 open, 2 open and a full barrier seen.
static AUDIT_STATE: [std::sync::atomic::AtomicU8; MAX_VCPUS] =
    [const { std::sync::atomic::AtomicU8::new(0) }; MAX_VCPUS];
static AUDIT_CHECKED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static AUDIT_VIOLATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn audit_state(vcpu: u32) -> &'static std::sync::atomic::AtomicU8 {
    &AUDIT_STATE[(vcpu as usize).min(MAX_VCPUS - 1)]
}

/// Per vCPU: a user access (an EL0 block, or a kernel thread's `hint #0x65`) executed since its last full
/// barrier. A clearing marker that finds it set is a violation.
static USER_ACCESS_SINCE_BARRIER: [std::sync::atomic::AtomicBool; MAX_VCPUS] =
    [const { std::sync::atomic::AtomicBool::new(false) }; MAX_VCPUS];

fn user_access_since_barrier(vcpu: u32) -> &'static std::sync::atomic::AtomicBool {
    &USER_ACCESS_SINCE_BARRIER[(vcpu as usize).min(MAX_VCPUS - 1)]
}

/// Checks and violations of one clearing point.
struct ClearingAudit {
    /// Its name in the report line: `barrier-audit-<name>: checked=N violations=N`.
    name: &'static str,
    checked: std::sync::atomic::AtomicU64,
    violations: std::sync::atomic::AtomicU64,
}

impl ClearingAudit {
    const fn new(name: &'static str) -> Self {
        Self { name, checked: std::sync::atomic::AtomicU64::new(0), violations: std::sync::atomic::AtomicU64::new(0) }
    }

    /// The clearing marker executed on `vcpu`: one check, a violation if no full barrier ran since the last
    /// user access.
    fn check(&self, vcpu: u32) {
        use std::sync::atomic::Ordering::Relaxed;
        self.checked.fetch_add(1, Relaxed);
        if user_access_since_barrier(vcpu).load(Relaxed) {
            self.violations.fetch_add(1, Relaxed);
        }
    }
}

static EXIT_MM_AUDIT: ClearingAudit = ClearingAudit::new("exit-mm");
static KTHREAD_UNUSE_MM_AUDIT: ClearingAudit = ClearingAudit::new("kthread-unuse-mm");

/// vCPUs the report covers (QEMU virt has at most a few hundred; the kernel uses four).
const MAX_VCPUS: usize = 64;

/// The per-vCPU instruction counter: one u64 at offset 0 of each scoreboard entry; at offset 8 the profile's
/// "inside a region" flag.
#[derive(Clone, Copy)]
struct Counter(qemu_plugin_u64);

// SAFETY: the scoreboard is allocated once and never freed while QEMU runs (it lives as long as the
// plugin); QEMU's accessors take a vCPU index and are safe to call from any vCPU thread.
unsafe impl Send for Counter {}
// SAFETY: as above: the handle is immutable and the entries are accessed through QEMU's API.
unsafe impl Sync for Counter {}

impl Counter {
    fn new() -> Self {
        // SAFETY: a scoreboard of u64 entries; QEMU grows it as vCPUs appear.
        let score: *mut qemu_plugin_scoreboard =
            unsafe { qemu_plugin::sys::qemu_plugin_scoreboard_new(2 * std::mem::size_of::<u64>()) };
        Counter(qemu_plugin_u64 { score, offset: 0 })
    }

    /// The entry's second u64: 1 while the vCPU is between a start and an end marker (the profile's condition).
    fn in_region(self) -> qemu_plugin_u64 {
        qemu_plugin_u64 { score: self.0.score, offset: std::mem::size_of::<u64>() }
    }

    fn get(self, vcpu: u32) -> u64 {
        qemu_plugin::qemu_plugin_u64_get(self.0, vcpu)
    }
}

/// One measured region.
struct Region {
    vcpu: u32,
    instructions: u64,
    host_nanoseconds: u128,
    /// Executions per PC (with `profile=`), sorted by PC.
    profile: Vec<(u64, u64)>,
}

/// Per vCPU, executions per PC in its open region (with `profile=`). A vCPU's callbacks run on its own thread,
/// but the end marker moves the map into its region, so the maps share one mutex (the profile is a slow mode).
static OPEN_PROFILES: Mutex<Vec<HashMap<u64, u64>>> = Mutex::new(Vec::new());

/// A profiled instruction at `pc` executed on `vcpu` inside a region.
fn profiled_instruction_executed(vcpu: u32, pc: u64) {
    let mut profiles = OPEN_PROFILES.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let index = vcpu as usize;
    if profiles.len() <= index {
        profiles.resize_with(index + 1, HashMap::new);
    }
    *profiles[index].entry(pc).or_insert(0) += 1;
}

/// Takes the profile of `vcpu`'s region that just ended (empty without `profile=`), sorted by PC.
fn take_open_profile(vcpu: u32) -> Vec<(u64, u64)> {
    let mut profiles = OPEN_PROFILES.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let Some(map) = profiles.get_mut(vcpu as usize) else { return Vec::new() };
    let mut profile: Vec<(u64, u64)> = map.drain().collect();
    profile.sort_unstable();
    profile
}

/// What the marker callbacks share (touched only twice per region, so a mutex is cheap enough).
struct Markers {
    /// Per vCPU: the count and host time at its open start marker.
    open: Vec<Option<(u64, Instant)>>,
    regions: Vec<Region>,
    /// End markers without a start marker on the same vCPU, and start markers that replaced an open one.
    unmatched: u64,
}

static MARKERS: Mutex<Markers> = Mutex::new(Markers { open: Vec::new(), regions: Vec::new(), unmatched: 0 });

struct InsnCounter {
    counter: Option<Counter>,
    audit: bool,
    profile: bool,
}

impl Register for InsnCounter {
    fn register(&mut self, id: PluginId, args: &Args, _info: &Info) -> qemu_plugin::Result<()> {
        let counter = Counter::new();
        self.counter = Some(counter);
        let outfile = args.raw.iter().find_map(|argument| argument.strip_prefix("outfile=").map(String::from));
        self.audit = args.raw.iter().any(|argument| argument == "audit=on");
        let profile_file = args.raw.iter().find_map(|argument| argument.strip_prefix("profile=").map(String::from));
        self.profile = profile_file.is_some();
        qemu_plugin::qemu_plugin_register_atexit_cb(id, move |_| {
            report(counter, outfile.as_deref());
            if let Some(path) = profile_file.as_deref() {
                write_profile(path);
            }
        })?;
        Ok(())
    }
}

impl HasCallbacks for InsnCounter {
    fn on_translation_block_translate(&mut self, _id: PluginId, tb: TranslationBlock) -> qemu_plugin::Result<()> {
        let Some(counter) = self.counter else { return Ok(()) };
        for (index, instruction) in tb.instructions().enumerate() {
            let mut bytes = [0u8; 4];
            let word = if instruction.size() == 4 && instruction.read_data(&mut bytes) == 4 {
                u32::from_le_bytes(bytes)
            } else {
                0
            };
            if word == START_MARKER || word == END_MARKER {
                let is_start = word == START_MARKER;
                instruction.register_execute_callback_flags(
                    move |vcpu| marker_executed(counter, vcpu, is_start),
                    qemu_plugin_cb_flags::QEMU_PLUGIN_CB_NO_REGS,
                );
            } else if self.profile {
                // Not on the markers: a region's profile holds exactly the instructions strictly between them.
                let pc = instruction.vaddr();
                instruction.register_conditional_execute_callback(
                    move |vcpu| profiled_instruction_executed(vcpu, pc),
                    qemu_plugin::sys::qemu_plugin_cond::QEMU_PLUGIN_COND_NE,
                    counter.in_region(),
                    0,
                );
            }
            if self.audit {
                use std::sync::atomic::Ordering::Relaxed;
                let flags = qemu_plugin_cb_flags::QEMU_PLUGIN_CB_NO_REGS;
                if word == AUDIT_MARKER {
                    instruction.register_execute_callback_flags(move |vcpu| audit_state(vcpu).store(1, Relaxed), flags);
                } else if word == EXIT_MM_CLEARED_MARKER {
                    instruction.register_execute_callback_flags(move |vcpu| EXIT_MM_AUDIT.check(vcpu), flags);
                } else if word == KTHREAD_UNUSE_MM_CLEARED_MARKER {
                    instruction.register_execute_callback_flags(move |vcpu| KTHREAD_UNUSE_MM_AUDIT.check(vcpu), flags);
                } else if word == KTHREAD_USER_ACCESSES_MARKER {
                    instruction.register_execute_callback_flags(
                        move |vcpu| user_access_since_barrier(vcpu).store(true, Relaxed),
                        flags,
                    );
                } else if is_full_barrier(word) {
                    // Only the kernel's barriers close a clearing window: a user program's own barrier may come
                    // before its last accesses of the same block.
                    let in_kernel = instruction.vaddr() >= USER_ADDRESS_LIMIT;
                    instruction.register_execute_callback_flags(
                        move |vcpu| {
                            let _ = audit_state(vcpu).compare_exchange(1, 2, Relaxed, Relaxed);
                            if in_kernel {
                                user_access_since_barrier(vcpu).store(false, Relaxed);
                            }
                        },
                        flags,
                    );
                }
                if index == 0 && instruction.vaddr() < USER_ADDRESS_LIMIT {
                    instruction.register_execute_callback_flags(
                        move |vcpu| {
                            user_access_since_barrier(vcpu).store(true, Relaxed);
                            match audit_state(vcpu).swap(0, Relaxed) {
                                1 => {
                                    AUDIT_CHECKED.fetch_add(1, Relaxed);
                                    AUDIT_VIOLATIONS.fetch_add(1, Relaxed);
                                }
                                2 => {
                                    AUDIT_CHECKED.fetch_add(1, Relaxed);
                                }
                                _ => {}
                            }
                        },
                        flags,
                    );
                }
            }
            qemu_plugin::qemu_plugin_register_vcpu_insn_exec_inline_per_vcpu(
                instruction,
                qemu_plugin_op::QEMU_PLUGIN_INLINE_ADD_U64,
                counter.0,
                1,
            );
        }
        Ok(())
    }
}

/// A marker ran on `vcpu`. Its own inline add and this callback are ordered the same way for both markers,
/// so `end - start - 1` counts exactly the instructions strictly between them.
fn marker_executed(counter: Counter, vcpu: u32, is_start: bool) {
    let count = counter.get(vcpu);
    let now = Instant::now();
    let mut markers = MARKERS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let index = vcpu as usize;
    if markers.open.len() <= index {
        markers.open.resize(index + 1, None);
    }
    if is_start {
        if markers.open[index].replace((count, now)).is_some() {
            markers.unmatched += 1;
        }
        take_open_profile(vcpu);
        qemu_plugin::qemu_plugin_u64_set(counter.in_region(), vcpu, 1);
    } else if let Some((start, started)) = markers.open[index].take() {
        qemu_plugin::qemu_plugin_u64_set(counter.in_region(), vcpu, 0);
        let instructions = count.saturating_sub(start).saturating_sub(1);
        let profile = take_open_profile(vcpu);
        markers.regions.push(Region { vcpu, instructions, host_nanoseconds: (now - started).as_nanos(), profile });
    } else {
        markers.unmatched += 1;
    }
}

/// Writes every region's per-PC counts to `path` (the `profile=` file).
fn write_profile(path: &str) {
    let markers = MARKERS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut text = String::new();
    for (sequence, region) in markers.regions.iter().enumerate() {
        for (pc, count) in &region.profile {
            let _ = writeln!(text, "region={sequence} pc={pc:#x} count={count}");
        }
    }
    if let Err(error) = std::fs::write(path, &text) {
        let _ = qemu_plugin::qemu_plugin_outs(format!("insn-counter: cannot write {path}: {error}\n"));
    }
}

/// Writes the report: one line per vCPU, one per region (in the order they ended), and a summary.
fn report(counter: Counter, outfile: Option<&str>) {
    let markers = MARKERS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let vcpus = qemu_plugin::qemu_plugin_num_vcpus().unwrap_or(1).clamp(1, MAX_VCPUS as i32) as u32;
    let mut text = String::new();
    let mut total = 0u64;
    for vcpu in 0..vcpus {
        let count = counter.get(vcpu);
        total += count;
        let _ = writeln!(text, "insn-counter: vcpu={vcpu} instructions={count}");
    }
    let _ = writeln!(text, "insn-counter: total instructions={total}");
    for (sequence, region) in markers.regions.iter().enumerate() {
        let _ = writeln!(
            text,
            "insn-counter: region={sequence} vcpu={} instructions={} host_ns={}",
            region.vcpu, region.instructions, region.host_nanoseconds
        );
    }
    let open = markers.open.iter().filter(|entry| entry.is_some()).count();
    let _ = writeln!(
        text,
        "insn-counter: regions={} unmatched_markers={} open_at_exit={open}",
        markers.regions.len(),
        markers.unmatched
    );
    let _ = writeln!(
        text,
        "barrier-audit: checked={} violations={}",
        AUDIT_CHECKED.load(std::sync::atomic::Ordering::Relaxed),
        AUDIT_VIOLATIONS.load(std::sync::atomic::Ordering::Relaxed)
    );
    for audit in [&EXIT_MM_AUDIT, &KTHREAD_UNUSE_MM_AUDIT] {
        let _ = writeln!(
            text,
            "barrier-audit-{}: checked={} violations={}",
            audit.name,
            audit.checked.load(std::sync::atomic::Ordering::Relaxed),
            audit.violations.load(std::sync::atomic::Ordering::Relaxed)
        );
    }
    match outfile {
        Some(path) => {
            if let Err(error) = std::fs::write(path, &text) {
                let _ = qemu_plugin::qemu_plugin_outs(format!("insn-counter: cannot write {path}: {error}\n"));
            }
        }
        None => {
            let _ = qemu_plugin::qemu_plugin_outs(text);
        }
    }
}

qemu_plugin::register!(InsnCounter { counter: None, audit: false, profile: false });
