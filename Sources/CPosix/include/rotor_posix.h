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

#endif
