#define _GNU_SOURCE
#include <unistd.h>
#include <fcntl.h>
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

/* dup2 that keeps close-on-exec on the copy (Linux's dup3). */
int filamentdb_dup_cloexec(int from, int to) {
    return dup3(from, to, O_CLOEXEC);
}

int filamentdb_git_cache_objects(size_t tree_limit, size_t blob_limit, long total) {
    int rc = git_libgit2_opts(GIT_OPT_SET_CACHE_OBJECT_LIMIT, GIT_OBJECT_TREE, tree_limit);
    if (rc == 0) rc = git_libgit2_opts(GIT_OPT_SET_CACHE_OBJECT_LIMIT, GIT_OBJECT_BLOB, blob_limit);
    if (rc == 0) rc = git_libgit2_opts(GIT_OPT_SET_CACHE_MAX_SIZE, (ssize_t)total);
    return rc;
}

int filamentdb_git_cache_max_size(long total) {
    return git_libgit2_opts(GIT_OPT_SET_CACHE_MAX_SIZE, (ssize_t)total);
}

long filamentdb_git_cache_allowed(void) {
    ssize_t current = 0, allowed = 0;
    if (git_libgit2_opts(GIT_OPT_GET_CACHED_MEMORY, &current, &allowed) != 0) return -1;
    return (long)allowed;
}

int filamentdb_git_verify_reads(int on) {
    return git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, on);
}

/* SHA-1 from OpenSSL's libcrypto, which uses the processor's SHA instructions where it has them (several times
   faster than the portable SHA-1 of libgit2 and mbedtls). The low-level SHA1_* calls are deprecated in OpenSSL 3
   in favour of EVP, whose per-call context costs more than hashing a small object. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include <stdlib.h>
#include <stdio.h>

/* Through the context calls, not the one-shot SHA1(): that one fetches the digest from OpenSSL's library context,
   which its exit handler frees, and a thread still hashing a pack while the process exits then crashed. */
void filamentdb_sha1(const void *data, size_t length, unsigned char *out) {
    SHA_CTX context;
    SHA1_Init(&context);
    SHA1_Update(&context, data, length);
    SHA1_Final(out, &context);
}

void *filamentdb_sha1_begin(void) {
    SHA_CTX *state = malloc(sizeof *state);
    if (state != NULL) SHA1_Init(state);
    return state;
}

void filamentdb_sha1_add(void *state, const void *data, size_t length) {
    SHA1_Update((SHA_CTX *)state, data, length);
}

void filamentdb_sha1_end(void *state, unsigned char *out) {
    SHA1_Final(out, (SHA_CTX *)state);
    free(state);
}

void filamentdb_object_id(int type, const void *data, size_t length, unsigned char *out) {
    static const char *const names[] = {"", "commit", "tree", "blob", "tag"};
    char header[32];
    int n = snprintf(header, sizeof header, "%s %zu", (type >= 1 && type <= 4) ? names[type] : "", length);
    SHA_CTX context;
    SHA1_Init(&context);
    SHA1_Update(&context, header, (size_t)n + 1);
    if (length > 0) SHA1_Update(&context, data, length);
    SHA1_Final(out, &context);
}
