#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

#include "rotor_posix.h"

extern char **environ;

int rotor_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[], const char *directory,
                int stdin_fd, int stdout_fd, int stderr_fd) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    int error = posix_spawn_file_actions_init(&actions);
    if (error != 0) return error;
    error = posix_spawnattr_init(&attributes);
    if (error != 0) {
        posix_spawn_file_actions_destroy(&actions);
        return error;
    }
    if (error == 0) error = posix_spawn_file_actions_adddup2(&actions, stdin_fd, 0);
    if (error == 0) error = posix_spawn_file_actions_adddup2(&actions, stdout_fd, 1);
    if (error == 0) error = posix_spawn_file_actions_adddup2(&actions, stderr_fd, 2);
    if (error == 0) error = posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    if (error == 0 && directory != NULL) error = posix_spawn_file_actions_addchdir_np(&actions, directory);

    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    for (int signal = 1; signal < SIGRTMIN; signal++) {
        if (signal != SIGKILL && signal != SIGSTOP) sigaddset(&defaults, signal);
    }
    if (error == 0) error = posix_spawnattr_setsigmask(&attributes, &none);
    if (error == 0) error = posix_spawnattr_setsigdefault(&attributes, &defaults);
    if (error == 0) error = posix_spawnattr_setpgroup(&attributes, 0);
    if (error == 0) error = posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    if (error == 0) error = posix_spawn(pid, path, &actions, &attributes, argv, envp);

    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    return error;
}

int rotor_pipe(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

/* The process's own groups, saved before a thread drops them (per thread, as the call is). */
static __thread int saved_count = -1;
static __thread gid_t saved_groups[256];

int rotor_fs_as(uid_t uid, gid_t gid, const gid_t *groups, int group_count) {
    saved_count = getgroups(256, saved_groups);
    if (saved_count < 0) return -1;
    if (syscall(SYS_setgroups, (size_t)group_count, groups) != 0) return -1;
    setfsgid(gid);
    setfsuid(uid);
    /* setfsuid reports no error: ask again, and undo everything if it did not take. */
    if ((uid_t)setfsuid((uid_t)-1) != uid || (gid_t)setfsgid((gid_t)-1) != gid) {
        rotor_fs_as_self();
        errno = EPERM;
        return -1;
    }
    return 0;
}

int rotor_fs_as_self(void) {
    setfsuid(geteuid());
    setfsgid(getegid());
    if (saved_count >= 0 && syscall(SYS_setgroups, saved_count, saved_groups) != 0) return -1;
    saved_count = -1;
    return 0;
}

int rotor_open_no_symlinks(const char *path, int flags, mode_t mode) {
    struct open_how how = { .flags = (unsigned long long)flags, .mode = (flags & O_CREAT) ? mode : 0, .resolve = RESOLVE_NO_SYMLINKS };
    long fd = syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how);
    if (fd < 0 && errno == ENOSYS) return open(path, flags | O_NOFOLLOW, mode);
    return (int)fd;
}

int rotor_set_undumpable(void) {
    return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

void rotor_withdraw_env(const char *name, char **value) {
    *value = NULL;
    size_t length = strlen(name);
    for (char **entry = environ; entry && *entry; entry++) {
        if (strncmp(*entry, name, length) != 0 || (*entry)[length] != '=') continue;
        char *text = *entry + length + 1;
        if (!*value) *value = strdup(text);
        memset(text, 0, strlen(text));
    }
    unsetenv(name);
}
