/* ckvm.c: the non-variadic ioctl wrappers, memory files for guest memory templates, and the vCPU kick signal
 * handler. */
#define _GNU_SOURCE
#include "ckvm.h"

#include <fcntl.h>
#include <malloc.h>
#include <sys/mman.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>

int ckvm_ioctl_value(int fd, unsigned long request, unsigned long arg) { return ioctl(fd, request, arg); }

int ckvm_ioctl_pointer(int fd, unsigned long request, void *arg) { return ioctl(fd, request, arg); }

int ckvm_memory_file_create(const char *name) { return memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING); }

int ckvm_memory_file_seal(int fd) {
  return fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
}

static void ckvm_kick_handler(int signal_number) { (void)signal_number; }

int ckvm_install_kick_handler(int signal_number) {
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = ckvm_kick_handler;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0; /* no SA_RESTART: KVM_RUN must return EINTR */
  return sigaction(signal_number, &action, NULL);
}

int ckvm_unblock_kick_signal(int signal_number) {
  static __thread int unblocked;
  if (unblocked) return 0;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, signal_number);
  int error = pthread_sigmask(SIG_UNBLOCK, &set, NULL);
  if (error == 0) unblocked = 1;
  return error;
}

int ckvm_get_dirty_log(int vm_fd, uint32_t slot, uint64_t *bitmap) {
  struct kvm_dirty_log log;
  memset(&log, 0, sizeof log);
  log.slot = slot;
  log.dirty_bitmap = bitmap;
  return ioctl(vm_fd, KVM_GET_DIRTY_LOG, &log);
}

int ckvm_get_msr(int vcpu_fd, uint32_t index, uint64_t *value) { return ckvm_get_msrs(vcpu_fd, 1, &index, value); }

int ckvm_set_msr(int vcpu_fd, uint32_t index, uint64_t value) { return ckvm_set_msrs(vcpu_fd, 1, &index, &value); }

int ckvm_get_msr_index_list(int kvm_fd, unsigned long request, uint32_t capacity, uint32_t *count, uint32_t *indices) {
  struct kvm_msr_list *list = calloc(1, sizeof *list + (size_t)capacity * sizeof(uint32_t));
  if (list == NULL) return -1;
  list->nmsrs = capacity;
  int result = ioctl(kvm_fd, request, list);
  int saved = errno;
  *count = list->nmsrs;
  if (result == 0) {
    for (uint32_t i = 0; i < list->nmsrs && i < capacity; i++) indices[i] = list->indices[i];
  }
  free(list);
  errno = saved;
  return result;
}

/** A kvm_msrs header with `count` entries, or NULL (errno ENOMEM). */
static struct kvm_msrs *ckvm_msrs(uint32_t count, const uint32_t *indices, const uint64_t *values) {
  struct kvm_msrs *msrs = calloc(1, sizeof *msrs + (size_t)count * sizeof(struct kvm_msr_entry));
  if (msrs == NULL) return NULL;
  msrs->nmsrs = count;
  for (uint32_t i = 0; i < count; i++) {
    msrs->entries[i].index = indices[i];
    msrs->entries[i].data = values == NULL ? 0 : values[i];
  }
  return msrs;
}

int ckvm_get_msrs(int vcpu_fd, uint32_t count, const uint32_t *indices, uint64_t *values) {
  struct kvm_msrs *msrs = ckvm_msrs(count, indices, NULL);
  if (msrs == NULL) return -1;
  int result = ioctl(vcpu_fd, KVM_GET_MSRS, msrs);
  int saved = errno;
  for (int i = 0; i < result && (uint32_t)i < count; i++) values[i] = msrs->entries[i].data;
  free(msrs);
  errno = saved;
  return result;
}

int ckvm_set_msrs(int vcpu_fd, uint32_t count, const uint32_t *indices, const uint64_t *values) {
  struct kvm_msrs *msrs = ckvm_msrs(count, indices, values);
  if (msrs == NULL) return -1;
  int result = ioctl(vcpu_fd, KVM_SET_MSRS, msrs);
  int saved = errno;
  free(msrs);
  errno = saved;
  return result;
}

int ckvm_set_single_step(int vcpu_fd, int enable) {
  struct kvm_guest_debug debug;
  memset(&debug, 0, sizeof debug);
  if (enable) debug.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP;
  return ioctl(vcpu_fd, KVM_SET_GUEST_DEBUG, &debug);
}

int ckvm_disable_quirks(int vm_fd, uint64_t quirks) {
  struct kvm_enable_cap cap;
  memset(&cap, 0, sizeof cap);
  cap.cap = KVM_CAP_DISABLE_QUIRKS2;
  cap.args[0] = quirks;
  return ioctl(vm_fd, KVM_ENABLE_CAP, &cap);
}

int ckvm_stabilize_heap(void) {
  /* A thread's heap grows 16 MiB at a time, is not shrunk below 64 MiB of free top, and blocks under 32 MiB
   * come from the heaps rather than mappings of their own: each mprotect, madvise or munmap of the process's
   * memory calls every KVM VM's MMU notifier. */
  int grown = mallopt(M_TOP_PAD, 16 << 20);
  int kept = mallopt(M_TRIM_THRESHOLD, 64 << 20);
  int large = mallopt(M_MMAP_THRESHOLD, 32 << 20);
  return grown == 1 && kept == 1 && large == 1;
}
