/*
 * Writes the process driver's seccomp filter as classic BPF (an array of struct sock_filter), the
 * form `bwrap --seccomp FD` reads. libseccomp builds it, so syscall numbers, the architecture
 * check and 64-bit argument comparisons come from the library instead of hand-written BPF.
 *
 * Usage: seccomp-gen OUT      write the filter to OUT
 *        seccomp-gen --list   print the syscalls the filter refuses on this architecture
 *        seccomp-gen --pfc    print libseccomp's readable form of the filter (for review)
 *
 * Everything not listed is allowed: the sandbox (namespaces, read-only root) is the boundary and
 * this filter only takes away the kernel's riskier doors, so a function's ordinary syscalls never
 * depend on an allow-list keeping up with Node, libuv and glibc.
 */
#define _GNU_SOURCE /* the CLONE_NEW* flags of <sched.h> */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* Only clone3 can ask for a time namespace (clone reads this byte as the exit signal); listed so
 * the clone rule below matches the whole namespace family either way. */
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

#define SYS(name) { #name, SCMP_SYS(name) }
struct sys { const char *name; int nr; };

/* Refused with EPERM whatever their arguments: mounts and namespaces (the sandbox's layout is
 * final), other processes' memory, kernel keyrings, eBPF and perf, modules and kexec, host-wide
 * clocks, swap, accounting and logs, raw I/O ports. */
static const struct sys eperm[] = {
  SYS(mount), SYS(umount2), SYS(pivot_root), SYS(chroot), SYS(move_mount), SYS(open_tree),
  SYS(fsopen), SYS(fsconfig), SYS(fsmount), SYS(fspick),
/* Newer than some libseccomp and kernel headers; without them the name cannot be compiled. */
#if defined(__SNR_mount_setattr) && defined(__NR_mount_setattr)
  SYS(mount_setattr),
#endif
  SYS(open_by_handle_at), SYS(name_to_handle_at), SYS(ptrace), SYS(process_vm_readv),
  SYS(process_vm_writev), SYS(kcmp), SYS(keyctl), SYS(add_key), SYS(request_key), SYS(bpf),
  SYS(perf_event_open), SYS(userfaultfd), SYS(kexec_load), SYS(kexec_file_load),
  SYS(init_module), SYS(finit_module), SYS(delete_module), SYS(unshare), SYS(setns),
  SYS(swapon), SYS(swapoff), SYS(reboot), SYS(acct), SYS(quotactl),
#if defined(__SNR_quotactl_fd) && defined(__NR_quotactl_fd)
  SYS(quotactl_fd),
#endif
  SYS(settimeofday), SYS(clock_settime), SYS(clock_adjtime), SYS(adjtimex), SYS(syslog),
  SYS(iopl), SYS(ioperm), SYS(lookup_dcookie), SYS(vhangup), SYS(uselib), SYS(nfsservctl),
  SYS(fanotify_init),
};

/* Refused with ENOSYS, the answer that makes callers fall back: libuv goes back to its thread
 * pool without io_uring, and glibc retries clone3 as clone, whose flags the filter can read
 * (clone3 passes them in a struct that seccomp cannot look into). */
static const struct sys enosys[] = {
  SYS(io_uring_setup), SYS(io_uring_enter), SYS(io_uring_register), SYS(clone3),
};

/* The flags that would give a clone child new namespaces; threads and fork never set them. */
static const uint64_t newns = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
                                   CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP | CLONE_NEWTIME;

static int list_only;

/* Adds one rule, skipping a syscall this architecture does not have (libseccomp gives those
 * negative pseudo numbers). Returns a negative errno on failure. */
static int add(scmp_filter_ctx ctx, uint32_t action, const struct sys *s, unsigned n,
               const struct scmp_arg_cmp *cmp) {
  if (s->nr < 0) {
    fprintf(stderr, "seccomp-gen: %s: not a syscall on this architecture, skipped\n", s->name);
    return 0;
  }
  int rc = seccomp_rule_add_array(ctx, action, s->nr, n, cmp);
  if (rc < 0) fprintf(stderr, "seccomp-gen: %s: %s\n", s->name, strerror(-rc));
  return rc;
}

static int add_all(scmp_filter_ctx ctx, uint32_t action, const struct sys *list, size_t count) {
  for (size_t i = 0; i < count; i++) {
    if (add(ctx, action, &list[i], 0, NULL) < 0) return -1;
    if (list_only && list[i].nr >= 0) printf("%s\n", list[i].name);
  }
  return 0;
}

static int build(scmp_filter_ctx ctx) {
  const struct sys clone = SYS(clone), personality = SYS(personality), ioctl_ = SYS(ioctl);
  /* The exported BPF does not carry it: bwrap sets no_new_privs itself before loading the
   * filter. Kept on (libseccomp's default) so a direct seccomp_load of this context does too. */
  if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1) < 0) return -1;
  /* x32 and i386 syscalls of an x86_64 process are refused by the architecture check. Kill the
   * whole process rather than the default's one thread, so the driver sees its agent die
   * instead of a Node process missing a thread. */
  if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) < 0) return -1;
  /* Sorted into a binary tree: each allowed syscall costs a few comparisons, not one per rule. */
  if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2) < 0) return -1;

  if (add_all(ctx, SCMP_ACT_ERRNO(EPERM), eperm, sizeof eperm / sizeof eperm[0]) < 0) return -1;
  if (add_all(ctx, SCMP_ACT_ERRNO(ENOSYS), enosys, sizeof enosys / sizeof enosys[0]) < 0) return -1;

  /* One rule per flag: a rule compares an argument once, and rules are alternatives. s390 is
   * the architecture whose clone takes the flags second. */
#if defined(__s390__) || defined(__s390x__)
  const unsigned flags_arg = 1;
#else
  const unsigned flags_arg = 0;
#endif
  for (unsigned bit = 0; bit < 32; bit++) {
    uint64_t flag = (uint64_t)1 << bit;
    if (!(newns & flag)) continue;
    struct scmp_arg_cmp cmp = SCMP_CMP64(flags_arg, SCMP_CMP_MASKED_EQ, flag, flag);
    if (add(ctx, SCMP_ACT_ERRNO(EPERM), &clone, 1, &cmp) < 0) return -1;
  }

  /* personality(2) may only be queried (0xffffffff) or reset to PER_LINUX (0); other values
   * switch off address-space randomisation or make data executable. The kernel reads the low
   * 32 bits only, so the rules do too. "Some bit set and some bit clear" cannot be one rule,
   * so it is 32: bit i set and bit i+1 (around the word) clear. Every value but 0 and
   * 0xffffffff has such a pair, since walking around its bits must step from a 1 to a 0. */
  for (unsigned i = 0; i < 32; i++) {
    uint32_t set = 1U << i, clear = 1U << ((i + 1) % 32);
    struct scmp_arg_cmp cmp = SCMP_CMP32(0, SCMP_CMP_MASKED_EQ, set | clear, set);
    if (add(ctx, SCMP_ACT_ERRNO(EPERM), &personality, 1, &cmp) < 0) return -1;
  }

  /* TIOCSTI pushes input into a terminal, typing commands into whatever shell reads it. The
   * kernel reads the request as 32 bits, so the rule must too: an equality (even SCMP_CMP32's)
   * also requires the upper half to be zero, and TIOCSTI with any upper bit set would pass. */
  struct scmp_arg_cmp tiocsti = SCMP_CMP64(1, SCMP_CMP_MASKED_EQ, 0xffffffffULL, TIOCSTI);
  if (add(ctx, SCMP_ACT_ERRNO(EPERM), &ioctl_, 1, &tiocsti) < 0) return -1;
  if (list_only) printf("clone\npersonality\nioctl\n");
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: seccomp-gen OUT | --list | --pfc\n");
    return 2;
  }
  list_only = strcmp(argv[1], "--list") == 0;
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx) {
    fprintf(stderr, "seccomp-gen: seccomp_init failed\n");
    return 1;
  }
  int rc = build(ctx) < 0 ? 1 : 0;
  if (rc == 0 && !list_only) {
    int pfc = strcmp(argv[1], "--pfc") == 0;
    int fd = pfc ? STDOUT_FILENO : open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      fprintf(stderr, "seccomp-gen: %s: %s\n", argv[1], strerror(errno));
      rc = 1;
    } else {
      int e = pfc ? seccomp_export_pfc(ctx, fd) : seccomp_export_bpf(ctx, fd);
      if (e < 0) fprintf(stderr, "seccomp-gen: export: %s\n", strerror(-e));
      if (e < 0 || (!pfc && close(fd) < 0)) rc = 1;
    }
  }
  seccomp_release(ctx);
  return rc;
}
