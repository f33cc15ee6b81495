//! One exhaustive litmus scenario per barrier rule, after Linux's list in kernel/sched/membarrier.c (user -> user,
//! user -> kernel thread -> user, exit, `kthread_use_mm`/`kthread_unuse_mm`, a CPU coming online or going
//! offline), for PRIVATE_EXPEDITED, GLOBAL_EXPEDITED and GLOBAL. Each scenario shows that with every barrier in
//! place the store-buffering outcome `r1 == 0 && r2 == 0` is unreachable, and that removing each barrier it
//! rests on (one at a time, [`with_removed`]) makes it reachable; `cargo xtask mutants --barriers` removes the
//! barriers of the real code the same way, and the "every barrier in place" half of a scenario then fails.
//!
//! # The machine
//! Two CPUs. CPU0 runs the scheduler path of the scenario and a task's user code `x = 1; r1 = y`; CPU1 runs the
//! caller `y = 1; membarrier(...); r2 = x`. Both programs are *derived from the real code*: the mock records the
//! arch calls of the scenario on the real scheduler with the published mm id and online flag at each call; each
//! change of those becomes a store, each `smp_mb` a fence, each `irq_save`/`irq_restore` an interrupt mask on
//! CPU0, and the caller's `send_ipi` its scan of CPU0's published state. The IPI handler's fence comes from the
//! handler's recorded calls too.
//!
//! The memory model is the one of `model.rs` (store buffers that drain in any order per variable: store ->
//! store and store -> load reordering) plus what arm64 adds that matters for the barriers *after* a
//! membarrier's scan: a load may be performed before earlier loads of other variables (load -> load
//! reordering), unless a fence or an acquire load (the wait for the ack, when an IPI was sent) lies between;
//! a load performed past the wait for an ack that the scan then needs is a mis-speculation and is discarded.
//! The handler acknowledges with a release store (it cannot become visible before the handler's earlier
//! stores) and its caller waits with an acquire load, as the code does; `send_ipi` makes the caller's earlier
//! stores visible to the target first (its contract; arm64: `dsb ish`). An interrupt is taken between two
//! steps of CPU0 with interrupts enabled, all earlier steps complete.

use std::collections::HashSet;
use std::vec;
use std::vec::Vec;

use alloc::sync::Arc;

use super::barrier_mutant::with_removed;
use super::mock::*;
use crate::barrier::BarrierSite;
use crate::membarrier::*;
use crate::task::Task;
use crate::CpuSet;

const X: usize = 0;
const Y: usize = 1;
/// CPU0's published mm id.
const PUB: usize = 2;
/// CPU0's online flag.
const ONLINE: usize = 3;
const ACK: usize = 4;
const VARS: usize = 5;
/// The caller's mm.
const M: u32 = 1;
/// Another process's mm.
const OTHER: u32 = 2;

/// Which CPUs the caller's scan targets (the selection of each command, for CPU0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Command {
    /// PRIVATE_EXPEDITED: online CPUs publishing the caller's mm.
    Private,
    /// GLOBAL_EXPEDITED: online CPUs publishing a registered mm (in these scenarios only M is registered).
    GlobalExpedited,
    /// GLOBAL: every other online CPU.
    Global,
}

impl Command {
    fn targets(self, published: u8, online: u8) -> bool {
        online != 0
            && match self {
                Command::Private | Command::GlobalExpedited => u32::from(published) == M,
                Command::Global => true,
            }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Op {
    Store(usize, u8),
    /// Load into register `.1` (0 = r1 on CPU0, 1 = r2 on CPU1).
    Load(usize, usize),
    Fence,
    /// The caller's selection: reads CPU0's online flag and published id; an IPI makes the caller's stores
    /// visible first, then CPU0 will take the handler.
    Scan(Command),
    /// The caller's wait for the ack: an acquire load, blocking until the ack is visible; nothing when no IPI
    /// was sent.
    WaitAck,
    /// CPU0 masks interrupts (the scheduler's critical sections); `IrqOn` unmasks.
    IrqOff,
    IrqOn,
    /// The handler's ack: a release store of ACK.
    AckRelease,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Ipi {
    NotSent,
    Pending,
    Handled,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct State {
    programs: [Vec<Op>; 2],
    /// Bit `i`: op `i` of the CPU's program is performed.
    done: [u64; 2],
    /// (variable, value, release)
    buffers: [Vec<(usize, u8, bool)>; 2],
    memory: [u8; VARS],
    regs: [u8; 2],
    ipi: Ipi,
    scanned: bool,
    /// The caller performed a load past its (not yet reached) wait for the ack.
    speculated_past_wait: bool,
    irq_masked: u8,
}

fn load(state: &State, cpu: usize, var: usize) -> u8 {
    state.buffers[cpu].iter().rev().find(|(v, ..)| *v == var).map_or(state.memory[var], |&(_, value, _)| value)
}

fn drain_all(state: &mut State, cpu: usize) {
    for (var, value, _) in core::mem::take(&mut state.buffers[cpu]) {
        state.memory[var] = value;
    }
}

/// Whether `later` may be performed while `earlier` (before it in program order) is not.
fn may_pass(earlier: Op, later: Op) -> bool {
    match (earlier, later) {
        (Op::Load(first, _), Op::Load(second, _)) => first != second,
        (Op::Scan(_), Op::Load(var, _)) => var != PUB && var != ONLINE,
        // Only while no IPI was sent (checked by the caller of this function): then there is no acquire load.
        (Op::WaitAck, Op::Load(..)) => true,
        _ => false,
    }
}

/// Every `(r1, r2)` reachable when both programs finished, the IPI (if any) was handled and the buffers drained.
fn explore(programs: [Vec<Op>; 2], handler: &[Op], memory: [u8; VARS]) -> HashSet<(u8, u8)> {
    assert!(programs.iter().all(|program| program.len() + handler.len() < 64));
    let start = State {
        programs,
        done: [0, 0],
        buffers: [vec![], vec![]],
        memory,
        regs: [0, 0],
        ipi: Ipi::NotSent,
        scanned: false,
        speculated_past_wait: false,
        irq_masked: 0,
    };
    let mut seen = HashSet::new();
    let mut stack = vec![start];
    let mut outcomes = HashSet::new();
    while let Some(state) = stack.pop() {
        if !seen.insert(state.clone()) {
            continue;
        }
        let all_done = |cpu: usize| state.done[cpu] == (1u64 << state.programs[cpu].len()) - 1;
        if all_done(0) && all_done(1) && state.buffers.iter().all(Vec::is_empty) && state.ipi != Ipi::Pending {
            outcomes.insert((state.regs[0], state.regs[1]));
            continue;
        }
        for cpu in 0..2 {
            for index in 0..state.buffers[cpu].len() {
                let (var, _, release) = state.buffers[cpu][index];
                let older = &state.buffers[cpu][..index];
                if older.iter().any(|(other, ..)| *other == var) || (release && !older.is_empty()) {
                    continue;
                }
                let mut next = state.clone();
                let (var, value, _) = next.buffers[cpu].remove(index);
                next.memory[var] = value;
                stack.push(next);
            }
        }
        // CPU0 takes the interrupt at a point where all its earlier steps are complete and interrupts are on.
        let prefix = state.done[0].trailing_ones() as usize;
        if state.ipi == Ipi::Pending && state.irq_masked == 0 && state.done[0] == (1u64 << prefix) - 1 {
            let mut next = state.clone();
            next.programs[0].splice(prefix..prefix, handler.iter().copied());
            next.ipi = Ipi::Handled;
            stack.push(next);
        }
        for cpu in 0..2 {
            let program = &state.programs[cpu];
            for (index, &op) in program.iter().enumerate() {
                if state.done[cpu] & (1 << index) != 0 {
                    continue;
                }
                let pending_before: Vec<Op> =
                    (0..index).filter(|&j| state.done[cpu] & (1 << j) == 0).map(|j| program[j]).collect();
                if !pending_before.iter().all(|&earlier| may_pass(earlier, op)) {
                    continue;
                }
                // The wait is an acquire load once the scan sent an IPI: nothing passes it any more.
                if state.ipi != Ipi::NotSent && pending_before.contains(&Op::WaitAck) {
                    continue;
                }
                let mut next = state.clone();
                next.done[cpu] |= 1 << index;
                if pending_before.contains(&Op::WaitAck) {
                    next.speculated_past_wait = true;
                }
                match op {
                    Op::Store(var, value) => next.buffers[cpu].push((var, value, false)),
                    Op::AckRelease => next.buffers[cpu].push((ACK, 1, true)),
                    Op::Load(var, reg) => next.regs[reg] = load(&state, cpu, var),
                    Op::Fence => drain_all(&mut next, cpu),
                    Op::Scan(command) => {
                        next.scanned = true;
                        if command.targets(load(&state, cpu, PUB), load(&state, cpu, ONLINE)) {
                            if state.speculated_past_wait {
                                continue;
                            }
                            drain_all(&mut next, cpu);
                            next.ipi = Ipi::Pending;
                        }
                    }
                    Op::WaitAck => {
                        if next.ipi != Ipi::NotSent && load(&state, cpu, ACK) == 0 {
                            continue;
                        }
                    }
                    Op::IrqOff => next.irq_masked += 1,
                    Op::IrqOn => next.irq_masked -= 1,
                }
                stack.push(next);
            }
        }
    }
    outcomes
}

/// The calls of CPU `cpu` as model operations; `published`/`online`: the state before the first call, `last`:
/// the state after the last (a change there becomes a final store).
fn ops_from_trace(log: &[Record], cpu: usize, command: Command, first: (u32, bool), last: (u32, bool)) -> Vec<Op> {
    let (mut published, mut online) = first;
    let mut ops = Vec::new();
    let mut publish = |ops: &mut Vec<Op>, now: (u32, bool)| {
        if now.0 != published {
            published = now.0;
            ops.push(Op::Store(PUB, published as u8));
        }
        if now.1 != online {
            online = now.1;
            ops.push(Op::Store(ONLINE, online as u8));
        }
    };
    for record in log.iter().filter(|r| r.cpu == cpu) {
        publish(&mut ops, (record.published_mm, record.online));
        match record.event {
            Event::SmpMb => ops.push(Op::Fence),
            Event::SendIpi { .. } => ops.extend([Op::Scan(command), Op::WaitAck]),
            Event::IrqSave if cpu == 0 => ops.push(Op::IrqOff),
            Event::IrqRestore if cpu == 0 => ops.push(Op::IrqOn),
            _ => {}
        }
    }
    publish(&mut ops, last);
    ops
}

/// A recorded membarrier call of the caller on CPU1: its program and CPU0's handler (the handler's recorded
/// barriers, then the ack).
fn record_call(sched: &crate::Scheduler<Mock>, caller: &Task<Mock>, cmd: i32, command: Command) -> (Vec<Op>, Vec<Op>) {
    set_cpu(1);
    clear_log();
    assert_eq!(sched.membarrier(caller, cmd, 0, 0), Ok(0));
    let log = take_log();
    let call = ops_from_trace(&log, 1, command, (M, true), (M, true));
    assert!(call.contains(&Op::Scan(command)), "the recorded call sent no IPI to CPU0: {call:?}");
    let mut handler: Vec<Op> =
        log.iter().filter(|r| r.cpu == 0 && r.event == Event::SmpMb).map(|_| Op::Fence).collect();
    handler.push(Op::AckRelease);
    let mut program = vec![Op::Store(Y, 1)];
    program.extend(call);
    program.push(Op::Load(X, 1));
    (program, handler)
}

/// CPU0's user code: `x = 1; r1 = y`.
const USER_CODE: [Op; 2] = [Op::Store(X, 1), Op::Load(Y, 0)];

const FORBIDDEN: (u8, u8) = (0, 0);

/// Where CPU0's user code runs relative to the recorded scheduler path.
#[derive(Clone, Copy, PartialEq, Eq)]
enum UserCode {
    /// Before: the path switches the task out (rule 1, exit, kthread_unuse_mm); membarrier's barrier after.
    Before,
    /// After: the path switches it in (rule 2, kthread_use_mm); membarrier's barrier before.
    After,
}

/// A recorded scenario: CPU0's scheduler path, the caller's call and CPU0's state before the path.
struct Scenario {
    path: Vec<Op>,
    user_code: UserCode,
    caller: Vec<Op>,
    handler: Vec<Op>,
    published_before: u32,
    online_before: bool,
}

impl Scenario {
    fn outcomes(&self) -> HashSet<(u8, u8)> {
        let mut cpu0 = Vec::new();
        if self.user_code == UserCode::Before {
            cpu0.extend(USER_CODE);
        }
        cpu0.extend(self.path.iter().copied());
        if self.user_code == UserCode::After {
            cpu0.extend(USER_CODE);
        }
        let mut memory = [0; VARS];
        memory[PUB] = self.published_before as u8;
        memory[ONLINE] = self.online_before as u8;
        explore([cpu0, self.caller.clone()], &self.handler, memory)
    }
}

/// Where CPU0 starts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cpu0 {
    Online,
    /// Not brought up yet: the path's `init_cpu` brings it online.
    Offline,
}

/// Runs `path` on CPU0 of a scheduler where CPU1 runs a thread of M registered with `register`, and records it;
/// `prepare` sets CPU0 up (unrecorded) and returns what `path` needs. Then records `cmd` from that thread on a
/// fresh scheduler where CPU0 runs a thread of M, so that the call reaches CPU0 and its handler is recorded.
#[allow(clippy::too_many_arguments)]
fn record<T>(
    cmd: i32,
    command: Command,
    register: i32,
    cpu0: Cpu0,
    user_code: UserCode,
    prepare: impl FnOnce(&'static crate::Scheduler<Mock>, &Arc<crate::Mm<Mock>>) -> T,
    path: impl FnOnce(&'static crate::Scheduler<Mock>, T),
) -> Scenario {
    let (sched, mm, caller) = caller_on_cpu1(cpu0, register);
    set_cpu(0);
    let prepared = prepare(sched, &mm);
    let before = sched.run_queue(0);
    let first = (before.current_mm_id().0, before.is_online());
    set_cpu(0);
    clear_log();
    path(sched, prepared);
    let log = take_log();
    let after = (sched.run_queue(0).current_mm_id().0, sched.run_queue(0).is_online());
    let path = ops_from_trace(&log, 0, command, first, after);
    drop(caller);

    let (sched, mm, caller) = caller_on_cpu1(Cpu0::Online, register);
    let target = user(102, mm.mmget(), CpuSet::single(0));
    sched.spawn(target.clone(), Some(0)).unwrap();
    run_on(sched, 0, &target);
    let (caller_program, handler) = record_call(sched, &caller, cmd, command);
    Scenario { path, user_code, caller: caller_program, handler, published_before: first.0, online_before: first.1 }
}

/// A scheduler with CPUs 1 and 2 (and CPU0 if `cpu0` says so) online, and on CPU1 a thread of M (which has a
/// second thread, so that PRIVATE_EXPEDITED takes its full path) registered with `register`.
fn caller_on_cpu1(
    cpu0: Cpu0,
    register: i32,
) -> (&'static crate::Scheduler<Mock>, Arc<crate::Mm<Mock>>, Arc<Task<Mock>>) {
    let sched = match cpu0 {
        Cpu0::Online => setup_cpus(0..3),
        Cpu0::Offline => setup_cpus(1..3),
    };
    let mm = new_mm(M);
    let caller = user(100, mm.clone(), CpuSet::single(1));
    let _sibling = user(101, mm.mmget(), CpuSet::single(1));
    sched.spawn(caller.clone(), Some(1)).unwrap();
    run_on(sched, 1, &caller);
    set_cpu(1);
    assert_eq!(sched.membarrier(&caller, register, 0, 0), Ok(0));
    (sched, mm, caller)
}

/// Asserts the scenario's two halves: no forbidden outcome with the barriers as they are (every one in place,
/// unless the mutation run removed one), and the forbidden outcome with each of `needs` removed.
fn check(name: &str, scenario: impl Fn() -> Scenario, needs: &[BarrierSite]) {
    let outcomes = scenario().outcomes();
    assert!(!outcomes.contains(&FORBIDDEN), "{name}: forbidden outcome reachable: {outcomes:?}");
    assert_eq!(outcomes.len(), 3, "{name}: the other three outcomes must be reachable: {outcomes:?}");
    for &site in needs {
        let outcomes = with_removed(Some(site), || scenario().outcomes());
        assert!(outcomes.contains(&FORBIDDEN), "{name}: removing {site:?} must make the outcome reachable");
    }
}

/// User -> user of another mm on CPU0 (T of M switched out for U of OTHER): rule 1 vs membarrier's barrier (2).
#[test]
fn user_to_user_switch_out() {
    let scenario = || {
        record(
            MEMBARRIER_CMD_PRIVATE_EXPEDITED,
            Command::Private,
            MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
            Cpu0::Online,
            UserCode::Before,
            |sched, mm| {
                let t = user(1, mm.mmget(), CpuSet::single(0));
                let u = user(2, new_mm(OTHER), CpuSet::single(0));
                sched.spawn(t.clone(), Some(0)).unwrap();
                run_on(sched, 0, &t);
                sched.spawn(u.clone(), Some(0)).unwrap();
                u
            },
            |sched, u| {
                sched.block_current();
                assert!(Arc::ptr_eq(&sched.current(), &u));
            },
        )
    };
    check("user -> user, out", scenario, &[BarrierSite::ScheduleRule1, BarrierSite::PrivateExpeditedAfter]);
}

/// User -> user of another mm (U of OTHER switched out for T of M): rule 2 vs membarrier's barrier (1).
#[test]
fn user_to_user_switch_in() {
    let scenario = || {
        record(
            MEMBARRIER_CMD_PRIVATE_EXPEDITED,
            Command::Private,
            MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
            Cpu0::Online,
            UserCode::After,
            |sched, mm| {
                let t = user(1, mm.mmget(), CpuSet::single(0));
                let u = user(2, new_mm(OTHER), CpuSet::single(0));
                sched.spawn(u.clone(), Some(0)).unwrap();
                run_on(sched, 0, &u);
                sched.spawn(t.clone(), Some(0)).unwrap();
                t
            },
            |sched, t| {
                sched.block_current();
                assert!(Arc::ptr_eq(&sched.current(), &t));
            },
        )
    };
    check("user -> user, in", scenario, &[BarrierSite::PostSwitchHook, BarrierSite::PrivateExpeditedBefore]);
}

/// User -> kernel thread -> user of the same mm: the switch out to the kernel thread (rule 1, barrier (2)),
/// then the switch back in without `switch_mm` (rule 2, barrier (1)).
#[test]
fn user_to_kthread_to_user() {
    let out = || {
        record(
            MEMBARRIER_CMD_PRIVATE_EXPEDITED,
            Command::Private,
            MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
            Cpu0::Online,
            UserCode::Before,
            |sched, mm| {
                let t = user(1, mm.mmget(), CpuSet::single(0));
                sched.spawn(t.clone(), Some(0)).unwrap();
                run_on(sched, 0, &t);
                let k = kthread(3, CpuSet::single(0));
                sched.spawn(k.clone(), Some(0)).unwrap();
                k
            },
            |sched, k| {
                sched.block_current();
                assert!(Arc::ptr_eq(&sched.current(), &k));
            },
        )
    };
    check("user -> kthread", out, &[BarrierSite::ScheduleRule1, BarrierSite::PrivateExpeditedAfter]);
    let back = || {
        record(
            MEMBARRIER_CMD_PRIVATE_EXPEDITED,
            Command::Private,
            MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
            Cpu0::Online,
            UserCode::After,
            |sched, mm| {
                let t = user(1, mm.mmget(), CpuSet::single(0));
                let t2 = user(2, mm.mmget(), CpuSet::single(0));
                let k = kthread(3, CpuSet::single(0));
                sched.spawn(t.clone(), Some(0)).unwrap();
                run_on(sched, 0, &t);
                sched.spawn(k.clone(), Some(0)).unwrap();
                sched.block_current();
                assert!(Arc::ptr_eq(&sched.current(), &k));
                sched.spawn(t2.clone(), Some(0)).unwrap();
                t2
            },
            |sched, t2| {
                sched.block_current();
                assert!(Arc::ptr_eq(&sched.current(), &t2));
            },
        )
    };
    check("kthread -> user", back, &[BarrierSite::PostSwitchHook, BarrierSite::PrivateExpeditedBefore]);
}

/// Exit (Linux exit_mm): the exiting thread's last user accesses vs a caller that reads "no user mm".
#[test]
fn exit() {
    let scenario = || {
        record(
            MEMBARRIER_CMD_PRIVATE_EXPEDITED,
            Command::Private,
            MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
            Cpu0::Online,
            UserCode::Before,
            |sched, mm| {
                let t = user(1, mm.mmget(), CpuSet::single(0));
                sched.spawn(t.clone(), Some(0)).unwrap();
                run_on(sched, 0, &t);
            },
            |sched, ()| sched.exit_current(),
        )
    };
    check("exit", scenario, &[BarrierSite::ExitMm, BarrierSite::PrivateExpeditedAfter]);
}

/// `kthread_use_mm` (rule 3: its post-switch barrier) and `kthread_unuse_mm` (its barrier before clearing the
/// published mm), for a kernel thread accessing the user mm.
#[test]
fn kthread_use_and_unuse_mm() {
    let use_mm = || {
        record(
            MEMBARRIER_CMD_PRIVATE_EXPEDITED,
            Command::Private,
            MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
            Cpu0::Online,
            UserCode::After,
            |sched, mm| {
                let k = kthread(3, CpuSet::single(0));
                sched.spawn(k.clone(), Some(0)).unwrap();
                run_on(sched, 0, &k);
                mm.mmget()
            },
            |sched, mm| sched.kthread_use_mm(&mm),
        )
    };
    check("kthread_use_mm", use_mm, &[BarrierSite::PostSwitchHook, BarrierSite::PrivateExpeditedBefore]);
    let unuse_mm = || {
        record(
            MEMBARRIER_CMD_PRIVATE_EXPEDITED,
            Command::Private,
            MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
            Cpu0::Online,
            UserCode::Before,
            |sched, mm| {
                let k = kthread(3, CpuSet::single(0));
                sched.spawn(k.clone(), Some(0)).unwrap();
                run_on(sched, 0, &k);
                sched.kthread_use_mm(&mm.mmget());
            },
            |sched, ()| sched.kthread_unuse_mm(),
        )
    };
    check("kthread_unuse_mm", unuse_mm, &[BarrierSite::KthreadUnuseMm, BarrierSite::PrivateExpeditedAfter]);
}

/// GLOBAL_EXPEDITED: a thread of a registered mm switched in (rule 2 vs the barrier before the scan) and out
/// (rule 1 vs the barrier after the acks).
#[test]
fn global_expedited_switch_in_and_out() {
    let switch_in = || {
        record(
            MEMBARRIER_CMD_GLOBAL_EXPEDITED,
            Command::GlobalExpedited,
            MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED,
            Cpu0::Online,
            UserCode::After,
            |sched, mm| {
                let t = user(1, mm.mmget(), CpuSet::single(0));
                sched.spawn(t.clone(), Some(0)).unwrap();
                t
            },
            |sched, t| run_on(sched, 0, &t),
        )
    };
    check("GLOBAL_EXPEDITED, in", switch_in, &[BarrierSite::PostSwitchHook, BarrierSite::GlobalExpeditedBefore]);
    let switch_out = || {
        record(
            MEMBARRIER_CMD_GLOBAL_EXPEDITED,
            Command::GlobalExpedited,
            MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED,
            Cpu0::Online,
            UserCode::Before,
            |sched, mm| {
                let t = user(1, mm.mmget(), CpuSet::single(0));
                sched.spawn(t.clone(), Some(0)).unwrap();
                run_on(sched, 0, &t);
            },
            |sched, ()| sched.block_current(),
        )
    };
    check("GLOBAL_EXPEDITED, out", switch_out, &[BarrierSite::ScheduleRule1, BarrierSite::GlobalExpeditedAfter]);
}

/// GLOBAL vs a CPU coming online: the caller reads it offline and skips it, while the new CPU's boot context
/// works on a user mm (`kthread_use_mm` of an mm nobody registered, so no post-switch barrier): `init_cpu`'s
/// barrier vs GLOBAL's barrier before its IPIs.
#[test]
fn global_vs_cpu_coming_online() {
    let scenario = || {
        record(
            MEMBARRIER_CMD_GLOBAL,
            Command::Global,
            MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
            Cpu0::Offline,
            UserCode::After,
            |_, _| new_mm(OTHER),
            |sched, unregistered| {
                sched.init_cpu(kthread(998, CpuSet::single(0)));
                sched.kthread_use_mm(&unregistered);
            },
        )
    };
    check("GLOBAL vs online", scenario, &[BarrierSite::InitCpuOnline, BarrierSite::GlobalBefore]);
}

/// GLOBAL vs a CPU going offline after its thread was switched out: rule 1 vs GLOBAL's barrier after the acks
/// (the caller reads the CPU offline and skips it).
#[test]
fn global_vs_cpu_going_offline() {
    let scenario = || {
        record(
            MEMBARRIER_CMD_GLOBAL,
            Command::Global,
            MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
            Cpu0::Online,
            UserCode::Before,
            |sched, mm| {
                let t = user(1, mm.mmget(), CpuSet::single(0));
                sched.spawn(t.clone(), Some(0)).unwrap();
                run_on(sched, 0, &t);
            },
            |sched, ()| {
                sched.exit_current();
                sched.offline_current_cpu();
            },
        )
    };
    check("GLOBAL vs offline", scenario, &[BarrierSite::GlobalAfter]);
}
