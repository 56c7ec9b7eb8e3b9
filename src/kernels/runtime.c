/* runtime.c: threads, the CPU's features and the GEMM library's set-up, once per process.
 *
 * keel runs everything, BLIS's serial GEMM included, on its own pool (parallel.c), so there is
 * never a second busy-waiting pool fighting for the cores. The default thread count is the
 * number of CPUs this process may run on (OMP_NUM_THREADS, when set, is honoured as PyTorch and
 * NumPy's BLAS do).
 *
 * BLIS's sub-configuration is chosen by keel (cpu.c says why and by what rule) and handed to
 * BLIS the one way BLIS 0.9 takes it: its BLIS_ARCH_TYPE variable, a number, read once when
 * BLIS first asks which sub-configuration to use. That read aborts the process unless BLIS's
 * table of contexts is already set up ("Accessed uninitialized context in gks"): keel used to
 * ask bli_arch_query_id() before anything had set BLIS up, so any BLIS_ARCH_TYPE killed it.
 * Now keel sets the variable to its choice, calls bli_init() (which sets up the table, then
 * asks), and puts the user's value back. The user's override (KEEL_BLIS_ARCH, or BLIS_ARCH_TYPE
 * as a BLIS 0.9 number or a name) is checked first, so a bad one is reported in
 * keel_gemm_backend() and ignored, never passed to BLIS. */
#include "../core.h"
#include "simd.h"

#include <blis.h>
#include <ctype.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static atomic_int n_threads; /* read by every kernel, set by keel_set_threads from any thread */
static pthread_once_t once = PTHREAD_ONCE_INIT;
static char backend[320];
static atomic_int isa; /* the level keel_simd_get serves; tests may lower it */

static int default_threads(void) {
    const char *e = getenv("OMP_NUM_THREADS");
    if (e) {
        char *end;
        long v = strtol(e, &end, 10);
        if (end != e && v >= 1 && v <= 256) return (int)v;
    }
    cpu_set_t set;
    int n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set)
                                                        : (int)sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 256 ? 256 : n;
}

/* The sub-configurations this BLIS was built with (Debian's: every x86-64 one). */
static uint32_t blis_available(void) {
    uint32_t m = 1u << KEEL_BLIS_GENERIC;
#ifdef BLIS_CONFIG_SKX
    m |= 1u << KEEL_BLIS_SKX;
#endif
#ifdef BLIS_CONFIG_KNL
    m |= 1u << KEEL_BLIS_KNL;
#endif
#ifdef BLIS_CONFIG_HASWELL
    m |= 1u << KEEL_BLIS_HASWELL;
#endif
#ifdef BLIS_CONFIG_SANDYBRIDGE
    m |= 1u << KEEL_BLIS_SANDYBRIDGE;
#endif
#ifdef BLIS_CONFIG_PENRYN
    m |= 1u << KEEL_BLIS_PENRYN;
#endif
#ifdef BLIS_CONFIG_ZEN3
    m |= 1u << KEEL_BLIS_ZEN3;
#endif
#ifdef BLIS_CONFIG_ZEN2
    m |= 1u << KEEL_BLIS_ZEN2;
#endif
#ifdef BLIS_CONFIG_ZEN
    m |= 1u << KEEL_BLIS_ZEN;
#endif
#ifdef BLIS_CONFIG_EXCAVATOR
    m |= 1u << KEEL_BLIS_EXCAVATOR;
#endif
#ifdef BLIS_CONFIG_STEAMROLLER
    m |= 1u << KEEL_BLIS_STEAMROLLER;
#endif
#ifdef BLIS_CONFIG_PILEDRIVER
    m |= 1u << KEEL_BLIS_PILEDRIVER;
#endif
#ifdef BLIS_CONFIG_BULLDOZER
    m |= 1u << KEEL_BLIS_BULLDOZER;
#endif
    return m;
}

/* BLIS_ARCH_TYPE as a name: BLIS 0.9 reads a number (its arch_t), later BLIS a name; both
 * are accepted. A number out of range stays as it is, to be reported as unknown. */
static const char *blis_env_name(const char *v) {
    if (!v || !*v) return NULL;
    for (const char *p = v; *p; p++)
        if (!isdigit((unsigned char)*p)) return v;
    long id = strtol(v, NULL, 10);
    return id < BLIS_NUM_ARCHS ? bli_arch_string((arch_t)id) : v;
}

/* BLIS's number for a sub-configuration keel names, or -1. */
static int blis_id(keel_blis_arch a) {
    for (int id = 0; id < BLIS_NUM_ARCHS; id++)
        if (!strcmp(bli_arch_string((arch_t)id), keel_blis_arch_name(a))) return id;
    return -1;
}

/* Sets BLIS up on sub-configuration a; returns the one BLIS runs (a, unless BLIS was set up
 * before keel, by the program itself). The environment is put back as it was. setenv is not
 * safe against a getenv running at the same moment in another thread; this runs once, at
 * keel's first call, which in practice is before the program starts threads of its own. */
static arch_t blis_setup(keel_blis_arch a) {
    const char *old = getenv("BLIS_ARCH_TYPE");
    char *saved = old ? strdup(old) : NULL;
    char num[16];
    snprintf(num, sizeof num, "%d", blis_id(a));
    if (blis_id(a) >= 0)
        setenv("BLIS_ARCH_TYPE", num, 1);
    else
        unsetenv("BLIS_ARCH_TYPE"); /* not expected: keel only chooses what BLIS has */
    bli_init();
    arch_t got = bli_arch_query_id();
    if (saved)
        setenv("BLIS_ARCH_TYPE", saved, 1);
    else
        unsetenv("BLIS_ARCH_TYPE");
    free(saved);
    return got;
}

static void init_once(void) {
    n_threads = default_threads();
    keel_cpu cpu;
    keel_cpu_detect(&cpu);
    /* KEEL_ISA lowers the level keel acts on (its kernels and the BLIS rule alike) */
    char isa_note[96] = "";
    keel_isa level = keel_isa_for(&cpu);
    const char *e = getenv("KEEL_ISA");
    if (e) {
        int want = keel_isa_parse(e);
        if (want >= 0 && want <= (int)level)
            level = (keel_isa)want;
        else
            snprintf(isa_note, sizeof isa_note, "; KEEL_ISA=%s ignored: %s", e,
                     want < 0 ? "not baseline, avx2 or avx512" : "above this CPU");
        cpu.flags = keel_cpu_cap_flags(&cpu, level);
    }
    isa = level;
    /* the sub-configuration: keel's rule on the (capped) features, or the user's valid
     * override; then BLIS is set up on it and asked what it runs */
    char note[224];
    keel_blis_arch a =
        keel_blis_arch_choose(&cpu, blis_available(), getenv("KEEL_BLIS_ARCH"),
                              blis_env_name(getenv("BLIS_ARCH_TYPE")), note, sizeof note);
    arch_t got = blis_setup(a);
    /* a program that set BLIS up itself before calling keel keeps what BLIS chose then */
    if ((int)got != blis_id(a))
        snprintf(note, sizeof note, "set up before keel: %s not applied", keel_blis_arch_name(a));
    snprintf(backend, sizeof backend, "blis %s (%s, %s), kernels %s%s", bli_info_get_version_str(),
             bli_arch_string(got), note, keel_isa_name(level), isa_note);
}

void keel_runtime_init(void) {
    pthread_once(&once, init_once);
}

void keel_set_threads(int n) {
    keel_runtime_init();
    if (n <= 0) n = default_threads();
    n_threads = n > 256 ? 256 : n;
}

int keel_get_threads(void) {
    keel_runtime_init();
    return n_threads;
}

int keel_threads(void) {
    return keel_get_threads();
}

const char *keel_gemm_backend(void) {
    keel_runtime_init();
    return backend;
}

keel_isa keel_runtime_isa(void) {
    keel_runtime_init();
    return (keel_isa)atomic_load_explicit(&isa, memory_order_relaxed);
}

/* The copies of the hot loops (simd.h); a build for another architecture has the plain one. */
#ifdef KEEL_SIMD_BASE_ONLY
static const keel_simd *const copies[KEEL_ISA_COUNT] = {&keel_simd_base, &keel_simd_base,
                                                        &keel_simd_base};
#else
static const keel_simd *const copies[KEEL_ISA_COUNT] = {&keel_simd_base, &keel_simd_avx2,
                                                        &keel_simd_avx512};
#endif

const keel_simd *keel_simd_get(void) {
    return copies[keel_runtime_isa()];
}

keel_isa keel_runtime_use_isa(keel_isa level) {
    keel_runtime_init();
    keel_cpu cpu;
    keel_cpu_detect(&cpu);
    keel_isa top = keel_isa_for(&cpu);
    return (keel_isa)atomic_exchange(&isa, level < 0 ? 0 : level > top ? top : level);
}
