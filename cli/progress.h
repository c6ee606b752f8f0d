/*
 * progress.h — a one-line progress indicator on stderr for long work
 * (evaluation, calibration). Draws only when stderr is a terminal, at most
 * ~10 times a second, so logs and pipes stay clean.
 */
#ifndef FGQ_PROGRESS_H
#define FGQ_PROGRESS_H

#include <stdint.h>

typedef struct {
    const char *label;
    int64_t total;
    int enabled;
    double started, last_draw;
} fgq_progress;

void fgq_progress_begin(fgq_progress *p, const char *label, int64_t total);
void fgq_progress_update(fgq_progress *p, int64_t done);
void fgq_progress_end(fgq_progress *p);

/* Seconds on a monotonic clock. */
double fgq_now_seconds(void);

#endif /* FGQ_PROGRESS_H */
