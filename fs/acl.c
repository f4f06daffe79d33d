/* acl.c - POSIX ACL xattr values: validation and the mode arithmetic a
 * local filesystem does on them (see acl.h).  Tags and semantics are
 * those of <sys/acl.h> and POSIX.1e draft 17, as Linux implements them. */
#include "acl.h"

#include <errno.h>
#include <stdbool.h>

#include "codec.h"

#define TAG_USER_OBJ 0x01u
#define TAG_USER 0x02u
#define TAG_GROUP_OBJ 0x04u
#define TAG_GROUP 0x08u
#define TAG_MASK 0x10u
#define TAG_OTHER 0x20u

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

size_t acl_count(size_t len)
{
	return len < 4 ? 0 : (len - 4) / ACL_ENTRY_LEN;
}

static uint8_t *entry(const void *v, size_t i)
{
	return (uint8_t *)v + 4 + i * ACL_ENTRY_LEN;
}

int acl_check(const void *v, size_t len)
{
	unsigned seen = 0, prev_tag = 0;
	uint32_t prev_id = 0;

	if (len < 4 || (len - 4) % ACL_ENTRY_LEN ||
	    codec_get_le32(v) != ACL_XATTR_VERSION)
		return -EINVAL;
	for (size_t i = 0; i < acl_count(len); i++) {
		const uint8_t *e = entry(v, i);
		unsigned tag = get16(e), perm = get16(e + 2);
		uint32_t id = codec_get_le32(e + 4);
		bool named = tag == TAG_USER || tag == TAG_GROUP;

		if (perm & ~7u || tag < prev_tag ||
		    (tag != TAG_USER_OBJ && tag != TAG_USER &&
		     tag != TAG_GROUP_OBJ && tag != TAG_GROUP &&
		     tag != TAG_MASK && tag != TAG_OTHER))
			return -EINVAL;
		if (tag == prev_tag && (!named || id <= prev_id))
			return -EINVAL; /* a second one, or ids not sorted */
		seen |= tag;
		prev_tag = tag;
		prev_id = id;
	}
	if (acl_count(len) == 0)
		return 0;
	if ((seen & (TAG_USER_OBJ | TAG_GROUP_OBJ | TAG_OTHER)) !=
	    (TAG_USER_OBJ | TAG_GROUP_OBJ | TAG_OTHER))
		return -EINVAL;
	if ((seen & (TAG_USER | TAG_GROUP)) && !(seen & TAG_MASK))
		return -EINVAL;
	return 0;
}

int acl_equiv_mode(const void *v, size_t len, uint32_t *mode)
{
	uint32_t m = 0;
	int equiv = 1;

	for (size_t i = 0; i < acl_count(len); i++) {
		const uint8_t *e = entry(v, i);
		uint32_t perm = get16(e + 2) & 7u;

		switch (get16(e)) {
		case TAG_USER_OBJ:
			m |= perm << 6;
			break;
		case TAG_GROUP_OBJ:
			m |= perm << 3;
			break;
		case TAG_OTHER:
			m |= perm;
			break;
		case TAG_MASK: /* sorted after the group entry: it wins */
			m = (m & ~070u) | perm << 3;
			equiv = 0;
			break;
		default:
			equiv = 0;
		}
	}
	*mode = m;
	return equiv;
}

void acl_chmod(void *v, size_t len, uint32_t mode)
{
	uint8_t *group = NULL, *mask = NULL;

	for (size_t i = 0; i < acl_count(len); i++) {
		uint8_t *e = entry(v, i);

		switch (get16(e)) {
		case TAG_USER_OBJ:
			put16(e + 2, (mode >> 6) & 7u);
			break;
		case TAG_GROUP_OBJ:
			group = e;
			break;
		case TAG_MASK:
			mask = e;
			break;
		case TAG_OTHER:
			put16(e + 2, mode & 7u);
			break;
		}
	}
	if (mask || group)
		put16((mask ? mask : group) + 2, (mode >> 3) & 7u);
}

int acl_create_masq(void *v, size_t len, uint32_t *mode)
{
	uint8_t *group = NULL, *mask = NULL, *g;
	uint32_t m = *mode & 0777u;
	int equiv = 1;

	for (size_t i = 0; i < acl_count(len); i++) {
		uint8_t *e = entry(v, i);
		uint32_t perm = get16(e + 2);

		switch (get16(e)) {
		case TAG_USER_OBJ:
			perm &= (m >> 6) & 7u;
			put16(e + 2, perm);
			m &= perm << 6 | ~0700u;
			break;
		case TAG_GROUP_OBJ:
			group = e;
			break;
		case TAG_MASK:
			mask = e;
			equiv = 0;
			break;
		case TAG_OTHER:
			perm &= m & 7u;
			put16(e + 2, perm);
			m &= perm | ~07u;
			break;
		default:
			equiv = 0;
		}
	}
	g = mask ? mask : group;
	if (g) {
		uint32_t perm = get16(g + 2) & ((m >> 3) & 7u);

		put16(g + 2, perm);
		m &= perm << 3 | ~070u;
	}
	*mode = (*mode & ~0777u) | (m & 0777u);
	return equiv;
}
