/* house_prices.c: regression on a CSV of house sales, the tutorial's pandas + Keras pipeline:
 * categorical columns one-hot encoded, features standardized, a chosen target column,
 * validation_split, metric "mae", early stopping on val_loss.
 *
 *   df = pd.read_csv(FILE); X = pd.get_dummies(df.drop(columns=[TARGET])); X = scale(X)
 *   model = Sequential([Dense(64, "relu", input_dim=n), Dense(64, "relu"), Dense(1)])
 *   model.compile(optimizer="adam", loss="mse", metrics=["mae"])
 *   model.fit(X, y, epochs=300, validation_split=0.2, callbacks=[EarlyStopping(patience=20,
 *             restore_best_weights=True)])
 *
 * usage: house_prices [FILE.csv] [--target COLUMN] [--epochs N]
 * Default: data/house_prices.csv (546 houses sold in Windsor, Canada, 1987; target "price",
 * Canadian dollars). The target is standardized for training; errors are reported in its own
 * units. */
#include <keel.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef KEEL_DATA_DIR
#define KEEL_DATA_DIR "data"
#endif

/* the same seeded permutation applied to the rows of x and y, so the validation split (the
 * last 20%) is a random sample, as train_test_split would give */
static void shuffle_rows(keel_tensor *x, keel_tensor *y, unsigned seed) {
    int64_t n = keel_tensor_dim(x, 0), f = keel_tensor_dim(x, 1);
    float *xd = keel_tensor_data(x), *yd = keel_tensor_data(y), tmp;
    srand(seed);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = rand() % (i + 1);
        for (int64_t k = 0; k < f; k++) tmp = xd[i * f + k], xd[i * f + k] = xd[j * f + k], xd[j * f + k] = tmp;
        tmp = yd[i], yd[i] = yd[j], yd[j] = tmp;
    }
}

int main(int argc, char **argv) {
    const char *path = KEEL_DATA_DIR "/house_prices.csv", *target = "price";
    int epochs = 300;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--target") && i + 1 < argc) target = argv[++i];
        else if (!strcmp(argv[i], "--epochs") && i + 1 < argc) epochs = atoi(argv[++i]);
        else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: %s [FILE.csv] [--target COLUMN] [--epochs N]\n", argv[0]);
            return 2;
        } else path = argv[i];
    }
    keel_csv *csv = keel_csv_load(path, .target = target);
    if (!csv) {
        fprintf(stderr, "house_prices: %s\n", keel_last_error());
        return 1;
    }
    int64_t n = keel_tensor_dim(csv->x, 0);
    printf("%s: %lld rows, %d features:", path, (long long)n, csv->n_features);
    for (int j = 0; j < csv->n_features; j++) printf(" %s", csv->feature_names[j]);
    printf("\n");
    shuffle_rows(csv->x, csv->y, 42);

    /* standardize the target; remember its scale to report errors in its units */
    float *y = keel_tensor_data(csv->y);
    double mean = 0, var = 0;
    for (int64_t i = 0; i < n; i++) mean += y[i];
    mean /= (double)n;
    for (int64_t i = 0; i < n; i++) var += (y[i] - mean) * (y[i] - mean);
    double sd = sqrt(var / (double)n);
    if (sd == 0) sd = 1;
    for (int64_t i = 0; i < n; i++) y[i] = (float)((y[i] - mean) / sd);

    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_dense(.units = 64, .activation = "relu", .input_dim = csv->n_features));
    keel_add(m, keel_dense(.units = 64, .activation = "relu"));
    keel_add(m, keel_dense(.units = 1));
    keel_compile(m, .optimizer = "adam", .loss = "mse", .metrics = {"mae"});
    keel_status st = keel_fit(m, csv->x, csv->y, .epochs = epochs, .validation_split = 0.2f, .verbose = 0,
                              .early_stopping = keel_early_stopping(.patience = 20, .restore_best_weights = 1));
    if (st != KEEL_OK) {
        fprintf(stderr, "house_prices: %s\n", keel_last_error());
        keel_model_free(m);
        keel_csv_free(csv);
        return 1;
    }
    const keel_history *h = keel_model_history(m);
    int ran = keel_history_epochs(h);
    const double *vmae = keel_history_get(h, "val_mae");
    double best = INFINITY;
    for (int e = 0; e < ran; e++) best = vmae[e] < best ? vmae[e] : best;
    printf("trained %d epochs (early stopping, best weights restored)\n", ran);

    /* a few validation houses, predicted against their real prices */
    int64_t split = (int64_t)floor((double)n * 0.8);
    keel_tensor *xv = keel_tensor_slice(csv->x, split, 5), *yv = keel_tensor_slice(csv->y, split, 5);
    keel_tensor *p = xv ? keel_predict(m, xv, NULL) : NULL;
    for (int i = 0; p && i < 5; i++)
        printf("  house %lld: predicted %.0f, sold for %.0f\n", (long long)(split + i),
               keel_tensor_data(p)[i] * sd + mean, keel_tensor_data(yv)[i] * sd + mean);
    printf("val_mae: %.2f\n", best * sd);
    keel_tensor_free(p);
    keel_tensor_free(xv);
    keel_tensor_free(yv);
    keel_model_free(m);
    keel_csv_free(csv);
    return 0;
}
