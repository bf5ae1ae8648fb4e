/* console.c: the buffered guest console, written to the host one hypercall per line (or full buffer). */
#include "ilwaco.h"

void *memcpy(void *dst, const void *src, size_t n);

static char buffer[512];
static size_t used;

void ilwaco_console_flush(void) {
  if (used == 0) return;
  ilwaco_hc_console_write(buffer, used);
  used = 0;
}

void ilwaco_console_write(const void *data, size_t length) {
  const char *bytes = data;
  if (length == 0) return;
  int ends_line = bytes[length - 1] == '\n';
  while (length > 0) {
    size_t room = sizeof buffer - used;
    size_t chunk = length < room ? length : room;
    memcpy(buffer + used, bytes, chunk);
    used += chunk;
    bytes += chunk;
    length -= chunk;
    if (used == sizeof buffer) ilwaco_console_flush();
  }
  if (ends_line) ilwaco_console_flush();
}

/* Embedded Swift's print() writes one byte at a time through putchar. */
int putchar(int c) {
  char byte = (char)c;
  ilwaco_console_write(&byte, 1);
  return (unsigned char)c;
}
