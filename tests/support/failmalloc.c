/* failmalloc.c - the allocation wrappers of failmalloc.h.  The linker
 * (--wrap=SYM) sends the wrapped objects' references to SYM to
 * __wrap_SYM, and __real_SYM to the real one (libc's, or a sanitizer's
 * interceptor: ASan still sees every block).  State is a few atomics, so
 * the background threads of the engine are counted like the caller. */
#include "failmalloc.h"

#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t nmemb, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
int __real_posix_memalign(void **p, size_t align, size_t n);
DIR *__real_opendir(const char *name);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t nmemb, size_t size);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
int __wrap_posix_memalign(void **p, size_t align, size_t n);
DIR *__wrap_opendir(const char *name);

static atomic_bool armed;
static atomic_bool persistent;
static atomic_ulong nth;     /* 0: never fail */
static atomic_ulong counted;
static atomic_ulong failed;
static atomic_long live;
static _Thread_local bool paused;

void failmalloc_arm(unsigned long n, bool pers)
{
	atomic_store(&armed, false);
	atomic_store(&counted, 0);
	atomic_store(&failed, 0);
	atomic_store(&nth, n);
	atomic_store(&persistent, pers);
	atomic_store(&armed, true);
}

unsigned long failmalloc_disarm(void)
{
	atomic_store(&armed, false);
	return atomic_load(&counted);
}

unsigned long failmalloc_count(void)
{
	return atomic_load(&counted);
}

unsigned long failmalloc_failed(void)
{
	return atomic_load(&failed);
}

void failmalloc_pause(bool on)
{
	paused = on;
}

long failmalloc_live(void)
{
	return atomic_load(&live);
}

/* Counts one allocation call; true when it must fail. */
static bool must_fail(void)
{
	unsigned long c, n;

	if (!atomic_load(&armed) || paused)
		return false;
	c = atomic_fetch_add(&counted, 1) + 1;
	n = atomic_load(&nth);
	if (n == 0 || c < n || (c > n && !atomic_load(&persistent)))
		return false;
	atomic_fetch_add(&failed, 1);
	return true;
}

static void *born(void *p)
{
	if (p)
		atomic_fetch_add(&live, 1);
	return p;
}

void *__wrap_malloc(size_t n)
{
	if (must_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	return born(__real_malloc(n));
}

void *__wrap_calloc(size_t nmemb, size_t size)
{
	if (must_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	return born(__real_calloc(nmemb, size));
}

/* realloc(P, 0) frees P (glibc and ASan): not an allocation. */
void *__wrap_realloc(void *p, size_t n)
{
	void *r;

	if ((p == NULL || n > 0) && must_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	r = __real_realloc(p, n);
	if (!p)
		return born(r);
	if (!r && n == 0)
		atomic_fetch_sub(&live, 1);
	return r;
}

void __wrap_free(void *p)
{
	if (p)
		atomic_fetch_sub(&live, 1);
	__real_free(p);
}

char *__wrap_strdup(const char *s)
{
	if (must_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	return born(__real_strdup(s));
}

char *__wrap_strndup(const char *s, size_t n)
{
	if (must_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	return born(__real_strndup(s, n));
}

int __wrap_posix_memalign(void **p, size_t align, size_t n)
{
	int rc;

	if (must_fail())
		return ENOMEM;
	rc = __real_posix_memalign(p, align, n);
	if (rc == 0)
		born(*p);
	return rc;
}

/* Its DIR is freed by closedir, which is not wrapped: not in the live
 * count. */
DIR *__wrap_opendir(const char *name)
{
	if (must_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_opendir(name);
}
