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

/* the variables keel reads at set-up, as the test wants them (NULL: unset) */
static void env(const char *isa, const char *keel_blis, const char *blis) {
    const char *names[] = {"KEEL_ISA", "KEEL_BLIS_ARCH", "BLIS_ARCH_TYPE"},
               *vals[] = {isa, keel_blis, blis};
    for (int i = 0; i < 3; i++) {
        if (vals[i])
            setenv(names[i], vals[i], 1);
        else
            unsetenv(names[i]);
    }
}

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
    env(NULL, NULL, NULL);
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
    env(NULL, NULL, "3");
    cr_expect(strstr(keel_gemm_backend(), "(haswell, set by BLIS_ARCH_TYPE)"), "%s",
              keel_gemm_backend());
    cr_expect_str_eq(getenv("BLIS_ARCH_TYPE"), "3", "the user's value is put back");
    expect_gemm_right();
}

Test(cpu, blis_arch_type_name_and_keel_variable) {
    env(NULL, "generic", "haswell");
    cr_expect(strstr(keel_gemm_backend(), "(generic, set by KEEL_BLIS_ARCH)"), "%s",
              keel_gemm_backend());
    expect_gemm_right();
}

Test(cpu, bad_blis_arch_type_is_ignored_not_fatal) {
    env(NULL, NULL, "99");
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
    env(NULL, keel_blis_arch_name((keel_blis_arch)bad), NULL);
    cr_expect(strstr(keel_gemm_backend(), "ignored: needs"), "%s", keel_gemm_backend());
    char name[32];
    backend_arch(name, sizeof name);
    cr_expect_str_neq(name, keel_blis_arch_name((keel_blis_arch)bad));
    expect_gemm_right();
}

Test(cpu, keel_isa_lowers_the_level) {
    keel_cpu c;
    keel_cpu_detect(&c);
    env("baseline", NULL, NULL);
    cr_expect_eq(keel_runtime_isa(), KEEL_ISA_BASE);
    cr_expect(strstr(keel_gemm_backend(), "kernels baseline"), "%s", keel_gemm_backend());
    c.flags = keel_cpu_cap_flags(&c, KEEL_ISA_BASE);
    char name[32];
    backend_arch(name, sizeof name);
    cr_expect_str_eq(name, keel_blis_arch_name(keel_blis_arch_for(&c, KEEL_BLIS_ALL)));
    expect_gemm_right();
}

Test(cpu, bad_keel_isa_is_ignored) {
    env("avx1024", NULL, NULL);
    keel_cpu c;
    keel_cpu_detect(&c);
    cr_expect_eq(keel_runtime_isa(), keel_isa_for(&c));
    cr_expect(strstr(keel_gemm_backend(), "KEEL_ISA=avx1024 ignored"), "%s", keel_gemm_backend());
}

/* A program that sets BLIS up itself before its first keel call fixes BLIS's choice (BLIS
 * reads its variable once): keel says so rather than claim its own choice. */
void bli_init(void);
Test(cpu, blis_set_up_before_keel) {
    env(NULL, NULL, NULL);
    bli_init();
    keel_cpu c;
    keel_cpu_detect(&c);
    char name[32];
    backend_arch(name, sizeof name);
    if (strcmp(name, keel_blis_arch_name(keel_blis_arch_for(&c, KEEL_BLIS_ALL))) != 0)
        cr_expect(strstr(keel_gemm_backend(), "set up before keel"), "%s", keel_gemm_backend());
    expect_gemm_right();
}

/* ---- keel's kernel copies (kernels/simd.h) */

/* The demo CNN's kinds of layer: a direct convolution fused with ReLU and the pool, Dense
 * layers through BLIS, Adam; three steps on 32 samples. Returns the weights (caller frees). */
static float *train_cnn(int threads, int64_t *n) {
    keel_set_threads(threads);
    keel_tensor *x = keel_tensor_new(KEEL_SHAPE(32, 12, 12, 1)),
                *y = keel_tensor_new(KEEL_SHAPE(32));
    for (int64_t i = 0; i < keel_tensor_size(x); i++)
        keel_tensor_data(x)[i] = (float)((i * 37) % 101) / 101.0f;
    for (int64_t i = 0; i < 32; i++)
        keel_tensor_data(y)[i] = (float)(i % 10);
    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_conv2d(.filters = 32, .kernel_size = {3}, .activation = "relu",
                            .input_shape = {12, 12, 1}));
    keel_add(m, keel_max_pooling2d());
    keel_add(m, keel_flatten());
    keel_add(m, keel_dense(.units = 64, .activation = "gelu"));
    keel_add(m, keel_dense(.units = 10, .activation = "softmax"));
    keel_compile(m, .optimizer = "adam", .loss = "sparse_categorical_crossentropy");
    for (int s = 0; s < 3; s++)
        cr_assert_eq(keel_train_on_batch(m, x, y, NULL, 0), KEEL_OK, "%s", keel_last_error());
    float *w = keel_model_weights(m, n), *copy = malloc((size_t)*n * sizeof *copy);
    memcpy(copy, w, (size_t)*n * sizeof *copy);
    keel_model_free(m);
    keel_tensor_free(x), keel_tensor_free(y);
    keel_set_threads(0);
    return copy;
}

/* Each copy this CPU runs gives the same weights on every run at a given thread count (one
 * copy per process, never a mix), and all copies agree up to rounding: FMA and vector width
 * change the last bits, not the result. */
Test(cpu, every_kernel_copy_is_deterministic_and_agrees) {
    env(NULL, NULL, NULL);
    keel_cpu c;
    keel_cpu_detect(&c);
    int64_t n = 0;
    keel_runtime_use_isa(KEEL_ISA_BASE);
    float *base = train_cnn(2, &n);
    for (int level = KEEL_ISA_BASE; level <= (int)keel_isa_for(&c); level++) {
        keel_runtime_use_isa((keel_isa)level);
        cr_assert_eq(keel_runtime_isa(), (keel_isa)level);
        for (int t = 1; t <= 2; t++) {
            int64_t n1, n2;
            float *a = train_cnn(t, &n1), *b = train_cnn(t, &n2);
            cr_assert(n1 == n && n2 == n);
            cr_expect_eq(memcmp(a, b, (size_t)n * sizeof *a), 0, "%s, %d threads: two runs differ",
                         keel_isa_name((keel_isa)level), t);
            for (int64_t i = 0; i < n; i++)
                cr_assert(fabsf(a[i] - base[i]) <= 1e-3f * (1 + fabsf(base[i])),
                          "%s, %d threads: weight %lld %g vs %g", keel_isa_name((keel_isa)level), t,
                          (long long)i, a[i], base[i]);
            free(a), free(b);
        }
    }
    free(base);
}

/* The activations of every copy against the x86-64 one: same formulas, so equal up to
 * rounding, for every kind, forward and backward. */
Test(cpu, activation_copies_agree) {
    env(NULL, NULL, NULL);
    keel_cpu c;
    keel_cpu_detect(&c);
    enum { R = 3, C = 37 };
    float x[R * C], dy[R * C], y0[R * C], dx0[R * C], y1[R * C], dx1[R * C];
    for (int i = 0; i < R * C; i++)
        x[i] = (float)(i % 25) * 0.5f - 6.0f, dy[i] = (float)((i * 7) % 11) / 11.0f - 0.5f;
    for (int k = 0; k < KEEL_ACT_COUNT; k++) {
        keel_act a = {(keel_act_kind)k, k == KEEL_ACT_GELU ? 0.0f : 0.3f};
        keel_runtime_use_isa(KEEL_ISA_BASE);
        keel_act_forward(a, x, y0, R, C);
        keel_act_backward(a, x, y0, dy, dx0, R, C);
        for (int level = KEEL_ISA_AVX2; level <= (int)keel_isa_for(&c); level++) {
            keel_runtime_use_isa((keel_isa)level);
            keel_act_forward(a, x, y1, R, C);
            keel_act_backward(a, x, y1, dy, dx1, R, C);
            for (int i = 0; i < R * C; i++) {
                cr_assert(fabsf(y1[i] - y0[i]) <= 1e-5f * (1 + fabsf(y0[i])),
                          "%s %s y[%d]: %g vs %g", keel_act_name(a.kind),
                          keel_isa_name((keel_isa)level), i, y1[i], y0[i]);
                cr_assert(fabsf(dx1[i] - dx0[i]) <= 1e-5f * (1 + fabsf(dx0[i])),
                          "%s %s dx[%d]: %g vs %g", keel_act_name(a.kind),
                          keel_isa_name((keel_isa)level), i, dx1[i], dx0[i]);
            }
        }
    }
}

/* ---- the portable build: AVX only where it is dispatched */

/* Whether an instruction (objdump's mnemonic) needs more than x86-64: VEX and EVEX encoded
 * ones all start with v (the VMX ones aside), AVX-512's mask ones with k, and x86-64-v3 adds
 * BMI1/2, LZCNT and MOVBE, which gcc may emit anywhere in a -march=x86-64-v3 copy. */
static bool beyond_x86_64(const char *mn) {
    static const char *const vmx[] = {"vmcall", "vmlaunch", "vmresume", "vmxoff",  "vmxon",
                                      "vmread", "vmwrite",  "vmptrld",  "vmptrst", "vmclear",
                                      "vmfunc", "verr",     "verw"};
    static const char *const k[] = {"kmov", "kand",   "kor",    "kxor", "kxnor",
                                    "knot", "kshift", "kunpck", "kadd", "ktest"};
    static const char *const bmi[] = {"andn", "bextr", "blsi",  "blsmsk", "blsr", "bzhi",
                                      "mulx", "pdep",  "pext",  "rorx",   "sarx", "shlx",
                                      "shrx", "lzcnt", "tzcnt", "movbe"};
    if (mn[0] == 'v') {
        for (size_t i = 0; i < sizeof vmx / sizeof *vmx; i++)
            if (!strcmp(mn, vmx[i])) return false;
        return true;
    }
    for (size_t i = 0; i < sizeof k / sizeof *k; i++)
        if (!strncmp(mn, k[i], strlen(k[i]))) return true;
    for (size_t i = 0; i < sizeof bmi / sizeof *bmi; i++)
        if (!strcmp(mn, bmi[i])) return true;
    return false;
}

/* The copies: keel's own (names ending in the level) and gcc's target_clones. */
static bool dispatched(const char *fn) {
    return strstr(fn, "_avx2") || strstr(fn, "_avx512") || strstr(fn, ".arch_x86_64_v3") ||
           strstr(fn, ".arch_x86_64_v4");
}

Test(cpu, avx_only_in_dispatched_copies) {
    if (!KEEL_PORTABLE) cr_skip_test("KEEL_NATIVE build: all of keel targets this CPU");
    FILE *p =
        popen("objdump -d --no-show-raw-insn " KEEL_BINARY_DIR "/libkeel.so 2>/dev/null", "r");
    cr_assert_not_null(p);
    char line[512], fn[256] = "", bad[1024] = "";
    int lines = 0, nbad = 0, avx512_fns = 0, zmm_in_avx2 = 0;
    bool fn_seen_zmm = false;
    while (fgets(line, sizeof line, p)) {
        lines++;
        char name[256];
        if (sscanf(line, "%*x <%255[^>]>:", name) == 1) {
            snprintf(fn, sizeof fn, "%s", name), fn_seen_zmm = false;
            continue;
        }
        const char *tab = strchr(line, '\t');
        char mn[32];
        if (!tab || sscanf(tab + 1, "%31s", mn) != 1) continue;
        bool zmm = strstr(line, "%zmm") != NULL;
        if (beyond_x86_64(mn) && !dispatched(fn) && !strstr(bad, fn) && nbad++ < 8)
            snprintf(bad + strlen(bad), sizeof bad - strlen(bad), " %s (%s)", fn, mn);
        if (zmm && strstr(fn, "_avx512") && !fn_seen_zmm) avx512_fns++, fn_seen_zmm = true;
        if (zmm && strstr(fn, "_avx2")) zmm_in_avx2++;
    }
    int rc = pclose(p);
    if (lines == 0 || rc != 0) cr_skip_test("objdump is not installed");
    cr_expect_eq(nbad, 0, "instructions beyond x86-64 outside the dispatched copies:%s", bad);
    /* and the copies are what they say: 16-float vectors (simd_gemm.c) need zmm registers */
    cr_expect_gt(avx512_fns, 0, "no avx512 copy uses zmm registers");
    cr_expect_eq(zmm_in_avx2, 0, "zmm registers in an avx2 copy");
}

/* ---- GEMMs too small for the pool */

/* Products with one row, one column or few rows of C (gemm.c: BLIS's GEMV, or keel's own
 * kernel where BLIS has no small-matrix kernels): right for every transpose, a strided C,
 * beta 0 or 1 and column counts that leave a ragged end; and wherever keel_gemm does not hand
 * the product to BLIS, the same bits on 1 and 2 threads, even where the inner dimension is long
 * enough that a cut GEMM would sum partial products. One row never goes to BLIS. */
Test(cpu, small_gemms) {
    const int64_t sizes[][3] = {{1, 128, 784}, {1, 128, 5408}, {1, 1, 5},     {300, 1, 40},
                                {1, 7, 1},     {64, 1, 5408},  {2, 128, 784}, {3, 19, 50},
                                {5, 130, 33},  {8, 256, 600},  {15, 64, 7},   {4, 1000, 300},
                                {9, 16, 1},    {12, 83, 2000}};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
        for (int v = 0; v < 8; v++) {
            const int64_t M = sizes[s][0], N = sizes[s][1], K = sizes[s][2], ldc = N + 3;
            const bool ta = v & 1, tb = v & 2;
            const float beta = v & 4 ? 1.0f : 0.0f;
            const keel_gemm_path path = keel_gemm_path_for(tb, M, N, K);
            if (M == 1) cr_expect_neq(path, KEEL_GEMM_BLIS, "one row of C went to BLIS");
            float *A = malloc((size_t)(M * K) * 4), *B = malloc((size_t)(K * N) * 4), *C[3];
            for (int i = 0; i < 3; i++)
                C[i] = malloc((size_t)(M * ldc) * 4);
            for (int64_t i = 0; i < M * K; i++)
                A[i] = (float)((i * 7) % 13) / 13.0f - 0.5f;
            for (int64_t i = 0; i < K * N; i++)
                B[i] = (float)((i * 5) % 11) / 11.0f - 0.5f;
            for (int64_t i = 0; i < M * ldc; i++)
                C[0][i] = C[1][i] = C[2][i] = (float)(i % 3);
            for (int t = 0; t < 2; t++) {
                keel_set_threads(t + 1);
                keel_gemm(ta, tb, M, N, K, 0.5f, A, ta ? M : K, B, tb ? K : N, beta, C[t], ldc);
            }
            keel_set_threads(0);
            keel_gemm_ref(ta, tb, M, N, K, 0.5f, A, ta ? M : K, B, tb ? K : N, beta, C[2], ldc);
            for (int64_t i = 0; i < M * ldc; i++) {
                cr_assert(fabsf(C[0][i] - C[2][i]) <=
                              1e-5f * sqrtf((float)K) * (1 + fabsf(C[2][i])),
                          "%lldx%lldx%lld v=%d [%lld]: %g vs %g", (long long)M, (long long)N,
                          (long long)K, v, (long long)i, C[0][i], C[2][i]);
                if (path != KEEL_GEMM_BLIS)
                    cr_assert_eq(C[0][i], C[1][i],
                                 "%lldx%lldx%lld v=%d [%lld]: 1 and 2 threads differ", (long long)M,
                                 (long long)N, (long long)K, v, (long long)i);
            }
            free(A), free(B), free(C[0]), free(C[1]), free(C[2]);
        }
}

/* The demo CNN's prediction on one sample runs on the calling thread: no region reaches the
 * pool (while a training step on 32 samples does). */
Test(cpu, one_sample_prediction_stays_on_the_calling_thread) {
    keel_set_threads(2);
    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_conv2d(.filters = 32, .kernel_size = {3, 3}, .activation = "relu",
                            .input_shape = {28, 28, 1}));
    keel_add(m, keel_max_pooling2d());
    keel_add(m, keel_flatten());
    keel_add(m, keel_dense(.units = 128, .activation = "relu"));
    keel_add(m, keel_dense(.units = 10, .activation = "softmax"));
    keel_compile(m, .optimizer = "adam", .loss = "sparse_categorical_crossentropy");
    keel_tensor *x = keel_tensor_new(KEEL_SHAPE(32, 28, 28, 1)),
                *y = keel_tensor_new(KEEL_SHAPE(32));
    for (int64_t i = 0; i < keel_tensor_size(x); i++)
        keel_tensor_data(x)[i] = (float)(i % 255) / 255.0f;
    for (int64_t i = 0; i < 32; i++)
        keel_tensor_data(y)[i] = (float)(i % 10);
    keel_tensor *one = keel_tensor_slice(x, 0, 1);
    keel_tensor *p = keel_predict_on_batch(m, one); /* the first call sets up buffers */
    cr_assert_not_null(p, "%s", keel_last_error());
    keel_tensor_free(p);
    int64_t r0 = keel_parallel_regions();
    for (int i = 0; i < 5; i++) {
        p = keel_predict_on_batch(m, one);
        cr_assert_not_null(p, "%s", keel_last_error());
        keel_tensor_free(p);
    }
    cr_expect_eq(keel_parallel_regions(), r0,
                 "%lld regions on the pool for 5 one-sample predictions",
                 (long long)(keel_parallel_regions() - r0));
    cr_assert_eq(keel_train_on_batch(m, x, y, NULL, 0), KEEL_OK, "%s", keel_last_error());
    cr_expect_gt(keel_parallel_regions(), r0, "a training step on 32 samples used no thread");
    keel_tensor_free(one), keel_tensor_free(x), keel_tensor_free(y);
    keel_model_free(m);
    keel_set_threads(0);
}
