/* SPDX-License-Identifier: MIT */
/* loadgen.c - confab-loadgen, the load generator for confabd's native protocol (confab.v1, see
 * docs/protocol.md) and, with --proto raw, for any WebSocket broadcast server (confab's dialects,
 * nchan, a Node ws server: bench/peers.py). One file, one epoll thread, libc, libm and zlib
 * only. This file owns:
 *  - a minimal WebSocket client: HTTP/1.1 upgrade with a fixed key, masked client frames, server
 *    frame parsing (7/16/64-bit lengths, fragments, several frames per read), ping -> pong, close;
 *  - a minimal JSON scanner for the server's newline-separated objects;
 *  - the benchmark: N subscribers and P paced publishers over K rooms, a log-linear latency
 *    histogram, loss/duplicate detection from per-publisher sequence numbers, an --idle mode;
 *  - --deflate: permessage-deflate (RFC 7692) as browsers offer it, every message it sends
 *    compressed on its own, what arrives compressed inflated, and the bytes subscribers read
 *    off their sockets counted against the bytes of the messages they got;
 *  - --text FILE: the padding of each message's text taken from a file, so that compression
 *    sees text rather than one repeated byte;
 *  - raw mode: a marker "~<prefix> p<pub> s<seq> t<ns>~" in the text, found anywhere in a received
 *    frame whatever envelope the server wraps around it; publishers send a WebSocket text frame
 *    or an HTTP/1.1 keep-alive POST per message;
 *  - sampling of the server's RSS and CPU time from /proc/PID, and the report.
 * Policy: it connects to loopback addresses (or a unix socket) only. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define MAX_CONNS     60000
#define MAX_SIZE      60000                      /* largest --size */
#define WS_KEY        "dGhlIHNhbXBsZSBub25jZQ==" /* RFC 6455's sample key, and its accept: */
#define WS_ACCEPT     "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
#define READ_CHUNK    (256 * 1024)
#define MAX_MESSAGE   ((size_t)64 << 20) /* largest server message buffered (big join replies) */
#define MAX_HTTP_HEAD 16384
#define OUT_HIGH      (64 * 1024) /* the pacer skips a publisher with more than this queued */
#define MAX_PENDING   1000        /* handshakes in flight at once */
#define ACK_RING      4096        /* send times kept per publisher for the ack latency */
#define PER_SRC_ADDR  250         /* --src-addrs default: server.max_connections_per_ip is 256 */
#define NS            1000000000ull
#define H_SUB_BITS    5 /* histogram: 32 buckets per power of two, <= 3% error */
#define H_N           1920

struct buf {
	unsigned char *p;
	size_t len, cap;
};

enum cstate { C_NEW, C_CONNECTING, C_UPGRADING, C_JOINING, C_READY, C_CLOSING, C_DEAD };

struct conn {
	int fd;
	uint8_t st;
	uint8_t frag_op;
	bool is_pub, out_armed;
	bool pmd, frag_z;   /* permessage-deflate negotiated; the message in frag is compressed */
	z_stream *zin;      /* its inflater, made at its first compressed message */
	uint32_t idx, room; /* idx: subscribers 0..N-1, publishers N..N+P-1; name prefix+idx */
	struct buf in, out, frag;
	uint32_t *last; /* subscriber: last sequence seen per publisher of its room */
};

struct pub {
	uint64_t seq;
	uint64_t answered; /* --pub-url: HTTP responses so far (they come in request order) */
	uint64_t sent_ns[ACK_RING];
};

struct hist {
	uint64_t n[H_N];
	uint64_t count, max;
};

struct span {
	const char *p;
	size_t n;
};

struct sample {
	long rss_kib; /* -1: unknown */
	double cpu_s; /* server: utime+stime; loadgen: user+sys */
};

static struct {
	const char *host, *unix_path, *path, *room, *prefix, *proto, *pub_path, *pub_url, *pub_wrap;
	const char *text_file;
	int port, conns, pubs, rooms, size, src_addrs;
	double rate, duration, drain, ramp, connect_timeout;
	bool idle, json, quiet, raw, deflate;
	int server_pid;
} opt = {
        .host = "127.0.0.1",
        .path = "/v1/ws",
        .room = "bench",
        .prefix = "lg",
        .proto = "confab.v1",
        .pub_wrap = "{msg}",
        .port = 8080,
        .conns = 100,
        .pubs = 1,
        .rooms = 1,
        .size = 64,
        .rate = 100,
        .duration = 10,
        .drain = 2,
        .ramp = 2000,
        .connect_timeout = -1,
};

static struct {
	uint64_t ready, failed, dropped;
	uint64_t sent, acks, send_errors, skipped, expected;
	uint64_t recv, dups, gaps, foreign, other_events, unparsed;
	/* from the first send on: bytes subscribers read off their sockets, and the bytes of the
	 * messages (inflated) those made */
	uint64_t sub_wire, sub_payload;
	uint64_t first_send_ns, last_recv_ns;
} stats;

static struct {
	char key[48];
	uint64_t n;
} tallies[32];
static int ntallies;

static struct sockaddr_storage dst;
static socklen_t dst_len;
static char host_hdr[300];
static int epfd = -1, nsrc = 1;
static struct conn *conns;
static struct pub *pubs;
static uint32_t nsubs, ntotal, nrooms, next_conn, pending, closing;
static uint32_t *room_subs, *room_pubs; /* ready subscribers, publishers per room */
static uint64_t g_now;                  /* time of the read being parsed */
static double send_wall;                /* seconds the send phase lasted */
static struct conn *feeding;            /* connection whose input is being parsed */
static struct hist lat_hist, ack_hist;
static volatile sig_atomic_t stop_flag;
static unsigned char scratch[READ_CHUNK];
static unsigned char frame_buf[MAX_SIZE + 512];
static bool counting; /* the send phase began: stats.sub_wire and sub_payload count */
static char *corpus;  /* --text: the file's printable ASCII, spaces for the rest */
static size_t corpus_len;

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("confab-loadgen: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

/* Counts a reason (close code, HTTP status, error code, errno) for the report. */
static void tally(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void
tally(const char *fmt, ...)
{
	char key[48];
	va_list ap;
	int i;

	va_start(ap, fmt);
	vsnprintf(key, sizeof(key), fmt, ap);
	va_end(ap);
	for (char *k = key; *k; k++)
		if (*k == '"' || *k == '\\' || (unsigned char)*k < 0x20)
			*k = '_'; /* keys go into the JSON line */
	for (i = 0; i < ntallies && strcmp(tallies[i].key, key); i++)
		;
	if (i == ntallies && ntallies >= (int)(sizeof(tallies) / sizeof(tallies[0])) - 1) {
		snprintf(key, sizeof(key), "other"); /* the last slot */
		for (i = 0; i < ntallies && strcmp(tallies[i].key, key); i++)
			;
	}
	if (i == ntallies)
		snprintf(tallies[ntallies++].key, sizeof(tallies[i].key), "%s", key);
	tallies[i].n++;
}

/* ---- buffers ---- */

static void
buf_append(struct buf *b, const void *d, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n)
			cap *= 2;
		unsigned char *p = realloc(b->p, cap);
		if (!p)
			die("out of memory");
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, d, n);
	b->len += n;
}

static void
buf_consume(struct buf *b, size_t n)
{
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
}

static void
buf_free(struct buf *b)
{
	free(b->p);
	*b = (struct buf){0};
}

/* ---- permessage-deflate ---- */

static const unsigned char pmd_tail[4] = {0x00, 0x00, 0xff, 0xff}; /* RFC 7692 7.2.1 */

/* Compresses a message on its own (no context takeover: each is a stream of its own, which any
 * inflater takes) into out; returns its length without the tail. */
static size_t
pmd_compress(const void *p, size_t n, unsigned char *out, size_t cap)
{
	static z_stream z;
	static bool init;

	if (!init &&
	    deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		die("deflateInit2 failed");
	init = true;
	deflateReset(&z);
	z.next_in = (Bytef *)(uintptr_t)p;
	z.avail_in = (uInt)n;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	if (deflate(&z, Z_SYNC_FLUSH) != Z_OK || z.avail_in || !z.avail_out)
		die("internal: a message of %zu bytes does not compress into %zu", n, cap);
	n = cap - z.avail_out;
	if (n < 4 || memcmp(out + n - 4, pmd_tail, 4))
		die("internal: no flush at the end of a compressed message");
	return n - 4;
}

/* The payload of a compressed message, inflated into out with c's inflater (kept from one
 * message to the next: the server keeps its window). False if it does not inflate. */
static bool
pmd_inflate(struct conn *c, const unsigned char *p, size_t n, struct buf *out)
{
	unsigned char chunk[65536];

	if (!c->zin) {
		if (!(c->zin = calloc(1, sizeof(*c->zin))) || inflateInit2(c->zin, -15) != Z_OK)
			die("out of memory");
	}
	out->len = 0;
	for (int part = 0; part < 2; part++) {
		z_stream *z = c->zin;

		z->next_in = (Bytef *)(uintptr_t)(part ? pmd_tail : p);
		z->avail_in = (uInt)(part ? sizeof(pmd_tail) : n);
		do {
			uInt before = z->avail_in;
			int r;

			z->next_out = chunk;
			z->avail_out = sizeof(chunk);
			r = inflate(z, Z_SYNC_FLUSH);
			if (r != Z_OK && r != Z_BUF_ERROR)
				return false;
			buf_append(out, chunk, sizeof(chunk) - z->avail_out);
			if (out->len > MAX_MESSAGE)
				return false;
			if (z->avail_in == before && z->avail_out == sizeof(chunk))
				break; /* nothing more to get out of it */
		} while (z->avail_in || !z->avail_out);
	}
	return true;
}

/* ---- log-linear histogram of microseconds ---- */

static unsigned
hist_index(uint64_t v)
{
	if (v < 2u << H_SUB_BITS)
		return (unsigned)v;
	int shift = 63 - __builtin_clzll(v) - H_SUB_BITS;
	return (unsigned)(shift * (1 << H_SUB_BITS) + (int)(v >> shift));
}

static uint64_t
hist_high(unsigned i) /* largest value of bucket i */
{
	if (i < 2u << H_SUB_BITS)
		return i;
	unsigned shift = i / (1u << H_SUB_BITS) - 1, s = i - shift * (1u << H_SUB_BITS);
	return (((uint64_t)s + 1) << shift) - 1;
}

static void
hist_add(struct hist *h, uint64_t v)
{
	h->n[hist_index(v)]++;
	h->count++;
	if (v > h->max)
		h->max = v;
}

static uint64_t
hist_pct(const struct hist *h, double q)
{
	uint64_t want = (uint64_t)ceil(q * (double)h->count), sum = 0;

	if (!h->count)
		return 0;
	for (unsigned i = 0; i < H_N; i++) {
		sum += h->n[i];
		if (sum >= want && sum)
			return hist_high(i) < h->max ? hist_high(i) : h->max;
	}
	return h->max;
}

/* ---- JSON scanning: enough to walk the members of one object ---- */

static const char *
js_ws(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	return p;
}

/* End of the value starting at p, NULL if it is cut off or malformed. */
static const char *
js_skip(const char *p, const char *e)
{
	int depth = 0;

	if (p >= e)
		return NULL;
	if (*p != '"' && *p != '{' && *p != '[') {
		while (p < e && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n')
			p++;
		return p;
	}
	while (p < e) {
		if (*p == '"') {
			for (p++; p < e && *p != '"'; p++)
				if (*p == '\\' && ++p >= e)
					return NULL;
			if (p >= e)
				return NULL;
			p++;
			if (!depth)
				return p;
			continue;
		}
		if (*p == '{' || *p == '[')
			depth++;
		else if ((*p == '}' || *p == ']') && --depth == 0)
			return p + 1;
		p++;
	}
	return NULL;
}

struct jit {
	const char *p, *e;
};

static bool
ji_init(struct jit *it, struct span obj)
{
	const char *e = obj.p + obj.n, *p = obj.p ? js_ws(obj.p, e) : e;

	if (p >= e || *p != '{')
		return false;
	it->p = p + 1;
	it->e = e;
	return true;
}

/* Next member: key without quotes, raw value. False at the end or on malformed input. */
static bool
ji_next(struct jit *it, struct span *k, struct span *v)
{
	const char *p = js_ws(it->p, it->e), *q;

	if (p < it->e && *p == ',')
		p = js_ws(p + 1, it->e);
	if (p >= it->e || *p != '"' || !(q = js_skip(p, it->e)))
		return false;
	*k = (struct span){p + 1, (size_t)(q - p - 2)};
	p = js_ws(q, it->e);
	if (p >= it->e || *p != ':')
		return false;
	p = js_ws(p + 1, it->e);
	if (!(q = js_skip(p, it->e)) || q == p)
		return false;
	*v = (struct span){p, (size_t)(q - p)};
	it->p = q;
	return true;
}

static bool
sp_eq(struct span s, const char *lit)
{
	size_t n = strlen(lit);
	return s.n == n && !memcmp(s.p, lit, n);
}

static struct span
sp_str(struct span v) /* contents of a JSON string value, raw */
{
	if (v.n < 2 || v.p[0] != '"')
		return (struct span){NULL, 0};
	return (struct span){v.p + 1, v.n - 2};
}

static struct span
sp_member(struct span obj, const char *key)
{
	struct jit it;
	struct span k, v;

	if (ji_init(&it, obj))
		while (ji_next(&it, &k, &v))
			if (sp_eq(k, key))
				return v;
	return (struct span){NULL, 0};
}

/* Parses decimal digits from *p up to e or a non-digit; false without digits or on overflow. */
static bool
parse_u64(const char **p, const char *e, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;

	while (s < e && *s >= '0' && *s <= '9') {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s++ - '0');
	}
	if (s == *p)
		return false;
	*p = s;
	*out = v;
	return true;
}

/* ---- connections ---- */

static void
arm_out(struct conn *c, bool on)
{
	struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.u32 = c->idx};

	if (c->out_armed != on && epfd >= 0)
		epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
	c->out_armed = on;
}

/* Closes c (no reason recorded) and does the bookkeeping for the state it was in. */
static void
conn_close(struct conn *c)
{
	if (c->st == C_DEAD)
		return;
	if (c->st == C_CONNECTING || c->st == C_UPGRADING || c->st == C_JOINING) {
		pending--;
		stats.failed++;
	} else if (c->st == C_READY) {
		stats.dropped++;
	} else if (c->st == C_CLOSING) {
		closing--;
	}
	if (c->fd >= 0)
		close(c->fd); /* also leaves the epoll set */
	c->fd = -1;
	c->st = C_DEAD;
	buf_free(&c->out);
	free(c->last);
	c->last = NULL;
	if (c->zin) {
		inflateEnd(c->zin);
		free(c->zin);
		c->zin = NULL;
	}
	if (c != feeding) {
		buf_free(&c->in);
		buf_free(&c->frag);
	}
}

static void conn_fail(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void
conn_fail(struct conn *c, const char *fmt, ...)
{
	char why[48];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	tally("%s", why);
	conn_close(c);
}

static void
conn_flush(struct conn *c)
{
	while (c->out.len) {
		ssize_t w = send(c->fd, c->out.p, c->out.len, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			break;
		if (w < 0) {
			conn_fail(c, "send: %s", strerror(errno));
			return;
		}
		buf_consume(&c->out, (size_t)w);
	}
	arm_out(c, c->out.len > 0);
}

static void
conn_write(struct conn *c, const void *d, size_t n)
{
	size_t off = 0;

	if (c->st == C_DEAD)
		return;
	if (!c->out.len) {
		ssize_t w = send(c->fd, d, n, MSG_NOSIGNAL);
		if (w < 0 && errno != EAGAIN && errno != EINTR) {
			conn_fail(c, "send: %s", strerror(errno));
			return;
		}
		off = w > 0 ? (size_t)w : 0;
	}
	if (off < n)
		buf_append(&c->out, (const unsigned char *)d + off, n - off);
	arm_out(c, c->out.len > 0);
}

/* Sends one masked client frame. */
static void
ws_send(struct conn *c, int opcode, const void *payload, size_t n)
{
	static uint32_t mask_state = 0x9e3779b9u;
	const unsigned char *p = payload;
	unsigned char *f = frame_buf, *m;
	size_t h = 0;

	if (n + 14 > sizeof(frame_buf))
		die("internal: frame of %zu bytes", n);
	f[h++] = (unsigned char)(0x80 | opcode);
	if (n < 126) {
		f[h++] = (unsigned char)(0x80 | n);
	} else if (n < 65536) {
		f[h++] = 0x80 | 126;
		f[h++] = (unsigned char)(n >> 8);
		f[h++] = (unsigned char)n;
	} else {
		f[h++] = 0x80 | 127;
		for (int i = 7; i >= 0; i--)
			f[h++] = (unsigned char)((uint64_t)n >> (8 * i));
	}
	/* xorshift32: masking is protocol hygiene here, not security */
	mask_state ^= mask_state << 13;
	mask_state ^= mask_state >> 17;
	mask_state ^= mask_state << 5;
	m = f + h;
	memcpy(m, &mask_state, 4);
	h += 4;
	for (size_t i = 0; i < n; i++)
		f[h + i] = p[i] ^ m[i & 3];
	conn_write(c, f, h + n);
}

static void
ws_send_text(struct conn *c, const char *s, int n)
{
	static unsigned char z[MAX_SIZE + 4096];

	if (n > 0 && c->pmd)
		ws_send(c, 0x40 | 0x1, z, pmd_compress(s, (size_t)n, z, sizeof(z)));
	else if (n > 0)
		ws_send(c, 0x1, s, (size_t)n);
}

static int
room_name(char *out, size_t sz, uint32_t r)
{
	if (nrooms == 1)
		return snprintf(out, sz, "%s", opt.room);
	return snprintf(out, sz, "%s-%" PRIu32, opt.room, r);
}

static void
conn_start(struct conn *c)
{
	int fam = dst.ss_family, one = 1, fd;
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = c->idx};

	fd = socket(fam, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		stats.failed++;
		tally("socket: %s", strerror(errno));
		c->st = C_DEAD;
		return;
	}
	c->fd = fd;
	c->st = C_CONNECTING;
	c->out_armed = true;
	pending++;
	if (fam != AF_UNIX)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (fam == AF_INET && nsrc > 1) {
		struct sockaddr_in src = {.sin_family = AF_INET};
		src.sin_addr.s_addr = htonl(0x7f000001u + c->idx % (uint32_t)nsrc);
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
			conn_fail(c, "bind: %s", strerror(errno));
			return;
		}
	}
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		die("epoll_ctl: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&dst, dst_len) < 0 && errno != EINPROGRESS)
		conn_fail(c, "connect: %s", strerror(errno));
}

/* Expands {room} and {i} (the connection's index) in a --path, --pub-path or --pub-url. */
static int
conn_path(char *out, size_t sz, const char *tpl, const struct conn *c)
{
	size_t n = 0;
	int k;

	out[0] = '\0';
	while (*tpl) {
		if (!strncmp(tpl, "{room}", 6)) {
			k = room_name(out + n, sz - n, c->room);
			tpl += 6;
		} else if (!strncmp(tpl, "{i}", 3)) {
			k = snprintf(out + n, sz - n, "%" PRIu32, c->idx);
			tpl += 3;
		} else {
			k = snprintf(out + n, sz - n, "%c", *tpl++);
		}
		if (k < 0 || (size_t)k >= sz - n)
			die("path too long: %s", tpl);
		n += (size_t)k;
	}
	return (int)n;
}

static void conn_ready(struct conn *c);

static void
conn_connected(struct conn *c)
{
	char req[1024], path[600];
	int err = 0, n;
	socklen_t len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		conn_fail(c, "connect: %s", strerror(err));
		return;
	}
	if (c->is_pub && opt.pub_url) { /* an HTTP publisher: ready once connected */
		arm_out(c, false);
		conn_ready(c);
		return;
	}
	conn_path(path, sizeof(path), c->is_pub && opt.pub_path ? opt.pub_path : opt.path, c);
	n = snprintf(req, sizeof(req),
	             "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	             "Sec-WebSocket-Key: " WS_KEY "\r\nSec-WebSocket-Version: 13\r\n%s%s\r\n",
	             path, host_hdr, opt.raw ? "" : "Sec-WebSocket-Protocol: confab.v1\r\n",
	             /* what Chrome and Firefox offer */
	             opt.deflate ? "Sec-WebSocket-Extensions: permessage-deflate; "
	                           "client_max_window_bits\r\n"
	                         : "");
	c->st = C_UPGRADING;
	conn_write(c, req, (size_t)n);
}

/* Handles the HTTP response; returns the bytes it used (0: incomplete). */
static size_t
feed_http(struct conn *c, const unsigned char *p, size_t n)
{
	const unsigned char *e = memmem(p, n, "\r\n\r\n", 4);
	char head[MAX_HTTP_HEAD + 1], msg[256], room[80];
	const char *h;
	size_t hl;
	int status = 0, k;

	if (!e) {
		if (n > MAX_HTTP_HEAD)
			conn_fail(c, "http: header too long");
		return 0;
	}
	hl = (size_t)(e - p) + 4;
	if (hl > MAX_HTTP_HEAD) {
		conn_fail(c, "http: header too long");
		return hl;
	}
	memcpy(head, p, hl);
	head[hl] = 0;
	if (sscanf(head, "HTTP/1.%*d %d", &status) != 1 || status != 101) {
		conn_fail(c, "http %d", status);
		return hl;
	}
	h = strcasestr(head, "\r\nSec-WebSocket-Accept:");
	if (h)
		h += strspn(h + 23, " \t") + 23;
	if (!h || strncmp(h, WS_ACCEPT, strlen(WS_ACCEPT))) {
		conn_fail(c, "http: bad Sec-WebSocket-Accept");
		return hl;
	}
	if (opt.deflate) {
		h = strcasestr(head, "\r\nSec-WebSocket-Extensions:");
		if (!h || strncmp(h + 28 + strspn(h + 28, " \t"), "permessage-deflate", 18)) {
			conn_fail(c, "http: no permessage-deflate");
			return hl;
		}
		c->pmd = true;
	}
	if (opt.raw) { /* no hello, no join: the server subscribed us by the URL */
		conn_ready(c);
		return hl;
	}
	h = strcasestr(head, "\r\nSec-WebSocket-Protocol:");
	if (h && strncmp(h + 25 + strspn(h + 25, " \t"), "confab.v1", 9)) {
		conn_fail(c, "http: wrong subprotocol");
		return hl;
	}
	c->st = C_JOINING;
	k = snprintf(msg, sizeof(msg), "{\"op\":\"hello\",\"id\":1,\"name\":\"%s%" PRIu32 "\"}",
	             opt.prefix, c->idx);
	ws_send_text(c, msg, k);
	room_name(room, sizeof(room), c->room);
	k = snprintf(msg, sizeof(msg), "{\"op\":\"join\",\"id\":2,\"room\":\"%s\"}", room);
	ws_send_text(c, msg, k);
	return hl;
}

static void
conn_ready(struct conn *c)
{
	c->st = C_READY;
	pending--;
	stats.ready++;
	if (c->is_pub)
		return;
	room_subs[c->room]++;
	if (room_pubs[c->room] && !(c->last = calloc(room_pubs[c->room], sizeof(*c->last))))
		die("out of memory");
}

/* Our message? Gives the sender's index among publishers and the text's seq and timestamp. */
static bool
parse_ours(struct span from, struct span text, uint32_t *pub, uint64_t *seq, uint64_t *ts)
{
	struct span id = sp_str(sp_member(from, "id")), t = sp_str(text);
	size_t pl = strlen(opt.prefix);
	const char *p, *e;
	uint64_t gi;

	/* A guest's id is "guest:<name>" (docs/protocol.md "Identities"). */
	if (id.n > 6 && !memcmp(id.p, "guest:", 6)) {
		id.p += 6;
		id.n -= 6;
	}
	if (id.n <= pl || memcmp(id.p, opt.prefix, pl) || !t.p)
		return false;
	p = id.p + pl;
	e = id.p + id.n;
	if (!parse_u64(&p, e, &gi) || p != e || gi < nsubs || gi >= ntotal)
		return false;
	*pub = (uint32_t)(gi - nsubs);
	p = t.p;
	e = t.p + t.n;
	return parse_u64(&p, e, seq) && p < e && *p++ == ':' && parse_u64(&p, e, ts) &&
	       *seq <= UINT32_MAX;
}

/* Message seq of publisher j (its index among publishers), sent at ts, reached subscriber c. */
static void
on_delivery(struct conn *c, uint32_t j, uint64_t seq, uint64_t ts)
{
	uint32_t *last;

	if (j % nrooms != c->room) {
		stats.foreign++;
		return;
	}
	last = &c->last[j / nrooms];
	if (seq <= *last) {
		stats.dups++;
		return;
	}
	if (seq > *last + 1u)
		stats.gaps += seq - *last - 1;
	*last = (uint32_t)seq;
	stats.recv++;
	stats.last_recv_ns = g_now;
	hist_add(&lat_hist, g_now > ts ? (g_now - ts) / 1000 : 0);
}

static void
on_msg(struct conn *c, struct span from, struct span text)
{
	uint64_t seq, ts;
	uint32_t j;

	if (c->is_pub || c->st != C_READY)
		return; /* publishers receive the messages too; they are not measured */
	if (!parse_ours(from, text, &j, &seq, &ts))
		stats.foreign++;
	else
		on_delivery(c, j, seq, ts);
}

/* Parses "~<prefix> p<pub> s<seq> t<ns>~" at p (just after "~<prefix> p"). */
static bool
parse_marker(const char **p, const char *e, uint64_t *pub, uint64_t *seq, uint64_t *ts)
{
	const char *q = *p;

	if (!parse_u64(&q, e, pub) || e - q < 2 || memcmp(q, " s", 2))
		return false;
	q += 2;
	if (!parse_u64(&q, e, seq) || e - q < 2 || memcmp(q, " t", 2))
		return false;
	q += 2;
	if (!parse_u64(&q, e, ts) || q >= e || *q != '~')
		return false;
	*p = q + 1;
	return *pub < (uint64_t)opt.pubs && *seq <= UINT32_MAX;
}

/* --proto raw: every marker in the frame is a delivery, whatever the server wrapped around it. */
static void
on_raw(struct conn *c, const unsigned char *p, size_t n)
{
	const char *s = (const char *)p, *e = s + n, *m;
	char pat[32];
	size_t pl = (size_t)snprintf(pat, sizeof(pat), "~%s p", opt.prefix);
	bool any = false;

	if (c->is_pub || c->st != C_READY)
		return;
	while (s < e && (m = memmem(s, (size_t)(e - s), pat, pl))) {
		uint64_t j, seq, ts;
		s = m + pl;
		if (parse_marker(&s, e, &j, &seq, &ts)) {
			on_delivery(c, (uint32_t)j, seq, ts);
			any = true;
		}
	}
	if (!any)
		stats.other_events++; /* presence, welcome, anything the server adds */
}

static void
on_object(struct conn *c, const char *s, const char *e)
{
	struct span obj = {s, (size_t)(e - s)}, k, v, op = {0}, ev = {0}, id = {0}, err = {0};
	struct span text = {0}, from = {0};
	struct jit it;

	if (!ji_init(&it, obj)) {
		stats.unparsed++;
		return;
	}
	while (ji_next(&it, &k, &v)) {
		if (sp_eq(k, "op"))
			op = v;
		else if (sp_eq(k, "ev"))
			ev = v;
		else if (sp_eq(k, "id"))
			id = v;
		else if (sp_eq(k, "error"))
			err = v;
		else if (sp_eq(k, "text"))
			text = v;
		else if (sp_eq(k, "from"))
			from = v;
	}
	if (ev.p) {
		if (sp_eq(ev, "\"msg\"")) {
			on_msg(c, from, text);
			return;
		}
		if (sp_eq(ev, "\"bye\""))
			tally("bye");
		stats.other_events++;
	} else if (err.p) {
		struct span code = sp_str(sp_member(err, "code"));
		tally("error %.*s", (int)(code.n < 30 ? code.n : 30), code.p ? code.p : "");
		if (c->st == C_JOINING) {
			conn_close(c); /* hello or join refused: never ready */
		} else if (c->is_pub) {
			stats.send_errors++;
		}
	} else if (op.p && sp_eq(op, "\"join\"") && c->st == C_JOINING) {
		conn_ready(c);
	} else if (op.p && sp_eq(op, "\"send\"") && c->is_pub) {
		struct pub *pb = &pubs[c->idx - nsubs];
		const char *p = id.p;
		uint64_t seq;
		stats.acks++;
		stats.expected += room_subs[c->room];
		if (p && parse_u64(&p, id.p + id.n, &seq) && seq <= pb->seq &&
		    pb->seq - seq < ACK_RING && g_now >= pb->sent_ns[seq % ACK_RING])
			hist_add(&ack_hist, (g_now - pb->sent_ns[seq % ACK_RING]) / 1000);
	} else if (!op.p) {
		stats.unparsed++;
	}
}

static void
on_message(struct conn *c, const unsigned char *p, size_t n)
{
	const char *s = (const char *)p, *e = s + n, *nl;

	if (opt.raw) {
		on_raw(c, p, n);
		return;
	}
	for (; s < e && c->st != C_DEAD; s = nl + 1) {
		if (!(nl = memchr(s, '\n', (size_t)(e - s))))
			nl = e;
		if (nl > s)
			on_object(c, s, nl);
	}
}

/* A whole message: inflated first if it came compressed (--deflate). */
static void
ws_message(struct conn *c, bool z, const unsigned char *p, size_t n)
{
	static struct buf inflated;

	if (z) {
		if (!pmd_inflate(c, p, n, &inflated)) {
			conn_fail(c, "ws: does not inflate");
			return;
		}
		p = inflated.p;
		n = inflated.len;
	}
	if (counting && !c->is_pub)
		stats.sub_payload += n;
	on_message(c, p, n);
}

/* A frame; op has RSV1 (0x40) where permessage-deflate marks a compressed message. */
static void
ws_frame(struct conn *c, bool fin, int op, const unsigned char *p, size_t n)
{
	bool z = op & 0x40;
	unsigned code;

	op &= 0x0f;
	if (z && op != 0x1 && op != 0x2) {
		conn_fail(c, "ws: RSV1 on opcode %d", op);
		return;
	}
	switch (op) {
	case 0x8: /* close: answer it (unless we started it) and hang up */
		code = n >= 2 ? (unsigned)p[0] << 8 | p[1] : 1005;
		if (c->st != C_CLOSING) {
			tally("close %u", code);
			ws_send(c, 0x8, p, n >= 2 ? 2 : 0);
		}
		conn_close(c);
		return;
	case 0x9:
		if (n > 125)
			conn_fail(c, "ws: long ping");
		else
			ws_send(c, 0xA, p, n);
		return;
	case 0xA:
		return;
	case 0x1:
	case 0x2:
		if (c->frag_op) {
			conn_fail(c, "ws: message inside fragments");
		} else if (fin) {
			ws_message(c, z, p, n);
		} else {
			c->frag_op = (uint8_t)op;
			c->frag_z = z;
			buf_append(&c->frag, p, n);
		}
		return;
	case 0x0:
		if (!c->frag_op || c->frag.len + n > MAX_MESSAGE) {
			conn_fail(c, "ws: bad continuation");
			return;
		}
		buf_append(&c->frag, p, n);
		if (fin) {
			ws_message(c, c->frag_z, c->frag.p, c->frag.len);
			c->frag.len = 0;
			c->frag_op = 0;
		}
		return;
	default:
		conn_fail(c, "ws: opcode %d", op);
	}
}

/* --pub-url: an answer to the k-th POST of publisher c (HTTP/1.1 answers come in order). */
static void
on_post_answer(struct conn *c, int status)
{
	struct pub *pb = &pubs[c->idx - nsubs];
	uint64_t k = ++pb->answered;

	if (status < 200 || status > 299) {
		stats.send_errors++;
		tally("http %d", status);
		return;
	}
	stats.acks++;
	if (k <= pb->seq && pb->seq - k < ACK_RING && g_now >= pb->sent_ns[k % ACK_RING])
		hist_add(&ack_hist, (g_now - pb->sent_ns[k % ACK_RING]) / 1000);
}

/* --pub-url: parses the answers to a publisher's POSTs; returns the bytes used. */
static size_t
feed_post(struct conn *c, const unsigned char *p, size_t n)
{
	char head[MAX_HTTP_HEAD + 1];
	size_t off = 0;

	while (c->st != C_DEAD && off < n) {
		const unsigned char *h = p + off, *e = memmem(h, n - off, "\r\n\r\n", 4);
		const char *cl;
		uint64_t blen = 0;
		int status = 0;
		size_t hl;

		if (!e) {
			if (n - off > MAX_HTTP_HEAD)
				conn_fail(c, "http: header too long");
			break;
		}
		hl = (size_t)(e - h) + 4;
		if (hl > MAX_HTTP_HEAD) {
			conn_fail(c, "http: header too long");
			break;
		}
		memcpy(head, h, hl);
		head[hl] = 0;
		if (sscanf(head, "HTTP/1.%*d %d", &status) != 1) {
			conn_fail(c, "http: bad status line");
			break;
		}
		if (strcasestr(head, "\r\nTransfer-Encoding:")) {
			conn_fail(c, "http: chunked answer"); /* not needed by the peers we run */
			break;
		}
		if ((cl = strcasestr(head, "\r\nContent-Length:"))) {
			cl += 17 + strspn(cl + 17, " \t");
			if (!parse_u64(&cl, head + hl, &blen) || blen > MAX_MESSAGE) {
				conn_fail(c, "http: bad Content-Length");
				break;
			}
		}
		if (n - off - hl < blen)
			break;
		off += hl + (size_t)blen;
		on_post_answer(c, status);
	}
	return off;
}

/* Parses what the server sent; returns the bytes used (the rest is an incomplete frame). */
static size_t
feed(struct conn *c, const unsigned char *p, size_t n)
{
	size_t off = 0;

	if (c->is_pub && opt.pub_url)
		return feed_post(c, p, n);
	if (c->st == C_UPGRADING) {
		off = feed_http(c, p, n);
		if (c->st != C_JOINING && c->st != C_READY)
			return off;
	}
	while (c->st != C_DEAD && n - off >= 2) {
		const unsigned char *f = p + off;
		size_t avail = n - off, hl = 2;
		uint64_t len = f[1] & 0x7f;

		if ((f[0] & 0x70 & ~(c->pmd ? 0x40 : 0)) || f[1] & 0x80) {
			conn_fail(c, "ws: reserved bits or masked frame");
			break;
		}
		if (len == 126) {
			if (avail < 4)
				break;
			len = (uint64_t)f[2] << 8 | f[3];
			hl = 4;
		} else if (len == 127) {
			if (avail < 10)
				break;
			len = 0;
			for (int i = 2; i < 10; i++)
				len = len << 8 | f[i];
			hl = 10;
		}
		if (len > MAX_MESSAGE) {
			conn_fail(c, "ws: frame too large");
			break;
		}
		if (avail - hl < len)
			break;
		ws_frame(c, f[0] & 0x80, f[0] & 0x4f, f + hl, (size_t)len);
		off += hl + (size_t)len;
	}
	return off;
}

/* Input from the socket: parsed in place when nothing is buffered, else appended. */
static void
conn_input(struct conn *c, const unsigned char *d, size_t n)
{
	size_t used;

	feeding = c;
	if (!c->in.len) {
		used = feed(c, d, n);
		if (c->st != C_DEAD && used < n)
			buf_append(&c->in, d + used, n - used);
	} else {
		buf_append(&c->in, d, n);
		used = feed(c, c->in.p, c->in.len);
		if (c->st != C_DEAD)
			buf_consume(&c->in, used);
	}
	feeding = NULL;
	if (c->st == C_DEAD || (!c->in.len && c->in.cap > 65536)) {
		buf_free(&c->in);
		if (c->st == C_DEAD)
			buf_free(&c->frag);
	}
}

static void
on_event(struct conn *c, uint32_t events)
{
	ssize_t r;

	if (c->st == C_CONNECTING) {
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			conn_connected(c);
		return;
	}
	if (events & EPOLLOUT)
		conn_flush(c);
	if (c->st == C_DEAD || !(events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
		return;
	r = recv(c->fd, scratch, sizeof(scratch), 0);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		if (c->st == C_CLOSING)
			conn_close(c);
		else if (r == 0)
			conn_fail(c, "eof");
		else
			conn_fail(c, "recv: %s", strerror(errno));
		return;
	}
	g_now = now_ns();
	if (counting && !c->is_pub)
		stats.sub_wire += (uint64_t)r;
	conn_input(c, scratch, (size_t)r);
}

/* ---- publishing ---- */

/* --text: the file's bytes, printable ASCII kept and anything else a space, so that any slice
 * goes into a JSON string as it is. */
static void
load_text(const char *path)
{
	FILE *f = fopen(path, "r");
	size_t cap = 0;
	int ch;

	if (!f)
		die("--text %s: %s", path, strerror(errno));
	while ((ch = getc(f)) != EOF && corpus_len < (64u << 20)) {
		if (corpus_len == cap && !(corpus = realloc(corpus, cap = cap ? 2 * cap : 65536)))
			die("out of memory");
		corpus[corpus_len++] =
		        ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\' ? (char)ch : ' ';
	}
	fclose(f);
	if (corpus_len < MAX_SIZE)
		die("--text %s: %zu bytes; at least %d needed", path, corpus_len, MAX_SIZE);
}

/* n bytes of padding: 'x's, or with --text the next n bytes of the text for publisher idx (each
 * publisher reads on from where its last message stopped, as chat goes on). */
static void
pad(char *out, size_t n, uint32_t idx)
{
	static size_t *off;

	if (!corpus) {
		memset(out, 'x', n);
		return;
	}
	if (!off && !(off = calloc(ntotal, sizeof(*off))))
		die("out of memory");
	if (!off[idx])
		off[idx] = (size_t)idx * 7919 % (corpus_len - n) + 1;
	if (off[idx] + n > corpus_len)
		off[idx] = 1;
	memcpy(out, corpus + off[idx], n);
	off[idx] += n;
}

/* --proto raw: the marker padded to --size, put into --pub-wrap, sent as a text frame or POST. */
static void
pub_send_raw(struct conn *c, uint64_t seq, uint64_t t)
{
	static char text[MAX_SIZE + 64], req[MAX_SIZE + 2048];
	const char *w = strstr(opt.pub_wrap, "{msg}");
	char path[600];
	int tl, n, hn = 0;

	tl = snprintf(text, sizeof(text), "~%s p%" PRIu32 " s%" PRIu64 " t%" PRIu64 "~", opt.prefix,
	              c->idx - nsubs, seq, t);
	if (tl < opt.size) {
		pad(text + tl, (size_t)(opt.size - tl), c->idx);
		tl = opt.size;
	}
	n = (int)(w - opt.pub_wrap) + tl + (int)strlen(w + 5);
	if (opt.pub_url) {
		conn_path(path, sizeof(path), opt.pub_url, c);
		hn = snprintf(req, 1024,
		              "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: text/plain\r\n"
		              "Content-Length: %d\r\n\r\n",
		              path, host_hdr, n);
	}
	snprintf(req + hn, sizeof(req) - (size_t)hn, "%.*s%.*s%s", (int)(w - opt.pub_wrap),
	         opt.pub_wrap, tl, text, w + 5);
	pubs[c->idx - nsubs].sent_ns[seq % ACK_RING] = t;
	stats.sent++;
	if (!stats.first_send_ns)
		stats.first_send_ns = t;
	stats.expected += room_subs[c->room]; /* no ack carries a count in these protocols */
	if (opt.pub_url) {
		conn_write(c, req, (size_t)(hn + n));
	} else {
		stats.acks++; /* a WebSocket broadcast server answers nothing: sent is acked */
		ws_send_text(c, req, n);
	}
}

static void
pub_send(struct conn *c)
{
	static char text[MAX_SIZE + 64], msg[MAX_SIZE + 256];
	struct pub *pb = &pubs[c->idx - nsubs];
	uint64_t seq = ++pb->seq, t = now_ns();
	char room[80];
	int tl, n;

	if (opt.raw) {
		pub_send_raw(c, seq, t);
		return;
	}
	tl = snprintf(text, sizeof(text), "%" PRIu64 ":%" PRIu64 ":", seq, t);
	if (tl < opt.size) {
		pad(text + tl, (size_t)(opt.size - tl), c->idx);
		tl = opt.size;
	}
	room_name(room, sizeof(room), c->room);
	n = snprintf(msg, sizeof(msg),
	             "{\"op\":\"send\",\"id\":%" PRIu64 ",\"room\":\"%s\",\"text\":\"%.*s\"}", seq,
	             room, tl, text);
	pb->sent_ns[seq % ACK_RING] = t;
	stats.sent++;
	if (!stats.first_send_ns)
		stats.first_send_ns = t;
	ws_send_text(c, msg, n);
}

/* Sends what is due at rate R since t0; a late loop catches up by bursting, by at most 1 s.
 * Returns false when every publisher is blocked (or gone) with messages due. */
static bool
pace(uint64_t now, uint64_t t0, uint64_t *scheduled)
{
	static uint32_t rr;
	double el = (double)(now - t0) / 1e9;
	uint64_t due, cap = opt.rate > 1 ? (uint64_t)opt.rate : 1;

	if (el > opt.duration)
		el = opt.duration;
	due = (uint64_t)(opt.rate * el);
	if (due > *scheduled + cap) {
		stats.skipped += due - *scheduled - cap;
		*scheduled = due - cap;
	}
	while (*scheduled < due) {
		struct conn *c = NULL;
		for (uint32_t tries = 0; tries < (uint32_t)opt.pubs && !c; tries++) {
			struct conn *p = &conns[nsubs + rr];
			rr = (rr + 1) % (uint32_t)opt.pubs;
			if (p->st == C_READY && p->out.len < OUT_HIGH)
				c = p;
		}
		if (!c)
			return false; /* the backlog waits */
		pub_send(c);
		(*scheduled)++;
	}
	return true;
}

/* ---- server and own resource usage ---- */

static struct sample
server_sample(void)
{
	struct sample s = {-1, -1};
	char path[64], line[1024], *p;
	unsigned long ut, stm;
	FILE *f;

	if (!opt.server_pid)
		return s;
	snprintf(path, sizeof(path), "/proc/%d/status", opt.server_pid);
	if ((f = fopen(path, "r"))) {
		while (fgets(line, sizeof(line), f))
			if (!strncmp(line, "VmRSS:", 6))
				s.rss_kib = strtol(line + 6, NULL, 10);
		fclose(f);
	}
	snprintf(path, sizeof(path), "/proc/%d/stat", opt.server_pid);
	if ((f = fopen(path, "r"))) {
		if (fgets(line, sizeof(line), f) && (p = strrchr(line, ')')) &&
		    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
		           &stm) == 2)
			s.cpu_s = (double)(ut + stm) / (double)sysconf(_SC_CLK_TCK);
		fclose(f);
	}
	return s;
}

static double
own_cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ---- phases ---- */

enum phase { PH_CONNECT, PH_HOLD, PH_SEND, PH_DRAIN, PH_CLOSE };

static void
progress(enum phase ph, double t)
{
	static const char *const names[] = {"connect", "idle", "send", "drain", "close"};
	struct sample s = server_sample();

	if (opt.quiet)
		return;
	fprintf(stderr, "[%6.1fs] %-7s ready %" PRIu64 " failed %" PRIu64 " dropped %" PRIu64, t,
	        names[ph], stats.ready, stats.failed, stats.dropped);
	if (ph >= PH_SEND)
		fprintf(stderr, "  sent %" PRIu64 " acks %" PRIu64 " recv %" PRIu64 "/%" PRIu64,
		        stats.sent, stats.acks, stats.recv, stats.expected);
	if (s.rss_kib >= 0)
		fprintf(stderr, "  server rss %ld KiB cpu %.2f s", s.rss_kib, s.cpu_s);
	fputc('\n', stderr);
}

/* Runs the event loop until the phase is done, its deadline passes, or SIGINT. */
static void
run_phase(enum phase ph, uint64_t t0, uint64_t deadline, uint64_t run_t0)
{
	static struct epoll_event evs[1024];
	uint64_t scheduled = 0, next_report = now_ns() + NS;

	for (;;) {
		uint64_t now = now_ns(), wake = deadline;
		int timeout, n;

		if (stop_flag || now >= deadline) {
			uint64_t end = t0 + (uint64_t)(opt.duration * 1e9);
			if (ph == PH_SEND && !stop_flag)
				pace(end, t0, &scheduled); /* what fell due at the very end */
			return;
		}
		if (now >= next_report) {
			progress(ph, (double)(now - run_t0) / 1e9);
			next_report = next_report + NS > now ? next_report + NS : now + NS;
		}
		if (next_report < wake)
			wake = next_report;
		switch (ph) {
		case PH_CONNECT: {
			uint64_t allowed =
			        opt.ramp > 0 ? (uint64_t)((double)(now - t0) / 1e9 * opt.ramp) + 1
			                     : ntotal;
			while (next_conn < ntotal && next_conn < allowed && pending < MAX_PENDING)
				conn_start(&conns[next_conn++]);
			if (next_conn == ntotal && !pending)
				return;
			if (next_conn < ntotal && pending < MAX_PENDING && now + 1000000 < wake)
				wake = now + 1000000;
			break;
		}
		case PH_SEND:
			if (!pace(now, t0, &scheduled)) {
				if (now + 1000000 < wake)
					wake = now + 1000000;
			} else if (scheduled < (uint64_t)(opt.rate * opt.duration)) {
				uint64_t next =
				        t0 + (uint64_t)((double)(scheduled + 1) / opt.rate * 1e9);
				if (next < wake)
					wake = next > now ? next : now;
			}
			break;
		case PH_DRAIN:
			if (stats.acks + stats.send_errors >= stats.sent &&
			    stats.recv >= stats.expected)
				return;
			break;
		case PH_CLOSE:
			if (!closing)
				return;
			break;
		case PH_HOLD:
			break;
		}
		timeout = wake > now ? (int)((wake - now + 999999) / 1000000) : 0;
		n = epoll_wait(epfd, evs, (int)(sizeof(evs) / sizeof(evs[0])), timeout);
		if (n < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		for (int i = 0; i < n; i++) {
			struct conn *c = &conns[evs[i].data.u32];
			if (c->st != C_DEAD)
				on_event(c, evs[i].events);
		}
	}
}

/* Sends a close frame on every open connection and waits up to 1 s for the server's. */
static void
close_all(uint64_t run_t0)
{
	for (uint32_t i = 0; i < ntotal; i++) {
		struct conn *c = &conns[i];
		if (c->st == C_READY) {
			static const unsigned char normal[2] = {0x03, 0xe8}; /* 1000 */
			c->st = C_CLOSING;
			closing++;
			if (c->is_pub && opt.pub_url)
				conn_close(c); /* HTTP: nothing to say goodbye with */
			else
				ws_send(c, 0x8, normal, 2);
		} else if (c->st != C_DEAD) {
			conn_fail(c, "not ready at the end");
		}
	}
	run_phase(PH_CLOSE, now_ns(), now_ns() + NS, run_t0);
	for (uint32_t i = 0; i < ntotal; i++)
		conn_close(&conns[i]);
}

/* ---- report ---- */

static void
print_kib(FILE *f, const char *label, long v)
{
	if (v >= 0)
		fprintf(f, "%s %ld KiB", label, v);
	else
		fprintf(f, "%s ?", label);
}

static void
print_num(FILE *f, const char *key, double v, bool known)
{
	if (known && isfinite(v))
		fprintf(f, ",\"%s\":%.3f", key, v);
	else
		fprintf(f, ",\"%s\":null", key);
}

static int
report(struct sample s0, struct sample sr, struct sample se, double own0, double ownr, double owne,
       double wall_msgs)
{
	FILE *f = opt.json ? stderr : stdout;
	uint64_t loss = stats.expected > stats.recv ? stats.expected - stats.recv : 0;
	double span_s = stats.last_recv_ns > stats.first_send_ns
	                        ? (double)(stats.last_recv_ns - stats.first_send_ns) / 1e9
	                        : 0;
	double dps = span_s > 0 ? (double)stats.recv / span_s : 0;
	double cpu_conn = sr.cpu_s - s0.cpu_s, cpu_msgs = se.cpu_s - sr.cpu_s;
	bool have_cpu = s0.cpu_s >= 0 && sr.cpu_s >= 0 && se.cpu_s >= 0;
	long rss_after = opt.idle ? se.rss_kib : sr.rss_kib;
	bool have_rss = s0.rss_kib >= 0 && rss_after >= 0 && stats.ready;
	double per_conn = have_rss ? (double)(rss_after - s0.rss_kib) / (double)stats.ready : 0;
	double cpu_per_m = stats.recv ? cpu_msgs / ((double)stats.recv / 1e6) : 0;
	const double qs[] = {0.5, 0.9, 0.99, 0.999};
	const char *const qn[] = {"p50", "p90", "p99", "p999"};

	fprintf(f,
	        "connections  ready %" PRIu64 "/%" PRIu32 "  failed %" PRIu64
	        "  dropped after ready %" PRIu64 "\n",
	        stats.ready, ntotal, stats.failed, stats.dropped);
	if (!opt.idle) {
		fprintf(f,
		        "messages     sent %" PRIu64 "  acks %" PRIu64 "  send errors %" PRIu64
		        "  pacer skipped %" PRIu64 "  (%.1f/s)\n",
		        stats.sent, stats.acks, stats.send_errors, stats.skipped,
		        send_wall > 0 ? (double)stats.sent / send_wall : 0.0);
		fprintf(f,
		        "deliveries   expected %" PRIu64 "  received %" PRIu64 "  loss %" PRIu64
		        " (%.4f%%)  dups %" PRIu64 "  seq gaps %" PRIu64 "  foreign %" PRIu64 "\n",
		        stats.expected, stats.recv, loss,
		        stats.expected ? 100.0 * (double)loss / (double)stats.expected : 0.0,
		        stats.dups, stats.gaps, stats.foreign);
		fprintf(f, "throughput   %.0f deliveries/s\n", dps);
		if (stats.recv)
			fprintf(f,
			        "wire bytes   %.1f read per delivery by subscribers, for %.1f "
			        "bytes of "
			        "messages%s\n",
			        (double)stats.sub_wire / (double)stats.recv,
			        (double)stats.sub_payload / (double)stats.recv,
			        opt.deflate ? " (inflated)" : "");
		fprintf(f,
		        "latency us   p50 %" PRIu64 "  p90 %" PRIu64 "  p99 %" PRIu64
		        "  p99.9 %" PRIu64 "  max %" PRIu64 "\n",
		        hist_pct(&lat_hist, .5), hist_pct(&lat_hist, .9), hist_pct(&lat_hist, .99),
		        hist_pct(&lat_hist, .999), lat_hist.max);
		fprintf(f, "ack us       p50 %" PRIu64 "  p99 %" PRIu64 "  max %" PRIu64 "\n",
		        hist_pct(&ack_hist, .5), hist_pct(&ack_hist, .99), ack_hist.max);
	}
	if (opt.server_pid) {
		fputs("server RSS  ", f);
		print_kib(f, " start", s0.rss_kib);
		print_kib(f, ", ready", sr.rss_kib);
		print_kib(f, ", end", se.rss_kib);
		if (have_rss)
			fprintf(f, "; %.2f KiB per connection", per_conn);
		fputc('\n', f);
		if (have_cpu)
			fprintf(f, "server CPU   connect %.2f s, %s %.2f s (%.0f%% of a core)",
			        cpu_conn, opt.idle ? "idle" : "messages", cpu_msgs,
			        wall_msgs > 0 ? 100 * cpu_msgs / wall_msgs : 0.0);
		if (have_cpu && stats.recv)
			fprintf(f, ", %.3f s per million deliveries", cpu_per_m);
		if (have_cpu)
			fputc('\n', f);
	}
	fprintf(f, "loadgen CPU  total %.2f s, %s %.2f s (%.0f%% of a core)\n", owne - own0,
	        opt.idle ? "idle" : "messages", owne - ownr,
	        wall_msgs > 0 ? 100 * (owne - ownr) / wall_msgs : 0.0);
	if (!opt.idle && wall_msgs > 0 && (owne - ownr) / wall_msgs > 0.9)
		fputs("warning: the load generator was CPU-bound; results measure it too\n", f);
	if (ntallies) {
		fputs("reasons     ", f);
		for (int i = 0; i < ntallies; i++)
			fprintf(f, " %s: %" PRIu64 ";", tallies[i].key, tallies[i].n);
		fputc('\n', f);
	}
	if (opt.json) {
		printf("{\"mode\":\"%s\",\"proto\":\"%s\",\"conns\":%d,\"pubs\":%d,\"rooms\":"
		       "%" PRIu32 ",\"rate\":%.3f,\"duration\":%.3f,\"size\":%d"
		       ",\"ready\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"dropped\":%" PRIu64
		       ",\"sent\":%" PRIu64 ",\"acks\":%" PRIu64 ",\"send_errors\":%" PRIu64
		       ",\"skipped\":%" PRIu64 ",\"expected\":%" PRIu64 ",\"received\":%" PRIu64
		       ",\"loss\":%" PRIu64 ",\"dups\":%" PRIu64 ",\"gaps\":%" PRIu64
		       ",\"foreign\":%" PRIu64,
		       opt.idle ? "idle" : "load", opt.proto, opt.conns, opt.pubs, nrooms, opt.rate,
		       opt.duration, opt.size, stats.ready, stats.failed, stats.dropped, stats.sent,
		       stats.acks, stats.send_errors, stats.skipped, stats.expected, stats.recv,
		       loss, stats.dups, stats.gaps, stats.foreign);
		print_num(stdout, "deliveries_per_s", dps, true);
		printf(",\"deflate\":%s,\"sub_wire_bytes\":%" PRIu64
		       ",\"sub_payload_bytes\":%" PRIu64,
		       opt.deflate ? "true" : "false", stats.sub_wire, stats.sub_payload);
		print_num(stdout, "wire_bytes_per_delivery",
		          stats.recv ? (double)stats.sub_wire / (double)stats.recv : 0, stats.recv);
		for (int h = 0; h < 2; h++) {
			const struct hist *hh = h ? &ack_hist : &lat_hist;
			printf(",\"%s\":{\"count\":%" PRIu64, h ? "ack_us" : "latency_us",
			       hh->count);
			for (int i = 0; i < 4; i++)
				printf(",\"%s\":%" PRIu64, qn[i], hist_pct(hh, qs[i]));
			printf(",\"max\":%" PRIu64 "}", hh->max);
		}
		print_num(stdout, "server_rss_start_kib", (double)s0.rss_kib, s0.rss_kib >= 0);
		print_num(stdout, "server_rss_ready_kib", (double)sr.rss_kib, sr.rss_kib >= 0);
		print_num(stdout, "server_rss_end_kib", (double)se.rss_kib, se.rss_kib >= 0);
		print_num(stdout, "server_rss_per_conn_kib", per_conn, have_rss);
		print_num(stdout, "server_cpu_connect_s", cpu_conn, have_cpu);
		print_num(stdout, "server_cpu_msgs_s", cpu_msgs, have_cpu);
		print_num(stdout, "server_cpu_s_per_m_deliveries", cpu_per_m,
		          have_cpu && stats.recv);
		print_num(stdout, "loadgen_cpu_s", owne - own0, true);
		print_num(stdout, "loadgen_cpu_msgs_s", owne - ownr, true);
		printf(",\"reasons\":{");
		for (int i = 0; i < ntallies; i++)
			printf("%s\"%s\":%" PRIu64, i ? "," : "", tallies[i].key, tallies[i].n);
		printf("}}\n");
	}
	return stats.ready == ntotal && !stats.dropped && !loss && !stats.dups && !stop_flag ? 0
	                                                                                     : 1;
}

/* ---- self-test: the parser against a scripted server, the histogram ---- */

static void
st_frame(struct buf *b, int first_byte, const char *s, size_t n)
{
	unsigned char h[10];
	size_t hl = 2;

	h[0] = (unsigned char)first_byte;
	if (n < 126) {
		h[1] = (unsigned char)n;
	} else if (n < 65536) {
		h[1] = 126, h[2] = (unsigned char)(n >> 8), h[3] = (unsigned char)n, hl = 4;
	} else {
		h[1] = 127, hl = 10;
		for (int i = 0; i < 8; i++)
			h[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
	}
	buf_append(b, h, hl);
	buf_append(b, s, n);
}

static void
st_msg(struct buf *b, const char *from, uint64_t seq, size_t pad, const char *extra)
{
	static char m[80000], x[70000];
	int n = snprintf(m, sizeof(m),
	                 "{\"ev\":\"msg\",\"room\":\"bench\",\"seq\":%" PRIu64
	                 ",\"from\":{\"id\":\"%s\","
	                 "\"name\":\"x\"},\"text\":\"%" PRIu64 ":%" PRIu64 ":%.*s\"}%s",
	                 seq, from, seq, now_ns() - 1000 * seq, (int)pad,
	                 (const char *)memset(x, 'x', sizeof(x)), extra);
	st_frame(b, 0x81, m, (size_t)n);
}

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "self-test: %s:%d: %s\n", __FILE__, __LINE__, #cond);      \
			return 1;                                                                  \
		}                                                                                  \
	} while (0)

static int
self_test(void)
{
	static const struct {
		unsigned char first; /* FIN + opcode */
		const char *payload;
	} want[] = {{0x81, "{\"op\":\"hello\",\"id\":1,\"name\":\"lg0\"}"},
	            {0x81, "{\"op\":\"join\",\"id\":2,\"room\":\"bench\"}"},
	            {0x8a, "abc"},
	            {0x8a, "mid"},
	            {0x88, "\x03\xe9"}};
	struct buf in = {0};
	unsigned char out[4096];
	struct hist h = {0};
	int sv[2];
	size_t off = 0, step = 1, pos = 0;
	ssize_t got;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
	nsubs = 1, ntotal = 2, nrooms = 1, opt.pubs = 1;
	conns = calloc(2, sizeof(*conns));
	pubs = calloc(1, sizeof(*pubs));
	room_subs = calloc(1, sizeof(*room_subs));
	room_pubs = calloc(1, sizeof(*room_pubs));
	CHECK(conns && pubs && room_subs && room_pubs);
	room_pubs[0] = 1;
	conns[0] = (struct conn){.fd = sv[0], .st = C_UPGRADING};
	pending = 1;

	const char *resp = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	                   "Connection: Upgrade\r\nsec-websocket-accept: " WS_ACCEPT "\r\n"
	                   "Sec-WebSocket-Protocol: confab.v1\r\n\r\n";
	const char *rep =
	        "{\"op\":\"hello\",\"id\":1,\"session\":\"s\"}\n{\"op\":\"join\",\"id\":2,"
	        "\"room\":\"bench\",\"members\":[{\"id\":\"lg0\",\"name\":\"a\\\"}\"}],"
	        "\"history\":[{\"ev\":\"msg\",\"seq\":1,\"from\":{\"id\":\"lg1\"},"
	        "\"text\":\"1:5:x\"}],\"gap\":false}";
	const char *frag1 = "{\"ev\":\"msg\",\"from\":{\"id\":\"lg1\"},",
	           *frag2 = "\"text\":\"5:1:\"}";
	buf_append(&in, resp, strlen(resp));
	st_frame(&in, 0x81, rep, strlen(rep));
	st_frame(&in, 0x89, "abc", 3);
	st_msg(&in, "guest:lg1", 1, 300, ""); /* 16-bit length, a guest's id */
	st_msg(&in, "lg1", 2, 70000, "");     /* 64-bit length */
	st_msg(&in, "lg1", 2, 1, "\n{\"ev\":\"join\",\"room\":\"bench\"}"); /* dup + event */
	st_msg(&in, "alice", 9, 1, "");                                     /* foreign */
	st_frame(&in, 0x01, frag1, strlen(frag1));                          /* fragmented */
	st_frame(&in, 0x89, "mid", 3);
	st_frame(&in, 0x80, frag2, strlen(frag2)); /* seq 5: gap of 2 */
	st_frame(&in, 0x88, "\x03\xe9", 2);
	g_now = now_ns() + 1000000;
	while (off < in.len && conns[0].st != C_DEAD) { /* chunks of 1, 2, 3, ... 1500 bytes */
		size_t n = step < in.len - off ? step : in.len - off;
		conn_input(&conns[0], in.p + off, n);
		off += n;
		step = step * 3 / 2 + 1;
		if (step > 1500)
			step = 1;
	}
	CHECK(stats.ready == 1 && conns[0].st == C_DEAD && off == in.len);
	CHECK(stats.recv == 3 && stats.dups == 1 && stats.gaps == 2 && stats.foreign == 1);
	CHECK(stats.other_events == 1 && stats.unparsed == 0 && lat_hist.count == 3);
	CHECK(lat_hist.max >= 1000 && ntallies == 1 && !strcmp(tallies[0].key, "close 1001"));
	got = recv(sv[1], out, sizeof(out), 0);
	CHECK(got > 0);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) { /* unmask client frames */
		size_t n = strlen(want[i].payload), len;
		CHECK(pos + 6 <= (size_t)got && out[pos] == want[i].first);
		CHECK((out[pos + 1] & 0x80) && (len = out[pos + 1] & 0x7f) == n);
		for (size_t k = 0; k < n; k++)
			CHECK((out[pos + 6 + k] ^ out[pos + 2 + (k & 3)]) ==
			      (unsigned char)want[i].payload[k]);
		pos += 6 + n;
	}
	CHECK(pos == (size_t)got);
	for (uint64_t v = 1; v <= 100000; v++)
		hist_add(&h, v);
	for (uint64_t v = 0; v < 5000000000ull; v = v * 2 + 1)
		CHECK(hist_high(hist_index(v)) >= v && hist_index(v) < H_N &&
		      hist_high(hist_index(v)) <= v + v / 32 + 1);
	CHECK(labs((long)hist_pct(&h, .5) - 50000) < 1600 &&
	      labs((long)hist_pct(&h, .99) - 99000) < 3100);
	CHECK(hist_pct(&h, 1) == 100000);
	{ /* --proto raw: the marker inside an envelope; cut off or malformed ones are not ours */
		static const char *const bad[] = {"0 s7 t12", "0 s7 t12x", "1 s7 t12~", "0 s t1~"};
		const char *env = "{\"data\":{\"text\":\"~lg p0 s7 t123~xx\"}}", *q;
		uint64_t a, b, t;
		q = strstr(env, "~lg p") + 5;
		CHECK(parse_marker(&q, env + strlen(env), &a, &b, &t));
		CHECK(a == 0 && b == 7 && t == 123 && *q == 'x');
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			q = bad[i];
			CHECK(!parse_marker(&q, bad[i] + strlen(bad[i]), &a, &b, &t));
		}
	}
	{ /* --deflate: what pmd_compress() makes pmd_inflate() gives back, message after message */
		static unsigned char z[4096];
		const char *m = "{\"op\":\"send\",\"text\":\"hello hello hello hello hello\"}";
		struct conn zc = {.fd = -1};
		struct buf zb = {0};
		size_t zn = pmd_compress(m, strlen(m), z, sizeof(z));

		CHECK(zn > 0 && zn < strlen(m));
		for (int i = 0; i < 2; i++)
			CHECK(pmd_inflate(&zc, z, zn, &zb) && zb.len == strlen(m) &&
			      !memcmp(zb.p, m, zb.len));
		CHECK(!pmd_inflate(&zc, (const unsigned char *)"\xff\xff\xff", 3, &zb));
		inflateEnd(zc.zin);
		free(zc.zin);
		buf_free(&zb);
	}
	buf_free(&in);
	puts("self-test ok");
	return 0;
}

/* ---- setup ---- */

static void
usage(FILE *f)
{
	fputs("Usage: confab-loadgen [options]\n"
	      "Load generator for confabd's native protocol confab.v1, or (--proto raw) for\n"
	      "any WebSocket broadcast server. Loopback only.\n"
	      "\n"
	      "Target:\n"
	      "  --host ADDR          numeric loopback address or localhost (default 127.0.0.1)\n"
	      "  --port N             TCP port (default 8080)\n"
	      "  --unix PATH          connect to a unix socket listener instead\n"
	      "  --path PATH          WebSocket path (default /v1/ws); {room} and {i} (the\n"
	      "                       connection's index) are replaced\n"
	      "  --proto P            confab.v1 (default) or raw: see below\n"
	      "  --pub-path PATH      raw: publishers' WebSocket path (default --path)\n"
	      "  --pub-url PATH       raw: publishers POST each message to PATH on the same\n"
	      "                       host and port instead (HTTP/1.1 keep-alive, one\n"
	      "                       connection each; a 2xx answer is the ack)\n"
	      "  --pub-wrap TEMPLATE  raw: what a publisher sends, {msg} replaced by the text\n"
	      "                       (default {msg}; confab's seed 000: {\"text\":\"{msg}\"})\n"
	      "  --server-pid PID     sample confabd's VmRSS and utime+stime from /proc/PID\n"
	      "Load:\n"
	      "  --conns N            subscriber connections (default 100)\n"
	      "  --pubs P             publisher connections, extra to --conns (default 1)\n"
	      "  --room NAME          room (default bench); with --rooms K: NAME-0 .. NAME-<K-1>\n"
	      "  --rooms K            spread subscribers and publishers round-robin over K rooms\n"
	      "  --rate R[/s]         messages/s in total across publishers (default 100)\n"
	      "  --size B             message text bytes, at least \"<seq>:<ns>:\" (default 64)\n"
	      "  --duration S         seconds of sending, or of holding with --idle (default 10)\n"
	      "  --drain S            seconds to wait for outstanding deliveries (default 2)\n"
	      "  --ramp R[/s]         connection attempts/s, 0: unlimited (default 2000)\n"
	      "  --connect-timeout S  seconds for every connection to be ready\n"
	      "                       (default 15 + connections/ramp)\n"
	      "  --src-addrs N        bind TCP connections round-robin to 127.0.0.1 .. 127.0.0.N\n"
	      "                       (default: enough for at most 250 connections per address)\n"
	      "  --prefix STR         user names are STR<i> (default lg)\n"
	      "  --text FILE          pad each message's text with the next bytes of FILE (its\n"
	      "                       printable ASCII; default: 'x's, which compress to nothing)\n"
	      "  --deflate            offer permessage-deflate as browsers do (client_max_window_\n"
	      "                       bits) and fail a connection that does not get it; compress\n"
	      "                       every message sent (each on its own), inflate what comes\n"
	      "                       compressed; report the bytes subscribers read per delivery\n"
	      "  --idle               connect and join only, hold for --duration printing the\n"
	      "                       server's RSS every second; reports RSS per connection\n"
	      "Output:\n"
	      "  --json               one JSON result line on stdout (the report goes to stderr)\n"
	      "  -q, --quiet          no progress lines on stderr\n"
	      "  --self-test          test the frame parser and histogram offline, then exit\n"
	      "  -h, --help\n"
	      "\n"
	      "Each connection upgrades with subprotocol confab.v1, sends hello (name\n"
	      "<prefix><i>) and join, and is ready on the join reply. Publishers send\n"
	      "{\"op\":\"send\"} with text \"<seq>:<CLOCK_MONOTONIC ns>:<padding>\"; subscribers\n"
	      "measure latency and detect loss and duplicates per publisher. Sending starts\n"
	      "once every connection is ready or has failed. At most 60000 connections;\n"
	      "RLIMIT_NOFILE is raised to its hard limit.\n"
	      "\n"
	      "With --proto raw a connection is ready once upgraded (the URL names its room;\n"
	      "no subprotocol, no Origin). The text is \"~<prefix> p<pub> s<seq> t<ns>~\"\n"
	      "padded to --size; every such marker found anywhere in a received frame is a\n"
	      "delivery, whatever envelope the server put around it, and frames without one\n"
	      "are counted as other events. Expected deliveries are counted at send time\n"
	      "(subscribers ready in the room); WebSocket publishers get no ack.\n"
	      "  nchan:    --path '/sub/{room}' --pub-url '/pub/{room}'\n"
	      "  confabd seed 000: --path '/ws?room={room}&name=lg{i}' --pub-wrap\n"
	      "            '{\"text\":\"{msg}\"}'   (texts up to 300 bytes there)\n"
	      "\n"
	      "Configure the server for the load (confab.conf or CONFAB_<SECTION>_<KEY>):\n"
	      "  limits.rate, limits.burst   each publisher sends R/P messages/s: set rate above\n"
	      "                              R/P and burst >= rate, or sends fail with\n"
	      "                              rate_limited and the session is closed with 4029\n"
	      "  server.max_connections      >= conns + pubs (else HTTP 503)\n"
	      "  server.max_connections_per_ip\n"
	      "                              >= connections per source address (else HTTP 429)\n"
	      "  session.queue_frames, session.queue_bytes\n"
	      "                              subscribers that fall behind are closed with 4008\n"
	      "A room of N members costs about N*N/2 join events while connecting: use --rooms\n"
	      "for large N.\n"
	      "\n"
	      "Example:\n"
	      "  CONFAB_LIMITS_RATE=100000 CONFAB_LIMITS_BURST=100000 confabd &\n"
	      "  confab-loadgen --conns 5000 --rooms 10 --pubs 10 --rate 2000 --duration 30 \\\n"
	      "          --server-pid $(pidof confabd)\n"
	      "\n"
	      "Exit status: 0 all connections ready, no loss, no duplicates; 1 otherwise;\n"
	      "2 usage error.\n",
	      f);
}

static double
num_arg(const char *name, const char *s, double min, double max)
{
	char *end;
	double v = strtod(s, &end);

	if (end != s && !strcmp(end, "/s"))
		end += 2;
	if (end == s || *end || !(v >= min && v <= max))
		die("--%s: expected a number from %g to %g, got '%s'", name, min, max, s);
	return v;
}

static void
resolve_target(void)
{
	const char *h = strcmp(opt.host, "localhost") ? opt.host : "127.0.0.1";
	struct sockaddr_in *a4 = (struct sockaddr_in *)&dst;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&dst;
	struct sockaddr_un *un = (struct sockaddr_un *)&dst;

	memset(&dst, 0, sizeof(dst));
	if (opt.unix_path) {
		if (strlen(opt.unix_path) >= sizeof(un->sun_path))
			die("--unix: path too long");
		un->sun_family = AF_UNIX;
		strcpy(un->sun_path, opt.unix_path);
		dst_len = sizeof(*un);
		snprintf(host_hdr, sizeof(host_hdr), "localhost");
	} else if (inet_pton(AF_INET, h, &a4->sin_addr) == 1) {
		if (ntohl(a4->sin_addr.s_addr) >> 24 != 127)
			die("refusing %s: only loopback addresses (127.0.0.0/8, ::1) are allowed",
			    h);
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)opt.port);
		dst_len = sizeof(*a4);
		snprintf(host_hdr, sizeof(host_hdr), "%s:%d", h, opt.port);
	} else if (inet_pton(AF_INET6, h, &a6->sin6_addr) == 1) {
		if (!IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr))
			die("refusing %s: only loopback addresses (127.0.0.0/8, ::1) are allowed",
			    h);
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)opt.port);
		dst_len = sizeof(*a6);
		snprintf(host_hdr, sizeof(host_hdr), "[%s]:%d", h, opt.port);
	} else {
		die("--host must be a numeric loopback address or localhost, got '%s'", opt.host);
	}
}

static void
parse_args(int argc, char **argv)
{
	/* kind: s string, i int, d double, f flag; numbers must lie in [min, max] */
	static const struct {
		const char *name;
		char kind;
		void *p;
		double min, max;
	} tab[] = {
	        {"host", 's', &opt.host, 0, 0},
	        {"port", 'i', &opt.port, 1, 65535},
	        {"unix", 's', &opt.unix_path, 0, 0},
	        {"path", 's', &opt.path, 0, 0},
	        {"proto", 's', &opt.proto, 0, 0},
	        {"pub-path", 's', &opt.pub_path, 0, 0},
	        {"pub-url", 's', &opt.pub_url, 0, 0},
	        {"pub-wrap", 's', &opt.pub_wrap, 0, 0},
	        {"server-pid", 'i', &opt.server_pid, 1, 1 << 30},
	        {"conns", 'i', &opt.conns, 0, MAX_CONNS},
	        {"pubs", 'i', &opt.pubs, 0, MAX_CONNS},
	        {"room", 's', &opt.room, 0, 0},
	        {"rooms", 'i', &opt.rooms, 1, MAX_CONNS},
	        {"rate", 'd', &opt.rate, 0.001, 1e7},
	        {"size", 'i', &opt.size, 1, MAX_SIZE},
	        {"duration", 'd', &opt.duration, 0.001, 86400},
	        {"drain", 'd', &opt.drain, 0, 3600},
	        {"ramp", 'd', &opt.ramp, 0, 1e7},
	        {"connect-timeout", 'd', &opt.connect_timeout, 0.1, 86400},
	        {"src-addrs", 'i', &opt.src_addrs, 1, 254},
	        {"prefix", 's', &opt.prefix, 0, 0},
	        {"idle", 'f', &opt.idle, 0, 0},
	        {"json", 'f', &opt.json, 0, 0},
	        {"deflate", 'f', &opt.deflate, 0, 0},
	        {"text", 's', &opt.text_file, 0, 0},
	        {"quiet", 'f', &opt.quiet, 0, 0}, /* the last: -q */
	};
	enum { NTAB = sizeof(tab) / sizeof(tab[0]) };
	struct option lo[NTAB + 3] = {{"self-test", 0, NULL, 1}, {"help", 0, NULL, 'h'}};
	int c;

	for (int i = 0; i < NTAB; i++)
		lo[2 + i] = (struct option){tab[i].name, tab[i].kind != 'f', NULL, 256 + i};
	while ((c = getopt_long(argc, argv, "qh", lo, NULL)) != -1) {
		if (c == 'q')
			c = 256 + NTAB - 1; /* quiet is the last entry */
		if (c == 1)
			exit(self_test());
		if (c == 'h') {
			usage(stdout);
			exit(0);
		}
		if (c < 256 || c >= 256 + NTAB) {
			usage(stderr);
			exit(2);
		}
		c -= 256;
		if (tab[c].kind == 's')
			*(const char **)tab[c].p = optarg;
		else if (tab[c].kind == 'f')
			*(bool *)tab[c].p = true;
		else if (tab[c].kind == 'i')
			*(int *)tab[c].p =
			        (int)num_arg(tab[c].name, optarg, tab[c].min, tab[c].max);
		else
			*(double *)tab[c].p = num_arg(tab[c].name, optarg, tab[c].min, tab[c].max);
	}
	if (optind < argc)
		die("unexpected argument '%s' (see --help)", argv[optind]);
	if (opt.idle)
		opt.pubs = 0;
	if (opt.conns + opt.pubs < 1 || opt.conns + opt.pubs > MAX_CONNS)
		die("--conns + --pubs must be 1 .. %d", MAX_CONNS);
	if (!*opt.room || strlen(opt.room) > 50 ||
	    strspn(opt.room, "abcdefghijklmnopqrstuvwxyz"
	                     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != strlen(opt.room))
		die("--room: 1 to 50 characters of [A-Za-z0-9._-]");
	if (strlen(opt.prefix) > 20 ||
	    strspn(opt.prefix, "abcdefghijklmnopqrstuvwxyz") != strlen(opt.prefix))
		die("--prefix: up to 20 lowercase letters");
	if (!strcmp(opt.proto, "raw"))
		opt.raw = true;
	else if (strcmp(opt.proto, "confab.v1"))
		die("--proto: confab.v1 or raw");
	if (!opt.raw && (opt.pub_path || opt.pub_url || strcmp(opt.pub_wrap, "{msg}")))
		die("--pub-path, --pub-url and --pub-wrap need --proto raw");
	if (opt.pub_path && opt.pub_url)
		die("--pub-path and --pub-url exclude each other");
	const char *paths[] = {opt.path, opt.pub_path, opt.pub_url};
	for (int i = 0; i < 3; i++)
		if (paths[i] &&
		    (strlen(paths[i]) > 200 || paths[i][0] != '/' || strpbrk(paths[i], " \r\n")))
			die("--path, --pub-path, --pub-url: must start with / and hold no spaces");
	if (strlen(opt.pub_wrap) > 200 || !strstr(opt.pub_wrap, "{msg}"))
		die("--pub-wrap: up to 200 bytes holding {msg}");
}

static void
on_signal(int sig)
{
	stop_flag = 1;
}

int
main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESETHAND};
	struct sample s0, sr, se;
	struct rlimit rl;
	uint64_t run_t0, t;
	double own0, ownr, owne, wall_msgs;

	parse_args(argc, argv);
	resolve_target();
	if (opt.text_file)
		load_text(opt.text_file);
	nsubs = (uint32_t)opt.conns;
	ntotal = nsubs + (uint32_t)opt.pubs;
	nrooms = (uint32_t)opt.rooms;
	if (dst.ss_family == AF_INET)
		nsrc = opt.src_addrs ? opt.src_addrs
		                     : (int)((ntotal + PER_SRC_ADDR - 1) / PER_SRC_ADDR);
	if (nsrc > 254)
		nsrc = 254;
	if (opt.connect_timeout < 0)
		opt.connect_timeout = 15 + (double)ntotal / (opt.ramp > 0 ? opt.ramp : 5000);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			getrlimit(RLIMIT_NOFILE,
			          &rl); /* e.g. an infinite hard limit: keep the soft one */
		if (rl.rlim_cur < (rlim_t)ntotal + 32)
			die("%" PRIu32 " connections need more file descriptors than the limit %lu "
			    "(ulimit -Hn)",
			    ntotal, (unsigned long)rl.rlim_cur);
	}
	if (opt.server_pid && server_sample().rss_kib < 0)
		die("--server-pid %d: cannot read /proc/%d/status", opt.server_pid, opt.server_pid);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	conns = calloc(ntotal, sizeof(*conns));
	pubs = calloc(opt.pubs ? (size_t)opt.pubs : 1, sizeof(*pubs));
	room_subs = calloc(nrooms, sizeof(*room_subs));
	room_pubs = calloc(nrooms, sizeof(*room_pubs));
	if (!conns || !pubs || !room_subs || !room_pubs ||
	    (epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
		die("setup: %s", strerror(errno));
	for (uint32_t i = 0; i < ntotal; i++) {
		conns[i] = (struct conn){.fd = -1, .idx = i, .is_pub = i >= nsubs};
		conns[i].room = (i < nsubs ? i : i - nsubs) % nrooms;
		if (conns[i].is_pub)
			room_pubs[conns[i].room]++;
	}
	if (!opt.quiet)
		fprintf(stderr,
		        "confab-loadgen: %s%s%s, %d subscribers + %d publishers in %" PRIu32
		        " room(s), %.0f msg/s, %s%g s, %d source address(es)\n",
		        opt.unix_path ? "unix:" : "ws://", opt.unix_path ? opt.unix_path : host_hdr,
		        opt.path, opt.conns, opt.pubs, nrooms, opt.pubs ? opt.rate : 0,
		        opt.idle ? "idle " : "", opt.duration, nsrc);

	run_t0 = now_ns();
	s0 = server_sample();
	own0 = own_cpu();
	run_phase(PH_CONNECT, run_t0, run_t0 + (uint64_t)(opt.connect_timeout * 1e9), run_t0);
	for (uint32_t i = 0; i < ntotal; i++)
		if (conns[i].st != C_READY && conns[i].st != C_DEAD)
			conn_fail(&conns[i], stop_flag ? "interrupted" : "connect timeout");
	stats.failed += ntotal - next_conn; /* never started (SIGINT) */
	t = now_ns();
	sr = server_sample();
	ownr = own_cpu();
	if (!opt.quiet)
		fprintf(stderr, "ready: %" PRIu64 " of %" PRIu32 " in %.2f s\n", stats.ready,
		        ntotal, (double)(t - run_t0) / 1e9);
	if (opt.idle) {
		run_phase(PH_HOLD, t, t + (uint64_t)(opt.duration * 1e9), run_t0);
	} else if (opt.pubs) {
		counting = true;
		run_phase(PH_SEND, t, t + (uint64_t)(opt.duration * 1e9), run_t0);
		send_wall = (double)(now_ns() - t) / 1e9;
		run_phase(PH_DRAIN, now_ns(), now_ns() + (uint64_t)(opt.drain * 1e9), run_t0);
		counting = false;
	}
	wall_msgs = (double)(now_ns() - t) / 1e9;
	if (stop_flag)
		tally("interrupted");
	se = server_sample();
	owne = own_cpu();
	close_all(run_t0);
	return report(s0, sr, se, own0, ownr, owne, wall_msgs);
}
