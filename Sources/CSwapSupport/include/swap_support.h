/* swap_support.h: helpers for swap files: CRC-32C checksums, all-zero page detection, syncfs. */
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

struct iovec;

/** open(2)'s O_DIRECT (glibc shows it only with _GNU_SOURCE). */
extern const int swap_open_direct;

/** Reads into the `count` page-sized, page-aligned buffers of `vectors` from page-aligned `offset`: from the page
 *  cache when the data is there (preadv2 with RWF_NOWAIT on `fd`), otherwise straight from the disk into the
 *  buffers (preadv on `direct_fd`, opened with O_DIRECT; pass -1 to read through the page cache instead). Returns
 *  the bytes read (maybe fewer than asked), or -1 with errno. */
long swap_read_pages(int fd, int direct_fd, const struct iovec *vectors, int count, long offset);

#endif /* SWAP_SUPPORT_H */
