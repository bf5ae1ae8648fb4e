/* host_stats.c: malloc's bytes in use, for per-VM memory figures. */
#include "host_stats.h"

#include <malloc.h>

size_t host_heap_in_use(void) {
  struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
}
