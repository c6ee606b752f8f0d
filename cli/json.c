/* json.c — streaming JSON writer; see json.h. */
#include "json.h"

#include <inttypes.h>
#include <math.h>

void fgq_json_init(fgq_json *j, FILE *out)
{
    j->out = out;
    j->depth = 0;
    j->count[0] = 0;
    j->after_key = 0;
}

/* Comma and indentation before a value or key at the current level. */
static void json_pre_value(fgq_json *j)
{
    if (j->after_key) {
        j->after_key = 0;
        return;
    }
    if (j->count[j->depth] > 0)
        fputc(',', j->out);
    if (j->depth > 0) {
        fputc('\n', j->out);
        for (int i = 0; i < j->depth; i++)
            fputs("  ", j->out);
    }
    j->count[j->depth]++;
}

static void json_open(fgq_json *j, char c)
{
    json_pre_value(j);
    fputc(c, j->out);
    if (j->depth + 1 < FGQ_JSON_MAX_DEPTH)
        j->depth++;
    j->count[j->depth] = 0;
}

static void json_close(fgq_json *j, char c)
{
    int had = j->count[j->depth] > 0;
    if (j->depth > 0)
        j->depth--;
    if (had) {
        fputc('\n', j->out);
        for (int i = 0; i < j->depth; i++)
            fputs("  ", j->out);
    }
    fputc(c, j->out);
}

void fgq_json_begin_object(fgq_json *j) { json_open(j, '{'); }
void fgq_json_end_object(fgq_json *j) { json_close(j, '}'); }
void fgq_json_begin_array(fgq_json *j) { json_open(j, '['); }
void fgq_json_end_array(fgq_json *j) { json_close(j, ']'); }

static void json_write_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        default:
            if (*p < 0x20)
                fprintf(out, "\\u%04x", *p);
            else
                fputc(*p, out);
        }
    }
    fputc('"', out);
}

void fgq_json_key(fgq_json *j, const char *key)
{
    json_pre_value(j);
    json_write_string(j->out, key);
    fputs(": ", j->out);
    j->after_key = 1;
}

void fgq_json_string(fgq_json *j, const char *s)
{
    json_pre_value(j);
    json_write_string(j->out, s);
}

void fgq_json_int(fgq_json *j, int64_t v)
{
    json_pre_value(j);
    fprintf(j->out, "%" PRId64, v);
}

void fgq_json_double(fgq_json *j, double v)
{
    json_pre_value(j);
    if (isfinite(v))
        fprintf(j->out, "%.17g", v);
    else
        fputs("null", j->out);
}

void fgq_json_float(fgq_json *j, float v)
{
    json_pre_value(j);
    if (isfinite(v))
        fprintf(j->out, "%.9g", (double)v);
    else
        fputs("null", j->out);
}

void fgq_json_raw(fgq_json *j, const char *text, size_t len)
{
    json_pre_value(j);
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' ' || text[len - 1] == '\r'))
        len--;
    fwrite(text, 1, len, j->out);
}

void fgq_json_bool(fgq_json *j, int v)
{
    json_pre_value(j);
    fputs(v ? "true" : "false", j->out);
}

void fgq_json_null(fgq_json *j)
{
    json_pre_value(j);
    fputs("null", j->out);
}

void fgq_json_kv_string(fgq_json *j, const char *key, const char *s)
{
    fgq_json_key(j, key);
    fgq_json_string(j, s);
}

void fgq_json_kv_int(fgq_json *j, const char *key, int64_t v)
{
    fgq_json_key(j, key);
    fgq_json_int(j, v);
}

void fgq_json_kv_double(fgq_json *j, const char *key, double v)
{
    fgq_json_key(j, key);
    fgq_json_double(j, v);
}

void fgq_json_kv_bool(fgq_json *j, const char *key, int v)
{
    fgq_json_key(j, key);
    fgq_json_bool(j, v);
}

void fgq_json_finish(fgq_json *j)
{
    fputc('\n', j->out);
    fflush(j->out);
}
