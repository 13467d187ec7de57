/* SPDX-License-Identifier: MIT */
/* floor.c - confab-floor, the floor for a fan-out server's CPU per delivery (issue 14): a sender
 * that does nothing but one send() of --size bytes (a WebSocket text frame, the bytes a server
 * writes per delivery) to each of --conns loopback TCP sockets per message, --rate messages/s
 * for --duration s, while a reader in another process (forked here) accepts the connections and
 * reads everything with epoll. Reports the sender's CPU (getrusage user+sys over the sending
 * only) per send, the sends/s it reached and the reader's CPU. On loopback a send includes the
 * kernel's delivery into the reader's socket, as a server's write does. bench/peers.py runs it
 * next to the servers. One file, libc only; 127.0.0.1 only; every loop bounded in count, and
 * both processes by alarm(). */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
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
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS   18000
#define MAX_SIZE    65535
#define MAX_RATE    100000
#define MAX_SECONDS 600
#define GRACE_S     60 /* connects, drain and teardown, on top of twice --duration */
#define NS          1000000000ll

struct result { /* reader -> sender, over a pipe */
	uint64_t bytes;
	uint64_t eofs;
	uint64_t cpu_us;
};

static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("confab-floor: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * NS + ts.tv_nsec;
}

static uint64_t
cpu_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static int
full_io(int fd, void *p, size_t n, bool wr)
{
	size_t done = 0;

	for (int i = 0; done < n && i < 1000; i++) {
		ssize_t r = wr ? write(fd, (char *)p + done, n - done)
		               : read(fd, (char *)p + done, n - done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		done += (size_t)r;
	}
	return done == n ? 0 : -1;
}

/* The reader: accept n connections, tell the sender, then read until all n are closed. Its CPU
 * counts from the moment all are accepted. */
static void
reader(int lfd, int n, int ready_fd, int result_fd, int64_t deadline)
{
	static char buf[256 * 1024];
	struct epoll_event ev = {.events = EPOLLIN}, evs[256];
	struct result res = {0};
	int ep = epoll_create1(0), accepted = 0;
	uint64_t cpu0 = 0;

	if (ep < 0)
		die("epoll_create1: %s", strerror(errno));
	ev.data.fd = lfd;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
		die("epoll_ctl: %s", strerror(errno));
	while ((uint64_t)res.eofs < (uint64_t)n && now_ns() < deadline) {
		int k = epoll_wait(ep, evs, 256, 1000);
		if (k < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		for (int i = 0; i < k; i++) {
			int fd = evs[i].data.fd;
			if (fd == lfd) {
				for (int a = 0; a < 1024 && accepted < n; a++) {
					int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
					if (c < 0)
						break;
					ev.data.fd = c;
					if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev) < 0)
						die("epoll_ctl: %s", strerror(errno));
					if (++accepted == n) {
						cpu0 = cpu_us();
						if (full_io(ready_fd, &(char){'r'}, 1, true) < 0)
							die("cannot tell the sender");
					}
				}
				continue;
			}
			/* bounded: 64 reads of 256 KiB per event, the rest on the next turn */
			for (int r = 0; r < 64; r++) {
				ssize_t got = read(fd, buf, sizeof(buf));
				if (got > 0) {
					res.bytes += (uint64_t)got;
					continue;
				}
				if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
					res.eofs++;
					close(fd); /* also leaves the epoll set */
				}
				break;
			}
		}
	}
	res.cpu_us = cpu_us() - cpu0;
	if (full_io(result_fd, &res, sizeof(res), true) < 0)
		die("cannot report to the sender");
	_exit(0);
}

static long
num(const char *s, const char *name, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < lo || v > hi)
		die("--%s: a number from %ld to %ld", name, lo, hi);
	return v;
}

static void
usage(void)
{
	puts("usage: confab-floor [--conns N] [--rate R] [--size S] [--duration D] [--json]\n"
	     "  --conns N     loopback TCP connections (default 1000, at most 18000)\n"
	     "  --rate R      messages/s; each is one send() per connection (default 100)\n"
	     "  --size S      bytes per send(): a WebSocket text frame, header included "
	     "(default 60)\n"
	     "  --duration D  seconds of sending (default 10, at most 600)\n"
	     "  --json        one JSON result line instead of the text report\n"
	     "Reports the sender's CPU (user+sys) per send, the sends/s it reached and the\n"
	     "reader's CPU. RLIMIT_NOFILE is raised to its hard limit.");
}

int
main(int argc, char **argv)
{
	static const struct option lopt[] = {{"conns", required_argument, NULL, 'c'},
	                                     {"rate", required_argument, NULL, 'r'},
	                                     {"size", required_argument, NULL, 's'},
	                                     {"duration", required_argument, NULL, 'd'},
	                                     {"json", no_argument, NULL, 'j'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	int n = 1000, rate = 100, size = 60, o;
	double secs = 10;
	bool json = false;
	static unsigned char frame[MAX_SIZE];
	int *fds;
	int ready[2], result[2];
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t salen = sizeof(sa);
	struct rlimit rl;
	struct result res;
	char c, *end;

	while ((o = getopt_long(argc, argv, "", lopt, NULL)) != -1) {
		switch (o) {
		case 'c':
			n = (int)num(optarg, "conns", 1, MAX_CONNS);
			break;
		case 'r':
			rate = (int)num(optarg, "rate", 1, MAX_RATE);
			break;
		case 's':
			size = (int)num(optarg, "size", 2, MAX_SIZE);
			break;
		case 'd':
			secs = strtod(optarg, &end);
			if (*end || end == optarg || !(secs >= 0.1 && secs <= MAX_SECONDS))
				die("--duration: seconds from 0.1 to %d", MAX_SECONDS);
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage();
			return 0;
		default:
			usage();
			return 2;
		}
	}
	if (optind != argc)
		die("unexpected argument %s", argv[optind]);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)n + 16)
		die("--conns %d needs %d descriptors, the limit is %llu", n, n + 16,
		    (unsigned long long)rl.rlim_cur);

	/* A server's frame for one text message: FIN + text opcode, the length, the text. */
	frame[0] = 0x81;
	if (size - 2 < 126) {
		frame[1] = (unsigned char)(size - 2);
		memset(frame + 2, 'x', (size_t)size - 2);
	} else if (size < 4 + 126) {
		die("--size %d: a frame of 128-129 bytes cannot be built; take 127 or 130", size);
	} else {
		frame[1] = 126;
		frame[2] = (unsigned char)((size - 4) >> 8);
		frame[3] = (unsigned char)(size - 4);
		memset(frame + 4, 'x', (size_t)size - 4);
	}

	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK,
	                 0); /* the reader accepts until EAGAIN */
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, n < 4096 ? n : 4096) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &salen))
		die("listen on 127.0.0.1: %s", strerror(errno));
	if (pipe(ready) < 0 || pipe(result) < 0)
		die("pipe: %s", strerror(errno));
	int64_t deadline = now_ns() + (int64_t)((2 * secs + GRACE_S) * NS);
	fflush(NULL);
	pid_t sender = getpid(), pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* a sender that died leaves no reader */
		if (getppid() != sender)
			_exit(1);
		alarm((unsigned)(2 * secs + GRACE_S + 10));
		close(ready[0]);
		close(result[0]);
		reader(lfd, n, ready[1], result[1], deadline);
	}
	alarm((unsigned)(2 * secs + GRACE_S + 20));
	close(lfd);
	close(ready[1]);
	close(result[1]);

	if (!(fds = calloc((size_t)n, sizeof(*fds))))
		die("out of memory");
	for (int i = 0; i < n; i++) {
		int one = 1;
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)) < 0)
			die("connect %d of %d: %s", i + 1, n, strerror(errno));
		/* as the servers do: each frame leaves at once */
		setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	if (full_io(ready[0], &c, 1, false) < 0)
		die("the reader did not accept %d connections", n);

	uint64_t msgs = (uint64_t)(rate * secs + 0.5), sent = 0, sends = 0, short_sends = 0;
	int64_t t0 = now_ns(), stop = t0 + (int64_t)((2 * secs + 5) * NS), t1;
	uint64_t cpu0 = cpu_us();
	for (; sent < msgs; sent++) {
		int64_t due = t0 + (int64_t)(sent * (uint64_t)NS / (uint64_t)rate);
		int64_t now = now_ns();
		if (now > stop)
			break; /* far behind: report what was sent */
		if (due > now) {
			struct timespec ts = {.tv_sec = due / NS, .tv_nsec = due % NS};
			while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
				;
		}
		for (int i = 0; i < n; i++) {
			/* never blocks: a full socket is counted, as a server would queue it */
			ssize_t w = send(fds[i], frame, (size_t)size, MSG_DONTWAIT | MSG_NOSIGNAL);
			sends++;
			if (w != size)
				short_sends++;
		}
	}
	t1 = now_ns();
	uint64_t cpu = cpu_us() - cpu0;
	for (int i = 0; i < n; i++)
		close(fds[i]);
	free(fds);
	if (full_io(result[0], &res, sizeof(res), false) < 0)
		die("the reader gave no result");
	waitpid(pid, NULL, 0);

	/* the last message's interval counts: a sender that keeps up reaches conns x rate */
	double el = (double)(t1 - t0) / NS, paced = (double)sent / rate;
	double sps = sends / (el > paced ? el : paced);
	double per = sends ? (double)cpu / (double)sends : 0;
	double rper = sends ? (double)res.cpu_us / (double)sends : 0;
	uint64_t expect = (sends - short_sends) * (uint64_t)size;
	if (json) {
		printf("{\"conns\":%d,\"rate\":%d,\"size\":%d,\"duration\":%g,", n, rate, size,
		       secs);
		printf("\"messages\":%llu,\"sends\":%llu,\"short_sends\":%llu,",
		       (unsigned long long)sent, (unsigned long long)sends,
		       (unsigned long long)short_sends);
		printf("\"elapsed_s\":%.3f,\"sends_per_s\":%.0f,\"sender_cpu_s\":%.3f,", el, sps,
		       cpu / 1e6);
		printf("\"sender_us_per_send\":%.3f,\"reader_cpu_s\":%.3f,", per, res.cpu_us / 1e6);
		printf("\"reader_us_per_send\":%.3f,\"reader_bytes\":%llu,", rper,
		       (unsigned long long)res.bytes);
		printf("\"full_sends_bytes\":%llu,\"reader_eofs\":%llu}\n",
		       (unsigned long long)expect, (unsigned long long)res.eofs);
	} else {
		printf("%d connections, %d msg/s, %d bytes per send, %g s: %llu messages, %llu "
		       "sends in %.2f s (%.0f sends/s), %llu short\n"
		       "sender CPU %.3f s: %.2f us per send\n"
		       "reader CPU %.3f s: %.2f us per send; read %llu of %llu bytes, %llu of %d "
		       "closed\n",
		       n, rate, size, secs, (unsigned long long)sent, (unsigned long long)sends, el,
		       sps, (unsigned long long)short_sends, cpu / 1e6, per, res.cpu_us / 1e6, rper,
		       (unsigned long long)res.bytes, (unsigned long long)expect,
		       (unsigned long long)res.eofs, n);
	}
	return res.bytes < expect ? 1 : 0;
}
