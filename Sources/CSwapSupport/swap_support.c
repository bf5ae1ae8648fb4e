/* swap_support.c: CRC-32C (hardware or table), all-zero page detection, syncfs, early writeback, the page-cache
 * state of swap files (cachestat) and the O_DIRECT flag. */
#define _GNU_SOURCE
#include "swap_support.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string.h>

static uint32_t crc_table[256];
static int crc_table_ready;
static int crc_hardware = -1;

static void crc_build_table(void) {
  for (uint32_t byte = 0; byte < 256; byte++) {
    uint32_t value = byte;
    for (int bit = 0; bit < 8; bit++) value = (value >> 1) ^ (0x82F63B78u & (0u - (value & 1u)));
    crc_table[byte] = value;
  }
  __atomic_store_n(&crc_table_ready, 1, __ATOMIC_RELEASE);
}

static uint32_t crc_software(uint32_t crc, const uint8_t *bytes, size_t length) {
  if (!__atomic_load_n(&crc_table_ready, __ATOMIC_ACQUIRE)) crc_build_table();
  for (size_t i = 0; i < length; i++) crc = crc_table[(crc ^ bytes[i]) & 0xff] ^ (crc >> 8);
  return crc;
}

__attribute__((target("sse4.2"))) static uint32_t crc_hardware_run(uint32_t crc, const uint8_t *bytes, size_t length) {
  uint64_t value = crc;
  while (length >= 8) {
    uint64_t word;
    memcpy(&word, bytes, 8);
    value = __builtin_ia32_crc32di(value, word);
    bytes += 8;
    length -= 8;
  }
  uint32_t small = (uint32_t)value;
  while (length > 0) {
    small = __builtin_ia32_crc32qi(small, *bytes);
    bytes++;
    length--;
  }
  return small;
}

uint32_t swap_crc32c(uint32_t crc, const void *data, size_t length) {
  int hardware = __atomic_load_n(&crc_hardware, __ATOMIC_RELAXED);
  if (hardware < 0) {
    __builtin_cpu_init();
    hardware = __builtin_cpu_supports("sse4.2") ? 1 : 0;
    __atomic_store_n(&crc_hardware, hardware, __ATOMIC_RELAXED);
  }
  crc = ~crc;
  crc = hardware ? crc_hardware_run(crc, data, length) : crc_software(crc, data, length);
  return ~crc;
}

int swap_page_is_zero(const void *data, size_t length) {
  const uint64_t *words = data;
  uint64_t any = 0;
  for (size_t i = 0; i < length / 8; i += 8) {
    any |= words[i] | words[i + 1] | words[i + 2] | words[i + 3] | words[i + 4] | words[i + 5] | words[i + 6] |
           words[i + 7];
    if (any) return 0;
  }
  return 1;
}

int swap_syncfs(int fd) { return syncfs(fd); }

int swap_start_writeback(int fd, int64_t offset, int64_t length) {
  return sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE);
}

/* cachestat(2) (Linux 6.5), called by number: glibc has no wrapper. */
#ifndef SYS_cachestat
#define SYS_cachestat 451
#endif

struct swap_cachestat_range {
  uint64_t offset;
  uint64_t length;
};

struct swap_cachestat {
  uint64_t cached, dirty, writeback, evicted, recently_evicted;
};

/* The page-cache state of `length` bytes of `fd` from `offset` (0: to the end); 0, or -1 with errno. */
static int swap_cachestat(int fd, uint64_t offset, uint64_t length, struct swap_cachestat *status) {
  struct swap_cachestat_range range = {offset, length};
  return syscall(SYS_cachestat, fd, &range, status, 0) == 0 ? 0 : -1;
}

int64_t swap_dirty_pages(int fd) {
  struct swap_cachestat status;
  if (swap_cachestat(fd, 0, 0, &status) != 0) return -1;
  return (int64_t)status.dirty;
}

int64_t swap_cached_pages(int fd, uint64_t offset, uint64_t length) {
  struct swap_cachestat status;
  if (swap_cachestat(fd, offset, length, &status) != 0) return -1;
  return (int64_t)status.cached;
}

int swap_direct_io_flag(void) { return O_DIRECT; }
