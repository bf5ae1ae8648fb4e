/* cnetwork.h: a C shim for the TAP uplink: TUNSETIFF and interface address/flag ioctls, whose request
 * numbers are macros and whose struct ifreq is a union Swift cannot fill conveniently. Linux only. */
#ifndef CNETWORK_H
#define CNETWORK_H

#include <stddef.h>
#include <stdint.h>

/** Opens /dev/net/tun and attaches it to TAP interface `name` (IFF_TAP | IFF_NO_PI; created if missing),
 *  non-blocking and close-on-exec. Writes the kernel's name for it into `actual` (at least 16 bytes).
 *  Returns the descriptor, or -errno. */
int cnet_tap_open(const char *name, char *actual, size_t actual_size);

/** Sets interface `name`'s IPv4 address and netmask (numbers, a.b.c.d = 0xaabbccdd). 0 or -errno. */
int cnet_interface_set_ipv4(const char *name, uint32_t address, uint32_t netmask);

/** Sets IFF_UP (and IFF_RUNNING) on interface `name`. 0 or -errno. */
int cnet_interface_up(const char *name);

/** Reads interface `name`'s MAC address into `mac`. 0 or -errno. */
int cnet_interface_mac(const char *name, uint8_t mac[6]);

/** Creates a non-blocking, close-on-exec eventfd (to wake a reader blocked in poll). Returns fd or -errno. */
int cnet_eventfd(void);

/** Blocks until `fd` or `wake_fd` is readable (or hung up): returns 1 when `wake_fd` is, else 0 when `fd` is;
 *  -errno on error. */
int cnet_wait_readable(int fd, int wake_fd);

#endif /* CNETWORK_H */
