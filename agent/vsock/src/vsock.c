/*
 * AF_VSOCK sockets for the guest agent, as a tiny N-API addon.
 *
 * Node has no public AF_VSOCK API. This addon does only the part Node cannot: it creates the
 * socket, binds it and listens (or connects, for loopback tests), and hands back a plain file
 * descriptor. Everything after that (accepting, reading, writing, closing) happens in libuv once
 * the fd is adopted by a `tcp_wrap` TCP handle on the JavaScript side (agent/vsock/index.ts).
 *
 * Why so little C: the unmaintained `node-vsock*` packages run their own blocking accept loops
 * and spin on close. Here nothing blocks except `connect()` (a test-only helper with a kernel
 * timeout), every fd is non-blocking and close-on-exec, so exec'd children never inherit the
 * agent's listener.
 *
 * Errors throw a JS Error whose `code` is the errno name (EAFNOSUPPORT, EADDRINUSE, ...) and whose
 * `errno` is the number, so the TypeScript side can map them to typed Ignition errors.
 */
#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>
#include <linux/random.h>
#include <stdlib.h>
#include <time.h>

static const char *errno_name(int err) {
  switch (err) {
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EADDRINUSE: return "EADDRINUSE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case EINVAL: return "EINVAL";
    case ENODEV: return "ENODEV";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ECONNRESET: return "ECONNRESET";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENOMEM: return "ENOMEM";
    case ENOBUFS: return "ENOBUFS";
    case EBADF: return "EBADF";
    case ENOTSOCK: return "ENOTSOCK";
    case ENETUNREACH: return "ENETUNREACH";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case ENOENT: return "ENOENT";
    default: return "EUNKNOWN";
  }
}

/* Throws `Error(<syscall> failed: <strerror>)` with .code and .errno; always returns NULL. */
static napi_value throw_errno(napi_env env, const char *syscall, int err) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s failed: %s", syscall, strerror(err));
  napi_value code, text, error, num, sys;
  napi_create_string_utf8(env, errno_name(err), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, code, text, &error);
  napi_create_int32(env, err, &num);
  napi_set_named_property(env, error, "errno", num);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sys);
  napi_set_named_property(env, error, "syscall", sys);
  napi_throw(env, error);
  return NULL;
}

/* Reads argument `i` as an unsigned 32-bit integer; throws a TypeError and returns 0 on misuse. */
static int arg_u32(napi_env env, napi_value *argv, size_t argc, size_t i, const char *name, uint32_t *out) {
  napi_valuetype type = napi_undefined;
  if (i < argc) napi_typeof(env, argv[i], &type);
  if (type != napi_number || napi_get_value_uint32(env, argv[i], out) != napi_ok) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be an unsigned 32-bit integer", name);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return 0;
  }
  return 1;
}

static napi_value make_int(napi_env env, int64_t v) {
  napi_value out;
  napi_create_int64(env, v, &out);
  return out;
}

/* listen(port, backlog) -> fd: a non-blocking, close-on-exec AF_VSOCK stream socket bound to
 * VMADDR_CID_ANY:port and listening. port VMADDR_PORT_ANY (0xffffffff) lets the kernel choose. */
static napi_value vs_listen(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t port, backlog;
  if (!arg_u32(env, argv, argc, 0, "port", &port)) return NULL;
  if (!arg_u32(env, argv, argc, 1, "backlog", &backlog)) return NULL;

  int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket(AF_VSOCK)", errno);

  struct sockaddr_vm addr;
  memset(&addr, 0, sizeof addr);
  addr.svm_family = AF_VSOCK;
  addr.svm_cid = VMADDR_CID_ANY;
  addr.svm_port = port;
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "bind(AF_VSOCK)", err);
  }
  if (listen(fd, (int)(backlog > 4096 ? 4096 : backlog)) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "listen(AF_VSOCK)", err);
  }
  return make_int(env, fd);
}

/* connect(cid, port, timeoutMs) -> fd: a connected, then non-blocking, close-on-exec stream.
 * The connect itself blocks (bounded by SO_VM_SOCKETS_CONNECT_TIMEOUT); it exists for loopback
 * tests (CID 1), never for production traffic. */
static napi_value vs_connect(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t cid, port, timeout_ms;
  if (!arg_u32(env, argv, argc, 0, "cid", &cid)) return NULL;
  if (!arg_u32(env, argv, argc, 1, "port", &port)) return NULL;
  if (!arg_u32(env, argv, argc, 2, "timeoutMs", &timeout_ms)) return NULL;

  int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket(AF_VSOCK)", errno);
  struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
  setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT_OLD, &tv, sizeof tv);

  struct sockaddr_vm addr;
  memset(&addr, 0, sizeof addr);
  addr.svm_family = AF_VSOCK;
  addr.svm_cid = cid;
  addr.svm_port = port;
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "connect(AF_VSOCK)", err);
  }
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "fcntl(O_NONBLOCK)", err);
  }
  return make_int(env, fd);
}

/* localAddress(fd) -> { cid, port }: getsockname of a vsock socket. */
static napi_value vs_local_address(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t fd;
  if (!arg_u32(env, argv, argc, 0, "fd", &fd)) return NULL;
  struct sockaddr_vm addr;
  socklen_t len = sizeof addr;
  memset(&addr, 0, sizeof addr);
  if (getsockname((int)fd, (struct sockaddr *)&addr, &len) < 0) return throw_errno(env, "getsockname", errno);
  if (addr.svm_family != AF_VSOCK) return throw_errno(env, "getsockname", EAFNOSUPPORT);
  napi_value out;
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "cid", make_int(env, addr.svm_cid));
  napi_set_named_property(env, out, "port", make_int(env, addr.svm_port));
  return out;
}

/* localCid() -> number: this machine's CID from /dev/vsock, or -1 when the device is absent. */
static napi_value vs_local_cid(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = open("/dev/vsock", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_int(env, -1);
  unsigned int cid = 0;
  int rc = ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid);
  close(fd);
  return make_int(env, rc < 0 ? -1 : (int64_t)cid);
}

/* closeFd(fd): for fds that never reached a libuv handle (self-test, error paths). */
static napi_value vs_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t fd;
  if (!arg_u32(env, argv, argc, 0, "fd", &fd)) return NULL;
  if (close((int)fd) < 0) return throw_errno(env, "close", errno);
  return NULL;
}

/* setRealtime(ms): clock_settime(CLOCK_REALTIME). A restored guest wakes with the snapshot's
 * wall clock; the agent takes the host's without needing `date` in the image. */
static napi_value vs_set_realtime(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  double ms;
  if (argc < 1 || napi_get_value_double(env, argv[0], &ms) != napi_ok || !(ms >= 0)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "ms must be a non-negative number");
    return NULL;
  }
  struct timespec ts = { .tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)((ms - (double)(time_t)(ms / 1000) * 1000) * 1e6) };
  if (clock_settime(CLOCK_REALTIME, &ts) < 0) return throw_errno(env, "clock_settime", errno);
  return NULL;
}

/* addEntropy(buffer): RNDADDENTROPY (credited) on /dev/random, then RNDRESEEDCRNG so the kernel's
 * CSPRNG is reseeded now rather than at its next scheduled reseed. Clones of one snapshot share
 * the kernel RNG state until this runs. Needs CAP_SYS_ADMIN (the agent is root in the guest). */
static napi_value vs_add_entropy(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *data;
  size_t len;
  bool is_buffer = false;
  if (argc >= 1) napi_is_buffer(env, argv[0], &is_buffer);
  if (!is_buffer || napi_get_buffer_info(env, argv[0], &data, &len) != napi_ok || len == 0 || len > 4096) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "entropy must be a Buffer of 1..4096 bytes");
    return NULL;
  }
  struct rand_pool_info *pool = malloc(sizeof *pool + len);
  if (!pool) return throw_errno(env, "malloc", ENOMEM);
  pool->entropy_count = (int)(len * 8);
  pool->buf_size = (int)len;
  memcpy(pool->buf, data, len);
  int fd = open("/dev/random", O_WRONLY | O_CLOEXEC);
  if (fd < 0) { free(pool); return throw_errno(env, "open(/dev/random)", errno); }
  int rc = ioctl(fd, RNDADDENTROPY, pool);
  int err = errno;
  free(pool);
  if (rc < 0) { close(fd); return throw_errno(env, "ioctl(RNDADDENTROPY)", err); }
  /* RNDRESEEDCRNG exists since Linux 4.17; older kernels reseed on their own schedule. */
  ioctl(fd, RNDRESEEDCRNG);
  close(fd);
  return make_int(env, (int64_t)len);
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "listen", NULL, vs_listen, NULL, NULL, NULL, napi_enumerable, NULL },
    { "connect", NULL, vs_connect, NULL, NULL, NULL, napi_enumerable, NULL },
    { "localAddress", NULL, vs_local_address, NULL, NULL, NULL, napi_enumerable, NULL },
    { "localCid", NULL, vs_local_cid, NULL, NULL, NULL, napi_enumerable, NULL },
    { "closeFd", NULL, vs_close, NULL, NULL, NULL, napi_enumerable, NULL },
    { "setRealtime", NULL, vs_set_realtime, NULL, NULL, NULL, napi_enumerable, NULL },
    { "addEntropy", NULL, vs_add_entropy, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  napi_value any;
  napi_create_uint32(env, VMADDR_CID_ANY, &any);
  napi_set_named_property(env, exports, "VMADDR_CID_ANY", any);
  napi_value abi;
  napi_create_uint32(env, NAPI_VERSION, &abi);
  napi_set_named_property(env, exports, "napiVersion", abi);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
