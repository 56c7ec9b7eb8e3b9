/* fixture.h: reads the plain-text fixtures that tools/make_*fixtures.py write with real
 * tf.keras: one record per line, "name n v1 ... vn"; lines starting with # are comments.
 * Header-only, for the test files. */
#ifndef KEEL_TEST_FIXTURE_H
#define KEEL_TEST_FIXTURE_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fx_rec {
    char name[128];
    int n;
    double *v;
} fx_rec;

typedef struct fx_file {
    char path[512];
    fx_rec *r;
    int n, cap;
} fx_file;

/* Loads tests/fixtures/<file>; `tool` names the script that regenerates it. */
static void fx_load_from(fx_file *f, const char *file, const char *tool) {
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s/tests/fixtures/%s", KEEL_SOURCE_DIR, file);
    FILE *fp = fopen(f->path, "r");
    cr_assert_not_null(fp, "cannot open %s (regenerate: python3 tools/%s tests/fixtures)", f->path, tool);
    char tok[128];
    while (fscanf(fp, " %127s", tok) == 1) {
        if (tok[0] == '#') {
            int c;
            while ((c = fgetc(fp)) != '\n' && c != EOF) {}
            continue;
        }
        if (f->n == f->cap) {
            f->cap = f->cap ? 2 * f->cap : 64;
            f->r = realloc(f->r, (size_t)f->cap * sizeof *f->r);
            cr_assert_not_null(f->r);
        }
        fx_rec *r = &f->r[f->n++];
        snprintf(r->name, sizeof r->name, "%s", tok);
        cr_assert_eq(fscanf(fp, "%d", &r->n), 1, "%s: record %s has no count", f->path, tok);
        cr_assert(r->n > 0, "%s: record %s: bad count %d", f->path, tok, r->n);
        r->v = malloc((size_t)r->n * sizeof *r->v);
        cr_assert_not_null(r->v);
        for (int i = 0; i < r->n; i++)
            cr_assert_eq(fscanf(fp, "%lf", &r->v[i]), 1, "%s: record %s: value %d missing", f->path, tok, i);
    }
    fclose(fp);
}

static void fx_free(fx_file *f) {
    for (int i = 0; i < f->n; i++) free(f->r[i].v);
    free(f->r);
    memset(f, 0, sizeof *f);
}

#endif
