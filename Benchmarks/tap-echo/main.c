/* tap-echo: the network benchmark's baseline: a minimal C program on a TAP device that answers ARP and
 * ICMP echo and echoes UDP for one IPv4 address, with no switch, no VM and no abstraction.
 *
 *   tap-echo NAME HOST_ADDRESS/PREFIX ECHO_ADDRESS
 *
 * Creates TAP interface NAME (IFF_TAP | IFF_NO_PI), gives the host side HOST_ADDRESS/PREFIX, brings it up,
 * prints "ready" and then answers for ECHO_ADDRESS (MAC 02:00 + its four bytes) until killed. Exit 1 on
 * setup errors. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static int fail(const char *what) {
  fprintf(stderr, "tap-echo: %s: %s\n", what, strerror(errno));
  return 1;
}

static int interface_ioctl(unsigned long operation, struct ifreq *request) {
  int sock = socket(AF_INET, SOCK_DGRAM, 0);
  if (sock < 0) return -1;
  int status = ioctl(sock, operation, request);
  close(sock);
  return status;
}

static uint16_t checksum(const uint8_t *data, size_t length, uint32_t sum) {
  for (size_t i = 0; i + 1 < length; i += 2) sum += (uint32_t)data[i] << 8 | data[i + 1];
  if (length & 1) sum += (uint32_t)data[length - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

int main(int argc, char **argv) {
  if (argc != 4 || strlen(argv[1]) >= IFNAMSIZ || !strchr(argv[2], '/')) {
    fprintf(stderr, "usage: tap-echo NAME HOST_ADDRESS/PREFIX ECHO_ADDRESS\n");
    return 2;
  }
  char host[32];
  snprintf(host, sizeof host, "%s", argv[2]);
  char *slash = strchr(host, '/');
  *slash = 0;
  int prefix = atoi(slash + 1);
  struct in_addr host_address, echo_address;
  if (inet_pton(AF_INET, host, &host_address) != 1 || inet_pton(AF_INET, argv[3], &echo_address) != 1 || prefix < 1 ||
      prefix > 30) {
    fprintf(stderr, "tap-echo: bad address\n");
    return 2;
  }
  uint8_t mac[6] = {0x02, 0x00};
  memcpy(mac + 2, &echo_address, 4);

  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) return fail("/dev/net/tun");
  struct ifreq request;
  memset(&request, 0, sizeof request);
  strncpy(request.ifr_name, argv[1], IFNAMSIZ - 1);
  request.ifr_flags = IFF_TAP | IFF_NO_PI;
  if (ioctl(fd, TUNSETIFF, &request) < 0) return fail("TUNSETIFF");

  char path[96];
  snprintf(path, sizeof path, "/proc/sys/net/ipv6/conf/%s/disable_ipv6", argv[1]);
  FILE *ipv6 = fopen(path, "w");
  if (ipv6) {
    fputs("1", ipv6);
    fclose(ipv6);
  }
  struct sockaddr_in *in = (struct sockaddr_in *)&request.ifr_addr;
  memset(&request.ifr_ifru, 0, sizeof request.ifr_ifru);
  in->sin_family = AF_INET;
  in->sin_addr = host_address;
  if (interface_ioctl(SIOCSIFADDR, &request) < 0) return fail("SIOCSIFADDR");
  in->sin_addr.s_addr = htonl(0xffffffffu << (32 - prefix));
  if (interface_ioctl(SIOCSIFNETMASK, &request) < 0) return fail("SIOCSIFNETMASK");
  if (interface_ioctl(SIOCGIFFLAGS, &request) < 0) return fail("SIOCGIFFLAGS");
  request.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (interface_ioctl(SIOCSIFFLAGS, &request) < 0) return fail("SIOCSIFFLAGS");
  printf("ready\n");
  fflush(stdout);

  uint8_t frame[2048];
  for (;;) {
    ssize_t length = read(fd, frame, sizeof frame);
    if (length < 0) {
      if (errno == EINTR) continue;
      return fail("read");
    }
    if (length < 14) continue;
    uint16_t type = (uint16_t)(frame[12] << 8 | frame[13]);
    if (type == 0x0806 && length >= 42 && frame[21] == 1 && memcmp(frame + 38, &echo_address, 4) == 0) {
      /* ARP request for our address: reply. */
      memcpy(frame, frame + 22, 6);
      memcpy(frame + 6, mac, 6);
      frame[21] = 2;
      uint8_t asker_ip[4];
      memcpy(asker_ip, frame + 28, 4);
      memcpy(frame + 32, frame + 22, 6);
      memcpy(frame + 38, asker_ip, 4);
      memcpy(frame + 22, mac, 6);
      memcpy(frame + 28, &echo_address, 4);
      if (write(fd, frame, 42) < 0) return fail("write");
      continue;
    }
    if (type != 0x0800 || length < 34 || memcmp(frame + 30, &echo_address, 4) != 0) continue;
    size_t header = (size_t)(frame[14] & 0x0f) * 4;
    size_t total = (size_t)(frame[16] << 8 | frame[17]);
    if (header < 20 || total < header || 14 + total > (size_t)length) continue;
    uint8_t *payload = frame + 14 + header;
    size_t payload_length = total - header;
    if (frame[23] == 17 && payload_length >= 8) {
      uint8_t port[2];
      memcpy(port, payload, 2);
      memcpy(payload, payload + 2, 2);
      memcpy(payload + 2, port, 2);
      payload[6] = payload[7] = 0; /* no UDP checksum on the reply (optional in IPv4) */
    } else if (frame[23] == 1 && payload_length >= 8 && payload[0] == 8) {
      payload[0] = 0;
      payload[2] = payload[3] = 0;
      uint16_t sum = checksum(payload, payload_length, 0);
      payload[2] = (uint8_t)(sum >> 8);
      payload[3] = (uint8_t)sum;
    } else {
      continue;
    }
    /* Swap the Ethernet and IPv4 addresses (the IPv4 header checksum stays valid). */
    uint8_t other[6];
    memcpy(other, frame + 6, 6);
    memcpy(frame, other, 6);
    memcpy(frame + 6, mac, 6);
    uint8_t source[4];
    memcpy(source, frame + 26, 4);
    memcpy(frame + 26, frame + 30, 4);
    memcpy(frame + 30, source, 4);
    if (write(fd, frame, 14 + total) < 0) return fail("write");
  }
}
