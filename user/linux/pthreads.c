//! POSIX threads as glibc and musl implement them on futex and clone: 8 joined threads adding to a mutex-protected
//! counter, a condition-variable handshake (each worker waits for the main thread's go, the main thread waits for
//! every worker's ready), thread-local storage seen separately per thread, detached threads that signal a
//! semaphore as they finish, and a barrier every thread passes several times. Prints `ok: pthreads` and exits 0
//! when every check holds; prints what went wrong and exits 1 otherwise.
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>

#define WORKERS 8
#define INCREMENTS 20000
#define DETACHED 4
#define BARRIER_ROUNDS 16

static pthread_mutex_t counter_lock = PTHREAD_MUTEX_INITIALIZER;
static long counter;

// The handshake: workers count themselves ready, then wait for `go`.
static pthread_mutex_t handshake_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t all_ready = PTHREAD_COND_INITIALIZER;
static pthread_cond_t go_signal = PTHREAD_COND_INITIALIZER;
static int ready_count;
static int go;

static pthread_barrier_t barrier;
// Per-round arrivals: after the barrier of round r, every worker must have incremented arrivals[r].
static int arrivals[BARRIER_ROUNDS];

static __thread long thread_local_value = 7;
static sem_t detached_done;
static int detached_failures;

static int failures;

static void fail(const char *what) {
    printf("FAILED: pthreads: %s\n", what);
    __atomic_add_fetch(&failures, 1, __ATOMIC_SEQ_CST);
}

static void *worker(void *argument) {
    long index = (long)argument;
    if (thread_local_value != 7) fail("a new thread's TLS does not start at its initial value");
    thread_local_value = 1000 + index;

    pthread_mutex_lock(&handshake_lock);
    ready_count++;
    pthread_cond_signal(&all_ready);
    while (!go) pthread_cond_wait(&go_signal, &handshake_lock);
    pthread_mutex_unlock(&handshake_lock);

    for (int step = 0; step < INCREMENTS; step++) {
        pthread_mutex_lock(&counter_lock);
        counter++;
        pthread_mutex_unlock(&counter_lock);
    }

    for (int round = 0; round < BARRIER_ROUNDS; round++) {
        __atomic_add_fetch(&arrivals[round], 1, __ATOMIC_SEQ_CST);
        pthread_barrier_wait(&barrier);
        if (__atomic_load_n(&arrivals[round], __ATOMIC_SEQ_CST) != WORKERS) fail("a thread passed the barrier early");
        // Second wait: nobody starts the next round before everyone checked this one.
        pthread_barrier_wait(&barrier);
    }

    if (thread_local_value != 1000 + index) fail("another thread overwrote this thread's TLS");
    return (void *)(index * 3);
}

static void *detached_worker(void *argument) {
    long index = (long)argument;
    thread_local_value = -index;
    if (thread_local_value != -index) __atomic_add_fetch(&detached_failures, 1, __ATOMIC_SEQ_CST);
    sem_post(&detached_done);
    return NULL;
}

int main(void) {
    pthread_t threads[WORKERS];
    if (pthread_barrier_init(&barrier, NULL, WORKERS) != 0) fail("pthread_barrier_init");
    if (sem_init(&detached_done, 0, 0) != 0) fail("sem_init");

    for (long index = 0; index < WORKERS; index++) {
        if (pthread_create(&threads[index], NULL, worker, (void *)index) != 0) {
            fail("pthread_create");
            return 1;
        }
    }
    pthread_mutex_lock(&handshake_lock);
    while (ready_count < WORKERS) pthread_cond_wait(&all_ready, &handshake_lock);
    go = 1;
    pthread_cond_broadcast(&go_signal);
    pthread_mutex_unlock(&handshake_lock);

    pthread_attr_t detached_attributes;
    pthread_attr_init(&detached_attributes);
    pthread_attr_setdetachstate(&detached_attributes, PTHREAD_CREATE_DETACHED);
    for (long index = 1; index <= DETACHED; index++) {
        pthread_t detached;
        if (pthread_create(&detached, &detached_attributes, detached_worker, (void *)index) != 0)
            fail("pthread_create (detached)");
    }
    pthread_attr_destroy(&detached_attributes);

    for (long index = 0; index < WORKERS; index++) {
        void *result;
        if (pthread_join(threads[index], &result) != 0) fail("pthread_join");
        else if ((long)result != index * 3) fail("pthread_join returned the wrong value");
    }
    for (int index = 0; index < DETACHED; index++) {
        if (sem_wait(&detached_done) != 0) fail("sem_wait");
    }
    int left;
    sem_getvalue(&detached_done, &left);
    if (left != 0) fail("the semaphore was posted more often than there are detached threads");
    if (detached_failures != 0) fail("a detached thread saw the wrong TLS value");
    if (thread_local_value != 7) fail("the main thread's TLS changed");
    if (counter != (long)WORKERS * INCREMENTS) {
        printf("counter is %ld, expected %ld\n", counter, (long)WORKERS * INCREMENTS);
        fail("the mutex lost increments");
    }
    pthread_barrier_destroy(&barrier);
    sem_destroy(&detached_done);
    if (failures != 0) return 1;
    printf("pthreads: %d threads, counter %ld, %d barrier rounds, %d detached threads\n", WORKERS, counter,
           BARRIER_ROUNDS, DETACHED);
    printf("ok: pthreads\n");
    return 0;
}
