/* cnetwork.c: the TAP and interface ioctls behind cnetwork.h. */
#include "cnetwork.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* Fills ifr_name from `name` (at most IFNAMSIZ - 1 bytes); -EINVAL when too long. */
static int set_name(struct ifreq *request, const char *name) {
  size_t length = strlen(name);
  if (length == 0 || length >= IFNAMSIZ) return -EINVAL;
  memset(request, 0, sizeof *request);
  memcpy(request->ifr_name, name, length);
  return 0;
}

int cnet_tap_open(const char *name, char *actual, size_t actual_size) {
  struct ifreq request;
  int status = set_name(&request, name);
  if (status < 0) return status;
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return -errno;
  request.ifr_flags = IFF_TAP | IFF_NO_PI;
  if (ioctl(fd, TUNSETIFF, &request) < 0) {
    int error = errno;
    close(fd);
    return -error;
  }
  if (actual_size > 0) {
    size_t length = strnlen(request.ifr_name, IFNAMSIZ);
    if (length >= actual_size) length = actual_size - 1;
    memcpy(actual, request.ifr_name, length);
    actual[length] = 0;
  }
  return fd;
}

/* Runs one interface ioctl on a throwaway AF_INET datagram socket. */
static int interface_ioctl(unsigned long operation, struct ifreq *request) {
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return -errno;
  int status = ioctl(sock, operation, request) < 0 ? -errno : 0;
  close(sock);
  return status;
}

static void set_address(struct ifreq *request, uint32_t address) {
  struct sockaddr_in *in = (struct sockaddr_in *)&request->ifr_addr;
  in->sin_family = AF_INET;
  in->sin_addr.s_addr = htonl(address);
}

int cnet_interface_set_ipv4(const char *name, uint32_t address, uint32_t netmask) {
  struct ifreq request;
  int status = set_name(&request, name);
  if (status < 0) return status;
  set_address(&request, address);
  status = interface_ioctl(SIOCSIFADDR, &request);
  if (status < 0) return status;
  set_name(&request, name);
  set_address(&request, netmask);
  return interface_ioctl(SIOCSIFNETMASK, &request);
}

int cnet_interface_up(const char *name) {
  struct ifreq request;
  int status = set_name(&request, name);
  if (status < 0) return status;
  status = interface_ioctl(SIOCGIFFLAGS, &request);
  if (status < 0) return status;
  request.ifr_flags |= IFF_UP | IFF_RUNNING;
  return interface_ioctl(SIOCSIFFLAGS, &request);
}

int cnet_interface_mac(const char *name, uint8_t mac[6]) {
  struct ifreq request;
  int status = set_name(&request, name);
  if (status < 0) return status;
  status = interface_ioctl(SIOCGIFHWADDR, &request);
  if (status < 0) return status;
  memcpy(mac, request.ifr_hwaddr.sa_data, 6);
  return 0;
}

int cnet_eventfd(void) {
  int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  return fd < 0 ? -errno : fd;
}

int cnet_wait_readable(int fd, int wake_fd) {
  struct pollfd fds[2] = {{.fd = fd, .events = POLLIN}, {.fd = wake_fd, .events = POLLIN}};
  for (;;) {
    int ready = poll(fds, 2, -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (fds[1].revents) return 1;
    if (fds[0].revents) return 0;
  }
}
