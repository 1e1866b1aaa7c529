/*
 * cmd-login.c - "regctl login REGISTRY" and "regctl logout REGISTRY": save
 * or remove a registry's credentials in regfs's credentials file, the one
 * the daemon reads (credentials.h).
 *
 * What it promises: credentials are saved only after the registry accepted
 * them (GET /v2/ with them, through the basic or the bearer-token flow);
 * the password is never taken from the command line (where ps shows it),
 * never echoed and never printed; buffers that held it are wiped; a prompt
 * interrupted by a signal leaves the terminal echoing again.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "credentials.h"
#include "regctl-remote.h"
#include "regctl.h"

/* A password (or an identity token) longer than this is not one. */
#define SECRET_MAX   (64 * 1024)
#define USERNAME_MAX 256

static const char login_usage[] =
    "usage: regctl login [-u USER] [--password-stdin] [--plain-http] "
    "REGISTRY\n"
    "\n"
    "Log in to REGISTRY (HOST[:PORT]): check the credentials against it\n"
    "(GET /v2/, HTTP basic or the bearer-token flow) and, once it accepted\n"
    "them, save them in regfs's credentials file, mode 0600:\n"
    "$REGFS_CREDENTIALS, else $XDG_CONFIG_HOME/regfs/credentials.json, else\n"
    "~/.config/regfs/credentials.json. The daemon and regctl read it, then\n"
    "Docker's config.json. Nothing is saved when the registry refuses them.\n"
    "\n"
    "The password is read from standard input with --password-stdin (one\n"
    "final newline dropped), else asked on the terminal without echo; it is\n"
    "never taken from the command line.\n"
    "\n"
    "  -u, --username USER  the user name (asked on the terminal when not\n"
    "                  given; required with --password-stdin)\n"
    "  --password-stdin  read the password from standard input\n" REGCTL_PLAIN_HTTP_HELP
    "  -h, --help      show this help\n";

static const char logout_usage[] =
    "usage: regctl logout REGISTRY\n"
    "\n"
    "Remove the credentials of REGISTRY (HOST[:PORT]) from regfs's\n"
    "credentials file. Docker's config.json is left alone ('docker logout'\n"
    "is for it).\n"
    "\n"
    "  -h, --help      show this help\n";

static void wipe_free(char *s, size_t size)
{
	if (s) {
		explicit_bzero(s, size);
		free(s);
	}
}

/* ---- the terminal ---- */

static struct termios saved_termios;
static volatile sig_atomic_t echo_off;

static const int prompt_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT,
				      SIGTSTP };
#define NR_PROMPT_SIGNALS (sizeof(prompt_signals) / sizeof(prompt_signals[0]))

/* Give the terminal its echo back, then die of the signal as if we had
 * not caught it. */
static void on_prompt_signal(int sig)
{
	if (echo_off)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_termios);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Read one line from the terminal on stdin into buf (size bytes, the line
 * without its newline). Returns 0, -EIO on end of input or a read error,
 * -E2BIG when it is longer than buf. */
static int read_line(char *buf, size_t size)
{
	size_t n = 0;
	int r = 0;

	for (;;) {
		char c;
		ssize_t got = read(STDIN_FILENO, &c, 1);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			r = -EIO;
			break;
		}
		if (c == '\n')
			break;
		if (n + 1 >= size) {
			r = -E2BIG; /* read on to the newline, drop it all */
			continue;
		}
		buf[n++] = c;
	}
	buf[n] = '\0';
	if (n && buf[n - 1] == '\r')
		buf[n - 1] = '\0';
	if (r < 0)
		explicit_bzero(buf, size);
	return r;
}

/* Print prompt on stderr and read a line from the terminal, echoing it or
 * not. */
static int prompt(const char *text, bool echo, char *buf, size_t size)
{
	struct sigaction sa = { .sa_handler = on_prompt_signal };
	struct sigaction old[NR_PROMPT_SIGNALS];
	struct termios quiet;
	int r;

	fputs(text, stderr);
	fflush(stderr);
	if (echo)
		return read_line(buf, size);

	if (tcgetattr(STDIN_FILENO, &saved_termios) < 0)
		return -errno;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < NR_PROMPT_SIGNALS; i++)
		sigaction(prompt_signals[i], &sa, &old[i]);
	quiet = saved_termios;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK);
	quiet.c_lflag |= ECHONL;
	echo_off = 1;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) < 0) {
		r = -errno;
	} else {
		r = read_line(buf, size);
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_termios);
	}
	echo_off = 0;
	for (size_t i = 0; i < NR_PROMPT_SIGNALS; i++)
		sigaction(prompt_signals[i], &old[i], NULL);
	return r;
}

/* All of stdin into buf (size bytes), without one final "\n" (or
 * "\r\n"). Returns 0, -E2BIG when it does not fit, -EINVAL when it holds a
 * NUL, or another negative errno. */
static int read_stdin_secret(char *buf, size_t size)
{
	size_t n = 0;

	for (;;) {
		ssize_t got;

		if (n + 1 >= size)
			return -E2BIG;
		got = read(STDIN_FILENO, buf + n, size - 1 - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0)
			break;
		n += (size_t)got;
	}
	buf[n] = '\0';
	if (memchr(buf, '\0', n))
		return -EINVAL;
	if (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	if (n && buf[n - 1] == '\r')
		buf[--n] = '\0';
	return 0;
}

/* ---- login ---- */

/* GET /v2/ with the credentials given outright. Returns 0, or prints why
 * and returns REGCTL_EXIT_FAILURE. */
static int check_login(const char *host, bool plain_http, char *user,
		       char *password)
{
	struct rfs_upstream_config cfg;
	struct rfs_upstream *up = NULL;
	struct rfs_error err = { 0 };
	int r, ret = REGCTL_EXIT_OK;

	if (regctl_remote_config(host, plain_http, &cfg) < 0)
		return regctl_error("out of memory");
	cfg.username = user;
	cfg.password = password;
	r = rfs_upstream_new(&cfg, &up, &err);
	/* The upstream keeps a copy; these strings are not cfg's to free. */
	cfg.username = cfg.password = NULL;
	rfs_upstream_config_release(&cfg);
	if (!r)
		r = rfs_upstream_ping(up, &err);
	if (r < 0)
		ret = regctl_error("login to '%s' failed: %s%s", host,
				   regctl_upstream_message(&err, r),
				   regctl_plain_http_hint(host, plain_http, r));
	rfs_upstream_free(&up);
	return ret;
}

int cmd_login(int argc, char **argv, struct regctl *rc)
{
	enum {
		OPT_HELP = REGCTL_OPT_LONG,
		OPT_USERNAME,
		OPT_PASSWORD_STDIN,
		OPT_PLAIN_HTTP,
	};
	static const struct option options[] = {
		{ "help", no_argument, NULL, OPT_HELP },
		{ "username", required_argument, NULL, OPT_USERNAME },
		{ "password-stdin", no_argument, NULL, OPT_PASSWORD_STDIN },
		{ "plain-http", no_argument, NULL, OPT_PLAIN_HTTP },
		{ NULL, 0, NULL, 0 },
	};
	char host[RFS_HOST_MAX + 1];
	char *user = NULL, *password = NULL;
	const char *user_arg = NULL;
	bool password_stdin = false, plain_http = false;
	struct rfs_error err = { 0 };
	int c, r, ret;

	(void)rc;
	while ((c = getopt_long(argc, argv, ":hu:", options, NULL)) != -1) {
		switch (c) {
		case 'h':
		case OPT_HELP: return regctl_usage(login_usage, false);
		case 'u':
		case OPT_USERNAME: user_arg = optarg; break;
		case OPT_PASSWORD_STDIN: password_stdin = true; break;
		case OPT_PLAIN_HTTP: plain_http = true; break;
		default: return regctl_option_error(argv, c, login_usage);
		}
	}
	if (optind == argc)
		return regctl_usage_error(login_usage, "no registry given");
	if (argc - optind > 1)
		return regctl_usage_error(
		    login_usage, "unexpected argument '%s'", argv[optind + 1]);
	ret = regctl_parse_registry(login_usage, argv[optind], host,
				    sizeof(host));
	if (ret)
		return ret;
	if (password_stdin && !user_arg)
		return regctl_usage_error(login_usage,
					  "--password-stdin needs --username");
	if (!password_stdin && !isatty(STDIN_FILENO))
		return regctl_usage_error(
		    login_usage, "no terminal to ask the password on: use "
				 "--password-stdin");

	user = calloc(1, USERNAME_MAX);
	password = calloc(1, SECRET_MAX);
	if (!user || !password) {
		ret = regctl_error("out of memory");
		goto out;
	}
	if (user_arg) {
		if (strlen(user_arg) >= USERNAME_MAX) {
			ret = regctl_usage_error(login_usage,
						 "user name too long");
			goto out;
		}
		strcpy(user, user_arg);
	} else {
		r = prompt("Username: ", true, user, USERNAME_MAX);
		if (r < 0) {
			ret = regctl_error("cannot read the user name: %s",
					   r == -E2BIG ? "too long"
						       : strerror(-r));
			goto out;
		}
	}
	if (!*user || strchr(user, ':')) {
		ret = regctl_usage_error(
		    login_usage,
		    "a user name must be non-empty and without ':'");
		goto out;
	}
	if (password_stdin)
		r = read_stdin_secret(password, SECRET_MAX);
	else
		r = prompt("Password: ", false, password, SECRET_MAX);
	if (r < 0) {
		ret = regctl_error("cannot read the password: %s",
				   r == -E2BIG	  ? "too long"
				   : r == -EINVAL ? "it holds a NUL byte"
						  : strerror(-r));
		goto out;
	}
	if (!*password) {
		ret = regctl_usage_error(login_usage, "empty password");
		goto out;
	}

	ret = check_login(host, plain_http, user, password);
	if (ret)
		goto out;
	r = rfs_credentials_store(host, user, password, &err);
	if (r < 0) {
		ret = regctl_error("cannot save the credentials for '%s': %s",
				   host, rfs_error_message(&err, r));
		goto out;
	}
	printf("Login Succeeded\n");
	ret = REGCTL_EXIT_OK;
out:
	wipe_free(user, USERNAME_MAX);
	wipe_free(password, SECRET_MAX);
	return ret;
}

/* ---- logout ---- */

/* Does Docker's config.json (or any source "auto" reads) still hold
 * credentials for host? */
static bool docker_has(const char *host)
{
	struct rfs_credential cred = { 0 };
	bool found = rfs_credentials_lookup(host, "auto", &cred, NULL) == 0;

	rfs_credential_release(&cred);
	return found;
}

int cmd_logout(int argc, char **argv, struct regctl *rc)
{
	enum { OPT_HELP = REGCTL_OPT_LONG };
	static const struct option options[] = {
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	char host[RFS_HOST_MAX + 1];
	struct rfs_error err = { 0 };
	int c, r, ret;

	(void)rc;
	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (c) {
		case 'h':
		case OPT_HELP: return regctl_usage(logout_usage, false);
		default: return regctl_option_error(argv, c, logout_usage);
		}
	}
	if (optind == argc)
		return regctl_usage_error(logout_usage, "no registry given");
	if (argc - optind > 1)
		return regctl_usage_error(
		    logout_usage, "unexpected argument '%s'", argv[optind + 1]);
	ret = regctl_parse_registry(logout_usage, argv[optind], host,
				    sizeof(host));
	if (ret)
		return ret;

	r = rfs_credentials_erase(host, &err);
	if (r == -ENOENT) {
		if (docker_has(host))
			return regctl_error(
			    "not logged in to '%s' with regctl (Docker's "
			    "config.json holds credentials for it: 'docker "
			    "logout %s' removes them)",
			    host, host);
		return regctl_error("not logged in to '%s'", host);
	}
	if (r < 0)
		return regctl_error(
		    "cannot remove the credentials for '%s': %s", host,
		    rfs_error_message(&err, r));
	printf("Removing login credentials for %s\n", host);
	if (docker_has(host))
		fprintf(stderr,
			"regctl: Docker's config.json still holds credentials "
			"for '%s' ('docker logout %s' removes them)\n",
			host, host);
	return REGCTL_EXIT_OK;
}
