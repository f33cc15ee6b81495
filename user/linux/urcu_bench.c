// The liburcu rows of `cargo xtask bench` (run by payloads/src/bench.rs, not by the real-program suite): the cost
// of one synchronize_rcu() of liburcu's memb flavour (Debian's liburcu-dev, static), with as many reader threads
// as CPUs are listed, each pinned to its CPU and running a read-side critical section each time an interrupt
// wakes it.
//
// `urcu_bench N WARMUP [CPU...]`: WARMUP grace periods, then N between the measurement markers `hint #0x60` and
// `hint #0x61`, which the insn-counter QEMU plugin (tools/insn-counter) turns into a count of the guest
// instructions the writer's CPU executed in between (liburcu, the system calls and whatever else that CPU ran).
// The writer registers itself as a reader thread too, as urcu_memb.c does: with no reader thread the registry is
// then not empty and the grace period runs in full (its membarrier calls) with no reader to wait for.
//
// When argv[0] starts with "bench-cycles:" the kernel enabled EL0 reads of the cycle counter: the program leaves
// the region's PMU cycles there ("bench-cycles:" and 20 digits), as the Rust bench program does. liburcu's
// membarrier calls are counted by wrapping its syscall() (-Wl,--wrap=syscall, as for urcu_memb.c) and printed.
#define _GNU_SOURCE
#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <urcu/urcu-memb.h>

#define MAX_READERS 3
#define CYCLES_PREFIX "bench-cycles:"

struct object {
    long generation;
};

static struct object *shared;
static int stop;
static int readers_ready;

// PRIVATE_EXPEDITED calls liburcu made, and calls of any other membarrier command (read after the threads stop).
static long membarrier_expedited, membarrier_other;

long __real_syscall(long number, ...);

// As in urcu_memb.c: forwards the six argument registers a Linux system call can take.
long __wrap_syscall(long number, ...) {
    va_list arguments;
    va_start(arguments, number);
    long values[6];
    for (int index = 0; index < 6; index++) values[index] = va_arg(arguments, long);
    va_end(arguments);
    if (number == __NR_membarrier) {
        long *counter = values[0] == MEMBARRIER_CMD_PRIVATE_EXPEDITED ? &membarrier_expedited : &membarrier_other;
        __atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
    }
    return __real_syscall(number, values[0], values[1], values[2], values[3], values[4], values[5]);
}

// Start and end of the measured region: HINT instructions, NOPs on hardware. The "memory" clobber keeps the
// region's work between them.
static inline void region_start(void) { __asm__ volatile("hint #0x60" ::: "memory"); }
static inline void region_end(void) { __asm__ volatile("hint #0x61" ::: "memory"); }

// PMCCNTR_EL0 (the bench kernel enabled EL0 reads), after an isb so that the read is not taken early.
static unsigned long long cycle_counter(void) {
    unsigned long long value;
    __asm__ volatile("isb\n\tmrs %0, pmccntr_el0" : "=r"(value)::"memory");
    return value;
}

// Pins the calling thread to `cpu`; passes one 64-bit mask word, the size the kernel reads (Linux accepts it too).
static int pin_to(long cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof(unsigned long), &set);
}

static void *reader(void *argument) {
    long cpu = (long)argument;
    if (pin_to(cpu) != 0 || sched_getcpu() != cpu) {
        printf("urcu_bench: a reader could not move to CPU %ld\n", cpu);
        exit(1);
    }
    urcu_memb_register_thread();
    __atomic_add_fetch(&readers_ready, 1, __ATOMIC_RELEASE);
    // One critical section per interrupt: between two, the reader waits in `wfi` at EL0 (the kernel lets EL0
    // execute it, SCTLR_EL1.nTWI), so its CPU keeps running the mm, as a busy reader's would, and membarrier
    // must interrupt it, but its vCPU does not take a host core (as the Rust bench's parked threads). Readers
    // that spin without pause make four vCPUs compete for the host's cores, and each grace period then waits
    // for the host's scheduler (over 100 ms per synchronize_rcu on a two-core host); readers that sleep
    // (urcu_memb.c's usleep) leave the mm, and a grace period that falls in the sleep measures no reader.
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        urcu_memb_read_lock();
        struct object *object = rcu_dereference(shared);
        long generation = CMM_LOAD_SHARED(object->generation);
        for (int spin = 0; spin < 50; spin++) caa_cpu_relax();
        urcu_memb_read_unlock();
        if (generation < 0) {
            printf("FAILED: urcu_bench: a reader saw a freed object\n");
            exit(1);
        }
        __asm__ volatile("wfi" ::: "memory");
    }
    urcu_memb_unregister_thread();
    return NULL;
}

static int synchronize_once(long generation) {
    struct object *fresh = malloc(sizeof *fresh);
    if (fresh == NULL) return 1;
    fresh->generation = generation;
    struct object *old = rcu_xchg_pointer(&shared, fresh);
    urcu_memb_synchronize_rcu();
    CMM_STORE_SHARED(old->generation, -1);
    free(old);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 3 + MAX_READERS) {
        printf("usage: urcu_bench N WARMUP [CPU...] (at most %d reader CPUs)\n", MAX_READERS);
        return 2;
    }
    long iterations = atol(argv[1]), warmup = atol(argv[2]);
    int readers = argc - 3;
    int read_cycles = strncmp(argv[0], CYCLES_PREFIX, strlen(CYCLES_PREFIX)) == 0;
    shared = calloc(1, sizeof *shared);
    pthread_t threads[MAX_READERS];
    for (int index = 0; index < readers; index++) {
        if (pthread_create(&threads[index], NULL, reader, (void *)atol(argv[3 + index])) != 0) {
            printf("urcu_bench: pthread_create failed\n");
            return 1;
        }
    }
    while (__atomic_load_n(&readers_ready, __ATOMIC_ACQUIRE) < readers) sched_yield();
    urcu_memb_register_thread();
    int failures = 0;
    long generation = 1;
    for (long index = 0; index < warmup; index++) failures += synchronize_once(generation++);
    long expedited_before = __atomic_load_n(&membarrier_expedited, __ATOMIC_RELAXED);
    unsigned long long started = read_cycles ? cycle_counter() : 0;
    region_start();
    for (long index = 0; index < iterations; index++) failures += synchronize_once(generation++);
    region_end();
    unsigned long long cycles = read_cycles ? cycle_counter() - started : 0;
    long expedited = __atomic_load_n(&membarrier_expedited, __ATOMIC_RELAXED) - expedited_before;
    urcu_memb_unregister_thread();
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    for (int index = 0; index < readers; index++) pthread_join(threads[index], NULL);
    if (read_cycles) {
        // Same length as the kernel's placeholder ("bench-cycles:" and 20 digits), so it fits in place.
        char text[64];
        snprintf(text, sizeof text, CYCLES_PREFIX "%020llu", cycles);
        if (strlen(text) == strlen(argv[0])) memcpy(argv[0], text, strlen(text));
    }
    printf("urcu_bench: %ld synchronize_rcu with %d readers: %ld PRIVATE_EXPEDITED membarrier calls, %ld other\n",
           iterations, readers, expedited, membarrier_other);
    if (failures != 0 || (iterations > 0 && expedited < iterations)) {
        printf("FAILED: urcu_bench: %s\n", failures != 0 ? "malloc failed" : "liburcu did not use membarrier");
        return 1;
    }
    return 0;
}
