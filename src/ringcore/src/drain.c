/* drain.c — a consumer thread in C: moves whole batches from a ring to its
 * sinks (a writer, a talkers table, a packet store), so no Python code runs
 * per packet; or, direct, the same batches run by the capture's thread. */
#define _GNU_SOURCE
#include "store_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How often an idle drain lets out what the writer holds to merge: often
 * next to the writer's 100 ms hold, seldom next to a spinning poll. */
#define RELEASE_HELD_INTERVAL_NS 10000000ull

struct rc_drain {
	struct rc_ring *ring;
	/* direct: the capture whose thread runs the batches (no thread of
	 * our own); NULL for a drain thread */
	struct rc_capture *capture;
	pthread_t thread;
	_Atomic int running;
	_Atomic int drain_rest; /* on stop: take what is left in the ring first */
	/* held while a batch goes to the sinks, so the writer is swapped
	 * between two batches (rc_drain_set_writer); rc_drain_stats never takes
	 * it, so a slow disk never delays a snapshot */
	pthread_mutex_t sink_lock;
	struct rc_writer *writer;
	struct rc_talkers *talkers;
	struct rc_store *store;
	uint32_t store_interface;
	/* the store's count of that interface's evicted packets, and its
	 * packets stored before this drain started (earlier captures') */
	const _Atomic uint64_t *store_evicted;
	uint64_t stored_before;
	int32_t ifid;
	struct rc_limit *limit;
	uint32_t batch_max;
	const struct rc_slot_hdr **batch;
	uint64_t *ends; /* the position after each record of batch (ring_poll_batch) */
	uint64_t release_due_ns;
};

/* Claim up to n packets from a shared limit; 0 once it is used up. */
static uint32_t claim(struct rc_limit *limit, uint32_t n)
{
	if (!limit)
		return n;
	int64_t remaining = atomic_load(&limit->remaining);
	for (;;) {
		if (remaining < 0)
			return n;
		uint32_t take = remaining < (int64_t)n ? (uint32_t)remaining : n;
		if (atomic_compare_exchange_weak(&limit->remaining, &remaining,
						 remaining - take)) {
			if (remaining - take == 0)
				atomic_store(&limit->reached, 1);
			return take;
		}
	}
}

/* One poll: hand a batch to the writer and release it.  A batch counts
 * records (packets), as rc_ring_poll and rc_ring_release do.  Returns the
 * number of packets moved, 0 when the ring was empty, -1 when the limit is
 * used up. */
static int drain_batch(struct rc_drain *d)
{
	uint32_t n = ring_poll_batch(d->ring, d->batch_max, d->batch, d->ends);
	if (n == 0)
		return 0;
	n = claim(d->limit, n);
	if (n == 0)
		return -1;
	pthread_mutex_lock(&d->sink_lock);
	if (d->writer)
		/* a failed write is kept in the writer for its owner to report */
		(void)rc_writer_write(d->writer, d->ifid, d->batch, n);
	if (d->talkers)
		rc_talkers_add(d->talkers, d->batch, n);
	if (d->store) {
		/* what it could not take is kept as the store's error */
		int stored = rc_store_append(d->store, d->store_interface, d->batch, n);
		/* counted with the release, in one step for rc_ring_stats */
		uint32_t in = stored > 0 ? (uint32_t)stored : 0;
		ring_release_batch(d->ring, d->batch, d->ends, n, in, n - in);
	} else {
		ring_release_batch(d->ring, d->batch, d->ends, n, 0, 0);
	}
	pthread_mutex_unlock(&d->sink_lock);
	return (int)n;
}

/* The ring is empty (or paused): the writer may hold packets of this
 * interface or another, waiting for traffic that does not come. */
static void release_held(struct rc_drain *d)
{
	uint64_t now = rc_coarse_ns();
	if (now < d->release_due_ns)
		return;
	d->release_due_ns = now + RELEASE_HELD_INTERVAL_NS;
	pthread_mutex_lock(&d->sink_lock);
	if (d->writer)
		(void)rc_writer_release_held(d->writer); /* an error stays in the writer */
	pthread_mutex_unlock(&d->sink_lock);
}

static void *drain_main(void *arg)
{
	struct rc_drain *d = arg;
	struct rc_ring *ring = d->ring;
	pthread_setname_np(pthread_self(), "rc-drain"); /* as rc-capture, by role */
	while (atomic_load_explicit(&d->running, memory_order_relaxed)) {
		if (d->limit && atomic_load(&d->limit->reached))
			return NULL; /* another drain took the last packet */
		if (atomic_load_explicit(&ring->paused, memory_order_relaxed)) {
			/* paused: the ring fills and drops appear where the
			 * policy says; check back at the poll interval */
			uint32_t us = atomic_load_explicit(&ring->poll_interval_us,
							   memory_order_relaxed);
			struct timespec ts = rc_timespec(us * 1000ull + 1000);
			nanosleep(&ts, NULL);
			release_held(d);
			continue;
		}
		int moved = drain_batch(d);
		if (moved < 0)
			return NULL;
		if (moved == 0) {
			release_held(d);
			rc_ring_wait(ring);
		}
	}
	if (atomic_load(&d->drain_rest))
		while (drain_batch(d) > 0)
			;
	return NULL;
}

void drain_dispatch(struct rc_drain *d)
{
	if (d->limit && atomic_load(&d->limit->reached))
		return; /* another drain took the last packet */
	if (!atomic_load_explicit(&d->ring->paused, memory_order_relaxed))
		while (drain_batch(d) > 0)
			;
	release_held(d);
}

/* The drain of rc_drain_start and rc_drain_start_direct, its ring's consumer,
 * with no thread yet. */
static int drain_new(struct rc_ring *ring, struct rc_writer *w, int32_t ifid,
		     struct rc_talkers *talkers, struct rc_store *store,
		     uint32_t store_interface, struct rc_limit *limit, uint32_t batch_max,
		     struct rc_drain **out, char *errbuf, size_t errlen)
{
	if (batch_max == 0) {
		rc_err(errbuf, errlen, "a drain's batch holds at least one slot");
		return -EINVAL;
	}
	if (!ring->kernel && batch_max > ring->slot_count)
		batch_max = ring->slot_count; /* no poll returns more (a zero-copy slot holds many) */
	const _Atomic uint64_t *store_evicted = NULL;
	uint64_t stored_before = 0;
	if (store && !(store_evicted = store_interface_evicted(store, store_interface, &stored_before))) {
		rc_err(errbuf, errlen, "the store has no interface %u", store_interface);
		return -EINVAL;
	}
	if (rc_ring_attach_consumer(ring) < 0) {
		rc_err(errbuf, errlen, "this ring already has a consumer: a ring has one");
		return -EBUSY;
	}
	struct rc_drain *d = calloc(1, sizeof(*d));
	if (d) {
		d->batch = calloc(batch_max, sizeof(*d->batch));
		d->ends = calloc(batch_max, sizeof(*d->ends));
	}
	if (!d || !d->batch || !d->ends) {
		if (d) {
			free(d->batch);
			free(d->ends);
		}
		free(d);
		rc_ring_detach_consumer(ring);
		rc_err(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	d->ring = ring;
	d->writer = w;
	d->ifid = ifid;
	d->talkers = talkers;
	d->store = store;
	d->store_interface = store_interface;
	d->store_evicted = store_evicted;
	d->stored_before = stored_before;
	d->limit = limit;
	d->batch_max = batch_max;
	pthread_mutex_init(&d->sink_lock, NULL);
	*out = d;
	return 0;
}

static void drain_free(struct rc_drain *d)
{
	rc_ring_detach_consumer(d->ring);
	pthread_mutex_destroy(&d->sink_lock);
	free(d->batch);
	free(d->ends);
	free(d);
}

int rc_drain_start(struct rc_ring *ring, struct rc_writer *w, int32_t ifid,
		   struct rc_talkers *talkers, struct rc_store *store,
		   uint32_t store_interface, struct rc_limit *limit, uint32_t batch_max,
		   struct rc_drain **out, char *errbuf, size_t errlen)
{
	struct rc_drain *d;
	int rc = drain_new(ring, w, ifid, talkers, store, store_interface, limit, batch_max, &d,
			   errbuf, errlen);
	if (rc)
		return rc;
	atomic_store(&d->running, 1);
	int err = pthread_create(&d->thread, NULL, drain_main, d);
	if (err) {
		drain_free(d);
		rc_err(errbuf, errlen, "cannot start the drain thread: %s", strerror(err));
		return -err;
	}
	rc_ring_retain(ring); /* its owner may close it before stopping us */
	*out = d;
	return 0;
}

int rc_drain_start_direct(struct rc_capture *cap, struct rc_writer *w, int32_t ifid,
			  struct rc_talkers *talkers, struct rc_store *store,
			  uint32_t store_interface, struct rc_limit *limit, uint32_t batch_max,
			  struct rc_drain **out, char *errbuf, size_t errlen)
{
	struct rc_ring *ring = rc_capture_ring(cap);
	if (!ring->kernel) {
		rc_err(errbuf, errlen,
		       "direct dispatch needs a zero-copy capture: its sinks run on the kernel's blocks");
		return -EINVAL;
	}
	struct rc_drain *d;
	int rc = drain_new(ring, w, ifid, talkers, store, store_interface, limit, batch_max, &d,
			   errbuf, errlen);
	if (rc)
		return rc;
	d->capture = cap;
	rc_ring_retain(ring);
	atomic_store_explicit(&ring->direct, 1, memory_order_relaxed);
	capture_set_direct(cap, d);
	*out = d;
	return 0;
}

void rc_drain_pause(struct rc_drain *d, int paused)
{
	atomic_store_explicit(&d->ring->paused, paused ? 1 : 0, memory_order_relaxed);
	if (d->capture)
		rc_ring_wake_producer(d->ring); /* its thread runs the batches: now */
}

void rc_drain_stop(struct rc_drain *d, int drain_rest)
{
	if (!d)
		return;
	struct rc_ring *ring = d->ring;
	if (d->capture) {
		/* once it returns no batch runs in the capture's thread: the
		 * rest is taken here */
		capture_set_direct(d->capture, NULL);
		if (drain_rest && !(d->limit && atomic_load(&d->limit->reached)))
			while (drain_batch(d) > 0)
				;
	} else {
		atomic_store(&d->drain_rest, drain_rest);
		atomic_store(&d->running, 0);
		rc_ring_notify(ring); /* a drain asleep in RC_WAIT_EVENT */
		pthread_join(d->thread, NULL);
	}
	atomic_store_explicit(&ring->paused, 0, memory_order_relaxed);
	drain_free(d);
	rc_ring_destroy(ring);
}

void rc_drain_set_writer(struct rc_drain *d, struct rc_writer *w, int32_t ifid)
{
	pthread_mutex_lock(&d->sink_lock);
	d->writer = w;
	d->ifid = ifid;
	pthread_mutex_unlock(&d->sink_lock);
}

void rc_drain_stats(struct rc_drain *d, struct rc_stats *out)
{
	rc_ring_stats(d->ring, out);
	if (d->store_evicted) {
		/* The store evicts oldest first, so of this interface's packets
		 * counted stored (before this drain, and by it), the evicted are
		 * the first min(evicted, counted): another drain may evict some
		 * of a batch before this one has counted it stored. */
		uint64_t evicted = atomic_load_explicit(d->store_evicted, memory_order_relaxed);
		uint64_t counted = d->stored_before + out->stored;
		out->store_evicted = evicted < counted ? evicted : counted;
	}
}
