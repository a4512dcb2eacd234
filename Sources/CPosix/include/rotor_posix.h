#ifndef ROTOR_POSIX_H
#define ROTOR_POSIX_H

#include <sys/types.h>
#include <sys/xattr.h>

/// Starts `path` the way rotor runs every command (glibc's posix_spawn, whose GNU
/// extensions Swift's Glibc module does not expose):
///   - in a process group of its own (its pgid is its pid), so a deadline can end the
///     command and everything it started;
///   - with `stdin_fd`, `stdout_fd` and `stderr_fd` as its fds 0–2 and every other
///     descriptor closed (no inherited socket, database or pipe can outlive rotor's wait);
///   - with an empty signal mask and every catchable signal at its default disposition
///     (rotor ignores SIGPIPE; a service a reload starts must still stop on SIGTERM);
///   - in `directory`.
/// Returns 0 and sets `*pid`, or an errno value.
int rotor_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[], const char *directory,
                int stdin_fd, int stdout_fd, int stderr_fd);

/// pipe2(fds, O_CLOEXEC): a pipe no command inherits unless it is dup'ed to its fds 0–2.
int rotor_pipe(int fds[2]);

/// open(2) of `path` refusing a symlink anywhere on it (openat2 with RESOLVE_NO_SYMLINKS;
/// where the kernel lacks openat2, O_NOFOLLOW on the last component only).
int rotor_open_no_symlinks(const char *path, int flags, mode_t mode);

/// File access of the calling thread only, as `uid`/`gid` with `groups` as its
/// supplementary groups (setfsuid, setfsgid and the raw setgroups system call, which —
/// unlike glibc's setgroups — changes one thread): what a consumer's `user:` files are
/// read and written as. 0 on success, else -1 (errno set). `rotor_fs_as_self` undoes it.
int rotor_fs_as(uid_t uid, gid_t gid, const gid_t *groups, int group_count);
int rotor_fs_as_self(void);

/// prctl(PR_SET_DUMPABLE, 0): no process of the same user may ptrace rotor or read its
/// /proc files (environ, mem); no core dump holds a secret. 0 on success.
int rotor_set_undumpable(void);

/// Takes variable `name` out of the process environment: its value is copied to a new
/// malloc'd string (*value, to be freed by the caller; NULL when unset), the original
/// bytes — which /proc/PID/environ shows for as long as the process lives, whatever
/// unsetenv does — are overwritten with zeros, and the variable is unset.
void rotor_withdraw_env(const char *name, char **value);

#endif
