/* acl.h - POSIX ACLs in the form the kernel stores them as extended
 * attributes (system.posix_acl_access, system.posix_acl_default):
 *
 *   acl   = version:le32(=2) entry*      (entries sorted by tag, then id)
 *   entry = tag:le16 perm:le16 id:le32
 *
 * What a filesystem that keeps ACLs must do besides storing them, as
 * ext4 does (the kernel enforces them): the mode an access ACL implies,
 * chmod's rewrite of an access ACL, and the masking of an inherited
 * default ACL by the mode of a new inode.  Pure functions over bytes; no
 * namespace, no FUSE. */
#ifndef LSMFS_ACL_H
#define LSMFS_ACL_H

#include <stddef.h>
#include <stdint.h>

#define ACL_XATTR_ACCESS "system.posix_acl_access"
#define ACL_XATTR_DEFAULT "system.posix_acl_default"
#define ACL_XATTR_VERSION 2u
#define ACL_ENTRY_LEN 8u

/* 0 when V (LEN bytes) is a valid ACL: version 2, whole entries sorted by
 * tag and id, one owner, owning group and other entry, a mask entry when
 * there are named users or groups, permissions within rwx; -EINVAL when
 * not.  An ACL of no entries is valid (it means "none"). */
int acl_check(const void *v, size_t len);
/* Number of entries of a checked ACL. */
size_t acl_count(size_t len);
/* The permission bits (0777) ACL V gives, in *MODE; returns 1 when the
 * ACL says no more than those bits (only owner, group and other
 * entries: nothing to store), 0 when it does. */
int acl_equiv_mode(const void *v, size_t len, uint32_t *mode);
/* chmod: rewrites access ACL V in place so that it gives MODE's
 * permission bits (owner, mask or else group, other). */
void acl_chmod(void *v, size_t len, uint32_t mode);
/* Creation: V, a copy of the parent's default ACL, is masked in place
 * by the requested *MODE, whose permission bits become what the ACL
 * allows.  Returns 1 when the result is equivalent to *MODE (no access
 * ACL to store), else 0. */
int acl_create_masq(void *v, size_t len, uint32_t *mode);

#endif /* LSMFS_ACL_H */
