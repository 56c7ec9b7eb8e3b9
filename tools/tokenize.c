/* tokenize.c: Keras's Tokenizer and pad_sequences from the command line, on keel's public API.
 * Reads one text per line (a file or standard input), fits a tokenizer on them (or loads one
 * saved as JSON, by Keras or keel) and prints each text as its word indices, space-separated,
 * one line per text: unpadded, or through pad_sequences with --maxlen. See --help.
 * Exit status: 0 on success, 1 on an error (one line on stderr), 2 on a usage error. */
#define _POSIX_C_SOURCE 200809L /* getline, strdup */
#include <keel.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const USAGE =
    "usage: tokenize [options] [FILE]\n"
    "Fits a Keras Tokenizer on the texts of FILE (standard input without one or with \"-\"),\n"
    "one text per line, and prints each text as its word indices, one line per text.\n"
    "  --num-words N       keep the N - 1 most frequent words (default: all)\n"
    "  --oov-token TOK     the token standing for unknown words (index 1)\n"
    "  --lower, --no-lower lowercase the texts or not (default --lower)\n"
    "  --char-level        every character is a token\n"
    "  --filters STR       characters removed from the texts (default: Keras's punctuation)\n"
    "  --split STR         the word separator (default \" \")\n"
    "  --maxlen N          pad and truncate every sequence to N values (pad_sequences);\n"
    "                      without it the sequences are printed as they are\n"
    "  --padding pre|post, --truncating pre|post, --value V\n"
    "                      where pad_sequences pads and cuts, and the padding value\n"
    "                      (defaults pre, pre, 0; only with --maxlen)\n"
    "  --save-json FILE    write the fitted tokenizer as Keras's JSON (tokenizer.to_json())\n"
    "  --load-json FILE    use a saved tokenizer (Keras's tokenizer.to_json() or keel's)\n"
    "                      instead of fitting one on the texts\n"
    "  --help              this text\n";

/* Prints "tokenize: <message>" (one line, with up to two strings in it) and returns the exit
 * status, so that each error path is `return fail(...)`. */
static int fail(int status, const char *fmt, const char *a, const char *b) {
    fprintf(stderr, "tokenize: ");
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    return status;
}

/* A whole number option; false when s is not one. */
static int parse_int(const char *s, long long *out) {
    char *end;
    errno = 0;
    *out = strtoll(s, &end, 10);
    return *s && !*end && !errno;
}

/* Every line of fp without its "\n" (or "\r\n"): the texts, *n of them. NULL on an error. */
static char **read_lines(FILE *fp, const char *name, int64_t *n, int *status) {
    /* Python's open() reads "\r\n" as "\n" too (universal newlines), so a file written on
     * Windows gives the same texts */
    char **lines = NULL, *line = NULL;
    size_t cap = 0, lcap = 0;
    ssize_t len;
    *n = 0;
    while ((len = getline(&line, &lcap, fp)) >= 0) {
        if (len && line[len - 1] == '\n') line[--len] = '\0';
        if (len && line[len - 1] == '\r') line[--len] = '\0';
        /* keel takes texts as C strings: a NUL inside would silently cut the text */
        if (strlen(line) != (size_t)len) {
            char at[32];
            snprintf(at, sizeof at, "%lld", (long long)*n + 1);
            *status = fail(1, "%s: line %s holds a NUL byte (texts are C strings)", name, at);
            goto fail;
        }
        if ((size_t)*n == cap) {
            cap = cap ? 2 * cap : 256;
            char **grown = realloc(lines, cap * sizeof *lines);
            if (!grown) goto nomem;
            lines = grown;
        }
        if (!(lines[*n] = strdup(line))) goto nomem;
        ++*n;
    }
    if (ferror(fp)) {
        *status = fail(1, "%s: %s", name, strerror(errno));
        goto fail;
    }
    free(line);
    if (!lines) lines = malloc(sizeof *lines); /* no lines: an empty list, not an error */
    return lines;
nomem:
    *status = fail(1, "%s: out of memory", name, "");
fail:
    free(line);
    for (int64_t i = 0; i < *n; i++)
        free(lines[i]);
    free(lines);
    return NULL;
}

/* The whole of a file, NUL-terminated (a tokenizer JSON); NULL (and a message) on an error.
 * A JSON with a NUL inside is cut there and then refused by the parser as incomplete. */
static char *read_file(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fail(1, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0, got;
    do {
        if (cap - n < 65536) {
            char *grown = realloc(buf, cap = cap * 2 + 65536);
            if (!grown) break;
            buf = grown;
        }
        got = fread(buf + n, 1, cap - n - 1, fp);
        n += got;
    } while (got > 0);
    int bad = ferror(fp) || !buf;
    fclose(fp);
    if (bad) {
        free(buf);
        fail(1, "%s: cannot read the file", path, "");
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

/* The command line: tokenizer options, pad options (padded: --maxlen was given), files. */
typedef struct options {
    keel_tokenizer_opts tok;
    keel_pad_opts pad;
    int padded;
    const char *input, *save_json, *load_json;
} options;

/* Parses argv into o; returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, options *o) {
    int pad_option = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long long v;
        /* the options that take a value find it in argv[i + 1] */
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = !strcmp(a, "--num-words") || !strcmp(a, "--oov-token") ||
                    !strcmp(a, "--filters") || !strcmp(a, "--split") || !strcmp(a, "--maxlen") ||
                    !strcmp(a, "--padding") || !strcmp(a, "--truncating") ||
                    !strcmp(a, "--value") || !strcmp(a, "--save-json") || !strcmp(a, "--load-json");
        if (takes && !val) return fail(2, "%s needs a value (see --help)", a, "");
        if (takes) i++;
        if (!strcmp(a, "--help")) {
            fputs(USAGE, stdout);
            return 0;
        } else if (!strcmp(a, "--num-words")) {
            if (!parse_int(val, &v)) return fail(2, "--num-words %s: not a whole number", val, "");
            o->tok.num_words = v;
        } else if (!strcmp(a, "--maxlen")) {
            if (!parse_int(val, &v) || v <= 0)
                return fail(2, "--maxlen %s: expected a whole number above 0", val, "");
            o->pad.maxlen = v;
            o->padded = 1;
        } else if (!strcmp(a, "--value")) {
            char *end;
            o->pad.value = strtof(val, &end);
            if (!*val || *end) return fail(2, "--value %s: not a number", val, "");
            pad_option = 1;
        } else if (!strcmp(a, "--padding") || !strcmp(a, "--truncating")) {
            if (strcmp(val, "pre") && strcmp(val, "post"))
                return fail(2, "%s %s: expected pre or post", a, val);
            *(a[2] == 'p' ? &o->pad.padding : &o->pad.truncating) = val;
            pad_option = 1;
        } else if (!strcmp(a, "--oov-token")) {
            o->tok.oov_token = val;
        } else if (!strcmp(a, "--filters")) {
            o->tok.filters = val;
        } else if (!strcmp(a, "--split")) {
            o->tok.split = val;
        } else if (!strcmp(a, "--save-json")) {
            o->save_json = val;
        } else if (!strcmp(a, "--load-json")) {
            o->load_json = val;
        } else if (!strcmp(a, "--lower") || !strcmp(a, "--no-lower")) {
            o->tok.lower = a[2] == 'l';
        } else if (!strcmp(a, "--char-level")) {
            o->tok.char_level = 1;
        } else if (a[0] == '-' && a[1]) {
            return fail(2, "unknown option %s (see --help)", a, "");
        } else if (o->input) {
            return fail(2, "one input file at most (%s and %s)", o->input, a);
        } else {
            o->input = a;
        }
    }
    if (pad_option && !o->padded)
        return fail(2, "--padding, --truncating and --value need --maxlen", "", "");
    return -1;
}

/* Prints the sequences, through pad_sequences when asked to; an empty sequence is an empty
 * line, so line i of the output is always text i. */
static int print_sequences(const keel_sequences *s, const options *o) {
    if (!o->padded) {
        for (int64_t i = 0; i < s->count; i++) {
            const int32_t *v = keel_sequences_at(s, i);
            for (int64_t k = 0; k < keel_sequences_length(s, i); k++)
                printf(k ? " %d" : "%d", (int)v[k]);
            putchar('\n');
        }
        return 0;
    }
    keel_tensor *x = keel_pad_sequences_(s, o->pad);
    if (!x) return fail(1, "%s", keel_last_error(), "");
    const float *d = keel_tensor_cdata(x);
    int64_t rows = keel_tensor_dim(x, 0), cols = keel_tensor_dim(x, 1);
    for (int64_t i = 0; i < rows; i++) {
        /* whole numbers (pad_sequences' int32 values held as floats) */
        for (int64_t k = 0; k < cols; k++)
            printf(k ? " %lld" : "%lld", (long long)d[i * cols + k]);
        putchar('\n');
    }
    keel_tensor_free(x);
    return 0;
}

int main(int argc, char **argv) {
    options o = {.tok = {.lower = 1}, .pad = {.padding = "pre", .truncating = "pre"}};
    int status = parse_args(argc, argv, &o);
    if (status >= 0) return status;
    int from_stdin = !o.input || !strcmp(o.input, "-");
    const char *name = from_stdin ? "standard input" : o.input;
    FILE *fp = from_stdin ? stdin : fopen(o.input, "r");
    if (!fp) return fail(1, "%s: %s", o.input, strerror(errno));
    int64_t n;
    status = 0;
    char **texts = read_lines(fp, name, &n, &status);
    if (!from_stdin) fclose(fp);
    if (!texts) return status;

    /* the tokenizer: loaded (Keras's or keel's JSON), or fitted on the texts themselves */
    keel_tokenizer *t = NULL;
    keel_sequences *s = NULL;
    if (o.load_json) {
        char *json = read_file(o.load_json);
        if (!json) status = 1;
        t = json ? keel_tokenizer_from_json(json) : NULL;
        free(json);
    } else {
        t = keel_tokenizer_new_(o.tok);
        if (t && keel_tokenizer_fit_on_texts(t, (const char *const *)texts, n) != KEEL_OK) {
            keel_tokenizer_free(t);
            t = NULL;
        }
    }
    if (!t && !status) status = fail(1, "%s", keel_last_error(), "");
    if (t && o.save_json) {
        char *json = keel_tokenizer_to_json(t);
        FILE *out = json ? fopen(o.save_json, "w") : NULL;
        int ok = out && fputs(json, out) >= 0;
        if (out && fclose(out) != 0) ok = 0;
        if (!ok)
            status = fail(1, "%s: %s", o.save_json, json ? strerror(errno) : keel_last_error());
        free(json);
    }
    if (t && !status) {
        s = keel_tokenizer_texts_to_sequences(t, (const char *const *)texts, n);
        status = s ? print_sequences(s, &o) : fail(1, "%s", keel_last_error(), "");
    }
    /* a full disk or a closed pipe must not pass for success */
    if (!status && (fflush(stdout) != 0 || ferror(stdout)))
        status = fail(1, "standard output: %s", strerror(errno), "");
    keel_sequences_free(s);
    keel_tokenizer_free(t);
    for (int64_t i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
    return status;
}
