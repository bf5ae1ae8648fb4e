/* ilwaco.h: the C half of Ilwaco, the Denali guest library OS (runtime, hypercalls, CPU primitives). */
#ifndef ILWACO_H
#define ILWACO_H

#include <stddef.h>
#include <stdint.h>

#include "denali/abi.h"

/* ---- Boot and exit (boot.c) ---- */

/** Boot information the host wrote at DENALI_GPA_BOOT_INFO; valid after ilwaco_start. */
const struct denali_boot_info *ilwaco_boot_info(void);
/** Called by _start with the boot info pointer: checks it and sets up the heap. */
void ilwaco_start(const struct denali_boot_info *boot_info);
/** Flushes the console and ends the VM with `status` (taken modulo 256 by the host). */
_Noreturn void ilwaco_terminate(int64_t status);

/* ---- Console (console.c): buffered, flushed on a trailing newline, when full, and at exit ---- */

/** Appends `length` bytes to the console buffer. */
void ilwaco_console_write(const void *data, size_t length);
/** Sends everything buffered to the host in one hypercall. */
void ilwaco_console_flush(void);

/* ---- Heap (heap.c): first-fit free list over [image_end, memory_size - ILWACO_STACK_SIZE) ---- */

/** Bytes reserved for the stack at the top of guest memory. */
#define ILWACO_STACK_SIZE (64u * 1024u)
/** Bytes currently free in the heap (sum of free blocks, including their headers). */
size_t ilwaco_heap_free_bytes(void);
/** Allocates `size` bytes aligned to `alignment` (a power of two); returns 0 or ENOMEM/EINVAL. */
int posix_memalign(void **result, size_t alignment, size_t size);
/** Allocates `size` bytes aligned to 16. */
void *malloc(size_t size);
/** Allocates `count * size` zeroed bytes aligned to 16. */
void *calloc(size_t count, size_t size);
/** Returns a block from posix_memalign, malloc or calloc to the heap (coalescing with free neighbours). */
void free(void *pointer);

/* ---- Hypercalls: one 32-bit OUT of the struct's guest-physical address ---- */

/** Issues hypercall `number` with `request`, which must live in guest memory (identity-mapped). */
static inline void ilwaco_hypercall(uint32_t number, void *request) {
  /* The host reads and writes *request during the OUT, so the compiler must not cache memory across it. */
  __asm__ volatile("outl %0, %w1"
                   :
                   : "a"((uint32_t)(uintptr_t)request), "Nd"((uint16_t)(DENALI_HYPERCALL_PORT_BASE + number))
                   : "memory");
}

/** DENALI_HC_CONSOLE_WRITE: returns bytes written or a negative DENALI_E* error. */
static inline int64_t ilwaco_hc_console_write(const void *data, uint64_t length) {
  struct denali_hc_console_write request = {0, (uint64_t)(uintptr_t)data, length};
  ilwaco_hypercall(DENALI_HC_CONSOLE_WRITE, &request);
  return request.ret;
}

/** DENALI_HC_TERMINATE: ends the VM; returns only if the host refused (and then never in practice). */
static inline int64_t ilwaco_hc_terminate(int64_t status) {
  struct denali_hc_terminate request = {0, status};
  ilwaco_hypercall(DENALI_HC_TERMINATE, &request);
  return request.ret;
}

/* ---- CPU primitives Swift cannot express (used by the fault guest and the runtime) ---- */

/** Halts the vCPU (interrupts are off, so the host sees a halt exit). */
static inline void ilwaco_cpu_halt(void) { __asm__ volatile("hlt" ::: "memory"); }
/** Executes ud2 (#UD, vector 6). */
static inline void ilwaco_cpu_ud2(void) { __asm__ volatile("ud2" ::: "memory"); }
/** Executes int3 (#BP, vector 3). */
static inline void ilwaco_cpu_int3(void) { __asm__ volatile("int3" ::: "memory"); }
/** Writes `value` to model-specific register `msr` (an invalid MSR raises #GP). */
static inline void ilwaco_cpu_wrmsr(uint32_t msr, uint64_t value) {
  __asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)value), "d"((uint32_t)(value >> 32)) : "memory");
}
/** Loads the IDT register with `base` and `limit`. */
static inline void ilwaco_cpu_lidt(uint64_t base, uint16_t limit) {
  struct __attribute__((packed)) { uint16_t limit; uint64_t base; } idtr = {limit, base};
  __asm__ volatile("lidt %0" ::"m"(idtr) : "memory");
}
/** Unsigned 64-bit `div` of `dividend` by `divisor` with no check (divisor 0 raises #DE, vector 0). */
static inline uint64_t ilwaco_cpu_div(uint64_t dividend, uint64_t divisor) {
  uint64_t quotient, remainder;
  __asm__ volatile("divq %4" : "=a"(quotient), "=d"(remainder) : "a"(dividend), "d"(0ull), "rm"(divisor) : "memory");
  return quotient;
}
/** Stores `value` at guest address `address` with one volatile 64-bit write (may page-fault). */
static inline void ilwaco_cpu_store64(uint64_t address, uint64_t value) {
  __asm__ volatile("movq %1, (%0)" ::"r"(address), "r"(value) : "memory");
}

#endif /* ILWACO_H */
