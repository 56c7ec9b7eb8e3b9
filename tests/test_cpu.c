/* test_cpu.c: the CPU's features and what keel chooses from them (src/kernels/cpu.c,
 * runtime.c). CPUID words of real and made-up CPUs are decoded (the OS's saved-state mask
 * included), keel's BLIS rule is checked on each, and the user's overrides are applied or
 * refused with a reason. The tests that read the environment rely on criterion running each
 * test in a process of its own, so keel's one-time set-up sees the variables the test sets. */
#include <criterion/criterion.h>
#include <keel.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu.h"
#include "kernels/kernels.h"

/* ---- CPUID words */

/* leaf 1 ecx: sse3 ssse3 fma sse4.1 sse4.2 movbe popcnt osxsave avx f16c */
#define L1_ECX_AVX2_CPU                                                                            \
    (1u << 0 | 1u << 9 | 1u << 12 | 1u << 19 | 1u << 20 | 1u << 22 | 1u << 23 | 1u << 27 |         \
     1u << 28 | 1u << 29)
/* leaf 7 ebx: bmi1 avx2 bmi2; then avx512 f dq cd bw vl */
#define L7_EBX_AVX2 (1u << 3 | 1u << 5 | 1u << 8)
#define L7_EBX_AVX512 (L7_EBX_AVX2 | 1u << 16 | 1u << 17 | 1u << 28 | 1u << 30 | 1u << 31)

static keel_cpuid_regs regs(const char *vendor, uint32_t eax1, uint32_t ecx1, uint32_t ebx7,
                            uint32_t ecx_ext, uint64_t xcr0) {
    keel_cpuid_regs r;
    memset(&r, 0, sizeof r);
    r.leaf0[0] = 0x10; /* highest standard leaf */
    memcpy(&r.leaf0[1], vendor, 4), memcpy(&r.leaf0[3], vendor + 4, 4);
    memcpy(&r.leaf0[2], vendor + 8, 4);
    r.leaf1[0] = eax1, r.leaf1[2] = ecx1, r.leaf7[1] = ebx7, r.ext1[2] = ecx_ext, r.xcr0 = xcr0;
    return r;
}

/* This machine's kind: AMD EPYC family 0x1a (Zen 5), base family 0xf + extended 0xb. */
static keel_cpuid_regs zen5(uint64_t xcr0) {
    return regs("AuthenticAMD", 0x00B00F21u, L1_ECX_AVX2_CPU, L7_EBX_AVX512, 1u << 5, xcr0);
}

Test(cpu, decode_zen5_with_avx512_state) {
    keel_cpuid_regs r = zen5(0xe7);
    keel_cpu c;
    keel_cpu_decode(&r, &c);
    cr_expect_eq(c.vendor, KEEL_CPU_AMD);
    cr_expect_eq(c.family, 0x1a, "family %#x", c.family);
    cr_expect_eq(c.model, 0x02, "model %#x", c.model);
    uint32_t want = KEEL_CPU_AVX | KEEL_CPU_FMA | KEEL_CPU_AVX2 | KEEL_CPU_BMI2 | KEEL_CPU_LZCNT |
                    KEEL_CPU_AVX512F | KEEL_CPU_AVX512DQ | KEEL_CPU_AVX512BW | KEEL_CPU_AVX512VL;
    char buf[256];
    cr_expect_eq(c.flags & want, want, "flags: %s", keel_cpu_flags_str(c.flags, buf, sizeof buf));
    cr_expect_eq(c.flags & (KEEL_CPU_FMA4 | KEEL_CPU_AVX512PF), 0u);
    cr_expect_eq(keel_isa_for(&c), KEEL_ISA_AVX512);
    cr_expect_eq(keel_blis_arch_for(&c, KEEL_BLIS_ALL), KEEL_BLIS_SKX);
}

/* A VM or OS that does not save the zmm registers: AVX-512 is listed but must not be used
 * (it would fault); one that saves no ymm state loses every AVX feature. */
Test(cpu, decode_drops_what_the_os_does_not_save) {
    keel_cpu c;
    keel_cpuid_regs r = zen5(0x7);
    keel_cpu_decode(&r, &c);
    cr_expect_eq(c.flags & KEEL_CPU_AVX512F, 0u);
    cr_expect_neq(c.flags & KEEL_CPU_AVX2, 0u);
    cr_expect_eq(keel_isa_for(&c), KEEL_ISA_AVX2);
    cr_expect_eq(keel_blis_arch_for(&c, KEEL_BLIS_ALL), KEEL_BLIS_ZEN3);
    r = zen5(0x3);
    keel_cpu_decode(&r, &c);
    cr_expect_eq(c.flags & (KEEL_CPU_AVX | KEEL_CPU_FMA | KEEL_CPU_AVX2 | KEEL_CPU_AVX512F), 0u);
    cr_expect_neq(c.flags & KEEL_CPU_SSSE3, 0u);
    cr_expect_eq(keel_isa_for(&c), KEEL_ISA_BASE);
    cr_expect_eq(keel_blis_arch_for(&c, KEEL_BLIS_ALL), KEEL_BLIS_PENRYN);
    r = zen5(0xe7);
    r.leaf1[2] &= ~(1u << 27); /* no OSXSAVE: xcr0 cannot be read, so it counts as nothing */
    keel_cpu_decode(&r, &c);
    cr_expect_eq(c.flags & KEEL_CPU_AVX, 0u);
}

Test(cpu, decode_intel_models_and_hygon) {
    keel_cpu c;
    /* Skylake-SP: family 6, model 0x55 (extended model 5) */
    keel_cpuid_regs r =
        regs("GenuineIntel", 0x00050654u, L1_ECX_AVX2_CPU, L7_EBX_AVX512, 1u << 5, 0xe7);
    keel_cpu_decode(&r, &c);
    cr_expect_eq(c.vendor, KEEL_CPU_INTEL);
    cr_expect_eq(c.family, 6);
    cr_expect_eq(c.model, 0x55, "model %#x", c.model);
    cr_expect_eq(keel_blis_arch_for(&c, KEEL_BLIS_ALL), KEEL_BLIS_SKX);
    /* Haswell: family 6, model 0x3c, no AVX-512 */
    r = regs("GenuineIntel", 0x000306C3u, L1_ECX_AVX2_CPU, L7_EBX_AVX2, 1u << 5, 0x7);
    keel_cpu_decode(&r, &c);
    cr_expect_eq(c.model, 0x3c, "model %#x", c.model);
    cr_expect_eq(keel_isa_for(&c), KEEL_ISA_AVX2);
    cr_expect_eq(keel_blis_arch_for(&c, KEEL_BLIS_ALL), KEEL_BLIS_HASWELL);
    /* Hygon Dhyana: AMD's Zen 1, family 0x18 */
    r = regs("HygonGenuine", 0x00900F01u, L1_ECX_AVX2_CPU, L7_EBX_AVX2, 1u << 5, 0x7);
    keel_cpu_decode(&r, &c);
    cr_expect_eq(c.vendor, KEEL_CPU_AMD);
    cr_expect_eq(c.family, 0x18);
    cr_expect_eq(keel_blis_arch_for(&c, KEEL_BLIS_ALL), KEEL_BLIS_ZEN);
    /* an unknown vendor with no leaf beyond 0 */
    r = regs("SomeVendor!!", 0, 0, 0, 0, 0);
    r.leaf0[0] = 0;
    keel_cpu_decode(&r, &c);
    cr_expect_eq(c.vendor, KEEL_CPU_OTHER);
    cr_expect_eq(c.flags, 0u);
    cr_expect_eq(keel_blis_arch_for(&c, KEEL_BLIS_ALL), KEEL_BLIS_GENERIC);
}

/* ---- the rule on made-up feature sets */

#define F_AVX2 (KEEL_CPU_SSE3 | KEEL_CPU_SSSE3 | KEEL_CPU_AVX | KEEL_CPU_FMA | KEEL_CPU_AVX2)
#define F_AVX512                                                                                   \
    (F_AVX2 | KEEL_CPU_AVX512F | KEEL_CPU_AVX512DQ | KEEL_CPU_AVX512BW | KEEL_CPU_AVX512VL)

static const struct {
    const char *what;
    keel_cpu cpu;
    keel_blis_arch want;
} cases[] = {
    {"Zen 5 (this machine)", {KEEL_CPU_AMD, 0x1a, 0x02, F_AVX512}, KEEL_BLIS_SKX},
    {"Zen 4", {KEEL_CPU_AMD, 0x19, 0x11, F_AVX512}, KEEL_BLIS_SKX},
    {"Zen 3", {KEEL_CPU_AMD, 0x19, 0x01, F_AVX2}, KEEL_BLIS_ZEN3},
    {"Zen 5 with AVX-512 hidden", {KEEL_CPU_AMD, 0x1a, 0x02, F_AVX2}, KEEL_BLIS_ZEN3},
    {"Zen 2", {KEEL_CPU_AMD, 0x17, 0x31, F_AVX2}, KEEL_BLIS_ZEN2},
    {"Zen 1", {KEEL_CPU_AMD, 0x17, 0x01, F_AVX2}, KEEL_BLIS_ZEN},
    {"Excavator", {KEEL_CPU_AMD, 0x15, 0x60, F_AVX2 | KEEL_CPU_FMA4}, KEEL_BLIS_EXCAVATOR},
    {"Steamroller",
     {KEEL_CPU_AMD, 0x15, 0x30, KEEL_CPU_SSSE3 | KEEL_CPU_AVX | KEEL_CPU_FMA | KEEL_CPU_FMA4},
     KEEL_BLIS_STEAMROLLER},
    {"Piledriver",
     {KEEL_CPU_AMD, 0x15, 0x02, KEEL_CPU_SSSE3 | KEEL_CPU_AVX | KEEL_CPU_FMA | KEEL_CPU_FMA4},
     KEEL_BLIS_PILEDRIVER},
    {"Bulldozer",
     {KEEL_CPU_AMD, 0x15, 0x01, KEEL_CPU_SSSE3 | KEEL_CPU_AVX | KEEL_CPU_FMA4},
     KEEL_BLIS_BULLDOZER},
    {"Xeon (Skylake-SP) in a VM", {KEEL_CPU_INTEL, 6, 0x55, F_AVX512}, KEEL_BLIS_SKX},
    {"Sapphire Rapids", {KEEL_CPU_INTEL, 6, 0x8f, F_AVX512 | KEEL_CPU_AVX512CD}, KEEL_BLIS_SKX},
    {"Xeon Phi (KNL)",
     {KEEL_CPU_INTEL, 6, 0x57, F_AVX2 | KEEL_CPU_AVX512F | KEEL_CPU_AVX512CD | KEEL_CPU_AVX512PF},
     KEEL_BLIS_KNL},
    {"Haswell", {KEEL_CPU_INTEL, 6, 0x3c, F_AVX2}, KEEL_BLIS_HASWELL},
    {"AVX2 from another vendor", {KEEL_CPU_OTHER, 7, 0x3b, F_AVX2}, KEEL_BLIS_HASWELL},
    {"Sandy Bridge",
     {KEEL_CPU_INTEL, 6, 0x2a, KEEL_CPU_SSE3 | KEEL_CPU_SSSE3 | KEEL_CPU_AVX},
     KEEL_BLIS_SANDYBRIDGE},
    {"Penryn", {KEEL_CPU_INTEL, 6, 0x17, KEEL_CPU_SSE3 | KEEL_CPU_SSSE3}, KEEL_BLIS_PENRYN},
    {"plain x86-64", {KEEL_CPU_AMD, 0xf, 0x05, 0}, KEEL_BLIS_GENERIC},
};

Test(cpu, blis_rule_on_known_cpus) {
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        keel_blis_arch got = keel_blis_arch_for(&cases[i].cpu, KEEL_BLIS_ALL);
        cr_expect_eq(got, cases[i].want, "%s: %s, want %s", cases[i].what, keel_blis_arch_name(got),
                     keel_blis_arch_name(cases[i].want));
        /* whatever it picks, the CPU has every feature its kernels use */
        uint32_t need = keel_blis_arch_needs(got);
        cr_expect_eq(cases[i].cpu.flags & need, need, "%s: %s needs more", cases[i].what,
                     keel_blis_arch_name(got));
    }
}

/* A BLIS built without the best sub-configuration: the next one down that the CPU runs. */
Test(cpu, blis_rule_falls_back_to_what_blis_has) {
    const keel_cpu amd = {KEEL_CPU_AMD, 0x1a, 0x02, F_AVX512},
                   intel = {KEEL_CPU_INTEL, 6, 0x55, F_AVX512};
    const uint32_t no_skx = KEEL_BLIS_ALL & ~(1u << KEEL_BLIS_SKX);
    cr_expect_eq(keel_blis_arch_for(&amd, no_skx), KEEL_BLIS_ZEN3);
    cr_expect_eq(keel_blis_arch_for(&intel, no_skx), KEEL_BLIS_HASWELL);
    cr_expect_eq(keel_blis_arch_for(&amd, no_skx & ~(1u << KEEL_BLIS_ZEN3)), KEEL_BLIS_HASWELL);
    const uint32_t old = 1u << KEEL_BLIS_SANDYBRIDGE | 1u << KEEL_BLIS_GENERIC;
    cr_expect_eq(keel_blis_arch_for(&amd, old), KEEL_BLIS_SANDYBRIDGE);
    cr_expect_eq(keel_blis_arch_for(&amd, 1u << KEEL_BLIS_GENERIC), KEEL_BLIS_GENERIC);
    cr_expect_eq(keel_blis_arch_for(&amd, 0), KEEL_BLIS_GENERIC);
}

Test(cpu, isa_levels_and_caps) {
    const keel_cpu z5 = {KEEL_CPU_AMD, 0x1a, 0x02,
                         F_AVX512 | KEEL_CPU_AVX512CD | KEEL_CPU_SSE41 | KEEL_CPU_SSE42 |
                             KEEL_CPU_POPCNT | KEEL_CPU_BMI1 | KEEL_CPU_BMI2 | KEEL_CPU_F16C |
                             KEEL_CPU_MOVBE | KEEL_CPU_LZCNT};
    cr_expect_eq(keel_isa_for(&z5), KEEL_ISA_AVX512);
    keel_cpu c = z5;
    c.flags &= ~KEEL_CPU_AVX512CD; /* every feature of x86-64-v4, or the level below */
    cr_expect_eq(keel_isa_for(&c), KEEL_ISA_AVX2);
    c.flags &= ~KEEL_CPU_MOVBE; /* -march=x86-64-v3 may emit movbe anywhere */
    cr_expect_eq(keel_isa_for(&c), KEEL_ISA_BASE);
    /* a cap lowers what the BLIS rule sees too */
    c = z5, c.flags = keel_cpu_cap_flags(&z5, KEEL_ISA_AVX2);
    cr_expect_eq(keel_isa_for(&c), KEEL_ISA_AVX2);
    cr_expect_eq(keel_blis_arch_for(&c, KEEL_BLIS_ALL), KEEL_BLIS_ZEN3);
    c.flags = keel_cpu_cap_flags(&z5, KEEL_ISA_BASE);
    cr_expect_eq(keel_isa_for(&c), KEEL_ISA_BASE);
    cr_expect_eq(keel_blis_arch_for(&c, KEEL_BLIS_ALL), KEEL_BLIS_PENRYN);
    cr_expect_eq(keel_isa_parse("AVX2"), KEEL_ISA_AVX2);
    cr_expect_eq(keel_isa_parse("baseline"), KEEL_ISA_BASE);
    cr_expect_eq(keel_isa_parse("sse9"), -1);
    cr_expect_eq(keel_isa_parse(NULL), -1);
}

Test(cpu, overrides_applied_or_refused_with_a_reason) {
    const keel_cpu z5 = {KEEL_CPU_AMD, 0x1a, 0x02, F_AVX512};
    char note[256];
    cr_expect_eq(keel_blis_arch_choose(&z5, KEEL_BLIS_ALL, NULL, NULL, note, sizeof note),
                 KEEL_BLIS_SKX);
    cr_expect(strstr(note, "chosen by keel") && strstr(note, "avx512f"), "%s", note);
    cr_expect_eq(keel_blis_arch_choose(&z5, KEEL_BLIS_ALL, "haswell", NULL, note, sizeof note),
                 KEEL_BLIS_HASWELL);
    cr_expect_str_eq(note, "set by KEEL_BLIS_ARCH");
    cr_expect_eq(keel_blis_arch_choose(&z5, KEEL_BLIS_ALL, NULL, "zen3", note, sizeof note),
                 KEEL_BLIS_ZEN3);
    cr_expect_str_eq(note, "set by BLIS_ARCH_TYPE");
    /* keel's own variable wins over BLIS's */
    cr_expect_eq(keel_blis_arch_choose(&z5, KEEL_BLIS_ALL, "ZEN2", "zen3", note, sizeof note),
                 KEEL_BLIS_ZEN2);
    /* refused: unknown, unrunnable (FMA4 on a Zen 5 dies of SIGILL), not built */
    cr_expect_eq(keel_blis_arch_choose(&z5, KEEL_BLIS_ALL, "power9", NULL, note, sizeof note),
                 KEEL_BLIS_SKX);
    cr_expect(strstr(note, "KEEL_BLIS_ARCH=power9 ignored: not a BLIS x86-64 sub-configuration"),
              "%s", note);
    cr_expect_eq(keel_blis_arch_choose(&z5, KEEL_BLIS_ALL, NULL, "bulldozer", note, sizeof note),
                 KEEL_BLIS_SKX);
    cr_expect(strstr(note, "BLIS_ARCH_TYPE=bulldozer ignored: needs fma4"), "%s", note);
    cr_expect_eq(keel_blis_arch_choose(&z5, KEEL_BLIS_ALL & ~(1u << KEEL_BLIS_ZEN2), "zen2", NULL,
                                       note, sizeof note),
                 KEEL_BLIS_SKX);
    cr_expect(strstr(note, "KEEL_BLIS_ARCH=zen2 ignored: not in this BLIS build"), "%s", note);
    const keel_cpu hsw = {KEEL_CPU_INTEL, 6, 0x3c, F_AVX2};
    cr_expect_eq(keel_blis_arch_choose(&hsw, KEEL_BLIS_ALL, "skx", NULL, note, sizeof note),
                 KEEL_BLIS_HASWELL);
    cr_expect(strstr(note, "needs avx512f avx512dq avx512bw avx512vl"), "%s", note);
}

/* ---- the process's own set-up (each test runs in a fresh process) */

static void expect_gemm_right(void) {
    enum { M = 37, N = 50, K = 300 };
    static float A[M * K], B[K * N], C[M * N], R[M * N];
    for (int i = 0; i < M * K; i++)
        A[i] = (float)((i * 7) % 13) / 13.0f - 0.5f;
    for (int i = 0; i < K * N; i++)
        B[i] = (float)((i * 5) % 11) / 11.0f - 0.5f;
    keel_gemm(false, false, M, N, K, 1.0f, A, K, B, N, 0.0f, C, N);
    keel_gemm_ref(false, false, M, N, K, 1.0f, A, K, B, N, 0.0f, R, N);
    for (int i = 0; i < M * N; i++)
        cr_assert(fabsf(C[i] - R[i]) <= 1e-4f, "C[%d] %g vs %g", i, C[i], R[i]);
}

/* the name in keel_gemm_backend's "(name, ...)" */
static void backend_arch(char *name, size_t cap) {
    const char *b = keel_gemm_backend(), *open = strchr(b, '('),
               *comma = open ? strchr(open, ',') : NULL;
    cr_assert(open && comma && (size_t)(comma - open - 1) < cap, "backend: %s", b);
    memcpy(name, open + 1, (size_t)(comma - open - 1));
    name[comma - open - 1] = 0;
}

Test(cpu, default_choice_is_the_rule_for_this_cpu) {
    unsetenv("BLIS_ARCH_TYPE"), unsetenv("KEEL_BLIS_ARCH"), unsetenv("KEEL_ISA");
    keel_cpu c;
    keel_cpu_detect(&c);
    char name[32];
    backend_arch(name, sizeof name);
    cr_expect_str_eq(name, keel_blis_arch_name(keel_blis_arch_for(&c, KEEL_BLIS_ALL)),
                     "backend: %s", keel_gemm_backend());
    cr_expect(strstr(keel_gemm_backend(), "chosen by keel"), "%s", keel_gemm_backend());
    cr_expect_eq(keel_runtime_isa(), keel_isa_for(&c));
    cr_expect_null(getenv("BLIS_ARCH_TYPE"), "keel's setting of BLIS_ARCH_TYPE was not taken back");
    expect_gemm_right();
}

/* BLIS 0.9 reads BLIS_ARCH_TYPE as a number; this used to abort inside BLIS ("Accessed
 * uninitialized context in gks"). 3 is haswell, which every AVX2 CPU runs. */
Test(cpu, blis_arch_type_number_is_honoured) {
    keel_cpu c;
    keel_cpu_detect(&c);
    if ((c.flags & keel_blis_arch_needs(KEEL_BLIS_HASWELL)) !=
        keel_blis_arch_needs(KEEL_BLIS_HASWELL))
        cr_skip_test("this CPU has no AVX2");
    setenv("BLIS_ARCH_TYPE", "3", 1);
    cr_expect(strstr(keel_gemm_backend(), "(haswell, set by BLIS_ARCH_TYPE)"), "%s",
              keel_gemm_backend());
    cr_expect_str_eq(getenv("BLIS_ARCH_TYPE"), "3", "the user's value is put back");
    expect_gemm_right();
}

Test(cpu, blis_arch_type_name_and_keel_variable) {
    setenv("BLIS_ARCH_TYPE", "haswell", 1);
    setenv("KEEL_BLIS_ARCH", "generic", 1);
    cr_expect(strstr(keel_gemm_backend(), "(generic, set by KEEL_BLIS_ARCH)"), "%s",
              keel_gemm_backend());
    expect_gemm_right();
}

Test(cpu, bad_blis_arch_type_is_ignored_not_fatal) {
    setenv("BLIS_ARCH_TYPE", "99", 1);
    cr_expect(strstr(keel_gemm_backend(), "BLIS_ARCH_TYPE=99 ignored"), "%s", keel_gemm_backend());
    cr_expect(strstr(keel_gemm_backend(), "chosen by keel"), "%s", keel_gemm_backend());
    expect_gemm_right();
}

/* A sub-configuration this CPU cannot run would die of SIGILL at the first GEMM. */
Test(cpu, unrunnable_override_is_ignored) {
    keel_cpu c;
    keel_cpu_detect(&c);
    int bad = -1;
    for (int a = 0; a < KEEL_BLIS_ARCH_COUNT && bad < 0; a++)
        if ((c.flags & keel_blis_arch_needs((keel_blis_arch)a)) !=
            keel_blis_arch_needs((keel_blis_arch)a))
            bad = a;
    cr_assert_geq(bad, 0, "no CPU has both FMA4 and AVX512PF");
    setenv("KEEL_BLIS_ARCH", keel_blis_arch_name((keel_blis_arch)bad), 1);
    cr_expect(strstr(keel_gemm_backend(), "ignored: needs"), "%s", keel_gemm_backend());
    char name[32];
    backend_arch(name, sizeof name);
    cr_expect_str_neq(name, keel_blis_arch_name((keel_blis_arch)bad));
    expect_gemm_right();
}

Test(cpu, keel_isa_lowers_the_level) {
    keel_cpu c;
    keel_cpu_detect(&c);
    setenv("KEEL_ISA", "baseline", 1);
    cr_expect_eq(keel_runtime_isa(), KEEL_ISA_BASE);
    cr_expect(strstr(keel_gemm_backend(), "kernels baseline"), "%s", keel_gemm_backend());
    c.flags = keel_cpu_cap_flags(&c, KEEL_ISA_BASE);
    char name[32];
    backend_arch(name, sizeof name);
    cr_expect_str_eq(name, keel_blis_arch_name(keel_blis_arch_for(&c, KEEL_BLIS_ALL)));
    expect_gemm_right();
}

Test(cpu, bad_keel_isa_is_ignored) {
    setenv("KEEL_ISA", "avx1024", 1);
    keel_cpu c;
    keel_cpu_detect(&c);
    cr_expect_eq(keel_runtime_isa(), keel_isa_for(&c));
    cr_expect(strstr(keel_gemm_backend(), "KEEL_ISA=avx1024 ignored"), "%s", keel_gemm_backend());
}
