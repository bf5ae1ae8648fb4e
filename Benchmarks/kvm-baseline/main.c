/* kvm-baseline: a minimal C KVM runner for Denali guests (raw ioctls), and the raw-KVM benchmark baseline. */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "denali/abi.h"

#define DEFAULT_MEMORY (16ull << 20)

/* Exit statuses of `run` besides the guest's own: 128 + vector for a CPU exception, and these. */
enum { EXIT_RUNNER_ERROR = 1, EXIT_SHUTDOWN = 160, EXIT_HALT = 161, EXIT_BAD_EXIT = 162 };

/* An ELF image read once: the file bytes, its entry point and the end of its highest segment. */
struct image {
  uint8_t *bytes;
  size_t size;
  uint64_t entry;
  uint64_t end;
};

/* One VM with one vCPU. */
struct vm {
  int vm_fd, vcpu_fd;
  uint8_t *mem;
  uint64_t mem_size;
  struct kvm_run *run;
};

static int kvm_fd = -1;
static int run_size;

static void die(const char *what) {
  fprintf(stderr, "kvm-baseline: %s: %s (errno %d)\n", what, strerror(errno), errno);
  exit(EXIT_RUNNER_ERROR);
}

static void fail(const char *message) {
  fprintf(stderr, "kvm-baseline: %s\n", message);
  exit(EXIT_RUNNER_ERROR);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* True if [gpa, gpa + length) lies inside guest memory (and does not wrap). */
static int gpa_ok(const struct vm *vm, uint64_t gpa, uint64_t length) {
  return gpa <= vm->mem_size && length <= vm->mem_size - gpa;
}

/* ---- ELF ---- */

static void read_image(const char *path, struct image *image) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) die(path);
  struct stat st;
  if (fstat(fd, &st) < 0) die("fstat");
  image->size = (size_t)st.st_size;
  image->bytes = malloc(image->size ? image->size : 1);
  if (!image->bytes) fail("out of memory");
  size_t done = 0;
  while (done < image->size) {
    ssize_t n = read(fd, image->bytes + done, image->size - done);
    if (n <= 0) die("read ELF");
    done += (size_t)n;
  }
  close(fd);

  const Elf64_Ehdr *eh = (const Elf64_Ehdr *)image->bytes;
  if (image->size < sizeof *eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
      eh->e_machine != EM_X86_64 || eh->e_type != ET_EXEC || eh->e_phentsize != sizeof(Elf64_Phdr) ||
      eh->e_phoff > image->size || (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > image->size - eh->e_phoff)
    fail("not a static x86-64 ELF executable");
  image->entry = eh->e_entry;
  image->end = 0;
  const Elf64_Phdr *ph = (const Elf64_Phdr *)(image->bytes + eh->e_phoff);
  for (int i = 0; i < eh->e_phnum; i++) {
    if (ph[i].p_type != PT_LOAD) continue;
    if (ph[i].p_paddr < DENALI_GPA_IMAGE_BASE || ph[i].p_filesz > ph[i].p_memsz || ph[i].p_memsz > DENALI_MEMORY_MAX ||
        ph[i].p_paddr > DENALI_MEMORY_MAX || ph[i].p_offset > image->size || ph[i].p_filesz > image->size - ph[i].p_offset)
      fail("bad PT_LOAD segment");
    if (ph[i].p_paddr + ph[i].p_memsz > image->end) image->end = ph[i].p_paddr + ph[i].p_memsz;
  }
  image->end = (image->end + 0xfff) & ~0xfffull;
}

static void load_image(struct vm *vm, const struct image *image) {
  const Elf64_Ehdr *eh = (const Elf64_Ehdr *)image->bytes;
  const Elf64_Phdr *ph = (const Elf64_Phdr *)(image->bytes + eh->e_phoff);
  if (image->end + 64 * 1024 > vm->mem_size) fail("image does not fit in guest memory");
  for (int i = 0; i < eh->e_phnum; i++) {
    if (ph[i].p_type != PT_LOAD) continue;
    memcpy(vm->mem + ph[i].p_paddr, image->bytes + ph[i].p_offset, ph[i].p_filesz);
    memset(vm->mem + ph[i].p_paddr + ph[i].p_filesz, 0, ph[i].p_memsz - ph[i].p_filesz);
  }
}

/* ---- Guest-physical layout (denali/abi.h) ---- */

static void build_layout(struct vm *vm, int argc, char **argv) {
  uint8_t *m = vm->mem;
  uint64_t *pml4 = (uint64_t *)(m + DENALI_GPA_PML4), *pdpt = (uint64_t *)(m + DENALI_GPA_PDPT);
  uint64_t *pd = (uint64_t *)(m + DENALI_GPA_PD), *pt0 = (uint64_t *)(m + DENALI_GPA_PT0);
  pml4[0] = DENALI_GPA_PDPT | 3; /* present, writable */
  pdpt[0] = DENALI_GPA_PD | 3;
  pd[0] = DENALI_GPA_PT0 | 3;
  for (uint64_t i = 1; i < vm->mem_size >> 21; i++) pd[i] = (i << 21) | 0x83; /* 2 MiB page */
  for (uint64_t i = 1; i < 512; i++) pt0[i] = (i << 12) | 3;                 /* pt0[0] = 0: page 0 absent */

  uint64_t *gdt = (uint64_t *)(m + DENALI_GPA_GDT);
  gdt[2] = 0x00af9b000000ffffull; /* 0x10: 64-bit code, DPL 0 */
  gdt[3] = 0x00cf93000000ffffull; /* 0x18: data */

  /* Exception stubs: mov $vector,%eax; mov $DENALI_PORT_TRAP,%dx; out %eax,%dx; 1: hlt; jmp 1b. */
  uint8_t *idt = m + DENALI_GPA_IDT;
  for (int v = 0; v < 32; v++) {
    uint8_t *s = m + DENALI_GPA_TRAP_STUBS + 16 * v;
    uint8_t stub[16] = {0xb8, (uint8_t)v, 0, 0, 0, 0x66, 0xba, DENALI_PORT_TRAP & 0xff, DENALI_PORT_TRAP >> 8,
                        0xef, 0xf4, 0xeb, 0xfd, 0xf4, 0xf4, 0xf4};
    memcpy(s, stub, 16);
    uint64_t handler = DENALI_GPA_TRAP_STUBS + 16 * v;
    uint8_t *g = idt + 16 * v; /* 64-bit interrupt gate, selector 0x10, present, DPL 0 */
    g[0] = handler & 0xff; g[1] = (handler >> 8) & 0xff;
    g[2] = 0x10; g[3] = 0;
    g[4] = 0; g[5] = 0x8e;
    g[6] = (handler >> 16) & 0xff; g[7] = (handler >> 24) & 0xff;
    memset(g + 8, 0, 8);
  }

  /* Boot information, then argv pointers, then the strings. */
  struct denali_boot_info *bi = (struct denali_boot_info *)(m + DENALI_GPA_BOOT_INFO);
  uint64_t vec = DENALI_GPA_BOOT_INFO + sizeof *bi;
  uint64_t str = vec + 8 * ((uint64_t)argc + 1), limit = vec + DENALI_BOOT_ARGS_MAX;
  if (str > limit) fail("too many arguments");
  for (int i = 0; i < argc; i++) {
    size_t n = strlen(argv[i]) + 1;
    if (n > limit - str) fail("arguments too long");
    memcpy(m + str, argv[i], n);
    ((uint64_t *)(m + vec))[i] = str;
    str += n;
  }
  ((uint64_t *)(m + vec))[argc] = 0;
  *bi = (struct denali_boot_info){.magic = DENALI_BOOT_MAGIC, .abi_version = DENALI_ABI_VERSION,
                                  .memory_size = vm->mem_size, .argc = (uint32_t)argc, .argv = vec};
}

static void set_segment(struct kvm_segment *s, uint16_t selector, uint8_t type, int code) {
  *s = (struct kvm_segment){.base = 0, .limit = 0xffffffff, .selector = selector, .type = type, .present = 1,
                            .dpl = 0, .db = !code, .s = 1, .l = code, .g = 1};
}

/* ---- VM lifecycle ---- */

static void create_vm(struct vm *vm, uint64_t mem_size, const struct image *image, int argc, char **argv) {
  vm->mem_size = mem_size;
  vm->vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
  if (vm->vm_fd < 0) die("KVM_CREATE_VM");
  vm->mem = mmap(NULL, mem_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (vm->mem == MAP_FAILED) die("mmap guest memory");
  struct kvm_userspace_memory_region region = {
      .slot = 0, .guest_phys_addr = 0, .memory_size = mem_size, .userspace_addr = (uint64_t)(uintptr_t)vm->mem};
  if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) die("KVM_SET_USER_MEMORY_REGION");

  load_image(vm, image);
  build_layout(vm, argc, argv);
  ((struct denali_boot_info *)(vm->mem + DENALI_GPA_BOOT_INFO))->image_end = image->end;

  vm->vcpu_fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, 0);
  if (vm->vcpu_fd < 0) die("KVM_CREATE_VCPU");
  vm->run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vm->vcpu_fd, 0);
  if (vm->run == MAP_FAILED) die("mmap kvm_run");

  struct kvm_sregs sregs;
  if (ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sregs) < 0) die("KVM_GET_SREGS");
  set_segment(&sregs.cs, 0x10, 11, 1);
  set_segment(&sregs.ds, 0x18, 3, 0);
  sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
  sregs.tr = (struct kvm_segment){.base = 0, .limit = 0x67, .selector = 0, .type = 11, .present = 1};
  sregs.ldt = (struct kvm_segment){.unusable = 1};
  sregs.gdt.base = DENALI_GPA_GDT;
  sregs.gdt.limit = 4 * 8 - 1;
  sregs.idt.base = DENALI_GPA_IDT;
  sregs.idt.limit = 32 * 16 - 1;
  sregs.cr0 = 0x80050033; /* PG WP NE ET MP PE */
  sregs.cr3 = DENALI_GPA_PML4;
  sregs.cr4 = 0x20; /* PAE */
  sregs.efer = 0xd01; /* NXE LMA LME SCE */
  if (ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sregs) < 0) die("KVM_SET_SREGS");

  struct kvm_regs regs = {.rip = image->entry, .rsp = mem_size, .rdi = DENALI_GPA_BOOT_INFO, .rflags = 0x2};
  if (ioctl(vm->vcpu_fd, KVM_SET_REGS, &regs) < 0) die("KVM_SET_REGS");
}

static void destroy_vm(struct vm *vm) {
  munmap(vm->run, (size_t)run_size);
  close(vm->vcpu_fd);
  munmap(vm->mem, vm->mem_size);
  close(vm->vm_fd);
}

/* ---- Exits ---- */

/* What one KVM_RUN ended with, once decoded. */
enum event { EV_HYPERCALL, EV_TERMINATE, EV_TRAP, EV_STOP };

static const char *vector_name(unsigned v) {
  static const char *names[32] = {"#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow",
                                  "#BR bound range", "#UD invalid opcode", "#NM device not available",
                                  "#DF double fault", "coprocessor segment overrun", "#TS invalid TSS",
                                  "#NP segment not present", "#SS stack fault", "#GP general protection",
                                  "#PF page fault", "reserved", "#MF x87 error", "#AC alignment check",
                                  "#MC machine check", "#XM SIMD error", "#VE virtualization", "#CP control protection"};
  return v < 32 && names[v] ? names[v] : "reserved";
}

/* Reports a CPU exception the trap stub announced; returns the exit status 128 + vector. */
static int report_trap(struct vm *vm, unsigned vector) {
  struct kvm_regs regs;
  struct kvm_sregs sregs;
  if (ioctl(vm->vcpu_fd, KVM_GET_REGS, &regs) < 0) die("KVM_GET_REGS");
  if (ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sregs) < 0) die("KVM_GET_SREGS");
  int has_code = vector == 8 || (vector >= 10 && vector <= 14) || vector == 17 || vector == 21 || vector == 29 ||
                 vector == 30;
  uint64_t frame = regs.rsp, code = 0, rip = 0;
  if (gpa_ok(vm, frame, 16)) {
    if (has_code) memcpy(&code, vm->mem + frame, 8);
    memcpy(&rip, vm->mem + frame + (has_code ? 8 : 0), 8);
  }
  fprintf(stderr, "guest fault: vector %u (%s) at rip 0x%llx", vector, vector_name(vector), (unsigned long long)rip);
  if (has_code) fprintf(stderr, " error code 0x%llx", (unsigned long long)code);
  if (vector == 14) fprintf(stderr, " cr2 0x%llx", (unsigned long long)sregs.cr2);
  fprintf(stderr, "\n");
  return 128 + (int)(vector & 31);
}

/* Runs the vCPU once and handles the exit. Sets *status when the VM is over. */
static enum event run_once(struct vm *vm, int quiet, int *status) {
  struct kvm_run *run = vm->run;
  if (ioctl(vm->vcpu_fd, KVM_RUN, 0) < 0) {
    if (errno == EINTR || errno == EAGAIN) return EV_HYPERCALL;
    die("KVM_RUN");
  }
  switch (run->exit_reason) {
  case KVM_EXIT_IO: {
    uint32_t value = 0;
    if (run->io.direction == KVM_EXIT_IO_OUT && run->io.size == 4 && run->io.count == 1)
      memcpy(&value, (uint8_t *)run + run->io.data_offset, 4);
    else {
      fprintf(stderr, "guest fault: unexpected port I/O port 0x%x size %u\n", run->io.port, run->io.size);
      *status = EXIT_BAD_EXIT;
      return EV_STOP;
    }
    if (run->io.port == DENALI_PORT_TRAP) {
      *status = report_trap(vm, value);
      return EV_TRAP;
    }
    unsigned nr = run->io.port - DENALI_HYPERCALL_PORT_BASE;
    if (run->io.port < DENALI_HYPERCALL_PORT_BASE || nr >= DENALI_HYPERCALL_MAX || (value & 7) ||
        !gpa_ok(vm, value, 16)) {
      fprintf(stderr, "guest fault: bad hypercall port 0x%x argument 0x%x\n", run->io.port, value);
      *status = EXIT_BAD_EXIT;
      return EV_STOP;
    }
    int64_t *ret = (int64_t *)(vm->mem + value);
    if (nr == DENALI_HC_TERMINATE) {
      *status = (int)(((int64_t *)(vm->mem + value))[1] & 0xff);
      return EV_TERMINATE;
    } else if (nr == DENALI_HC_CONSOLE_WRITE && gpa_ok(vm, value, sizeof(struct denali_hc_console_write))) {
      struct denali_hc_console_write *hc = (struct denali_hc_console_write *)(vm->mem + value);
      if (hc->length > DENALI_CONSOLE_WRITE_MAX) hc->ret = DENALI_EINVAL;
      else if (!gpa_ok(vm, hc->data, hc->length)) hc->ret = DENALI_EFAULT;
      else {
        if (!quiet && fwrite(vm->mem + hc->data, 1, hc->length, stdout) != hc->length) die("write console");
        hc->ret = (int64_t)hc->length;
      }
    } else if (nr == DENALI_HC_NOP) {
      *ret = 0;
    } else if (nr == DENALI_HC_IDLE && gpa_ok(vm, value, sizeof(struct denali_hc_idle))) {
      /* No interrupt sources here: a yield returns at once with nothing pending, a timeout sleeps and
         delivers the timer bit, and an idle without a timeout could never return. This runner writes no
         virtual registers, so guests that wait for the virtual clock (sleeper, clock) never finish. */
      struct denali_hc_idle *hc = (struct denali_hc_idle *)(vm->mem + value);
      uint64_t timeout = hc->timeout_ns;
      if (timeout >= DENALI_IDLE_FOREVER) {
        fprintf(stderr, "guest idles forever and nothing can wake it\n");
        *status = EXIT_BAD_EXIT;
        return EV_STOP;
      }
      if (timeout) {
        struct timespec ts = {.tv_sec = (time_t)(timeout / 1000000000ull), .tv_nsec = (long)(timeout % 1000000000ull)};
        while (nanosleep(&ts, &ts) < 0)
          if (errno != EINTR) die("nanosleep");
      }
      hc->ret = 0;
      hc->pending = timeout ? DENALI_IRQ_TIMER : 0;
    } else {
      *ret = DENALI_ENOSYS;
    }
    return EV_HYPERCALL;
  }
  case KVM_EXIT_SHUTDOWN:
    fprintf(stderr, "guest fault: triple fault (KVM_EXIT_SHUTDOWN)\n");
    *status = EXIT_SHUTDOWN;
    return EV_STOP;
  case KVM_EXIT_HLT:
    fprintf(stderr, "guest halted (KVM_EXIT_HLT)\n");
    *status = EXIT_HALT;
    return EV_STOP;
  case KVM_EXIT_MMIO:
    fprintf(stderr, "guest fault: MMIO %s at 0x%llx (outside guest memory)\n", run->mmio.is_write ? "write" : "read",
            (unsigned long long)run->mmio.phys_addr);
    *status = EXIT_BAD_EXIT;
    return EV_STOP;
  case KVM_EXIT_INTERNAL_ERROR: {
    struct kvm_regs regs;
    if (ioctl(vm->vcpu_fd, KVM_GET_REGS, &regs) < 0) die("KVM_GET_REGS");
    fprintf(stderr, "guest fault: KVM internal error, suberror %u, rip 0x%llx", run->internal.suberror,
            (unsigned long long)regs.rip);
    if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION &&
        (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
      fprintf(stderr, " (emulation failure, instruction bytes");
      for (unsigned i = 0; i < run->emulation_failure.insn_size && i < 4; i++)
        fprintf(stderr, " %02x", run->emulation_failure.insn_bytes[i]);
      fprintf(stderr, " ...)");
    }
    fprintf(stderr, "\n");
    *status = EXIT_BAD_EXIT;
    return EV_STOP;
  }
  case KVM_EXIT_FAIL_ENTRY:
    fprintf(stderr, "guest fault: entry failed, reason 0x%llx\n",
            (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
    *status = EXIT_BAD_EXIT;
    return EV_STOP;
  default:
    fprintf(stderr, "guest fault: unhandled exit reason %u\n", run->exit_reason);
    *status = EXIT_BAD_EXIT;
    return EV_STOP;
  }
}

/* ---- Commands ---- */

static uint64_t parse_memory(const char *text) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(text, &end, 0);
  if (errno || *end || v < DENALI_MEMORY_MIN || v > DENALI_MEMORY_MAX || v % DENALI_MEMORY_ALIGN)
    fail("--memory must be a multiple of 2 MiB between 2 MiB and 1 GiB");
  return v;
}

static int usage(void) {
  fprintf(stderr, "usage: kvm-baseline run ELF [--memory BYTES] [ARGS...]\n"
                  "       kvm-baseline boot ELF --iterations N [--memory BYTES]\n"
                  "       kvm-baseline hypercalls ELF N [--memory BYTES]  (ELF is nop-loop: N hypercalls, then exit)\n"
                  "       kvm-baseline switch ELF N [--memory BYTES]  (ELF is yield-loop: two VMs of N yields each,\n"
                  "                                                   run in turns on one thread)\n"
                  "run exits with the guest's status, 128+vector on a CPU exception, %d on a triple fault,\n"
                  "%d on a halt, %d on any other unexpected exit, 1 on a runner error.\n",
          EXIT_SHUTDOWN, EXIT_HALT, EXIT_BAD_EXIT);
  return 2;
}

static int command_run(struct image *image, uint64_t mem_size, int argc, char **argv) {
  struct vm vm;
  create_vm(&vm, mem_size, image, argc, argv);
  int status = 0;
  for (;;) {
    enum event ev = run_once(&vm, 0, &status);
    if (ev != EV_HYPERCALL) break;
  }
  fflush(stdout);
  destroy_vm(&vm);
  return status;
}

/* Each iteration: create VM, memory, image, vCPU and state; run to the first hypercall, then to the end. */
static int command_boot(struct image *image, uint64_t mem_size, long iterations) {
  for (long i = 0; i < iterations; i++) {
    uint64_t start = now_ns(), first = 0;
    struct vm vm;
    create_vm(&vm, mem_size, image, 0, NULL);
    int status = 0;
    enum event ev;
    do {
      ev = run_once(&vm, 1, &status);
      if (!first && vm.run->exit_reason == KVM_EXIT_IO) first = now_ns();
    } while (ev == EV_HYPERCALL);
    uint64_t end = now_ns();
    destroy_vm(&vm);
    if (ev != EV_TERMINATE) {
      fprintf(stderr, "kvm-baseline: iteration %ld did not terminate cleanly\n", i);
      return 1;
    }
    printf("%llu %llu\n", (unsigned long long)(first - start), (unsigned long long)(end - start));
  }
  return 0;
}

/* Runs a guest that makes N hypercalls then terminates (nop-loop N); prints the hypercall count
   and the nanoseconds from the first hypercall exit to the terminate exit. */
static int command_hypercalls(struct image *image, uint64_t mem_size, char *count) {
  char *args[] = {count};
  struct vm vm;
  create_vm(&vm, mem_size, image, 1, args);
  int status = 0;
  uint64_t first = 0, exits = 0;
  enum event ev;
  do {
    ev = run_once(&vm, 1, &status);
    if (vm.run->exit_reason == KVM_EXIT_IO) {
      if (!first) first = now_ns();
      exits++;
    }
  } while (ev == EV_HYPERCALL);
  uint64_t end = now_ns();
  destroy_vm(&vm);
  if (ev != EV_TERMINATE || status != 0) {
    fprintf(stderr, "kvm-baseline: the hypercall guest did not terminate cleanly\n");
    return 1;
  }
  printf("%llu %llu\n", (unsigned long long)(exits - 1), (unsigned long long)(end - first));
  return 0;
}

/* Creates two VMs from one image (yield-loop N), one vCPU each, and runs them in turns on this thread:
   VM A until its next exit, handle it, then VM B until its next exit, and so on; a VM that has terminated
   is skipped. Prints the exits handled minus each VM's first, and the nanoseconds from the first exit of
   VM A to the last terminate exit (VM B's boot to its first exit falls inside that window). */
static int command_switch(struct image *image, uint64_t mem_size, char *count) {
  char *args[] = {count};
  struct vm vms[2];
  create_vm(&vms[0], mem_size, image, 1, args);
  create_vm(&vms[1], mem_size, image, 1, args);
  int status[2] = {0, 0}, running[2] = {1, 1};
  enum event last[2] = {EV_HYPERCALL, EV_HYPERCALL};
  uint64_t first = 0, exits = 0;
  for (int v = 0; running[0] || running[1]; v ^= 1) {
    if (!running[v]) continue;
    enum event ev = run_once(&vms[v], 1, &status[v]);
    if (vms[v].run->exit_reason == KVM_EXIT_IO) {
      if (!first) first = now_ns();
      exits++;
    }
    last[v] = ev;
    if (ev != EV_HYPERCALL) running[v] = 0;
  }
  uint64_t end = now_ns();
  destroy_vm(&vms[0]);
  destroy_vm(&vms[1]);
  for (int v = 0; v < 2; v++) {
    if (last[v] != EV_TERMINATE || status[v] != 0) {
      fprintf(stderr, "kvm-baseline: switch VM %c did not terminate cleanly\n", 'A' + v);
      return 1;
    }
  }
  printf("%llu %llu\n", (unsigned long long)(exits - 2), (unsigned long long)(end - first));
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) return usage();
  int boot = strcmp(argv[1], "boot") == 0;
  int hypercalls = strcmp(argv[1], "hypercalls") == 0;
  int switches = strcmp(argv[1], "switch") == 0;
  if ((hypercalls || switches) && argc < 4) return usage();
  if (!boot && !hypercalls && !switches && strcmp(argv[1], "run") != 0) return usage();

  uint64_t mem_size = DEFAULT_MEMORY;
  long iterations = -1;
  int i = hypercalls || switches ? 4 : 3;
  while (i < argc) { /* options come before the guest's own arguments */
    if (strcmp(argv[i], "--memory") == 0 && i + 1 < argc) {
      mem_size = parse_memory(argv[i + 1]);
      i += 2;
    } else if (boot && strcmp(argv[i], "--iterations") == 0 && i + 1 < argc) {
      iterations = strtol(argv[i + 1], NULL, 10);
      i += 2;
    } else if (strcmp(argv[i], "--") == 0) {
      i++;
      break;
    } else {
      break;
    }
  }
  if (boot && (iterations < 1 || i != argc)) return usage();

  struct image image;
  read_image(argv[2], &image);
  kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm_fd < 0) die("open /dev/kvm");
  if (ioctl(kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) fail("KVM_GET_API_VERSION: unexpected version");
  run_size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (run_size < 0) die("KVM_GET_VCPU_MMAP_SIZE");

  if (hypercalls) return command_hypercalls(&image, mem_size, argv[3]);
  if (switches) return command_switch(&image, mem_size, argv[3]);
  return boot ? command_boot(&image, mem_size, iterations) : command_run(&image, mem_size, argc - i, argv + i);
}
