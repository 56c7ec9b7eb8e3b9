/* text.h: the tokenizer's internals, shared by text.c (fitting, sequences, matrices),
 * text_map.c (its ordered maps) and text_json.c (Keras's JSON). Internal. */
#ifndef KEEL_DATA_TEXT_H
#define KEEL_DATA_TEXT_H

#include "../core.h"

/* ---- an ordered map: Python's dict, keyed by a string or by an integer, iterated in
 * insertion order; setting a key that exists keeps its place (as dict does). Keys and string
 * values live in the map's own arena, so a map is freed in one go and never loses a string
 * that an accessor handed out until it is cleared. */
typedef struct keel_tmap_entry {
    const char *key; /* NUL-terminated UTF-8; NULL in an integer-keyed map */
    size_t len;      /* strlen(key) */
    int64_t ikey;    /* the key of an integer-keyed map */
    int64_t val;     /* a count or an index */
    const char *str; /* a string value (index_word's words), or NULL */
    int64_t mark;    /* scratch: the last document that counted this word (word_docs) */
} keel_tmap_entry;

typedef struct keel_tmap {
    keel_tmap_entry *e; /* entries in insertion order */
    int64_t n, cap;
    int64_t *slot; /* open addressing, linear probing: entry index + 1, 0 when empty */
    int64_t nslot; /* a power of two, at least twice n */
    struct keel_arena *arena;
} keel_tmap;

/* The entry of key, or NULL. */
keel_tmap_entry *keel_tmap_get(const keel_tmap *m, const char *key, size_t len);
keel_tmap_entry *keel_tmap_get_int(const keel_tmap *m, int64_t key);
/* The entry of key, inserted (val 0, str NULL) if it was absent; NULL only on no memory. */
keel_tmap_entry *keel_tmap_put(keel_tmap *m, const char *key, size_t len);
keel_tmap_entry *keel_tmap_put_int(keel_tmap *m, int64_t key);
/* Sets e->str to a copy of s (len bytes) in the map's arena; false on no memory. */
bool keel_tmap_set_str(keel_tmap *m, keel_tmap_entry *e, const char *s, size_t len);
/* Empties the map and releases everything it holds; the map can be used again. */
void keel_tmap_clear(keel_tmap *m);

/* ---- the tokenizer: Keras's attributes, one map each, as Keras keeps five dicts. They are
 * kept apart (not derived from one another) because a JSON loaded from Keras carries them
 * apart, and Keras reads each one where it does: word_index for texts_to_sequences,
 * index_word for sequences_to_texts, index_docs for tfidf. */
struct keel_tokenizer {
    int64_t num_words; /* meaningful when has_num_words; 0 behaves as None, as in Keras */
    bool has_num_words;
    char *filters;       /* UTF-8 */
    uint32_t *filter_cp; /* the filters' code points above 127, sorted, for bsearch */
    int n_filter_cp;
    uint64_t filter_ascii[2]; /* a bit per ASCII character */
    bool lower;
    char *split; /* UTF-8 */
    bool char_level;
    char *oov_token; /* NULL: none */
    int64_t document_count;
    int64_t doc_serial; /* counts documents across fits, for word_docs' per-document marks */
    keel_tmap word_counts, word_docs, word_index, index_word, index_docs;
};

/* A tokenizer from options already checked for types; num_words < 0 means None. Checks the
 * values (UTF-8, an empty split); `fn` names the caller in the message. */
keel_tokenizer *keel_tokenizer_make(const char *fn, int64_t num_words, const char *filters,
                                    bool lower, const char *split, bool char_level,
                                    const char *oov_token);
/* KEEL_OK when s is a well-formed keel_sequences (not NULL, count >= 0, offsets from 0 or
 * more and never decreasing, values present when any sequence is not empty). */
keel_status keel_sequences_check(const keel_sequences *s, const char *fn);
/* True when s[0..len) is valid UTF-8 (no surrogates, nothing above U+10FFFF, no overlongs). */
bool keel_utf8_valid(const char *s, size_t len);

#endif
