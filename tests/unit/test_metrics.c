/* SPDX-License-Identifier: MIT */
/* test_metrics.c - counters, gauges and histograms in Prometheus text. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/metrics.h"

static char *
render(void)
{
	char *buf = NULL;
	size_t len = 0;

	assert_int_equal(cf_metrics_render(&buf, &len), 0);
	assert_non_null(buf);
	assert_int_equal(strlen(buf), len);
	assert_true(len > 0 && buf[len - 1] == '\n');
	return buf;
}

/* The rendered text holds exactly this line (whole line, once). */
static void
has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	const char *p = text;
	int found = 0;

	while ((p = strstr(p, line))) {
		if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
			found++;
		p += n;
	}
	if (found != 1)
		fail_msg("line '%s' found %d times in:\n%s", line, found, text);
}

static void has_linef(const char *text, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
has_linef(const char *text, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	has_line(text, line);
}

static void
test_init_zero(void **state)
{
	char *t;

	cf_metrics.deliveries_total = 99;
	cf_metrics.queue_depth.count = 5;
	cf_metrics_init();
	assert_int_equal(cf_metrics.deliveries_total, 0);
	assert_int_equal(cf_metrics.queue_depth.count, 0);
	assert_int_equal(cf_metrics.queue_depth.nbounds, 12);
	assert_int_equal(cf_metrics.delivery_latency.nbounds, 12);
	assert_true(cf_metrics.queue_depth.nbounds <= CF_HIST_MAX_BUCKETS);
	t = render();
	has_line(t, "# HELP confab_build_info Build information.");
	has_line(t, "# TYPE confab_build_info gauge");
	has_line(t, "confab_build_info{version=\"" CONFAB_VERSION "\"} 1");
	has_line(t, "confab_connections 0");
	has_line(t, "confab_deliveries_total 0");
	has_line(t, "confab_queue_depth_bucket{le=\"1\"} 0");
	has_line(t, "confab_queue_depth_bucket{le=\"+Inf\"} 0");
	has_line(t, "confab_queue_depth_count 0");
	has_line(t, "confab_queue_depth_sum 0");
	has_line(t, "confab_delivery_latency_seconds_count 0");
	free(t);
}

static void
test_counters(void **state)
{
	char *t;

	cf_metrics_init();
	cf_metrics.connections = 7;
	cf_metrics.rooms = 2;
	cf_metrics.connections_total = 11;
	cf_metrics.http_requests_total = 12;
	cf_metrics.messages_in_total = 13;
	cf_metrics.deliveries_total = 3;
	cf_metrics.bytes_in_total = 14;
	cf_metrics.bytes_out_total = 18446744073709551615ULL;
	cf_metrics.drops_total = 15;
	cf_metrics.slow_consumer_closes_total = 16;
	cf_metrics.rate_limited_total = 17;
	cf_metrics.rate_limit_closes_total = 18;
	cf_metrics.frame_too_big_total = 19;
	cf_metrics.rejected_connections_total = 20;
	t = render();
	has_line(t, "# TYPE confab_connections gauge");
	has_line(t, "confab_connections 7");
	has_line(t, "# TYPE confab_rooms gauge");
	has_line(t, "confab_rooms 2");
	has_line(t, "# TYPE confab_connections_total counter");
	has_line(t, "confab_connections_total 11");
	has_line(t, "confab_http_requests_total 12");
	has_line(t, "confab_messages_in_total 13");
	has_line(t, "# TYPE confab_deliveries_total counter");
	has_line(t, "confab_deliveries_total 3");
	has_line(t, "confab_bytes_in_total 14");
	has_line(t, "confab_bytes_out_total 18446744073709551615");
	has_line(t, "confab_drops_total 15");
	has_line(t, "confab_slow_consumer_closes_total 16");
	has_line(t, "confab_rate_limited_total 17");
	has_line(t, "confab_rate_limit_closes_total 18");
	has_line(t, "confab_frame_too_big_total 19");
	has_line(t, "confab_rejected_connections_total 20");
	/* Every metric has HELP and TYPE right before its first sample. */
	{
		const char *p = strstr(t, "\nconfab_drops_total 15\n");
		assert_non_null(p);
		assert_non_null(strstr(t, "# HELP confab_drops_total "));
		assert_true(
		        strstr(t, "# TYPE confab_drops_total counter\nconfab_drops_total 15\n") !=
		        NULL);
	}
	free(t);
}

static void
test_hist_boundaries(void **state)
{
	struct cf_hist *h;

	cf_metrics_init();
	h = &cf_metrics.queue_depth; /* bounds 1 2 4 8 ... 1024 4096 */
	cf_hist_observe(h, 0);
	assert_int_equal(h->counts[0], 1);
	cf_hist_observe(h, 1); /* equal to the first bound: first bucket */
	assert_int_equal(h->counts[0], 2);
	cf_hist_observe(h, 1.5);
	assert_int_equal(h->counts[1], 1);
	cf_hist_observe(h, 2);
	assert_int_equal(h->counts[1], 2);
	cf_hist_observe(h, 4);
	assert_int_equal(h->counts[2], 1);
	cf_hist_observe(h, 4.0001);
	assert_int_equal(h->counts[3], 1);
	cf_hist_observe(h, 1024);
	assert_int_equal(h->counts[10], 1);
	cf_hist_observe(h, 1025);
	assert_int_equal(h->counts[11], 1);
	cf_hist_observe(h, 4096);
	assert_int_equal(h->counts[11], 2);
	cf_hist_observe(h, 4097); /* past the last bound: +Inf */
	assert_int_equal(h->counts[12], 1);
	assert_int_equal(h->count, 10);
	assert_true(h->sum == 0 + 1 + 1.5 + 2 + 4 + 4.0001 + 1024 + 1025 + 4096 + 4097);
	{
		uint64_t total = 0;
		for (size_t i = 0; i <= h->nbounds; i++)
			total += h->counts[i];
		assert_int_equal(total, 10);
	}

	h = &cf_metrics.delivery_latency;
	cf_hist_observe(h, 0.00005); /* == first bound */
	assert_int_equal(h->counts[0], 1);
	cf_hist_observe(h, 0.001);
	assert_int_equal(h->counts[4], 1);
	cf_hist_observe(h, 0.0011);
	assert_int_equal(h->counts[5], 1);
	cf_hist_observe(h, 1);
	assert_int_equal(h->counts[11], 1);
	cf_hist_observe(h, 2.5);
	assert_int_equal(h->counts[12], 1);
	assert_int_equal(h->count, 5);
}

static void
test_hist_render(void **state)
{
	static const double v[] = {1, 2, 3, 4, 4, 5, 100, 5000};
	char *t;

	cf_metrics_init();
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		cf_hist_observe(&cf_metrics.queue_depth, v[i]);
	cf_hist_observe(&cf_metrics.delivery_latency, 0.0002);
	cf_hist_observe(&cf_metrics.delivery_latency, 0.03);
	t = render();
	has_line(t, "# TYPE confab_queue_depth histogram");
	/* Cumulative buckets. */
	has_line(t, "confab_queue_depth_bucket{le=\"1\"} 1");
	has_line(t, "confab_queue_depth_bucket{le=\"2\"} 2");
	has_line(t, "confab_queue_depth_bucket{le=\"4\"} 5");
	has_line(t, "confab_queue_depth_bucket{le=\"8\"} 6");
	has_line(t, "confab_queue_depth_bucket{le=\"16\"} 6");
	has_line(t, "confab_queue_depth_bucket{le=\"64\"} 6");
	has_line(t, "confab_queue_depth_bucket{le=\"128\"} 7");
	has_line(t, "confab_queue_depth_bucket{le=\"1024\"} 7");
	has_line(t, "confab_queue_depth_bucket{le=\"4096\"} 7");
	has_line(t, "confab_queue_depth_bucket{le=\"+Inf\"} 8");
	has_line(t, "confab_queue_depth_sum 5119");
	has_line(t, "confab_queue_depth_count 8");
	/* Buckets in ascending order, +Inf last, then sum and count. */
	{
		const char *b4 = strstr(t, "confab_queue_depth_bucket{le=\"4\"}");
		const char *b8 = strstr(t, "confab_queue_depth_bucket{le=\"8\"}");
		const char *inf = strstr(t, "confab_queue_depth_bucket{le=\"+Inf\"}");
		const char *sum = strstr(t, "confab_queue_depth_sum");
		const char *cnt = strstr(t, "confab_queue_depth_count");
		assert_true(b4 && b8 && inf && sum && cnt);
		assert_true(b4 < b8 && b8 < inf && inf < sum && sum < cnt);
	}
	has_line(t, "# TYPE confab_delivery_latency_seconds histogram");
	has_line(t, "confab_delivery_latency_seconds_bucket{le=\"0.0001\"} 0");
	has_line(t, "confab_delivery_latency_seconds_bucket{le=\"0.00025\"} 1");
	has_line(t, "confab_delivery_latency_seconds_bucket{le=\"0.025\"} 1");
	has_line(t, "confab_delivery_latency_seconds_bucket{le=\"0.05\"} 2");
	has_line(t, "confab_delivery_latency_seconds_bucket{le=\"1\"} 2");
	has_line(t, "confab_delivery_latency_seconds_bucket{le=\"+Inf\"} 2");
	has_line(t, "confab_delivery_latency_seconds_sum 0.0302");
	has_line(t, "confab_delivery_latency_seconds_count 2");
	/* One bucket line per bound plus +Inf. */
	{
		unsigned n = 0;
		for (const char *p = t; (p = strstr(p, "confab_queue_depth_bucket{")); p++)
			n++;
		assert_int_equal(n, cf_metrics.queue_depth.nbounds + 1);
	}
	has_linef(t, "confab_queue_depth_bucket{le=\"%d\"} %d", 512, 7);
	free(t);
	cf_metrics_init();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_init_zero),
	        cmocka_unit_test(test_counters),
	        cmocka_unit_test(test_hist_boundaries),
	        cmocka_unit_test(test_hist_render),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
