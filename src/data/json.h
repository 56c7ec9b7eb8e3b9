/* json.h: keel's JSON, through Jansson (Debian's libjansson-dev): parsing with errors that say
 * where, and writing byte for byte as Python's json.dumps does, so that what keel writes is
 * what Keras would have written. For the tokenizer today and Keras model configs later.
 * Internal. */
#ifndef KEEL_DATA_JSON_H
#define KEEL_DATA_JSON_H

#include "../core.h"

#include <jansson.h>

/* Parses len bytes of JSON (any value at the top, as Python's json.loads takes). NULL and
 * KEEL_ERR_FORMAT "<what>: not valid JSON at line L, column C: <reason>" when the text is not
 * JSON, nests deeper than 2048, holds an integer past 64 bits, a real past double, "\u0000" or
 * invalid UTF-8. A repeated object key keeps its first place and its last value, as in
 * Python. The caller releases the result with json_decref. */
json_t *keel_json_parse(const char *text, size_t len, const char *what);
/* json.dumps(v) as Python writes it by default: ", " and ": " between items, keys in the
 * object's order, every character outside printable ASCII (DEL included) as a lowercase
 * \uXXXX escape (a surrogate pair above U+FFFF). Reals are written as Jansson writes them,
 * which is not always Python's repr. A malloc'd string (free()); NULL and KEEL_ERR_NOMEM. */
char *keel_json_dumps(const json_t *v);
/* "an object", "an array", "a string", "an integer", "a real number", "a boolean" or "null":
 * what a value is, for messages ("config.lower is an integer, expected true or false");
 * "missing" for NULL (an absent key). */
const char *keel_json_type(const json_t *v);

#endif
