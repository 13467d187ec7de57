/* SPDX-License-Identifier: MIT */
/* fuzz.h - what the libFuzzer harnesses share. Each harness feeds one parser of outside bytes
 * (a socket, a header, a file, Redis) with libFuzzer's input, under ASan+UBSan; a crash, a
 * sanitizer report, a leak or a timeout is a finding (tests/fuzz/README.md). */
#pragma once

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The input as a NUL-terminated string (parsers of C strings see no bytes past the NUL, as
 * when the string came from lws, inih or getenv). Never NULL: OOM aborts the run. */
static inline char *
fuzz_str(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* A TCP port on 127.0.0.1 that was free a moment ago, for the harnesses that start a real
 * server (http) or redis-server (redis_reply). */
static inline int
fuzz_free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) < 0)
		abort();
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}
