/* test_errors.c: every user mistake the API can see returns a status and one clear line that
 * names what and where. One test per mistake; ASan/UBSan runs of this file also prove that
 * none of these paths crashes or leaks. */
#include <criterion/criterion.h>
#include <keel.h>
#include <math.h>
#include <string.h>

#define EXPECT_MSG(...)                                                                            \
    do {                                                                                           \
        const char *needles_[] = {__VA_ARGS__};                                                    \
        for (size_t i_ = 0; i_ < sizeof needles_ / sizeof needles_[0]; i_++)                       \
            cr_expect(strstr(keel_last_error(), needles_[i_]) != NULL,                             \
                      "message \"%s\" lacks \"%s\"", keel_last_error(), needles_[i_]);             \
        cr_expect(strchr(keel_last_error(), '\n') == NULL, "message is not one line");             \
    } while (0)

static keel_model *mlp(const char *loss) {
    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_dense(.units = 8, .input_dim = 4, .activation = "relu"));
    keel_add(m, keel_dense(.units = 3, .activation = "softmax"));
    keel_compile(m, .optimizer = "adam", .loss = loss, .metrics = {"accuracy"});
    return m;
}

static keel_tensor *zeros2(int64_t a, int64_t b) {
    return keel_tensor_new(KEEL_SHAPE(a, b));
}

Test(errors, fit_before_compile) {
    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_dense(.units = 1, .input_dim = 1));
    keel_tensor *x = zeros2(4, 1);
    cr_expect_eq(keel_fit(m, x, x, .verbose = 0), KEEL_ERR_STATE);
    EXPECT_MSG("keel_fit", "keel_compile");
    /* Keras predicts and summarizes a model that is built but not compiled; so does keel */
    keel_tensor *p = keel_predict(m, x, NULL);
    cr_expect_not_null(p, "%s", keel_last_error());
    keel_tensor_free(p);
    double r[1];
    cr_expect_eq(keel_evaluate(m, x, x, r, 1), KEEL_ERR_STATE);
    EXPECT_MSG("keel_evaluate", "keel_compile");
    keel_model *empty = keel_sequential(NULL);
    cr_expect_eq(keel_summary(empty, NULL), KEEL_ERR_STATE);
    keel_model_free(empty);
    keel_tensor_free(x);
    keel_model_free(m);
}

Test(errors, unknown_names_suggest_the_nearest) {
    keel_layer *l = keel_dense(.units = 3, .activation = "rleu");
    cr_expect_null(l);
    EXPECT_MSG("unknown activation \"rleu\"", "did you mean \"relu\"");
    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_dense(.units = 1, .input_dim = 2));
    cr_expect_eq(keel_compile(m, .optimizer = "adma", .loss = "mse"), KEEL_ERR_ARG);
    EXPECT_MSG("unknown optimizer \"adma\"", "did you mean \"adam\"");
    keel_model_free(m);
    m = keel_sequential(NULL);
    keel_add(m, keel_dense(.units = 1, .input_dim = 2));
    cr_expect_eq(keel_compile(m, .optimizer = "sgd", .loss = "mean_squared_eror"), KEEL_ERR_ARG);
    EXPECT_MSG("unknown loss", "did you mean \"mean_squared_error\"");
    keel_model_free(m);
    m = keel_sequential(NULL);
    keel_add(m, keel_dense(.units = 1, .input_dim = 2));
    cr_expect_eq(keel_compile(m, .loss = "mse", .metrics = {"acuracy"}), KEEL_ERR_ARG);
    EXPECT_MSG("unknown metric", "did you mean \"accuracy\"");
    keel_model_free(m);
    m = keel_sequential(NULL);
    keel_add(m, keel_dense(.units = 1, .input_dim = 2, .kernel_initializer = "glorot_unifrom"));
    cr_expect_eq(keel_compile(m, .loss = "mse"), KEEL_ERR_ARG);
    EXPECT_MSG("dense: kernel", "did you mean \"glorot_uniform\"");
    keel_model_free(m);
    m = keel_sequential(NULL);
    keel_add(m, keel_dense(.units = 1, .input_dim = 2, .kernel_regularizer = "l3(0.1)"));
    cr_expect_eq(keel_compile(m, .loss = "mse"), KEEL_ERR_ARG);
    EXPECT_MSG("unknown regularizer \"l3\"");
    keel_model_free(m);
    cr_expect_null(keel_dense(.units = 2, .activation = "elu(alpah=1)"));
    EXPECT_MSG("no argument \"alpah\"", "did you mean \"alpha\"");
}

Test(errors, failed_constructor_is_kept_until_compile) {
    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_dense(.units = 4, .input_dim = 2));
    cr_expect_eq(keel_add(m, keel_dense(.units = 0)), KEEL_ERR_ARG);
    keel_add(m, keel_dense(.units = 1));
    cr_expect_eq(keel_compile(m, .loss = "mse"), KEEL_ERR_ARG);
    EXPECT_MSG("layer 2", "units must be positive, got 0");
    cr_expect_eq(keel_model_status(m), KEEL_ERR_ARG);
    keel_model_free(m);
    cr_expect_null(keel_dropout(.rate = 1.5f));
    EXPECT_MSG("rate must be in [0, 1]");
}

Test(errors, wrong_call_order) {
    keel_model *m = keel_sequential(NULL);
    cr_expect_eq(keel_compile(m, .loss = "mse"), KEEL_ERR_STATE);
    EXPECT_MSG("no layers");
    keel_model_free(m);
    m = keel_sequential(NULL);
    keel_add(m, keel_dense(.units = 4)); /* no input shape anywhere */
    cr_expect_eq(keel_compile(m, .loss = "mse"), KEEL_ERR_STATE);
    EXPECT_MSG("dense", "no input shape", "keel_input");
    keel_model_free(m);
    m = mlp("sparse_categorical_crossentropy");
    cr_expect_eq(keel_add(m, keel_dense(.units = 2)), KEEL_ERR_STATE);
    EXPECT_MSG("already compiled");
    keel_model_free(m);
    m = keel_sequential(NULL);
    keel_add(m, keel_dense(.units = 4, .input_dim = 3));
    keel_add(m, keel_input(.shape = {3}));
    cr_expect_eq(keel_compile(m, .loss = "mse"), KEEL_ERR_STATE);
    EXPECT_MSG("Input layer", "must come first");
    keel_model_free(m);
    m = mlp("mse");
    cr_expect_eq(keel_model_set_seed(m, 3), KEEL_ERR_STATE);
    EXPECT_MSG("before keel_compile");
    keel_model_free(m);
}

Test(errors, x_shape_names_layer_and_shapes) {
    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_dense(.units = 8, .input_dim = 784, .activation = "relu"));
    keel_add(m, keel_dense(.units = 10, .activation = "softmax"));
    keel_compile(m, .optimizer = "adam", .loss = "sparse_categorical_crossentropy");
    keel_tensor *x = keel_tensor_new(KEEL_SHAPE(6, 28, 28)), *y = keel_tensor_new(KEEL_SHAPE(6));
    cr_expect_eq(keel_fit(m, x, y, .verbose = 0), KEEL_ERR_SHAPE);
    EXPECT_MSG("keel_fit", "(6, 28, 28)", "dense", "(None, 784)", "flatten");
    keel_tensor *x2 = keel_tensor_new(KEEL_SHAPE(6, 28));
    cr_expect_null(keel_predict(m, x2, NULL));
    EXPECT_MSG("keel_predict", "(6, 28)", "(None, 784)");
    keel_tensor_free(x), keel_tensor_free(x2), keel_tensor_free(y);
    keel_model_free(m);
}

Test(errors, y_shape_and_labels) {
    keel_model *m = mlp("sparse_categorical_crossentropy");
    keel_tensor *x = zeros2(5, 4), *y = keel_tensor_new(KEEL_SHAPE(4)),
                *y5 = keel_tensor_new(KEEL_SHAPE(5));
    cr_expect_eq(keel_fit(m, x, y, .verbose = 0), KEEL_ERR_SHAPE);
    EXPECT_MSG("x has 5 samples but y has 4");
    keel_tensor_data(y5)[2] = 3; /* classes are 0..2 */
    cr_expect_eq(keel_fit(m, x, y5, .verbose = 0), KEEL_ERR_ARG);
    EXPECT_MSG("y[2] = 3", "[0, 3)");
    keel_tensor_data(y5)[2] = 0.5f;
    cr_expect_eq(keel_fit(m, x, y5, .verbose = 0), KEEL_ERR_ARG);
    EXPECT_MSG("y[2] = 0.5");
    keel_model_free(m);
    m = mlp("categorical_crossentropy");
    keel_tensor_data(y5)[2] = 1;
    cr_expect_eq(keel_fit(m, x, y5, .verbose = 0), KEEL_ERR_SHAPE);
    EXPECT_MSG("(5,)", "(None, 3)", "sparse_categorical_crossentropy");
    cr_expect_eq(keel_fit(m, x, NULL, .verbose = 0), KEEL_ERR_ARG);
    EXPECT_MSG("y is NULL");
    keel_tensor_free(x), keel_tensor_free(y), keel_tensor_free(y5);
    keel_model_free(m);
}

Test(errors, bad_fit_arguments) {
    keel_model *m = mlp("sparse_categorical_crossentropy");
    keel_tensor *x = zeros2(5, 4), *y = keel_tensor_new(KEEL_SHAPE(5));
    cr_expect_eq(keel_fit(m, x, y, .validation_split = 1.5f, .verbose = 0), KEEL_ERR_ARG);
    EXPECT_MSG("validation_split must be in [0, 1)");
    cr_expect_eq(keel_fit(m, x, y, .validation_split = 0.9f, .verbose = 0), KEEL_ERR_ARG);
    EXPECT_MSG("empty training set");
    cr_expect_eq(keel_fit(m, x, y, .verbose = 7), KEEL_ERR_ARG);
    EXPECT_MSG("verbose must be 0, 1 or 2");
    cr_expect_eq(keel_fit(m, x, y, .verbose = 0, .validation_data = {.x = x}), KEEL_ERR_ARG);
    EXPECT_MSG("validation_data needs both x and y");
    cr_expect_eq(
        keel_fit(m, x, y, .verbose = 0, .early_stopping = keel_early_stopping(.mode = "up")),
        KEEL_ERR_ARG);
    EXPECT_MSG("mode must be");
    cr_expect_eq(keel_fit(m, NULL, y, .verbose = 0), KEEL_ERR_ARG);
    EXPECT_MSG("x is NULL");
    cr_expect_eq(keel_fit(NULL, x, y, .verbose = 0), KEEL_ERR_ARG);
    EXPECT_MSG("model is NULL");
    keel_tensor_free(x), keel_tensor_free(y);
    keel_model_free(m);
}

Test(errors, nan_loss_names_epoch_and_batch) {
    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_dense(.units = 1, .input_dim = 1));
    keel_compile(m, .optimizer = "sgd", .loss = "mse");
    keel_tensor *x = zeros2(64, 1), *y = zeros2(64, 1);
    keel_tensor_data(x)[40] = NAN; /* batch 2 of 2 without shuffling */
    /* a NaN in the data is the data's fault: named, and nothing is trained on it */
    cr_expect_eq(keel_fit(m, x, y, .verbose = 0, .shuffle = 0), KEEL_ERR_ARG);
    EXPECT_MSG("x[40, 0] is nan", "sample 40");
    const float *w = keel_model_weights(m, NULL); /* a copy taken now, after the fit */
    cr_expect(isfinite(w[0]) && isfinite(w[1]), "weights stay finite");
    keel_tensor_free(x), keel_tensor_free(y);
    keel_model_free(m);
    /* divergence: a learning rate far too large */
    m = keel_sequential(NULL);
    keel_add(m, keel_dense(.units = 1, .input_dim = 1));
    keel_compile(m, .optimizer = "sgd", .optimizer_opts = {.learning_rate = 1e6f}, .loss = "mse");
    x = zeros2(32, 1), y = zeros2(32, 1);
    for (int i = 0; i < 32; i++)
        keel_tensor_data(x)[i] = (float)i, keel_tensor_data(y)[i] = 2.0f * (float)i;
    cr_expect_eq(keel_fit(m, x, y, .epochs = 50, .batch_size = 4, .verbose = 0), KEEL_ERR_NAN);
    EXPECT_MSG("loss became", "epoch 1");
    keel_tensor_free(x), keel_tensor_free(y);
    keel_model_free(m);
}

Test(errors, tensors) {
    cr_expect_null(keel_tensor_new(0, NULL));
    EXPECT_MSG("rank 0 out of range");
    cr_expect_null(keel_tensor_new(KEEL_SHAPE(2, -3)));
    EXPECT_MSG("dimension 1 is negative");
    cr_expect_null(keel_tensor_from_data(KEEL_SHAPE(2), NULL));
    EXPECT_MSG("data is NULL");
    keel_tensor *t = keel_tensor_new(KEEL_SHAPE(4, 3));
    cr_expect_null(keel_tensor_slice(t, 3, 2));
    EXPECT_MSG("rows [3, 5) out of range");
    cr_expect_null(keel_tensor_reshape(t, KEEL_SHAPE(5, 2)));
    EXPECT_MSG("cannot reshape (4, 3)", "(5, 2)");
    keel_tensor_free(t);
    keel_tensor_free(NULL);
    keel_model_free(NULL);
    keel_layer_free(NULL);
    keel_csv_free(NULL);
}

Test(errors, reshape_and_input_layers) {
    cr_expect_null(keel_reshape(.target_shape = {-1, -1}));
    EXPECT_MSG("only one -1");
    cr_expect_null(keel_input(.shape = {0}));
    EXPECT_MSG("shape is empty");
    keel_model *m = keel_sequential(NULL);
    keel_add(m, keel_input(.shape = {6}));
    keel_add(m, keel_reshape(.target_shape = {4, 2}));
    cr_expect_eq(keel_compile(m, .loss = "mse"), KEEL_ERR_SHAPE);
    EXPECT_MSG("reshape", "(None, 6)", "(None, 4, 2)");
    keel_model_free(m);
}
