/*
 * inject.c - fault injection and its record (inject.h). The kills use
 * kill(SIGKILL) on the victim's own pid; the oversize message is a real send()
 * through the transport; the record is built with jansson from the board and
 * the record's own "verify" counts. Nothing here spawns or restarts a role.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/frame.h"
#include "engine/inject.h"

/* The sequence number of the oversize message: never a data message's. */
#define OVERSIZE_SEQ (UINT64_MAX - 1)

int64_t ipcl_fault_fire(struct ipcl_board *b)
{
	b->t_fault = ipcl_now_ns();
	atomic_store(&b->fault_fired, 1);
	return b->t_fault;
}

_Noreturn void ipcl_fault_die(struct ipcl_board *b, int slot)
{
	b->victim = slot;
	ipcl_fault_fire(b);
	kill(getpid(), SIGKILL);
	for (;;)
		pause();
}

/*
 * The oversize message is a full frame numbered OVERSIZE_SEQ (a mini-frame
 * transport gets a pattern), so that a consumer can tell it from the data and
 * check whether it arrived whole.
 */
void ipcl_fault_oversize_send(struct ipcl_board *b, const struct ipcl_transport *t,
			      struct ipcl_ep *out)
{
	size_t len = b->oversize_len;
	unsigned char *big = malloc(len);

	b->t_fault = ipcl_now_ns();
	if (!big) {
		b->oversize_rc = -ENOMEM;
		return;
	}
	if (b->mini || len < IPCL_FRAME_HDR)
		memset(big, 0xa5, len);
	else
		ipcl_frame_stamp(big, len, 0, 0, OVERSIZE_SEQ, b->t_fault,
				 ipcl_frame_fill(big, len));
	b->oversize_rc = t->send(out, big, len, ipcl_now_ns() + 4 * b->cfg.idle_ns);
	atomic_store(&b->fault_fired, 1);
	free(big);
}

void ipcl_fault_oversize_recv(struct ipcl_board *b, const void *rx, size_t len)
{
	struct ipcl_frame_hdr h;
	int whole = len == b->oversize_len;

	if (whole && !b->mini && len >= IPCL_FRAME_HDR)
		whole = ipcl_frame_check(rx, len, &h) == 0 && h.seq == OVERSIZE_SEQ;
	atomic_fetch_add(whole ? &b->oversize_intact : &b->oversize_bad, 1);
}

/* ---- the fault object of the record --------------------------------------- */

/* The delivery guarantee the counts show (docs/faults.md). */
static const char *fault_guarantee(json_int_t lost, json_int_t dup)
{
	if (!lost)
		return dup ? "at-least-once" : "effectively-once";
	return dup ? "none" : "at-most-once";
}

static json_t *fault_ms(int64_t ns)
{
	return json_real((double)ns / 1e6);
}

static const char *fault_stop_name(int stop)
{
	static const char *const n[] = {"did not stop", "eof",   "end marker",
					"idle",         "error", "aborted"};

	return (unsigned)stop < 6 ? n[stop] : "?";
}

/* Why the event never happened, for a fault that did not fire. */
static void fault_not_fired(const struct ipcl_board *b, const char *perr, char *outcome,
			    size_t cap)
{
	const struct ipcl_runcfg *c = &b->cfg;
	uint64_t sent = b->slot[0].msgs;

	if (perr[0])
		snprintf(outcome, cap, "not fired: the producer failed first (%.*s)",
			 (int)strcspn(perr, ":"), perr);
	else if (sent < c->fault_at)
		snprintf(outcome, cap,
			 "not fired: the producer sent %llu, the fault was at %llu",
			 (unsigned long long)sent, (unsigned long long)c->fault_at);
	else if (c->fault == IPCL_FAULT_KILL_CONSUMER || c->fault == IPCL_FAULT_STALL)
		snprintf(outcome, cap,
			 "not fired: the consumer received no message after the "
			 "producer's %llu-th",
			 (unsigned long long)c->fault_at);
	else
		snprintf(outcome, cap, "not fired: the run ended first");
}

/* "EPIPE: text" of the first producer that failed into out; 0 if none did. */
static int fault_producer_error(const struct ipcl_board *b, char *out, size_t cap)
{
	for (int i = 0; i < b->cfg.producers; i++)
		if (b->slot[i].rc) {
			snprintf(out, cap, "%s: %s", ipcl_errname(b->slot[i].rc),
				 b->slot[i].err);
			return b->slot[i].rc;
		}
	return 0;
}

static void fault_kill_consumer(const struct ipcl_board *b, json_t *f, const char *perr,
				char *outcome, size_t cap)
{
	int r = b->replacement;
	int64_t rec = atomic_load(&b->t_recover);

	json_object_set_new(f, "restarted", json_boolean(r >= 0));
	if (b->restart_err[0])
		json_object_set_new(f, "restart_error", json_string(b->restart_err));
	if (b->victim >= 0) {
		json_object_set_new(f, "victim_msgs",
				    json_integer((json_int_t)b->slot[b->victim].msgs));
		json_object_set_new(f, "producer_at_kill",
				    json_integer((json_int_t)b->producer_at_kill));
	}
	if (b->cfg.pattern != IPCL_PINGPONG && (b->slot[0].resent || b->slot[0].stuck)) {
		json_object_set_new(f, "resent",
				    json_integer((json_int_t)b->slot[0].resent));
		json_object_set_new(f, "stuck", json_boolean(b->slot[0].stuck));
	}
	if (r >= 0)
		json_object_set_new(f, "replacement_msgs",
				    json_integer((json_int_t)b->slot[r].msgs));
	json_object_set_new(f, "recovery_ms",
			    r >= 0 && rec ? fault_ms(rec - b->t_fault) : json_null());
	if (b->slot[0].stuck)
		snprintf(outcome, cap, "stuck: the reply to a request never came");
	else if (perr[0] && (r < 0 || !rec))
		snprintf(outcome, cap, "producer failed: %.*s", (int)strcspn(perr, ":"),
			 perr);
	else if (r < 0)
		snprintf(outcome, cap, "not restarted: %s", b->restart_err);
	else if (!rec)
		snprintf(outcome, cap, "restarted, the new consumer received nothing%s",
			 b->slot[r].rc ? " (it failed)" : "");
	else if (b->slot[0].resent)
		snprintf(outcome, cap, "restarted, %llu request(s) resent",
			 (unsigned long long)b->slot[0].resent);
	else
		snprintf(outcome, cap, "restarted");
}

static void fault_kill_producer(const struct ipcl_board *b, json_t *f, char *outcome,
				size_t cap)
{
	const struct ipcl_runcfg *c = &b->cfg;
	const struct ipcl_slot *s = &b->slot[c->producers]; /* the first consumer */

	json_object_set_new(f, "producer_sent",
			    json_integer((json_int_t)b->slot[0].msgs));
	json_object_set_new(f, "consumer_stop", json_string(fault_stop_name(s->stop)));
	if (s->stop == IPCL_STOP_ERROR)
		json_object_set_new(f, "consumer_error", json_string(s->err));
	/*
	 * An idle stop is the harness's own timeout, not something the mechanism
	 * told the consumer: its time goes to harness_idle_stop_ms, never to
	 * consumer_stop_ms (which a cell shows as the time to notice the death).
	 */
	json_object_set_new(
	    f, s->stop == IPCL_STOP_IDLE ? "harness_idle_stop_ms" : "consumer_stop_ms",
	    s->stop && s->t_stop >= b->t_fault ? fault_ms(s->t_stop - b->t_fault)
					       : json_null());
	if (s->stop == IPCL_STOP_ERROR)
		snprintf(outcome, cap, "consumer error: %s", ipcl_errname(s->rc));
	else if (s->stop == IPCL_STOP_IDLE)
		snprintf(outcome, cap,
			 "no EOF: death undetectable; harness idle timeout %.0f ms",
			 (double)c->idle_ns / 1e6);
	else
		snprintf(outcome, cap, "consumer saw %s", fault_stop_name(s->stop));
}

static void fault_stall(const struct ipcl_board *b, json_t *f, const char *perr,
			json_int_t lost, char *outcome, size_t cap)
{
	const struct ipcl_slot *p = &b->slot[0];
	const char *producer = perr[0]                                 ? "failed"
			       : lost                                  ? "dropped"
			       : p->send_max_ns >= b->cfg.stall_ns / 2 ? "blocked"
								       : "buffered";

	json_object_set_new(f, "stall_ms", fault_ms(b->cfg.stall_ns));
	json_object_set_new(f, "producer", json_string(producer));
	json_object_set_new(f, "send_max_ms", fault_ms(p->send_max_ns));
	json_object_set_new(f, "send_blocked_ms", fault_ms(p->send_slow_ns));
	if (!strcmp(producer, "blocked"))
		snprintf(outcome, cap, "producer blocked %.0f ms",
			 (double)p->send_max_ns / 1e6);
	else
		snprintf(outcome, cap, "producer %s", producer);
}

static void fault_oversize(const struct ipcl_board *b, json_t *f, json_int_t corrupt,
			   char *outcome, size_t cap)
{
	int rc = b->oversize_rc;
	uint64_t whole = atomic_load(&b->oversize_intact),
		 bad = atomic_load(&b->oversize_bad);
	/* The mechanism's own refusals (mq_send EMSGSIZE, msgsnd EINVAL, E2BIG),
	 * or IPCL_ETOOBIG where a transport checks the length itself. */
	int refused =
	    rc == IPCL_ETOOBIG || rc == -EMSGSIZE || rc == -EINVAL || rc == -E2BIG;
	int good = refused && !whole && !bad && !corrupt;

	json_object_set_new(f, "oversize_bytes",
			    json_integer((json_int_t)b->oversize_len));
	json_object_set_new(f, "send_result",
			    json_string(rc ? ipcl_errname(rc) : "accepted"));
	json_object_set_new(f, "received_whole", json_integer((json_int_t)whole));
	json_object_set_new(f, "received_damaged", json_integer((json_int_t)bad));
	json_object_set_new(f, "verdict", json_string(good ? "good" : "bad"));
	if (refused)
		snprintf(outcome, cap, "refused (%s%s)%s", ipcl_errname(rc),
			 rc == IPCL_ETOOBIG ? ", the transport's own length check" : "",
			 good ? "" : ", but messages arrived corrupt");
	else if (rc)
		snprintf(outcome, cap, "send failed: %s", ipcl_errname(rc));
	else if (bad)
		snprintf(outcome, cap, "accepted, arrived truncated or corrupted");
	else if (whole)
		snprintf(outcome, cap, "accepted and delivered whole, over the limit");
	else
		snprintf(outcome, cap, "accepted, never arrived");
}

/*
 * Add the "fault" object to a fault run's record (docs/faults.md): what the
 * event did, the counts of "verify" again, and the delivery guarantee they
 * show; and mark the killed and the replacement role in "roles".
 */
void ipcl_fault_record(const struct ipcl_board *b, json_t *rec)
{
	const struct ipcl_runcfg *c = &b->cfg;
	json_t *f = json_object(), *v = json_object_get(rec, "verify");
	json_t *roles = json_object_get(rec, "roles");
	json_int_t lost = json_integer_value(json_object_get(v, "lost"));
	json_int_t dup = json_integer_value(json_object_get(v, "duplicated"));
	json_int_t corrupt = json_integer_value(json_object_get(v, "corrupt"));
	char perr[IPCL_ERR_MAX + 32] = "", outcome[IPCL_ERR_MAX + 64] = "";
	const char *by = json_string_value(json_object_get(v, "acked_by"));
	int judged_acked = by && strcmp(by, "none") != 0;

	json_object_set_new(f, "scenario", json_string(ipcl_fault_name(c->fault)));
	json_object_set_new(f, "at", json_integer((json_int_t)c->fault_at));
	json_object_set_new(f, "fired", json_boolean(atomic_load(&b->fault_fired)));
	if (fault_producer_error(b, perr, sizeof perr))
		json_object_set_new(f, "producer_error", json_string(perr));
	switch (c->fault) {
	case IPCL_FAULT_KILL_CONSUMER:
		fault_kill_consumer(b, f, perr, outcome, sizeof outcome);
		break;
	case IPCL_FAULT_KILL_PRODUCER:
		fault_kill_producer(b, f, outcome, sizeof outcome);
		break;
	case IPCL_FAULT_STALL:
		fault_stall(b, f, perr, lost, outcome, sizeof outcome);
		break;
	default:
		fault_oversize(b, f, corrupt, outcome, sizeof outcome);
		break;
	}
	if (!atomic_load(&b->fault_fired)) {
		/* Nothing happened to judge: no loss, no guarantee, only why. */
		fault_not_fired(b, perr, outcome, sizeof outcome);
		json_object_set_new(f, "outcome", json_string(outcome));
		json_object_set_new(f, "guarantee", json_null());
		goto roles;
	}
	json_object_set_new(f, "outcome", json_string(outcome));
	json_object_set_new(f, "lost", json_integer(lost));
	/*
	 * Missing messages the producers sent before the event (seq < at): on a
	 * mechanism without flow control mostly overload drops, not the event's
	 * (they include what the event destroyed in a buffer, if anything).
	 */
	{
		uint64_t before = 0;

		for (int set = 0; set < ipcl_board_sets(b); set++)
			before += ipcl_board_missing(b, set, 0, c->fault_at);
		json_object_set_new(f, "lost_before_event",
				    json_integer((json_int_t)before));
	}
	json_object_set_new(f, "duplicated", json_integer(dup));
	json_object_set_new(
	    f, "reordered",
	    json_integer(json_integer_value(json_object_get(v, "reordered"))));
	json_object_set_new(f, "corrupt", json_integer(corrupt));
	/*
	 * The guarantee is judged on acknowledged writes (docs/faults.md): a
	 * message lost after its acknowledgment breaks it, an unacknowledged one
	 * missing is indeterminate (its sender would send it again). Where nothing
	 * acknowledges a message (acked_by "none") it is judged on every send.
	 */
	if (json_object_get(v, "lost_after_ack")) {
		json_int_t after =
		    json_integer_value(json_object_get(v, "lost_after_ack"));

		json_object_set_new(f, "acked_by",
				    json_copy(json_object_get(v, "acked_by")));
		json_object_set_new(f, "acked", json_copy(json_object_get(v, "acked")));
		json_object_set_new(f, "lost_after_ack", json_integer(after));
		json_object_set_new(f, "unacked_missing",
				    json_copy(json_object_get(v, "unacked_missing")));
		json_object_set_new(f, "unacked_delivered",
				    json_copy(json_object_get(v, "unacked_delivered")));
		if (judged_acked)
			lost = after;
	}
	json_object_set_new(f, "guarantee", json_string(fault_guarantee(lost, dup)));
	json_object_set_new(f, "judged_on",
			    json_string(judged_acked ? "acknowledged writes"
						     : "every send (nothing acknowledges "
						       "a message)"));
roles:
	if (b->victim >= 0)
		json_object_set_new(json_array_get(roles, (size_t)b->victim), "fault",
				    json_string("killed"));
	if (b->replacement >= 0)
		json_object_set_new(json_array_get(roles, (size_t)b->replacement),
				    "fault", json_string("replacement"));
	json_object_set_new(rec, "fault", f);
}
