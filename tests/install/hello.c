/* hello.c, built by tests/install/check.sh against an installed keel only (pkg-config or the
 * CMake package, shared or static): examples/hello.c's model, one Dense unit learning y = 2x
 * from five points, whose prediction for 6 the script checks (about 12). Then a Tokenizer
 * through JSON and back, so that a static link needs ICU (lowercasing "ÉCOLE") and Jansson too:
 * a program that leaves the text functions out pulls no ICU from libkeel.a. */
#include <keel.h>
#include <stdio.h>
#include <stdlib.h>

/* Prints "tokens: the=1 école=4" from a tokenizer fitted on three texts, saved as Keras's JSON
 * and loaded again; 1 on an error. */
static int tokens(void) {
    const char *texts[] = {"The CAT", "the dog", "ÉCOLE"};
    keel_tokenizer *t = keel_tokenizer_new(), *back = NULL;
    char *json = NULL;
    if (t && keel_tokenizer_fit_on_texts(t, texts, 3) == KEEL_OK &&
        (json = keel_tokenizer_to_json(t)))
        back = keel_tokenizer_from_json(json);
    if (back)
        printf("tokens: the=%lld école=%lld\n", (long long)keel_tokenizer_word_index(back, "the"),
               (long long)keel_tokenizer_word_index(back, "école"));
    else
        fprintf(stderr, "hello: %s\n", keel_last_error());
    keel_tokenizer_free(back);
    free(json);
    keel_tokenizer_free(t);
    return back ? 0 : 1;
}

int main(void) {
    float xs[] = {1, 2, 3, 4, 5}, ys[] = {2, 4, 6, 8, 10}, six[] = {6};
    keel_tensor *x = keel_tensor_from_data(KEEL_SHAPE(5), xs);
    keel_tensor *y = keel_tensor_from_data(KEEL_SHAPE(5), ys);
    keel_tensor *x6 = keel_tensor_from_data(KEEL_SHAPE(1), six);

    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_dense(.units = 1, .input_dim = 1, .activation = "linear"));
    keel_compile(m, .optimizer = "sgd", .loss = "mean_squared_error");
    keel_status st = keel_fit(m, x, y, .epochs = 1000, .verbose = 0);
    keel_tensor *p = st == KEEL_OK ? keel_predict(m, x6, NULL) : NULL;
    int rc = 0;
    if (p) {
        /* The GEMM backend too: the script checks that BLIS was linked and loaded. */
        printf("backend: %s\nprediction: %.4f\n", keel_gemm_backend(), keel_tensor_data(p)[0]);
    } else {
        fprintf(stderr, "hello: %s\n", keel_last_error());
        rc = 1;
    }
    keel_tensor_free(p);
    keel_tensor_free(x6);
    keel_tensor_free(y);
    keel_tensor_free(x);
    keel_model_free(m);
    return rc ? rc : tokens();
}
