/* sequence.c: keel_sequences (a list of int32 sequences of different lengths, Python's list of
 * lists) and keras.utils.pad_sequences over it. The tokenizer that makes sequences is in
 * text.c.
 *
 * pad_sequences returns Keras's int32 matrix as a float32 tensor of whole numbers (keel's only
 * tensor type today). Two things follow, both refused rather than rounded: a value that float32
 * cannot hold exactly (beyond 2^24), and a pad value that is not finite (numpy's int32 cast
 * raises on NaN). A fractional pad value is truncated toward zero, as np.full(..., value,
 * dtype="int32") does. */
#include "text.h"

#include <stdio.h>

/* float32 holds every integer up to 2^24 exactly, and not all of them beyond */
#define EXACT_IN_FLOAT ((int64_t)1 << 24)

keel_status keel_sequences_check(const keel_sequences *s, const char *fn) {
    if (!s) KEEL_FAIL(KEEL_ERR_ARG, "%s: sequences is NULL", fn);
    if (s->count < 0)
        KEEL_FAIL(KEEL_ERR_ARG, "%s: sequences count is %lld, expected 0 or more", fn,
                  (long long)s->count);
    if (!s->offsets) KEEL_FAIL(KEEL_ERR_ARG, "%s: sequences offsets is NULL", fn);
    if (s->offsets[0] < 0)
        KEEL_FAIL(KEEL_ERR_ARG, "%s: sequences offsets[0] is %lld, expected 0 or more", fn,
                  (long long)s->offsets[0]);
    for (int64_t i = 0; i < s->count; i++)
        if (s->offsets[i + 1] < s->offsets[i])
            KEEL_FAIL(KEEL_ERR_ARG,
                      "%s: sequences offsets decrease at %lld (%lld then %lld); sequence i is "
                      "values[offsets[i] .. offsets[i + 1])",
                      fn, (long long)i, (long long)s->offsets[i], (long long)s->offsets[i + 1]);
    if (!s->values && s->offsets[s->count] > s->offsets[0])
        KEEL_FAIL(KEEL_ERR_ARG, "%s: sequences values is NULL", fn);
    return KEEL_OK;
}

/* The accessors forgive what the checked calls refuse: they return 0 / NULL for anything out
 * of range, so a loop over keel_sequences_length needs no error path. */
int64_t keel_sequences_length(const keel_sequences *s, int64_t i) {
    if (!s || !s->offsets || i < 0 || i >= s->count) return 0;
    return s->offsets[i + 1] - s->offsets[i];
}

const int32_t *keel_sequences_at(const keel_sequences *s, int64_t i) {
    if (!s || !s->offsets || !s->values || i < 0 || i >= s->count) return NULL;
    return s->values + s->offsets[i];
}

/* Only for what keel returned: the three blocks come from keel_alloc. */
void keel_sequences_free(keel_sequences *s) {
    if (!s) return;
    keel_free(s->offsets);
    keel_free(s->values);
    keel_free(s);
}

/* "pre" -> 0, "post" -> 1, NULL -> "pre"; -1 for anything else. */
static int pre_post(const char *s) {
    if (!s || strcmp(s, "pre") == 0) return 0;
    return strcmp(s, "post") == 0 ? 1 : -1;
}

keel_tensor *keel_pad_sequences_(const keel_sequences *s, keel_pad_opts o) {
    const char *fn = "keel_pad_sequences";
    int padding = pre_post(o.padding), truncating = pre_post(o.truncating);
    const char *bad = padding < 0 ? "padding" : truncating < 0 ? "truncating" : NULL;
    if (bad) {
        keel_error(KEEL_ERR_ARG, "%s: %s \"%s\" not understood (\"pre\" or \"post\")", fn, bad,
                   padding < 0 ? o.padding : o.truncating);
        return NULL;
    }
    if (o.maxlen < 0) {
        keel_error(KEEL_ERR_ARG, "%s: maxlen is %lld, expected 0 (None: the longest) or more", fn,
                   (long long)o.maxlen);
        return NULL;
    }
    if (!isfinite(o.value) || fabsf(o.value) > (float)EXACT_IN_FLOAT) {
        keel_error(KEEL_ERR_ARG,
                   "%s: value %g is not a whole number float32 holds exactly (|value| <= 2^24)", fn,
                   (double)o.value);
        return NULL;
    }
    if (keel_sequences_check(s, fn) != KEEL_OK) return NULL;
    if (!s->count && !o.maxlen) {
        keel_error(KEEL_ERR_ARG, "%s: no sequences and no maxlen (Keras's np.max of nothing)", fn);
        return NULL;
    }
    /* one pass: the longest length (maxlen None) and the float32 check of every value */
    int64_t maxlen = o.maxlen;
    for (int64_t i = 0; i < s->count; i++) {
        if (!o.maxlen) maxlen = KEEL_MAX(maxlen, s->offsets[i + 1] - s->offsets[i]);
        for (int64_t k = s->offsets[i]; k < s->offsets[i + 1]; k++)
            if (s->values[k] > EXACT_IN_FLOAT || s->values[k] < -EXACT_IN_FLOAT) {
                keel_error(KEEL_ERR_ARG,
                           "%s: sequence %lld holds %d, beyond the 2^24 that float32 holds "
                           "exactly (keel's tensors are float32)",
                           fn, (long long)i, (int)s->values[k]);
                return NULL;
            }
    }
    keel_tensor *x = keel_tensor_new(KEEL_SHAPE(s->count, maxlen));
    if (!x) {
        keel_error_prefix(fn);
        return NULL;
    }
    /* np.full(..., value, dtype="int32") truncates toward zero */
    float fill = truncf(o.value) + 0.0f; /* + 0: -0.5 pads with 0, not -0 */
    for (int64_t i = 0; i < x->size; i++)
        x->data[i] = fill;
    for (int64_t i = 0; i < s->count; i++) {
        const int32_t *v = s->values + s->offsets[i];
        int64_t len = s->offsets[i + 1] - s->offsets[i];
        /* truncating "pre" keeps the last maxlen values (s[-maxlen:]), "post" the first */
        int64_t keep = KEEL_MIN(len, maxlen);
        if (truncating == 0) v += len - keep;
        /* padding "pre" puts them at the row's end (x[i, -len:]), "post" at its start */
        float *row = x->data + i * maxlen + (padding == 0 ? maxlen - keep : 0);
        for (int64_t k = 0; k < keep; k++)
            row[k] = (float)v[k];
    }
    return x;
}
