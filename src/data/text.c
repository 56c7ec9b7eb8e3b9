/* text.c: keras.preprocessing.text.Tokenizer: turning texts into words exactly as Python does,
 * fitting the vocabulary, texts <-> sequences, and texts_to_matrix. Not here: the maps
 * (text_map.c), the JSON form (text_json.c), pad_sequences and the sequences type
 * (sequence.c).
 *
 * Python semantics, and how they are kept:
 *  - str.lower is Unicode's full lowercase mapping with the Final_Sigma context, locale-free.
 *    ICU's ucasemap_utf8ToLower with the root locale ("") is exactly that (a hand-made table
 *    would miss "İ" -> "i̇" and the final sigma); utf8proc was the other candidate, but its
 *    utf8proc_tolower is the simple one-to-one mapping, which gets both of those wrong.
 *  - Texts come as bytes. Invalid UTF-8 is replaced as bytes.decode("utf-8", "replace") does:
 *    one U+FFFD per maximal subpart, which is what ICU's U8_NEXT reports (checked against
 *    Python in the fixtures). After that every string is valid UTF-8, so a byte-level
 *    substring search finds exactly the code-point-level matches Python's str.split finds.
 *  - text_to_word_sequence is done literally: translate filter characters to split, then
 *    split on split. For a split of one character that equals "runs of other characters",
 *    but a split of several characters can straddle a replaced filter, so the translation is
 *    materialized. */
#include "text.h"

#include <stdio.h>
#include <unicode/ucasemap.h>
#include <unicode/utf8.h>

/* ICU counts in int32_t; a text may grow 3x when its invalid bytes become U+FFFD, and again
 * when lowercased, so texts are capped well below 2^31 bytes. */
#define TEXT_MAX_BYTES ((size_t)1 << 28)

/* ---- growable buffers for the per-text work. Each call (fit, texts_to_sequences) keeps three
 * of them for all its texts, so a corpus of a million lines costs a handful of allocations,
 * not three per line. They go through keel_alloc, as every keel allocation does (core.h). */

typedef struct tbuf {
    char *p;
    size_t n, cap;
} tbuf;

/* Makes room for `extra` more bytes (keeping the content); false on no memory. */
static bool tbuf_room(tbuf *b, size_t extra) {
    if (b->cap - b->n >= extra) return true;
    size_t cap = KEEL_MAX(b->cap * 2, b->n + extra + 64);
    char *p = keel_alloc(cap);
    if (!p) return false;
    if (b->n) memcpy(p, b->p, b->n);
    keel_free(b->p);
    b->p = p;
    b->cap = cap;
    return true;
}

/* Appends len bytes of s. */
static bool tbuf_add(tbuf *b, const char *s, size_t len) {
    if (!tbuf_room(b, len)) return false;
    memcpy(b->p + b->n, s, len);
    b->n += len;
    return true;
}

/* One call's scratch: buffers reused from text to text, and the ICU case mapper (made on
 * first need; one per call keeps const tokenizer calls safe to run from several threads). */
typedef struct norm_ctx {
    tbuf fixed, lowered, translated;
    UCaseMap *csm;
} norm_ctx;

/* Releases a call's scratch (not the context itself, which lives on the stack). */
static void norm_free(norm_ctx *c) {
    keel_free(c->fixed.p);
    keel_free(c->lowered.p);
    keel_free(c->translated.p);
    if (c->csm) ucasemap_close(c->csm);
}

/* U8_NEXT gives a negative code point for each ill-formed sequence (and advances past its
 * maximal subpart); callers keep len below 2^31, ICU's index type. */
bool keel_utf8_valid(const char *s, size_t len) {
    for (int32_t i = 0, n = (int32_t)len; i < n;) {
        UChar32 c;
        U8_NEXT(s, i, n, c);
        if (c < 0) return false;
    }
    return true;
}

/* Replaces each maximal invalid subsequence of s by U+FFFD (EF BF BD) into c->fixed. */
static bool utf8_replace(norm_ctx *c, const char *s, int32_t n) {
    c->fixed.n = 0;
    for (int32_t i = 0; i < n;) {
        int32_t start = i;
        UChar32 cp;
        U8_NEXT(s, i, n, cp);
        bool ok = cp < 0 ? tbuf_add(&c->fixed, "\xEF\xBF\xBD", 3)
                         : tbuf_add(&c->fixed, s + start, (size_t)(i - start));
        if (!ok) return false;
    }
    return true;
}

/* Python's str.lower into c->lowered. ASCII-only text (the common case) skips ICU: its full
 * lowercase mapping on ASCII is A-Z -> a-z and nothing else. */
static keel_status lowercase(norm_ctx *c, const char *s, int32_t n, bool ascii) {
    c->lowered.n = 0;
    if (ascii) {
        if (!tbuf_room(&c->lowered, (size_t)n)) return KEEL_ERR_NOMEM;
        for (int32_t i = 0; i < n; i++)
            c->lowered.p[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
        c->lowered.n = (size_t)n;
        return KEEL_OK;
    }
    UErrorCode err = U_ZERO_ERROR;
    if (!c->csm) {
        /* "" is ICU's root locale: no Turkish or Lithuanian rules, as Python has none */
        c->csm = ucasemap_open("", 0, &err);
        if (U_FAILURE(err))
            KEEL_FAIL(KEEL_ERR_NOMEM, "ICU case mapping unavailable: %s", u_errorName(err));
    }
    /* lowercasing may lengthen a text ("İ", 2 bytes, becomes 3): ICU says by how much */
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!tbuf_room(&c->lowered, (size_t)n + 16)) return KEEL_ERR_NOMEM;
        err = U_ZERO_ERROR;
        /* the cap stays below 2^31: TEXT_MAX_BYTES * 3 (U+FFFD) * 1.5 (the most lowercasing
         * lengthens UTF-8) */
        int32_t cap = (int32_t)KEEL_MIN(c->lowered.cap, (size_t)INT32_MAX);
        int32_t need = ucasemap_utf8ToLower(c->csm, c->lowered.p, cap, s, n, &err);
        if (err == U_BUFFER_OVERFLOW_ERROR) {
            /* retry with the room ICU asked for */
            if (!tbuf_room(&c->lowered, (size_t)need + 1)) return KEEL_ERR_NOMEM;
            continue;
        }
        if (U_FAILURE(err)) KEEL_FAIL(KEEL_ERR_ARG, "lowercasing failed: %s", u_errorName(err));
        c->lowered.n = (size_t)need;
        return KEEL_OK;
    }
    KEEL_FAIL(KEEL_ERR_NOMEM, "lowercasing: ICU asked for more room twice");
}

/* The text as Keras sees it: valid UTF-8 (invalid bytes replaced), lowercased with `lower`.
 * *out points into c or at s itself; valid until the next call with c. */
static keel_status normalize(const keel_tokenizer *t, norm_ctx *c, const char *s, const char **out,
                             size_t *outlen) {
    size_t len = strlen(s);
    if (len > TEXT_MAX_BYTES)
        KEEL_FAIL(KEEL_ERR_ARG, "a text of %zu bytes, over the %zu keel takes", len,
                  TEXT_MAX_BYTES);
    int32_t n = (int32_t)len;
    /* pure ASCII is valid UTF-8 and lowercases without ICU: one scan decides both */
    bool ascii = true;
    for (int32_t i = 0; i < n && ascii; i++)
        ascii = (unsigned char)s[i] < 0x80;
    if (!ascii && !keel_utf8_valid(s, len)) {
        if (!utf8_replace(c, s, n)) return KEEL_ERR_NOMEM;
        s = c->fixed.p;
        n = (int32_t)c->fixed.n;
    }
    if (t->lower) {
        keel_status st = lowercase(c, s, n, ascii);
        if (st != KEEL_OK) return st;
        s = c->lowered.p;
        n = (int32_t)c->lowered.n;
    }
    *out = s;
    *outlen = (size_t)n;
    return KEEL_OK;
}

/* Ascending uint32 order, for qsort and bsearch. */
static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Whether code point cp is one of the filters: a bit test for ASCII (the default set is all
 * ASCII), a binary search for the rest. */
static bool is_filter(const keel_tokenizer *t, UChar32 cp) {
    if (cp < 128) return (t->filter_ascii[cp >> 6] >> (cp & 63)) & 1;
    uint32_t key = (uint32_t)cp;
    return t->n_filter_cp &&
           bsearch(&key, t->filter_cp, (size_t)t->n_filter_cp, sizeof key, cmp_u32) != NULL;
}

/* Calls fn on each token of a normalized text: its characters with char_level, else the
 * non-empty pieces of text.translate(filters -> split).split(split). */
typedef keel_status (*token_fn)(void *ctx, const char *w, size_t len);

static keel_status for_each_token(const keel_tokenizer *t, norm_ctx *c, const char *s, size_t len,
                                  token_fn fn, void *ctx) {
    int32_t n = (int32_t)len;
    keel_status st = KEEL_OK;
    if (t->char_level) {
        /* Keras iterates the lowered str: code points, spaces and punctuation included */
        for (int32_t i = 0; i < n && st == KEEL_OK;) {
            int32_t start = i;
            U8_FWD_1(s, i, n);
            st = fn(ctx, s + start, (size_t)(i - start));
        }
        return st;
    }
    /* text.translate({c: split for c in filters}) */
    size_t sl = strlen(t->split);
    tbuf *b = &c->translated;
    b->n = 0;
    for (int32_t i = 0; i < n;) {
        int32_t start = i;
        UChar32 cp;
        U8_NEXT(s, i, n, cp);
        bool ok = is_filter(t, cp) ? tbuf_add(b, t->split, sl)
                                   : tbuf_add(b, s + start, (size_t)(i - start));
        if (!ok) return KEEL_ERR_NOMEM;
    }
    /* str.split(sep): pieces between non-overlapping occurrences, left to right */
    const char *p = b->p, *end = b->p + b->n;
    while (p && st == KEEL_OK) {
        const char *q = p < end ? memmem(p, (size_t)(end - p), t->split, sl) : NULL;
        const char *stop = q ? q : end;
        /* `[i for i in seq if i]`: empty pieces are dropped */
        if (stop > p) st = fn(ctx, p, (size_t)(stop - p));
        p = q ? q + sl : NULL;
    }
    return st;
}

/* ---- construction */

/* Both constructors (keel_tokenizer_new and keel_tokenizer_from_json) end here, so a
 * tokenizer from JSON is checked exactly as one from options. */
keel_tokenizer *keel_tokenizer_make(const char *fn, int64_t num_words, const char *filters,
                                    bool lower, const char *split, bool char_level,
                                    const char *oov_token) {
    const char *what[3] = {"filters", "split", "oov_token"};
    const char *val[3] = {filters, split, oov_token};
    for (int i = 0; i < 3; i++)
        if (val[i] && !keel_utf8_valid(val[i], strlen(val[i]))) {
            keel_error(KEEL_ERR_ARG, "%s: %s is not valid UTF-8", fn, what[i]);
            return NULL;
        }
    /* Keras fails on it at the first fit ("empty separator"); keel says so at once */
    if (!*split && !char_level) {
        keel_error(KEEL_ERR_ARG,
                   "%s: split is empty (Python's str.split refuses an empty separator)", fn);
        return NULL;
    }
    keel_tokenizer *t = keel_alloc(sizeof *t);
    if (!t) return NULL;
    /* None and 0 act alike (`if num_words and ...`), but to_json writes them apart */
    t->has_num_words = num_words >= 0;
    t->num_words = KEEL_MAX(num_words, 0);
    t->lower = lower;
    t->char_level = char_level;
    t->filters = keel_strdup(filters);
    t->split = keel_strdup(split);
    t->oov_token = oov_token ? keel_strdup(oov_token) : NULL;
    size_t nf = strlen(filters);
    t->filter_cp = keel_alloc((nf + 1) * sizeof *t->filter_cp);
    if (!t->filters || !t->split || (oov_token && !t->oov_token) || !t->filter_cp) {
        keel_tokenizer_free(t);
        return NULL;
    }
    /* filters is a set of characters: ASCII ones in a bitmap, the others sorted for bsearch */
    for (int32_t i = 0, n = (int32_t)nf; i < n;) {
        UChar32 cp;
        U8_NEXT(filters, i, n, cp);
        if (cp < 128)
            t->filter_ascii[cp >> 6] |= 1ull << (cp & 63);
        else
            t->filter_cp[t->n_filter_cp++] = (uint32_t)cp;
    }
    qsort(t->filter_cp, (size_t)t->n_filter_cp, sizeof *t->filter_cp, cmp_u32);
    return t;
}

keel_tokenizer *keel_tokenizer_new_(keel_tokenizer_opts o) {
    const char *fn = "keel_tokenizer_new";
    if (o.num_words < 0) {
        keel_error(KEEL_ERR_ARG, "%s: num_words is %lld, expected 0 (None) or more", fn,
                   (long long)o.num_words);
        return NULL;
    }
    /* a zero option is Keras's default: num_words None, the default filters, split " " */
    return keel_tokenizer_make(fn, o.num_words ? o.num_words : -1,
                               o.filters ? o.filters : KEEL_TOKENIZER_FILTERS, o.lower != 0,
                               o.split ? o.split : " ", o.char_level != 0, o.oov_token);
}

void keel_tokenizer_free(keel_tokenizer *t) {
    if (!t) return;
    keel_free(t->filters);
    keel_free(t->filter_cp);
    keel_free(t->split);
    keel_free(t->oov_token);
    keel_tmap_clear(&t->word_counts);
    keel_tmap_clear(&t->word_docs);
    /* Keras assigns new dicts to word_index and index_word, but updates index_docs in place
     * (a defaultdict): entries of indices no word holds any more stay, as they do there */
    keel_tmap_clear(&t->word_index);
    keel_tmap_clear(&t->index_word);
    keel_tmap_clear(&t->index_docs);
    keel_free(t);
}

/* The checks every call taking (texts, n) makes, all before any text is read, so that a
 * refused call leaves the tokenizer as it was (Keras would have counted the texts before the
 * bad one). */
static keel_status check_texts(const char *fn, const void *t, const char *const *texts, int64_t n) {
    if (!t) KEEL_FAIL(KEEL_ERR_ARG, "%s: tokenizer is NULL", fn);
    if (n < 0) KEEL_FAIL(KEEL_ERR_ARG, "%s: n is %lld, expected 0 or more", fn, (long long)n);
    if (n > 0 && !texts) KEEL_FAIL(KEEL_ERR_ARG, "%s: texts is NULL (n = %lld)", fn, (long long)n);
    for (int64_t i = 0; i < n; i++)
        if (!texts[i]) KEEL_FAIL(KEEL_ERR_ARG, "%s: texts[%lld] is NULL", fn, (long long)i);
    return KEEL_OK;
}

/* Puts "fn: texts[i]: " before the last error (an oversized text, no memory). */
static void text_error(const char *fn, int64_t i) {
    char prefix[96];
    snprintf(prefix, sizeof prefix, "%s: texts[%lld]", fn, (long long)i);
    keel_error_prefix(prefix);
}

/* ---- fit_on_texts */

/* One word of a fit: word_counts[w] += 1, and word_docs[w] += 1 once per document. */
static keel_status fit_token(void *ctx, const char *w, size_t len) {
    keel_tokenizer *t = ctx;
    keel_tmap_entry *wc = keel_tmap_put(&t->word_counts, w, len);
    keel_tmap_entry *wd = wc ? keel_tmap_put(&t->word_docs, w, len) : NULL;
    if (!wd) return KEEL_ERR_NOMEM;
    wc->val++;
    /* word_docs counts documents, as Keras's `for w in set(seq)` does */
    if (wd->mark != t->doc_serial) {
        wd->mark = t->doc_serial;
        wd->val++;
    }
    return KEEL_OK;
}

/* A word_counts entry to sort: its count and its place in word_counts. */
typedef struct ranked {
    int64_t count, pos;
} ranked;

/* Count descending, then first appearance: Python's stable sort(key=count, reverse=True). */
static int cmp_ranked(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->count != y->count) return x->count < y->count ? 1 : -1;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

/* The end of fit_on_texts: word_index = dict(zip([oov] + words by count, 1..)), index_word its
 * inverse, index_docs[word_index[w]] = word_docs[w]. A dict(zip) keeps a repeated key's first
 * place and last value, which keel_tmap_put reproduces: an OOV token that is also a word ends
 * up with the word's index, and index 1 then has no word, as in Keras. */
static keel_status rebuild_index(keel_tokenizer *t) {
    int64_t n = t->word_counts.n;
    ranked *r = keel_alloc((size_t)(n + 1) * sizeof *r);
    if (!r) return KEEL_ERR_NOMEM;
    /* qsort is not stable; the position in the key makes the order total, hence stable */
    for (int64_t i = 0; i < n; i++)
        r[i] = (ranked){t->word_counts.e[i].val, i};
    qsort(r, (size_t)n, sizeof *r, cmp_ranked);
    keel_tmap_clear(&t->word_index);
    keel_tmap_clear(&t->index_word);
    keel_status st = KEEL_OK;
    int64_t k = 1;
    keel_tmap_entry *e;
    if (t->oov_token) {
        if (!(e = keel_tmap_put(&t->word_index, t->oov_token, strlen(t->oov_token)))) goto nomem;
        e->val = k++;
    }
    if (n + k > INT32_MAX) {
        st = keel_error(KEEL_ERR_ARG,
                        "keel_tokenizer_fit_on_texts: %lld words, over the 2^31 - 1 "
                        "indices of int32 sequences",
                        (long long)n);
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        const keel_tmap_entry *w = &t->word_counts.e[r[i].pos];
        if (!(e = keel_tmap_put(&t->word_index, w->key, w->len))) goto nomem;
        e->val = k++;
    }
    for (int64_t i = 0; i < t->word_index.n; i++) {
        const keel_tmap_entry *w = &t->word_index.e[i];
        if (!(e = keel_tmap_put_int(&t->index_word, w->val))) goto nomem;
        if (!keel_tmap_set_str(&t->index_word, e, w->key, w->len)) goto nomem;
    }
    for (int64_t i = 0; i < t->word_docs.n; i++) {
        const keel_tmap_entry *d = &t->word_docs.e[i];
        const keel_tmap_entry *w = keel_tmap_get(&t->word_index, d->key, d->len);
        /* keel_tokenizer_from_json refuses a word_docs word that word_counts lacks */
        KEEL_ASSERT(w != NULL);
        if (!(e = keel_tmap_put_int(&t->index_docs, w->val))) goto nomem;
        e->val = d->val;
    }
    goto done;
nomem:
    st = KEEL_ERR_NOMEM;
done:
    keel_free(r);
    return st;
}

keel_status keel_tokenizer_fit_on_texts(keel_tokenizer *t, const char *const *texts, int64_t n) {
    const char *fn = "keel_tokenizer_fit_on_texts";
    keel_status st = check_texts(fn, t, texts, n);
    if (st != KEEL_OK) return st;
    norm_ctx c = {0};
    for (int64_t i = 0; i < n && st == KEEL_OK; i++) {
        const char *s;
        size_t len;
        /* doc_serial, unlike document_count, is never loaded from JSON: it only has to
         * differ from every mark word_docs holds, and marks start at 0 */
        t->document_count++;
        t->doc_serial++;
        st = normalize(t, &c, texts[i], &s, &len);
        if (st == KEEL_OK) st = for_each_token(t, &c, s, len, fit_token, t);
        if (st != KEEL_OK) text_error(fn, i);
    }
    norm_free(&c);
    /* Keras rebuilds word_index after every fit_on_texts call, even an empty one */
    if (st == KEEL_OK) st = rebuild_index(t);
    if (st == KEEL_ERR_NOMEM) keel_error_prefix(fn);
    return st;
}

/* ---- texts_to_sequences */

/* The growing result of texts_to_sequences. */
typedef struct seq_ctx {
    const keel_tokenizer *t;
    const keel_tmap_entry *oov; /* word_index[oov_token], or NULL */
    int32_t *v;
    int64_t n, cap;
} seq_ctx;

/* Appends one index (doubling the array; indices fit int32_t, see rebuild_index and
 * text_json.c's load_dict). */
static keel_status seq_push(seq_ctx *c, int64_t index) {
    if (c->n == c->cap) {
        int64_t cap = c->cap ? 2 * c->cap : 256;
        int32_t *v = keel_alloc((size_t)cap * sizeof *v);
        if (!v) return KEEL_ERR_NOMEM;
        if (c->n) memcpy(v, c->v, (size_t)c->n * sizeof *v);
        keel_free(c->v);
        c->v = v;
        c->cap = cap;
    }
    c->v[c->n++] = (int32_t)index;
    return KEEL_OK;
}

/* True when Keras's `if num_words and i >= num_words` holds. */
static bool beyond_num_words(const keel_tokenizer *t, int64_t i) {
    return t->has_num_words && t->num_words && i >= t->num_words;
}

/* One word of texts_to_sequences_generator: its index, the OOV index, or nothing. */
static keel_status seq_token(void *ctx, const char *w, size_t len) {
    seq_ctx *c = ctx;
    const keel_tokenizer *t = c->t;
    const keel_tmap_entry *e = keel_tmap_get(&t->word_index, w, len);
    if (e) {
        if (!beyond_num_words(t, e->val)) return seq_push(c, e->val);
        return c->oov ? seq_push(c, c->oov->val) : KEEL_OK;
    }
    if (!t->oov_token) return KEEL_OK;
    if (!c->oov)
        KEEL_FAIL(KEEL_ERR_STATE,
                  "the OOV token \"%s\" has no index (Keras would give None): fit the tokenizer "
                  "first",
                  t->oov_token);
    return seq_push(c, c->oov->val);
}

keel_sequences *keel_tokenizer_texts_to_sequences(const keel_tokenizer *t, const char *const *texts,
                                                  int64_t n) {
    const char *fn = "keel_tokenizer_texts_to_sequences";
    if (check_texts(fn, t, texts, n) != KEEL_OK) return NULL;
    keel_sequences *s = keel_alloc(sizeof *s);
    int64_t *offsets = s ? keel_alloc((size_t)(n + 1) * sizeof *offsets) : NULL;
    if (!offsets) {
        keel_free(s);
        keel_error_prefix(fn);
        return NULL;
    }
    /* Keras's oov_token_index = self.word_index.get(self.oov_token), once per call */
    seq_ctx c = {.t = t};
    if (t->oov_token) c.oov = keel_tmap_get(&t->word_index, t->oov_token, strlen(t->oov_token));
    norm_ctx nc = {0};
    keel_status st = KEEL_OK;
    for (int64_t i = 0; i < n && st == KEEL_OK; i++) {
        const char *txt;
        size_t len;
        st = normalize(t, &nc, texts[i], &txt, &len);
        if (st == KEEL_OK) st = for_each_token(t, &nc, txt, len, seq_token, &c);
        if (st != KEEL_OK) text_error(fn, i);
        /* sequence i is values[offsets[i] .. offsets[i + 1]) */
        offsets[i + 1] = c.n;
    }
    norm_free(&nc);
    if (st == KEEL_OK && !c.v) {
        /* no token at all: still a values array, so that s->values is never NULL */
        st = seq_push(&c, 0);
        c.n = 0;
        if (st != KEEL_OK) keel_error_prefix(fn);
    }
    if (st != KEEL_OK) {
        keel_free(c.v);
        keel_free(offsets);
        keel_free(s);
        return NULL;
    }
    *s = (keel_sequences){.count = n, .offsets = offsets, .values = c.v};
    return s;
}

/* ---- sequences_to_texts */

/* The word Keras writes for index i, or NULL when it writes none; *err on Keras's KeyError. */
static const char *word_for(const keel_tokenizer *t, const keel_tmap_entry *oov, int64_t i,
                            keel_status *err) {
    /* sequences_to_texts_generator's branches, in its order */
    const keel_tmap_entry *e = keel_tmap_get_int(&t->index_word, i);
    if (e && !beyond_num_words(t, i)) return e->str;
    if (e && !oov) return NULL; /* cut by num_words, no OOV token */
    if (!e && !t->oov_token) return NULL;
    /* self.index_word[oov_token_index]: a KeyError in Keras when it is missing */
    const keel_tmap_entry *w = oov ? keel_tmap_get_int(&t->index_word, oov->val) : NULL;
    if (!w)
        *err = keel_error(KEEL_ERR_STATE,
                          "keel_tokenizer_sequences_to_texts: index_word has no entry for the OOV "
                          "token \"%s\" (Keras raises KeyError)",
                          t->oov_token);
    return w ? w->str : NULL;
}

char **keel_tokenizer_sequences_to_texts(const keel_tokenizer *t, const keel_sequences *s) {
    const char *fn = "keel_tokenizer_sequences_to_texts";
    if (!t) {
        keel_error(KEEL_ERR_ARG, "%s: tokenizer is NULL", fn);
        return NULL;
    }
    if (keel_sequences_check(s, fn) != KEEL_OK) return NULL;
    const keel_tmap_entry *oov =
        t->oov_token ? keel_tmap_get(&t->word_index, t->oov_token, strlen(t->oov_token)) : NULL;
    /* the texts one after another, NUL-terminated, then moved into the caller's block */
    tbuf b = {0};
    size_t *start = keel_alloc((size_t)(s->count + 1) * sizeof *start);
    keel_status st = start ? KEEL_OK : KEEL_ERR_NOMEM;
    for (int64_t i = 0; i < s->count && st == KEEL_OK; i++) {
        start[i] = b.n;
        /* " ".join(vect) */
        bool first = true;
        for (int64_t k = s->offsets[i]; k < s->offsets[i + 1] && st == KEEL_OK; k++) {
            const char *w = word_for(t, oov, s->values[k], &st);
            if (!w) continue;
            if ((!first && !tbuf_add(&b, " ", 1)) || !tbuf_add(&b, w, strlen(w)))
                st = KEEL_ERR_NOMEM;
            first = false;
        }
        if (st == KEEL_OK && !tbuf_add(&b, "", 1)) st = KEEL_ERR_NOMEM;
    }
    char **out = NULL;
    if (st == KEEL_OK) {
        /* one malloc block (the caller frees it with free()): pointers, then the bytes */
        size_t head = (size_t)(s->count + 1) * sizeof(char *);
        out = malloc(head + b.n + 1);
        if (!out) {
            keel_error(KEEL_ERR_NOMEM, "%s: out of memory: %zu bytes requested", fn, head + b.n);
        } else {
            char *bytes = (char *)out + head;
            if (b.n) memcpy(bytes, b.p, b.n);
            for (int64_t i = 0; i < s->count; i++)
                out[i] = bytes + start[i];
            out[s->count] = NULL;
        }
    } else if (st == KEEL_ERR_NOMEM) {
        keel_error_prefix(fn);
    }
    keel_free(b.p);
    keel_free(start);
    return out;
}

/* ---- texts_to_matrix */

/* Ascending int32 order, for qsort. */
static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Row i of sequences_to_matrix: the indices of one sequence below W, sorted, are counted run
 * by run, so no W-sized scratch is needed whatever num_words is. */
/* mode: 0 binary, 1 count, 2 freq, 3 tfidf (the order of `modes` below). */
static void matrix_row(const keel_tokenizer *t, int mode, const int32_t *seq, int64_t len,
                       int64_t W, int32_t *scratch, float *row) {
    int64_t m = 0;
    for (int64_t k = 0; k < len; k++)
        if (seq[k] < W) scratch[m++] = seq[k];
    qsort(scratch, (size_t)m, sizeof *scratch, cmp_i32);
    for (int64_t k = 0; k < m;) {
        int64_t j = scratch[k], c = 0;
        while (k < m && scratch[k] == j)
            k++, c++;
        double v;
        if (mode == 0) {
            v = 1;
        } else if (mode == 1) {
            v = (double)c;
        } else if (mode == 2) {
            v = (double)c / (double)len; /* len counts the skipped indices too, as in Keras */
        } else {
            const keel_tmap_entry *d = keel_tmap_get_int(&t->index_docs, j);
            double docs = d ? (double)d->val : 0.0;
            v = (1.0 + log((double)c)) * log(1.0 + (double)t->document_count / (1.0 + docs));
        }
        row[j] = (float)v;
    }
}

keel_tensor *keel_tokenizer_sequences_to_matrix(const keel_tokenizer *t, const keel_sequences *s,
                                                const char *mode) {
    const char *fn = "keel_tokenizer_sequences_to_matrix";
    static const char *const modes[] = {"binary", "count", "freq", "tfidf", NULL};
    if (!t) {
        keel_error(KEEL_ERR_ARG, "%s: tokenizer is NULL", fn);
        return NULL;
    }
    int m = 0;
    if (!mode) mode = "binary";
    while (modes[m] && strcmp(modes[m], mode) != 0)
        m++;
    if (!modes[m]) {
        keel_error(KEEL_ERR_ARG, "%s: unknown mode \"%s\" (binary, count, freq or tfidf)", fn,
                   mode);
        return NULL;
    }
    if (keel_sequences_check(s, fn) != KEEL_OK) return NULL;
    /* the width: num_words, else len(word_index) + 1 (index 0 is a column too) */
    int64_t W = t->num_words;
    if (!t->has_num_words || !t->num_words) {
        if (!t->word_index.n) {
            keel_error(KEEL_ERR_STATE,
                       "%s: no num_words and an empty word_index (specify num_words, or fit on "
                       "some text first)",
                       fn);
            return NULL;
        }
        W = t->word_index.n + 1;
    }
    if (m == 3 && !t->document_count) {
        keel_error(KEEL_ERR_STATE, "%s: tfidf needs a fitted tokenizer (document_count is 0)", fn);
        return NULL;
    }
    /* every check before the (possibly large) matrix is allocated */
    int64_t longest = 0;
    for (int64_t i = 0; i < s->count; i++) {
        longest = KEEL_MAX(longest, s->offsets[i + 1] - s->offsets[i]);
        for (int64_t k = s->offsets[i]; k < s->offsets[i + 1]; k++)
            if (s->values[k] < 0) {
                /* numpy would write x[i][-1], from the row's end: refused instead */
                keel_error(KEEL_ERR_ARG, "%s: sequence %lld holds a negative index (%d)", fn,
                           (long long)i, (int)s->values[k]);
                return NULL;
            }
    }
    keel_tensor *x = keel_tensor_new(KEEL_SHAPE(s->count, W));
    int32_t *scratch = x ? keel_alloc((size_t)longest * sizeof *scratch) : NULL;
    if (!scratch) {
        keel_error_prefix(fn);
        keel_tensor_free(x);
        return NULL;
    }
    for (int64_t i = 0; i < s->count; i++) {
        int64_t len = s->offsets[i + 1] - s->offsets[i];
        if (len) matrix_row(t, m, s->values + s->offsets[i], len, W, scratch, x->data + i * W);
    }
    keel_free(scratch);
    return x;
}

/* texts_to_matrix is sequences_to_matrix(texts_to_sequences(texts)) in Keras too. */
keel_tensor *keel_tokenizer_texts_to_matrix(const keel_tokenizer *t, const char *const *texts,
                                            int64_t n, const char *mode) {
    keel_sequences *s = keel_tokenizer_texts_to_sequences(t, texts, n);
    if (!s) return NULL;
    keel_tensor *x = keel_tokenizer_sequences_to_matrix(t, s, mode);
    keel_sequences_free(s);
    return x;
}

/* ---- accessors: Keras's attributes, read-only. A missing word or index gives 0 / NULL rather
 * than an error: 0 is never a word's index, and a lookup miss is not a mistake. */

int64_t keel_tokenizer_word_index(const keel_tokenizer *t, const char *word) {
    const keel_tmap_entry *e = t && word ? keel_tmap_get(&t->word_index, word, strlen(word)) : NULL;
    return e ? e->val : 0;
}

const char *keel_tokenizer_index_word(const keel_tokenizer *t, int64_t index) {
    const keel_tmap_entry *e = t ? keel_tmap_get_int(&t->index_word, index) : NULL;
    return e ? e->str : NULL;
}

int64_t keel_tokenizer_word_count(const keel_tokenizer *t, const char *word) {
    const keel_tmap_entry *e =
        t && word ? keel_tmap_get(&t->word_counts, word, strlen(word)) : NULL;
    return e ? e->val : 0;
}

int64_t keel_tokenizer_word_docs(const keel_tokenizer *t, const char *word) {
    const keel_tmap_entry *e = t && word ? keel_tmap_get(&t->word_docs, word, strlen(word)) : NULL;
    return e ? e->val : 0;
}

int64_t keel_tokenizer_document_count(const keel_tokenizer *t) {
    return t ? t->document_count : 0;
}

int64_t keel_tokenizer_word_index_size(const keel_tokenizer *t) {
    return t ? t->word_index.n : 0;
}

const char *keel_tokenizer_word_index_item(const keel_tokenizer *t, int64_t i, int64_t *index) {
    if (!t || i < 0 || i >= t->word_index.n) return NULL;
    if (index) *index = t->word_index.e[i].val;
    return t->word_index.e[i].key;
}

int64_t keel_tokenizer_word_counts_size(const keel_tokenizer *t) {
    return t ? t->word_counts.n : 0;
}

const char *keel_tokenizer_word_counts_item(const keel_tokenizer *t, int64_t i, int64_t *count) {
    if (!t || i < 0 || i >= t->word_counts.n) return NULL;
    if (count) *count = t->word_counts.e[i].val;
    return t->word_counts.e[i].key;
}
