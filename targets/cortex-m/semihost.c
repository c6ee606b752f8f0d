/* semihost.c — Arm semihosting calls (semihost.h). */
#include "semihost.h"

#include <stdarg.h>
#include <stdio.h>
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

void sh_printf(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
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
