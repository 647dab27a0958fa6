/* main.c - the ipclab binary: everything is in the core library (cli.c). */
#include "cli/cli.h"

int main(int argc, char **argv)
{
	return ipcl_cli_main(argc, argv);
}
