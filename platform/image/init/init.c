/*
 * /sbin/init of Ignition's base image: PID 1 of every microVM.
 *
 * It does only what the guest needs before the agent can serve, in this order: mount /proc, /sys,
 * /dev (devtmpfs), /dev/pts, /run and /tmp; give itself a console if the kernel found none; bring
 * up lo and configure one interface from the kernel command line; optionally mount the function
 * drive; start the agent (`node /opt/ignition/agent.mjs --vsock 52`); reap every child (orphans
 * re-parent to PID 1); and when the agent exits, stop everything and leave the machine.
 *
 * Why C, static: PID 1 must start in microseconds, must not depend on the dynamic loader or any
 * file beyond itself, and must never die (the kernel panics when init exits). A shell needs a
 * busybox we would have to ship; a Node init would delay the agent by a second Node start-up.
 *
 * Command line (read from /proc/cmdline; IGNITION_CMDLINE overrides it for tests):
 *   ignition.ip=<client>:<server>:<gw>:<netmask>:<hostname>:<dev>:<autoconf>:<dns0>:<dns1>
 *        the kernel's `ip=` syntax (also honoured as plain `ip=`; harmless when the kernel
 *        already applied it). `dev` defaults to eth0.
 *   ignition.mtu=<n>        MTU of that interface (the slot's or the bridge's; default: the kernel's)
 *   ignition.port=<n>       vsock port of the agent (default 52)
 *   ignition.listen=uds     run the agent on a Unix socket (/run/ignition/agent.sock) instead of
 *        vsock: for emulators without a vsock device (the QEMU smoke test) and for debugging
 *   ignition.fn=<device>    mount this ext4 device read-only at /opt/function
 *   ignition.halt=reboot|poweroff|halt   how to leave (default reboot: with `reboot=k` a guest
 *        reboot makes Firecracker exit; under QEMU use -no-reboot)
 * Other `KEY=value` words the kernel passes as environment reach the agent unchanged.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NODE "/usr/local/bin/node"
#define AGENT "/opt/ignition/agent.mjs"

static char cmdline[4096];

static void logf_(const char *fmt, const char *a, const char *b) {
  dprintf(2, "ignition-init: ");
  dprintf(2, fmt, a ? a : "", b ? b : "");
  dprintf(2, "\n");
}

/* Returns the value of `key=` in the command line (copied into out), or NULL. */
static const char *param(const char *key, char *out, size_t outlen) {
  size_t klen = strlen(key);
  const char *p = cmdline;
  while (*p) {
    while (*p == ' ' || *p == '\n') p++;
    const char *end = p;
    while (*end && *end != ' ' && *end != '\n') end++;
    if ((size_t)(end - p) > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
      size_t n = (size_t)(end - p) - klen - 1;
      if (n >= outlen) n = outlen - 1;
      memcpy(out, p + klen + 1, n);
      out[n] = 0;
      return out;
    }
    p = end;
  }
  return NULL;
}

static void read_cmdline(void) {
  const char *over = getenv("IGNITION_CMDLINE");
  if (over) {
    snprintf(cmdline, sizeof cmdline, "%s", over);
    return;
  }
  int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t n = read(fd, cmdline, sizeof cmdline - 1);
  cmdline[n > 0 ? n : 0] = 0;
  close(fd);
}

/* Mounts unless something is mounted there already (EBUSY) or the kernel lacks the type. */
static void mount_fs(const char *type, const char *dir, unsigned long flags, const char *data) {
  mkdir(dir, 0755);
  if (mount(type, dir, type, flags, data) < 0 && errno != EBUSY) logf_("mount %s on %s failed", type, dir);
}

/* After /dev exists: if the kernel could not open a console for us, use /dev/console. */
static void ensure_stdio(void) {
  if (fcntl(1, F_GETFD) >= 0 && fcntl(2, F_GETFD) >= 0) return;
  int fd = open("/dev/console", O_RDWR | O_NOCTTY);
  if (fd < 0) return;
  for (int i = 0; i < 3; i++) if (fcntl(i, F_GETFD) < 0) dup2(fd, i);
  if (fd > 2) close(fd);
}

static int set_addr(int s, const char *dev, unsigned long req, const char *ip) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", dev);
  struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
  sin->sin_family = AF_INET;
  if (inet_pton(AF_INET, ip, &sin->sin_addr) != 1) return -1;
  return ioctl(s, req, &ifr);
}

static int link_up(int s, const char *dev) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", dev);
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) return -1;
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  return ioctl(s, SIOCSIFFLAGS, &ifr);
}

/* Splits `v` at ':' into at most n fields (empty fields stay empty strings). */
static int split(char *v, char **f, int n) {
  int i = 0;
  f[i++] = v;
  for (char *p = v; *p && i < n; p++) if (*p == ':') { *p = 0; f[i++] = p + 1; }
  for (int j = i; j < n; j++) f[j] = "";
  return i;
}

static void configure_network(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return;
  link_up(s, "lo");
  char v[512];
  if (!param("ignition.ip", v, sizeof v) && !param("ip", v, sizeof v)) { close(s); return; }
  char *f[9];
  split(v, f, 9);
  const char *dev = *f[5] ? f[5] : "eth0";
  if (*f[0] && set_addr(s, dev, SIOCSIFADDR, f[0]) < 0) logf_("cannot set address %s on %s", f[0], dev);
  if (*f[3] && set_addr(s, dev, SIOCSIFNETMASK, f[3]) < 0) logf_("cannot set netmask %s on %s", f[3], dev);
  char mtu[16];
  if (param("ignition.mtu", mtu, sizeof mtu)) {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, dev, IFNAMSIZ - 1);
    ifr.ifr_mtu = atoi(mtu);
    if (ifr.ifr_mtu <= 0 || ioctl(s, SIOCSIFMTU, &ifr) < 0) logf_("cannot set MTU %s on %s", mtu, dev);
  }
  if (link_up(s, dev) < 0) logf_("cannot bring up %s%s", dev, NULL);
  if (*f[2]) {
    struct rtentry rt;
    memset(&rt, 0, sizeof rt);
    struct sockaddr_in *gw = (struct sockaddr_in *)&rt.rt_gateway;
    gw->sin_family = AF_INET;
    ((struct sockaddr_in *)&rt.rt_dst)->sin_family = AF_INET;
    ((struct sockaddr_in *)&rt.rt_genmask)->sin_family = AF_INET;
    rt.rt_flags = RTF_UP | RTF_GATEWAY;
    rt.rt_dev = (char *)dev;
    if (inet_pton(AF_INET, f[2], &gw->sin_addr) == 1 && ioctl(s, SIOCADDRT, &rt) < 0 && errno != EEXIST)
      logf_("cannot add default route via %s%s", f[2], NULL);
  }
  if (*f[4]) sethostname(f[4], strlen(f[4]));
  if (*f[7]) {
    int fd = open("/etc/resolv.conf", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
      dprintf(fd, "nameserver %s\n", f[7]);
      if (*f[8]) dprintf(fd, "nameserver %s\n", f[8]);
      close(fd);
    }
  }
  close(s);
}

static pid_t start_agent(void) {
  char port[16] = "52";
  param("ignition.port", port, sizeof port);
  pid_t pid = fork();
  if (pid != 0) return pid;
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  setsid();
  if (!getenv("PATH")) setenv("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", 1);
  if (!getenv("HOME") || strcmp(getenv("HOME"), "/") == 0) setenv("HOME", "/root", 1);
  chdir("/");
  char listen[16] = "vsock";
  param("ignition.listen", listen, sizeof listen);
  char *argv[] = { NODE, AGENT, "--vsock", port, NULL };
  if (strcmp(listen, "uds") == 0) {
    mkdir("/run/ignition", 0700);
    argv[2] = "--uds";
    argv[3] = "/run/ignition/agent.sock";
  }
  execv(NODE, argv);
  logf_("cannot exec %s: %s", NODE, strerror(errno));
  _exit(127);
}

/* Sends sig to every process but us, then reaps until none is left or the deadline passes. */
static void stop_all(int sig, int seconds) {
  kill(-1, sig);
  time_t deadline = time(NULL) + seconds;
  while (time(NULL) < deadline) {
    pid_t p = waitpid(-1, NULL, WNOHANG);
    if (p < 0 && errno == ECHILD) return;
    if (p <= 0) usleep(20000);
  }
}

int main(void) {
  /* Ctrl-Alt-Del (Firecracker's SendCtrlAltDel) becomes SIGINT to us instead of an instant reset. */
  reboot(RB_DISABLE_CAD);
  /* Every signal we act on is blocked and taken synchronously with sigwaitinfo, so none can slip
   * in between a check and a wait. Children get an empty mask back before exec. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGPWR);
  sigaddset(&set, SIGALRM);
  sigprocmask(SIG_BLOCK, &set, NULL);

  mount_fs("proc", "/proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  mount_fs("sysfs", "/sys", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  if (access("/dev/null", F_OK) < 0) mount_fs("devtmpfs", "/dev", MS_NOSUID, "mode=0755");
  mount_fs("devpts", "/dev/pts", MS_NOSUID | MS_NOEXEC, "mode=0620,ptmxmode=0666");
  mount_fs("tmpfs", "/run", MS_NOSUID | MS_NODEV, "mode=0755");
  mount_fs("tmpfs", "/tmp", MS_NOSUID | MS_NODEV, "mode=1777");
  ensure_stdio();
  read_cmdline();
  configure_network();

  char fn[128];
  if (param("ignition.fn", fn, sizeof fn)) {
    mkdir("/opt/function", 0755);
    if (mount(fn, "/opt/function", "ext4", MS_RDONLY | MS_NODEV | MS_NOSUID, NULL) < 0)
      logf_("cannot mount function drive %s: %s", fn, strerror(errno));
  }

  pid_t agent = start_agent();
  int status = 0, agent_done = agent < 0;
  while (!agent_done) {
    siginfo_t info;
    int sig = sigwaitinfo(&set, &info);
    if (sig == SIGCHLD) {
      /* Reap everything that has exited: the agent, and orphans re-parented to PID 1. */
      for (;;) {
        int st;
        pid_t p = waitpid(-1, &st, WNOHANG);
        if (p <= 0) break;
        if (p == agent) { status = st; agent_done = 1; }
      }
    } else if (sig == SIGTERM || sig == SIGINT || sig == SIGPWR) {
      kill(agent, SIGTERM);
      alarm(5); /* the agent gets five seconds to drain, then SIGKILL */
    } else if (sig == SIGALRM) {
      kill(agent, SIGKILL);
    }
  }
  if (WIFEXITED(status)) dprintf(2, "ignition-init: agent exited with status %d\n", WEXITSTATUS(status));
  else if (WIFSIGNALED(status)) dprintf(2, "ignition-init: agent killed by signal %d\n", WTERMSIG(status));

  stop_all(SIGTERM, 2);
  stop_all(SIGKILL, 1);
  sync();

  char how[16] = "reboot";
  param("ignition.halt", how, sizeof how);
  int cmd = strcmp(how, "poweroff") == 0 ? RB_POWER_OFF : strcmp(how, "halt") == 0 ? RB_HALT_SYSTEM : RB_AUTOBOOT;
  reboot(cmd);
  /* Only reached if reboot failed (no CAP_SYS_BOOT): exiting would panic a real kernel, so wait. */
  logf_("reboot failed: %s%s", strerror(errno), NULL);
  for (;;) pause();
}
