// hello.cpp: the hello model from C++, built by tests/install/check.sh with g++ -std=c++17
// -Wall -Wextra -Wpedantic -Werror against the installed keel.h and libkeel.so; then a Tokenizer.
//
// keel.h is C: in C++ it compiles (extern "C"), but the option macros do not (C++ designated
// initializers must follow the declaration order and cannot override the defaults the macros
// put first), so C++ fills the option struct and calls the function with the underscore.
// A zero field means the Keras default, except the fields the C macro sets (here use_bias,
// fit's batch_size, epochs, verbose and shuffle, the tokenizer's lower): those are set by hand.
// KEEL_SHAPE is a compound literal, which ISO C++ lacks: the shapes are arrays.
#include <keel.h>

#include <cstdio>
#include <memory>

using tensor_ptr = std::unique_ptr<keel_tensor, decltype(&keel_tensor_free)>;

// A vector of n floats (KEEL_SHAPE(n) in C), freed when it goes out of scope.
static tensor_ptr vector(int64_t n, const float *data) {
    const int64_t dims[] = {n};
    return tensor_ptr(keel_tensor_from_data(1, dims, data), keel_tensor_free);
}

int main() {
    const float xs[] = {1, 2, 3, 4, 5}, ys[] = {2, 4, 6, 8, 10}, six[] = {6};
    tensor_ptr x = vector(5, xs), y = vector(5, ys), x6 = vector(1, six);
    std::unique_ptr<keel_model, decltype(&keel_model_free)> m(keel_sequential(nullptr),
                                                              keel_model_free);

    keel_dense_opts dense{}; // keel_dense(.units = 1, .input_dim = 1, .activation = "linear")
    dense.units = 1;
    dense.input_dim = 1;
    dense.activation = "linear";
    dense.use_bias = 1;
    keel_add(m.get(), keel_dense_(dense));

    keel_compile_opts
        compile{}; // keel_compile(m, .optimizer = "sgd", .loss = "mean_squared_error")
    compile.optimizer = "sgd";
    compile.loss = "mean_squared_error";
    keel_compile_(m.get(), compile);

    keel_fit_opts fit{}; // keel_fit(m, x, y, .epochs = 1000, .verbose = 0)
    fit.batch_size = 32;
    fit.epochs = 1000;
    fit.verbose = 0;
    fit.shuffle = 1;
    keel_status st = keel_fit_(m.get(), x.get(), y.get(), fit);

    tensor_ptr p(st == KEEL_OK ? keel_predict(m.get(), x6.get(), nullptr) : nullptr,
                 keel_tensor_free);
    if (!p) {
        std::fprintf(stderr, "hello.cpp: %s\n", keel_last_error());
        return 1;
    }
    std::printf("backend: %s\nprediction: %.4f\n", keel_gemm_backend(),
                keel_tensor_data(p.get())[0]);

    keel_tokenizer_opts tokenizer{}; // keel_tokenizer_new()
    tokenizer.lower = 1;
    std::unique_ptr<keel_tokenizer, decltype(&keel_tokenizer_free)> t(
        keel_tokenizer_new_(tokenizer), keel_tokenizer_free);
    const char *texts[] = {"The CAT", "the dog", "ÉCOLE"};
    if (!t || keel_tokenizer_fit_on_texts(t.get(), texts, 3) != KEEL_OK) {
        std::fprintf(stderr, "hello.cpp: %s\n", keel_last_error());
        return 1;
    }
    std::printf("tokens: the=%lld école=%lld\n",
                (long long)keel_tokenizer_word_index(t.get(), "the"),
                (long long)keel_tokenizer_word_index(t.get(), "école"));
    return 0;
}
