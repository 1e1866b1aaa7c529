/*
 * plan-check.c - what a plan means before it runs: the hosts of a step,
 * its batches, its environment, ${VAR} expansion, and the check of a
 * whole plan (see plan.h).
 *
 * Hades finds most mistakes only when the step that holds them is
 * reached, after earlier steps have changed hosts. rfs_plan_check walks
 * every step the way the runner will (the same host resolution, the same
 * env merge, the same expansion) and reports every problem at once, so a
 * plan that passes it fails later only for reasons of the world (a host
 * down, a command failing), not of the file.
 *
 * ${NAME} in a run command (and a guard) is substituted shell-quoted. The
 * quoting follows the command's own quotes, so that Hades commands such
 * as echo "${A} and ${B}" keep working: in a double-quoted string the
 * value is spliced in as "'value'", which the shell joins into one word;
 * in a here-document it is escaped as a here-document needs. Elsewhere
 * (paths, tags, templates) the value goes in as it is.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "yaml-tree.h"

/* "local" without an inventory entry: this machine (addr NULL). */
static char local_name[] = "local";
static const struct rfs_plan_host local_host = { .name = local_name };

static const char *const builtins[] = {
	"HADES_RUN_ID",	   "HADES_PLAN",
	"HADES_TARGET",	   "HADES_HOST_NAME",
	"HADES_HOST_ADDR", "REGCTL_RUN_ID",
	"REGCTL_PLAN",	   "REGCTL_STEP",
	"REGCTL_HOST",	   NULL,
};

/* The pinned digest of a tag, one variable per tag. */
#define DIGEST_PREFIX "REGCTL_DIGEST_"

bool rfs_plan_builtin_var(const char *name)
{
	for (size_t i = 0; builtins[i]; i++)
		if (strcmp(name, builtins[i]) == 0)
			return true;
	return strncmp(name, DIGEST_PREFIX, strlen(DIGEST_PREFIX)) == 0 &&
	       name[strlen(DIGEST_PREFIX)] != '\0';
}

/* Names a plan may not set: the built-ins, and, as Hades refuses every
 * HADES_ name, every name of both prefixes, kept for regctl's own. */
static bool reserved_var(const char *name)
{
	return rfs_plan_builtin_var(name) || strncmp(name, "HADES_", 6) == 0 ||
	       strncmp(name, "REGCTL_", 7) == 0;
}

/* A growing string; nomem once an allocation failed. */
struct buf {
	char *p;
	size_t len, cap;
	bool nomem;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->nomem)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		char *grown;

		while (cap < b->len + n + 1)
			cap *= 2;
		grown = realloc(b->p, cap);
		if (!grown) {
			b->nomem = true;
			return;
		}
		b->p = grown;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* The string built, or NULL if memory ran out. */
static char *buf_take(struct buf *b)
{
	if (b->nomem) {
		free(b->p);
		return NULL;
	}
	if (!b->p)
		return strdup("");
	return b->p;
}

static void buf_quote(struct buf *b, const char *s)
{
	buf_add(b, "'", 1);
	for (; *s; s++) {
		if (*s == '\'')
			buf_add(b, "'\\''", 4);
		else
			buf_add(b, s, 1);
	}
	buf_add(b, "'", 1);
}

char *rfs_shell_quote(const char *s)
{
	struct buf b = { 0 };

	buf_quote(&b, s);
	return buf_take(&b);
}

static bool name_start(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool name_char(char c)
{
	return name_start(c) || (c >= '0' && c <= '9');
}

/* The length of NAME when s is "${NAME}", else 0. */
static size_t var_at(const char *s)
{
	size_t n = 2;

	if (s[0] != '$' || s[1] != '{' || !name_start(s[2]))
		return 0;
	while (name_char(s[n]))
		n++;
	return s[n] == '}' ? n - 2 : 0;
}

/*
 * Where a ${NAME} stands in a shell command, which decides how its value
 * is written there. The lexer is the small part of sh's grammar that
 * quoting depends on: quotes, backslashes, $( ), $(( )), backquotes,
 * comments and here-documents. It is not a shell: a construct it misreads
 * (a case pattern's ")" inside $( ), a nested ${X:-"${Y}"}) can put a
 * value in the wrong quoting. Values are also exported to the command's
 * environment, so "$NAME" is the spelling that is always safe; \${NAME}
 * keeps ${NAME} for the shell too.
 */
enum var_ctx {
	CTX_RAW,	 /* not a shell command: as it is */
	CTX_WORD,	 /* unquoted: 'value' */
	CTX_SQ,		 /* in '...': close, 'value', reopen */
	CTX_DQ,		 /* in "...": close, 'value', reopen */
	CTX_HEREDOC,	 /* here-document body: \ $ ` escaped */
	CTX_HEREDOC_RAW, /* body of <<'EOF': as it is */
	CTX_COMMENT,	 /* after #: as it is, newlines made spaces */
};

#define LEX_MAX_FRAMES	 64
#define LEX_MAX_HEREDOCS 8
#define LEX_DELIM_MAX	 64

enum frame { F_TOP, F_SQ, F_DQ, F_CMD, F_ARITH, F_BQ };

struct heredoc {
	char delim[LEX_DELIM_MAX];
	bool quoted, strip_tabs;
};

struct lexer {
	enum frame frames[LEX_MAX_FRAMES];
	int parens[LEX_MAX_FRAMES];
	int top;
	struct heredoc pending[LEX_MAX_HEREDOCS];
	size_t n_pending;
	bool in_heredoc, comment;
	struct heredoc cur;
};

/* What a walk over a text does with its pieces. */
struct walk_ops {
	void (*literal)(void *arg, const char *s, size_t n);
	/* a ${NAME}; heredoc is the current one in CTX_HEREDOC*; non-zero
	 * stops the walk */
	int (*var)(void *arg, const char *name, enum var_ctx ctx,
		   const struct heredoc *heredoc);
};

static void push(struct lexer *lx, enum frame f)
{
	/* Past the limit, nesting is not tracked: values stay quoted. */
	if (lx->top + 1 < LEX_MAX_FRAMES) {
		lx->frames[++lx->top] = f;
		lx->parens[lx->top] = 1;
	}
}

static void pop(struct lexer *lx)
{
	if (lx->top > 0)
		lx->top--;
}

static enum var_ctx lex_ctx(const struct lexer *lx)
{
	if (lx->in_heredoc)
		return lx->cur.quoted ? CTX_HEREDOC_RAW : CTX_HEREDOC;
	if (lx->comment)
		return CTX_COMMENT;
	switch (lx->frames[lx->top]) {
	case F_SQ: return CTX_SQ;
	case F_DQ: return CTX_DQ;
	default: return CTX_WORD;
	}
}

/* A here-document operator at s ("<<" or "<<-", then the word): note the
 * delimiter; the body starts after the end of the line. Returns how many
 * bytes were read. */
static size_t lex_heredoc_op(struct lexer *lx, const char *s)
{
	struct heredoc hd = { 0 };
	size_t i = 2, n = 0;

	if (s[i] == '-') {
		hd.strip_tabs = true;
		i++;
	}
	while (s[i] == ' ' || s[i] == '\t')
		i++;
	while (s[i] && !strchr(" \t\n;&|<>()", s[i])) {
		char c = s[i++];

		if (c == '\'' || c == '"') {
			hd.quoted = true;
			while (s[i] && s[i] != c) {
				if (n + 1 < sizeof(hd.delim))
					hd.delim[n++] = s[i];
				i++;
			}
			if (s[i])
				i++;
			continue;
		}
		if (c == '\\' && s[i]) {
			hd.quoted = true;
			c = s[i++];
		}
		if (n + 1 < sizeof(hd.delim))
			hd.delim[n++] = c;
	}
	hd.delim[n] = '\0';
	if (n && lx->n_pending < LEX_MAX_HEREDOCS)
		lx->pending[lx->n_pending++] = hd;
	return i;
}

static bool word_start(const char *text, size_t i)
{
	return i == 0 || strchr(" \t\n;&|()", text[i - 1]);
}

/* One character (or construct) of the shell text at text[i], outside a
 * here-document body; returns how many bytes it took. */
static size_t lex_step(struct lexer *lx, const char *text, size_t i)
{
	const char *s = text + i;
	enum frame f = lx->frames[lx->top];

	if (lx->comment) {
		if (*s == '\n')
			lx->comment = false;
		else
			return 1;
	}
	if (f == F_SQ) {
		if (*s == '\'')
			pop(lx);
		return 1;
	}
	if (*s == '\\' && s[1])
		return 2;
	if (s[0] == '$' && s[1] == '(' && s[2] == '(' && f != F_ARITH) {
		push(lx, F_ARITH);
		lx->parens[lx->top] = 2;
		return 3;
	}
	if (s[0] == '$' && s[1] == '(') {
		push(lx, F_CMD);
		return 2;
	}
	if (s[0] == '$' && s[1] == '{') {
		/* ${X:-word} and the like: the shell's, read past whole */
		const char *end = strchr(s, '}');

		return end ? (size_t)(end - s) + 1 : 1;
	}
	if (*s == '`') {
		if (f == F_BQ)
			pop(lx);
		else
			push(lx, F_BQ);
		return 1;
	}
	if (f == F_DQ) {
		if (*s == '"')
			pop(lx);
		return 1;
	}
	if (f == F_CMD || f == F_ARITH) {
		if (*s == '(')
			lx->parens[lx->top]++;
		else if (*s == ')' && --lx->parens[lx->top] == 0)
			pop(lx);
		if (f == F_ARITH)
			return 1;
	}
	if (*s == '\'')
		push(lx, F_SQ);
	else if (*s == '"')
		push(lx, F_DQ);
	else if (*s == '#' && word_start(text, i))
		lx->comment = true;
	else if (s[0] == '<' && s[1] == '<' && s[2] != '<')
		return lex_heredoc_op(lx, s);
	else if (*s == '\n' && lx->n_pending) {
		lx->cur = lx->pending[0];
		memmove(lx->pending, lx->pending + 1,
			--lx->n_pending * sizeof(lx->pending[0]));
		lx->in_heredoc = true;
	}
	return 1;
}

/* The length of the here-document's end line at s (its delimiter,
 * perhaps after tabs), or 0 when s is a line of the body. */
static size_t heredoc_end(const struct heredoc *hd, const char *s)
{
	size_t i = 0, n = strlen(hd->delim);

	if (hd->strip_tabs)
		while (s[i] == '\t')
			i++;
	if (strncmp(s + i, hd->delim, n) == 0 &&
	    (s[i + n] == '\n' || s[i + n] == '\0'))
		return i + n;
	return 0;
}

/* Walk text: literal runs and each ${NAME} with its context (CTX_RAW
 * everywhere when shell is false). */
static int walk_vars(const char *text, bool shell, const struct walk_ops *ops,
		     void *arg)
{
	struct lexer lx = { .frames = { F_TOP } };
	size_t i = 0, lit = 0;
	bool line_start = true;

	while (text[i]) {
		size_t n = var_at(text + i);

		if (shell && lx.in_heredoc && line_start) {
			size_t end = heredoc_end(&lx.cur, text + i);

			line_start = false;
			if (end) {
				/* back in the command; the newline that ends
				 * this line may start the next body */
				lx.in_heredoc = false;
				i += end;
				continue;
			}
		}
		line_start = false;
		if (n) {
			char name[256];
			int rc;

			if (ops->literal && i > lit)
				ops->literal(arg, text + lit, i - lit);
			snprintf(name, sizeof(name), "%.*s", (int)n,
				 text + i + 2);
			rc = ops->var(arg, name, shell ? lex_ctx(&lx) : CTX_RAW,
				      &lx.cur);
			if (rc)
				return rc;
			i += n + 3;
			lit = i;
			continue;
		}
		if (!shell) {
			i++;
		} else if (lx.in_heredoc) {
			if (text[i] == '\\' && !lx.cur.quoted && text[i + 1]) {
				i += 2;
				continue;
			}
			line_start = text[i] == '\n';
			i++;
		} else {
			i += lex_step(&lx, text, i);
			/* a newline that starts a body */
			line_start = lx.in_heredoc;
		}
	}
	if (ops->literal && i > lit)
		ops->literal(arg, text + lit, i - lit);
	return 0;
}

static const struct rfs_plan_kv *env_find(const struct rfs_plan_kv *env,
					  size_t n, const char *name)
{
	/* later entries win, as with -e given twice */
	for (size_t i = n; i-- > 0;)
		if (strcmp(env[i].key, name) == 0)
			return &env[i];
	return NULL;
}

struct expander {
	struct buf out;
	const struct rfs_plan_kv *env; /* NULL: the process environment */
	size_t n_env;
	struct rfs_error *err;
};

static void expand_literal(void *arg, const char *s, size_t n)
{
	buf_add(&((struct expander *)arg)->out, s, n);
}

/* Whether value holds a line that would end the here-document. */
static bool ends_heredoc(const struct heredoc *hd, const char *value)
{
	for (const char *line = value; line; line = strchr(line, '\n')) {
		if (*line == '\n')
			line++;
		if (heredoc_end(hd, line))
			return true;
	}
	return false;
}

static int expand_var(void *arg, const char *name, enum var_ctx ctx,
		      const struct heredoc *hd)
{
	struct expander *x = arg;
	const char *value;

	if (x->env) {
		const struct rfs_plan_kv *kv = env_find(x->env, x->n_env, name);

		value = kv ? (kv->value ? kv->value : "") : NULL;
	} else {
		value = getenv(name);
	}
	if (!value)
		return rfs_error_set(x->err, -EINVAL, "${%s} is not set", name);
	switch (ctx) {
	case CTX_RAW: buf_str(&x->out, value); break;
	case CTX_WORD: buf_quote(&x->out, value); break;
	case CTX_SQ:
	case CTX_DQ:
		buf_add(&x->out, ctx == CTX_SQ ? "'" : "\"", 1);
		buf_quote(&x->out, value);
		buf_add(&x->out, ctx == CTX_SQ ? "'" : "\"", 1);
		break;
	case CTX_HEREDOC:
	case CTX_HEREDOC_RAW:
		if (ends_heredoc(hd, value))
			return rfs_error_set(
			    x->err, -EINVAL,
			    "${%s} holds a line \"%s\" that would end the "
			    "here-document it is in",
			    name, hd->delim);
		for (const char *c = value; *c; c++) {
			if (ctx == CTX_HEREDOC && strchr("\\$`", *c))
				buf_add(&x->out, "\\", 1);
			buf_add(&x->out, c, 1);
		}
		break;
	case CTX_COMMENT:
		for (const char *c = value; *c; c++)
			buf_add(&x->out, *c == '\n' ? " " : c, 1);
		break;
	}
	return 0;
}

static int expand(const char *text, const struct rfs_plan_kv *env, size_t n_env,
		  bool quote, char **out, struct rfs_error *err)
{
	static const struct walk_ops ops = { expand_literal, expand_var };
	struct expander x = { .env = env, .n_env = n_env, .err = err };
	int rc;

	*out = NULL;
	rc = walk_vars(text, quote, &ops, &x);
	if (rc) {
		free(x.out.p);
		return rc;
	}
	*out = buf_take(&x.out);
	return *out ? 0 : rfs_error_set(err, -ENOMEM, "out of memory");
}

int rfs_plan_expand(const char *text, const struct rfs_plan_kv *env,
		    size_t n_env, bool quote, char **out, struct rfs_error *err)
{
	static const struct rfs_plan_kv none;

	/* env NULL would mean the process environment inside expand() */
	return expand(text, env ? env : &none, env ? n_env : 0, quote, out,
		      err);
}

/*
 * Problems, deduplicated: a job used by several steps, or a plan env
 * value checked for each step, would otherwise say the same thing again.
 */
struct checker {
	struct rfs_report rep;
	char **seen;
	size_t n_seen;
};

static void problem(struct checker *c, const struct rfs_plan_pos *pos,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void problem(struct checker *c, const struct rfs_plan_pos *pos,
		    const char *fmt, ...)
{
	char msg[RFS_ERROR_MSG_MAX], line[RFS_ERROR_MSG_MAX + 64];
	char **grown;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(line, sizeof(line), "%s:%d:%d: %s",
		 pos && pos->file ? pos->file : "", pos ? pos->line : 0,
		 pos ? pos->column : 0, msg);
	for (size_t i = 0; i < c->n_seen; i++)
		if (strcmp(c->seen[i], line) == 0)
			return;
	grown = realloc(c->seen, (c->n_seen + 1) * sizeof(*grown));
	if (!grown || !(grown[c->n_seen] = strdup(line))) {
		if (grown)
			c->seen = grown;
		c->rep.nomem = true;
		return;
	}
	c->seen = grown;
	c->n_seen++;
	if (pos && pos->file)
		rfs_report_add(&c->rep, pos->file, pos->line, pos->column, "%s",
			       msg);
	else
		rfs_report_add(&c->rep, NULL, 0, 0, "%s", msg);
}

static void checker_release(struct checker *c)
{
	for (size_t i = 0; i < c->n_seen; i++)
		free(c->seen[i]);
	free(c->seen);
}

/* The environment being merged for one step. */
struct env_list {
	struct rfs_plan_kv *kv;
	size_t n, cap;
};

static void env_list_free(struct env_list *e)
{
	rfs_plan_env_free(e->kv, e->n);
	*e = (struct env_list){ 0 };
}

/* Set key to value (taken over), replacing an earlier value. */
static int env_put(struct env_list *e, const char *key, char *value,
		   const struct rfs_plan_pos *pos)
{
	for (size_t i = 0; i < e->n; i++) {
		if (strcmp(e->kv[i].key, key) == 0) {
			free(e->kv[i].value);
			e->kv[i].value = value;
			e->kv[i].pos = *pos;
			return 0;
		}
	}
	if (e->n == e->cap) {
		size_t cap = e->cap ? 2 * e->cap : 16;
		struct rfs_plan_kv *grown =
		    realloc(e->kv, cap * sizeof(*grown));

		if (!grown) {
			free(value);
			return -ENOMEM;
		}
		e->kv = grown;
		e->cap = cap;
	}
	e->kv[e->n].key = strdup(key);
	if (!e->kv[e->n].key) {
		free(value);
		return -ENOMEM;
	}
	e->kv[e->n].value = value;
	e->kv[e->n].pos = *pos;
	e->n++;
	return 0;
}

/* One source of values (plan, step or -e): names checked, ${VAR}
 * expanded from the process environment, merged over what is there. */
static void env_merge(struct checker *c, struct env_list *e,
		      const struct rfs_plan_kv *src, size_t n,
		      const char *whose)
{
	for (size_t i = 0; i < n; i++) {
		const struct rfs_plan_kv *kv = &src[i];
		const char *raw = kv->value ? kv->value : "";
		struct rfs_error err = { 0 };
		char *value = NULL;
		int rc;

		if (reserved_var(kv->key)) {
			problem(c, &kv->pos,
				"%s in %s is reserved (HADES_*, REGCTL_*)",
				kv->key, whose);
			continue;
		}
		rc = expand(raw, NULL, 0, false, &value, &err);
		if (rc == -ENOMEM) {
			c->rep.nomem = true;
			return;
		}
		if (rc) {
			/* reported; the raw value stands in, so a variable a
			 * job needs is not also said to be missing */
			problem(c, &kv->pos, "%s in %s: %s in the environment",
				kv->key, whose, err.msg);
			value = strdup(raw);
		}
		if (!value || env_put(e, kv->key, value, &kv->pos) < 0) {
			c->rep.nomem = true;
			return;
		}
	}
}

/* A step's environment by Hades's precedence: the job's defaults, then
 * the plan's env, the step's, -e. */
static void step_env(struct checker *c, const struct rfs_plan *plan,
		     const struct rfs_plan_step *step,
		     const struct rfs_plan_job *job,
		     const struct rfs_plan_vars *cli, struct env_list *e)
{
	for (size_t i = 0; job && i < job->n_env; i++) {
		const struct rfs_plan_kv *kv = &job->env[i];
		char *value;

		if (reserved_var(kv->key)) {
			problem(c, &kv->pos,
				"%s in the env of job \"%s\" is reserved "
				"(HADES_*, REGCTL_*)",
				kv->key, job->name);
			continue;
		}
		if (!kv->value)
			continue;
		value = strdup(kv->value);
		if (!value || env_put(e, kv->key, value, &kv->pos) < 0) {
			c->rep.nomem = true;
			return;
		}
	}
	env_merge(c, e, plan->env, plan->n_env, "the plan's env");
	env_merge(c, e, step->env, step->n_env, "the step's env");
	if (cli)
		env_merge(c, e, cli->items, cli->n, "-e");
	for (size_t i = 0; job && i < job->n_env; i++) {
		const struct rfs_plan_kv *kv = &job->env[i];

		if (!kv->value && !reserved_var(kv->key) &&
		    !env_find(e->kv, e->n, kv->key))
			problem(c, &step->pos,
				"step \"%s\": job \"%s\" needs %s (give it "
				"with env: or -e)",
				step->name, job->name, kv->key);
	}
}

int rfs_plan_step_env(const struct rfs_plan *plan,
		      const struct rfs_plan_step *step,
		      const struct rfs_plan_job *job,
		      const struct rfs_plan_vars *cli, struct rfs_plan_kv **out,
		      size_t *n, struct rfs_error *err)
{
	struct checker c = { 0 };
	struct env_list e = { 0 };
	int rc;

	*out = NULL;
	*n = 0;
	rfs_report_init(&c.rep, err);
	step_env(&c, plan, step, job, cli, &e);
	rc = rfs_report_finish(&c.rep);
	checker_release(&c);
	if (rc) {
		env_list_free(&e);
		return rc;
	}
	*out = e.kv;
	*n = e.n;
	return 0;
}

void rfs_plan_env_free(struct rfs_plan_kv *env, size_t n)
{
	for (size_t i = 0; env && i < n; i++) {
		free(env[i].key);
		free(env[i].value);
	}
	free(env);
}

static const struct rfs_plan_group *group_named(const struct rfs_plan_set *set,
						const char *name)
{
	for (size_t i = 0; i < set->n_groups; i++)
		if (strcmp(set->groups[i].name, name) == 0)
			return &set->groups[i];
	return NULL;
}

/* An inventory host, or this machine for "local" without an entry. */
static const struct rfs_plan_host *host_named(const struct rfs_plan_set *set,
					      const char *name)
{
	for (size_t i = 0; i < set->n_hosts; i++)
		if (strcmp(set->hosts[i].name, name) == 0)
			return &set->hosts[i];
	return strcmp(name, local_name) == 0 ? &local_host : NULL;
}

static const char *target_name(const struct rfs_plan_kv *kv)
{
	return kv->key ? kv->key : kv->value;
}

/* Add h to hosts unless it is there: the first occurrence keeps its
 * place. */
static void add_host(const struct rfs_plan_host **hosts, size_t *n,
		     const struct rfs_plan_host *h)
{
	for (size_t i = 0; i < *n; i++)
		if (hosts[i] == h)
			return;
	hosts[(*n)++] = h;
}

int rfs_plan_step_hosts(const struct rfs_plan_set *set,
			const struct rfs_plan_step *step,
			const struct rfs_plan_vars *targets_override,
			const struct rfs_plan_reached *reached,
			size_t n_reached, const struct rfs_plan_host **out,
			size_t max, struct rfs_error *err)
{
	/* at most every inventory host and local, each once */
	const struct rfs_plan_host **hosts;
	size_t n = 0, n_names;
	int rc = 0;

	hosts = calloc(set->n_hosts + 1, sizeof(*hosts));
	if (!hosts)
		return rfs_error_set(err, -ENOMEM, "out of memory");
	n_names = targets_override ? targets_override->n : step->n_targets;
	for (size_t i = 0; i < n_names; i++) {
		const char *name =
		    targets_override ? target_name(&targets_override->items[i])
				     : step->targets[i];
		const struct rfs_plan_group *g = group_named(set, name);
		const struct rfs_plan_host *h;

		/* Hades's order of lookup: a group first, then a host */
		for (size_t k = 0; g && k < g->n_hosts; k++) {
			h = host_named(set, g->hosts[k]);
			if (!h) {
				rc = rfs_error_set(err, -ENOENT,
						   "target group \"%s\" names "
						   "host \"%s\", which is not "
						   "defined",
						   g->name, g->hosts[k]);
				goto out;
			}
			add_host(hosts, &n, h);
		}
		if (g)
			continue;
		h = host_named(set, name);
		if (!h) {
			rc = rfs_error_set(err, -ENOENT,
					   "step \"%s\": target \"%s\" is "
					   "neither a target group nor a host",
					   step->name, name);
			goto out;
		}
		add_host(hosts, &n, h);
	}
	for (size_t i = 0; i < step->n_exclude; i++) {
		const struct rfs_plan_reached *r = NULL;
		size_t kept = 0;

		for (size_t k = 0; k < n_reached && !r; k++)
			if (strcmp(reached[k].step, step->exclude[i]) == 0)
				r = &reached[k];
		if (!r) {
			rc = rfs_error_set(err, -ENOENT,
					   "step \"%s\" excludes the hosts of "
					   "step \"%s\", which has not run "
					   "before it",
					   step->name, step->exclude[i]);
			goto out;
		}
		for (size_t k = 0; k < n; k++) {
			bool gone = false;

			for (size_t j = 0; j < r->n_hosts && !gone; j++)
				gone = strcmp(hosts[k]->name, r->hosts[j]) == 0;
			if (!gone)
				hosts[kept++] = hosts[k];
		}
		n = kept;
	}
	if (step->limit > 0 && n > (size_t)step->limit)
		n = (size_t)step->limit;
	if (n > max) {
		rc = rfs_error_set(err, -E2BIG,
				   "step \"%s\" has %zu hosts, more than %zu",
				   step->name, n, max);
		goto out;
	}
	memcpy(out, hosts, n * sizeof(*hosts));
	rc = (int)n;
out:
	free(hosts);
	return rc;
}

size_t rfs_plan_batch_size(const struct rfs_plan_parallelism *p, size_t n)
{
	size_t size = n;

	if (p->count > 0 && (size_t)p->count < n)
		size = (size_t)p->count;
	else if (p->percent > 0 && p->percent < 100)
		size = n * (size_t)p->percent / 100;
	/* at least 1, also with no hosts, so a loop by batches moves on */
	return size ? size : 1;
}

/* The check of one plan. */
struct check {
	struct checker c;
	const struct rfs_plan_set *set;
	const struct rfs_plan *plan;
	const struct rfs_plan_step *step;
	const struct rfs_plan_job *job;
	struct env_list env; /* the step's */
	struct rfs_plan_tag_ref *refs;
	size_t n_refs;
	struct rfs_plan_tag_ref *pushes; /* what pushes before this point
					    publish */
	size_t n_pushes;
};

static void check_target(struct check *k, const char *name,
			 const struct rfs_plan_pos *pos, const char *who)
{
	const struct rfs_plan_group *g = group_named(k->set, name);

	for (size_t i = 0; g && i < g->n_hosts; i++)
		if (!host_named(k->set, g->hosts[i]))
			problem(&k->c, &g->pos,
				"target group \"%s\" names \"%s\", not a host",
				g->name, g->hosts[i]);
	if (!g && !host_named(k->set, name))
		problem(&k->c, pos,
			"%s: target \"%s\" is neither a group nor a host", who,
			name);
}

/* What a ${NAME} check walks with. */
struct var_check {
	struct check *k;
	const char *field; /* "a run command", ... */
	const struct rfs_plan_pos *pos;
	bool runtime_ok; /* may name a built-in known only at run time */
};

static int check_var(void *arg, const char *name, enum var_ctx ctx,
		     const struct heredoc *hd)
{
	struct var_check *v = arg;
	struct check *k = v->k;

	(void)ctx;
	(void)hd;
	if (rfs_plan_builtin_var(name)) {
		if (!v->runtime_ok)
			problem(&k->c, v->pos,
				"%s may not use ${%s}: its tag is pinned "
				"before the run",
				v->field, name);
		return 0;
	}
	/* a variable the job declares is said to be missing once, by
	 * step_env(), not again at each use */
	if (!env_find(k->env.kv, k->env.n, name) &&
	    !env_find(k->job->env, k->job->n_env, name))
		problem(&k->c, v->pos,
			"step \"%s\": ${%s} in %s of job \"%s\" is not set",
			k->step->name, name, v->field, k->job->name);
	return 0;
}

/* Check the ${NAME}s of a field; with a value when they all resolve
 * from the step's env (CTX_RAW: built-ins make it unknown, NULL). */
static char *check_field(struct check *k, const char *text, const char *field,
			 const struct rfs_plan_pos *pos, bool shell,
			 bool runtime_ok)
{
	static const struct walk_ops ops = { NULL, check_var };
	struct var_check v = { k, field, pos, runtime_ok };
	size_t before = k->c.rep.n;
	char *value = NULL;

	if (!text)
		return NULL;
	walk_vars(text, shell, &ops, &v);
	if (k->c.rep.n != before || shell)
		return NULL;
	if (expand(text, k->env.kv, k->env.n, false, &value, NULL) == -ENOMEM)
		k->c.rep.nomem = true;
	return value;
}

static const struct rfs_plan_kv *artifact_named(const struct rfs_plan_job *job,
						const char *name)
{
	return env_find(job->artifacts, job->n_artifacts, name);
}

static int add_ref(struct rfs_plan_tag_ref **refs, size_t *n,
		   const struct rfs_plan_registry *reg, char **repo, char **tag,
		   bool pushed, size_t step, const struct rfs_plan_pos *pos)
{
	struct rfs_plan_tag_ref *grown;

	grown = realloc(*refs, (*n + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	*refs = grown;
	grown[*n] = (struct rfs_plan_tag_ref){ .registry = reg,
					       .repo = *repo,
					       .tag = *tag,
					       .pushed_earlier = pushed,
					       .step = step,
					       .pos = *pos };
	*repo = *tag = NULL;
	(*n)++;
	return 0;
}

static const struct rfs_plan_tag_ref *
find_ref(const struct rfs_plan_tag_ref *refs, size_t n,
	 const struct rfs_plan_registry *reg, const char *repo, const char *tag)
{
	for (size_t i = 0; i < n; i++)
		if (refs[i].registry == reg &&
		    strcmp(refs[i].repo, repo) == 0 &&
		    strcmp(refs[i].tag, tag) == 0)
			return &refs[i];
	return NULL;
}

static const char *const kind_names[] = {
	[RFS_ACTION_RUN] = "a run command",   [RFS_ACTION_COPY] = "a copy",
	[RFS_ACTION_TEMPLATE] = "a template", [RFS_ACTION_MKDIR] = "a mkdir",
	[RFS_ACTION_PUSH] = "a push",	      [RFS_ACTION_PULL] = "a pull",
	[RFS_ACTION_WAIT] = "a wait",
};

/* A push or a pull: its registry exists, a push's artifact is the job's;
 * the tag it publishes or deploys, expanded, goes on the lists. */
static void check_transfer(struct check *k, const struct rfs_plan_action *a,
			   size_t step_index)
{
	bool push = a->kind == RFS_ACTION_PUSH;
	const char *what = push ? "a push" : "a pull";
	const struct rfs_plan_registry *reg = NULL;
	char *name, *repo, *tag, *artifact;

	name = check_field(k, a->registry, what, &a->pos, false, false);
	/* a push may name its tag after the run (${HADES_RUN_ID}) */
	repo = check_field(k, a->repo, what, &a->pos, false, push);
	tag = check_field(k, a->tag, what, &a->pos, false, push);
	artifact = check_field(k, a->artifact, what, &a->pos, false, false);
	if (name) {
		reg = rfs_plan_find_registry(k->set, name);
		if (!reg)
			problem(&k->c, &a->pos,
				"%s names registry \"%s\", not defined", what,
				name);
	}
	if (push && artifact && !artifact_named(k->job, artifact))
		problem(&k->c, &a->pos,
			"a push names artifact \"%s\", not one of job \"%s\"",
			artifact, k->job->name);
	if (reg && repo && tag) {
		bool pushed =
		    find_ref(k->pushes, k->n_pushes, reg, repo, tag) != NULL;

		if (push) {
			if (!pushed &&
			    add_ref(&k->pushes, &k->n_pushes, reg, &repo, &tag,
				    true, step_index, &a->pos) < 0)
				k->c.rep.nomem = true;
		} else if (!find_ref(k->refs, k->n_refs, reg, repo, tag) &&
			   add_ref(&k->refs, &k->n_refs, reg, &repo, &tag,
				   pushed, step_index, &a->pos) < 0) {
			k->c.rep.nomem = true;
		}
	}
	free(name);
	free(repo);
	free(tag);
	free(artifact);
}

static void check_action(struct check *k, const struct rfs_plan_action *a,
			 size_t step_index)
{
	const char *what =
	    a->kind <= RFS_ACTION_WAIT ? kind_names[a->kind] : "an action";
	char *artifact;

	if (a->mode != RFS_PLAN_NO_MODE && (a->mode < 0 || a->mode > 07777))
		problem(&k->c, &a->pos,
			"mode %o is not a file mode (0 to 07777)",
			(unsigned)a->mode);
	switch (a->kind) {
	case RFS_ACTION_PUSH:
	case RFS_ACTION_PULL: check_transfer(k, a, step_index); return;
	case RFS_ACTION_RUN:
		free(check_field(k, a->command, what, &a->pos, true, true));
		return;
	default: break;
	}
	free(check_field(k, a->src, what, &a->pos, false, true));
	free(check_field(k, a->dst, what, &a->pos, false, true));
	free(check_field(k, a->path, what, &a->pos, false, true));
	free(check_field(k, a->message, what, &a->pos, false, true));
	artifact = check_field(k, a->artifact, what, &a->pos, false, false);
	if (artifact && !artifact_named(k->job, artifact))
		problem(&k->c, &a->pos,
			"%s names artifact \"%s\", not one of job \"%s\"", what,
			artifact, k->job->name);
	free(artifact);
}

static void check_step(struct check *k, size_t index,
		       const struct rfs_plan_vars *cli,
		       const struct rfs_plan_vars *targets_override)
{
	const struct rfs_plan_step *step = &k->plan->steps[index];
	const struct rfs_plan_job *job =
	    step->job ? rfs_plan_find_job(k->set, step->job) : NULL;
	const struct rfs_plan_parallelism *p = &step->parallelism;

	k->step = step;
	k->job = job;
	if (!job)
		problem(&k->c, &step->pos,
			"step \"%s\": job \"%s\" is not defined", step->name,
			step->job ? step->job : "");
	if (!targets_override && step->n_targets == 0)
		problem(&k->c, &step->pos,
			"step \"%s\" has no targets (targets: [group or host], "
			"or -t)",
			step->name);
	for (size_t i = 0; !targets_override && i < step->n_targets; i++) {
		char who[128];

		snprintf(who, sizeof(who), "step \"%s\"", step->name);
		check_target(k, step->targets[i], &step->pos, who);
	}
	for (size_t i = 0; i < step->n_exclude; i++) {
		size_t j = 0;

		while (j < index &&
		       strcmp(k->plan->steps[j].name, step->exclude[i]) != 0)
			j++;
		if (j == index)
			problem(&k->c, &step->pos,
				"step \"%s\" excludes \"%s\", which is not an "
				"earlier step of plan \"%s\"",
				step->name, step->exclude[i], k->plan->name);
	}
	if (step->limit < 0)
		problem(&k->c, &step->pos, "step \"%s\": limit %d is negative",
			step->name, step->limit);
	if (p->count < 0 || p->percent < 0 || p->percent > 100 ||
	    (p->count && p->percent))
		problem(&k->c, &step->pos,
			"step \"%s\": parallelism must be N hosts or P%% (1 to "
			"100)",
			step->name);
	env_list_free(&k->env);
	step_env(&k->c, k->plan, step, job, cli, &k->env);
	if (!job)
		return;
	free(check_field(k, job->guard_if, "the guard", &job->pos, true, true));
	for (size_t i = 0; i < job->n_actions; i++)
		check_action(k, &job->actions[i], index);
}

void rfs_plan_tag_refs_free(struct rfs_plan_tag_ref *refs, size_t n)
{
	for (size_t i = 0; refs && i < n; i++) {
		free(refs[i].repo);
		free(refs[i].tag);
	}
	free(refs);
}

int rfs_plan_check(const struct rfs_plan_set *set, const struct rfs_plan *plan,
		   const struct rfs_plan_vars *cli,
		   const struct rfs_plan_vars *targets_override,
		   struct rfs_plan_tag_ref **needed, size_t *n_needed,
		   struct rfs_error *err)
{
	struct check k = { .set = set, .plan = plan };
	int rc;

	*needed = NULL;
	*n_needed = 0;
	rfs_report_init(&k.c.rep, err);
	if (plan->n_steps == 0)
		problem(&k.c, &plan->pos, "plan \"%s\" has no steps",
			plan->name);
	for (size_t i = 0; targets_override && i < targets_override->n; i++)
		check_target(&k, target_name(&targets_override->items[i]), NULL,
			     "-t");
	for (size_t i = 0; i < plan->n_steps; i++)
		check_step(&k, i, cli, targets_override);
	env_list_free(&k.env);
	rfs_plan_tag_refs_free(k.pushes, k.n_pushes);
	rc = rfs_report_finish(&k.c.rep);
	checker_release(&k.c);
	if (rc) {
		rfs_plan_tag_refs_free(k.refs, k.n_refs);
		return rc;
	}
	*needed = k.refs;
	*n_needed = k.n_refs;
	return 0;
}
