/* checkpoint_fmt.c: ModelCheckpoint's filepath, formatted as Keras formats it:
 * filepath.format(epoch=epoch + 1, **logs), Python's str.format over one int and the logged
 * doubles. "ckpt/model-{epoch:02d}-{val_loss:.2f}.keras" -> "ckpt/model-03-0.42.keras".
 *
 * Two halves, each a port of CPython 3.11 (the interpreter Keras runs on):
 *  - the template: literal text with {{ and }} escapes and {name[!conversion][:spec]} fields,
 *    split exactly as Objects/stringlib/unicode_format.h (MarkupIterator, parse_field) does,
 *    so that the same templates are errors here and in Python;
 *  - the spec, [[fill]align][sign][z][#][0][width][.precision][type], parsed as
 *    Python/formatter_unicode.c does, and a double laid out as Python/pystrtod.c's
 *    format_float_short lays out the digits of David Gay's dtoa. The digits come from glibc's
 *    printf, which like dtoa rounds the exact binary value correctly (half to even), and
 *    strtod: the shortest digits for repr, N significant digits for e / g, N decimals for f.
 *
 * Supported: int and float types d, n, e, E, f, F, g, G, %, none; fill (any one UTF-8
 * character), the four alignments, sign, z, #, 0, width, precision. Not supported, each an error
 * naming the field: ',' / '_' grouping, the int types b, o, x, X, c, conversions (!r, !s, !a),
 * nested fields in a spec ({loss:.{p}f}), attribute and index lookups ({loss.real},
 * {x[0]}). Every write is bounded by the caller's cap; a result that does not fit is an error,
 * and huge widths or precisions are refused before any work is done. */
#include "model.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>

/* ---------------------------------------------------------------- output */

/* A bounded writer: what does not fit sets `full` and is dropped. */
typedef struct out_buf {
    char *p;
    size_t cap, len; /* cap counts the terminating NUL */
    bool full;
} out_buf;

static void put(out_buf *o, const char *s, size_t n) {
    if (o->full || n >= o->cap - o->len) {
        o->full = true;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

/* n copies of a fill character of flen bytes (a UTF-8 sequence) */
static void put_fill(out_buf *o, const char *fill, size_t flen, int64_t n) {
    if (n <= 0) return;
    if ((uint64_t)n > (o->cap - o->len) / flen) { /* refuse before looping a billion times */
        o->full = true;
        return;
    }
    for (int64_t i = 0; i < n && !o->full; i++)
        put(o, fill, flen);
}

/* ---------------------------------------------------------------- the spec */

typedef struct fmt_spec {
    char fill[5];
    size_t fill_len;
    char align; /* '<', '>', '^', '=' */
    char sign;  /* '+', '-', ' ', or 0 */
    bool no_neg_0, alternate;
    int64_t width, precision; /* -1: not given */
    char type;                /* 0: none */
    bool grouping;
} fmt_spec;

static bool is_align(char c) {
    return c == '<' || c == '>' || c == '^' || c == '=';
}

/* Bytes in the UTF-8 sequence that starts with c (1 for ASCII), 0 for a byte that cannot
 * start one. */
static size_t utf8_len(unsigned char c) {
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return 2;
    if (c >= 0xE0 && c <= 0xEF) return 3;
    if (c >= 0xF0 && c <= 0xF4) return 4;
    return 0;
}

/* Python's get_integer: the decimal digits at *s; -1 for none, -2 past INT64_MAX (Python's
 * "Too many decimal digits in format string"). */
static int64_t get_integer(const char **s, const char *end) {
    int64_t v = -1;
    for (; *s < end && **s >= '0' && **s <= '9'; (*s)++) {
        int d = **s - '0';
        if (v < 0) v = 0;
        if (v > (INT64_MAX - d) / 10) return -2;
        v = v * 10 + d;
    }
    return v;
}

/* parse_internal_render_format_spec, numbers' defaults (right alignment). Returns NULL, or the
 * reason the spec is invalid (the ValueError Python raises). */
static const char *parse_spec(const char *s, const char *end, fmt_spec *f) {
    *f = (fmt_spec){.fill = " ", .fill_len = 1, .align = '>', .width = -1, .precision = -1};
    bool fill_given = false, align_given = false;
    size_t n0 = s < end ? utf8_len((unsigned char)*s) : 0;
    if (s < end && n0 == 0) return "the format spec is not valid UTF-8";
    if (n0 && s + n0 < end && is_align(s[n0])) {
        for (size_t i = 1; i < n0; i++)
            if (((unsigned char)s[i] & 0xC0) != 0x80) return "the format spec is not valid UTF-8";
        memcpy(f->fill, s, n0);
        f->fill[n0] = 0, f->fill_len = n0;
        f->align = s[n0];
        fill_given = align_given = true;
        s += n0 + 1;
    } else if (s < end && is_align(*s)) {
        f->align = *s++;
        align_given = true;
    }
    if (s < end && (*s == '+' || *s == '-' || *s == ' ')) f->sign = *s++;
    if (s < end && *s == 'z') f->no_neg_0 = true, s++;
    if (s < end && *s == '#') f->alternate = true, s++;
    if (!fill_given && s < end && *s == '0') {
        f->fill[0] = '0';
        if (!align_given) f->align = '=';
        s++;
    }
    f->width = get_integer(&s, end);
    if (f->width == -2) return "Too many decimal digits in format string";
    if (s < end && (*s == ',' || *s == '_')) {
        f->grouping = true;
        s++;
        if (s < end && (*s == ',' || *s == '_') && s[-1] != *s)
            return "Cannot specify both ',' and '_'.";
    }
    if (s < end && *s == '.') {
        s++;
        f->precision = get_integer(&s, end);
        if (f->precision == -1) return "Format specifier missing precision";
        if (f->precision == -2) return "Too many decimal digits in format string";
    }
    if (end - s > 1) return "Invalid format specifier";
    if (end - s == 1) f->type = *s;
    return NULL;
}

/* ---------------------------------------------------------------- digits of a double */

/* What dtoa gives format_float_short: the decimal digits of |v| without trailing zeros ("0"
 * for zero) and the position of the decimal point (value = 0.DIGITS * 10^decpt). */
typedef struct digits {
    char d[1500]; /* up to 309 integer digits and DEC_MAX decimals */
    int n;
    int decpt;
} digits;

/* Exact decimal expansions of doubles end within 767 significant digits and 1074 decimals:
 * beyond these, more precision only appends zeros, which dtoa strips. */
#define SIG_MAX 800
#define DEC_MAX 1100

/* From printf's "%.*e" text of |v| ("d.ddde+XX"). */
static void digits_from_e(const char *s, digits *g) {
    g->n = 0;
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9') g->d[g->n++] = *s;
    g->decpt = atoi(s + 1) + 1;
}

static void strip_zeros(digits *g) {
    while (g->n > 1 && g->d[g->n - 1] == '0')
        g->n--;
    if (g->n == 1 && g->d[0] == '0') g->decpt = 1; /* zero, as dtoa returns it */
    g->d[g->n] = 0;
}

/* mode 2: `sig` significant digits, correctly rounded */
static void digits_sig(double a, int64_t sig, digits *g) {
    char buf[SIG_MAX + 16];
    snprintf(buf, sizeof buf, "%.*e", (int)(sig > SIG_MAX ? SIG_MAX : sig) - 1, a);
    digits_from_e(buf, g);
    strip_zeros(g);
}

/* mode 3: `dec` decimals, correctly rounded; a value that rounds to zero gives "0" (dtoa's
 * empty string lays out the same) */
static void digits_fixed(double a, int64_t dec, digits *g) {
    char buf[DEC_MAX + 330];
    snprintf(buf, sizeof buf, "%.*f", (int)(dec > DEC_MAX ? DEC_MAX : dec), a);
    int intlen = (int)strcspn(buf, ".");
    g->n = 0, g->decpt = intlen;
    for (const char *s = buf; *s; s++) {
        if (*s < '0' || *s > '9') continue;
        if (g->n == 0 && *s == '0') { /* leading zeros move the point */
            g->decpt--;
            continue;
        }
        g->d[g->n++] = *s;
    }
    if (g->n == 0) g->d[g->n++] = '0', g->decpt = 1;
    strip_zeros(g);
}

/* Adds (+1) or subtracts (-1) one unit in the last of g's n digits, carrying. */
static void digits_step(digits *g, int dir) {
    int i = g->n - 1;
    if (dir > 0) {
        while (i >= 0 && g->d[i] == '9')
            g->d[i--] = '0';
        if (i >= 0) {
            g->d[i]++;
        } else { /* 99.9 -> 100.0: one more digit before the point */
            memmove(g->d + 1, g->d, (size_t)g->n);
            g->d[0] = '1', g->decpt++;
        }
    } else {
        while (i >= 0 && g->d[i] == '0')
            g->d[i--] = '9';
        g->d[i]--;
        if (g->d[0] == '0') { /* 100 -> 099: drop the leading zero */
            memmove(g->d, g->d + 1, (size_t)g->n - 1);
            g->d[g->n - 1] = '9', g->decpt--;
        }
    }
}

static double digits_value(const digits *g) {
    char buf[64];
    snprintf(buf, sizeof buf, "0.%.*se%d", g->n, g->d, g->decpt);
    return strtod(buf, NULL);
}

/* mode 0: the shortest digits that read back as a, the nearest to a among them (dtoa's repr).
 * The nearest p-digit decimal is printf's; when it does not read back, the only other p-digit
 * candidate is its neighbour on a's other side (the round-trip interval is uneven at powers
 * of two). */
static void digits_shortest(double a, digits *g) {
    for (int p = 1; p <= 17; p++) {
        char buf[40];
        snprintf(buf, sizeof buf, "%.*e", p - 1, a);
        digits_from_e(buf, g);
        double v = strtod(buf, NULL);
        if (v == a) break;
        digits other = *g;
        digits_step(&other, v < a ? 1 : -1);
        if (digits_value(&other) == a) {
            *g = other;
            break;
        }
    }
    strip_zeros(g);
}

/* ---------------------------------------------------------------- layout */

/* format_float_short: digits to text for the codes 'e', 'f', 'g', 'r', into out (sign
 * excluded). Returns the length, or -1 when it would not fit in cap. */
static int64_t layout(const digits *g, char code, int64_t precision, bool add_dot_0, bool alt,
                      bool upper, char *out, size_t cap) {
    int64_t decpt = g->decpt, n = g->n, vend = n, exp = 0;
    bool use_exp = false;
    switch (code) {
    case 'e': use_exp = true, vend = precision; break;
    case 'f': vend = decpt + precision; break;
    case 'g':
        if (decpt <= -4 || decpt > (add_dot_0 ? precision - 1 : precision)) use_exp = true;
        if (alt) vend = precision;
        break;
    default: /* 'r' */
        if (decpt <= -4 || decpt > 16) use_exp = true;
    }
    if (use_exp) exp = decpt - 1, decpt = 1;
    int64_t vstart = decpt <= 0 ? decpt - 1 : 0;
    if (!use_exp && add_dot_0)
        vend = vend > decpt ? vend : decpt + 1;
    else
        vend = vend > decpt ? vend : decpt;
    /* a point, the digits with their zero padding, "e+308" */
    if ((uint64_t)(vend - vstart) + 8 > cap) return -1;
    char *p = out;
    if (decpt <= 0) {
        memset(p, '0', (size_t)(decpt - vstart)), p += decpt - vstart;
        *p++ = '.';
        memset(p, '0', (size_t)-decpt), p += -decpt;
    } else {
        memset(p, '0', (size_t)-vstart), p += -vstart;
    }
    if (0 < decpt && decpt <= n) {
        memcpy(p, g->d, (size_t)decpt), p += decpt;
        *p++ = '.';
        memcpy(p, g->d + decpt, (size_t)(n - decpt)), p += n - decpt;
    } else {
        memcpy(p, g->d, (size_t)n), p += n;
    }
    if (n < decpt) {
        memset(p, '0', (size_t)(decpt - n)), p += decpt - n;
        *p++ = '.';
        memset(p, '0', (size_t)(vend - decpt)), p += vend - decpt;
    } else {
        memset(p, '0', (size_t)(vend - n)), p += vend - n;
    }
    if (p[-1] == '.' && !alt) p--;
    if (use_exp) p += snprintf(p, 8, "%c%+.02d", upper ? 'E' : 'e', (int)exp);
    return p - out;
}

/* fill_number without grouping: sign and body padded to the width as the alignment says */
static void put_number(out_buf *o, const fmt_spec *f, const char *sign, const char *body,
                       size_t blen) {
    size_t slen = strlen(sign);
    int64_t pad = f->width - (int64_t)(slen + blen), left = 0, mid = 0, right = 0;
    if (pad > 0) switch (f->align) {
        case '<': right = pad; break;
        case '^': left = pad / 2, right = pad - left; break;
        case '=': mid = pad; break;
        default: left = pad;
        }
    put_fill(o, f->fill, f->fill_len, left);
    put(o, sign, slen);
    put_fill(o, f->fill, f->fill_len, mid);
    put(o, body, blen);
    put_fill(o, f->fill, f->fill_len, right);
}

static const char *sign_of(const fmt_spec *f, bool negative) {
    return negative ? "-" : f->sign == '+' ? "+" : f->sign == ' ' ? " " : "";
}

/* format_float_internal. Returns NULL, or the reason it cannot (out full is reported by the
 * caller). */
static const char *format_double(out_buf *o, const fmt_spec *f, double v) {
    char type = f->type, code = 0;
    int64_t prec = f->precision;
    bool add_dot_0 = false, pct = false, upper = false;
    switch (type) {
    case 0:
        add_dot_0 = true;
        code = prec < 0 ? 'r' : 'g';
        break;
    case 'n': code = 'g'; break;
    case '%': code = 'f', pct = true, v *= 100; break;
    case 'E':
    case 'F':
    case 'G': upper = true, code = (char)(type - 'A' + 'a'); break;
    case 'e':
    case 'f':
    case 'g': code = type; break;
    default: return "Unknown format code for object of type 'float'";
    }
    if (prec > INT_MAX) return "precision too big";
    if (prec < 0) prec = code == 'r' ? 0 : 6;
    if (code == 'g' && prec == 0) prec = 1;
    /* 'f' and 'e' print at least prec characters, '#g' too: refuse what cannot fit. Other
     * codes print at most SIG_MAX digits and zeros up to the point, whatever prec says. */
    bool long_prec = code == 'f' || code == 'e' || (code == 'g' && f->alternate);
    if (long_prec && (uint64_t)prec >= o->cap - o->len) {
        o->full = true;
        return NULL;
    }

    bool negative = signbit(v) != 0;
    double a = fabs(v);
    /* the text: at most ~310 integer digits, DEC_MAX decimals or SIG_MAX digits, unless a
     * precision (already known to fit in out) asks for more zeros */
    char stack[DEC_MAX + 420], *body = stack;
    size_t bcap = sizeof stack;
    if (long_prec && prec > DEC_MAX) { /* at most the caller's cap */
        bcap = (size_t)prec + 420;
        if (!(body = keel_alloc(bcap))) return "out of memory";
    }
    int64_t blen;
    if (isnan(v) || isinf(v)) {
        if (isnan(v)) negative = false; /* Python ignores a NaN's sign */
        memcpy(body, isnan(v) ? (upper ? "NAN" : "nan") : (upper ? "INF" : "inf"), 3);
        blen = 3;
    } else {
        digits g;
        if (code == 'r')
            digits_shortest(a, &g);
        else if (code == 'f')
            digits_fixed(a, prec, &g);
        else
            digits_sig(a, code == 'e' ? prec + 1 : prec, &g);
        if (f->no_neg_0 && g.n == 1 && g.d[0] == '0') negative = false;
        /* format_float_short counts 'e' digits with the one before the point */
        blen = layout(&g, code, code == 'e' ? prec + 1 : prec, add_dot_0, f->alternate, upper, body,
                      bcap - 1);
    }
    if (blen < 0)
        o->full = true;
    else {
        if (pct) body[blen++] = '%';
        put_number(o, f, sign_of(f, negative), body, (size_t)blen);
    }
    if (body != stack) keel_free(body);
    return NULL;
}

/* format_long_internal for d / n / none; the float types go through the double */
static const char *format_int(out_buf *o, const fmt_spec *f, long long v) {
    switch (f->type) {
    case 0:
    case 'd':
    case 'n': break;
    case 'e':
    case 'E':
    case 'f':
    case 'F':
    case 'g':
    case 'G':
    case '%': return format_double(o, f, (double)v);
    default: return "Unknown format code for object of type 'int'";
    }
    if (f->no_neg_0) return "Negative zero coercion (z) not allowed in integer format specifier";
    if (f->precision >= 0) return "Precision not allowed in integer format specifier";
    char body[32];
    unsigned long long m = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    int blen = snprintf(body, sizeof body, "%llu", m);
    put_number(o, f, sign_of(f, v < 0), body, (size_t)blen);
    return NULL;
}

/* ---------------------------------------------------------------- the template */

/* A template in a message: its first 160 bytes, then "..." (messages are one short line) */
#define TMPL_SHOWN(t) (strlen(t) > 160 ? 160 : (int)strlen(t)), (t), (strlen(t) > 160 ? "..." : "")

/* The error of one template: Keras's words for an unknown key, Python's ValueError text for a
 * malformed one, keel's for what it does not support. */
static keel_status fail(const char *tmpl, const char *what, ...)
    __attribute__((format(printf, 2, 3)));
static keel_status fail(const char *tmpl, const char *what, ...) {
    char m[KEEL_ERR_CAP];
    va_list ap;
    va_start(ap, what);
    vsnprintf(m, sizeof m, what, ap);
    va_end(ap);
    return keel_error(KEEL_ERR_ARG, "ModelCheckpoint: filepath \"%.*s%s\": %s", TMPL_SHOWN(tmpl),
                      m);
}

/* One {field}: name, conversion and spec, as parse_field splits it, then the value. */
static keel_status format_field(out_buf *o, const char *tmpl, const char *s, const char *end,
                                long long epoch, const keel_logs *logs) {
    const char *name = s, *spec = end;
    char conversion = 0;
    for (; s < end; s++) {
        if (*s == '{') return fail(tmpl, "unexpected '{' in field name");
        if (*s == '[') { /* skipped to its ']', as Python does, so a ':' inside is a name */
            while (s + 1 < end && s[1] != ']')
                s++;
            continue;
        }
        if (*s == ':' || *s == '!') break;
    }
    const char *name_end = s;
    if (s < end && *s == '!') {
        if (++s >= end) return fail(tmpl, "end of string while looking for conversion specifier");
        conversion = *s++;
        if (s < end && *s != ':') return fail(tmpl, "expected ':' after conversion specifier");
    }
    if (s < end) spec = s + 1; /* past the ':' */
    int nlen = (int)(name_end - name);
    /* the field as written, for messages: {%.*s} with flen, name */
    int flen = (int)(end - name) < 100 ? (int)(end - name) : 100;

    size_t key_len = strcspn(name, ".[");
    if ((int)key_len > nlen) key_len = (size_t)nlen;
    bool positional = key_len == 0;
    for (size_t i = 0; i < key_len && !positional; i++)
        positional = i == 0 && name[0] >= '0' && name[0] <= '9';
    if (positional)
        return fail(tmpl, "{%.*s}: Replacement index %.*s out of range for positional args tuple",
                    flen, name, key_len ? (int)key_len : 1, key_len ? name : "0");
    char key[128];
    if (key_len >= sizeof key) return fail(tmpl, "a field name is longer than 127 bytes");
    memcpy(key, name, key_len), key[key_len] = 0;

    bool is_epoch = !strcmp(key, "epoch");
    double value = 0;
    if (is_epoch && keel_logs_get(logs, "epoch", NULL))
        return fail(tmpl, "format() got multiple values for keyword argument 'epoch'");
    if (!is_epoch && !keel_logs_get(logs, key, &value)) {
        char avail[256] = "";
        size_t len = 0;
        for (int i = 0; logs && i < logs->count && len < sizeof avail; i++)
            len += (size_t)snprintf(avail + len, sizeof avail - len, "%s%s", i ? ", " : "",
                                    logs->names[i]);
        return keel_error(KEEL_ERR_ARG,
                          "ModelCheckpoint: Failed to format this callback filepath: \"%.*s%s\". "
                          "Reason: '%s' (epoch and the logs can be used: %s)",
                          TMPL_SHOWN(tmpl), key, len ? avail : "none");
    }
    if ((int)key_len < nlen)
        return fail(tmpl, "{%.*s}: attribute and index lookups are not supported by keel", flen,
                    name);
    if (conversion == 'r' || conversion == 's' || conversion == 'a')
        return fail(tmpl, "{%.*s}: conversions (!r, !s, !a) are not supported by keel", flen, name);
    if (conversion) return fail(tmpl, "{%.*s}: Unknown conversion specifier", flen, name);
    for (const char *c = spec; c < end; c++)
        if (*c == '{' || *c == '}')
            return fail(tmpl, "{%.*s}: nested fields in a format spec are not supported by keel",
                        flen, name);

    fmt_spec f;
    const char *why = parse_spec(spec, end, &f);
    if (!why && f.grouping) why = "',' and '_' grouping are not supported by keel";
    if (!why && f.type && !strchr("dneEfFgG%", f.type))
        why = strchr("boxXc", f.type) ? "this int format code is not supported by keel"
                                      : "Unknown format code";
    if (!why) why = is_epoch ? format_int(o, &f, epoch) : format_double(o, &f, value);
    if (why)
        return fail(tmpl, "{%.*s}: format spec '%.*s': %s", flen, name,
                    (int)(end - spec) < 60 ? (int)(end - spec) : 60, spec, why);
    return KEEL_OK;
}

/* The template into o: literal text and fields, as MarkupIterator_next walks it. */
static keel_status format_template(out_buf *o, const char *fmt, long long epoch,
                                   const keel_logs *logs) {
    const char *s = fmt, *end = fmt + strlen(fmt);
    while (s < end && !o->full) {
        /* literal text up to a brace */
        const char *lit = s;
        char c = 0;
        while (s < end && (c = *s++) != '{' && c != '}')
            c = 0;
        bool at_end = s >= end;
        size_t len = (size_t)(s - lit);
        if (c == '}' && (at_end || *s != '}'))
            return fail(fmt, "Single '}' encountered in format string");
        if (c == '{' && at_end) return fail(fmt, "Single '{' encountered in format string");
        bool markup = c != 0;
        if (c && *s == c) { /* {{ or }}: one brace of literal text */
            s++;
            markup = false;
        } else if (c) {
            len--;
        }
        put(o, lit, len);
        if (!markup) continue;
        /* the field runs to the '}' that balances its '{' */
        const char *field = s;
        int depth = 1;
        while (s < end && depth > 0) {
            if (*s == '{') depth++;
            if (*s == '}') depth--;
            s++;
        }
        if (depth > 0) return fail(fmt, "expected '}' before end of string");
        keel_status st = format_field(o, fmt, field, s - 1, epoch, logs);
        if (st != KEEL_OK) return st;
    }
    if (o->full)
        return keel_error(KEEL_ERR_ARG,
                          "ModelCheckpoint: filepath \"%.*s%s\" formats to %zu bytes or more, "
                          "more than the %zu a path may have here",
                          TMPL_SHOWN(fmt), o->cap, o->cap - 1);
    return KEEL_OK;
}

keel_status keel_format_filepath(const char *fmt, int epoch, const keel_logs *logs, char *out,
                                 size_t cap) {
    if (!out || cap == 0)
        return keel_error(KEEL_ERR_ARG, "ModelCheckpoint: no buffer for the filepath");
    out[0] = 0;
    if (!fmt) return keel_error(KEEL_ERR_ARG, "ModelCheckpoint: filepath is NULL");
    out_buf o = {out, cap, 0, false};
    /* Keras formats epoch + 1 */
    keel_status st = format_template(&o, fmt, (long long)epoch + 1, logs);
    out[st == KEEL_OK ? o.len : 0] = 0;
    return st;
}

size_t keel_repr_double(double v, char *buf, size_t cap) {
    if (!buf || cap == 0) return 0;
    out_buf o = {buf, cap, 0, false};
    fmt_spec f = {.fill = " ", .fill_len = 1, .align = '>', .width = -1, .precision = -1};
    format_double(&o, &f, v);
    if (o.full) o.len = 0;
    buf[o.len] = 0;
    return o.len;
}
