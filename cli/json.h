/*
 * json.h — a small streaming JSON writer for the CLI's --json output.
 * Tracks nesting so commas come out right; strings are escaped per RFC 8259;
 * non-finite numbers are written as null (JSON has no NaN).
 */
#ifndef FGQ_JSON_H
#define FGQ_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define FGQ_JSON_MAX_DEPTH 32

typedef struct {
    FILE *out;
    int depth;
    int count[FGQ_JSON_MAX_DEPTH]; /* values written at each level */
    int after_key;
} fgq_json;

void fgq_json_init(fgq_json *j, FILE *out);
void fgq_json_begin_object(fgq_json *j);
void fgq_json_end_object(fgq_json *j);
void fgq_json_begin_array(fgq_json *j);
void fgq_json_end_array(fgq_json *j);
void fgq_json_key(fgq_json *j, const char *key);
void fgq_json_string(fgq_json *j, const char *s);
void fgq_json_int(fgq_json *j, int64_t v);
void fgq_json_double(fgq_json *j, double v);
/* A float32 value in the fewest digits that read back as the same float (%.9g). */
void fgq_json_float(fgq_json *j, float v);
/* A value already written as JSON text (len bytes; trailing whitespace kept out). */
void fgq_json_raw(fgq_json *j, const char *text, size_t len);
void fgq_json_bool(fgq_json *j, int v);
void fgq_json_null(fgq_json *j);
/* "key": value in one call. */
void fgq_json_kv_string(fgq_json *j, const char *key, const char *s);
void fgq_json_kv_int(fgq_json *j, const char *key, int64_t v);
void fgq_json_kv_double(fgq_json *j, const char *key, double v);
void fgq_json_kv_bool(fgq_json *j, const char *key, int v);
/* Ends the document with a newline. */
void fgq_json_finish(fgq_json *j);

#endif /* FGQ_JSON_H */
