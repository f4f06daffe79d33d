/* metrics_http.c - -o metrics=[ADDR:]PORT: the mount's figures over HTTP
 * for Prometheus to scrape, served by libmicrohttpd (one internal thread,
 * a few connections, short timeouts).  Read-only: GET or HEAD of
 * /metrics; other paths get 404, other methods 405. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "metrics.h"

#if MHD_VERSION < 0x00097002
typedef int MHD_RESULT;
#else
typedef enum MHD_Result MHD_RESULT;
#endif

struct metrics_http {
	struct MHD_Daemon *d;
};

static MHD_RESULT reply(struct MHD_Connection *c, unsigned status,
			char *body, size_t len, bool owned)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
		len, body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	MHD_RESULT rc;

	if (!r) {
		if (owned)
			free(body);
		return MHD_NO;
	}
	if (status == MHD_HTTP_OK)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
					"text/plain; version=0.0.4; "
					"charset=utf-8");
	else
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
					"text/plain; charset=utf-8");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

static MHD_RESULT answer(void *cls, struct MHD_Connection *c,
			 const char *url, const char *method,
			 const char *version, const char *upload,
			 size_t *upload_size, void **state)
{
	static char not_found[] = "not found: try /metrics\n";
	static char not_allowed[] = "read-only: GET /metrics\n";
	static char failed[] = "out of memory\n";
	char *text;
	size_t len;

	(void)version, (void)upload, (void)upload_size, (void)state;
	if (strcmp(method, MHD_HTTP_METHOD_GET) &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, not_allowed,
			     sizeof(not_allowed) - 1, false);
	if (strcmp(url, "/metrics"))
		return reply(c, MHD_HTTP_NOT_FOUND, not_found,
			     sizeof(not_found) - 1, false);
	if (metrics_render(cls, &text, &len) < 0)
		return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, failed,
			     sizeof(failed) - 1, false);
	return reply(c, MHD_HTTP_OK, text, len, true);
}

/* Fills SA from FS's address and port; *V6 says which family. */
static void sock_addr(const struct lsmfs *fs, struct sockaddr_storage *sa,
		      bool *v6)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)sa;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)sa;

	memset(sa, 0, sizeof(*sa));
	*v6 = inet_pton(AF_INET, fs->metrics_addr, &a4->sin_addr) != 1;
	if (!*v6) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)fs->metrics_port);
		return;
	}
	inet_pton(AF_INET6, fs->metrics_addr, &a6->sin6_addr);
	a6->sin6_family = AF_INET6;
	a6->sin6_port = htons((uint16_t)fs->metrics_port);
}

int metrics_http_start(struct lsmfs *fs)
{
	struct sockaddr_storage sa;
	struct metrics_http *h;
	bool v6;

	if (!fs->metrics_port)
		return 0;
	h = calloc(1, sizeof(*h));
	if (!h) {
		fprintf(stderr, "lsmfs: -o metrics: out of memory\n");
		return -1;
	}
	sock_addr(fs, &sa, &v6);
	errno = 0;
	h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
				(v6 ? MHD_USE_IPv6 : 0),
				(uint16_t)fs->metrics_port, NULL, NULL, answer,
				fs, MHD_OPTION_SOCK_ADDR, &sa,
				MHD_OPTION_CONNECTION_LIMIT, 16u,
				MHD_OPTION_CONNECTION_TIMEOUT, 10u,
				MHD_OPTION_END);
	if (!h->d) {
		fprintf(stderr, "lsmfs: -o metrics: cannot listen on %s port "
			"%u: %s\n", fs->metrics_addr, fs->metrics_port,
			errno ? strerror(errno) : "libmicrohttpd refused");
		free(h);
		return -1;
	}
	fs->http = h;
	fs_log_c(FS_LOG_INFO, "metrics", "serving http://%s%s%s:%u/metrics",
		 v6 ? "[" : "", fs->metrics_addr, v6 ? "]" : "",
		 fs->metrics_port);
	return 0;
}

void metrics_http_stop(struct lsmfs *fs)
{
	if (!fs->http)
		return;
	MHD_stop_daemon(fs->http->d);
	free(fs->http);
	fs->http = NULL;
}
