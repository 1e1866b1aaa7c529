/*
 * nfs-handle - an NFS client that keeps one file handle, for tests of
 * handles that must outlive a restart (of regfs under nfs-ganesha, of
 * ganesha, of both) or the eviction of the server's inodes. It speaks the
 * raw protocol through libnfs (NFSv3 with MOUNT, or NFSv4.0), so what it
 * sends is exactly one request per step and what it prints is the server's
 * own status.
 *
 *   nfs-handle [-4] [-p NFSPORT] [-H HEX] SERVER EXPORT PATH [COMMAND...]
 *
 * It looks up EXPORT/PATH (NFSv3: MNT EXPORT, then LOOKUP each component
 * of PATH; NFSv4: PUTROOTFH, LOOKUP each component of EXPORT and PATH,
 * GETFH) and prints "handle HEX", or takes the handle given with -H
 * without asking the server. Then it runs the COMMANDs, or, with none,
 * reads one command a line from standard input, so that a test can hold
 * the handle while it restarts things and then say "read". Commands, each
 * answered by one line on standard output that starts with the command's
 * name and the server's status (NFS3_OK, NFS3ERR_STALE, NFS4ERR_STALE,
 * NFS4ERR_SERVERFAULT...), or RPC_ERROR when no answer came:
 *
 *   handle     "handle HEX": the handle held
 *   getattr    GETATTR of the held handle: "getattr STATUS [type=T
 *              size=N fileid=N]"
 *   read       READ of the held handle from offset 0 to EOF (512 KiB a
 *              call; NFSv4 with the anonymous stateid): "read STATUS
 *              [bytes=N sha256=HEX]"
 *   lookup     look EXPORT/PATH up afresh: "lookup STATUS [HEX]"; the
 *              held handle does not change
 *   reconnect  close the connection; the next command opens a new one
 *              (as a client does after its server restarted): "reconnect OK"
 *   quit       exit
 *
 * A command that meets a broken connection (the server restarted)
 * reconnects once and sends again, as an NFS client's retransmission
 * would; the note goes to standard error. Each call waits at most
 * NFS_HANDLE_TIMEOUT seconds (default 20) for its answer.
 *
 * Exit status: 0 when every command was answered OK, 1 when one was not,
 * 2 on a usage error or when the first lookup failed.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nfsc/libnfs.h>
#include <nfsc/libnfs-raw.h>
#include <nfsc/libnfs-raw-mount.h>
#include <nfsc/libnfs-raw-nfs.h>
#include <nfsc/libnfs-raw-nfs4.h>

#include <openssl/evp.h>

#define MAX_FH	     128
#define READ_CHUNK   (512 * 1024)
#define MAX_COMPS    64
#define STATUS_SIZE  64
#define RPC_ERROR_ST "RPC_ERROR"

struct opts {
	int version; /* 3 or 4 */
	int port;    /* 0: ask the portmapper (v3) or 2049 (v4) */
	const char *server;
	const char *export;
	const char *path;
	int timeout_ms;
};

struct fh {
	unsigned int len;
	unsigned char val[MAX_FH];
};

/* One call in flight: what its callback found. */
struct call {
	int done;
	int ok;			  /* an answer came (any NFS status) */
	char status[STATUS_SIZE]; /* NFS3_OK, NFS4ERR_STALE, RPC_ERROR */
	char error[256];	  /* RPC failure text */
	struct fh fh;		  /* lookup, mount */
	/* getattr */
	int type;
	uint64_t size, fileid;
	/* read */
	uint32_t count;
	int eof;
	EVP_MD_CTX *md;
};

static struct rpc_context *conn;

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void disconnect(void)
{
	if (conn) {
		rpc_destroy_context(conn);
		conn = NULL;
	}
}

static void call_init(struct call *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->status, sizeof(c->status), "%s", RPC_ERROR_ST);
}

/* Records an RPC-level outcome; 1 when the reply is there to decode. */
static int call_answered(struct call *c, struct rpc_context *rpc, int status,
			 void *data)
{
	c->done = 1;
	if (status == RPC_STATUS_SUCCESS) {
		c->ok = 1;
		return 1;
	}
	if (status == RPC_STATUS_ERROR && data)
		snprintf(c->error, sizeof(c->error), "%s", (const char *)data);
	else if (status == RPC_STATUS_TIMEOUT)
		snprintf(c->error, sizeof(c->error), "timeout");
	else
		snprintf(c->error, sizeof(c->error), "cancelled");
	return 0;
}

/* A reply, copied out before it is read: libnfs 4.0's decoder does not
 * align what it allocates for the types it holds (UBSan says so). */
static void copy_reply(void *dst, const void *data, size_t size)
{
	memcpy(dst, data, size);
}

/* Serves RPC until the call is answered, the connection breaks or the
 * deadline passes. 0 when the call was answered. */
static int wait_call(struct rpc_context *rpc, struct call *c, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;

	while (!c->done) {
		struct pollfd pfd = { .fd = rpc_get_fd(rpc),
				      .events = (short)rpc_which_events(rpc) };
		int n = poll(&pfd, 1, 100);

		if (n < 0 && errno != EINTR) {
			snprintf(c->error, sizeof(c->error), "poll: %s",
				 strerror(errno));
			return -1;
		}
		if (rpc_service(rpc, n > 0 ? pfd.revents : 0) < 0) {
			if (c->done)
				break;
			snprintf(c->error, sizeof(c->error), "%s",
				 rpc_get_error(rpc));
			return -1;
		}
		if (!c->done && now_ms() > deadline) {
			snprintf(c->error, sizeof(c->error),
				 "no answer within %d ms", timeout_ms);
			return -1;
		}
	}
	return c->ok ? 0 : -1;
}

static void connect_cb(struct rpc_context *rpc, int status, void *data,
		       void *priv)
{
	call_answered(priv, rpc, status, data);
}

/* A new context connected to PROGRAM/VERSION on the server: at PORT, or
 * where the portmapper says. NULL (and a message) on failure. */
static struct rpc_context *rpc_open(const struct opts *o, int program,
				    int version, int port)
{
	struct rpc_context *rpc = rpc_init_context();
	struct call c;
	int rc;

	if (!rpc) {
		fprintf(stderr, "nfs-handle: rpc_init_context failed\n");
		return NULL;
	}
	call_init(&c);
	if (port > 0)
		rc = rpc_connect_port_async(rpc, o->server, port, program,
					    version, connect_cb, &c);
	else
		rc = rpc_connect_program_async(rpc, o->server, program, version,
					       connect_cb, &c);
	if (rc != 0 || wait_call(rpc, &c, o->timeout_ms) != 0) {
		fprintf(stderr,
			"nfs-handle: connect to %s program %d v%d: %s\n",
			o->server, program, version,
			rc != 0 ? rpc_get_error(rpc) : c.error);
		rpc_destroy_context(rpc);
		return NULL;
	}
	return rpc;
}

static int ensure_connected(const struct opts *o)
{
	if (conn)
		return 0;
	if (o->version == 4)
		conn = rpc_open(o, NFS4_PROGRAM, NFS_V4,
				o->port > 0 ? o->port : 2049);
	else
		conn = rpc_open(o, NFS_PROGRAM, NFS_V3, o->port);
	return conn ? 0 : -1;
}

/* Splits "a/b/c" (leading, trailing and double slashes ignored) into
 * COMPS, in place; the count, or -1 when there are too many. */
static int split_path(char *path, char **comps, int max, int n)
{
	char *save = NULL, *tok;

	for (tok = strtok_r(path, "/", &save); tok;
	     tok = strtok_r(NULL, "/", &save)) {
		if (n >= max)
			return -1;
		comps[n++] = tok;
	}
	return n;
}

/* --- NFSv3 ------------------------------------------------------------ */

static void mnt_cb(struct rpc_context *rpc, int status, void *data, void *priv)
{
	struct call *c = priv;
	mountres3 res;

	if (!call_answered(c, rpc, status, data))
		return;
	copy_reply(&res, data, sizeof(res));
	snprintf(c->status, sizeof(c->status), "%s",
		 mountstat3_to_str(res.fhs_status));
	if (res.fhs_status == MNT3_OK) {
		fhandle3 *h = &res.mountres3_u.mountinfo.fhandle;

		c->fh.len = h->fhandle3_len <= MAX_FH ? h->fhandle3_len : 0;
		memcpy(c->fh.val, h->fhandle3_val, c->fh.len);
	}
}

static void lookup3_cb(struct rpc_context *rpc, int status, void *data,
		       void *priv)
{
	struct call *c = priv;
	LOOKUP3res res;

	if (!call_answered(c, rpc, status, data))
		return;
	copy_reply(&res, data, sizeof(res));
	snprintf(c->status, sizeof(c->status), "%s",
		 nfsstat3_to_str(res.status));
	if (res.status == NFS3_OK) {
		nfs_fh3 *h = &res.LOOKUP3res_u.resok.object;

		c->fh.len = h->data.data_len <= MAX_FH ? h->data.data_len : 0;
		memcpy(c->fh.val, h->data.data_val, c->fh.len);
	}
}

/* MNT EXPORT on a connection of its own, then LOOKUP each component. */
static int lookup3(const struct opts *o, struct call *c)
{
	char *comps[MAX_COMPS];
	char *path = strdup(o->path);
	struct rpc_context *mnt;
	int n, i, rc = -1;

	call_init(c);
	if (!path)
		return -1;
	n = split_path(path, comps, MAX_COMPS, 0);
	if (n < 0)
		goto out;
	mnt = rpc_open(o, MOUNT_PROGRAM, MOUNT_V3, 0);
	if (!mnt)
		goto out;
	if (rpc_mount3_mnt_async(mnt, mnt_cb, (char *)o->export, c) != 0 ||
	    wait_call(mnt, c, o->timeout_ms) != 0) {
		rpc_destroy_context(mnt);
		goto out;
	}
	rpc_destroy_context(mnt);
	if (strcmp(c->status, "MNT3_OK") != 0)
		goto out;
	for (i = 0; i < n; i++) {
		struct fh dir = c->fh;
		LOOKUP3args args;

		if (ensure_connected(o) != 0)
			goto out;
		memset(&args, 0, sizeof(args));
		args.what.dir.data.data_len = dir.len;
		args.what.dir.data.data_val = (char *)dir.val;
		args.what.name = comps[i];
		call_init(c);
		if (rpc_nfs3_lookup_async(conn, lookup3_cb, &args, c) != 0 ||
		    wait_call(conn, c, o->timeout_ms) != 0) {
			disconnect();
			goto out;
		}
		if (strcmp(c->status, "NFS3_OK") != 0)
			goto out;
	}
	snprintf(c->status, sizeof(c->status), "NFS3_OK");
	rc = 0;
out:
	free(path);
	return rc;
}

static void getattr3_cb(struct rpc_context *rpc, int status, void *data,
			void *priv)
{
	struct call *c = priv;
	GETATTR3res res;

	if (!call_answered(c, rpc, status, data))
		return;
	copy_reply(&res, data, sizeof(res));
	snprintf(c->status, sizeof(c->status), "%s",
		 nfsstat3_to_str(res.status));
	if (res.status == NFS3_OK) {
		fattr3 *a = &res.GETATTR3res_u.resok.obj_attributes;

		c->type = a->type;
		c->size = a->size;
		c->fileid = a->fileid;
	}
}

static int getattr3(const struct opts *o, const struct fh *fh, struct call *c)
{
	GETATTR3args args;

	memset(&args, 0, sizeof(args));
	args.object.data.data_len = fh->len;
	args.object.data.data_val = (char *)fh->val;
	if (rpc_nfs3_getattr_async(conn, getattr3_cb, &args, c) != 0)
		return -1;
	return wait_call(conn, c, o->timeout_ms);
}

static void read3_cb(struct rpc_context *rpc, int status, void *data,
		     void *priv)
{
	struct call *c = priv;
	READ3res res;

	if (!call_answered(c, rpc, status, data))
		return;
	copy_reply(&res, data, sizeof(res));
	snprintf(c->status, sizeof(c->status), "%s",
		 nfsstat3_to_str(res.status));
	if (res.status == NFS3_OK) {
		READ3resok *ok = &res.READ3res_u.resok;

		c->count = ok->data.data_len;
		c->eof = ok->eof != 0;
		EVP_DigestUpdate(c->md, ok->data.data_val, ok->data.data_len);
	}
}

static int read3(const struct opts *o, const struct fh *fh, uint64_t off,
		 struct call *c)
{
	READ3args args;

	memset(&args, 0, sizeof(args));
	args.file.data.data_len = fh->len;
	args.file.data.data_val = (char *)fh->val;
	args.offset = off;
	args.count = READ_CHUNK;
	if (rpc_nfs3_read_async(conn, read3_cb, &args, c) != 0)
		return -1;
	return wait_call(conn, c, o->timeout_ms);
}

/* --- NFSv4.0 ------------------------------------------------------------ */

/* The status a COMPOUND reply gives: the first operation that failed, or
 * the compound's own. */
static void compound_status(struct call *c, const COMPOUND4res *res)
{
	snprintf(c->status, sizeof(c->status), "%s",
		 nfsstat4_to_str(res->status));
}

/* The I-th result of a compound, copied out: libnfs 4.0 decodes the
 * array at addresses not aligned for its type. */
static void resop(nfs_resop4 *r, const COMPOUND4res *res, unsigned int i)
{
	memcpy(r, (const char *)res->resarray.resarray_val + i * sizeof(*r),
	       sizeof(*r));
}

static void lookup4_cb(struct rpc_context *rpc, int status, void *data,
		       void *priv)
{
	struct call *c = priv;
	COMPOUND4res res;
	unsigned int i;

	if (!call_answered(c, rpc, status, data))
		return;
	copy_reply(&res, data, sizeof(res));
	compound_status(c, &res);
	if (res.status != NFS4_OK)
		return;
	for (i = 0; i < res.resarray.resarray_len; i++) {
		nfs_resop4 op, *r = &op;

		resop(&op, &res, i);

		if (r->resop == OP_GETFH) {
			nfs_fh4 *h =
			    &r->nfs_resop4_u.opgetfh.GETFH4res_u.resok4.object;

			c->fh.len =
			    h->nfs_fh4_len <= MAX_FH ? h->nfs_fh4_len : 0;
			memcpy(c->fh.val, h->nfs_fh4_val, c->fh.len);
		}
	}
}

static int compound4(const struct opts *o, nfs_argop4 *ops, unsigned int n,
		     rpc_cb cb, struct call *c)
{
	COMPOUND4args args;

	memset(&args, 0, sizeof(args));
	args.minorversion = 0;
	args.argarray.argarray_len = n;
	args.argarray.argarray_val = ops;
	if (rpc_nfs4_compound_async(conn, cb, &args, c) != 0)
		return -1;
	return wait_call(conn, c, o->timeout_ms);
}

static int lookup4(const struct opts *o, struct call *c)
{
	nfs_argop4 ops[2 * MAX_COMPS + 2];
	char *comps[2 * MAX_COMPS];
	char *exp = strdup(o->export), *path = strdup(o->path);
	int n, i, rc = -1;

	call_init(c);
	if (!exp || !path)
		goto out;
	n = split_path(exp, comps, 2 * MAX_COMPS, 0);
	if (n >= 0)
		n = split_path(path, comps, 2 * MAX_COMPS, n);
	if (n < 0)
		goto out;
	memset(ops, 0, sizeof(ops));
	ops[0].argop = OP_PUTROOTFH;
	for (i = 0; i < n; i++) {
		ops[i + 1].argop = OP_LOOKUP;
		ops[i + 1].nfs_argop4_u.oplookup.objname.utf8string_len =
		    strlen(comps[i]);
		ops[i + 1].nfs_argop4_u.oplookup.objname.utf8string_val =
		    comps[i];
	}
	ops[n + 1].argop = OP_GETFH;
	if (ensure_connected(o) != 0)
		goto out;
	if (compound4(o, ops, (unsigned int)n + 2, lookup4_cb, c) != 0) {
		disconnect();
		goto out;
	}
	rc = strcmp(c->status, "NFS4_OK") == 0 ? 0 : -1;
out:
	free(exp);
	free(path);
	return rc;
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const unsigned char *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static void getattr4_cb(struct rpc_context *rpc, int status, void *data,
			void *priv)
{
	struct call *c = priv;
	COMPOUND4res res;
	unsigned int i;

	if (!call_answered(c, rpc, status, data))
		return;
	copy_reply(&res, data, sizeof(res));
	compound_status(c, &res);
	if (res.status != NFS4_OK)
		return;
	for (i = 0; i < res.resarray.resarray_len; i++) {
		nfs_resop4 op, *r = &op;
		fattr4 *a;
		const unsigned char *p;
		uint32_t w0 = 0, w1 = 0;
		unsigned int left;

		resop(&op, &res, i);
		if (r->resop != OP_GETATTR)
			continue;
		a = &r->nfs_resop4_u.opgetattr.GETATTR4res_u.resok4
			 .obj_attributes;
		if (a->attrmask.bitmap4_len > 0)
			memcpy(&w0, a->attrmask.bitmap4_val, sizeof(w0));
		if (a->attrmask.bitmap4_len > 1)
			memcpy(&w1, (const char *)a->attrmask.bitmap4_val + 4,
			       sizeof(w1));
		p = (const unsigned char *)a->attr_vals.attrlist4_val;
		left = a->attr_vals.attrlist4_len;
		/* In bit order: type (1), size (4), fileid (20). */
		if (w0 & (1u << FATTR4_TYPE) && left >= 4) {
			c->type = (int)get32(p);
			p += 4;
			left -= 4;
		}
		if (w0 & (1u << FATTR4_SIZE) && left >= 8) {
			c->size = get64(p);
			p += 8;
			left -= 8;
		}
		if (w0 & (1u << FATTR4_FILEID) && left >= 8)
			c->fileid = get64(p);
		(void)w1;
	}
}

static int getattr4(const struct opts *o, const struct fh *fh, struct call *c)
{
	uint32_t mask[2] = {
		1u << FATTR4_TYPE | 1u << FATTR4_SIZE | 1u << FATTR4_FILEID, 0
	};
	nfs_argop4 ops[2];

	memset(ops, 0, sizeof(ops));
	ops[0].argop = OP_PUTFH;
	ops[0].nfs_argop4_u.opputfh.object.nfs_fh4_len = fh->len;
	ops[0].nfs_argop4_u.opputfh.object.nfs_fh4_val = (char *)fh->val;
	ops[1].argop = OP_GETATTR;
	ops[1].nfs_argop4_u.opgetattr.attr_request.bitmap4_len = 2;
	ops[1].nfs_argop4_u.opgetattr.attr_request.bitmap4_val = mask;
	return compound4(o, ops, 2, getattr4_cb, c);
}

static void read4_cb(struct rpc_context *rpc, int status, void *data,
		     void *priv)
{
	struct call *c = priv;
	COMPOUND4res res;
	unsigned int i;

	if (!call_answered(c, rpc, status, data))
		return;
	copy_reply(&res, data, sizeof(res));
	compound_status(c, &res);
	if (res.status != NFS4_OK)
		return;
	for (i = 0; i < res.resarray.resarray_len; i++) {
		nfs_resop4 op, *r = &op;

		resop(&op, &res, i);
		READ4resok *ok;

		if (r->resop != OP_READ)
			continue;
		ok = &r->nfs_resop4_u.opread.READ4res_u.resok4;
		c->count = ok->data.data_len;
		c->eof = ok->eof != 0;
		EVP_DigestUpdate(c->md, ok->data.data_val, ok->data.data_len);
	}
}

static int read4(const struct opts *o, const struct fh *fh, uint64_t off,
		 struct call *c)
{
	nfs_argop4 ops[2];

	memset(ops, 0, sizeof(ops));
	ops[0].argop = OP_PUTFH;
	ops[0].nfs_argop4_u.opputfh.object.nfs_fh4_len = fh->len;
	ops[0].nfs_argop4_u.opputfh.object.nfs_fh4_val = (char *)fh->val;
	/* The anonymous stateid (all zeros): a READ without an OPEN. */
	ops[1].argop = OP_READ;
	ops[1].nfs_argop4_u.opread.offset = off;
	ops[1].nfs_argop4_u.opread.count = READ_CHUNK;
	return compound4(o, ops, 2, read4_cb, c);
}

/* --- commands ----------------------------------------------------------- */

static void hex(FILE *out, const struct fh *fh)
{
	unsigned int i;

	for (i = 0; i < fh->len; i++)
		fprintf(out, "%02x", fh->val[i]);
}

static int parse_hex(const char *s, struct fh *fh)
{
	size_t n = strlen(s), i;

	if (n == 0 || n % 2 || n / 2 > MAX_FH)
		return -1;
	for (i = 0; i < n / 2; i++) {
		unsigned int byte;

		if (sscanf(s + 2 * i, "%2x", &byte) != 1)
			return -1;
		fh->val[i] = (unsigned char)byte;
	}
	fh->len = (unsigned int)(n / 2);
	return 0;
}

static int is_ok(const struct call *c)
{
	return strcmp(c->status, "NFS3_OK") == 0 ||
	       strcmp(c->status, "NFS4_OK") == 0;
}

static int do_lookup(const struct opts *o, struct call *c)
{
	return o->version == 4 ? lookup4(o, c) : lookup3(o, c);
}

/* One GETATTR or one READ chunk, reconnecting once if the connection is
 * broken or no answer came. */
static int do_op(const struct opts *o, const char *what, const struct fh *fh,
		 uint64_t off, struct call *c)
{
	int attempt;

	for (attempt = 0; attempt < 2; attempt++) {
		EVP_MD_CTX *md = c->md;

		call_init(c);
		c->md = md;
		if (ensure_connected(o) != 0)
			continue;
		if (strcmp(what, "getattr") == 0) {
			if ((o->version == 4 ? getattr4(o, fh, c)
					     : getattr3(o, fh, c)) == 0)
				return 0;
		} else if ((o->version == 4 ? read4(o, fh, off, c)
					    : read3(o, fh, off, c)) == 0) {
			return 0;
		}
		fprintf(stderr, "nfs-handle: %s: %s%s\n", what, c->error,
			attempt == 0 ? " (reconnecting)" : "");
		disconnect();
	}
	return -1;
}

static const char *type_name(int version, int type)
{
	/* NF3REG and NF4REG are both 1, NF3DIR and NF4DIR both 2. */
	(void)version;
	switch (type) {
	case 1: return "reg";
	case 2: return "dir";
	case 5: return "lnk";
	default: return "other";
	}
}

static int cmd_getattr(const struct opts *o, const struct fh *fh)
{
	struct call c;

	call_init(&c);
	do_op(o, "getattr", fh, 0, &c);
	printf("getattr %s", c.status);
	if (is_ok(&c))
		printf(" type=%s size=%llu fileid=%llu",
		       type_name(o->version, c.type),
		       (unsigned long long)c.size,
		       (unsigned long long)c.fileid);
	printf("\n");
	return is_ok(&c) ? 0 : 1;
}

static int cmd_read(const struct opts *o, const struct fh *fh)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned long long total = 0;
	unsigned int mdlen = 0, i;
	struct call c;
	int ok = 0;

	call_init(&c);
	c.md = EVP_MD_CTX_new();
	if (!c.md || !EVP_DigestInit_ex(c.md, EVP_sha256(), NULL)) {
		fprintf(stderr, "nfs-handle: EVP_DigestInit_ex failed\n");
		EVP_MD_CTX_free(c.md);
		return 1;
	}
	for (;;) {
		if (do_op(o, "read", fh, total, &c) != 0 || !is_ok(&c))
			break;
		total += c.count;
		if (c.eof || c.count == 0) {
			ok = 1;
			break;
		}
	}
	printf("read %s", c.status);
	if (ok) {
		EVP_DigestFinal_ex(c.md, md, &mdlen);
		printf(" bytes=%llu sha256=", total);
		for (i = 0; i < mdlen; i++)
			printf("%02x", md[i]);
	}
	printf("\n");
	EVP_MD_CTX_free(c.md);
	return ok ? 0 : 1;
}

static int cmd_lookup(const struct opts *o)
{
	struct call c;
	int rc = do_lookup(o, &c);

	printf("lookup %s", c.status);
	if (rc == 0) {
		printf(" ");
		hex(stdout, &c.fh);
	}
	printf("\n");
	return rc == 0 ? 0 : 1;
}

/* Runs one command; -1 for quit, else 0 (OK) or 1. */
static int run(const struct opts *o, const struct fh *fh, const char *cmd)
{
	int rc = 0;

	if (strcmp(cmd, "handle") == 0) {
		printf("handle ");
		hex(stdout, fh);
		printf("\n");
	} else if (strcmp(cmd, "getattr") == 0) {
		rc = cmd_getattr(o, fh);
	} else if (strcmp(cmd, "read") == 0) {
		rc = cmd_read(o, fh);
	} else if (strcmp(cmd, "lookup") == 0) {
		rc = cmd_lookup(o);
	} else if (strcmp(cmd, "reconnect") == 0) {
		disconnect();
		printf("reconnect OK\n");
	} else if (strcmp(cmd, "quit") == 0) {
		return -1;
	} else if (cmd[0] != '\0') {
		printf("%s UNKNOWN_COMMAND\n", cmd);
		rc = 1;
	}
	fflush(stdout);
	return rc;
}

static void usage(void)
{
	fprintf(stderr, "usage: nfs-handle [-4] [-p NFSPORT] [-H HEX] SERVER "
			"EXPORT PATH [COMMAND...]\n"
			"commands: handle getattr read lookup reconnect "
			"quit\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct opts o = { .version = 3, .timeout_ms = 20000 };
	const char *given = NULL, *t;
	struct fh fh = { 0 };
	int opt, i, failed = 0;

	while ((opt = getopt(argc, argv, "34p:H:")) != -1) {
		switch (opt) {
		case '3': o.version = 3; break;
		case '4': o.version = 4; break;
		case 'p': o.port = atoi(optarg); break;
		case 'H': given = optarg; break;
		default: usage();
		}
	}
	if (argc - optind < 3)
		usage();
	o.server = argv[optind];
	o.export = argv[optind + 1];
	o.path = argv[optind + 2];
	t = getenv("NFS_HANDLE_TIMEOUT");
	if (t && atoi(t) > 0)
		o.timeout_ms = atoi(t) * 1000;
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (given) {
		if (parse_hex(given, &fh) != 0) {
			fprintf(stderr, "nfs-handle: -H: not a handle: %s\n",
				given);
			return 2;
		}
	} else {
		struct call c;

		if (do_lookup(&o, &c) != 0) {
			printf("lookup %s\n", c.status);
			if (c.error[0])
				fprintf(stderr, "nfs-handle: lookup: %s\n",
					c.error);
			disconnect();
			return 2;
		}
		fh = c.fh;
	}
	printf("handle ");
	hex(stdout, &fh);
	printf("\n");

	if (argc - optind > 3) {
		for (i = optind + 3; i < argc; i++) {
			int rc = run(&o, &fh, argv[i]);

			if (rc < 0)
				break;
			failed |= rc;
		}
	} else {
		char line[256];

		while (fgets(line, sizeof(line), stdin)) {
			int rc;

			line[strcspn(line, "\r\n")] = '\0';
			rc = run(&o, &fh, line);
			if (rc < 0)
				break;
			failed |= rc;
		}
	}
	disconnect();
	return failed ? 1 : 0;
}
