/* brokers.h - `ipclab brokers up|status|env|down` (throwaway servers kept running). */
#ifndef IPCLAB_BROKERS_H
#define IPCLAB_BROKERS_H

int ipcl_cmd_brokers(int argc, char **argv);
const char *ipcl_brokers_help(void);

#endif
