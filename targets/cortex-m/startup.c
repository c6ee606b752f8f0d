/*
 * startup.c — reset and exception entry for a Cortex-M firmware with no OS:
 * the vector table, copying .data from flash and zeroing .bss (the symbols
 * come from the linker script, board/<board>.ld), enabling the FPU, painting
 * the stack so its high-water mark can be measured, SysTick as an instruction
 * counter, and the few newlib hooks a freestanding program links against
 * (no heap: _sbrk refuses and counts the attempts).
 */
#include "firmware.h"
#include "semihost.h"

#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>

extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end;
extern uint32_t __stack_bottom, __stack_top;

int main(void);

#define STACK_PAINT 0xa5a5a5a5u

#define SCB_CPACR (*(volatile uint32_t *)0xe000ed88u)
#define SYST_CSR (*(volatile uint32_t *)0xe000e010u)
#define SYST_RVR (*(volatile uint32_t *)0xe000e014u)
#define SYST_CVR (*(volatile uint32_t *)0xe000e018u)

static volatile uint32_t g_systick_wraps; /* firmware state: one program, one core */
static volatile uint32_t g_sbrk_calls;

void Reset_Handler(void) __attribute__((noreturn));
void Default_Handler(void) __attribute__((noreturn));
void SysTick_Handler(void);

void Reset_Handler(void)
{
    uint32_t *src = &__data_load, *dst = &__data_start;
    while (dst < &__data_end)
        *dst++ = *src++;
    for (dst = &__bss_start; dst < &__bss_end;)
        *dst++ = 0;
#if defined(__ARM_FP)
    SCB_CPACR |= 0xfu << 20; /* CP10, CP11: full access to the FPU */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    /* Paint the stack below what this function uses. */
    uint32_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    for (volatile uint32_t *p = &__stack_bottom; (uintptr_t)p < sp - 64; p++)
        *p = STACK_PAINT;
    sh_exit(main());
}

void Default_Handler(void)
{
    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    sh_printf("fgq-fw: fault: exception %lu\n", (unsigned long)(ipsr & 0x1ffu));
    sh_exit(3);
}

void SysTick_Handler(void)
{
    g_systick_wraps = g_systick_wraps + 1;
}

__attribute__((section(".vectors"), used)) static void (*const g_vectors[16])(void) = {
    (void (*)(void))(uintptr_t)&__stack_top,
    Reset_Handler,
    Default_Handler, /* NMI */
    Default_Handler, /* HardFault */
    Default_Handler, /* MemManage */
    Default_Handler, /* BusFault */
    Default_Handler, /* UsageFault */
    Default_Handler, /* SecureFault (v8-M) */
    0, 0, 0,
    Default_Handler, /* SVCall */
    Default_Handler, /* DebugMonitor */
    0,
    Default_Handler, /* PendSV */
    SysTick_Handler,
};

void fw_counter_start(void)
{
    SYST_CSR = 0;
    g_systick_wraps = 0;
    SYST_RVR = 0x00ffffffu;
    SYST_CVR = 0;
    SYST_CSR = 7u; /* processor clock, interrupt on wrap, enabled */
}

uint64_t fw_counter_ticks(void)
{
    uint32_t w1, v, w2;
    do {
        w1 = g_systick_wraps;
        v = SYST_CVR;
        w2 = g_systick_wraps;
    } while (w1 != w2);
    return (uint64_t)w1 * 0x01000000u + (0x00ffffffu - v);
}

uint32_t fw_stack_used(void)
{
    const uint32_t *p = &__stack_bottom;
    while (p < &__stack_top && *p == STACK_PAINT)
        p++;
    return (uint32_t)((uintptr_t)&__stack_top - (uintptr_t)p);
}

uint32_t fw_stack_size(void)
{
    return (uint32_t)((uintptr_t)&__stack_top - (uintptr_t)&__stack_bottom);
}

uint32_t fw_heap_requests(void)
{
    return g_sbrk_calls;
}

/* newlib hooks: no heap, no files through stdio (semihost.h does I/O). */
void *_sbrk(ptrdiff_t incr);
void *_sbrk(ptrdiff_t incr)
{
    (void)incr;
    g_sbrk_calls = g_sbrk_calls + 1;
    errno = ENOMEM;
    return (void *)-1;
}
void _exit(int code) __attribute__((noreturn));
void _exit(int code)
{
    sh_exit(code);
}
int _close(int fd);
int _close(int fd)
{
    (void)fd;
    return -1;
}
int _fstat(int fd, struct stat *st);
int _fstat(int fd, struct stat *st)
{
    (void)fd;
    st->st_mode = S_IFCHR;
    return 0;
}
int _isatty(int fd);
int _isatty(int fd)
{
    (void)fd;
    return 1;
}
int _lseek(int fd, int off, int whence);
int _lseek(int fd, int off, int whence)
{
    (void)fd, (void)off, (void)whence;
    return -1;
}
int _read(int fd, char *buf, int n);
int _read(int fd, char *buf, int n)
{
    (void)fd, (void)buf, (void)n;
    return -1;
}
int _write(int fd, const char *buf, int n);
int _write(int fd, const char *buf, int n)
{
    (void)fd;
    return sh_write(1, buf, (uint32_t)n) < 0 ? -1 : n;
}
int _kill(int pid, int sig);
int _kill(int pid, int sig)
{
    (void)pid, (void)sig;
    return -1;
}
int _getpid(void);
int _getpid(void)
{
    return 1;
}
