/* test_parallel.c: keel's thread pool (src/kernels/parallel.c) and the GEMM it threads.
 * Every index is run exactly once for any n and thread count (more threads than cores
 * included), nested and concurrent calls stay correct, and a GEMM cut across threads equals
 * the reference on the shapes that get cut (both sides, both transposes, ragged edges). */
#include <criterion/criterion.h>
#include <keel.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kernels/kernels.h"

typedef struct {
    atomic_int *hits;
    atomic_int calls;
} count_job;

static void count_range(void *ctx, int64_t lo, int64_t hi) {
    count_job *j = ctx;
    atomic_fetch_add(&j->calls, 1);
    for (int64_t i = lo; i < hi; i++)
        atomic_fetch_add(&j->hits[i], 1);
}

static void expect_each_once(int64_t n, int threads, bool run) {
    keel_set_threads(threads);
    count_job j = {calloc((size_t)n + 1, sizeof(atomic_int)), 0};
    if (run)
        keel_parallel_run(n, threads, count_range, &j);
    else
        keel_parallel_for(n, 1 << 20, count_range, &j);
    for (int64_t i = 0; i < n; i++)
        cr_assert_eq(atomic_load(&j.hits[i]), 1, "n=%lld threads=%d %s: index %lld ran %d times",
                     (long long)n, threads, run ? "run" : "for", (long long)i,
                     atomic_load(&j.hits[i]));
    free(j.hits);
}

Test(parallel, every_index_exactly_once) {
    const int64_t ns[] = {1, 2, 3, 7, 8, 9, 31, 100, 1000, 100003};
    const int ts[] = {1, 2, 3, 8, 17};
    for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
        for (size_t b = 0; b < sizeof ts / sizeof *ts; b++) {
            expect_each_once(ns[a], ts[b], false);
            if (ns[a] <= 100) expect_each_once(ns[a], ts[b], true);
        }
    keel_set_threads(0);
}

Test(parallel, many_regions_in_a_row) {
    /* the generation counter and wake-ups over many back-to-back regions, some after a sleep */
    keel_set_threads(3);
    atomic_int hits[64];
    for (int r = 0; r < 3000; r++) {
        memset(hits, 0, sizeof hits);
        count_job j = {hits, 0};
        keel_parallel_for(64, 1 << 20, count_range, &j);
        for (int i = 0; i < 64; i++)
            cr_assert_eq(atomic_load(&hits[i]), 1, "region %d index %d", r, i);
        if (r % 1000 == 999) {
            struct timespec ts = {0, 20 * 1000 * 1000}; /* long enough for the workers to sleep */
            nanosleep(&ts, NULL);
        }
    }
    keel_set_threads(0);
}

/* A region with few chunks followed by one with more: a worker late from the first must not
 * claim a chunk of the second before it is published (which ran a chunk twice and let the call
 * return before another chunk had run: 75 times in 100k pairs before the fix). */
Test(parallel, fewer_chunks_then_more) {
    keel_set_threads(2);
    atomic_int hits[64];
    long bad = 0;
    for (int r = 0; r < 100000; r++) {
        int64_t n = r % 2 ? 64 : 3;
        memset(hits, 0, sizeof hits);
        count_job j = {hits, 0};
        keel_parallel_for(n, 1 << 20, count_range, &j);
        for (int64_t i = 0; i < n; i++)
            bad += atomic_load(&hits[i]) != 1;
    }
    cr_expect_eq(bad, 0, "%ld indices ran other than once", bad);
    keel_set_threads(0);
}

/* a range that itself calls keel_parallel_for: the inner call runs on the calling thread */
typedef struct {
    atomic_int *hits;
} nest_job;

static void inner(void *ctx, int64_t lo, int64_t hi) {
    atomic_int *h = ctx;
    for (int64_t i = lo; i < hi; i++)
        atomic_fetch_add(&h[i], 1);
}

static void outer(void *ctx, int64_t lo, int64_t hi) {
    nest_job *j = ctx;
    for (int64_t i = lo; i < hi; i++)
        keel_parallel_for(100, 1 << 20, inner, j->hits + i * 100);
}

Test(parallel, nested_calls_run_inline) {
    keel_set_threads(2);
    nest_job j = {calloc(16 * 100, sizeof(atomic_int))};
    keel_parallel_for(16, 1 << 20, outer, &j);
    for (int i = 0; i < 1600; i++)
        cr_assert_eq(atomic_load(&j.hits[i]), 1, "index %d", i);
    free(j.hits);
    keel_set_threads(0);
}

/* two application threads using the pool at once: one gets it, the other runs inline */
static void *app_thread(void *arg) {
    long bad = 0;
    for (int r = 0; r < 500; r++) {
        atomic_int hits[1000];
        memset(hits, 0, sizeof hits);
        count_job j = {hits, 0};
        keel_parallel_for(1000, 1 << 20, count_range, &j);
        for (int i = 0; i < 1000; i++)
            bad += atomic_load(&hits[i]) != 1;
    }
    return (void *)bad;
}

Test(parallel, concurrent_application_threads) {
    keel_set_threads(2);
    pthread_t a, b;
    pthread_create(&a, NULL, app_thread, NULL);
    pthread_create(&b, NULL, app_thread, NULL);
    void *ra, *rb;
    pthread_join(a, &ra), pthread_join(b, &rb);
    cr_expect_eq((long)ra, 0);
    cr_expect_eq((long)rb, 0);
    keel_set_threads(0);
}

static void fill(float *x, int64_t n, unsigned seed) {
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)(seed >> 8) / (float)(1u << 24) * 2 - 1;
    }
}

Test(parallel, threaded_gemm_matches_reference) {
    /* shapes cut along N, along M and along K (small C, long inner dimension: partial
     * products summed), with sizes that leave ragged last blocks, and the training shapes of
     * the demo's Dense layer */
    const int64_t sizes[][3] = {{32, 128, 5408},  {5408, 128, 32}, {32, 5408, 128}, {37, 1000, 50},
                                {1000, 37, 50},   {61, 67, 300},   {6, 1000, 40},   {1000, 16, 40},
                                {128, 128, 5408}, {8, 16, 4001},   {3, 70, 3000}};
    const int ts[] = {2, 3, 5};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
        for (size_t th = 0; th < sizeof ts / sizeof *ts; th++)
            for (int t = 0; t < 4; t++) {
                keel_set_threads(ts[th]);
                int64_t M = sizes[s][0], N = sizes[s][1], K = sizes[s][2];
                bool ta = t & 1, tb = t & 2;
                float *A = malloc((size_t)(M * K) * 4), *B = malloc((size_t)(K * N) * 4),
                      *C1 = malloc((size_t)(M * N) * 4), *C2 = malloc((size_t)(M * N) * 4);
                fill(A, M * K, 1), fill(B, K * N, 2), fill(C1, M * N, 3);
                memcpy(C2, C1, (size_t)(M * N) * 4);
                keel_gemm(ta, tb, M, N, K, 0.5f, A, ta ? M : K, B, tb ? K : N, 0.25f, C1, N);
                keel_gemm_ref(ta, tb, M, N, K, 0.5f, A, ta ? M : K, B, tb ? K : N, 0.25f, C2, N);
                for (int64_t i = 0; i < M * N; i++)
                    cr_assert(fabsf(C1[i] - C2[i]) <= 1e-4f * (1 + fabsf(C2[i])) * sqrtf((float)K),
                              "gemm %lldx%lldx%lld threads=%d t=%d [%lld]: %g vs %g", (long long)M,
                              (long long)N, (long long)K, ts[th], t, (long long)i, C1[i], C2[i]);
                free(A), free(B), free(C1), free(C2);
            }
    keel_set_threads(0);
}

/* BatchNormalization's threaded statistics, normalization and gradients give what one thread
 * gives: a batch large enough to be cut (16 x 16 x 16 x 32 values), trained a few steps, then
 * every weight (gamma, beta, the moving statistics, the Dense after it) and a prediction
 * compared. (Not bit for bit: the threaded GEMM of the Dense layer sums in another order.) */
static keel_model *bn_model(void) {
    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_input(.shape = {16, 16, 32}));
    keel_add(m, keel_batch_normalization(.momentum = 0.5f));
    keel_add(m, keel_flatten());
    keel_add(m, keel_dense(.units = 3, .kernel_initializer = "glorot_uniform(seed=5)"));
    keel_compile(m, .optimizer = "sgd", .optimizer_opts = {.learning_rate = 0.01f}, .loss = "mse");
    return m;
}

Test(parallel, batch_normalization_threads_agree) {
    keel_tensor *x = keel_tensor_new(KEEL_SHAPE(16, 16, 16, 32)),
                *y = keel_tensor_new(KEEL_SHAPE(16, 3));
    fill(keel_tensor_data(x), keel_tensor_size(x), 7);
    for (int64_t i = 0; i < keel_tensor_size(x); i++)
        keel_tensor_data(x)[i] = keel_tensor_data(x)[i] * 3 + 1;
    fill(keel_tensor_data(y), keel_tensor_size(y), 8);
    keel_model *m[2];
    keel_tensor *p[2];
    for (int t = 0; t < 2; t++) {
        keel_set_threads(t + 1);
        m[t] = bn_model();
        for (int s = 0; s < 3; s++)
            cr_assert_eq(keel_train_on_batch(m[t], x, y, NULL, 0), KEEL_OK, "%s",
                         keel_last_error());
        p[t] = keel_predict(m[t], x, NULL);
        cr_assert_not_null(p[t]);
    }
    int64_t n;
    float *a = keel_model_weights(m[0], &n), *b = keel_model_weights(m[1], NULL);
    for (int64_t i = 0; i < n; i++)
        cr_assert(fabsf(a[i] - b[i]) <= 1e-3f * (1 + fabsf(a[i])),
                  "weight %lld: %g (1 thread) vs %g (2)", (long long)i, a[i], b[i]);
    for (int64_t i = 0; i < keel_tensor_size(p[0]); i++)
        cr_assert(fabsf(keel_tensor_data(p[0])[i] - keel_tensor_data(p[1])[i]) <= 1e-3f,
                  "prediction %lld", (long long)i);
    for (int t = 0; t < 2; t++)
        keel_model_free(m[t]), keel_tensor_free(p[t]);
    keel_tensor_free(x), keel_tensor_free(y);
    keel_set_threads(0);
}

/* A child forked after the pool started has none of its workers: its regions must still
 * complete and be right (it starts workers of its own; were it to wait for the parent's, only
 * the caller taking over their parts would save it). */
Test(parallel, pool_works_in_a_forked_child) {
    keel_set_threads(2);
    atomic_int hits[1000];
    memset(hits, 0, sizeof hits);
    count_job j = {hits, 0};
    keel_parallel_for(1000, 1 << 20, count_range, &j); /* the parent's workers exist now */
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        int bad = 0;
        for (int r = 0; r < 200; r++) {
            memset(hits, 0, sizeof hits);
            count_job k = {hits, 0};
            keel_parallel_for(1000, 1 << 20, count_range, &k);
            float A[64 * 64], B[64 * 64], C[64 * 64];
            for (int i = 0; i < 64 * 64; i++)
                A[i] = 1, B[i] = 2;
            keel_gemm(false, false, 64, 64, 64, 1, A, 64, B, 64, 0, C, 64);
            bad += C[0] != 128 || C[64 * 64 - 1] != 128;
            for (int i = 0; i < 1000; i++)
                bad += atomic_load(&hits[i]) != 1;
        }
        _exit(bad ? 1 : 0);
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "the child's regions were wrong or it died");
    keel_set_threads(0);
}

/* Dropout's mask is value i of a counter-based stream: the same whatever the thread count
 * (a batch of 32 x 4096 values is cut across threads; the Dense after it stays serial, so the
 * weights after a step must be bit-identical) */
Test(parallel, dropout_mask_independent_of_threads) {
    keel_tensor *x = keel_tensor_new(KEEL_SHAPE(32, 4096)), *y = keel_tensor_new(KEEL_SHAPE(32, 1));
    fill(keel_tensor_data(x), keel_tensor_size(x), 21);
    fill(keel_tensor_data(y), keel_tensor_size(y), 22);
    float *w[2];
    int64_t n = 0;
    keel_model *m[2];
    for (int t = 0; t < 2; t++) {
        keel_set_threads(t + 1);
        m[t] = keel_sequential(NULL);
        keel_add(m[t], keel_input(.shape = {4096}));
        keel_add(m[t], keel_dropout(.rate = 0.5f));
        keel_add(m[t], keel_dense(.units = 1));
        keel_compile(m[t], .optimizer = "sgd", .loss = "mse");
        for (int s = 0; s < 2; s++)
            cr_assert_eq(keel_train_on_batch(m[t], x, y, NULL, 0), KEEL_OK, "%s",
                         keel_last_error());
        w[t] = keel_model_weights(m[t], &n);
    }
    cr_expect_eq(memcmp(w[0], w[1], (size_t)n * sizeof(float)), 0,
                 "weights after dropout steps differ between 1 and 2 threads");
    keel_model_free(m[0]), keel_model_free(m[1]);
    keel_tensor_free(x), keel_tensor_free(y);
    keel_set_threads(0);
}
