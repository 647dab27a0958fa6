/*
 * registry.h - the transports built into this binary (generated from CMake's
 * list of enabled transports) and the ones switched off, with the reason.
 */
#ifndef IPCLAB_REGISTRY_H
#define IPCLAB_REGISTRY_H

#include <ipclab/transport.h>

/* The n-th built-in transport, or NULL past the end. */
const struct ipcl_transport *ipcl_transport_at(int n);

/* Look a transport up by name; NULL when it is not built in. */
const struct ipcl_transport *ipcl_transport_find(const char *name);

/* "kernel" (needs the kernel alone), "library" (a client library such as
 * libzmq or libuv) or "broker" (a server: Redis, RabbitMQ, PostgreSQL). */
const char *ipcl_transport_kind(const struct ipcl_transport *t);

/* Is word a transport's name or a kind (the three above, or "all")? */
int ipcl_transport_word(const char *word);

/* Does word, a transport's name or a kind, select transport t? */
int ipcl_transport_selects(const char *word, const struct ipcl_transport *t);

/* The n-th transport switched off at build time: its name and why, or NULL. */
const char *ipcl_disabled_at(int n, const char **why);

/* The n-th optional library this binary was built with: name and version, or NULL. */
const char *ipcl_libversion_at(int n, const char **version);

#endif
