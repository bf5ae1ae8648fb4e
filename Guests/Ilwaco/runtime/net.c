/* net.c: the Internet checksum for Ilwaco's network stack, with few guest instructions (every one is emulated). */
#include <stddef.h>
#include <stdint.h>

#include "ilwaco.h"

/* Unaligned views for the tail (x86 loads any alignment; the typedefs tell the compiler so). */
typedef uint32_t unaligned_u32 __attribute__((aligned(1)));
typedef uint16_t unaligned_u16 __attribute__((aligned(1)));

uint64_t ilwaco_checksum_add(const void *data, size_t length, uint64_t sum) {
  const uint8_t *p = data;
  size_t blocks = length / 32;
  size_t words = (length / 8) & 3;
  if (blocks > 0) {
    /* adc chain over 32-byte blocks (four adc per loop: a 1460-byte segment is about 320 instructions);
     * lea and dec leave the carry flag alone. */
    __asm__ volatile("clc\n"
                     "1: adcq (%[p]), %[s]\n"
                     "adcq 8(%[p]), %[s]\n"
                     "adcq 16(%[p]), %[s]\n"
                     "adcq 24(%[p]), %[s]\n"
                     "leaq 32(%[p]), %[p]\n"
                     "decq %[n]\n"
                     "jnz 1b\n"
                     "adcq $0, %[s]\n"
                     : [s] "+r"(sum), [p] "+r"(p), [n] "+r"(blocks)
                     :
                     : "cc", "memory");
  }
  if (words > 0) {
    /* The remaining one to three 8-byte words. */
    __asm__ volatile("clc\n"
                     "1: adcq (%[p]), %[s]\n"
                     "leaq 8(%[p]), %[p]\n"
                     "decq %[n]\n"
                     "jnz 1b\n"
                     "adcq $0, %[s]\n"
                     : [s] "+r"(sum), [p] "+r"(p), [n] "+r"(words)
                     :
                     : "cc", "memory");
  }
  /* The tail, at most 7 bytes: 4, 2 and 1 byte pieces at even offsets keep the word order. */
  uint64_t tail = 0;
  size_t rest = length & 7;
  if (rest & 4) {
    tail += *(const unaligned_u32 *)p;
    p += 4;
  }
  if (rest & 2) {
    tail += *(const unaligned_u16 *)p;
    p += 2;
  }
  if (rest & 1) tail += *p;
  uint64_t total = sum + tail;
  return total + (total < sum); /* end-around carry */
}

uint16_t ilwaco_checksum_finish(uint64_t sum) {
  sum = (sum & 0xffffffffu) + (sum >> 32);
  sum = (sum & 0xffffffffu) + (sum >> 32);
  sum = (sum & 0xffffu) + (sum >> 16);
  sum = (sum & 0xffffu) + (sum >> 16);
  return (uint16_t)~sum;
}
