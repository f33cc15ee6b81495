//! liburcu's memb flavour (Debian's liburcu-dev, static) on the kernel's membarrier: 3 reader threads dereference a
//! shared object inside read-side critical sections while one writer replaces it and calls synchronize_rcu() 2000
//! times, poisoning and freeing each old object only after the grace period. A reader that ever sees poison, or a
//! value older than one it saw before, fails the run. The memb flavour's readers use only compiler barriers; the
//! writer makes them safe with membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), which this program counts by wrapping
//! the library's syscall() (linked with -Wl,--wrap=syscall) and requires to be the path liburcu took.
#include <linux/membarrier.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <urcu/urcu-memb.h>

#define READERS 3
// The default number of grace periods; argv[1] may give another.
#define GRACE_PERIODS 2000

#define LIVE_MAGIC 0x11fe11fe11fe11feL
#define POISON_MAGIC 0x0dead0dead0dead0L

struct object {
    long magic;
    long generation;
};

static struct object *shared;
static int writer_done;
static int failures;
static long reads[READERS];
// Readers and writer meet here once every reader is registered (READERS + 1 threads), before the first grace
// period. Without it a reader created while the writer already runs waits in urcu_memb_register_thread() for
// rcu_registry_lock, which synchronize_rcu() holds almost all the time: it drops the lock only for a cpu_relax()
// between two polls, or while it sleeps on a reader, and a woken waiter on another CPU (a wake-up IPI away) loses
// the glibc mutex to the writer taking it again nearly every time. Two of the three readers could then register
// only after the 2000th grace period, and "never completed a critical section" failed the run: a property of
// the unfair mutex, not of the kernel under test.
static pthread_barrier_t registered;

// Calls liburcu makes through syscall(), by membarrier command. liburcu calls syscall() only from the writer and
// from registration, and the counters are only read after every thread is joined, so relaxed atomics suffice.
static long membarrier_queries, membarrier_registrations, membarrier_expedited, membarrier_other;

long __real_syscall(long number, ...);

// syscall() has no va_list form: forward the six argument registers a Linux system call can take (reading
// unused variadic arguments on aarch64 reads argument registers, as glibc's own syscall() does).
long __wrap_syscall(long number, ...) {
    va_list arguments;
    va_start(arguments, number);
    long values[6];
    for (int index = 0; index < 6; index++) values[index] = va_arg(arguments, long);
    va_end(arguments);
    if (number == __NR_membarrier) {
        long *counter = &membarrier_other;
        if (values[0] == MEMBARRIER_CMD_QUERY) counter = &membarrier_queries;
        else if (values[0] == MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) counter = &membarrier_registrations;
        else if (values[0] == MEMBARRIER_CMD_PRIVATE_EXPEDITED) counter = &membarrier_expedited;
        __atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
    }
    return __real_syscall(number, values[0], values[1], values[2], values[3], values[4], values[5]);
}

static void fail(const char *what) {
    printf("FAILED: urcu_memb: %s\n", what);
    __atomic_add_fetch(&failures, 1, __ATOMIC_SEQ_CST);
}

static void *reader(void *argument) {
    long index = (long)argument;
    long newest_seen = 0;
    urcu_memb_register_thread();
    pthread_barrier_wait(&registered);
    while (!__atomic_load_n(&writer_done, __ATOMIC_ACQUIRE)) {
        urcu_memb_read_lock();
        struct object *object = rcu_dereference(shared);
        // Read twice with a pause between: the grace period must cover the whole critical section.
        long magic = CMM_LOAD_SHARED(object->magic);
        long generation = CMM_LOAD_SHARED(object->generation);
        for (int spin = 0; spin < 50; spin++) caa_cpu_relax();
        long magic_again = CMM_LOAD_SHARED(object->magic);
        urcu_memb_read_unlock();
        if (magic != LIVE_MAGIC || magic_again != LIVE_MAGIC) {
            fail(magic == POISON_MAGIC || magic_again == POISON_MAGIC ? "a reader saw a poisoned (freed) object"
                                                                      : "a reader saw a corrupted object");
            break;
        }
        if (generation < newest_seen) {
            fail("a reader saw an older object after a newer one");
            break;
        }
        newest_seen = generation;
        reads[index]++;
        // A short sleep now and then: membarrier IPIs only the CPUs running this process, and each of them must
        // run to acknowledge; four vCPUs spinning without pause on a host with fewer cores make every IPI wait
        // for the host's scheduler (tens of ms per grace period). Readers still overlap most grace periods
        // (the PRIVATE_EXPEDITED count exceeds 2 per grace period when the writer had to wait for a reader).
        if (reads[index] % 256 == 0) usleep(50);
    }
    urcu_memb_unregister_thread();
    return NULL;
}

static struct object *new_object(long generation) {
    struct object *object = malloc(sizeof *object);
    if (object == NULL) {
        fail("malloc");
        exit(1);
    }
    object->magic = LIVE_MAGIC;
    object->generation = generation;
    return object;
}

int main(int argc, char **argv) {
    long grace_periods = argc > 1 ? atol(argv[1]) : GRACE_PERIODS;
    pthread_t readers[READERS];
    rcu_assign_pointer(shared, new_object(0));
    if (pthread_barrier_init(&registered, NULL, READERS + 1) != 0) {
        fail("pthread_barrier_init");
        return 1;
    }
    for (long index = 0; index < READERS; index++) {
        if (pthread_create(&readers[index], NULL, reader, (void *)index) != 0) {
            fail("pthread_create");
            return 1;
        }
    }
    urcu_memb_register_thread();
    pthread_barrier_wait(&registered);
    for (long generation = 1; generation <= grace_periods; generation++) {
        struct object *old = rcu_xchg_pointer(&shared, new_object(generation));
        urcu_memb_synchronize_rcu();
        // Every reader that could hold `old` has left its critical section: poison, then free.
        CMM_STORE_SHARED(old->magic, POISON_MAGIC);
        CMM_STORE_SHARED(old->generation, -1);
        free(old);
    }
    urcu_memb_unregister_thread();
    __atomic_store_n(&writer_done, 1, __ATOMIC_RELEASE);
    long total_reads = 0;
    for (long index = 0; index < READERS; index++) {
        pthread_join(readers[index], NULL);
        total_reads += reads[index];
    }
    free(shared);
    printf("urcu_memb: %ld synchronize_rcu calls with %d readers, %ld read-side critical sections\n", grace_periods,
           READERS, total_reads);
    printf("urcu_memb: membarrier calls: %ld QUERY, %ld REGISTER_PRIVATE_EXPEDITED, %ld PRIVATE_EXPEDITED, %ld other\n",
           membarrier_queries, membarrier_registrations, membarrier_expedited, membarrier_other);
    if (membarrier_registrations == 0 || membarrier_expedited < grace_periods)
        fail("liburcu did not use MEMBARRIER_CMD_PRIVATE_EXPEDITED (at least once per grace period)");
    for (long index = 0; index < READERS; index++) {
        if (reads[index] == 0) fail("a reader never completed a critical section");
    }
    if (failures != 0) return 1;
    printf("ok: urcu_memb\n");
    return 0;
}
