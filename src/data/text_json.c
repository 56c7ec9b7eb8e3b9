/* text_json.c: the tokenizer as Keras's JSON, tokenizer.to_json() and tokenizer_from_json().
 *
 * The format (keras/src/preprocessing/text.py, get_config and tokenizer_from_json):
 *   {"class_name": "Tokenizer", "config": {"num_words": null, "filters": "...", "lower": true,
 *    "split": " ", "char_level": false, "oov_token": null, "document_count": 2,
 *    "word_counts": "<JSON>", "word_docs": "<JSON>", "index_docs": "<JSON>",
 *    "index_word": "<JSON>", "word_index": "<JSON>"}}
 * where each "<JSON>" is a dict dumped to a string of its own (index keys as decimal strings).
 * keel writes the keys in that order and each dict in its order, with json.dumps's spacing and
 * escapes (json.c), so a tokenizer loaded from Keras's JSON writes back the very same bytes.
 *
 * Reading is strict where Keras would fail later or give garbage: every value is type-checked
 * and range-checked, and the message names the field. */
#include "json.h"
#include "text.h"

#include <errno.h>
#include <stdio.h>

static const char *const FN = "keel_tokenizer_from_json";

/* ---- writing */

/* A map as a JSON object: keys are the words or the decimal indices; values the counts /
 * indices, or index_word's words. NULL on no memory. */
static json_t *map_json(const keel_tmap *m) {
    json_t *o = json_object();
    for (int64_t i = 0; o && i < m->n; i++) {
        const keel_tmap_entry *e = &m->e[i];
        char num[32];
        if (!e->key) snprintf(num, sizeof num, "%lld", (long long)e->ikey);
        json_t *v = e->str ? json_string(e->str) : json_integer(e->val);
        /* json_object_set_new takes v even when it fails, so nothing leaks */
        if (json_object_set_new(o, e->key ? e->key : num, v) != 0) {
            json_decref(o);
            o = NULL;
        }
    }
    return o;
}

/* The map dumped to a JSON string value, as Keras's json.dumps(self.word_counts). */
/* (The string is json.dumps's: nested, its quotes are escaped once more by the outer dump,
 * as Keras's double encoding does.) */
static json_t *map_string(const keel_tmap *m) {
    json_t *o = map_json(m);
    char *s = o ? keel_json_dumps(o) : NULL;
    json_decref(o);
    json_t *v = s ? json_string(s) : NULL;
    free(s);
    return v;
}

char *keel_tokenizer_to_json(const keel_tokenizer *t) {
    if (!t) {
        keel_error(KEEL_ERR_ARG, "keel_tokenizer_to_json: tokenizer is NULL");
        return NULL;
    }
    json_t *c = json_object();
    /* get_config's order; each set_new returns nonzero (and frees its value) on failure */
    int bad = !c;
    if (c) {
        bad |= json_object_set_new(c, "num_words",
                                   t->has_num_words ? json_integer(t->num_words) : json_null());
        bad |= json_object_set_new(c, "filters", json_string(t->filters));
        bad |= json_object_set_new(c, "lower", json_boolean(t->lower));
        bad |= json_object_set_new(c, "split", json_string(t->split));
        bad |= json_object_set_new(c, "char_level", json_boolean(t->char_level));
        bad |= json_object_set_new(c, "oov_token",
                                   t->oov_token ? json_string(t->oov_token) : json_null());
        bad |= json_object_set_new(c, "document_count", json_integer(t->document_count));
        bad |= json_object_set_new(c, "word_counts", map_string(&t->word_counts));
        bad |= json_object_set_new(c, "word_docs", map_string(&t->word_docs));
        bad |= json_object_set_new(c, "index_docs", map_string(&t->index_docs));
        bad |= json_object_set_new(c, "index_word", map_string(&t->index_word));
        bad |= json_object_set_new(c, "word_index", map_string(&t->word_index));
    }
    json_t *root = json_object();
    if (!root || json_object_set_new(root, "class_name", json_string("Tokenizer")) ||
        json_object_set(root, "config", c))
        bad = 1;
    char *s = bad ? NULL : keel_json_dumps(root);
    json_decref(root);
    json_decref(c);
    if (!s) keel_error(KEEL_ERR_NOMEM, "keel_tokenizer_to_json: out of memory");
    return s;
}

/* ---- reading */

/* Python's int(k) for a dict key of index_docs / index_word, restricted to plain decimal
 * digits with an optional '-' (all that json.dumps writes), within 0 .. 2^31 - 1. */
static keel_status parse_index_key(const char *k, const char *field, int64_t *out) {
    const char *p = k + (*k == '-');
    bool digits = *p != '\0';
    for (; *p; p++)
        digits &= *p >= '0' && *p <= '9';
    if (!digits)
        KEEL_FAIL(KEEL_ERR_FORMAT, "%s: config.%s: key \"%s\" is not a decimal integer", FN, field,
                  k);
    errno = 0;
    long long v = strtoll(k, NULL, 10);
    if (errno || v < 0 || v > INT32_MAX)
        KEEL_FAIL(KEEL_ERR_FORMAT, "%s: config.%s: index %s out of range (0 .. 2^31 - 1)", FN,
                  field, k);
    *out = v;
    return KEEL_OK;
}

/* What the values of each dictionary are. */
typedef enum dict_kind {
    DICT_COUNTS,      /* word -> count >= 0 (word_counts, word_docs) */
    DICT_INDEX,       /* word -> index 0 .. 2^31 - 1 (word_index) */
    DICT_INDEX_COUNT, /* index -> count >= 0 (index_docs) */
    DICT_INDEX_WORD,  /* index -> word (index_word) */
    DICT_KIND_COUNT
} dict_kind;

/* Reads config.<field>, a string holding a JSON object, into m. */
static keel_status load_dict(const json_t *config, const char *field, dict_kind kind,
                             keel_tmap *m) {
    const json_t *s = json_object_get(config, field);
    if (!s)
        KEEL_FAIL(KEEL_ERR_FORMAT, "%s: config has no \"%s\" (Keras raises KeyError)", FN, field);
    if (!json_is_string(s))
        KEEL_FAIL(KEEL_ERR_FORMAT, "%s: config.%s is %s, expected a string holding JSON", FN, field,
                  keel_json_type(s));
    char what[96];
    snprintf(what, sizeof what, "%s: config.%s", FN, field);
    json_t *d = keel_json_parse(json_string_value(s), json_string_length(s), what);
    if (!d) return KEEL_ERR_FORMAT;
    keel_status st = KEEL_OK;
    if (!json_is_object(d))
        st =
            keel_error(KEEL_ERR_FORMAT, "%s holds %s, expected an object", what, keel_json_type(d));
    const char *key;
    json_t *v;
    json_object_foreach(d, key, v) {
        if (st != KEEL_OK) break;
        bool int_key = kind == DICT_INDEX_COUNT || kind == DICT_INDEX_WORD;
        int64_t ik = 0;
        if (int_key && (st = parse_index_key(key, field, &ik)) != KEEL_OK) break;
        bool want_str = kind == DICT_INDEX_WORD;
        if (want_str ? !json_is_string(v) : !json_is_integer(v)) {
            st = keel_error(KEEL_ERR_FORMAT, "%s: \"%s\" maps to %s, expected %s", what, key,
                            keel_json_type(v), want_str ? "a string" : "an integer");
            break;
        }
        long long x = want_str ? 0 : json_integer_value(v);
        long long hi = kind == DICT_INDEX ? INT32_MAX : INT64_MAX;
        if (x < 0 || x > hi) {
            st = keel_error(KEEL_ERR_FORMAT, "%s: \"%s\" maps to %lld, expected 0 .. %lld", what,
                            key, x, hi);
            break;
        }
        keel_tmap_entry *e =
            int_key ? keel_tmap_put_int(m, ik) : keel_tmap_put(m, key, strlen(key));
        if (!e ||
            (want_str && !keel_tmap_set_str(m, e, json_string_value(v), json_string_length(v)))) {
            st = keel_error_prefix(what);
            break;
        }
        e->val = x;
    }
    json_decref(d);
    return st;
}

/* The settings of config, with Keras's defaults for the absent ones. */
typedef struct settings {
    int64_t num_words; /* -1: None */
    const char *filters, *split, *oov_token;
    bool lower, char_level;
    int64_t document_count;
} settings;

static const char *const CONFIG_KEYS[] = {
    "num_words",  "filters",    "lower",          "split",       "char_level",
    "oov_token",  "analyzer",   "document_count", "word_counts", "word_docs",
    "index_docs", "index_word", "word_index",     NULL};

/* Type error for config.key: "is a string, expected an integer or null". */
static keel_status wrong_type(const char *key, const json_t *v, const char *expected) {
    KEEL_FAIL(KEEL_ERR_FORMAT, "%s: config.%s is %s, expected %s", FN, key, keel_json_type(v),
              expected);
}

/* The settings of config: Keras's Tokenizer(**config) takes any subset of its keyword
 * arguments (missing ones take their defaults) and raises TypeError on any other key. */
static keel_status read_settings(const json_t *c, settings *s) {
    *s = (settings){-1, KEEL_TOKENIZER_FILTERS, " ", NULL, true, false, 0};
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)c, key, v) {
        int k = 0;
        while (CONFIG_KEYS[k] && strcmp(CONFIG_KEYS[k], key) != 0)
            k++;
        if (!CONFIG_KEYS[k])
            KEEL_FAIL(KEEL_ERR_FORMAT,
                      "%s: config has an unknown key \"%s\" (Keras's Tokenizer raises TypeError)",
                      FN, key);
    }
    const json_t *v2;
    if ((v2 = json_object_get(c, "num_words")) && !json_is_null(v2)) {
        if (!json_is_integer(v2)) return wrong_type("num_words", v2, "an integer or null");
        s->num_words = json_integer_value(v2);
        if (s->num_words < 0)
            KEEL_FAIL(KEEL_ERR_FORMAT, "%s: config.num_words is %lld, expected 0 or more", FN,
                      (long long)s->num_words);
    }
    if ((v2 = json_object_get(c, "document_count"))) {
        if (!json_is_integer(v2)) return wrong_type("document_count", v2, "an integer");
        s->document_count = json_integer_value(v2);
        if (s->document_count < 0)
            KEEL_FAIL(KEEL_ERR_FORMAT, "%s: config.document_count is %lld, expected 0 or more", FN,
                      (long long)s->document_count);
    }
    /* the strings (oov_token may be null), then the flags */
    const char *str_keys[3] = {"filters", "split", "oov_token"};
    const char **str_vals[3] = {&s->filters, &s->split, &s->oov_token};
    for (int i = 0; i < 3; i++) {
        if (!(v2 = json_object_get(c, str_keys[i])) || (i == 2 && json_is_null(v2))) continue;
        if (!json_is_string(v2))
            return wrong_type(str_keys[i], v2, i == 2 ? "a string or null" : "a string");
        *str_vals[i] = json_string_value(v2);
    }
    const char *bool_keys[2] = {"lower", "char_level"};
    bool *bool_vals[2] = {&s->lower, &s->char_level};
    for (int i = 0; i < 2; i++) {
        if (!(v2 = json_object_get(c, bool_keys[i]))) continue;
        if (!json_is_boolean(v2)) return wrong_type(bool_keys[i], v2, "true or false");
        *bool_vals[i] = json_is_true(v2);
    }
    /* analyzer is a Python function in Keras; only its default, None, can come as JSON */
    if ((v2 = json_object_get(c, "analyzer")) && !json_is_null(v2))
        return wrong_type("analyzer", v2, "null (a custom analyzer is Python code)");
    return KEEL_OK;
}

keel_tokenizer *keel_tokenizer_from_json(const char *json) {
    if (!json) {
        keel_error(KEEL_ERR_ARG, "%s: json is NULL", FN);
        return NULL;
    }
    /* Keras reads tokenizer_config.get("config") and ignores class_name: so does keel */
    json_t *root = keel_json_parse(json, strlen(json), FN);
    if (!root) return NULL;
    keel_tokenizer *t = NULL;
    const json_t *c = json_is_object(root) ? json_object_get(root, "config") : NULL;
    settings s;
    if (!json_is_object(c)) {
        keel_error(KEEL_ERR_FORMAT,
                   "%s: expected {\"class_name\": \"Tokenizer\", \"config\": {...}}, found %s%s",
                   FN, json_is_object(root) ? "no config object in " : "", keel_json_type(root));
    } else if (read_settings(c, &s) == KEEL_OK) {
        /* the settings first, then the five dicts (required: Keras pops them) */
        t = keel_tokenizer_make(FN, s.num_words, s.filters, s.lower, s.split, s.char_level,
                                s.oov_token);
        if (t) {
            t->document_count = s.document_count;
            bool ok = load_dict(c, "word_counts", DICT_COUNTS, &t->word_counts) == KEEL_OK &&
                      load_dict(c, "word_docs", DICT_COUNTS, &t->word_docs) == KEEL_OK &&
                      load_dict(c, "index_docs", DICT_INDEX_COUNT, &t->index_docs) == KEEL_OK &&
                      load_dict(c, "index_word", DICT_INDEX_WORD, &t->index_word) == KEEL_OK &&
                      load_dict(c, "word_index", DICT_INDEX, &t->word_index) == KEEL_OK;
            /* a later fit looks each word_docs word up in the rebuilt word_index, which holds
             * the word_counts words: one outside them would be Keras's KeyError there */
            for (int64_t i = 0; ok && i < t->word_docs.n; i++) {
                const keel_tmap_entry *d = &t->word_docs.e[i];
                if (!keel_tmap_get(&t->word_counts, d->key, d->len)) {
                    keel_error(KEEL_ERR_FORMAT,
                               "%s: config.word_docs has \"%s\", which word_counts lacks", FN,
                               d->key);
                    ok = false;
                }
            }
            if (!ok) {
                keel_tokenizer_free(t);
                t = NULL;
            }
        }
    }
    json_decref(root);
    return t;
}
