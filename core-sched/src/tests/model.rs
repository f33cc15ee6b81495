//! Exhaustive model check of the store-buffering guarantee across a user -> kernel thread -> user switch.
//!
//! Two CPUs with store buffers (a store enters the buffer; a load reads the newest buffered store to its
//! variable, else memory; a full barrier drains the buffer; at any step a buffer may drain any store that
//! has no older store to the same variable before it). That is PSO: stores become visible out of order
//! (store -> store reordering, as on arm64) and loads pass buffered stores (store -> load reordering, the
//! store-buffering relaxation at the heart of membarrier's litmus test). Loads are performed in program
//! order; arm64's remaining relaxations (load -> load, load -> store) only make loads read *newer* values in
//! these programs, which cannot create the forbidden `r1 == 0 && r2 == 0`.
//!
//! CPU0's program is *derived from the real scheduler*: the mock records the arch calls of the switch
//! K -> T2 (same mm M, so no `switch_mm`) together with the published mm id at each call; every change of
//! that id becomes a store to `PUB`, every `smp_mb` (including the one inside the generic hook) a barrier.
//! T2's user code `x = 1; r1 = y` follows. CPU1's program is derived from a real `membarrier(PRIVATE_EXPEDITED)`
//! trace: `y = 1`, then its barriers, and at its IPI "read PUB; if it is M, IPI CPU0 and wait for the ack",
//! then `r2 = x`. The IPI handler may run on CPU0 between any two of its steps once sent: a barrier, then the
//! ack store. The checker enumerates every interleaving and collects the reachable `(r1, r2)`.

use std::collections::HashSet;
use std::vec;
use std::vec::Vec;

use alloc::sync::Arc;

use super::mock::*;
use crate::membarrier::*;
use crate::CpuSet;

const X: usize = 0;
const Y: usize = 1;
const PUB: usize = 2;
const ACK: usize = 3;
const VARS: usize = 4;
const M: u8 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Op {
    Store(usize, u8),
    /// Load into register `.1` (0 = r1, 1 = r2).
    Load(usize, usize),
    Fence,
    /// membarrier's scan: read PUB; when it equals M, send the IPI.
    ReadPubAndIpi,
    /// membarrier's wait: blocked until ACK is visible (only when an IPI was sent).
    WaitAck,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct State {
    pc: [usize; 2],
    buffers: [Vec<(usize, u8)>; 2],
    memory: [u8; VARS],
    regs: [u8; 2],
    ipi_sent: bool,
    ipi_handled: bool,
}

fn load(state: &State, cpu: usize, var: usize) -> u8 {
    state.buffers[cpu].iter().rev().find(|(v, _)| *v == var).map_or(state.memory[var], |(_, value)| *value)
}

fn drain_all(state: &mut State, cpu: usize) {
    for (var, value) in core::mem::take(&mut state.buffers[cpu]) {
        state.memory[var] = value;
    }
}

/// Every `(r1, r2)` reachable when both programs finished and the buffers drained.
fn explore(programs: [&[Op]; 2], initial_pub: u8) -> HashSet<(u8, u8)> {
    let mut memory = [0u8; VARS];
    memory[PUB] = initial_pub;
    let start =
        State { pc: [0, 0], buffers: [vec![], vec![]], memory, regs: [0, 0], ipi_sent: false, ipi_handled: false };
    let mut seen = HashSet::new();
    let mut stack = vec![start];
    let mut outcomes = HashSet::new();
    while let Some(state) = stack.pop() {
        if !seen.insert(state.clone()) {
            continue;
        }
        let finished = (0..2).all(|cpu| state.pc[cpu] == programs[cpu].len());
        if finished && state.buffers.iter().all(Vec::is_empty) && (!state.ipi_sent || state.ipi_handled) {
            outcomes.insert((state.regs[0], state.regs[1]));
            continue;
        }
        for cpu in 0..2 {
            for index in 0..state.buffers[cpu].len() {
                let var = state.buffers[cpu][index].0;
                if state.buffers[cpu][..index].iter().any(|(older, _)| *older == var) {
                    continue;
                }
                let mut next = state.clone();
                let (var, value) = next.buffers[cpu].remove(index);
                next.memory[var] = value;
                stack.push(next);
            }
        }
        if state.ipi_sent && !state.ipi_handled {
            // CPU0's handler: smp_mb, then the ack.
            let mut next = state.clone();
            drain_all(&mut next, 0);
            next.buffers[0].push((ACK, 1));
            next.ipi_handled = true;
            stack.push(next);
        }
        for (cpu, program) in programs.iter().enumerate() {
            let Some(&op) = program.get(state.pc[cpu]) else { continue };
            let mut next = state.clone();
            next.pc[cpu] += 1;
            match op {
                Op::Store(var, value) => next.buffers[cpu].push((var, value)),
                Op::Load(var, reg) => next.regs[reg] = load(&state, cpu, var),
                Op::Fence => drain_all(&mut next, cpu),
                Op::ReadPubAndIpi => next.ipi_sent = load(&state, cpu, PUB) == M,
                Op::WaitAck => {
                    if state.ipi_sent && load(&state, cpu, ACK) == 0 {
                        continue;
                    }
                }
            }
            stack.push(next);
        }
    }
    outcomes
}

/// Converts a recorded trace of CPU `cpu` into model operations (see the module documentation).
fn ops_from_trace(log: &[Record], cpu: usize, mut published: u32, final_published: u32) -> Vec<Op> {
    let mut ops = Vec::new();
    for record in log.iter().filter(|r| r.cpu == cpu) {
        if record.published_mm != published {
            published = record.published_mm;
            ops.push(Op::Store(PUB, published as u8));
        }
        match record.event {
            Event::SmpMb => ops.push(Op::Fence),
            Event::SendIpi { .. } => ops.extend([Op::ReadPubAndIpi, Op::WaitAck]),
            _ => {}
        }
    }
    if final_published != published {
        ops.push(Op::Store(PUB, final_published as u8));
    }
    ops
}

struct Traces {
    /// CPU0: user T1 -> K, then K -> T2.
    t1_to_k: Vec<Op>,
    k_to_t2: Vec<Op>,
    /// CPU1: membarrier(PRIVATE_EXPEDITED) while CPU0 runs T2.
    membarrier: Vec<Op>,
}

/// Runs the scenario on the real scheduler with the mock arch and returns the derived programs.
fn record_traces(hook_is_noop: bool) -> Traces {
    let sched = setup(2);
    let mm = new_mm(M as u32);
    let t1 = user(1, mm.clone(), CpuSet::single(0));
    let t2 = user(2, mm.mmget(), CpuSet::single(0));
    let caller = user(3, mm.mmget(), CpuSet::single(1));
    let k = kthread(4, CpuSet::single(0));
    sched.spawn(t1.clone(), None).unwrap();
    sched.spawn(caller.clone(), None).unwrap();
    run_on(sched, 0, &t1);
    run_on(sched, 1, &caller);
    set_cpu(1);
    assert_eq!(sched.membarrier(&caller, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0), Ok(0));
    set_hook_noop(hook_is_noop);

    set_cpu(0);
    sched.spawn(k.clone(), None).unwrap();
    clear_log();
    sched.block_current();
    assert!(Arc::ptr_eq(&sched.current(), &k));
    let t1_to_k = ops_from_trace(&take_log(), 0, M as u32, sched.run_queue(0).current_mm_id().0);

    sched.spawn(t2.clone(), None).unwrap();
    clear_log();
    sched.block_current();
    assert!(Arc::ptr_eq(&sched.current(), &t2));
    let k_to_t2 = ops_from_trace(&take_log(), 0, 0, sched.run_queue(0).current_mm_id().0);

    set_cpu(1);
    clear_log();
    assert_eq!(sched.membarrier(&caller, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0), Ok(0));
    let membarrier = ops_from_trace(&take_log(), 1, M as u32, M as u32);
    set_hook_noop(false);
    Traces { t1_to_k, k_to_t2, membarrier }
}

fn caller_program(traces: &Traces) -> Vec<Op> {
    let mut program = vec![Op::Store(Y, 1)];
    program.extend(traces.membarrier.iter().copied());
    program.push(Op::Load(X, 1));
    program
}

const FORBIDDEN: (u8, u8) = (0, 0);

#[test]
fn traces_have_the_expected_shape() {
    let traces = record_traces(false);
    assert_eq!(traces.k_to_t2, [Op::Fence, Op::Store(PUB, M), Op::Fence], "rule 1, publish, hook barrier");
    assert_eq!(traces.t1_to_k, [Op::Fence, Op::Store(PUB, 0)], "rule 1 barrier, then publish 'no user mm'");
    assert_eq!(traces.membarrier, [Op::Fence, Op::ReadPubAndIpi, Op::WaitAck, Op::Fence]);
    let noop = record_traces(true);
    assert_eq!(noop.k_to_t2, [Op::Fence, Op::Store(PUB, M)], "a no-op hook leaves only rule 1");
}

#[test]
fn kthread_to_user_with_hook_forbids_the_outcome() {
    let traces = record_traces(false);
    let mut cpu0 = traces.k_to_t2.clone();
    cpu0.extend([Op::Store(X, 1), Op::Load(Y, 0)]);
    let outcomes = explore([&cpu0, &caller_program(&traces)], 0);
    assert!(!outcomes.contains(&FORBIDDEN), "{outcomes:?}");
    // The model is not vacuous: the other three outcomes are all reachable.
    assert_eq!(outcomes.len(), 3, "{outcomes:?}");
}

#[test]
fn kthread_to_user_with_noop_hook_finds_the_bug() {
    let traces = record_traces(true);
    let mut cpu0 = traces.k_to_t2.clone();
    cpu0.extend([Op::Store(X, 1), Op::Load(Y, 0)]);
    let outcomes = explore([&cpu0, &caller_program(&traces)], 0);
    assert!(outcomes.contains(&FORBIDDEN), "the missing post-switch barrier must be caught: {outcomes:?}");
}

#[test]
fn user_to_kthread_rule_one_barrier_forbids_the_outcome() {
    let traces = record_traces(false);
    // T1's user code, then the switch to K: rule 1's barrier before "no user mm" is published.
    let mut cpu0 = vec![Op::Store(X, 1), Op::Load(Y, 0)];
    cpu0.extend(traces.t1_to_k.iter().copied());
    let caller = caller_program(&traces);
    let outcomes = explore([&cpu0, &caller], M);
    assert!(!outcomes.contains(&FORBIDDEN), "{outcomes:?}");
    // Without rule 1 the same check fails: the barrier is what the argument rests on.
    let without: Vec<Op> = cpu0.iter().copied().filter(|op| *op != Op::Fence).collect();
    assert!(explore([&without, &caller], M).contains(&FORBIDDEN));
}
