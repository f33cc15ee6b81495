//! The `threads` mode: std's threads on clone and futex. 16 spawned and joined threads adding to a `Mutex` counter
//! and an `Arc`'d atomic, a `Condvar` handshake, `mpsc` channels from every thread to the main one, `park`/`unpark`
//! ping-pong, and scoped threads borrowing the main thread's data. Every result is checked.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread;

const THREADS: usize = 16;
const INCREMENTS: usize = 5000;
const PARK_ROUNDS: usize = 200;

pub fn threads() -> Result<(), String> {
    spawn_join_mutex_condvar_channels()?;
    park_unpark()?;
    scoped()?;
    Ok(())
}

/// Ready count and the main thread's go, behind one mutex: workers announce themselves and wait for go.
struct Handshake {
    state: Mutex<(usize, bool)>,
    changed: Condvar,
}

fn spawn_join_mutex_condvar_channels() -> Result<(), String> {
    let counter = Arc::new(Mutex::new(0usize));
    let atomic_counter = Arc::new(AtomicUsize::new(0));
    let handshake = Arc::new(Handshake { state: Mutex::new((0, false)), changed: Condvar::new() });
    let (sender, receiver) = mpsc::channel::<(usize, usize)>();
    let mut handles = Vec::with_capacity(THREADS);
    for index in 0..THREADS {
        let (counter, atomic_counter, handshake, sender) =
            (Arc::clone(&counter), Arc::clone(&atomic_counter), Arc::clone(&handshake), sender.clone());
        let handle = thread::Builder::new()
            .name(format!("worker-{index}"))
            .spawn(move || {
                {
                    let mut state = handshake.state.lock().unwrap();
                    state.0 += 1;
                    handshake.changed.notify_all();
                    while !state.1 {
                        state = handshake.changed.wait(state).unwrap();
                    }
                }
                for _ in 0..INCREMENTS {
                    *counter.lock().unwrap() += 1;
                    atomic_counter.fetch_add(1, Ordering::Relaxed);
                }
                sender.send((index, index * index)).unwrap();
                assert_eq!(thread::current().name(), Some(format!("worker-{index}").as_str()));
                index + 100
            })
            .map_err(|error| format!("spawn: {error}"))?;
        handles.push(handle);
    }
    drop(sender);
    {
        let state = handshake.state.lock().unwrap();
        let mut state = handshake.changed.wait_while(state, |state| state.0 < THREADS).unwrap();
        state.1 = true;
        handshake.changed.notify_all();
    }
    let mut received: Vec<(usize, usize)> = receiver.iter().collect();
    received.sort();
    let expected: Vec<(usize, usize)> = (0..THREADS).map(|index| (index, index * index)).collect();
    if received != expected {
        return Err(format!("the channel delivered {received:?}"));
    }
    for (index, handle) in handles.into_iter().enumerate() {
        let value = handle.join().map_err(|_| format!("thread {index} panicked"))?;
        if value != index + 100 {
            return Err(format!("thread {index} returned {value}"));
        }
    }
    let total = *counter.lock().unwrap();
    if total != THREADS * INCREMENTS || atomic_counter.load(Ordering::Relaxed) != THREADS * INCREMENTS {
        return Err(format!("counters {total} and {atomic_counter:?}, expected {}", THREADS * INCREMENTS));
    }
    if Arc::strong_count(&counter) != 1 || Arc::strong_count(&handshake) != 1 {
        return Err("a joined thread still holds an Arc".into());
    }
    println!("threads: {THREADS} threads joined, counter {total}, {} channel messages", received.len());
    Ok(())
}

/// Two threads taking turns, each parking until the other unparks it; the turn number says whose turn it is.
fn park_unpark() -> Result<(), String> {
    let turn = Arc::new(AtomicUsize::new(0));
    let main_thread = thread::current();
    let partner_turn = Arc::clone(&turn);
    let partner = thread::spawn(move || {
        for round in 0..PARK_ROUNDS {
            while partner_turn.load(Ordering::Acquire) != 2 * round + 1 {
                thread::park();
            }
            partner_turn.store(2 * round + 2, Ordering::Release);
            main_thread.unpark();
        }
    });
    for round in 0..PARK_ROUNDS {
        turn.store(2 * round + 1, Ordering::Release);
        partner.thread().unpark();
        while turn.load(Ordering::Acquire) != 2 * round + 2 {
            thread::park();
        }
    }
    partner.join().map_err(|_| "the park partner panicked".to_string())?;
    println!("threads: {PARK_ROUNDS} park/unpark round trips");
    Ok(())
}

/// Scoped threads borrow a slice mutably in chunks and a total immutably, with no Arc.
fn scoped() -> Result<(), String> {
    let mut values: Vec<usize> = (0..THREADS * 64).collect();
    let offset = 7;
    let sum = AtomicUsize::new(0);
    thread::scope(|scope| {
        for chunk in values.chunks_mut(64) {
            let sum = &sum;
            scope.spawn(move || {
                for value in chunk.iter_mut() {
                    *value += offset;
                    sum.fetch_add(*value, Ordering::Relaxed);
                }
            });
        }
    });
    let expected: usize = (0..THREADS * 64).map(|value| value + offset).sum();
    if values.iter().enumerate().any(|(index, &value)| value != index + offset) || sum.into_inner() != expected {
        return Err("scoped threads lost updates".into());
    }
    println!("threads: {THREADS} scoped threads, sum {expected}");
    Ok(())
}
