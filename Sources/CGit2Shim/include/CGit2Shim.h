#ifndef FILAMENTDB_CGIT2_SHIM_H
#define FILAMENTDB_CGIT2_SHIM_H

/// libgit2's git_libgit2_opts is variadic, which Swift cannot call: one plain function per option used.
/// Turns on fsync of the object database and refs, so a written commit survives a crash. Returns 0 or a
/// negative libgit2 error code.
int filamentdb_git_enable_fsync(void);

/// Turns fsync of the object database and refs on or off for the whole process (a journaled history, whose
/// journal is what makes a write durable, turns it off).
int filamentdb_git_set_fsync(int on);

/// Flushes the whole file system holding `fd` (glibc declares syncfs only for _GNU_SOURCE).
int filamentdb_syncfs(int fd);

#include <stddef.h>
/// Lets libgit2 keep parsed trees up to `tree_limit` bytes and blobs up to `blob_limit` bytes in its object
/// cache (by default it keeps no blob and no tree over 4 KiB), within `total` bytes in all.
int filamentdb_git_cache_objects(size_t tree_limit, size_t blob_limit, long total);

/// Turns libgit2's check of every object it reads against its id (hashing it again) on or off for the process.
int filamentdb_dup_cloexec(int from, int to);
int filamentdb_git_cache_max_size(long total);
long filamentdb_git_cache_allowed(void);
int filamentdb_git_verify_reads(int on);

/// The SHA-1 of `length` bytes at `data`, into the 20 bytes at `out` (OpenSSL's libcrypto).
void filamentdb_sha1(const void *data, size_t length, unsigned char *out);

/// A SHA-1 over data handed in parts: begin (NULL when out of memory), add each part, end (writes the
/// 20-byte digest to `out` and frees the state).
void *filamentdb_sha1_begin(void);
void filamentdb_sha1_add(void *state, const void *data, size_t length);
void filamentdb_sha1_end(void *state, unsigned char *out);

/// The id git gives an object of `type` (libgit2's git_object_t: 1 commit, 2 tree, 3 blob, 4 tag) holding
/// `length` bytes at `data`: the SHA-1 of "<type> <length>\0" and the bytes, into the 20 bytes at `out`.
void filamentdb_object_id(int type, const void *data, size_t length, unsigned char *out);

#endif
