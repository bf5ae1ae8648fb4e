/* memory_hints.h: asks the CPU to bring memory into its caches ahead of use. A hint never faults, whatever the
 * address (an unmapped or stale one only costs a wasted fetch), and never changes what a program computes. */
#ifndef MEMORY_HINTS_H
#define MEMORY_HINTS_H

/** Fetches the cache line holding `address` into every cache level. */
static inline void memory_hint_prefetch(const void *address) { __builtin_prefetch(address, 0, 3); }

#endif /* MEMORY_HINTS_H */
