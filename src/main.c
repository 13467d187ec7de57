/* SPDX-License-Identifier: MIT */
/* main.c - confabd: command line, configuration, startup order, signals, the loop and the
 * shutdown order. */
#include "auth/jwt.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/state.h"
#include "bus/bus.h"
#include "config/config.h"
#include "net/mount.h"
#include "net/sd.h"
#include "net/server.h"
#include "net/tls.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

static volatile sig_atomic_t got_term, got_hup, got_stall;
static struct lws_context *volatile signal_ctx;

static void
on_signal(int sig)
{
	if (sig == SIGHUP)
		got_hup = 1;
	else if (sig == SIGUSR2)
		got_stall = 1;
	else
		got_term = 1;
	/* Async-signal-safe: a write to lws's wake pipe. */
	if (signal_ctx)
		lws_cancel_service(signal_ctx);
}

static void
usage(FILE *f)
{
	fprintf(f, "Usage: confabd [OPTIONS]\n"
	           "A WebSocket chat daemon.\n\n"
	           "  -c, --config PATH   configuration file (default " CONFAB_CONF_PATH ";\n"
	           "                      if the default is missing, built-in defaults are used)\n"
	           "  -l, --listen ADDR   listen on ADDR (host:port, [v6]:port, unix:/path or\n"
	           "                      systemd:NAME, a socket passed by systemd);\n"
	           "                      repeatable; replaces server.listen\n"
	           "  -r, --redis URL     cluster mode through Redis at URL (replaces redis.url)\n"
	           "      --check-config  validate the configuration, print it and exit (0 valid, "
	           "1 not)\n"
	           "      --print-config=man\n"
	           "                      print every key in roff for confab.conf(5) and exit\n"
	           "  -V, --version       print the version and exit\n"
	           "  -h, --help          this help\n\n"
	           "Every key can be overridden with CONFAB_<SECTION>_<KEY> in the environment.\n"
	           "The seeds' variables (SERVER_PORT, PORT, SERVER_ADDRESS, DEBUG, LOG_DEBUG,\n"
	           "REDIS_URL, ...) set the keys the file does not set.\n"
	           "Signals: SIGTERM/SIGINT drain and exit, SIGHUP reloads the configuration.\n");
}

struct opts {
	const char *config;
	int config_explicit;
	char **listen;
	size_t nlisten;
	const char *redis;
	int check;
};

/* What the seeds' environment aliases did, kept until the log is set up. */
struct notes {
	struct {
		int level;
		char text[256];
	} v[8];
	size_t n;
};

static void
keep_note(void *ud, int level, const char *text)
{
	struct notes *ns = ud;

	if (!ns || ns->n == sizeof(ns->v) / sizeof(ns->v[0]))
		return;
	ns->v[ns->n].level = level;
	snprintf(ns->v[ns->n++].text, sizeof(ns->v[0].text), "%s", text);
}

/* Loads file (if any), environment and command line into c, in this order of precedence
 * (lowest first): defaults, the seeds' variables (PORT, REDIS_URL, ...) for keys the file
 * does not set, the file, CONFAB_* variables, the command line. */
static int
load_config(struct cf_config *c, const struct opts *o, struct notes *notes, char *err,
            size_t errlen)
{
	int r = cf_config_init(c);

	if (r < 0) {
		snprintf(err, errlen, "out of memory");
		return r;
	}
	if (o->config_explicit || access(o->config, F_OK) == 0) {
		r = cf_config_load(c, o->config, err, errlen);
		if (r < 0)
			return r;
	}
	/* After the file, but only for the keys it does not set: the file wins. */
	if (o->nlisten)
		cf_config_mark_cli(c, "server", "listen");
	if (o->redis)
		cf_config_mark_cli(c, "redis", "url");
	r = cf_config_apply_aliases(c, keep_note, notes, err, errlen);
	if (r < 0)
		return r;
	r = cf_config_apply_env(c, err, errlen);
	if (r < 0)
		return r;
	if (o->redis) {
		r = cf_config_set(c, "redis", "url", o->redis, 1, err, errlen);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < o->nlisten; i++) {
		r = cf_config_set(c, "server", "listen", o->listen[i], i == 0, err, errlen);
		if (r < 0)
			return r;
	}
	r = cf_config_apply_credentials(c, err, errlen);
	if (r < 0)
		return r;
	r = cf_config_validate(c, err, errlen);
	if (r == 0)
		r = cf_mount_validate(c, err, errlen);
	if (r == 0) {
		/* The application's key is read and checked here too, so --check-config and a
		 * reload catch a wrong one. */
		int off;
		struct cf_jwt *j = cf_jwt_new(c, &off, err, errlen);

		if (!j && !off)
			r = -EINVAL;
		cf_jwt_free(j);
	}
	if (r < 0 || !c->tls_cert[0])
		return r;
	return cf_tls_check(c->tls_cert, c->tls_key, c->tls_client_ca, err, errlen);
}

static void
reload(struct cf_server *srv, const struct opts *o)
{
	struct cf_config next;
	char err[512];

	cf_sd_reloading();
	if (load_config(&next, o, NULL, err, sizeof(err)) < 0) {
		log_error("reload failed, keeping the running configuration: %s", err);
		cf_sd_reloaded(err);
	} else {
		cf_server_reload(srv, &next);
		cf_sd_reloaded(NULL);
	}
	cf_config_fini(&next);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	        {"config", required_argument, NULL, 'c'},
	        {"listen", required_argument, NULL, 'l'},
	        {"redis", required_argument, NULL, 'r'},
	        {"check-config", no_argument, NULL, 'C'},
	        {"print-config", required_argument, NULL, 'P'},
	        {"version", no_argument, NULL, 'V'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	struct opts o = {.config = CONFAB_CONF_PATH};
	struct notes notes = {.n = 0};
	struct cf_config cfg;
	struct cf_server srv;
	struct sigaction sa;
	char err[512];
	int c, r;

	o.listen = calloc((size_t)argc, sizeof(char *));
	if (!o.listen)
		return 1;
	while ((c = getopt_long(argc, argv, "c:l:r:Vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o.config = optarg;
			o.config_explicit = 1;
			break;
		case 'l':
			o.listen[o.nlisten++] = optarg;
			break;
		case 'r':
			o.redis = optarg;
			break;
		case 'C':
			o.check = 1;
			break;
		case 'P':
			/* The key reference of confab.conf(5), generated at build time. */
			if (strcmp(optarg, "man")) {
				fprintf(stderr, "confabd: --print-config: unknown format '%s'\n",
				        optarg);
				free(o.listen);
				return 2;
			}
			cf_config_man(stdout);
			free(o.listen);
			return 0;
		case 'V':
			printf("confabd %s\n", CONFAB_VERSION);
			free(o.listen);
			return 0;
		case 'h':
			usage(stdout);
			free(o.listen);
			return 0;
		default:
			usage(stderr);
			free(o.listen);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "confabd: unexpected argument '%s'\n", argv[optind]);
		free(o.listen);
		return 2;
	}

	r = load_config(&cfg, &o, &notes, err, sizeof(err));
	if (o.check) {
		/* On stderr: stdout stays a configuration file. */
		for (size_t i = 0; i < notes.n; i++)
			fprintf(stderr, "confabd: %s%s\n",
			        notes.v[i].level <= CF_LOG_WARNING ? "warning: " : "",
			        notes.v[i].text);
		if (r < 0)
			fprintf(stderr, "confabd: invalid configuration: %s\n", err);
		else
			cf_config_dump(&cfg, stdout);
		cf_config_fini(&cfg);
		free(o.listen);
		return r < 0 ? 1 : 0;
	}
	if (r < 0) {
		log_error("invalid configuration: %s", err);
		cf_config_fini(&cfg);
		free(o.listen);
		return 1;
	}
	cf_log_init();
	cf_log_set_level(cfg.log_level);
	cf_log_route_lws();
	for (size_t i = 0; i < notes.n; i++)
		cf_log(notes.v[i].level, "%s", notes.v[i].text);
	cf_metrics_init();

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* Standalone state is opened before any listener, so a server that cannot keep accounts
	 * and inboxes never accepts a client who would lose them. */
	r = cfg.redis_url[0] ? 0 : cf_state_open(cfg.state_dir, err, sizeof(err));
	if (r < 0) {
		log_error("%s", err);
		cf_sd_failed(r);
		cf_config_fini(&cfg);
		free(o.listen);
		return 1;
	}

	memset(&srv, 0, sizeof(srv));
	r = cf_server_start(&srv, &cfg);
	if (r < 0) {
		cf_sd_failed(r);
		cf_server_stop(&srv);
		cf_state_close();
		cf_config_fini(&cfg);
		free(o.listen);
		return 1;
	}
	signal_ctx = srv.ctx;
	/* Cluster mode: ready once the first attempt to reach Redis has ended, either way, so
	 * that a unit that starts after us sees a node that knows where it stands. */
	{
		uint64_t until = cf_now_us() + (uint64_t)cfg.redis_connect_timeout * 1000 + 1000000;

		while (!srv.stop && !got_term && !cf_bus_settled(srv.env.bus) &&
		       cf_now_us() < until)
			cf_server_service(&srv);
	}
	log_info("confabd %s ready (node %s, %s)", CONFAB_VERSION, srv.env.node_id,
	         cfg.redis_url[0] ? "cluster mode" : "standalone");
	cf_sd_ready();

	while (!srv.stop) {
		cf_server_service(&srv);
		if (got_hup) {
			got_hup = 0;
			reload(&srv, &o);
		}
		if (got_term && !srv.draining) {
			cf_sd_stopping();
			cf_server_drain(&srv);
		}
		if (got_stall) {
			/* [debug] stall_on_sigusr2: a stuck loop, for the watchdog test. */
			got_stall = 0;
			if (cfg.debug_stall) {
				log_warn("SIGUSR2: blocking the event loop for %d s "
				         "(debug.stall_on_sigusr2)",
				         cfg.debug_stall);
				sleep((unsigned)cfg.debug_stall);
			}
		}
		if (srv.draining && !srv.sessions.count)
			break;
	}
	signal_ctx = NULL;
	log_info("shutting down");
	cf_server_stop(&srv);
	cf_state_close();
	cf_config_fini(&cfg);
	free(o.listen);
	return 0;
}
