#!/usr/bin/env python3
"""make_checkpoint_fmt_cases.py: what Python's str.format makes of ModelCheckpoint filepaths,
for tests/test_checkpoint_fmt.c (keel_format_filepath, src/model/checkpoint_fmt.c).

Usage:  python3 tools/make_checkpoint_fmt_cases.py > tests/fixtures/checkpoint_fmt_cases.inc

Any CPython 3.11 or later (Keras formats the path with the interpreter it runs on; the file
was made with 3.11.7). Keras's ModelCheckpoint calls filepath.format(epoch=epoch + 1, **logs)
with the logs as Python floats; every case below is run that way, here, and written as one C
initializer of the test's fmt_case:

    {fmt, epoch (0-based, as keel_fit counts), n, {log names}, {log values as C hex floats},
     cap (the output buffer), expected text or NULL, NULL or a substring the error must hold}

Where Python raises, the case expects an error: KeyError (a name neither epoch nor logged) must
give Keras's "Failed to format this callback filepath" and the name; a ValueError, any error.
Where Python succeeds but keel refuses on purpose (UNSUPPORTED below: conversions, grouping,
the int codes b/o/x/X/c, nested fields, attribute lookups), the error must say "not supported
by keel". Where the text is longer than cap - 1 bytes, the error must say "formats to" (HUGE: formats
Python would answer with a billion characters or a MemoryError, not run here).
"""
import math
import sys

LOGS = {"loss": 0.41666666666666669, "accuracy": 0.875, "val_loss": 0.5123456789,
        "val_accuracy": 0.8125}

# (fmt, epoch, logs, cap, unsupported?)   logs None: LOGS; a float: {"loss": it}
CASES = []


def case(fmt, epoch=2, logs=None, cap=512, unsupported=False):
    CASES.append((fmt, epoch, logs, cap, unsupported))


HUGE = set()  # Python builds these (a billion characters and more); not run here


# what Keras users write
for f in ["model-{epoch:02d}-{val_loss:.2f}.keras", "weights.{epoch:02d}-{val_loss:.2f}.hdf5",
          "ckpt/{epoch:03d}_{val_accuracy:.4f}.h5", "best.keras", "{epoch}", "{epoch:03}",
          "{epoch:02d}{epoch:02d}", "e{epoch}-l{loss}-a{accuracy}", "{loss:e}", "{loss:g}",
          "{loss}", "{val_loss:.3}", "{{epoch}}", "}}{{", "{{{epoch}}}", "a}}b{{c",
          "{epoch:02d}-{loss:.3f}-{val_loss:.3f}-{accuracy:.4f}-{val_accuracy:.4f}",
          "/tmp/ü/{epoch:02d}-ü.keras", ""]:
    case(f)
for e in [0, 8, 98, 99, 999, 123456]:
    case("{epoch:02d}|{epoch:03}|{epoch:>4}|{epoch:<4}|{epoch:^5}|{epoch:+}|{epoch: }", e)

# floats formatted as Python formats a double
ROUNDING = [0.125, 0.375, 2.675, 0.5, 1.5, 2.5, 0.005, 0.015, 0.045, 1e16, 1e15, 123456789.0,
            9.5, 99.5, 0.95, 1e-4, 1e-5, 0.1, 1 / 3, 2 / 3, 5e-324, 2.2250738585072014e-308,
            1.7976931348623157e308, 1e22, 1e23, 2**53, 2**63, 0.30000000000000004, 100.0,
            1234.5, -1234.5, -0.0, 0.0, -0.001, -0.004, float("nan"), -float("nan"),
            float("inf"), -float("inf")]
SPECS = ["", ".2f", ".0f", ".3f", ".1f", "f", "e", ".2e", ".0e", "g", ".3g", ".1g", ".17g",
         ".3", ".1", ".17", "%", ".1%", "E", "F", "G", "+.2f", " .2f", "z.2f", "z", "+",
         "#.0f", "#.0e", "#g", "#.3g", "#", "010.3f", "010", "*^12.3f", "=+10.2f", "<8", "n",
         ".20f", ".30g"]
for v in ROUNDING:
    case("|".join("{loss:%s}" % s if s else "{loss}" for s in SPECS), 0, float(v), 4096)
case("{loss:.2f}", 0, 1.7976931348623157e308, 4096)  # 309 digits
case("{loss:f}|{loss:.60f}|{loss:.60g}|{loss:.5}", 0, 5e-324, 4096)
case("{loss:.500g}", 0, 0.1)  # every digit of the double 0.1
case("{loss:.2147483647g}", 0, 0.1)  # the largest precision Python allows
case("{loss:.3000f}", 0, 0.5, 4096)  # fits
for s in ["e", ".2f", "g", "", ".3", "%", "010.1f"]:
    case("{epoch:%s}" % s, 4)

# fill, alignment and sign
for s in ["*<10.2f", "*>10.2f", "*^10.2f", "*=10.2f", "0=10.2f", "é>8.3f", "€^9", "x<1",
          "-^7.1f", " ^7.1f", "+^7.1f", "=^7", "<<7", ">>7", "^^7", "==7", "0<7", "07", "z07.1f",
          "+07.1f", " 07.1f"]:
    case("{loss:%s}|{val_loss:%s}" % (s, s), 1, {"loss": -2.5, "val_loss": 3.25})
for s in ["é>6", "0>6", "=6", "0=+6", "+06", "-06", " 6", "^1", "<0", "06"]:
    case("{epoch:%s}" % s, 6)

# a buffer just large enough, and one byte short
case("{epoch:05d}", 2, None, 6)
case("{epoch:05d}", 2, None, 5)
case("abc", 0, None, 4)
case("abc", 0, None, 3)
case("{{}}", 0, None, 3)
case("{{}}", 0, None, 2)
case("", 0, None, 1)

# Python's errors: unknown names, malformed templates and specs
for f in ["{val_acc}", "{val_loss:.2f}{batch}", "{Loss}", "{ loss}", "{epoch }", "{}", "{0}",
          "{1:d}", "{", "}", "{epoch", "epoch}", "{epoch:02d", "x{", "x}", "{{epoch}",
          "{epoch}}", "{:}", "{!r}", "{epoch!}", "{epoch!x}", "{epoch!rr}", "{a{b}c}",
          "{epoch[0]}", "{epoch[}", "{epoch:.2d}", "{loss:d}", "{epoch:z}", "{loss:.f}",
          "{loss:2fx}", "{loss:,_f}", "{loss:_,f}", "{loss:s}", "{loss:q}", "{loss:.}",
          "{epoch:1.}", "{loss:99999999999999999999f}", "{loss:.99999999999999999999f}",
          "{loss:.3000000000f}", "{epoch:}}", "{epoch:{}", "{epoch:}{"]:
    case(f)
# longer than the buffer
for f in ["{loss:.100000e}", "{loss:#.100000g}", "{loss:*^100000}", "x" * 600]:
    case(f)
for f in ["{epoch:999999999d}", "{loss:.999999999f}", "{epoch:>9223372036854775806}"]:
    case(f)
    HUGE.add(f)
# what Python accepts and keel refuses on purpose
for f in ["{epoch!r}", "{loss!s:>10}", "{loss!a}", "{epoch:,}", "{epoch:_d}", "{loss:,.2f}",
          "{epoch:x}", "{epoch:#b}", "{epoch:o}", "{epoch:X}", "{epoch:c}",
          "{loss:.{epoch}f}", "{loss:{epoch}}", "{epoch.real}", "{loss.imag}"]:
    case(f, unsupported=True)


# ---------------------------------------------------------------- C output


def c_string(s):
    out = '"'
    for b in s.encode("utf-8"):
        c = chr(b)
        if c in '"\\':
            out += "\\" + c
        elif 32 <= b < 127 and c != "?":  # '?' would risk trigraphs
            out += c
        else:
            out += "\\%03o" % b
    return out + '"'


def c_double(v):
    if math.isnan(v):
        return "-NAN" if math.copysign(1, v) < 0 else "NAN"
    if math.isinf(v):
        return "-INFINITY" if v < 0 else "INFINITY"
    if v == 0:
        return "-0.0" if math.copysign(1, v) < 0 else "0.0"
    return v.hex()


def run(fmt, epoch, logs, cap, unsupported):
    logs = LOGS if logs is None else logs if isinstance(logs, dict) else {"loss": logs}
    if fmt in HUGE:
        return logs, None, "formats to", None
    try:
        text = fmt.format(epoch=epoch + 1, **logs)
    except KeyError as e:
        return logs, None, "Failed to format this callback filepath", str(e).strip("'")
    except (ValueError, IndexError, AttributeError, TypeError, OverflowError, MemoryError):
        return logs, None, "", None
    if unsupported:
        return logs, None, "not supported by keel", None
    if len(text.encode("utf-8")) > cap - 1:
        return logs, None, "formats to", None
    return logs, text, None, None


def main():
    print("/* Generated by tools/make_checkpoint_fmt_cases.py with Python %s: what str.format"
          % sys.version.split()[0])
    print(" * makes of each filepath (fmt, epoch, logs, cap, expected text or NULL, error). */")
    for fmt, epoch, logs, cap, unsupported in CASES:
        logs, text, err, key = run(fmt, epoch, logs, cap, unsupported)
        names = ", ".join(c_string(k) for k in logs)
        vals = ", ".join(c_double(float(v)) for v in logs.values())
        exp = c_string(text) if text is not None else "NULL"
        if err is None:
            e = "NULL"
        elif key is not None:  # the message must name the key too
            e = c_string(err + "\t" + key)
        else:
            e = c_string(err)
        print("{%s, %d, %d, {%s}, {%s}, %d, %s, %s}," % (c_string(fmt), epoch, len(logs), names,
                                                        vals, cap, exp, e))


if __name__ == "__main__":
    main()
