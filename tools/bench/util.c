/* util.c - small helpers of lsmfs-bench: the clock, du, rm -rf, mkdir -p,
 * /proc/self/io, peak RSS and the progress line. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int bench_fmt(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(buf, n, fmt, ap);
	va_end(ap);
	return k < 0 || (size_t)k >= n ? -ENAMETOOLONG : 0;
}

static uint64_t du_total;

static int du_one(const char *path, const struct stat *st, int type,
		  struct FTW *ftw)
{
	(void)path;
	(void)type;
	(void)ftw;
	du_total += (uint64_t)st->st_blocks * 512;
	return 0;
}

uint64_t bench_du(const char *path)
{
	du_total = 0;
	nftw(path, du_one, 32, FTW_PHYS);
	return du_total;
}

static int rm_one(const char *path, const struct stat *st, int type,
		  struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP)
		return rmdir(path) < 0 ? -errno : 0;
	return unlink(path) < 0 ? -errno : 0;
}

int bench_rmrf(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS) != 0)
		return errno ? -errno : -EIO;
	return 0;
}

int bench_mkdirs(const char *path)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int64_t bench_io_wchar(void)
{
	FILE *f = fopen("/proc/self/io", "r");
	char line[128];
	long long v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "wchar: %lld", &v) == 1)
			break;
	fclose(f);
	return v;
}

long bench_peak_rss_kb(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return -1;
	return ru.ru_maxrss;
}

void bench_progress(const char *label, const char *bench, uint64_t done,
		    uint64_t total)
{
	char bar[31];
	unsigned fill = total ? (unsigned)(30 * done / total) : 0;

	if (fill > 30)
		fill = 30;
	memset(bar, '#', fill);
	memset(bar + fill, '.', 30 - fill);
	bar[30] = 0;
	fprintf(stderr, "\r%-10s %-14s [%s] %3u%% %llu/%llu\033[K", label,
		bench, bar, total ? (unsigned)(100 * done / total) : 0,
		(unsigned long long)done, (unsigned long long)total);
	fflush(stderr);
}

void bench_progress_clear(void)
{
	fputs("\r\033[K", stderr);
	fflush(stderr);
}
