/* capture.c — one interface's AF_PACKET socket, read through the kernel's
 * ring (TPACKET_V3 blocks, or TPACKET_V2 frames in immediate mode) by a
 * producer thread that copies packets into the slot ring, or (zero-copy)
 * hands the kernel's units themselves to the consumer. */
#define _GNU_SOURCE
#include "ring_internal.h"

/* net/if.h before the linux headers: it must define the ifreq family */
#include <net/if.h>
#include <net/if_arp.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define VLAN_TAG_LEN 4
/* How often the producer folds PACKET_STATISTICS into the ring's counters. */
#define KERNEL_STATS_INTERVAL_NS 100000000ull
/* What stop waits, beyond the kernel's block timeout, for anything to happen
 * before it counts what is left as lost: the kernel's retire timer runs late
 * on a loaded machine. */
#define STOP_MARGIN_NS 50000000ull
/* The protocol a stopped socket is bound to: any but ETH_P_ALL, so the
 * rebind unhooks it (its filter takes nothing whatever arrives). */
#define UNHOOKED_PROTOCOL ETH_P_802_EX1
/* Zero-copy: the headroom the kernel leaves before each packet, where the
 * producer writes its rc_slot_hdr and puts a stripped VLAN tag back. */
#define ZERO_COPY_RESERVE ((unsigned)sizeof(struct rc_slot_hdr) + VLAN_TAG_LEN)
/* A switch waits for the consumer of the zero-copy ring it leaves to give
 * back its blocks in steps of this, and gives up after SWITCH_TIMEOUT_NS (a
 * paused consumer, a drop-early ring full and paused). */
#define SWITCH_STEP_NS 10000000ull
#define SWITCH_TIMEOUT_NS 2000000000ull

struct rc_capture {
	char ifname[IF_NAMESIZE];
	int ifindex;
	uint32_t linktype;
	int fd;
	int wake_fd; /* eventfd: tells the producer to stop */
	uint8_t *kring;
	size_t kring_size;
	struct rc_kernel_layout layout; /* its units: blocks (V3) or frames (V2) */
	uint32_t snaplen;
	uint64_t stop_wait_ns; /* the block timeout (V3) and STOP_MARGIN_NS */
	struct sock_filter *filter; /* the user's, attached by every start */
	uint32_t filter_len;
	struct rc_ring *ring;
	/* fd and kring, shared with the zero-copy rings made on them (NULL
	 * until both are open) */
	struct rc_kernel_map *km;
	/* zero-copy: the ring's slots are kernel blocks (ring_kernel.c) */
	int zero_copy;
	/* A mode switch (rc_capture_switch): the ring the producer is to take
	 * up at its next block boundary, and the signal that it did; under
	 * switch_lock. */
	pthread_mutex_t switch_lock;
	pthread_cond_t switched;
	struct rc_ring *next_ring;
	_Atomic int switch_asked; /* next_ring is set: the producer looks under the lock */
	int promisc; /* PACKET_MR_PROMISC is ours */
	/* direct dispatch: the drain whose batches this capture's thread runs
	 * after each block (rc_drain_start_direct); changed under direct_lock,
	 * which the thread holds while it runs them */
	pthread_mutex_t direct_lock;
	struct rc_drain *direct;
	pthread_t thread;
	int started;
	_Atomic int running;
	_Atomic int error; /* negative errno once the producer stopped on one */
	char error_msg[RC_ERRBUF_SIZE];
	uint64_t stats_due_ns;
	/* Where the producer goes on: the kernel unit it reads and the first
	 * frame in it not yet taken, kept across stop and start. */
	uint32_t unit;
	uint32_t frame_in_unit;
	/* Set while stop takes what the kernel still holds: the producer's
	 * wait for room then gives up at give_up_ns, not when told to stop. */
	int finishing;
	uint64_t give_up_ns;
	uint8_t *vlan_scratch; /* frame with its VLAN tag put back */
};

static int linktype_for(int arphrd)
{
	switch (arphrd) {
	case ARPHRD_ETHER:
	case ARPHRD_LOOPBACK:
		return LINKTYPE_ETHERNET;
	case ARPHRD_NONE: /* tun, wireguard: bare IP packets */
		return LINKTYPE_RAW;
	default:
		return -1;
	}
}

/* The LINKTYPE_ value of the frames a packet socket gets from `ifname`, read
 * on any socket `fd` of the interface's namespace; *arphrd gets its ARPHRD_. */
static int read_linktype(int fd, const char *ifname, int *arphrd, char *errbuf,
			 size_t errlen)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, ifname);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) != 0) {
		int err = errno;
		if (err == ENODEV)
			rc_err(errbuf, errlen,
			       "%s: no such interface (see 'ip link' for the ones that exist)",
			       ifname);
		else
			rc_err(errbuf, errlen, "%s: reading the link type failed: %s",
			       ifname, strerror(err));
		return -err;
	}
	*arphrd = ifr.ifr_hwaddr.sa_family;
	int linktype = linktype_for(*arphrd);
	if (linktype < 0) {
		rc_err(errbuf, errlen,
		       "%s: link type %d is not supported (Ethernet, loopback and raw IP are)",
		       ifname, *arphrd);
		return -EPROTONOSUPPORT;
	}
	return linktype;
}

int rc_interface_linktype(const char *ifname, char *errbuf, size_t errlen)
{
	if (!ifname || !*ifname || strlen(ifname) >= IF_NAMESIZE) {
		rc_err(errbuf, errlen, "'%s' is not a valid interface name",
		       ifname ? ifname : "");
		return -EINVAL;
	}
	/* a datagram socket: reading the link type needs no CAP_NET_RAW */
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		int err = errno;
		rc_err(errbuf, errlen, "%s: opening a socket failed: %s", ifname,
		       strerror(err));
		return -err;
	}
	int arphrd = 0;
	int linktype = read_linktype(fd, ifname, &arphrd, errbuf, errlen);
	close(fd);
	return linktype;
}

static int open_error(struct rc_capture *cap, int err, char *errbuf,
		      size_t errlen, const char *what)
{
	if (err == EPERM || err == EACCES)
		rc_err(errbuf, errlen,
		       "%s: %s needs CAP_NET_RAW (run as root, or grant it: setcap cap_net_raw,cap_net_admin+ep)",
		       cap->ifname, what);
	else
		rc_err(errbuf, errlen, "%s: %s failed: %s", cap->ifname, what,
		       strerror(err));
	return -err;
}

/* Kernel counters reset on every read, so each read is added to the ring's
 * totals.  tp_packets already includes tp_drops. */
static void fold_kernel_stats(struct rc_capture *cap)
{
	struct tpacket_stats_v3 st;
	socklen_t len = sizeof(st);
	if (getsockopt(cap->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) != 0)
		return;
	struct rc_ring *ring = cap->ring;
	atomic_store_explicit(&ring->kernel_drops,
			      atomic_load_explicit(&ring->kernel_drops, memory_order_relaxed) + st.tp_drops,
			      memory_order_relaxed);
	atomic_store_explicit(&ring->kernel_seen,
			      atomic_load_explicit(&ring->kernel_seen, memory_order_relaxed) + st.tp_packets,
			      memory_order_relaxed);
}

static void maybe_fold_kernel_stats(struct rc_capture *cap)
{
	uint64_t now = rc_coarse_ns();
	if (now >= cap->stats_due_ns) {
		fold_kernel_stats(cap);
		cap->stats_due_ns = now + KERNEL_STATS_INTERVAL_NS;
	}
}

/* A packet sent on loopback passes a packet socket twice: once on its way out
 * (PACKET_OUTGOING) and once as it comes back in.  libpcap drops the outgoing
 * copy after the kernel counted it; we have the kernel never hand it to the
 * socket, so it is in no counter at all (tp_packets included) and each packet
 * is taken, counted and kept once: the accounting identity holds unchanged. */
static int ignore_outgoing_copies(struct rc_capture *cap, char *errbuf, size_t errlen)
{
	int on = 1;
	if (setsockopt(cap->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &on, sizeof(on)) == 0)
		return 0;
	if (errno == ENOPROTOOPT) {
		rc_err(errbuf, errlen,
		       "%s: capturing on loopback needs Linux 4.20 or later (PACKET_IGNORE_OUTGOING), or every packet would count twice",
		       cap->ifname);
		return -ENOPROTOOPT;
	}
	return open_error(cap, errno, errbuf, errlen, "ignoring loopback's outgoing copies");
}

/* The bytes a V2 frame holds for a packet (immediate mode), as libpcap sizes
 * them for an interface without offloads: the snap length, or less when the
 * interface sends nothing longer (its MTU, the link header and a VLAN tag put
 * back).  libpcap, seeing GRO/TSO on, makes room for 64 KiB instead (40x the
 * memory per frame); here a longer packet (a GRO/TSO one, the MTU raised
 * since) is cut by the kernel and counted as truncated. */
static int immediate_frame_size(struct rc_capture *cap, uint32_t block_size, uint32_t *frame_size,
				char *errbuf, size_t errlen)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, cap->ifname);
	if (ioctl(cap->fd, SIOCGIFMTU, &ifr) != 0)
		return open_error(cap, errno, errbuf, errlen, "reading the MTU");
	uint32_t link_header = cap->linktype == LINKTYPE_ETHERNET ? ETH_HLEN : 0;
	uint64_t packet_max = (uint64_t)(uint32_t)ifr.ifr_mtu + link_header + VLAN_TAG_LEN;
	if (packet_max > cap->snaplen)
		packet_max = cap->snaplen;
	/* where the kernel puts a packet in a frame (tpacket_rcv): after the
	 * frame header, the room for a link header of at least 16 bytes, and
	 * the headroom of PACKET_RESERVE */
	uint64_t size = TPACKET_ALIGN(TPACKET_ALIGN(TPACKET2_HDRLEN + 16) + ZERO_COPY_RESERVE +
				      packet_max);
	/* a frame never crosses a block: the kernel cuts the rest */
	*frame_size = size < block_size ? (uint32_t)size : block_size;
	return 0;
}

/* Select the ring version, reserve the headroom, and have the kernel make
 * the ring: cfg's blocks, each one unit (V3) or cut into frames (V2). */
static int set_up_kernel_ring(struct rc_capture *cap, const struct rc_capture_config *cfg,
			      char *errbuf, size_t errlen)
{
	int version = cfg->immediate ? TPACKET_V2 : TPACKET_V3;
	if (setsockopt(cap->fd, SOL_PACKET, PACKET_VERSION, &version, sizeof(version)))
		return open_error(cap, errno, errbuf, errlen,
				  cfg->immediate ? "selecting TPACKET_V2" : "selecting TPACKET_V3");
	/* in both modes: a capture may switch to zero-copy (rc_capture_switch) */
	unsigned reserve = ZERO_COPY_RESERVE;
	if (setsockopt(cap->fd, SOL_PACKET, PACKET_RESERVE, &reserve, sizeof(reserve)))
		return open_error(cap, errno, errbuf, errlen,
				  "reserving room for headers in the kernel ring");
	struct tpacket_req3 req = {
		.tp_block_size = cfg->kernel_block_size,
		.tp_block_nr = cfg->kernel_block_nr,
		.tp_frame_size = TPACKET_ALIGNMENT << 7,
	};
	cap->layout = (struct rc_kernel_layout){ .version = version,
						 .block_size = cfg->kernel_block_size,
						 .unit_size = cfg->kernel_block_size,
						 .unit_nr = cfg->kernel_block_nr,
						 .units_per_block = 1 };
	if (cfg->immediate) {
		int rc = immediate_frame_size(cap, cfg->kernel_block_size, &req.tp_frame_size, errbuf,
					      errlen);
		if (rc)
			return rc;
		cap->layout.unit_size = req.tp_frame_size;
		cap->layout.units_per_block = cfg->kernel_block_size / req.tp_frame_size;
		cap->layout.unit_nr = cap->layout.units_per_block * cfg->kernel_block_nr;
		/* each frame is handed over at once: stop waits for no timer */
		cap->stop_wait_ns = STOP_MARGIN_NS;
	} else {
		req.tp_retire_blk_tov = cfg->block_timeout_ms;
		cap->stop_wait_ns = (uint64_t)cfg->block_timeout_ms * 1000000ull + STOP_MARGIN_NS;
	}
	req.tp_frame_nr = (req.tp_block_size / req.tp_frame_size) * req.tp_block_nr;
	if (setsockopt(cap->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)))
		return open_error(cap, errno, errbuf, errlen, "setting up the kernel ring");
	return 0;
}

int rc_capture_open(const char *ifname, const struct rc_capture_config *cfg,
		    const struct rc_bpf_insn *filter, uint32_t filter_len,
		    struct rc_capture **out, char *errbuf, size_t errlen)
{
	if (!ifname || !*ifname || strlen(ifname) >= IF_NAMESIZE) {
		rc_err(errbuf, errlen, "'%s' is not a valid interface name",
		       ifname ? ifname : "");
		return -EINVAL;
	}
	struct rc_capture *cap = calloc(1, sizeof(*cap));
	if (!cap) {
		rc_err(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	strcpy(cap->ifname, ifname);
	pthread_mutex_init(&cap->direct_lock, NULL);
	pthread_mutex_init(&cap->switch_lock, NULL);
	pthread_cond_init(&cap->switched, NULL);
	cap->fd = -1;
	cap->wake_fd = -1;
	cap->kring = MAP_FAILED;
	int rc;

	cap->ifindex = (int)if_nametoindex(ifname);
	if (cap->ifindex == 0) {
		rc_err(errbuf, errlen,
		       "%s: no such interface (see 'ip link' for the ones that exist)",
		       ifname);
		rc = -ENODEV;
		goto fail;
	}
	/* Protocol 0: the socket receives nothing until start() binds it, so
	 * no packet slips past before the filter is in place.  Close-on-exec,
	 * as every fd we open: a program the host process runs must not
	 * inherit a capture. */
	cap->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (cap->fd < 0) {
		rc = open_error(cap, errno, errbuf, errlen, "opening a packet socket");
		goto fail;
	}
	int arphrd = 0;
	int linktype = read_linktype(cap->fd, ifname, &arphrd, errbuf, errlen);
	if (linktype < 0) {
		rc = linktype;
		goto fail;
	}
	cap->linktype = (uint32_t)linktype;
	if (arphrd == ARPHRD_LOOPBACK) {
		rc = ignore_outgoing_copies(cap, errbuf, errlen);
		if (rc)
			goto fail;
	}

	cap->zero_copy = cfg->zero_copy ? 1 : 0;
	if (!cap->zero_copy) {
		rc = rc_ring_create(&cfg->ring, &cap->ring, errbuf, errlen);
		if (rc)
			goto fail;
	}
	cap->snaplen = cfg->snaplen;
	if (cap->snaplen == 0) {
		rc_err(errbuf, errlen, "%s: snap length must be at least 1 byte", ifname);
		rc = -EINVAL;
		goto fail;
	}

	if (filter && filter_len) {
		rc = rc_capture_set_filter(cap, filter, filter_len, errbuf, errlen);
		if (rc)
			goto fail;
	}

	rc = set_up_kernel_ring(cap, cfg, errbuf, errlen);
	if (rc)
		goto fail;
	cap->kring_size = (size_t)cap->layout.block_size * cfg->kernel_block_nr;
	cap->kring = mmap(NULL, cap->kring_size, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_LOCKED, cap->fd, 0);
	if (cap->kring == MAP_FAILED) /* MAP_LOCKED may exceed RLIMIT_MEMLOCK */
		cap->kring = mmap(NULL, cap->kring_size, PROT_READ | PROT_WRITE,
				  MAP_SHARED, cap->fd, 0);
	if (cap->kring == MAP_FAILED) {
		rc = open_error(cap, errno, errbuf, errlen, "mapping the kernel ring");
		goto fail;
	}
	cap->layout.map = cap->kring;
	cap->km = kernel_map_new(cap->fd, cap->kring, cap->kring_size);
	if (!cap->km) {
		rc_err(errbuf, errlen, "%s: out of memory", ifname);
		rc = -ENOMEM;
		goto fail;
	}
	if (cap->zero_copy) {
		rc = rc_ring_create_kernel(&cfg->ring, cap->km, &cap->layout, &cap->ring, errbuf,
					   errlen);
		if (rc)
			goto fail;
	}
	if (cfg->promisc) {
		struct packet_mreq mreq = { .mr_ifindex = cap->ifindex,
					    .mr_type = PACKET_MR_PROMISC };
		if (setsockopt(cap->fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mreq,
			       sizeof(mreq))) {
			rc = open_error(cap, errno, errbuf, errlen,
					"switching on promiscuous mode");
			goto fail;
		}
		cap->promisc = 1;
	}
	cap->vlan_scratch = malloc(cap->layout.block_size + VLAN_TAG_LEN);
	cap->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!cap->vlan_scratch || cap->wake_fd < 0) {
		rc_err(errbuf, errlen, "%s: out of memory or file descriptors", ifname);
		rc = -ENOMEM;
		goto fail;
	}
	*out = cap;
	return 0;
fail:
	rc_capture_close(cap);
	return rc;
}

/* A running producer waits for room until told to stop; stop, taking what
 * the kernel still holds, until its give-up time (a paused consumer frees
 * nothing). */
static int keep_waiting_for_room(struct rc_capture *cap)
{
	if (cap->finishing)
		return rc_coarse_ns() < cap->give_up_ns;
	return atomic_load_explicit(&cap->running, memory_order_relaxed);
}

/* What the kernel says of a frame beside its bytes, as a record's header.
 * A packet the kernel cut short of the snap length (longer than a V2 frame,
 * or than a V3 block) is flagged and counted as truncated, as the ring's own
 * cut would be. */
static struct rc_slot_hdr frame_header(const struct rc_capture *cap, const struct kframe *f)
{
	uint32_t flags = f->pkttype == PACKET_OUTGOING ? RC_SLOT_OUTGOING : 0;
	if (f->snaplen < f->len && f->snaplen < cap->snaplen)
		flags |= RC_SLOT_TRUNCATED;
	return (struct rc_slot_hdr){
		.caplen = f->snaplen,
		.wirelen = f->len,
		.ts_ns = f->ts_ns,
		.ifindex = cap->ifindex,
		.flags = flags,
		.slots = 1,
	};
}

/* The kernel strips 802.1Q tags into the header; they are put back so the
 * packet is kept as it was on the wire, as libpcap does.  1 and the tag's
 * bytes (TPID, TCI) when this frame has one to put back. */
static int stripped_vlan_tag(const struct rc_capture *cap, const struct kframe *f, uint16_t tag[2])
{
	if (!(f->status & TP_STATUS_VLAN_VALID) || cap->linktype != LINKTYPE_ETHERNET ||
	    f->snaplen < 2 * ETH_ALEN)
		return 0;
	uint16_t tpid = (f->status & TP_STATUS_VLAN_TPID_VALID) ? f->vlan_tpid : ETH_P_8021Q;
	tag[0] = htons(tpid);
	tag[1] = htons(f->vlan_tci);
	return 1;
}

/* Copy one kernel frame into the slot ring, by the drop policy when full.
 * Returns 0, or -1 when told to stop while waiting for room. */
static int take_frame(struct rc_capture *cap, const uint8_t *frame)
{
	struct rc_ring *ring = cap->ring;
	struct kframe f = kframe_read(&cap->layout, frame);
	struct rc_slot_hdr h = frame_header(cap, &f);
	const uint8_t *data = frame + f.mac;
	uint16_t tag[2];
	if (stripped_vlan_tag(cap, &f, tag)) {
		memcpy(cap->vlan_scratch, data, 2 * ETH_ALEN);
		memcpy(cap->vlan_scratch + 2 * ETH_ALEN, tag, VLAN_TAG_LEN);
		memcpy(cap->vlan_scratch + 2 * ETH_ALEN + VLAN_TAG_LEN,
		       data + 2 * ETH_ALEN, h.caplen - 2 * ETH_ALEN);
		data = cap->vlan_scratch;
		h.caplen += VLAN_TAG_LEN;
		h.wirelen += VLAN_TAG_LEN;
	}
	if (h.caplen > cap->snaplen)
		h.caplen = cap->snaplen;

	while (rc_ring_produce(ring, data, h.caplen, h.wirelen, h.ts_ns, h.ifindex,
			       h.flags) == -ENOBUFS) {
		if (atomic_load_explicit(&ring->drop_policy, memory_order_relaxed) ==
		    RC_DROP_LATE) {
			rc_ring_count_drop(ring, h.wirelen, h.flags);
			return 0;
		}
		/* Drop-early: keep the kernel's block; once the kernel ring is
		 * full too, the kernel drops new packets before any copy.  Sleep
		 * until the consumer frees a slot (it may be paused for long),
		 * waking for the kernel counters and to be told to stop. */
		if (!keep_waiting_for_room(cap))
			return -1;
		maybe_fold_kernel_stats(cap);
		rc_ring_notify(ring); /* what is in the ring must go first */
		rc_ring_wait_room(ring, cap->finishing ? cap->stop_wait_ns : KERNEL_STATS_INTERVAL_NS);
	}
	return 0;
}

static void producer_fail(struct rc_capture *cap, int err, const char *what)
{
	if (err == ENETDOWN || err == ENXIO || err == ENODEV)
		rc_err(cap->error_msg, sizeof(cap->error_msg),
		       "%s: the interface went down or away; capture on it stopped",
		       cap->ifname);
	else
		rc_err(cap->error_msg, sizeof(cap->error_msg),
		       "%s: %s failed: %s; capture on it stopped", cap->ifname, what,
		       strerror(err));
	atomic_store_explicit(&cap->error, -err, memory_order_release);
}

/* Wait for the kernel to hand over the next block.  Returns 0 to look
 * again, -1 when the socket failed (recorded). */
static int wait_for_block(struct rc_capture *cap, struct pollfd pfd[2])
{
	maybe_fold_kernel_stats(cap);
	int n = poll(pfd, 2, 100);
	if (n < 0 && errno != EINTR) {
		producer_fail(cap, errno, "poll");
		return -1;
	}
	if (n > 0 && (pfd[0].revents & (POLLERR | POLLNVAL | POLLHUP))) {
		int err = 0;
		socklen_t len = sizeof(err);
		getsockopt(cap->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		producer_fail(cap, err ? err : ENETDOWN, "reading");
		return -1;
	}
	return 0;
}

/* Take the frames of a unit handed over, from the first not yet taken.
 * Returns -1 when told to stop on the way: the rest stay for the next start. */
static int take_unit(struct rc_capture *cap, uint8_t *unit)
{
	uint32_t packets = kunit_packets(&cap->layout, unit);
	uint8_t *frame = unit + kunit_first(&cap->layout, unit);
	for (uint32_t i = 0; i < packets; i++) {
		if (i >= cap->frame_in_unit) {
			if (take_frame(cap, frame) != 0)
				return -1;
			cap->frame_in_unit = i + 1;
		}
		if (i + 1 < packets)
			frame = kframe_next(&cap->layout, frame);
	}
	return 0;
}

/* Take a unit handed over, give it back to the kernel and move on to the
 * next.  Returns -1, the unit kept, when told to stop on the way. */
static int take_and_return_unit(struct rc_capture *cap, uint8_t *unit)
{
	if (take_unit(cap, unit) != 0)
		return -1;
	kunit_return(&cap->layout, unit);
	cap->unit = (cap->unit + 1) % cap->layout.unit_nr;
	cap->frame_in_unit = 0;
	rc_ring_notify(cap->ring);
	return 0;
}

/* Zero-copy: write each packet's header in place, in the headroom before it
 * (a stripped VLAN tag put back by moving the MAC addresses 4 bytes
 * earlier), and hand the whole unit to the consumer.  The packets stay
 * where the kernel put them; the consumer gives the unit back. */
static void hand_over_unit(struct rc_capture *cap, uint8_t *unit)
{
	const struct rc_kernel_layout *l = &cap->layout;
	uint32_t packets = kunit_packets(l, unit), outgoing = 0, truncated = 0;
	uint64_t bytes = 0, outgoing_bytes = 0;
	uint8_t *frame = unit + kunit_first(l, unit);
	for (uint32_t i = 0; i < packets; i++) {
		uint8_t *next = i + 1 < packets ? kframe_next(l, frame) : NULL;
		struct kframe f = kframe_read(l, frame);
		struct rc_slot_hdr h = frame_header(cap, &f);
		if (h.flags & RC_SLOT_TRUNCATED)
			truncated++;
		uint8_t *data = frame + f.mac;
		uint16_t tag[2];
		if (stripped_vlan_tag(cap, &f, tag)) {
			memmove(data - VLAN_TAG_LEN, data, 2 * ETH_ALEN);
			data -= VLAN_TAG_LEN;
			memcpy(data + 2 * ETH_ALEN, tag, VLAN_TAG_LEN);
			kframe_set_mac(l, frame, f.mac - VLAN_TAG_LEN);
			h.caplen += VLAN_TAG_LEN;
			h.wirelen += VLAN_TAG_LEN;
		}
		if (h.caplen > cap->snaplen)
			h.caplen = cap->snaplen;
		memcpy(data - sizeof(h), &h, sizeof(h));
		bytes += h.wirelen;
		if (h.flags & RC_SLOT_OUTGOING) {
			outgoing++;
			outgoing_bytes += h.wirelen;
		}
		/* the consumer's walk ends a V3 block at a zero offset */
		if (!next && l->version == TPACKET_V3)
			((struct tpacket3_hdr *)frame)->tp_next_offset = 0;
		frame = next;
	}
	rc_ring_publish_block(cap->ring, packets, bytes, outgoing, outgoing_bytes, truncated);
	rc_ring_notify(cap->ring);
}

/* Take the next unit if the kernel handed it over: 1 taken, 0 none ready,
 * -1 told to stop on the way (copy: the rest stays for the next start). */
static int take_ready_unit(struct rc_capture *cap)
{
	uint8_t *unit;
	if (cap->zero_copy) {
		unit = rc_ring_kernel_block_ready(cap->ring);
		if (!unit)
			return 0;
		hand_over_unit(cap, unit);
		return 1;
	}
	unit = kunit_at(&cap->layout, cap->unit);
	if (!kunit_ready(&cap->layout, unit))
		return 0;
	return take_and_return_unit(cap, unit) == 0 ? 1 : -1;
}

/* Wait for the next block.  poll() says a block is ready while the block
 * before the kernel's current one is ours, so a zero-copy producer whose
 * consumer holds blocks sleeps until it gives one back instead (the one
 * the kernel fills next may be waiting for it, and poll() would return at
 * once).  Returns -1 when the socket failed (recorded). */
static int wait_for_next_block(struct rc_capture *cap, struct pollfd pfd[2])
{
	struct rc_ring *ring = cap->ring;
	/* seq_cst: the handshake of rc_ring_wait_block_returned */
	uint64_t tail = atomic_load(&ring->hdr->tail);
	if (cap->zero_copy && atomic_load_explicit(&ring->hdr->head, memory_order_relaxed) != tail) {
		maybe_fold_kernel_stats(cap);
		rc_ring_wait_block_returned(ring, tail, KERNEL_STATS_INTERVAL_NS);
		return 0;
	}
	return wait_for_block(cap, pfd);
}

/* A direct drain's sinks take what was handed over, in this thread. */
static void run_direct_drain(struct rc_capture *cap)
{
	pthread_mutex_lock(&cap->direct_lock);
	if (cap->direct)
		drain_dispatch(cap->direct);
	pthread_mutex_unlock(&cap->direct_lock);
}

void capture_set_direct(struct rc_capture *cap, struct rc_drain *d)
{
	pthread_mutex_lock(&cap->direct_lock);
	cap->direct = d;
	pthread_mutex_unlock(&cap->direct_lock);
	rc_ring_wake_producer(cap->ring); /* blocks may wait for it */
}

/* Counted by the kernel, not yet taken: in its ring, handed over or not. */
static int64_t kernel_untaken(struct rc_capture *cap)
{
	struct rc_ring *ring = cap->ring;
	return (int64_t)(atomic_load_explicit(&ring->kernel_seen, memory_order_relaxed) -
			 atomic_load_explicit(&ring->kernel_drops, memory_order_relaxed) -
			 atomic_load_explicit(&ring->kernel_packets, memory_order_relaxed));
}

/* Hand the capture over to next_ring: packets the kernel counted and no ring
 * took yet are the new ring's to take, so each ring's own counts close
 * (kernel_seen == kernel_packets + kernel_drops once it is left). */
static void adopt_next_ring(struct rc_capture *cap)
{
	struct rc_ring *old = cap->ring, *next = cap->next_ring;
	fold_kernel_stats(cap);
	int64_t untaken = kernel_untaken(cap);
	if (untaken > 0) {
		atomic_store_explicit(&old->kernel_seen,
				      atomic_load_explicit(&old->kernel_seen, memory_order_relaxed) -
					      (uint64_t)untaken, memory_order_relaxed);
		atomic_store_explicit(&next->kernel_seen, (uint64_t)untaken, memory_order_relaxed);
	}
	if (old->kernel) /* go on copying at the unit after the last handed over */
		cap->unit = (uint32_t)(atomic_load_explicit(&old->hdr->head, memory_order_relaxed) %
				       cap->layout.unit_nr);
	if (next->kernel)
		kernel_ring_start_at(next, cap->unit);
	cap->ring = next;
	cap->zero_copy = next->kernel != NULL;
	cap->next_ring = NULL;
	atomic_store_explicit(&cap->switch_asked, 0, memory_order_relaxed);
	pthread_cond_broadcast(&cap->switched);
}

/* A switch asked for is taken at a block boundary and, leaving a zero-copy
 * ring, once its consumer gave every block back (until then no new block is
 * handed over: the kernel keeps them), so no block is ever in two rings'
 * hands.  Returns 1 while that wait goes on. */
static int switch_rings(struct rc_capture *cap)
{
	struct rc_ring *old = cap->ring;
	if (cap->frame_in_unit)
		return 0; /* the rest of the block first */
	uint64_t tail = atomic_load(&old->hdr->tail);
	if (old->kernel && atomic_load_explicit(&old->hdr->head, memory_order_relaxed) != tail) {
		run_direct_drain(cap);
		rc_ring_wait_block_returned(old, tail, SWITCH_STEP_NS);
		return 1;
	}
	pthread_mutex_lock(&cap->switch_lock);
	if (cap->next_ring)
		adopt_next_ring(cap);
	pthread_mutex_unlock(&cap->switch_lock);
	return 0;
}

static void *producer_main(void *arg)
{
	struct rc_capture *cap = arg;
	/* named by role, so tools (top -H, the benchmarks) tell it from UI threads */
	pthread_setname_np(pthread_self(), "rc-capture");
	struct pollfd pfd[2] = {
		{ .fd = cap->fd, .events = POLLIN | POLLERR },
		{ .fd = cap->wake_fd, .events = POLLIN },
	};
	while (atomic_load_explicit(&cap->running, memory_order_relaxed)) {
		if (atomic_load_explicit(&cap->switch_asked, memory_order_acquire) && switch_rings(cap))
			continue;
		int taken = take_ready_unit(cap);
		if (taken < 0)
			break;
		if (cap->zero_copy)
			run_direct_drain(cap);
		if (taken)
			maybe_fold_kernel_stats(cap);
		else if (wait_for_next_block(cap, pfd) != 0)
			break;
	}
	return NULL;
}

static int attach_filter(struct rc_capture *cap, const struct sock_filter *filter,
			 uint32_t filter_len, char *errbuf, size_t errlen)
{
	if (!filter_len) {
		int dummy = 0;
		if (setsockopt(cap->fd, SOL_SOCKET, SO_DETACH_FILTER, &dummy,
			       sizeof(dummy)) != 0 && errno != ENOENT)
			return open_error(cap, errno, errbuf, errlen, "removing the filter");
		return 0;
	}
	struct sock_fprog prog = { .len = (unsigned short)filter_len,
				   .filter = (struct sock_filter *)filter };
	if (setsockopt(cap->fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) != 0)
		return open_error(cap, errno, errbuf, errlen, "attaching the filter");
	return 0;
}

static int bind_to(struct rc_capture *cap, uint16_t protocol)
{
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(protocol),
		.sll_ifindex = cap->ifindex,
	};
	return bind(cap->fd, (struct sockaddr *)&sll, sizeof(sll));
}

int rc_capture_start(struct rc_capture *cap, char *errbuf, size_t errlen)
{
	if (cap->started)
		return 0;
	/* The filter before the bind: no packet slips past it. */
	int rc = attach_filter(cap, cap->filter, cap->filter_len, errbuf, errlen);
	if (rc)
		return rc;
	if (bind_to(cap, ETH_P_ALL) != 0)
		return open_error(cap, errno, errbuf, errlen, "binding to the interface");
	/* the producer takes what the last stop left in the kernel ring */
	atomic_store_explicit(&cap->ring->lost_at_stop, 0, memory_order_relaxed);
	uint64_t stop_requests;
	if (read(cap->wake_fd, &stop_requests, sizeof(stop_requests)) < 0) {
		/* EAGAIN: no stop left from before, nothing to clear */
	}
	atomic_store(&cap->running, 1);
	int err = pthread_create(&cap->thread, NULL, producer_main, cap);
	if (err) {
		atomic_store(&cap->running, 0);
		rc_err(errbuf, errlen, "%s: cannot start the capture thread: %s",
		       cap->ifname, strerror(err));
		return -err;
	}
	cap->started = 1;
	return 0;
}

/* Have the kernel count and queue nothing more for this socket, so the
 * counters stop reads next are final and every packet they count is in the
 * kernel ring.  A filter that takes nothing ends it for new packets (the
 * kernel counts only what the filter took); the rebind to another protocol
 * unhooks the socket from the interface, which waits (synchronize_net) for
 * packets that passed the old filter on another CPU.  Neither can fail on a
 * socket that works; one whose interface went away is unhooked already. */
static void unhook(struct rc_capture *cap)
{
	struct sock_filter take_nothing = BPF_STMT(BPF_RET | BPF_K, 0);
	struct sock_fprog prog = { .len = 1, .filter = &take_nothing };
	(void)setsockopt(cap->fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog));
	(void)bind_to(cap, UNHOOKED_PROTOCOL);
}


/* After the producer ended, on the unhooked socket: take every packet the
 * final counters count.  The kernel hands its last block over at its block
 * timeout; a drop-early ring needs the consumer to free slots.  Gives up
 * when nothing happened for stop_wait_ns, and after as many blocks as the
 * kernel ring holds (nothing new arrives, so no more can be there). */
static void take_the_rest(struct rc_capture *cap)
{
	cap->finishing = 1;
	cap->give_up_ns = rc_coarse_ns() + cap->stop_wait_ns;
	uint32_t units_taken = 0;
	while (kernel_untaken(cap) > 0 && units_taken <= cap->layout.unit_nr) {
		int taken = take_ready_unit(cap);
		if (taken < 0)
			break; /* no room in time: the rest stays for a start */
		if (taken) {
			units_taken++;
			cap->give_up_ns = rc_coarse_ns() + cap->stop_wait_ns;
			continue;
		}
		if (rc_coarse_ns() >= cap->give_up_ns)
			break;
		struct timespec step = rc_timespec(1000000);
		nanosleep(&step, NULL);
	}
	cap->finishing = 0;
	int64_t left = kernel_untaken(cap);
	atomic_store_explicit(&cap->ring->lost_at_stop, left > 0 ? (uint64_t)left : 0,
			      memory_order_relaxed);
}

void rc_capture_stop(struct rc_capture *cap)
{
	if (!cap || !cap->started)
		return;
	unhook(cap);
	atomic_store(&cap->running, 0);
	uint64_t one = 1;
	if (write(cap->wake_fd, &one, sizeof(one)) < 0) {
		/* the producer still sees running == 0 within its poll timeout */
	}
	rc_ring_wake_producer(cap->ring); /* one waiting for room */
	pthread_join(cap->thread, NULL);
	cap->started = 0;
	/* the producer's thread has ended: this one is the ring's producer now */
	fold_kernel_stats(cap);
	take_the_rest(cap);
}

int rc_capture_switch(struct rc_capture *cap, int zero_copy, const struct rc_ring_config *cfg,
		      char *errbuf, size_t errlen)
{
	if ((zero_copy != 0) == cap->zero_copy)
		return 0;
	struct rc_ring *old = cap->ring, *next;
	int rc = zero_copy ? rc_ring_create_kernel(cfg, cap->km, &cap->layout, &next, errbuf, errlen) :
			     rc_ring_create(cfg, &next, errbuf, errlen);
	if (rc)
		return rc;
	pthread_mutex_lock(&cap->switch_lock);
	cap->next_ring = next;
	if (!cap->started) {
		/* this thread is the producer: the same rule, no waiting */
		if (!old->kernel || atomic_load(&old->hdr->head) == atomic_load(&old->hdr->tail))
			adopt_next_ring(cap);
	} else {
		atomic_store_explicit(&cap->switch_asked, 1, memory_order_release);
		rc_ring_wake_producer(old); /* one asleep waiting for room or a block back */
		struct timespec deadline;
		clock_gettime(CLOCK_REALTIME, &deadline);
		uint64_t ns = (uint64_t)deadline.tv_nsec + SWITCH_TIMEOUT_NS;
		deadline.tv_sec += (time_t)(ns / 1000000000ull);
		deadline.tv_nsec = (long)(ns % 1000000000ull);
		while (cap->next_ring && atomic_load(&cap->running) &&
		       pthread_cond_timedwait(&cap->switched, &cap->switch_lock, &deadline) == 0)
			;
	}
	int adopted = cap->next_ring == NULL;
	cap->next_ring = NULL;
	atomic_store_explicit(&cap->switch_asked, 0, memory_order_relaxed);
	pthread_mutex_unlock(&cap->switch_lock);
	if (!adopted) {
		rc_ring_destroy(next);
		rc_err(errbuf, errlen,
		       "%s: the ring did not come to a block boundary in %llu s (a paused consumer holds it): resume it first",
		       cap->ifname, SWITCH_TIMEOUT_NS / 1000000000ull);
		return -EBUSY;
	}
	rc_ring_destroy(old); /* the capture's reference: its consumer and views keep theirs */
	return 0;
}

void rc_capture_close(struct rc_capture *cap)
{
	if (!cap)
		return;
	rc_capture_stop(cap);
	if (cap->km) {
		/* a zero-copy ring may keep the socket open (a view kept in
		 * Python): the interface leaves promiscuous mode now */
		if (cap->promisc) {
			struct packet_mreq mreq = { .mr_ifindex = cap->ifindex,
						    .mr_type = PACKET_MR_PROMISC };
			(void)setsockopt(cap->fd, SOL_PACKET, PACKET_DROP_MEMBERSHIP, &mreq,
					 sizeof(mreq));
		}
		kernel_map_release(cap->km);
	} else {
		if (cap->kring != MAP_FAILED)
			munmap(cap->kring, cap->kring_size);
		if (cap->fd >= 0)
			close(cap->fd);
	}
	if (cap->wake_fd >= 0)
		close(cap->wake_fd);
	free(cap->vlan_scratch);
	free(cap->filter);
	pthread_mutex_destroy(&cap->direct_lock);
	pthread_mutex_destroy(&cap->switch_lock);
	pthread_cond_destroy(&cap->switched);
	rc_ring_destroy(cap->ring);
	free(cap);
}

struct rc_ring *rc_capture_ring(struct rc_capture *cap)
{
	return cap->ring;
}

int rc_capture_ifindex(struct rc_capture *cap)
{
	return cap->ifindex;
}

uint32_t rc_capture_linktype(struct rc_capture *cap)
{
	return cap->linktype;
}

int rc_capture_set_filter(struct rc_capture *cap,
			  const struct rc_bpf_insn *filter, uint32_t filter_len,
			  char *errbuf, size_t errlen)
{
	if (!filter)
		filter_len = 0;
	if (filter_len > BPF_MAXINSNS) {
		rc_err(errbuf, errlen, "%s: the filter compiles to %u instructions; the kernel takes at most %d",
		       cap->ifname, filter_len, BPF_MAXINSNS);
		return -E2BIG;
	}
	_Static_assert(sizeof(struct rc_bpf_insn) == sizeof(struct sock_filter),
		       "rc_bpf_insn mirrors struct sock_filter");
	struct sock_filter *kept = NULL;
	if (filter_len) {
		kept = malloc(filter_len * sizeof(*kept));
		if (!kept) {
			rc_err(errbuf, errlen, "%s: out of memory", cap->ifname);
			return -ENOMEM;
		}
		memcpy(kept, filter, filter_len * sizeof(*kept));
	}
	/* A stopped socket keeps its filter that takes nothing until start. */
	if (cap->started) {
		int rc = attach_filter(cap, kept, filter_len, errbuf, errlen);
		if (rc) {
			free(kept);
			return rc;
		}
	}
	free(cap->filter);
	cap->filter = kept;
	cap->filter_len = filter_len;
	return 0;
}

int rc_capture_error(struct rc_capture *cap, char *errbuf, size_t errlen)
{
	int err = atomic_load_explicit(&cap->error, memory_order_acquire);
	if (err)
		rc_err(errbuf, errlen, "%s", cap->error_msg);
	return err;
}
