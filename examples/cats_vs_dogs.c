/* cats_vs_dogs.c: the tutorial's CNN on a folder of photos sorted into class subfolders.
 *
 *   train_datagen = ImageDataGenerator(rescale=1./255, shear_range=0.2, zoom_range=0.2,
 *                                      horizontal_flip=True)
 *   training_set = train_datagen.flow_from_directory('dataset/training_set', target_size=(64, 64),
 *                                                    batch_size=32, class_mode='binary')
 *   test_set = ImageDataGenerator(rescale=1./255).flow_from_directory('dataset/test_set', ...)
 *   cnn = Sequential([Conv2D(32, 3, activation='relu', input_shape=[64, 64, 3]),
 *                     MaxPooling2D(pool_size=2, strides=2), Flatten(),
 *                     Dense(128, activation='relu'), Dense(1, activation='sigmoid')])
 *   cnn.compile(optimizer='adam', loss='binary_crossentropy', metrics=['accuracy'])
 *   cnn.fit(x=training_set, validation_data=test_set, epochs=25)
 *
 * usage: cats_vs_dogs DIR [--epochs N]   DIR holds training_set/<class>/<images> and, when
 * present, test_set/<class>/... `build/tools/make_image_folder DIR` writes such a folder from
 * two Fashion-MNIST classes (sandals and sneakers, as PNG and JPEG files). */
#include <keel.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int main(int argc, char **argv) {
    const char *dir = NULL;
    int epochs = 5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--epochs") && i + 1 < argc)
            epochs = atoi(argv[++i]);
        else
            dir = argv[i];
    }
    if (!dir) {
        fprintf(stderr, "usage: %s DIR [--epochs N]   (DIR/training_set/<class>/<images>)\n",
                argv[0]);
        return 2;
    }
    char train_dir[4096], test_dir[4096];
    snprintf(train_dir, sizeof train_dir, "%s/training_set", dir);
    snprintf(test_dir, sizeof test_dir, "%s/test_set", dir);
    struct stat st;
    bool has_test = stat(test_dir, &st) == 0 && S_ISDIR(st.st_mode);

    keel_image_gen train_gen = keel_image_data_generator(.rescale = 1.0f / 255, .shear_range = 0.2f,
                                                         .zoom_range = 0.2f, .horizontal_flip = 1);
    keel_image_gen test_gen = keel_image_data_generator(.rescale = 1.0f / 255);
    keel_flow *training_set =
        keel_flow_from_directory(train_dir, &train_gen, .target_size = {64, 64}, .batch_size = 32,
                                 .class_mode = "binary", .seed = 1);
    keel_flow *test_set =
        has_test && training_set
            ? keel_flow_from_directory(test_dir, &test_gen, .target_size = {64, 64},
                                       .batch_size = 32, .class_mode = "binary", .shuffle = 0)
            : NULL;
    if (!training_set || (has_test && !test_set)) {
        fprintf(stderr, "cats_vs_dogs: %s\n", keel_last_error());
        keel_flow_free(training_set);
        return 1;
    }
    printf("classes: %s = 0, %s = 1\n", keel_flow_class_name(training_set, 0),
           keel_flow_class_name(training_set, 1));

    keel_model *cnn = keel_sequential(NULL);
    keel_add(cnn, keel_conv2d(.filters = 32, .kernel_size = {3}, .activation = "relu",
                              .input_shape = {64, 64, 3}));
    keel_add(cnn, keel_max_pooling2d(.pool_size = {2}, .strides = {2}));
    keel_add(cnn, keel_flatten());
    keel_add(cnn, keel_dense(.units = 128, .activation = "relu"));
    keel_add(cnn, keel_dense(.units = 1, .activation = "sigmoid"));
    keel_compile(cnn, .optimizer = "adam", .loss = "binary_crossentropy", .metrics = {"accuracy"});
    keel_summary(cnn, NULL);

    int rc = 1;
    double res[2];
    if (keel_fit_flow(cnn, training_set, .epochs = epochs, .validation_flow = test_set) !=
        KEEL_OK) {
        fprintf(stderr, "cats_vs_dogs: %s\n", keel_last_error());
    } else if (test_set) {
        if (keel_evaluate_flow(cnn, test_set, res, 2) == KEEL_OK) {
            printf("test_accuracy: %.4f\n", res[1]);
            rc = 0;
        } else {
            fprintf(stderr, "cats_vs_dogs: %s\n", keel_last_error());
        }
    } else {
        const double *acc = keel_history_get(keel_model_history(cnn), "accuracy");
        printf("train_accuracy: %.4f\n", acc[epochs - 1]);
        rc = 0;
    }
    keel_model_free(cnn);
    keel_flow_free(training_set);
    keel_flow_free(test_set);
    return rc;
}
