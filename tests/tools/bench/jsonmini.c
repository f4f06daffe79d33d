/* jsonmini.c - see jsonmini.h.  Recursive descent over one array of flat
 * objects; \uXXXX escapes below 0x80 only (all lsmfs-bench emits). */
#include <stdlib.h>
#include <string.h>

#include "jsonmini.h"

static const char *ws(const char *p)
{
	while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
		p++;
	return p;
}

static const char *parse_str(const char *p, char **out)
{
	size_t cap = strlen(p) + 1, n = 0;
	char *s = malloc(cap);

	if (!s || *p != '"')
		goto fail;
	for (p++; *p && *p != '"'; p++) {
		if ((unsigned char)*p < 0x20)
			goto fail;
		if (*p != '\\') {
			s[n++] = *p;
			continue;
		}
		p++;
		if (*p == 'u') {
			char hex[5] = { 0 };

			memcpy(hex, p + 1, 4);
			if (strlen(hex) != 4 || strtol(hex, NULL, 16) > 0x7f)
				goto fail;
			s[n++] = (char)strtol(hex, NULL, 16);
			p += 4;
		} else if (strchr("\"\\/", *p) && *p) {
			s[n++] = *p;
		} else if (*p == 'n') {
			s[n++] = '\n';
		} else if (*p == 't') {
			s[n++] = '\t';
		} else {
			goto fail;
		}
	}
	if (*p != '"')
		goto fail;
	s[n] = 0;
	*out = s;
	return p + 1;
fail:
	free(s);
	return NULL;
}

static const char *parse_value(const char *p, struct jm_field *f)
{
	char *end;

	if (*p == '"') {
		f->type = JM_STR;
		return parse_str(p, &f->str);
	}
	if (strncmp(p, "null", 4) == 0) {
		f->type = JM_NULL;
		return p + 4;
	}
	if (strncmp(p, "true", 4) == 0 || strncmp(p, "false", 5) == 0) {
		f->type = JM_BOOL;
		f->num = *p == 't';
		return p + (*p == 't' ? 4 : 5);
	}
	if (!(*p == '-' || (*p >= '0' && *p <= '9')))
		return NULL;
	f->type = JM_NUM;
	f->num = strtod(p, &end);
	return end == p ? NULL : end;
}

static const char *parse_object(const char *p, struct jm_object *o)
{
	if (*p != '{')
		return NULL;
	p = ws(p + 1);
	if (*p == '}')
		return p + 1;
	for (;;) {
		struct jm_field *f = realloc(o->f, (o->n + 1) * sizeof(*f));

		if (!f)
			return NULL;
		o->f = f;
		f = &o->f[o->n++];
		memset(f, 0, sizeof(*f));
		p = parse_str(p, &f->key);
		if (!p)
			return NULL;
		p = ws(p);
		if (*p != ':')
			return NULL;
		p = parse_value(ws(p + 1), f);
		if (!p)
			return NULL;
		p = ws(p);
		if (*p == '}')
			return p + 1;
		if (*p != ',')
			return NULL;
		p = ws(p + 1);
	}
}

int jm_parse(const char *text, struct jm_doc *doc)
{
	const char *p = ws(text);

	memset(doc, 0, sizeof(*doc));
	if (*p != '[')
		return -1;
	p = ws(p + 1);
	if (*p == ']')
		return *ws(p + 1) ? -1 : 0;
	for (;;) {
		struct jm_object *o = realloc(doc->o, (doc->n + 1) * sizeof(*o));

		if (!o)
			return -1;
		doc->o = o;
		o = &doc->o[doc->n++];
		memset(o, 0, sizeof(*o));
		p = parse_object(p, o);
		if (!p)
			return -1;
		p = ws(p);
		if (*p == ']')
			return *ws(p + 1) ? -1 : 0;
		if (*p != ',')
			return -1;
		p = ws(p + 1);
	}
}

void jm_free(struct jm_doc *doc)
{
	for (size_t i = 0; i < doc->n; i++) {
		for (size_t j = 0; j < doc->o[i].n; j++) {
			free(doc->o[i].f[j].key);
			free(doc->o[i].f[j].str);
		}
		free(doc->o[i].f);
	}
	free(doc->o);
	memset(doc, 0, sizeof(*doc));
}

const struct jm_field *jm_get(const struct jm_object *o, const char *key)
{
	for (size_t i = 0; i < o->n; i++)
		if (o->f[i].key && strcmp(o->f[i].key, key) == 0)
			return &o->f[i];
	return NULL;
}
