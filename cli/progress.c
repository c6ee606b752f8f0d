/* progress.c — see progress.h. */
#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

double fgq_now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void fgq_progress_begin(fgq_progress *p, const char *label, int64_t total)
{
    p->label = label;
    p->total = total;
    p->enabled = isatty(STDERR_FILENO);
    p->started = fgq_now_seconds();
    p->last_draw = 0.0;
}

void fgq_progress_update(fgq_progress *p, int64_t done)
{
    if (!p->enabled)
        return;
    double now = fgq_now_seconds();
    if (now - p->last_draw < 0.1 && done < p->total)
        return;
    p->last_draw = now;
    double frac = p->total > 0 ? (double)done / (double)p->total : 1.0;
    int width = 30, filled = (int)(frac * width);
    double elapsed = now - p->started;
    double eta = frac > 0 ? elapsed * (1.0 - frac) / frac : 0.0;
    fprintf(stderr, "\r%s [", p->label);
    for (int i = 0; i < width; i++)
        fputc(i < filled ? '#' : '.', stderr);
    fprintf(stderr, "] %lld/%lld %.0fs eta %.0fs ", (long long)done, (long long)p->total, elapsed, eta);
    fflush(stderr);
}

void fgq_progress_end(fgq_progress *p)
{
    if (p->enabled)
        fputs("\r\033[K", stderr);
}
