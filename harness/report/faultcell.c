/*
 * faultcell.c - the text of one failure-matrix cell from a record's "fault"
 * object (docs/results.md). Reads the record only; jansson.
 */
#include <stdio.h>
#include <string.h>

#include "report/faultcell.h"

/* The string at key of o, or "?" when it is missing or not a string (a
 * record from a file may lack anything). */
static const char *fault_str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "?";
}

void ipcl_fault_cell(const json_t *rec, char *cell, size_t n)
{
	const json_t *f = json_object_get(rec, "fault");
	const char *sc = fault_str(f, "scenario");
	const char *out = fault_str(f, "outcome");
	const json_t *ms = NULL;
	char what[IPCL_FAULT_CELL_MAX / 2];

	if (!f) {
		snprintf(cell, n, "error: %.60s", fault_str(rec, "error"));
		return;
	}
	if (json_is_false(json_object_get(f, "fired"))) {
		/* A fault that did not fire: no loss, no guarantee, only why. */
		snprintf(cell, n, "%.*s", (int)(n > 1 ? n - 1 : 0), out ? out : "?");
		return;
	}
	if (!strcmp(sc, "kill-consumer") && !strncmp(out, "restarted", 9))
		ms = json_object_get(f, "recovery_ms");
	else if (!strcmp(sc, "kill-producer"))
		ms = json_object_get(f, "consumer_stop_ms");
	if (json_is_number(ms))
		snprintf(what, sizeof what, "%.60s, %.0f ms", out, json_number_value(ms));
	else
		snprintf(what, sizeof what, "%.70s", out);
	/* Both counts: lost after an acknowledgment, and unacknowledged missing. */
	if (json_object_get(f, "lost_after_ack"))
		snprintf(
		    cell, n, "lost %lld acked + %lld unacked / dup %lld, %s, %s",
		    (long long)json_integer_value(json_object_get(f, "lost_after_ack")),
		    (long long)json_integer_value(json_object_get(f, "unacked_missing")),
		    (long long)json_integer_value(json_object_get(f, "duplicated")), what,
		    fault_str(f, "guarantee"));
	else
		snprintf(cell, n, "lost %lld / dup %lld, %s, %s",
			 (long long)json_integer_value(json_object_get(f, "lost")),
			 (long long)json_integer_value(json_object_get(f, "duplicated")),
			 what, fault_str(f, "guarantee"));
}
