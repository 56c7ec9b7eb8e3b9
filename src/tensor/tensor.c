/* tensor.c: the public dense float32 tensor: construction, copies, access. */
#include "../core.h"

#include <stdio.h>

static keel_status check_dims(const char *fn, int rank, const int64_t *dims) {
    if (rank < 1 || rank > KEEL_MAX_RANK)
        KEEL_FAIL(KEEL_ERR_ARG, "%s: rank %d out of range (1..%d)", fn, rank, KEEL_MAX_RANK);
    if (!dims) KEEL_FAIL(KEEL_ERR_ARG, "%s: dims is NULL", fn);
    int64_t total = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0)
            KEEL_FAIL(KEEL_ERR_ARG, "%s: dimension %d is negative (%lld)", fn, i,
                      (long long)dims[i]);
        if (dims[i] > 0 && total > INT64_MAX / 4 / dims[i])
            KEEL_FAIL(KEEL_ERR_ARG, "%s: shape too large", fn);
        total *= dims[i];
    }
    return KEEL_OK;
}

/* both dtypes are 4 bytes a value: one buffer, seen as floats or as int32 */
static keel_tensor *tensor_alloc_as(const char *fn, int rank, const int64_t *dims,
                                    keel_dtype dtype) {
    if (check_dims(fn, rank, dims) != KEEL_OK) return NULL;
    keel_tensor *t = keel_alloc(sizeof *t);
    if (!t) return NULL;
    t->rank = rank;
    memcpy(t->dims, dims, (size_t)rank * sizeof *dims);
    t->size = keel_dims_prod(rank, dims);
    t->dtype = dtype;
    void *buf = keel_alloc((size_t)t->size * 4);
    if (!buf) {
        keel_free(t);
        return NULL;
    }
    if (dtype == KEEL_INT32)
        t->ints = buf;
    else
        t->data = buf;
    return t;
}

static keel_tensor *tensor_alloc(const char *fn, int rank, const int64_t *dims) {
    return tensor_alloc_as(fn, rank, dims, KEEL_FLOAT32);
}

static void *buffer(const keel_tensor *t) {
    return t->dtype == KEEL_INT32 ? (void *)t->ints : (void *)t->data;
}

keel_tensor *keel_tensor_new_int32(int rank, const int64_t *dims) {
    return tensor_alloc_as("keel_tensor_new_int32", rank, dims, KEEL_INT32);
}

keel_tensor *keel_tensor_from_int32(int rank, const int64_t *dims, const int32_t *data) {
    if (!data) {
        keel_error(KEEL_ERR_ARG, "keel_tensor_from_int32: data is NULL");
        return NULL;
    }
    keel_tensor *t = tensor_alloc_as("keel_tensor_from_int32", rank, dims, KEEL_INT32);
    if (t) memcpy(t->ints, data, (size_t)t->size * sizeof(int32_t));
    return t;
}

keel_dtype keel_tensor_dtype(const keel_tensor *t) {
    return t ? t->dtype : KEEL_FLOAT32;
}

int32_t *keel_tensor_int32_data(keel_tensor *t) {
    if (t && t->dtype != KEEL_INT32)
        keel_error(KEEL_ERR_ARG,
                   "keel_tensor_int32_data: the tensor is float32 (use keel_tensor_data)");
    return t ? t->ints : NULL;
}

keel_tensor *keel_tensor_new(int rank, const int64_t *dims) {
    return tensor_alloc("keel_tensor_new", rank, dims);
}

keel_tensor *keel_tensor_from_data(int rank, const int64_t *dims, const float *data) {
    if (!data) {
        keel_error(KEEL_ERR_ARG, "keel_tensor_from_data: data is NULL");
        return NULL;
    }
    keel_tensor *t = tensor_alloc("keel_tensor_from_data", rank, dims);
    if (t) memcpy(t->data, data, (size_t)t->size * sizeof(float));
    return t;
}

keel_tensor *keel_tensor_slice(const keel_tensor *t, int64_t start, int64_t count) {
    if (!t || t->n_list) {
        keel_error(KEEL_ERR_ARG, "keel_tensor_slice: tensor is %s",
                   t ? "a list (slice its members)" : "NULL");
        return NULL;
    }
    if (start < 0 || count < 0 || start > t->dims[0] || count > t->dims[0] - start) {
        keel_error(KEEL_ERR_ARG,
                   "keel_tensor_slice: rows [%lld, %lld) out of range (tensor has %lld)",
                   (long long)start, (long long)(start + count), (long long)t->dims[0]);
        return NULL;
    }
    int64_t dims[KEEL_MAX_RANK];
    memcpy(dims, t->dims, sizeof dims);
    dims[0] = count;
    keel_tensor *s = tensor_alloc_as("keel_tensor_slice", t->rank, dims, t->dtype);
    int64_t row = t->dims[0] ? t->size / t->dims[0] : 0;
    if (s && count)
        memcpy(buffer(s), (const char *)buffer(t) + start * row * 4, (size_t)(count * row) * 4);
    return s;
}

keel_tensor *keel_tensor_reshape(const keel_tensor *t, int rank, const int64_t *dims) {
    if (!t || t->n_list) {
        keel_error(KEEL_ERR_ARG, "keel_tensor_reshape: tensor is %s", t ? "a list" : "NULL");
        return NULL;
    }
    if (check_dims("keel_tensor_reshape", rank, dims) != KEEL_OK) return NULL;
    if (keel_dims_prod(rank, dims) != t->size) {
        char a[128], b[128];
        keel_error(KEEL_ERR_SHAPE, "keel_tensor_reshape: cannot reshape %s (%lld values) to %s",
                   keel_tensor_shape_str(t, a, sizeof a), (long long)t->size,
                   keel_dims_str(rank, dims, false, b, sizeof b));
        return NULL;
    }
    keel_tensor *r = tensor_alloc_as("keel_tensor_reshape", rank, dims, t->dtype);
    if (r) memcpy(buffer(r), buffer(t), (size_t)t->size * 4);
    return r;
}

void keel_tensor_free(keel_tensor *t) {
    if (!t) return;
    keel_free(t->data);
    keel_free(t->ints);
    keel_free(t);
}

float *keel_tensor_data(keel_tensor *t) {
    if (t && t->dtype == KEEL_INT32)
        keel_error(KEEL_ERR_ARG,
                   "keel_tensor_data: the tensor is int32 (use keel_tensor_int32_data)");
    return t ? t->data : NULL;
}
const float *keel_tensor_cdata(const keel_tensor *t) {
    return t ? t->data : NULL;
}
int keel_tensor_rank(const keel_tensor *t) {
    return t ? t->rank : 0;
}
int64_t keel_tensor_size(const keel_tensor *t) {
    return t ? t->size : 0;
}

int64_t keel_tensor_dim(const keel_tensor *t, int axis) {
    if (!t) return 0;
    if (axis < 0) axis += t->rank;
    return (axis >= 0 && axis < t->rank) ? t->dims[axis] : 0;
}

char *keel_tensor_shape_str(const keel_tensor *t, char *buf, size_t cap) {
    if (!t) {
        snprintf(buf, cap, "(null)");
        return buf;
    }
    return keel_dims_str(t->rank, t->dims, false, buf, cap);
}

keel_tensor *keel_tensor_list(int n, const keel_tensor *const *members) {
    if (n < 1 || n > KEEL_MAX_LIST || !members) {
        keel_error(KEEL_ERR_ARG, "keel_tensor_list: between 1 and %d tensors, got %d",
                   KEEL_MAX_LIST, n);
        return NULL;
    }
    for (int i = 0; i < n; i++)
        if (!members[i] || members[i]->n_list || members[i]->rank < 1) {
            keel_error(KEEL_ERR_ARG, "keel_tensor_list: member %d is %s", i,
                       !members[i] ? "NULL" : "a list itself (lists do not nest)");
            return NULL;
        }
    keel_tensor *t = keel_alloc(sizeof *t);
    if (!t) return NULL;
    t->n_list = n;
    for (int i = 0; i < n; i++)
        t->list[i] = members[i];
    t->dims[0] = members[0]->dims[0];
    return t;
}

int keel_tensor_unpack(const keel_tensor *t, const keel_tensor **out, int cap) {
    if (!t->n_list) {
        out[0] = t;
        return 1;
    }
    for (int i = 0; i < t->n_list && i < cap; i++)
        out[i] = t->list[i];
    return t->n_list;
}
