/*
 * nfs-handle - an NFS client that keeps file handles, for tests of handles
 * that must outlive a restart (of regfs under nfs-ganesha, of ganesha, of
 * both) or the eviction of the server's inodes, and of publishing through
 * an NFS server one request at a time. It speaks the raw protocol through
 * libnfs (NFSv3 with MOUNT, or NFSv4.0), so what it sends is exactly one
 * request per step (one COMPOUND with NFSv4) and what it prints is the
 * server's own status.
 *
 *   nfs-handle [-4] [-p NFSPORT] [-u UID:GID] [-H HEX] SERVER EXPORT PATH
 *              [COMMAND...]
 *
 * -u sends every call with AUTH_SYS credentials UID and GID (a user's
 * client) rather than the caller's own.
 *
 * It looks up EXPORT/PATH (NFSv3: MNT EXPORT, then LOOKUP each component
 * of PATH; NFSv4: PUTROOTFH, LOOKUP each component of EXPORT and PATH,
 * GETFH; PATH "" or "/" is the export's root) and prints "handle HEX", or
 * takes the handle given with -H without asking the server. Then it runs
 * the COMMANDs (each one argument: "create .v1.tmp"), or, with none, reads
 * one command a line from standard input, so that a test can hold the
 * handle while it restarts things and then say "read".
 *
 * It holds two handles: the file (what getattr, read, write-file, commit,
 * close and setattr-mode act on) and the folder (where create, file,
 * rename and remove act). Both start as the handle looked up or given;
 * "dir" sets both; "create", "open" and "file" set the file.
 *
 * Commands, each answered by one line on standard output that starts with
 * the command's name and the server's status (NFS3_OK, NFS3ERR_STALE,
 * NFS4ERR_STALE, NFS4ERR_SERVERFAULT...), or RPC_ERROR when no answer came:
 *
 *   handle     "handle HEX": the file handle held
 *   getattr    GETATTR of the file: "getattr STATUS [type=T size=N
 *              fileid=N mode=OOOO]"
 *   read       READ of the file from offset 0 to EOF (512 KiB a call;
 *              NFSv4 with the anonymous stateid): "read STATUS [bytes=N
 *              sha256=HEX]"
 *   lookup     look EXPORT/PATH up afresh: "lookup STATUS [HEX]"; the
 *              handles held do not change
 *   dir [P]    look EXPORT/P up (P defaults to PATH) and hold it as the
 *              folder and the file: "dir STATUS [HEX]"
 *   file NAME  LOOKUP NAME in the folder, hold it as the file: "file
 *              STATUS [HEX]"
 *   create NAME [guarded|unchecked] [MODE]
 *              create NAME in the folder (GUARDED unless told: it fails
 *              with EXIST if the name is there; mode 0644 unless told, in
 *              octal) and hold it as the file: "create STATUS [HEX]".
 *              NFSv3: CREATE (then LOOKUP when the reply has no handle).
 *              NFSv4: OPEN for writing with OPEN4_CREATE (a new open-owner
 *              each time, OPEN_CONFIRM when asked), SETCLIENTID first when
 *              there is no client id yet; the file stays open until
 *              "close", and writes use its stateid
 *   open NAME  NFSv4: OPEN NAME in the folder for writing, without
 *              creating it, and hold it as the file, open until "close":
 *              "open STATUS [HEX]". NFSv3, which has no open: a LOOKUP,
 *              as "file" does
 *   write-file LOCAL OFFSET [LEN] [unstable|data_sync|file_sync]
 *              write bytes OFFSET..OFFSET+LEN of the local file LOCAL (to
 *              its end without LEN) at the same offset of the file, so
 *              that a file written by slices is LOCAL's prefix: "write-file
 *              STATUS bytes=N". UNSTABLE unless told. NFSv3 sends 512 KiB
 *              a WRITE; NFSv4 sends 2 KiB a WRITE, because libnfs 4.0
 *              cannot encode a COMPOUND over 4 KiB
 *   commit     COMMIT of the file: "commit STATUS"
 *   close      NFSv4: CLOSE the open "create" or "open" made: "close
 *              STATUS"; "close NO_OPEN" when there is none (always with
 *              NFSv3, which has no close)
 *   rename FROM TO
 *              RENAME FROM to TO, both in the folder: "rename STATUS"
 *   remove NAME
 *              REMOVE NAME from the folder: "remove STATUS"
 *   setattr-mode MODE
 *              SETATTR of the file's mode (octal): "setattr-mode STATUS"
 *   reconnect  close the connection; the next command opens a new one
 *              (as a client does after its server restarted); NFSv4 also
 *              forgets its client id and open: "reconnect OK"
 *   quit       exit
 *
 * A command with arguments it does not take answers "NAME USAGE ...".
 *
 * A getattr, read, file, write-file, commit or setattr-mode that meets a
 * broken connection (the server restarted) reconnects once and sends
 * again, as an NFS client's retransmission would; the note goes to
 * standard error. create, open, rename, remove and close change the
 * namespace or the server's state and are sent once: after a restart, say
 * "reconnect" first. Each call waits at most NFS_HANDLE_TIMEOUT seconds
 * (default 20) for its answer.
 *
 * Exit status: 0 when every command was answered OK, 1 when one was not,
 * 2 on a usage error or when the first lookup failed.
 */
#include <errno.h>
#include <fcntl.h>
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
#define WRITE3_CHUNK (512 * 1024)
#define WRITE4_CHUNK 2048
#define MAX_COMPS    64
#define MAX_ARGS     8
#define STATUS_SIZE  64
#define RPC_ERROR_ST "RPC_ERROR"
#define DEFAULT_MODE 0644
#define NFS4_CB_PROG 0x40000000

struct opts {
	int version; /* 3 or 4 */
	int port;    /* 0: ask the portmapper (v3) or 2049 (v4) */
	const char *server;
	const char *export;
	const char *path;
	int timeout_ms;
	int uid, gid; /* -1: the caller's */
};

struct fh {
	unsigned int len;
	unsigned char val[MAX_FH];
};

/* What the commands act on: see the top of the file. */
struct held {
	struct fh dir;
	struct fh file;
};

/* NFSv4 state: the client id, and the one open "create" made. */
struct v4state {
	int have_client;
	clientid4 clientid;
	unsigned int owners; /* open-owners used, for a new name each time */
	int open;
	struct fh open_fh;
	stateid4 stateid;
	seqid4 seqid; /* the open-owner's next seqid */
};

/* One call in flight: what its callback found. */
struct call {
	int done;
	int ok;			  /* an answer came (any NFS status) */
	char status[STATUS_SIZE]; /* NFS3_OK, NFS4ERR_STALE, RPC_ERROR */
	char error[256];	  /* RPC failure text */
	struct fh fh;		  /* lookup, mount, create */
	int has_fh;		  /* create: the reply held a handle */
	/* getattr */
	int type;
	uint64_t size, fileid;
	uint32_t mode;
	/* read, write */
	uint32_t count;
	int eof;
	EVP_MD_CTX *md;
	/* NFSv4: setclientid, open */
	clientid4 clientid;
	verifier4 confirm;
	stateid4 stateid;
	uint32_t rflags;
};

static struct rpc_context *conn;
static struct v4state v4;

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

static void set_fh(struct fh *fh, const void *val, unsigned int len)
{
	fh->len = len <= MAX_FH ? len : 0;
	memcpy(fh->val, val, fh->len);
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
	if (o->uid >= 0) {
		rpc_set_uid(rpc, o->uid);
		rpc_set_gid(rpc, o->gid);
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

static void nfs_fh3_set(nfs_fh3 *h, const struct fh *fh)
{
	h->data.data_len = fh->len;
	h->data.data_val = (char *)fh->val;
}

/* Every NFSv3 result starts with its status: the replies that carry
 * nothing else the commands print (COMMIT, RENAME, REMOVE, SETATTR). */
static void status3_cb(struct rpc_context *rpc, int status, void *data,
		       void *priv)
{
	struct call *c = priv;
	nfsstat3 st;

	if (!call_answered(c, rpc, status, data))
		return;
	copy_reply(&st, data, sizeof(st));
	snprintf(c->status, sizeof(c->status), "%s", nfsstat3_to_str(st));
}

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

		set_fh(&c->fh, h->fhandle3_val, h->fhandle3_len);
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

		set_fh(&c->fh, h->data.data_val, h->data.data_len);
	}
}

/* LOOKUP of NAME in DIR on the connection; c->fh is the answer. */
static int lookup3_name(const struct opts *o, const struct fh *dir,
			const char *name, struct call *c)
{
	LOOKUP3args args;

	memset(&args, 0, sizeof(args));
	nfs_fh3_set(&args.what.dir, dir);
	args.what.name = (char *)name;
	if (rpc_nfs3_lookup_async(conn, lookup3_cb, &args, c) != 0)
		return -1;
	return wait_call(conn, c, o->timeout_ms);
}

/* MNT EXPORT on a connection of its own, then LOOKUP each component of
 * PATH. */
static int lookup3(const struct opts *o, const char *path_in, struct call *c)
{
	char *comps[MAX_COMPS];
	char *path = strdup(path_in);
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

		if (ensure_connected(o) != 0)
			goto out;
		call_init(c);
		if (lookup3_name(o, &dir, comps[i], c) != 0) {
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
		c->mode = a->mode;
	}
}

static int getattr3(const struct opts *o, const struct fh *fh, struct call *c)
{
	GETATTR3args args;

	memset(&args, 0, sizeof(args));
	nfs_fh3_set(&args.object, fh);
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
	nfs_fh3_set(&args.file, fh);
	args.offset = off;
	args.count = READ_CHUNK;
	if (rpc_nfs3_read_async(conn, read3_cb, &args, c) != 0)
		return -1;
	return wait_call(conn, c, o->timeout_ms);
}

static void create3_cb(struct rpc_context *rpc, int status, void *data,
		       void *priv)
{
	struct call *c = priv;
	CREATE3res res;

	if (!call_answered(c, rpc, status, data))
		return;
	copy_reply(&res, data, sizeof(res));
	snprintf(c->status, sizeof(c->status), "%s",
		 nfsstat3_to_str(res.status));
	if (res.status == NFS3_OK) {
		post_op_fh3 *p = &res.CREATE3res_u.resok.obj;

		if (p->handle_follows) {
			nfs_fh3 *h = &p->post_op_fh3_u.handle;

			set_fh(&c->fh, h->data.data_val, h->data.data_len);
			c->has_fh = c->fh.len > 0;
		}
	}
}

static int create3(const struct opts *o, const struct fh *dir, const char *name,
		   int guarded, uint32_t mode, struct call *c)
{
	CREATE3args args;
	sattr3 *a;

	memset(&args, 0, sizeof(args));
	nfs_fh3_set(&args.where.dir, dir);
	args.where.name = (char *)name;
	args.how.mode = guarded ? GUARDED : UNCHECKED;
	a = guarded ? &args.how.createhow3_u.g_obj_attributes
		    : &args.how.createhow3_u.obj_attributes;
	a->mode.set_it = 1;
	a->mode.set_mode3_u.mode = mode;
	if (rpc_nfs3_create_async(conn, create3_cb, &args, c) != 0)
		return -1;
	if (wait_call(conn, c, o->timeout_ms) != 0)
		return -1;
	if (strcmp(c->status, "NFS3_OK") == 0 && !c->has_fh) {
		/* The server may leave the handle out: ask for it. */
		call_init(c);
		return lookup3_name(o, dir, name, c);
	}
	return 0;
}

static void write3_cb(struct rpc_context *rpc, int status, void *data,
		      void *priv)
{
	struct call *c = priv;
	WRITE3res res;

	if (!call_answered(c, rpc, status, data))
		return;
	copy_reply(&res, data, sizeof(res));
	snprintf(c->status, sizeof(c->status), "%s",
		 nfsstat3_to_str(res.status));
	if (res.status == NFS3_OK)
		c->count = res.WRITE3res_u.resok.count;
}

static int write3(const struct opts *o, const struct fh *fh, uint64_t off,
		  const void *buf, uint32_t len, int stable, struct call *c)
{
	WRITE3args args;

	memset(&args, 0, sizeof(args));
	nfs_fh3_set(&args.file, fh);
	args.offset = off;
	args.count = len;
	args.stable = (stable_how)stable;
	args.data.data_len = len;
	args.data.data_val = (char *)buf;
	if (rpc_nfs3_write_async(conn, write3_cb, &args, c) != 0)
		return -1;
	return wait_call(conn, c, o->timeout_ms);
}

static int commit3(const struct opts *o, const struct fh *fh, struct call *c)
{
	COMMIT3args args;

	memset(&args, 0, sizeof(args));
	nfs_fh3_set(&args.file, fh);
	if (rpc_nfs3_commit_async(conn, status3_cb, &args, c) != 0)
		return -1;
	return wait_call(conn, c, o->timeout_ms);
}

static int rename3(const struct opts *o, const struct fh *dir, const char *from,
		   const char *to, struct call *c)
{
	RENAME3args args;

	memset(&args, 0, sizeof(args));
	nfs_fh3_set(&args.from.dir, dir);
	args.from.name = (char *)from;
	nfs_fh3_set(&args.to.dir, dir);
	args.to.name = (char *)to;
	if (rpc_nfs3_rename_async(conn, status3_cb, &args, c) != 0)
		return -1;
	return wait_call(conn, c, o->timeout_ms);
}

static int remove3(const struct opts *o, const struct fh *dir, const char *name,
		   struct call *c)
{
	REMOVE3args args;

	memset(&args, 0, sizeof(args));
	nfs_fh3_set(&args.object.dir, dir);
	args.object.name = (char *)name;
	if (rpc_nfs3_remove_async(conn, status3_cb, &args, c) != 0)
		return -1;
	return wait_call(conn, c, o->timeout_ms);
}

static int setmode3(const struct opts *o, const struct fh *fh, uint32_t mode,
		    struct call *c)
{
	SETATTR3args args;

	memset(&args, 0, sizeof(args));
	nfs_fh3_set(&args.object, fh);
	args.new_attributes.mode.set_it = 1;
	args.new_attributes.mode.set_mode3_u.mode = mode;
	if (rpc_nfs3_setattr_async(conn, status3_cb, &args, c) != 0)
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

static void putfh4(nfs_argop4 *op, const struct fh *fh)
{
	op->argop = OP_PUTFH;
	op->nfs_argop4_u.opputfh.object.nfs_fh4_len = fh->len;
	op->nfs_argop4_u.opputfh.object.nfs_fh4_val = (char *)fh->val;
}

static void component4_set(component4 *comp, const char *name)
{
	comp->utf8string_len = (u_int)strlen(name);
	comp->utf8string_val = (char *)name;
}

static void getfh_result(struct call *c, const nfs_resop4 *r)
{
	const nfs_fh4 *h = &r->nfs_resop4_u.opgetfh.GETFH4res_u.resok4.object;

	set_fh(&c->fh, h->nfs_fh4_val, h->nfs_fh4_len);
	c->has_fh = c->fh.len > 0;
}

/* A reply whose only results the commands need are the status and a
 * GETFH's handle (lookup, and everything that changes the namespace). */
static void fh4_cb(struct rpc_context *rpc, int status, void *data, void *priv)
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
		nfs_resop4 op;

		resop(&op, &res, i);
		if (op.resop == OP_GETFH)
			getfh_result(c, &op);
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

static int lookup4(const struct opts *o, const char *path_in, struct call *c)
{
	nfs_argop4 ops[2 * MAX_COMPS + 2];
	char *comps[2 * MAX_COMPS];
	char *exp = strdup(o->export), *path = strdup(path_in);
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
		component4_set(&ops[i + 1].nfs_argop4_u.oplookup.objname,
			       comps[i]);
	}
	ops[n + 1].argop = OP_GETFH;
	if (ensure_connected(o) != 0)
		goto out;
	if (compound4(o, ops, (unsigned int)n + 2, fh4_cb, c) != 0) {
		disconnect();
		goto out;
	}
	rc = strcmp(c->status, "NFS4_OK") == 0 ? 0 : -1;
out:
	free(exp);
	free(path);
	return rc;
}

static int lookup4_name(const struct opts *o, const struct fh *dir,
			const char *name, struct call *c)
{
	nfs_argop4 ops[3];

	memset(ops, 0, sizeof(ops));
	putfh4(&ops[0], dir);
	ops[1].argop = OP_LOOKUP;
	component4_set(&ops[1].nfs_argop4_u.oplookup.objname, name);
	ops[2].argop = OP_GETFH;
	return compound4(o, ops, 3, fh4_cb, c);
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

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
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
		/* In bit order: type (1), size (4), fileid (20), mode (33). */
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
		if (w0 & (1u << FATTR4_FILEID) && left >= 8) {
			c->fileid = get64(p);
			p += 8;
			left -= 8;
		}
		if (w1 & (1u << (FATTR4_MODE - 32)) && left >= 4)
			c->mode = get32(p);
	}
}

static int getattr4(const struct opts *o, const struct fh *fh, struct call *c)
{
	uint32_t mask[2] = { 1u << FATTR4_TYPE | 1u << FATTR4_SIZE |
				 1u << FATTR4_FILEID,
			     1u << (FATTR4_MODE - 32) };
	nfs_argop4 ops[2];

	memset(ops, 0, sizeof(ops));
	putfh4(&ops[0], fh);
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
		READ4resok *ok;

		resop(&op, &res, i);
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
	putfh4(&ops[0], fh);
	/* The anonymous stateid (all zeros): a READ without an OPEN. */
	ops[1].argop = OP_READ;
	ops[1].nfs_argop4_u.opread.offset = off;
	ops[1].nfs_argop4_u.opread.count = READ_CHUNK;
	return compound4(o, ops, 2, read4_cb, c);
}

/* SETCLIENTID and OPEN(_CONFIRM): the results the state needs. */
static void state4_cb(struct rpc_context *rpc, int status, void *data,
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
		switch (r->resop) {
		case OP_SETCLIENTID: {
			SETCLIENTID4resok *ok = &r->nfs_resop4_u.opsetclientid
						     .SETCLIENTID4res_u.resok4;

			c->clientid = ok->clientid;
			memcpy(c->confirm, ok->setclientid_confirm,
			       sizeof(c->confirm));
			break;
		}
		case OP_OPEN: {
			OPEN4resok *ok =
			    &r->nfs_resop4_u.opopen.OPEN4res_u.resok4;

			c->stateid = ok->stateid;
			c->rflags = ok->rflags;
			break;
		}
		case OP_OPEN_CONFIRM:
			c->stateid =
			    r->nfs_resop4_u.opopen_confirm.OPEN_CONFIRM4res_u
				.resok4.open_stateid;
			break;
		case OP_GETFH: getfh_result(c, r); break;
		case OP_WRITE:
			c->count =
			    r->nfs_resop4_u.opwrite.WRITE4res_u.resok4.count;
			break;
		default: break;
		}
	}
}

/* A client id for opens: SETCLIENTID, SETCLIENTID_CONFIRM. The callback
 * address is one nobody listens on, so the server grants no delegation. */
static int setclientid4(const struct opts *o, struct call *c)
{
	char id[128], netid[] = "tcp", addr[] = "127.0.0.1.0.0";
	nfs_argop4 op;
	SETCLIENTID4args *a = &op.nfs_argop4_u.opsetclientid;
	struct timespec ts;
	clientid4 clientid;
	verifier4 confirm;

	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(id, sizeof(id), "regfs-test-nfs-handle.%ld.%lld.%ld",
		 (long)getpid(), (long long)ts.tv_sec, ts.tv_nsec);
	memset(&op, 0, sizeof(op));
	op.argop = OP_SETCLIENTID;
	memcpy(a->client.verifier, &ts, sizeof(a->client.verifier));
	a->client.id.id_len = (u_int)strlen(id);
	a->client.id.id_val = id;
	a->callback.cb_program = NFS4_CB_PROG;
	a->callback.cb_location.r_netid = netid;
	a->callback.cb_location.r_addr = addr;
	a->callback_ident = 1;
	if (compound4(o, &op, 1, state4_cb, c) != 0 ||
	    strcmp(c->status, "NFS4_OK") != 0)
		return -1;
	clientid = c->clientid;
	memcpy(confirm, c->confirm, sizeof(confirm));
	memset(&op, 0, sizeof(op));
	op.argop = OP_SETCLIENTID_CONFIRM;
	op.nfs_argop4_u.opsetclientid_confirm.clientid = clientid;
	memcpy(op.nfs_argop4_u.opsetclientid_confirm.setclientid_confirm,
	       confirm, sizeof(confirm));
	call_init(c);
	if (compound4(o, &op, 1, state4_cb, c) != 0 ||
	    strcmp(c->status, "NFS4_OK") != 0)
		return -1;
	v4.have_client = 1;
	v4.clientid = clientid;
	return 0;
}

/* How open4 opens. */
#define OPEN_EXISTING  -1 /* OPEN4_NOCREATE */
#define OPEN_UNCHECKED 0  /* OPEN4_CREATE, UNCHECKED4 */
#define OPEN_GUARDED   1  /* OPEN4_CREATE, GUARDED4 */

/* PUTFH DIR, OPEN NAME for writing (created as HOW says), GETFH; then
 * OPEN_CONFIRM when the server asks. The open is kept in v4. */
static int open4(const struct opts *o, const struct fh *dir, const char *name,
		 int how_, uint32_t mode, struct call *c)
{
	uint32_t mask[2] = { 0, 1u << (FATTR4_MODE - 32) };
	unsigned char modeval[4];
	char owner[64];
	nfs_argop4 ops[3];
	OPEN4args *a = &ops[1].nfs_argop4_u.opopen;
	createhow4 *how = &a->openhow.openflag4_u.how;
	struct fh fh;

	if (!v4.have_client && setclientid4(o, c) != 0)
		return c->ok ? 0 : -1;
	call_init(c);
	put32(modeval, mode);
	snprintf(owner, sizeof(owner), "open-owner-%ld-%u", (long)getpid(),
		 ++v4.owners);
	memset(ops, 0, sizeof(ops));
	putfh4(&ops[0], dir);
	ops[1].argop = OP_OPEN;
	a->seqid = 0;
	a->share_access = OPEN4_SHARE_ACCESS_WRITE;
	a->share_deny = OPEN4_SHARE_DENY_NONE;
	a->owner.clientid = v4.clientid;
	a->owner.owner.owner_len = (u_int)strlen(owner);
	a->owner.owner.owner_val = owner;
	a->openhow.opentype =
	    how_ == OPEN_EXISTING ? OPEN4_NOCREATE : OPEN4_CREATE;
	if (how_ != OPEN_EXISTING) {
		how->mode = how_ == OPEN_GUARDED ? GUARDED4 : UNCHECKED4;
		how->createhow4_u.createattrs.attrmask.bitmap4_len = 2;
		how->createhow4_u.createattrs.attrmask.bitmap4_val = mask;
		how->createhow4_u.createattrs.attr_vals.attrlist4_len = 4;
		how->createhow4_u.createattrs.attr_vals.attrlist4_val =
		    (char *)modeval;
	}
	a->claim.claim = CLAIM_NULL;
	component4_set(&a->claim.open_claim4_u.file, name);
	ops[2].argop = OP_GETFH;
	if (compound4(o, ops, 3, state4_cb, c) != 0)
		return -1;
	if (strcmp(c->status, "NFS4_OK") != 0)
		return 0;
	fh = c->fh;
	v4.open = 1;
	v4.open_fh = fh;
	v4.stateid = c->stateid;
	v4.seqid = 1;
	if (c->rflags & OPEN4_RESULT_CONFIRM) {
		nfs_argop4 cops[2];

		memset(cops, 0, sizeof(cops));
		putfh4(&cops[0], &fh);
		cops[1].argop = OP_OPEN_CONFIRM;
		cops[1].nfs_argop4_u.opopen_confirm.open_stateid = v4.stateid;
		cops[1].nfs_argop4_u.opopen_confirm.seqid = v4.seqid++;
		call_init(c);
		if (compound4(o, cops, 2, state4_cb, c) != 0)
			return -1;
		if (strcmp(c->status, "NFS4_OK") != 0) {
			v4.open = 0;
			return 0;
		}
		v4.stateid = c->stateid;
	}
	c->fh = fh;
	c->has_fh = 1;
	return 0;
}

static int close4(const struct opts *o, struct call *c)
{
	nfs_argop4 ops[2];

	memset(ops, 0, sizeof(ops));
	putfh4(&ops[0], &v4.open_fh);
	ops[1].argop = OP_CLOSE;
	ops[1].nfs_argop4_u.opclose.seqid = v4.seqid++;
	ops[1].nfs_argop4_u.opclose.open_stateid = v4.stateid;
	return compound4(o, ops, 2, state4_cb, c);
}

static int same_fh(const struct fh *a, const struct fh *b)
{
	return a->len == b->len && memcmp(a->val, b->val, a->len) == 0;
}

static int write4(const struct opts *o, const struct fh *fh, uint64_t off,
		  const void *buf, uint32_t len, int stable, struct call *c)
{
	nfs_argop4 ops[2];
	WRITE4args *w = &ops[1].nfs_argop4_u.opwrite;

	memset(ops, 0, sizeof(ops));
	putfh4(&ops[0], fh);
	ops[1].argop = OP_WRITE;
	/* The open's stateid when the file is the one "create" opened, else
	 * the anonymous one. */
	if (v4.open && same_fh(fh, &v4.open_fh))
		w->stateid = v4.stateid;
	w->offset = off;
	w->stable = (stable_how4)stable;
	w->data.data_len = len;
	w->data.data_val = (char *)buf;
	return compound4(o, ops, 2, state4_cb, c);
}

static int commit4(const struct opts *o, const struct fh *fh, struct call *c)
{
	nfs_argop4 ops[2];

	memset(ops, 0, sizeof(ops));
	putfh4(&ops[0], fh);
	ops[1].argop = OP_COMMIT;
	return compound4(o, ops, 2, fh4_cb, c);
}

static int rename4(const struct opts *o, const struct fh *dir, const char *from,
		   const char *to, struct call *c)
{
	nfs_argop4 ops[4];

	memset(ops, 0, sizeof(ops));
	putfh4(&ops[0], dir);
	ops[1].argop = OP_SAVEFH;
	putfh4(&ops[2], dir);
	ops[3].argop = OP_RENAME;
	component4_set(&ops[3].nfs_argop4_u.oprename.oldname, from);
	component4_set(&ops[3].nfs_argop4_u.oprename.newname, to);
	return compound4(o, ops, 4, fh4_cb, c);
}

static int remove4(const struct opts *o, const struct fh *dir, const char *name,
		   struct call *c)
{
	nfs_argop4 ops[2];

	memset(ops, 0, sizeof(ops));
	putfh4(&ops[0], dir);
	ops[1].argop = OP_REMOVE;
	component4_set(&ops[1].nfs_argop4_u.opremove.target, name);
	return compound4(o, ops, 2, fh4_cb, c);
}

static int setmode4(const struct opts *o, const struct fh *fh, uint32_t mode,
		    struct call *c)
{
	uint32_t mask[2] = { 0, 1u << (FATTR4_MODE - 32) };
	unsigned char modeval[4];
	nfs_argop4 ops[2];
	SETATTR4args *s = &ops[1].nfs_argop4_u.opsetattr;

	put32(modeval, mode);
	memset(ops, 0, sizeof(ops));
	putfh4(&ops[0], fh);
	ops[1].argop = OP_SETATTR;
	/* The anonymous stateid: a mode change needs no open. */
	s->obj_attributes.attrmask.bitmap4_len = 2;
	s->obj_attributes.attrmask.bitmap4_val = mask;
	s->obj_attributes.attr_vals.attrlist4_len = 4;
	s->obj_attributes.attr_vals.attrlist4_val = (char *)modeval;
	return compound4(o, ops, 2, fh4_cb, c);
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

static int do_lookup(const struct opts *o, const char *path, struct call *c)
{
	return o->version == 4 ? lookup4(o, path, c) : lookup3(o, path, c);
}

/* The requests, as the commands name them. Those that may be sent twice
 * (reading, or writing the same bytes again) are resent once over a new
 * connection when the first got no answer; the others change the
 * namespace or the server's state and are sent once. */
enum req_kind {
	REQ_GETATTR,
	REQ_READ,
	REQ_WRITE,
	REQ_COMMIT,
	REQ_SETMODE,
	REQ_LOOKUP,
	REQ_CREATE,
	REQ_OPEN,
	REQ_CLOSE,
	REQ_RENAME,
	REQ_REMOVE,
};

static const struct {
	const char *name;
	int resend;
} reqs[] = {
	[REQ_GETATTR] = { "getattr", 1 },      [REQ_READ] = { "read", 1 },
	[REQ_WRITE] = { "write-file", 1 },     [REQ_COMMIT] = { "commit", 1 },
	[REQ_SETMODE] = { "setattr-mode", 1 }, [REQ_LOOKUP] = { "file", 1 },
	[REQ_CREATE] = { "create", 0 },	       [REQ_OPEN] = { "open", 0 },
	[REQ_CLOSE] = { "close", 0 },	       [REQ_RENAME] = { "rename", 0 },
	[REQ_REMOVE] = { "remove", 0 },
};

/* What one request needs, whichever the version. */
struct req {
	enum req_kind kind;
	const struct fh *fh; /* the file, or the folder */
	const char *name, *name2;
	uint64_t off;
	const void *buf;
	uint32_t len;
	uint32_t mode;
	int flag; /* create: guarded; write: stable_how */
};

static int send_req(const struct opts *o, const struct req *r, struct call *c)
{
	int v4p = o->version == 4;

	switch (r->kind) {
	case REQ_GETATTR:
		return v4p ? getattr4(o, r->fh, c) : getattr3(o, r->fh, c);
	case REQ_READ:
		return v4p ? read4(o, r->fh, r->off, c)
			   : read3(o, r->fh, r->off, c);
	case REQ_WRITE:
		return v4p ? write4(o, r->fh, r->off, r->buf, r->len, r->flag,
				    c)
			   : write3(o, r->fh, r->off, r->buf, r->len, r->flag,
				    c);
	case REQ_COMMIT:
		return v4p ? commit4(o, r->fh, c) : commit3(o, r->fh, c);
	case REQ_SETMODE:
		return v4p ? setmode4(o, r->fh, r->mode, c)
			   : setmode3(o, r->fh, r->mode, c);
	case REQ_LOOKUP:
		return v4p ? lookup4_name(o, r->fh, r->name, c)
			   : lookup3_name(o, r->fh, r->name, c);
	case REQ_CREATE:
		return v4p ? open4(o, r->fh, r->name, r->flag, r->mode, c)
			   : create3(o, r->fh, r->name, r->flag, r->mode, c);
	case REQ_OPEN:
		/* NFSv3 has no open: the file is only looked up. */
		return v4p ? open4(o, r->fh, r->name, OPEN_EXISTING, 0, c)
			   : lookup3_name(o, r->fh, r->name, c);
	case REQ_CLOSE: return close4(o, c);
	case REQ_RENAME:
		return v4p ? rename4(o, r->fh, r->name, r->name2, c)
			   : rename3(o, r->fh, r->name, r->name2, c);
	case REQ_REMOVE:
		return v4p ? remove4(o, r->fh, r->name, c)
			   : remove3(o, r->fh, r->name, c);
	}
	return -1;
}

/* One request; resent once over a new connection when it may be (see
 * reqs[]) and the connection broke or no answer came. */
static int do_op(const struct opts *o, const struct req *r, struct call *c)
{
	int tries = reqs[r->kind].resend ? 2 : 1, attempt;

	for (attempt = 0; attempt < tries; attempt++) {
		EVP_MD_CTX *md = c->md;

		call_init(c);
		c->md = md;
		if (ensure_connected(o) != 0) {
			snprintf(c->error, sizeof(c->error), "cannot connect");
		} else if (send_req(o, r, c) == 0) {
			return 0;
		}
		fprintf(stderr, "nfs-handle: %s: %s%s\n", reqs[r->kind].name,
			c->error, attempt + 1 < tries ? " (reconnecting)" : "");
		disconnect();
	}
	return -1;
}

static const char *type_name(int type)
{
	/* NF3REG and NF4REG are both 1, NF3DIR and NF4DIR both 2. */
	switch (type) {
	case 1: return "reg";
	case 2: return "dir";
	case 5: return "lnk";
	default: return "other";
	}
}

static int cmd_getattr(const struct opts *o, const struct held *h)
{
	struct req r = { .kind = REQ_GETATTR, .fh = &h->file };
	struct call c;

	call_init(&c);
	do_op(o, &r, &c);
	printf("getattr %s", c.status);
	if (is_ok(&c))
		printf(" type=%s size=%llu fileid=%llu mode=%04o",
		       type_name(c.type), (unsigned long long)c.size,
		       (unsigned long long)c.fileid, c.mode & 07777);
	printf("\n");
	return is_ok(&c) ? 0 : 1;
}

static int cmd_read(const struct opts *o, const struct held *h)
{
	struct req r = { .kind = REQ_READ, .fh = &h->file };
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
		r.off = total;
		if (do_op(o, &r, &c) != 0 || !is_ok(&c))
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
	int rc = do_lookup(o, o->path, &c);

	printf("lookup %s", c.status);
	if (rc == 0) {
		printf(" ");
		hex(stdout, &c.fh);
	}
	printf("\n");
	return rc == 0 ? 0 : 1;
}

/* "NAME STATUS [HEX]" for the commands that hold a new handle. */
static int print_fh_answer(const char *name, const struct call *c,
			   struct fh *into, struct fh *also)
{
	printf("%s %s", name, c->status);
	if (is_ok(c) && c->fh.len > 0) {
		printf(" ");
		hex(stdout, &c->fh);
		*into = c->fh;
		if (also)
			*also = c->fh;
	}
	printf("\n");
	return is_ok(c) && c->fh.len > 0 ? 0 : 1;
}

static int cmd_dir(const struct opts *o, struct held *h, const char *path)
{
	struct call c;

	do_lookup(o, path ? path : o->path, &c);
	return print_fh_answer("dir", &c, &h->dir, &h->file);
}

/* An octal mode, or -1. */
static long parse_mode(const char *s)
{
	char *end;
	long m = strtol(s, &end, 8);

	return *s && !*end && m >= 0 && m <= 07777 ? m : -1;
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 10);
	return *s && !*end && errno == 0 && *s != '-' ? 0 : -1;
}

static int usage_answer(const char *name, const char *how)
{
	printf("%s USAGE %s\n", name, how);
	return 1;
}

/* create NAME [guarded|unchecked] [MODE], or open NAME. */
static int cmd_create(const struct opts *o, struct held *h, int argc,
		      char **argv)
{
	int open_only = strcmp(argv[0], "open") == 0;
	const char *how =
	    open_only ? "NAME" : "NAME [guarded|unchecked] [MODE]";
	struct req r = { .kind = open_only ? REQ_OPEN : REQ_CREATE,
			 .fh = &h->dir,
			 .flag = open_only ? OPEN_EXISTING : OPEN_GUARDED,
			 .mode = DEFAULT_MODE };
	struct call c;
	int i;

	if (argc < 2 || (open_only && argc != 2))
		return usage_answer(argv[0], how);
	r.name = argv[1];
	for (i = 2; i < argc; i++) {
		long m = parse_mode(argv[i]);

		if (strcmp(argv[i], "guarded") == 0)
			r.flag = OPEN_GUARDED;
		else if (strcmp(argv[i], "unchecked") == 0)
			r.flag = OPEN_UNCHECKED;
		else if (m >= 0)
			r.mode = (uint32_t)m;
		else
			return usage_answer(argv[0], how);
	}
	if (o->version == 4 && v4.open) {
		/* One open at a time: the next one forgets the last. */
		fprintf(stderr, "nfs-handle: %s: the last open is left open\n",
			argv[0]);
		v4.open = 0;
	}
	call_init(&c);
	do_op(o, &r, &c);
	if (o->version == 4 &&
	    (strcmp(c.status, "NFS4ERR_STALE_CLIENTID") == 0 ||
	     strcmp(c.status, "NFS4ERR_EXPIRED") == 0)) {
		/* The server restarted, or the lease expired: a new client. */
		v4.have_client = 0;
		call_init(&c);
		do_op(o, &r, &c);
	}
	return print_fh_answer(argv[0], &c, &h->file, NULL);
}

static int cmd_file(const struct opts *o, struct held *h, int argc, char **argv)
{
	struct req r = { .kind = REQ_LOOKUP, .fh = &h->dir };
	struct call c;

	if (argc != 2)
		return usage_answer("file", "NAME");
	r.name = argv[1];
	call_init(&c);
	do_op(o, &r, &c);
	return print_fh_answer("file", &c, &h->file, NULL);
}

static int parse_stable(const char *s)
{
	if (strcmp(s, "unstable") == 0)
		return 0;
	if (strcmp(s, "data_sync") == 0)
		return 1;
	if (strcmp(s, "file_sync") == 0)
		return 2;
	return -1;
}

static int cmd_write_file(const struct opts *o, const struct held *h, int argc,
			  char **argv)
{
	static const char how[] =
	    "LOCAL OFFSET [LEN] [unstable|data_sync|file_sync]";
	struct req r = { .kind = REQ_WRITE, .fh = &h->file };
	uint64_t off, len = UINT64_MAX, done = 0;
	size_t chunk = o->version == 4 ? WRITE4_CHUNK : WRITE3_CHUNK;
	char *buf = NULL;
	struct call c;
	int fd, i, ok = 1;

	if (argc < 3 || argc > 5 || parse_u64(argv[2], &off) != 0)
		return usage_answer("write-file", how);
	for (i = 3; i < argc; i++) {
		if (parse_stable(argv[i]) >= 0)
			r.flag = parse_stable(argv[i]);
		else if (i == 3 && parse_u64(argv[i], &len) == 0)
			continue;
		else
			return usage_answer("write-file", how);
	}
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	buf = malloc(chunk);
	if (fd < 0 || !buf) {
		printf("write-file LOCAL_ERROR %s: %s\n", argv[1],
		       strerror(errno));
		if (fd >= 0)
			close(fd);
		free(buf);
		return 1;
	}
	call_init(&c);
	snprintf(c.status, sizeof(c.status), "%s",
		 o->version == 4 ? "NFS4_OK" : "NFS3_OK");
	while (done < len) {
		size_t want = len - done < chunk ? (size_t)(len - done) : chunk;
		ssize_t n = pread(fd, buf, want, (off_t)(off + done));
		uint32_t sent = 0;

		if (n < 0) {
			printf("write-file LOCAL_ERROR %s: %s\n", argv[1],
			       strerror(errno));
			close(fd);
			free(buf);
			return 1;
		}
		if (n == 0)
			break;
		/* A short WRITE (count below what was sent) sends the rest. */
		while (sent < (uint32_t)n) {
			r.off = off + done + sent;
			r.buf = buf + sent;
			r.len = (uint32_t)n - sent;
			if (do_op(o, &r, &c) != 0 || !is_ok(&c) ||
			    c.count == 0) {
				ok = 0;
				break;
			}
			sent += c.count;
		}
		done += sent;
		if (!ok)
			break;
	}
	close(fd);
	free(buf);
	printf("write-file %s bytes=%llu\n", c.status,
	       (unsigned long long)done);
	return ok && is_ok(&c) ? 0 : 1;
}

static int cmd_simple(const struct opts *o, struct req *r)
{
	struct call c;

	call_init(&c);
	do_op(o, r, &c);
	printf("%s %s\n", reqs[r->kind].name, c.status);
	return is_ok(&c) ? 0 : 1;
}

static int cmd_close(const struct opts *o)
{
	struct req r = { .kind = REQ_CLOSE };
	int rc;

	if (o->version != 4 || !v4.open) {
		printf("close NO_OPEN\n");
		return 1;
	}
	rc = cmd_simple(o, &r);
	v4.open = 0;
	return rc;
}

/* Runs one command; -1 for quit, else 0 (OK) or 1. */
static int run(const struct opts *o, struct held *h, char *line)
{
	char *argv[MAX_ARGS + 1], *save = NULL, *tok;
	struct req r = { 0 };
	int argc = 0, rc = 0;
	long m;

	for (tok = strtok_r(line, " \t", &save); tok && argc < MAX_ARGS;
	     tok = strtok_r(NULL, " \t", &save))
		argv[argc++] = tok;
	argv[argc] = NULL;
	if (argc == 0)
		return 0;
	if (strcmp(argv[0], "handle") == 0) {
		printf("handle ");
		hex(stdout, &h->file);
		printf("\n");
	} else if (strcmp(argv[0], "getattr") == 0) {
		rc = cmd_getattr(o, h);
	} else if (strcmp(argv[0], "read") == 0) {
		rc = cmd_read(o, h);
	} else if (strcmp(argv[0], "lookup") == 0) {
		rc = cmd_lookup(o);
	} else if (strcmp(argv[0], "dir") == 0) {
		if (argc > 2)
			return usage_answer("dir", "[PATH]");
		rc = cmd_dir(o, h, argc == 2 ? argv[1] : NULL);
	} else if (strcmp(argv[0], "file") == 0) {
		rc = cmd_file(o, h, argc, argv);
	} else if (strcmp(argv[0], "create") == 0 ||
		   strcmp(argv[0], "open") == 0) {
		rc = cmd_create(o, h, argc, argv);
	} else if (strcmp(argv[0], "write-file") == 0) {
		rc = cmd_write_file(o, h, argc, argv);
	} else if (strcmp(argv[0], "commit") == 0) {
		r.kind = REQ_COMMIT;
		r.fh = &h->file;
		rc = cmd_simple(o, &r);
	} else if (strcmp(argv[0], "close") == 0) {
		rc = cmd_close(o);
	} else if (strcmp(argv[0], "rename") == 0) {
		if (argc != 3)
			return usage_answer("rename", "FROM TO");
		r.kind = REQ_RENAME;
		r.fh = &h->dir;
		r.name = argv[1];
		r.name2 = argv[2];
		rc = cmd_simple(o, &r);
	} else if (strcmp(argv[0], "remove") == 0) {
		if (argc != 2)
			return usage_answer("remove", "NAME");
		r.kind = REQ_REMOVE;
		r.fh = &h->dir;
		r.name = argv[1];
		rc = cmd_simple(o, &r);
	} else if (strcmp(argv[0], "setattr-mode") == 0) {
		if (argc != 2 || (m = parse_mode(argv[1])) < 0)
			return usage_answer("setattr-mode", "MODE");
		r.kind = REQ_SETMODE;
		r.fh = &h->file;
		r.mode = (uint32_t)m;
		rc = cmd_simple(o, &r);
	} else if (strcmp(argv[0], "reconnect") == 0) {
		disconnect();
		v4.have_client = 0;
		v4.open = 0;
		printf("reconnect OK\n");
	} else if (strcmp(argv[0], "quit") == 0) {
		return -1;
	} else {
		printf("%s UNKNOWN_COMMAND\n", argv[0]);
		rc = 1;
	}
	fflush(stdout);
	return rc;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: nfs-handle [-4] [-p NFSPORT] [-u UID:GID] "
		"[-H HEX] SERVER EXPORT PATH [COMMAND...]\n"
		"commands: handle getattr read lookup dir file create open "
		"write-file commit close rename remove setattr-mode "
		"reconnect quit\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct opts o = {
		.version = 3, .timeout_ms = 20000, .uid = -1, .gid = -1
	};
	const char *given = NULL, *t;
	struct held h;
	int opt, i, failed = 0;

	memset(&h, 0, sizeof(h));
	while ((opt = getopt(argc, argv, "34p:u:H:")) != -1) {
		switch (opt) {
		case '3': o.version = 3; break;
		case '4': o.version = 4; break;
		case 'p': o.port = atoi(optarg); break;
		case 'H': given = optarg; break;
		case 'u':
			if (sscanf(optarg, "%d:%d", &o.uid, &o.gid) != 2 ||
			    o.uid < 0 || o.gid < 0)
				usage();
			break;
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
		if (parse_hex(given, &h.file) != 0) {
			fprintf(stderr, "nfs-handle: -H: not a handle: %s\n",
				given);
			return 2;
		}
	} else {
		struct call c;

		if (do_lookup(&o, o.path, &c) != 0) {
			printf("lookup %s\n", c.status);
			if (c.error[0])
				fprintf(stderr, "nfs-handle: lookup: %s\n",
					c.error);
			disconnect();
			return 2;
		}
		h.file = c.fh;
	}
	h.dir = h.file;
	printf("handle ");
	hex(stdout, &h.file);
	printf("\n");

	if (argc - optind > 3) {
		for (i = optind + 3; i < argc; i++) {
			int rc = run(&o, &h, argv[i]);

			if (rc < 0)
				break;
			failed |= rc;
		}
	} else {
		char line[4096];

		while (fgets(line, sizeof(line), stdin)) {
			int rc;

			line[strcspn(line, "\r\n")] = '\0';
			rc = run(&o, &h, line);
			if (rc < 0)
				break;
			failed |= rc;
		}
	}
	disconnect();
	return failed ? 1 : 0;
}
