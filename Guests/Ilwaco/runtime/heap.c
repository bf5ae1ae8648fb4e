/* heap.c: the guest heap, a first-fit, address-ordered free list with splitting and coalescing. */
#include "ilwaco.h"

/* A free block: its total size (header included) and the next free block at a higher address. */
struct free_block {
  size_t size;
  struct free_block *next;
};

/* Every allocation is preceded by two words: the start of its block and the block's total size. */
#define HEADER_SIZE 16u
#define MIN_ALIGN 16u
#define MIN_BLOCK 32u
#define ENOMEM 12
#define EINVAL 22

static struct free_block *free_list;

static uintptr_t align_up(uintptr_t value, uintptr_t align) { return (value + align - 1) & ~(align - 1); }

void ilwaco_heap_init(uintptr_t start, uintptr_t end) {
  start = align_up(start, MIN_ALIGN);
  end &= ~(uintptr_t)(MIN_ALIGN - 1);
  free_list = 0;
  if (end <= start || end - start < MIN_BLOCK) return;
  /* SAFETY: [start, end) is guest memory between the image and the stack, owned by nobody else. */
  free_list = (struct free_block *)start;
  free_list->size = end - start;
  free_list->next = 0;
}

size_t ilwaco_heap_free_bytes(void) {
  size_t total = 0;
  for (struct free_block *block = free_list; block; block = block->next) total += block->size;
  return total;
}

int posix_memalign(void **result, size_t alignment, size_t size) {
  if (alignment & (alignment - 1)) return EINVAL;
  if (alignment < MIN_ALIGN) alignment = MIN_ALIGN;
  if (size == 0) size = 1;
  if (size > ((size_t)1 << 40) || alignment > ((size_t)1 << 30)) return ENOMEM;
  size = align_up(size, MIN_ALIGN);

  for (struct free_block **link = &free_list, *block; (block = *link) != 0; link = &block->next) {
    uintptr_t start = (uintptr_t)block;
    uintptr_t limit = start + block->size;
    uintptr_t user = align_up(start + HEADER_SIZE, alignment);
    /* Leading padding too small to be a free block of its own: move to the next aligned slot. */
    while (user - HEADER_SIZE != start && user - HEADER_SIZE - start < MIN_BLOCK) user += alignment;
    if (user + size > limit || user + size < user) continue;

    uintptr_t begin = user - HEADER_SIZE;
    uintptr_t end = user + size;
    if (limit - end < MIN_BLOCK) end = limit; /* the tail is too small to split off */

    /* SAFETY: begin..limit lies inside `block`, which is free and therefore owned by the allocator. */
    struct free_block *tail = 0;
    if (end != limit) {
      tail = (struct free_block *)end;
      tail->size = limit - end;
      tail->next = block->next;
    }
    if (begin != start) { /* keep the leading padding as a (smaller) free block */
      block->size = begin - start;
      if (tail) block->next = tail;
    } else {
      *link = tail ? tail : block->next;
    }
    ((uintptr_t *)user)[-2] = begin;
    ((uintptr_t *)user)[-1] = end - begin;
    *result = (void *)user;
    return 0;
  }
  return ENOMEM;
}

void free(void *pointer) {
  if (!pointer) return;
  /* SAFETY: pointer came from posix_memalign, which stored its block's start and size just before it. */
  uintptr_t begin = ((uintptr_t *)pointer)[-2];
  size_t size = ((uintptr_t *)pointer)[-1];
  struct free_block *block = (struct free_block *)begin;
  block->size = size;

  struct free_block *previous = 0, *next = free_list;
  while (next && (uintptr_t)next < begin) {
    previous = next;
    next = next->next;
  }
  block->next = next;
  if (next && begin + block->size == (uintptr_t)next) { /* merge with the following block */
    block->size += next->size;
    block->next = next->next;
  }
  if (previous && (uintptr_t)previous + previous->size == begin) { /* merge into the preceding block */
    previous->size += block->size;
    previous->next = block->next;
  } else if (previous) {
    previous->next = block;
  } else {
    free_list = block;
  }
}

void *malloc(size_t size) {
  void *result = 0;
  return posix_memalign(&result, MIN_ALIGN, size) == 0 ? result : 0;
}

void *calloc(size_t count, size_t size) {
  if (size && count > (size_t)-1 / size) return 0;
  void *result = malloc(count * size);
  if (result) __builtin_memset(result, 0, count * size);
  return result;
}
