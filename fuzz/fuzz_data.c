/* fuzz_data.c — libFuzzer target for the sample data readers (tools/data):
 * .npy, .npz (zip, stored or deflated), IDX, each optionally gzipped, through
 * fgq_data_load_memory and fgq_labels_load_memory, then fgq_data_prepare
 * against a few model input shapes (the layout adaptation: transposes and
 * reshapes) with per-channel normalisation.
 *
 * The first input byte picks the options (member name, sample range), the rest
 * is the file. Inflation and conversion are held to 16 MiB (opts.max_bytes),
 * so a small gzip or zip bomb is refused as the real limit would refuse a big
 * one. Any crash, sanitizer report, leak or hang is a bug; so is a failure
 * without a message. */
#include "data/data.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_msg(fgq_status st, const fgq_error *err)
{
    if (st != FGQ_OK && err->msg[0] == '\0')
        abort(); /* every failure must carry a message */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const members[] = {NULL, "x", "y.npy", "arr_0"};
    static const char *const ranges[] = {NULL, "1:3", "-1", ":2", "0:-1"};
    if (size < 1)
        return 0;
    const uint8_t sel = data[0];
    data++;
    size--;
    /* an exact-size copy: ASan sees any read past the end */
    uint8_t *buf = malloc(size > 0 ? size : 1);
    if (buf == NULL)
        return 0;
    if (size > 0)
        memcpy(buf, data, size);
    fgq_data_opts opts = {.member = members[sel % 4],
                          .range = ranges[(sel / 4) % 5],
                          .max_bytes = (uint64_t)16 << 20,
                          .member_loose = (sel / 20) % 2}; /* --calib NAME=FILE's reading */

    fgq_error err;
    fgq_error_clear(&err);
    fgq_dataset d;
    fgq_status st = fgq_data_load_memory("fuzz.npy", buf, size, &opts, &d, &err);
    check_msg(st, &err);
    if (st == FGQ_OK) {
        /* model shapes: the sample's own, NCHW 1x1x28x28, NHWC 1x28x28x1, flat, and 3 channels either way */
        static const int64_t shapes[][4] = {{1, 1, 28, 28}, {1, 28, 28, 1}, {1, 3, 2, 2}, {1, 2, 2, 3}};
        fgq_preprocess pre;
        fgq_preprocess_default(&pre);
        pre.scale = 1.0f / 255.0f;
        pre.n_mean = pre.n_std = 1 + (sel >> 7) * 2; /* 1, or 3 per channel */
        for (int32_t c = 0; c < pre.n_mean; c++) {
            pre.mean[c] = 0.5f;
            pre.std[c] = 0.25f;
        }
        int64_t own[FGQ_MAX_DIMS];
        own[0] = 1;
        for (int32_t k = 1; k < d.rank; k++)
            own[k] = d.dims[k];
        int64_t flat[2] = {1, fgq_dataset_sample_numel(&d)};
        for (int s = 0; s < 6; s++) {
            fgq_dataset t = d;
            size_t nb = (size_t)fgq_dataset_numel(&d) * sizeof(float);
            t.data = malloc(nb > 0 ? nb : 1);
            if (t.data == NULL)
                break;
            if (nb > 0)
                memcpy(t.data, d.data, nb);
            fgq_error_clear(&err);
            if (s < 4)
                st = fgq_data_prepare(&t, "fuzz.npy", 4, shapes[s], &pre, &err);
            else if (s == 4)
                st = fgq_data_prepare(&t, "fuzz.npy", d.rank, own, &pre, &err);
            else
                st = fgq_data_prepare(&t, "fuzz.npy", 2, flat, NULL, &err);
            check_msg(st, &err);
            fgq_dataset_free(&t);
        }
        fgq_dataset_free(&d);
    }

    int64_t *labels = NULL, n = 0;
    fgq_error_clear(&err);
    st = fgq_labels_load_memory("fuzz.npy", buf, size, &opts, &labels, &n, &err);
    check_msg(st, &err);
    free(labels);
    free(buf);
    return 0;
}
