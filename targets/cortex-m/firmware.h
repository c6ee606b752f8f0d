/* firmware.h — what startup.c offers the example firmware (main.c). */
#ifndef FGQ_FW_FIRMWARE_H
#define FGQ_FW_FIRMWARE_H

#include <stdint.h>

/* SysTick counting processor clocks from 0 (24-bit, wraps counted). Under
 * QEMU with -icount shift=0 one instruction is one nanosecond of virtual time,
 * so instructions = ticks * 1e9 / the board's processor clock. */
void fw_counter_start(void);
uint64_t fw_counter_ticks(void);
/* Stack high-water mark since reset, in bytes (the painted region), and the
 * stack's size. */
uint32_t fw_stack_used(void);
uint32_t fw_stack_size(void);
/* How often something asked for heap (_sbrk, always refused). */
uint32_t fw_heap_requests(void);

#endif /* FGQ_FW_FIRMWARE_H */
