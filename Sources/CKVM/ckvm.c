/* ckvm.c: the non-variadic ioctl wrappers and the vCPU kick signal handler. */
#include "ckvm.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>

int ckvm_ioctl_value(int fd, unsigned long request, unsigned long arg) { return ioctl(fd, request, arg); }

int ckvm_ioctl_pointer(int fd, unsigned long request, void *arg) { return ioctl(fd, request, arg); }

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

/* kvm_msrs ends in a flexible array; one entry follows it directly. */
struct ckvm_one_msr {
  struct kvm_msrs header;
  struct kvm_msr_entry entry;
};

int ckvm_get_msr(int vcpu_fd, uint32_t index, uint64_t *value) {
  struct ckvm_one_msr msrs;
  memset(&msrs, 0, sizeof msrs);
  msrs.header.nmsrs = 1;
  msrs.entry.index = index;
  int result = ioctl(vcpu_fd, KVM_GET_MSRS, &msrs);
  if (result == 1) *value = msrs.entry.data;
  return result;
}

int ckvm_set_msr(int vcpu_fd, uint32_t index, uint64_t value) {
  struct ckvm_one_msr msrs;
  memset(&msrs, 0, sizeof msrs);
  msrs.header.nmsrs = 1;
  msrs.entry.index = index;
  msrs.entry.data = value;
  return ioctl(vcpu_fd, KVM_SET_MSRS, &msrs);
}
