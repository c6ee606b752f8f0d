/* cmd_quantize.c — `fgq quantize`: calibrate, build the integer model, report per-layer error, write .fgq. */
#include "cli.h"
#include "json.h"
#include "progress.h"

#include "quant/stats/calib.h"
#include "data/data.h"
#include "export/fgq_writer.h"
#include "quant/pipeline.h"
#include "quant_flags.h"
#include "quantize_job.h"
#include "quant/quantize.h"
#include "threadpool.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char k_usage[] =
    "usage: fgq quantize MODEL.onnx [--calib X [--calib-samples A:B]] -o OUT.fgq\n"
    "                    (several inputs: --calib NAME=X per input, or --calib X.npz)\n"
    "                    --weights POLICY [--acts u8|s8|u4|dynamic]\n"
    "                    [--observer minmax|mse|percentile[:P]] [--first-last POLICY|same]\n"
    "                    [--depthwise POLICY|same]\n"
    "                    [--scale S] [--mean M[,M...]] [--std S[,S...]]\n"
    "                    [--keep-float NODE]... [--layer NODE=POLICY]... [--bias-correction on|off]\n"
    "                    [--solver gptq|rtn] [--damp F] [--act-order on|off] [--refine on|off|auto]\n"
    "                    [--sequential on|off|auto]\n"
    "                    [--equalize on|off] [--io float|quantized] [--output-layer float|quantized]\n"
    "                    [--budget BITS | --size BYTES [--candidates P,P,...] [--budget-metric M]]\n"
    "                    [--measure-samples N|all] [--json]\n"
    "\n"
    "Runs MODEL in float over the calibration samples X (.npy, .npz or IDX, fed as\n"
    "`fgq eval` feeds them), picks a range for every activation, quantizes the weights\n"
    "and writes an integer-only model (u8/s8/u4 activations; s8, s4, s3, s2 or ternary\n"
    "weights; int32 accumulators) that `fgq run`, `fgq eval` and `fgq bench` run.\n"
    "Sigmoid, HardSigmoid, HardSwish, Tanh and Swish (Mul(x, Sigmoid(x))) become\n"
    "256-entry lookup tables on the integer codes (QLUT), a Mul of two activations\n"
    "(squeeze-excitation) an integer QMUL, and a MatMul of two activations\n"
    "(attention's Q·K^T, P·V) an integer MATMUL_INT; --keep-float NODE\n"
    "keeps one float (so does an operand whose calibration saw +-Inf). The\n"
    "preprocessing (--scale/--mean/--std) is stored in the model. Ends with a\n"
    "table per layer: weight SQNR, and SQNR of the layer's output against the float\n"
    "model on the calibration samples.\n"
    "\n"
    "A model with several inputs takes its samples per input: --calib NAME=X once\n"
    "for each graph input NAME (each X as above, every one with the same number of\n"
    "samples; an X.npz gives its array NAME, or its only array; NAME may hold '=':\n"
    "the longest input name before an '=' is taken), or one --calib X.npz (gzipped\n"
    "or not) holding an array per input name. Float32 inputs\n"
    "are laid out and normalised alike (--scale/--mean/--std apply to every float\n"
    "input, and a per-channel list must fit each); integer inputs (token ids, masks:\n"
    "u8, s8, s32, s64, bool) are fed as their dtype, never normalised, and their\n"
    "samples must hold integers (read through float32: up to 2^24, or larger ones\n"
    "float32 holds exactly; others are refused, naming the value).\n"
    "\n"
    "--acts dynamic needs no calibration: every Conv/Gemm/MatMul with a constant\n"
    "weight quantizes its input per inference from the input's own min/max (ONNX\n"
    "DynamicQuantizeLinear), accumulates in int32 against the quantized weights and\n"
    "returns float; the rest of the graph runs float. With --calib, the samples\n"
    "only measure the activation SQNR; without, that column is omitted.\n"
    "\n"
    "options:\n"
    "  --calib X            calibration samples (required unless --acts dynamic)\n"
    "  --calib NAME=X       the samples of graph input NAME (repeat once per input)\n"
    "  --calib-samples A:B  use samples A..B-1 of X only (Python slice syntax; the\n"
    "                       same samples of every input)\n"
    "  -o OUT.fgq           output model (required; written atomically)\n"
    "  --weights POLICY     s8 | s8:gN | s4 | s4:gN | s3 | s3:gN | s2 | s2:gN |\n"
    "                       ternary:gN[:twn|exact|asym] | u8 | f32 (s2: the four levels -3, -1, 1, 3)\n"
    "                       (u8: per-tensor 8-bit, stored symmetric: the kernels take z_w = 0)\n"
    "  --acts T             activations: u8 (default), s8, u4 (16 levels in u8), dynamic\n"
    "  --observer O         minmax (default), mse, percentile[:P] (P default 99.99)\n"
    "  --first-last P       policy of the first and last weight layers; 'same' = --weights\n"
    "                       (default: s8 when --weights is below 8 bits, else same)\n"
    "  --depthwise P        policy of depthwise convolutions (group > 1, one input channel\n"
    "                       per group: 9 weights per channel for 3x3); 'same' = --weights\n"
    "                       (default: s8 when --weights is below 8 bits, else same: 9 taps\n"
    "                       a channel lose most at low precision, a budget picks s8 for\n"
    "                       them, and EfficientNet-Lite1 measured better so,\n"
    "                       docs/accuracy-real.md).\n"
    "                       With --budget they are searched like the rest unless given\n"
    "  --bias-correction on|off\n"
    "                       subtract each output channel's mean shift from weight quantization,\n"
    "                       sum_k (Wq - W)[o,k]·E[x_k] with E[x] measured on the calibration\n"
    "                       samples, from the bias (default: on for layers below 8 bits, off\n"
    "                       for the others; on: every quantized weight layer). --acts dynamic:\n"
    "                       only with --calib\n"
    "  --solver gptq|rtn    how weight codes are chosen (default gptq with --calib, else rtn):\n"
    "                       rtn rounds each weight to its group's grid; gptq quantizes each\n"
    "                       layer column by column and pushes every column's rounding error\n"
    "                       onto the columns not yet quantized through (H + lambda I)^-1,\n"
    "                       H = sum x x^T over the calibration inputs of the layer, which\n"
    "                       minimises the layer's output error instead of its weight error.\n"
    "                       A quarter of the samples is held out: each layer keeps the damping\n"
    "                       lambda = D * mean(diag H), D in 1e-4..1, or plain rounding, that\n"
    "                       leaves the least output error there, then is solved on all samples\n"
    "  --damp D             gptq with a fixed damping fraction D in (0, 100] (no search)\n"
    "  --act-order on|off   gptq quantizes the columns most-used first: whole groups by\n"
    "                       decreasing sum of diag(H), the columns of a group likewise\n"
    "                       (default on: ResNet-8 CIFAR-10 ternary:g4 with --sequential\n"
    "                       80.52 -> 80.92 %, Fashion-MNIST all-ternary:g16 86.78 -> 88.02 %;\n"
    "                       mnist-8 all-ternary:g16 98.56 -> 98.43 %)\n"
    "  --refine on|off|auto gptq, then coordinate descent on the same output error (default auto:\n"
    "                       ternary layers only):\n"
    "                       each group's multiplier(s), then each code, moves to the grid point\n"
    "                       that lowers (w - q)^T (H + lambda I) (w - q) with the rest fixed,\n"
    "                       until a pass moves nothing (at most 8); GPTQ never revisits a column.\n"
    "                       Kept per layer and damping where it leaves less held-out error\n"
    "                       (with --damp, or no held-out samples, applied as asked)\n"
    "                       (solver \"gptq:D+cd\" in the table). --budget prices its candidates\n"
    "                       without it and refines the layers once their policies are chosen.\n"
    "                       CIFAR-10 ResNet-8, output SQNR\n"
    "                       against float on the 10,000 test images: ternary:g4 18.05 -> 18.86 dB,\n"
    "                       g16 14.93 -> 15.57, g64 13.26 -> 13.90, s4:g32 25.40 -> 25.46. Top-1\n"
    "                       (docs/accuracy-real.md) rose with it on ternary layers (ResNet-8\n"
    "                       ternary:g64 79.34 -> 79.98 %, Fashion every layer ternary:g4 88.73 ->\n"
    "                       89.50 %) and fell on s8/s4/s3 ones (EfficientNet-Lite2 --budget 4\n"
    "                       89.50 -> 88.88 %): auto refines the ternary layers alone\n"
    "  --sequential on|off|auto  gptq fits each layer to the float layer's output on the inputs it\n"
    "                       will see: those of the model whose earlier layers already hold\n"
    "                       their quantized weights (activations on their u8 grid), target\n"
    "                       W* = W + W(P - H~)(H~ + 0.01 mean(diag H~) I)^-1, P = sum x x~^T,\n"
    "                       bias shifted by W E[x] - W* E[x~]; a layer keeps W instead where\n"
    "                       the codes solved from it leave less held-out error |Wx - Qx~|.\n"
    "                       Two float passes over the calibration samples side by side (the\n"
    "                       float model and the quantized one, node by node, keeping the\n"
    "                       activations still needed for every sample) and each layer's\n"
    "                       solve twice more. auto (the default): on when a weight layer is\n"
    "                       below 8 bits and those activations fit in 4 GiB; on: up to\n"
    "                       16 GiB (EfficientNet-Lite1, 200 images: s4:g32 87.38 -> 88.25 %;\n"
    "                       s8 89.38 -> 89.50 % for 4x the time)\n"
    "  --equalize on|off    cross-layer equalization first (default off): Conv -> ReLU/identity\n"
    "                       (-> pools) -> Conv pairs get per-channel scales that even out the\n"
    "                       two layers' channel ranges without changing the float model;\n"
    "                       ReLU6 pairs are left alone (the scale would change the model)\n"
    "  --io float|quantized the model's float inputs and outputs (default float): quantized\n"
    "                       drops the QUANTIZE after each input and the DEQUANTIZE before each\n"
    "                       output (and keeps the output layer in codes: --output-layer\n"
    "                       quantized), so they are the u8 / s8 codes with a scale and zero point\n"
    "                       (x = s * (q - z); `fgq inspect` shows them; TFLite's int8 input /\n"
    "                       output type): no float work at the edges on a microcontroller.\n"
    "                       `fgq run` and `fgq eval` quantize float data for such inputs as the\n"
    "                       dropped QUANTIZE did (the outputs of the float-I/O model made with\n"
    "                       --output-layer quantized, bit for bit; --raw feeds codes)\n"
    "                       and `fgq eval` dequantizes the outputs. An input a float node reads,\n"
    "                       or an output a float op makes, stays float (said on stderr).\n"
    "                       u8 or s8 activations\n"
    "  --output-layer float|quantized\n"
    "                       a weight layer whose output reaches only the graph's outputs\n"
    "                       (directly or through Softmax, LogSoftmax or layout moves; a\n"
    "                       classifier's logits): float (the default with --io float) hands back\n"
    "                       float from its int32 accumulator, (float)acc * s_x * s_w + bias\n"
    "                       (QGEMM_DYN / QCONV_DYN with the input's scale as a constant), instead\n"
    "                       of rounding it to the output's grid that the DEQUANTIZE then reads:\n"
    "                       no clipped or tied scores (EfficientNet-Lite2 s8, 800 ImageNet\n"
    "                       images: 6 top-1 ties at a 0.065 step, 89.62 -> 89.75 %; ResNet-8\n"
    "                       output SQNR s8 27.19 -> 27.51 dB, top-1 within noise; u4\n"
    "                       activations: Fashion-MNIST s8 87.24 -> 89.74 %). quantized:\n"
    "                       that layer writes codes like the others (what --io quantized\n"
    "                       implies). A layer at policy u8 (CONV_INT / MATMUL_INT) always writes\n"
    "                       codes; under --acts dynamic every weight layer hands back float\n"
    "                       (the flag is refused there)\n"
    "  --budget BITS        per-layer precision: each weight layer gets the candidate policy\n"
    "                       that loses the least, the mean bits per weight (codes, group\n"
    "                       multipliers and row scales of every quantized weight layer)\n"
    "                       staying <= BITS. The loss of a layer at a policy is the noise it\n"
    "                       adds at the model's output: its own output error (from H, on\n"
    "                       held-out samples where gptq has them) times its measured gain to\n"
    "                       output 0 (the layer alone quantized, on up to 64 calibration\n"
    "                       samples; see --budget-metric). --weights is then optional; the first\n"
    "                       and last layers are searched too unless --first-last is given\n"
    "  --size BYTES         the same with a total of quantized weight bytes\n"
    "  --candidates LIST    the policies a budget chooses from (default ternary:g4:exact,\n"
    "                       ternary:g16:exact, ternary:g64:exact, the three :asym, s2:g16,\n"
    "                       s2:g64, s3, s3:g32, s3:g64, s4, s4:g32, s4:g64, s4:g128, s8)\n"
    "  --budget-metric auto|mse|kl\n"
    "                       the output noise a budget weighs: mse, the relative squared error\n"
    "                       of output 0; kl, KL(softmax(y) || softmax(y_q)) per sample, for\n"
    "                       class scores (it ignores shifts common to every class and weighs\n"
    "                       the likely classes most). auto (the default): kl when output 0\n"
    "                       comes from Softmax/LogSoftmax or is one vector of C >= 2 scores\n"
    "                       not the size of a model input (an autoencoder's), else mse\n"
    "  --keep-float NODE    run that node in float (repeatable)\n"
    "  --layer NODE=POLICY  weight policy of one layer (repeatable; wins over the rest)\n"
    "  --scale S, --mean M, --std S   x = (x*S - M) / S' as in `fgq eval` (float inputs)\n"
    "  --measure-samples N|all\n"
    "                       the per-layer act SQNR column runs the float and the quantized\n"
    "                       model over N calibration samples, evenly spaced (default 64;\n"
    "                       all: every one; 0: no measuring pass, the column is omitted)\n"
    "  --json               print {\"model\", \"output\", \"weights\", \"acts\", \"observer\",\n"
    "                       \"samples\", [\"quantized_io\": {\"inputs\", \"outputs\",\n"
    "                       \"kept_float\"},] [\"sequential_s\", \"sequential_layers\",\n"
    "                       \"sequential_plain\" (layers that kept W), \"sequential_bytes\",]\n"
    "                       \"time_s\": {\"float_pass\", \"budget\",\n"
    "                       \"sequential\", \"quantize\", \"measure\", \"total\"} (wall seconds),\n"
    "                       \"layers\": [{\"name\", \"op\", \"policy\", \"quantized\",\n"
    "                       \"weight_sqnr_db\", \"act_sqnr_db\", \"bits\", \"solver\", \"solve_s\",\n"
    "                       \"clipped_channels\", \"out_sqnr_db\", \"heldout_sqnr_db\"}]}\n"
    "                       (clipped: output channels the integer form cannot carry, also\n"
    "                       warned about on stderr; out: SQNR of the layer's output W x vs\n"
    "                       W_q x on the calibration inputs, from H; heldout: the same on\n"
    "                       every 4th calibration sample, of codes gptq solved without them,\n"
    "                       null where gptq did not search its damping)\n"
    "  -h, --help           this text\n";

static int parse_floats(const char *text, float *out, int32_t max, int32_t *n)
{
    *n = 0;
    const char *p = text;
    while (*p) {
        char *end = NULL;
        float v = strtof(p, &end);
        if (end == p || *n >= max || !isfinite(v))
            return 0;
        out[(*n)++] = v;
        if (*end == ',')
            end++;
        else if (*end != '\0')
            return 0;
        p = end;
    }
    return *n > 0;
}

typedef struct {
    fgq_progress bar;
} prog_ctx;

static void on_progress(void *user, int64_t done, int64_t total)
{
    (void)total;
    fgq_progress_update(&((prog_ctx *)user)->bar, done);
}

static void stage_begin(void *user, const char *stage, int64_t total)
{
    fgq_progress_begin(&((prog_ctx *)user)->bar, stage, total);
}

static void stage_end(void *user)
{
    fgq_progress_end(&((prog_ctx *)user)->bar);
}

int fgq_cmd_quantize(int argc, char **argv)
{
    const char *cmd = "quantize";
    if (fgq_cli_wants_help(argc, argv)) {
        fputs(k_usage, stdout);
        return FGQ_EXIT_OK;
    }
    const double t_start = fgq_now_seconds();
    const char *model = NULL, *out_path = NULL;
    int json = 0;
    int64_t measure_samples = FGQ_MEASURE_SAMPLES;
    fgq_preprocess pre;
    fgq_preprocess_default(&pre);
    fgq_quant_flags qf;
    fgq_error err;
    fgq_error_clear(&err);
    int rc = FGQ_EXIT_OK;
    if (!fgq_quant_flags_init(&qf, argc))
        return FGQ_EXIT_INTERNAL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) {
            json = 1;
            continue;
        }
        int took = fgq_quant_flags_take(&qf, cmd, argc, argv, &i, &rc);
        if (took < 0)
            goto out;
        if (took > 0)
            continue;
        static const char *const valued[] = {"-o", "--scale", "--mean", "--std", "--measure-samples"};
        int known = 0;
        for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++)
            known |= strcmp(a, valued[k]) == 0;
        if (!known) {
            if (a[0] == '-' && a[1] != '\0') {
                rc = fgq_cli_usage_error(cmd, "unknown option '%s'", a);
                goto out;
            }
            if (model != NULL) {
                rc = fgq_cli_usage_error(cmd, "unexpected argument '%s'", a);
                goto out;
            }
            model = a;
            continue;
        }
        if (i + 1 >= argc) {
            rc = fgq_cli_usage_error(cmd, "%s needs a value", a);
            goto out;
        }
        const char *v = argv[++i];
        int32_t n = 0;
        if (strcmp(a, "-o") == 0) {
            out_path = v;
        } else if (strcmp(a, "--measure-samples") == 0) {
            char *end = NULL;
            const int all = strcmp(v, "all") == 0;
            const long long m = all ? -1 : strtoll(v, &end, 10);
            if (!all && (end == v || *end != '\0' || m < 0)) {
                rc = fgq_cli_usage_error(cmd, "--measure-samples '%s' is not a count >= 0 or 'all'", v);
                goto out;
            }
            measure_samples = (int64_t)m;
        } else if (strcmp(a, "--scale") == 0) {
            if (!parse_floats(v, &pre.scale, 1, &n) || pre.scale == 0.0f) {
                rc = fgq_cli_usage_error(cmd, "--scale '%s' is not a non-zero number", v);
                goto out;
            }
        } else if (strcmp(a, "--mean") == 0) {
            if (!parse_floats(v, pre.mean, FGQ_PRE_MAX_CH, &pre.n_mean)) {
                rc = fgq_cli_usage_error(cmd, "--mean '%s' is not a list of numbers", v);
                goto out;
            }
        } else { /* --std */
            int ok = parse_floats(v, pre.std, FGQ_PRE_MAX_CH, &pre.n_std);
            for (int32_t c = 0; ok && c < pre.n_std; c++)
                ok = pre.std[c] != 0.0f;
            if (!ok) {
                rc = fgq_cli_usage_error(cmd, "--std '%s' is not a list of non-zero numbers", v);
                goto out;
            }
        }
    }
    if (model == NULL || out_path == NULL || (qf.weights == NULL && qf.budget == NULL && qf.size == NULL)) {
        rc = fgq_cli_usage_error(cmd, "MODEL, -o and --weights (or --budget / --size) are required");
        goto out;
    }
    if ((rc = fgq_cli_output_clashes(cmd, out_path, &model, 1)) != 0)
        goto out;
    for (int32_t c = 0; c < qf.n_calib; c++) { /* FILE, or NAME=FILE with NAME holding '=' or not: any tail */
        for (const char *f = qf.calib_all[c]; f != NULL; f = strchr(f, '=')) {
            f += *f == '=';
            if ((rc = fgq_cli_output_clashes(cmd, out_path, &f, 1)) != 0)
                goto out;
        }
    }
    fgq_quant_config cfg;
    fgq_budget budget;
    int has_budget = 0;
    if (fgq_quant_flags_config(&qf, &cfg, &err) != FGQ_OK ||
        fgq_quant_flags_budget(&qf, &has_budget, &budget, &err) != FGQ_OK) { /* before any work */
        rc = fgq_cli_report(cmd, &err);
        goto out;
    }
    const int dynamic = cfg.acts == FGQ_ACTS_DYNAMIC;
    if (qf.calib == NULL && (!dynamic || qf.calib_range != NULL)) {
        rc = fgq_cli_usage_error(cmd, dynamic ? "--calib-samples needs --calib"
                                              : "--calib is required (except with --acts dynamic)");
        goto out;
    }
    const char *range = qf.calib_range;

    fgq_graph *fg = NULL;
    fgq_calib_set cs;
    memset(&cs, 0, sizeof cs);
    fgq_quant_result res;
    memset(&res, 0, sizeof res);
    fgq_threadpool *pool = NULL; /* the solver's threads; the model's bytes do not depend on them */
    if (fgq_threadpool_default_threads() > 1 &&
        fgq_threadpool_create(fgq_threadpool_default_threads(), &pool, &err) == FGQ_OK)
        cfg.parallel = fgq_threadpool_parallel(pool);
    fgq_error_clear(&err);
    if (fgq_cli_load_onnx(model, 1, 1, &fg, &err) != FGQ_OK)
        goto fail;
    /* the preprocessing is stored in the model: it must fit the input even with no calibration data */
    if (fgq_quantize_check_input(fg, model, &pre, &err) != FGQ_OK)
        goto fail;
    prog_ctx pc;
    fgq_status st;
    if (fgq_calib_set_load(&cs, fg, qf.calib_all, qf.n_calib, range, &pre, &err) != FGQ_OK)
        goto fail;
    const int64_t n = cs.samples.n;
    fgq_stage_progress sp = {stage_begin, on_progress, stage_end, &pc};
    if (fgq_quant_pipeline(fg, &cs.samples, &cfg, has_budget ? &budget : NULL, fgq_threadpool_default_threads(),
                           measure_samples, &sp, &res, &err) != FGQ_OK)
        goto fail;
    const fgq_layer_report *layers = res.layers;
    const int32_t n_layers = res.n_layers;
    const fgq_budget_result *bres = &res.budget;
    fgq_model_preprocess meta;
    fgq_quantize_meta(&pre, &meta);
    /* the recipe: how the model was made, read back by `fgq inspect` and `fgq eval` */
    char *recipe = fgq_quantize_recipe(&qf, n, &res);
    if (recipe == NULL) {
        fgq_fail(&err, FGQ_ERR_NOMEM, "out of memory");
        goto fail;
    }
    st = fgq_write_model_file_recipe(res.qg, &meta, recipe, out_path, &err);
    free(recipe);
    if (st != FGQ_OK)
        goto fail;
    if (cfg.io_quantized && res.io.kept > 0) /* "input 'x' stays float: ...", a line each */
        for (const char *line = res.io.notes; *line != '\0';) {
            const char *end = strchr(line, '\n');
            const int len = end != NULL ? (int)(end - line) : (int)strlen(line);
            fprintf(stderr, "fgq quantize: --io quantized: %.*s\n", len, line);
            line += len + (end != NULL);
        }
    for (int32_t L = 0; L < n_layers; L++)
        if (layers[L].has_weights && layers[L].clipped_rows > 0)
            fprintf(stderr,
                    "fgq quantize: warning: layer '%s': %lld of its output channels do not fit the integer form "
                    "(the int32 bias saturates, or the requantization multiplier is below 2^-31): their outputs "
                    "are wrong. The layer's input range is degenerate: untrained weights, or calibration data "
                    "unlike real inputs\n",
                    layers[L].name, (long long)layers[L].clipped_rows);

    if (json) {
        fgq_json j;
        fgq_json_init(&j, stdout);
        fgq_json_begin_object(&j);
        fgq_json_kv_string(&j, "model", model);
        fgq_json_kv_string(&j, "output", out_path);
        fgq_json_kv_string(&j, "weights", qf.weights);
        fgq_json_kv_string(&j, "acts", qf.acts ? qf.acts : "u8");
        fgq_json_kv_string(&j, "observer", qf.observer ? qf.observer : "minmax");
        fgq_json_kv_int(&j, "samples", n);
        fgq_json_kv_int(&j, "measure_samples", res.measure_samples);
        if (cfg.io_quantized) {
            fgq_json_key(&j, "quantized_io");
            fgq_json_begin_object(&j);
            fgq_json_kv_int(&j, "inputs", res.io.inputs);
            fgq_json_kv_int(&j, "outputs", res.io.outputs);
            fgq_json_kv_int(&j, "kept_float", res.io.kept);
            fgq_json_end_object(&j);
        }
        if (res.has_sequential) {
            fgq_json_kv_double(&j, "sequential_s", res.sequential.seconds);
            fgq_json_kv_int(&j, "sequential_layers", res.sequential.n_layers);
            fgq_json_kv_int(&j, "sequential_plain", res.sequential.n_plain);
            fgq_json_kv_int(&j, "sequential_bytes", res.sequential.state_bytes);
        }
        fgq_json_key(&j, "time_s"); /* wall seconds per stage (the solver's share is each layer's "solve_s") */
        fgq_json_begin_object(&j);
        fgq_json_kv_double(&j, "float_pass", res.stats.seconds);
        fgq_json_kv_double(&j, "budget", res.budget_seconds);
        fgq_json_kv_double(&j, "sequential", res.has_sequential ? res.sequential.seconds : 0.0);
        fgq_json_kv_double(&j, "quantize", res.quantize_seconds);
        fgq_json_kv_double(&j, "measure", res.measure_seconds);
        fgq_json_kv_double(&j, "total", fgq_now_seconds() - t_start);
        fgq_json_end_object(&j);
        if (res.has_budget) {
            fgq_json_key(&j, "budget");
            fgq_json_begin_object(&j);
            fgq_json_kv_double(&j, "limit_bits", bres->limit_bits);
            fgq_json_kv_double(&j, "bits", bres->bits);
            fgq_json_kv_int(&j, "bytes", bres->bytes);
            fgq_json_kv_int(&j, "weights", bres->weights);
            fgq_json_kv_double(&j, "predicted_noise", bres->noise);
            fgq_json_kv_string(&j, "metric", fgq_budget_metric_name(bres->metric));
            fgq_json_key(&j, "layers");
            fgq_json_begin_array(&j);
            for (int32_t L = 0; L < bres->n_layers; L++) {
                const fgq_budget_layer *bl = &bres->layers[L];
                char pol[48];
                fgq_json_begin_object(&j);
                fgq_json_kv_string(&j, "name", bl->node);
                fgq_json_kv_bool(&j, "searched", bl->searched);
                if (bl->searched) {
                    fgq_policy_format(&budget.candidates[bl->choice], pol, sizeof pol);
                    fgq_json_kv_string(&j, "policy", pol);
                    fgq_json_kv_double(&j, "gain", bl->gain);
                }
                fgq_json_kv_int(&j, "bytes", bl->bytes[bl->searched ? bl->choice : 0]);
                fgq_json_kv_int(&j, "weights", bl->n_weights);
                fgq_json_end_object(&j);
            }
            fgq_json_end_array(&j);
            fgq_json_end_object(&j);
        }
        fgq_json_key(&j, "layers");
        fgq_json_begin_array(&j);
        for (int32_t L = 0; L < n_layers; L++) {
            const fgq_layer_report *r = &layers[L];
            fgq_json_begin_object(&j);
            fgq_json_kv_string(&j, "name", r->name);
            fgq_json_kv_string(&j, "op", r->op);
            fgq_json_kv_string(&j, "policy", r->policy);
            fgq_json_kv_bool(&j, "quantized", r->quantized);
            fgq_json_key(&j, "weight_sqnr_db");
            if (r->has_weights)
                fgq_json_double(&j, r->weight_sqnr_db);
            else
                fgq_json_null(&j);
            fgq_json_kv_double(&j, "act_sqnr_db", r->act_sqnr_db);
            fgq_json_kv_double(&j, "bits", r->bits);
            if (r->has_weights) {
                fgq_json_kv_string(&j, "solver", r->solver);
                fgq_json_kv_double(&j, "solve_s", r->solve_ms / 1e3);
                fgq_json_kv_int(&j, "clipped_channels", r->clipped_rows);
                fgq_json_kv_double(&j, "out_sqnr_db", r->out_sqnr_db);
                fgq_json_kv_double(&j, "heldout_sqnr_db", r->heldout_sqnr_db);
            }
            fgq_json_end_object(&j);
        }
        fgq_json_end_array(&j);
        fgq_json_end_object(&j);
        fgq_json_finish(&j);
    } else {
        if (dynamic)
            printf("%s -> %s: weights %s, activations dynamic (per inference), %lld measuring samples\n\n", model,
                   out_path, qf.weights ? qf.weights : "by --budget / --size", (long long)n);
        else
            printf("%s -> %s: weights %s, activations %s, observer %s, %lld calibration samples\n\n", model, out_path,
                   qf.weights ? qf.weights : "by --budget / --size", qf.acts ? qf.acts : "u8",
                   qf.observer ? qf.observer : "minmax", (long long)n);
        int wl = 24; /* as wide as the longest layer name (PyTorch names run long) */
        for (int32_t L = 0; L < n_layers; L++)
            wl = fgq_cli_width(wl, layers[L].name, 0);
        printf("%-*s %-18s %-18s %12s %12s %8s  %s\n", wl, "layer", "op", "weights", "w SQNR dB", "act SQNR dB", "bits",
               "solver");
        for (int32_t L = 0; L < n_layers; L++) {
            const fgq_layer_report *r = &layers[L];
            char ws[32] = "-", as[32] = "-";
            if (r->has_weights)
                snprintf(ws, sizeof ws, "%.2f", r->weight_sqnr_db);
            if (!isnan(r->act_sqnr_db))
                snprintf(as, sizeof as, "%.2f", r->act_sqnr_db);
            printf("%-*s %-18s %-18s %12s %12s %8.2f  %s\n", wl, r->name, r->quantized ? r->op : "(float)", r->policy,
                   ws, as, r->bits, r->has_weights ? r->solver : "");
        }
        if (res.has_budget)
            printf("\nbudget: %.3f bits per weight asked, %.3f used: %lld bytes of quantized weights for %lld "
                   "weights in %d layers (policy per layer above; output noise measured as %s)\n",
                   bres->limit_bits, bres->bits, (long long)bres->bytes, (long long)bres->weights, (int)bres->n_layers,
                   fgq_budget_metric_name(bres->metric));
        if (cfg.equalize)
            printf("\nequalization: %d Conv pairs rescaled\n", (int)res.equalized_pairs);
        if (cfg.io_quantized)
            printf("\nquantized I/O: %d input(s) and %d output(s) are u8 / s8 codes now, %d left float\n",
                   (int)res.io.inputs, (int)res.io.outputs, (int)res.io.kept);
        double solve = 0.0;
        for (int32_t L = 0; L < n_layers; L++)
            solve += layers[L].has_weights ? layers[L].solve_ms / 1e3 : 0.0;
        printf("\ntime: float pass (calibration%s%s) %.2f s, solver %.2f s", cfg.means ? ", bias means" : "",
               cfg.hessians ? ", statistics" : "", res.stats.seconds, solve);
        if (res.has_sequential)
            printf(", sequential statistics (%d layers, %d of them without the target, %.1f MiB of activations "
                   "kept) %.2f s",
                   (int)res.sequential.n_layers, (int)res.sequential.n_plain,
                   (double)res.sequential.state_bytes / (1 << 20),
                   res.sequential.seconds);
        if (res.has_budget)
            printf(", budget search %.2f s", res.budget_seconds);
        printf(", quantizing (solver included) %.2f s, measuring (%lld samples) %.2f s; total %.2f s\n",
               res.quantize_seconds, (long long)res.measure_samples, res.measure_seconds,
               fgq_now_seconds() - t_start);
        if (cfg.solver == FGQ_SOLVER_GPTQ && cfg.sequential == FGQ_SEQ_AUTO && n > 0 && !res.has_sequential) {
            if (!fgq_quant_below_8_bits(fg, &cfg))
                printf("sequential statistics: skipped (auto: no weight layer below 8 bits; --sequential on runs "
                       "them)\n");
            else
                printf("sequential statistics: skipped (auto: they would keep %.1f GiB of activations, over %.0f "
                       "GiB; --sequential on runs them up to %.0f GiB)\n",
                       (double)fgq_sequential_state_bytes(fg, n) / (1 << 30),
                       (double)FGQ_SEQUENTIAL_AUTO_BYTES / (1 << 30), (double)FGQ_SEQUENTIAL_MAX_BYTES / (1 << 30));
        }
    }
    goto done;
fail:
    rc = fgq_cli_report(cmd, &err);
done:
    fgq_quant_result_free(&res);
    fgq_graph_free(fg);
    fgq_threadpool_destroy(pool);
    fgq_calib_set_free(&cs);
out:
    fgq_quant_flags_free(&qf);
    return rc;
}
