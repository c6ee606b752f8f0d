/*
 * test_data.c — every data loader format and every hostile case. Files are
 * written here, into a temp folder, byte by byte from the format specs (.npy
 * header, IDX header, zip records); the oracle is the values we put in.
 * Hostile files must fail with the stated status and a message naming the
 * file, never crash (the suite runs under ASan/UBSan).
 */
#include "fgq_test.h"

#include "data/data.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static char dir[] = "/tmp/fgq_data_XXXXXX";

static const char *path_of(const char *name)
{
    static char buf[4][512]; /* test-only rotating buffers */
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static void write_bytes(const char *name, const void *data, size_t n)
{
    FILE *f = fopen(path_of(name), "wb");
    fwrite(data, 1, n, f);
    fclose(f);
}

/* .npy v1 (or v2) with header dict `dict` followed by n data bytes. */
static size_t make_npy(uint8_t *out, int version, const char *dict, const void *data, size_t n)
{
    size_t dl = strlen(dict), pre = version == 1 ? 10 : 12;
    memcpy(out, "\x93NUMPY", 6);
    out[6] = (uint8_t)version;
    out[7] = 0;
    size_t hlen = dl + 1;
    if (version == 1) {
        out[8] = (uint8_t)hlen;
        out[9] = (uint8_t)(hlen >> 8);
    } else {
        for (int i = 0; i < 4; i++)
            out[8 + i] = (uint8_t)(hlen >> (8 * i));
    }
    memcpy(out + pre, dict, dl);
    out[pre + dl] = '\n';
    memcpy(out + pre + hlen, data, n);
    return pre + hlen + n;
}

static fgq_status load(const char *name, const char *range, fgq_dataset *d, fgq_error *err)
{
    fgq_data_opts o = {NULL, range, 0, 0};
    fgq_error_clear(err);
    return fgq_data_load(path_of(name), &o, d, err);
}

/* Expect `want` and a message naming the file. */
static void expect_fail(const char *name, fgq_status want, const char *why)
{
    fgq_dataset d;
    fgq_error err;
    fgq_status st = load(name, NULL, &d, &err);
    CHECK_MSG(st == want, "%s: got %d (%s), want %d", name, (int)st, err.msg, (int)want);
    CHECK_MSG(strstr(err.msg, name) != NULL && (why == NULL || strstr(err.msg, why) != NULL), "%s: message '%s'", name,
              err.msg);
    CHECK(d.data == NULL);
}

static void test_npy_types(void)
{
    uint8_t buf[1024];
    fgq_dataset d;
    fgq_error err;
    /* <i2, v2 header, shape (2, 3) */
    int16_t s16[6] = {-300, 0, 1, 2, 3, 32767};
    write_bytes("a.npy", buf, make_npy(buf, 2, "{'descr': '<i2', 'fortran_order': False, 'shape': (2, 3), }", s16, 12));
    CHECK(load("a.npy", NULL, &d, &err) == FGQ_OK);
    CHECK(d.rank == 2 && d.dims[0] == 2 && d.dims[1] == 3 && d.src_dtype == FGQ_SRC_S16);
    for (int i = 0; i < 6; i++)
        CHECK_NEAR(d.data[i], s16[i], 0);
    fgq_dataset_free(&d);
    /* |u1 and |b1 and <f8 and |i1 and <i4 and <i8, shape (4,) */
    uint8_t u8[4] = {0, 255, 7, 1};
    double f64[4] = {0.5, -2.25, 1e10, 3};
    int8_t s8[4] = {-128, 127, 0, -1};
    int32_t s32[4] = {-100000, 5, 6, 7};
    int64_t s64[4] = {-5, 1LL << 40, 0, 9};
    write_bytes("u1.npy", buf, make_npy(buf, 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (4,), }", u8, 4));
    write_bytes("b1.npy", buf, make_npy(buf, 1, "{'descr': '|b1', 'fortran_order': False, 'shape': (4,), }", u8, 4));
    write_bytes("f8.npy", buf, make_npy(buf, 1, "{\"descr\": \"<f8\", \"shape\": (4,), \"fortran_order\": False}", f64, 32));
    write_bytes("i1.npy", buf, make_npy(buf, 1, "{'descr': '|i1', 'fortran_order': False, 'shape': (4,), }", s8, 4));
    write_bytes("i4.npy", buf, make_npy(buf, 3, "{'descr': '<i4', 'fortran_order': False, 'shape': (4,), }", s32, 16));
    write_bytes("i8.npy", buf, make_npy(buf, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (4,), }", s64, 32));
    CHECK(load("u1.npy", NULL, &d, &err) == FGQ_OK && d.src_dtype == FGQ_SRC_U8 && d.data[1] == 255.0f);
    fgq_dataset_free(&d);
    CHECK(load("b1.npy", NULL, &d, &err) == FGQ_OK && d.src_dtype == FGQ_SRC_BOOL && d.data[1] == 1.0f && d.data[0] == 0);
    fgq_dataset_free(&d);
    CHECK(load("f8.npy", NULL, &d, &err) == FGQ_OK && d.src_dtype == FGQ_SRC_F64 && d.data[1] == -2.25f &&
          d.data[2] == 1e10f);
    fgq_dataset_free(&d);
    CHECK(load("i1.npy", NULL, &d, &err) == FGQ_OK && d.data[0] == -128.0f && d.data[3] == -1.0f);
    fgq_dataset_free(&d);
    CHECK(load("i4.npy", NULL, &d, &err) == FGQ_OK && d.data[0] == -100000.0f);
    fgq_dataset_free(&d);
    int64_t *lab;
    int64_t n;
    CHECK(fgq_labels_load(path_of("i8.npy"), NULL, &lab, &n, &err) == FGQ_OK && n == 4 && lab[1] == (1LL << 40) &&
          lab[0] == -5);
    free(lab);
    fgq_data_opts o = {NULL, "1:3", 0, 0};
    CHECK(fgq_labels_load(path_of("u1.npy"), &o, &lab, &n, &err) == FGQ_OK && n == 2 && lab[0] == 255 && lab[1] == 7);
    free(lab);
    /* float labels must be integral */
    CHECK(fgq_labels_load(path_of("f8.npy"), NULL, &lab, &n, &err) == FGQ_ERR_VALUE);
}

static void test_npy_writer_and_range(void)
{
    float v[12];
    for (int i = 0; i < 12; i++)
        v[i] = (float)i * 0.5f;
    int64_t dims[3] = {4, 3, 1};
    fgq_error err = {0};
    CHECK(fgq_npy_write_f32(path_of("w.npy"), v, 3, dims, &err) == FGQ_OK);
    fgq_dataset d;
    CHECK(load("w.npy", "1:3", &d, &err) == FGQ_OK);
    CHECK(d.dims[0] == 2 && d.dims[1] == 3 && d.dims[2] == 1 && d.first_index == 1);
    CHECK(d.data[0] == 1.5f && d.data[5] == 4.0f);
    fgq_dataset_free(&d);
    CHECK(load("w.npy", "-1:", &d, &err) == FGQ_OK && d.dims[0] == 1 && d.data[0] == 4.5f);
    fgq_dataset_free(&d);
    CHECK(load("w.npy", "2", &d, &err) == FGQ_OK && d.dims[0] == 1 && d.data[0] == 3.0f);
    fgq_dataset_free(&d);
    CHECK(load("w.npy", "3:9", &d, &err) == FGQ_ERR_VALUE);
    CHECK(load("w.npy", "2:2", &d, &err) == FGQ_ERR_VALUE);
    CHECK(load("w.npy", "a:b", &d, &err) == FGQ_ERR_VALUE);
    int64_t lv[3] = {1, -2, 3}, ld[1] = {3};
    CHECK(fgq_npy_write_i64(path_of("l.npy"), lv, 1, ld, &err) == FGQ_OK);
    int64_t *lab, n;
    CHECK(fgq_labels_load(path_of("l.npy"), NULL, &lab, &n, &err) == FGQ_OK && n == 3 && lab[1] == -2);
    free(lab);
    /* the atomic writer leaves no temporary files behind */
    CHECK(fgq_npy_write_f32("/nonexistent_dir/x.npy", v, 1, ld, &err) == FGQ_ERR_IO);
}

static void test_npy_hostile(void)
{
    uint8_t buf[1024];
    float f[4] = {1, 2, 3, 4};
    write_bytes("fort.npy", buf, make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", f, 16));
    expect_fail("fort.npy", FGQ_ERR_UNSUPPORTED, "fortran");
    write_bytes("be.npy", buf, make_npy(buf, 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (4,), }", f, 16));
    expect_fail("be.npy", FGQ_ERR_UNSUPPORTED, "big-endian");
    write_bytes("c8.npy", buf, make_npy(buf, 1, "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", f, 16));
    expect_fail("c8.npy", FGQ_ERR_UNSUPPORTED, "dtype");
    write_bytes("lie.npy", buf, make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", f, 16));
    expect_fail("lie.npy", FGQ_ERR_FORMAT, "truncated");
    write_bytes("absurd.npy", buf,
                make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", f, 16));
    expect_fail("absurd.npy", FGQ_ERR_FORMAT, "absurd");
    write_bytes("ovf.npy", buf,
                make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000, 1000000000, 1000000), }",
                         f, 16));
    expect_fail("ovf.npy", FGQ_ERR_FORMAT, "overflow");
    size_t n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", f, 16);
    buf[8] = 0xff; /* header length past the end */
    buf[9] = 0xff;
    write_bytes("hlen.npy", buf, n);
    expect_fail("hlen.npy", FGQ_ERR_FORMAT, "header length");
    write_bytes("short.npy", "\x93NUMPY\x01", 7);
    expect_fail("short.npy", FGQ_ERR_FORMAT, NULL);
    write_bytes("junk.bin", "hello world", 11);
    expect_fail("junk.bin", FGQ_ERR_FORMAT, "unrecognised");
    write_bytes("bad.npy", buf, make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,x), }", f, 16));
    expect_fail("bad.npy", FGQ_ERR_FORMAT, NULL);
    write_bytes("ver.npy", buf, make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", f, 16));
    buf[6] = 9;
    write_bytes("ver.npy", buf, n);
    expect_fail("ver.npy", FGQ_ERR_UNSUPPORTED, "version");
    /* NaN names the sample */
    float nanv[4] = {1, 2, NAN, 4};
    write_bytes("nan.npy", buf, make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", nanv, 16));
    expect_fail("nan.npy", FGQ_ERR_VALUE, "sample 1");
    fgq_dataset d;
    fgq_error err;
    CHECK(load("missing.npy", NULL, &d, &err) == FGQ_ERR_IO);
    /* file size limit */
    fgq_data_opts o = {NULL, NULL, 8, 0};
    fgq_error_clear(&err);
    CHECK(fgq_data_load(path_of("nan.npy"), &o, &d, &err) == FGQ_ERR_IO);
}

/* IDX big-endian: u8 [2,2,2], s16 [3], f32 [2], plain and gzipped. */
static void test_idx(void)
{
    uint8_t u[4 + 12 + 8] = {0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 10, 20, 30, 40, 50, 60, 70, 255};
    write_bytes("img-idx3-ubyte", u, sizeof u);
    fgq_dataset d;
    fgq_error err;
    CHECK(load("img-idx3-ubyte", NULL, &d, &err) == FGQ_OK);
    CHECK(d.rank == 3 && d.dims[0] == 2 && d.dims[1] == 2 && d.dims[2] == 2 && d.data[7] == 255.0f && d.data[0] == 10);
    fgq_dataset_free(&d);
    uint8_t s[4 + 4 + 6] = {0, 0, 0x0B, 1, 0, 0, 0, 3, 0xff, 0xfe, 0x01, 0x00, 0x7f, 0xff};
    write_bytes("s16-idx1", s, sizeof s);
    int64_t *lab, n;
    CHECK(fgq_labels_load(path_of("s16-idx1"), NULL, &lab, &n, &err) == FGQ_OK && n == 3 && lab[0] == -2 &&
          lab[1] == 256 && lab[2] == 32767);
    free(lab);
    uint8_t f[4 + 4 + 8] = {0, 0, 0x0D, 1, 0, 0, 0, 2, 0x3f, 0xc0, 0, 0, 0xc0, 0x20, 0, 0}; /* 1.5, -2.5 */
    write_bytes("f-idx1", f, sizeof f);
    CHECK(load("f-idx1", NULL, &d, &err) == FGQ_OK && d.data[0] == 1.5f && d.data[1] == -2.5f);
    fgq_dataset_free(&d);
    /* gzipped (detected by magic, whatever the name) */
    gzFile gz = gzopen(path_of("img-idx3-ubyte.gz"), "wb");
    gzwrite(gz, u, sizeof u);
    gzclose(gz);
    CHECK(load("img-idx3-ubyte.gz", "1:2", &d, &err) == FGQ_OK && d.dims[0] == 1 && d.data[0] == 50.0f);
    fgq_dataset_free(&d);
    /* hostile: lying dims, bad type, zero dims, truncated gzip, gzip bomb */
    uint8_t lie[sizeof u];
    memcpy(lie, u, sizeof u);
    lie[7] = 3;
    write_bytes("lie-idx3", lie, sizeof lie);
    expect_fail("lie-idx3", FGQ_ERR_FORMAT, "truncated");
    lie[7] = 2;
    lie[2] = 0x0A;
    write_bytes("type-idx3", lie, sizeof lie);
    expect_fail("type-idx3", FGQ_ERR_FORMAT, "element type");
    uint8_t nd[4] = {0, 0, 8, 0};
    write_bytes("nd-idx", nd, 4);
    expect_fail("nd-idx", FGQ_ERR_FORMAT, "dims");
    uint8_t huge[12] = {0, 0, 8, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    write_bytes("huge-idx", huge, 12);
    expect_fail("huge-idx", FGQ_ERR_FORMAT, "overflow");
    FILE *fp = fopen(path_of("img-idx3-ubyte.gz"), "rb");
    uint8_t gzb[256];
    size_t gn = fread(gzb, 1, sizeof gzb, fp);
    fclose(fp);
    write_bytes("trunc.gz", gzb, gn - 10);
    expect_fail("trunc.gz", FGQ_ERR_FORMAT, "gzip");
    /* 4 MiB of zeros compresses to a few KiB; a 1 MiB limit must stop it */
    gz = gzopen(path_of("bomb.gz"), "wb9");
    uint8_t *zeros = calloc(1 << 20, 1);
    for (int i = 0; i < 4; i++)
        gzwrite(gz, zeros, 1 << 20);
    gzclose(gz);
    free(zeros);
    fgq_data_opts o = {NULL, NULL, 1 << 20, 0};
    fgq_error_clear(&err);
    CHECK(fgq_data_load(path_of("bomb.gz"), &o, &d, &err) == FGQ_ERR_FORMAT && strstr(err.msg, "limit") != NULL &&
          strstr(err.msg, "bomb.gz") != NULL);
}

/* Minimal zip writer (PKWARE APPNOTE): local header + data per member, central directory, EOCD. */
static size_t zip_put(uint8_t *p, size_t at, uint32_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[at + (size_t)i] = (uint8_t)(v >> (8 * i));
    return at + (size_t)bytes;
}

static size_t make_zip(uint8_t *out, int n, const char **names, const uint8_t **data, const size_t *sizes, int deflated)
{
    size_t p = 0, offs[4];
    uint8_t comp[4][2048];
    uLong csz[4];
    uint32_t crcs[4];
    for (int i = 0; i < n; i++) {
        crcs[i] = (uint32_t)crc32(0, data[i], (uInt)sizes[i]);
        if (deflated) {
            z_stream z;
            memset(&z, 0, sizeof z);
            deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
            z.next_in = (Bytef *)(uintptr_t)data[i];
            z.avail_in = (uInt)sizes[i];
            z.next_out = comp[i];
            z.avail_out = sizeof comp[i];
            deflate(&z, Z_FINISH);
            csz[i] = z.total_out;
            deflateEnd(&z);
        } else {
            memcpy(comp[i], data[i], sizes[i]);
            csz[i] = sizes[i];
        }
        offs[i] = p;
        size_t nl = strlen(names[i]);
        p = zip_put(out, p, 0x04034b50u, 4);
        p = zip_put(out, p, 20, 2);
        p = zip_put(out, p, 0, 2);
        p = zip_put(out, p, deflated ? 8 : 0, 2);
        p = zip_put(out, p, 0, 4);
        p = zip_put(out, p, crcs[i], 4);
        p = zip_put(out, p, (uint32_t)csz[i], 4);
        p = zip_put(out, p, (uint32_t)sizes[i], 4);
        p = zip_put(out, p, (uint32_t)nl, 2);
        p = zip_put(out, p, 0, 2);
        memcpy(out + p, names[i], nl);
        p += nl;
        memcpy(out + p, comp[i], csz[i]);
        p += csz[i];
    }
    size_t cd = p;
    for (int i = 0; i < n; i++) {
        size_t nl = strlen(names[i]);
        p = zip_put(out, p, 0x02014b50u, 4);
        p = zip_put(out, p, 20, 2);
        p = zip_put(out, p, 20, 2);
        p = zip_put(out, p, 0, 2);
        p = zip_put(out, p, deflated ? 8 : 0, 2);
        p = zip_put(out, p, 0, 4);
        p = zip_put(out, p, crcs[i], 4);
        p = zip_put(out, p, (uint32_t)csz[i], 4);
        p = zip_put(out, p, (uint32_t)sizes[i], 4);
        p = zip_put(out, p, (uint32_t)nl, 2);
        p = zip_put(out, p, 0, 4); /* extra, comment lengths */
        p = zip_put(out, p, 0, 4); /* disk, internal attrs */
        p = zip_put(out, p, 0, 4);
        p = zip_put(out, p, (uint32_t)offs[i], 4);
        memcpy(out + p, names[i], nl);
        p += nl;
    }
    size_t cde = p;
    p = zip_put(out, p, 0x06054b50u, 4);
    p = zip_put(out, p, 0, 4);
    p = zip_put(out, p, (uint32_t)n, 2);
    p = zip_put(out, p, (uint32_t)n, 2);
    p = zip_put(out, p, (uint32_t)(cde - cd), 4);
    p = zip_put(out, p, (uint32_t)cd, 4);
    p = zip_put(out, p, 0, 2);
    return p;
}

static void test_npz(void)
{
    uint8_t a[256], b[256], z[8192];
    float fa[3] = {1, 2, 3};
    int64_t lb[2] = {4, 5};
    size_t na = make_npy(a, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", fa, 12);
    size_t nb = make_npy(b, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", lb, 16);
    const char *names[2] = {"x.npy", "y.npy"};
    const uint8_t *data[2] = {a, b};
    size_t sizes[2] = {na, nb};
    fgq_dataset d;
    fgq_error err;
    for (int deflated = 0; deflated < 2; deflated++) {
        const char *fname = deflated ? "d.npz" : "s.npz";
        size_t zn = make_zip(z, 2, names, data, sizes, deflated);
        write_bytes(fname, z, zn);
        fgq_data_opts o = {NULL, NULL, 0, 0};
        fgq_error_clear(&err);
        CHECK_MSG(fgq_data_load(path_of(fname), &o, &d, &err) == FGQ_OK && d.dims[0] == 3 && d.data[2] == 3.0f, "%s",
                  err.msg);
        fgq_dataset_free(&d);
        o.member = "y";
        int64_t *lab, n;
        CHECK(fgq_labels_load(path_of(fname), &o, &lab, &n, &err) == FGQ_OK && n == 2 && lab[1] == 5);
        free(lab);
        o.member = "nope";
        fgq_error_clear(&err);
        CHECK(fgq_data_load(path_of(fname), &o, &d, &err) == FGQ_ERR_VALUE && strstr(err.msg, "nope") != NULL);
        if (deflated) {
            /* corrupt a data byte: CRC or inflate must catch it */
            z[40] ^= 0x55;
            write_bytes("crc.npz", z, zn);
            expect_fail("crc.npz", FGQ_ERR_FORMAT, NULL);
            z[40] ^= 0x55;
            /* ZIP64 marker in the EOCD entry count */
            z[zn - 22 + 10] = 0xff;
            z[zn - 22 + 11] = 0xff;
            write_bytes("z64.npz", z, zn);
            expect_fail("z64.npz", FGQ_ERR_UNSUPPORTED, "ZIP64");
            write_bytes("cut.npz", z, zn - 30);
            expect_fail("cut.npz", FGQ_ERR_FORMAT, NULL);
        }
    }
}

static void test_prepare(void)
{
    /* 1 sample HWC [2,2,3] → model [1,3,2,2]: out[c][h][w] = in[h][w][c] */
    fgq_dataset d = {0};
    d.rank = 4;
    d.dims[0] = 1, d.dims[1] = 2, d.dims[2] = 2, d.dims[3] = 3;
    d.data = malloc(12 * sizeof(float));
    for (int i = 0; i < 12; i++)
        d.data[i] = (float)i;
    int64_t m[4] = {1, 3, 2, 2};
    fgq_preprocess p;
    fgq_preprocess_default(&p);
    p.scale = 2.0f;
    p.n_mean = 3;
    p.mean[0] = 0, p.mean[1] = 1, p.mean[2] = 2;
    p.n_std = 1;
    p.std[0] = 2.0f;
    fgq_error err = {0};
    CHECK_MSG(fgq_data_prepare(&d, "x", 4, m, &p, &err) == FGQ_OK, "%s", err.msg);
    CHECK(d.rank == 4 && d.dims[1] == 3 && d.dims[2] == 2 && d.dims[3] == 2);
    for (int c = 0; c < 3; c++)
        for (int hw = 0; hw < 4; hw++) {
            float in = (float)(hw * 3 + c);
            CHECK_NEAR(d.data[c * 4 + hw], (in * 2.0f - (float)c) / 2.0f, 1e-6);
        }
    /* [1,3,2,2] as [12] features: reshape only */
    int64_t f[2] = {1, 12};
    float before = d.data[5];
    CHECK(fgq_data_prepare(&d, "x", 2, f, NULL, &err) == FGQ_OK && d.rank == 2 && d.dims[1] == 12 && d.data[5] == before);
    /* mismatch names both shapes */
    int64_t bad[2] = {1, 10};
    fgq_error_clear(&err);
    CHECK(fgq_data_prepare(&d, "x", 2, bad, NULL, &err) == FGQ_ERR_SHAPE && strstr(err.msg, "[12]") != NULL &&
          strstr(err.msg, "[1,10]") != NULL);
    /* std 0 is refused; per-channel count not matching any axis is a shape error */
    p.n_mean = 0;
    p.std[0] = 0.0f;
    fgq_error_clear(&err);
    CHECK(fgq_data_prepare(&d, "x", 2, f, &p, &err) == FGQ_ERR_VALUE);
    p.std[0] = 1.0f;
    p.n_mean = 5;
    fgq_error_clear(&err);
    CHECK(fgq_data_prepare(&d, "x", 2, f, &p, &err) == FGQ_ERR_SHAPE);
    /* a scale that overflows makes Inf: value error naming the sample */
    fgq_preprocess_default(&p);
    p.scale = 3e38f;
    d.data[0] = 100.0f;
    fgq_error_clear(&err);
    CHECK(fgq_data_prepare(&d, "x", 2, f, &p, &err) == FGQ_ERR_VALUE && strstr(err.msg, "sample 0") != NULL);
    fgq_dataset_free(&d);
    /* CHW sample [2,1,3] → NHWC model [1,1,3,2] */
    d.rank = 4;
    d.dims[0] = 1, d.dims[1] = 2, d.dims[2] = 1, d.dims[3] = 3;
    d.data = malloc(6 * sizeof(float));
    for (int i = 0; i < 6; i++)
        d.data[i] = (float)i;
    int64_t nhwc[4] = {1, 1, 3, 2};
    CHECK(fgq_data_prepare(&d, "x", 4, nhwc, NULL, &err) == FGQ_OK);
    const float want[6] = {0, 3, 1, 4, 2, 5}; /* out[h][w][c] = in[c][h][w] */
    for (int i = 0; i < 6; i++)
        CHECK_NEAR(d.data[i], want[i], 0);
    fgq_dataset_free(&d);
}

/* Real data: the first Fashion-MNIST test image / label, when the Debian package is installed. */
static void test_fashion_mnist(void)
{
    const char *img = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
    const char *lab = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";
    if (access(img, R_OK) != 0 || access(lab, R_OK) != 0)
        return;
    fgq_data_opts o = {NULL, "0:10", 0, 0};
    fgq_dataset d;
    fgq_error err = {0};
    CHECK_MSG(fgq_data_load(img, &o, &d, &err) == FGQ_OK, "%s", err.msg);
    CHECK(d.rank == 3 && d.dims[0] == 10 && d.dims[1] == 28 && d.dims[2] == 28 && d.src_dtype == FGQ_SRC_U8);
    fgq_dataset_free(&d);
    int64_t *l, n;
    CHECK(fgq_labels_load(lab, &o, &l, &n, &err) == FGQ_OK && n == 10);
    if (n == 10)
        CHECK(l[0] == 9); /* the first Fashion-MNIST test label is 9 (ankle boot) */
    free(l);
}

/* fgq_data_convert from the contract: integer targets take integral values in range, bool 0/1; bool data
 * feeds every target; max_exact refuses |v| >= max_exact (a float32 2^24 may be a rounded 2^24 + 1). */
static void test_convert(void)
{
    fgq_error err;
    void *out = NULL;
    const int64_t s64[3] = {INT64_MIN, -1, INT64_MAX - 1023}; /* doubles: -2^63, -1, 2^63 - 1024 */
    fgq_error_clear(&err);
    CHECK(fgq_data_convert("s64", s64, FGQ_DT_S64, 3, FGQ_DT_S64, 0, &out, &err) == FGQ_OK);
    CHECK(out != NULL && ((int64_t *)out)[0] == INT64_MIN && ((int64_t *)out)[1] == -1);
    free(out);
    const float f_2p63[1] = {9223372036854775808.0f}; /* 2^63: outside int64 */
    fgq_error_clear(&err);
    CHECK(fgq_data_convert("big", f_2p63, FGQ_DT_F32, 1, FGQ_DT_S64, 0, &out, &err) == FGQ_ERR_VALUE && out == NULL);
    CHECK_MSG(strstr(err.msg, "big") != NULL && strstr(err.msg, "element 0") != NULL, "'%s'", err.msg);
    const uint8_t b[4] = {0, 1, 1, 0};
    fgq_error_clear(&err);
    CHECK(fgq_data_convert("bool", b, FGQ_DT_BOOL, 4, FGQ_DT_S64, 0, &out, &err) == FGQ_OK);
    CHECK(((int64_t *)out)[1] == 1 && ((int64_t *)out)[3] == 0);
    free(out);
    fgq_error_clear(&err);
    CHECK(fgq_data_convert("bool", b, FGQ_DT_BOOL, 4, FGQ_DT_F32, 0, &out, &err) == FGQ_OK);
    CHECK(((float *)out)[2] == 1.0f);
    free(out);
    const int64_t two[2] = {1, 2};
    fgq_error_clear(&err);
    CHECK(fgq_data_convert("two", two, FGQ_DT_S64, 2, FGQ_DT_BOOL, 0, &out, &err) == FGQ_ERR_VALUE);
    CHECK_MSG(strstr(err.msg, "element 1") != NULL && strstr(err.msg, "bool") != NULL, "'%s'", err.msg);
    const float edge[2] = {16777215.0f, 16777216.0f}; /* 2^24 - 1 exact; 2^24 may be 2^24 + 1 rounded */
    fgq_error_clear(&err);
    CHECK(fgq_data_convert("edge", edge, FGQ_DT_F32, 1, FGQ_DT_S64, 16777216.0, &out, &err) == FGQ_OK);
    CHECK(((int64_t *)out)[0] == 16777215);
    free(out);
    fgq_error_clear(&err);
    CHECK(fgq_data_convert("edge", edge, FGQ_DT_F32, 2, FGQ_DT_S64, 16777216.0, &out, &err) == FGQ_ERR_VALUE);
    CHECK_MSG(strstr(err.msg, "element 1") != NULL && strstr(err.msg, ".pb") == NULL, "'%s'", err.msg);
    fgq_error_clear(&err);
    CHECK(fgq_data_convert("f16", edge, FGQ_DT_F32, 1, FGQ_DT_F16, 0, &out, &err) == FGQ_ERR_UNSUPPORTED);
}

/* int64 data that float32 rounds is flagged (first element and its value in the file); values float32 holds
 * (2^24, 2^40) are not. */
static void test_inexact_integers(void)
{
    uint8_t buf[1024];
    fgq_dataset d;
    fgq_error err;
    int64_t v[4] = {16777216, 1LL << 40, 16777217, -16777219};
    write_bytes("big.npy", buf, make_npy(buf, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (4,), }", v, 32));
    CHECK(load("big.npy", NULL, &d, &err) == FGQ_OK);
    CHECK(d.inexact_count == 2 && d.inexact_index == 2 && d.inexact_value == 16777217);
    fgq_dataset_free(&d);
    CHECK(load("big.npy", ":2", &d, &err) == FGQ_OK && d.inexact_count == 0);
    fgq_dataset_free(&d);
}

/* Model dims that are unknown or whose product overflows int64 are refused naming the data, not multiplied. */
static void test_prepare_hostile_dims(void)
{
    fgq_dataset d = {0};
    d.rank = 2;
    d.dims[0] = 1, d.dims[1] = 4;
    d.data = calloc(4, sizeof(float));
    const int64_t huge[4] = {1, 1LL << 31, 1LL << 31, 1LL << 31}, unknown[2] = {1, -1};
    fgq_error err;
    fgq_error_clear(&err);
    CHECK(fgq_data_prepare(&d, "ids.npy", 4, huge, NULL, &err) == FGQ_ERR_SHAPE);
    CHECK_MSG(strstr(err.msg, "ids.npy") != NULL, "'%s'", err.msg);
    fgq_error_clear(&err);
    CHECK(fgq_data_prepare(&d, "ids.npy", 2, unknown, NULL, &err) == FGQ_ERR_SHAPE);
    fgq_dataset_free(&d);
}

int main(void)
{
    if (mkdtemp(dir) == NULL)
        return 1;
    RUN(test_npy_types);
    RUN(test_npy_writer_and_range);
    RUN(test_npy_hostile);
    RUN(test_idx);
    RUN(test_npz);
    RUN(test_prepare);
    RUN(test_fashion_mnist);
    RUN(test_convert);
    RUN(test_inexact_integers);
    RUN(test_prepare_hostile_dims);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return FGQ_TEST_DONE();
}
