/* host_stats.h: process figures the benchmarks report that Swift's Glibc module does not reach. */
#ifndef HOST_STATS_H
#define HOST_STATS_H

#include <stddef.h>

/** Bytes malloc has handed out and not taken back (mallinfo2: arena in use plus mmapped chunks). */
size_t host_heap_in_use(void);

#endif /* HOST_STATS_H */
