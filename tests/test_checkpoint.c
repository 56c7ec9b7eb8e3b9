/* test_checkpoint.c: ModelCheckpoint decides and prints as tf.keras 2.15's does. The fixture
 * (tools/make_checkpoint_fixture.py) drove a real keras.callbacks.ModelCheckpoint with scripted
 * logs: per epoch, the file it wrote and its verbose text. keel's callback gets the same logs. */
#include "../src/model/model.h"

#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* "saving model to /any/dir/name" -> "saving model to name": the folders differ */
static void strip_dirs(char *s) {
    const char *key = "saving model to ";
    char *p = strstr(s, key);
    if (!p) return;
    p += strlen(key);
    char *end = p + strcspn(p, "\n"), *slash = NULL;
    for (char *q = p; q < end; q++)
        if (*q == '/') slash = q;
    if (slash) memmove(p, slash + 1, strlen(slash + 1) + 1);
}

/* the fixture's escapes: \n and \\ */
static void unescape(char *s) {
    char *o = s;
    for (char *p = s; *p; p++) {
        if (*p == '\\' && p[1] == 'n')
            *o++ = '\n', p++;
        else if (*p == '\\' && p[1] == '\\')
            *o++ = '\\', p++;
        else
            *o++ = *p;
    }
    *o = 0;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static void warn_sink(const char *msg, void *user) {
    (*(int *)user)++;
    (void)msg;
}

Test(checkpoint, decides_and_prints_as_keras) {
    char path[600];
    snprintf(path, sizeof path, "%s/tests/fixtures/checkpoint_keras.txt", KEEL_SOURCE_DIR);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s (tools/make_checkpoint_fixture.py)", path);
    keel_model *m = keel_sequential("ck");
    keel_add(m, keel_dense(.units = 1, .input_dim = 1));
    cr_assert_eq(keel_compile(m, .optimizer = "sgd", .loss = "mse"), KEEL_OK);
    char line[2048], dir[256], fmt[512], full[800], monitor[64], mode[16];
    keel_model_checkpoint_opts o = {0};
    keel_ckpt_state st;
    int best = 0, epochs = 0, warnings = 0;
    keel_set_warning_handler(warn_sink, &warnings);
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (line[0] == '#') continue;
        if (!strncmp(line, "case ", 5)) {
            char name[64];
            cr_assert_eq(
                sscanf(line, "case %63s %63s %15s %d %511s", name, monitor, mode, &best, fmt), 5);
            snprintf(dir, sizeof dir, "/tmp/keel_ckpt_%d", (int)getpid());
            mkdir(dir, 0755);
            snprintf(dir, sizeof dir, "/tmp/keel_ckpt_%d/%s", (int)getpid(), name);
            mkdir(dir, 0755);
            snprintf(full, sizeof full, "%s/%s", dir, fmt);
            o = (keel_model_checkpoint_opts){.filepath = full,
                                             .monitor = monitor,
                                             .mode = mode,
                                             .save_best_only = best,
                                             .verbose = 1};
            cr_assert_eq(keel_ckpt_init(&st, &o, "test"), KEEL_OK, "%s", keel_last_error());
            continue;
        }
        int epoch, used = 0;
        char key[64], file[256];
        double value;
        cr_assert_eq(sscanf(line, "epoch %d %63s %lf %255s %n", &epoch, key, &value, file, &used),
                     4, "%s", line);
        char *want = line + used;
        unescape(want);
        strip_dirs(want);
        const char *names[1] = {key};
        keel_logs logs = {1, names, &value};
        char *text = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&text, &len);
        cr_assert_eq(keel_ckpt_epoch_end(m, &st, &o, epoch, &logs, out, "test"), KEEL_OK, "%s",
                     keel_last_error());
        fclose(out);
        strip_dirs(text);
        cr_expect_str_eq(text, want, "%s epoch %d", fmt, epoch);
        char saved[800];
        if (strcmp(file, "-")) {
            snprintf(saved, sizeof saved, "%s/%s", dir, file);
            cr_expect_eq(access(saved, F_OK), 0, "%s was not written", saved);
        }
        free(text);
        epochs++;
    }
    fclose(f);
    keel_set_warning_handler(NULL, NULL);
    /* the monitor never logged: Keras warns each epoch and saves nothing */
    cr_expect_eq(warnings, 5);
    cr_expect_eq(epochs, 24);
    char root[64];
    snprintf(root, sizeof root, "/tmp/keel_ckpt_%d", (int)getpid());
    nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    keel_model_free(m);
}
