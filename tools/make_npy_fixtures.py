#!/usr/bin/python3
"""make_npy_fixtures.py: small .npy / .npz files written by real NumPy, for tests/test_npy.c.

Usage:  /usr/bin/python3 tools/make_npy_fixtures.py [tests/fixtures/npy]
        /usr/bin/python3 tools/make_npy_fixtures.py --check DIR

Made with NumPy 1.24.2 (Debian's python3-numpy) on Python 3.11; run it with /usr/bin/python3,
which has NumPy (a pyenv python3 first on PATH may not). The values are fixed (no random
draws), and test_npy.c holds the same values as C literals:

  F4  = [[-1.5, -0.25, 0.0], [0.5, 3.75, 0.001]]                      float32
  F8  = [0.1, -1/3, 1e10, 1e-50, 1e300, -1e300, nan]                 float64 (float32 rounds:
        1e-50 to 0, +-1e300 to +-inf, as astype(np.float32) does)
  I4  = [[-2147483648, 2147483647], [0, -7]]                         int32
  I8  = [-2147483648, 2147483647, 42]                                int64 (fits int32)
  U1  = [[[0, 1], [127, 128]], [[200, 254], [255, 3]]]               uint8
  B1  = [True, False, True, True, False]                             bool

Good files:
  f4.npy f8.npy i4.npy i8.npy u1.npy b1.npy      np.save (format 1.0, little-endian)
  f4_v2.npy f4_v3.npy                            F4 in format 2.0 and 3.0 (write_array)
  be_f4.npy be_f8.npy be_i4.npy be_i8.npy        F4, F8, I4, I8 big-endian ('>f4' ...)
  scalar.npy                                     np.float64(2.5): shape ()
  empty.npy empty_i4.npy                         float32 (0, 3), int32 (2, 0)
  empty_long.npy                                 float32 (123456789012, 0): a 12-digit first
                                                 axis, so fewer of np.save's growth spaces
  rank8.npy                                      float32 (1, 1, 1, 1, 1, 1, 1, 2) = [1, 2]
  savez.npz                                      np.savez(x=F4, y=I4, labels=U1[0, 0]) (stored)
  savez_compressed.npz                           the same with np.savez_compressed (deflated),
                                                 plus zeros=np.zeros(64, float32)
  positional.npz                                 np.savez(F4, I4): arr_0, arr_1
  empty.npz                                      np.savez(): an archive with no members

Files keel refuses, each with a message naming the file and what it found:
  fortran.npy (np.asfortranarray(F4)), object.npy (an object array), structured.npy
  ([('a', '<f4'), ('b', '<i4')]), f2.npy (float16), str.npy ('<U3'), rank9.npy (nine axes),
  i8_big.npy ([[0, 1, 2], [2147483648, 4, 5]] int64: 2**31 does not fit int32)
Hostile archives (zipfile, then patched bytes where said):
  not_npy.npz        x.npy and a readme.txt member
  dup.npz            two members named x.npy
  bzip2.npz          x.npy compressed with bzip2 (method 12)
  bad_member.npz     x.npy holding bytes that are not a .npy file
  bad_crc.npz        savez.npz-like stored x.npy with one data byte flipped after the CRC
  bomb.npz           x.npy whose header says shape (4,) float32, followed by 1 MiB of zeros
                     (deflated to about 1 KiB): the member is far larger than its array
  lying_size.npz     x.npy's header declares 4294966912 uint8 values and the zip's size fields
                     (local and central) declare exactly the matching 4294967040 bytes; the
                     compressed data is 77 bytes: no deflate stream expands that much

Written by keel, not by this script:
  keel_pair.npz      keel_save_npz(x = F4, y = I4), as test_npy.c's save_pair writes it;
                     test_npy checks that keel still writes the same members, and this script
                     (run without --check) checks that NumPy reads it.

--check DIR: loads DIR/keel_f4.npy, keel_i4.npy (keel_save_npy: F4, I4; also compared with
np.save's bytes) and keel_pair.npz with NumPy and checks dtype, shape and values; exits 1 with a
message on any difference. test_npy.c runs it on files keel has just written, when
/usr/bin/python3 has NumPy.
"""
import os
import struct
import sys
import zipfile

import numpy as np

F4 = np.array([[-1.5, -0.25, 0.0], [0.5, 3.75, 0.001]], np.float32)
F8 = np.array([0.1, -1 / 3, 1e10, 1e-50, 1e300, -1e300, np.nan], np.float64)
I4 = np.array([[-2147483648, 2147483647], [0, -7]], np.int32)
I8 = np.array([-2147483648, 2147483647, 42], np.int64)
U1 = np.array([[[0, 1], [127, 128]], [[200, 254], [255, 3]]], np.uint8)
B1 = np.array([True, False, True, True, False])


def write_version(path, a, version):
    with open(path, "wb") as f:
        np.lib.format.write_array(f, a, version=version)


def good(d):
    for name, a in [("f4", F4), ("f8", F8), ("i4", I4), ("i8", I8), ("u1", U1), ("b1", B1)]:
        np.save(os.path.join(d, name + ".npy"), a)
    write_version(os.path.join(d, "f4_v2.npy"), F4, (2, 0))
    write_version(os.path.join(d, "f4_v3.npy"), F4, (3, 0))
    for name, a in [("be_f4", F4), ("be_f8", F8), ("be_i4", I4), ("be_i8", I8)]:
        np.save(os.path.join(d, name + ".npy"), a.astype(a.dtype.newbyteorder(">")))
    np.save(os.path.join(d, "scalar.npy"), np.array(2.5))
    np.save(os.path.join(d, "empty.npy"), np.zeros((0, 3), np.float32))
    np.save(os.path.join(d, "empty_i4.npy"), np.zeros((2, 0), np.int32))
    np.save(os.path.join(d, "empty_long.npy"), np.zeros((123456789012, 0), np.float32))
    np.save(os.path.join(d, "rank8.npy"), np.array([1, 2], np.float32).reshape((1,) * 7 + (2,)))
    np.savez(os.path.join(d, "savez.npz"), x=F4, y=I4, labels=U1[0, 0])
    np.savez_compressed(os.path.join(d, "savez_compressed.npz"), x=F4, y=I4, labels=U1[0, 0],
                        zeros=np.zeros(64, np.float32))
    np.savez(os.path.join(d, "positional.npz"), F4, I4)
    np.savez(os.path.join(d, "empty.npz"))


def refused(d):
    np.save(os.path.join(d, "fortran.npy"), np.asfortranarray(F4))
    np.save(os.path.join(d, "object.npy"), np.array([1, "a"], dtype=object), allow_pickle=True)
    np.save(os.path.join(d, "structured.npy"),
            np.zeros(2, dtype=[("a", "<f4"), ("b", "<i4")]))
    np.save(os.path.join(d, "f2.npy"), F4.astype(np.float16))
    np.save(os.path.join(d, "str.npy"), np.array(["abc", "d"]))
    np.save(os.path.join(d, "rank9.npy"), np.zeros((1,) * 9, np.float32))
    np.save(os.path.join(d, "i8_big.npy"), np.array([[0, 1, 2], [2147483648, 4, 5]], np.int64))


def npy_bytes(a):
    import io
    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()


def patch_sizes(path, member, size):
    """Sets member's uncompressed size in its local and central headers (32-bit fields)."""
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(member)
    data = bytearray(open(path, "rb").read())
    local = info.header_offset
    assert data[local:local + 4] == b"PK\x03\x04"
    struct.pack_into("<I", data, local + 22, size)
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, size)
    open(path, "wb").write(bytes(data))


def put(z, name, data, method=zipfile.ZIP_STORED):
    """z.writestr with a fixed date (1980-01-01, as np.savez), so the bytes repeat."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = method
    z.writestr(info, data)


def hostile(d):
    p = lambda n: os.path.join(d, n)
    with zipfile.ZipFile(p("not_npy.npz"), "w") as z:
        put(z, "x.npy", npy_bytes(F4))
        put(z, "readme.txt", "not an array\n")
    with zipfile.ZipFile(p("dup.npz"), "w") as z:
        put(z, "x.npy", npy_bytes(F4))
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zipfile warns "Duplicate name"
            put(z, "x.npy", npy_bytes(I4))
    with zipfile.ZipFile(p("bzip2.npz"), "w", compression=zipfile.ZIP_BZIP2) as z:
        put(z, "x.npy", npy_bytes(F4), zipfile.ZIP_BZIP2)
    with zipfile.ZipFile(p("bad_member.npz"), "w") as z:
        put(z, "x.npy", b"this is not a .npy file at all")
    # one data byte flipped after zipfile computed the CRC
    with zipfile.ZipFile(p("bad_crc.npz"), "w") as z:
        put(z, "x.npy", npy_bytes(F4))
    data = bytearray(open(p("bad_crc.npz"), "rb").read())
    at = data.index(b"\x93NUMPY") + 128 + 4  # inside the values of F4
    data[at] ^= 0x40
    open(p("bad_crc.npz"), "wb").write(bytes(data))
    # a real bomb: a tiny array followed by 1 MiB of zeros, all deflated
    with zipfile.ZipFile(p("bomb.npz"), "w", compression=zipfile.ZIP_DEFLATED) as z:
        put(z, "x.npy", npy_bytes(np.zeros(4, np.float32)) + bytes(1 << 20), zipfile.ZIP_DEFLATED)
    # a header and zip sizes that agree on 4 GiB, over 77 bytes of deflate data
    hdr = npy_bytes(np.zeros(1, np.uint8))[:-1]
    n = 0xFFFFFF00 - len(hdr)
    big = hdr.replace(b"(1,)", b"(%d,)" % n)
    pad = len(big) - len(hdr)
    # keep the 128-byte header: take the growth spaces back out after the longer shape
    big = big.replace(b" " * pad + b"\n", b"\n", 1)
    assert len(big) == len(hdr) and big.startswith(b"\x93NUMPY")
    with zipfile.ZipFile(p("lying_size.npz"), "w", compression=zipfile.ZIP_DEFLATED) as z:
        put(z, "x.npy", big, zipfile.ZIP_DEFLATED)
    patch_sizes(p("lying_size.npz"), "x.npy", len(big) + n)


def check(d):
    """NumPy reads what keel wrote: dtype, shape and values."""
    def same(what, a, want):
        if a.dtype != want.dtype or a.shape != want.shape or not np.array_equal(a, want):
            sys.exit("%s: numpy reads %s %s %r, expected %s %s %r" %
                     (what, a.dtype, a.shape, a.tolist(), want.dtype, want.shape, want.tolist()))
    for name, want in [("keel_f4.npy", F4), ("keel_i4.npy", I4)]:
        path = os.path.join(d, name)
        if os.path.exists(path):
            same(path, np.load(path), want)
            if open(path, "rb").read() != npy_bytes(want):
                sys.exit("%s: not the bytes np.save writes for the same array" % path)
    path = os.path.join(d, "keel_pair.npz")
    with np.load(path) as z:
        if z.files != ["x", "y"]:
            sys.exit("%s: numpy finds members %r, expected ['x', 'y']" % (path, z.files))
        same(path + ":x", z["x"], F4)
        same(path + ":y", z["y"], I4)
    print("numpy %s reads keel's files in %s" % (np.__version__, d))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        check(sys.argv[2])
        return
    d = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/npy"
    os.makedirs(d, exist_ok=True)
    good(d)
    refused(d)
    hostile(d)
    if os.path.exists(os.path.join(d, "keel_pair.npz")):
        check(d)


if __name__ == "__main__":
    main()
