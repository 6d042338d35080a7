/* store_spool.c — a live capture's store: the drains append each batch to a
 * spool file, a ring of bytes whose oldest packets are evicted when it is
 * full; packets are read back with pread, so they cost page cache, not the
 * process's memory. */
#define _GNU_SOURCE
#include "store_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SPOOL_DIR_PREFIX "ringmon-spool-"
#define SPOOL_FILE_NAME "packets"
/* A spool directory younger than this is never taken for a dead one: its
 * process may be between creating its file and locking it. */
#define STALE_AFTER_S 10
/* Packets are copied into one buffer and written with one pwrite: for small
 * packets that costs less than a pwritev segment each.  The largest packet
 * (the snap length, 262144) fits in it; packets per run are bounded too. */
#define RUN_BYTES (1u << 20)
#define RUN_PACKETS 1024u
/* make_room_locked can always index a whole run */
_Static_assert(RUN_PACKETS <= RC_STORE_SPOOL_MIN_PACKETS, "a run fits in the smallest index");

/* A run of packets to write with one pwrite: contiguous in the file. */
struct run {
	uint8_t bytes[RUN_BYTES];
	struct rc_store_entry entries[RUN_PACKETS];
	uint32_t n;
	uint64_t start; /* position of its first byte */
	uint64_t end;
};

/* Positions in the spool are free-running ("logical"): a packet at position
 * p lies at file offset p % size, and never across the file's end.  The
 * packets held lie in [tail, head), at most size bytes.
 *
 * One batch is appended at a time, under append_lock, which guards head,
 * tail, failed and run.  The store's lock is let go while a run is written:
 * the packets whose bytes it overwrites were evicted before, and its own are
 * indexed after, so readers (the UI's list, rc_store_info) never wait for
 * the disk. */
struct spool {
	pthread_mutex_t append_lock;
	int fd;
	char *dir;
	char *path;
	uint64_t size;
	uint64_t head; /* where the next packet goes */
	uint64_t tail; /* where the oldest packet held starts (head when none) */
	uint64_t failed; /* packets not stored: write errors */
	struct run *run; /* the batch being appended */
};

static struct spool *spool_of(struct rc_store *s)
{
	return s->backend_state;
}

static int64_t spool_read(struct rc_store *s, const struct rc_store_entry *e, uint8_t *buf,
			  uint64_t cap)
{
	struct spool *sp = spool_of(s);
	uint64_t want = e->caplen < cap ? e->caplen : cap;
	for (uint64_t done = 0; done < want;) {
		ssize_t n = pread(sp->fd, buf + done, want - done, (off_t)(e->data_offset + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (uint64_t)n;
	}
	return e->caplen;
}

static void spool_close(struct rc_store *s)
{
	struct spool *sp = spool_of(s);
	if (!sp)
		return;
	if (sp->fd >= 0)
		close(sp->fd);
	if (sp->path)
		unlink(sp->path);
	if (sp->dir)
		rmdir(sp->dir);
	free(sp->path);
	free(sp->dir);
	free(sp->run);
	pthread_mutex_destroy(&sp->append_lock);
	free(sp);
	s->backend_state = NULL;
}

/* A spool's process holds a lock on its file while it lives: a spool whose
 * lock is free was left by a process killed before it could remove it
 * (SIGKILL, a crash), and nobody can read it again.  This user's are removed
 * before a new one is made beside them; a directory that holds anything else
 * (a kept store saved there) stays, without its spool file. */
static void remove_dead_spools(const char *dir)
{
	int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0)
		return;
	DIR *entries = fdopendir(dir_fd);
	if (!entries) {
		close(dir_fd);
		return;
	}
	time_t now = time(NULL);
	struct dirent *e;
	while ((e = readdir(entries))) {
		struct stat st;
		if (strncmp(e->d_name, SPOOL_DIR_PREFIX, strlen(SPOOL_DIR_PREFIX)) != 0 ||
		    fstatat(dir_fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode) ||
		    st.st_uid != geteuid() || now - st.st_mtime < STALE_AFTER_S)
			continue;
		int spool_dir_fd = openat(dir_fd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (spool_dir_fd < 0)
			continue;
		int fd = openat(spool_dir_fd, SPOOL_FILE_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0) {
			unlinkat(spool_dir_fd, SPOOL_FILE_NAME, 0);
			unlinkat(dir_fd, e->d_name, AT_REMOVEDIR); /* fails if anything else is in it */
		}
		if (fd >= 0)
			close(fd);
		close(spool_dir_fd);
	}
	closedir(entries);
}

static const struct rc_store_backend spool_backend = {
	.close = spool_close,
	.read = spool_read,
};

int rc_store_create_spool(const char *dir, uint64_t spool_bytes, uint64_t spool_packets,
			  struct rc_store **out, char *errbuf, size_t errlen)
{
	if (spool_bytes < RC_STORE_SPOOL_MIN_BYTES || spool_bytes > (uint64_t)INT64_MAX / 2) {
		rc_err(errbuf, errlen, "a spool of %llu bytes does not fit: at least %u bytes (1 MiB)",
		       (unsigned long long)spool_bytes, RC_STORE_SPOOL_MIN_BYTES);
		return -EINVAL;
	}
	if (spool_packets < RC_STORE_SPOOL_MIN_PACKETS || spool_packets > RC_STORE_SPOOL_MAX_PACKETS) {
		rc_err(errbuf, errlen, "a spool of %llu packets does not fit: %u to %llu packets",
		       (unsigned long long)spool_packets, RC_STORE_SPOOL_MIN_PACKETS,
		       (unsigned long long)RC_STORE_SPOOL_MAX_PACKETS);
		return -EINVAL;
	}
	if (!dir || !*dir)
		dir = getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/tmp";
	struct rc_store *s = store_new(RC_STORE_SPOOL, &spool_backend);
	struct spool *sp = calloc(1, sizeof(*sp));
	if (!s || !sp) {
		free(sp);
		rc_store_close(s);
		rc_err(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&sp->append_lock, NULL);
	sp->fd = -1;
	sp->size = spool_bytes;
	s->backend_state = sp;
	sp->run = malloc(sizeof(*sp->run));
	if (!sp->run || store_fix_capacity(s, spool_packets) < 0) {
		rc_store_close(s);
		rc_err(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	s->bytes_total = spool_bytes;
	int err = 0;
	remove_dead_spools(dir);
	if (asprintf(&sp->dir, "%s/" SPOOL_DIR_PREFIX "XXXXXX", dir) < 0) {
		sp->dir = NULL;
		err = ENOMEM;
	} else if (!mkdtemp(sp->dir)) { /* mode 0700, a name nobody can guess */
		err = errno;
		free(sp->dir);
		sp->dir = NULL;
	} else if (asprintf(&sp->path, "%s/" SPOOL_FILE_NAME, sp->dir) < 0) {
		sp->path = NULL;
		err = ENOMEM;
	} else if ((sp->fd = open(sp->path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
				  0600)) < 0) {
		err = errno;
		free(sp->path);
		sp->path = NULL;
	} else if (flock(sp->fd, LOCK_EX | LOCK_NB) < 0) { /* alive: see remove_dead_spools */
		err = errno;
	}
	if (err) {
		rc_err(errbuf, errlen, "%s: cannot create the packet spool: %s", dir, strerror(err));
		rc_store_close(s);
		return -err;
	}
	*out = s;
	return 0;
}

int rc_store_spool_dir(struct rc_store *s, char *buf, size_t len)
{
	if (s->backend != &spool_backend)
		return -ENOENT;
	struct spool *sp = spool_of(s);
	if (strlen(sp->dir) >= len)
		return -ERANGE;
	strcpy(buf, sp->dir);
	return 0;
}

int rc_store_add_interface(struct rc_store *s, const char *name, uint32_t linktype,
			   uint32_t snaplen)
{
	if (s->backend != &spool_backend)
		return -EROFS;
	pthread_mutex_lock(&s->lock);
	int rc = store_add_interface(s, name, name ? strlen(name) : 0, linktype, snaplen);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* Evict the oldest packets until the bytes up to `end` (a position) can be
 * written and `pending` more packets indexed: the held bytes must stay within
 * one lap of it, the held packets within the index.  Either way they count
 * as evicted, so stored == held + evicted. */
static void make_room_locked(struct rc_store *s, struct spool *sp, uint64_t end, uint32_t pending)
{
	while (sp->tail + sp->size < end || s->count - s->first + pending > s->capacity) {
		if (s->first == s->count) {
			sp->tail = sp->head;
			return;
		}
		store_evict(s, 1);
		if (s->first == s->count) {
			sp->tail = sp->head;
		} else {
			/* the next packet's position, from its file offset: it
			 * lies less than a lap after the old tail */
			uint64_t offset = store_entry(s, s->first)->data_offset;
			sp->tail += (offset + sp->size - sp->tail % sp->size) % sp->size;
		}
	}
}

/* Write the run (the store's lock let go meanwhile) and index the packets
 * written whole; returns how many, and in *err the errno of a write that
 * fell short (0 when all were). */
static uint32_t write_run_locked(struct rc_store *s, struct spool *sp, struct run *run, int *err)
{
	uint64_t done = 0, want = run->end - run->start;
	*err = 0;
	pthread_mutex_unlock(&s->lock);
	while (done < want) {
		ssize_t n = pwrite(sp->fd, run->bytes + done, want - done,
				   (off_t)((run->start + done) % sp->size));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*err = n < 0 ? errno : ENOSPC;
			break;
		}
		done += (uint64_t)n;
	}
	pthread_mutex_lock(&s->lock);
	/* a run lies in one lap: a packet's position is the lap's start plus
	 * its offset */
	uint64_t lap_start = run->start - run->start % sp->size;
	uint32_t whole = 0;
	while (whole < run->n &&
	       lap_start + run->entries[whole].data_offset + run->entries[whole].caplen <=
		       run->start + done)
		whole++;
	if (whole) {
		if (s->first == s->count)
			sp->tail = run->start; /* the oldest held starts here */
		/* room was reserved for the batch */
		store_append(s, run->entries, whole);
		const struct rc_store_entry *last = &run->entries[whole - 1];
		sp->head = lap_start + last->data_offset + last->caplen;
	}
	atomic_fetch_add(&s->bytes_done, done);
	run->n = 0;
	return whole;
}

static uint16_t stored_flags(uint32_t slot_flags)
{
	return (uint16_t)((slot_flags & RC_SLOT_TRUNCATED ? RC_STORED_TRUNCATED : 0) |
			  (slot_flags & RC_SLOT_OUTGOING ? RC_STORED_OUTGOING : 0));
}

static void count_failed_locked(struct rc_store *s, struct spool *sp, uint32_t n, int err)
{
	sp->failed += n;
	if (err == ENOSPC)
		store_fail(s, -err, sp->head, "%s: the disk is full: %llu packets not stored",
			   sp->path, (unsigned long long)sp->failed);
	else
		store_fail(s, -err, sp->head, "%s: writing failed: %s: %llu packets not stored",
			   sp->path, strerror(err), (unsigned long long)sp->failed);
}

int rc_store_append(struct rc_store *s, uint32_t interface,
		    const struct rc_slot_hdr *const *slots, uint32_t n)
{
	if (s->backend != &spool_backend)
		return -EROFS;
	struct spool *sp = spool_of(s);
	pthread_mutex_lock(&sp->append_lock);
	pthread_mutex_lock(&s->lock);
	struct run *run = sp->run;
	if (interface >= s->interface_count) {
		pthread_mutex_unlock(&s->lock);
		pthread_mutex_unlock(&sp->append_lock);
		return -EINVAL;
	}
	int err = 0;
	uint32_t stored = 0;
	run->n = 0;
	for (uint32_t i = 0; i < n && !err; i++) {
		const struct rc_slot_hdr *slot = slots[i];
		uint64_t len = slot->caplen;
		if (len > RUN_BYTES) {
			err = EMSGSIZE; /* never with a snap length a capture takes */
			break;
		}
		uint64_t at = run->n ? run->end : sp->head;
		if (at % sp->size + len > sp->size)
			at += sp->size - at % sp->size; /* the rest of the lap stays unused */
		/* a run is contiguous, in one lap, and fits its buffer (so it
		 * never overwrites its own first bytes: the spool is larger) */
		if (run->n && (at != run->end || at / sp->size != run->start / sp->size ||
			       run->n == RUN_PACKETS || at + len > run->start + RUN_BYTES)) {
			stored += write_run_locked(s, sp, run, &err);
			if (err)
				break;
		}
		make_room_locked(s, sp, at + len, run->n + 1);
		if (run->n == 0)
			run->start = run->end = at;
		memcpy(run->bytes + (run->end - run->start), slot + 1, len);
		run->entries[run->n] = (struct rc_store_entry){
			.data_offset = at % sp->size,
			.ts_ns = (int64_t)slot->ts_ns,
			.caplen = slot->caplen,
			.wirelen = slot->wirelen,
			.interface = (uint16_t)interface,
			.flags = stored_flags(slot->flags),
		};
		run->n++;
		run->end = at + len;
	}
	if (run->n) { /* the last run, or the one before a packet refused */
		int write_err;
		stored += write_run_locked(s, sp, run, &write_err);
		if (!err)
			err = write_err;
	}
	if (stored < n)
		count_failed_locked(s, sp, n - stored, err);
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_unlock(&sp->append_lock);
	return (int)stored;
}
