/* house_prices.c: regression on a CSV of house sales, the tutorial's pandas + Keras pipeline:
 * categorical columns one-hot encoded, features standardized with statistics of the training
 * rows only, the last 20% of the rows (in file order) for validation, metric "mae", early
 * stopping on val_loss.
 *
 *   df = pd.read_csv(FILE); X = pd.get_dummies(df.drop(columns=[TARGET])); y = df[TARGET]
 *   n = int(len(X) * (1 - 0.2)); scaler = StandardScaler().fit(X[:n]); X = scaler.transform(X)
 *   model = Sequential([Dense(64, "relu", input_dim=k), Dense(64, "relu"), Dense(1)])
 *   model.compile(optimizer="adam", loss="mse", metrics=["mae"])
 *   model.fit(X, y, epochs=300, validation_split=0.2, callbacks=[EarlyStopping(patience=20,
 *             restore_best_weights=True)])
 *
 * validation_split takes the last rows unshuffled, as Keras does, so val_mae here is
 * comparable with any tool given the same file and the same split.
 *
 * usage: house_prices [FILE.csv] [--target COLUMN] [--epochs N]
 * Default: data/house_prices.csv (546 houses sold in Windsor, Canada, 1987; target "price",
 * Canadian dollars). The target is standardized for training (with the training rows' mean and
 * std); errors are reported in its own units. */
#include <keel.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef KEEL_DATA_DIR
#define KEEL_DATA_DIR "data"
#endif

int main(int argc, char **argv) {
    const char *path = KEEL_DATA_DIR "/house_prices.csv", *target = "price";
    int epochs = 300;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--target") && i + 1 < argc)
            target = argv[++i];
        else if (!strcmp(argv[i], "--epochs") && i + 1 < argc)
            epochs = atoi(argv[++i]);
        else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: %s [FILE.csv] [--target COLUMN] [--epochs N]\n", argv[0]);
            return 2;
        } else
            path = argv[i];
    }
    /* the scaler is fitted on the first 80% of the rows, the rows fit trains on */
    keel_csv *csv = keel_csv_load(path, .target = target, .validation_split = 0.2f);
    if (!csv) {
        fprintf(stderr, "house_prices: %s\n", keel_last_error());
        return 1;
    }
    int64_t n = keel_tensor_dim(csv->x, 0), split = csv->n_train;
    printf("%s: %lld rows (%lld train, %lld validation), %d features:", path, (long long)n,
           (long long)split, (long long)(n - split), csv->n_features);
    for (int j = 0; j < csv->n_features; j++)
        printf(" %s", csv->feature_names[j]);
    printf("\n");

    /* standardize the target with the training rows' statistics; remember its scale to report
     * errors in its units */
    float *y = keel_tensor_data(csv->y);
    double mean = 0, var = 0;
    for (int64_t i = 0; i < split; i++)
        mean += y[i];
    mean /= (double)split;
    for (int64_t i = 0; i < split; i++)
        var += (y[i] - mean) * (y[i] - mean);
    double sd = sqrt(var / (double)split);
    if (sd == 0) sd = 1;
    for (int64_t i = 0; i < n; i++)
        y[i] = (float)((y[i] - mean) / sd);

    /* the split is passed as explicit tensors, so it is exactly csv->n_train whatever the
     * float arithmetic of fit's own validation_split */
    keel_tensor *xt = keel_tensor_slice(csv->x, 0, split),
                *yt = keel_tensor_slice(csv->y, 0, split);
    keel_tensor *xv = keel_tensor_slice(csv->x, split, n - split);
    keel_tensor *yv = keel_tensor_slice(csv->y, split, n - split), *p = NULL;
    int rc = 1;
    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_dense(.units = 64, .activation = "relu", .input_dim = csv->n_features));
    keel_add(m, keel_dense(.units = 64, .activation = "relu"));
    keel_add(m, keel_dense(.units = 1));
    keel_compile(m, .optimizer = "adam", .loss = "mse", .metrics = {"mae"});
    keel_status st =
        !xt || !yt || !xv || !yv
            ? KEEL_ERR_NOMEM
            : keel_fit(m, xt, yt, .epochs = epochs, .validation_data = {xv, yv}, .verbose = 0,
                       .early_stopping =
                           keel_early_stopping(.patience = 20, .restore_best_weights = 1));
    if (st != KEEL_OK) {
        fprintf(stderr, "house_prices: %s\n", keel_last_error());
        goto done;
    }
    const keel_history *h = keel_model_history(m);
    int ran = keel_history_epochs(h);
    const double *vmae = keel_history_get(h, "val_mae");
    double best = INFINITY;
    for (int e = 0; e < ran; e++)
        best = vmae[e] < best ? vmae[e] : best;
    printf("trained %d epochs (early stopping, best weights restored)\n", ran);

    /* a few validation houses, predicted against their real prices */
    p = keel_predict(m, xv, NULL);
    for (int i = 0; p && i < 5 && i < n - split; i++)
        printf("  house %lld: predicted %.0f, sold for %.0f\n", (long long)(split + i),
               keel_tensor_data(p)[i] * sd + mean, keel_tensor_data(yv)[i] * sd + mean);
    printf("val_mae: %.2f\n", best * sd);
    rc = 0;
done:
    keel_tensor_free(p);
    keel_tensor_free(xt);
    keel_tensor_free(yt);
    keel_tensor_free(xv);
    keel_tensor_free(yv);
    keel_model_free(m);
    keel_csv_free(csv);
    return rc;
}
