/* http.c: the byte loop of Ilwaco's HTTP request parser that cannot be a string instruction: decoding and
 * checking a request target's path, one table lookup per ordinary byte (every guest instruction is emulated). */
#include <stddef.h>
#include <stdint.h>

#include "ilwaco.h"

/* What each byte of a target means to the path decoder. */
enum { ORDINARY = 0, REFUSED, PERCENT, SLASH, QUERY };

/* Bytes 0x21-0x7e not named here are ORDINARY (0). */
static const uint8_t path_class[256] = {
    [0 ... 0x20] = REFUSED, /* controls and space */
    ['#'] = REFUSED,        /* a fragment never reaches a server */
    ['%'] = PERCENT,
    ['/'] = SLASH,
    ['?'] = QUERY,
    ['\\'] = REFUSED,
    [0x7f ... 0xff] = REFUSED, /* DEL and anything not ASCII must be percent-encoded */
};

/* The value of a hexadecimal digit, or -1. */
static int hex_value(uint8_t c) {
  if ((uint8_t)(c - '0') <= 9) return c - '0';
  c |= 0x20;
  if ((uint8_t)(c - 'a') <= 5) return c - 'a' + 10;
  return -1;
}

/* True for the segments "." and "..". */
static int is_dot_segment(const uint8_t *segment, size_t length) {
  return (length == 1 && segment[0] == '.') || (length == 2 && segment[0] == '.' && segment[1] == '.');
}

long ilwaco_http_decode_path(const uint8_t *src, size_t length, uint8_t *dst) {
  size_t in = 0, out = 1, segment = 1;
  dst[0] = '/';
  while (in < length) {
    uint8_t c = src[in++];
    switch (path_class[c]) {
    case ORDINARY:
      dst[out++] = c;
      continue;
    case REFUSED:
      return -1;
    case QUERY:
      in = length;
      continue;
    case PERCENT: {
      if (length - in < 2) return -1;
      int high = hex_value(src[in]), low = hex_value(src[in + 1]);
      if (high < 0 || low < 0) return -1;
      in += 2;
      c = (uint8_t)(high << 4 | low);
      if (c < 0x20 || c == 0x7f || c == '\\') return -1;
      if (c != '/') {
        dst[out++] = c;
        continue;
      }
    }
      /* An encoded slash separates segments like a raw one. */
      __attribute__((fallthrough));
    case SLASH:
      if (out == segment) continue; /* an empty segment: merged */
      if (is_dot_segment(dst + segment, out - segment)) return -1;
      dst[out++] = '/';
      segment = out;
      continue;
    }
  }
  if (is_dot_segment(dst + segment, out - segment)) return -1;
  return (long)out;
}
