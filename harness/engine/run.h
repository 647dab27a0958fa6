/*
 * run.h - one measured run: check the configuration, set up the channel(s),
 * start the roles as processes (fork+exec; fork only for related-only
 * transports) or threads, wait for them under a watchdog, and return the result
 * record as JSON. The configuration itself is config.h; the roles are roles.h.
 */
#ifndef IPCLAB_RUN_H
#define IPCLAB_RUN_H

#include <jansson.h>

#include "engine/config.h"

/*
 * Check cfg against the transport (capabilities, limits from probe()). Returns
 * 0, or IPCL_EINVAL/IPCL_ETOOBIG with a one-line reason in err (usage error,
 * exit status 2), or another error (the transport cannot work here).
 */
int ipcl_run_check(const struct ipcl_runcfg *cfg, char *err);

/*
 * Run once. Returns the result record (always, also for a failed run: then
 * "status" is "error" and "error" says why); *failed is set when the run failed
 * or lost data it was not told to expect. Returns NULL only for a usage error,
 * with err set.
 */
json_t *ipcl_run(const struct ipcl_runcfg *cfg, int *failed, char *err);

#endif
