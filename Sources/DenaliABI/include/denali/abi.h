/* denali/abi.h: the guest ABI of Denali on KVM, shared by the host (denalid) and the guest library (Ilwaco). */
/* Its prose twin is Docs/ABI.md; change both together and bump DENALI_ABI_VERSION on any incompatible change. */
#ifndef DENALI_ABI_H
#define DENALI_ABI_H

#include <stdint.h>

/** Version of this ABI; the host writes it into the boot information. */
#define DENALI_ABI_VERSION 3u

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
/** Virtual-registers page: struct denali_vregs, written by the host, read by the guest without a trap. */
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
#define DENALI_HC_NOP 0u           /* struct denali_hc_nop: does nothing (the null hypercall) */
#define DENALI_HC_CONSOLE_WRITE 1u /* struct denali_hc_console_write */
#define DENALI_HC_TERMINATE 2u     /* struct denali_hc_terminate */
#define DENALI_HC_IDLE 3u          /* struct denali_hc_idle */
#define DENALI_HC_DISK_INFO 4u     /* struct denali_hc_disk_info */
#define DENALI_HC_DISK_READ 5u     /* struct denali_hc_disk_io */
#define DENALI_HC_DISK_WRITE 6u    /* struct denali_hc_disk_io */
#define DENALI_HC_NET_SEND 7u      /* struct denali_hc_net_io: send one Ethernet frame */
#define DENALI_HC_NET_RECV 8u      /* struct denali_hc_net_io: take one received Ethernet frame */

/** Error codes returned in `ret` (negative). */
#define DENALI_EOK 0
#define DENALI_EFAULT (-14) /* a pointer/length in the struct is outside guest memory or wraps */
#define DENALI_EINVAL (-22) /* an argument is out of range */
#define DENALI_ENOSYS (-38) /* unknown hypercall number */
#define DENALI_EIO (-5)     /* the host's backing store failed (for example a full host disk) */
#define DENALI_ENODEV (-19) /* the VM has no such device (no disk attached) */
#define DENALI_EROFS (-30)  /* write to a read-only disk */
#define DENALI_ERANGE (-34) /* block number or count outside the device */
#define DENALI_EAGAIN (-11) /* nothing to receive now, or the transmit queue is full (try again later) */
#define DENALI_EMSGSIZE (-90) /* a frame is shorter than an Ethernet header or longer than DENALI_NET_FRAME_MAX */

/** Maximum bytes one console write may carry. */
#define DENALI_CONSOLE_WRITE_MAX 4096u

/** Console write: IN data/length; OUT ret = bytes written or a DENALI_E* error. */
struct denali_hc_console_write {
  int64_t ret;
  uint64_t data;
  uint64_t length;
};

/** Nop: does nothing; ret = 0. Used to measure the cost of a hypercall round trip. */
struct denali_hc_nop {
  int64_t ret;
};

/** Terminate: IN status (the VM's exit status, taken modulo 256). Never returns. */
struct denali_hc_terminate {
  int64_t ret;
  int64_t status;
};

/** Idle with timeout: give up the CPU until timeout_ns passes or a virtual interrupt is pending.
 *  timeout_ns 0 = yield (return at once with whatever is pending, no timer bit);
 *  timeout_ns >= DENALI_IDLE_FOREVER = no timeout (wake only on an interrupt).
 *  OUT pending: the pending-interrupt mask, which is cleared as it is delivered; ret = 0. */
struct denali_hc_idle {
  int64_t ret;
  uint64_t timeout_ns;
  uint64_t pending;
};

/** Timeouts at or above this (about 292 years) mean "no timeout". */
#define DENALI_IDLE_FOREVER (1ull << 63)

/* ---- Virtual interrupts: bits of the pending mask (batched; no injection, no IDT needed) ---- */
/** An idle's timeout passed. */
#define DENALI_IRQ_TIMER (1ull << 0)
/** A disk request completed (reserved: disk requests complete synchronously in this version). */
#define DENALI_IRQ_DISK (1ull << 1)
/** A frame arrived in the NIC's empty receive queue (after a receive: more frames wait). */
#define DENALI_IRQ_NET_RX (1ull << 2)

/* ---- Virtual disk: fixed-size, 4 KiB blocks, synchronous ---- */
#define DENALI_DISK_BLOCK_SIZE 4096u
/** Most blocks one read or write may move. */
#define DENALI_DISK_IO_MAX_BLOCKS 64u
/** denali_hc_disk_info.flags: the disk is read-only. */
#define DENALI_DISK_READ_ONLY (1ull << 0)

/** Disk info: OUT blocks (0 = no disk, and ret = DENALI_ENODEV), flags. */
struct denali_hc_disk_info {
  int64_t ret;
  uint64_t blocks;
  uint64_t flags;
};

/** Disk read/write: IN block, count (1..DENALI_DISK_IO_MAX_BLOCKS), buffer (gpa of count*4096 bytes).
 *  OUT ret = count on success, or DENALI_ENODEV / DENALI_ERANGE / DENALI_EFAULT / DENALI_EROFS /
 *  DENALI_EINVAL (count 0 or too large) / DENALI_EIO. */
struct denali_hc_disk_io {
  int64_t ret;
  uint64_t block;
  uint64_t count;
  uint64_t buffer;
};

/* ---- Virtual NIC: Ethernet frames without the FCS; two virtual instructions, send and receive ---- */
/** Largest frame: 14-byte Ethernet header + 1500-byte payload (no VLAN tag, no FCS). */
#define DENALI_NET_FRAME_MAX 1514u
/** Smallest frame the switch accepts: an Ethernet header. */
#define DENALI_NET_FRAME_MIN 14u
/** denali_vregs.net_flags: the VM has a NIC (mac and ipv4 fields are valid). */
#define DENALI_NET_PRESENT (1u << 0)

/** Send: IN buffer (gpa), length (DENALI_NET_FRAME_MIN..DENALI_NET_FRAME_MAX). OUT ret = length when the
 *  switch took the frame (it may still drop it later, counted), DENALI_EAGAIN when this VM's transmit
 *  queue is full, DENALI_EMSGSIZE, DENALI_EFAULT, or DENALI_ENODEV without a NIC.
 *  Receive: IN buffer (gpa), length = the buffer's capacity. OUT ret = the frame's length, DENALI_EAGAIN
 *  when no frame is queued, DENALI_EMSGSIZE when the capacity is below the next frame's length (the frame
 *  stays queued), DENALI_EFAULT, or DENALI_ENODEV. A frame arriving in an empty queue raises
 *  DENALI_IRQ_NET_RX; after every successful receive the bit is set exactly when more frames wait (so a
 *  guest may drain the queue until pending_interrupts lacks it). Docs/ABI.md has the switch's rules. */
struct denali_hc_net_io {
  int64_t ret;
  uint64_t buffer;
  uint64_t length;
};

/* ---- Virtual registers (at DENALI_GPA_VREGS; host-written, refreshed on every entry into the guest) ---- */

/** Value of denali_vregs.magic ("VREG" little-endian). */
#define DENALI_VREGS_MAGIC 0x47455256u

/** The virtual-registers page. Times are refreshed whenever the VM is entered (after every hypercall). */
struct denali_vregs {
  uint32_t magic;
  uint32_t abi_version;
  uint64_t monotonic_ns;       /* nanoseconds since the VM was created, as of the last entry */
  uint64_t wallclock_ns;       /* nanoseconds since the Unix epoch (UTC), as of the last entry */
  uint64_t memory_size;        /* bytes of guest memory */
  uint64_t tsc_frequency_hz;   /* the CPU's time-stamp counter frequency (its speed); 0 if unknown */
  uint64_t vm_id;              /* this VM's identifier, unique within the daemon */
  uint64_t pending_interrupts; /* DENALI_IRQ_* bits pending now; idle delivers and clears them */
  uint64_t disk_blocks;        /* 4 KiB blocks of the virtual disk; 0 = no disk */
  uint64_t disk_flags;         /* DENALI_DISK_* flags */
  uint8_t mac[6];              /* the NIC's MAC address (zero without a NIC) */
  uint8_t reserved0[2];
  uint8_t ipv4_address[4];     /* the VM's IPv4 address, in network order (a.b.c.d = bytes 0..3) */
  uint8_t ipv4_netmask[4];     /* its subnet mask, in network order */
  uint8_t ipv4_gateway[4];     /* the default gateway (the uplink's host address), or zero */
  uint32_t net_flags;          /* DENALI_NET_* flags */
  uint64_t reserved[4];
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
  uint64_t random_seed; /* 64 random bits from the host, new for every VM: a per-VM secret (e.g. RFC 6528 ISNs) */
};

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(sizeof(struct denali_hc_console_write) == 24, "console_write layout");
_Static_assert(sizeof(struct denali_hc_terminate) == 16, "terminate layout");
_Static_assert(sizeof(struct denali_boot_info) == 48, "boot_info layout");
_Static_assert(sizeof(struct denali_hc_nop) == 8, "nop layout");
_Static_assert(sizeof(struct denali_hc_idle) == 24, "idle layout");
_Static_assert(sizeof(struct denali_hc_disk_info) == 24, "disk_info layout");
_Static_assert(sizeof(struct denali_hc_disk_io) == 32, "disk_io layout");
_Static_assert(sizeof(struct denali_vregs) == 128, "vregs layout");
_Static_assert(sizeof(struct denali_hc_net_io) == 24, "net_io layout");
#endif

#endif /* DENALI_ABI_H */
