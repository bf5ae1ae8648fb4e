/* ilwaco.h: the C half of Ilwaco, the Denali guest library OS (runtime, hypercalls, CPU primitives). */
#ifndef ILWACO_H
#define ILWACO_H

#include <stddef.h>
#include <stdint.h>

#include "denali/abi.h"
#include "denali/site_image.h"

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

/* ---- Memory functions (string.c) that guests may call directly ---- */

/** Compares `n` bytes: 0 when equal. */
int memcmp(const void *a, const void *b, size_t n);
/** The first `byte` in the `length` bytes at `data`, or null. One `repne scasb`: KVM's emulator counts it as
 *  one instruction and runs it about five times faster per byte than a byte loop (six instructions a byte). */
static inline const void *ilwaco_find_byte(const void *data, size_t length, uint8_t byte) {
  if (length == 0) return 0;
  const uint8_t *p = (const uint8_t *)data;
  __asm__ volatile("repne scasb" : "+D"(p), "+c"(length) : "a"(byte) : "cc", "memory");
  return p[-1] == byte ? p - 1 : 0; /* scasb stops just past the match, or past the last byte */
}

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

/** Issues hypercall `number` with a raw 32-bit struct address that is not checked in any way (evil guest). */
static inline void ilwaco_hypercall_raw(uint32_t number, uint32_t address) {
  __asm__ volatile("outl %0, %w1" : : "a"(address), "Nd"((uint16_t)(DENALI_HYPERCALL_PORT_BASE + number)) : "memory");
}

/** DENALI_HC_NOP: does nothing; returns ret (0). One OUT with an 8-byte struct on the stack. */
static inline int64_t ilwaco_hc_nop(void) {
  struct denali_hc_nop request = {0};
  ilwaco_hypercall(DENALI_HC_NOP, &request);
  return request.ret;
}

/** DENALI_HC_IDLE: waits up to `timeout_ns` (0 = yield, >= DENALI_IDLE_FOREVER = no timeout) or until an
 *  interrupt is pending; stores the delivered pending mask in *pending and returns ret (0). */
static inline int64_t ilwaco_hc_idle(uint64_t timeout_ns, uint64_t *pending) {
  struct denali_hc_idle request = {0, timeout_ns, 0};
  ilwaco_hypercall(DENALI_HC_IDLE, &request);
  *pending = request.pending;
  return request.ret;
}

/** DENALI_HC_DISK_INFO: stores the disk's size in blocks and its flags; returns ret (DENALI_ENODEV if no disk). */
static inline int64_t ilwaco_hc_disk_info(uint64_t *blocks, uint64_t *flags) {
  struct denali_hc_disk_info request = {0, 0, 0};
  ilwaco_hypercall(DENALI_HC_DISK_INFO, &request);
  *blocks = request.blocks;
  *flags = request.flags;
  return request.ret;
}

/** DENALI_HC_DISK_READ or DENALI_HC_DISK_WRITE (`number`) of `count` 4 KiB blocks from `block` to/from
 *  the guest-physical `buffer`: returns count or a negative DENALI_E* error. Nothing is checked here. */
static inline int64_t ilwaco_hc_disk_io(uint32_t number, uint64_t block, uint64_t count, uint64_t buffer) {
  struct denali_hc_disk_io request = {0, block, count, buffer};
  ilwaco_hypercall(number, &request);
  return request.ret;
}

/** DENALI_HC_NET_SEND of `length` bytes at `frame`: returns length, or DENALI_EAGAIN (transmit queue full),
 *  DENALI_EMSGSIZE, DENALI_EFAULT or DENALI_ENODEV. */
static inline int64_t ilwaco_hc_net_send(const void *frame, uint64_t length) {
  struct denali_hc_net_io request = {0, (uint64_t)(uintptr_t)frame, length};
  ilwaco_hypercall(DENALI_HC_NET_SEND, &request);
  return request.ret;
}

/** DENALI_HC_NET_RECV into `buffer` of `capacity` bytes: returns the frame's length, or DENALI_EAGAIN (nothing
 *  queued), DENALI_EMSGSIZE (the next frame is longer than capacity; it stays queued), DENALI_EFAULT, DENALI_ENODEV. */
static inline int64_t ilwaco_hc_net_recv(void *buffer, uint64_t capacity) {
  struct denali_hc_net_io request = {0, (uint64_t)(uintptr_t)buffer, capacity};
  ilwaco_hypercall(DENALI_HC_NET_RECV, &request);
  return request.ret;
}

/* ---- Internet checksum (net.c): ones'-complement sum of 16-bit words, in memory byte order ---- */

/** Adds `length` bytes at `data` to the running sum `sum` (start with 0; an odd length pads with a zero byte,
 *  so only the last piece of a message may be odd). Eight `adc` of 8 bytes per loop. */
uint64_t ilwaco_checksum_add(const void *data, size_t length, uint64_t sum);
/** Folds a running sum to 16 bits and complements it: the value to store (in memory order) in a checksum field.
 *  A message whose stored checksum is right sums to 0 here. */
uint16_t ilwaco_checksum_finish(uint64_t sum);

/* ---- HTTP (http.c) ---- */

/** Decodes the path of a request target: `src` holds the `length` bytes after its leading '/' (up to the space
 *  before the version). Writes '/' and the path to `dst` (room for length + 1 bytes): percent-decoded, the
 *  query dropped, empty segments merged. Returns the path's length, or -1 if a byte is not allowed (below 0x21,
 *  above 0x7e, '#' or '\\'), an escape is malformed or decodes to a control byte or '\\', or a segment is "."
 *  or "..". About nine guest instructions per ordinary byte. */
long ilwaco_http_decode_path(const uint8_t *src, size_t length, uint8_t *dst);

/* ---- Virtual registers: host-written page at DENALI_GPA_VREGS, refreshed on every entry into the guest ---- */
/* Every read is volatile: the host changes the page behind the compiler's back during any hypercall. */

/** The virtual-registers page (identity-mapped guest-physical address). */
static inline const volatile struct denali_vregs *ilwaco_vregs(void) {
  return (const volatile struct denali_vregs *)(uintptr_t)DENALI_GPA_VREGS;
}
/** denali_vregs.magic (DENALI_VREGS_MAGIC when the host provides the page). */
static inline uint32_t ilwaco_vregs_magic(void) { return ilwaco_vregs()->magic; }
/** denali_vregs.abi_version. */
static inline uint32_t ilwaco_vregs_abi_version(void) { return ilwaco_vregs()->abi_version; }
/** Nanoseconds since the VM was created, as of the last entry into the guest. */
static inline uint64_t ilwaco_vregs_monotonic_ns(void) { return ilwaco_vregs()->monotonic_ns; }
/** Nanoseconds since the Unix epoch (UTC), as of the last entry into the guest. */
static inline uint64_t ilwaco_vregs_wallclock_ns(void) { return ilwaco_vregs()->wallclock_ns; }
/** Bytes of guest memory. */
static inline uint64_t ilwaco_vregs_memory_size(void) { return ilwaco_vregs()->memory_size; }
/** The time-stamp counter's frequency in Hz (0 if unknown). */
static inline uint64_t ilwaco_vregs_tsc_frequency_hz(void) { return ilwaco_vregs()->tsc_frequency_hz; }
/** This VM's identifier, unique within the daemon. */
static inline uint64_t ilwaco_vregs_vm_id(void) { return ilwaco_vregs()->vm_id; }
/** DENALI_IRQ_* bits pending now (idle delivers and clears them). */
static inline uint64_t ilwaco_vregs_pending_interrupts(void) { return ilwaco_vregs()->pending_interrupts; }
/** 4 KiB blocks of the virtual disk (0 = no disk). */
static inline uint64_t ilwaco_vregs_disk_blocks(void) { return ilwaco_vregs()->disk_blocks; }
/** DENALI_DISK_* flags of the virtual disk. */
static inline uint64_t ilwaco_vregs_disk_flags(void) { return ilwaco_vregs()->disk_flags; }
/** The NIC's MAC address, byte 0 in bits 0-7 ... byte 5 in bits 40-47. */
static inline uint64_t ilwaco_vregs_mac(void) {
  uint64_t mac = 0;
  for (unsigned i = 0; i < 6; i++) mac |= (uint64_t)ilwaco_vregs()->mac[i] << (8 * i);
  return mac;
}

/** DENALI_NET_* flags (DENALI_NET_PRESENT: the VM has a NIC and the fields below are valid). */
static inline uint32_t ilwaco_vregs_net_flags(void) { return ilwaco_vregs()->net_flags; }
/** The MAC address as its six bytes in memory order loaded little-endian (byte 0 in bits 0-7). */
static inline uint64_t ilwaco_vregs_mac_raw(void) { return ilwaco_vregs_mac(); }
/** The VM's IPv4 address as a number (a.b.c.d = 0xaabbccdd). */
static inline uint32_t ilwaco_vregs_ipv4_address(void) {
  const volatile uint8_t *a = ilwaco_vregs()->ipv4_address;
  return (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
}
/** The subnet mask as a number. */
static inline uint32_t ilwaco_vregs_ipv4_netmask(void) {
  const volatile uint8_t *a = ilwaco_vregs()->ipv4_netmask;
  return (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
}
/** The default gateway as a number (0: none). */
static inline uint32_t ilwaco_vregs_ipv4_gateway(void) {
  const volatile uint8_t *a = ilwaco_vregs()->ipv4_gateway;
  return (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
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
/** Reads model-specific register `msr` (an invalid MSR raises #GP). */
static inline uint64_t ilwaco_cpu_rdmsr(uint32_t msr) {
  uint32_t low, high;
  __asm__ volatile("rdmsr" : "=a"(low), "=d"(high) : "c"(msr) : "memory");
  return ((uint64_t)high << 32) | low;
}
/** Reads CR3 (the page-table root). */
static inline uint64_t ilwaco_cpu_read_cr3(void) {
  uint64_t value;
  __asm__ volatile("mov %%cr3, %0" : "=r"(value) : : "memory");
  return value;
}
/** Writes CR3, which also flushes the TLB (write back the value read to flush only). */
static inline void ilwaco_cpu_write_cr3(uint64_t value) { __asm__ volatile("mov %0, %%cr3" : : "r"(value) : "memory"); }
/** One 1-byte OUT of `value` to `port`. */
static inline void ilwaco_cpu_out8(uint16_t port, uint8_t value) {
  __asm__ volatile("outb %0, %w1" : : "a"(value), "Nd"(port) : "memory");
}
/** One 2-byte OUT of `value` to `port`. */
static inline void ilwaco_cpu_out16(uint16_t port, uint16_t value) {
  __asm__ volatile("outw %0, %w1" : : "a"(value), "Nd"(port) : "memory");
}
/** One 4-byte OUT of `value` to `port`. */
static inline void ilwaco_cpu_out32(uint16_t port, uint32_t value) {
  __asm__ volatile("outl %0, %w1" : : "a"(value), "Nd"(port) : "memory");
}
/** One 4-byte IN from `port`. */
static inline uint32_t ilwaco_cpu_in32(uint16_t port) {
  uint32_t value;
  __asm__ volatile("inl %w1, %0" : "=a"(value) : "Nd"(port) : "memory");
  return value;
}
/** Executes `xorps xmm0, xmm0` (CR4.OSFXSR is clear: #UD architecturally; KVM's emulator may fail instead).
 *  The bytes (xorps; ret) live in .rodata and are called there: guest memory is all executable, and the
 *  build's no-SSE check, which disassembles executable sections only, keeps guarding all real code. */
static inline void ilwaco_cpu_sse_xorps(void) {
  __asm__ volatile(".pushsection .rodata.ilwaco_sse_xorps, \"a\"\n"
                   "1: .byte 0x0f, 0x57, 0xc0, 0xc3\n"
                   ".popsection\n"
                   "call 1b" ::: "memory");
}
/** Loads the 64-bit value at guest address `address` with one volatile read (may page-fault). */
static inline uint64_t ilwaco_cpu_load64(uint64_t address) {
  uint64_t value;
  __asm__ volatile("movq (%1), %0" : "=r"(value) : "r"(address) : "memory");
  return value;
}
/** Stores `value` at guest address `address` with one volatile 64-bit write (may page-fault). */
static inline void ilwaco_cpu_store64(uint64_t address, uint64_t value) {
  __asm__ volatile("movq %1, (%0)" ::"r"(address), "r"(value) : "memory");
}

/** Fills `words` 64-bit words at guest address `address` with `value` (one rep stosq). */
static inline void ilwaco_memory_fill64(uint64_t address, uint64_t value, uint64_t words) {
  __asm__ volatile("rep stosq" : "+D"(address), "+c"(words) : "a"(value) : "memory");
}
/** Returns the number of 64-bit words from `address` (at most `words`) equal to `value` before the first
 *  that differs (one repe scasq); `words` when all match. */
static inline uint64_t ilwaco_memory_match64(uint64_t address, uint64_t value, uint64_t words) {
  uint64_t remaining = words;
  uint8_t equal;
  if (words == 0) return 0;
  __asm__ volatile("repe scasq\n\tsete %2" : "+D"(address), "+c"(remaining), "=q"(equal) : "a"(value) : "memory", "cc");
  return equal ? words : words - remaining - 1;
}

/* ---- System instructions (the evil guest's attacks on KVM; the cpu-state guest's state) ---- */

/** Executes Intel's `vmcall` (not a Denali hypercall). */
static inline void ilwaco_cpu_vmcall(void) { __asm__ volatile("vmcall" ::: "memory"); }
/** Executes AMD's `vmmcall` (not a Denali hypercall). */
static inline void ilwaco_cpu_vmmcall(void) { __asm__ volatile("vmmcall" ::: "memory"); }
/** Executes `lgdt` with its 10-byte operand (limit, base) read from guest address `operand`. */
static inline void ilwaco_cpu_lgdt_from(uint64_t operand) { __asm__ volatile("lgdt (%0)" ::"r"(operand) : "memory"); }
/** Executes `lidt` with its 10-byte operand read from guest address `operand`. */
static inline void ilwaco_cpu_lidt_from(uint64_t operand) { __asm__ volatile("lidt (%0)" ::"r"(operand) : "memory"); }
/** Loads the GDT register with `base` and `limit`. */
static inline void ilwaco_cpu_lgdt(uint64_t base, uint16_t limit) {
  struct __attribute__((packed)) { uint16_t limit; uint64_t base; } gdtr = {limit, base};
  __asm__ volatile("lgdt %0" ::"m"(gdtr) : "memory");
}
/** Loads DS with `selector` (reads its descriptor from the GDT). */
static inline void ilwaco_cpu_load_ds(uint16_t selector) { __asm__ volatile("movw %0, %%ds" ::"r"(selector) : "memory"); }
/** Loads the task register with `selector` (reads its descriptor from the GDT). */
static inline void ilwaco_cpu_ltr(uint16_t selector) { __asm__ volatile("ltr %0" ::"r"(selector) : "memory"); }
/** Loads the LDT register with `selector` (reads its descriptor from the GDT). */
static inline void ilwaco_cpu_lldt(uint16_t selector) { __asm__ volatile("lldt %0" ::"r"(selector) : "memory"); }
/** `rep outsl`: `count` 4-byte OUTs to `port` of the words at `data` (string port I/O). */
static inline void ilwaco_cpu_rep_outs32(uint16_t port, const void *data, uint64_t count) {
  __asm__ volatile("rep outsl" : "+S"(data), "+c"(count) : "d"(port) : "memory");
}
/** `outsl` without a repeat prefix: one 4-byte OUT to `port` of the word at `data` (string port I/O). */
static inline void ilwaco_cpu_outs32(uint16_t port, const void *data) {
  __asm__ volatile("outsl" : "+S"(data) : "d"(port) : "memory");
}
/** `rep insl`: `count` 4-byte INs from `port` into `data` (string port I/O). */
static inline void ilwaco_cpu_rep_ins32(uint16_t port, void *data, uint64_t count) {
  __asm__ volatile("rep insl" : "+D"(data), "+c"(count) : "d"(port) : "memory");
}
/** A 4-byte `out` to `port` followed directly by `rep outsl` of `count` words at `data` on the same port: the
 *  pair the host cannot tell from a string OUT alone. */
static inline void ilwaco_cpu_out32_then_rep_outs32(uint16_t port, uint32_t value, const void *data, uint64_t count) {
  __asm__ volatile("outl %%eax, %%dx\n\trep outsl" : "+S"(data), "+c"(count) : "a"(value), "d"(port) : "memory");
}
/** Reads the time-stamp counter (`rdtsc`). */
static inline uint64_t ilwaco_cpu_rdtsc(void) {
  uint32_t low, high;
  __asm__ volatile("rdtsc" : "=a"(low), "=d"(high) : : "memory");
  return ((uint64_t)high << 32) | low;
}
/** Jumps to itself forever (`1: jmp 1b`): the registers never change, yet every instruction completes. */
static inline _Noreturn void ilwaco_cpu_jump_to_self(void) {
  __asm__ volatile("1: jmp 1b" ::: "memory");
  __builtin_unreachable();
}
/** Loads DS with `selector` forever (`1: mov ds; jmp 1b`): registers repeat, and every instruction completes. */
static inline _Noreturn void ilwaco_cpu_load_ds_forever(uint16_t selector) {
  __asm__ volatile("1: movw %0, %%ds\n\tjmp 1b" ::"r"(selector) : "memory");
  __builtin_unreachable();
}
/** Reads debug register DR`index` (0-3, 6, 7; any other index reads 0). */
static inline uint64_t ilwaco_cpu_read_dr(unsigned index) {
  uint64_t value = 0;
  switch (index) {
  case 0: __asm__ volatile("mov %%dr0, %0" : "=r"(value)); break;
  case 1: __asm__ volatile("mov %%dr1, %0" : "=r"(value)); break;
  case 2: __asm__ volatile("mov %%dr2, %0" : "=r"(value)); break;
  case 3: __asm__ volatile("mov %%dr3, %0" : "=r"(value)); break;
  case 6: __asm__ volatile("mov %%dr6, %0" : "=r"(value)); break;
  case 7: __asm__ volatile("mov %%dr7, %0" : "=r"(value)); break;
  default: break;
  }
  return value;
}
/** Writes debug register DR`index` (0-3, 6, 7; any other index is ignored). */
static inline void ilwaco_cpu_write_dr(unsigned index, uint64_t value) {
  switch (index) {
  case 0: __asm__ volatile("mov %0, %%dr0" ::"r"(value)); break;
  case 1: __asm__ volatile("mov %0, %%dr1" ::"r"(value)); break;
  case 2: __asm__ volatile("mov %0, %%dr2" ::"r"(value)); break;
  case 3: __asm__ volatile("mov %0, %%dr3" ::"r"(value)); break;
  case 6: __asm__ volatile("mov %0, %%dr6" ::"r"(value)); break;
  case 7: __asm__ volatile("mov %0, %%dr7" ::"r"(value)); break;
  default: break;
  }
}

/* ---- MSR probes (probe.c): rdmsr/wrmsr that survive a #GP (a temporary handler in IDT vector 13) ---- */

/** Reads MSR `msr` into *value; returns 0, or 13 when the CPU refused it with #GP (*value is then 0). */
int ilwaco_cpu_try_rdmsr(uint32_t msr, uint64_t *value);
/** Writes `value` to MSR `msr`; returns 0, or 13 when the CPU refused it with #GP. */
int ilwaco_cpu_try_wrmsr(uint32_t msr, uint64_t value);

#endif /* ILWACO_H */
