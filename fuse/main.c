/*
 * main.c - regfs, the daemon: parse the command line, open the store, mount
 * and serve until unmounted.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "audit.h"
#include "config.h"
#include "credentials.h"
#include "files.h"
#include "seal-hook.h"
#include "inode.h"
#include "regfs.h"
#include "versions.h"

enum { KEY_FSNAME, KEY_SUBTYPE, KEY_MAX_READ };

struct options {
	char *store;
	char *upstream;
	char *config;
	char *cache_max;
	bool has_fsname; /* given on the command line: keep the user's */
	bool has_subtype;
	unsigned max_read; /* -o max_read=, which libfuse also takes */
	char *log;
	char *publish; /* "close" (the default) or "rename" */
	int no_passthrough;
	int dumpable;
	int show_help;
	int show_version;
};

#define OPT(t, p)                                 \
	{                                         \
		t, offsetof(struct options, p), 1 \
	}
static const struct fuse_opt option_spec[] = {
	OPT("log=%s", log),
	OPT("upstream=%s", upstream),
	OPT("config=%s", config),
	OPT("cache_max=%s", cache_max),
	OPT("publish=%s", publish),
	OPT("no_passthrough", no_passthrough),
	OPT("dumpable", dumpable),
	OPT("-h", show_help),
	OPT("--help", show_help),
	OPT("-V", show_version),
	OPT("--version", show_version),
	FUSE_OPT_KEY("fsname=", KEY_FSNAME),
	FUSE_OPT_KEY("subtype=", KEY_SUBTYPE),
	FUSE_OPT_KEY("max_read=", KEY_MAX_READ),
	FUSE_OPT_END
};

static void usage(const char *progname)
{
	printf(
	    "usage: %s STORE MOUNTPOINT [-f] [-d] [-s] [-o OPT[,OPT...]]\n"
	    "\n"
	    "Show the artifact registry kept in STORE as a directory tree:\n"
	    "  MOUNTPOINT/registry/REPO/TAG   sealed tags, read-only\n"
	    "  MOUNTPOINT/incoming/REPO/TAG   write here to publish\n"
	    "\n"
	    "regfs options:\n"
	    "    -o upstream=URL        pull through from the registry at URL\n"
	    "    -o config=FILE         upstreams, cache and seal hook, as in\n"
	    "                           regfs.conf(5) (default " RFS_CONFIG_DEFAULT_PATH
	    ")\n"
	    "    -o cache_max=SIZE      keep at most SIZE (K, M, G) of fetched\n"
	    "                           content, evicting the least recently used\n"
	    "    -o no_passthrough      serve every read from the daemon, not by\n"
	    "                           kernel passthrough of the blob files\n"
	    "    -o publish=rename      seal a file in incoming/ only when it is\n"
	    "                           renamed onto a tag name, never on close\n"
	    "                           (for NFS re-export); default: close\n"
	    "    -o log=FILE            append log lines to FILE\n"
	    "    -o dumpable            allow core dumps and ptrace by the\n"
	    "                           user (for debugging: a core holds the\n"
	    "                           upstreams' credentials)\n"
	    "    -h, --help             show this help\n"
	    "    -V, --version          show the version\n"
	    "\n",
	    progname);
}

/* STORE is the first argument that is not an option; the mountpoint, the
 * second, is left for fuse_parse_cmdline(). */
static int opt_proc(void *data, const char *arg, int key,
		    struct fuse_args *outargs)
{
	struct options *opts = data;

	if (key == FUSE_OPT_KEY_NONOPT && !opts->store) {
		opts->store = strdup(arg);
		return 0;
	}
	if (key == KEY_FSNAME)
		opts->has_fsname = true;
	if (key == KEY_SUBTYPE)
		opts->has_subtype = true;
	if (key == KEY_MAX_READ &&
	    (sscanf(arg, "max_read=%u", &opts->max_read) != 1 ||
	     opts->max_read < 4096)) {
		fprintf(stderr,
			"regfs: -o %s: a number of bytes, 4096 or more\n", arg);
		return -1;
	}
	return 1;
}

static void log_error_line(const char *message)
{
	regfs_log(REGFS_LOG_ERROR, "%s", message);
}

/* A failure before the mount: said on stderr, where whoever started the
 * daemon looks, and logged, once each. */
static void start_error(const char *message)
{
	if (!regfs_log_is_stderr())
		fprintf(stderr, "regfs: %s\n", message);
	regfs_log(REGFS_LOG_ERROR, "%s", message);
}

/* The daemon changes to / when it goes to the background. */
static char *absolute_path(const char *path)
{
	char cwd[PATH_MAX], *out;

	if (path[0] == '/')
		return strdup(path);
	if (!getcwd(cwd, sizeof(cwd)))
		return NULL;
	if (asprintf(&out, "%s/%s", cwd, path) < 0)
		return NULL;
	return out;
}

/* Every open blob a reader holds and every staged file being written costs
 * a descriptor: take all the system allows this process, so that busy
 * readers do not turn into EIO and EMFILE at the soft limit (often 1024). */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		regfs_log(REGFS_LOG_ERROR,
			  "cannot raise the descriptor limit to %llu: %s",
			  (unsigned long long)rl.rlim_max, strerror(errno));
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct options opts = { 0 };
	struct fuse_cmdline_opts cmd = { 0 };
	struct fuse_loop_config *loop = NULL;
	struct fuse_session *se = NULL;
	struct regfs fs = { 0 };
	struct rfs_error err = { 0 };
	struct rfs_config cfg = { 0 };
	struct rfs_incoming_options inc_opts = { 0 };
	char *store = NULL, *fsname = NULL;
	int64_t mount = 0;
	int rc, ret = 1;

	pthread_mutex_init(&fs.open_lock, NULL);
	pthread_mutex_init(&fs.wait_lock, NULL);
	if (fuse_opt_parse(&args, &opts, option_spec, opt_proc) != 0) {
		ret = 2;
		goto out_args;
	}
	if (opts.show_version) {
		printf("regfs %s (libfuse %s)\n", REGFS_VERSION,
		       fuse_pkgversion());
		ret = 0;
		goto out_args;
	}
	if (opts.show_help) {
		usage(argv[0]);
		fuse_cmdline_help();
		fuse_lowlevel_help();
		ret = 0;
		goto out_args;
	}
	if (fuse_parse_cmdline(&args, &cmd) != 0) {
		ret = 2;
		goto out_args;
	}
	/* Before any credential is read: no core dump holds one. */
	if (!opts.dumpable && rfs_credentials_protect_process() < 0)
		fprintf(stderr, "regfs: cannot turn core dumps off: %s\n",
			strerror(errno));
	if (opts.publish && strcmp(opts.publish, "close") != 0 &&
	    strcmp(opts.publish, "rename") != 0) {
		fprintf(stderr,
			"regfs: -o publish= takes close or rename, not '%s'\n",
			opts.publish);
		ret = 2;
		goto out_cmd;
	}
	if (!opts.store || !cmd.mountpoint) {
		fprintf(stderr,
			"usage: %s STORE MOUNTPOINT [options]\n"
			"try '%s --help' for more\n",
			argv[0], argv[0]);
		ret = 2;
		goto out_cmd;
	}

	store = absolute_path(opts.store);
	if (!store) {
		fprintf(stderr, "regfs: cannot resolve '%s'\n", opts.store);
		goto out_cmd;
	}
	regfs_log_open(opts.log, cmd.foreground, cmd.debug);
	raise_nofile();
	rfs_audit_setup("regfs", log_error_line);
	/* Reaching such a store would go through the mount it serves: the
	 * daemon would wait on itself. */
	rc = rfs_path_within(store, cmd.mountpoint);
	if (rc == 1) {
		rfs_error_set(&err, -ELOOP,
			      "store '%s' is inside the mount point '%s': "
			      "put the store elsewhere",
			      store, cmd.mountpoint);
		start_error(err.msg);
		goto out_log;
	}
	rc = rfs_store_open(store, RFS_STORE_CREATE, &fs.store, &err);
	if (rc) {
		start_error(rfs_error_message(&err, rc));
		goto out_log;
	}
	/* Inode numbers and generations that hold across restarts, for NFS
	 * file handles; staged ids above every earlier mount's. */
	rc = rfs_catalog_export_ids(rfs_store_catalog(fs.store), &fs.generation,
				    &mount);
	if (rc) {
		fprintf(stderr, "regfs: cannot read the catalog's ids: %s\n",
			strerror(-rc));
		goto out_store;
	}
	inc_opts.first_id = rfs_ino_first_staged(mount);
	inc_opts.seal_on_rename =
	    opts.publish && !strcmp(opts.publish, "rename");
	if (rfs_incoming_new(fs.store, &inc_opts, &fs.incoming) != 0)
		goto out_store;
	if (rfs_pending_new(fs.store, inc_opts.first_id, &fs.pending) != 0)
		goto out_incoming;
	if (rfs_versions_new(rfs_store_catalog(fs.store), 0, &fs.versions))
		goto out_incoming;
	rc = rfs_config_from_options(&cfg, opts.config, opts.upstream,
				     opts.cache_max, &err);
	/* A hook that cannot run stops the mount here: never a publish
	 * that goes unscanned, nor one refused with no word at start. */
	if (!rc)
		rc = rfs_config_apply_seal_hook(&cfg, fs.store, &err);
	if (!rc && cfg.seal_hook)
		regfs_log(REGFS_LOG_INFO, "seal hook '%s' (timeout %lld ms)",
			  cfg.seal_hook,
			  (long long)(cfg.seal_hook_timeout_ms
					  ? cfg.seal_hook_timeout_ms
					  : RFS_SEAL_HOOK_TIMEOUT_MS_DEFAULT));
	fs.open_timeout_ms = cfg.open_timeout_ms ? cfg.open_timeout_ms
						 : RFS_OPEN_TIMEOUT_MS_DEFAULT;
	if (!rc)
		rc = rfs_pull_new(fs.store, &cfg, &fs.pull, &err);
	if (!rc)
		rfs_pull_set_log(fs.pull, log_error_line);
	/* So that regctl finds the upstream of -o upstream= again. */
	if (!rc && opts.upstream) {
		struct rfs_error kept = { 0 };
		int r =
		    rfs_pull_remember_default(fs.store, opts.upstream, &kept);

		if (r)
			regfs_log(REGFS_LOG_ERROR, "%s",
				  rfs_error_message(&kept, r));
	}
	rfs_incoming_set_max_files(fs.incoming, cfg.incoming_max_files);
	/* A smaller cache_max than last time applies from the start. */
	if (!rc && cfg.cache_max)
		rfs_pull_evict(fs.pull, cfg.cache_max, NULL);
	if (rc) {
		start_error(rfs_error_message(&err, rc));
		goto out_incoming;
	}
	fs.uid = getuid();
	fs.gid = getgid();
	clock_gettime(CLOCK_REALTIME, &fs.started);

	/* Name the mount after its store, as mount(8) and df show it. */
	if (!opts.has_fsname && (asprintf(&fsname, "-ofsname=%s", store) < 0 ||
				 fuse_opt_add_arg(&args, fsname) != 0))
		goto out_incoming;
	if (!opts.has_subtype &&
	    fuse_opt_add_arg(&args, "-osubtype=regfs") != 0)
		goto out_incoming;
	/* READs of 512 KiB at most unless told otherwise: libfuse splices a
	 * reply from the blob file only when it fits its pipe (1 MiB, the
	 * kernel's pipe-max-size) with three pages to spare; a READ of 1 MiB
	 * it copies through our memory, at twice the daemon's CPU. libfuse
	 * wants the mount option and INIT's max_read to agree. */
	if (!opts.max_read) {
		opts.max_read = 512 * 1024;
		if (fuse_opt_add_arg(&args, "-omax_read=524288") != 0)
			goto out_incoming;
	}
	fs.max_read = opts.max_read;

	se = fuse_session_new(&args, &regfs_ops, sizeof(regfs_ops), &fs);
	if (!se)
		goto out_incoming;
	fs.se = se;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_session;
	if (fuse_session_mount(se, cmd.mountpoint) != 0)
		goto out_signals;
	if (regfs_passthrough_start(&fs, store, !opts.no_passthrough) != 0)
		goto out_unmount;
	regfs_log(REGFS_LOG_INFO, "serving '%s' at '%s'", store,
		  cmd.mountpoint);
	if (fuse_daemonize(cmd.foreground) != 0)
		goto out_unmount;
	/* A SQLite connection must not cross a fork: its locks stayed
	 * with the parent, and regctl would rebuild the WAL index under
	 * us. */
	if (!cmd.foreground) {
		rc = rfs_catalog_reopen(rfs_store_catalog(fs.store), &err);
		if (rc) {
			regfs_log(REGFS_LOG_ERROR, "%s",
				  rfs_error_message(&err, rc));
			goto out_unmount;
		}
	}
	/* After daemonizing: threads do not survive its fork. */
	if (regfs_watch_start(&fs) != 0 || regfs_offload_start(&fs) != 0)
		goto out_unmount;

	if (cmd.singlethread) {
		ret = fuse_session_loop(se);
	} else {
		loop = fuse_loop_cfg_create();
		if (!loop)
			goto out_unmount;
		fuse_loop_cfg_set_clone_fd(loop, cmd.clone_fd);
		/* UINT_MAX means "not given" to fuse_parse_cmdline(). Not
		 * given, libfuse's 10 threads: with 64, cold reads without
		 * passthrough through NFSv4 went at 0.83 of ext4's speed
		 * against 0.92 (medians of 7 noisy rounds, 2 CPUs). */
		if (cmd.max_idle_threads != UINT_MAX)
			fuse_loop_cfg_set_idle_threads(loop,
						       cmd.max_idle_threads);
		if (cmd.max_threads > 0 && cmd.max_threads < UINT_MAX)
			fuse_loop_cfg_set_max_threads(loop, cmd.max_threads);
		ret = fuse_session_loop_mt(se, loop);
	}
	/* The loop returns a signal number when one ended it: a clean end. */
	ret = ret < 0 ? 1 : 0;
	regfs_log(REGFS_LOG_INFO, "unmounted '%s'", cmd.mountpoint);
	fuse_loop_cfg_destroy(loop);
out_unmount:
	/* Requests served on offload threads, downloads under way (which
	 * answer opens from their threads) and the watcher talk to the
	 * kernel: they end while the session they use still exists. The
	 * offload threads first: they use the upstreams. */
	regfs_offload_stop(&fs);
	rfs_pull_free(&fs.pull);
	regfs_watch_stop(&fs);
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
	regfs_open_free_all(&fs);
	regfs_passthrough_free(&fs);
out_incoming:
	free(fsname);
	rfs_pull_free(&fs.pull);
	rfs_config_release(&cfg);
	rfs_versions_free(&fs.versions);
	rfs_pending_free(&fs.pending);
	rfs_incoming_free(&fs.incoming);
out_store:
	rfs_store_close(&fs.store);
out_log:
	regfs_log_close();
	free(store);
out_cmd:
	free(cmd.mountpoint);
out_args:
	free(opts.store);
	free(opts.log);
	free(opts.upstream);
	free(opts.config);
	free(opts.cache_max);
	free(opts.publish);
	fuse_opt_free_args(&args);
	return ret;
}
