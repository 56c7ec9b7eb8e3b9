/* core.h: what every keel source file shares: the tensor struct, error recording, the seeded
 * counter-based RNG, the name-with-arguments parser and small helpers. Internal; users see
 * only include/keel.h. */
#ifndef KEEL_CORE_H
#define KEEL_CORE_H

#include <keel.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define KEEL_MAX_LIST 8

struct keel_tensor {
    int rank;
    int64_t dims[KEEL_MAX_RANK];
    int64_t size;
    keel_dtype dtype;
    float *data;   /* KEEL_FLOAT32, else NULL */
    int32_t *ints; /* KEEL_INT32, else NULL */
    /* a list of tensors (a model's several inputs): rank 0, no data, dims[0] the first
     * member's sample count, members borrowed */
    int n_list;
    const keel_tensor *list[KEEL_MAX_LIST];
};

/* Element i of a float32 or int32 tensor, as a double. */
static inline double keel_tensor_at(const keel_tensor *t, int64_t i) {
    return t->dtype == KEEL_INT32 ? (double)t->ints[i] : (double)t->data[i];
}

/* The members of a list tensor into out (at most cap), or t itself; returns how many. */
int keel_tensor_unpack(const keel_tensor *t, const keel_tensor **out, int cap);

/* ---- errors: one thread-local line; a model keeps its first error as well. */

#define KEEL_ERR_CAP 512
/* Records a formatted message as this thread's last error and returns status. */
keel_status keel_error(keel_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The status of the last keel_error on this thread. */
keel_status keel_last_status(void);
/* Puts "<prefix>: " before the last error, keeping its status; returns that status. */
keel_status keel_error_prefix(const char *prefix);
/* The closest name in a NULL-terminated list (edit distance), or NULL if none is close. */
const char *keel_nearest_name(const char *name, const char *const *names);

/* Records a user error and returns it from the current function. */
#define KEEL_FAIL(status, ...) return keel_error((status), __VA_ARGS__)
/* A library invariant; a failure is a bug in keel, never the user's input. */
#define KEEL_ASSERT(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) keel_bug(__FILE__, __LINE__, #cond);                                          \
    } while (0)
_Noreturn void keel_bug(const char *file, int line, const char *what);
/* A warning (Keras's UserWarning): one line to the handler set by keel_set_warning_handler. */
void keel_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* *out = a * b when both are >= 0 and the product (times 4, for bytes) fits in int64_t. */
bool keel_mul_ok(int64_t a, int64_t b, int64_t *out);

/* ---- memory: every allocation keel makes goes through these (NULL-safe free). */
void *keel_alloc(size_t bytes); /* 64-byte aligned, zeroed; records KEEL_ERR_NOMEM */
void keel_free(void *p);
char *keel_strdup(const char *s);

/* ---- RNG: counter-based, so a value depends only on (seed, stream, index), never on thread
 * count or call order. */
static inline uint64_t keel_mix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}
/* The per-(seed, stream) part of keel_rand_u64, for loops that draw many values of one stream. */
static inline uint64_t keel_rand_base(uint64_t seed, uint64_t stream) {
    return keel_mix64(seed ^ keel_mix64(stream));
}
static inline uint64_t keel_rand_u64(uint64_t seed, uint64_t stream, uint64_t i) {
    return keel_mix64(keel_rand_base(seed, stream) + i);
}
/* Uniform in [0, 1) with 24 random bits: value i of the stream whose keel_rand_base is base. */
static inline float keel_rand_uniform_at(uint64_t base, uint64_t i) {
    return (float)(uint32_t)(keel_mix64(base + i) >> 40) * (1.0f / 16777216.0f);
}
static inline float keel_rand_uniform(uint64_t seed, uint64_t stream, uint64_t i) {
    return keel_rand_uniform_at(keel_rand_base(seed, stream), i);
}
/* A sequential generator for places that draw an unknown number of values (rejection). */
typedef struct keel_rng {
    uint64_t seed, stream, i;
} keel_rng;
double keel_rng_uniform(keel_rng *r); /* [0, 1) with 53 bits */
double keel_rng_normal(keel_rng *r);  /* standard normal (Box-Muller) */

/* ---- "name(arg, key=value)" strings: Keras names with arguments. */
#define KEEL_SPEC_MAX_ARGS 6
typedef struct keel_spec {
    char name[64];
    int n;
    char keys[KEEL_SPEC_MAX_ARGS][32]; /* "" for a positional argument */
    double vals[KEEL_SPEC_MAX_ARGS];
} keel_spec;
/* Parses s into spec. `what` names the argument in the error ("dense_1: kernel_initializer"). */
keel_status keel_spec_parse(const char *s, keel_spec *spec, const char *what);
/* The value of argument `key` (or positional argument `pos`, -1 for none), else dflt. */
double keel_spec_get(const keel_spec *spec, const char *key, int pos, double dflt);
/* Fails if the spec has an argument not in the NULL-terminated list of keys. */
keel_status keel_spec_check(const keel_spec *spec, const char *const *keys, const char *what);

/* ---- shapes */
int64_t keel_dims_prod(int rank, const int64_t *dims);
/* "(None, 28, 28)" for per-sample dims with a batch axis; returns buf. */
char *keel_dims_str(int rank, const int64_t *dims, bool batch, char *buf, size_t cap);
/* Counts the leading nonzero entries of an option array (the rank of a shape option). */
int keel_dims_rank(const int64_t *dims);

/* ---- runtime */
void keel_runtime_init(void);
int keel_threads(void);

/* A hot loop outside src/kernels (pooling, batch normalization): gcc compiles it for AVX-512,
 * AVX2+FMA and plain x86-64, and the loader picks the copy for the CPU (target_clones). The
 * kernels under src/kernels have their own copies instead (kernels/simd.h), which KEEL_ISA
 * can lower; these follow the CPU. Nothing when the whole build already has AVX2. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 &&           \
    !defined(__AVX2__)
#define KEEL_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define KEEL_CLONES
#endif

#define KEEL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define KEEL_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
