#!/usr/bin/env python3
"""make_image_fixtures.py: small image files and what PIL decodes from them, for test_image.c.

Usage:  python3 tools/make_image_fixtures.py [tests/fixtures/images]

Made with Pillow 13.0.0 (bundled libjpeg-turbo 3.2.0, zlib 1.2.13) on Python 3.11. keel's
image loader copies keras_preprocessing's load_img, which is PIL: Image.open, then
convert('L' | 'RGB' | 'RGBA'), then resize((w, h), NEAREST | BILINEAR). So PIL is the reference.

Good files (5 wide x 7 tall unless said; each pixel value drawn from a seeded generator, with
0 and 255 among them):
  gray.png gray_alpha.png gray_trns.png gray1.png (1-bit) gray16.png (16-bit, values up to
  65535) palette.png palette4.png (4-bit) palette_trns.png (tRNS shorter than the palette)
  rgb.png rgb_trns.png rgba.png rgb16.png (16-bit RGB) rgb_interlaced.png (Adam7)
  gray.jpg rgb.jpg (13 wide x 11 tall, quality 90, 4:2:0: PIL's decoder upsamples the chroma)
  rgb24.bmp (bottom-up) rgb24_topdown.bmp rgb32.bmp (BI_RGB, 4th byte not 255) palette8.bmp
  rgb.ppm (P6) gray.pgm (P5) comment.ppm (a '#' comment in the header)
PIL cannot write interlaced or 16-bit RGB PNGs, top-down or 32-bit BMPs: this script writes
those bytes itself, then reads them back with PIL like every other file.

expected.txt holds what PIL gives. Lines starting with '#' are comments; every other line is
`name count v1 v2 ... vcount`, 8-bit values, row-major HWC:
  <file>/<L|RGB|RGBA>/<h>x<w>                   Image.open(file).convert(mode)
  resize/<file>/<mode>/<nearest|bilinear>/<h>x<w>
                                                that image .resize((w, h), NEAREST | BILINEAR)
Resizes (h x w): rgb.png (RGB, 7x5) to 9x11, 2x3, 12x3 (one axis up, one down), 5x2 and 3x2;
gray.png (L) and rgba.png (RGBA: PIL premultiplies alpha around a bilinear resize) to 9x11 and
2x3; big.png (RGB, 17x23, not itself decoded above) to 4x5, 3x16, 16x3 and 25x31. Pillow 13 runs
the vertical pass first when the height loses more than twice as many pixels as the width
(7x5 -> 2x3, 17x23 -> 3x16); the other downscales go horizontal first, as every older Pillow.

Unsupported files (PIL reads them, keel refuses them with a message saying what is unsupported):
  cmyk.jpg (a CMYK JPEG), rle8.bmp (RLE8-compressed), gray16.pgm (maxval 65535)

Hostile files (each must give an error naming the file, never a crash):
  trunc_idat.png   rgb.png cut in the middle of its IDAT chunk
  bad_crc.png      rgb.png with a wrong IHDR CRC (PIL refuses it too; PIL ignores IDAT CRCs)
  empty.png        zero bytes
  huge.png         an IHDR declaring 1000000x1000000 (valid CRC), then a tiny IDAT
  trunc.jpg        rgb.jpg cut right after its SOS header: no entropy-coded data
  huge.jpg         rgb.jpg with its SOF0 declaring 65500x65500
  fake.png         a text file
  short.bmp        rgb24.bmp whose header declares more pixel data than the file holds
The script checks that PIL reads every unsupported file and refuses every hostile one.
"""
import io
import os
import random
import struct
import sys
import warnings
import zlib

import PIL
from PIL import Image, features

W, H = 5, 7
rng = random.Random(20240611)


def values(n):
    """n bytes from the seeded generator, the extremes included."""
    v = [rng.randrange(256) for _ in range(n)]
    v[0], v[-1] = 0, 255
    return v


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(w, h, color_type, depth, rows, interlace=False):
    """A PNG written by hand: rows are the raw (unfiltered) bytes of each full row."""
    bpp = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color_type] * depth // 8
    raw = b""
    if not interlace:
        raw = b"".join(b"\0" + r for r in rows)
    else:  # Adam7: seven sub-images, each row filtered with type 0 (none)
        for x0, y0, dx, dy in [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4),
                               (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]:
            for y in range(y0, h, dy):
                if x0 >= w:
                    break
                raw += b"\0" + b"".join(rows[y][x * bpp:(x + 1) * bpp] for x in range(x0, w, dx))
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 1 if interlace else 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b""))


def save(img, fmt, **kw):
    b = io.BytesIO()
    img.save(b, fmt, **kw)
    return b.getvalue()


def bmp_bytes(w, h, bpp, rows, top_down=False, palette=b""):
    """An uncompressed BMP with a 40-byte BITMAPINFOHEADER; rows are unpadded, top row first."""
    stride = (w * bpp + 31) // 32 * 4
    order = rows if top_down else rows[::-1]
    px = b"".join(r + b"\0" * (stride - len(r)) for r in order)
    off = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, w, -h if top_down else h, 1, bpp, 0, len(px), 2835,
                       2835, len(palette) // 4, 0)
    return b"BM" + struct.pack("<IHHI", off + len(px), 0, 0, off) + info + palette + px


def good_files():
    f = {}
    gray = Image.new("L", (W, H))
    gray.putdata(values(W * H))
    f["gray.png"] = save(gray, "PNG")
    la = Image.new("LA", (W, H))
    la.putdata(list(zip(values(W * H), values(W * H))))
    f["gray_alpha.png"] = save(la, "PNG")
    f["gray_trns.png"] = save(gray, "PNG", transparency=gray.getpixel((1, 0)))
    f["gray1.png"] = save(gray.point(lambda v: 255 if v > 127 else 0).convert("1"), "PNG")
    g16 = [rng.randrange(65536) for _ in range(W * H)]
    g16[:6] = [0, 1, 100, 255, 256, 65535]  # PIL clips to 255: a 16-bit 256 becomes 255, not 1
    f["gray16.png"] = png_bytes(W, H, 0, 16, [b"".join(struct.pack(">H", v)
                                                       for v in g16[y * W:(y + 1) * W])
                                              for y in range(H)])
    pal = Image.new("P", (W, H))
    pal.putpalette(values(3 * 16))
    pal.putdata([rng.randrange(16) for _ in range(W * H)])
    f["palette.png"] = save(pal, "PNG")
    f["palette4.png"] = save(pal, "PNG", bits=4)
    f["palette_trns.png"] = save(pal, "PNG", transparency=bytes(values(10)))
    rgb = Image.new("RGB", (W, H))
    rgb_px = values(3 * W * H)
    rgb.frombytes(bytes(rgb_px))
    f["rgb.png"] = save(rgb, "PNG")
    f["rgb_trns.png"] = save(rgb, "PNG", transparency=rgb.getpixel((2, 3)))
    rgba = Image.new("RGBA", (W, H))
    a = values(W * H)
    a[3], a[4], a[5] = 0, 1, 128
    rgba.frombytes(bytes(v for i in range(W * H) for v in rgb_px[3 * i:3 * i + 3] + [a[i]]))
    f["rgba.png"] = save(rgba, "PNG")
    rows16 = [bytes(values(6 * W)) for _ in range(H)]
    f["rgb16.png"] = png_bytes(W, H, 2, 16, rows16)
    rows = [bytes(rgb_px[3 * W * y:3 * W * (y + 1)]) for y in range(H)]
    f["rgb_interlaced.png"] = png_bytes(W, H, 2, 8, rows, interlace=True)
    # JPEG: a smooth gradient plus noise, so the chroma upsampling has something to interpolate
    jw, jh = 13, 11
    jrgb = Image.new("RGB", (jw, jh))
    jrgb.putdata([(min(255, 20 * x + rng.randrange(30)), min(255, 23 * y + rng.randrange(30)),
                   (37 * x * y) % 256) for y in range(jh) for x in range(jw)])
    f["rgb.jpg"] = save(jrgb, "JPEG", quality=90)
    f["gray.jpg"] = save(jrgb.convert("L"), "JPEG", quality=90)
    f["rgb24.bmp"] = save(rgb, "BMP")
    def bgr(y, x):
        i = 3 * (W * y + x)
        return [rgb_px[i + 2], rgb_px[i + 1], rgb_px[i]]

    f["rgb24_topdown.bmp"] = bmp_bytes(W, H, 24, [bytes(v for x in range(W) for v in bgr(y, x))
                                                  for y in range(H)], top_down=True)
    f["rgb32.bmp"] = bmp_bytes(W, H, 32, [bytes(v for x in range(W)
                                                for v in bgr(y, x) + [a[W * y + x]])
                                          for y in range(H)])
    f["palette8.bmp"] = save(pal, "BMP")
    f["rgb.ppm"] = save(rgb, "PPM")
    f["gray.pgm"] = save(gray, "PPM")
    f["comment.ppm"] = b"P6\n# made by keel\n5 7 # size\n255\n" + bytes(rgb_px)
    return f


def unsupported_files(good):
    f = {}
    cmyk = Image.open(io.BytesIO(good["rgb.jpg"])).convert("CMYK")
    f["cmyk.jpg"] = save(cmyk, "JPEG", quality=90)
    # RLE8: per row, (count, index) runs of one pixel each, then end of line; end of bitmap
    rle = b"".join(b"".join(bytes([1, (x + y) % 16]) for x in range(W)) + b"\0\0" for y in range(H))
    rle += b"\0\1"
    palette = b"".join(bytes([16 * i, 255 - 16 * i, 7 * i, 0]) for i in range(16))
    off = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, W, H, 1, 8, 1, len(rle), 2835, 2835, 16, 0)
    f["rle8.bmp"] = b"BM" + struct.pack("<IHHI", off + len(rle), 0, 0, off) + info + palette + rle
    f["gray16.pgm"] = b"P5 5 7 65535\n" + b"".join(struct.pack(">H", 200 * i) for i in range(W * H))
    return f


def hostile_files(good):
    f = {}
    png = good["rgb.png"]
    idat = png.index(b"IDAT")
    n = struct.unpack(">I", png[idat - 4:idat])[0]
    f["trunc_idat.png"] = png[:idat + 4 + n // 2]
    bad = bytearray(png)
    bad[29] ^= 0x5A  # the IHDR CRC: 8 signature + 4 length + 4 type + 13 data = bytes 29..32
    f["bad_crc.png"] = bytes(bad)
    f["empty.png"] = b""
    ihdr = struct.pack(">IIBBBBB", 1000000, 1000000, 8, 2, 0, 0, 0)
    f["huge.png"] = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b""))
    jpg = good["rgb.jpg"]
    sos = jpg.index(b"\xff\xda")
    f["trunc.jpg"] = jpg[:sos + 2 + struct.unpack(">H", jpg[sos + 2:sos + 4])[0]]
    sof = jpg.index(b"\xff\xc0")
    f["huge.jpg"] = jpg[:sof + 5] + struct.pack(">HH", 65500, 65500) + jpg[sof + 9:]
    f["fake.png"] = b"this is not a picture, whatever its name says\n"
    f["short.bmp"] = good["rgb24.bmp"][:-40]
    return f


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..",
                                                              "tests", "fixtures", "images")
    os.makedirs(out, exist_ok=True)
    good = good_files()
    unsupported = unsupported_files(good)
    hostile = hostile_files(good)
    for name, data in {**good, **unsupported, **hostile}.items():
        with open(os.path.join(out, name), "wb") as fp:
            fp.write(data)

    lines = ["# what PIL decodes from the files beside this one (tools/make_image_fixtures.py)",
             f"# with Pillow {PIL.__version__}, libjpeg-turbo {features.version('libjpeg_turbo')}",
             "# name count v1 ... vcount (row-major HWC bytes)"]

    def record(name, img):
        v = img.tobytes()
        lines.append(f"{name} {len(v)} " + " ".join(map(str, v)))

    # PIL warns that a palette with a tRNS chunk is best converted to RGBA; we convert to all three
    warnings.simplefilter("ignore", UserWarning)
    for name in good:
        img = Image.open(os.path.join(out, name))
        img.load()
        for mode in ("L", "RGB", "RGBA"):
            c = img if img.mode == mode else img.convert(mode)
            record(f"{name}/{mode}/{c.height}x{c.width}", c)
    big = Image.new("RGB", (23, 17))
    big.frombytes(bytes(values(3 * 23 * 17)))
    big.save(os.path.join(out, "big.png"))
    for name, mode, sizes in [("rgb.png", "RGB", [(9, 11), (2, 3), (12, 3), (5, 2), (3, 2)]),
                              ("big.png", "RGB", [(4, 5), (3, 16), (16, 3), (25, 31)]),
                              ("gray.png", "L", [(9, 11), (2, 3)]),
                              ("rgba.png", "RGBA", [(9, 11), (2, 3)])]:
        img = Image.open(os.path.join(out, name)).convert(mode)
        for h, w in sizes:
            for interp, rs in (("nearest", Image.NEAREST), ("bilinear", Image.BILINEAR)):
                record(f"resize/{name}/{mode}/{interp}/{h}x{w}", img.resize((w, h), rs))
    for name in unsupported:  # PIL reads these: keel's refusal is a limitation, not a defence
        with Image.open(os.path.join(out, name)) as img:
            img.load()
    # every hostile file must also defeat PIL, or the test would demand more than PIL does
    for name in hostile:
        try:
            with Image.open(os.path.join(out, name)) as img:
                img.load()
            raise SystemExit(f"{name}: PIL decodes it; it is not hostile")
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
            pass
    with open(os.path.join(out, "expected.txt"), "w") as fp:
        fp.write("\n".join(lines) + "\n")
    total = sum(os.path.getsize(os.path.join(out, n)) for n in os.listdir(out))
    print(f"wrote {len(good)} good, {len(unsupported)} unsupported and {len(hostile)} hostile "
          f"files, {total} bytes, into {out}")


if __name__ == "__main__":
    main()
