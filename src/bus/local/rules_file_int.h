/* SPDX-License-Identifier: MIT */
/* rules_file_int.h - where a standalone node keeps its rooms' rules (core/rules.h): in memory and
 * in state.dir/rooms.json (when the state directory is open), bounded by rooms.max_ruled rooms,
 * rooms.max_created_per_user per creator and rooms.max_rule_users per room. The local bus's;
 * the cluster bus keeps them in Redis. */
#ifndef CONFAB_RULES_FILE_INT_H
#define CONFAB_RULES_FILE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "core/rules.h"

struct cf_config;
struct cf_rules_file;

/* Loads rooms.json if the state directory is open. NULL with err naming the file. */
struct cf_rules_file *cf_rules_file_open(const struct cf_config *cfg, char *err, size_t errlen);
void cf_rules_file_free(struct cf_rules_file *f);
/* The room's rules, borrowed until the next change; NULL: none. */
const struct cf_rules *cf_rules_file_get(const struct cf_rules_file *f, const char *room);
/* Checks c (cf_rules_check(), and for a create the bounds: -ENOSPC, -EDQUOT), applies it and
 * writes the file before keeping the result (-EIO: not written, nothing changed). A kick
 * changes nothing and is only checked; a close removes the room's rules. */
int cf_rules_file_change(struct cf_rules_file *f, const char *room, const struct cf_rules_change *c,
                         int64_t now);

/* The directory's page (bus.h directory): rooms with rules of kind open or announce, with
 * prefix, after `after`, in byte order; at most limit into out (borrowed until the next change),
 * *more set when others follow. The count returned; -ENOMEM. */
int cf_rules_file_list(const struct cf_rules_file *f, const char *prefix, const char *after,
                       uint32_t limit, const char **names, const struct cf_rules **rules,
                       int *more);

#endif
