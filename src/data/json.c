/* json.c: the Jansson calls keel makes (see json.h).
 *
 * Why Jansson, of the JSON libraries Debian maintains (cJSON, Jansson; yyjson is not in
 * Debian 12): it keeps integers apart from reals (a Keras config has both: units 64, rate
 * 0.5), refuses integers that overflow instead of rounding them, limits nesting (2048) so a
 * hostile file cannot exhaust the stack, reports line and column of an error in a caller's
 * struct (cJSON keeps a global error pointer), keeps objects in insertion order and a repeated
 * key where Python does, and writes ", " / ": " separators and \u escapes as Python's
 * json.dumps. What it writes differently, keel fixes in one pass below: hex digits in upper
 * case, and DEL (0x7f) left unescaped. */
#include "json.h"

#include <stdio.h>

json_t *keel_json_parse(const char *text, size_t len, const char *what) {
    json_error_t e;
    json_t *v = json_loadb(text, len, JSON_DECODE_ANY, &e);
    if (!v)
        keel_error(KEEL_ERR_FORMAT, "%s: not valid JSON at line %d, column %d: %s", what, e.line,
                   e.column, e.text);
    return v;
}

const char *keel_json_type(const json_t *v) {
    if (!v) return "missing"; /* json_typeof reads through its argument */
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "an unknown value";
}

char *keel_json_dumps(const json_t *v) {
    /* JSON_ENSURE_ASCII: non-ASCII as \uXXXX; no JSON_COMPACT: Python's separators */
    char *raw = json_dumps(v, JSON_ENSURE_ASCII | JSON_ENCODE_ANY);
    if (!raw) {
        keel_error(KEEL_ERR_NOMEM, "keel_json_dumps: out of memory");
        return NULL;
    }
    size_t n = strlen(raw), dels = 0;
    for (size_t i = 0; i < n; i++)
        dels += raw[i] == 0x7f;
    /* each DEL (1 byte) becomes "\u007f" (6 bytes) */
    char *out = malloc(n + 5 * dels + 1);
    if (!out) {
        free(raw);
        keel_error(KEEL_ERR_NOMEM, "keel_json_dumps: out of memory");
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = raw[i];
        if (c == 0x7f) {
            memcpy(out + o, "\\u007f", 6);
            o += 6;
        } else if (c == '\\' && raw[i + 1] == 'u') {
            /* an escape Jansson wrote: lowercase its four hex digits, as Python does. A
             * backslash of the text itself is written "\\", which the else below copies as
             * a pair, so a "u" after it is never taken for an escape. */
            out[o++] = '\\';
            out[o++] = 'u';
            for (int k = 0; k < 4; k++) {
                char h = raw[i + 2 + k];
                out[o++] = (char)(h >= 'A' && h <= 'F' ? h + 32 : h);
            }
            i += 5;
        } else if (c == '\\') {
            out[o++] = c;
            out[o++] = raw[++i];
        } else {
            out[o++] = c;
        }
    }
    out[o] = '\0';
    free(raw);
    return out;
}
