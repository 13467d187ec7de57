/* SPDX-License-Identifier: MIT */
/* fuzz.h - what the libFuzzer harnesses share. Each harness feeds one parser of outside bytes
 * (a socket, a header, a file, Redis) with libFuzzer's input, under ASan+UBSan; a crash, a
 * sanitizer report, a leak or a timeout is a finding (tests/fuzz/README.md). */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
