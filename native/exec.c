/*
 * exec mode of tsbuild-sandbox (`tsbuild-sandbox exec`): runs one more process in a running
 * container, as `docker exec` does. Included by sandbox.c (it shares the sandbox's capability,
 * seccomp and error helpers, so an exec'd process gets exactly the container's restrictions).
 *
 * Spec on fd 3 (NUL-terminated key=value records):
 *   pid=N        host PID of the container's PID 1 (the caller checked it is the monitor's child)
 *   arg=S env=K=V cwd=/p uid=N gid=N group=N   as for a container's command
 *   cgroup=FILE  a cgroup.procs file the process joins (repeated: one per v1 hierarchy)
 *   tty=1        a pseudo-terminal of the container's own devpts (its /dev/ptmx) is the process's
 *                stdin/stdout/stderr and controlling terminal (`-t`); our fds 0/1 are relayed to it
 *                (raw mode and window size taken from our fd 0 when it is a terminal; SIGWINCH
 *                copies the size again)
 *   stdin=1      our fd 0 is relayed to the process (`-i`); else its stdin is the container's /dev/null
 *   detach=1     `-d`: report the start and exit, the process stays (reparented to the container's
 *                PID 1, as the intermediate child lives in the container's PID namespace)
 *   nonewprivs=0|1
 *   hold=DIR     instead of a process: chdir to DIR inside the container's root (its symlinks
 *                followed there, never on the host), report "ready", and stay until our fd 0 ends;
 *                the caller then writes through /proc/PID/cwd (`cp` into a running container)
 *   detachkey=N  a byte of the detach sequence (repeated, in order; -t with stdin only): typing it
 *                leaves the process running — a background relay keeps its terminal, we exit 0
 * Status lines on fd 4: "pid N" (host PID) once the command was executed, or "error TEXT" when it
 * could not be (exit 126, as Docker's exec: runc's "exec failed: ..."), then "exit N" / "signal N".
 * Exit code: the process's own (128+signal when killed), 125 when the sandbox failed. SIGUSR1 to
 * the helper kills the process (SIGKILL); the other termination signals are forwarded as they are.
 *
 * How: pidfd_open(PID 1) and one setns() into its mount, UTS, IPC, network, PID and cgroup
 * namespaces (the mount namespace puts our root and cwd at the container's root), then fork: only a
 * child enters the PID namespace. The child joins the container's cgroups (files opened before the
 * setns, while the host's /sys is still visible), then drops capabilities, installs seccomp and
 * changes uid exactly as a container's command does. Output is relayed through pipes (or the pty),
 * never the caller's fds, so no host terminal or socket reaches the container.
 */

#include <termios.h>

struct xspec {
  pid_t pid;
  struct list args, env;
  char *cwd;
  uid_t uid;
  gid_t gid;
  gid_t *groups;
  size_t ngroups;
  int cgfds[16];
  size_t ncg;
  int tty, in, detach, no_new_privs;
  unsigned char dk[8];
  size_t ndk;
  char *hold;
};

static void read_xspec(struct xspec *x) {
  char *end, *buf = read_records(&end);
  memset(x, 0, sizeof *x);
  x->cwd = "/";
  x->no_new_privs = 0;
  for (char *p = buf, *k, *v; p < end;) {
    p = split_record(p, &k, &v);
    if (!strcmp(k, "pid")) x->pid = (pid_t)parse_num(k, v);
    else if (!strcmp(k, "arg")) push(&x->args, v);
    else if (!strcmp(k, "env")) push(&x->env, v);
    else if (!strcmp(k, "cwd")) x->cwd = v;
    else if (!strcmp(k, "uid")) x->uid = (uid_t)parse_num(k, v);
    else if (!strcmp(k, "gid")) x->gid = (gid_t)parse_num(k, v);
    else if (!strcmp(k, "group")) push_group(&x->groups, &x->ngroups, k, v);
    else if (!strcmp(k, "cgroup")) {
      if (v[0] != '/') die("spec: cgroup must be an absolute path: %s", v);
      if (x->ncg == sizeof x->cgfds / sizeof x->cgfds[0]) die("spec: too many cgroups");
      int fd = open(v, O_WRONLY | O_CLOEXEC);
      if (fd >= 0) x->cgfds[x->ncg++] = fd; /* a group gone meanwhile: the container is ending */
    } else if (!strcmp(k, "tty")) x->tty = strcmp(v, "0") != 0;
    else if (!strcmp(k, "stdin")) x->in = strcmp(v, "0") != 0;
    else if (!strcmp(k, "detach")) x->detach = strcmp(v, "0") != 0;
    else if (!strcmp(k, "nonewprivs")) x->no_new_privs = strcmp(v, "0") != 0;
    else if (!strcmp(k, "hold")) x->hold = v;
    else if (!strcmp(k, "detachkey")) {
      if (x->ndk == sizeof x->dk) die("spec: too many detach keys");
      x->dk[x->ndk++] = (unsigned char)parse_num(k, v);
    }
    else die("spec: unknown key %s", k);
  }
  if (x->pid <= 0) die("spec: pid is required");
  if (x->args.n == 0 && !x->hold) die("spec: no command");
  if (x->cwd[0] != '/') die("spec: cwd must be absolute: %s", x->cwd);
  if (!x->env.v) push(&x->env, NULL), x->env.n = 0;
}

/* runc's words for a process that could not be started; the caller prefixes "OCI runtime exec
 * failed: " and appends ": unknown", as Docker 20.10 prints them. */
static void __attribute__((noreturn)) exec_fail(int syn, const char *fmt, ...) {
  char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0 && write(syn, buf, strlen(buf)) < 0) { /* the helper is gone */ }
  _exit(EXIT_CANNOT_INVOKE);
}

static void lower_first(char *s) {
  if (s[0] >= 'A' && s[0] <= 'Z') s[0] = (char)(s[0] - 'A' + 'a'); /* Go's lower-case errno text */
}

/* The exec'd process: namespaces are joined, we are inside the container's PID namespace. */
static void __attribute__((noreturn)) exec_child(struct xspec *x, sigset_t *oldmask, int syn, int fds[3]) {
  for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
  sigprocmask(SIG_SETMASK, oldmask, NULL);
  setsid();
  if (x->tty && ioctl(fds[0], TIOCSCTTY, 0) < 0) exec_fail(syn, "exec failed: unable to start container process: TIOCSCTTY: %s", strerror(errno));
  for (int i = 0; i < 3; i++)
    if (dup2(fds[i], i) < 0) exec_fail(syn, "exec failed: unable to start container process: dup2: %s", strerror(errno));
  for (size_t i = 0; i < x->ncg; i++)
    if (write(x->cgfds[i], "0", 1) != 1) { /* the group is going away with the container */ }
  drop_bounding();
  install_seccomp();
  if (setgroups(x->ngroups, x->groups) < 0 || setresgid(x->gid, x->gid, x->gid) < 0 || setresuid(x->uid, x->uid, x->uid) < 0)
    exec_fail(syn, "exec failed: unable to start container process: set user: %s", strerror(errno));
  set_caps(x->uid);
  if (x->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) die_errno("prctl", "PR_SET_NO_NEW_PRIVS");
  if (chdir(x->cwd) < 0) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s", strerror(errno));
    lower_first(msg);
    exec_fail(syn, "exec failed: unable to start container process: chdir to cwd (\"%s\") set in config.json failed: %s", x->cwd, msg);
  }
  umask(022);
  if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) exec_fail(syn, "exec failed: close_range: %s", strerror(errno));
  environ = x->env.v;
  execvp(x->args.v[0], x->args.v);
  int err = errno;
  const char *a0 = x->args.v[0];
  if (err == ENOENT && !strchr(a0, '/'))
    exec_fail(syn, "exec failed: unable to start container process: exec: \"%s\": executable file not found in $PATH", a0);
  char msg[128];
  snprintf(msg, sizeof msg, "%s", strerror(err));
  lower_first(msg);
  if (err == ENOENT) exec_fail(syn, "exec failed: unable to start container process: exec: \"%s\": stat %s: %s", a0, a0, msg);
  exec_fail(syn, "exec failed: unable to start container process: exec: \"%s\": %s", a0, msg);
}

static void copy_winsize(int from, int to) {
  struct winsize ws;
  if (ioctl(from, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) ioctl(to, TIOCSWINSZ, &ws);
}

static struct termios exec_saved_tio;
static int exec_raw = 0;
static void exec_restore_tty(void) {
  if (exec_raw) tcsetattr(0, TCSADRAIN, &exec_saved_tio);
  exec_raw = 0;
}

/* Takes the detach keys out of B[0..N) (a partial sequence is held back until decided, then passed
 * on); returns the new length, *HIT once the whole sequence was typed. B has room for N + 8. */
static size_t filter_detach(struct xspec *x, unsigned char *b, size_t n, int *hit) {
  static unsigned char out[65536 + 16];
  static size_t matched;
  size_t o = 0;
  for (size_t i = 0; i < n && !*hit; i++) {
    if (b[i] == x->dk[matched]) {
      if (++matched == x->ndk) *hit = 1;
      continue;
    }
    if (matched) memcpy(out + o, x->dk, matched), o += matched, matched = 0;
    if (b[i] == x->dk[0]) matched = 1;
    else out[o++] = b[i];
  }
  memcpy(b, out, o);
  return o;
}

/* The detach keys were typed: the process keeps its terminal through a background relay that
 * drains the pty until the process ends; we report "detached" and exit 0. */
static void __attribute__((noreturn)) exec_detach(int master, pid_t child) {
  exec_restore_tty();
  status("detached");
  pid_t bg = fork();
  if (bg == 0) {
    setsid();
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) dup2(null, 0), dup2(null, 1), dup2(null, 2);
    close(STATUS_FD); /* the CLI is done with us */
    static unsigned char sink[4096];
    for (;;) {
      ssize_t r = read(master, sink, sizeof sink);
      if (r > 0 || (r < 0 && errno == EINTR)) continue;
      if (r < 0 && errno == EAGAIN) {
        struct pollfd p = {.fd = master, .events = POLLIN};
        poll(&p, 1, -1);
        continue;
      }
      break; /* EIO: the process and its children closed the terminal */
    }
    waitpid(child, NULL, 0);
    _exit(0);
  }
  _exit(0);
}

static void __attribute__((noreturn)) exec_run(struct xspec *xp);

static int __attribute__((noreturn)) exec_main(void) {
  signal(SIGPIPE, SIG_IGN);
  struct xspec x;
  read_xspec(&x);
  exec_run(&x);
}

/* Runs X (already read, or made by the monitor for a health probe) as described at the top. */
static void __attribute__((noreturn)) exec_run(struct xspec *xp) {
  struct xspec x = *xp;
  int pidfd = (int)syscall(SYS_pidfd_open, x.pid, 0);
  if (pidfd < 0) die_errno("pidfd_open", "the container's PID 1");
  if (setns(pidfd, CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWCGROUP) < 0)
    die_errno("setns", "the container's namespaces");
  close(pidfd);
  if (chdir("/") < 0) die_errno("chdir", "/");
  if (x.hold) {
    if (chdir(x.hold) < 0) {
      char msg[128];
      snprintf(msg, sizeof msg, "%s", strerror(errno));
      lower_first(msg);
      die("chdir %s: %s", x.hold, msg);
    }
    status("ready");
    char b[256];
    for (;;) {
      ssize_t r = read(0, b, sizeof b);
      if (r > 0 || (r < 0 && errno == EINTR)) continue;
      break;
    }
    _exit(0);
  }

  sigset_t oldmask;
  int sigfd = block_signals(SIGWINCH, &oldmask);
  /* SIGUSR1: kill the process (the monitor's answer to a health probe past its timeout) */
  sigset_t waited;
  waited_signals(&waited);
  sigaddset(&waited, SIGWINCH);
  sigaddset(&waited, SIGUSR1);
  sigprocmask(SIG_BLOCK, &waited, NULL);
  if (signalfd(sigfd, &waited, 0) < 0) die_errno("signalfd", NULL);

  /* the process's stdio (cfds) and our ends of it (out, err: read; in: write) */
  int cfds[3] = {-1, -1, -1}, outr = -1, errr = -1, inw = -1, master = -1;
  if (x.tty) {
    master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC); /* the container's devpts: /dev/pts/N in there */
    if (master < 0) die_errno("open", "/dev/ptmx (in the container)");
    int unlock = 0;
    if (ioctl(master, TIOCSPTLCK, &unlock) < 0) die_errno("ioctl", "TIOCSPTLCK");
    int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0) die_errno("ioctl", "TIOCGPTPEER");
    if (isatty(0)) copy_winsize(0, master);
    cfds[0] = cfds[1] = cfds[2] = slave;
    if (x.in && !x.detach && isatty(0) && tcgetattr(0, &exec_saved_tio) == 0) {
      struct termios raw = exec_saved_tio;
      cfmakeraw(&raw);
      if (tcsetattr(0, TCSADRAIN, &raw) == 0) exec_raw = 1;
    }
  } else {
    int p[2];
    if (x.detach) {
      int null = open("/dev/null", O_RDWR | O_CLOEXEC); /* the container's own null device */
      if (null < 0) die_errno("open", "/dev/null (in the container)");
      cfds[0] = cfds[1] = cfds[2] = null;
    } else {
      if (pipe2(p, O_CLOEXEC) < 0) die_errno("pipe2", NULL);
      outr = p[0], cfds[1] = p[1];
      if (pipe2(p, O_CLOEXEC) < 0) die_errno("pipe2", NULL);
      errr = p[0], cfds[2] = p[1];
      if (x.in) {
        if (pipe2(p, O_CLOEXEC) < 0) die_errno("pipe2", NULL);
        cfds[0] = p[0], inw = p[1];
      } else {
        cfds[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (cfds[0] < 0) die_errno("open", "/dev/null (in the container)");
      }
    }
  }
  int syn[2];
  if (pipe2(syn, O_CLOEXEC) < 0) die_errno("pipe2", NULL);
  pid_t child = fork();
  if (child < 0) die_errno("fork", NULL);
  if (child == 0) {
    close(syn[0]);
    if (x.detach) {
      /* -d: the process's parent is an intermediate that exits at once, so it is reparented to the
       * container's PID 1 (the reaper of the namespace the intermediate lived in) */
      pid_t g = fork();
      if (g < 0) exec_fail(syn[1], "exec failed: fork: %s", strerror(errno));
      if (g > 0) _exit(0);
      /* the grandchild reports its own pid (the intermediate's view of it: both live in the
       * container's PID namespace) before anything else, so only errors follow it on syn: had the
       * intermediate written it, an error of the grandchild could come first, and the helper would
       * take the error for the pid line and report a start (exec -d of a missing command exiting 0,
       * now and then) */
      char line[32];
      int n = snprintf(line, sizeof line, "%d\n", (int)getpid());
      if (write(syn[1], line, (size_t)n) < 0) { /* the helper is gone */ }
    }
    exec_child(&x, &oldmask, syn[1], cfds);
  }
  close(syn[1]);
  for (int i = 0; i < 3; i++)
    if (cfds[i] >= 0 && (i == 0 || cfds[i] != cfds[i - 1])) close(cfds[i]);
  for (size_t i = 0; i < x.ncg; i++) close(x.cgfds[i]);

  /* the process was executed when every copy of the sync pipe is closed without a word */
  char text[4200];
  size_t tlen = 0;
  for (;;) {
    ssize_t n = read(syn[0], text + tlen, sizeof text - 1 - tlen);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    tlen += (size_t)n;
    if (tlen == sizeof text - 1) break;
  }
  close(syn[0]);
  text[tlen] = 0;
  pid_t shown = child;
  if (x.detach) {
    char *nl = strchr(text, '\n');
    if (nl) {
      *nl = 0;
      shown = (pid_t)atoi(text);
      memmove(text, nl + 1, strlen(nl + 1) + 1);
    }
    int st;
    while (waitpid(child, &st, 0) < 0 && errno == EINTR) {
    }
    tlen = strlen(text);
  }
  if (tlen > 0) {
    exec_restore_tty();
    status("error %s", text);
    if (!x.detach) {
      int st;
      while (waitpid(child, &st, 0) < 0 && errno == EINTR) {
      }
    }
    _exit(EXIT_CANNOT_INVOKE);
  }
  status("pid %d", (int)shown);
  if (x.detach) _exit(0);

  /* relay until the process exited and its output is drained */
  static unsigned char buf[65536], inbuf[65536 + 16];
  size_t inlen = 0, inoff = 0;
  int code = -1, sig = 0, in_eof = !x.in;
  int tow = x.tty ? master : inw;
  struct pollfd pf[5] = {{.fd = sigfd, .events = POLLIN}, {.fd = x.tty ? master : outr, .events = POLLIN},
                         {.fd = errr, .events = POLLIN}, {.fd = -1, .events = POLLIN}, {.fd = -1, .events = POLLOUT}};
  if (x.in || x.tty) fcntl(tow, F_SETFL, fcntl(tow, F_GETFL) | O_NONBLOCK);
  while (code < 0 || pf[1].fd >= 0 || pf[2].fd >= 0) {
    pf[3].fd = !in_eof && inlen == 0 ? 0 : -1;
    pf[4].fd = tow >= 0 && inlen > 0 ? tow : -1;
    /* once the process is gone, what is left in the pipes is read without waiting for writers it
     * left behind (a daemon holding stdout): Docker's exec also ends with its process */
    int r = poll(pf, 5, code < 0 ? -1 : 100);
    if (r < 0) {
      if (errno == EINTR) continue;
      die_errno("poll", NULL);
    }
    if (r == 0 && code >= 0) break;
    for (int i = 1; i <= 2; i++) {
      if (pf[i].fd < 0 || !pf[i].revents) continue;
      ssize_t n = read(pf[i].fd, buf, sizeof buf);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) { /* EIO on the pty master: the last slave is closed */
        if (pf[i].fd != master) close(pf[i].fd);
        pf[i].fd = -1;
        continue;
      }
      write_all(i, buf, (size_t)n);
    }
    if (pf[3].fd >= 0 && pf[3].revents) {
      ssize_t n = read(0, inbuf, 65536);
      if (n > 0 && x.tty && x.ndk) {
        int hit = 0;
        size_t len = filter_detach(&x, inbuf, (size_t)n, &hit);
        if (hit) {
          for (size_t off = 0; off < len;) { /* what was typed before the keys still goes */
            ssize_t w = write(master, inbuf + off, len - off);
            if (w < 0 && errno != EAGAIN && errno != EINTR) break;
            if (w > 0) off += (size_t)w;
          }
          exec_detach(master, child);
        }
        n = (ssize_t)len;
        if (n == 0) continue;
      }
      if (n > 0) inlen = (size_t)n, inoff = 0;
      else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        in_eof = 1;
        if (x.tty) {
          /* end of input on a terminal: ^D, as typing it would */
          unsigned char eot = 4;
          if (write(master, &eot, 1) < 0) { /* gone */ }
        } else if (inw >= 0) {
          close(inw);
          inw = tow = -1;
        }
      }
    }
    if (pf[4].fd >= 0 && pf[4].revents) {
      ssize_t w = (pf[4].revents & POLLOUT) ? write(tow, inbuf + inoff, inlen - inoff) : -1;
      if (w > 0) {
        inoff += (size_t)w;
        if (inoff == inlen) inlen = 0;
      } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
        if (!x.tty) close(tow);
        tow = -1;
        in_eof = 1;
        inlen = 0;
      }
    }
    if (pf[0].revents & POLLIN) {
      struct signalfd_siginfo si;
      while (read(sigfd, &si, sizeof si) == sizeof si) {
        int s = (int)si.ssi_signo;
        if (s == SIGWINCH) {
          if (x.tty && isatty(0)) copy_winsize(0, master);
        } else if (s != SIGCHLD && code < 0) kill(child, s == SIGUSR1 ? SIGKILL : s);
      }
    }
    int st;
    if (code < 0 && waitpid(child, &st, WNOHANG) == child) {
      if (WIFEXITED(st)) code = WEXITSTATUS(st);
      else sig = WTERMSIG(st), code = 128 + sig;
    }
  }
  exec_restore_tty();
  if (sig) status("signal %d", sig);
  else status("exit %d", code);
  _exit(code);
}
