/* test_noalloc.c: a training step makes no heap allocation. The test binary interposes the
 * allocator (its malloc family overrides libc's for every library, BLIS and keel's
 * thread pool included) and counts calls while train_on_batch / fit run after a warm-up. Under
 * AddressSanitizer, which owns the allocator, the count is not possible and the test skips.
 *
 * Calls made from inside BLIS are counted apart: BLIS keeps its control blocks in a pool that
 * grows when more GEMMs run at once than before, which with keel's threads depends on timing:
 * on a quiet machine once, in the first steps; with other processes busy on the same cores,
 * again and again (23 mallocs in 20 steps seen with a load average of 4, on the code before
 * and after the composition redesign alike). So keel's own count must be 0 on every thread
 * count, and BLIS's must be 0 on one thread, where no two GEMMs ever overlap; on two it is
 * printed. */
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
    keel_compile(m, .optimizer = "adam", .optimizer_opts = {.clipnorm = 1.0f},
                 .loss = "sparse_categorical_crossentropy", .metrics = {"accuracy"});
    return m;
}

static void data(keel_tensor **x, keel_tensor **y, int64_t n) {
    *x = keel_tensor_new(KEEL_SHAPE(n, 28, 28));
    *y = keel_tensor_new(KEEL_SHAPE(n));
    for (int64_t i = 0; i < n * 784; i++)
        keel_tensor_data(*x)[i] = (float)((i * 31) % 255) / 255.0f;
    for (int64_t i = 0; i < n; i++)
        keel_tensor_data(*y)[i] = (float)(i % 10);
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
    for (int i = 0; i < 3; i++)
        cr_assert_eq(keel_train_on_batch(m, x, y, r, 2), KEEL_OK);
    long before = atomic_load(&n_alloc), blis0 = atomic_load(&n_blis);
    for (int i = 0; i < 20; i++)
        keel_train_on_batch(m, x, y, r, 2);
    long steps = atomic_load(&n_alloc) - before, blis = atomic_load(&n_blis) - blis0;
    cr_expect_eq(steps, 0, "20 training steps made %ld heap allocations", steps);
    cr_log_info("BLIS allocated %ld times in 20 steps on %d threads", blis, keel_get_threads());
    keel_set_threads(1);
    for (int i = 0; i < 3; i++)
        keel_train_on_batch(m, x, y, r, 2);
    blis0 = atomic_load(&n_blis), before = atomic_load(&n_alloc);
    for (int i = 0; i < 20; i++)
        keel_train_on_batch(m, x, y, r, 2);
    cr_expect_eq(atomic_load(&n_alloc) - before, 0, "one thread: keel allocated");
    cr_expect_eq(atomic_load(&n_blis) - blis0, 0,
                 "one thread: BLIS allocated %ld times in 20 steps", atomic_load(&n_blis) - blis0);
    keel_set_threads(0);
    keel_model_free(m);
    keel_tensor_free(x), keel_tensor_free(y);
#endif
}

Test(noalloc, predict_into_one_sample) {
#ifdef KEEL_ASAN
    cr_skip_test("AddressSanitizer owns the allocator");
#else
    keel_tensor *x, *y;
    data(&x, &y, 1);
    keel_model *m = mlp();
    keel_tensor *out = keel_tensor_new(KEEL_SHAPE(1, 10));
    cr_assert_eq(keel_predict_into(m, x, out), KEEL_OK, "%s", keel_last_error());
    long before = atomic_load(&n_alloc) + atomic_load(&n_blis);
    for (int i = 0; i < 50; i++)
        keel_predict_into(m, x, out);
    long calls = atomic_load(&n_alloc) + atomic_load(&n_blis) - before;
    cr_expect_eq(calls, 0, "50 one-sample predictions made %ld heap allocations", calls);
    keel_tensor_free(out);
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
    cr_expect_eq(long_run, short_run, "fit allocated %ld times for 20 steps, %ld for 40", short_run,
                 long_run);
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
    keel_tensor *x = keel_tensor_new(KEEL_SHAPE(32, 28, 28, 1)),
                *y = keel_tensor_new(KEEL_SHAPE(32));
    for (int64_t i = 0; i < 32 * 784; i++)
        keel_tensor_data(x)[i] = (float)((i * 17) % 255) / 255.0f;
    for (int64_t i = 0; i < 32; i++)
        keel_tensor_data(y)[i] = (float)(i % 10);
    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_conv2d(.filters = 16, .kernel_size = {3}, .padding = "same",
                            .activation = "relu", .input_shape = {28, 28, 1}));
    keel_add(m, keel_batch_normalization());
    keel_add(m, keel_max_pooling2d());
    keel_add(m, keel_zero_padding2d());
    keel_add(m, keel_conv2d(.filters = 8, .kernel_size = {3}, .strides = {2}));
    keel_add(m, keel_average_pooling2d());
    keel_add(m, keel_global_max_pooling2d());
    keel_add(m, keel_dropout(.rate = 0.3f));
    keel_add(m, keel_dense(.units = 10, .activation = "softmax"));
    keel_compile(m, .optimizer = "rmsprop", .loss = "sparse_categorical_crossentropy",
                 .metrics = {"accuracy"});
    double r[2];
    for (int i = 0; i < 3; i++)
        cr_assert_eq(keel_train_on_batch(m, x, y, r, 2), KEEL_OK, "%s", keel_last_error());
    long before = atomic_load(&n_alloc), blis0 = atomic_load(&n_blis);
    for (int i = 0; i < 10; i++)
        keel_train_on_batch(m, x, y, r, 2);
    long steps = atomic_load(&n_alloc) - before, blis = atomic_load(&n_blis) - blis0;
    cr_expect_eq(steps, 0, "10 CNN training steps made %ld heap allocations", steps);
    cr_log_info("BLIS allocated %ld times in 10 steps on %d threads", blis, keel_get_threads());
    keel_set_threads(1);
    for (int i = 0; i < 3; i++)
        keel_train_on_batch(m, x, y, r, 2);
    blis0 = atomic_load(&n_blis), before = atomic_load(&n_alloc);
    for (int i = 0; i < 10; i++)
        keel_train_on_batch(m, x, y, r, 2);
    cr_expect_eq(atomic_load(&n_alloc) - before, 0, "one thread: keel allocated");
    cr_expect_eq(atomic_load(&n_blis) - blis0, 0,
                 "one thread: BLIS allocated %ld times in 10 steps", atomic_load(&n_blis) - blis0);
    keel_set_threads(0);
    keel_model_free(m);
    keel_tensor_free(x), keel_tensor_free(y);
#endif
}
