/*
 * cmd-serve.c - "regctl serve": serve the store over the OCI distribution
 * API until SIGINT or SIGTERM (the server itself is serve.c; its rules
 * core/registry.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "audit.h"
#include "config.h"
#include "files.h"
#include "pull.h"
#include "regctl.h"
#include "registry.h"
#include "serve.h"

#define MUTABLE_MAX  64
#define TLS_FILE_MAX (1 << 20)

static const char serve_usage[] =
    "usage: regctl serve [--store STORE] [--listen ADDR:PORT] [OPTION]...\n"
    "\n"
    "Serve the store over the OCI distribution API: docker, podman,\n"
    "skopeo, oras, regctl and regfs mounts pull from it and push to it,\n"
    "while mounts of the same store see every push at once. Tags never\n"
    "change; DELETE is refused unless --allow-delete. Browse it at /ui/;\n"
    "/health and /metrics for operations. Stops on SIGINT or SIGTERM.\n"
    "\n"
    "  --store STORE          the store (as regctl --store)\n"
    "  --listen ADDR:PORT     where to listen (127.0.0.1:5000; port 0: any\n"
    "                         free one, said on stderr)\n"
    "  --htpasswd FILE        pushes need a user of FILE (bcrypt, as\n"
    "                         htpasswd -B writes); pulls stay anonymous\n"
    "  --auth-pull            pulls need a user too\n"
    "  --access-rules FILE    who may push or pull where (regctl(1))\n"
    "  --allow-delete         DELETE removes tags, manifests and blob links\n"
    "                         (gc reclaims the blobs)\n"
    "  --mutable-tags PATTERN tags matching PATTERN (fnmatch on REPO:TAG)\n"
    "                         may be pushed again with other content\n"
    "                         (repeatable)\n"
    "  --tls-cert FILE        serve HTTPS with this certificate (PEM) ...\n"
    "  --tls-key FILE         ... and this key (PEM)\n"
    "  --upstream URL         pull through from URL (as regfs -o upstream=)\n"
    "  --config FILE          upstreams and seal_hook of regfs.conf(5) FILE\n"
    "  --access-log FILE      one line a request to FILE ('-': stderr, the\n"
    "                         default; 'off': none)\n"
    "  --idle-timeout SECS    close a connection idle this long (60)\n"
    "  --request-timeout SECS close one whose upload takes longer (3600)\n"
    "  --upload-timeout SECS  forget an upload unused this long (600)\n"
    "  --max-uploads N        uploads open at once (64)\n"
    "  --max-connections N    connections at once (256)\n"
    "  -h, --help             show this help\n";

/* A whole small file (a PEM), malloc()ed and NUL-terminated; NULL when
 * it cannot be read, is empty or is TLS_FILE_MAX bytes or more. */
static char *read_small_file(const char *path)
{
	char *buf;
	size_t len;

	if (rfs_read_small(AT_FDCWD, path, TLS_FILE_MAX - 1, &buf, &len))
		return NULL;
	if (!len) {
		free(buf);
		return NULL;
	}
	return buf;
}

static int parse_count(const char *text, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(text, &end, 10);
	return errno || *end || end == text || *out == 0 || *out > max ? -1 : 0;
}

struct serve_args {
	const char *listen, *htpasswd, *rules, *tls_cert, *tls_key;
	const char *upstream, *config, *access_log;
	const char *mutable_tags[MUTABLE_MAX];
	size_t n_mutable;
	bool auth_pull, allow_delete;
	bool help; /* --help was shown: nothing more to do */
	unsigned long idle_s, request_s, upload_s, max_uploads, max_connections;
};

static int parse_args(int argc, char **argv, struct regctl *rc,
		      struct serve_args *a)
{
	enum {
		OPT_HELP = REGCTL_OPT_LONG,
		OPT_STORE,
		OPT_LISTEN,
		OPT_HTPASSWD,
		OPT_AUTH_PULL,
		OPT_RULES,
		OPT_ALLOW_DELETE,
		OPT_MUTABLE,
		OPT_TLS_CERT,
		OPT_TLS_KEY,
		OPT_UPSTREAM,
		OPT_CONFIG,
		OPT_ACCESS_LOG,
		OPT_IDLE,
		OPT_REQUEST_TIMEOUT,
		OPT_UPLOAD_TIMEOUT,
		OPT_MAX_UPLOADS,
		OPT_MAX_CONNECTIONS,
	};
	static const struct option options[] = {
		{ "help", no_argument, NULL, OPT_HELP },
		{ "store", required_argument, NULL, OPT_STORE },
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "htpasswd", required_argument, NULL, OPT_HTPASSWD },
		{ "auth-pull", no_argument, NULL, OPT_AUTH_PULL },
		{ "access-rules", required_argument, NULL, OPT_RULES },
		{ "allow-delete", no_argument, NULL, OPT_ALLOW_DELETE },
		{ "mutable-tags", required_argument, NULL, OPT_MUTABLE },
		{ "tls-cert", required_argument, NULL, OPT_TLS_CERT },
		{ "tls-key", required_argument, NULL, OPT_TLS_KEY },
		{ "upstream", required_argument, NULL, OPT_UPSTREAM },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "access-log", required_argument, NULL, OPT_ACCESS_LOG },
		{ "idle-timeout", required_argument, NULL, OPT_IDLE },
		{ "request-timeout", required_argument, NULL,
		  OPT_REQUEST_TIMEOUT },
		{ "upload-timeout", required_argument, NULL,
		  OPT_UPLOAD_TIMEOUT },
		{ "max-uploads", required_argument, NULL, OPT_MAX_UPLOADS },
		{ "max-connections", required_argument, NULL,
		  OPT_MAX_CONNECTIONS },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*a = (struct serve_args){ .listen = "127.0.0.1:5000",
				  .config = rc->config_path,
				  .access_log = "-",
				  .idle_s = 60,
				  .request_s = 3600,
				  .upload_s = 600,
				  .max_uploads = 64,
				  .max_connections = 256 };
	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		unsigned long *count = NULL, max = 0;
		const char *what = NULL;

		switch (c) {
		case 'h':
		case OPT_HELP:
			a->help = true;
			return regctl_usage(serve_usage, false);
		case OPT_STORE: rc->store_path = optarg; break;
		case OPT_LISTEN: a->listen = optarg; break;
		case OPT_HTPASSWD: a->htpasswd = optarg; break;
		case OPT_AUTH_PULL: a->auth_pull = true; break;
		case OPT_RULES: a->rules = optarg; break;
		case OPT_ALLOW_DELETE: a->allow_delete = true; break;
		case OPT_MUTABLE:
			if (a->n_mutable == MUTABLE_MAX)
				return regctl_usage_error(
				    serve_usage, "--mutable-tags: at most %d",
				    MUTABLE_MAX);
			a->mutable_tags[a->n_mutable++] = optarg;
			break;
		case OPT_TLS_CERT: a->tls_cert = optarg; break;
		case OPT_TLS_KEY: a->tls_key = optarg; break;
		case OPT_UPSTREAM: a->upstream = optarg; break;
		case OPT_CONFIG: a->config = optarg; break;
		case OPT_ACCESS_LOG: a->access_log = optarg; break;
		case OPT_IDLE:
			count = &a->idle_s, max = 86400, what = "idle-timeout";
			break;
		case OPT_REQUEST_TIMEOUT:
			count = &a->request_s, max = 7 * 86400,
			what = "request-timeout";
			break;
		case OPT_UPLOAD_TIMEOUT:
			count = &a->upload_s, max = 7 * 86400,
			what = "upload-timeout";
			break;
		case OPT_MAX_UPLOADS:
			count = &a->max_uploads, max = 100000,
			what = "max-uploads";
			break;
		case OPT_MAX_CONNECTIONS:
			count = &a->max_connections, max = 100000,
			what = "max-connections";
			break;
		default: return regctl_option_error(argv, c, serve_usage);
		}
		if (count && parse_count(optarg, max, count))
			return regctl_usage_error(
			    serve_usage, "--%s: want a number from 1 to %lu",
			    what, max);
	}
	if (optind != argc)
		return regctl_usage_error(serve_usage, "unexpected '%s'",
					  argv[optind]);
	{
		const char *colon = strrchr(a->listen, ':');

		if (!colon || !colon[1])
			return regctl_usage_error(serve_usage,
						  "--listen '%s': want "
						  "ADDR:PORT",
						  a->listen);
	}
	if (!a->tls_cert != !a->tls_key)
		return regctl_usage_error(serve_usage,
					  "--tls-cert and --tls-key go "
					  "together");
	if ((a->auth_pull || a->rules) && !a->htpasswd)
		return regctl_usage_error(serve_usage,
					  "--auth-pull and --access-rules "
					  "need --htpasswd");
	return 0;
}

/* Block the signals that stop the server, so that only the main thread
 * takes them (sigwait) and the server's threads never do. */
static void block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int cmd_serve(int argc, char **argv, struct regctl *rc)
{
	struct serve_args a;
	struct rfs_error err = { 0 };
	struct rfs_config cfg = { 0 };
	struct rfs_store *store = NULL;
	struct rfs_pull *pull = NULL;
	struct rfs_registry *reg = NULL;
	struct rfs_access *access = NULL;
	struct serve *server = NULL;
	struct serve_options so = { 0 };
	FILE *log = NULL;
	unsigned port = 0;
	sigset_t set;
	int ret, r, sig;

	ret = parse_args(argc, argv, rc, &a);
	if (ret || a.help)
		return ret;
	block_signals(&set);
	rfs_audit_setup("regctl serve", NULL);
	ret = regctl_open_store(rc, RFS_STORE_CREATE, &store);
	if (ret)
		goto out;
	ret = REGCTL_EXIT_FAILURE;
	if (a.htpasswd) {
		r = rfs_access_load(a.htpasswd, a.rules, &access, &err);
		if (r) {
			regctl_error("%s", rfs_error_message(&err, r));
			goto out;
		}
	}
	r = rfs_pull_config_for_store(store, &cfg, a.config, a.upstream, &err);
	/* A seal hook that cannot run stops the server at start. */
	if (!r)
		r = rfs_config_apply_seal_hook(&cfg, store, &err);
	/* Always a pull-through cache, if one with no upstream: it is
	 * what applies the require_signature policy. */
	if (!r)
		r = rfs_pull_new(store, &cfg, &pull, &err);
	if (r) {
		regctl_error("%s", rfs_error_message(&err, r));
		goto out;
	}
	struct rfs_registry_options ro = {
		.mutable_tags = a.mutable_tags,
		.n_mutable_tags = a.n_mutable,
		.max_uploads = (unsigned)a.max_uploads,
		.upload_idle_ns = (int64_t)a.upload_s * 1000000000,
		.pull = pull,
		.check_signatures = true,
	};
	r = rfs_registry_new(store, &ro, &reg, &err);
	if (r) {
		regctl_error("%s", rfs_error_message(&err, r));
		goto out;
	}
	if (strcmp(a.access_log, "-") == 0) {
		so.access_log = stderr;
	} else if (strcmp(a.access_log, "off") != 0) {
		log = fopen(a.access_log, "ae");
		if (!log) {
			regctl_error("cannot open '%s': %s", a.access_log,
				     strerror(errno));
			goto out;
		}
		so.access_log = log;
	}
	if (a.tls_cert) {
		so.tls_cert = read_small_file(a.tls_cert);
		so.tls_key = read_small_file(a.tls_key);
		if (!so.tls_cert || !so.tls_key) {
			regctl_error("cannot read '%s'",
				     so.tls_cert ? a.tls_key : a.tls_cert);
			goto out;
		}
	}
	so.listen = a.listen;
	so.store = store;
	so.reg = reg;
	so.access = access;
	so.auth_pull = a.auth_pull;
	so.allow_delete = a.allow_delete;
	so.upstreams = &cfg;
	so.idle_timeout_s = (unsigned)a.idle_s;
	so.request_timeout_s = (unsigned)a.request_s;
	so.max_connections = (unsigned)a.max_connections;
	r = serve_start(&so, &server, &port, &err);
	if (r) {
		regctl_error("%s", rfs_error_message(&err, r));
		goto out;
	}
	fprintf(stderr, "regctl serve: serving '%s' on %s (port %u)%s\n",
		rfs_store_root(store), a.listen, port,
		a.tls_cert ? " over TLS" : "");
	fflush(stderr);
	while (sigwait(&set, &sig) == 0 && sig != SIGINT && sig != SIGTERM)
		;
	fprintf(stderr, "regctl serve: stopping (Ctrl-C again to quit at "
			"once)\n");
	/* The requests under way finish (those waiting for a download are
	 * answered, failed, at once); a second signal, unblocked with its
	 * default action, does not wait for them. Nothing a kill interrupts
	 * leaves the store inconsistent. */
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	rfs_pull_close(pull);
	ret = REGCTL_EXIT_OK;
out:
	serve_stop(&server);
	rfs_registry_free(&reg);
	rfs_pull_free(&pull);
	rfs_config_release(&cfg);
	rfs_access_free(&access);
	if (log)
		fclose(log);
	if (so.tls_key)
		explicit_bzero(so.tls_key, strlen(so.tls_key));
	free(so.tls_cert);
	free(so.tls_key);
	rfs_store_close(&store);
	return ret;
}
