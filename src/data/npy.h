/* npy.h: what npy.c (the .npy format) lends npz.c (.npz archives): the .npy reader on any
 * byte stream, the header writer, and the write-to-a-temporary-then-rename helpers. Internal. */
#ifndef KEEL_DATA_NPY_H
#define KEEL_DATA_NPY_H

#include "../core.h"

/* A byte stream holding one .npy: a plain file or a zip member. */
typedef struct keel_npy_src {
    const char *path;   /* the file, for messages */
    const char *member; /* the zip member ("x.npy"), or NULL for a plain file */
    /* Reads up to n bytes into buf: the count, short only at the end of the stream, or -1
     * with the error recorded through keel_npy_fail. */
    int64_t (*read)(struct keel_npy_src *s, void *buf, int64_t n);
    void *handle;   /* the read function's own (a file descriptor, a zip_file_t) */
    int64_t length; /* the stream's length as the file system or the zip directory states it;
                     * the header and data must fill exactly this many bytes */
    int64_t offset; /* bytes read so far, for messages */
} keel_npy_src;

/* Reads the .npy on s into a new tensor (see keel.h for the conversions). NULL and an error
 * naming s->path (and s->member) on anything wrong. */
keel_tensor *keel_npy_read(keel_npy_src *s);

/* Records "<path>: [<member>: ]<message>" with status st; returns st. */
keel_status keel_npy_fail(const keel_npy_src *s, keel_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The .npy header of t (format 1.0, magic to newline, a multiple of 64 bytes) into buf;
 * returns its length (at most KEEL_NPY_HEADER_CAP). */
#define KEEL_NPY_HEADER_CAP 512
size_t keel_npy_header(const keel_tensor *t, char *buf);

/* Where a save writes before the rename: "<path>.tmp.<pid>.<n>", free with keel_free. A name
 * that does not exist yet; NULL (KEEL_ERR_NOMEM) if out of memory. */
char *keel_npy_temp_name(const char *path);
/* Makes tmp durable (fsync) and renames it onto path, then syncs the folder; on failure
 * removes tmp. fn names the caller in the message. */
keel_status keel_npy_commit(const char *fn, const char *tmp, const char *path);
/* Writes n pieces (ptrs[i], lens[i] bytes) to path through a temporary file and
 * keel_npy_commit; nothing is left behind on failure. */
keel_status keel_npy_write_atomic(const char *fn, const char *path, int n, const void *const *ptrs,
                                  const size_t *lens);

#endif
