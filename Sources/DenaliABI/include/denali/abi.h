/* denali/abi.h: the guest ABI of Denali on KVM, shared by the host (denalid) and the guest library (Ilwaco). */
/* Its prose twin is Docs/ABI.md; change both together and bump DENALI_ABI_VERSION on any incompatible change. */
#ifndef DENALI_ABI_H
#define DENALI_ABI_H

#include <stdint.h>

/** Version of this ABI; the host writes it into the boot information. */
#define DENALI_ABI_VERSION 1u

/* ---- Guest-physical memory layout (identity-mapped, guest runs in 64-bit long mode at CPL 0) ---- */

/** Page 0 is never mapped, so a null dereference page-faults. */
#define DENALI_GPA_NULL_PAGE 0x0000ull
/** Host-built page tables: PML4, PDPT, PD (2 MiB pages) and a 4 KiB table for the first 2 MiB. */
#define DENALI_GPA_PML4 0x1000ull
#define DENALI_GPA_PDPT 0x2000ull
#define DENALI_GPA_PD 0x3000ull
#define DENALI_GPA_PT0 0x4000ull
/** Host-built GDT: null, unused, 64-bit code (selector 0x10), data (selector 0x18). */
#define DENALI_GPA_GDT 0x5000ull
/** Host-built IDT: vectors 0-31 point at the host's exception stubs, which report to DENALI_PORT_TRAP. */
#define DENALI_GPA_IDT 0x6000ull
/** Host-written exception stubs (code). */
#define DENALI_GPA_TRAP_STUBS 0x7000ull
/** Boot information page: struct denali_boot_info followed by the argument vector and strings. */
#define DENALI_GPA_BOOT_INFO 0x8000ull
/** Reserved for the virtual-registers page (a later ABI version). */
#define DENALI_GPA_VREGS 0x9000ull
/** Lowest guest-physical address a loadable ELF segment may occupy. */
#define DENALI_GPA_IMAGE_BASE 0x100000ull

/** Guest memory size bounds; the size must also be a multiple of DENALI_MEMORY_ALIGN. */
#define DENALI_MEMORY_MIN (2ull << 20)
#define DENALI_MEMORY_MAX (1ull << 30)
#define DENALI_MEMORY_ALIGN (2ull << 20)

/* ---- Initial vCPU state ----
 * RIP = ELF entry, RSP = memory size (top of memory, 16-byte aligned), RDI = DENALI_GPA_BOOT_INFO,
 * RFLAGS = 0x2 (interrupts off; there are none), CS = 0x10 (64-bit), DS/ES/SS/FS/GS = 0x18. */

/* ---- Hypercalls ----
 * A hypercall is one 32-bit OUT to port DENALI_HYPERCALL_PORT_BASE + number, whose value is the
 * guest-physical address of that hypercall's struct. Every struct starts with `ret` (OUT).
 * The host checks the struct and every pointer/length in it against guest memory before use.
 * If the struct itself is outside guest memory or misaligned, the VM is stopped (fault). Otherwise
 * errors come back in `ret` as a negative DENALI_E* value. */

/** First hypercall port. */
#define DENALI_HYPERCALL_PORT_BASE 0x500u
/** Number of hypercall ports reserved (numbers 0..DENALI_HYPERCALL_MAX-1). */
#define DENALI_HYPERCALL_MAX 0x40u
/** Port written by the host's exception stubs with the vector number (not a hypercall). */
#define DENALI_PORT_TRAP 0x5ffu

/** Hypercall numbers. */
#define DENALI_HC_CONSOLE_WRITE 1u
#define DENALI_HC_TERMINATE 2u

/** Error codes returned in `ret` (negative). */
#define DENALI_EOK 0
#define DENALI_EFAULT (-14) /* a pointer/length in the struct is outside guest memory or wraps */
#define DENALI_EINVAL (-22) /* an argument is out of range */
#define DENALI_ENOSYS (-38) /* unknown hypercall number */

/** Maximum bytes one console write may carry. */
#define DENALI_CONSOLE_WRITE_MAX 4096u

/** Console write: IN data/length; OUT ret = bytes written or a DENALI_E* error. */
struct denali_hc_console_write {
  int64_t ret;
  uint64_t data;
  uint64_t length;
};

/** Terminate: IN status (the VM's exit status, taken modulo 256). Never returns. */
struct denali_hc_terminate {
  int64_t ret;
  int64_t status;
};

/* ---- Boot information ---- */

/** Value of denali_boot_info.magic ("DNLI" little-endian). */
#define DENALI_BOOT_MAGIC 0x494c4e44u
/** Bytes available for argv pointers and strings after the boot info header. */
#define DENALI_BOOT_ARGS_MAX (4096u - 48u)

/** Boot information at DENALI_GPA_BOOT_INFO, written by the host before the first instruction. */
struct denali_boot_info {
  uint32_t magic;
  uint32_t abi_version;
  uint64_t memory_size; /* bytes of guest-physical memory, starting at 0 */
  uint64_t image_end;   /* first page-aligned address past the highest loaded segment: the heap may start here */
  uint32_t argc;        /* number of arguments (argv[0] is the first guest argument, not a program name) */
  uint32_t reserved;
  uint64_t argv;        /* gpa of argc+1 uint64 pointers (last is 0) to NUL-terminated strings */
  uint64_t reserved2;
};

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(sizeof(struct denali_hc_console_write) == 24, "console_write layout");
_Static_assert(sizeof(struct denali_hc_terminate) == 16, "terminate layout");
_Static_assert(sizeof(struct denali_boot_info) == 48, "boot_info layout");
#endif

#endif /* DENALI_ABI_H */
