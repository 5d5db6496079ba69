/*
 * tsbuild-sandbox: runs one build step's process in fresh namespaces on an overlayfs root.
 *
 * Invocation: tsbuild-sandbox  (spec on fd 3, status reported on fd 4; for net=private the network
 * configuration arrives on fd 5)
 *
 * The spec is a sequence of NUL-terminated "key=value" records (values may hold any byte but NUL):
 *   root=DIR        empty host directory the overlay is mounted on (inside our mount ns only)
 *   lower=DIR       a lower layer; repeated, TOPMOST FIRST (overlayfs order)
 *   upper=DIR work=DIR   overlay upper and work directories (same filesystem)
 *   arg=S  env=K=V  repeated, in order; args[0] is looked up in the spec's PATH
 *   cwd=/p          working directory, resolved inside the rootfs, created if missing
 *   uid=N gid=N group=N (repeated: supplementary groups)
 *   hostname=S  net=none|host|private  nonewprivs=0|1
 *   cgroup=FILE     a cgroup.procs file P joins before anything of the run exists (repeated: one per
 *                   v1 hierarchy); the caller makes the cgroup, sets its limits and removes it
 *   legacy_lowerdir=1   use the pre-6.8 "lowerdir=" list even when lowerdir+ works (tests)
 *   volatile=1      mount the overlay "volatile" (the lowerdir+ path, Linux >= 6.8; the older one
 *                   ignores it): its unmount does not syncfs the upper dir's whole filesystem, and
 *                   fsyncs inside are no-ops; the caller makes the upper dir durable itself before
 *                   relying on it (a build step's snapshot: snapshots.ts's deferred commit)
 *   bind=SRC\tDST\tro|rw   bind-mount a host file or directory at DST (resolved inside the rootfs)
 *   tmpfs=DST\tSIZE_BYTES   a fresh tmpfs at DST (0: the kernel's default size)
 * Targets missing in the rootfs are created as "stubs" and removed again after the run (with the
 * parent's times restored), so mount points never show up in the layer.
 *
 * Status lines written to fd 4: "pid N" (PID 1 of the sandbox, host numbering) first; for
 * net=private "netns N" (N: the host PID whose /proc/N/ns/net is the run's network namespace);
 * then one of "exit N", "signal N" or "error TEXT". SIGUSR1 to this process kills the whole
 * sandbox. Exit codes: the command's status (128+signal when killed), 125 for failures of the
 * sandbox itself, 127 when the command cannot be executed.
 *
 * net=private: after "netns N" the caller moves one end of a veth pair into that namespace, named
 * eth0, and writes "eth0 ADDR PREFIXLEN GATEWAY|- MTU|0\n" (or "fail REASON\n") to fd 5. PID 1
 * sets the address, netmask, MTU and up flag by ioctl and adds the default route, while the rootfs
 * is being assembled; the command starts only after that. Should the caller or the helper die, the
 * namespace dies with PID 1 and the veth pair with it.
 *
 * Process tree: P (this program, host PID ns) -> C (PID 1 of a new PID ns: mounts, pivot_root,
 * reaps zombies, forwards SIGINT/SIGTERM/SIGHUP/SIGQUIT, cleans stubs) -> G (the command). C dies
 * with P (PDEATHSIG), and when C exits the kernel kills everything else in the PID ns; the mount ns
 * dies with its last process, so nothing outlives a run even after SIGKILL. The command's stdout
 * and stderr are pipes P relays to its own fds 1 and 2 until both reach end of file (so
 * `>/dev/stdout` opens, whatever P was given: Node's stdio are sockets, which would be ENXIO); P
 * reports and exits only then. P joins the cgroups before forking C, so every process of the run is
 * inside them; P and C make themselves exempt from the OOM killer when allowed (CAP_SYS_RESOURCE)
 * and the command gets the caller's oom_score_adj back.
 *
 * Isolation: mount/UTS/IPC/PID/cgroup (+net unless host) namespaces; mounts made private before
 * anything is mounted; pivot_root and the old root detached; every mount target resolved inside the
 * rootfs (openat2 RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS, by fd; CVE-2021-30465); /dev is a nodev
 * tmpfs with the sandbox's OWN device nodes (null zero full random urandom tty, made on a small
 * detached tmpfs that is not nodev and bound file by file onto /dev), so chmod/chown by the step
 * never reach the host's nodes and nodes the step makes cannot be opened; stdin is that null device
 * too (the caller's is the host's /dev/null); Docker's masked /proc paths are read-only binds of a
 * separate null node of ours and its read-only paths read-only binds; Docker's default
 * capabilities (bounding set too); seccomp (see install_seccomp: Docker's current default profile
 * for io_uring and socket families); no_new_privs; only fds 0-2 survive exec (CVE-2024-21626); P
 * and C run from a sealed memfd and are not dumpable, so the helper binary can be neither opened
 * through /proc/N/exe nor overwritten (CVE-2019-5736).
 * Uses fsconfig "lowerdir+" (Linux >= 6.8: no 4 KiB limit on the layer list); on older kernels it
 * falls back to mount(2) with one "lowerdir=" list of short symlinks to the layers.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jsonlog.h"
#include "syslog.h"

#define EXIT_SANDBOX 125
#define EXIT_EXEC 127
#define STATUS_FD 4
#define SPEC_FD 3
#define NETCFG_FD 5 /* network=private: the interface configuration arrives here */
#define INPUT_FD 6  /* monitor mode: the input (-i) arrives here and becomes our fd 0 (Node destroys a
                     * child's stdin pipe when the child exits, and ours does exit: double fork) */
#define CLEANUP_FD 7 /* monitor mode: a foreground `run --rm` CLI that removes the container itself
                      * sends one byte here once it did; EOF (it died or detached): run exitcmd */
#define EXIT_CANNOT_INVOKE 126 /* container mode: the command exists but cannot be executed */
#define MAX_STUBS 256

extern char **environ;

/* ---- the spec ---------------------------------------------------------------------------- */

struct list {
  char **v;
  size_t n, cap;
};

struct mount_req {
  int tmpfs; /* 1: tmpfs, 0: bind */
  char *src, *dst;
  char *beneath; /* bind only: a path below the trusted src, resolved without symlinks (or NULL) */
  int ro;
  unsigned long long size;
};

struct spec {
  char *root, *upper, *work, *cwd, *hostname;
  struct list lower, args, env;
  uid_t uid;
  gid_t gid;
  gid_t *groups;
  size_t ngroups;
  int net; /* NET_HOST, NET_NONE or NET_PRIVATE */
  int no_new_privs, legacy_lowerdir, volatile_upper;
  struct mount_req *mounts;
  size_t nmounts;
  struct list cgroups;   /* cgroup.procs files P joins before anything of the run exists */
  char oom_adj[16];      /* the caller's oom_score_adj, given back to the command */
  /* container (monitor) mode only */
  int init;              /* 1: tsbuild-init is PID 1 in front of the command (--init) */
  int stdin_pipe;        /* 1: the command's stdin is a pipe fed from our fd 0 (-i) */
  int stdin_open;        /* 1: ... fed by attach clients only, never closed by us */
  int attach;            /* 1: output also goes to our fds 1 and 2 (a foreground CLI) */
  int tty;               /* 1: the command's stdio is a pty of the container's devpts (-t); see make_console */
  unsigned short rows, cols; /* its first window size */
  char *log;             /* json-file log path (NULL: no log) */
  char *syslog;          /* --log-driver syslog: slog_open's spec (native/syslog.c) */
  long long log_max_size;
  int log_max_file;
  char *rundir;          /* monitor, exit and ctl files */
  struct list exitcmd, exitenv; /* run after the exit file is written (e.g. --rm's cleanup) */
  char *exitcwd;         /* ... in this directory */
  struct list ports;     /* "tcp|udp IP PORT": host ports held (bound) while the container lives */
  struct list health;    /* the health probe's argv (empty: no health check); see the health part */
  long long health_interval, health_timeout, health_start; /* ns */
  int health_retries;
  char *health_timeout_text; /* the timeout as Go prints it, for the timeout's message */
};

enum { NET_HOST, NET_NONE, NET_PRIVATE };

struct stub {
  char path[4096];
  int is_dir;
  int restore_parent; /* parent existed before: put its times back after removing the stub */
  struct timespec parent_times[2];
};

static struct stub stubs[MAX_STUBS];
static size_t nstubs;
static int status_ok = 0; /* fd 4 is open */
static int monitor_mode = 0; /* argv[1] == "monitor": a container's monitor, see monitor_main */
static int alive_keep = -1;  /* monitor mode: C keeps its end of the alive pipe until exec */
static int tty_sock = -1;    /* monitor mode, -t: C sends the pty master to the monitor through it */
static int tty_slave = -1;   /* ... and keeps the slave for the command */
static int exec_mode = 0;    /* argv[1] == "exec": one more process in a running container (exec.c) */

/* ---- errors ------------------------------------------------------------------------------ */

static void status(const char *fmt, ...) {
  char buf[8192];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n > sizeof buf - 2) n = sizeof buf - 2;
  for (int i = 0; i < n; i++)
    if (buf[i] == '\n') buf[i] = ' '; /* one line per status, whatever a name holds */
  buf[n++] = '\n';
  if (status_ok) {
    if (write(STATUS_FD, buf, (size_t)n) < 0) { /* nobody listens: nothing better to do */ }
  } else if (monitor_mode) {
    /* our stderr is the container's log: nothing of ours goes there */
  } else if (strncmp(buf, "error ", 6) == 0) {
    fprintf(stderr, "tsbuild-sandbox: %.*s", n - 6, buf + 6);
  }
}

/* Fails the run naming the call, its argument and errno's text. */
static void __attribute__((noreturn)) die_errno(const char *call, const char *arg) {
  int err = errno;
  status("error %s %s: %s", call, arg ? arg : "", strerror(err));
  _exit(EXIT_SANDBOX);
}

static void __attribute__((noreturn)) die(const char *fmt, ...) {
  char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  status("error %s", buf);
  _exit(EXIT_SANDBOX);
}

/* ---- spec parsing ------------------------------------------------------------------------ */

static void push(struct list *l, char *s) {
  if (l->n + 1 >= l->cap) {
    l->cap = l->cap ? l->cap * 2 : 16;
    l->v = realloc(l->v, l->cap * sizeof *l->v);
    if (!l->v) die("out of memory");
  }
  l->v[l->n++] = s;
  l->v[l->n] = NULL;
}

static unsigned long long parse_num(const char *key, const char *s) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *s == 0 || *end != 0) die("spec: %s: not a number: %s", key, s);
  return v;
}

/* The signals P and C wait for with sigwaitinfo: child exits, and the termination signals they
 * forward to the command. */
static void waited_signals(sigset_t *set) {
  sigemptyset(set);
  sigaddset(set, SIGCHLD);
  sigaddset(set, SIGINT);
  sigaddset(set, SIGTERM);
  sigaddset(set, SIGHUP);
  sigaddset(set, SIGQUIT);
}

/* Blocks the waited signals and EXTRA, and returns a signalfd that reads them; the mask before in
 * *OLDMASK (what the command gets back). */
static int block_signals(int extra, sigset_t *oldmask) {
  sigset_t set;
  waited_signals(&set);
  sigaddset(&set, extra);
  sigprocmask(SIG_BLOCK, &set, oldmask);
  int fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (fd < 0) die_errno("signalfd", NULL);
  return fd;
}

/* Forks PID 1 of a new PID namespace (only the child enters it). In the child: returns 0, SIGFD
 * closed, *ALIVE_R the read end of a pipe whose write end only we keep (init_main's alive pipe).
 * In the parent: returns PID 1's PID. */
static pid_t fork_init(int sigfd, int *alive_r) {
  if (unshare(CLONE_NEWPID) < 0) die_errno("unshare", "CLONE_NEWPID");
  int alive[2];
  if (pipe2(alive, O_CLOEXEC) < 0) die_errno("pipe2", NULL);
  pid_t init = fork();
  if (init < 0) die_errno("fork", NULL);
  if (init == 0) {
    close(alive[1]);
    close(sigfd);
    *alive_r = alive[0];
    return 0;
  }
  close(alive[0]);
  return init;
}

/* Splits "a\tb\tc" in place into up to n fields; returns the count. */
static size_t split_tabs(char *s, char **out, size_t n) {
  size_t i = 0;
  while (i < n) {
    out[i++] = s;
    char *t = strchr(s, '\t');
    if (!t) break;
    *t = 0;
    s = t + 1;
  }
  return i;
}

/* Reads all of the spec on fd 3 (NUL-terminated key=value records) and closes it; returns the
 * records, *END just past the last one. */
static char *read_records(char **end) {
  size_t cap = 65536, len = 0;
  char *buf = malloc(cap);
  if (!buf) die("out of memory");
  for (;;) {
    if (len == cap) {
      cap *= 2;
      buf = realloc(buf, cap);
      if (!buf) die("out of memory");
    }
    ssize_t r = read(SPEC_FD, buf + len, cap - len);
    if (r < 0) {
      if (errno == EINTR) continue;
      die_errno("read", "spec (fd 3)");
    }
    if (r == 0) break;
    len += (size_t)r;
  }
  close(SPEC_FD);
  if (len == 0 || buf[len - 1] != 0) die("spec: empty or not NUL-terminated");
  *end = buf + len;
  return buf;
}

/* Splits the record at P in place into *K and *V (at its first '='); returns the next record. */
static char *split_record(char *p, char **k, char **v) {
  char *next = p + strlen(p) + 1;
  char *eq = strchr(p, '=');
  if (!eq) die("spec: record without '=': %s", p);
  *eq = 0;
  *k = p, *v = eq + 1;
  return next;
}

/* A "group=N" record: one more supplementary group. */
static void push_group(gid_t **groups, size_t *n, const char *k, const char *v) {
  *groups = realloc(*groups, (*n + 1) * sizeof **groups);
  if (!*groups) die("out of memory");
  (*groups)[(*n)++] = (gid_t)parse_num(k, v);
}

static void read_spec(struct spec *sp) {
  char *end, *buf = read_records(&end);
  memset(sp, 0, sizeof *sp);
  sp->no_new_privs = 1;
  sp->log_max_size = -1;
  sp->log_max_file = 1;
  sp->cwd = "/";
  for (char *p = buf, *k, *v; p < end;) {
    p = split_record(p, &k, &v);
    if (!strcmp(k, "root")) sp->root = v;
    else if (!strcmp(k, "upper")) sp->upper = v;
    else if (!strcmp(k, "work")) sp->work = v;
    else if (!strcmp(k, "cwd")) sp->cwd = v;
    else if (!strcmp(k, "hostname")) sp->hostname = v;
    else if (!strcmp(k, "lower")) push(&sp->lower, v);
    else if (!strcmp(k, "arg")) push(&sp->args, v);
    else if (!strcmp(k, "env")) push(&sp->env, v);
    else if (!strcmp(k, "uid")) sp->uid = (uid_t)parse_num(k, v);
    else if (!strcmp(k, "gid")) sp->gid = (gid_t)parse_num(k, v);
    else if (!strcmp(k, "group")) push_group(&sp->groups, &sp->ngroups, k, v);
    else if (!strcmp(k, "net")) {
      if (!strcmp(v, "none")) sp->net = NET_NONE;
      else if (!strcmp(v, "host")) sp->net = NET_HOST;
      else if (!strcmp(v, "private")) sp->net = NET_PRIVATE;
      else die("spec: net must be none, host or private: %s", v);
    } else if (!strcmp(k, "cgroup")) {
      if (v[0] != '/') die("spec: cgroup must be an absolute path: %s", v);
      push(&sp->cgroups, v);
    } else if (!strcmp(k, "nonewprivs")) sp->no_new_privs = strcmp(v, "0") != 0;
    else if (!strcmp(k, "init")) sp->init = strcmp(v, "0") != 0;
    else if (!strcmp(k, "stdin")) {
      /* pipe: our fd 0 feeds the command (its end closes the command's stdin); open: only attach
       * clients feed it and it stays open (`run -di`, Docker's OpenStdin without StdinOnce) */
      sp->stdin_pipe = !strcmp(v, "pipe") || !strcmp(v, "open");
      sp->stdin_open = !strcmp(v, "open");
    }
    else if (!strcmp(k, "tty")) sp->tty = strcmp(v, "0") != 0;
    else if (!strcmp(k, "rows")) sp->rows = (unsigned short)parse_num(k, v);
    else if (!strcmp(k, "cols")) sp->cols = (unsigned short)parse_num(k, v);
    else if (!strcmp(k, "attach")) sp->attach = strcmp(v, "0") != 0;
    else if (!strcmp(k, "log")) sp->log = v;
    else if (!strcmp(k, "logmaxsize")) sp->log_max_size = (long long)parse_num(k, v);
    else if (!strcmp(k, "logmaxfile")) sp->log_max_file = (int)parse_num(k, v);
    else if (!strcmp(k, "syslog")) sp->syslog = v;
    else if (!strcmp(k, "rundir")) sp->rundir = v;
    else if (!strcmp(k, "exitcmd")) push(&sp->exitcmd, v);
    else if (!strcmp(k, "exitenv")) push(&sp->exitenv, v);
    else if (!strcmp(k, "exitcwd")) sp->exitcwd = v;
    else if (!strcmp(k, "port")) push(&sp->ports, v);
    else if (!strcmp(k, "healthcmd")) push(&sp->health, v);
    else if (!strcmp(k, "healthinterval")) sp->health_interval = (long long)parse_num(k, v);
    else if (!strcmp(k, "healthtimeout")) sp->health_timeout = (long long)parse_num(k, v);
    else if (!strcmp(k, "healthstart")) sp->health_start = (long long)parse_num(k, v);
    else if (!strcmp(k, "healthretries")) sp->health_retries = (int)parse_num(k, v);
    else if (!strcmp(k, "healthtimeouttext")) sp->health_timeout_text = v;
    else if (!strcmp(k, "legacy_lowerdir")) sp->legacy_lowerdir = strcmp(v, "0") != 0; /* for tests */
    else if (!strcmp(k, "volatile")) sp->volatile_upper = strcmp(v, "0") != 0;
    else if (!strcmp(k, "bind") || !strcmp(k, "tmpfs")) {
      sp->mounts = realloc(sp->mounts, (sp->nmounts + 1) * sizeof *sp->mounts);
      if (!sp->mounts) die("out of memory");
      struct mount_req *m = &sp->mounts[sp->nmounts++];
      memset(m, 0, sizeof *m);
      char *f[4];
      size_t nf = split_tabs(v, f, 4);
      if (!strcmp(k, "bind")) {
        if (nf != 3 && nf != 4) die("spec: bind needs SRC, DST, ro|rw and optionally BENEATH");
        m->src = f[0];
        m->dst = f[1];
        m->ro = !strcmp(f[2], "ro");
        m->beneath = nf == 4 ? f[3] : NULL;
      } else {
        if (nf != 2) die("spec: tmpfs needs DST and SIZE");
        m->tmpfs = 1;
        m->dst = f[0];
        m->size = parse_num("tmpfs size", f[1]);
      }
      if (m->dst[0] != '/') die("spec: mount target must be absolute: %s", m->dst);
    } else die("spec: unknown key %s", k);
  }
  if (!sp->root || !sp->upper || !sp->work) die("spec: root, upper and work are required");
  if (sp->lower.n == 0) die("spec: at least one lower dir is required");
  if (sp->args.n == 0) die("spec: no command");
  if (sp->cwd[0] != '/') die("spec: cwd must be absolute: %s", sp->cwd);
  if (!sp->env.v) push(&sp->env, NULL), sp->env.n = 0;
  if (monitor_mode && !sp->rundir) die("spec: a container needs rundir");
  if (!sp->exitenv.v) push(&sp->exitenv, NULL), sp->exitenv.n = 0;
  if (sp->health.n && (sp->health_interval <= 0 || sp->health_timeout <= 0 || sp->health_retries <= 0))
    die("spec: a health check needs a positive interval, timeout and retries");
}

/* ---- CVE-2019-5736: run from a sealed memfd, never from the file on disk ------------------ */

/* Unless already running from one (a caller may start us from a sealed copy it keeps), copies the
 * binary into a sealed memfd and executes that. */

/* Whether what runs is a memfd that can no longer be written, grown, shrunk or unsealed: a name
 * alone is no proof (an unsealed memfd may carry it too), its seals are. */
static int self_sealed(void) {
  int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  int seals = fcntl(fd, F_GET_SEALS);
  close(fd);
  const int want = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
  return seals >= 0 && (seals & want) == want;
}

static void reexec_sealed(char **argv) {
  char self[64];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    self[n] = 0;
    if (strncmp(self, "/memfd:tsbuild-sandbox", 22) == 0 && self_sealed()) {
      /* started from the sealed copy the caller keeps (fsx.c's spawnPiped(..., sealed)): exec named
       * us after the fd's path; the same name as after our own re-exec below */
      prctl(PR_SET_NAME, "memfd:tsbuild-sandbox", 0, 0, 0);
      return;
    }
  }
  int in = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (in < 0) die_errno("open", "/proc/self/exe");
  struct stat st;
  if (fstat(in, &st) < 0) die_errno("fstat", "/proc/self/exe");
  int mfd = memfd_create("tsbuild-sandbox", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (mfd < 0) die_errno("memfd_create", "tsbuild-sandbox");
  off_t off = 0;
  while (off < st.st_size) {
    ssize_t w = sendfile(mfd, in, &off, (size_t)(st.st_size - off));
    if (w <= 0) die_errno("sendfile", "memfd");
  }
  close(in);
  if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
    die_errno("fcntl", "F_ADD_SEALS");
  /* a fixed argv: the sandbox's `ps` shows PID 1 without host paths */
  (void)argv;
  char *const args[] = {"tsbuild-sandbox", NULL};
  char *const margs[] = {"tsbuild-monitor", "monitor", NULL};
  char *const xargs[] = {"tsbuild-exec", "exec", NULL};
  fexecve(mfd, monitor_mode ? margs : exec_mode ? xargs : args, environ);
  die_errno("fexecve", "sealed memfd");
}

/* ---- small syscall wrappers --------------------------------------------------------------- */

static int openat2_in_root(int rootfd, const char *path, int flags) {
  struct open_how how = {
      .flags = (unsigned long long)(flags | O_CLOEXEC),
      .mode = 0,
      .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
  };
  return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
}

static int fs_new(const char *type, const char *const *opts, unsigned attrs) {
  int fsfd = fsopen(type, FSOPEN_CLOEXEC);
  if (fsfd < 0) die_errno("fsopen", type);
  for (size_t i = 0; opts && opts[i]; i += 2) {
    int r = opts[i + 1] ? fsconfig(fsfd, FSCONFIG_SET_STRING, opts[i], opts[i + 1], 0)
                        : fsconfig(fsfd, FSCONFIG_SET_FLAG, opts[i], NULL, 0);
    if (r < 0) die_errno("fsconfig", opts[i]);
  }
  if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) die_errno("fsconfig create", type);
  int mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, attrs);
  if (mfd < 0) die_errno("fsmount", type);
  close(fsfd);
  return mfd;
}

/* ---- mount targets inside the rootfs ------------------------------------------------------ */

/* Opens PATH inside the root (O_PATH), creating what is missing: directories on the way, and the
 * last component as a directory or an empty file. Symlinks are followed inside the root (absolute
 * ones from the root, `..` stops there, even dangling ones lead to where they point inside), magic
 * links are refused. With RECORD, what gets created is remembered as mount stubs. */
static int resolve_create(int rootfd, const char *path, int want_dir, int record) {
  char todo[8192], cur[4096] = "";
  int hops = 0, created = 0;
  if (strlen(path) >= sizeof cur) die("path too long: %s", path);
  snprintf(todo, sizeof todo, "%s", path);
  while (todo[0]) {
    /* pop the first component of todo into c */
    char c[256];
    char *p = todo;
    while (*p == '/') p++;
    size_t n = strcspn(p, "/");
    if (n >= sizeof c) die("path component too long in %s", path);
    memcpy(c, p, n);
    c[n] = 0;
    memmove(todo, p + n, strlen(p + n) + 1);
    if (n == 0 || !strcmp(c, ".")) continue;
    if (!strcmp(c, "..")) {
      char *slash = strrchr(cur, '/');
      if (slash) *slash = 0;
      continue;
    }
    int last = strspn(todo, "/") == strlen(todo);
    char cand[4096];
    if ((size_t)snprintf(cand, sizeof cand, "%s/%s", cur, c) >= sizeof cand) die("path too long: %s", path);
    int fd = openat2_in_root(rootfd, cand, O_PATH | O_NOFOLLOW);
    if (fd >= 0) {
      struct stat st;
      if (fstat(fd, &st) < 0) die_errno("fstat", cand);
      if (S_ISLNK(st.st_mode)) {
        char target[4096];
        ssize_t len = readlinkat(fd, "", target, sizeof target - 1);
        if (len < 0) die_errno("readlink", cand);
        target[len] = 0;
        close(fd);
        if (++hops > 40) {
          errno = ELOOP;
          die_errno("resolve", path);
        }
        char rest[8192];
        if ((size_t)snprintf(rest, sizeof rest, "%s/%s", target, todo) >= sizeof rest) die("path too long: %s", path);
        strcpy(todo, rest);
        if (target[0] == '/') cur[0] = 0;
        continue;
      }
      close(fd);
      if (!last && !S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        die_errno("resolve", cand);
      }
      strcpy(cur, cand);
      continue;
    }
    if (errno != ENOENT) die_errno("openat2", cand);
    int pfd = openat2_in_root(rootfd, cur[0] ? cur : "/", O_DIRECTORY | O_RDONLY);
    if (pfd < 0) die_errno("openat2", cur[0] ? cur : "/");
    struct stat pst;
    if (fstat(pfd, &pst) < 0) die_errno("fstat", cur[0] ? cur : "/");
    int as_dir = !last || want_dir;
    if ((as_dir ? mkdirat(pfd, c, 0755) : mknodat(pfd, c, S_IFREG | 0644, 0)) < 0)
      die_errno(as_dir ? "mkdir" : "mknod", cand);
    close(pfd);
    if (record) {
      if (nstubs == MAX_STUBS) die("too many mount stubs");
      struct stub *st = &stubs[nstubs++];
      snprintf(st->path, sizeof st->path, "%s", cand);
      st->is_dir = as_dir;
      st->restore_parent = !created; /* the first one's parent existed before */
      st->parent_times[0] = pst.st_atim;
      st->parent_times[1] = pst.st_mtim;
    }
    created = 1;
    strcpy(cur, cand);
  }
  int fd = openat2_in_root(rootfd, cur[0] ? cur : "/", O_PATH);
  if (fd < 0) die_errno("openat2", path);
  return fd;
}

static void attach(int mfd, int rootfd, const char *target, int dir) {
  int tfd = resolve_create(rootfd, target, dir, 1);
  if (move_mount(mfd, "", tfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
    die_errno("move_mount", target);
  close(tfd);
  close(mfd);
}

/* Removes the stubs (deepest first) so mount points never reach the layer. Runs after every
 * process in the sandbox is gone, with the rootfs as "/". */
static void remove_stubs(void) {
  for (size_t i = nstubs; i-- > 0;) {
    struct stub *s = &stubs[i];
    while (umount2(s->path, MNT_DETACH) == 0) {
    }
    int r = s->is_dir ? rmdir(s->path) : unlink(s->path);
    if (r == 0 && s->restore_parent) {
      char parent[4096];
      snprintf(parent, sizeof parent, "%s", s->path);
      char *slash = strrchr(parent, '/');
      if (slash == parent) slash[1] = 0;
      else *slash = 0;
      utimensat(AT_FDCWD, parent, s->parent_times, AT_SYMLINK_NOFOLLOW);
    }
  }
}

/* ---- rootfs assembly ---------------------------------------------------------------------- */

/* Appends S to the option buffer, escaping what overlayfs's option parser treats specially. */
static void opt_add(char **buf, size_t *len, size_t *cap, const char *s, int escape) {
  size_t need = *len + 2 * strlen(s) + 1;
  if (need > *cap) {
    *cap = 2 * need;
    if (!(*buf = realloc(*buf, *cap))) die("out of memory");
  }
  for (const char *c = s; *c; c++) {
    if (escape && (*c == ':' || *c == ',' || *c == '\\')) (*buf)[(*len)++] = '\\';
    (*buf)[(*len)++] = *c;
  }
  (*buf)[*len] = 0;
}

/* Kernels before 6.8 take the layers only as one "lowerdir=a:b:c" option, inside one 4 KiB page.
 * To fit hundreds of layers, the list names short symlinks ("0", "1", ...) to the layers, made in
 * a detached tmpfs that is our cwd while mount(2) parses the options, and gone right after. */
static void mount_overlay_legacy(struct spec *sp) {
  int tmp = fs_new("tmpfs", NULL, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
  size_t len = 0, cap = 0;
  char *opt = NULL;
  opt_add(&opt, &len, &cap, "lowerdir=", 0);
  for (size_t i = 0; i < sp->lower.n; i++) {
    char name[32];
    snprintf(name, sizeof name, "%zu", i);
    if (symlinkat(sp->lower.v[i], tmp, name) < 0) die_errno("symlink", sp->lower.v[i]);
    if (i > 0) opt_add(&opt, &len, &cap, ":", 0);
    opt_add(&opt, &len, &cap, name, 0);
  }
  opt_add(&opt, &len, &cap, ",upperdir=", 0);
  opt_add(&opt, &len, &cap, sp->upper, 1);
  opt_add(&opt, &len, &cap, ",workdir=", 0);
  opt_add(&opt, &len, &cap, sp->work, 1);
  opt_add(&opt, &len, &cap, ",redirect_dir=off,metacopy=off,index=off", 0);
  if (fchdir(tmp) < 0) die_errno("chdir", "layer links");
  if (mount("overlay", sp->root, "overlay", MS_NODEV, opt) < 0) die_errno("mount overlay (lowerdir= list)", sp->root);
  if (chdir("/") < 0) die_errno("chdir", "/");
  close(tmp);
  free(opt);
}

static int mount_overlay(struct spec *sp) {
  int fsfd = fsopen("overlay", FSOPEN_CLOEXEC);
  if (fsfd < 0) die_errno("fsopen", "overlay");
  /* lowerdir+ takes one layer per call, so hundreds of layers fit (no 4 KiB option page) */
  for (size_t i = 0; i < sp->lower.n; i++) {
    if (!sp->legacy_lowerdir && fsconfig(fsfd, FSCONFIG_SET_STRING, "lowerdir+", sp->lower.v[i], 0) == 0) continue;
    if (i == 0 && (sp->legacy_lowerdir || errno == EINVAL)) { /* before Linux 6.8 */
      close(fsfd);
      mount_overlay_legacy(sp);
      goto mounted;
    }
    die_errno("fsconfig lowerdir+", sp->lower.v[i]);
  }
  if (fsconfig(fsfd, FSCONFIG_SET_STRING, "upperdir", sp->upper, 0) < 0)
    die_errno("fsconfig upperdir", sp->upper);
  if (fsconfig(fsfd, FSCONFIG_SET_STRING, "workdir", sp->work, 0) < 0)
    die_errno("fsconfig workdir", sp->work);
  /* plain copy-ups only: the diff reads the upper dir as a complete record of the change */
  const char *off[] = {"redirect_dir", "off", "metacopy", "off", "index", "off", NULL};
  for (size_t i = 0; off[i]; i += 2)
    if (fsconfig(fsfd, FSCONFIG_SET_STRING, off[i], off[i + 1], 0) < 0) die_errno("fsconfig", off[i]);
  if (sp->volatile_upper && fsconfig(fsfd, FSCONFIG_SET_FLAG, "volatile", NULL, 0) < 0 && errno != EINVAL)
    die_errno("fsconfig", "volatile");
  if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) die_errno("fsconfig create", "overlay");
  int mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, MOUNT_ATTR_NODEV);
  if (mfd < 0) die_errno("fsmount", "overlay");
  close(fsfd);
  if (move_mount(mfd, "", AT_FDCWD, sp->root, MOVE_MOUNT_F_EMPTY_PATH) < 0)
    die_errno("move_mount", sp->root);
  close(mfd);
mounted:;
  int rootfd = open(sp->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) die_errno("open", sp->root);
  return rootfd;
}

static void loopback_up(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) die_errno("socket", "AF_INET");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "lo");
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) die_errno("ioctl SIOCGIFFLAGS", "lo");
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) die_errno("ioctl SIOCSIFFLAGS", "lo");
  close(s);
}

/* network=private: the caller (host side) moves one end of a veth pair into our namespace, named
 * eth0, and sends "eth0 ADDR PREFIX GATEWAY MTU" ("-" for no gateway, 0 for the default MTU) or
 * "fail REASON" on NETCFG_FD. The command starts only once eth0 is up with its address and route. */
static void configure_eth0(void) {
  char line[512];
  size_t len = 0;
  while (!memchr(line, '\n', len)) {
    if (len == sizeof line - 1) die("network: configuration line too long");
    ssize_t r = read(NETCFG_FD, line + len, sizeof line - 1 - len);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) die_errno("read", "network configuration");
    if (r == 0) die("network: no configuration (the caller went away)");
    len += (size_t)r;
  }
  close(NETCFG_FD);
  line[len] = 0;
  *strchr(line, '\n') = 0;
  if (!strncmp(line, "fail", 4)) die("network: %s", line[4] ? line + 5 : "setup failed");
  char addr[64], gw[64];
  unsigned prefix = 0, mtu = 0;
  struct in_addr a, g;
  if (sscanf(line, "eth0 %63s %u %63s %u", addr, &prefix, gw, &mtu) < 3 || prefix > 32 || inet_pton(AF_INET, addr, &a) != 1 ||
      (strcmp(gw, "-") && inet_pton(AF_INET, gw, &g) != 1))
    die("network: bad configuration: %s", line);
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) die_errno("socket", "AF_INET");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "eth0");
  struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
  sin->sin_family = AF_INET;
  sin->sin_addr = a;
  if (ioctl(s, SIOCSIFADDR, &ifr) < 0) die_errno("ioctl SIOCSIFADDR", "eth0");
  sin->sin_addr.s_addr = prefix ? htonl(~0u << (32 - prefix)) : 0;
  if (ioctl(s, SIOCSIFNETMASK, &ifr) < 0) die_errno("ioctl SIOCSIFNETMASK", "eth0");
  if (mtu) {
    memset(&ifr.ifr_ifru, 0, sizeof ifr.ifr_ifru);
    ifr.ifr_mtu = (int)mtu;
    if (ioctl(s, SIOCSIFMTU, &ifr) < 0) die_errno("ioctl SIOCSIFMTU", "eth0");
  }
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) die_errno("ioctl SIOCGIFFLAGS", "eth0");
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) die_errno("ioctl SIOCSIFFLAGS", "eth0");
  if (strcmp(gw, "-")) {
    struct rtentry rt;
    memset(&rt, 0, sizeof rt);
    ((struct sockaddr_in *)&rt.rt_dst)->sin_family = AF_INET;
    ((struct sockaddr_in *)&rt.rt_genmask)->sin_family = AF_INET;
    ((struct sockaddr_in *)&rt.rt_gateway)->sin_family = AF_INET;
    ((struct sockaddr_in *)&rt.rt_gateway)->sin_addr = g;
    rt.rt_flags = RTF_UP | RTF_GATEWAY;
    rt.rt_dev = ifr.ifr_name;
    if (ioctl(s, SIOCADDRT, &rt) < 0) die_errno("ioctl SIOCADDRT", gw);
  }
  close(s);
}

/* The sandbox's own device nodes (runc's default set). They live on a small tmpfs of their own that
 * is not nodev and is never attached anywhere: each node file is bind-mounted onto a stub in the
 * nodev /dev tmpfs. So the step can chmod/chown its /dev/null without touching the host's, and a
 * node it makes with mknod (in /dev or anywhere else) lands on a nodev mount and cannot be opened. */
static const struct {
  const char *name;
  unsigned maj, min;
} dev_nodes[] = {{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};
#define NDEV (sizeof dev_nodes / sizeof dev_nodes[0])
#define MASK_NODE "mask" /* a second null device, for the /proc masks (bound read-only) */

/* Makes the node tmpfs (detached) with the nodes and the mask node; returns its fd. */
static int make_nodes(void) {
  const char *o[] = {"mode", "755", "size", "4k", "nr_inodes", "16", NULL};
  int nodes = fs_new("tmpfs", o, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
  for (size_t i = 0; i <= NDEV; i++) {
    const char *name = i < NDEV ? dev_nodes[i].name : MASK_NODE;
    dev_t dev = i < NDEV ? makedev(dev_nodes[i].maj, dev_nodes[i].min) : makedev(1, 3);
    if (mknodat(nodes, name, S_IFCHR | 0666, dev) < 0) die_errno("mknod", name);
    if (fchmodat(nodes, name, 0666, 0) < 0) die_errno("chmod", name); /* whatever the umask */
  }
  return nodes;
}

static void make_dev(int rootfd, int nodes) {
  const char *devopts[] = {"mode", "755", "size", "65536k", NULL};
  int dev = fs_new("tmpfs", devopts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_STRICTATIME);
  for (size_t i = 0; i < NDEV; i++)
    if (mknodat(dev, dev_nodes[i].name, S_IFREG | 0666, 0) < 0) die_errno("mknod /dev/", dev_nodes[i].name);
  const char *links[][2] = {{"/proc/self/fd", "fd"},   {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"},
                            {"/proc/self/fd/2", "stderr"}, {"pts/ptmx", "ptmx"}};
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
    if (symlinkat(links[i][0], dev, links[i][1]) < 0) die_errno("symlink /dev/", links[i][1]);
  if (mkdirat(dev, "pts", 0755) < 0 || mkdirat(dev, "shm", 01777) < 0 || mkdirat(dev, "mqueue", 0755) < 0)
    die_errno("mkdir", "/dev/pts|shm|mqueue");
  attach(dev, rootfd, "/dev", 1);
  for (size_t i = 0; i < NDEV; i++) {
    int mfd = (int)open_tree(nodes, dev_nodes[i].name, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (mfd < 0) die_errno("open_tree", dev_nodes[i].name);
    char path[64];
    snprintf(path, sizeof path, "/dev/%s", dev_nodes[i].name);
    attach(mfd, rootfd, path, 0);
  }
  const char *ptsopts[] = {"newinstance", NULL, "ptmxmode", "0666", "mode", "0620", NULL};
  attach(fs_new("devpts", ptsopts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC), rootfd, "/dev/pts", 1);
  const char *shmopts[] = {"mode", "1777", "size", "65536k", NULL};
  attach(fs_new("tmpfs", shmopts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC), rootfd, "/dev/shm", 1);
  attach(fs_new("mqueue", NULL, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC), rootfd, "/dev/mqueue", 1);
}

/* Docker's default masked and read-only paths under /proc and /sys. */
static void mask_paths(int rootfd, int nodes) {
  static const char *masked[] = {"/proc/asound",    "/proc/acpi",        "/proc/interrupts", "/proc/kcore",
                                 "/proc/keys",      "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                                 "/proc/sched_debug", "/proc/scsi",      "/sys/firmware",    "/sys/devices/virtual/powercap",
                                 NULL};
  static const char *readonly[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL};
  for (size_t i = 0; masked[i]; i++) {
    int tfd = openat2_in_root(rootfd, masked[i], O_PATH);
    if (tfd < 0) continue; /* absent on this kernel */
    struct stat st;
    if (fstat(tfd, &st) < 0) die_errno("fstat", masked[i]);
    int mfd;
    if (S_ISDIR(st.st_mode)) {
      const char *o[] = {"size", "0", NULL};
      mfd = fs_new("tmpfs", o, MOUNT_ATTR_RDONLY);
    } else {
      /* the sandbox's own null device, read-only: the step can neither write, chmod nor chown it */
      mfd = (int)open_tree(nodes, MASK_NODE, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
      if (mfd < 0) die_errno("open_tree", "null device");
      struct mount_attr a = {.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC};
      if (mount_setattr(mfd, "", AT_EMPTY_PATH, &a, sizeof a) < 0) die_errno("mount_setattr", masked[i]);
    }
    if (move_mount(mfd, "", tfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
      die_errno("move_mount", masked[i]);
    close(mfd);
    close(tfd);
  }
  for (size_t i = 0; readonly[i]; i++) {
    int tfd = openat2_in_root(rootfd, readonly[i], O_PATH);
    if (tfd < 0) continue;
    int mfd = (int)open_tree(tfd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
    if (mfd < 0) die_errno("open_tree", readonly[i]);
    struct mount_attr a = {.attr_set = MOUNT_ATTR_RDONLY};
    if (mount_setattr(mfd, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof a) < 0) die_errno("mount_setattr", readonly[i]);
    if (move_mount(mfd, "", tfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
      die_errno("move_mount", readonly[i]);
    close(mfd);
    close(tfd);
  }
}

/* ---- capabilities ------------------------------------------------------------------------- */

/* Docker's default set */
static const int default_caps[] = {CAP_CHOWN,      CAP_DAC_OVERRIDE,     CAP_FSETID,     CAP_FOWNER,
                                   CAP_MKNOD,      CAP_NET_RAW,          CAP_SETGID,     CAP_SETUID,
                                   CAP_SETFCAP,    CAP_SETPCAP,          CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT,
                                   CAP_KILL,       CAP_AUDIT_WRITE};

static int is_default_cap(int c) {
  for (size_t i = 0; i < sizeof default_caps / sizeof default_caps[0]; i++)
    if (default_caps[i] == c) return 1;
  return 0;
}

static void drop_bounding(void) {
  for (int c = 0; c <= 63; c++) {
    if (is_default_cap(c)) continue;
    if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL) die_errno("prctl", "PR_CAPBSET_DROP");
  }
}

static void set_caps(uid_t uid) {
  struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct d[2];
  memset(d, 0, sizeof d);
  if (uid == 0) {
    for (size_t i = 0; i < sizeof default_caps / sizeof default_caps[0]; i++) {
      int c = default_caps[i];
      d[c / 32].effective |= 1u << (c % 32);
      d[c / 32].permitted |= 1u << (c % 32);
      d[c / 32].inheritable |= 1u << (c % 32);
    }
  }
  if (syscall(SYS_capset, &h, d) < 0) die_errno("capset", "default capabilities");
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
}

/* ---- seccomp ------------------------------------------------------------------------------ */

#if defined(__x86_64__)
#define SECCOMP_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SECCOMP_ARCH AUDIT_ARCH_AARCH64
#endif

/* A deny list in the spirit of Docker's default profile: calls that only matter to a host
 * administrator or widen the kernel's attack surface (keyrings, bpf, new namespaces — user
 * namespaces above all —, the mount API, modules). Everything else is allowed.
 * Reviewed against Docker's current default profile (moby profiles/seccomp/default.json):
 * - io_uring_setup/enter/register are refused (EPERM), as Docker does since 25.0 (moby#46762): the
 *   rings run operations seccomp never sees, and they are a rich source of kernel exploits.
 * - socket() is refused (EPERM) for AF_ALG (38, CVE-2026-31431 "Copy Fail") and AF_VSOCK (40, the
 *   host's/hypervisor's vsock services), as Docker does; every other family stays allowed.
 *   AF_PACKET stays allowed as in Docker: it needs CAP_NET_RAW (in Docker's default set, kept for
 *   ping and friends) and, in a private network namespace, sees only the step's own interfaces.
 *   (Docker's caveat about the i386 socketcall() path does not apply: foreign ABIs are refused.) */
static void install_seccomp(void) {
#ifdef SECCOMP_ARCH
  static const int denied[] = {
      SYS_keyctl,     SYS_add_key,      SYS_request_key,    SYS_bpf,           SYS_userfaultfd, SYS_perf_event_open,
      SYS_kexec_load, SYS_kexec_file_load, SYS_open_by_handle_at, SYS_init_module, SYS_finit_module, SYS_delete_module,
      SYS_swapon,     SYS_swapoff,      SYS_reboot,         SYS_mount,         SYS_umount2,     SYS_pivot_root,
      SYS_unshare,    SYS_setns,        SYS_acct,           SYS_quotactl,      SYS_fsopen,      SYS_fsconfig,
      SYS_fsmount,    SYS_fspick,       SYS_move_mount,     SYS_open_tree,     SYS_mount_setattr, SYS_syslog,
      SYS_vhangup,    SYS_io_uring_setup, SYS_io_uring_enter, SYS_io_uring_register,
#if defined(__x86_64__)
      SYS_iopl,       SYS_ioperm,
#endif
  };
  enum { NDENY = sizeof denied / sizeof denied[0] };
  const unsigned ns_flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC |
                            CLONE_NEWCGROUP | CLONE_NEWTIME;
  struct sock_filter f[NDENY + 32];
  size_t n = 0;
#define EMIT(x) (f[n++] = (struct sock_filter)x)
  /* foreign ABIs (e.g. i386 on x86_64) have other numbers: refuse them altogether */
  EMIT(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)));
  EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SECCOMP_ARCH, 1, 0));
  EMIT(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS));
  EMIT(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)));
#if defined(__x86_64__)
  EMIT(BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1)); /* x32 */
  EMIT(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS));
#endif
  /* clone3 takes its flags in memory, out of a filter's reach: ENOSYS makes libc use clone */
  EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, 0, 1));
  EMIT(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS));
  /* socket(AF_ALG | AF_VSOCK, ...): EPERM; any other socket: allowed (the domain is an int: low word) */
  EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_socket, 0, 5));
  EMIT(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])));
  EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 38 /* AF_ALG */, 2, 0));
  EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 40 /* AF_VSOCK */, 1, 0));
  EMIT(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  EMIT(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM));
  EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 3));
  EMIT(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])));
  EMIT(BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, ns_flags, 0, NDENY + 1)); /* -> ALLOW */
  EMIT(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM));
  for (size_t i = 0; i < NDENY; i++) EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)denied[i], (unsigned char)(NDENY - i), 0));
  EMIT(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  EMIT(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM));
#undef EMIT
  struct sock_fprog prog = {.len = (unsigned short)n, .filter = f};
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) die_errno("seccomp", "SECCOMP_SET_MODE_FILTER");
#endif
}

/* ---- the command (G) ---------------------------------------------------------------------- */

static void __attribute__((noreturn)) exec_command(struct spec *sp, int cwdfd, sigset_t *oldmask) {
  for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
  sigprocmask(SIG_SETMASK, oldmask, NULL);
  setsid();
  if (tty_slave >= 0) {
    if (ioctl(tty_slave, TIOCSCTTY, 0) < 0) die_errno("ioctl", "TIOCSCTTY");
    if (dup2(tty_slave, 0) < 0 || dup2(tty_slave, 1) < 0 || dup2(tty_slave, 2) < 0) die_errno("dup2", "tty");
    close(tty_slave);
  }
  /* P and PID 1 are exempt from the OOM killer (a memory-limited run loses its command, not its
   * bookkeeping); the command gets the caller's score back */
  if (sp->oom_adj[0]) {
    int oom = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (oom < 0 || write(oom, sp->oom_adj, strlen(sp->oom_adj)) < 0) die_errno("write", "/proc/self/oom_score_adj");
    close(oom);
  }
  drop_bounding();
  install_seccomp(); /* still privileged here, so no_new_privs is not a precondition */
  if (setgroups(sp->ngroups, sp->groups) < 0) die_errno("setgroups", NULL);
  if (setresgid(sp->gid, sp->gid, sp->gid) < 0) die_errno("setresgid", NULL);
  if (setresuid(sp->uid, sp->uid, sp->uid) < 0) die_errno("setresuid", NULL);
  if (alive_keep >= 0) {
    /* the command is PID 1 of a container: a change of uid cleared PDEATHSIG, arm it again and make
     * sure the monitor did not die in between (monitor alive <=> container alive) */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) die_errno("prctl", "PR_SET_PDEATHSIG");
    struct pollfd pf = {.fd = alive_keep, .events = POLLIN};
    if (poll(&pf, 1, 0) > 0) _exit(EXIT_SANDBOX);
  }
  set_caps(sp->uid);
  if (sp->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) die_errno("prctl", "PR_SET_NO_NEW_PRIVS");
  if (fchdir(cwdfd) < 0) die_errno("chdir", sp->cwd);
  close(cwdfd);
  umask(022);
  /* CVE-2024-21626: no descriptor but 0-2 survives exec (status fd stays for exec errors only) */
  if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) die_errno("close_range", NULL);
  environ = sp->env.v;
  execvp(sp->args.v[0], sp->args.v);
  int err = errno;
  if (!monitor_mode) {
    status("error exec \"%s\": %s", sp->args.v[0], strerror(err));
    _exit(EXIT_EXEC);
  }
  /* a container: Docker's (runc's) words and codes, 127 for a command that is not there, 126 for
   * one that cannot be executed */
  const char *a0 = sp->args.v[0];
  if (err == ENOENT && !strchr(a0, '/')) {
    status("error exec: \"%s\": executable file not found in $PATH", a0);
    _exit(EXIT_EXEC);
  }
  if (err == ENOENT) {
    status("error exec: \"%s\": stat %s: no such file or directory", a0, a0);
    _exit(EXIT_EXEC);
  }
  char msg[128];
  snprintf(msg, sizeof msg, "%s", strerror(err));
  if (msg[0] >= 'A' && msg[0] <= 'Z') msg[0] = (char)(msg[0] - 'A' + 'a'); /* Go's lower-case errno text */
  status("error exec: \"%s\": %s", a0, msg);
  _exit(EXIT_CANNOT_INVOKE);
}

/* ---- PID 1 (C) ---------------------------------------------------------------------------- */

static void join_cgroups(struct spec *sp);

/* -t (container mode, in C after /dev is made): a pty of the container's own devpts, as runc's
 * console: the slave stays for the command (its controlling terminal and stdio), the master goes to
 * the monitor over tty_sock (SCM_RIGHTS), which logs what it says and feeds it the input. */
static void make_console(struct spec *sp) {
  int master = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) die_errno("open", "/dev/pts/ptmx");
  int unlock = 0;
  if (ioctl(master, TIOCSPTLCK, &unlock) < 0) die_errno("ioctl", "TIOCSPTLCK");
  tty_slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (tty_slave < 0) die_errno("ioctl", "TIOCGPTPEER");
  if (sp->rows && sp->cols) {
    struct winsize ws = {.ws_row = sp->rows, .ws_col = sp->cols};
    ioctl(master, TIOCSWINSZ, &ws);
  }
  char one = 't';
  struct iovec iov = {.iov_base = &one, .iov_len = 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  memset(&u, 0, sizeof u);
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
  struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cm), &master, sizeof(int));
  if (sendmsg(tty_sock, &msg, 0) != 1) die_errno("sendmsg", "pty master");
  close(master);
  close(tty_sock);
  tty_sock = -1;
}

/* The monitor's end: the pty master C sent, or -1 (C failed before). */
static int recv_console(int sock) {
  char one;
  struct iovec iov = {.iov_base = &one, .iov_len = 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
  ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  if (n != 1) return -1;
  struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
  if (!cm || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(cm), sizeof fd);
  return fd;
}

static void __attribute__((noreturn)) init_main(struct spec *sp, sigset_t *oldmask, int alive_fd) {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) die_errno("prctl", "PR_SET_PDEATHSIG");
  /* P may have died before PDEATHSIG was armed: its end of the pipe is then closed */
  struct pollfd pf = {.fd = alive_fd, .events = POLLIN};
  if (poll(&pf, 1, 0) > 0) _exit(EXIT_SANDBOX);
  if (monitor_mode && !sp->init) alive_keep = alive_fd; /* see exec_command */
  else close(alive_fd);
  /* a container's monitor stays outside the container's cgroup (it removes it at the end) */
  if (monitor_mode) join_cgroups(sp);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  prctl(PR_SET_NAME, "tsbuild-init", 0, 0, 0);
  /* a cgroup namespace rooted at the run's cgroup (P joined it before forking us) */
  int flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP | (sp->net != NET_HOST ? CLONE_NEWNET : 0);
  if (unshare(flags) < 0) die_errno("unshare", "mount/uts/ipc/cgroup/net");
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) die_errno("mount", "/ (make rprivate)");
  if (sp->net != NET_HOST) loopback_up();
  if (sp->net == NET_PRIVATE) {
    /* our host PID names the namespace (/proc/PID/ns/net) for the caller, who adds eth0 to it while
     * we assemble the rootfs; /proc is still the host's here, so /proc/self is the host PID */
    char self[32];
    ssize_t n = readlink("/proc/self", self, sizeof self - 1);
    if (n <= 0) die_errno("readlink", "/proc/self");
    self[n] = 0;
    status("netns %s", self);
  }
  if (sp->hostname && sethostname(sp->hostname, strlen(sp->hostname)) < 0) die_errno("sethostname", sp->hostname);

  int rootfd = mount_overlay(sp);
  /* host sources are opened before pivot_root; their targets are resolved after it */
  int *binds = calloc(sp->nmounts + 1, sizeof *binds);
  int *bind_dir = calloc(sp->nmounts + 1, sizeof *bind_dir);
  if (!binds || !bind_dir) die("out of memory");
  for (size_t i = 0; i < sp->nmounts; i++) {
    struct mount_req *m = &sp->mounts[i];
    if (m->tmpfs) continue;
    struct stat st;
    if (m->beneath) {
      /* an untrusted sub-path of a trusted dir (a cache mount's source=): resolved here, in this
       * mount namespace, by fd, never following a symlink, never leaving the dir; then cloned by fd,
       * so nothing can re-point it between the check and the mount (CVE-2024-23651 class) */
      int base = open(m->src, O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (base < 0) die_errno("open", m->src);
      struct open_how how = {.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
                             .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV};
      int fd = (int)syscall(SYS_openat2, base, m->beneath, &how, sizeof how);
      if (fd < 0) die_errno("openat2 (beneath, no symlinks)", m->beneath);
      close(base);
      if (fstat(fd, &st) < 0) die_errno("fstat", m->beneath);
      bind_dir[i] = S_ISDIR(st.st_mode);
      binds[i] = (int)open_tree(fd, "", AT_EMPTY_PATH | OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
      if (binds[i] < 0) die_errno("open_tree", m->beneath);
      close(fd);
    } else {
      if (stat(m->src, &st) < 0) die_errno("stat", m->src);
      bind_dir[i] = S_ISDIR(st.st_mode);
      binds[i] = (int)open_tree(AT_FDCWD, m->src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
      if (binds[i] < 0) die_errno("open_tree", m->src);
    }
    struct mount_attr a = {.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (m->ro ? MOUNT_ATTR_RDONLY : 0),
                           .propagation = MS_PRIVATE};
    if (mount_setattr(binds[i], "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof a) < 0) die_errno("mount_setattr", m->src);
  }

  /* pivot_root(".", "."): the old root ends up stacked on the new one, then is detached */
  if (fchdir(rootfd) < 0) die_errno("chdir", sp->root);
  if (syscall(SYS_pivot_root, ".", ".") < 0) die_errno("pivot_root", sp->root);
  if (umount2(".", MNT_DETACH) < 0) die_errno("umount2", "old root");
  if (chdir("/") < 0) die_errno("chdir", "/");
  close(rootfd);
  rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) die_errno("open", "/");

  attach(fs_new("proc", NULL, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC), rootfd, "/proc", 1);
  int nodes = make_nodes();
  make_dev(rootfd, nodes);
  attach(fs_new("sysfs", NULL, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC), rootfd,
         "/sys", 1);
  mask_paths(rootfd, nodes);
  /* stdin: the sandbox's own null device (the caller's is the host's /dev/null, which a root step
   * could otherwise fchmod through /proc/self/fd/0) */
  if (!sp->stdin_pipe || sp->tty) {
    int in = openat(nodes, "null", O_RDONLY | O_CLOEXEC);
    if (in < 0 || dup2(in, 0) < 0) die_errno("open", "null device as stdin");
    close(in);
  }
  close(nodes);
  if (monitor_mode && sp->tty) make_console(sp);
  for (size_t i = 0; i < sp->nmounts; i++) {
    struct mount_req *m = &sp->mounts[i];
    if (m->tmpfs) {
      char size[32];
      snprintf(size, sizeof size, "%llu", m->size);
      const char *o[] = {"size", size, "mode", "1777", NULL};
      attach(fs_new("tmpfs", m->size ? o : o + 2, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV), rootfd, m->dst, 1);
    } else {
      attach(binds[i], rootfd, m->dst, bind_dir[i]);
    }
  }
  /* the working directory is created if missing and kept in the layer, as WORKDIR is */
  int cwdfd = resolve_create(rootfd, sp->cwd, 1, 0);
  close(rootfd);
  if (sp->net == NET_PRIVATE) configure_eth0();
  /* a container without --init: the command itself is PID 1, as in Docker (it gets the stop signal
   * and reaps its own children) */
  if (monitor_mode && !sp->init) exec_command(sp, cwdfd, oldmask);

  pid_t child = fork();
  if (child < 0) die_errno("fork", NULL);
  if (child == 0) exec_command(sp, cwdfd, oldmask);
  close(cwdfd);
  if (tty_slave >= 0) close(tty_slave); /* --init: only the command holds the terminal */
  if (monitor_mode) {
    /* the monitor learns that the command was executed when every copy of the status pipe is closed:
     * ours goes now, the command's on exec */
    close(STATUS_FD);
    status_ok = 0;
  }

  /* reap everything; forward termination signals to the command */
  int code = -1, sig = 0;
  sigset_t set;
  waited_signals(&set);
  for (;;) {
    int st;
    pid_t p;
    int done = 0;
    while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
      if (p == child) {
        if (WIFEXITED(st)) code = WEXITSTATUS(st);
        else sig = WTERMSIG(st);
        done = 1;
      }
    }
    if (done) break;
    siginfo_t si;
    int s = sigwaitinfo(&set, &si);
    if (s > 0 && s != SIGCHLD) kill(child, s);
  }
  /* the step is over when its command is: daemons it left behind die with the namespace */
  kill(-1, SIGKILL);
  while (waitpid(-1, NULL, 0) > 0 || errno == EINTR) {
  }
  remove_stubs();
  if (sig) {
    status("signal %d", sig);
    _exit(128 + sig);
  }
  status("exit %d", code);
  _exit(code);
}

/* ---- P: the outer process ----------------------------------------------------------------- */

/* Puts P (and so everything it forks) into the run's cgroups, before anything of the run exists. */
static void join_cgroups(struct spec *sp) {
  for (size_t i = 0; i < sp->cgroups.n; i++) {
    int fd = open(sp->cgroups.v[i], O_WRONLY | O_CLOEXEC);
    if (fd < 0) die_errno("open", sp->cgroups.v[i]);
    if (write(fd, "0", 1) != 1) die_errno("join cgroup", sp->cgroups.v[i]);
    close(fd);
  }
}

/* Makes P (and PID 1) unkillable by the OOM killer, keeping the caller's score in sp->oom_adj for the
 * command (empty when nothing changed). Needs CAP_SYS_RESOURCE; without it P stays as killable as
 * its caller (an OOM kill of P or PID 1 then ends the run as a sandbox error). */
static void oom_exempt(struct spec *sp) {
  sp->oom_adj[0] = 0;
  int fd = open("/proc/self/oom_score_adj", O_RDWR | O_CLOEXEC);
  if (fd < 0) return;
  char cur[sizeof sp->oom_adj];
  ssize_t n = read(fd, cur, sizeof cur - 1);
  if (n > 0) {
    cur[n] = 0;
    cur[strcspn(cur, "\n")] = 0;
    if (pwrite(fd, "-1000", 5, 0) == 5) memcpy(sp->oom_adj, cur, sizeof cur);
  }
  close(fd);
}

/* Copies what is readable on FROM to TO; returns 0 at end of file. Output nobody reads any more
 * (the caller closed its end) is dropped, so the command never blocks on it. */
static int relay(int from, int to) {
  char buf[65536];
  ssize_t n = read(from, buf, sizeof buf);
  if (n < 0) return errno == EINTR || errno == EAGAIN;
  if (n == 0) return 0;
  for (ssize_t off = 0; off < n;) {
    ssize_t w = write(to, buf + off, (size_t)(n - off));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    off += w;
  }
  return 1;
}

/* ---- the container monitor ------------------------------------------------------------------ */

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Field 22 of /proc/self/stat: with the PID, it names this process across PID reuse. */
/* The start time (field 22 of /proc/PID/stat; PID 0: ourselves) of a process that runs; 0 when it
 * is gone or a zombie (dead, only not reaped: runtime/proc-stat.ts reads it the same way). */
static unsigned long long starttime_of(pid_t pid) {
  char buf[1024], path[64];
  if (pid) snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  else snprintf(path, sizeof path, "/proc/self/stat");
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (!p || !p[1] || !p[2]) return 0;
  p += 2; /* the state field */
  if (*p == 'Z' || *p == 'X') return 0;
  for (int field = 3; field < 22 && p; field++) {
    p = strchr(p, ' ');
    if (p) p++;
  }
  return p ? strtoull(p, NULL, 10) : 0;
}

static unsigned long long self_starttime(void) {
  return starttime_of(0);
}

/* Writes DIR/NAME whole (temp file + rename): a reader sees the old content or the new one. */
static void write_atomic_n(const char *dir, const char *name, const char *text, size_t len) {
  char tmp[4200], path[4200];
  snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
  snprintf(path, sizeof path, "%s/%s", dir, name);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return;
  ssize_t w = write(fd, text, len);
  close(fd);
  if (w == (ssize_t)len) rename(tmp, path);
  else unlink(tmp);
}

static void write_atomic(const char *dir, const char *name, const char *text) {
  write_atomic_n(dir, name, text, strlen(text));
}

static void write_monitor_file(struct spec *sp, pid_t child, long long started) {
  char text[128];
  snprintf(text, sizeof text, "%d %llu %d %lld\n", (int)getpid(), self_starttime(), (int)child, started);
  write_atomic(sp->rundir, "monitor", text);
}

/* Reads DIR/NAME (up to CAP-1 bytes, NUL-terminated) relative to the directory fd DFD; -1 when
 * missing. */
static ssize_t read_small_at(int dfd, const char *name, char *buf, size_t cap) {
  int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, cap - 1);
  close(fd);
  if (n < 0) return -1;
  buf[n] = 0;
  return n;
}

/* The runtime dir of a container whose record is gone (its store's root was deleted while the
 * container existed: nobody will ever `rm` it) and whose monitor is dead belongs to nobody; each
 * monitor, once its command runs, removes such siblings of its own runtime dir. Only a dir with a
 * `record` file (written by its monitor, naming the record's directory, which must end in the
 * dir's own name) is judged; a live monitor, or a record that exists, in any store, keeps it. */
static void sweep_orphan_rundirs(const char *rundir) {
  char parent[4200];
  snprintf(parent, sizeof parent, "%s", rundir);
  char *slash = strrchr(parent, '/');
  if (!slash || slash == parent) return;
  *slash = 0;
  int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (pfd < 0) return;
  int dup = fcntl(pfd, F_DUPFD_CLOEXEC, 0);
  DIR *d = dup >= 0 ? fdopendir(dup) : NULL;
  if (!d) {
    if (dup >= 0) close(dup);
    close(pfd);
    return;
  }
  for (struct dirent *e; (e = readdir(d));) {
    size_t len = strlen(e->d_name);
    if (len != 64 || strspn(e->d_name, "0123456789abcdef") != 64 || !strcmp(e->d_name, slash + 1)) continue;
    int dfd = openat(pfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0) continue;
    char rec[4200], mon[128];
    ssize_t rn = read_small_at(dfd, "record", rec, sizeof rec);
    size_t rl = rn > 0 ? strcspn(rec, "\n") : 0;
    rec[rl] = 0;
    struct stat st;
    int orphan = rl > 65 && rec[0] == '/' && !strcmp(rec + rl - 64, e->d_name) && rec[rl - 65] == '/' &&
                 stat(rec, &st) < 0 && errno == ENOENT;
    if (orphan && read_small_at(dfd, "monitor", mon, sizeof mon) > 0) {
      int pid = 0;
      unsigned long long start = 0;
      if (sscanf(mon, "%d %llu", &pid, &start) == 2 && pid > 0 && starttime_of((pid_t)pid) == start) orphan = 0;
    }
    if (orphan) {
      /* a flat dir of the monitor's files (and its tools' temp files) */
      int dup2fd = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
      DIR *inner = dup2fd >= 0 ? fdopendir(dup2fd) : NULL;
      for (struct dirent *f; inner && (f = readdir(inner));)
        if (strcmp(f->d_name, ".") && strcmp(f->d_name, "..")) unlinkat(dfd, f->d_name, 0);
      if (inner) closedir(inner);
      else if (dup2fd >= 0) close(dup2fd);
      unlinkat(pfd, e->d_name, AT_REMOVEDIR);
    }
    close(dfd);
  }
  closedir(d);
  close(pfd);
}

/* The container's cgroup directories, once its last process is gone (EBUSY while the kernel is
 * still letting go of them), then the shared parent if that was its last group. */
static void remove_cgroups(struct spec *sp) {
  for (size_t i = 0; i < sp->cgroups.n; i++) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", sp->cgroups.v[i]);
    char *slash = strrchr(dir, '/');
    if (!slash) continue;
    *slash = 0; /* drop "/cgroup.procs" */
    for (int tries = 0; tries < 100; tries++) {
      if (rmdir(dir) == 0 || errno != EBUSY) break;
      usleep(10000);
    }
    slash = strrchr(dir, '/');
    if (slash) {
      *slash = 0;
      rmdir(dir); /* fails while other groups remain */
    }
  }
}

/* Reads NAME in the directory of the group whose cgroup.procs is PROCS into BUF (NUL-terminated);
 * the length, or -1 when it cannot be read. */
static ssize_t read_group_file(const char *procs, const char *name, char *buf, size_t size) {
  char path[4200];
  snprintf(path, sizeof path, "%s", procs);
  char *slash = strrchr(path, '/');
  if (!slash) return -1;
  snprintf(slash + 1, sizeof path - (size_t)(slash + 1 - path), "%s", name);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, size - 1);
  close(fd);
  buf[n > 0 ? n : 0] = 0;
  return n;
}

/* Whether the kernel's OOM killer killed a process of the container's memory group (read before
 * the groups go: Docker's State.OOMKilled). v1: memory.oom_control's oom_kill; v2: memory.events. */
static int oom_killed(struct spec *sp) {
  for (size_t i = 0; i < sp->cgroups.n; i++) {
    const char *files[] = {"memory.oom_control", "memory.events"};
    for (int f = 0; f < 2; f++) {
      char buf[1024];
      if (read_group_file(sp->cgroups.v[i], files[f], buf, sizeof buf) <= 0) continue;
      char *k = strstr(buf, "oom_kill ");
      if (k && (k == buf || k[-1] == '\n') && atoi(k + 9) > 0) return 1;
    }
  }
  return 0;
}

/* Copies BUF to fd TO; returns 0 when the reader went away. */
static int write_all(int to, const unsigned char *buf, size_t n) {
  for (size_t off = 0; off < n;) {
    ssize_t w = write(to, buf + off, n - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return 0;
    off += (size_t)w;
  }
  return 1;
}

/* Published ports: each host port is bound (not listened on: the kernel's DNAT sends the traffic to
 * the container) and held by the monitor for the container's life, so a second publish of the same
 * port fails here, before anything else exists, and a killed monitor gives the port back. Reports
 * "port PROTO IP PORT BOUND" per port (BOUND: the kernel's choice for port 0). No SO_REUSEADDR: two
 * such sockets could share the port. */
static void bind_ports(struct spec *sp) {
  for (size_t i = 0; i < sp->ports.n; i++) {
    char proto[8], ip[64];
    unsigned port;
    if (sscanf(sp->ports.v[i], "%7s %63s %u", proto, ip, &port) != 3 || port > 65535) die("spec: bad port %s", sp->ports.v[i]);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) die("spec: bad port address %s", ip);
    int udp = !strcmp(proto, "udp");
    int fd = socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
    if (fd < 0) die_errno("socket", proto);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) {
      if (errno == EADDRINUSE) die("Bind for %s:%u failed: port is already allocated", ip, port);
      die("Bind for %s:%u failed: %s", ip, port, strerror(errno));
    }
    socklen_t len = sizeof a;
    if (getsockname(fd, (struct sockaddr *)&a, &len) < 0) die_errno("getsockname", ip);
    status("port %s %s %u %u", proto, ip, port, (unsigned)ntohs(a.sin_port));
    /* kept open (close-on-exec) until the monitor ends */
  }
}

/* `attach`: RUNDIR/attach, a unix socket (0600) the monitor serves. A client gets the output as
 * frames, a byte 1|2 (stdout|stderr) then a big-endian u32 length then the bytes; what it sends goes
 * to the container's terminal (-t) or to its stdin kept open (-di). A client too slow to take a frame at once is dropped, so no
 * client can stall the container or its log. Without a usable path there is no attach. */
#define MAX_ATTACH 8
static int attach_socket(const char *rundir) {
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  if ((size_t)snprintf(a.sun_path, sizeof a.sun_path, "%s/attach", rundir) >= sizeof a.sun_path) return -1;
  unlink(a.sun_path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || chmod(a.sun_path, 0600) < 0 || listen(fd, MAX_ATTACH) < 0) {
    close(fd);
    return -1;
  }
  int big = 1 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  return fd;
}

static void attach_send(struct pollfd *clients, int stream, const unsigned char *data, size_t n) {
  unsigned char hdr[5] = {(unsigned char)stream, (unsigned char)(n >> 24), (unsigned char)(n >> 16), (unsigned char)(n >> 8), (unsigned char)n};
  for (int i = 0; i < MAX_ATTACH; i++) {
    if (clients[i].fd < 0) continue;
    struct iovec iov[2] = {{.iov_base = hdr, .iov_len = 5}, {.iov_base = (void *)data, .iov_len = n}};
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
    if (sendmsg(clients[i].fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)(n + 5)) {
      close(clients[i].fd);
      clients[i].fd = -1;
    }
  }
}


#include "exec.c"

/* ---- health checks (HEALTHCHECK, --health-*) ------------------------------------------------- */

/*
 * The monitor probes the container's health as Docker 20.10's daemon does (moby daemon/health.go):
 * the first probe `interval` after the command started, each next one `interval` after the previous
 * one ended. A probe is an exec (exec_run, in a child of ours: the container's namespaces, cgroups,
 * capabilities, seccomp, user, env and working dir), its stdout and stderr kept together, the first
 * 4096 bytes (then "..." when there was more). Past `timeout` it is killed (SIGUSR1: exec_run
 * SIGKILLs the process) and counts as exit -1 "Health check exceeded timeout (T)"; one that cannot
 * be started is -1 with runc's words. Status: starting, healthy after a success, unhealthy after
 * `retries` failures in a row (a failure that started within the start period does not count while
 * starting). The last 5 results are kept. RUNDIR/health is rewritten whole after each change:
 * "status S\nstreak N\n", then per result "probe START_NS END_NS EXITCODE LEN\n", LEN bytes, "\n".
 */
#define HEALTH_OUT_MAX 4096
#define HEALTH_LOG 5

struct probe_result {
  long long start, end; /* realtime ns */
  int code;
  size_t len;
  char out[HEALTH_OUT_MAX + 512]; /* room for "..." and the error messages */
};

struct health {
  int status; /* 0 starting, 1 healthy, 2 unhealthy */
  int streak;
  struct probe_result log[HEALTH_LOG];
  int nlog;
  long long started;         /* the command's start (realtime ns): the start period counts from it */
  long long next;            /* monotonic ns of the next probe (0: none) */
  pid_t pid;                 /* the running probe (0: none) */
  int out, st;               /* its output and status pipes (our ends) */
  long long deadline;        /* monotonic: when it is killed */
  int timed_out, truncated;
  int discard;               /* the running probe is not a result (the container was paused) */
  struct probe_result cur;
};

static long long mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void health_write(struct spec *sp, struct health *h) {
  static char buf[HEALTH_LOG * (sizeof(struct probe_result) + 128) + 128];
  static const char *names[] = {"starting", "healthy", "unhealthy"};
  size_t n = (size_t)snprintf(buf, sizeof buf, "status %s\nstreak %d\n", names[h->status], h->streak);
  for (int i = 0; i < h->nlog; i++) {
    struct probe_result *r = &h->log[i];
    n += (size_t)snprintf(buf + n, sizeof buf - n, "probe %lld %lld %d %zu\n", r->start, r->end, r->code, r->len);
    memcpy(buf + n, r->out, r->len);
    n += r->len;
    buf[n++] = '\n';
  }
  write_atomic_n(sp->rundir, "health", buf, n);
}

/* handleProbeResult: the result joins the log, the streak and status follow. */
static void health_record(struct spec *sp, struct health *h) {
  struct probe_result *r = &h->cur;
  r->end = now_ns();
  if (h->nlog == HEALTH_LOG) {
    memmove(h->log, h->log + 1, (HEALTH_LOG - 1) * sizeof *h->log);
    h->nlog--;
  }
  h->log[h->nlog++] = *r;
  if (r->code == 0) {
    h->streak = 0;
    h->status = 1;
  } else if (!(h->status == 0 && r->start - h->started < sp->health_start) && ++h->streak >= sp->health_retries) {
    h->status = 2;
  }
  health_write(sp, h);
  h->next = mono_ns() + sp->health_interval;
}

static void health_fail(struct spec *sp, struct health *h, const char *what) {
  h->cur.code = -1;
  h->cur.len = (size_t)snprintf(h->cur.out, sizeof h->cur.out, "health check: %s: %s", what, strerror(errno));
  health_record(sp, h);
}

/* Starts a probe of the container whose PID 1 is INIT; its output is read through *OUTFD. CLEAN is
 * the signal mask the monitor was started with. */
static void health_probe(struct spec *sp, struct health *h, pid_t init, const sigset_t *clean, int *outfd) {
  int o[2], s[2];
  h->cur.start = now_ns();
  h->cur.len = 0;
  h->truncated = h->timed_out = 0;
  if (pipe2(o, O_CLOEXEC) < 0) return health_fail(sp, h, "pipe");
  if (pipe2(s, O_CLOEXEC) < 0) {
    close(o[0]), close(o[1]);
    return health_fail(sp, h, "pipe");
  }
  pid_t p = fork();
  if (p < 0) {
    close(o[0]), close(o[1]), close(s[0]), close(s[1]);
    return health_fail(sp, h, "fork");
  }
  if (p == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    prctl(PR_SET_NAME, "tsbuild-health", 0, 0, 0);
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null < 0 || dup2(null, 0) < 0 || dup2(o[1], 1) < 0 || dup2(o[1], 2) < 0 || dup2(s[1], STATUS_FD) < 0) _exit(EXIT_SANDBOX);
    close(3);
    close_range(STATUS_FD + 1, ~0U, 0); /* nothing of the monitor's (log, sockets, ctl) stays with us */
    monitor_mode = 0, exec_mode = 1, status_ok = 1;
    struct xspec x;
    memset(&x, 0, sizeof x);
    x.pid = init;
    x.args = sp->health;
    x.env = sp->env;
    x.cwd = sp->cwd;
    x.uid = sp->uid, x.gid = sp->gid, x.groups = sp->groups, x.ngroups = sp->ngroups;
    x.no_new_privs = sp->no_new_privs;
    for (size_t i = 0; i < sp->cgroups.n && x.ncg < sizeof x.cgfds / sizeof x.cgfds[0]; i++) {
      int fd = open(sp->cgroups.v[i], O_WRONLY | O_CLOEXEC);
      if (fd >= 0) x.cgfds[x.ncg++] = fd;
    }
    sigprocmask(SIG_SETMASK, clean, NULL);
    exec_run(&x);
  }
  close(o[1]);
  close(s[1]);
  fcntl(o[0], F_SETFL, O_NONBLOCK);
  fcntl(s[0], F_SETFL, O_NONBLOCK);
  h->pid = p;
  h->out = *outfd = o[0];
  h->st = s[0];
  h->deadline = mono_ns() + sp->health_timeout;
}

/* Reads what the probe printed; returns 0 at its end (or an error). */
static int health_read(struct health *h) {
  static char b[65536];
  for (;;) {
    ssize_t n = read(h->out, b, sizeof b);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return 1;
    if (n <= 0) return 0;
    size_t keep = HEALTH_OUT_MAX - h->cur.len;
    if ((size_t)n < keep) keep = (size_t)n;
    memcpy(h->cur.out + h->cur.len, b, keep);
    h->cur.len += keep;
    if (keep < (size_t)n) h->truncated = 1;
  }
}

/* The probe's helper exited with WSTATUS: its result. */
static void health_done(struct spec *sp, struct health *h, int wstatus, int *outfd) {
  if (h->out >= 0) {
    health_read(h);
    close(h->out);
  }
  h->out = *outfd = -1;
  char st[4200];
  ssize_t n = read(h->st, st, sizeof st - 1);
  close(h->st);
  h->st = -1;
  h->pid = 0;
  st[n > 0 ? n : 0] = 0;
  char *err = !strncmp(st, "error ", 6) ? st + 6 : strstr(st, "\nerror ");
  if (err && err != st + 6) err += 7;
  if (err) err[strcspn(err, "\n")] = 0;
  int code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
  struct probe_result *r = &h->cur;
  if (h->timed_out) {
    r->code = -1;
    r->len = (size_t)snprintf(r->out, sizeof r->out, "Health check exceeded timeout (%s)", sp->health_timeout_text ? sp->health_timeout_text : "");
  } else if (err) {
    /* could not be started: Docker's exec error (runc's words) */
    r->code = -1;
    r->len = (size_t)snprintf(r->out, sizeof r->out, code == EXIT_CANNOT_INVOKE ? "OCI runtime exec failed: %s: unknown" : "%s", err);
  } else {
    r->code = code;
    if (h->truncated) memcpy(r->out + r->len, "...", 3), r->len += 3;
  }
  if (r->len >= sizeof r->out) r->len = sizeof r->out - 1;
  health_record(sp, h);
}

/* Whether the container is paused (`pause`: its freezer group frozen; v1 freezer.state, v2
 * cgroup.freeze). Docker probes no paused container: a probe would only hang in the frozen group. */
static int health_paused(struct spec *sp) {
  for (size_t i = 0; i < sp->cgroups.n; i++) {
    const char *files[] = {"freezer.state", "cgroup.freeze"};
    for (int f = 0; f < 2; f++) {
      char buf[16];
      if (read_group_file(sp->cgroups.v[i], files[f], buf, sizeof buf) > 0 && (!strncmp(buf, "FROZEN", 6) || !strncmp(buf, "FREEZING", 8) || buf[0] == '1'))
        return 1;
    }
  }
  return 0;
}

/* The container ended: a probe still running goes (it is not recorded, as Docker's). */
static void health_stop(struct health *h, int *outfd) {
  if (h->pid > 0) {
    kill(h->pid, SIGKILL);
    while (waitpid(h->pid, NULL, 0) < 0 && errno == EINTR) {
    }
  }
  if (h->out >= 0) close(h->out);
  if (h->st >= 0) close(h->st);
  h->out = h->st = *outfd = -1;
  h->pid = 0;
  h->next = 0;
}

/* Whether the container is being removed (`rm -f` wrote its PID to RUNDIR/removing before it killed
 * the command, and lives; or the runtime dir is gone already): its exit command would find nothing
 * left to do, and a Node start costs seconds on a loaded machine. */
static int removal_under_way(const char *rundir) {
  struct stat st;
  if (stat(rundir, &st) < 0 && errno == ENOENT) return 1;
  char path[4200], buf[32] = {0};
  snprintf(path, sizeof path, "%s/removing", rundir);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  long pid = n > 0 ? strtol(buf, NULL, 10) : 0;
  return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

/*
 * monitor mode (argv[1] "monitor"): one per running container, started by the CLI. It detaches
 * (double fork, setsid, cwd /), so it outlives the CLI, and is P of the process tree above: PID 1
 * of the container is its child with PDEATHSIG, so monitor alive <=> container alive. It holds the
 * command's pipes and writes the json-file log itself; with attach=1 the output also goes to its
 * fds 1 and 2 (a foreground CLI's pipes; dropped once the reader is gone); with stdin=pipe its fd 0
 * feeds the command's stdin. RUNDIR gets `monitor` ("PID STARTTIME CHILDPID STARTED_NS", rewritten
 * once the command runs), `record` (the container's record directory: see sweep_orphan_rundirs,
 * run once the command runs), a FIFO `ctl` taking "kill SIG" lines (signals go to the command through
 * its parent: no PID reuse race), and at the end, after all output is drained and the log closed,
 * `exit` ("code N", "signal N", "started 0|1", "finished NS", "error TEXT" lines). Status lines on
 * fd 4: "pid N", "netns N" (private network), "started NS" once the command was executed, or
 * "error TEXT" when it could not be, then "exit N" / "signal N". Last, exitcmd (e.g. --rm's
 * cleanup) is executed with fd 4 still open, so a foreground CLI waits for it — unless that CLI
 * does the cleanup itself (a socket on fd 7: one byte once done) or `rm` is removing the container.
 */
static int __attribute__((noreturn)) monitor_main(void) {
  umask(0);
  signal(SIGPIPE, SIG_IGN);
  struct spec sp;
  read_spec(&sp);
  if (sp.net != NET_PRIVATE) close(NETCFG_FD);
  if (fcntl(INPUT_FD, F_GETFD) >= 0) {
    if (dup2(INPUT_FD, 0) < 0) die_errno("dup2", "input");
    close(INPUT_FD);
  }
  struct stat cst;
  const int caller_cleans = fstat(CLEANUP_FD, &cst) == 0 && S_ISSOCK(cst.st_mode) && fcntl(CLEANUP_FD, F_SETFD, FD_CLOEXEC) >= 0;
  bind_ports(&sp);
  pid_t f = fork();
  if (f < 0) die_errno("fork", "monitor");
  if (f > 0) _exit(0);
  if (setsid() < 0) die_errno("setsid", NULL);
  f = fork(); /* not a session leader: never gets a controlling terminal */
  if (f < 0) die_errno("fork", "monitor");
  if (f > 0) _exit(0);
  if (chdir("/") < 0) die_errno("chdir", "/");
  prctl(PR_SET_NAME, "tsbuild-monitor", 0, 0, 0);
  oom_exempt(&sp);
  write_monitor_file(&sp, 0, 0);
  if (sp.root) {
    /* the record this runtime dir belongs to (the mount point's parent), for sweep_orphan_rundirs */
    char rec[4200];
    snprintf(rec, sizeof rec, "%s", sp.root);
    char *slash = strrchr(rec, '/');
    if (slash && slash != rec) {
      slash[0] = '\n', slash[1] = 0;
      write_atomic(sp.rundir, "record", rec);
    }
  }

  char ctlpath[4200];
  snprintf(ctlpath, sizeof ctlpath, "%s/ctl", sp.rundir);
  unlink(ctlpath);
  if (mkfifo(ctlpath, 0600) < 0) die_errno("mkfifo", ctlpath);
  int ctl = open(ctlpath, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (ctl < 0) die_errno("open", ctlpath);
  int attach_listen = attach_socket(sp.rundir);
  static struct jlog log;
  int logging = 0;
  if (sp.log) {
    if (jlog_open(&log, sp.log, sp.log_max_size, sp.log_max_file) < 0) die_errno("open", sp.log);
    logging = 1;
  }
  /* syslog: every line to the syslog socket too, the json-file log kept as Docker 20.10's
   * local cache for `logs` (dual logging) */
  static struct slog slog;
  int slogging = 0;
  if (sp.syslog) {
    if (slog_open(&slog, sp.syslog) < 0) die_errno("failed to initialize logging driver: syslog", sp.syslog);
    slogging = 1;
  }

  sigset_t oldmask;
  int sigfd = block_signals(SIGUSR1, &oldmask);
  int out[2], err[2], syn[2], in[2] = {-1, -1};
  if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 || pipe2(syn, O_CLOEXEC) < 0) die_errno("pipe2", NULL);
  /* -t: input goes to the pty master (once C sent it), not through a pipe */
  const int in_pipe = sp.stdin_pipe && !sp.tty;
  int ptys[2] = {-1, -1}, master = -1;
  if (sp.tty && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ptys) < 0) die_errno("socketpair", "tty");
  if (in_pipe && pipe2(in, O_CLOEXEC) < 0) die_errno("pipe2", "stdin");
  int alive;
  /* our own PID namespace, for the processes we fork after PID 1 (health probes, the exit command) */
  int own_pidns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
  pid_t init = fork_init(sigfd, &alive);
  if (init == 0) {
    close(ctl);
    if (logging) close(log.fd);
    if (dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0) die_errno("dup2", "stdout/stderr");
    if (in_pipe && dup2(in[0], 0) < 0) die_errno("dup2", "stdin");
    if (sp.tty) close(ptys[0]), tty_sock = ptys[1];
    /* what C reports before the command runs goes through the sync pipe, which the monitor relays */
    if (dup3(syn[1], STATUS_FD, O_CLOEXEC) < 0) die_errno("dup3", "status");
    close(out[0]), close(out[1]), close(err[0]), close(err[1]), close(syn[0]), close(syn[1]);
    if (in_pipe) close(in[0]), close(in[1]);
    init_main(&sp, &oldmask, alive);
  }
  if (own_pidns >= 0) {
    if (setns(own_pidns, CLONE_NEWPID) < 0) { /* the probes then run from the container's PID namespace */ }
    close(own_pidns);
  }
  close(out[1]);
  close(err[1]);
  close(syn[1]);
  if (sp.tty) close(ptys[1]);
  if (in_pipe) {
    close(in[0]);
    fcntl(in[1], F_SETFL, O_NONBLOCK);
  }
  if (sp.net == NET_PRIVATE) close(NETCFG_FD);
  status("pid %d", (int)init);

  static unsigned char buf[65536], inbuf[65536], inbuf2[4096];
  static char syntext[8192], errtext[4096];
  size_t synlen = 0, inlen = 0, inoff = 0;
  int started = 0, failed = 0, code = -1, sig = 0;
  int in_eof = !sp.stdin_pipe || sp.stdin_open, inw = in_pipe ? in[1] : -1;
  int attached[3] = {0, sp.attach, sp.attach};
  static struct health hc = {.out = -1, .st = -1};
  const int health_on = sp.health.n > 0;
#define PF_PROBE (9 + MAX_ATTACH)
  struct pollfd pf[10 + MAX_ATTACH] = {{.fd = sigfd, .events = POLLIN}, {.fd = out[0], .events = POLLIN}, {.fd = err[0], .events = POLLIN},
                         {.fd = syn[0], .events = POLLIN}, {.fd = -1, .events = POLLIN}, {.fd = -1, .events = POLLOUT},
                         {.fd = ctl, .events = POLLIN}, {.fd = ptys[0], .events = POLLIN}, {.fd = attach_listen, .events = POLLIN}};
  for (int i = 9; i <= PF_PROBE; i++) pf[i].fd = -1, pf[i].events = POLLIN;
  while (code < 0 || pf[1].fd >= 0 || pf[2].fd >= 0 || pf[3].fd >= 0 || pf[7].fd >= 0) {
    pf[4].fd = !in_eof && inlen == 0 ? 0 : -1;
    pf[5].fd = inw >= 0 && inlen > 0 ? inw : -1;
    pf[6].fd = code < 0 ? ctl : -1;
    int wait_ms = -1; /* until the next probe, or the running one's deadline */
    long long due = !health_on || code >= 0 ? 0 : hc.pid > 0 ? hc.deadline : hc.next;
    if (due > 0) {
      long long d = due - mono_ns();
      wait_ms = d <= 0 ? 0 : d > 3600000000000LL ? 3600000 : (int)(d / 1000000 + 1);
    }
    if (poll(pf, 10 + MAX_ATTACH, wait_ms) < 0) {
      if (errno == EINTR) continue;
      die_errno("poll", NULL);
    }
    for (int i = 1; i <= 2; i++) {
      if (pf[i].fd < 0 || !pf[i].revents) continue;
      ssize_t n = read(pf[i].fd, buf, sizeof buf);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) {
        close(pf[i].fd);
        pf[i].fd = -1;
        if (logging) jlog_end(&log, i - 1);
        if (slogging) slog_end(&slog, i - 1, now_ns());
        continue;
      }
      if (logging) jlog_write(&log, i - 1, buf, (size_t)n, now_ns());
      if (slogging) slog_write(&slog, i - 1, buf, (size_t)n, now_ns());
      if (attached[i] && !write_all(i, buf, (size_t)n)) attached[i] = 0;
      attach_send(pf + 9, i, buf, (size_t)n);
    }
    if (pf[3].fd >= 0 && pf[3].revents) {
      ssize_t n = read(syn[0], syntext + synlen, sizeof syntext - 1 - synlen);
      if (n > 0) {
        synlen += (size_t)n;
        char *nl;
        while ((nl = memchr(syntext, '\n', synlen))) {
          size_t len = (size_t)(nl - syntext) + 1;
          if (!strncmp(syntext, "error ", 6) && !failed) {
            failed = 1;
            snprintf(errtext, sizeof errtext, "%.*s", (int)(len - 7), syntext + 6);
          }
          if (status_ok && write(STATUS_FD, syntext, len) < 0) { /* the CLI went away */ }
          memmove(syntext, syntext + len, synlen - len);
          synlen -= len;
        }
        if (synlen == sizeof syntext - 1) synlen = 0; /* a line that long is nothing of ours */
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        close(syn[0]);
        pf[3].fd = -1;
        if (!failed) {
          /* every copy of the pipe is closed and nothing went wrong: the command was executed */
          started = 1;
          long long t = now_ns();
          write_monitor_file(&sp, init, t);
          if (health_on) {
            hc.started = t;
            hc.next = mono_ns() + sp.health_interval;
            health_write(&sp, &hc);
          }
          status("started %lld", t);
          sweep_orphan_rundirs(sp.rundir); /* the start is reported: this costs the caller nothing */
        }
      }
    }
    if (pf[4].fd >= 0 && pf[4].revents) {
      ssize_t n = read(0, inbuf, sizeof inbuf);
      if (n > 0) inlen = (size_t)n, inoff = 0;
      else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        in_eof = 1; /* EOF on our stdin reaches the command (a terminal's input just ends: detached) */
        if (inw >= 0 && !sp.tty) close(inw);
        inw = -1;
      }
    }
    if (pf[5].fd >= 0 && pf[5].revents) {
      ssize_t w = (pf[5].revents & POLLOUT) ? write(inw, inbuf + inoff, inlen - inoff) : -1;
      if (w > 0) {
        inoff += (size_t)w;
        if (inoff == inlen) inlen = 0;
      } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
        if (!sp.tty) close(inw); /* the command closed its stdin: nothing more is delivered */
        inw = -1;
        in_eof = 1;
        inlen = 0;
      }
    }
    if (pf[6].fd >= 0 && pf[6].revents) {
      char line[256];
      ssize_t n = read(ctl, line, sizeof line - 1);
      if (n > 0) {
        line[n] = 0;
        for (char *p = line, *e; (e = strchr(p, '\n')); p = e + 1) {
          *e = 0;
          int s = 0;
          unsigned short r = 0, c = 0;
          if (sscanf(p, "kill %d", &s) == 1 && s > 0 && s < NSIG) kill(init, s);
          else if (sscanf(p, "resize %hu %hu", &r, &c) == 2 && master >= 0 && r && c) {
            struct winsize ws = {.ws_row = r, .ws_col = c};
            ioctl(master, TIOCSWINSZ, &ws);
          }
        }
      }
    }
    if (pf[7].fd >= 0 && pf[7].revents) {
      if (master < 0) {
        /* C's message: the master (its output is the command's, logged as stdout, as Docker's) */
        master = recv_console(ptys[0]);
        close(ptys[0]);
        pf[7].fd = master;
        if (master >= 0) {
          fcntl(master, F_SETFL, O_NONBLOCK);
          if (sp.stdin_pipe && !in_eof) inw = master;
        }
      } else {
        ssize_t n = read(master, buf, sizeof buf);
        if (n > 0) {
          if (logging) jlog_write(&log, 0, buf, (size_t)n, now_ns());
      if (slogging) slog_write(&slog, 0, buf, (size_t)n, now_ns());
          if (attached[1] && !write_all(1, buf, (size_t)n)) attached[1] = 0;
          attach_send(pf + 9, 1, buf, (size_t)n);
        } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
          /* EIO: every slave is closed (the container's processes are gone) */
          if (inw == master) inw = -1;
          close(master);
          pf[7].fd = -1;
          if (logging) jlog_end(&log, 0);
        if (slogging) slog_end(&slog, 0, now_ns());
        }
      }
    }
    if (pf[8].fd >= 0 && pf[8].revents) {
      int cfd = accept4(pf[8].fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
      int slot = -1;
      for (int i = 9; cfd >= 0 && i < 9 + MAX_ATTACH && slot < 0; i++)
        if (pf[i].fd < 0) slot = i;
      if (slot >= 0) pf[slot].fd = cfd;
      else if (cfd >= 0) close(cfd); /* that many clients: this one is refused */
    }
    for (int i = 9; i < 9 + MAX_ATTACH; i++) {
      if (pf[i].fd < 0 || !pf[i].revents) continue;
      /* an attached client's input: to the terminal (-t) */
      ssize_t n = read(pf[i].fd, inbuf2, sizeof inbuf2);
      if (n > 0) {
        if (master >= 0 && write(master, inbuf2, (size_t)n) < 0) { /* full or gone: typed input is dropped */ }
        else if (master < 0 && sp.stdin_open && inw >= 0 && write(inw, inbuf2, (size_t)n) < 0) { /* the same */ }
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        close(pf[i].fd);
        pf[i].fd = -1;
      }
    }
    if (pf[0].revents & POLLIN) {
      struct signalfd_siginfo si;
      while (read(sigfd, &si, sizeof si) == sizeof si) {
        int s = (int)si.ssi_signo;
        if (s == SIGUSR1) kill(init, SIGKILL);
        else if (s != SIGCHLD && code < 0) kill(init, s);
      }
    }
    if (pf[PF_PROBE].fd >= 0 && pf[PF_PROBE].revents && !health_read(&hc)) {
      close(hc.out);
      hc.out = pf[PF_PROBE].fd = -1;
    }
    if (health_on && hc.pid > 0) {
      int hst;
      if (waitpid(hc.pid, &hst, WNOHANG) == hc.pid) {
        /* a probe ended by the container's own end is not a result (Docker cancels it) */
        siginfo_t si = {0};
        if ((waitid(P_PID, (id_t)init, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == init) || hc.discard) {
          hc.pid = 0;
          health_stop(&hc, &pf[PF_PROBE].fd);
          hc.next = hc.discard ? mono_ns() + sp.health_interval : 0;
          hc.discard = 0;
        } else health_done(&sp, &hc, hst, &pf[PF_PROBE].fd);
      }
      else if (mono_ns() >= hc.deadline) {
        /* past its timeout: exec_run kills the process; should the helper not end, it is killed too
         * (a paused container's probe is dropped: it hung in the frozen group, it did not fail) */
        if (!hc.timed_out && health_paused(&sp)) hc.discard = 1;
        kill(hc.pid, hc.timed_out || hc.discard ? SIGKILL : SIGUSR1);
        hc.timed_out = 1;
        hc.deadline = mono_ns() + 2000000000LL;
      }
    }
    if (health_on && started && code < 0 && hc.pid == 0 && hc.next && mono_ns() >= hc.next) {
      if (health_paused(&sp)) hc.next = mono_ns() + sp.health_interval;
      else health_probe(&sp, &hc, init, &oldmask, &pf[PF_PROBE].fd);
    }
    int st;
    if (code < 0 && waitpid(init, &st, WNOHANG) == init) {
      if (WIFEXITED(st)) code = WEXITSTATUS(st);
      else {
        sig = WTERMSIG(st);
        code = 128 + sig;
      }
      health_stop(&hc, &pf[PF_PROBE].fd);
      close(ctl);
      unlink(ctlpath); /* from now on a "kill" finds nobody: the container is not running */
      ctl = -1;
      if (inw >= 0 && inw != master) close(inw);
      inw = -1;
      in_eof = 1;
    }
  }
  if (logging) jlog_close(&log);
  if (slogging) slog_close(&slog);
  /* attached clients see the end of the stream once the output is drained; the socket goes */
  for (int i = 9; i < 9 + MAX_ATTACH; i++)
    if (pf[i].fd >= 0) close(pf[i].fd);
  if (attach_listen >= 0) {
    char apath[4200];
    snprintf(apath, sizeof apath, "%s/attach", sp.rundir);
    unlink(apath);
    close(attach_listen);
  }
  int oom = oom_killed(&sp);
  remove_cgroups(&sp);
  char text[4400];
  snprintf(text, sizeof text, "code %d\nsignal %d\nstarted %d\nfinished %lld\noom %d\nerror %s\n", code, sig, started, now_ns(),
           oom, failed ? errtext : "");
  write_atomic(sp.rundir, "exit", text);
  if (sig) status("signal %d", sig);
  else status("exit %d", code);
  int skip_exitcmd = 0;
  if (caller_cleans) {
    /* the foreground CLI sees the end of its output, removes the container and says so; should
     * it die (or detach) first, the exit command does it */
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) dup2(null, 1), dup2(null, 2), close(null);
    char b;
    ssize_t n;
    do n = read(CLEANUP_FD, &b, 1);
    while (n < 0 && errno == EINTR);
    skip_exitcmd = n == 1;
    close(CLEANUP_FD);
  }
  if (!skip_exitcmd && removal_under_way(sp.rundir)) skip_exitcmd = 1;
  if (sp.exitcmd.n > 0 && !skip_exitcmd) {
    if (sp.oom_adj[0]) {
      int oom = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
      if (oom >= 0 && write(oom, sp.oom_adj, strlen(sp.oom_adj)) < 0) { /* keep going */ }
      if (oom >= 0) close(oom);
    }
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) dup2(null, 0), dup2(null, 1), dup2(null, 2);
    /* children (and threads: Node needs them) in our own PID namespace again, not the container's */
    int pidns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
    if (pidns >= 0 && setns(pidns, CLONE_NEWPID) < 0) _exit(0);
    /* fd 4 stays: a foreground CLI reads until every copy is closed, so it waits for the cleanup */
    close_range(5, ~0U, 0);
    if (status_ok) fcntl(STATUS_FD, F_SETFD, 0);
    signal(SIGPIPE, SIG_DFL);
    sigprocmask(SIG_SETMASK, &oldmask, NULL);
    umask(022);
    if (sp.exitcwd && chdir(sp.exitcwd) < 0 && chdir("/") < 0) _exit(0);
    execve(sp.exitcmd.v[0], sp.exitcmd.v, sp.exitenv.v);
  }
  _exit(0);
}

/* `tsbuild-sandbox jsonlog PATH MAXSIZE MAXFILE`: the monitor's log writer fed from stdin (for tests):
 * records of op ('w' write, 'e' end of stream), stream (0|1), time (int64 LE, ns), length (uint32
 * LE), data. */
static int jsonlog_tool(int argc, char **argv) {
  if (argc != 5) return 2;
  struct jlog l;
  if (jlog_open(&l, argv[2], atoll(argv[3]), atoi(argv[4])) < 0) {
    perror(argv[2]);
    return 1;
  }
  FILE *in = stdin;
  unsigned char h[14];
  while (fread(h, 1, sizeof h, in) == sizeof h) {
    long long t = 0;
    for (int i = 7; i >= 0; i--) t = (t << 8) | h[2 + i];
    size_t len = (size_t)h[10] | (size_t)h[11] << 8 | (size_t)h[12] << 16 | (size_t)h[13] << 24;
    unsigned char *data = malloc(len ? len : 1);
    if (!data || fread(data, 1, len, in) != len) return 1;
    int k = h[1] ? 1 : 0;
    if (h[0] == 'w' && jlog_write(&l, k, data, len, t) < 0) return 1;
    if (h[0] == 'e' && jlog_end(&l, k) < 0) return 1;
    free(data);
  }
  return jlog_close(&l) < 0;
}

int main(int argc, char **argv) {
  if (argc == 5 && !strcmp(argv[1], "jsonlog")) return jsonlog_tool(argc, argv);
  monitor_mode = argc >= 2 && !strcmp(argv[1], "monitor");
  exec_mode = argc >= 2 && !strcmp(argv[1], "exec");
  /* nothing inherited beyond stdio, the spec, the status fd and the network fd reaches the sandbox */
  close_range(monitor_mode ? CLEANUP_FD + 1 : NETCFG_FD + 1, ~0U, 0);
  status_ok = fcntl(STATUS_FD, F_GETFD) >= 0;
  reexec_sealed(argv);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  if (monitor_mode) monitor_main();
  if (exec_mode) exec_main();
  pid_t parent = getppid();
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) die_errno("prctl", "PR_SET_PDEATHSIG");
  if (getppid() != parent) _exit(EXIT_SANDBOX);
  umask(0);
  signal(SIGPIPE, SIG_IGN); /* a closed output pipe is an error to ignore, not a reason to die */

  struct spec sp;
  read_spec(&sp);
  if (sp.net != NET_PRIVATE) close(NETCFG_FD);
  join_cgroups(&sp);
  oom_exempt(&sp);

  sigset_t oldmask;
  int sigfd = block_signals(SIGUSR1, &oldmask); /* SIGUSR1, P only: "kill the sandbox" */

  /* the command's stdout and stderr are pipes of ours, relayed to our own: whatever the caller gave
   * us (a socket, for Node), `>/dev/stdout` and `>/dev/stderr` then open (a socket would be ENXIO) */
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) die_errno("pipe2", "stdout/stderr");

  int alive;
  pid_t init = fork_init(sigfd, &alive);
  if (init == 0) {
    if (dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0) die_errno("dup2", "stdout/stderr");
    close(out[0]), close(out[1]), close(err[0]), close(err[1]);
    init_main(&sp, &oldmask, alive);
  }
  close(out[1]);
  close(err[1]);
  if (sp.net == NET_PRIVATE) close(NETCFG_FD);
  status("pid %d", (int)init);

  /* relay output until both pipes are at end of file and PID 1 is gone (when it is, so is every
   * process of the run, so the ends of file follow) */
  int code = -1;
  struct pollfd pf[3] = {{.fd = sigfd, .events = POLLIN}, {.fd = out[0], .events = POLLIN}, {.fd = err[0], .events = POLLIN}};
  while (code < 0 || pf[1].fd >= 0 || pf[2].fd >= 0) {
    if (poll(pf, 3, -1) < 0) {
      if (errno == EINTR) continue;
      die_errno("poll", NULL);
    }
    for (int i = 1; i <= 2; i++) {
      if (pf[i].fd >= 0 && pf[i].revents && !relay(pf[i].fd, i)) {
        close(pf[i].fd);
        pf[i].fd = -1; /* poll skips negative fds */
      }
    }
    if (!(pf[0].revents & POLLIN)) continue;
    struct signalfd_siginfo si;
    while (read(sigfd, &si, sizeof si) == sizeof si) {
      int s = (int)si.ssi_signo;
      if (s == SIGUSR1) {
        /* "stop the step": killing PID 1 makes the kernel kill and reap the whole PID namespace
         * before init's exit is reported to us, so when we exit nothing of the run is left */
        kill(init, SIGKILL);
      } else if (s != SIGCHLD) {
        kill(init, s);
      }
    }
    int st;
    if (code < 0 && waitpid(init, &st, WNOHANG) == init) {
      if (WIFEXITED(st)) code = WEXITSTATUS(st);
      else {
        status("error sandbox init killed by signal %d", WTERMSIG(st));
        code = EXIT_SANDBOX;
      }
    }
  }
  return code;
}
