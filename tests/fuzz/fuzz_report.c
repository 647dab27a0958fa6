/*
 * fuzz_report.c - `ipclab report` under a fuzzer: each input is a results
 * file; it goes through the whole command (read, summary, hgrm, charts'
 * scripts, Markdown, HTML, CSV, and --baseline against itself), writing into a
 * private temporary directory. gnuplot is not run: its hook checks each
 * script instead, and aborts when a record's bytes got out of their quotes or
 * datablock (what would let gnuplot run a command).
 *
 * Built two ways (tests/CMakeLists.txt): with -DIPCL_FUZZ=ON and clang,
 * -fsanitize=fuzzer,address gives a libFuzzer binary (`fuzz_report CORPUS
 * -max_total_time=600`); in every other build, main() below replays the files
 * and directories given as arguments (the corpus, tests/fuzz/corpus/) once
 * each, which is the ctest fuzz.report_corpus. POSIX: mkdtemp, nftw, dup2.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report/charts.h"
#include "report/report.h"

static char fz_dir[] = "/tmp/ipcl-fuzz-XXXXXX";

static int fz_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void fz_cleanup(void)
{
	nftw(fz_dir, fz_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* Is the rest of a script line, outside quotes, free of what could run
 * something: ';' (a second command), '`' (substitution), and the words
 * system, shell, load, call, eval, pipe ('|' starts a pipe in a file name)? */
static int fz_line_ok(const char *l)
{
	static const char *const bad[] = {"system", "shell", "load", "call", "eval",
					  "print",  "save",  "cd ",  "exit"};
	char q = 0, plain[4096];
	size_t n = 0;

	for (; *l; l++) {
		if (q) {
			if (*l == q && q == '\'' && l[1] == '\'')
				l++;
			else if (*l == q)
				q = 0;
			continue;
		}
		if (*l == '\'' || *l == '"') {
			q = *l;
			continue;
		}
		if (*l == ';' || *l == '`' || *l == '|' || *l == '@')
			return 0;
		if (n + 1 < sizeof plain)
			plain[n++] = *l;
	}
	plain[n] = '\0';
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		if (strstr(plain, bad[i]))
			return 0;
	return q == 0; /* a quote left open would run on into the next line */
}

/*
 * The gnuplot stand-in: reads the script and aborts unless every line is a
 * datablock line (between "$dN << EOD" and "EOD": numbers or one
 * double-quoted label then numbers) or one of the commands charts.c writes
 * (set, plot, a datablock head) with nothing runnable outside its quotes.
 * Then writes a small SVG so that the read-back path runs too.
 */
static int fz_gnuplot(const char *script)
{
	FILE *f = fopen(script, "r"), *svg;
	char *line = NULL, path[512];
	size_t cap = 0;
	int in_block = 0;

	if (!f)
		abort();
	while (getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\n")] = '\0';
		if (in_block) {
			const char *p = line;

			if (!strcmp(line, "EOD")) {
				in_block = 0;
				continue;
			}
			if (*p == '"') { /* a label: no '"' inside (gp_quote) */
				p = strchr(p + 1, '"');
				if (!p)
					abort();
				p++;
			}
			if (p[strspn(p, "0123456789.e+-? ")] != '\0')
				abort();
			continue;
		}
		if (line[0] == '$' && strstr(line, " << EOD")) {
			in_block = 1;
			continue;
		}
		if ((strncmp(line, "set ", 4) && strncmp(line, "plot", 4)) ||
		    !fz_line_ok(line))
			abort();
	}
	free(line);
	fclose(f);
	if (in_block)
		abort();
	snprintf(path, sizeof path, "%.*s/c.svg", (int)(strrchr(script, '/') - script),
		 script);
	svg = fopen(path, "w");
	if (svg) {
		fputs("<?xml version=\"1.0\"?>\n<svg></svg>\n", svg);
		fclose(svg);
	}
	return 0;
}

static int fz_init(void)
{
	int fd = open("/dev/null", O_WRONLY);

	if (!mkdtemp(fz_dir))
		return -1;
	atexit(fz_cleanup);
	if (fd >= 0) /* the command's "report: ..." line, once per input */
		dup2(fd, 1);
	ipcl_report_gnuplot_hook = fz_gnuplot;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	char in[64], out[64];
	FILE *f;

	if (!ready) {
		if (fz_init())
			abort();
		ready = 1;
	}
	snprintf(in, sizeof in, "%s/in.jsonl", fz_dir);
	snprintf(out, sizeof out, "%s/out", fz_dir);
	f = fopen(in, "w");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f))
		abort();
	{
		char *a1[] = {"report", in, "-o", out, "--csv", NULL};
		char *a2[] = {"report", in, "-o", out, "--csv", "--baseline", in, NULL};

		if (ipcl_cmd_report(5, a1) == 0)
			ipcl_cmd_report(7, a2);
	}
	return 0;
}

#ifndef IPCL_LIBFUZZER
/* Feeds path to the target; returns 0, or -1 when it cannot be read. */
static int fz_replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	char chunk[65536];
	size_t n;
	int rc = 0;

	if (!f || !m) {
		rc = -1;
		goto out;
	}
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		fwrite(chunk, 1, n, m);
	if (ferror(f) || fclose(m))
		rc = -1;
	m = NULL;
	if (!rc)
		LLVMFuzzerTestOneInput((const uint8_t *)buf, len);
out:
	if (m)
		fclose(m);
	if (f)
		fclose(f);
	free(buf);
	return rc;
}

/* Replays every file named, and every file in every directory named. */
int main(int argc, char **argv)
{
	int files = 0;

	for (int i = 1; i < argc; i++) {
		DIR *d = opendir(argv[i]);
		struct dirent *e;
		char path[4096];

		if (!d) {
			if (fz_replay_file(argv[i]))
				goto bad;
			files++;
			continue;
		}
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
			if (fz_replay_file(path)) {
				closedir(d);
				goto bad;
			}
			files++;
		}
		closedir(d);
	}
	fprintf(stderr, "fuzz_report: %d inputs replayed, none crashed\n", files);
	return files ? 0 : 1;
bad:
	fprintf(stderr, "fuzz_report: cannot read an input\n");
	return 1;
}
#endif
