/* host_cpu.h — what the host process makes usable for the runtime's kernels
 * beyond what the runtime finds itself (fgq_ops.h, FGQ_CPU_AMXINT8). */
#ifndef FGQ_HOST_CPU_H
#define FGQ_HOST_CPU_H

#include <stdint.h>

/* On x86-64 Linux, where the CPU has AMX (fgq_cpu_grantable): asks the kernel
 * for this process's tile state (arch_prctl ARCH_REQ_XCOMP_PERM, XTILEDATA)
 * and returns FGQ_CPU_AMXINT8 when it agreed; 0 when it refused (the VNNI
 * kernels run instead), elsewhere, or when the environment has FGQ_AMX=0 (to
 * measure the kernels without it). The request is idempotent and cheap: each
 * model load asks again (no process-wide state here). */
uint32_t fgq_host_cpu_grants(void);

#endif
