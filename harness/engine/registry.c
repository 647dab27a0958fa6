/*
 * registry.c - the explicit list of built-in transports, expanded from the
 * X-macro file CMake generates (gen/ipclab_registry.def). No constructors: a
 * static link cannot drop a transport silently.
 */
#include <stddef.h>
#include <string.h>

#include "engine/registry.h"

#define IPCL_TRANSPORT(name, sym, kind) extern const struct ipcl_transport sym;
#define IPCL_DISABLED(name, why)
#define IPCL_LIBVERSION(lib, ver)
#include "ipclab_registry.def"
#undef IPCL_TRANSPORT
#undef IPCL_DISABLED
#undef IPCL_LIBVERSION

static const struct ipcl_transport *const builtin[] = {
#define IPCL_TRANSPORT(name, sym, kind) &sym,
#define IPCL_DISABLED(name, why)
#define IPCL_LIBVERSION(lib, ver)
#include "ipclab_registry.def"
#undef IPCL_TRANSPORT
#undef IPCL_DISABLED
#undef IPCL_LIBVERSION
    NULL,
};

static const char *const kinds[] = {
#define IPCL_TRANSPORT(name, sym, kind) kind,
#define IPCL_DISABLED(name, why)
#define IPCL_LIBVERSION(lib, ver)
#include "ipclab_registry.def"
#undef IPCL_TRANSPORT
#undef IPCL_DISABLED
#undef IPCL_LIBVERSION
    NULL,
};

static const struct {
	const char *name, *why;
} disabled[] = {
#define IPCL_TRANSPORT(name, sym, kind)
#define IPCL_DISABLED(name, why) {name, why},
#define IPCL_LIBVERSION(lib, ver)
#include "ipclab_registry.def"
#undef IPCL_TRANSPORT
#undef IPCL_DISABLED
#undef IPCL_LIBVERSION
    {NULL, NULL},
};

static const struct {
	const char *lib, *ver;
} libversions[] = {
#define IPCL_TRANSPORT(name, sym, kind)
#define IPCL_DISABLED(name, why)
#define IPCL_LIBVERSION(lib, ver) {lib, ver},
#include "ipclab_registry.def"
#undef IPCL_TRANSPORT
#undef IPCL_DISABLED
#undef IPCL_LIBVERSION
    {NULL, NULL},
};

const struct ipcl_transport *ipcl_transport_at(int n)
{
	if (n < 0 || n >= (int)(sizeof builtin / sizeof builtin[0]))
		return NULL;
	return builtin[n];
}

const struct ipcl_transport *ipcl_transport_find(const char *name)
{
	for (int i = 0; builtin[i]; i++)
		if (strcmp(builtin[i]->name, name) == 0)
			return builtin[i];
	return NULL;
}

const char *ipcl_transport_kind(const struct ipcl_transport *t)
{
	for (int i = 0; builtin[i]; i++)
		if (builtin[i] == t)
			return kinds[i];
	return "?";
}

int ipcl_transport_word(const char *word)
{
	return ipcl_transport_find(word) || !strcmp(word, "all") ||
	       !strcmp(word, "kernel") || !strcmp(word, "library") ||
	       !strcmp(word, "broker");
}

int ipcl_transport_selects(const char *word, const struct ipcl_transport *t)
{
	return !strcmp(word, "all") || !strcmp(word, t->name) ||
	       !strcmp(word, ipcl_transport_kind(t));
}

const char *ipcl_disabled_at(int n, const char **why)
{
	if (n < 0 || n >= (int)(sizeof disabled / sizeof disabled[0]) ||
	    !disabled[n].name)
		return NULL;
	*why = disabled[n].why;
	return disabled[n].name;
}

const char *ipcl_libversion_at(int n, const char **version)
{
	if (n < 0 || n >= (int)(sizeof libversions / sizeof libversions[0]) ||
	    !libversions[n].lib)
		return NULL;
	*version = libversions[n].ver;
	return libversions[n].lib;
}
