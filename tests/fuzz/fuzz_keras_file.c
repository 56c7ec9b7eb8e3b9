/* fuzz_keras_file.c: keel_load on arbitrary files, and on real model files with one part
 * replaced by the fuzzer's bytes.
 *
 * Byte 0 picks what the rest is: bits 0-1 the mode, bits 2-4 a fixture (tests/fixtures/saved:
 * the Keras 3 .keras files and the tf.keras 2 .h5 files of mlp, cnn, rnn, birnn, merge,
 * nested, seq1d, deconv):
 *   0  the whole file as it is (its first bytes decide: a zip is read as .keras, an HDF5 file
 *      as a legacy .h5)
 *   1  a .keras archive with the fixture's metadata.json and config.json and the bytes as
 *      model.weights.h5, so that keel's weight and optimizer reader sees mutated HDF5 files
 *      that match a real model's layout (mutating the zip itself rarely gets past its CRCs)
 *   2  the same with the fixture's weights and the bytes as config.json
 *   3  the tf.keras 2 fixture with the bytes as its model_config attribute (legacy weight
 *      names, nested models' node numbering, training_config)
 * Mutations keep byte 0 to its mode bits most of the time, and mutate modes 2 and 3's JSON
 * with json_mutator.h (modes 0 and 1 are binary: libFuzzer's own). Bit 5 deflates the member
 * in modes 1 and 2. The file is a real one, not fuzz_util.h's memfd
 * (below says why). A load that fails must say why; one that
 * succeeds is freed. HDF5 itself is trusted: a crash inside libhdf5 on a mutated file is its
 * own (run.sh says how those are told apart). */
#include "../../src/save/save.h"
#include "json_mutator.h"

#include <keel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zip.h>

#ifndef KEEL_FUZZ_FIXTURES
#error "build with -DKEEL_FUZZ_FIXTURES=\"<repo>/tests/fixtures/saved\" (tests/fuzz/run.sh does)"
#endif

#define N_FIX 8
static const char *const names[N_FIX] = {"mlp",   "cnn",    "rnn",   "birnn",
                                         "merge", "nested", "seq1d", "deconv"};

typedef struct blob {
    void *p;
    size_t n;
} blob;

static blob meta[N_FIX], config[N_FIX], weights[N_FIX], legacy[N_FIX];

static blob slurp(const char *path) {
    blob b = {0};
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        abort();
    }
    fseek(f, 0, SEEK_END);
    b.n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    b.p = malloc(b.n + 1);
    if (!b.p || fread(b.p, 1, b.n, f) != b.n) abort();
    fclose(f);
    return b;
}

static blob member(zip_t *z, const char *name) {
    zip_stat_t s;
    zip_file_t *zf = zip_stat(z, name, 0, &s) == 0 ? zip_fopen(z, name, 0) : NULL;
    if (!zf) abort();
    blob b = {malloc(s.size + 1), s.size};
    if (!b.p || zip_fread(zf, b.p, s.size) != (zip_int64_t)s.size) abort();
    zip_fclose(zf);
    return b;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    char path[1024];
    for (int i = 0; i < N_FIX; i++) {
        snprintf(path, sizeof path, "%s/k3/%s.keras", KEEL_FUZZ_FIXTURES, names[i]);
        int err;
        zip_t *z = zip_open(path, ZIP_RDONLY, &err);
        if (!z) {
            fprintf(stderr, "%s: cannot open\n", path);
            abort();
        }
        meta[i] = member(z, "metadata.json");
        config[i] = member(z, "config.json");
        weights[i] = member(z, "model.weights.h5");
        zip_discard(z);
        snprintf(path, sizeof path, "%s/tf2/%s.h5", KEEL_FUZZ_FIXTURES, names[i]);
        legacy[i] = slurp(path);
    }
    return 0;
}

static void quiet(const char *msg, void *user) {
    (void)msg, (void)user;
}

/* A .keras archive in memory: metadata.json, config.json, model.weights.h5 (the one at `fuzzed`
 * deflated when asked). */
static blob archive(const blob *parts, int fuzzed, bool deflate) {
    static const char *const members[3] = {"metadata.json", "config.json", "model.weights.h5"};
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
    zip_t *z = src ? zip_open_from_source(src, ZIP_TRUNCATE, &ze) : NULL;
    if (!z) abort();
    zip_source_keep(src);
    for (int i = 0; i < 3; i++) {
        zip_source_t *s = zip_source_buffer(z, parts[i].p, parts[i].n, 0);
        zip_int64_t idx = s ? zip_file_add(z, members[i], s, 0) : -1;
        if (idx < 0 ||
            zip_set_file_compression(z, (zip_uint64_t)idx,
                                     i == fuzzed && deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0))
            abort();
    }
    if (zip_close(z) != 0) abort();
    blob b = {0};
    if (zip_source_open(src) != 0 || zip_source_seek(src, 0, SEEK_END) != 0) abort();
    b.n = (size_t)zip_source_tell(src);
    b.p = malloc(b.n);
    if (zip_source_seek(src, 0, SEEK_SET) != 0 ||
        zip_source_read(src, b.p, b.n) != (zip_int64_t)b.n)
        abort();
    zip_source_close(src);
    zip_source_free(src);
    zip_error_fini(&ze);
    return b;
}

/* The legacy fixture with its model_config attribute replaced by text. */
static blob with_model_config(const blob *h5, const char *text) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0 || H5Pset_fapl_core(fapl, 1 << 16, 0) < 0 ||
        H5Pset_file_image(fapl, h5->p, h5->n) < 0)
        abort();
    hid_t f = H5Fopen("fixture.h5", H5F_ACC_RDWR, fapl);
    H5Pclose(fapl);
    if (f < 0 || H5Adelete(f, "model_config") < 0 || keel_h5_attr_str(f, "model_config", text))
        abort();
    blob b = {0};
    if (keel_h5_image(f, &b.p, &b.n)) abort();
    H5Fclose(f);
    return b;
}

/* HDF5 resolves a file's path with realpath(), which a memfd's /proc path defeats: the input
 * goes to a real temporary file (in /dev/shm when there is one), made once. */
static char tmp_path[64];

static void remove_tmp(void) {
    unlink(tmp_path);
}

static const char *temp_file(const void *p, size_t n) {
    static int fd = -1;
    if (fd < 0) {
        snprintf(tmp_path, sizeof tmp_path, "%s/keel_fuzz_XXXXXX",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        if ((fd = mkstemp(tmp_path)) < 0) {
            perror("mkstemp");
            abort();
        }
        atexit(remove_tmp);
    }
    if (ftruncate(fd, 0) != 0 || pwrite(fd, p, n, 0) != (ssize_t)n) {
        perror(tmp_path);
        abort();
    }
    return tmp_path;
}

static void load(const void *p, size_t n) {
    keel_model *m = keel_load(temp_file(p, n));
    if (!m && !keel_last_error()[0]) __builtin_trap();
    /* every HDF5 object keel opened is closed again, on every path */
    ssize_t open = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
    if (open != 0) {
        fprintf(stderr, "keel_load left %zd HDF5 objects open\n", open);
        __builtin_trap();
    }
    /* FUZZ_VERBOSE=1: what became of each input, to see how far the seeds get */
    if (getenv("FUZZ_VERBOSE")) fprintf(stderr, "%s\n", m ? "loaded" : keel_last_error());
    keel_model_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    keel_set_warning_handler(quiet, NULL);
    keel_error(KEEL_OK, "%s", "");
    int mode = data[0] & 3, fix = (data[0] >> 2) % N_FIX;
    bool deflate = data[0] & 32;
    blob body = {(void *)(data + 1), size - 1};
    if (mode == 0) {
        load(body.p, body.n);
    } else if (mode == 1 || mode == 2) {
        blob parts[3] = {meta[fix], config[fix], weights[fix]};
        int fuzzed = mode == 1 ? 2 : 1;
        parts[fuzzed] = body;
        blob z = archive(parts, fuzzed, deflate);
        load(z.p, z.n);
        free(z.p);
    } else {
        char *text = malloc(body.n + 1);
        memcpy(text, body.p, body.n);
        text[body.n] = 0;
        keel_h5_quiet q;
        keel_h5_quiet_begin(&q);
        blob h5 = with_model_config(&legacy[fix], text);
        keel_h5_quiet_end(&q);
        load(h5.p, h5.n);
        keel_free(h5.p);
        free(text);
    }
    return 0;
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed) {
    if (size < 1 || max_size < 2 || seed % 16 == 0) /* now and then the mode byte too */
        return LLVMFuzzerMutate(data, size, max_size);
    int mode = data[0] & 3;
    size_t n = mode >= 2 ? fuzz_json_mutate(data + 1, size - 1, max_size - 1, seed)
                         : LLVMFuzzerMutate(data + 1, size - 1, max_size - 1);
    return n + 1;
}
