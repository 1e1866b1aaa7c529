/*
 * log.c - where the daemon's log lines go.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>
#include <time.h>

#include "regfs.h"

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
	char msg[1024];
	va_list ap;

	if (level == REGFS_LOG_DEBUG && !log_debug)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
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
