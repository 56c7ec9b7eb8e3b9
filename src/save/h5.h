/* h5.h: the few HDF5 operations keel's files need, over libhdf5 (Debian's libhdf5-dev), with
 * keel's errors. The library itself is trusted to parse a file; what it returns (a dataset's
 * rank, dims, type, an attribute's strings) is not, and is checked here. Files live in memory
 * (HDF5's "core" driver): a .keras archive holds its weights file as one zip member. Internal. */
#ifndef KEEL_SAVE_H5_H
#define KEEL_SAVE_H5_H

#include "../core.h"

#include <hdf5.h>

/* Silences HDF5's own error printing (its default writes a stack to stderr) for the calls
 * between begin and end; end restores what the program had set. */
typedef struct keel_h5_quiet {
    H5E_auto2_t fn;
    void *data;
} keel_h5_quiet;
void keel_h5_quiet_begin(keel_h5_quiet *q);
void keel_h5_quiet_end(const keel_h5_quiet *q);

/* A new, empty HDF5 file in memory, grown in steps of `increment` bytes (give about the size
 * it will reach: each step reallocates and copies the whole image); H5I_INVALID_HID and an
 * error on failure. */
hid_t keel_h5_create_mem(size_t increment);
/* The bytes of a file made by keel_h5_create_mem (flushed first); *out malloc'd (keel_free). */
keel_status keel_h5_image(hid_t f, void **out, size_t *len);
/* Opens len bytes of an HDF5 file, read-only, in memory (the bytes are copied). `what` names
 * the file in the error ("m.keras: model.weights.h5 is not an HDF5 file"). */
hid_t keel_h5_open_mem(const void *buf, size_t len, const char *what);
/* Opens a file on disk read-only; KEEL_ERR_IO (missing) or KEEL_ERR_FORMAT (not HDF5). */
hid_t keel_h5_open_file(const char *path, const char *what);

/* Creates group path (every missing level) under loc; returns it (H5Gclose it). */
hid_t keel_h5_group(hid_t loc, const char *path);
/* Whether loc holds a link named path (every level checked). */
bool keel_h5_exists(hid_t loc, const char *path);
/* Writes a float32 dataset of rank (0: a scalar) dims. */
keel_status keel_h5_write_f32(hid_t loc, const char *name, int rank, const int64_t *dims,
                              const float *data);
keel_status keel_h5_write_i64_scalar(hid_t loc, const char *name, int64_t v);
/* A variable-length UTF-8 string attribute, as h5py writes str values. */
keel_status keel_h5_attr_str(hid_t loc, const char *name, const char *v);

/* Reads dataset path under loc into out as float32 (HDF5 converts from any float or integer
 * type) after checking that its shape is exactly rank / dims; errors name `what` and the
 * path. */
keel_status keel_h5_read_f32(hid_t loc, const char *path, int rank, const int64_t *dims, float *out,
                             const char *what);
/* A scalar dataset as an int64 / a double. */
keel_status keel_h5_read_i64_scalar(hid_t loc, const char *path, int64_t *out, const char *what);
keel_status keel_h5_read_f64_scalar(hid_t loc, const char *path, double *out, const char *what);
/* Number of links in group path. -1 and an error if it is not a group. */
int64_t keel_h5_count(hid_t loc, const char *path, const char *what);
/* A string attribute of object path (fixed or variable length; one string or a 1-D array of
 * them): a malloc'd array of n malloc'd strings (keel_h5_strings_free). *n = 0 and KEEL_OK when
 * the attribute is absent and `optional`. */
keel_status keel_h5_attr_strings(hid_t loc, const char *path, const char *attr, bool optional,
                                 char ***out, int *n, const char *what);
void keel_h5_strings_free(char **s, int n);

#endif
