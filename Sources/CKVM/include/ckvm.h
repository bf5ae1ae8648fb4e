/* ckvm.h: non-variadic wrappers and plain constants over linux/kvm.h, importable from Swift. */
#ifndef CKVM_H
#define CKVM_H

#include <linux/kvm.h>
#include <stdint.h>
#include <stddef.h>

/* ioctl request numbers are function-like macros in linux/kvm.h; Swift sees these constants instead. */
static const unsigned long CKVM_GET_API_VERSION = KVM_GET_API_VERSION;
static const unsigned long CKVM_CREATE_VM = KVM_CREATE_VM;
static const unsigned long CKVM_CHECK_EXTENSION = KVM_CHECK_EXTENSION;
static const unsigned long CKVM_GET_VCPU_MMAP_SIZE = KVM_GET_VCPU_MMAP_SIZE;
static const unsigned long CKVM_CREATE_VCPU = KVM_CREATE_VCPU;
static const unsigned long CKVM_SET_USER_MEMORY_REGION = KVM_SET_USER_MEMORY_REGION;
static const unsigned long CKVM_RUN = KVM_RUN;
static const unsigned long CKVM_GET_REGS = KVM_GET_REGS;
static const unsigned long CKVM_SET_REGS = KVM_SET_REGS;
static const unsigned long CKVM_GET_SREGS = KVM_GET_SREGS;
static const unsigned long CKVM_SET_SREGS = KVM_SET_SREGS;
static const unsigned long CKVM_SET_TSS_ADDR = KVM_SET_TSS_ADDR;
static const unsigned long CKVM_GET_SUPPORTED_CPUID = KVM_GET_SUPPORTED_CPUID;
static const unsigned long CKVM_SET_CPUID2 = KVM_SET_CPUID2;
static const unsigned long CKVM_GET_TSC_KHZ = KVM_GET_TSC_KHZ;
static const unsigned long CKVM_GET_FPU = KVM_GET_FPU;
static const unsigned long CKVM_SET_FPU = KVM_SET_FPU;
static const unsigned long CKVM_GET_MSRS = KVM_GET_MSRS;
static const unsigned long CKVM_SET_MSRS = KVM_SET_MSRS;
static const unsigned long CKVM_GET_MSR_INDEX_LIST = KVM_GET_MSR_INDEX_LIST;
static const unsigned long CKVM_GET_MSR_FEATURE_INDEX_LIST = KVM_GET_MSR_FEATURE_INDEX_LIST;
static const unsigned long CKVM_GET_DEBUGREGS = KVM_GET_DEBUGREGS;
static const unsigned long CKVM_SET_DEBUGREGS = KVM_SET_DEBUGREGS;
static const unsigned long CKVM_GET_XCRS = KVM_GET_XCRS;
static const unsigned long CKVM_SET_XCRS = KVM_SET_XCRS;
static const unsigned long CKVM_GET_VCPU_EVENTS = KVM_GET_VCPU_EVENTS;
static const unsigned long CKVM_SET_VCPU_EVENTS = KVM_SET_VCPU_EVENTS;
static const unsigned long CKVM_SET_GUEST_DEBUG = KVM_SET_GUEST_DEBUG;
static const unsigned long CKVM_GET_CLOCK = KVM_GET_CLOCK;
static const unsigned long CKVM_SET_CLOCK = KVM_SET_CLOCK;
static const uint32_t CKVM_MEM_LOG_DIRTY_PAGES = KVM_MEM_LOG_DIRTY_PAGES;
static const uint64_t CKVM_SYNC_X86_REGS = KVM_SYNC_X86_REGS;
static const uint64_t CKVM_SYNC_X86_SREGS = KVM_SYNC_X86_SREGS;
static const int32_t CKVM_EXIT_DEBUG = KVM_EXIT_DEBUG;

/** Calls ioctl(fd, request, arg) with an integer argument; returns the result, -1 with errno on failure. */
int ckvm_ioctl_value(int fd, unsigned long request, unsigned long arg);
/** Calls ioctl(fd, request, arg) with a pointer argument; returns the result, -1 with errno on failure. */
int ckvm_ioctl_pointer(int fd, unsigned long request, void *arg);

/** The I/O exit fields of a kvm_run (which Swift cannot reach through the anonymous union). */
struct ckvm_io_exit {
  uint8_t direction; /* KVM_EXIT_IO_IN or KVM_EXIT_IO_OUT */
  uint8_t size;      /* bytes per access: 1, 2 or 4 */
  uint16_t port;
  uint32_t count;
  uint64_t data_offset; /* offset of the data bytes from the start of kvm_run */
};

/** The MMIO exit fields of a kvm_run. */
struct ckvm_mmio_exit {
  uint64_t physical_address;
  uint8_t data[8];
  uint32_t length;
  uint8_t is_write;
};

/** Reads the I/O exit fields of a kvm_run whose exit_reason is KVM_EXIT_IO. */
static inline struct ckvm_io_exit ckvm_run_io(const struct kvm_run *run) {
  struct ckvm_io_exit io = {run->io.direction, run->io.size, run->io.port, run->io.count, run->io.data_offset};
  return io;
}

/** Reads the MMIO exit fields of a kvm_run whose exit_reason is KVM_EXIT_MMIO. */
static inline struct ckvm_mmio_exit ckvm_run_mmio(const struct kvm_run *run) {
  struct ckvm_mmio_exit m;
  m.physical_address = run->mmio.phys_addr;
  for (int i = 0; i < 8; i++) m.data[i] = run->mmio.data[i];
  m.length = run->mmio.len;
  m.is_write = run->mmio.is_write;
  return m;
}

/** Reads the hardware reason of a KVM_EXIT_FAIL_ENTRY. */
static inline uint64_t ckvm_run_fail_entry_reason(const struct kvm_run *run) {
  return run->fail_entry.hardware_entry_failure_reason;
}

/** Reads the suberror of a KVM_EXIT_INTERNAL_ERROR. */
static inline uint32_t ckvm_run_internal_suberror(const struct kvm_run *run) { return run->internal.suberror; }

/** Reads the type of a KVM_EXIT_SYSTEM_EVENT. */
static inline uint32_t ckvm_run_system_event_type(const struct kvm_run *run) { return run->system_event.type; }

/** Publishes a word another thread reads (the run watchdog's in-run table): a release store. */
static inline void ckvm_word_store(uint64_t *word, uint64_t value) { __atomic_store_n(word, value, __ATOMIC_RELEASE); }

/** Reads a word another thread publishes with ckvm_word_store: an acquire load. */
static inline uint64_t ckvm_word_load(const uint64_t *word) { return __atomic_load_n(word, __ATOMIC_ACQUIRE); }

/** Sets kvm_run.immediate_exit with a release store, so a racing KVM_RUN returns EINTR at once. */
static inline void ckvm_run_set_immediate_exit(struct kvm_run *run, uint8_t value) {
  __atomic_store_n(&run->immediate_exit, value, __ATOMIC_RELEASE);
}

/** KVM_GET_DIRTY_LOG for memory slot `slot` into `bitmap` (one bit per page, 64-bit words, zeroed by the
 *  kernel for clean pages); returns 0, or -1 with errno. */
int ckvm_get_dirty_log(int vm_fd, uint32_t slot, uint64_t *bitmap);

/** Reads (KVM_GET_MSRS) or writes (KVM_SET_MSRS) one MSR; returns 1 on success, 0 or -1 on failure. */
int ckvm_get_msr(int vcpu_fd, uint32_t index, uint64_t *value);
/** Writes one MSR with KVM_SET_MSRS; returns 1 on success. */
int ckvm_set_msr(int vcpu_fd, uint32_t index, uint64_t value);

/** Runs KVM_GET_MSR_INDEX_LIST or KVM_GET_MSR_FEATURE_INDEX_LIST (`request`) on the /dev/kvm descriptor into
 *  `indices`, which holds `capacity` entries. Sets *count to the number of MSRs KVM lists (also when they do
 *  not fit: then it fails with E2BIG). Returns 0, or -1 with errno. */
int ckvm_get_msr_index_list(int kvm_fd, unsigned long request, uint32_t capacity, uint32_t *count, uint32_t *indices);
/** Reads `count` MSRs (KVM_GET_MSRS) named by `indices` into `values`; returns how many were read (KVM stops at
 *  the first it refuses), or -1 with errno. */
int ckvm_get_msrs(int vcpu_fd, uint32_t count, const uint32_t *indices, uint64_t *values);
/** Writes `count` MSRs (KVM_SET_MSRS); returns how many were written (KVM stops at the first it refuses), or -1
 *  with errno. */
int ckvm_set_msrs(int vcpu_fd, uint32_t count, const uint32_t *indices, const uint64_t *values);
/** Turns KVM's single-stepping of the guest on or off (KVM_SET_GUEST_DEBUG); returns 0, or -1 with errno. */
int ckvm_set_single_step(int vcpu_fd, int enable);
/** Disables the KVM quirks in `quirks` (KVM_ENABLE_CAP of KVM_CAP_DISABLE_QUIRKS2); returns 0, or -1 with errno. */
int ckvm_disable_quirks(int vm_fd, uint64_t quirks);

/** Sets which registers KVM copies into kvm_run at every exit (KVM_SYNC_X86_* bits). */
static inline void ckvm_run_set_valid_regs(struct kvm_run *run, uint64_t fields) { run->kvm_valid_regs = fields; }
/** The general registers KVM copied into kvm_run at the last exit (with KVM_SYNC_X86_REGS). */
static inline struct kvm_regs ckvm_run_synced_regs(const struct kvm_run *run) { return run->s.regs.regs; }
/** The special registers KVM copied into kvm_run at the last exit (with KVM_SYNC_X86_SREGS). */
static inline struct kvm_sregs ckvm_run_synced_sregs(const struct kvm_run *run) { return run->s.regs.sregs; }

/** mmap's MAP_FIXED_NOREPLACE (linux/mman.h; glibc's headers may lack it): map at exactly this address, or fail
 *  with EEXIST rather than replace what is there. */
static const int CKVM_MAP_FIXED_NOREPLACE = 0x100000;

/** Creates an anonymous memory file that can be sealed (memfd_create with MFD_CLOEXEC | MFD_ALLOW_SEALING), for
 *  guest memory templates; returns its descriptor, or -1 with errno. */
int ckvm_memory_file_create(const char *name);
/** Seals a memory file against writes, shrinking, growing and further seals (F_ADD_SEALS); returns 0, or -1
 *  with errno (EBUSY while a writable shared mapping of it exists). */
int ckvm_memory_file_seal(int fd);

/** Installs a no-op handler (without SA_RESTART) for the signal used to kick vCPUs out of KVM_RUN. */
int ckvm_install_kick_handler(int signal_number);

/** Unblocks the kick signal on the calling thread (once per thread); returns 0 or an errno value. */
int ckvm_unblock_kick_signal(int signal_number);

/** Sets glibc malloc so that it changes the process's mappings rarely (heap growth in large steps, no trimming,
 *  no separate mappings for blocks under 32 MiB): with many KVM VMs in a process every such change calls each
 *  VM's MMU notifier. Returns 1 when every setting was taken. */
int ckvm_stabilize_heap(void);

#endif /* CKVM_H */
