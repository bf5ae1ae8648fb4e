/* boot.c: Ilwaco start-up and exit: keeps the boot information, sets up the heap, terminates the VM. */
#include "ilwaco.h"

void ilwaco_heap_init(uintptr_t start, uintptr_t end);

static const struct denali_boot_info *boot_info;

const struct denali_boot_info *ilwaco_boot_info(void) { return boot_info; }

void ilwaco_start(const struct denali_boot_info *info) {
  static const char bad_boot[] = "ilwaco: bad boot information\n";
  if (info->magic != DENALI_BOOT_MAGIC || info->abi_version != DENALI_ABI_VERSION ||
      info->memory_size < info->image_end + ILWACO_STACK_SIZE) {
    ilwaco_hc_console_write(bad_boot, sizeof bad_boot - 1);
    ilwaco_terminate(127);
  }
  boot_info = info;
  ilwaco_heap_init((uintptr_t)info->image_end, (uintptr_t)(info->memory_size - ILWACO_STACK_SIZE));
}

_Noreturn void ilwaco_terminate(int64_t status) {
  ilwaco_console_flush();
  for (;;) {
    ilwaco_hc_terminate(status);
    ilwaco_cpu_halt();
  }
}
