/* cmd_export.c — `fgq export`: a .fgq model as QDQ ONNX (ONNX Runtime cross-check), or as C
 * source for firmware with the arena sized for the target build (fgq_target.h). */
#include "cli.h"

#include "export/export_c.h"
#include "export/export_onnx.h"
#include "export/fgq_compact.h"
#include "fgq_runtime.h"
#include "fileutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char k_usage[] =
    "usage: fgq export MODEL.fgq --onnx OUT.onnx\n"
    "       fgq export MODEL.fgq --c DIR [--name NAME] [--target TARGET] [--keep-all]\n"
    "\n"
    "--onnx: writes MODEL as an ONNX model (opset 21) that ONNX Runtime can run:\n"
    "float ops as their ONNX ops, integer-only ops in QuantizeLinear/\n"
    "DequantizeLinear form (u8/s8 activations; weights as int8/int4 codes behind a\n"
    "per-channel or blocked DequantizeLinear; see docs/quantized-ops.md, \"QDQ\n"
    "export\"). Graph input and output names and shapes are kept.\n"
    "\n"
    "--c: writes MODEL as C source for firmware (docs/device.md): DIR/NAME.c (the\n"
    "model bytes as a 64-byte aligned const array, in flash), DIR/NAME.h (its size,\n"
    "the arena size, the inputs' and outputs' byte counts, dtypes and shapes) and\n"
    "DIR/NAME_ops.h (the ops it uses, and its weight and activation types: build\n"
    "the runtime with -DFGQ_OP_SELECTION='\"NAME_ops.h\"' to link only those ops and\n"
    "kernel rows). DIR is created if\n"
    "missing. The firmware calls fgq_model_load / fgq_model_run: no file system, no\n"
    "heap. The bytes are a device image of MODEL: constants packed at 8 bytes\n"
    "instead of 64, and without what only the tools read (the scales and zero\n"
    "points of every tensor but the graph's inputs and outputs, and the recipe)\n"
    "or what TARGET's kernels do not (the weight rows' sums of QGEMM layers, WSUM,\n"
    "which only x86-64 reads): it runs bit for bit as MODEL does, in less flash.\n"
    "--keep-all writes MODEL's bytes as they are.\n"
    "\n"
    "--target: the runtime build the firmware runs. The kernels' working memory\n"
    "(im2col tiles and the like) differs by build, so NAME.h's NAME_ARENA_SIZE and\n"
    "NAME_SCRATCH_SIZE are what fgq_model_arena_size and fgq_model_scratch_size give\n"
    "in a runtime built for TARGET, exactly (docs/device.md, \"Stack and scratch\"):\n"
    "  cortex-m  Arm Cortex-M and other microcontrollers: the smallest tiles. The\n"
    "            default, because --c is for firmware and on a microcontroller every\n"
    "            byte of RAM counts.\n"
    "  aarch64   64-bit Arm application cores (Linux boards); also arm64\n"
    "  x86-64    x86-64: the largest tiles, at least what any of the others needs;\n"
    "            also x86_64, amd64\n"
    "  host      the build of this fgq (%s)\n"
    "A runtime built for a target with larger tiles than the header's refuses the\n"
    "arena before it runs anything (fgq_model_run: FGQ_ERR_NOMEM, with the sizes\n"
    "and the --target that build needs); it never writes past it.\n"
    "\n"
    "Each file is written to a temporary name, then renamed; on an error before\n"
    "writing no file is touched.\n"
    "\n"
    "options:\n"
    "  --onnx OUT.onnx  write QDQ ONNX there\n"
    "  --c DIR          write C source into DIR\n"
    "  --name NAME      the C files' and symbols' prefix (a C identifier; default\n"
    "                   \"model\": model.c, model.h, model_ops.h, model_data[])\n"
    "  --target TARGET  cortex-m (default), aarch64 (arm64), x86-64 (x86_64,\n"
    "                   amd64) or host: the build whose arena NAME.h gives\n"
    "  --keep-all       --c: the .fgq bytes as they are, not the device image\n"
    "  -h, --help       this text\n";

static const char *const k_c_suffix[3] = { ".c", ".h", "_ops.h" };

/* Other spellings --target takes (the names uname, Debian and Apple use); the profiles
 * themselves, and so the header's NAME_TARGET, keep one name each (fgq_target.h). */
static const struct {
    const char *alias, *name;
} k_target_aliases[] = { { "x86_64", "x86-64" }, { "amd64", "x86-64" }, { "arm64", "aarch64" } };

static const fgq_target *export_target(const char *name)
{
    for (size_t i = 0; i < sizeof k_target_aliases / sizeof k_target_aliases[0]; i++)
        if (strcmp(name, k_target_aliases[i].alias) == 0)
            return fgq_target_find(k_target_aliases[i].name);
    return fgq_target_find(name);
}

/* "cortex-m, aarch64 (arm64), x86-64 (x86_64, amd64)": the runtime's profiles, with their aliases. */
static void target_list(char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int32_t i = 0; fgq_target_at(i) != NULL && n < cap; i++) {
        const char *name = fgq_target_at(i)->name;
        n += (size_t)snprintf(buf + n, cap - n, "%s%s", i > 0 ? ", " : "", name);
        int n_alias = 0;
        for (size_t a = 0; a < sizeof k_target_aliases / sizeof k_target_aliases[0] && n < cap; a++)
            if (strcmp(k_target_aliases[a].name, name) == 0)
                n += (size_t)snprintf(buf + n, cap - n, "%s%s", n_alias++ > 0 ? ", " : " (",
                                      k_target_aliases[a].alias);
        if (n_alias > 0 && n < cap)
            n += (size_t)snprintf(buf + n, cap - n, ")");
    }
}

/* DIR/NAME<suffix> into buf; 0 when it does not fit. */
static int c_path(char *buf, size_t cap, const char *dir, const char *name, const char *suffix)
{
    int n = snprintf(buf, cap, "%s/%s%s", dir, name, suffix);
    return n > 0 && (size_t)n < cap;
}

/* err's message as "MODEL: WHAT<message>" (the loader's messages do not name the file). */
static void reword(fgq_error *err, fgq_status st, const char *model, const char *what)
{
    char msg[FGQ_ERROR_MSG_LEN];
    snprintf(msg, sizeof msg, "%s", err->msg);
    fgq_error_clear(err);
    fgq_fail(err, st, "%s: %s%s", model, what, msg);
}

static fgq_status write_c(const fgq_model *m, const uint8_t *bytes, size_t size, const char *model,
                          const char *dir, const char *name, fgq_error *err)
{
    char paths[3][4096];
    for (int i = 0; i < 3; i++)
        if (!c_path(paths[i], sizeof paths[i], dir, name, k_c_suffix[i]))
            return fgq_fail(err, FGQ_ERR_VALUE, "%s: folder name too long", dir);
    fgq_export_c_files f;
    fgq_status st = fgq_export_c(m, bytes, size, name, model, &f, err);
    if (st != FGQ_OK)
        return st; /* nothing created yet */
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        if (errno != ENOENT || mkdir(dir, 0777) != 0)
            st = fgq_fail(err, FGQ_ERR_IO, "%s: cannot create the folder: %s", dir, strerror(errno));
    } else if (!S_ISDIR(sb.st_mode)) {
        st = fgq_fail(err, FGQ_ERR_IO, "%s: not a folder", dir);
    }
    const char *texts[3] = { f.c_text, f.h_text, f.ops_text };
    size_t lens[3] = { f.c_len, f.h_len, f.ops_len };
    for (int i = 0; i < 3 && st == FGQ_OK; i++)
        st = fgq_write_file_atomic(paths[i], texts[i], lens[i], err);
    if (st == FGQ_OK)
        printf("%s -> %s: %zu model bytes, arena %llu bytes (%s), %d fgq nodes\n", model, paths[0], size,
               (unsigned long long)fgq_model_arena_size(m), fgq_model_target(m)->name, fgq_model_n_nodes(m));
    fgq_export_c_files_free(&f);
    return st;
}

int fgq_cmd_export(int argc, char **argv)
{
    const char *cmd = "export";
    if (fgq_cli_wants_help(argc, argv)) {
        printf(k_usage, fgq_target_build()->name);
        return FGQ_EXIT_OK;
    }
    const char *model = NULL, *out = NULL, *cdir = NULL, *name = NULL, *target_name = NULL;
    int keep_all = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--keep-all") == 0) {
            keep_all = 1;
        } else if (strcmp(a, "--onnx") == 0 || strcmp(a, "--c") == 0 || strcmp(a, "--name") == 0 ||
            strcmp(a, "--target") == 0) {
            if (i + 1 >= argc)
                return fgq_cli_usage_error(cmd, "%s needs a value", a);
            const char **dst = a[2] == 'o' ? &out : a[2] == 'c' ? &cdir : a[2] == 'n' ? &name : &target_name;
            *dst = argv[++i];
        } else if (a[0] == '-' && a[1] != '\0') {
            return fgq_cli_usage_error(cmd, "unknown option '%s'", a);
        } else if (model == NULL) {
            model = a;
        } else {
            return fgq_cli_usage_error(cmd, "unexpected argument '%s'", a);
        }
    }
    if (model == NULL)
        return fgq_cli_usage_error(cmd, "no model given");
    if (out == NULL && cdir == NULL)
        return fgq_cli_usage_error(cmd, "--onnx OUT.onnx or --c DIR is required");
    if (name != NULL && cdir == NULL)
        return fgq_cli_usage_error(cmd, "--name goes with --c");
    if (target_name != NULL && cdir == NULL)
        return fgq_cli_usage_error(cmd, "--target goes with --c");
    if (keep_all && cdir == NULL)
        return fgq_cli_usage_error(cmd, "--keep-all goes with --c");
    /* the build --c sizes the arena for; --onnx alone runs nothing, this build's sizes do */
    const fgq_target *target = export_target(cdir == NULL ? "host" : target_name != NULL ? target_name : "cortex-m");
    if (target == NULL) {
        char names[256];
        target_list(names, sizeof names);
        return fgq_cli_usage_error(cmd,
                                   "--target '%s' is not a target: the kernels' tiles, and so the arena, are known "
                                   "for %s and host (this build); cortex-m is every Cortex-M core",
                                   target_name, names);
    }
    if (name == NULL)
        name = "model";
    if (!fgq_export_c_name_ok(name))
        return fgq_cli_usage_error(cmd, "--name '%s' is not a C identifier of 1..%d characters", name,
                                   FGQ_EXPORT_C_MAX_NAME);
    if (out != NULL) {
        int clash = fgq_cli_output_clashes(cmd, out, &model, 1);
        if (clash)
            return clash;
    }
    if (cdir != NULL) {
        for (int i = 0; i < 3; i++) {
            char p[4096];
            if (!c_path(p, sizeof p, cdir, name, k_c_suffix[i]))
                return fgq_cli_usage_error(cmd, "--c '%s': folder name too long", cdir);
            int clash = fgq_cli_output_clashes(cmd, p, &model, 1);
            if (clash)
                return clash;
        }
    }

    fgq_error err;
    fgq_error_clear(&err);
    uint8_t *bytes = NULL, *aligned = NULL, *onnx = NULL;
    size_t size = 0, onnx_size = 0;
    fgq_model m;
    fgq_status st = fgq_read_file(model, (uint64_t)1 << 34, &bytes, &size, &err);
    if (st == FGQ_OK) {
        /* the runtime reads the model in place from a 64-byte aligned buffer */
        size_t cap = (size + FGQ_MODEL_ALIGN - 1) / FGQ_MODEL_ALIGN * FGQ_MODEL_ALIGN;
        aligned = aligned_alloc(FGQ_MODEL_ALIGN, cap > 0 ? cap : FGQ_MODEL_ALIGN);
        if (aligned == NULL)
            st = fgq_fail(&err, FGQ_ERR_NOMEM, "%s: cannot allocate %zu bytes", model, size);
        else
            memcpy(aligned, bytes, size);
    }
    free(bytes);
    if (st == FGQ_OK && (st = fgq_model_load_target(&m, aligned, size, target, &err)) != FGQ_OK)
        reword(&err, st, model, "");
    if (st == FGQ_OK && cdir != NULL && keep_all) {
        st = write_c(&m, aligned, size, model, cdir, name, &err);
    } else if (st == FGQ_OK && cdir != NULL) { /* the device image, loaded back: what the firmware will load */
        uint8_t *image = NULL;
        uint64_t image_size = 0;
        fgq_model mi;
        st = fgq_compact_model(&m, FGQ_FILE_MIN_BLOB_ALIGN, target->qgemm_wsum, &image, &image_size, &err);
        if (st == FGQ_OK && (st = fgq_model_load_target(&mi, image, image_size, target, &err)) != FGQ_OK)
            reword(&err, st, model, "its device image does not load (a defect of fgq): ");
        if (st == FGQ_OK)
            st = write_c(&mi, image, (size_t)image_size, model, cdir, name, &err);
        free(image);
    }
    if (st == FGQ_OK && out != NULL)
        st = fgq_export_onnx(&m, &onnx, &onnx_size, &err);
    if (st == FGQ_OK && out != NULL)
        st = fgq_write_file_atomic(out, onnx, onnx_size, &err);
    if (st == FGQ_OK && out != NULL)
        printf("%s -> %s: %d fgq nodes, ONNX opset %d, %zu bytes\n", model, out, fgq_model_n_nodes(&m),
               FGQ_EXPORT_ONNX_OPSET, onnx_size);
    free(onnx);
    free(aligned);
    return st == FGQ_OK ? FGQ_EXIT_OK : fgq_cli_report(cmd, &err);
}
