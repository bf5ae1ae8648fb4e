/* swap_support.h: helpers for swap files: CRC-32C checksums, all-zero page detection, syncfs, early writeback,
 * page-cache state, direct I/O. */
#ifndef SWAP_SUPPORT_H
#define SWAP_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

/** Continues a CRC-32C (Castagnoli) over `length` bytes; start with crc = 0. Uses the CPU's crc32
 *  instruction when it has SSE 4.2, a table otherwise; both give the same result. */
uint32_t swap_crc32c(uint32_t crc, const void *data, size_t length);

/** Returns 1 when all `length` bytes at `data` are zero (length a multiple of 64), 0 otherwise. */
int swap_page_is_zero(const void *data, size_t length);

/** Flushes the file system holding `fd` to stable storage (syncfs(2)); returns 0, or -1 with errno. */
int swap_syncfs(int fd);

/** Starts writing back the dirty pages of `length` bytes of `fd` from `offset` (0: to the end of the file) without
 *  waiting for them (sync_file_range(2) with SYNC_FILE_RANGE_WRITE); makes nothing durable. 0, or -1 with errno. */
int swap_start_writeback(int fd, int64_t offset, int64_t length);

/** The pages of `fd` dirty in the page cache (cachestat(2)), or -1 with errno when the kernel cannot tell. */
int64_t swap_dirty_pages(int fd);

/** The pages of `length` bytes of `fd` from `offset` (0: to the end) in the page cache (cachestat(2)), or -1 with
 *  errno when the kernel cannot tell. */
int64_t swap_cached_pages(int fd, uint64_t offset, uint64_t length);

/** O_DIRECT (which Swift's Glibc module does not export). */
int swap_direct_io_flag(void);

#endif /* SWAP_SUPPORT_H */
