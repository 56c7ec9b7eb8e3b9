/* npz.c: NumPy's .npz archives (np.savez, np.savez_compressed, np.load of an .npz): a zip,
 * read and written with libzip, whose members are .npy files named "<key>.npy".
 *
 * Reading follows NumPy's NpzFile: keel_load_npz reads the zip directory and checks the
 * names; each array is read from its member only when asked for (keel_npz_get), through the
 * same .npy reader as a plain file (npy.c). Before a member is opened, its sizes in the zip
 * directory must be possible: a deflated member cannot inflate to more than 1032 times its
 * compressed size (deflate's limit: 258 bytes from a 2-bit code), and a stored one holds
 * exactly its size. The .npy reader then requires header plus data to fill the member
 * exactly, so a bomb (a small array followed by gigabytes of zeros, or sizes that lie) is
 * refused before anything past its header is inflated. Reading every member to its end makes
 * libzip check its CRC.
 *
 * Writing makes what np.savez makes: stored members with the bytes np.save writes, dated
 * 1980-01-01, written to a temporary name beside the target, flushed and renamed. */
#include "npy.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

/* Deflate's largest expansion: a 258-byte match coded in two bits. */
#define NPZ_MAX_RATIO 1032

struct keel_npz {
    zip_t *za;
    char *path;
    int n;
    char **names;        /* without ".npy", NULL-terminated (for keel_nearest_name) */
    zip_uint64_t *index; /* each name's entry in the zip */
};

/* A libzip error code as keel's status: the file system's failures are i/o, the rest are
 * about the content. */
static keel_status zip_status(int code) {
    switch (code) {
    case ZIP_ER_MEMORY: return KEEL_ERR_NOMEM;
    case ZIP_ER_OPEN:
    case ZIP_ER_READ:
    case ZIP_ER_SEEK:
    case ZIP_ER_NOENT:
    case ZIP_ER_WRITE:
    case ZIP_ER_CLOSE:
    case ZIP_ER_TMPOPEN:
    case ZIP_ER_RENAME:
    case ZIP_ER_TELL: return KEEL_ERR_IO;
    default: return KEEL_ERR_FORMAT;
    }
}

/* Reads the directory: every member "<name>.npy". (Repeated names are refused by libzip's
 * ZIP_CHECKCONS when the archive is opened.) */
static keel_status read_directory(keel_npz *z) {
    /* libzip has read the whole central directory already; the count is what it found */
    zip_int64_t n = zip_get_num_entries(z->za, 0);
    if (n < 0 || n > INT_MAX / 2)
        KEEL_FAIL(KEEL_ERR_FORMAT, "%s: the zip directory claims %lld members", z->path,
                  (long long)n);
    z->names = keel_alloc((size_t)(n + 1) * sizeof *z->names);
    z->index = keel_alloc((size_t)(n + 1) * sizeof *z->index);
    if (!z->names || !z->index) return keel_last_status();
    for (zip_int64_t i = 0; i < n; i++) {
        const char *name = zip_get_name(z->za, (zip_uint64_t)i, 0);
        if (!name)
            KEEL_FAIL(KEEL_ERR_FORMAT, "%s: member %lld has no readable name (libzip: %s)", z->path,
                      (long long)i, zip_strerror(z->za));
        size_t len = strlen(name);
        if (len <= 4 || strcmp(name + len - 4, ".npy"))
            KEEL_FAIL(KEEL_ERR_FORMAT,
                      "%s: member '%s' is not a .npy array (an .npz holds only <name>.npy members, "
                      "as np.savez writes)",
                      z->path, name);
        /* kept without ".npy": the key np.savez was given */
        if (!(z->names[z->n] = keel_strdup(name))) return keel_last_status();
        z->names[z->n][len - 4] = '\0';
        z->index[z->n++] = (zip_uint64_t)i;
    }
    return KEEL_OK;
}

void keel_npz_free(keel_npz *z) {
    if (!z) return;
    if (z->za) zip_discard(z->za);
    for (int i = 0; z->names && i < z->n; i++)
        keel_free(z->names[i]);
    keel_free(z->names);
    keel_free(z->index);
    keel_free(z->path);
    keel_free(z);
}

keel_npz *keel_load_npz(const char *path) {
    if (!path) {
        keel_error(KEEL_ERR_ARG, "keel_load_npz: path is NULL");
        return NULL;
    }
    /* libzip would take an empty file for an empty archive; NumPy says "no data left" */
    struct stat sb;
    if (stat(path, &sb) != 0) {
        keel_error(KEEL_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
        return NULL;
    }
    if (S_ISDIR(sb.st_mode) || !S_ISREG(sb.st_mode) || sb.st_size == 0) {
        keel_error(sb.st_size == 0 && S_ISREG(sb.st_mode) ? KEEL_ERR_FORMAT : KEEL_ERR_IO, "%s: %s",
                   path,
                   S_ISDIR(sb.st_mode)    ? "is a directory, not an .npz file"
                   : !S_ISREG(sb.st_mode) ? "is not a regular file"
                                          : "is empty (0 bytes), not an .npz archive");
        return NULL;
    }
    keel_npz *z = keel_alloc(sizeof *z);
    if (!z || !(z->path = keel_strdup(path))) {
        keel_free(z);
        return NULL;
    }
    /* ZIP_CHECKCONS: the local headers must agree with the central directory */
    int code = 0;
    z->za = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &code);
    if (!z->za) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, code);
        keel_error(zip_status(code), "%s: %s (libzip: %s)", path,
                   code == ZIP_ER_EXISTS ? "two members have the same name"
                                         : "not a readable zip archive",
                   zip_error_strerror(&ze));
        zip_error_fini(&ze);
        keel_npz_free(z);
        return NULL;
    }
    if (read_directory(z) != KEEL_OK) {
        keel_npz_free(z);
        return NULL;
    }
    return z;
}

int keel_npz_count(const keel_npz *z) {
    return z ? z->n : 0;
}

const char *keel_npz_name(const keel_npz *z, int i) {
    return z && i >= 0 && i < z->n ? z->names[i] : NULL;
}

/* The index of name (or of name without a ".npy" ending), else -1 with an error that
 * suggests the nearest name and lists the first few. */
static int find_member(const keel_npz *z, const char *name) {
    size_t len = strlen(name);
    /* pass 0: the name as given; pass 1: without its ".npy" ending */
    for (int pass = 0; pass < 2; pass++) {
        /* pass 1: "x.npy" for "x", as NpzFile accepts both */
        size_t want = pass ? len - 4 : len;
        if (pass && (len <= 4 || strcmp(name + len - 4, ".npy"))) break;
        for (int i = 0; i < z->n; i++)
            if (strlen(z->names[i]) == want && !strncmp(z->names[i], name, want)) return i;
    }
    /* the first names, cut with "..." so that the message stays one readable line */
    char list[200] = "";
    size_t at = 0;
    for (int i = 0; i < z->n && at < sizeof list - 1; i++)
        at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", i ? ", " : "", z->names[i]);
    if (at >= sizeof list - 1) memcpy(list + sizeof list - 5, "...", 4);
    const char *near = keel_nearest_name(name, (const char *const *)z->names);
    keel_error(KEEL_ERR_ARG, "%s: no array named '%s'%s%s%s; the archive holds %d: %s", z->path,
               name, near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "", z->n,
               z->n ? list : "none");
    return -1;
}

/* zip_fread until n bytes or the end of the member. libzip checks the CRC when the end is
 * reached. */
static int64_t member_read(keel_npy_src *s, void *buf, int64_t n) {
    zip_file_t *f = s->handle;
    int64_t got = 0;
    while (got < n) {
        zip_int64_t r = zip_fread(f, (char *)buf + got, (zip_uint64_t)(n - got));
        if (r < 0) {
            zip_error_t *e = zip_file_get_error(f);
            keel_npy_fail(s, zip_status(zip_error_code_zip(e)),
                          "cannot read at byte %lld (libzip: %s)", (long long)(s->offset + got),
                          zip_file_strerror(f));
            return -1;
        }
        if (r == 0) break;
        got += r;
    }
    s->offset += got;
    return got;
}

/* The member's zip metadata must describe something np.savez could have written: stored or
 * deflated, not encrypted, sizes that the compression can produce. */
static keel_status check_member(keel_npy_src *s, const zip_stat_t *st) {
    const zip_uint64_t need =
        ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD | ZIP_STAT_ENCRYPTION_METHOD;
    if ((st->valid & need) != need)
        return keel_npy_fail(s, KEEL_ERR_FORMAT, "the zip directory lacks its sizes");
    if (st->encryption_method != ZIP_EM_NONE)
        return keel_npy_fail(
            s, KEEL_ERR_FORMAT,
            "the member is encrypted; keel reads unencrypted archives, as np.savez writes");
    if (st->comp_method != ZIP_CM_STORE && st->comp_method != ZIP_CM_DEFLATE)
        return keel_npy_fail(s, KEEL_ERR_FORMAT,
                             "the member is compressed with zip method %d; keel reads stored (0) "
                             "and deflated (8) members, as np.savez and np.savez_compressed write",
                             (int)st->comp_method);
    /* sizes past int64 exist only in a corrupt zip64 record */
    if (st->size > (zip_uint64_t)INT64_MAX)
        return keel_npy_fail(s, KEEL_ERR_FORMAT, "the zip directory gives a size of %llu bytes",
                             (unsigned long long)st->size);
    if (st->comp_method == ZIP_CM_STORE && st->size != st->comp_size)
        return keel_npy_fail(
            s, KEEL_ERR_FORMAT,
            "stored member of %llu bytes whose zip entry says %llu compressed: a corrupt archive",
            (unsigned long long)st->size, (unsigned long long)st->comp_size);
    if (st->comp_method == ZIP_CM_DEFLATE && st->size / NPZ_MAX_RATIO > st->comp_size)
        return keel_npy_fail(
            s, KEEL_ERR_FORMAT,
            "the zip directory declares %llu bytes inflated from %llu compressed, more than "
            "deflate can expand (%d to 1): a zip bomb or a corrupt archive",
            (unsigned long long)st->size, (unsigned long long)st->comp_size, NPZ_MAX_RATIO);
    return KEEL_OK;
}

keel_tensor *keel_npz_get(keel_npz *z, const char *name) {
    if (!z || !name) {
        keel_error(KEEL_ERR_ARG, "keel_npz_get: %s is NULL", z ? "name" : "the archive");
        return NULL;
    }
    int i = find_member(z, name);
    if (i < 0) return NULL;
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(z->za, z->index[i], 0, &st) != 0) {
        keel_error(KEEL_ERR_FORMAT, "%s: %s.npy: cannot read its zip entry (libzip: %s)", z->path,
                   z->names[i], zip_strerror(z->za));
        return NULL;
    }
    keel_npy_src s = {.path = z->path, .member = st.name, .read = member_read};
    if (check_member(&s, &st) != KEEL_OK) return NULL;
    zip_file_t *f = zip_fopen_index(z->za, z->index[i], 0);
    if (!f) {
        keel_npy_fail(&s, zip_status(zip_error_code_zip(zip_get_error(z->za))),
                      "cannot open the member (libzip: %s)", zip_strerror(z->za));
        return NULL;
    }
    /* the zip's declared size is the length the .npy must fill exactly: a member holding more
     * (or less) than its header's array is refused before the data is inflated */
    s.handle = f;
    s.length = (int64_t)st.size;
    keel_tensor *t = keel_npy_read(&s);
    zip_fclose(f);
    return t;
}

/* ---------------------------------------------------------------- writing */

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* *dup = the first repeated string among n, or NULL (sorted in a copy, so that many names
 * cost n log n). KEEL_ERR_NOMEM if the copy cannot be made. */
static keel_status first_repeat(const char *const *names, int n, const char **dup) {
    *dup = NULL;
    if (n < 2) return KEEL_OK;
    const char **sorted = keel_alloc((size_t)n * sizeof *sorted);
    if (!sorted) return keel_last_status();
    memcpy(sorted, names, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_names);
    for (int i = 1; i < n && !*dup; i++)
        if (!strcmp(sorted[i - 1], sorted[i])) *dup = sorted[i];
    keel_free(sorted);
    return KEEL_OK;
}

/* The arguments of keel_save_npz, checked before anything is written. */
static keel_status check_save_args(const char *path, int n, const char *const *names,
                                   const keel_tensor *const *tensors) {
    const char *fn = "keel_save_npz";
    if (!path) KEEL_FAIL(KEEL_ERR_ARG, "%s: path is NULL", fn);
    if (n < 0) KEEL_FAIL(KEEL_ERR_ARG, "%s: %s: n is negative (%d)", fn, path, n);
    if (n > 0 && (!names || !tensors))
        KEEL_FAIL(KEEL_ERR_ARG, "%s: %s: %s is NULL with n = %d", fn, path,
                  names ? "tensors" : "names", n);
    for (int i = 0; i < n; i++) {
        if (!names[i] || !names[i][0])
            KEEL_FAIL(KEEL_ERR_ARG, "%s: %s: names[%d] is %s", fn, path, i,
                      names[i] ? "empty" : "NULL");
        if (!tensors[i] || tensors[i]->n_list)
            KEEL_FAIL(KEEL_ERR_ARG, "%s: %s: tensors[%d] ('%s') is %s", fn, path, i, names[i],
                      tensors[i] ? "a list (save its members one by one)" : "NULL");
    }
    /* a repeated name would make a second member NumPy cannot tell apart (libzip refuses it
     * too, but only once the first is written) */
    const char *dup;
    if (first_repeat(names, n, &dup) != KEEL_OK) return keel_last_status();
    if (dup) KEEL_FAIL(KEEL_ERR_ARG, "%s: %s: the name '%s' is given twice", fn, path, dup);
    return KEEL_OK;
}

/* Adds tensor t as stored member "<name>.npy": its header (kept in hdr until the archive is
 * closed) and its data, read by libzip in place. */
static keel_status add_member(zip_t *za, const char *name, const keel_tensor *t, char *hdr) {
    zip_buffer_fragment_t frag[2] = {
        {(zip_uint8_t *)hdr, keel_npy_header(t, hdr)},
        {(zip_uint8_t *)(t->dtype == KEEL_INT32 ? (void *)t->ints : (void *)t->data),
         (zip_uint64_t)t->size * 4},
    };
    /* np.savez's member name: the key plus ".npy", always */
    char *member = keel_alloc(strlen(name) + 5);
    if (!member) return keel_last_status();
    strcat(strcpy(member, name), ".npy");
    /* freep 0: the tensor's data is only borrowed, and read when zip_close writes; an empty
     * tensor has no data fragment */
    zip_source_t *src = zip_source_buffer_fragment(za, frag, t->size ? 2 : 1, 0);
    zip_int64_t idx = src ? zip_file_add(za, member, src, ZIP_FL_ENC_UTF_8) : -1;
    keel_free(member);
    if (idx < 0) {
        zip_source_free(src);
        KEEL_FAIL(zip_status(zip_error_code_zip(zip_get_error(za))),
                  "keel_save_npz: cannot add '%s' (libzip: %s)", name, zip_strerror(za));
    }
    /* stored, dated 1980-01-01 00:00 (DOS date: (year - 1980) << 9 | month << 5 | day) */
    if (zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_STORE, 0) != 0 ||
        zip_file_set_dostime(za, (zip_uint64_t)idx, 0, 1 << 5 | 1, 0) != 0)
        KEEL_FAIL(KEEL_ERR_IO, "keel_save_npz: cannot set up '%s' (libzip: %s)", name,
                  zip_strerror(za));
    return KEEL_OK;
}

/* Writes the archive at tmp (which exists, empty): libzip writes its own temporary file
 * beside it and renames it onto tmp on zip_close. */
static keel_status write_zip(const char *path, const char *tmp, int n, const char *const *names,
                             const keel_tensor *const *tensors) {
    int code = 0;
    zip_t *za = zip_open(tmp, ZIP_TRUNCATE, &code);
    if (!za) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, code);
        keel_error(zip_status(code), "keel_save_npz: %s: cannot start the archive (libzip: %s)",
                   path, zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return keel_last_status();
    }
    /* every member's header lives until zip_close, which is when libzip reads them */
    char *headers = keel_alloc((size_t)n * KEEL_NPY_HEADER_CAP);
    keel_status st = headers ? KEEL_OK : keel_last_status();
    for (int i = 0; i < n && st == KEEL_OK; i++)
        st = add_member(za, names[i], tensors[i], headers + (size_t)i * KEEL_NPY_HEADER_CAP);
    if (st == KEEL_OK && zip_close(za) != 0)
        st = keel_error(zip_status(zip_error_code_zip(zip_get_error(za))),
                        "keel_save_npz: %s: cannot write (libzip: %s)", path, zip_strerror(za));
    else if (st == KEEL_OK)
        za = NULL; /* closed */
    if (za) zip_discard(za);
    keel_free(headers);
    return st;
}

keel_status keel_save_npz(const char *path, int n, const char *const *names,
                          const keel_tensor *const *tensors) {
    if (check_save_args(path, n, names, tensors) != KEEL_OK) return keel_last_status();
    if (n == 0) {
        /* libzip deletes an archive left without members: write the 22-byte end record of
         * an empty zip (what np.savez() writes) directly */
        static const unsigned char eocd[22] = {'P', 'K', 5, 6};
        const void *ptrs[1] = {eocd};
        size_t lens[1] = {sizeof eocd};
        return keel_npy_write_atomic("keel_save_npz", path, 1, ptrs, lens);
    }
    /* the temporary name is taken (O_EXCL) before libzip writes there, which also reports a
     * missing or read-only folder before any work */
    char *tmp = keel_npy_temp_name(path);
    if (!tmp) return keel_last_status();
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
        int e = errno;
        keel_free(tmp);
        KEEL_FAIL(KEEL_ERR_IO, "keel_save_npz: %s: cannot create a file there (%s)", path,
                  strerror(e));
    }
    close(fd);
    keel_status st = write_zip(path, tmp, n, names, tensors);
    if (st == KEEL_OK)
        st = keel_npy_commit("keel_save_npz", tmp, path);
    else
        unlink(tmp);
    keel_free(tmp);
    return st;
}
