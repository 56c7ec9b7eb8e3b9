/* cpu.h: what this x86-64 CPU can run, and the two choices keel makes from it at run time:
 * the BLIS sub-configuration its GEMM runs on, and which copy of keel's own hot loops runs
 * (baseline x86-64, AVX2+FMA or AVX-512; see simd.h). Both choices are pure functions of a
 * keel_cpu, so the tests check them on made-up CPUs; runtime.c applies them once. */
#ifndef KEEL_CPU_H
#define KEEL_CPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum keel_cpu_vendor { KEEL_CPU_OTHER, KEEL_CPU_INTEL, KEEL_CPU_AMD } keel_cpu_vendor;

/* Feature bits of keel_cpu.flags; an AVX feature counts only if the OS saves its registers. */
enum {
    KEEL_CPU_SSE3 = 1u << 0,
    KEEL_CPU_SSSE3 = 1u << 1,
    KEEL_CPU_SSE41 = 1u << 2,
    KEEL_CPU_SSE42 = 1u << 3,
    KEEL_CPU_POPCNT = 1u << 4,
    KEEL_CPU_AVX = 1u << 5,
    KEEL_CPU_FMA = 1u << 6,
    KEEL_CPU_FMA4 = 1u << 7,
    KEEL_CPU_AVX2 = 1u << 8,
    KEEL_CPU_BMI1 = 1u << 9,
    KEEL_CPU_BMI2 = 1u << 10,
    KEEL_CPU_F16C = 1u << 11,
    KEEL_CPU_MOVBE = 1u << 12,
    KEEL_CPU_LZCNT = 1u << 13,
    KEEL_CPU_AVX512F = 1u << 14,
    KEEL_CPU_AVX512DQ = 1u << 15,
    KEEL_CPU_AVX512BW = 1u << 16,
    KEEL_CPU_AVX512VL = 1u << 17,
    KEEL_CPU_AVX512CD = 1u << 18,
    KEEL_CPU_AVX512PF = 1u << 19, /* Xeon Phi only */
    KEEL_CPU_FLAG_COUNT = 20
};

typedef struct keel_cpu {
    keel_cpu_vendor vendor;
    int family, model; /* display family and model, extended fields folded in */
    uint32_t flags;
} keel_cpu;

/* The raw words keel_cpu_decode reads, so that the tests can fake any CPU. */
typedef struct keel_cpuid_regs {
    uint32_t leaf0[4], leaf1[4], leaf7[4], ext1[4]; /* eax, ebx, ecx, edx of each leaf */
    uint64_t xcr0; /* the OS-enabled register state (xgetbv 0); 0 without OSXSAVE */
} keel_cpuid_regs;

/* Fills c from CPUID words: vendor, family, model, flags; AVX features whose register state
 * the OS does not save (xcr0) are dropped, as running them would fault. */
void keel_cpu_decode(const keel_cpuid_regs *r, keel_cpu *c);
/* This CPU (cpuid and xgetbv; a non-x86 build reports no features). */
void keel_cpu_detect(keel_cpu *c);
/* "avx2 fma avx512f ..." for flags, in feature-bit order, into buf; returns buf. */
char *keel_cpu_flags_str(uint32_t flags, char *buf, size_t cap);

/* ---- keel's own hot loops: one copy per instruction-set level (simd.h). */
typedef enum keel_isa {
    KEEL_ISA_BASE,   /* x86-64: SSE2 */
    KEEL_ISA_AVX2,   /* x86-64-v3: AVX2, FMA, BMI1/2, F16C, MOVBE, LZCNT */
    KEEL_ISA_AVX512, /* x86-64-v4: the above and AVX-512 F, DQ, BW, VL, CD */
    KEEL_ISA_COUNT
} keel_isa;
/* The highest level whose every feature this CPU has. */
keel_isa keel_isa_for(const keel_cpu *c);
const char *keel_isa_name(keel_isa i); /* "baseline", "avx2", "avx512" */
/* A level named by KEEL_ISA ("baseline", "avx2", "avx512"), or -1. */
int keel_isa_parse(const char *s);
/* The flags of c without those above level `cap`, so that every choice made from the result
 * (BLIS's included) is what a CPU with at most that level would get. */
uint32_t keel_cpu_cap_flags(const keel_cpu *c, keel_isa cap);

/* ---- BLIS sub-configurations for x86-64 (BLIS 0.9's names) */
typedef enum keel_blis_arch {
    KEEL_BLIS_SKX,
    KEEL_BLIS_KNL,
    KEEL_BLIS_HASWELL,
    KEEL_BLIS_SANDYBRIDGE,
    KEEL_BLIS_PENRYN,
    KEEL_BLIS_ZEN3,
    KEEL_BLIS_ZEN2,
    KEEL_BLIS_ZEN,
    KEEL_BLIS_EXCAVATOR,
    KEEL_BLIS_STEAMROLLER,
    KEEL_BLIS_PILEDRIVER,
    KEEL_BLIS_BULLDOZER,
    KEEL_BLIS_GENERIC,
    KEEL_BLIS_ARCH_COUNT
} keel_blis_arch;
#define KEEL_BLIS_ALL ((1u << KEEL_BLIS_ARCH_COUNT) - 1)

const char *keel_blis_arch_name(keel_blis_arch a); /* "skx" */
/* The sub-configuration of that name, or -1. */
int keel_blis_arch_parse(const char *s);
/* The features the sub-configuration's kernels use, as keel_cpu flags. */
uint32_t keel_blis_arch_needs(keel_blis_arch a);
/* keel's rule: the fastest sub-configuration among `available` (a bit per keel_blis_arch)
 * that c can run, decided by features (vendor and family only among the AVX2 ones). */
keel_blis_arch keel_blis_arch_for(const keel_cpu *c, uint32_t available);

/* The sub-configuration to use, given keel's rule and the user's override: `keel_env` is
 * KEEL_BLIS_ARCH and `blis_env` BLIS_ARCH_TYPE as a name (NULL when unset; the caller turns
 * BLIS 0.9's numbers into names). An override that is unknown, not in `available` or not
 * runnable on c is ignored; `note` then says why, else says who chose and from what. */
keel_blis_arch keel_blis_arch_choose(const keel_cpu *c, uint32_t available, const char *keel_env,
                                     const char *blis_env, char *note, size_t cap);

/* The level keel's kernels run at in this process: keel_isa_for this CPU, lowered by KEEL_ISA
 * when set (runtime.c). */
keel_isa keel_runtime_isa(void);
/* Switches keel's kernels to another level (at most this CPU's), for the tests that compare
 * the copies; returns the previous one. Not for use while kernels run. */
keel_isa keel_runtime_use_isa(keel_isa level);

#endif
