/* cpu.c: CPUID decoding and the choices made from it (see cpu.h).
 *
 * Why keel chooses BLIS's sub-configuration itself: BLIS 0.9 takes skx only when it can count
 * two FMA units from the Intel model number, so an AVX-512 Xeon in a VM (model unknown to it)
 * gets haswell, and it knows AMD only up to family 0x19, so a Zen 5 (family 0x1a) gets the
 * generic C kernels. Measured on this machine (AMD EPYC family 0x1a, KVM), one thread, 512^3
 * SGEMM: generic 34 GFLOP/s, zen3 112, haswell 107, skx 207. So the rule goes by features:
 * AVX-512 (F, DQ, BW, VL) takes skx whatever the vendor; vendor and family only pick among
 * the AVX2 sub-configurations, which differ in cache blocking, not in instructions. */
#include "cpu.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

/* ---- decoding */

static bool bit(uint32_t word, int b) {
    return (word >> b) & 1u;
}

void keel_cpu_decode(const keel_cpuid_regs *r, keel_cpu *c) {
    memset(c, 0, sizeof *c);
    /* the vendor string is ebx, edx, ecx of leaf 0 */
    char v[13];
    memcpy(v, &r->leaf0[1], 4), memcpy(v + 4, &r->leaf0[3], 4), memcpy(v + 8, &r->leaf0[2], 4);
    v[12] = 0;
    if (!strcmp(v, "GenuineIntel")) c->vendor = KEEL_CPU_INTEL;
    /* Hygon's Dhyana is AMD's Zen under licence: family 0x18, the same kernels */
    else if (!strcmp(v, "AuthenticAMD") || !strcmp(v, "HygonGenuine"))
        c->vendor = KEEL_CPU_AMD;
    const uint32_t max_leaf = r->leaf0[0], a1 = r->leaf1[0];
    if (max_leaf < 1) return;
    /* display family and model: the extended fields count only where Intel and AMD say */
    int family = (int)((a1 >> 8) & 0xf), model = (int)((a1 >> 4) & 0xf);
    if (family == 0xf) family += (int)((a1 >> 20) & 0xff);
    if (family == 0x6 || family >= 0xf) model |= (int)((a1 >> 16) & 0xf) << 4;
    c->family = family, c->model = model;

    /* feature bits: leaf 1 ecx, leaf 7 (sub-leaf 0) ebx, leaf 0x80000001 ecx (Intel SDM vol. 2
     * "CPUID", AMD APM vol. 3 appendix E); leaf 7 reads as zeros past the highest leaf */
    const uint32_t ecx1 = r->leaf1[2], ebx7 = max_leaf >= 7 ? r->leaf7[1] : 0, ecx_x1 = r->ext1[2];
    uint32_t f = 0;
    f |= bit(ecx1, 0) ? KEEL_CPU_SSE3 : 0;
    f |= bit(ecx1, 9) ? KEEL_CPU_SSSE3 : 0;
    f |= bit(ecx1, 19) ? KEEL_CPU_SSE41 : 0;
    f |= bit(ecx1, 20) ? KEEL_CPU_SSE42 : 0;
    f |= bit(ecx1, 22) ? KEEL_CPU_MOVBE : 0;
    f |= bit(ecx1, 23) ? KEEL_CPU_POPCNT : 0;
    f |= bit(ebx7, 3) ? KEEL_CPU_BMI1 : 0;
    f |= bit(ebx7, 8) ? KEEL_CPU_BMI2 : 0;
    f |= bit(ecx_x1, 5) ? KEEL_CPU_LZCNT : 0;
    /* the AVX family needs the OS to save the ymm (xcr0 bits 1, 2) and, for AVX-512, the
     * opmask and zmm state (bits 5, 6, 7) on a context switch, else its instructions fault */
    const bool ymm = bit(ecx1, 27) && (r->xcr0 & 0x6) == 0x6;
    const bool zmm = ymm && (r->xcr0 & 0xe0) == 0xe0;
    if (ymm) {
        f |= bit(ecx1, 28) ? KEEL_CPU_AVX : 0;
        f |= bit(ecx1, 12) ? KEEL_CPU_FMA : 0;
        f |= bit(ecx1, 29) ? KEEL_CPU_F16C : 0;
        f |= bit(ecx_x1, 16) ? KEEL_CPU_FMA4 : 0;
        f |= bit(ebx7, 5) ? KEEL_CPU_AVX2 : 0;
    }
    if (zmm) {
        f |= bit(ebx7, 16) ? KEEL_CPU_AVX512F : 0;
        f |= bit(ebx7, 17) ? KEEL_CPU_AVX512DQ : 0;
        f |= bit(ebx7, 26) ? KEEL_CPU_AVX512PF : 0;
        f |= bit(ebx7, 28) ? KEEL_CPU_AVX512CD : 0;
        f |= bit(ebx7, 30) ? KEEL_CPU_AVX512BW : 0;
        f |= bit(ebx7, 31) ? KEEL_CPU_AVX512VL : 0;
    }
    c->flags = f;
}

void keel_cpu_detect(keel_cpu *c) {
    keel_cpuid_regs r;
    memset(&r, 0, sizeof r);
#if defined(__x86_64__) || defined(__i386__)
    unsigned *l0 = (unsigned *)r.leaf0, *l1 = (unsigned *)r.leaf1, *l7 = (unsigned *)r.leaf7;
    unsigned *x1 = (unsigned *)r.ext1, ext_max = __get_cpuid_max(0x80000000u, NULL);
    __get_cpuid(0, &l0[0], &l0[1], &l0[2], &l0[3]);
    __get_cpuid(1, &l1[0], &l1[1], &l1[2], &l1[3]);
    __get_cpuid_count(7, 0, &l7[0], &l7[1], &l7[2], &l7[3]); /* zeros when leaf 7 is absent */
    if (ext_max >= 0x80000001u) __get_cpuid(0x80000001u, &x1[0], &x1[1], &x1[2], &x1[3]);
    if (bit(r.leaf1[2], 27)) { /* OSXSAVE: xgetbv is allowed (as bytes: no -mxsave needed) */
        uint32_t lo, hi;
        __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));
        r.xcr0 = (uint64_t)hi << 32 | lo;
    }
#endif
    keel_cpu_decode(&r, c);
}

static const char *const flag_names[KEEL_CPU_FLAG_COUNT] = {
    "sse3",    "ssse3",    "sse4.1",   "sse4.2",   "popcnt",   "avx",     "fma",
    "fma4",    "avx2",     "bmi1",     "bmi2",     "f16c",     "movbe",   "lzcnt",
    "avx512f", "avx512dq", "avx512bw", "avx512vl", "avx512cd", "avx512pf"};

char *keel_cpu_flags_str(uint32_t flags, char *buf, size_t cap) {
    size_t n = 0;
    if (cap) buf[0] = 0;
    for (int i = 0; i < KEEL_CPU_FLAG_COUNT && n < cap; i++)
        if (flags & (1u << i)) {
            int w = snprintf(buf + n, cap - n, "%s%s", n ? " " : "", flag_names[i]);
            n += w > 0 ? (size_t)w : 0;
        }
    return buf;
}

/* ---- keel's own kernels */

#define ISA_AVX2_FLAGS                                                                             \
    (KEEL_CPU_SSE3 | KEEL_CPU_SSSE3 | KEEL_CPU_SSE41 | KEEL_CPU_SSE42 | KEEL_CPU_POPCNT |          \
     KEEL_CPU_AVX | KEEL_CPU_FMA | KEEL_CPU_AVX2 | KEEL_CPU_BMI1 | KEEL_CPU_BMI2 | KEEL_CPU_F16C | \
     KEEL_CPU_MOVBE | KEEL_CPU_LZCNT)
#define ISA_AVX512_FLAGS                                                                           \
    (ISA_AVX2_FLAGS | KEEL_CPU_AVX512F | KEEL_CPU_AVX512DQ | KEEL_CPU_AVX512BW |                   \
     KEEL_CPU_AVX512VL | KEEL_CPU_AVX512CD)

/* the copies are compiled with -march=x86-64-v3 and -v4, so they need every feature of the
 * level, not just the vector ones (the compiler may use BMI2 or MOVBE anywhere) */
keel_isa keel_isa_for(const keel_cpu *c) {
    if ((c->flags & ISA_AVX512_FLAGS) == ISA_AVX512_FLAGS) return KEEL_ISA_AVX512;
    if ((c->flags & ISA_AVX2_FLAGS) == ISA_AVX2_FLAGS) return KEEL_ISA_AVX2;
    return KEEL_ISA_BASE;
}

static const char *const isa_names[KEEL_ISA_COUNT] = {"baseline", "avx2", "avx512"};

const char *keel_isa_name(keel_isa i) {
    return i >= 0 && i < KEEL_ISA_COUNT ? isa_names[i] : "?";
}

int keel_isa_parse(const char *s) {
    for (int i = 0; s && i < KEEL_ISA_COUNT; i++)
        if (!strcasecmp(s, isa_names[i])) return i;
    return -1;
}

uint32_t keel_cpu_cap_flags(const keel_cpu *c, keel_isa cap) {
    /* AVX-512 goes with avx512; everything AVX (FMA4 included) goes with avx2 */
    uint32_t avx512 = KEEL_CPU_AVX512F | KEEL_CPU_AVX512DQ | KEEL_CPU_AVX512BW | KEEL_CPU_AVX512VL |
                      KEEL_CPU_AVX512CD | KEEL_CPU_AVX512PF;
    uint32_t avx = KEEL_CPU_AVX | KEEL_CPU_FMA | KEEL_CPU_FMA4 | KEEL_CPU_AVX2 | KEEL_CPU_F16C;
    uint32_t f = c->flags;
    if (cap < KEEL_ISA_AVX512) f &= ~avx512;
    if (cap < KEEL_ISA_AVX2) f &= ~avx;
    return f;
}

/* ---- BLIS */

static const char *const blis_names[KEEL_BLIS_ARCH_COUNT] = {
    [KEEL_BLIS_SKX] = "skx",
    [KEEL_BLIS_KNL] = "knl",
    [KEEL_BLIS_HASWELL] = "haswell",
    [KEEL_BLIS_SANDYBRIDGE] = "sandybridge",
    [KEEL_BLIS_PENRYN] = "penryn",
    [KEEL_BLIS_ZEN3] = "zen3",
    [KEEL_BLIS_ZEN2] = "zen2",
    [KEEL_BLIS_ZEN] = "zen",
    [KEEL_BLIS_EXCAVATOR] = "excavator",
    [KEEL_BLIS_STEAMROLLER] = "steamroller",
    [KEEL_BLIS_PILEDRIVER] = "piledriver",
    [KEEL_BLIS_BULLDOZER] = "bulldozer",
    [KEEL_BLIS_GENERIC] = "generic",
};

const char *keel_blis_arch_name(keel_blis_arch a) {
    return a >= 0 && a < KEEL_BLIS_ARCH_COUNT ? blis_names[a] : "?";
}

int keel_blis_arch_parse(const char *s) {
    for (int i = 0; s && i < KEEL_BLIS_ARCH_COUNT; i++)
        if (!strcasecmp(s, blis_names[i])) return i;
    return -1;
}

/* What BLIS's kernels for each sub-configuration execute (from the compiler flags of
 * its config/<name>/make_defs.mk and its kernel sources): running one without these faults with
 * SIGILL (measured: bulldozer's FMA4 kernels on this Zen 5). */
uint32_t keel_blis_arch_needs(keel_blis_arch a) {
    const uint32_t avx2 = KEEL_CPU_AVX | KEEL_CPU_FMA | KEEL_CPU_AVX2;
    switch (a) {
    case KEEL_BLIS_SKX:
        return avx2 | KEEL_CPU_AVX512F | KEEL_CPU_AVX512DQ | KEEL_CPU_AVX512BW | KEEL_CPU_AVX512VL;
    case KEEL_BLIS_KNL: return avx2 | KEEL_CPU_AVX512F | KEEL_CPU_AVX512PF;
    case KEEL_BLIS_HASWELL:
    case KEEL_BLIS_ZEN3:
    case KEEL_BLIS_ZEN2:
    case KEEL_BLIS_ZEN:
    case KEEL_BLIS_EXCAVATOR: return avx2;
    case KEEL_BLIS_STEAMROLLER:
    case KEEL_BLIS_PILEDRIVER: return KEEL_CPU_AVX | KEEL_CPU_FMA | KEEL_CPU_FMA4;
    case KEEL_BLIS_BULLDOZER: return KEEL_CPU_AVX | KEEL_CPU_FMA4;
    case KEEL_BLIS_SANDYBRIDGE: return KEEL_CPU_AVX;
    case KEEL_BLIS_PENRYN: return KEEL_CPU_SSE3 | KEEL_CPU_SSSE3;
    default: return 0;
    }
}

static bool runs(keel_blis_arch a, const keel_cpu *c) {
    uint32_t need = keel_blis_arch_needs(a);
    return (c->flags & need) == need;
}

/* For the AVX2 sub-configurations, which suits this AMD family (BLIS's own table, extended
 * to families after 0x19 as zen3: the newest it has). */
static keel_blis_arch amd_avx2(const keel_cpu *c) {
    if (c->family == 0x15) return KEEL_BLIS_EXCAVATOR;
    if (c->family == 0x17 && c->model >= 0x30) return KEEL_BLIS_ZEN2;
    if (c->family == 0x17 || c->family == 0x18) return KEEL_BLIS_ZEN;
    return c->family >= 0x19 ? KEEL_BLIS_ZEN3 : KEEL_BLIS_HASWELL;
}

/* On Xeons with one 512-bit FMA unit (Bronze, some Silver) skx has the peak of haswell's two
 * 256-bit units, so taking it there costs little; BLIS's own rule avoids it by counting units
 * from the model number, which is what fails in VMs. Not measured on Zen 4 (whose AVX-512 is
 * 256 bits wide inside); there too the rule goes by features. */
keel_blis_arch keel_blis_arch_for(const keel_cpu *c, uint32_t available) {
    /* candidates from fastest down; the first one BLIS has and the CPU runs wins */
    keel_blis_arch cand[8];
    int n = 0;
    cand[n++] = KEEL_BLIS_SKX;
    cand[n++] = KEEL_BLIS_KNL; /* Xeon Phi: AVX-512 F and PF, but neither DQ, BW nor VL */
    if (c->vendor == KEEL_CPU_AMD) cand[n++] = amd_avx2(c);
    cand[n++] = KEEL_BLIS_HASWELL;
    /* AMD's FMA4 generations, by model as BLIS tells them apart */
    if (c->vendor == KEEL_CPU_AMD && c->family == 0x15)
        cand[n++] = !(c->flags & KEEL_CPU_FMA) ? KEEL_BLIS_BULLDOZER
                    : c->model >= 0x30         ? KEEL_BLIS_STEAMROLLER
                                               : KEEL_BLIS_PILEDRIVER;
    cand[n++] = KEEL_BLIS_SANDYBRIDGE;
    cand[n++] = KEEL_BLIS_PENRYN;
    for (int i = 0; i < n; i++)
        if ((available >> cand[i] & 1u) && runs(cand[i], c)) return cand[i];
    return KEEL_BLIS_GENERIC;
}

/* Whether the override named by `var`=`val` can be used; else a reason in note. */
static int override_ok(const keel_cpu *c, uint32_t available, const char *var, const char *val,
                       char *note, size_t cap) {
    int a = keel_blis_arch_parse(val);
    char need[160];
    if (a < 0)
        snprintf(note, cap, "%s=%s ignored: not a BLIS x86-64 sub-configuration", var, val);
    else if (!(available >> a & 1u))
        snprintf(note, cap, "%s=%s ignored: not in this BLIS build", var, val);
    else if (!runs((keel_blis_arch)a, c))
        snprintf(note, cap, "%s=%s ignored: needs %s", var, val,
                 keel_cpu_flags_str(keel_blis_arch_needs((keel_blis_arch)a) & ~c->flags, need,
                                    sizeof need));
    else
        return a;
    return -1;
}

keel_blis_arch keel_blis_arch_choose(const keel_cpu *c, uint32_t available, const char *keel_env,
                                     const char *blis_env, char *note, size_t cap) {
    char why[160] = "";
    const char *var = keel_env ? "KEEL_BLIS_ARCH" : "BLIS_ARCH_TYPE",
               *val = keel_env ? keel_env : blis_env;
    if (val) {
        int a = override_ok(c, available, var, val, why, sizeof why);
        if (a >= 0) {
            snprintf(note, cap, "set by %s", var);
            return (keel_blis_arch)a;
        }
    }
    keel_blis_arch a = keel_blis_arch_for(c, available);
    /* the features that decided: those the chosen kernels need */
    char flags[160];
    keel_cpu_flags_str(keel_blis_arch_needs(a) & c->flags, flags, sizeof flags);
    snprintf(note, cap, "chosen by keel%s%s%s%s", flags[0] ? ": " : "", flags, why[0] ? "; " : "",
             why);
    return a;
}
