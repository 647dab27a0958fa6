/*
 * main.c - the ipclab binary: the top-level usage, and dispatch of argv[1] to a
 * command (list, run, clean, compare, faults, brokers, report, study) or to the hidden
 * `__role` entry through which the engine re-executes this binary as a role
 * process. Everything else lives in the core library; this file alone is linked
 * only into the executable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/brokers.h"
#include "cli/clean.h"
#include "cli/compare.h"
#include "cli/faults.h"
#include "cli/list.h"
#include "cli/run.h"
#include "cli/study.h"
#include "cli/usage.h"
#include "engine/roles.h"
#include "report/report.h"

static const char main_help[] =
    "usage: ipclab COMMAND [OPTIONS]\n"
    "\n"
    "Compare inter-process communication mechanisms with one harness.\n"
    "\n"
    "commands:\n"
    "  list [--all] [--json] [TRANSPORT]  transports, capabilities, probed limits\n"
    "  run -t TRANSPORT [OPTIONS]         one measured run (see `ipclab run --help`)\n"
    "  compare [--quick] [OPTIONS]        every transport head to head, ranked\n"
    "  clean [--dry-run]                  remove what killed runs left behind\n"
    "  brokers up|status|env|down         throwaway Redis/RabbitMQ/PostgreSQL servers\n"
    "  report FILE... [-o DIR] [--csv]    Markdown/HTML report with charts from results\n"
    "  faults [-t LIST] [-n N] [-o FILE]  failure matrix: kills, stall, oversize\n"
    "  study [--quick] [--only CLAIM,...]  the notes' claims measured on this machine\n"
    "  help COMMAND                       help on a command\n"
    "\n"
    "`ipclab --version` prints the version. Exit status: 0 ok, 1 a run failed or\n"
    "lost data, 2 bad usage. The manual: man ipclab.\n";

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *(*help)(void);
} commands[] = {
    {"list", ipcl_cmd_list, ipcl_list_help},
    {"run", ipcl_cmd_run, ipcl_run_help},
    {"clean", ipcl_cmd_clean, ipcl_clean_help},
    {"report", ipcl_cmd_report, ipcl_report_help},
    {"compare", ipcl_cmd_compare, ipcl_compare_help},
    {"brokers", ipcl_cmd_brokers, ipcl_brokers_help},
    {"faults", ipcl_cmd_faults, ipcl_faults_help},
    {"study", ipcl_cmd_study, ipcl_study_help},
};

/* Exit status: 0 ok, 1 a run failed or lost data, 2 bad usage. */
int main(int argc, char **argv)
{
	if (argc >= 4 && strcmp(argv[1], "__role") == 0)
		return ipcl_role_exec(atoi(argv[2]), atoi(argv[3]));
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(main_help, argc < 2 ? stderr : stdout);
		return argc < 2 ? IPCL_EXIT_USAGE : 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("ipclab %s\n", IPCL_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "help") == 0) {
		for (size_t i = 0; argc > 2 && i < sizeof commands / sizeof commands[0];
		     i++)
			if (strcmp(argv[2], commands[i].name) == 0) {
				fputs(commands[i].help(), stdout);
				return 0;
			}
		fputs(main_help, stdout);
		return argc > 2 ? IPCL_EXIT_USAGE : 0;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "ipclab: unknown command '%s' (see `ipclab --help`)\n", argv[1]);
	return IPCL_EXIT_USAGE;
}
