/* descriptor_passing.c: sending and receiving open descriptors over a unix socket (SCM_RIGHTS), whose control
 * messages are built with macros Swift cannot use. */
#include "cnetwork.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Room for the control message of CNET_MAXIMUM_PASSED descriptors. */
#define CONTROL_SPACE CMSG_SPACE(sizeof(int) * CNET_MAXIMUM_PASSED)

ssize_t cnet_send_with_descriptors(int socket, const void *data, size_t length, const int *fds, int count) {
  if (count < 0 || count > CNET_MAXIMUM_PASSED) return -EINVAL;
  struct iovec vector = {.iov_base = (void *)data, .iov_len = length};
  union {
    char bytes[CONTROL_SPACE];
    struct cmsghdr align;
  } control;
  memset(&control, 0, sizeof control);
  struct msghdr message = {.msg_iov = &vector, .msg_iovlen = 1};
  if (count > 0) {
    message.msg_control = control.bytes;
    message.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)count);
    struct cmsghdr *header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)count);
    memcpy(CMSG_DATA(header), fds, sizeof(int) * (size_t)count);
  }
  ssize_t sent;
  do {
    sent = sendmsg(socket, &message, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  return sent < 0 ? -errno : sent;
}

ssize_t cnet_receive_with_descriptors(int socket, void *data, size_t length, int *fds, int capacity, int *received) {
  *received = 0;
  if (capacity < 0 || capacity > CNET_MAXIMUM_PASSED) return -EINVAL;
  struct iovec vector = {.iov_base = data, .iov_len = length};
  union {
    char bytes[CONTROL_SPACE];
    struct cmsghdr align;
  } control;
  struct msghdr message = {
      .msg_iov = &vector, .msg_iovlen = 1, .msg_control = control.bytes, .msg_controllen = sizeof control.bytes};
  ssize_t count;
  do {
    count = recvmsg(socket, &message, MSG_CMSG_CLOEXEC);
  } while (count < 0 && errno == EINTR);
  if (count < 0) return -errno;
  /* Every descriptor that arrived is taken: kept up to `capacity`, the rest closed, so none leaks. */
  int kept = 0;
  for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header != NULL; header = CMSG_NXTHDR(&message, header)) {
    if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
    size_t bytes = header->cmsg_len - CMSG_LEN(0);
    size_t arrived = bytes / sizeof(int);
    for (size_t index = 0; index < arrived; index++) {
      int fd;
      memcpy(&fd, CMSG_DATA(header) + index * sizeof(int), sizeof fd);
      if (kept < capacity) {
        fds[kept++] = fd;
      } else {
        close(fd);
      }
    }
  }
  *received = kept;
  if (message.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) {
    for (int index = 0; index < kept; index++) close(fds[index]);
    *received = 0;
    return -EMSGSIZE;
  }
  return count;
}
