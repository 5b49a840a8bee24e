#include <git2.h>
#include "CGit2Shim.h"

int filamentdb_git_enable_fsync(void) {
    return git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
}
