/*
 * hiccup.h - the machine's own hiccups (jHiccup's idea, for a C harness): a
 * bare paced loop with no IPC, on the placement and at the rate a rate run
 * uses, recording how late each wake-up was. What it shows is the floor of
 * every rate latency on this machine at that moment: timer and scheduler
 * latency, other load, the hypervisor. `ipclab compare` runs it once per
 * comparison of rate runs.
 */
#ifndef IPCLAB_HICCUP_H
#define IPCLAB_HICCUP_H

#include <jansson.h>

#include "engine/config.h"

/*
 * Run the loop in this thread for c->duration_ns at c->rate wake-ups per
 * second (per producer, as a rate run's producer would), pinned as slot 0 of
 * c->placement, pacing as a rate run with c would (sleep or spin), on c's
 * clock. Returns a record with "pattern": "hiccup" (docs/results.md) with the
 * lag histogram as "latency", or NULL with err set (bad configuration).
 */
json_t *ipcl_hiccup(const struct ipcl_runcfg *c, char *err);

#endif
