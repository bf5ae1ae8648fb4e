/* string.c: the freestanding memory and string functions the compilers emit calls to. */
#include <stddef.h>
#include <stdint.h>

/* One `rep` string instruction each: the fewest guest instructions under KVM's emulator. */
void *memcpy(void *dst, const void *src, size_t n) {
  void *result = dst;
  __asm__ volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(n) : : "memory");
  return result;
}

void *memset(void *dst, int c, size_t n) {
  void *result = dst;
  __asm__ volatile("rep stosb" : "+D"(dst), "+c"(n) : "a"(c) : "memory");
  return result;
}

void *memmove(void *dst, const void *src, size_t n) {
  if ((uintptr_t)dst - (uintptr_t)src >= n) return memcpy(dst, src, n); /* no harmful overlap */
  /* dst overlaps the tail of src: copy backwards. */
  void *result = dst;
  const char *s = (const char *)src + n - 1;
  char *d = (char *)dst + n - 1;
  __asm__ volatile("std; rep movsb; cld" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
  return result;
}

int memcmp(const void *a, const void *b, size_t n) {
  if (n == 0) return 0;
  /* One `repe cmpsb` finds the first difference (or runs out); then compare that byte. */
  const unsigned char *x = a, *y = b;
  __asm__ volatile("repe cmpsb" : "+S"(x), "+D"(y), "+c"(n) : : "cc", "memory");
  return x[-1] - y[-1];
}

size_t strlen(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}
