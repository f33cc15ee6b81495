//! Randomized property test: long seeded sequences of spawns, switches, yields, blocks, wake-ups, exits,
//! affinity changes (migrations), `kthread_use_mm` and membarrier calls on 4 CPUs. After every step the
//! reference counts of every mm must match the tasks that hold them; at the end every task exits, every CPU
//! goes offline, and every mm has its user pages released exactly once, then is freed exactly once, with both
//! counts at zero.

use alloc::sync::Arc;
use std::vec::Vec;

use super::mock::*;
use crate::membarrier::*;
use crate::mm::Mm;
use crate::task::{Task, TaskState};
use crate::{CpuSet, Scheduler};

/// xorshift64*: small, seeded, good enough to drive the scheduler.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const CPUS: usize = 4;

struct World {
    sched: &'static Scheduler<Mock>,
    tasks: Vec<Arc<Task<Mock>>>,
    mms: Vec<Arc<Mm<Mock>>>,
    /// User references the test holds for kernel threads inside kthread_use_mm, by task index.
    borrowed: Vec<(usize, Arc<Mm<Mock>>)>,
    next_task_id: u32,
}

impl World {
    fn idles(&self) -> Vec<Arc<Task<Mock>>> {
        (0..CPUS).filter_map(|cpu| self.sched.run_queue(cpu).idle()).collect()
    }

    /// For each mm: `users` = live user tasks owning it + references the test holds; `count` = (users > 0)
    /// + every task (idle included) whose active_mm is it.
    fn check_counts(&self) {
        let all: Vec<Arc<Task<Mock>>> = self.tasks.iter().cloned().chain(self.idles()).collect();
        for mm in &self.mms {
            let owners =
                all.iter().filter(|t| !t.is_kernel_thread() && t.mm().is_some_and(|m| Arc::ptr_eq(&m, mm))).count();
            let held = self.borrowed.iter().filter(|(_, m)| Arc::ptr_eq(m, mm)).count();
            assert_eq!(mm.users() as usize, owners + held, "users of {mm:?}");
            let lazy = all.iter().filter(|t| t.active_mm().is_some_and(|m| Arc::ptr_eq(&m, mm))).count();
            assert_eq!(mm.count() as usize, usize::from(mm.users() > 0) + lazy, "count of {mm:?}");
            assert_eq!(mm.is_freed(), mm.count() == 0);
            assert_eq!(mm.is_user_pages_released(), mm.users() == 0, "user pages of {mm:?}");
        }
        for cpu in 0..CPUS {
            let rq = self.sched.run_queue(cpu);
            let curr = rq.curr().unwrap();
            assert!(curr.is_on_cpu(), "curr of CPU {cpu} must be on_cpu");
            assert_eq!(rq.current_mm_id().0, curr.mm().map_or(0, |m| m.id().0), "published id of CPU {cpu}");
        }
        for task in &all {
            let running_somewhere =
                (0..CPUS).any(|c| self.sched.run_queue(c).curr().is_some_and(|t| Arc::ptr_eq(&t, task)));
            assert_eq!(task.is_on_cpu(), running_somewhere, "on_cpu of {task:?}");
        }
        assert!(irqs_enabled());
    }

    fn random_affinity(&self, rng: &mut Rng) -> CpuSet {
        if rng.below(2) == 0 {
            CpuSet::first(CPUS)
        } else {
            let set = CpuSet((rng.next() % 15 + 1) & 0xf);
            if set.is_empty() {
                CpuSet::single(0)
            } else {
                set
            }
        }
    }
}

fn run(seed: u64, steps: usize) {
    let sched = setup(CPUS);
    // Every scheduler entry point is called here from task context (interrupts enabled): none may read the CPU
    // id before masking interrupts (the mock panics), since the caller could migrate right after the read.
    set_cpu_id_needs_masked_irqs(true);
    let mut rng = Rng(seed | 1);
    // The releases and frees in the order they happened.
    let mut frees: Vec<Event> = Vec::new();
    let lifetime_events = |log: Vec<Record>| {
        log.into_iter()
            .map(|r| r.event)
            .filter(|event| matches!(event, Event::MmFree { .. } | Event::ReleaseUserPages { .. }))
            .collect::<Vec<Event>>()
    };
    let mut world = World { sched, tasks: Vec::new(), mms: Vec::new(), borrowed: Vec::new(), next_task_id: 1 };
    for step in 0..steps {
        let cpu = rng.below(CPUS);
        set_cpu(cpu);
        let curr = sched.current();
        let curr_index = world.tasks.iter().position(|t| Arc::ptr_eq(t, &curr));
        match rng.below(14) {
            0 => {
                let mm = new_mm(world.mms.len() as u32 + 1);
                world.mms.push(mm.clone());
                let task = user(world.next_task_id, mm, world.random_affinity(&mut rng));
                world.next_task_id += 1;
                world.tasks.push(task.clone());
                sched.spawn(task, Some(rng.below(CPUS))).unwrap();
            }
            1 => {
                // A new thread of a live process.
                let live: Vec<Arc<Mm<Mock>>> = world.mms.iter().filter(|m| m.users() > 0).cloned().collect();
                if let Some(mm) = live.get(rng.below(live.len().max(1))) {
                    let task = user(world.next_task_id, mm.mmget(), world.random_affinity(&mut rng));
                    world.next_task_id += 1;
                    world.tasks.push(task.clone());
                    sched.spawn(task, Some(rng.below(CPUS))).unwrap();
                }
            }
            2 => {
                let task = kthread(world.next_task_id, world.random_affinity(&mut rng));
                world.next_task_id += 1;
                world.tasks.push(task.clone());
                sched.spawn(task, None).unwrap();
            }
            3 | 4 => sched.schedule(),
            5 => {
                sched.tick();
                if sched.need_resched() {
                    sched.yield_now();
                }
            }
            6 => {
                if let Some(index) = curr_index {
                    if !world.borrowed.iter().any(|(i, _)| *i == index) {
                        sched.exit_current();
                    }
                }
            }
            7 => {
                if let Some(index) = curr_index {
                    if !world.borrowed.iter().any(|(i, _)| *i == index) {
                        sched.block_current();
                    }
                }
            }
            8 => {
                let blocked: Vec<Arc<Task<Mock>>> =
                    world.tasks.iter().filter(|t| t.state() == TaskState::Blocked).cloned().collect();
                if !blocked.is_empty() {
                    sched.wake(&blocked[rng.below(blocked.len())]);
                }
            }
            9 => {
                if !world.tasks.is_empty() {
                    let task = world.tasks[rng.below(world.tasks.len())].clone();
                    if task.state() != TaskState::Exited {
                        let cpus = world.random_affinity(&mut rng);
                        sched.set_affinity(&task, cpus).unwrap();
                    }
                }
            }
            10 => {
                if let Some(index) = curr_index {
                    let live: Vec<Arc<Mm<Mock>>> = world.mms.iter().filter(|m| m.users() > 0).cloned().collect();
                    if curr.is_kernel_thread() && curr.mm().is_none() && !live.is_empty() {
                        let mm = live[rng.below(live.len())].mmget();
                        sched.kthread_use_mm(&mm);
                        world.borrowed.push((index, mm));
                    }
                }
            }
            11 => {
                if let Some(index) = curr_index {
                    if let Some(position) = world.borrowed.iter().position(|(i, _)| *i == index) {
                        sched.kthread_unuse_mm();
                        world.borrowed.swap_remove(position).1.mmput();
                    }
                }
            }
            12 => {
                if !curr.is_kernel_thread() && curr.mm().is_some() {
                    let cmds = [
                        MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
                        MEMBARRIER_CMD_PRIVATE_EXPEDITED,
                        MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED,
                        MEMBARRIER_CMD_GLOBAL_EXPEDITED,
                        MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE,
                        MEMBARRIER_CMD_GLOBAL,
                    ];
                    let result = sched.membarrier(&curr, cmds[rng.below(cmds.len())], 0, 0);
                    assert!(matches!(result, Ok(0) | Err(crate::Errno::EPERM)), "{result:?}");
                }
            }
            _ => sched.yield_now(),
        }
        drop(curr);
        if step % 8 == 0 {
            world.check_counts();
        }
        // Keep the per-thread log from growing without bound; remember the releases and frees.
        frees.extend(lifetime_events(take_log()));
    }

    // Wind down: wake everything, release kthread_use_mm, exit every task, take every CPU offline.
    for _ in 0..10_000 {
        let alive = world.tasks.iter().any(|t| t.state() != TaskState::Exited);
        if !alive {
            break;
        }
        for task in world.tasks.clone() {
            sched.wake(&task);
        }
        for cpu in 0..CPUS {
            set_cpu(cpu);
            let curr = sched.current();
            match world.tasks.iter().position(|t| Arc::ptr_eq(t, &curr)) {
                Some(index) => {
                    if let Some(position) = world.borrowed.iter().position(|(i, _)| *i == index) {
                        sched.kthread_unuse_mm();
                        world.borrowed.swap_remove(position).1.mmput();
                    }
                    sched.exit_current();
                }
                None => sched.schedule(),
            }
            world.check_counts();
        }
    }
    frees.extend(lifetime_events(take_log()));
    assert!(world.tasks.iter().all(|t| t.state() == TaskState::Exited), "tasks left (seed {seed})");
    clear_log();
    for cpu in 0..CPUS {
        set_cpu(cpu);
        sched.schedule();
        sched.offline_current_cpu();
    }
    frees.extend(lifetime_events(take_log()));
    for mm in &world.mms {
        assert_eq!((mm.users(), mm.count()), (0, 0), "{mm:?} (seed {seed})");
        assert!(mm.is_freed());
        let id = mm.id().0;
        let released = frees.iter().filter(|&&event| event == Event::ReleaseUserPages { mm: id }).count();
        assert_eq!(released, 1, "user pages of {mm:?} released {released} times (seed {seed})");
        let times = frees.iter().filter(|&&event| event == Event::MmFree { mm: id }).count();
        assert_eq!(times, 1, "mm_free of {mm:?} ran {times} times (seed {seed})");
        let release = frees.iter().position(|&event| event == Event::ReleaseUserPages { mm: id });
        let free = frees.iter().position(|&event| event == Event::MmFree { mm: id });
        assert!(release < free, "{mm:?}: mm_free before the user pages were released (seed {seed})");
    }
    for task in &world.tasks {
        assert!(task.active_mm().is_none() && task.mm().is_none() && !task.is_on_cpu());
    }
}

#[test]
fn random_sequences_balance_references() {
    for seed in [1, 2, 3, 0xdead_beef] {
        run(seed, 1_500);
    }
}
