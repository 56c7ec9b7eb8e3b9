/* text_map.c: the ordered maps behind the tokenizer (Python dicts keyed by a word or by an
 * index), with an arena for their strings.
 *
 * Why an arena: a vocabulary is tens of thousands of short words held by three maps, and
 * keel_alloc rounds every block to 64 bytes (it is built for tensors); bumping words into 64 KiB
 * chunks costs one allocation per chunk and frees the whole map at once. Nothing is ever
 * removed from a map but by clearing it, as the tokenizer never deletes a word.
 *
 * The hash table holds entry indices, not entries, so iteration runs over the entry array in
 * insertion order, which is the order Python's dicts (and so Keras's JSON) have. */
#include "text.h"

/* ---- arena: chunks of at least 64 KiB, bump-allocated, freed together */

typedef struct keel_arena_chunk {
    struct keel_arena_chunk *next;
    size_t used, cap;
    char data[];
} keel_arena_chunk;

struct keel_arena {
    keel_arena_chunk *head;
};

/* A NUL-terminated copy of s[0..len) in m's arena (made on first use); NULL on no memory. */
static char *arena_copy(keel_tmap *m, const char *s, size_t len) {
    if (!m->arena) {
        m->arena = keel_alloc(sizeof *m->arena);
        if (!m->arena) return NULL;
    }
    keel_arena_chunk *c = m->arena->head;
    if (!c || c->cap - c->used < len + 1) {
        /* a word longer than a chunk gets a chunk of its own size */
        size_t cap = KEEL_MAX((size_t)65536, len + 1);
        c = keel_alloc(sizeof *c + cap);
        if (!c) return NULL;
        c->cap = cap;
        c->next = m->arena->head;
        m->arena->head = c;
    }
    /* strings need no alignment: they are packed end to end */
    char *p = c->data + c->used;
    memcpy(p, s, len);
    p[len] = '\0';
    c->used += len + 1;
    return p;
}

/* ---- hashing: FNV-1a over the bytes, then keel_mix64 so the low bits (the slot) mix well */

static uint64_t hash_str(const char *s, size_t len) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return keel_mix64(h);
}

/* The hash of an entry's key, whichever kind of key the map has. */
static uint64_t entry_hash(const keel_tmap_entry *e) {
    return e->key ? hash_str(e->key, e->len) : keel_mix64((uint64_t)e->ikey);
}

/* Rebuilds the slot table at twice the size, keeping the load factor at most one half. */
static bool grow_slots(keel_tmap *m) {
    int64_t nslot = m->nslot ? 2 * m->nslot : 64;
    int64_t *slot = keel_alloc((size_t)nslot * sizeof *slot);
    if (!slot) return false;
    for (int64_t i = 0; i < m->n; i++) {
        uint64_t h = entry_hash(&m->e[i]) & (uint64_t)(nslot - 1);
        while (slot[h])
            h = (h + 1) & (uint64_t)(nslot - 1);
        slot[h] = i + 1;
    }
    keel_free(m->slot);
    m->slot = slot;
    m->nslot = nslot;
    return true;
}

/* The slot where key is, or the empty slot where it would go. `key` NULL means ikey. */
static int64_t *find_slot(const keel_tmap *m, const char *key, size_t len, int64_t ikey) {
    uint64_t mask = (uint64_t)m->nslot - 1;
    uint64_t h = (key ? hash_str(key, len) : keel_mix64((uint64_t)ikey)) & mask;
    for (;; h = (h + 1) & mask) {
        int64_t s = m->slot[h];
        if (!s) return &m->slot[h];
        const keel_tmap_entry *e = &m->e[s - 1];
        if (key ? (e->len == len && memcmp(e->key, key, len) == 0) : e->ikey == ikey)
            return &m->slot[h];
    }
}

/* Lookup; an empty map may have no slot table yet. */
static keel_tmap_entry *get(const keel_tmap *m, const char *key, size_t len, int64_t ikey) {
    if (!m->n) return NULL;
    int64_t s = *find_slot(m, key, len, ikey);
    return s ? &m->e[s - 1] : NULL;
}

/* Find or insert. The slot table grows first, so the slot found stays valid; the entry array
 * grows by doubling (copied, as keel has no realloc), which moves entries but not slots. */
static keel_tmap_entry *put(keel_tmap *m, const char *key, size_t len, int64_t ikey) {
    if (2 * (m->n + 1) > m->nslot && !grow_slots(m)) return NULL;
    int64_t *s = find_slot(m, key, len, ikey);
    if (*s) return &m->e[*s - 1];
    if (m->n == m->cap) {
        int64_t cap = m->cap ? 2 * m->cap : 64;
        keel_tmap_entry *e = keel_alloc((size_t)cap * sizeof *e);
        if (!e) return NULL;
        if (m->n) memcpy(e, m->e, (size_t)m->n * sizeof *e);
        keel_free(m->e);
        m->e = e;
        m->cap = cap;
    }
    keel_tmap_entry *e = &m->e[m->n];
    memset(e, 0, sizeof *e);
    if (key) {
        e->key = arena_copy(m, key, len);
        if (!e->key) return NULL;
        e->len = len;
    } else {
        e->ikey = ikey;
    }
    /* the slot is claimed only once the entry is complete, so a failed copy leaves no trace */
    *s = ++m->n;
    return e;
}

keel_tmap_entry *keel_tmap_get(const keel_tmap *m, const char *key, size_t len) {
    return get(m, key, len, 0);
}

keel_tmap_entry *keel_tmap_get_int(const keel_tmap *m, int64_t key) {
    return get(m, NULL, 0, key);
}

keel_tmap_entry *keel_tmap_put(keel_tmap *m, const char *key, size_t len) {
    return put(m, key, len, 0);
}

keel_tmap_entry *keel_tmap_put_int(keel_tmap *m, int64_t key) {
    return put(m, NULL, 0, key);
}

bool keel_tmap_set_str(keel_tmap *m, keel_tmap_entry *e, const char *s, size_t len) {
    const char *p = arena_copy(m, s, len);
    if (!p) return false;
    e->str = p;
    return true;
}

/* Every string an accessor handed out from this map dies here (the header says so: until
 * the next fit). */
void keel_tmap_clear(keel_tmap *m) {
    if (m->arena) {
        for (keel_arena_chunk *c = m->arena->head, *next; c; c = next) {
            next = c->next;
            keel_free(c);
        }
        keel_free(m->arena);
    }
    keel_free(m->e);
    keel_free(m->slot);
    memset(m, 0, sizeof *m);
}
