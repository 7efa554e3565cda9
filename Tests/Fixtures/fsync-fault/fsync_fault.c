// An LD_PRELOAD shim for storage-fault tests: fsync and fdatasync fail with EIO, without syncing,
// on files whose path contains $DSDN_FSYNC_FAULT_PATH while the file $DSDN_FSYNC_FAULT_SWITCH exists.
// Every other call goes to the C library's own function.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int should_fail(int fd) {
    const char *fragment = getenv("DSDN_FSYNC_FAULT_PATH");
    const char *trigger = getenv("DSDN_FSYNC_FAULT_SWITCH");
    if (fragment == NULL || trigger == NULL || access(trigger, F_OK) != 0) return 0;
    char link[64];
    char target[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t length = readlink(link, target, sizeof target - 1);
    if (length < 0) return 0;
    target[length] = '\0';
    return strstr(target, fragment) != NULL;
}

/// Fails with EIO while the fault is on for fd's file; otherwise calls the C library's `name`.
static int sync_or_fail(int fd, int (**real)(int), const char *name) {
    if (should_fail(fd)) {
        errno = EIO;
        return -1;
    }
    if (*real == NULL) *real = (int (*)(int))dlsym(RTLD_NEXT, name);
    return (*real)(fd);
}

int fsync(int fd) {
    static int (*real)(int);
    return sync_or_fail(fd, &real, "fsync");
}

int fdatasync(int fd) {
    static int (*real)(int);
    return sync_or_fail(fd, &real, "fdatasync");
}
