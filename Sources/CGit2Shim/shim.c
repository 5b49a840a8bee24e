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

int filamentdb_git_cache_objects(size_t tree_limit, size_t blob_limit, long total) {
    int rc = git_libgit2_opts(GIT_OPT_SET_CACHE_OBJECT_LIMIT, GIT_OBJECT_TREE, tree_limit);
    if (rc == 0) rc = git_libgit2_opts(GIT_OPT_SET_CACHE_OBJECT_LIMIT, GIT_OBJECT_BLOB, blob_limit);
    if (rc == 0) rc = git_libgit2_opts(GIT_OPT_SET_CACHE_MAX_SIZE, (ssize_t)total);
    return rc;
}
