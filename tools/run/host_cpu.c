/* host_cpu.c — the tile-state request that the freestanding runtime cannot make. */
#define _GNU_SOURCE /* syscall(2) */
#include "run/host_cpu.h"

#include "fgq_ops.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

uint32_t fgq_host_cpu_grants(void)
{
    const char *env = getenv("FGQ_AMX");
    if (env != NULL && (strcmp(env, "0") == 0 || strcmp(env, "off") == 0))
        return 0;
#if defined(__x86_64__) && defined(__linux__)
    if ((fgq_cpu_grantable() & FGQ_CPU_AMXINT8) == 0)
        return 0;
    /* <asm/prctl.h>'s ARCH_REQ_XCOMP_PERM and the XTILEDATA state component (Linux 5.16+;
     * spelled out for older headers). An older kernel answers EINVAL: no AMX. */
    enum { ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0)
        return FGQ_CPU_AMXINT8;
#endif
    return 0;
}
