/* test_noalloc.c: a training step makes no heap allocation. The test binary interposes the
 * allocator (its malloc family overrides libc's for every library, BLIS and keel's
 * thread pool included) and counts calls while train_on_batch / fit run after a warm-up. Under
 * AddressSanitizer, which owns the allocator, the count is not possible and the test skips.
 *
 * Calls made from inside BLIS are counted apart: BLIS keeps its control blocks and its packing
 * buffers for A and B in three pools, each of which grows the first time more GEMMs need it at
 * once than ever before, at a step that depends on timing (measured: anywhere in the first 5
 * steps, in 1 run of 6; 5 mallocs on the zen3 sub-configuration, 23 on skx, which packs every
 * operand; two steps in 1 run of about 50 on penryn). keel's own count must be 0; BLIS may
 * allocate in three steps at most, one growth per pool. */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <keel.h>
#include <stdatomic.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define KEEL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KEEL_ASAN 1
#endif
#endif

#ifndef KEEL_ASAN
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
static atomic_long n_alloc, n_blis;
static _Thread_local int in_count;
/* count a call made from code at address ret */
static void count(void *ret) {
    Dl_info info;
    bool blis = false;
    if (!in_count) {
        in_count = 1;
        blis = dladdr(ret, &info) && info.dli_fname && strstr(info.dli_fname, "libblis");
        in_count = 0;
    }
    atomic_fetch_add(blis ? &n_blis : &n_alloc, 1);
}
void *malloc(size_t n) {
    count(__builtin_return_address(0));
    return __libc_malloc(n);
}
void *calloc(size_t a, size_t b) {
    count(__builtin_return_address(0));
    return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n) {
    count(__builtin_return_address(0));
    return __libc_realloc(p, n);
}
void *aligned_alloc(size_t a, size_t n) {
    count(__builtin_return_address(0));
    return __libc_memalign(a, n);
}
void *memalign(size_t a, size_t n) {
    count(__builtin_return_address(0));
    return __libc_memalign(a, n);
}
int posix_memalign(void **p, size_t a, size_t n) {
    count(__builtin_return_address(0));
    *p = __libc_memalign(a, n);
    return *p ? 0 : 12;
}
#endif

#ifndef KEEL_ASAN
static keel_model *mlp(void) {
    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_flatten(.input_shape = {28, 28}));
    keel_add(m, keel_dense(.units = 128, .activation = "relu"));
    keel_add(m, keel_dropout(.rate = 0.2f));
    keel_add(m, keel_dense(.units = 10, .activation = "softmax"));
    keel_compile(m, .optimizer = "adam", .optimizer_opts = {.clipnorm = 1.0f}, .loss = "sparse_categorical_crossentropy",
                 .metrics = {"accuracy"});
    return m;
}

/* Runs n training steps; returns in how many of them BLIS allocated. */
static int blis_steps(keel_model *m, const keel_tensor *x, const keel_tensor *y, int n) {
    int grew = 0;
    double r[2];
    for (int i = 0; i < n; i++) {
        long b0 = atomic_load(&n_blis);
        keel_train_on_batch(m, x, y, r, 2);
        grew += atomic_load(&n_blis) != b0;
    }
    return grew;
}

static void data(keel_tensor **x, keel_tensor **y, int64_t n) {
    *x = keel_tensor_new(KEEL_SHAPE(n, 28, 28));
    *y = keel_tensor_new(KEEL_SHAPE(n));
    for (int64_t i = 0; i < n * 784; i++) keel_tensor_data(*x)[i] = (float)((i * 31) % 255) / 255.0f;
    for (int64_t i = 0; i < n; i++) keel_tensor_data(*y)[i] = (float)(i % 10);
}
#endif

Test(noalloc, train_on_batch_after_warm_up) {
#ifdef KEEL_ASAN
    cr_skip_test("AddressSanitizer owns the allocator");
#else
    keel_tensor *x, *y;
    data(&x, &y, 32);
    keel_model *m = mlp();
    double r[2];
    for (int i = 0; i < 3; i++) cr_assert_eq(keel_train_on_batch(m, x, y, r, 2), KEEL_OK);
    long before = atomic_load(&n_alloc);
    int blis = blis_steps(m, x, y, 20);
    long steps = atomic_load(&n_alloc) - before;
    cr_expect_eq(steps, 0, "20 training steps made %ld heap allocations", steps);
    cr_expect_leq(blis, 3, "BLIS allocated in %d of 20 steps: more than one growth per pool", blis);
    keel_model_free(m);
    keel_tensor_free(x), keel_tensor_free(y);
#endif
}

Test(noalloc, fit_allocations_do_not_grow_with_steps) {
#ifdef KEEL_ASAN
    cr_skip_test("AddressSanitizer owns the allocator");
#else
    keel_tensor *x, *y;
    data(&x, &y, 1280);
    keel_tensor *xs = keel_tensor_slice(x, 0, 640), *ys = keel_tensor_slice(y, 0, 640);
    keel_model *m = mlp();
    keel_fit(m, x, y, .epochs = 1, .verbose = 0); /* warm-up */
    long a0 = atomic_load(&n_alloc);
    keel_fit(m, xs, ys, .epochs = 1, .verbose = 0);
    long short_run = atomic_load(&n_alloc) - a0;
    a0 = atomic_load(&n_alloc);
    keel_fit(m, x, y, .epochs = 1, .verbose = 0);
    long long_run = atomic_load(&n_alloc) - a0;
    /* 20 vs 40 steps: fit's set-up (shuffle order, history) allocates, steps do not */
    cr_expect_eq(long_run, short_run, "fit allocated %ld times for 20 steps, %ld for 40", short_run, long_run);
    cr_expect_leq(long_run, 4);
    keel_tensor_free(xs), keel_tensor_free(ys);
    keel_model_free(m);
    keel_tensor_free(x), keel_tensor_free(y);
#endif
}

Test(noalloc, cnn_training_step) {
#ifdef KEEL_ASAN
    cr_skip_test("AddressSanitizer owns the allocator");
#else
    keel_tensor *x = keel_tensor_new(KEEL_SHAPE(32, 28, 28, 1)), *y = keel_tensor_new(KEEL_SHAPE(32));
    for (int64_t i = 0; i < 32 * 784; i++) keel_tensor_data(x)[i] = (float)((i * 17) % 255) / 255.0f;
    for (int64_t i = 0; i < 32; i++) keel_tensor_data(y)[i] = (float)(i % 10);
    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_conv2d(.filters = 16, .kernel_size = {3}, .padding = "same", .activation = "relu",
                            .input_shape = {28, 28, 1}));
    keel_add(m, keel_batch_normalization());
    keel_add(m, keel_max_pooling2d());
    keel_add(m, keel_zero_padding2d());
    keel_add(m, keel_conv2d(.filters = 8, .kernel_size = {3}, .strides = {2}));
    keel_add(m, keel_average_pooling2d());
    keel_add(m, keel_global_max_pooling2d());
    keel_add(m, keel_dropout(.rate = 0.3f));
    keel_add(m, keel_dense(.units = 10, .activation = "softmax"));
    keel_compile(m, .optimizer = "rmsprop", .loss = "sparse_categorical_crossentropy", .metrics = {"accuracy"});
    double r[2];
    for (int i = 0; i < 3; i++) cr_assert_eq(keel_train_on_batch(m, x, y, r, 2), KEEL_OK, "%s", keel_last_error());
    long before = atomic_load(&n_alloc);
    int blis = blis_steps(m, x, y, 10);
    long steps = atomic_load(&n_alloc) - before;
    cr_expect_eq(steps, 0, "10 CNN training steps made %ld heap allocations", steps);
    cr_expect_leq(blis, 3, "BLIS allocated in %d of 10 steps: more than one growth per pool", blis);
    keel_model_free(m);
    keel_tensor_free(x), keel_tensor_free(y);
#endif
}
