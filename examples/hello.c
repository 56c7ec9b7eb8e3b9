/* hello.c: the tutorial's first neural network. One Dense unit learns y = 2x from five points.
 *
 *   model = Sequential([Dense(units=1, input_dim=1, activation="linear")])
 *   model.compile(optimizer="sgd", loss="mean_squared_error")
 *   model.fit(X, y, epochs=1000, verbose=0)
 *   model.predict([6])
 */
#include <keel.h>
#include <stdio.h>

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
    if (!p) {
        fprintf(stderr, "hello: %s\n", keel_last_error());
        return 1;
    }
    printf("Prediction for 6: %f\n", keel_tensor_data(p)[0]);
    printf("prediction: %.4f\n", keel_tensor_data(p)[0]);

    keel_tensor_free(p);
    keel_tensor_free(x6);
    keel_tensor_free(y);
    keel_tensor_free(x);
    keel_model_free(m);
    return 0;
}
