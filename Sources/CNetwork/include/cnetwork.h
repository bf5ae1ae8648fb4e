/* cnetwork.h: a C shim for the TAP uplink: TUNSETIFF and interface address/flag ioctls, whose request
 * numbers are macros and whose struct ifreq is a union Swift cannot fill conveniently; and passing descriptors
 * over unix sockets (control messages, also macros). Linux only. */
#ifndef CNETWORK_H
#define CNETWORK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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

/** The most descriptors one message passes. */
#define CNET_MAXIMUM_PASSED 4

/** Sends `length` bytes of `data` on unix socket `socket` with `count` (at most CNET_MAXIMUM_PASSED) open
 *  descriptors `fds` attached (SCM_RIGHTS; the receiver gets copies, the sender keeps its own). Returns the bytes
 *  sent, or -errno. */
ssize_t cnet_send_with_descriptors(int socket, const void *data, size_t length, const int *fds, int count);

/** Receives one message of at most `length` bytes into `data` and the descriptors attached to it, close-on-exec,
 *  up to `capacity` (at most CNET_MAXIMUM_PASSED) into `fds`, their number in `received`; any more are closed.
 *  Returns the bytes received (0 at the end of the stream), or -errno (-EMSGSIZE for a message or control data
 *  cut short, whose descriptors are all closed). */
ssize_t cnet_receive_with_descriptors(int socket, void *data, size_t length, int *fds, int capacity, int *received);

#endif /* CNETWORK_H */
