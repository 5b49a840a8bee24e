#define _GNU_SOURCE
#include <unistd.h>
#include <git2.h>
#include "CGit2Shim.h"

int filamentdb_git_enable_fsync(void) {
    return git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
}

int filamentdb_git_set_fsync(int on) {
    return git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, on);
}

int filamentdb_syncfs(int fd) {
    return syncfs(fd);
}
