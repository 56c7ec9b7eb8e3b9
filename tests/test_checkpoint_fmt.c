/* test_checkpoint_fmt.c: ModelCheckpoint's filepath formatting (keel_format_filepath) against
 * what Python's str.format makes of the same template, epoch and logs: every row of
 * fixtures/checkpoint_fmt_cases.inc was run through CPython 3.11 by
 * tools/make_checkpoint_fmt_cases.py (Keras rounding, nan / inf, negative zero, fill and
 * alignment, escapes, buffers one byte short, malformed and hostile templates). Also: nothing
 * is ever written past the buffer, and keel_repr_double is Python's repr. */
#include <criterion/criterion.h>
#include <keel.h>
#include <math.h>
#include <string.h>

#include "model/model.h"

typedef struct fmt_case {
    const char *fmt;
    int epoch;
    int n;
    const char *names[4];
    double values[4];
    size_t cap;
    const char *expect; /* NULL: an error */
    const char *error;  /* a substring of the error; "a\tb": both a and b */
} fmt_case;

static const fmt_case CASES[] = {
#include "fixtures/checkpoint_fmt_cases.inc"
};
#define N_CASES (sizeof CASES / sizeof CASES[0])

/* guard bytes around the buffer: a write outside [0, cap) changes one */
#define GUARD 64
static unsigned char arena[GUARD + 8192 + GUARD];

static keel_status run(const fmt_case *c, char **out) {
    memset(arena, 0xA5, sizeof arena);
    *out = (char *)arena + GUARD;
    keel_logs logs = {c->n, c->names, c->values};
    keel_status st = keel_format_filepath(c->fmt, c->epoch, &logs, *out, c->cap);
    for (size_t i = 0; i < GUARD; i++) {
        cr_assert_eq(arena[i], 0xA5, "%s: wrote before the buffer", c->fmt);
        cr_assert_eq(arena[GUARD + c->cap + i], 0xA5, "%s: wrote past the buffer (cap %zu)", c->fmt,
                     c->cap);
    }
    return st;
}

Test(checkpoint_fmt, matches_python) {
    cr_assert_gt(N_CASES, 150);
    int ok = 0, errors = 0;
    for (size_t i = 0; i < N_CASES; i++) {
        const fmt_case *c = &CASES[i];
        char *out;
        keel_status st = run(c, &out);
        if (c->expect) {
            cr_assert_eq(st, KEEL_OK, "case %zu %s: %s", i, c->fmt, keel_last_error());
            cr_assert_str_eq(out, c->expect, "case %zu %s", i, c->fmt);
            ok++;
            continue;
        }
        cr_assert_eq(st, KEEL_ERR_ARG, "case %zu %s: expected an error, got \"%s\"", i, c->fmt,
                     out);
        cr_assert_str_eq(out, "", "case %zu %s: the buffer must be empty after an error", i,
                         c->fmt);
        const char *msg = keel_last_error();
        cr_assert(strstr(msg, "ModelCheckpoint"), "case %zu: %s", i, msg);
        char want[128];
        snprintf(want, sizeof want, "%s", c->error);
        char *key = strchr(want, '\t');
        if (key) *key++ = 0;
        cr_assert(strstr(msg, want), "case %zu %s: \"%s\" lacks \"%s\"", i, c->fmt, msg, want);
        if (key) {
            char quoted[80];
            snprintf(quoted, sizeof quoted, "'%s'", key);
            cr_assert(strstr(msg, quoted), "case %zu: \"%s\" does not name %s", i, msg, quoted);
        }
        errors++;
    }
    cr_assert_gt(ok, 100);
    cr_assert_gt(errors, 50);
}

/* Python's rounding is round-half-even on the exact binary value: spelled out once, so a reader
 * sees what the table checks */
Test(checkpoint_fmt, rounding_examples) {
    const char *names[] = {"val_loss"};
    struct {
        double v;
        const char *fmt, *want;
    } ex[] = {
        {0.125, "{val_loss:.2f}", "0.12"}, /* exact tie, to even */
        {0.375, "{val_loss:.2f}", "0.38"}, /* exact tie, to even */
        {2.675, "{val_loss:.2f}", "2.67"}, /* 2.67499999... in binary */
        {1e16, "{val_loss}", "1e+16"},     /* repr switches to exponent at 1e16 */
        {1e15, "{val_loss}", "1000000000000000.0"},
        {-0.0, "{val_loss:.2f}", "-0.00"},   /* the sign of zero is kept */
        {-0.0, "{val_loss:z.2f}", "0.00"},   /* unless z asks */
        {-0.001, "{val_loss:.2f}", "-0.00"}, /* a negative that rounds to zero too */
        {NAN, "{val_loss:.2f}", "nan"},
        {-NAN, "{val_loss:+}", "+nan"}, /* Python ignores a NaN's sign */
        {-INFINITY, "{val_loss:E}", "-INF"},
        {0.1, "{val_loss:.20f}", "0.10000000000000000555"},
    };
    for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++) {
        keel_logs logs = {1, names, &ex[i].v};
        char out[64];
        cr_assert_eq(keel_format_filepath(ex[i].fmt, 0, &logs, out, sizeof out), KEEL_OK);
        cr_assert_str_eq(out, ex[i].want, "%s of %a", ex[i].fmt, ex[i].v);
    }
}

Test(checkpoint_fmt, epoch_is_shown_one_based) {
    char out[32];
    cr_assert_eq(keel_format_filepath("m-{epoch:02d}.keras", 0, NULL, out, sizeof out), KEEL_OK);
    cr_assert_str_eq(out, "m-01.keras");
    cr_assert_eq(keel_format_filepath("m-{epoch}.keras", 41, NULL, out, sizeof out), KEEL_OK);
    cr_assert_str_eq(out, "m-42.keras");
}

Test(checkpoint_fmt, bad_arguments) {
    char out[8] = "x";
    cr_assert_eq(keel_format_filepath(NULL, 0, NULL, out, sizeof out), KEEL_ERR_ARG);
    cr_assert_str_eq(out, "");
    cr_assert_eq(keel_format_filepath("a", 0, NULL, NULL, 8), KEEL_ERR_ARG);
    cr_assert_eq(keel_format_filepath("a", 0, NULL, out, 0), KEEL_ERR_ARG);
    cr_assert_eq(out[0], 0);
    /* no logs: only epoch can be named, and the message says so */
    cr_assert_eq(keel_format_filepath("{val_loss}", 0, NULL, out, sizeof out), KEEL_ERR_ARG);
    cr_assert(strstr(keel_last_error(), "'val_loss'"), "%s", keel_last_error());
}

/* Every prefix of a hostile template: an error or a result, never a write out of bounds (the
 * guard bytes) or a hang, whatever the cut. */
Test(checkpoint_fmt, every_prefix_is_safe) {
    static const char *tmpl[] = {"a{{{epoch:*^+#030.7e}}}b{loss:z=-9.3%}{val_loss!r:>{epoch}}",
                                 "{epoch:\xc3\xa9<999999999999999999999999d}{{{:}}}{[}{]}",
                                 "}}{{{loss:.2147483647g}{loss:.2147483648g}"};
    const char *names[] = {"loss", "val_loss"};
    const double values[] = {-0.0, NAN};
    for (size_t t = 0; t < sizeof tmpl / sizeof tmpl[0]; t++) {
        char buf[256];
        size_t len = strlen(tmpl[t]);
        for (size_t cut = 0; cut <= len; cut++) {
            snprintf(buf, sizeof buf, "%.*s", (int)cut, tmpl[t]);
            for (size_t cap = 1; cap < 48; cap += 5) {
                fmt_case c = {buf, 3, 2, {names[0], names[1]}, {values[0], values[1]}, cap, 0, 0};
                char *out;
                keel_status st = run(&c, &out);
                cr_assert(st == KEEL_OK || st == KEEL_ERR_ARG);
                cr_assert_lt(strlen(out), cap);
            }
        }
    }
}

Test(checkpoint_fmt, repr_double) {
    struct {
        double v;
        const char *want;
    } ex[] = {{0.1, "0.1"},
              {1.0, "1.0"},
              {100000.0, "100000.0"}, /* %g would give 1e+05 */
              {1e16, "1e+16"},
              {1e-5, "1e-05"},
              {0.0001, "0.0001"},
              {-0.0, "-0.0"},
              {1.0 / 3, "0.3333333333333333"},
              {5e-324, "5e-324"},
              {1.7976931348623157e308, "1.7976931348623157e+308"},
              {INFINITY, "inf"},
              {NAN, "nan"}};
    for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++) {
        char buf[32];
        cr_assert_eq(keel_repr_double(ex[i].v, buf, sizeof buf), strlen(ex[i].want));
        cr_assert_str_eq(buf, ex[i].want);
    }
    char tiny[4];
    cr_assert_eq(keel_repr_double(0.125, tiny, sizeof tiny), 0); /* "0.125" does not fit */
    cr_assert_str_eq(tiny, "");
}
