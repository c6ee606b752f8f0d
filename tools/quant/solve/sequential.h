/*
 * sequential.h — the solver's statistics taken from the quantized prefix,
 * with output-matching targets (DESIGN §3 "Error compensation"; the GPTQ
 * paper's sequential variant with the asymmetric target of GPTAQ, Li et al.
 * 2025).
 *
 * Plain GPTQ fits each layer to its float weights on the float model's
 * inputs X: it minimises ‖W·X − Q·X‖. The layer will see X̃, the inputs the
 * already-quantized layers before it produce, so this fits
 *     ‖W·X − Q·X̃‖²   (match the float layer's output on what it will see)
 * which splits, exactly, into ‖W·X − W*·X̃‖² + ‖(W* − Q)·X̃‖² for
 *     W* = W + W·(P − H̃)·(H̃ + δI)⁻¹,  H̃ = Σ x̃·x̃ᵀ,  P = Σ x·x̃ᵀ
 * (δ = 0.01·mean(diag H̃) keeps it defined; the correction vanishes when
 * x̃ = x). The layer's target becomes W* and GPTQ fits Q to it with H̃. The
 * bias absorbs the mean output shift: b* = b + W·E[x] − W*·E[x̃] (layers
 * with a bias input; bias correction then uses E[x̃]).
 *
 * Layers are processed in node (topological) order, in one sweep over the
 * graph: two copies of the model run side by side over all calibration
 * samples, the float one and one whose processed layers hold the weights
 * (and corrected biases) the quantized model will have, dequantized (solved
 * from W*, b* and H̃ as the final quantization solves them). Each runs the
 * nodes up to the producer of layer i's input once (fgq_graph_segment), the
 * activations still needed later kept for every sample (at most
 * FGQ_SEQUENTIAL_MAX_BYTES, else FGQ_ERR_NOMEM naming the figure); then H̃ (fit /
 * held-out split as hessian.h), P, E[x] and E[x̃] are gathered from the kept
 * input of layer i, and W*, b* replace W, b in fg. With static
 * activations the quantized side rounds and clips every activation it
 * computes to its calibrated scale and zero point (as the integer model
 * will: fake quantization, node by node), so X̃ is what the layer will
 * see. The target is kept only where it pays: each layer is solved from W*
 * and from W (both on H̃), and the codes with the smaller ‖W·x − Q·x̃‖² on
 * the held-out samples (every FGQ_HESSIAN_VAL_EVERY-th) decide; a layer
 * that keeps W takes its float bias too. Cost: two float passes over the
 * samples, and each layer's solve two or three times more.
 */
#ifndef FGQ_TOOLS_QUANT_SEQUENTIAL_H
#define FGQ_TOOLS_QUANT_SEQUENTIAL_H

#include "quant/quantize.h"

typedef struct {
    int32_t tensor;
    void *data; /* fg's own data for that tensor, put back by fgq_sequential_restore */
} fgq_sequential_saved;

typedef struct {
    fgq_hessians hessians;   /* H̃ per processed layer */
    fgq_input_means means;   /* E[x̃] per input tensor of a processed layer */
    fgq_sequential_saved *saved;
    int32_t n_saved;
    int32_t n_layers;        /* layers processed */
    int32_t n_plain;         /* of those, layers whose target did not pay on held-out samples: W kept */
    int64_t state_bytes;     /* fgq_sequential_state_bytes of the pass */
    double seconds;          /* wall time, set by the caller that timed it (pipeline.c) */
} fgq_sequential;

/* Bytes of activations the pass keeps at once: the node outputs alive while
 * a node runs (its inputs and outputs included), both models, n samples
 * (graph inputs are the caller's; the pass holds a segment's inputs until
 * its last node has run, so it may keep a little more), and
 * the limits: FGQ_SEQ_AUTO runs the pass up to the first, FGQ_SEQ_ON up to
 * the second. INT64_MAX on OOM. */
#define FGQ_SEQUENTIAL_AUTO_BYTES ((int64_t)4 << 30)
#define FGQ_SEQUENTIAL_MAX_BYTES ((int64_t)16 << 30)
int64_t fgq_sequential_state_bytes(const fgq_graph *fg, int64_t n);

/* fg: the float graph, changed in place: each processed
 * layer's weight (and bias) tensor holds W* (b*) until
 * fgq_sequential_restore. calib: activation statistics of fg (NULL with
 * dynamic activations: the quantized side's activations stay float);
 * cfg: the quantization asked for, cfg->hessians and
 * cfg->means the float statistics (may be NULL; used for layers this pass
 * leaves out: u8, too large to track, weights or bias shared with another
 * node); samples: bound to fg (run_graph.h). progress may be NULL (one
 * stage, total n·layers). threads: per inference. */
fgq_status fgq_sequential_run(fgq_graph *fg, const fgq_calib *calib, const fgq_quant_config *cfg,
                              const fgq_samples *samples, int32_t threads, const fgq_stage_progress *progress,
                              fgq_sequential *out, fgq_error *err);
/* The statistics a quantization reads after (or during) the pass, as
 * pointer views into s and the float ones (no ownership): per layer s's H̃,
 * else float_h's; per tensor s's E[x̃], else float_m's (either may be
 * NULL). h->layer and m->mean are the caller's arrays of h->n_nodes and
 * m->n_tensors entries. */
void fgq_sequential_view(const fgq_sequential *s, const fgq_hessians *float_h, const fgq_input_means *float_m,
                         fgq_hessians *h, fgq_input_means *m);
/* Puts fg's float weights and biases back (W*, b* freed). */
void fgq_sequential_restore(fgq_sequential *s, fgq_graph *fg);
void fgq_sequential_free(fgq_sequential *s);

#endif /* FGQ_TOOLS_QUANT_SEQUENTIAL_H */
