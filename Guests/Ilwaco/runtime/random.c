/* random.c: arc4random_buf for Embedded Swift's hashing seed. DETERMINISTIC, not random: a fixed
 * xorshift64 stream, so runs are reproducible; never use it for anything secret. */
#include <stddef.h>
#include <stdint.h>

static uint64_t state = 0x9e3779b97f4a7c15ull;

void arc4random_buf(void *buffer, size_t length) {
  unsigned char *bytes = buffer;
  for (size_t i = 0; i < length; i++) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    bytes[i] = (unsigned char)state;
  }
}
