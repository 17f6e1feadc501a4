#include "spool/spool_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/event.h>

#include "base/err.h"
#include "base/handoff.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/work.h"

/*
 * Body bytes collect in memory and reach the slot in chunks of this size, so
 * a message of up to SPOOL_CHUNK bytes costs one write() in all.
 */
#define SPOOL_CHUNK (64 * 1024)
/*
 * Concurrent fdatasyncs of different slots share the disk's cache flushes,
 * so throughput grows with the commits in flight: enough threads that
 * every busy session can have its sync outstanding. The loops of a server
 * share SPOOL_THREADS_ALL, each keeping at most SPOOL_THREADS_LOOP and
 * at least SPOOL_THREADS_MIN.
 */
#define SPOOL_THREADS_LOOP 16
#define SPOOL_THREADS_ALL 32
#define SPOOL_THREADS_MIN 2
/*
 * A freed slot bigger than this is cut back to nothing, so that a burst of
 * big messages does not hold on to the disk; smaller ones keep their
 * blocks, and the next message written into them needs no allocation.
 */
#define SPOOL_SLOT_KEEP (128 * 1024)
/*
 * Queue files written in one piece stay in memory, up to this much in all,
 * until delivery opens them, so the common case never reads a message back
 * from disk (no second pass); the rest are read from their slot.
 */
#define SPOOL_HOT_MAX (16 * 1024 * 1024)
#define SPOOL_NO_REC SIZE_MAX
/* A queue id: time (9 + 5 hex digits), spool instance (4), slot (8). */
#define SPOOL_ID_LEN 26

/*
 * The spool of spool_open() is the main one: it owns the slots, the hot
 * list, the directory sync and delivery's callback. An attached spool (one
 * per further event loop) has only its loop, its commit threads and its
 * nonces; main points at the spool that owns the rest (itself, for the
 * main one), and the descriptors are the main one's, not owned.
 */
struct spool {
	struct spool *main;
	struct event_base *base;
	struct work_pool *pool;
	int slotsfd, quarfd;
	int lockfd; /* main only: held while the spool is open */
	unsigned instance;
	uint64_t nonce_state; /* loop thread */
	/* Main only: queue ids committed by attached spools' loops. */
	struct handoff *remote_queued;

	spool_queued_cb *queued_cb;
	void *queued_arg;
	struct event *recover_ev;
	char **recovered;
	size_t recovered_count;

	pthread_mutex_t hot_lock; /* the hot list: loop and workers */
	struct spool_hot *hot, **hot_tail; /* in commit order */
	size_t hot_bytes;

	pthread_mutex_t slot_lock; /* free slots: loop and workers */
	uint32_t *free_slots;
	size_t free_count, free_cap;
	uint32_t next_slot; /* never used yet: the file is still to create */

	/*
	 * Group commit of slots/ for new slot files (worker threads only,
	 * spool_sync_dir()): each creation takes a ticket; a directory fsync
	 * round covers the tickets issued before it started. The latest
	 * round's result answers for everyone waiting, since a later
	 * successful fsync of the directory covers earlier creations too.
	 */
	pthread_mutex_t sync_lock;
	pthread_cond_t sync_cv;
	uint64_t sync_issued, sync_started, sync_done;
	bool sync_running;
	int sync_err;
	/*
	 * A directory fsync failed: a slot file created since may not be
	 * durable, so every commit syncs the directory until one succeeds.
	 */
	atomic_bool dir_unsynced;
};

struct spool_hot {
	struct spool_hot *next;
	struct buf bytes;
	char id[SPOOL_ID_MAX + 1];
};

struct spool_msg {
	struct spool *spool;
	char id[SPOOL_ID_MAX + 1];
	uint32_t slot;
	bool new_slot;       /* its file is created by this message */
	int fd;              /* the slot, once something is written to it */
	struct buf out;      /* records not yet written */
	uint64_t file_off;   /* bytes written to the slot so far */
	uint32_t crc;        /* of those bytes, after the magic */
	size_t body_rec;     /* offset in out of the open BODY record */
	struct buf headers;
	uint64_t body_len;
	uint64_t nonce;
	uint32_t rcpt_count;
	int werr;            /* a body write failed: never commit it */
	int err;             /* set by the commit job */
	bool queued;         /* the slot says queued and is synced */
	bool whole;          /* out held the whole file at commit */
	spool_commit_cb *cb;
	void *arg;
	bool committing, detached;
};

int
spool_errno_err(int e)
{
	return e == ENOSPC || e == EDQUOT ? ERR_NOSPACE : ERR_IO;
}

int
spool_pwrite_all(int fd, const void *p, size_t len, uint64_t off)
{
	const char *s = p;

	while (len) {
		ssize_t n = pwrite(fd, s, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return spool_errno_err(errno);
		}
		s += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

void
spool_slot_name(uint32_t slot, char name[SPOOL_SLOT_NAME])
{
	snprintf(name, SPOOL_SLOT_NAME, "%08x", slot);
}

/* Names and ids are written with %x: lower-case hex digits only. */
static int
hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The number of a slot file's name, or -1 for any other name. */
static int64_t
slot_parse(const char *s, size_t len)
{
	uint32_t v = 0;
	size_t i;

	if (len != SPOOL_SLOT_NAME - 1)
		return -1;
	for (i = 0; i < len; i++) {
		int d = hex_digit(s[i]);

		if (d < 0)
			return -1;
		v = v << 4 | (uint32_t)d;
	}
	return v;
}

int
spool_id_slot(const char *id, uint32_t *slot)
{
	size_t len = strlen(id);
	int64_t v;
	size_t i;

	if (len != SPOOL_ID_LEN)
		return ERR_NOTFOUND;
	for (i = 0; i < len; i++)
		if (hex_digit(id[i]) < 0)
			return ERR_NOTFOUND;
	v = slot_parse(id + len - (SPOOL_SLOT_NAME - 1), SPOOL_SLOT_NAME - 1);
	if (v < 0)
		return ERR_NOTFOUND;
	*slot = (uint32_t)v;
	return 0;
}

int
spool_slot_open(struct spool *spool, uint32_t slot)
{
	char name[SPOOL_SLOT_NAME];
	int fd;

	spool_slot_name(slot, name);
	fd = openat(spool->slotsfd, name, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? ERR_NOTFOUND : spool_errno_err(errno);
	return fd;
}

static void
slot_push_free(struct spool *spool, uint32_t slot)
{
	pthread_mutex_lock(&spool->slot_lock);
	if (spool->free_count == spool->free_cap) {
		spool->free_cap = spool->free_cap ? spool->free_cap * 2 : 64;
		spool->free_slots = xrealloc(spool->free_slots,
		    spool->free_cap * sizeof *spool->free_slots);
	}
	spool->free_slots[spool->free_count++] = slot;
	pthread_mutex_unlock(&spool->slot_lock);
}

/*
 * The free mark is not synced: a crash before it reaches the disk brings
 * the message back at start, delivered once more (at least once).
 */
static int
slot_mark_free(int fd)
{
	struct stat st;

	if (fstat(fd, &st) == 0 && st.st_size > SPOOL_SLOT_KEEP)
		return ftruncate(fd, 0) < 0 ? spool_errno_err(errno) : 0;
	return spool_pwrite_all(fd, SPOOL_MAGIC_FREE, SPOOL_MAGIC_LEN, 0);
}

int
spool_slot_release(struct spool *spool, uint32_t slot, int fd)
{
	int rc = slot_mark_free(fd);

	if (rc == 0)
		slot_push_free(spool, slot);
	return rc;
}

static int
mkdir_p(const char *path)
{
	char *tmp = xstrdup(path);
	char *s;
	int rc = 0;

	for (s = tmp + 1; ; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;

		*s = '\0';
		if (mkdir(tmp, 0700) < 0 && errno != EEXIST) {
			rc = -1;
			break;
		}
		*s = c;
		if (c == '\0')
			break;
	}
	free(tmp);
	return rc;
}

static int
open_subdir(const char *dir, const char *sub, char *err, size_t errsz)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof path, "%s/%s", dir, sub);
	if (mkdir(path, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return -1;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
	return fd;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
recovered_add(struct spool *spool, struct span id, size_t *cap)
{
	if (spool->recovered_count == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		spool->recovered = xrealloc(spool->recovered,
		    *cap * sizeof *spool->recovered);
	}
	spool->recovered[spool->recovered_count++] = xstrndup(id.p, id.len);
}

/*
 * Copies a damaged slot to quarantine/, named by its queue id when that is
 * readable, where an operator can look at it. 0 when the copy is durable.
 */
static int
slot_quarantine(struct spool *spool, const char *name, const void *p,
    size_t len)
{
	int fd, rc;

	fd = openat(spool->quarfd, name, O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC, 0600);
	if (fd < 0)
		return spool_errno_err(errno);
	rc = spool_pwrite_all(fd, p, len, 0);
	if (rc == 0 && fsync(fd) < 0)
		rc = spool_errno_err(errno);
	close(fd);
	if (rc == 0 && fsync(spool->quarfd) < 0)
		rc = spool_errno_err(errno);
	return rc;
}

/*
 * One slot at start. Queued and intact: remembered for delivery. Being
 * written: never acknowledged, freed. Queued but damaged, or unknown bytes:
 * copied to quarantine/, then freed. 1 queued, 0 free, ERR_IO unusable.
 */
static int
slot_recover(struct spool *spool, uint32_t slot, const char *name,
    size_t *cap)
{
	struct spool_file_info info;
	char magic[SPOOL_MAGIC_LEN], qname[SPOOL_ID_MAX + 8];
	struct stat st;
	uint32_t id_slot;
	void *map;
	int fd, rc;

	fd = openat(spool->slotsfd, name, O_RDWR | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		log_warn("spool recover slot=%s error=unreadable", name);
		if (fd >= 0)
			close(fd);
		return ERR_IO;
	}
	if (st.st_size < SPOOL_MAGIC_LEN ||
	    pread(fd, magic, sizeof magic, 0) != sizeof magic ||
	    memcmp(magic, SPOOL_MAGIC_FREE, SPOOL_MAGIC_LEN) == 0) {
		close(fd);
		return 0;
	}
	if (memcmp(magic, SPOOL_MAGIC_WRITING, SPOOL_MAGIC_LEN) == 0) {
		log_info("spool clean slot=%s", name);
		rc = slot_mark_free(fd);
		close(fd);
		return rc;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		log_warn("spool recover slot=%s error=\"%s\"", name,
		    strerror(errno));
		close(fd);
		return ERR_IO;
	}
	rc = spool_file_scan(map, (size_t)st.st_size, &info);
	snprintf(qname, sizeof qname, "slot-%s", name);
	if (info.id.len && info.id.len <= SPOOL_ID_MAX) {
		char id[SPOOL_ID_MAX + 1];

		memcpy(id, info.id.p, info.id.len);
		id[info.id.len] = '\0';
		if (spool_id_slot(id, &id_slot) == 0) {
			memcpy(qname, id, info.id.len + 1);
			/* A slot holds only ids that name it. */
			if (id_slot != slot)
				rc = ERR_SYNTAX;
		}
	}
	if (rc == 0 && info.complete) {
		recovered_add(spool, info.id, cap);
		munmap(map, (size_t)st.st_size);
		close(fd);
		return 1;
	}
	rc = rc == 0 ? 0 : ERR_SYNTAX;
	if (slot_quarantine(spool, qname, map, (size_t)st.st_size) < 0) {
		/* Kept as it is: never delivered, never written over. */
		log_warn("spool quarantine id=%s error=\"%s\"", qname,
		    strerror(errno));
		munmap(map, (size_t)st.st_size);
		close(fd);
		return ERR_IO;
	}
	log_warn("spool quarantine id=%s reason=%s", qname,
	    info.damaged ? "damaged" : rc == 0 ? "incomplete" : "corrupt");
	munmap(map, (size_t)st.st_size);
	rc = slot_mark_free(fd);
	close(fd);
	return rc;
}

/*
 * Every slot file is looked at once: queued ones go to delivery, free ones
 * to the free list. Slots that cannot be used stay out of both.
 */
static void
spool_recover(struct spool *spool)
{
	DIR *d = fdopendir(dup(spool->slotsfd));
	struct dirent *e;
	size_t cap = 0;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		int64_t slot = slot_parse(e->d_name, strlen(e->d_name));

		if (slot < 0)
			continue;
		if ((uint32_t)slot >= spool->next_slot)
			spool->next_slot = (uint32_t)slot + 1;
		if (slot_recover(spool, (uint32_t)slot, e->d_name, &cap) == 0)
			slot_push_free(spool, (uint32_t)slot);
	}
	closedir(d);
	if (spool->recovered_count)
		qsort(spool->recovered, spool->recovered_count,
		    sizeof *spool->recovered, name_cmp);
	log_info("spool recover queued=%zu slots=%u", spool->recovered_count,
	    spool->next_slot);
}

unsigned
spool_commit_threads(unsigned loops)
{
	unsigned n = SPOOL_THREADS_ALL / (loops ? loops : 1);

	if (n > SPOOL_THREADS_LOOP)
		return SPOOL_THREADS_LOOP;
	return n < SPOOL_THREADS_MIN ? SPOOL_THREADS_MIN : n;
}

/* The pid a lock file names, or 0. */
static long
lock_pid(int fd)
{
	char text[32];
	ssize_t n = pread(fd, text, sizeof text - 1, 0);

	text[n > 0 ? n : 0] = '\0';
	return strtol(text, NULL, 10);
}

/*
 * One server per spool: two would deliver the same messages and hand out
 * the same slots. The lock goes with the process (flock), however it
 * ends; the file names the holder, for errors and mxgate flush.
 */
static int
spool_lock(const char *dir, char *err, size_t errsz)
{
	char path[4096], pid[32];
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "%s/lock", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			snprintf(err, errsz, "%s: in use by another mxgate "
			    "(pid %ld)", dir, lock_pid(fd));
		else
			snprintf(err, errsz, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int
spool_holder(const char *dir, long *pid)
{
	char path[4096];
	int fd, held;

	snprintf(path, sizeof path, "%s/lock", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : ERR_IO;
	/* A shared lock is ours only while nobody holds the spool. */
	held = flock(fd, LOCK_SH | LOCK_NB) < 0;
	if (held && errno != EWOULDBLOCK) {
		close(fd);
		return ERR_IO;
	}
	*pid = held ? lock_pid(fd) : 0;
	close(fd);
	return held && *pid > 0;
}

struct spool *
spool_open(struct event_base *base, const char *dir, unsigned threads,
    char *err, size_t errsz)
{
	struct spool *spool;
	unsigned short rnd;

	if (mkdir_p(dir) < 0) {
		snprintf(err, errsz, "%s: %s", dir, strerror(errno));
		return NULL;
	}
	spool = xcalloc(1, sizeof *spool);
	spool->main = spool;
	spool->base = base;
	spool->slotsfd = spool->quarfd = spool->lockfd = -1;
	pthread_mutex_init(&spool->hot_lock, NULL);
	pthread_mutex_init(&spool->slot_lock, NULL);
	spool->hot_tail = &spool->hot;
	pthread_mutex_init(&spool->sync_lock, NULL);
	pthread_cond_init(&spool->sync_cv, NULL);
	if ((spool->lockfd = spool_lock(dir, err, errsz)) < 0 ||
	    (spool->slotsfd = open_subdir(dir, "slots", err, errsz)) < 0 ||
	    (spool->quarfd = open_subdir(dir, "quarantine", err, errsz)) < 0) {
		spool_close(spool);
		return NULL;
	}
	/* Ids stay unique between several spools in one process. */
	if (getrandom(&rnd, sizeof rnd, 0) != sizeof rnd)
		rnd = (unsigned short)getpid();
	spool->instance = rnd;
	if (getrandom(&spool->nonce_state, sizeof spool->nonce_state, 0) !=
	    sizeof spool->nonce_state)
		spool->nonce_state = (uint64_t)time(NULL) << 16 ^ rnd;
	spool_recover(spool);
	/*
	 * A slot file created just before a crash (for a big message never
	 * acknowledged) may be in the free list now: its directory entry must
	 * be durable before a message in it is acknowledged.
	 */
	if (fsync(spool->slotsfd) < 0) {
		snprintf(err, errsz, "%s/slots: %s", dir, strerror(errno));
		spool_close(spool);
		return NULL;
	}
	spool->pool = work_new(base, threads);
	return spool;
}

void
spool_close(struct spool *spool)
{
	size_t i;

	if (spool == NULL)
		return;
	work_free(spool->pool);
	if (spool->main != spool) {
		free(spool);
		return;
	}
	handoff_free(spool->remote_queued, free);
	if (spool->recover_ev)
		event_free(spool->recover_ev);
	for (i = 0; i < spool->recovered_count; i++)
		free(spool->recovered[i]);
	free(spool->recovered);
	if (spool->slotsfd >= 0)
		close(spool->slotsfd);
	if (spool->quarfd >= 0)
		close(spool->quarfd);
	if (spool->lockfd >= 0)
		close(spool->lockfd);
	while (spool->hot) {
		struct spool_hot *h = spool->hot;

		spool->hot = h->next;
		buf_free(&h->bytes);
		free(h);
	}
	pthread_cond_destroy(&spool->sync_cv);
	pthread_mutex_destroy(&spool->sync_lock);
	pthread_mutex_destroy(&spool->hot_lock);
	pthread_mutex_destroy(&spool->slot_lock);
	free(spool->free_slots);
	free(spool);
}

/*
 * Time first, so ids sort in arrival order; the slot last, so that
 * delivery finds the message from its id. A slot holds one message at a
 * time and keeps it far longer than a microsecond: ids never repeat.
 */
static void
spool_new_id(struct spool *spool, uint32_t slot, char *id)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	snprintf(id, SPOOL_ID_MAX + 1, "%09llx%05lx%04x%08x",
	    (unsigned long long)tv.tv_sec & 0xfffffffffULL,
	    (unsigned long)tv.tv_usec, spool->instance & 0xffff, slot);
}

/*
 * Tells one occupant of a slot from the next (splitmix64): DONE records
 * carry it, so those an earlier message left behind never count.
 */
static uint64_t
spool_new_nonce(struct spool *spool)
{
	uint64_t z = spool->nonce_state += 0x9e3779b97f4a7c15ULL;

	z = (z ^ z >> 30) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ z >> 27) * 0x94d049bb133111ebULL;
	return z ^ z >> 31;
}

/* A free slot, or the next number when there is none (loop thread). */
static void
slot_take(struct spool *spool, struct spool_msg *msg)
{
	spool = spool->main;
	pthread_mutex_lock(&spool->slot_lock);
	if (spool->free_count) {
		msg->slot = spool->free_slots[--spool->free_count];
	} else {
		msg->slot = spool->next_slot++;
		msg->new_slot = true;
	}
	pthread_mutex_unlock(&spool->slot_lock);
}

struct spool_msg *
spool_msg_new(struct spool *spool, const struct spool_envelope *env,
    int *err)
{
	struct spool_msg *msg;
	size_t i, iplen = strlen(env->client_ip), helolen = strlen(env->helo),
	    fromlen = strlen(env->mail_from);

	if (env->rcpt_count == 0 || env->rcpt_count > UINT32_MAX) {
		*err = ERR_BADSTATE;
		return NULL;
	}
	if (iplen > SPOOL_IP_MAX || helolen > SPOOL_HELO_MAX ||
	    fromlen > SPOOL_PATH_MAX) {
		*err = ERR_TOOLONG;
		return NULL;
	}
	for (i = 0; i < env->rcpt_count; i++) {
		size_t n = strlen(env->rcpts[i]);

		if (n == 0 || n > SPOOL_PATH_MAX) {
			*err = ERR_TOOLONG;
			return NULL;
		}
	}
	msg = xcalloc(1, sizeof *msg);
	msg->spool = spool;
	msg->fd = -1;
	msg->body_rec = SPOOL_NO_REC;
	slot_take(spool, msg);
	spool_new_id(spool, msg->slot, msg->id);
	msg->nonce = spool_new_nonce(spool);
	buf_reserve(&msg->out, SPOOL_CHUNK + SPOOL_REC_HDR);
	buf_add(&msg->out, SPOOL_MAGIC_WRITING, SPOOL_MAGIC_LEN);
	spool_rec_put(&msg->out, SPOOL_REC_ID, msg->id, strlen(msg->id));
	spool_rec_put(&msg->out, SPOOL_REC_IP, env->client_ip, iplen);
	spool_rec_put(&msg->out, SPOOL_REC_HELO, env->helo, helolen);
	spool_rec_put(&msg->out, SPOOL_REC_FROM, env->mail_from, fromlen);
	for (i = 0; i < env->rcpt_count; i++)
		spool_rec_put(&msg->out, SPOOL_REC_RCPT, env->rcpts[i],
		    strlen(env->rcpts[i]));
	msg->rcpt_count = (uint32_t)env->rcpt_count;
	return msg;
}

const char *
spool_msg_id(const struct spool_msg *msg)
{
	return msg->id;
}

/* Gives the open BODY record its final length. */
static void
msg_close_body(struct spool_msg *msg)
{
	if (msg->body_rec == SPOOL_NO_REC)
		return;
	spool_put32((unsigned char *)msg->out.p + msg->body_rec + 1,
	    (uint32_t)(msg->out.len - msg->body_rec - SPOOL_REC_HDR));
	msg->body_rec = SPOOL_NO_REC;
}

/* The CRC of the buffered bytes, after what is written already. */
static uint32_t
msg_out_crc(const struct spool_msg *msg)
{
	size_t skip = msg->file_off == 0 ? SPOOL_MAGIC_LEN : 0;

	return spool_crc(msg->crc, msg->out.p + skip, msg->out.len - skip);
}

/* Writes what is buffered; opens (or creates) the slot on first use. */
static int
msg_write_out(struct spool_msg *msg)
{
	int rc;

	if (msg->fd < 0) {
		char name[SPOOL_SLOT_NAME];

		spool_slot_name(msg->slot, name);
		msg->fd = openat(msg->spool->slotsfd, name, O_RDWR |
		    O_CLOEXEC | (msg->new_slot ? O_CREAT : 0), 0600);
		if (msg->fd < 0)
			return spool_errno_err(errno);
	}
	rc = spool_pwrite_all(msg->fd, msg->out.p, msg->out.len,
	    msg->file_off);
	msg->file_off += msg->out.len;
	if (!msg->whole)
		buf_reset(&msg->out);
	return rc;
}

/* A full chunk of a big message, from the loop: on to the slot. */
static int
msg_flush(struct spool_msg *msg)
{
	msg_close_body(msg);
	msg->crc = msg_out_crc(msg);
	return msg_write_out(msg);
}

int
spool_msg_write(struct spool_msg *msg, const void *p, size_t len)
{
	const char *s = p;

	if (msg->werr)
		return msg->werr;
	while (len) {
		size_t room, n;

		if (msg->body_rec == SPOOL_NO_REC) {
			msg->body_rec = msg->out.len;
			spool_rec_header(&msg->out, SPOOL_REC_BODY, 0);
		}
		room = SPOOL_CHUNK - (msg->out.len - msg->body_rec -
		    SPOOL_REC_HDR);
		n = len < room ? len : room;
		buf_add(&msg->out, s, n);
		msg->body_len += n;
		s += n;
		len -= n;
		if (n == room) {
			int rc = msg_flush(msg);

			if (rc < 0)
				return msg->werr = rc;
		}
	}
	return 0;
}

int
spool_msg_set_headers(struct spool_msg *msg, const void *p, size_t len)
{
	if (len > UINT32_MAX)
		return ERR_TOOLONG;
	buf_reset(&msg->headers);
	buf_add(&msg->headers, p, len);
	return 0;
}

static void
msg_free(struct spool_msg *msg)
{
	buf_free(&msg->out);
	buf_free(&msg->headers);
	free(msg);
}

/*
 * Worker thread: the slot of a message that will never be queued. A slot
 * file this message created goes again, since its directory entry was
 * never synced and a commit into it could not count on it.
 */
static void
abort_run(void *arg)
{
	struct spool_msg *msg = arg;
	struct spool *spool = msg->spool->main;
	char name[SPOOL_SLOT_NAME];

	if (msg->fd < 0) {
		if (!msg->new_slot)
			slot_push_free(spool, msg->slot);
		return;
	}
	spool_slot_name(msg->slot, name);
	if (msg->new_slot) {
		unlinkat(spool->slotsfd, name, 0);
	} else {
		int rc = spool_slot_release(spool, msg->slot, msg->fd);

		if (rc < 0)
			log_warn("spool slot=%s error=\"%s\"", name,
			    err_str(rc));
	}
	close(msg->fd);
	msg->fd = -1;
}

static void
abort_done(void *arg)
{
	msg_free(arg);
}

void
spool_msg_abort(struct spool_msg *msg)
{
	if (msg == NULL)
		return;
	if (msg->fd < 0) {
		abort_run(msg);
		msg_free(msg);
		return;
	}
	work_submit(msg->spool->pool, abort_run, abort_done, msg);
}

void
spool_msg_detach(struct spool_msg *msg)
{
	if (msg->committing)
		msg->detached = true;
	else
		spool_msg_abort(msg);
}

/*
 * Worker thread: returns once a directory fsync that started after our
 * slot file was created has finished. A round started after ticket T
 * covers every creation up to T, so the creations that land while a round
 * runs share the next one. Only the first messages of a spool create slot
 * files: this is a warm-up cost.
 */
static int
spool_sync_dir(struct spool *spool)
{
	uint64_t ticket, upto;
	int rc;

	pthread_mutex_lock(&spool->sync_lock);
	ticket = ++spool->sync_issued;
	while (spool->sync_done < ticket) {
		if (spool->sync_started >= ticket || spool->sync_running) {
			pthread_cond_wait(&spool->sync_cv, &spool->sync_lock);
			continue;
		}
		upto = spool->sync_started = spool->sync_issued;
		spool->sync_running = true;
		pthread_mutex_unlock(&spool->sync_lock);
		rc = fsync(spool->slotsfd) < 0 ? spool_errno_err(errno) : 0;
		atomic_store(&spool->dir_unsynced, rc < 0);
		pthread_mutex_lock(&spool->sync_lock);
		spool->sync_running = false;
		spool->sync_err = rc;
		if (upto > spool->sync_done)
			spool->sync_done = upto;
		pthread_cond_broadcast(&spool->sync_cv);
	}
	rc = spool->sync_err;
	pthread_mutex_unlock(&spool->sync_lock);
	return rc;
}

/* The records after the body, up to END's CRC (loop or worker). */
static void
msg_finish_records(struct spool_msg *msg)
{
	unsigned char end[SPOOL_END_LEN];

	msg_close_body(msg);
	if (msg->headers.len)
		spool_rec_put(&msg->out, SPOOL_REC_HEADERS, msg->headers.p,
		    msg->headers.len);
	spool_put64(end, msg->body_len);
	spool_put32(end + 8, msg->rcpt_count);
	spool_put64(end + 12, msg->nonce);
	spool_rec_header(&msg->out, SPOOL_REC_END, sizeof end);
	buf_add(&msg->out, end, sizeof end - 4);
	spool_put32(end + 20, msg_out_crc(msg));
	buf_add(&msg->out, end + 20, 4);
}

/*
 * Worker thread: the rest of the message, then the magic that says queued
 * (a separate write of 4 bytes, so that a process killed in the middle
 * leaves a slot still marked as being written), one fdatasync, and the
 * directory's when the slot file is new.
 */
static void
commit_run(void *arg)
{
	struct spool_msg *msg = arg;
	struct spool *spool = msg->spool->main;
	int rc;

	/* A chunk is missing: the message must not be queued. */
	rc = msg->werr;
	if (rc == 0) {
		msg->whole = msg->fd < 0;
		msg_finish_records(msg);
		rc = msg_write_out(msg);
	}
	if (rc == 0)
		rc = spool_pwrite_all(msg->fd, SPOOL_MAGIC_QUEUED,
		    SPOOL_MAGIC_LEN, 0);
	if (rc == 0 && fdatasync(msg->fd) < 0)
		rc = spool_errno_err(errno);
	if (rc < 0) {
		msg->whole = false;
		abort_run(msg);
		msg->err = rc;
		return;
	}
	close(msg->fd);
	msg->fd = -1;
	msg->queued = true;
	if (msg->whole)
		memcpy(msg->out.p, SPOOL_MAGIC_QUEUED, SPOOL_MAGIC_LEN);
	if (msg->new_slot || atomic_load(&spool->dir_unsynced))
		msg->err = spool_sync_dir(spool);
}

static void
msg_finish(struct spool_msg *msg, int err)
{
	if (!msg->detached && msg->cb)
		msg->cb(msg->arg, err, err == 0 ? msg->id : NULL);
	if (err < 0)
		log_warn("spool commit id=%s error=\"%s\"", msg->id,
		    err_str(err));
	msg_free(msg);
}

/* Keeps a whole queue file's bytes for delivery (loop thread). */
static void
spool_hot_put(struct spool *spool, struct spool_msg *msg)
{
	struct spool_hot *h;

	pthread_mutex_lock(&spool->hot_lock);
	if (spool->hot_bytes + msg->out.len <= SPOOL_HOT_MAX) {
		h = xmalloc(sizeof *h);
		memcpy(h->id, msg->id, sizeof h->id);
		h->bytes = msg->out;
		msg->out = (struct buf){ 0 };
		spool->hot_bytes += h->bytes.len;
		/* Delivery asks in about this order: it finds them early. */
		h->next = NULL;
		*spool->hot_tail = h;
		spool->hot_tail = &h->next;
	}
	pthread_mutex_unlock(&spool->hot_lock);
}

int
spool_hot_take(struct spool *spool, const char *id, struct buf *out)
{
	struct spool_hot **pp, *h;
	int found = 0;

	pthread_mutex_lock(&spool->hot_lock);
	for (pp = &spool->hot; (h = *pp) != NULL; pp = &h->next) {
		if (strcmp(h->id, id) != 0)
			continue;
		*pp = h->next;
		if (spool->hot_tail == &h->next)
			spool->hot_tail = pp;
		spool->hot_bytes -= h->bytes.len;
		*out = h->bytes;
		free(h);
		found = 1;
		break;
	}
	pthread_mutex_unlock(&spool->hot_lock);
	return found;
}

static void
commit_done(void *arg)
{
	struct spool_msg *msg = arg;
	struct spool *spool = msg->spool, *main = spool->main;
	char id[SPOOL_ID_MAX + 1];
	bool queued = msg->queued;

	memcpy(id, msg->id, sizeof id);
	if (queued && msg->whole)
		spool_hot_put(main, msg);
	msg_finish(msg, msg->err);
	/*
	 * Even if the directory fsync failed the slot says queued and may be
	 * found again at start: deliver it now (at least once). Delivery
	 * lives in the main spool's loop.
	 */
	if (!queued)
		return;
	if (spool != main)
		handoff_post(main->remote_queued, xstrdup(id));
	else if (main->queued_cb)
		main->queued_cb(main->queued_arg, id);
}

static void
remote_queued(void *arg, void *item)
{
	struct spool *spool = arg;

	if (spool->queued_cb)
		spool->queued_cb(spool->queued_arg, item);
	free(item);
}

struct spool *
spool_attach(struct spool *main, struct event_base *base, unsigned threads)
{
	struct spool *spool = xcalloc(1, sizeof *spool);

	spool->main = main;
	spool->base = base;
	spool->slotsfd = main->slotsfd;
	spool->quarfd = main->quarfd;
	spool->instance = main->instance;
	if (getrandom(&spool->nonce_state, sizeof spool->nonce_state, 0) !=
	    sizeof spool->nonce_state)
		spool->nonce_state = main->nonce_state ^ (uintptr_t)spool;
	if (main->remote_queued == NULL)
		main->remote_queued = handoff_new(main->base, remote_queued,
		    main);
	spool->pool = work_new(base, threads);
	return spool;
}

void
spool_msg_commit(struct spool_msg *msg, spool_commit_cb *cb, void *arg)
{
	msg->cb = cb;
	msg->arg = arg;
	msg->committing = true;
	work_submit(msg->spool->pool, commit_run, commit_done, msg);
}

static void
recover_fire(evutil_socket_t fd, short what, void *arg)
{
	struct spool *spool = arg;
	size_t i;

	(void)fd;
	(void)what;
	for (i = 0; i < spool->recovered_count; i++) {
		if (spool->queued_cb)
			spool->queued_cb(spool->queued_arg,
			    spool->recovered[i]);
		free(spool->recovered[i]);
	}
	free(spool->recovered);
	spool->recovered = NULL;
	spool->recovered_count = 0;
}

void
spool_on_queued(struct spool *spool, spool_queued_cb *cb, void *arg)
{
	struct timeval now = { 0, 0 };

	spool->queued_cb = cb;
	spool->queued_arg = arg;
	/* What was queued before the start is handed over from the loop. */
	if (cb && spool->recovered_count && spool->recover_ev == NULL) {
		spool->recover_ev = evtimer_new(spool->base, recover_fire,
		    spool);
		evtimer_add(spool->recover_ev, &now);
	}
}
