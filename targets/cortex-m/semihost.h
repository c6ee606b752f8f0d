/*
 * semihost.h — Arm semihosting calls (the debugger/emulator services a
 * bare-metal program reaches through `bkpt 0xab`): console output, host files,
 * the command line and the exit status. QEMU serves them with
 * -semihosting-config enable=on,target=native. No state, no heap.
 */
#ifndef FGQ_FW_SEMIHOST_H
#define FGQ_FW_SEMIHOST_H

#include <stddef.h>
#include <stdint.h>

void sh_puts(const char *s);                           /* to the host's stdout */
/* printf to the host's stdout, up to 255 bytes; conversions %s, %d, %u, %ld, %lu and %% only. */
void sh_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* v in decimal into buf (at least 21 bytes), for sh_printf's %s (it has no %llu); returns buf. */
const char *sh_u64(uint64_t v, char *buf);
/* The command line QEMU was given with -semihosting-config ...,arg=...; 0 on success. */
int sh_cmdline(char *buf, uint32_t cap);
/* Host file: mode 0 "rb", 4 "wb"; the handle, or -1. */
int sh_open(const char *path, int mode);
/* Bytes read / written; -1 on failure. */
int32_t sh_read(int fd, void *buf, uint32_t n);
int32_t sh_write(int fd, const void *buf, uint32_t n);
int32_t sh_flen(int fd);
void sh_close(int fd);
/* Ends the emulation with `code` as QEMU's exit status. */
void sh_exit(int code) __attribute__((noreturn));

#endif /* FGQ_FW_SEMIHOST_H */
