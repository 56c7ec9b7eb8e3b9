/* parallel.c: keel's own thread pool and keel_parallel_for, the one way keel's kernels (and
 * its GEMM calls, see gemm.c) use threads.
 *
 * Why not OpenMP: libgomp's waiting threads spin for a fixed count before sleeping, and BLIS's
 * OpenMP build adds its own spinning barriers. With one other busy process on a 2-core machine
 * the spinning thread holds a core that the thread it waits for needs: measured 3.4x slower
 * (11.0k -> 3.2k samples/s on the demo CNN), while OMP_WAIT_POLICY=passive costs 25% when the
 * machine is idle. keel cannot set libgomp's policy itself (it is read from the environment
 * before main), so it waits its own way: spin briefly (the next region of a training step comes
 * within microseconds), then hand the core over with sched_yield (a no-op when nobody else
 * wants it, a real handover under load), then sleep on a futex after a millisecond of nothing
 * (between epochs, in the user's own code).
 *
 * keel_parallel_for cuts work into a few chunks per thread and the threads take chunks from a
 * shared counter, so a thread that the kernel has descheduled (another program wants the core)
 * holds nobody up: whoever is running does its share. keel_parallel_run (GEMM blocks, partial
 * sums) gives part k to thread k, so a thread works on the same block step after step, in its
 * own cache; a part whose thread has not started it within STEAL_NS is run by the caller. The cut
 * depends only on n and the thread count, never on who ran what, so results are the same from run
 * to run. A call from inside a chunk (nesting) or from a second application thread while the pool
 * is busy runs serially on the caller. Workers are started once, on first use; a parallel
 * region allocates nothing. */
#include "kernels.h"

#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define POOL_MAX 256
#define CHUNKS_PER_THREAD 4
#define SPIN_NS 50000         /* pure spinning: covers the gap between two regions of one step */
#define YIELD_NS 1000000      /* then hand the core to anyone else who wants it; then sleep */
#define STEAL_NS 100000       /* a part of keel_parallel_run not started by its thread by then */
#define NO_SHARED 0xffffffffu /* the chunk counter of a region with owned parts only */

/* One wake-up word per worker, each on its own cache line: only the workers a region uses are
 * signalled, so the others (after keel_set_threads lowered the count) fall asleep. */
typedef struct {
    _Alignas(64) atomic_uint go; /* futex word: bumped when there is a region to join */
    atomic_int asleep;
    /* keel_parallel_run's part k: 2 * generation while waiting, + 1 once claimed; a claim is a
     * compare-and-swap, so it succeeds for the live region only */
    _Atomic uint64_t part;
} slot;

static struct {
    pthread_mutex_t busy; /* held by the thread that owns the current region */
    int started;          /* workers created so far (ids 1..started) */
    atomic_int alive;     /* workers that have reached their loop */
    /* (region generation << 32) | next unclaimed chunk: a claim is a compare-and-swap on it,
     * so a late worker can never claim a chunk of a region that has moved on */
    _Alignas(64) _Atomic uint64_t next;
    atomic_int nchunks;
    _Alignas(64) atomic_int completed;
    atomic_uint done; /* futex word for the caller: bumped when the last chunk completes */
    atomic_int caller_asleep;
    /* the region: written before it is published, read only by a thread holding a chunk of it */
    keel_range_fn fn;
    void *ctx;
    int64_t n;
    slot slots[POOL_MAX];
} pool = {.busy = PTHREAD_MUTEX_INITIALIZER};

static _Thread_local bool in_region;
static atomic_llong regions; /* handed to the workers, for keel_parallel_regions */

static void futex_wait(atomic_uint *w, unsigned seen) {
    syscall(SYS_futex, (unsigned *)w, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
}
static void futex_wake(atomic_uint *w) {
    syscall(SYS_futex, (unsigned *)w, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Wait until *w != seen: spin, then yield, then sleep (counted in *asleep while asleep). */
static void wait_change(atomic_uint *w, unsigned seen, atomic_int *asleep) {
    int64_t t0 = 0;
    for (unsigned i = 0;; i++) {
        if (atomic_load_explicit(w, memory_order_acquire) != seen) return;
        if ((i & 63) != 63) {
            cpu_relax();
            continue;
        }
        int64_t t = now_ns();
        if (!t0) t0 = t;
        if (t - t0 < SPIN_NS) continue;
        if (t - t0 < YIELD_NS) {
            sched_yield();
            continue;
        }
        atomic_fetch_add(asleep, 1);
        /* the waker bumps *w before reading *asleep, so either it sees us or we see its bump */
        if (atomic_load_explicit(w, memory_order_seq_cst) == seen) futex_wait(w, seen);
        atomic_fetch_sub(asleep, 1);
    }
}

static void chunk_done(int64_t nch) {
    if (atomic_fetch_add_explicit(&pool.completed, 1, memory_order_acq_rel) + 1 == nch) {
        atomic_fetch_add_explicit(&pool.done, 1, memory_order_seq_cst);
        if (atomic_load_explicit(&pool.caller_asleep, memory_order_seq_cst)) futex_wake(&pool.done);
    }
}

/* Runs part k of the owned-parts region of generation gen, if nobody has claimed it. */
static bool run_part(int64_t k, uint64_t gen) {
    uint64_t want = 2 * gen;
    if (!atomic_compare_exchange_strong_explicit(&pool.slots[k].part, &want, want + 1,
                                                 memory_order_acq_rel, memory_order_relaxed))
        return false;
    /* the part is ours, so the region cannot end (and be rewritten) before we finish it */
    pool.fn(pool.ctx, k, k + 1);
    chunk_done(atomic_load_explicit(&pool.nchunks, memory_order_relaxed));
    return true;
}

/* Claim and run chunks of the current region until none is left. */
static void run_chunks(void) {
    for (;;) {
        uint64_t c = atomic_load_explicit(&pool.next, memory_order_acquire);
        /* acquire: a count from a newer region means our compare-and-swap sees it closed */
        int64_t nch = atomic_load_explicit(&pool.nchunks, memory_order_acquire), k = (uint32_t)c;
        if (k >= nch) return;
        if (!atomic_compare_exchange_weak_explicit(&pool.next, &c, c + 1, memory_order_acq_rel,
                                                   memory_order_relaxed))
            continue;
        /* the chunk is ours, so the region cannot end (and be rewritten) before we finish it */
        pool.fn(pool.ctx, pool.n * k / nch, pool.n * (k + 1) / nch);
        chunk_done(nch);
    }
}

static void *worker(void *arg) {
    const int64_t id = (intptr_t)arg;
    slot *me = &pool.slots[id];
    in_region = true;  /* anything a worker calls runs serially */
    unsigned seen = 0; /* go starts at 0 and only the caller bumps it, maybe before we run */
    atomic_fetch_add(&pool.alive, 1);
    for (;;) {
        wait_change(&me->go, seen, &me->asleep);
        seen = atomic_load_explicit(&me->go, memory_order_acquire);
        run_part(id, atomic_load_explicit(&pool.next, memory_order_acquire) >> 32);
        run_chunks();
    }
    return NULL;
}

/* A forked child has none of the parent's workers: it starts its own when it needs them. */
static void after_fork_child(void) {
    pthread_mutex_init(&pool.busy, NULL);
    pool.started = 0;
    atomic_store(&pool.alive, 0);
    for (int t = 0; t < POOL_MAX; t++) {
        atomic_store(&pool.slots[t].go, 0);
        atomic_store(&pool.slots[t].asleep, 0);
        atomic_store(&pool.slots[t].part, 0);
    }
    atomic_store(&pool.caller_asleep, 0);
}

static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static void register_fork(void) {
    pthread_atfork(NULL, NULL, after_fork_child);
}

/* Workers 1..T-1 exist afterwards, or as many as could be started; returns the usable count. */
static int ensure_workers(int T) {
    pthread_once(&fork_once, register_fork);
    while (pool.started < T - 1 && pool.started < POOL_MAX - 1) {
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        pthread_t th;
        int rc = pthread_create(&th, &a, worker, (void *)(intptr_t)(pool.started + 1));
        pthread_attr_destroy(&a);
        if (rc != 0) break;
        pool.started++;
    }
    /* a new thread can take milliseconds to first run; until then the caller would end up
     * running every part itself */
    while (atomic_load(&pool.alive) < pool.started)
        sched_yield();
    return pool.started + 1 < T ? pool.started + 1 : T;
}

/* The caller's wait for the region's end; with owned parts, parts their threads have not
 * started after STEAL_NS are run here. */
static void wait_region(unsigned done, bool owned, int64_t nch, uint64_t gen) {
    if (owned) {
        int64_t t0 = now_ns();
        for (unsigned i = 0; atomic_load_explicit(&pool.done, memory_order_acquire) == done; i++) {
            cpu_relax();
            if ((i & 63) == 63 && now_ns() - t0 > STEAL_NS) {
                for (int64_t k = 1; k < nch; k++)
                    run_part(k, gen);
                break;
            }
        }
    }
    wait_change(&pool.done, done, &pool.caller_asleep);
}

/* fn over [0, n) in nch chunks on up to T threads (the caller included); owned: n == nch parts,
 * part k for thread k */
static void run_region(int64_t n, int64_t nch, int T, bool owned, keel_range_fn fn, void *ctx) {
    if (T <= 1 || nch <= 1 || in_region || pthread_mutex_trylock(&pool.busy) != 0) {
        if (n > 0) fn(ctx, 0, n);
        return;
    }
    T = ensure_workers(T);
    atomic_fetch_add_explicit(&regions, 1, memory_order_relaxed);
    if (owned && nch > T) owned = false; /* fewer workers than parts could be started */
    /* Close the last region's counter before its fields are rewritten: a worker that read the
     * old word late (say chunk 3 of 3) would otherwise see the new chunk count (8) and claim
     * chunk 3 of a region not yet published. The release on nchunks orders the close first. */
    uint64_t old = atomic_load_explicit(&pool.next, memory_order_relaxed);
    atomic_store_explicit(&pool.next, (old & ~(uint64_t)0xffffffffu) | NO_SHARED,
                          memory_order_relaxed);
    uint64_t gen = ((old >> 32) + 1) & 0xffffffffu; /* the word holds 32 bits of it */
    pool.fn = fn, pool.ctx = ctx, pool.n = n;
    atomic_store_explicit(&pool.completed, 0, memory_order_relaxed);
    atomic_store_explicit(&pool.nchunks, (int)nch, memory_order_release);
    unsigned done = atomic_load_explicit(&pool.done, memory_order_relaxed);
    if (owned)
        for (int64_t k = 0; k < nch; k++)
            atomic_store_explicit(&pool.slots[k].part, 2 * gen, memory_order_relaxed);
    /* publishes the region */
    atomic_store_explicit(&pool.next, gen << 32 | (owned ? NO_SHARED : 0), memory_order_seq_cst);
    for (int t = 1; t < (owned ? nch : T); t++) {
        slot *w = &pool.slots[t];
        atomic_fetch_add_explicit(&w->go, 1, memory_order_seq_cst);
        if (atomic_load_explicit(&w->asleep, memory_order_seq_cst)) futex_wake(&w->go);
    }
    in_region = true;
    if (owned)
        run_part(0, gen);
    else
        run_chunks();
    wait_region(done, owned, nch, gen);
    in_region = false;
    pthread_mutex_unlock(&pool.busy);
}

void keel_parallel_run(int64_t n, int threads, keel_range_fn fn, void *ctx) {
    int T = threads < n ? threads : (int)n;
    run_region(n, n, T, true, fn, ctx);
}

void keel_parallel_for(int64_t n, int64_t work, keel_range_fn fn, void *ctx) {
    int T = keel_threads();
    if (T <= 1 || n < 2 || work < 65536) {
        fn(ctx, 0, n);
        return;
    }
    int64_t nch = (int64_t)T * CHUNKS_PER_THREAD;
    run_region(n, n < nch ? n : nch, T, false, fn, ctx);
}

int64_t keel_parallel_regions(void) {
    return atomic_load_explicit(&regions, memory_order_relaxed);
}
