/* brokers.h - `ipclab brokers up|status|env|down` (throwaway servers kept running). */
#ifndef IPCLAB_BROKERS_H
#define IPCLAB_BROKERS_H

int ipcl_cmd_brokers(int argc, char **argv);
const char *ipcl_brokers_help(void);

/*
 * The servers the brokers state records (read with every check of `brokers
 * env`): their URLs, secrets included, and kinds, at most cap. Returns how
 * many (0 without a state file), or -1 with why set (a state file refused).
 */
int ipcl_brokers_recorded(char url[][256], char kind[][16], int cap, char *why,
			  size_t wcap);

#endif
