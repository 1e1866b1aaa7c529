/*
 * log.c - where the daemon's log lines go.
 *
 * Every line is escaped as a whole (text.h) before it is written: names,
 * annotation values, an upstream's headers and messages reach it through
 * core's error messages, and one escape here keeps each event one line of
 * printable text whatever they hold.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "regfs.h"
#include "text.h"

static FILE *log_file;
static bool log_syslog;
static bool log_debug;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void regfs_log_open(const char *file, bool foreground, bool debug)
{
	log_debug = debug;
	if (file) {
		log_file = fopen(file, "ae");
		if (log_file) {
			setvbuf(log_file, NULL, _IOLBF, 0);
			return;
		}
		fprintf(stderr, "regfs: cannot open log file '%s', using %s\n",
			file, foreground ? "stderr" : "syslog");
	}
	if (!foreground) {
		openlog("regfs", LOG_PID, LOG_DAEMON);
		log_syslog = true;
	}
}

void regfs_log(enum regfs_log_level level, const char *fmt, ...)
{
	static const char *const prefix[] = { "error: ", "", "debug: " };
	char raw[1024], msg[4 * sizeof(raw) + 32];
	va_list ap;
	int n;

	if (level == REGFS_LOG_DEBUG && !log_debug)
		return;
	va_start(ap, fmt);
	n = vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(raw)) {
		rfs_text_escape(msg, sizeof(msg), raw, (size_t)n, RFS_TEXT_ALL);
	} else {
		size_t len = strlen(rfs_text_escape(
		    msg, sizeof(msg) - 32, raw, sizeof(raw) - 1, RFS_TEXT_ALL));

		snprintf(msg + len, sizeof(msg) - len, "...(%d bytes)", n);
	}
	if (log_syslog) {
		syslog(level == REGFS_LOG_ERROR ? LOG_ERR : LOG_INFO, "%s%s",
		       prefix[level], msg);
		return;
	}
	pthread_mutex_lock(&log_lock);
	if (log_file) {
		char stamp[32];
		time_t now = time(NULL);
		struct tm tm;

		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ",
			 gmtime_r(&now, &tm));
		fprintf(log_file, "%s regfs: %s%s\n", stamp, prefix[level],
			msg);
	} else {
		fprintf(stderr, "regfs: %s%s\n", prefix[level], msg);
	}
	pthread_mutex_unlock(&log_lock);
}

bool regfs_log_is_stderr(void)
{
	return !log_file && !log_syslog;
}

void regfs_log_close(void)
{
	if (log_file)
		fclose(log_file);
	log_file = NULL;
	if (log_syslog)
		closelog();
	log_syslog = false;
}
