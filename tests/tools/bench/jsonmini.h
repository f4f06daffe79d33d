/* jsonmini.h - a tiny JSON reader for the lsmfs-bench tests: enough to read
 * back what lsmfs-bench writes (an array of flat objects whose values are
 * strings, numbers or null) and to reject anything malformed. */
#ifndef JSONMINI_H
#define JSONMINI_H

#include <stdbool.h>
#include <stddef.h>

enum jm_type { JM_NULL, JM_NUM, JM_STR, JM_BOOL };

struct jm_field {
	char *key;
	enum jm_type type;
	double num;
	char *str;
};

struct jm_object {
	struct jm_field *f;
	size_t n;
};

struct jm_doc {
	struct jm_object *o;
	size_t n;
};

/* Parses TEXT; 0 on success, -1 on any syntax error (trailing bytes too). */
int jm_parse(const char *text, struct jm_doc *doc);
void jm_free(struct jm_doc *doc);
/* The field KEY of O, or NULL. */
const struct jm_field *jm_get(const struct jm_object *o, const char *key);

#endif
