/* semihost.c — Arm semihosting calls (semihost.h). */
#include "semihost.h"

#include <stdarg.h>
#include <string.h>

enum {
    SYS_OPEN = 0x01, SYS_CLOSE = 0x02, SYS_WRITE0 = 0x04, SYS_WRITE = 0x05, SYS_READ = 0x06,
    SYS_FLEN = 0x0c, SYS_GET_CMDLINE = 0x15, SYS_EXIT = 0x18, SYS_EXIT_EXTENDED = 0x20,
    ADP_STOPPED_APPLICATION_EXIT = 0x20026,
};

static int32_t sh_call(int32_t op, const void *arg)
{
    register int32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void sh_puts(const char *s)
{
    sh_call(SYS_WRITE0, s);
}

/* The conversions the firmware uses (%s, %d, %u, %ld, %lu, %%) into buf, truncated to cap - 1 bytes:
 * newlib's vsnprintf would link ~3 KB (its printf core, malloc for its buffers) into every firmware,
 * which the runtime built without messages does not otherwise need. */
static void format(char *buf, size_t cap, const char *fmt, va_list ap)
{
    size_t n = 0;
    for (const char *f = fmt; *f != '\0'; f++) {
        char num[12];
        const char *s = num;
        int len = 0;
        if (*f != '%' || f[1] == '\0') {
            num[0] = *f;
            len = 1;
        } else {
            const int is_long = f[1] == 'l';
            f += is_long ? 2 : 1;
            if (*f == 's') {
                s = va_arg(ap, const char *);
                len = (int)strlen(s);
            } else if (*f == 'd' || *f == 'u') {
                unsigned long v;
                int neg = 0;
                if (*f == 'd') {
                    const long x = is_long ? va_arg(ap, long) : va_arg(ap, int);
                    neg = x < 0;
                    v = neg ? 0ul - (unsigned long)x : (unsigned long)x;
                } else {
                    v = is_long ? va_arg(ap, unsigned long) : va_arg(ap, unsigned);
                }
                char *p = num + sizeof num;
                do {
                    *--p = (char)('0' + v % 10u);
                    v /= 10u;
                } while (v != 0);
                if (neg)
                    *--p = '-';
                s = p;
                len = (int)(num + sizeof num - p);
            } else { /* %% and anything else: the character itself */
                num[0] = *f;
                len = 1;
            }
        }
        for (int i = 0; i < len && n + 1 < cap; i++)
            buf[n++] = s[i];
    }
    buf[n] = '\0';
}

void sh_printf(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    format(buf, sizeof buf, fmt, ap);
    va_end(ap);
    sh_puts(buf);
}

int sh_cmdline(char *buf, uint32_t cap)
{
    uint32_t block[2] = { (uint32_t)(uintptr_t)buf, cap };
    return sh_call(SYS_GET_CMDLINE, block) == 0 ? 0 : -1;
}

int sh_open(const char *path, int mode)
{
    uint32_t block[3] = { (uint32_t)(uintptr_t)path, (uint32_t)mode, (uint32_t)strlen(path) };
    return sh_call(SYS_OPEN, block);
}

int32_t sh_read(int fd, void *buf, uint32_t n)
{
    uint32_t block[3] = { (uint32_t)fd, (uint32_t)(uintptr_t)buf, n };
    int32_t left = sh_call(SYS_READ, block); /* bytes NOT read */
    return left < 0 || (uint32_t)left > n ? -1 : (int32_t)(n - (uint32_t)left);
}

int32_t sh_write(int fd, const void *buf, uint32_t n)
{
    uint32_t block[3] = { (uint32_t)fd, (uint32_t)(uintptr_t)buf, n };
    int32_t left = sh_call(SYS_WRITE, block);
    return left == 0 ? (int32_t)n : -1;
}

int32_t sh_flen(int fd)
{
    uint32_t block[1] = { (uint32_t)fd };
    return sh_call(SYS_FLEN, block);
}

void sh_close(int fd)
{
    uint32_t block[1] = { (uint32_t)fd };
    sh_call(SYS_CLOSE, block);
}

void sh_exit(int code)
{
    /* SYS_EXIT_EXTENDED carries the status; QEMU exits with it. */
    uint32_t block[2] = { ADP_STOPPED_APPLICATION_EXIT, (uint32_t)code };
    sh_call(SYS_EXIT_EXTENDED, block);
    sh_call(SYS_EXIT, (const void *)(uintptr_t)ADP_STOPPED_APPLICATION_EXIT); /* older hosts */
    for (;;) {
    }
}

const char *sh_u64(uint64_t v, char *buf)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0);
    for (int i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    buf[n] = '\0';
    return buf;
}
